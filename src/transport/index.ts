export { listen, dial, rendezvous, SrtServer, type ListenOptions, type DialOptions, type RendezvousOptions } from './api.js';
export { SrtSocket, type GroupStats, type GroupMemberStats } from './socket.js';
export { SrtError, SrtRejectedError } from './errors.js';
export { parseSrtUrl, type SrtEndpoint, type SrtMode, type SrtGroupSpec } from './url.js';
export { Multiplexer, type AcceptHook } from './mux.js';
