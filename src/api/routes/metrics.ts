// GET /metrics: Prometheus text exposition. Open to scrapers unless the app has a metricsToken,
// then `Authorization: Bearer <metricsToken>` is required. Also times every API request.
import { createHash, timingSafeEqual } from 'node:crypto';
import { Type } from '@sinclair/typebox';
import { ErrorBody, type App, type Guards } from '../common.js';
import type { AppContext } from '../context.js';
import { createMetrics } from '../metrics.js';

function sameSecret(a: string, b: string): boolean {
  // compare digests: constant time whatever the lengths
  return timingSafeEqual(createHash('sha256').update(a).digest(), createHash('sha256').update(b).digest());
}

export function registerMetricsRoutes(app: App, ctx: AppContext, _g: Guards): void {
  const metrics = createMetrics(ctx);
  app.addHook('onResponse', async (req, reply) => {
    metrics.httpDuration.observe({ method: req.method, route: req.routeOptions.url ?? 'unmatched', status: String(reply.statusCode) }, reply.elapsedTime / 1000);
  });
  const token = ctx.metricsToken;
  app.get('/metrics', {
    schema: {
      tags: ['metrics'],
      summary: 'Prometheus metrics (text exposition format)',
      description: token ? 'Requires `Authorization: Bearer <metrics token>`.' : 'Open to scrapers (no token configured).',
      security: token ? [{ bearer: [] }] : [],
      response: { 200: { description: 'Prometheus text exposition', content: { 'text/plain': { schema: Type.String() } } }, 401: ErrorBody },
    },
  }, async (req, reply) => {
    if (token) {
      const m = /^Bearer (.+)$/.exec(req.headers.authorization ?? '');
      if (!m || !sameSecret(m[1]!, token)) return reply.code(401).send({ code: 'API_ERR_UNAUTHORIZED', message: 'the metrics token is required (Authorization: Bearer …)' });
    }
    const body = await metrics.registry.metrics();
    return reply.type(metrics.registry.contentType).send(body);
  });
}
