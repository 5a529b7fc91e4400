// What a server counts as it runs: plain integer fields that the server
// loops bump on paths they already take, read into a snapshot on demand.
import { ConnectionResetError, ProxyProtocolError } from "./errors.ts";
import type { ServerMetrics } from "./_server_metrics.ts";
import { tally } from "./_internal.ts";
import type { Socket } from "./socket.ts";

/**
 * A server's counts since it started, from {@linkcode Server.stats}: what
 * an operator watches. Every field is a whole number that only grows,
 * except `active`. A stream server leaves the datagram fields at 0, and a
 * datagram server the connection fields.
 *
 * When the process runs with `OTEL_DENO=true`, every server also records
 * OpenTelemetry metrics through Deno's built-in meter provider, which Deno
 * exports itself (`OTEL_EXPORTER_OTLP_ENDPOINT`, `OTEL_SERVICE_NAME`):
 * `sock.server.connections.accepted`, `sock.server.connections.active`,
 * `sock.server.connection.duration` (seconds), `sock.server.errors` (by
 * `error.type`, the class of what `onError` was told), `sock.server.bytes.received`
 * and `.sent`, and `sock.server.datagrams.received`, `.sent` and
 * `.dropped` (by `reason`: `too_big`, `stranger`, `over_limit`), each with
 * `server.address`, `server.port`, `network.transport` and, on TCP, `tls`.
 *
 * @example Reading a server's counts
 * ```ts
 * import { connect, serve, type ServerStats } from "@sock/sock";
 * import assert from "node:assert/strict";
 *
 * await using server = serve(async (socket) => {
 *   await socket.write(`${await socket.readLine()}\n`);
 * }, { port: 0 });
 * await using client = await connect({ port: server.port });
 * await client.write("hi\n");
 * await client.flush();
 * assert.equal(await client.readLine({ timeout: 5000 }), "hi");
 * await server.shutdown();
 * const stats: ServerStats = server.stats;
 * assert.equal(stats.accepted, 1);
 * assert.equal(stats.bytesReceived, 3);
 * assert.equal(stats.bytesSent, 3);
 * assert.equal(stats.handlerErrors, 0);
 * ```
 */
export interface ServerStats {
  /** Connections accepted (for TLS, before the handshake). */
  readonly accepted: number;
  /** Connections (or datagrams) being handled now. */
  readonly active: number;
  /** The most connections (or datagrams) handled at once. */
  readonly peakActive: number;
  /**
   * Times accepting paused because `maxConnections` connections were
   * open. Clients that arrive meanwhile wait in the backlog (none is
   * turned away by the server), so a count that keeps growing means the
   * limit is too low or handlers are too slow.
   */
  readonly maxConnectionsReached: number;
  /** Connections closed after `idleTimeout` without traffic. */
  readonly idleClosed: number;
  /** Connections that ended with a reset from the peer. */
  readonly resets: number;
  /**
   * Handlers that threw (what `onError` is told of as `handler for …`),
   * not counting the server's own closes (idle, shutdown).
   */
  readonly handlerErrors: number;
  /**
   * Bytes received from clients: over TLS, the decrypted bytes; for a
   * stream server, counted as each connection ends.
   */
  readonly bytesReceived: number;
  /** Bytes sent to clients, counted like `bytesReceived`. */
  readonly bytesSent: number;
  /**
   * TLS handshakes that failed (a bad certificate, a protocol error, a
   * timeout), not counting clients that closed or reset before finishing
   * (health checks, port scanners).
   */
  readonly tlsHandshakesFailed: number;
  /**
   * Connections closed because of their PROXY header: not from a trusted
   * proxy, a malformed header, or none within `proxyTimeout`.
   */
  readonly proxyHeadersRefused: number;
  /** Datagrams received (including those dropped below). */
  readonly datagramsReceived: number;
  /** Replies sent. */
  readonly datagramsReplied: number;
  /** Datagrams dropped for being longer than `maxDatagramSize`. */
  readonly datagramsTooBig: number;
  /** Datagrams dropped for coming from outside `allowedSenders`. */
  readonly datagramsFromStrangers: number;
  /** Datagrams dropped because `maxInFlight` handlers were running (`dropWhenBusy`). */
  readonly datagramsOverLimit: number;
}

/**
 * The live counts of one server. Its fields are bumped directly by the
 * server loop; `metrics` (when OpenTelemetry is on) is told of the same
 * events.
 */
export class StatsCounter {
  accepted = 0;
  peakActive = 0;
  maxConnectionsReached = 0;
  idleClosed = 0;
  resets = 0;
  handlerErrors = 0;
  bytesReceived = 0;
  bytesSent = 0;
  tlsHandshakesFailed = 0;
  proxyHeadersRefused = 0;
  datagramsReceived = 0;
  datagramsReplied = 0;
  datagramsTooBig = 0;
  datagramsFromStrangers = 0;
  datagramsOverLimit = 0;
  /** Set once the server's address is known, when OpenTelemetry is on. */
  metrics: ServerMetrics | undefined;

  /** A connection began in `slot`; `active` counts it already. */
  began(active: number, slot: number): void {
    this.accepted++;
    if (active > this.peakActive) this.peakActive = active;
    this.metrics?.began(slot);
  }

  /** `active` are being handled now: the most at once so far? */
  peak(active: number): void {
    if (active > this.peakActive) this.peakActive = active;
  }

  /** A stream connection in `slot` ended: its bytes and its reset. */
  ended(socket: Socket<Deno.Addr>, slot: number): void {
    const [received, sent, failure] = socket[tally]();
    this.bytesReceived += received;
    this.bytesSent += sent;
    if (failure instanceof ConnectionResetError) this.resets++;
    this.metrics?.ended(slot, received, sent);
  }

  /** Something was told to `onError`. */
  reported(error: unknown): void {
    if (error instanceof ProxyProtocolError) this.proxyHeadersRefused++;
    this.metrics?.error(error);
  }

  /** A snapshot, with `active` as the loop tells it. */
  snapshot(active: number): ServerStats {
    return {
      accepted: this.accepted,
      active,
      peakActive: this.peakActive,
      maxConnectionsReached: this.maxConnectionsReached,
      idleClosed: this.idleClosed,
      resets: this.resets,
      handlerErrors: this.handlerErrors,
      bytesReceived: this.bytesReceived,
      bytesSent: this.bytesSent,
      tlsHandshakesFailed: this.tlsHandshakesFailed,
      proxyHeadersRefused: this.proxyHeadersRefused,
      datagramsReceived: this.datagramsReceived,
      datagramsReplied: this.datagramsReplied,
      datagramsTooBig: this.datagramsTooBig,
      datagramsFromStrangers: this.datagramsFromStrangers,
      datagramsOverLimit: this.datagramsOverLimit,
    };
  }
}
