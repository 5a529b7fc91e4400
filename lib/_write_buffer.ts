// The write buffer: output waiting to be sent, and the drain that sends it
// into a sink in as many partial writes as the sink takes. It knows
// nothing of sockets, deadlines or closing; its owner does.
import { EMPTY } from "./_bytes.ts";
import type { IdleClock } from "./_idle.ts";
import { mapError } from "./_map_error.ts";
import { givePiece, PIECE_SIZE, takePiece } from "./_pieces.ts";
import { ConnectionClosedError } from "./errors.ts";

/** Where a write buffer's bytes go: a `Deno.Conn` is one. */
export interface ByteSink {
  /** Writes some of `p`; how many bytes it took. */
  write(p: Uint8Array): Promise<number>;
}

/** Told before each write of the sink, while it is set. */
export interface WriteWatcher {
  /** A write of the sink is about to start. */
  beforeWrite(): void;
}

/** Where a reset met by a write is recorded for the reading side. */
export interface ResetRecord {
  /** The reset, once a write met one. */
  resetSeen: unknown;
}

/** Buffered output at or above which a write flushes by itself. */
export const WRITE_HIGH_WATER = 64 * 1024;
const DONE: Promise<void> = Promise.resolve();
// The largest output buffer kept after a drain has emptied it.
const KEEP_BUFFER = 256 * 1024;
const encoder = new TextEncoder();

/** Buffered output to one sink. Bytes `[0, length)` of the buffer wait. */
export class WriteBuffer {
  /** The sink; replaced when the stream underneath changes (STARTTLS). */
  sink: ByteSink;
  /** Told before each write of the sink while set. */
  watcher: WriteWatcher | undefined;
  /** Bytes waiting to be sent. */
  length = 0;
  /** The drain in progress, if one is. */
  flushing: Promise<void> | undefined;
  /** What a write of the sink failed with; later writes fail with it. */
  error: unknown;
  /** Writes of the sink so far. */
  traffic = 0;
  /** Bytes written to the sink so far. */
  bytes = 0;
  /** Closed by its owner; the drain in progress gives the buffer back. */
  closed = false;
  closeReason: ConnectionClosedError | undefined;
  readonly #peer: () => string;
  readonly #clock: IdleClock;
  readonly #resets: ResetRecord;
  #buf: Uint8Array = EMPTY;
  #isPiece = false;
  #retired: Uint8Array | undefined;
  // Where the view reserve() gave begins; -1 when none is reserved.
  #reservedAt = -1;

  constructor(
    sink: ByteSink,
    peer: () => string,
    clock: IdleClock,
    resets: ResetRecord,
  ) {
    this.sink = sink;
    this.#peer = peer;
    this.#clock = clock;
    this.#resets = resets;
  }

  /**
   * Appends `data`: a string as UTF-8, bytes copied whatever their size, so
   * the caller may change its array at once. Starts a flush once 64 KiB
   * wait, and returns it; otherwise a settled promise. Once a write of the
   * sink has failed, fails with that error and buffers nothing.
   */
  append(data: Uint8Array | string): Promise<void> {
    if (this.error !== undefined) return handled(this.error);
    if (typeof data === "string") {
      const length = data.length;
      this.#reserve(length * 3);
      const buf = this.#buf;
      let at = this.length;
      let i = 0;
      // Short ASCII text is copied by hand; encodeInto() costs more than
      // the copy for a few bytes.
      if (length <= 64) {
        for (; i < length; i++) {
          const code = data.charCodeAt(i);
          if (code >= 0x80) break;
          buf[at++] = code;
        }
      }
      if (i < length) {
        at += encoder.encodeInto(
          i === 0 ? data : data.slice(i),
          buf.subarray(at),
        ).written;
      }
      this.length = at;
    } else {
      this.#reserve(data.length);
      this.#buf.set(data, this.length);
      this.length += data.length;
    }
    return this.length >= WRITE_HIGH_WATER ? this.flush() : DONE;
  }

  /**
   * A view of at least `n` free bytes after those waiting, to encode into
   * in place; {@linkcode commit} appends what was put there.
   */
  reserve(n: number): Uint8Array {
    this.#reserve(n);
    this.#reservedAt = this.length;
    return this.#buf.subarray(this.length);
  }

  /**
   * Appends the first `n` bytes of the view {@linkcode reserve} gave; as
   * {@linkcode append} for what it returns.
   */
  commit(n: number): Promise<void> {
    const at = this.#reservedAt;
    this.#reservedAt = -1;
    if (at !== this.length) {
      throw new TypeError(
        "Cannot commit bytes to the output: nothing is reserved, or the output changed since reserve() (commit before any other write, flush or await)",
      );
    }
    if (!Number.isInteger(n) || n < 0 || at + n > this.#buf.length) {
      throw new RangeError(
        `Cannot commit ${n} bytes: it must be a whole number no larger than the view reserve() gave`,
      );
    }
    this.length += n;
    return this.length >= WRITE_HIGH_WATER ? this.flush() : DONE;
  }

  /** Sends what is buffered; the drain in progress if there is one. */
  flush(): Promise<void> {
    if (this.flushing !== undefined) return this.flushing;
    if (this.error !== undefined) return handled(this.error);
    if (this.length === 0) return DONE;
    return this.#startDrain();
  }

  /** Marks the buffer closed and gives its piece back when no drain holds it. */
  close(reason: ConnectionClosedError | undefined): void {
    this.closed = true;
    this.closeReason ??= reason;
    if (!this.#clock.draining) this.#giveBack();
  }

  #giveBack(): void {
    if (!this.#isPiece) return;
    this.#isPiece = false;
    givePiece(this.#buf);
    this.#buf = EMPTY;
    this.length = 0;
    this.#reservedAt = -1;
  }

  #reserve(n: number): void {
    this.#reservedAt = -1;
    const need = this.length + n;
    if (need <= this.#buf.length) return;
    if (this.#buf.length === 0 && need <= PIECE_SIZE) {
      this.#buf = takePiece();
      this.#isPiece = true;
      return;
    }
    let size = Math.max(this.#buf.length * 2, PIECE_SIZE * 4);
    while (size < need) size *= 2;
    const buf = new Uint8Array(size);
    buf.set(this.#buf.subarray(0, this.length));
    // A drain in progress may still be writing from the piece: it gives
    // the piece back when it ends.
    if (this.#isPiece) {
      if (this.#clock.draining) this.#retired = this.#buf;
      else givePiece(this.#buf);
    }
    this.#isPiece = false;
    this.#buf = buf;
  }

  #startDrain(): Promise<void> {
    const drain = this.#drain();
    // A write whose promise nobody awaits must not crash the program when
    // the peer is gone; whoever awaits it, or the next flush, still sees
    // the error.
    drain.catch(() => {});
    if (this.#clock.draining) this.flushing = drain;
    return drain;
  }

  async #drain(): Promise<void> {
    this.#clock.beginDrain();
    try {
      while (this.length > 0) {
        const n = this.length;
        let view = this.#buf.subarray(0, n);
        for (;;) {
          this.watcher?.beforeWrite();
          const k = await this.sink.write(view);
          this.traffic++;
          this.bytes += k;
          if (k === view.length) break;
          view = view.subarray(k);
        }
        if (this.length > n) this.#buf.copyWithin(0, n, this.length);
        this.length -= n;
      }
      // A large write's buffer is not kept once it is sent.
      if (!this.#isPiece && this.#buf.length > KEEP_BUFFER) {
        this.#buf = EMPTY;
        this.#reservedAt = -1;
      }
    } catch (error) {
      this.length = 0;
      if (error instanceof Deno.errors.ConnectionReset) {
        this.#resets.resetSeen = error;
      }
      this.error = this.closed
        ? this.closeReason ?? new ConnectionClosedError(
          `Cannot write to ${this.#peer()}: the socket is closed`,
          { cause: error },
        )
        : mapError(error, { action: `write to ${this.#peer()}` });
      throw this.error;
    } finally {
      this.#clock.draining = false;
      this.flushing = undefined;
      if (this.#retired !== undefined) {
        givePiece(this.#retired);
        this.#retired = undefined;
      }
      if (this.closed) this.#giveBack();
    }
  }
}

/**
 * A rejected promise that does not count as unhandled when nobody awaits
 * it: a forgotten `await` on a write must not crash a server.
 */
export function handled(error: unknown): Promise<never> {
  const rejected = Promise.reject(error);
  rejected.catch(() => {});
  return rejected;
}
