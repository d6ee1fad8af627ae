// Connection groups (bonding), libsrt 1.5's model (ADR 16; SRT-DIGEST §9; libsrt docs/features/
// socket-groups.md, bonding-main-backup.md). A group is a set of member connections that carry one
// stream: every member numbers a packet with the same sequence number, and the receiving group
// keeps the first copy of each number.
//   broadcast (SRT_GTYPE_BROADCAST): every packet goes over every member.
//   main/backup (SRT_GTYPE_BACKUP): one member (the highest weight) carries the stream; when it
//     gets no answer for SRTO_GROUPMINSTABLETIMEO while it has packets in flight, it is unstable
//     and the best idle member takes over, re-sending what the unstable one had not had
//     acknowledged, with the original timestamps (so nothing is lost within the latency).
// Sans-IO: the endpoint owns the member connections and calls send/accept/check; nothing here
// reads a clock or touches a socket.
import type { Connection } from './connection.js';
import { seqOff } from './seq.js';

/** SRT_GROUP_TYPE (libsrt 1.5: 0 undefined, 1 broadcast, 2 backup). */
export const GroupType = { Undefined: 0, Broadcast: 1, Backup: 2 } as const;
export type GroupTypeValue = 1 | 2;
export type GroupTypeName = 'broadcast' | 'backup';

/** Bit 30 marks a group id (libsrt SRTGROUP_MASK). */
export const GROUP_ID_BIT = 0x40000000;

export function groupTypeValue(name: GroupTypeName): GroupTypeValue {
  return name === 'broadcast' ? GroupType.Broadcast : GroupType.Backup;
}

export function groupTypeName(t: GroupTypeValue): GroupTypeName {
  return t === GroupType.Broadcast ? 'broadcast' : 'backup';
}

/** The GROUP handshake extension a member connection exchanged (ConnectionParams.group). */
export interface GroupMembership {
  /** Our group's id (bit 30 set). */
  groupId: number;
  /** The peer's group id from its GROUP block (0: the peer sent none). */
  peerGroupId: number;
  type: GroupTypeValue;
  /** This member's weight (main/backup: higher = preferred). */
  weight: number;
}

/**
 * A member's state (libsrt SRT_MEMBERSTATUS plus the backup link states): `active` carries data,
 * `idle` is connected and waits (backup), `unstable` went quiet while active, `broken` closed.
 */
export type MemberState = 'active' | 'idle' | 'unstable' | 'broken';

export interface GroupMember {
  readonly conn: Connection;
  readonly weight: number;
  state: MemberState;
  /** When the member last became active (µs), -Infinity if never. */
  activatedAt: number;
  /** Times this member was activated (main/backup switches to it). */
  activations: number;
  /** When the member last became idle again after being unstable or replaced (µs). */
  idleSince: number;
  /** The peer's last packet as check() last saw it, and when the member was heard again after a silence. */
  heard: number;
  aliveSince: number;
}

/** Group-wide counters (the group's own view; each member keeps its own SRT statistics). */
export interface GroupCounters {
  /** Messages the application sent through the group (each counted once). */
  pktSentUnique: number;
  /** Messages the group delivered (the first copy of each sequence number). */
  pktRecvUnique: number;
  /** Copies discarded because another member delivered that sequence number first. */
  pktRecvDuplicate: number;
  /** Main/backup: members activated after the first one (switches). */
  switches: number;
  /** Main/backup: packets re-sent over a newly activated member. */
  pktBacklogResent: number;
}

interface Sent {
  seq: number;
  ts: number;
  payload: Buffer;
}

/** How many sent packets a backup group keeps for a take-over (bounded; older ones are dropped). */
const MAX_BACKLOG = 8192;
/** An idle member heard from within this is alive (idle links exchange keepalives every second). */
const FRESH_US = 2_500_000;
/** A recovered member of higher weight takes the stream back after being alive this long again. */
const RETURN_AFTER_US = 1_000_000;
/** A silence longer than this (keepalives come every second) means the path was down. */
const SILENCE_US = 1_500_000;

export class ConnectionGroup {
  readonly members: GroupMember[] = [];
  readonly counters: GroupCounters = { pktSentUnique: 0, pktRecvUnique: 0, pktRecvDuplicate: 0, switches: 0, pktBacklogResent: 0 };
  /** The peer's group id (from the first member's GROUP block). */
  peerId = 0;
  /** Sequence number of the next message the group sends (null until the first member). */
  private nextSeq: number | null = null;
  private lastDelivered: number | null = null;
  /** Main/backup: what was sent over the active member and may not have reached the peer yet. */
  private backlog: Sent[] = [];
  private readonly stableUs: number;

  constructor(
    readonly id: number,
    readonly type: GroupTypeValue,
    /** Local clock value at which the group's timestamps are 0 (every member shares it). */
    readonly startTime: number,
    /** SRTO_GROUPMINSTABLETIMEO, ms. */
    minStableTimeoMs = 60,
  ) {
    if ((id & GROUP_ID_BIT) === 0) throw new RangeError(`group id ${id} lacks bit 30`);
    this.stableUs = minStableTimeoMs * 1000;
  }

  get typeName(): GroupTypeName {
    return groupTypeName(this.type);
  }

  /** A member connected: it takes the group's sequence numbering. */
  add(conn: Connection, weight: number): GroupMember {
    const m: GroupMember = { conn, weight, state: this.type === GroupType.Broadcast ? 'active' : 'idle', activatedAt: -Infinity, activations: 0, idleSince: -Infinity, heard: conn.lastReceivedAt, aliveSince: -Infinity };
    if (this.nextSeq === null) this.nextSeq = conn.sender.next;
    else conn.sender.rebase(this.nextSeq);
    // one time base for what the members receive (libsrt synchronizes a new member to the group)
    const first = this.live[0];
    if (first) conn.receiver.adoptTimeBase(first.conn.receiver);
    if (this.peerId === 0 && conn.params.group) this.peerId = conn.params.group.peerGroupId;
    this.members.push(m);
    return m;
  }

  member(conn: Connection): GroupMember | undefined {
    return this.members.find((m) => m.conn === conn);
  }

  /** A member closed. */
  remove(conn: Connection): void {
    const m = this.member(conn);
    if (m) m.state = 'broken';
  }

  /** Members still connected. */
  get live(): GroupMember[] {
    return this.members.filter((m) => m.state !== 'broken' && m.conn.state === 'connected');
  }

  /**
   * One application message. Returns the member connections that were written (the driver
   * serves them), or null if no member could take it.
   */
  send(now: number, payload: Buffer): Connection[] | null {
    const touched = this.check(now);
    if (this.nextSeq === null) return null;
    const seq = this.nextSeq;
    const ts = Math.floor(now - this.startTime) >>> 0;
    const out: Connection[] = touched;
    if (this.type === GroupType.Broadcast) {
      for (const m of this.members) {
        if (m.state !== 'active' || m.conn.state !== 'connected') continue;
        if (this.write(m.conn, seq, ts, payload) && !out.includes(m.conn)) out.push(m.conn);
      }
    } else {
      this.trimBacklog();
      let active = this.members.find((m) => m.state === 'active' && m.conn.state === 'connected');
      if (!active) {
        active = this.activateBest(now, out);
        if (!active) return null;
      }
      if (this.write(active.conn, seq, ts, payload)) {
        if (!out.includes(active.conn)) out.push(active.conn);
      }
      this.backlog.push({ seq, ts, payload });
      if (this.backlog.length > MAX_BACKLOG) this.backlog.shift();
    }
    if (out.length === 0 && this.type === GroupType.Broadcast) return null;
    this.nextSeq = (seq + 1) & 0x7fffffff;
    this.counters.pktSentUnique++;
    return out;
  }

  /** Writes one packet with the group's number; a member that fell behind skips it until it drains. */
  private write(conn: Connection, seq: number, ts: number, payload: Buffer): boolean {
    if (conn.sender.next !== seq) {
      if (!conn.sender.isEmpty()) return false;
      conn.sender.rebase(seq);
    }
    return conn.send(this.startTime + ts, payload, ts);
  }

  /**
   * A member delivered the message with sequence number `seq`: true if it is the first copy
   * (give it to the application), false for a copy another member delivered already.
   */
  accept(seq: number): boolean {
    if (this.lastDelivered !== null && seqOff(this.lastDelivered, seq) <= 0) {
      this.counters.pktRecvDuplicate++;
      return false;
    }
    this.lastDelivered = seq;
    this.counters.pktRecvUnique++;
    return true;
  }

  /** The main/backup stability check; returns the member connections written (a take-over). */
  check(now: number): Connection[] {
    const out: Connection[] = [];
    if (this.type !== GroupType.Backup) return out;
    this.trimBacklog();
    for (const m of this.members) {
      if (m.state === 'broken') continue;
      if (m.conn.state !== 'connected') {
        m.state = 'broken';
        continue;
      }
      const heard = m.conn.lastReceivedAt;
      if (heard !== m.heard) {
        if (heard - m.heard > SILENCE_US) m.aliveSince = heard;
        m.heard = heard;
      }
      if (m.state === 'unstable' && m.conn.sender.isEmpty()) {
        m.state = 'idle'; // nothing left in flight: a candidate again once it is heard from
        m.idleSince = now;
      }
    }
    const active = this.members.find((m) => m.state === 'active');
    if (active && now >= this.unstableAt(active)) {
      active.state = 'unstable';
      this.activateBest(now, out);
    } else if (!active && this.backlog.length > 0) {
      this.activateBest(now, out);
    } else if (active) {
      // libsrt goes back to a preferred (higher-weight) link once it is stable again
      const back = this.members.find((m) => m.state === 'idle' && m.weight > active.weight && m.conn.state === 'connected'
        && now - m.idleSince >= RETURN_AFTER_US && m.conn.lastReceivedAt > m.idleSince && now - m.aliveSince >= RETURN_AFTER_US && this.fresh(m, now));
      if (back) {
        active.state = 'idle';
        active.idleSince = now;
        this.activate(back, now, out);
      }
    }
    return out;
  }

  private fresh(m: GroupMember, now: number): boolean {
    return now - m.conn.lastReceivedAt < FRESH_US;
  }

  /** When the active member counts as unstable (Infinity: nothing in flight). */
  private unstableAt(m: GroupMember): number {
    const s = m.conn.sender;
    if (s.isEmpty()) return Infinity;
    const quietSince = Math.max(m.conn.lastReceivedAt, s.oldestOrigin(), m.activatedAt);
    return quietSince + this.stableUs;
  }

  /** The next time check() has something to do (Infinity: none). */
  deadline(): number {
    if (this.type !== GroupType.Backup) return Infinity;
    const active = this.members.find((m) => m.state === 'active');
    return active ? this.unstableAt(active) : Infinity;
  }

  /** Main/backup: the highest-weight idle member takes over and gets the backlog. */
  private activateBest(now: number, out: Connection[]): GroupMember | undefined {
    // the highest weight among members heard from lately; any idle one if none was
    let best: GroupMember | undefined;
    for (const m of this.members) {
      if (m.state !== 'idle' || m.conn.state !== 'connected') continue;
      if (!best) {
        best = m;
        continue;
      }
      const fm = this.fresh(m, now), fb = this.fresh(best, now);
      if ((fm && !fb) || (fm === fb && m.weight > best.weight)) best = m;
    }
    if (!best) return undefined;
    this.activate(best, now, out);
    return best;
  }

  /** Makes `best` the active member and gives it the backlog. */
  private activate(best: GroupMember, now: number, out: Connection[]): void {
    if (this.members.some((m) => m.activations > 0)) this.counters.switches++;
    best.state = 'active';
    best.activatedAt = now;
    best.activations++;
    for (const p of this.backlog) {
      if (!this.write(best.conn, p.seq, p.ts, p.payload)) break;
      this.counters.pktBacklogResent++;
    }
    out.push(best.conn);
  }

  /** Drops from the backlog what the active member had acknowledged. */
  private trimBacklog(): void {
    const active = this.members.find((m) => m.state === 'active');
    if (!active || active.conn.state !== 'connected') return;
    const base = active.conn.sender.base;
    let n = 0;
    while (n < this.backlog.length && seqOff(this.backlog[n]!.seq, base) > 0) n++;
    if (n > 0) this.backlog = this.backlog.slice(n);
  }
}
