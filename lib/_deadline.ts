// Timeouts and abort signals for waits that must not lose data: the wait is
// abandoned, the underlying read is not, so its bytes land in the buffer.
import { TimeoutError } from "./errors.ts";

/**
 * How long an operation may wait, and a signal that stops it early.
 *
 * @example A timeout and a signal on one read
 * ```ts
 * import { connect, listen, TimeoutError } from "@sock/sock";
 * import assert from "node:assert/strict";
 *
 * using listener = listen({ port: 0 });
 * await using client = await connect({ port: listener.port });
 * await using server = await listener.accept();
 * const controller = new AbortController();
 * await assert.rejects(
 *   server.readLine({ timeout: 10, signal: controller.signal }),
 *   TimeoutError,
 * );
 * ```
 */
export interface WaitOptions {
  /**
   * Milliseconds to wait before giving up with a `TimeoutError`. Nothing is
   * lost on a timeout: bytes that arrive later are kept for the next read.
   * A socket's reads and flushes that give none take the socket's
   * `readTimeout` or `writeTimeout`, which are Infinity unless set.
   *
   * @default {Infinity}
   */
  timeout?: number;
  /**
   * Stops the wait when aborted; the operation rejects with the signal's
   * reason. Like a timeout, an abort loses no data.
   *
   * @default {undefined}
   */
  signal?: AbortSignal;
}

/** Throws a `RangeError` unless `timeout` is a usable number of milliseconds. */
export function checkTimeout(timeout: number | undefined): void {
  if (timeout === undefined) return;
  if (typeof timeout !== "number" || Number.isNaN(timeout) || timeout < 0) {
    throw new RangeError(
      `Cannot use timeout ${timeout}: it must be a number of milliseconds >= 0`,
    );
  }
}

/**
 * One deadline for a whole operation, however many waits it takes. Made
 * only when the operation has to wait and has a timeout or a signal.
 */
export class Deadline {
  #stopTimer: (() => void) | undefined;
  #stopWatching: (() => void) | undefined;
  #expired: Promise<never>;
  #didExpire = false;

  constructor(options: WaitOptions, describe: () => string) {
    const { timeout, signal } = options;
    this.#expired = new Promise<never>((_, reject) => {
      if (signal) {
        if (signal.aborted) {
          this.#didExpire = true;
          reject(signal.reason);
          return;
        }
        this.#stopWatching = onAbort(signal, () => {
          this.#didExpire = true;
          reject(signal.reason);
        });
      }
      if (timeout !== undefined && timeout !== Infinity) {
        this.#stopTimer = startTimer(() => {
          this.#didExpire = true;
          reject(
            new TimeoutError(
              `${describe()}: timed out after ${formatMs(timeout)} ms`,
              timeout,
            ),
          );
        }, timeout);
      }
    });
    this.#expired.catch(() => {});
  }

  /** True once the timeout has passed or the signal has aborted. */
  get expired(): boolean {
    return this.#didExpire;
  }

  /** Waits for `promise`, or rejects when the deadline passes first. */
  race<T>(promise: Promise<T>): Promise<T> {
    return Promise.race([promise, this.#expired]);
  }

  /** Stops the timer and forgets the signal. */
  clear(): void {
    this.#stopTimer?.();
    this.#stopWatching?.();
  }
}

// The waits watching each signal. A signal gets one "abort" listener of
// ours however many waits come and go on it: many connections waiting on
// one server's shutdown signal add and remove a set entry each, not an
// event listener.
const watchers = new WeakMap<AbortSignal, Set<() => void>>();

/**
 * Calls `callback` when `signal` aborts (it must not have yet).
 *
 * @returns A function that stops watching.
 */
export function onAbort(signal: AbortSignal, callback: () => void): () => void {
  let waits = watchers.get(signal);
  if (waits === undefined) {
    const mine = waits = new Set();
    watchers.set(signal, mine);
    signal.addEventListener("abort", () => {
      watchers.delete(signal);
      for (const wait of mine) wait();
      mine.clear();
    }, { once: true });
  }
  const set = waits;
  set.add(callback);
  return () => set.delete(callback);
}

// The longest delay setTimeout() takes; a longer one fires at once.
const MAX_DELAY = 2 ** 31 - 1;

/**
 * `setTimeout()` for any delay: one longer than 2^31-1 ms (about 24.8
 * days), which setTimeout() would run at once, is waited in steps.
 *
 * @returns A function that stops the timer.
 */
export function startTimer(callback: () => void, ms: number): () => void {
  let left = ms;
  let id: ReturnType<typeof setTimeout>;
  const arm = () => {
    const step = Math.min(left, MAX_DELAY);
    left -= step;
    id = setTimeout(left > 0 ? arm : callback, step);
  };
  arm();
  return () => clearTimeout(id);
}

/** Milliseconds for a message: whole ones, or a few digits when under 10. */
export function formatMs(ms: number): string {
  return ms >= 10 ? String(Math.round(ms)) : String(Math.round(ms * 100) / 100);
}

/** True when `options` asks for a timeout or carries a signal. */
export function hasDeadline(options: WaitOptions | undefined): boolean {
  return options !== undefined &&
    ((options.timeout !== undefined && options.timeout !== Infinity) ||
      options.signal !== undefined);
}

/**
 * usocket's `wait-for-input` on one socket: true at once when `ready`,
 * else when `pending()` settles first, false when the timeout does.
 */
export async function waitUntil(
  ready: boolean,
  pending: () => Promise<unknown>,
  options: WaitOptions,
): Promise<boolean> {
  checkTimeout(options.timeout);
  if (ready) return true;
  const deadline = new Deadline(options, () => "Cannot wait for input");
  try {
    await deadline.race(pending());
    return true;
  } catch (error) {
    if (error instanceof TimeoutError) return false;
    throw error;
  } finally {
    deadline.clear();
  }
}

/** Yields what `next()` gives until it fails because the owner was closed. */
export async function* untilClosed<T>(
  next: () => Promise<T>,
  closed: () => boolean,
): AsyncGenerator<T, void, undefined> {
  for (;;) {
    let item: T;
    try {
      item = await next();
    } catch (error) {
      if (closed()) return;
      throw error;
    }
    yield item;
  }
}
