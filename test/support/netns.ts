// A second "host" for tests that need both peers on the same port number (rendezvous gateways:
// both sides use the same ListenPort): a network namespace joined to this one by a veth pair.
// Needs root and iproute2.
import { spawnSync } from 'node:child_process';
import { requireTool, spawnPeer, type Peer } from './peers.js';

export interface NetnsPath {
  /** Our address and the namespace's on this veth pair, and the namespace's device name. */
  hostIp: string;
  nsIp: string;
  nsDev: string;
}

export interface Netns {
  name: string;
  /** Every veth pair (`paths` in createNetns); hostIp/nsIp are the first one's. */
  paths: NetnsPath[];
  /** Our address on the link (reachable from inside the namespace). */
  hostIp: string;
  /** The namespace's address. */
  nsIp: string;
  /** Runs a command inside the namespace. */
  spawn(cmd: string, args: string[]): Peer;
  close(): void;
}

let counter = 0;

function ip(args: string[]): void {
  const r = spawnSync('ip', args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`ip ${args.join(' ')}: ${r.stderr.trim()}`);
}

/** A namespace joined to this one by `paths` veth pairs (two: two independent paths, for bonding). */
export function createNetns(paths = 1): Netns {
  requireTool('ip');
  if (process.getuid?.() !== 0) throw new Error('network namespaces need root');
  const name = `sluice-rdv-${process.pid}-${counter + 1}`;
  const hostDevs: string[] = [];
  const out: NetnsPath[] = [];
  ip(['netns', 'add', name]);
  try {
    ip(['netns', 'exec', name, 'ip', 'link', 'set', 'lo', 'up']);
    for (let i = 0; i < paths; i++) {
      const n = (process.pid % 200) + (counter++ % 50) * 200; // distinct per process and call
      const h = `srh${n}`, ns = `srn${n}`;
      const net = `10.${200 + (n >> 8) % 50}.${n & 0xff}`;
      const hostIp = `${net}.1`, nsIp = `${net}.2`;
      ip(['link', 'add', h, 'type', 'veth', 'peer', 'name', ns]);
      hostDevs.push(h);
      ip(['link', 'set', ns, 'netns', name]);
      ip(['addr', 'add', `${hostIp}/30`, 'dev', h]);
      ip(['link', 'set', h, 'up']);
      ip(['netns', 'exec', name, 'ip', 'addr', 'add', `${nsIp}/30`, 'dev', ns]);
      ip(['netns', 'exec', name, 'ip', 'link', 'set', ns, 'up']);
      out.push({ hostIp, nsIp, nsDev: ns });
    }
  } catch (e) {
    spawnSync('ip', ['netns', 'del', name]);
    for (const h of hostDevs) spawnSync('ip', ['link', 'del', h]);
    throw e;
  }
  return {
    name, paths: out, hostIp: out[0]!.hostIp, nsIp: out[0]!.nsIp,
    spawn: (cmd, args) => spawnPeer('ip', ['netns', 'exec', name, cmd, ...args]),
    close: () => {
      spawnSync('ip', ['netns', 'del', name]); // takes the veth pairs with it
      for (const h of hostDevs) spawnSync('ip', ['link', 'del', h]);
    },
  };
}
