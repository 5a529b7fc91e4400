/**
 * The datagram server loop: {@linkcode serveDatagram}, usocket's
 * `socket-server` for UDP.
 *
 * @module
 */
import { formatHostPort } from "./_addr.ts";
import { inCidr } from "./_ip.ts";
import {
  type ErrorReporter,
  guard,
  peerOf,
  positive,
  type Reporter,
  running,
  type Server,
  settleWithin,
  Slots,
} from "./_server_core.ts";
import { PermissionError } from "./errors.ts";
import { serverMetrics } from "./_server_metrics.ts";
import { StatsCounter } from "./_server_stats.ts";
import { checkHostname, checkNumber, checkPort } from "./_validate.ts";
import {
  type Datagram,
  type DatagramSocket,
  listenDatagram,
  MAX_DATAGRAM_SIZE,
} from "./udp.ts";
/**
 * What a datagram handler may return: a reply to send back, or nothing.
 *
 * @example Replying with text
 * ```ts
 * import type { DatagramReply } from "@sock/sock";
 * import assert from "node:assert/strict";
 *
 * const reply: DatagramReply = "pong";
 * assert.equal(reply, "pong");
 * ```
 */
export type DatagramReply = Uint8Array | string | undefined | void;

/**
 * A datagram handler: gets each datagram, may return a reply for its sender.
 *
 * @example An echo handler
 * ```ts
 * import { type DatagramHandler, serveDatagram } from "@sock/sock";
 * import assert from "node:assert/strict";
 *
 * const echo: DatagramHandler = ({ data }) => data;
 * await using server = serveDatagram(echo, { port: 0 });
 * assert.ok(server.port > 0);
 * ```
 */
export type DatagramHandler = (
  datagram: Datagram,
) => DatagramReply | Promise<DatagramReply>;

/**
 * Options for {@linkcode serveDatagram}.
 *
 * @example Every option
 * ```ts
 * import { serveDatagram } from "@sock/sock";
 * import assert from "node:assert/strict";
 *
 * const stop = new AbortController();
 * const server = serveDatagram(({ data }) => data, {
 *   hostname: "127.0.0.1",
 *   port: 0,
 *   signal: stop.signal,
 *   maxInFlight: 64,
 *   dropWhenBusy: true,
 *   maxDatagramSize: 1200,
 *   allowedSenders: ["127.0.0.0/8", "::1"],
 *   shutdownTimeout: 1000,
 *   onError: (error, where) => console.error(where, error),
 * });
 * stop.abort();
 * await server.finished;
 * assert.equal(server.active, 0);
 * ```
 */
export interface ServeDatagramOptions {
  /**
   * The local address to receive on.
   *
   * @default {"127.0.0.1"}
   */
  hostname?: string;
  /**
   * The port; 0 lets the operating system choose.
   *
   * @default {0}
   */
  port?: number;
  /**
   * Aborting it shuts the server down gracefully.
   *
   * @default {undefined}
   */
  signal?: AbortSignal;
  /**
   * The most datagrams whose (async) handlers run at once; receiving
   * pauses past it, or with `dropWhenBusy` goes on and drops what arrives.
   *
   * @default {1024}
   */
  maxInFlight?: number;
  /**
   * With `maxInFlight` handlers running, receive on and drop each datagram
   * that arrives (counted in `stats.datagramsOverLimit`), rather than
   * pause and let the operating system's buffer fill and drop them
   * uncounted. Either way such datagrams are lost; this way the count
   * shows it, and the buffer holds no stale requests once the load falls.
   *
   * @default {false}
   */
  dropWhenBusy?: boolean;
  /**
   * The longest datagram handled, in bytes; a longer one is dropped
   * (counted in `stats.datagramsTooBig`) instead of reaching the handler.
   *
   * @default {65507}
   */
  maxDatagramSize?: number;
  /**
   * The senders served: addresses and ranges (`"10.0.0.0/8"`, `"::1"`).
   * A datagram from anyone else is dropped unread (counted in
   * `stats.datagramsFromStrangers`). Unset, everyone is served.
   *
   * @default {undefined}
   */
  allowedSenders?: readonly string[];
  /**
   * On shutdown, how long running handlers may go on, in milliseconds.
   *
   * @default {10000}
   */
  shutdownTimeout?: number;
  /**
   * Where handler errors go.
   *
   * @default {one line on stderr}
   */
  onError?: ErrorReporter;
}

const encoder = new TextEncoder();

/**
 * A datagram server answers each sender on whatever port it wrote from, and
 * Deno checks every destination, so the grant must cover every address a
 * reply can go to: 127.0.0.1 (or ::1) for a server on loopback, any address
 * at all for one on a wildcard, a network address or a host name. Checked
 * before the socket opens, rather than failing at the first reply.
 */
function checkReplyPermission(hostname: string, port: number): void {
  const where = formatHostPort(hostname, port);
  const to = replyAddress(hostname);
  if (to === undefined) {
    if (Deno.permissions.querySync({ name: "net" }).state === "granted") {
      return;
    }
    throw new PermissionError(
      `Cannot serve datagrams on ${where}: replies go to every sender, from any address, so this needs net access to all hosts (or serve on 127.0.0.1)`,
      "--allow-net",
    );
  }
  const host = to.includes(":") ? `[${to}]` : to;
  if (Deno.permissions.querySync({ name: "net", host }).state === "granted") {
    return;
  }
  throw new PermissionError(
    `Cannot serve datagrams on ${where}: replies go to each sender's own port at ${to}`,
    `--allow-net=${host}`,
  );
}

/**
 * The address replies go to for a server bound on `hostname` (checked,
 * without brackets): the loopback address of its IP version for a loopback
 * bind (or `localhost`), else `undefined`, for anywhere.
 */
function replyAddress(hostname: string): string | undefined {
  if (/^localhost\.?$/i.test(hostname)) return "127.0.0.1";
  if (inCidr(hostname, "127.0.0.0/8")) return "127.0.0.1";
  if (inCidr(hostname, "::1")) return "::1";
  return undefined;
}

/**
 * Runs `handler` for every datagram received on a UDP port and sends back
 * what it returns, like usocket's `socket-server` with `:protocol
 * :datagram`. A handler that throws is reported, not fatal.
 *
 * Requires `--unstable-net`, and `allow-net` permission for the bound
 * address and for every client answered: a server that replies to clients
 * on any port needs the host-wide grant for the addresses replies go to:
 * `--allow-net=127.0.0.1` for a server on `127.0.0.1` or `localhost` (its
 * clients send from 127.0.0.1), `--allow-net=[::1]` for one on `::1`, and an
 * unrestricted `--allow-net` for one on `0.0.0.0`, `::`, a network address
 * or another host name, whose clients may be anywhere. It is checked before
 * the socket opens, so a missing grant fails at once with a
 * `PermissionError` naming it rather than at the first reply.
 *
 * @param handler Called with each datagram; a returned array or string is
 * sent back to the sender.
 * @param options Where to listen, limits, and the shutdown signal.
 * @returns The running server.
 *
 * @example A reverse server
 * ```ts
 * import { connectDatagram, serveDatagram } from "@sock/sock";
 * import assert from "node:assert/strict";
 *
 * await using server = serveDatagram(({ data }) => data.reverse(), { port: 0 });
 * using client = connectDatagram({ remotePort: server.port });
 * await client.send(new Uint8Array([1, 2, 3]));
 * assert.deepEqual((await client.receive({ timeout: 1000 })).data, new Uint8Array([3, 2, 1]));
 * ```
 *
 * @tags allow-net, unstable
 */
export function serveDatagram(
  handler: DatagramHandler,
  options: ServeDatagramOptions = {},
): Server {
  const tell = guard(options.onError);
  const stats = new StatsCounter();
  const report: Reporter = (error, where) => {
    stats.reported(error);
    tell(error, where);
  };
  const maxInFlight = positive("maxInFlight", options.maxInFlight ?? 1024);
  const shutdownTimeout = options.shutdownTimeout ?? 10_000;
  const dropWhenBusy = options.dropWhenBusy === true;
  const maxSize = checkNumber(
    "maxDatagramSize",
    options.maxDatagramSize ?? MAX_DATAGRAM_SIZE,
    1,
    { integer: true },
  );
  const allowed = checkSenders(options.allowedSenders);
  // The address first: a bad one is a mistake to name, not a grant to ask for.
  const hostname = checkHostname("hostname", options.hostname ?? "127.0.0.1");
  checkReplyPermission(hostname, checkPort("port", options.port ?? 0, true));
  // One byte more than the limit: a datagram that fills it is too long.
  const socket: DatagramSocket = listenDatagram({
    ...options,
    maxDatagramSize: Math.min(maxSize + 1, MAX_DATAGRAM_SIZE),
  });
  const metrics = stats.metrics = serverMetrics(socket.addr, undefined);
  const inFlight = new Slots<Promise<void>>();
  let slotFreed: (() => void) | undefined;
  let stopping = false;

  async function reply(
    datagram: Datagram,
    answer: DatagramReply,
  ): Promise<void> {
    if (answer === undefined || stopping && socket.closed) return;
    const bytes = typeof answer === "string" ? encoder.encode(answer) : answer;
    try {
      await socket.send(bytes, datagram.remoteAddr);
      stats.datagramsReplied++;
      stats.bytesSent += bytes.length;
      metrics?.sent(bytes.length);
    } catch (error) {
      report(error, `reply to ${peerOf(datagram.remoteAddr)}`);
    }
  }

  /**
   * Sends a reply at once and counts it in flight until it is sent: one
   * promise of its own, no async frame, per datagram.
   */
  function sendReply(datagram: Datagram, answer: Uint8Array | string): void {
    const bytes = typeof answer === "string" ? encoder.encode(answer) : answer;
    let slot = -1;
    const sent = socket.send(bytes, datagram.remoteAddr).then(
      () => {
        free(slot);
        stats.datagramsReplied++;
        stats.bytesSent += bytes.length;
        metrics?.sent(bytes.length);
      },
      (error) => {
        free(slot);
        report(error, `reply to ${peerOf(datagram.remoteAddr)}`);
      },
    );
    slot = inFlight.add(sent);
    stats.peak(inFlight.size);
  }

  function free(slot: number): void {
    inFlight.delete(slot);
    slotFreed?.();
  }

  /** Counts a reply in flight until it settles (it never rejects). */
  function track(done: Promise<void>): void {
    const slot = inFlight.add(done);
    stats.peak(inFlight.size);
    done.then(() => {
      inFlight.delete(slot);
      slotFreed?.();
    });
  }

  async function handleAsync(
    datagram: Datagram,
    pending: Promise<DatagramReply>,
  ): Promise<void> {
    try {
      await reply(datagram, await pending);
    } catch (error) {
      stats.handlerErrors++;
      report(error, `handler for ${peerOf(datagram.remoteAddr)}`);
    }
  }

  async function receiveLoop(): Promise<void> {
    while (!stopping) {
      if (inFlight.size >= maxInFlight && !dropWhenBusy) {
        await new Promise<void>((resolve) => slotFreed = resolve);
        slotFreed = undefined;
        continue;
      }
      let datagram: Datagram;
      try {
        datagram = await socket.receive();
      } catch (error) {
        if (stopping || socket.closed) return;
        report(error, `receive on ${peerOf(socket.addr)}`);
        continue;
      }
      const size = datagram.data.length;
      stats.datagramsReceived++;
      stats.bytesReceived += size;
      metrics?.received(size);
      if (size > maxSize) {
        stats.datagramsTooBig++;
        metrics?.dropped("too_big");
        continue;
      }
      if (allowed && !isAllowed(datagram.remoteAddr.hostname, allowed)) {
        stats.datagramsFromStrangers++;
        metrics?.dropped("stranger");
        continue;
      }
      if (inFlight.size >= maxInFlight) {
        stats.datagramsOverLimit++;
        metrics?.dropped("over_limit");
        continue;
      }
      let answer: DatagramReply | Promise<DatagramReply>;
      try {
        answer = handler(datagram);
      } catch (error) {
        stats.handlerErrors++;
        report(error, `handler for ${peerOf(datagram.remoteAddr)}`);
        continue;
      }
      if (answer === undefined) continue;
      if (answer instanceof Promise) track(handleAsync(datagram, answer));
      else sendReply(datagram, answer);
    }
  }

  const receiving = receiveLoop();
  return running(options.signal, {
    addr: () => socket.addr,
    active: () => inFlight.size,
    stats: () => stats.snapshot(inFlight.size),
    async stop() {
      stopping = true;
      slotFreed?.();
      // Let a datagram whose handler asked for the shutdown be counted in flight.
      await null;
      if (inFlight.size > 0) await settleWithin(inFlight, shutdownTimeout);
      socket.close();
      await receiving;
    },
  });
}

/** Checks `allowedSenders`: undefined, or a list of addresses and ranges. */
function checkSenders(
  senders: readonly string[] | undefined,
): readonly string[] | undefined {
  if (senders === undefined) return undefined;
  if (!Array.isArray(senders)) {
    throw new TypeError(
      `Cannot use allowedSenders ${
        String(senders)
      }: it must be an array of addresses and ranges, such as ["10.0.0.0/8"]`,
    );
  }
  // inCidr throws a TypeError that names a malformed range.
  for (const range of senders) inCidr("127.0.0.1", String(range));
  return [...senders];
}

function isAllowed(hostname: string, ranges: readonly string[]): boolean {
  for (const range of ranges) if (inCidr(hostname, range)) return true;
  return false;
}
