// The read queue: reads are served one at a time, in the order they were
// called. A read that cannot finish from the buffer waits for the reads
// before it, then for bytes; one whose time passes or whose signal aborts
// while it waits leaves the queue and takes nothing. A read's time limit
// is watched by the socket's expiry timer, not a timer of its own.
import { checkTimeout, onAbort, type WaitOptions } from "./_deadline.ts";
import {
  expiredError,
  expiresAt,
  type Expiring,
  type Expiry,
} from "./_expiry.ts";
import type { IdleClock } from "./_idle.ts";
import { NEED, type Need, type ReadBuffer } from "./_read_buffer.ts";
import { EndOfStreamError } from "./errors.ts";

const DONE: Promise<void> = Promise.resolve();
const NOOP = (): void => {};
// Thrown inside a read's chain once the read has expired: it stops
// without running its step, so it takes nothing from the buffer.
const STOPPED: unique symbol = Symbol("stopped");

/** The reads of one buffer, in call order. */
export class ReadQueue {
  /** Reads that could not finish from the buffer and have not settled. */
  reading = 0;
  readonly #buffer: ReadBuffer;
  readonly #clock: IdleClock;
  readonly #expiry: Expiry;
  readonly #note: () => string;
  // Settles when the last read queued has.
  #tail: Promise<unknown> = DONE;

  /**
   * @param note Added to a timeout's message (for example, output that
   * was written but not flushed); empty for nothing.
   */
  constructor(
    buffer: ReadBuffer,
    clock: IdleClock,
    expiry: Expiry,
    note: () => string,
  ) {
    this.#buffer = buffer;
    this.#clock = clock;
    this.#expiry = expiry;
    this.#note = note;
  }

  /**
   * Whether a read with `options` has a time limit or a signal (its own,
   * the socket's default timeout, or the socket's read deadline).
   */
  limited(options: WaitOptions | undefined): boolean {
    return this.#expiry.readLimited(options?.timeout) ||
      options?.signal !== undefined;
  }

  /**
   * Runs `step` over the buffer until it returns a result: at once when
   * no read is queued and it can, otherwise in turn, filling the buffer
   * between tries. `what` names the read in a timeout's message ("read a
   * line"). A step that throws fails the read. `partial` gives what a
   * read that expires had taken (set as the TimeoutError's `partial`).
   */
  run<T>(
    step: () => T | Need,
    options: WaitOptions | undefined,
    what: string,
    partial?: () => Uint8Array,
  ): Promise<T> {
    const queued = this.reading > 0;
    if (!queued) {
      try {
        const result = step();
        if (result !== NEED) return Promise.resolve(result);
      } catch (error) {
        return Promise.reject(error);
      }
    }
    if (this.limited(options)) {
      try {
        checkTimeout(options?.timeout);
      } catch (error) {
        return Promise.reject(error);
      }
      // A read straight into the caller's array is only for a read that
      // cannot be abandoned.
      this.#buffer.noDirect();
      return this.#limited(step, options, what, queued, partial);
    }
    // The reads before this one, settled either way; none when it is not
    // queued, since every read before it has settled.
    const before = queued ? this.#tail.then(NOOP, NOOP) : DONE;
    this.reading++;
    let waiting = false;
    let finished = false;
    const done = () => {
      if (finished) return;
      finished = true;
      this.reading--;
      if (waiting) this.#clock.endWait();
    };
    // The read is done the moment its step has a result, before anyone
    // awaiting it runs: no promise of its own for that.
    const stepThenDone = (): T | Need => {
      const result = step();
      if (result !== NEED) done();
      return result;
    };
    const wait = (): Promise<T> => {
      waiting = true;
      this.#clock.beginWait();
      return this.#retry(stepThenDone);
    };
    let turn: Promise<T>;
    if (!queued) {
      turn = wait();
    } else {
      turn = before.then(() => {
        const result = stepThenDone();
        return result === NEED ? wait() : result;
      });
    }
    // On failure: registered first, so it runs before the caller's handler.
    turn.then(undefined, done);
    // The next read starts when this one has settled and so has every
    // read before it (one that timed out in the queue did not run).
    this.#tail = queued ? turn.then(() => before, () => before) : turn;
    return turn;
  }

  /** {@linkcode run} for a read with a time limit or a signal. */
  #limited<T>(
    step: () => T | Need,
    options: WaitOptions | undefined,
    what: string,
    queued: boolean,
    partial: (() => Uint8Array) | undefined,
  ): Promise<T> {
    const expiry = this.#expiry;
    const signal = options?.signal;
    const timeout = options?.timeout ?? expiry.readTimeout;
    const began = performance.now();
    const { at, byDeadline } = expiresAt(began, timeout, expiry.readDeadline);
    const before = queued ? this.#tail.then(NOOP, NOOP) : DONE;
    let resolve!: (value: T) => void;
    let reject!: (error: unknown) => void;
    const turn = new Promise<T>((yes, no) => {
      resolve = yes;
      reject = no;
    });
    this.reading++;
    let waiting = false;
    let finished = false;
    let stopWatching: (() => void) | undefined;
    const done = () => {
      if (finished) return false;
      finished = true;
      this.reading--;
      if (waiting) this.#clock.endWait();
      if (at !== Infinity) expiry.forget(wait);
      stopWatching?.();
      return true;
    };
    const fail = (error: unknown) => {
      if (done()) reject(error);
    };
    const wait: Expiring = {
      at,
      expire: () => {
        if (finished) return;
        const buffer = this.#buffer;
        const error = expiredError(
          `Cannot ${what} from ${buffer.peer()}`,
          began,
          timeout,
          byDeadline,
        );
        const note = this.#note();
        if (note !== "") error.message += `; ${note}`;
        if (partial !== undefined) error.partial = partial();
        fail(error);
      },
    };
    if (signal !== undefined) {
      if (signal.aborted) {
        fail(signal.reason);
        this.#tail = queued ? before : DONE;
        return turn;
      }
      stopWatching = onAbort(signal, () => fail(signal.reason));
    }
    if (at !== Infinity) expiry.watch(wait);
    const guarded = (): T | Need => {
      if (finished) throw STOPPED;
      const result = step();
      if (result !== NEED && done()) resolve(result);
      return result;
    };
    const waitForBytes = (): Promise<T> => {
      waiting = true;
      this.#clock.beginWait();
      return this.#retry(guarded);
    };
    const inner = queued
      ? before.then(() => {
        const result = guarded();
        return result === NEED ? waitForBytes() : result;
      })
      : waitForBytes();
    inner.then(undefined, (error) => {
      if (error !== STOPPED) fail(error);
    });
    this.#tail = queued ? turn.then(() => before, () => before) : turn;
    return turn;
  }

  #retry<T>(step: () => T | Need): Promise<T> {
    const buffer = this.#buffer;
    if (buffer.error !== undefined) return Promise.reject(buffer.error);
    let filled: Promise<void>;
    try {
      filled = buffer.fill();
    } catch (error) {
      return Promise.reject(error);
    }
    const again = (): T | Promise<T> => {
      const result = step();
      if (result !== NEED) return result;
      if (buffer.eof && buffer.error === undefined) {
        throw new EndOfStreamError(
          `Cannot read from ${buffer.peer()}: the stream ended`,
          new Uint8Array(0),
        );
      }
      return this.#retry(step);
    };
    // Wake on the read itself: the handler that takes its bytes was
    // registered first and runs first, and a wait costs one promise fewer.
    const woken = filled === buffer.pending ? buffer.pendingRead! : filled;
    return woken.then(again, again);
  }
}
