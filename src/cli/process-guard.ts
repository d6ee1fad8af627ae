// A stray promise rejection must not take the whole control plane down (Node's default exits the
// process, stopping every SRT server and gateway with it): `sluice serve` logs it, clearly and with
// its stack, and keeps serving.

/** The log line for an unhandled rejection. */
export function describeRejection(reason: unknown): string {
  const detail = reason instanceof Error ? (reason.stack ?? `${reason.name}: ${reason.message}`) : String(reason);
  return `sluice serve: unhandled rejection (kept running): ${detail}\n`;
}

/** Logs every unhandled rejection through write instead of exiting; returns the uninstaller. */
export function logUnhandledRejections(write: (line: string) => void = (l) => process.stderr.write(l)): () => void {
  const handler = (reason: unknown): void => write(describeRejection(reason));
  process.on('unhandledRejection', handler);
  return () => process.off('unhandledRejection', handler);
}
