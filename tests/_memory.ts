// In-memory byte sources and sinks for the socket's parts (read buffer,
// read queue, write buffer), which take any source and sink: chunks from a
// script, or pushed by the test, and writes taken a few bytes at a time.
import { AssertionError } from "node:assert/strict";
import { NEED, type Need, type ReadBuffer } from "../lib/_read_buffer.ts";

/** Resolves after the promise jobs queued so far have run. */
const tick = (): Promise<void> =>
  new Promise((resolve) => queueMicrotask(resolve));

/**
 * A source that hands out its chunks in order: a chunk larger than the
 * array it reads into is handed out over several reads, as a stream would.
 * Chunks come from the constructor or from `push()`; a read finds the end
 * after `end()` and an error after `fail()`, once the chunks before are
 * out; with nothing to give it waits. It fails the test's read if two reads
 * are ever in flight at once.
 */
export class MemorySource {
  /** Every array a read was handed, in order. */
  readonly given: Uint8Array[] = [];
  /** Reads of the source so far. */
  reads = 0;
  /** A read that came while another was in flight (never, for a sound reader). */
  overlapped = false;
  #chunks: Uint8Array[] = [];
  #end: { error: unknown } | null | undefined;
  #inFlight = false;
  #parked: (() => void) | undefined;

  constructor(chunks: Iterable<Uint8Array> = [], end?: "end" | Error) {
    for (const chunk of chunks) if (chunk.length > 0) this.#chunks.push(chunk);
    if (end === "end") this.#end = null;
    else if (end !== undefined) this.#end = { error: end };
  }

  /** Bytes the source has not handed out yet. */
  get left(): number {
    return this.#chunks.reduce((sum, chunk) => sum + chunk.length, 0);
  }

  /** A read is in flight. */
  get busy(): boolean {
    return this.#inFlight;
  }

  /** Adds a chunk for the reads to come. */
  push(chunk: Uint8Array | string): void {
    const bytes = typeof chunk === "string"
      ? new TextEncoder().encode(chunk)
      : chunk;
    if (bytes.length > 0) this.#chunks.push(bytes);
    this.#wake();
  }

  /** Ends the stream after the chunks pushed so far. */
  end(): void {
    this.#end = null;
    this.#wake();
  }

  /** Fails the read after the chunks pushed so far with `error`. */
  fail(error: unknown): void {
    this.#end = { error };
    this.#wake();
  }

  read(into: Uint8Array): Promise<number | null> {
    this.given.push(into);
    this.reads++;
    if (this.#inFlight) this.overlapped = true;
    if (into.length === 0) {
      return Promise.reject(new Error("read into an empty array"));
    }
    this.#inFlight = true;
    return new Promise<number | null>((resolve, reject) => {
      const answer = () => {
        this.#parked = undefined;
        const chunk = this.#chunks[0];
        if (chunk === undefined && this.#end === undefined) {
          this.#parked = answer;
          return;
        }
        this.#inFlight = false;
        if (chunk === undefined) {
          if (this.#end === null) resolve(null);
          else reject(this.#end!.error);
          return;
        }
        const n = Math.min(into.length, chunk.length);
        into.set(chunk.subarray(0, n));
        if (n === chunk.length) this.#chunks.shift();
        else this.#chunks[0] = chunk.subarray(n);
        resolve(n);
      };
      // Settles a turn later, as a real read would.
      tick().then(answer);
    });
  }

  #wake(): void {
    const parked = this.#parked;
    this.#parked = undefined;
    if (parked !== undefined) tick().then(parked);
  }
}

/**
 * A sink that takes at most `sizes[i]` bytes on its i-th write (the list is
 * used round and round), keeping a copy of every byte it took. `gate()`
 * holds the writes until `open()`; `fail()` makes the next write fail.
 */
export class MemorySink {
  /** Every array a write was handed, in order. */
  readonly given: Uint8Array[] = [];
  /** Writes so far. */
  writes = 0;
  /** A write that came while another was in flight (never, for a sound writer). */
  overlapped = false;
  readonly #sizes: number[];
  readonly #taken: Uint8Array[] = [];
  #failure: { error: unknown } | undefined;
  #gated = false;
  #held: (() => void)[] = [];
  #inFlight = false;

  constructor(sizes: number[] = [Infinity]) {
    this.#sizes = sizes;
  }

  /** The bytes taken so far, in order. */
  get bytes(): Uint8Array {
    const total = this.#taken.reduce((sum, part) => sum + part.length, 0);
    const out = new Uint8Array(total);
    let at = 0;
    for (const part of this.#taken) {
      out.set(part, at);
      at += part.length;
    }
    return out;
  }

  /** The bytes taken so far, as UTF-8. */
  get text(): string {
    return new TextDecoder().decode(this.bytes);
  }

  /** Holds the writes from now on until {@linkcode open}. */
  gate(): void {
    this.#gated = true;
  }

  /** Lets the held writes, and those to come, go on. */
  open(): void {
    this.#gated = false;
    for (const go of this.#held.splice(0)) go();
  }

  /** Fails the next write (and every one after it) with `error`. */
  fail(error: unknown): void {
    this.#failure = { error };
  }

  write(p: Uint8Array): Promise<number> {
    const size = this.#sizes[this.writes % this.#sizes.length]!;
    this.given.push(p);
    this.writes++;
    if (this.#inFlight) this.overlapped = true;
    this.#inFlight = true;
    return new Promise<number>((resolve, reject) => {
      const go = () => {
        this.#inFlight = false;
        if (this.#failure !== undefined) {
          reject(this.#failure.error);
          return;
        }
        const n = Math.min(size, p.length);
        this.#taken.push(p.slice(0, n));
        resolve(n);
      };
      if (this.#gated) this.#held.push(go);
      else tick().then(go);
    });
  }
}

/** `bytes` cut before each of `cuts` (positions inside it, in any order). */
export function cutAt(bytes: Uint8Array, cuts: Iterable<number>): Uint8Array[] {
  const points = [...new Set(cuts)]
    .filter((at) => at > 0 && at < bytes.length)
    .sort((a, b) => a - b);
  const chunks: Uint8Array[] = [];
  let from = 0;
  for (const at of [...points, bytes.length]) {
    chunks.push(bytes.slice(from, at));
    from = at;
  }
  return chunks;
}

/** Every way to cut `bytes` into chunks: 2^(length-1) of them. */
export function* everyCut(bytes: Uint8Array): Generator<Uint8Array[]> {
  const n = Math.max(bytes.length - 1, 0);
  if (n > 16) throw new RangeError("Cannot cut more than 17 bytes every way");
  for (let mask = 0; mask < 2 ** n; mask++) {
    const cuts: number[] = [];
    for (let i = 0; i < n; i++) if (mask & (1 << i)) cuts.push(i + 1);
    yield cutAt(bytes, cuts);
  }
}

/**
 * Runs `step` over `buffer` until it has a result, filling the buffer
 * between tries, as the read queue does for one read with no deadline.
 */
export async function drive<T>(
  buffer: ReadBuffer,
  step: () => T | Need,
): Promise<T> {
  for (;;) {
    const result = step();
    if (result !== NEED) return result;
    if (buffer.error !== undefined) throw buffer.error;
    if (buffer.eof) throw new Error("the step wants more after the end");
    await buffer.fill();
  }
}

// The steps the socket's readLine(), readLines() and readUntil() run.
export { linesStep, lineStep, untilStep } from "../lib/_read_steps.ts";

/**
 * Asserts that `actual` holds the bytes of `expected`, naming the first
 * byte that differs: a diff of two large arrays would take minutes.
 */
export function assertBytes(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  what = "the bytes",
): void {
  const n = Math.min(actual.length, expected.length);
  for (let i = 0; i < n; i++) {
    if (actual[i] !== expected[i]) {
      throw new AssertionError({
        message: `${what} differ at byte ${i} of ${expected.length}: ${
          actual[i]
        } instead of ${expected[i]}`,
      });
    }
  }
  if (actual.length !== expected.length) {
    throw new AssertionError({
      message: `${what}: ${actual.length} bytes instead of ${expected.length}`,
    });
  }
}
