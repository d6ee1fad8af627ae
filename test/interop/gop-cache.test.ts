// The GOP cache with real publishers: ffmpeg (libx264, libx265) and GStreamer (x264enc → h264parse
// with the parameter sets sent once at the start) publish MPEG-TS; a player joins mid-GOP after
// the stream's first GOP and must decode from its first frame, a keyframe, with no decoder
// complaint; what it gets after the cached GOP's first packet is the publisher's stream byte for
// byte (no gap, no duplicate). With gopCache off, the same join gives undecodable video.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Server, type ServerConfig } from '../../src/server/server.js';
import { PsiCache } from '../../src/server/tsmux.js';
import { dial } from '../../src/transport/api.js';
import { freePort, requireTool, sleep, spawnPeer, tempDir, until, type Peer } from '../support/peers.js';
import { fileTimeout } from '../support/file-timeout.js';

fileTimeout();

requireTool('ffmpeg');
requireTool('ffprobe');

type Publisher = 'x264' | 'x265' | 'gstreamer';

function publish(kind: Publisher, port: number): Peer {
  const url = `srt://127.0.0.1:${port}?streamid=publish:live/gop&pkt_size=1316`;
  const src = ['-loglevel', 'error', '-re', '-f', 'lavfi', '-i', 'testsrc=size=640x360:rate=25'];
  if (kind === 'x264') return spawnPeer('ffmpeg', [...src, '-c:v', 'libx264', '-preset', 'ultrafast', '-g', '50', '-bf', '0', '-b:v', '1M', '-f', 'mpegts', url]);
  if (kind === 'x265') {
    return spawnPeer('ffmpeg', [...src, '-c:v', 'libx265', '-preset', 'ultrafast', '-g', '50', '-bf', '0', '-b:v', '1M', '-x265-params', 'log-level=error', '-f', 'mpegts', url]);
  }
  // x264enc in AVC form without in-band headers: h264parse writes SPS/PPS once, at the start
  // (its default config-interval=0); mpegtsmux alignment=7 gives SRT-sized buffers
  return spawnPeer('gst-launch-1.0', ['-q', 'videotestsrc', 'is-live=true', '!', 'video/x-raw,width=640,height=360,framerate=25/1', '!',
    'x264enc', 'key-int-max=50', 'tune=zerolatency', 'bitrate=1000', 'option-string=repeat-headers=0', '!', 'video/x-h264,stream-format=avc', '!',
    'h264parse', '!', 'video/x-h264,stream-format=byte-stream', '!', 'mpegtsmux', 'alignment=7', '!', 'srtsink', `uri=srt://127.0.0.1:${port}?streamid=publish:live/gop`]);
}

interface Join {
  /** What the late player received. */
  got: Buffer[];
  /** The publisher's whole stream as the server fanned it out. */
  raw: Buffer;
  /** ms from the player's dial to its first message. */
  firstMessageMs: number;
}

/** Publishes, waits for the stream's second keyframe and a random part of a GOP more, then joins a player. */
async function lateJoin(kind: Publisher, cfg: Partial<ServerConfig> = {}): Promise<Join> {
  const port = await freePort();
  const server = new Server({ name: 'gop', host: '127.0.0.1', port, ...cfg });
  await server.start();
  // a raw reader from before the publisher: every message, as sent
  const rawEp = server.playLocal('live/gop', 'raw', { startAtKeyframe: false, queue: 1 << 20 });
  const raw: Buffer[] = [];
  const psi = new PsiCache();
  let keyframes = 0;
  rawEp.on('data', (m: Buffer) => {
    raw.push(m);
    psi.observe(m);
    if (psi.keyframeOffset(m) >= 0) keyframes++;
  });
  const pub = publish(kind, port);
  try {
    await until(() => keyframes >= 2, 20_000);
    assert.ok(keyframes >= 2, `the publisher's stream has a second keyframe (${pub.output()})`);
    await sleep(Math.random() * 1500); // somewhere in the GOP (50 frames = 2 s)
    const t0 = performance.now();
    const player = await dial({ host: '127.0.0.1', port, streamid: 'live/gop' });
    const got: Buffer[] = [];
    let firstMessageMs = -1;
    player.on('data', (m: Buffer) => {
      if (firstMessageMs < 0) firstMessageMs = performance.now() - t0;
      got.push(m);
    });
    const enough = (): number => got.reduce((n, m) => n + m.length, 0);
    try {
      await until(() => enough() > 400_000, 20_000); // a few seconds of video
    } finally {
      player.destroy();
    }
    assert.ok(enough() > 400_000, `the player receives the stream (${enough()} bytes)`);
    return { got, raw: Buffer.concat(raw), firstMessageMs };
  } finally {
    await pub.kill();
    rawEp.close();
    await server.close();
  }
}

/**
 * The stream up to its last video PES start: the capture stops anywhere, and a last PES cut
 * short is reported by ffmpeg (PES packet size mismatch when the muxer wrote PES lengths).
 */
function untilLastFrame(ts: Buffer, withPsi = ts): Buffer {
  const psi = new PsiCache();
  psi.observe(withPsi);
  const pid = psi.codedVideo!.pid;
  for (let o = ts.length - 188; o >= 0; o -= 188) {
    if ((ts[o + 1]! & 0x40) !== 0 && (((ts[o + 1]! & 0x1f) << 8) | ts[o + 2]!) === pid) return ts.subarray(0, o);
  }
  return ts;
}

function decodeErrors(file: string): string {
  const r = spawnSync('ffmpeg', ['-v', 'warning', '-i', file, '-map', '0:v', '-f', 'null', '-'], { encoding: 'utf8' });
  return r.stderr.trim();
}

function firstFrame(file: string): { key: string; type: string; pts: number } {
  const r = spawnSync('ffprobe', ['-v', 'error', '-select_streams', 'v', '-show_frames', '-read_intervals', '%+#1', '-show_entries', 'frame=key_frame,pict_type,pts_time', '-of', 'json', file], { encoding: 'utf8' });
  const f = (JSON.parse(r.stdout) as { frames: { key_frame: number; pict_type: string; pts_time: string }[] }).frames[0]!;
  return { key: String(f.key_frame), type: f.pict_type, pts: Number(f.pts_time) };
}

/** Counts NAL units of `type` (H.264) in the video PES payloads of a TS byte string. */
function countNals(ts: Buffer, pid: number, type: number): number {
  const es: Buffer[] = [];
  for (let o = 0; o + 188 <= ts.length; o += 188) {
    if ((((ts[o + 1]! & 0x1f) << 8) | ts[o + 2]!) !== pid) continue;
    const afc = (ts[o + 3]! >> 4) & 3;
    if ((afc & 1) === 0) continue;
    es.push(ts.subarray(afc === 3 ? o + 5 + ts[o + 4]! : o + 4, o + 188));
  }
  const b = Buffer.concat(es);
  let n = 0;
  for (let i = b.indexOf(Buffer.from([0, 0, 1])); i >= 0; i = b.indexOf(Buffer.from([0, 0, 1]), i + 3)) if ((b[i + 3]! & 0x1f) === type) n++;
  return n;
}

async function checkLateJoin(t: TestContext, kind: Publisher): Promise<void> {
  const j = await lateJoin(kind);
  const dir = tempDir();
  const file = join(dir, `${kind}-late.ts`);
  const all = Buffer.concat(j.got);
  writeFileSync(file, untilLastFrame(all));
  writeFileSync(join(dir, `${kind}-raw.ts`), j.raw);

  // PAT and PMT first, then a message that starts with a video keyframe
  const psi = new PsiCache();
  psi.observe(j.got[0]!);
  assert.ok(psi.ready, 'the first message carries the PAT and PMT');
  assert.equal(j.got[0]!.length, 376);
  assert.equal(psi.keyframeOffset(j.got[1]!), 0, 'the second message starts with a video keyframe');

  // after the keyframe's first TS packet (and the parameter sets spliced in front of it), the
  // publisher's stream unchanged: locate the player's last message in the raw stream and compare
  // backwards packet by packet
  const last = j.got[j.got.length - 1]!;
  const end = j.raw.indexOf(last, 0) + last.length;
  assert.ok(end > last.length, 'the player\'s last message is in the publisher\'s stream');
  const gop = all.subarray(376);
  let same = 0;
  while (same < gop.length && end - same - 188 >= 0 && gop.subarray(gop.length - same - 188, gop.length - same).equals(j.raw.subarray(end - same - 188, end - same))) same += 188;
  const differ = gop.length - same; // the keyframe's first packet with parameter sets spliced in, if any
  const gopStart = differ === 0 ? end - same : end - same - 188; // the publisher's keyframe packet
  assert.equal(psi.keyframeOffset(j.raw.subarray(gopStart, gopStart + 188)), 0, 'the cached GOP starts at the publisher\'s keyframe');
  assert.ok(gopStart > 188 * 7, 'not the stream\'s first keyframe');
  const video = psi.codedVideo!.pid;
  if (kind === 'gstreamer') {
    assert.equal(countNals(j.raw, video, 7), 1, 'the publisher sent its SPS once');
    assert.ok(differ >= 2 * 188 && differ <= 4 * 188, `the keyframe's first packet carries the SPS/PPS (${differ} bytes)`);
    assert.equal(countNals(all, video, 7), 1, 'the late player got the SPS');
    assert.equal(countNals(all, video, 8), 1, 'and the PPS');
  } else {
    assert.equal(differ, 0, 'the GOP carried its parameter sets: given unchanged');
  }

  assert.equal(decodeErrors(file), '', 'the late player\'s video decodes without a warning or an error');
  const first = firstFrame(file);
  assert.deepEqual([first.key, first.type], ['1', 'I'], 'its first frame is a keyframe');
  const start = firstFrame(join(dir, `${kind}-raw.ts`));
  assert.ok(first.pts > start.pts, 'it joined after the stream\'s first GOP');
  t.diagnostic(`${kind}: first message ${j.firstMessageMs.toFixed(1)} ms after dial; ${j.got.length} messages`);
}

test('ffmpeg libx264 publisher: a late player starts at once with the cached GOP and decodes cleanly', async (t) => {
  await checkLateJoin(t, 'x264');
});

test('ffmpeg libx265 publisher: a late player starts at once with the cached GOP and decodes cleanly', async (t) => {
  await checkLateJoin(t, 'x265');
});

test('GStreamer publisher with SPS/PPS once at its start: they are given to a late player', async (t) => {
  requireTool('gst-launch-1.0');
  await checkLateJoin(t, 'gstreamer');
});

test('gopCache off: a late player gets the live stream as it comes and mid-GOP video does not decode', async () => {
  const j = await lateJoin('x264', { gopCache: false });
  const all = Buffer.concat(j.got);
  const at = j.raw.indexOf(j.got[0]!);
  assert.ok(at > 0, 'the first message is the live one');
  assert.ok(all.equals(j.raw.subarray(at, at + all.length)), 'the stream unchanged from there');
  const file = join(tempDir(), 'no-cache.ts');
  writeFileSync(file, untilLastFrame(all, j.raw));
  // the join point is random: its first video PES may be a keyframe; most often it is not
  const psi = new PsiCache();
  psi.observe(j.raw);
  const pid = psi.codedVideo!.pid;
  let o = 0;
  while (o + 188 <= all.length && !((all[o + 1]! & 0x40) !== 0 && (((all[o + 1]! & 0x1f) << 8) | all[o + 2]!) === pid)) o += 188;
  if (psi.keyframeOffset(all.subarray(o, o + 188)) !== 0) assert.match(decodeErrors(file), /non-existing PPS|decode_slice_header|no frame/);
});

test('the GStreamer pipeline of these tests sends its parameter sets once', () => {
  // documents the publisher the test above relies on: SPS (7) once in the raw stream
  requireTool('gst-launch-1.0');
  const dir = tempDir();
  const file = join(dir, 'gst.ts');
  const r = spawnSync('gst-launch-1.0', ['-q', 'videotestsrc', 'num-buffers=120', '!', 'video/x-raw,width=320,height=240,framerate=25/1', '!',
    'x264enc', 'key-int-max=50', 'option-string=repeat-headers=0', '!', 'video/x-h264,stream-format=avc', '!', 'h264parse', '!',
    'video/x-h264,stream-format=byte-stream', '!', 'mpegtsmux', 'alignment=7', '!', 'filesink', `location=${file}`], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const ts = spawnSync('cat', [file]).stdout;
  const psi = new PsiCache();
  psi.observe(ts);
  const pid = psi.codedVideo!.pid;
  assert.equal(countNals(ts, pid, 7), 1, 'one SPS');
  assert.equal(countNals(ts, pid, 5) >= 3, true, 'IDR frames every 50 frames');
});
