// The dashboard (web/, built by Vite into dist/web) served at "/": hashed assets cached for a
// year, index.html never cached, and index.html for any other browser navigation outside the
// API's paths (the console routes with #/…, so this only rescues deep links and bookmarks).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { FastifyReply, FastifyRequest } from 'fastify';
import fastifyStatic from '@fastify/static';
import type { App } from './common.js';

/** dist/web, next to dist/src/api/web.js. */
export const DEFAULT_WEB_ROOT = fileURLToPath(new URL('../../web/', import.meta.url));

/** Paths that belong to the API (native, RX/TX, Callaba-compatible), docs and probes: never the dashboard. */
const NOT_DASHBOARD = /^\/(api|v1|docs|openapi\.json|metrics|healthz|auth|servers|utils)(\/|$|\?)/;

export interface Dashboard {
  /** True when the dashboard is built and being served. */
  readonly available: boolean;
  /** Answers a not-found browser navigation with index.html; false when the request is not one. */
  fallback(req: FastifyRequest, reply: FastifyReply): boolean;
}

export async function registerWeb(app: App, root = DEFAULT_WEB_ROOT): Promise<Dashboard> {
  if (!existsSync(`${root}/index.html`)) {
    app.get('/', { schema: { hide: true } }, async (_req, reply) => reply.code(503).type('text/plain; charset=utf-8')
      .send('The dashboard is not built: run `npm run build:web` (npm install does it), then restart sluice serve.\nThe REST API is at /api/v1, its documentation at /docs.\n'));
    return { available: false, fallback: () => false };
  }
  await app.register(fastifyStatic, {
    root,
    prefix: '/',
    // GET /* looks in the folder (a rebuilt dashboard is served without a restart); a file that is
    // not there goes on to the not-found handler: the API's 404, or index.html for a navigation
    wildcard: true,
    index: ['index.html'],
    setHeaders: (reply, path) => {
      reply.header('cache-control', /[\\/]assets[\\/]/.test(path) ? 'public, max-age=31536000, immutable' : 'no-cache');
      reply.header('x-content-type-options', 'nosniff');
    },
  });
  return {
    available: true,
    fallback: (req, reply) => {
      if (req.method !== 'GET' || NOT_DASHBOARD.test(req.url) || !(req.headers.accept ?? '').includes('text/html')) return false;
      void reply.header('cache-control', 'no-cache').sendFile('index.html');
      return true;
    },
  };
}
