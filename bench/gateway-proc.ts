// Gateways in one process, configured with the RX/TX document's fields (as the API stores them).
// Usage: node gateway-proc.js '<json array of {kind, config}>'. Prints "ready" once started.
import { normalizeConfig, rxSpec, txSpec, type GatewayKind } from '../src/core/gateway-config.js';
import { RxGateway, TxGateway } from '../src/gateway/rxtx.js';

const specs = JSON.parse(process.argv[2]!) as { kind: GatewayKind; config: Record<string, unknown> }[];
const gws = specs.map(({ kind, config }) => {
  const cfg = normalizeConfig(kind, config);
  return kind === 'rx' ? new RxGateway(rxSpec(cfg)) : new TxGateway(txSpec(cfg));
});
for (const g of gws) g.on('error', (e: Error) => process.stderr.write(`gateway: ${e.message}\n`));
await Promise.all(gws.map((g) => g.start()));
process.stdout.write('ready\n');
process.on('SIGTERM', () => {
  const dropped = gws.reduce((n, g) => n + (g instanceof TxGateway ? g.droppedInput : 0), 0);
  // SRT totals of each gateway's connection, to tell where a loss happened
  const srt = gws.map((g) => {
    const s = g.link.socket;
    if (!s || s.destroyed) return null;
    const t = s.stats();
    return g instanceof TxGateway
      ? { sent: t.pktSentTotal, retrans: t.pktRetransTotal, sndLoss: t.pktSndLossTotal, sndDrop: t.pktSndDropTotal }
      : { recv: t.pktRecvTotal, loss: t.pktRcvLossTotal, retrans: t.pktRcvRetransTotal, rcvDrop: t.pktRcvDropTotal, belated: t.pktRcvBelated, undecrypt: t.pktRcvUndecryptTotal };
  });
  process.stderr.write(`${JSON.stringify({ droppedInput: dropped, srt: srt.length === 1 ? srt[0] : undefined })}\n`);
  process.exit(0);
});
