// Sluice as a library: what `import … from 'sluice'` offers. The protocol's state machines and
// codecs stay internal (they change with the implementation); this is the stable surface.

// SRT connections: listen, dial, rendezvous; a connection is a Node Duplex (SrtSocket).
export {
  listen, dial, rendezvous, SrtServer, SrtSocket, SrtError, SrtRejectedError, parseSrtUrl,
  type ListenOptions, type DialOptions, type RendezvousOptions, type SrtEndpoint, type SrtMode, type AcceptHook,
} from './transport/index.js';
export type { ConnectRequest, AcceptDecision } from './protocol/listener.js';
// libsrt's option names and rejection reasons, and its statistics names
export { SRT_REJ, SRT_REJX, rejectReasonText } from './protocol/reject.js';
export { DEFAULT_OPTIONS, type SrtOptions } from './protocol/options.js';
export type { SrtStats } from './protocol/stats.js';

// The SRT server: publishers and players on one port, routed by stream id.
export {
  Server, type ServerConfig, type ServerConnection, type ServerEvents, type ConnectionRole, type RejectInfo,
  type StreamCredentials, type UserEntry, type AuthHookConfig, type PublishPortRange,
  type ConnectionStatsView, type StreamStatsView,
} from './server/server.js';
export { LocalEndpoint } from './server/local.js';
export { parseStreamId, StreamIdError, type ParsedStreamId, type StreamMode } from './server/streamid.js';
