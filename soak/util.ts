// Helpers shared by the reliability runs (npm run soak): /proc readers, process control, the API.
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

import { waitLine } from '../bench/util.js';

export { cpuSeconds, heapAfterGc, median, rssBytes, waitLine, type HeapReading } from '../bench/util.js';

export const here = (f: string): string => fileURLToPath(new URL(f, import.meta.url));
export const CLI = here('../src/cli/main.js');
export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A number from the environment, else the default. */
export function envNum(name: string, def: number): number {
  const v = process.env[name];
  if (v === undefined || v === '') return def;
  const n = Number(v);
  if (!Number.isFinite(n)) throw new Error(`${name}: "${v}" is not a number`);
  return n;
}

/** Open file descriptors of a process (/proc/PID/fd entries); NaN once it is gone. */
export function fdCount(pid: number): number {
  try {
    return readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    return NaN;
  }
}

export const mib = (b: number): string => (b / 1048576).toFixed(1);

/** q-quantile (0..1) of the values, NaN for none. */
export function quantile(v: number[], q: number): number {
  if (v.length === 0) return NaN;
  const s = [...v].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))]!;
}

/** Sends SIGTERM (or sig) and waits for the exit; SIGKILL after 10 s. */
export async function stop(p: ChildProcess, sig: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (p.exitCode !== null || p.signalCode !== null) return;
  const done = new Promise((r) => p.once('exit', r));
  p.kill(sig);
  const t = setTimeout(() => p.kill('SIGKILL'), 10_000);
  await done;
  clearTimeout(t);
}

/** Spawns a node script of this folder (compiled) with piped stdout and captured stderr. */
export function node(script: string, args: string[], opts: { stderr?: 'inherit' | 'pipe' } = {}): ChildProcess {
  return spawn(process.execPath, [here(script), ...args], { stdio: ['ignore', 'pipe', opts.stderr ?? 'inherit'] });
}

export interface Serve { proc: ChildProcess; api: string; stderr: string[] }

export const ADMIN_PASSWORD = 'soak-admin-pass';

/** `sluice serve` on a data directory; resolves when the API listens. Its stderr is kept (and its stdout after start-up). */
export async function startServe(dataDir: string, httpPort: number, srtPort: number, extraEnv: NodeJS.ProcessEnv = {}): Promise<Serve> {
  const proc = spawn(process.execPath, [CLI, 'serve', '--data-dir', dataDir, '--http-addr', `127.0.0.1:${httpPort}`, '--srt-port', String(srtPort), '--admin-password', ADMIN_PASSWORD, '--log-level', 'error'], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...extraEnv } });
  const stderr: string[] = [];
  proc.stderr!.on('data', (d: Buffer) => { stderr.push(d.toString()); });
  await waitLine(proc, /REST API on/, 60_000).catch((e: Error) => { throw new Error(`${e.message}; stderr: ${stderr.join('').slice(-1000)}`); });
  proc.stdout!.resume();
  return { proc, api: `http://127.0.0.1:${httpPort}`, stderr };
}

export async function login(api: string): Promise<Record<string, string>> {
  const r = await fetch(`${api}/api/v1/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'admin', password: ADMIN_PASSWORD }) });
  if (r.status !== 200) throw new Error(`login: HTTP ${r.status}`);
  return { authorization: `Bearer ${((await r.json()) as { token: string }).token}` };
}

/** A verdict line: "PASS"/"FAIL" and the figures. */
export interface PartResult { name: string; pass: boolean; lines: string[] }

export function verdict(name: string, pass: boolean, lines: string[]): PartResult {
  return { name, pass, lines: [`${name}: ${pass ? 'PASS' : 'FAIL'}`, ...lines.map((l) => `  ${l}`)] };
}

/** A free-looking port range below the ephemeral range, different per run. */
export function basePort(): number {
  return 20000 + Math.floor(Math.random() * 400) * 10;
}

