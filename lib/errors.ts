/**
 * The error classes sock throws. Every failure of a socket operation is a
 * {@linkcode SocketError} or one of its subclasses, with the original Deno
 * error kept as `cause`.
 *
 * @module
 */

/**
 * Where a socket operation was aimed, when that is known.
 *
 * @example Reading the address of a failed connect
 * ```ts
 * import { connect, listen, SocketError } from "@sock/sock";
 * import assert from "node:assert/strict";
 *
 * const listener = listen({ port: 0 });
 * const { port } = listener;
 * listener.close();
 * const error = await connect({ port }).catch((e) => e);
 * assert.ok(error instanceof SocketError);
 * assert.deepEqual(error.address, { hostname: "127.0.0.1", port });
 * ```
 */
export interface ErrorAddress {
  /** The host name or IP address. */
  hostname: string;
  /** The port number. */
  port: number;
}

/**
 * Options shared by every {@linkcode SocketError} constructor.
 *
 * @example
 * ```ts
 * import { SocketError } from "@sock/sock";
 * import assert from "node:assert/strict";
 *
 * const cause = new Deno.errors.ConnectionRefused("refused");
 * const error = new SocketError("Cannot connect to 127.0.0.1:1: connection refused", {
 *   cause,
 *   address: { hostname: "127.0.0.1", port: 1 },
 * });
 * assert.equal(error.cause, cause);
 * ```
 */
export interface SocketErrorOptions {
  /** The error that caused this one, usually a `Deno.errors.*` instance. */
  cause?: unknown;
  /** The address the failed operation was aimed at. */
  address?: ErrorAddress;
}

/**
 * The base class of every socket failure sock reports.
 *
 * @example Catching any socket failure
 * ```ts
 * import { connect, SocketError } from "@sock/sock";
 * import assert from "node:assert/strict";
 *
 * using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
 * const { port } = listener.addr;
 * listener.close();
 * await assert.rejects(connect({ port }), SocketError);
 * ```
 */
export class SocketError extends Error {
  /** The address the failed operation was aimed at, when known. */
  readonly address: ErrorAddress | undefined;

  /**
   * Makes a socket error.
   *
   * @param message What failed and what to do about it.
   * @param options The cause and the address involved.
   */
  constructor(message: string, options: SocketErrorOptions = {}) {
    super(message, { cause: options.cause });
    this.name = "SocketError";
    this.address = options.address;
  }
}

/**
 * Nothing listens at the address a connection was made to.
 *
 * @example
 * ```ts
 * import { connect, ConnectionRefusedError } from "@sock/sock";
 * import assert from "node:assert/strict";
 *
 * using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
 * const { port } = listener.addr;
 * listener.close();
 * await assert.rejects(connect({ port }), ConnectionRefusedError);
 * ```
 */
export class ConnectionRefusedError extends SocketError {
  /**
   * Makes the error.
   *
   * @param message What failed and what to do about it.
   * @param options The cause and the address involved.
   */
  constructor(message: string, options?: SocketErrorOptions) {
    super(message, options);
    this.name = "ConnectionRefusedError";
  }
}

/**
 * Another socket already listens at the address given to `listen()`.
 *
 * @example
 * ```ts
 * import { AddressInUseError, listen } from "@sock/sock";
 * import assert from "node:assert/strict";
 *
 * using first = listen({ port: 0 });
 * assert.throws(() => listen({ port: first.port }), AddressInUseError);
 * ```
 */
export class AddressInUseError extends SocketError {
  /**
   * Makes the error.
   *
   * @param message What failed and what to do about it.
   * @param options The cause and the address involved.
   */
  constructor(message: string, options?: SocketErrorOptions) {
    super(message, options);
    this.name = "AddressInUseError";
  }
}

/**
 * The local address given to `listen()` does not belong to this machine.
 *
 * @example
 * ```ts ignore
 * import { AddressNotAvailableError, listen } from "@sock/sock";
 * import assert from "node:assert/strict";
 *
 * assert.throws(() => listen({ hostname: "192.0.2.55", port: 0 }), AddressNotAvailableError);
 * ```
 */
export class AddressNotAvailableError extends SocketError {
  /**
   * Makes the error.
   *
   * @param message What failed and what to do about it.
   * @param options The cause and the address involved.
   */
  constructor(message: string, options?: SocketErrorOptions) {
    super(message, options);
    this.name = "AddressNotAvailableError";
  }
}

/**
 * A host name could not be resolved to an address.
 *
 * @example
 * ```ts ignore
 * import { connect, HostNotFoundError } from "@sock/sock";
 * import assert from "node:assert/strict";
 *
 * await assert.rejects(connect({ hostname: "no-such-host.invalid", port: 80 }), HostNotFoundError);
 * ```
 */
export class HostNotFoundError extends SocketError {
  /**
   * Makes the error.
   *
   * @param message What failed and what to do about it.
   * @param options The cause and the address involved.
   */
  constructor(message: string, options?: SocketErrorOptions) {
    super(message, options);
    this.name = "HostNotFoundError";
  }
}

/**
 * An operation did not finish within its `timeout`. Nothing is lost: data
 * that arrives later is still there for the next read.
 *
 * @example
 * ```ts
 * import { connect, listen, TimeoutError } from "@sock/sock";
 * import assert from "node:assert/strict";
 *
 * await using listener = listen({ port: 0 });
 * await using client = await connect({ port: listener.port });
 * await using server = await listener.accept();
 * await assert.rejects(server.readLine({ timeout: 10 }), TimeoutError);
 * ```
 */
export class TimeoutError extends SocketError {
  /** How long the operation waited, in milliseconds. */
  readonly timeout: number;
  /**
   * For `Socket.readBody()` only: the part of its array filled before the
   * timeout. Those bytes have left the socket and the rest of the body is
   * still to come, so nothing is lost: go on with
   * `readBody(into.subarray(partial.length))`. Undefined otherwise.
   */
  partial: Uint8Array | undefined;

  /**
   * Makes the error.
   *
   * @param message What timed out.
   * @param timeout How long it waited, in milliseconds.
   * @param options The cause and the address involved.
   */
  constructor(message: string, timeout: number, options?: SocketErrorOptions) {
    super(message, options);
    this.name = "TimeoutError";
    this.timeout = timeout;
    this.partial = undefined;
  }
}

/**
 * The peer reset or aborted the connection, or stopped reading from it.
 *
 * @example
 * ```ts
 * import { ConnectionResetError, SocketError } from "@sock/sock";
 * import assert from "node:assert/strict";
 *
 * const error = new ConnectionResetError("Cannot read: connection reset by peer");
 * assert.ok(error instanceof SocketError);
 * ```
 */
export class ConnectionResetError extends SocketError {
  /**
   * Makes the error.
   *
   * @param message What failed.
   * @param options The cause and the address involved.
   */
  constructor(message: string, options?: SocketErrorOptions) {
    super(message, options);
    this.name = "ConnectionResetError";
  }
}

/**
 * The socket was already closed (by this side) when an operation was tried,
 * or was closed while the operation waited.
 *
 * @example
 * ```ts
 * import { connect, ConnectionClosedError, listen } from "@sock/sock";
 * import assert from "node:assert/strict";
 *
 * await using listener = listen({ port: 0 });
 * const client = await connect({ port: listener.port });
 * await using _server = await listener.accept();
 * client.close();
 * await assert.rejects(client.readLine(), ConnectionClosedError);
 * ```
 */
export class ConnectionClosedError extends SocketError {
  /**
   * Makes the error.
   *
   * @param message What failed.
   * @param options The cause and the address involved.
   */
  constructor(message: string, options?: SocketErrorOptions) {
    super(message, options);
    this.name = "ConnectionClosedError";
  }
}

/**
 * The stream ended before a read could complete. The bytes that did arrive
 * are in `partial`, so nothing is lost.
 *
 * @example
 * ```ts
 * import { connect, EndOfStreamError, listen } from "@sock/sock";
 * import assert from "node:assert/strict";
 *
 * await using listener = listen({ port: 0 });
 * await using client = await connect({ port: listener.port });
 * await using server = await listener.accept();
 * await client.write("abc");
 * await client.closeWrite();
 * await assert.rejects(server.readExactly(5), EndOfStreamError);
 * ```
 */
export class EndOfStreamError extends SocketError {
  /** The bytes read before the stream ended. */
  readonly partial: Uint8Array;

  /**
   * Makes the error.
   *
   * @param message What could not be read.
   * @param partial The bytes that arrived before the end of the stream.
   * @param options The cause and the address involved.
   */
  constructor(
    message: string,
    partial: Uint8Array,
    options?: SocketErrorOptions,
  ) {
    super(message, options);
    this.name = "EndOfStreamError";
    this.partial = partial;
  }
}

/**
 * The program lacks the `--allow-net` grant for an address. `flag` is the
 * exact flag to add to the `deno run` command.
 *
 * @example
 * ```ts
 * import { PermissionError } from "@sock/sock";
 * import assert from "node:assert/strict";
 *
 * const error = new PermissionError("Cannot listen on 127.0.0.1:9231", "--allow-net=127.0.0.1:9231");
 * assert.match(error.message, /--allow-net=127\.0\.0\.1:9231/);
 * ```
 */
export class PermissionError extends SocketError {
  /** The flag that grants the missing permission, e.g. `--allow-net=127.0.0.1:9231`. */
  readonly flag: string;

  /**
   * Makes the error. The message gets the advice to run again with `flag`.
   *
   * @param message What was refused.
   * @param flag The flag that grants it.
   * @param options The cause and the address involved.
   */
  constructor(message: string, flag: string, options?: SocketErrorOptions) {
    super(`${message}: permission denied, run again with ${flag}`, options);
    this.name = "PermissionError";
    this.flag = flag;
  }
}

/**
 * A read or a buffer would pass a configured size limit (a line longer than
 * `maxLength`, a buffer past `maxBufferSize`, a datagram over 65,507 bytes).
 *
 * @example
 * ```ts
 * import { connect, LimitExceededError, listen } from "@sock/sock";
 * import assert from "node:assert/strict";
 *
 * await using listener = listen({ port: 0 });
 * await using client = await connect({ port: listener.port });
 * await using server = await listener.accept();
 * await client.write("a very long line\n");
 * await client.flush();
 * await assert.rejects(server.readLine({ maxLength: 4 }), LimitExceededError);
 * ```
 */
export class LimitExceededError extends SocketError {
  /** The limit that was passed, in bytes. */
  readonly limit: number;

  /**
   * Makes the error.
   *
   * @param message What was too large.
   * @param limit The limit, in bytes.
   * @param options The cause and the address involved.
   */
  constructor(message: string, limit: number, options?: SocketErrorOptions) {
    super(message, options);
    this.name = "LimitExceededError";
    this.limit = limit;
  }
}

/**
 * A connection to a listener with `proxyProtocol` set was refused: it came
 * from an address outside `trustedProxies`, its PROXY header was missing or
 * malformed, or the header did not arrive within `proxyTimeout`. The
 * connection was closed; `listen()` and `serve()` report it through
 * `onError` and go on accepting.
 *
 * @example Seeing a client that skipped the balancer
 * ```ts
 * import { connect, ProxyProtocolError, serve } from "@sock/sock";
 * import assert from "node:assert/strict";
 *
 * const refused: unknown[] = [];
 * await using server = serve(() => {}, {
 *   port: 0,
 *   proxyProtocol: true,
 *   onError: (error) => refused.push(error),
 * });
 * await using client = await connect({ port: server.port });
 * await client.write("GET / HTTP/1.0\r\n\r\n");
 * await client.flush();
 * assert.equal(await client.readLine({ timeout: 5000 }), null);
 * assert.ok(refused[0] instanceof ProxyProtocolError);
 * ```
 */
export class ProxyProtocolError extends SocketError {
  /**
   * Makes the error.
   *
   * @param message What was wrong with the connection, and what was done.
   * @param options The cause and the client's address.
   */
  constructor(message: string, options?: SocketErrorOptions) {
    super(message, options);
    this.name = "ProxyProtocolError";
  }
}

/**
 * A TLS handshake failed for a reason other than a certificate: the peer
 * does not speak TLS (a TLS client at a plain port, or a plain client at a
 * TLS port), no ALPN protocol is common to both sides, or the TLS versions
 * do not match. The message says which.
 *
 * @example
 * ```ts
 * import { SocketError, TlsError } from "@sock/sock";
 * import assert from "node:assert/strict";
 *
 * const error = new TlsError("Cannot connect to localhost:4433 over TLS: the peer does not speak TLS");
 * assert.ok(error instanceof SocketError);
 * ```
 */
export class TlsError extends SocketError {
  /**
   * Makes the error.
   *
   * @param message What failed and what to do about it.
   * @param options The cause and the address involved.
   */
  constructor(message: string, options?: SocketErrorOptions) {
    super(message, options);
    this.name = "TlsError";
  }
}

/**
 * Why a certificate was refused:
 *
 * - `"untrusted"`: it is not signed by a CA this side trusts (give the CA
 *   in `caCerts`);
 * - `"expired"`: it is out of its validity period;
 * - `"name-mismatch"`: it is for another name than the one connected to;
 * - `"not-a-leaf"`: it is a CA certificate used as a server's own (the
 *   usual one-line `openssl req -x509` makes those);
 * - `"client-certificate-required"`: the server wants a client
 *   certificate and none was given;
 * - `"rejected-by-peer"`: the peer refused this side's certificate;
 * - `"invalid"`: any other fault of the certificate.
 *
 * @example
 * ```ts
 * import type { CertificateProblem } from "@sock/sock";
 * import assert from "node:assert/strict";
 *
 * const reason: CertificateProblem = "expired";
 * assert.equal(reason, "expired");
 * ```
 */
export type CertificateProblem =
  | "untrusted"
  | "expired"
  | "name-mismatch"
  | "not-a-leaf"
  | "client-certificate-required"
  | "rejected-by-peer"
  | "invalid";

/**
 * A TLS peer's certificate was refused, or the peer refused ours; `reason`
 * says why and the message what to do, e.g. "the server's certificate is
 * for other.test, not localhost".
 *
 * @example Telling the reasons apart
 * ```ts
 * import { CertificateError, TlsError } from "@sock/sock";
 * import assert from "node:assert/strict";
 *
 * const error = new CertificateError(
 *   "Cannot connect to localhost:4433 over TLS: the server's certificate has expired",
 *   "expired",
 * );
 * assert.ok(error instanceof TlsError);
 * assert.equal(error.reason, "expired");
 * ```
 */
export class CertificateError extends TlsError {
  /** Why the certificate was refused. */
  readonly reason: CertificateProblem;

  /**
   * Makes the error.
   *
   * @param message What failed and what to do about it.
   * @param reason Why the certificate was refused.
   * @param options The cause and the address involved.
   */
  constructor(
    message: string,
    reason: CertificateProblem,
    options?: SocketErrorOptions,
  ) {
    super(message, options);
    this.name = "CertificateError";
    this.reason = reason;
  }
}
