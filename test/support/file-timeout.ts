// The per-file timeout (ADR 3): every test file calls fileTimeout() before its first test. A file
// still running after the budget — a test awaiting forever, or a handle (socket, timer, child)
// left open after the last test — is ended with exit code 1, naming the open handles (the runner
// reports the tests that did not finish), so `node --test` reports a failure instead of hanging. The timer is unref'd:
// it never keeps a finished file alive. Individual waits inside tests have their own deadlines
// (test/support/wait.ts); this is the backstop for what they do not cover.
// (no root-level beforeEach/afterEach hooks here to name the running test: they changed when the
// store tests' describe-level `after` ran and broke their PostgreSQL teardown)
/** Generous: the whole suite takes ~5 min on a shared 2-core machine; the slowest file ~1 min. */
export const FILE_TIMEOUT_MS = 300_000;

let installed = false;

export function fileTimeout(ms = FILE_TIMEOUT_MS): void {
  if (installed) return;
  installed = true;
  const timer = setTimeout(() => {
    process.stderr.write(`\ntest file ${process.argv[1] ?? '?'} still running after ${ms} ms (a test awaiting forever, or a handle left open); `
      + `open handles: ${process.getActiveResourcesInfo().join(', ')}\n`);
    process.exit(1);
  }, ms);
  timer.unref();
}
