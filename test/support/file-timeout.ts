// The per-file timeout (ADR 3): every test file calls fileTimeout() before its first test. A file
// still running after the budget — a test awaiting forever, or a handle (socket, timer, child)
// left open after the last test — is ended with exit code 1, naming the test that was running and
// the open handles, so `node --test` reports a failure instead of hanging. The timer is unref'd:
// it never keeps a finished file alive. Individual waits inside tests have their own deadlines
// (test/support/wait.ts); this is the backstop for what they do not cover.
import { afterEach, beforeEach } from 'node:test';

/** Generous: the whole suite takes ~5 min on a shared 2-core machine; the slowest file ~1 min. */
export const FILE_TIMEOUT_MS = 300_000;

let installed = false;

export function fileTimeout(ms = FILE_TIMEOUT_MS): void {
  if (installed) return;
  installed = true;
  let running = '(between tests)';
  beforeEach((t) => { running = t?.name ?? running; });
  afterEach(() => { running = '(after the last finished test)'; });
  const timer = setTimeout(() => {
    process.stderr.write(`\ntest file ${process.argv[1] ?? '?'} still running after ${ms} ms; running: ${running}; `
      + `open handles: ${process.getActiveResourcesInfo().join(', ')}\n`);
    process.exit(1);
  }, ms);
  timer.unref();
}
