#!/usr/bin/env node
// The sluice command.
import { runTransmit, TRANSMIT_HELP } from './transmit.js';
import { runSrtServer, SRT_SERVER_HELP } from './srt-server.js';
import { runServe, SERVE_HELP } from './serve.js';
import { runOpenApi } from './openapi.js';

const HELP = `Usage: sluice <command> [options]

Commands:
  transmit <src> <dst>   Move a live stream between srt://, udp://, file:// and stdio.
  serve                  Run Sluice: REST API, persistence, SRT servers (npm start).
  srt-server             Run an SRT server (publishers and players routed by stream id).
  openapi                Print the REST API's OpenAPI 3 document.
  help [command]         Show help.
  version                Print the version.

Run 'sluice <command> --help' for a command's options.
`;

async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  switch (cmd) {
    case 'transmit':
      return runTransmit(rest);
    case 'srt-server':
      return runSrtServer(rest);
    case 'serve':
      return runServe(rest);
    case 'openapi':
      return runOpenApi(rest);
    case 'version':
    case '--version':
      process.stdout.write('sluice 0.1.0\n');
      return 0;
    case 'help':
      process.stdout.write(rest[0] === 'transmit' ? TRANSMIT_HELP : rest[0] === 'srt-server' ? SRT_SERVER_HELP : rest[0] === 'serve' ? SERVE_HELP : HELP);
      return 0;
    case undefined:
    case '-h':
    case '--help':
      process.stdout.write(HELP);
      return 0;
    default:
      process.stderr.write(`sluice: unknown command "${cmd}"\n\n${HELP}`);
      return 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
    // let pending writes (stdout, SHUTDOWN datagrams) drain, then leave even if a handle lingers
    setTimeout(() => process.exit(code), 200).unref();
  },
  (err: unknown) => {
    process.stderr.write(`sluice: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);
