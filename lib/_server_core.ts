// What the stream and datagram server loops share: the error reporter,
// the running server's shape, the slots of work in flight, and the wait
// for it at shutdown.
import { describeAddr, formatHostPort } from "./_addr.ts";
import { startTimer } from "./_deadline.ts";
import { checkNumber } from "./_validate.ts";
import { type ErrorReporter, report } from "./_report.ts";

export type { ErrorReporter } from "./_report.ts";
import type { ServerStats } from "./_server_stats.ts";

/**
 * A running server, returned by {@linkcode serve} and {@linkcode serveDatagram}.
 *
 * @example Stopping a server
 * ```ts
 * import { type Server, serve } from "@sock/sock";
 * import assert from "node:assert/strict";
 *
 * const server: Server = serve(() => {}, { port: 0 });
 * assert.ok(server.port > 0);
 * await server.shutdown();
 * ```
 */
export interface Server<A extends Deno.Addr = Deno.NetAddr> {
  /** The address listened on, with the real port when 0 was asked for. */
  readonly addr: A;
  /** The local address listened on (undefined on a Unix socket). */
  readonly hostname: A extends Deno.NetAddr ? string : undefined;
  /** The port listened on (undefined on a Unix socket). */
  readonly port: A extends Deno.NetAddr ? number : undefined;
  /** The socket file listened on (undefined on a TCP or UDP socket). */
  readonly path: A extends Deno.UnixAddr ? string : undefined;
  /** Settles when the server has stopped and every handler has ended. */
  readonly finished: Promise<void>;
  /** How many connections (or datagrams) are being handled now. */
  readonly active: number;
  /**
   * The server's counts so far (a new snapshot at each read): connections,
   * errors, bytes, datagrams. They go on being readable after shutdown.
   */
  readonly stats: ServerStats;
  /**
   * Stops accepting, aborts the `signal` each handler was given, lets
   * in-flight handlers finish (for at most the shutdown timeout), then
   * aborts what is left. A handler that starts the shutdown must not await
   * it (it would wait for itself): `void server.shutdown()`.
   *
   * @returns The same promise as `finished`.
   */
  shutdown(): Promise<void>;
  /** Shuts down; this is what `await using` calls. */
  [Symbol.asyncDispose](): Promise<void>;
}

/** An error reporter that can never throw into the server loop. */
/** What the loops report through: `report()` with the owner's reporter. */
export type Reporter = (error: unknown, where: string) => void;

/** A reporter for `onError` that never throws into the loop. */
export function guard(reporter: ErrorReporter | undefined): Reporter {
  return (error, where) => report(reporter, error, where);
}

export function peerOf(addr: Deno.Addr): string {
  if (addr.transport === "tcp" || addr.transport === "udp") {
    return formatHostPort(addr.hostname, addr.port);
  }
  return "path" in addr && addr.path ? describeAddr(addr) : "a Unix client";
}

/**
 * A set held in an array of reusable slots, for the connections in flight.
 * Every connection adds and deletes an entry; churned like that, a `Set`
 * or `Map` tripled the garbage collector's time per connection.
 */
export class Slots<T> implements Iterable<T> {
  #items: (T | undefined)[] = [];
  #free: number[] = [];
  #size = 0;

  get size(): number {
    return this.#size;
  }

  /** Adds an item; returns its slot. */
  add(item: T): number {
    const slot = this.#free.pop() ?? this.#items.length;
    this.#items[slot] = item;
    this.#size++;
    return slot;
  }

  delete(slot: number): void {
    if (this.#items[slot] === undefined) return;
    this.#items[slot] = undefined;
    this.#size--;
    this.#free.push(slot);
  }

  *[Symbol.iterator](): Iterator<T> {
    for (const item of this.#items) if (item !== undefined) yield item;
  }
}

/**
 * Waits for `promises` to settle, or for `ms` milliseconds, whichever is
 * first; true when they settled in time.
 */
export async function settleWithin(
  promises: Iterable<Promise<unknown>>,
  ms: number,
): Promise<boolean> {
  const settled = Promise.all(promises).then(() => true);
  if (ms === Infinity) return await settled;
  let stop: (() => void) | undefined;
  const inTime = await Promise.race([
    settled,
    new Promise<boolean>((resolve) =>
      stop = startTimer(() => resolve(false), ms)
    ),
  ]);
  stop?.();
  return inTime;
}

/** What a loop tells its `Server` object. */
export interface Loop<A extends Deno.Addr> {
  addr(): A;
  active(): number;
  stats(): ServerStats;
  stop(): Promise<void>;
}

/** The `Server` around a loop: one shutdown, however often and however it is asked for. */
export function running<A extends Deno.Addr>(
  signal: AbortSignal | undefined,
  loop: Loop<A>,
): Server<A> {
  let stopped: Promise<void> | undefined;
  let settle: () => void = () => {};
  const finished = new Promise<void>((resolve) => settle = resolve);
  const onAbort = () => void shutdown();
  function shutdown(): Promise<void> {
    stopped ??= (async () => {
      try {
        await loop.stop();
      } finally {
        signal?.removeEventListener("abort", onAbort);
        settle();
      }
    })();
    return finished;
  }
  if (signal?.aborted) void shutdown();
  else signal?.addEventListener("abort", onAbort, { once: true });
  return {
    get addr() {
      return loop.addr();
    },
    get hostname() {
      return (loop.addr() as Partial<Deno.NetAddr>).hostname as never;
    },
    get port() {
      return (loop.addr() as Partial<Deno.NetAddr>).port as never;
    },
    get path() {
      return ((loop.addr() as Partial<Deno.UnixAddr>).path ??
        undefined) as never;
    },
    get active() {
      return loop.active();
    },
    get stats() {
      return loop.stats();
    },
    get finished() {
      return finished;
    },
    shutdown,
    [Symbol.asyncDispose]: shutdown,
  };
}

export function positive(name: string, value: number): number {
  if (!(value > 0)) {
    throw new RangeError(`Cannot use ${name} ${value}: it must be more than 0`);
  }
  return value;
}

/** Checks a non-negative number of milliseconds; Infinity allowed. */
export function milliseconds(name: string, value: number): number {
  return checkNumber(name, value, 0, { infinite: true });
}
