import { rejectReasonText } from '../protocol/reject.js';

/** Error with a stable code, like libsrt's SRT_E* values. */
export class SrtError extends Error {
  constructor(readonly code: string, message: string, readonly reason?: number) {
    super(message);
    this.name = 'SrtError';
  }
}

export class SrtRejectedError extends SrtError {
  constructor(reason: number) {
    super('SRT_ECONNREJ', `connection rejected: ${rejectReasonText(reason)} (reason ${reason})`, reason);
    this.name = 'SrtRejectedError';
  }
}
