/** Thrown by every decoder for malformed input; never anything else. */
export class ParseError extends Error {
  readonly code = 'SRT_ERR_PARSE';
  constructor(message: string) {
    super(message);
    this.name = 'ParseError';
  }
}

/** Invalid option value (message names the option and its allowed range). */
export class OptionError extends Error {
  readonly code = 'SRT_ERR_OPTION';
  constructor(readonly option: string, message: string) {
    super(`${option}: ${message}`);
    this.name = 'OptionError';
  }
}
