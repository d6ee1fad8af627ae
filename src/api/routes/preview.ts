// GET /api/v1/servers/:id/streams/preview: a live stream's MPEG-TS over a WebSocket, for the
// dashboard's in-browser preview (mpegts.js). The reader is a local player of the SRT server
// (Server.playLocal, label "preview:<user>"): it starts with the stream's cached GOP (or at the next
// random-access point where there is none), shows up in the
// stream's players with statistics, can be kicked like any connection, and is dropped when the
// browser cannot keep up.
//
// Browsers cannot set headers on a WebSocket, so the JWT comes as the subprotocol
// "bearer.<token>" next to "sluice.preview" (kept out of URLs and logs), or as ?token=.
// Refusals after the upgrade are close codes with a reason: 4401 no/invalid token, 4404 no such
// server or stream, 4409 server not running, 4408 the viewer fell too far behind; 1000 when the
// stream ends or the preview is kicked.
import websocket from '@fastify/websocket';
import type { FastifyRequest } from 'fastify';
import { Type } from '@sinclair/typebox';
import type { WebSocket } from 'ws';
import { NotFoundError } from '../../core/servers.js';
import { ApiError, errors, type App, type TokenUser } from '../common.js';
import type { AppContext } from '../context.js';

export const PREVIEW_PROTOCOL = 'sluice.preview';
/** Bytes queued on a viewer's socket before it is dropped (a few seconds of a high-bitrate stream). */
export const PREVIEW_MAX_BUFFERED = 8 * 1024 * 1024;

export const PreviewClose = { UNAUTHORIZED: 4401, NOT_FOUND: 4404, TOO_SLOW: 4408, NOT_RUNNING: 4409 } as const;

const Params = Type.Object({ id: Type.Integer({ minimum: 1 }) });
const Query = Type.Object({
  stream: Type.String({ minLength: 1, description: 'stream name, as in GET /api/v1/servers/{id}/streams' }),
  token: Type.Optional(Type.String({ description: 'the login JWT, for clients that cannot send it as a header or as the "bearer.<token>" subprotocol' })),
}, { additionalProperties: false });

class Refusal extends Error {
  constructor(readonly closeCode: number, readonly status: number, readonly code: string, message: string) {
    super(message);
  }
}

function bearerFrom(req: FastifyRequest, query: { token?: string }): string | undefined {
  const proto = req.headers['sec-websocket-protocol'];
  if (typeof proto === 'string') {
    const t = proto.split(',').map((p) => p.trim()).find((p) => p.startsWith('bearer.'));
    if (t) return t.slice('bearer.'.length);
  }
  if (query.token) return query.token;
  const auth = req.headers.authorization;
  if (typeof auth === 'string' && /^bearer /i.test(auth)) return auth.slice(7).trim();
  const alt = req.headers['x-access-token'];
  return typeof alt === 'string' ? alt : undefined;
}

/**
 * `authorize` maps a verified token's claims to the user it acts as, or null when the token was
 * revoked (app.ts passes the users-table check of tokens.ts); without it any verified token is taken.
 */
export async function registerPreviewRoutes(app: App, ctx: AppContext, maxBuffered = PREVIEW_MAX_BUFFERED,
  authorize: (claims: TokenUser) => Promise<TokenUser | null> = async (c) => c): Promise<void> {
  await app.register(websocket, {
    options: {
      maxPayload: 64 * 1024, // viewers send nothing but close frames
      // answer the dashboard's subprotocol (a browser fails the connection when none is chosen)
      handleProtocols: (protocols: Set<string>) => (protocols.has(PREVIEW_PROTOCOL) ? PREVIEW_PROTOCOL : false),
    },
  });

  /** Who is asking and what to read; throws a Refusal. */
  const check = async (req: FastifyRequest): Promise<{ user: TokenUser; stream: string; server: NonNullable<ReturnType<AppContext['servers']['runtime']>> }> => {
    const { id } = req.params as { id: number };
    const query = req.query as { stream: string; token?: string };
    const token = bearerFrom(req, query);
    let user: TokenUser;
    try {
      if (!token) throw new Error('no token');
      const current = await authorize(app.jwt.verify<TokenUser>(token));
      if (!current) throw new Error('revoked');
      user = current;
    } catch {
      throw new Refusal(PreviewClose.UNAUTHORIZED, 401, 'API_ERR_UNAUTHORIZED', 'a valid token is required (POST /api/v1/auth/login)');
    }
    try {
      await ctx.servers.get(id);
    } catch (e) {
      if (e instanceof NotFoundError) throw new Refusal(PreviewClose.NOT_FOUND, 404, 'API_ERR_NOT_FOUND', e.message);
      throw e;
    }
    const server = ctx.servers.runtime(id);
    if (!server) throw new Refusal(PreviewClose.NOT_RUNNING, 409, 'API_ERR_NOT_RUNNING', `server ${id} is not running`);
    const stream = query.stream.replace(/^\/+/, '');
    // as SRT players: a stream that is not published is 4404 unless the server holds waiting players
    // scale-out: a stream published on another node comes through this node's edge of it
    const here = server.streamNames().includes(stream) || (ctx.node !== undefined && await ctx.node.attachEdge(id, stream));
    if (!here && server.config.waitForPublisher !== true) throw new Refusal(PreviewClose.NOT_FOUND, 404, 'API_ERR_NOT_FOUND', `no live stream "${stream}" on server ${id}`);
    return { user, stream, server };
  };

  const wsHandler = async (socket: WebSocket, req: FastifyRequest): Promise<void> => {
    let target: Awaited<ReturnType<typeof check>>;
    try {
      target = await check(req);
    } catch (e) {
      if (e instanceof Refusal) socket.close(e.closeCode, e.message.slice(0, 120));
      else socket.close(1011, 'internal error');
      return;
    }
    if (socket.readyState !== socket.OPEN) return; // the viewer left while we checked
    const { user, stream, server } = target;
    // the endpoint's own queue is not the limit here: its messages are taken at once and the
    // socket's buffered bytes are watched instead
    const ep = server.playLocal(stream, `preview:${user.sub}`, { startAtKeyframe: true, queue: 4096 });
    let open = true;
    const finish = (code: number, reason: string): void => {
      if (!open) return;
      open = false;
      ep.close(reason);
      if (socket.readyState === socket.OPEN || socket.readyState === socket.CONNECTING) socket.close(code, reason.slice(0, 120));
    };
    ep.on('data', (msg: Buffer) => {
      if (!open) return;
      if (socket.bufferedAmount > maxBuffered) {
        finish(PreviewClose.TOO_SLOW, `viewer too slow: over ${maxBuffered >= 1048576 ? `${Math.round(maxBuffered / 1048576)} MiB` : `${Math.round(maxBuffered / 1024)} KiB`} queued`);
        return;
      }
      socket.send(msg, { binary: true });
    });
    // the stream ended, the server stopped, or an operator kicked the preview
    ep.once('close', () => finish(1000, ep.closeReason ?? 'stream ended'));
    socket.on('close', () => finish(1000, 'viewer left'));
    socket.on('error', () => finish(1011, 'socket error'));
  };

  app.route({
    method: 'GET',
    url: '/api/v1/servers/:id/streams/preview',
    schema: {
      tags: ['servers'],
      summary: 'Preview a live stream: its MPEG-TS over a WebSocket (binary frames, from a random-access point)',
      description: 'Open as a WebSocket with the subprotocols "sluice.preview" and "bearer.<token>" (or ?token=). '
        + 'Refusals close the socket with 4401 (token), 4404 (no such server or stream), 4409 (server not running); a viewer that falls '
        + `more than ${Math.round(maxBuffered / 1048576)} MiB behind is closed with 4408. A plain GET checks the same and answers 426.`,
      params: Params,
      querystring: Query,
      response: {
        101: Type.Null({ description: 'switching to the WebSocket protocol; binary frames of MPEG-TS follow' }),
        ...errors(401, 404, 409, 426),
      },
    },
    // a plain HTTP GET: the same checks as the upgrade, then 426 (this route only speaks WebSocket)
    handler: async (req) => {
      try {
        await check(req);
      } catch (e) {
        if (e instanceof Refusal) throw new ApiError(e.status, e.code, e.message);
        throw e;
      }
      throw new ApiError(426, 'API_ERR_UPGRADE_REQUIRED', 'open this URL as a WebSocket (subprotocol "sluice.preview")');
    },
    wsHandler,
  });
}
