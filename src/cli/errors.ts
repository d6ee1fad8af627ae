// Errors of the command line: main.ts prints a UsageError as `sluice <command>: <message>` with a
// pointer to --help and exits 2 (other failures exit 1).

/** The command line (or the configuration it points to) asks for something invalid. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}
