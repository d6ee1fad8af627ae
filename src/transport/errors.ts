import { rejectReasonText } from '../protocol/reject.js';

/** Error with a stable code, like libsrt's SRT_E* values. */
export class SrtError extends Error {
  constructor(readonly code: string, message: string, readonly reason?: number) {
    super(message);
    this.name = 'SrtError';
  }
}

/**
 * A connection refused with an SRT reject reason (SRT_REJ_* below 1000, SRT_REJX_* codes 1000 and
 * up): the one error that carries a rejection, whether a peer refused us (the caller's side) or the
 * server refuses a caller (the message then says why; `reason` goes into the handshake).
 */
export class SrtRejectedError extends SrtError {
  declare readonly reason: number;
  constructor(reason: number, message = `connection rejected: ${rejectReasonText(reason)} (reason ${reason})`) {
    super('SRT_ECONNREJ', message, reason);
    this.name = 'SrtRejectedError';
  }
}
