#!/usr/bin/env node
// The sluice command. Each command's module is loaded when that command runs: `sluice transmit`
// does not load the control plane (HTTP server, database drivers, schemas), which would cost it a
// second of CPU at start-up and a three times larger heap for the garbage collector to walk.

import { UsageError } from './errors.js';

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

/** The oldest Node.js Sluice runs on (ADR 11): `npm install` brings it as the `node` package. */
const MIN_NODE_MAJOR = 24;

async function main(argv: string[]): Promise<number> {
  const major = Number(process.versions.node.split('.')[0]);
  if (major < MIN_NODE_MAJOR) {
    process.stderr.write(
      `sluice: Node.js ${MIN_NODE_MAJOR} or newer is required, this is ${process.version}. ` +
      `Run it through npm (npm start, npx sluice …), which uses the Node ${MIN_NODE_MAJOR} that npm install put in node_modules.\n`,
    );
    return 1;
  }
  const [cmd, ...rest] = argv;
  try {
    return await run(cmd, rest);
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    process.stderr.write(`sluice ${cmd}: ${e.message}\nRun 'sluice ${cmd} --help' for its options.\n`);
    return 2;
  }
}

async function run(cmd: string | undefined, rest: string[]): Promise<number> {
  switch (cmd) {
    case 'transmit':
      return (await import('./transmit.js')).runTransmit(rest);
    case 'srt-server':
      return (await import('./srt-server.js')).runSrtServer(rest);
    case 'serve':
      return (await import('./serve.js')).runServe(rest);
    case 'openapi':
      return (await import('./openapi.js')).runOpenApi(rest);
    case 'version':
    case '--version':
      process.stdout.write('sluice 0.1.0\n');
      return 0;
    case 'help':
      process.stdout.write(
        rest[0] === 'transmit' ? (await import('./transmit.js')).TRANSMIT_HELP
          : rest[0] === 'srt-server' ? (await import('./srt-server.js')).SRT_SERVER_HELP
            : rest[0] === 'serve' ? (await import('./serve.js')).SERVE_HELP
              : HELP,
      );
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
