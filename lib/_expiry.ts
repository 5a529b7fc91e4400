// When a socket's waits expire: its default timeouts, its deadlines, and
// one timer per socket that finds the waits past their time. The timer is
// re-armed lazily: a wait that ends in time only leaves a set, so a read
// with a timeout costs a comparison, not a setTimeout() and a
// clearTimeout(). The timer fires at the earliest time some wait had when
// it was armed; waits that ended meanwhile are gone, and it is armed again
// for the earliest left, if any.
import { formatMs } from "./_deadline.ts";
import { TimeoutError } from "./errors.ts";

/** A wait that may expire. */
export interface Expiring {
  /** When, on the `performance.now()` clock. */
  readonly at: number;
  /** Called once when `at` has passed while the wait was watched. */
  expire(): void;
}

// The longest delay setTimeout() takes; a longer one fires at once.
const MAX_DELAY = 2 ** 31 - 1;

/** One socket's timeouts, deadlines and timer. */
export class Expiry {
  /** The default timeout of a read that gives none, in ms. */
  readTimeout = Infinity;
  /** The default timeout of a flush that gives none, in ms. */
  writeTimeout = Infinity;
  /** When reads stop waiting (`performance.now()` clock); Infinity: never. */
  readDeadline = Infinity;
  /** When flushes stop waiting; Infinity: never. */
  writeDeadline = Infinity;
  readonly #live = new Set<Expiring>();
  #timer: ReturnType<typeof setTimeout> | undefined;
  #armedAt = Infinity;
  #stopped = false;
  readonly #tick = (): void => this.#fire();

  /** Whether a read given `timeout` has a time limit. */
  readLimited(timeout: number | undefined): boolean {
    return (timeout ?? this.readTimeout) !== Infinity ||
      this.readDeadline !== Infinity;
  }

  /** Watches `wait` until {@linkcode Expiry.prototype.forget}. */
  watch(wait: Expiring): void {
    // A closed socket's waits fail at once, with no timer.
    if (this.#stopped) return;
    this.#live.add(wait);
    if (wait.at < this.#armedAt) this.#arm(wait.at);
  }

  /** Stops watching `wait` (the timer stays armed for the others). */
  forget(wait: Expiring): void {
    this.#live.delete(wait);
  }

  /** Stops the timer and forgets every wait: the socket is closed. */
  stop(): void {
    this.#stopped = true;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#armedAt = Infinity;
    this.#live.clear();
  }

  #arm(at: number): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#armedAt = at;
    const delay = Math.min(Math.max(at - performance.now(), 0), MAX_DELAY);
    const timer = this.#timer = setTimeout(this.#tick, delay);
    // The wait itself (a read or a write in flight) keeps the program
    // running; the timer must not keep it for a wait that ended.
    Deno.unrefTimer(timer as unknown as number);
  }

  #fire(): void {
    this.#timer = undefined;
    this.#armedAt = Infinity;
    const now = performance.now();
    let next = Infinity;
    for (const wait of this.#live) {
      if (wait.at <= now) {
        this.#live.delete(wait);
        wait.expire();
      } else if (wait.at < next) next = wait.at;
    }
    if (next !== Infinity && this.#timer === undefined) this.#arm(next);
  }
}

/**
 * When a wait that began at `now`, given `timeout` (or the default), ends:
 * the earlier of that and `deadline`; Infinity when neither is set.
 */
export function expiresAt(
  now: number,
  timeout: number,
  deadline: number,
): { at: number; byDeadline: boolean } {
  const at = now + timeout;
  return at <= deadline
    ? { at, byDeadline: false }
    : { at: deadline, byDeadline: true };
}

/** The TimeoutError of an expired wait that began at `began` and `did` something. */
export function expiredError(
  did: string,
  began: number,
  timeout: number,
  byDeadline: boolean,
): TimeoutError {
  const waited = performance.now() - began;
  return new TimeoutError(
    byDeadline
      ? `${did}: its deadline passed (after ${formatMs(waited)} ms)`
      : `${did}: timed out after ${formatMs(timeout)} ms`,
    byDeadline ? waited : timeout,
  );
}

/**
 * A deadline from `setDeadline()`'s argument: a `Date` or epoch
 * milliseconds on the clock of `Date.now()`, turned to the
 * `performance.now()` clock; `null` or Infinity for none.
 */
export function deadlineOf(time: Date | number | null): number {
  if (time === null) return Infinity;
  const ms = time instanceof Date ? time.getTime() : time;
  if (typeof ms !== "number" || Number.isNaN(ms)) {
    throw new TypeError(
      `Cannot set a deadline of ${
        String(time)
      }: give a Date, a number of milliseconds since the epoch (Date.now() + ms), or null`,
    );
  }
  if (ms === Infinity) return Infinity;
  return performance.now() + (ms - Date.now());
}
