// Rejection reasons (libsrt srt.h SRT_REJ_*, access_control.h SRT_REJX_*).
// API values: 0..17 internal, 1000..1999 predefined (HTTP-like), 2000..2999 user.
// On the wire (handshake type field) the value is reason + 1000 (SRT-DIGEST §2.8).
export const SRT_REJ = {
  UNKNOWN: 0, SYSTEM: 1, PEER: 2, RESOURCE: 3, ROGUE: 4, BACKLOG: 5, IPE: 6, CLOSE: 7,
  VERSION: 8, RDVCOOKIE: 9, BADSECRET: 10, UNSECURE: 11, MESSAGEAPI: 12, CONGESTION: 13,
  FILTER: 14, GROUP: 15, TIMEOUT: 16, CRYPTO: 17,
} as const;

export const SRT_REJX = {
  FALLBACK: 1000, KEY_NOTSUP: 1001, FILEPATH: 1002, HOSTNOTFOUND: 1003,
  BAD_REQUEST: 1400, UNAUTHORIZED: 1401, OVERLOAD: 1402, FORBIDDEN: 1403, NOTFOUND: 1404,
  BAD_MODE: 1405, UNACCEPTABLE: 1406, CONFLICT: 1409, NOTSUP_MEDIA: 1415, LOCKED: 1423,
  FAILED_DEPEND: 1424, ISE: 1500, UNIMPLEMENTED: 1501, GW: 1502, DOWN: 1503, VERSION: 1505,
  NOROOM: 1507,
} as const;

const INTERNAL_TEXT = [
  'Unknown or erroneous', 'Error in system calls', 'Peer rejected connection',
  'Resource allocation failure', 'Rogue peer or incorrect parameters', 'Listener\'s backlog exceeded',
  'Internal Program Error', 'Socket is being closed', 'Peer version too old', 'Rendezvous-mode cookie collision',
  'Incorrect passphrase', 'Password required or unexpected', 'MessageAPI/StreamAPI collision',
  'Congestion controller type collision', 'Packet Filter settings error', 'Group settings collision',
  'Connection timeout', 'Crypto mode mismatch',
];

/** Converts an API reason to the handshake type value sent on the wire. */
export function rejectReasonToWire(reason: number): number {
  return reason + 1000;
}

/** Converts a handshake type value >= 1000 back to the API reason. */
export function rejectReasonFromWire(type: number): number {
  return type - 1000;
}

export function isValidRejectReason(reason: number): boolean {
  return Number.isInteger(reason) && ((reason >= 0 && reason < INTERNAL_TEXT.length) || (reason >= 1000 && reason <= 2999));
}

/** Human text, as libsrt's srt_rejectreason_str prints it (application reasons get a generic text). */
export function rejectReasonText(reason: number): string {
  if (reason >= 0 && reason < INTERNAL_TEXT.length) return INTERNAL_TEXT[reason]!;
  if (reason >= 1000 && reason < 2000) {
    const name = Object.entries(SRT_REJX).find(([, v]) => v === reason)?.[0];
    return `Application-defined rejection reason${name ? ` (SRT_REJX_${name})` : ''}`;
  }
  if (reason >= 2000 && reason < 3000) return 'User-defined rejection reason';
  return 'Unknown or erroneous';
}
