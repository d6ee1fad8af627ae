// A Sluice SRT server in its own process for the server benchmarks. Usage: node server-proc.js <port>
import { Server } from '../src/server/server.js';

const port = Number(process.argv[2]);
const server = new Server({ name: 'bench', host: '127.0.0.1', port, playerQueue: 100_000 });
await server.start();
process.stdout.write('ready\n');
process.on('message', (m) => {
  if (m === 'stats') {
    const st = server.stats();
    process.send!({ connections: server.connections().length, players: st.reduce((a, s) => a + s.players.length, 0), mem: process.memoryUsage() });
  }
});
process.on('SIGTERM', () => { void server.close().then(() => process.exit(0)); });
