// npm run soak: the reliability figures of issue 16 §3 — fuzz, handshake flood, churn soak, crash
// safety. SOAK_ONLY=fuzz|flood|churn|crash (comma-separated) selects parts; each prints PASS or
// FAIL with its figures, and the run exits non-zero if any part failed. The defaults are the full
// runs (10^8 datagrams, 60 s flood, 1 h churn, 20 crash loops); see docs/RELIABILITY.md for the knobs.
import { fuzzPart } from './fuzz.js';
import { floodPart } from './flood.js';
import { churnPart } from './churn.js';
import { crashPart } from './crash.js';
import os from 'node:os';
import type { PartResult } from './util.js';

const PARTS: Record<string, () => Promise<PartResult>> = { fuzz: fuzzPart, flood: floodPart, churn: churnPart, crash: crashPart };

async function main(): Promise<number> {
  const only = (process.env['SOAK_ONLY'] ?? Object.keys(PARTS).join(',')).split(',').map((s) => s.trim()).filter(Boolean);
  const unknown = only.filter((p) => !PARTS[p]);
  if (unknown.length) {
    process.stderr.write(`SOAK_ONLY: unknown part ${unknown.join(', ')} (one or more of ${Object.keys(PARTS).join(', ')})\n`);
    return 2;
  }
  let failed = 0;
  for (const name of only) {
    process.stderr.write(`--- ${name} (started ${new Date().toISOString()})\n`);
    const load0 = os.loadavg()[0]!;
    let r: PartResult;
    try {
      r = await PARTS[name]!();
    } catch (e) {
      r = { name, pass: false, lines: [`${name}: FAIL`, `  the run itself failed: ${(e as Error).stack ?? String(e)}`] };
    }
    // the machine's other load explains many a latency or loss figure on a shared machine
    r.lines.push(`  machine: ${os.cpus().length} cores, load average (1 min) ${load0.toFixed(1)} at the start, ${os.loadavg()[0]!.toFixed(1)} at the end`);
    process.stdout.write(`${r.lines.join('\n')}\n`);
    if (!r.pass) failed++;
  }
  process.stdout.write(`soak: ${failed ? `${failed} part(s) FAILED` : 'all parts PASSED'}\n`);
  return failed ? 1 : 0;
}

main().then((code) => process.exit(code), (e: unknown) => { process.stderr.write(`${(e as Error).stack}\n`); process.exit(1); });
