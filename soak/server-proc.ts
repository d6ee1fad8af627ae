// The flood's SRT server in its own process: the Server that `sluice srt-server` runs (same
// defaults), plus its publishers' receive statistics on request. Usage: node server-proc.js
// <port>. Prints "ready"; on the IPC message "heap" answers with process.memoryUsage() after a full
// garbage collection (when run with --expose-gc); on "stats" answers with each stream's publisher
// statistics (pktRecv, pktRcvLoss, pktRcvRetrans, pktRcvDrop, pktRcvBelated) and the message count.
import { Server } from '../src/server/server.js';

const server = new Server({ name: 'default', host: '127.0.0.1', port: Number(process.argv[2]) });
await server.start();
process.stdout.write('ready\n');
process.on('message', (m) => {
  if (m === 'heap') {
    // the live heap after a full collection (run with --expose-gc), against the RSS the allocator keeps
    (globalThis as { gc?: () => void }).gc?.();
    process.send!(process.memoryUsage());
    return;
  }
  if (m !== 'stats') return;
  process.send!(server.stats().map((s) => ({
    stream: s.name,
    messages: s.messages,
    publisher: s.publisher ? (({ pktRecv, pktRcvLoss, pktRcvRetrans, pktRcvDrop, pktRcvBelated }) => ({ pktRecv, pktRcvLoss, pktRcvRetrans, pktRcvDrop, pktRcvBelated }))(s.publisher.stats) : null,
  })));
});
process.on('SIGTERM', () => { void server.close().then(() => process.exit(0)); });
