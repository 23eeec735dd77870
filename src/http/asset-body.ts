/**
 * Streaming an asset body: a planned sequence of literal bytes (multipart
 * delimiters) and file pieces, read into fixed buffers and written to the
 * client with at most `depth` buffers in flight per response. Memory is
 * therefore bounded by connections × depth × chunk, never by file size, and a
 * file is open only while a response is reading it.
 *
 * Measured on this project's 2-core machines (8 parallel 2 GiB downloads,
 * 2,000 random 1 MiB ranges, same core as nginx, see bench/assets):
 *   fs.createReadStream (1 MiB highWaterMark) piped to the response:
 *     ~710 MB/s full, ~850 MB/s ranges, 141 MB peak RSS (a fresh Buffer per
 *     chunk: RSS follows the garbage collector, not the load)
 *   the same stream as a web ReadableStream in a Hono Response:
 *     ~980 / ~410 MB/s, 172 MB peak RSS (a promise hop per chunk)
 *   fs.read into two pooled 256 KiB buffers written straight to the Node
 *     response, a buffer reused only when its write has completed:
 *     ~1,250 / ~1,090 MB/s, 63 MB peak RSS, and then with the reads done in
 *     place while they come from the page cache (below): about 0.3 CPU
 *     seconds per GB sent, nginx's own figure with sendfile.
 * The last is what this file does. (All numbers from one noisy shared
 * machine; the ranking held in every repetition.)
 *
 * A body of up to ONE_SHOT_MAX bytes (a 1 MiB range) goes out in one shot,
 * see there. Measured as one 1 MiB buffer per response against the chunked
 * path (8 alternating runs of 2,000 random 1 MiB ranges, busy machine): CPU
 * per GB 5 % lower on average, throughput within the noise; on a quiet
 * machine, once V8 had optimized the request path (after ~4,000 requests),
 * 0.87-1.03x nginx's MB/s. Pooled 256 KiB chunks instead of a 1 MiB buffer
 * send the same single writev without a second pool (~8 MB of RSS in
 * bench/assets, where ranges follow downloads).
 */
import { closeSync, fstatSync, openSync, read, readFileSync, readSync, constants as fsc } from 'node:fs';
import { performance } from 'node:perf_hooks';
import type { ServerResponse } from 'node:http';

export interface SegmentFile {
  path: string;
  size: number;
  ino: number;
  mtimeMs: number;
}

export type BodyPiece = { kind: 'bytes'; data: Buffer } | { kind: 'file'; segment: number; offset: number; length: number };

/**
 * Bodies are read 256 KiB at a time, two buffers per response: on the
 * machines measured, 1 MiB reads halved the throughput of parallel full
 * downloads (each copy then misses the CPU cache, and each write waits longer
 * for the socket), while 64-128 KiB reads spend the time saved on more system
 * calls and wake-ups.
 */
export const CHUNK_SIZE = 256 * 1024;
/** Buffers per response for long bodies: one being written while the next is read. */
export const DEPTH = 2;
/**
 * A body up to this long is sent in one shot: read into as many pooled chunks
 * as it needs, with no wait for a write to complete in between, and written
 * with its head in one writev (the response is corked until its end). A 1 MiB
 * range is then 4 reads and 1 write instead of 4 reads, 5 writes (the head
 * went alone) and a wait for the socket before the third read. The chunks
 * come from the same pool as long bodies', so a range load after downloads
 * reuses their memory instead of adding its own.
 */
export const ONE_SHOT_MAX = 1024 * 1024;
/**
 * Bytes held by one-shot responses at once, over all responses: past it,
 * short bodies stream `DEPTH` chunks at a time like long ones, so a flood of
 * ranges costs at most this much more memory than the chunked path.
 */
export const ONE_SHOT_BUDGET = 16 * 1024 * 1024;
let oneShotInUse = 0;

/** Buffer size and count for a body of this length; `oneShot` when all its chunks are in flight at once. */
export function sizing(length: number, chunkSize = CHUNK_SIZE, depth = DEPTH, oneShotMax = ONE_SHOT_MAX): { size: number; depth: number; oneShot: boolean } {
  if (length <= chunkSize) return { size: chunkSize, depth: 1, oneShot: false };
  const chunks = Math.ceil(length / chunkSize);
  if (length <= Math.min(oneShotMax, ONE_SHOT_MAX) && chunks * chunkSize <= ONE_SHOT_MAX && oneShotInUse + chunks * chunkSize <= ONE_SHOT_BUDGET) {
    return { size: chunkSize, depth: chunks, oneShot: true };
  }
  return { size: chunkSize, depth, oneShot: false };
}

/** Idle buffers kept for reuse, per size, in bytes; more are left to the garbage collector. */
const POOL_BYTES = 8 * 1024 * 1024;
const pools = new Map<number, Buffer[]>();

function takeBuffer(size: number): Buffer {
  const b = pools.get(size)?.pop();
  // Slow (unpooled) allocation: these live long and are reused, so they
  // should not pin one of Node's shared 8 KiB slabs.
  return b ?? Buffer.allocUnsafeSlow(size);
}

function giveBuffer(b: Buffer): void {
  let pool = pools.get(b.length);
  if (!pool) pools.set(b.length, (pool = []));
  if ((pool.length + 1) * b.length <= POOL_BYTES) pool.push(b);
}

/** Bytes held by one-shot responses that have not ended (for tests). */
export function oneShotBytesInUse(): number {
  return oneShotInUse;
}

/** Buffers waiting in the pools (for tests). */
export function pooledBuffers(): number {
  let n = 0;
  for (const p of pools.values()) n += p.length;
  return n;
}

const OPEN_FLAGS = fsc.O_RDONLY | (fsc.O_NOFOLLOW ?? 0) | (fsc.O_NONBLOCK ?? 0);

// open, fstat and close are done in place: they touch only cached metadata
// (the path was just resolved and stat'ed) and cost microseconds, while a
// thread-pool round trip for each cost 50-200 µs of context switches on the
// machines measured, most of a 1 MiB range's budget.
//
// Reads, likewise, are done in place while they come from the page cache,
// which is where a boot server's kernels, initrds and images live after the
// first client: a 256 KiB read from memory takes tens of microseconds, and
// the thread pool's round trip (~80 µs measured, more than the copy itself)
// was the largest cost left. A read that came from the disk switches every
// read to the thread pool for COLD_WINDOW_MS, so the event loop waits for at
// most one disk read per window, never for a cold disk in general. (Node has
// no preadv2(RWF_NOWAIT) to ask the page cache without blocking.)
//
// "Came from the disk": slow (over SLOW_READ_MS) and this thread did block
// input since the last such check. Slowness alone is not enough: on a busy
// machine a read from memory is often slowed by preemption, and the thread
// pool would not help with that. A disk fast enough to answer within
// SLOW_READ_MS is read in place: it holds the loop no longer than that.
//
// "This thread": /proc/thread-self/io's read_bytes (Linux), not getrusage's
// ru_inblock, which counts the whole process: the event writer's SQLite
// thread and the thread pool's own reads moved it, so on a busy machine a
// preempted read from memory switched reads to the thread pool about once a
// second (measured: 17 switches and 38,000 of 40,000 reads of a cached file in
// the thread pool, costing ~0.5 ms CPU per 1 MiB range). ru_inblock is the
// fallback where /proc is not there.
/** A read taking longer than this may not have come from memory. */
export const SLOW_READ_MS = 2;
/** How long reads stay in the thread pool after one came from the disk. */
export const COLD_WINDOW_MS = 1000;
let coldUntil = 0;
/** Block input of this thread at the last check; unset until the first read (module loading is block input too). */
let blockInputs: number | undefined;

let threadIo = true;
/** Bytes this thread has read from storage (read_bytes of /proc/thread-self/io), or, without it, the process's ru_inblock (negated, so the two never compare equal). */
function blockInput(): number {
  if (threadIo) {
    try {
      const text = readFileSync('/proc/thread-self/io', 'latin1');
      const at = text.indexOf('\nread_bytes: ');
      if (at >= 0) return Number.parseInt(text.slice(at + 13), 10);
    } catch {
      /* not Linux, or no task I/O accounting */
    }
    threadIo = false;
  }
  return -1 - process.resourceUsage().fsRead;
}

/** Whether reads currently go through the thread pool (for tests). */
export function readsInThreadPool(now = performance.now()): boolean {
  return now < coldUntil;
}

/** Marks the disk as cold, as a read from it would (for tests). */
export function markDiskCold(now = performance.now()): void {
  coldUntil = now + COLD_WINDOW_MS;
}

const readP = (fd: number, buf: Buffer, off: number, len: number, pos: number) =>
  new Promise<number>((res, rej) => read(fd, buf, off, len, pos, (e, n) => (e ? rej(e) : res(n))));

function readChunk(fd: number, buf: Buffer, off: number, len: number, pos: number): number | Promise<number> {
  blockInputs ??= blockInput();
  const t0 = performance.now();
  if (t0 < coldUntil) return readP(fd, buf, off, len, pos);
  const n = readSync(fd, buf, off, len, pos);
  const t1 = performance.now();
  if (t1 - t0 > SLOW_READ_MS) {
    const inputs = blockInput();
    if (inputs !== blockInputs) coldUntil = t1 + COLD_WINDOW_MS;
    blockInputs = inputs;
  }
  return n;
}

const closeQuietly = (fd: number) => {
  try {
    closeSync(fd);
  } catch {
    /* EBADF cannot happen for a descriptor we own; nothing else is worth a failed response */
  }
};

export class AssetChangedError extends Error {}

/**
 * Reads a body plan into caller-supplied buffers. Opens a segment when a
 * piece first needs it and closes it when the plan moves to another, checking
 * on open that the file is still the one the validators were computed from:
 * a file replaced between the headers and its bytes would otherwise send one
 * version's bytes under the other's ETag.
 */
export class BodyReader {
  private index = 0;
  private within = 0;
  private fd = -1;
  private fdSegment = -1;
  private busy: Promise<unknown> = Promise.resolve();
  private closed = false;

  constructor(
    private readonly segments: readonly SegmentFile[],
    private readonly pieces: readonly BodyPiece[],
  ) {}

  /** Whether the whole plan has been read. */
  get done(): boolean {
    return this.index >= this.pieces.length;
  }

  /** Fills `buf` from the plan; 0 means the body is complete. */
  fill(buf: Buffer): Promise<number> {
    const p = this.fillNow(buf);
    this.busy = p.catch(() => undefined);
    return p;
  }

  private async fillNow(buf: Buffer): Promise<number> {
    let at = 0;
    while (at < buf.length && this.index < this.pieces.length && !this.closed) {
      const piece = this.pieces[this.index]!;
      let n: number;
      if (piece.kind === 'bytes') {
        n = piece.data.copy(buf, at, this.within);
      } else {
        const fd = this.fdFor(piece.segment);
        const want = Math.min(buf.length - at, piece.length - this.within);
        const r = readChunk(fd, buf, at, want, piece.offset + this.within);
        n = typeof r === 'number' ? r : await r;
        if (n === 0) throw new AssetChangedError(`${this.segments[piece.segment]!.path} ended early (shrank while being sent)`);
      }
      at += n;
      this.within += n;
      const len = piece.kind === 'bytes' ? piece.data.length : piece.length;
      if (this.within === len) {
        this.index++;
        this.within = 0;
      }
    }
    return at;
  }

  private fdFor(segment: number): number {
    if (this.fdSegment === segment) return this.fd;
    if (this.fd >= 0) {
      closeQuietly(this.fd);
      this.fd = -1;
      this.fdSegment = -1;
    }
    const seg = this.segments[segment]!;
    this.fd = openSync(seg.path, OPEN_FLAGS);
    this.fdSegment = segment;
    const st = fstatSync(this.fd);
    if (!st.isFile() || st.ino !== seg.ino || st.size !== seg.size || st.mtimeMs !== seg.mtimeMs) {
      throw new AssetChangedError(`${seg.path} changed after its validators were computed`);
    }
    return this.fd;
  }

  /**
   * Closes the open file once any read in flight has returned: closing under
   * a read still queued in the thread pool could let that read hit whatever
   * file next receives the same descriptor number.
   */
  async close(): Promise<void> {
    this.closed = true;
    await this.busy;
    if (this.fd >= 0) {
      closeQuietly(this.fd);
      this.fd = -1;
      this.fdSegment = -1;
    }
  }
}

export interface BodyOutcome {
  /** Body bytes the kernel accepted for this client. */
  bytes: number;
  /** The client went away (or the response was destroyed) before the end. */
  aborted: boolean;
  error?: Error;
}

/**
 * Writes the body to a Node ServerResponse whose head is already written.
 * A buffer goes back to the pool only when its write has completed, so the
 * next read never overwrites bytes still queued for the socket; waiting for
 * that completion is also the backpressure: a slow client holds at most
 * `depth` chunks. `done` is called once, after the file is closed.
 */
export function pumpToNode(
  res: ServerResponse,
  reader: BodyReader,
  length: number,
  done: (o: BodyOutcome) => void,
  opts: { chunkSize?: number; depth?: number; oneShotMax?: number } = {},
): void {
  const { size, depth, oneShot } = sizing(length, opts.chunkSize, opts.depth, opts.oneShotMax);
  /** Counted against ONE_SHOT_BUDGET until the response has ended. */
  let reserved = oneShot ? depth * size : 0;
  oneShotInUse += reserved;
  // The head waits for the first chunk (a one-shot body: for its end), so they leave in one write.
  let first = true;
  const free: Buffer[] = [];
  for (let i = 0; i < depth; i++) free.push(takeBuffer(size));
  let bytes = 0;
  let pumping = true;
  let responseEnded = false;
  let aborted = false;
  let error: Error | undefined;
  let wake: (() => void) | null = null;
  let reported = false;

  const report = () => {
    if (reported || pumping || !responseEnded) return;
    reported = true;
    oneShotInUse -= reserved;
    reserved = 0;
    done({ bytes, aborted, error });
  };
  const onClose = () => {
    // 'close' without 'finish' first: the connection ended under us.
    if (!res.writableFinished) aborted = true;
    responseEnded = true;
    const w = wake;
    wake = null;
    w?.();
    report();
  };
  res.once('close', onClose);
  // Gone before the first byte: its 'close' may already have been emitted.
  if (res.destroyed) {
    aborted = true;
    responseEnded = true;
  }

  const written = (b: Buffer, n: number) => (err?: Error | null) => {
    if (!err) bytes += n;
    // A failed write means the connection is gone; stop reading for it now
    // rather than when 'close' arrives.
    else aborted = true;
    if (pumping) {
      free.push(b);
      const w = wake;
      wake = null;
      w?.();
    } else {
      giveBuffer(b);
    }
  };

  void (async () => {
    try {
      for (;;) {
        while (free.length === 0 && !aborted) await new Promise<void>((r) => (wake = r));
        if (aborted) break;
        const b = free.pop()!;
        let n: number;
        try {
          n = await reader.fill(b);
        } catch (e) {
          free.push(b);
          throw e;
        }
        if (aborted) {
          free.push(b);
          break;
        }
        if (n === 0) {
          free.push(b);
          res.end();
          break;
        }
        const chunk = n === b.length ? b : b.subarray(0, n);
        if (reader.done) {
          // The last chunk goes out with the end of the response: one write
          // instead of two, which is half the system calls of a small range.
          // (Its callback runs on 'finish'; if the client is gone first, the
          // buffer is simply not reused.)
          res.end(chunk, written(b, n));
          break;
        }
        if (first) {
          first = false;
          res.cork();
          res.write(chunk, written(b, n));
          // A one-shot body stays corked: end() flushes it all.
          if (!oneShot) res.uncork();
        } else res.write(chunk, written(b, n));
      }
    } catch (e) {
      // The promised Content-Length can no longer be met: cut the connection
      // so the client sees a short body instead of trusting a wrong one.
      error = e as Error;
      aborted = true;
      res.destroy();
    } finally {
      await reader.close();
      for (const b of free) giveBuffer(b);
      free.length = 0;
      pumping = false;
      report();
    }
  })();
}

/**
 * The same body as a web ReadableStream, for runtimes without a Node
 * response (app.request() in tests). Each chunk is a fresh buffer here, since
 * the stream's consumer decides when it is done with it.
 */
export function bodyToWebStream(reader: BodyReader, length: number, done: (o: BodyOutcome) => void, chunkSize?: number): ReadableStream<Uint8Array> {
  // Fresh buffers, at most one chunk each: one-shot buffers are for the pump.
  const { size } = sizing(length, chunkSize, DEPTH, 0);
  let bytes = 0;
  let finished = false;
  const finish = async (o: Omit<BodyOutcome, 'bytes'>) => {
    if (finished) return;
    finished = true;
    await reader.close();
    done({ bytes, ...o });
  };
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        try {
          const b = Buffer.allocUnsafe(size);
          const n = await reader.fill(b);
          if (n === 0) {
            await finish({ aborted: false });
            controller.close();
            return;
          }
          bytes += n;
          controller.enqueue(new Uint8Array(b.buffer, b.byteOffset, n));
        } catch (e) {
          await finish({ aborted: true, error: e as Error });
          controller.error(e);
        }
      },
      async cancel() {
        await finish({ aborted: true });
      },
    },
    { highWaterMark: 0 },
  );
}
