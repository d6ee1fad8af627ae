// In-browser preview of a live stream: Sluice relays the stream's MPEG-TS over a WebSocket
// (GET /api/v1/servers/{id}/streams/preview) and mpegts.js remuxes H.264/AAC for Media Source
// Extensions. mpegts.js is loaded only when a preview starts.
import type { JSX } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import type Mpegts from 'mpegts.js';
import { getToken, previewUrl } from '../api';
import { bits, bytes } from '../lib/format';

type MpegtsModule = typeof Mpegts;

/** What the server said when it closed the preview socket. */
const CLOSE_REASONS: Record<number, string> = {
  4401: 'not logged in (token refused)',
  4404: 'the stream is not live',
  4408: 'this browser fell too far behind the stream',
  4409: 'the server is not running',
};

interface LoaderHooks {
  onOpen(): void;
  onBytes(n: number): void;
  onClose(code: number, reason: string): void;
}

interface LoaderBase {
  _status: number;
  _needStash: boolean;
  _onDataArrival: ((chunk: ArrayBuffer, byteStart: number, received: number) => void) | null;
  _onComplete: ((from: number, to: number) => void) | null;
  destroy(): void;
}

/**
 * mpegts.js' own WebSocket loader cannot send credentials; this one offers the token as the
 * "bearer.<token>" subprotocol next to "sluice.preview" and reports the server's close code.
 */
function loaderClass(m: MpegtsModule, token: string, hooks: LoaderHooks): Mpegts.CustomLoaderConstructor {
  const Base = m.BaseLoader as unknown as new (type: string) => LoaderBase;
  class SluiceWsLoader extends Base {
    private ws: WebSocket | null = null;
    private aborted = false;
    private received = 0;
    constructor() {
      super('sluice-websocket-loader');
      this._needStash = true;
    }
    open(source: { url: string }): void {
      const ws = new WebSocket(source.url, ['sluice.preview', `bearer.${token}`]);
      this.ws = ws;
      ws.binaryType = 'arraybuffer';
      this._status = 1; // connecting
      ws.onopen = () => {
        this._status = 2; // buffering
        hooks.onOpen();
      };
      ws.onmessage = (e: MessageEvent<ArrayBuffer>) => {
        const start = this.received;
        this.received += e.data.byteLength;
        hooks.onBytes(e.data.byteLength);
        this._onDataArrival?.(e.data, start, this.received);
      };
      ws.onclose = (e) => {
        if (this.aborted) return;
        this._status = 4; // complete
        hooks.onClose(e.code, e.reason);
        this._onComplete?.(0, this.received - 1);
      };
    }
    abort(): void {
      this.aborted = true;
      if (this.ws && this.ws.readyState <= WebSocket.OPEN) this.ws.close(1000, 'preview stopped');
      this.ws = null;
      this._status = 4;
    }
    override destroy(): void {
      if (this.ws) this.abort();
      super.destroy();
    }
  }
  return SluiceWsLoader as unknown as Mpegts.CustomLoaderConstructor;
}

export function Preview({ serverId, stream, onStop }: { serverId: number; stream: string; onStop: () => void }): JSX.Element {
  const video = useRef<HTMLVideoElement>(null);
  const [state, setState] = useState<'loading' | 'connecting' | 'playing' | 'closed' | 'error'>('loading');
  const [message, setMessage] = useState('');
  const [received, setReceived] = useState(0);
  const [info, setInfo] = useState<{ speed: number; decoded: number; dropped: number }>({ speed: 0, decoded: 0, dropped: 0 });

  useEffect(() => {
    let player: Mpegts.Player | null = null;
    let cancelled = false;
    let total = 0;
    const tick = setInterval(() => setReceived(total), 500);
    void (async () => {
      let m: MpegtsModule;
      try {
        m = (await import('mpegts.js')).default;
      } catch (e) {
        setState('error');
        setMessage(`the player could not be loaded: ${(e as Error).message}`);
        return;
      }
      if (cancelled || !video.current) return;
      if (!m.isSupported() || !m.getFeatureList().mseLivePlayback) {
        setState('error');
        setMessage('this browser cannot play live MPEG-TS (no Media Source Extensions)');
        return;
      }
      m.LoggingControl.enableAll = false;
      setState('connecting');
      const token = getToken() ?? '';
      const loader = loaderClass(m, token, {
        onOpen: () => setState('playing'),
        onBytes: (n) => { total += n; },
        onClose: (code, reason) => {
          setState('closed');
          setMessage(CLOSE_REASONS[code] ? `${CLOSE_REASONS[code]}${reason ? ` (${reason})` : ''}` : `preview ended${reason ? `: ${reason}` : ''}`);
        },
      });
      player = m.createPlayer({ type: 'mpegts', isLive: true, url: previewUrl(serverId, stream) }, {
        enableWorker: false,
        isLive: true,
        liveBufferLatencyChasing: true,
        liveBufferLatencyMaxLatency: 2,
        liveBufferLatencyMinRemain: 0.5,
        lazyLoad: false,
        customLoader: loader,
      });
      player.on(m.Events.ERROR, (type: string, detail: string, err?: { msg?: string }) => {
        setState('error');
        setMessage(`${type}: ${detail}${err?.msg ? ` — ${err.msg}` : ''}`);
      });
      player.on(m.Events.STATISTICS_INFO, (s: { speed?: number; decodedFrames?: number; droppedFrames?: number }) => {
        setInfo({ speed: s.speed ?? 0, decoded: s.decodedFrames ?? 0, dropped: s.droppedFrames ?? 0 });
      });
      player.attachMediaElement(video.current);
      player.load();
      const p = player.play();
      if (p && typeof (p as Promise<void>).catch === 'function') (p as Promise<void>).catch(() => undefined); // muted autoplay may still be refused: the controls remain
    })();
    return () => {
      cancelled = true;
      clearInterval(tick);
      if (player) {
        try {
          player.pause();
          player.unload();
          player.detachMediaElement();
        } finally {
          player.destroy();
        }
      }
    };
  }, [serverId, stream]);

  return (
    <section class="preview" aria-label={`Preview of ${stream}`} data-state={state} data-bytes={received}>
      <video ref={video} muted autoplay playsInline controls class="preview-video" aria-label={`Live video of ${stream}`} />
      <div class="preview-bar">
        <span class={`badge badge-${state === 'playing' ? 'running' : state === 'error' ? 'failed' : 'stopped'}`}>{state}</span>
        <span>{bytes(received)} received</span>
        {info.speed > 0 && <span>{bits(info.speed * 8 * 1024)}</span>}
        <span>{info.decoded} frames{info.dropped ? `, ${info.dropped} dropped` : ''}</span>
        <button type="button" class="btn btn-small" onClick={onStop}>Stop preview</button>
      </div>
      {message && <p class={`note ${state === 'error' ? 'note-error' : ''}`} role="status">{message}</p>}
    </section>
  );
}
