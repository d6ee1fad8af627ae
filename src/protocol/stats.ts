// Statistics named and defined as libsrt's SRT_TRACEBSTATS (docs/API/statistics.md).
// Byte counters include the 44 bytes of SRT+UDP+IP headers per packet, as libsrt counts them.

/** Accumulating counters; each yields `<name>Total` (since connect) and `<name>` (since last clear). */
export const COUNTERS = [
  'pktSent', 'pktRecv', 'pktSentUnique', 'pktRecvUnique', 'pktSndLoss', 'pktRcvLoss', 'pktRetrans',
  'pktRcvRetrans', 'pktSentACK', 'pktRecvACK', 'pktSentNAK', 'pktRecvNAK', 'pktSndDrop', 'pktRcvDrop',
  'pktRcvUndecrypt', 'pktRcvBelated', 'byteSent', 'byteRecv', 'byteSentUnique', 'byteRecvUnique',
  'byteRcvLoss', 'byteRetrans', 'byteSndDrop', 'byteRcvDrop', 'byteRcvUndecrypt', 'usSndDuration',
  'pktSndFilterExtra', 'pktRcvFilterExtra', 'pktRcvFilterSupply', 'pktRcvFilterLoss',
  // Sluice additions: datagrams that were malformed or did not belong to the connection.
  'pktRecvInvalid',
] as const;
export type CounterName = (typeof COUNTERS)[number];

export type Counters = Record<CounterName, number>;

export function newCounters(): Counters {
  const c = {} as Counters;
  for (const k of COUNTERS) c[k] = 0;
  return c;
}

/** Instantaneous values (no Total form). */
export interface InstantStats {
  msTimeStamp: number;
  usPktSndPeriod: number;
  pktFlowWindow: number;
  pktCongestionWindow: number;
  pktFlightSize: number;
  msRTT: number;
  mbpsBandwidth: number;
  mbpsMaxBW: number;
  mbpsSendRate: number;
  mbpsRecvRate: number;
  byteAvailSndBuf: number;
  byteAvailRcvBuf: number;
  byteMSS: number;
  pktSndBuf: number;
  byteSndBuf: number;
  msSndBuf: number;
  msSndTsbPdDelay: number;
  pktRcvBuf: number;
  byteRcvBuf: number;
  msRcvBuf: number;
  msRcvTsbPdDelay: number;
  pktReorderDistance: number;
  pktReorderTolerance: number;
  pktRcvAvgBelatedTime: number;
  /** SRT_KM_STATE of each direction (libsrt SRTO_SNDKMSTATE / SRTO_RCVKMSTATE). */
  pktSndKMState?: number;
  pktRcvKMState?: number;
  /** Sluice additions: key switches made by our sender, key updates installed from the peer. */
  kmSndRefreshes?: number;
  kmRcvUpdates?: number;
}

export type SrtStats = InstantStats & Counters & { [K in CounterName as `${K}Total`]: number };

/** Every instantaneous statistic's name (the compiler checks the list against InstantStats). */
export const INSTANT_NAMES = [
  'msTimeStamp', 'usPktSndPeriod', 'pktFlowWindow', 'pktCongestionWindow', 'pktFlightSize', 'msRTT', 'mbpsBandwidth',
  'mbpsMaxBW', 'mbpsSendRate', 'mbpsRecvRate', 'byteAvailSndBuf', 'byteAvailRcvBuf', 'byteMSS', 'pktSndBuf', 'byteSndBuf',
  'msSndBuf', 'msSndTsbPdDelay', 'pktRcvBuf', 'byteRcvBuf', 'msRcvBuf', 'msRcvTsbPdDelay', 'pktReorderDistance',
  'pktReorderTolerance', 'pktRcvAvgBelatedTime', 'pktSndKMState', 'pktRcvKMState', 'kmSndRefreshes', 'kmRcvUpdates',
] as const satisfies readonly (keyof InstantStats)[];
type MissingInstant = Exclude<keyof InstantStats, (typeof INSTANT_NAMES)[number]>;
const _allInstantNamesListed: MissingInstant extends never ? true : never = true;
void _allInstantNamesListed;

/** Every statistic's name, in the order buildStats writes them. */
export const STAT_NAMES: readonly string[] = [...INSTANT_NAMES, ...COUNTERS.flatMap((k) => [`${k}Total`, k])];

const TOTAL_NAMES = COUNTERS.map((k) => `${k}Total`);

export function buildStats(total: Counters, since: Counters, instant: InstantStats): SrtStats {
  // Same keys in the same order every time (one hidden class); key names computed once: a
  // server's statistics route builds this for every connection.
  const rec: Record<string, number> = {};
  for (const k in instant) rec[k] = instant[k as keyof InstantStats] as number;
  for (let i = 0; i < COUNTERS.length; i++) {
    const k = COUNTERS[i]!;
    rec[TOTAL_NAMES[i]!] = total[k];
    rec[k] = total[k] - since[k];
  }
  return rec as unknown as SrtStats;
}
