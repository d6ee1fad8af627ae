import { randomInt } from 'node:crypto';

/** The driver's monotonic clock in µs (the only clock the protocol sees). */
export function nowUs(): number {
  return performance.now() * 1000;
}

/** libsrt-style socket id: random, non-zero, below 2^30 (bit 30 marks groups). */
export function randomSocketId(): number {
  return randomInt(1, 0x40000000);
}

export function randomIsn(): number {
  return randomInt(0, 0x7fffffff);
}

/** A rendezvous cookie: 32 random bits, never 0 (libsrt bakes an MD5 of the peer address and the minute). */
export function randomCookie(): number {
  return randomInt(1, 0x100000000) | 0;
}
