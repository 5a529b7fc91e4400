// The read queue: reads are served one at a time, in the order they were
// called. A read that cannot finish from the buffer waits for the reads
// before it, then for bytes; one whose timeout passes or whose signal
// aborts while it waits leaves the queue and takes nothing.
import {
  checkTimeout,
  Deadline,
  hasDeadline,
  type WaitOptions,
} from "./_deadline.ts";
import type { IdleClock } from "./_idle.ts";
import { NEED, type Need, type ReadBuffer } from "./_read_buffer.ts";
import { EndOfStreamError } from "./errors.ts";

const DONE: Promise<void> = Promise.resolve();
const NOOP = (): void => {};

/** The reads of one buffer, in call order. */
export class ReadQueue {
  /** Reads that could not finish from the buffer and have not settled. */
  reading = 0;
  readonly #buffer: ReadBuffer;
  readonly #clock: IdleClock;
  // Settles when the last read queued has.
  #tail: Promise<unknown> = DONE;

  constructor(buffer: ReadBuffer, clock: IdleClock) {
    this.#buffer = buffer;
    this.#clock = clock;
  }

  /**
   * Runs `step` over the buffer until it returns a result: at once when
   * no read is queued and it can, otherwise in turn, filling the buffer
   * between tries. `what` names the read in a timeout's message ("read a
   * line"). A step that throws fails the read.
   */
  run<T>(
    step: () => T | Need,
    options: WaitOptions | undefined,
    what: string,
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
    let deadline: Deadline | undefined;
    if (hasDeadline(options)) {
      // A read straight into the caller's array is only for a read that
      // cannot be abandoned.
      this.#buffer.noDirect();
      try {
        checkTimeout(options!.timeout);
      } catch (error) {
        return Promise.reject(error);
      }
      const buffer = this.#buffer;
      deadline = new Deadline(
        options!,
        () => `Cannot ${what} from ${buffer.peer()}`,
      );
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
      deadline?.clear();
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
      return this.#retry(stepThenDone, deadline);
    };
    let turn: Promise<T>;
    if (!queued) {
      turn = wait();
    } else {
      turn = (deadline === undefined ? before : deadline.race(before)).then(
        () => {
          const result = stepThenDone();
          return result === NEED ? wait() : result;
        },
      );
    }
    // On failure: registered first, so it runs before the caller's handler.
    turn.then(undefined, done);
    // The next read starts when this one has settled and so has every
    // read before it (one that timed out in the queue did not run).
    this.#tail = queued ? turn.then(() => before, () => before) : turn;
    return turn;
  }

  #retry<T>(
    step: () => T | Need,
    deadline: Deadline | undefined,
  ): Promise<T> {
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
      return this.#retry(step, deadline);
    };
    if (deadline !== undefined) return deadline.race(filled).then(again);
    // Without a deadline, wake on the read itself: the handler that takes
    // its bytes was registered first and runs first, and a wait costs one
    // promise fewer.
    const woken = filled === buffer.pending ? buffer.pendingRead! : filled;
    return woken.then(again, again);
  }
}
