/**
 * TLS for sock's sockets: the options of `connect({ tls })`,
 * `listen({ tls })`, `serve(handler, { tls })` and `Socket.startTls()`.
 *
 * Deno's TLS is rustls: certificates must name their host in the
 * subjectAltName (the CN is ignored), TLS 1.2 and 1.3 are spoken, and
 * failures come as a {@linkcode CertificateError} or a {@linkcode TlsError}
 * whose message says what to do.
 *
 * @module
 */
import { Deadline, hasDeadline, type WaitOptions } from "./_deadline.ts";
import { mapError } from "./_map_error.ts";

/**
 * The TLS options of a client: `connect({ tls })`.
 *
 * @example Trusting a private CA and sending a client certificate
 * ```ts ignore
 * import { connect, type TlsConnectOptions } from "@sock/sock";
 *
 * const tls: TlsConnectOptions = {
 *   caCerts: [await Deno.readTextFile("ca.crt")],
 *   cert: await Deno.readTextFile("client.crt"),
 *   key: await Deno.readTextFile("client.key"),
 *   alpnProtocols: ["sum/1"],
 * };
 * await using socket = await connect({ hostname: "localhost", port: 4433, tls, timeout: 5000 });
 * ```
 */
export interface TlsConnectOptions {
  /**
   * PEM certificates of the CAs to trust instead of the system's (Deno's
   * `--cert` flag and `DENO_CERT` add to those).
   *
   * @default {the system's CAs}
   */
  caCerts?: string[];
  /**
   * A PEM client certificate, for a server that asks for one (mutual
   * TLS); needs `key`.
   *
   * @default {undefined}
   */
  cert?: string;
  /**
   * The PEM private key of `cert` (PKCS#8, PKCS#1 RSA or SEC1 EC).
   *
   * @default {undefined}
   */
  key?: string;
  /**
   * The application protocols to offer (ALPN), in order of preference;
   * `Socket.handshake()` tells which one the server chose.
   *
   * @default {[]}
   */
  alpnProtocols?: string[];
  /**
   * The name the server's certificate must be for, and the name sent to it
   * (SNI), when it is not `hostname` (say, connecting to an IP address of
   * a host named on its certificate). Deno cannot combine it with a client
   * certificate.
   *
   * @default {the hostname connected to}
   */
  serverName?: string;
}

/**
 * The TLS options of a server: `listen({ tls })` and `serve(h, { tls })`.
 * Deno's TLS server cannot ask clients for a certificate.
 *
 * @example
 * ```ts ignore
 * import { serve, type TlsListenOptions } from "@sock/sock";
 *
 * const tls: TlsListenOptions = {
 *   cert: await Deno.readTextFile("server.crt"),
 *   key: await Deno.readTextFile("server.key"),
 * };
 * serve(async (socket) => await socket.write("hello\n"), { port: 4433, tls });
 * ```
 */
export interface TlsListenOptions {
  /** The server's PEM certificate chain: its own certificate first. */
  cert: string;
  /** The PEM private key of `cert` (PKCS#8, PKCS#1 RSA or SEC1 EC). */
  key: string;
  /**
   * The application protocols the server speaks (ALPN), in its order of
   * preference: it picks its first one the client offers too.
   *
   * @default {[]}
   */
  alpnProtocols?: string[];
}

/**
 * Options for `Socket.startTls()`: upgrading a plain TCP connection to TLS
 * (STARTTLS). The timeout and signal bound the handshake.
 *
 * @example
 * ```ts
 * import type { StartTlsOptions } from "@sock/sock";
 * import assert from "node:assert/strict";
 *
 * const options: StartTlsOptions = { hostname: "localhost", timeout: 5000 };
 * assert.equal(options.hostname, "localhost");
 * ```
 */
export interface StartTlsOptions extends WaitOptions {
  /**
   * The name the server's certificate must be for (and the SNI name).
   *
   * @default {the address connected to}
   */
  hostname?: string;
  /**
   * PEM certificates of the CAs to trust instead of the system's.
   *
   * @default {the system's CAs}
   */
  caCerts?: string[];
  /**
   * The application protocols to offer (ALPN).
   *
   * @default {[]}
   */
  alpnProtocols?: string[];
}

/**
 * What a TLS handshake settled, from `Socket.handshake()`.
 *
 * @example
 * ```ts
 * import type { TlsHandshakeInfo } from "@sock/sock";
 * import assert from "node:assert/strict";
 *
 * const info: TlsHandshakeInfo = { alpnProtocol: "h2" };
 * assert.equal(info.alpnProtocol, "h2");
 * ```
 */
export interface TlsHandshakeInfo {
  /** The ALPN protocol both sides agreed on, or `null` when none was. */
  alpnProtocol: string | null;
}

function checkPemList(name: string, value: unknown): void {
  if (value === undefined) return;
  if (!Array.isArray(value) || value.some((v) => typeof v !== "string")) {
    throw new TypeError(
      `Cannot use tls.${name}: it must be an array of PEM strings (read the files with Deno.readTextFile)`,
    );
  }
  // Deno skips an entry that holds no certificate, and the handshake then
  // blames trust: say which entry it is instead.
  value.forEach((entry: string, i) => {
    if (entry.includes("-----BEGIN CERTIFICATE-----")) return;
    const what = !entry.includes("-----BEGIN ")
      ? `it is not PEM text (it has no "-----BEGIN" line); pass the file's contents, not its name`
      : /-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(entry)
      ? "it is a private key, not a certificate (pass the CA's certificate)"
      : 'it holds no certificate (no "-----BEGIN CERTIFICATE-----" line)';
    throw new TypeError(`Cannot use tls.${name}[${i}]: ${what}`);
  });
}

function checkPem(name: string, value: unknown): void {
  if (value !== undefined && typeof value !== "string") {
    throw new TypeError(
      `Cannot use tls.${name}: it must be PEM text (read the file with Deno.readTextFile), not ${typeof value}`,
    );
  }
  if (typeof value === "string" && !value.includes("-----BEGIN ")) {
    throw new TypeError(
      `Cannot use tls.${name}: it is not PEM text (it has no "-----BEGIN" line); pass the file's contents, not its name`,
    );
  }
}

function checkAlpn(value: unknown): void {
  if (value === undefined) return;
  if (
    !Array.isArray(value) ||
    value.some((v) => typeof v !== "string" || v.length === 0 || v.length > 255)
  ) {
    throw new TypeError(
      "Cannot use tls.alpnProtocols: it must be an array of protocol names of 1 to 255 characters",
    );
  }
}

/** Checks a client's TLS options; throws a TypeError naming the bad one. */
export function checkTlsConnectOptions(tls: TlsConnectOptions): void {
  if (typeof tls !== "object" || tls === null) {
    throw new TypeError("Cannot use tls: it must be an object of TLS options");
  }
  checkPemList("caCerts", tls.caCerts);
  checkPem("cert", tls.cert);
  checkPem("key", tls.key);
  checkAlpn(tls.alpnProtocols);
  if ((tls.cert === undefined) !== (tls.key === undefined)) {
    throw new TypeError(
      "Cannot use a client certificate: tls.cert and tls.key must be given together",
    );
  }
  if (tls.serverName !== undefined) {
    if (typeof tls.serverName !== "string" || tls.serverName === "") {
      throw new TypeError("Cannot use tls.serverName: it must be a host name");
    }
    if (tls.cert !== undefined) {
      throw new TypeError(
        "Cannot use tls.serverName with a client certificate: Deno's TLS client takes the server's name only from the hostname it connects to; connect by that name instead",
      );
    }
  }
}

/** Checks a server's TLS options; throws a TypeError naming the bad one. */
export function checkTlsListenOptions(tls: TlsListenOptions): void {
  if (typeof tls !== "object" || tls === null) {
    throw new TypeError(
      "Cannot use tls: it must be an object with cert and key",
    );
  }
  if (tls.cert === undefined || tls.key === undefined) {
    throw new TypeError(
      "Cannot listen with TLS: tls.cert and tls.key are both needed (PEM text)",
    );
  }
  checkPem("cert", tls.cert);
  checkPem("key", tls.key);
  checkAlpn(tls.alpnProtocols);
  const extra = Object.keys(tls).filter((k) =>
    !["cert", "key", "alpnProtocols"].includes(k)
  );
  if (extra.length > 0) {
    throw new TypeError(
      `Cannot listen with TLS option ${
        extra[0]
      }: the options are cert, key and alpnProtocols (Deno's TLS server cannot ask for client certificates)`,
    );
  }
}

/** Explains what Deno.listenTls threw about the certificate or key. */
export function explainKeyPairError(error: unknown, where: string): unknown {
  if (!(error instanceof Error) || error.constructor === TypeError) {
    return error;
  }
  const text = error.message;
  const why = text.includes("KeyMismatch")
    ? "tls.key is not the private key of tls.cert"
    : text.includes("No certificates found")
    ? "tls.cert holds no certificate"
    : text.includes("BadEncoding") || text.includes("certificate")
    ? `tls.cert is not a valid certificate (${text})`
    : /key/i.test(text)
    ? `tls.key is not a usable private key (${text})`
    : undefined;
  return why === undefined ? error : new TypeError(
    `Cannot listen with TLS on ${where}: ${why}`,
    { cause: error },
  );
}

/**
 * Waits for `promise`, or for `signal` to abort; a value that comes after
 * the abort goes to `late` (to be closed).
 */
export function abortable<T>(
  promise: Promise<T>,
  signal: AbortSignal | undefined,
  late: (value: T) => void,
): Promise<T> {
  if (signal === undefined) return promise;
  if (signal.aborted) {
    promise.then(late, () => {});
    return Promise.reject(signal.reason);
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => {
      promise.then(late, () => {});
      reject(signal.reason);
    };
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then((value) => {
      signal.removeEventListener("abort", onAbort);
      if (signal.aborted) late(value);
      else resolve(value);
    }, (error) => {
      signal.removeEventListener("abort", onAbort);
      reject(error);
    });
  });
}

function closeQuietly(conn: Deno.Conn): void {
  try {
    conn.close();
  } catch {
    // Already closed.
  }
}

/**
 * Completes a client's handshake; on failure or abort the connection is
 * closed (Deno frees it only once the peer closes too, when the handshake
 * did not finish) and the error thrown as Deno gave it.
 */
export async function finishClientHandshake(
  conn: Deno.TlsConn,
  signal: AbortSignal | undefined,
): Promise<Deno.TlsConn> {
  const shaking = conn.handshake();
  shaking.catch(() => {});
  try {
    await abortable(shaking, signal, () => {});
  } catch (error) {
    closeQuietly(conn);
    throw error;
  }
  return conn;
}

/**
 * Opens a TLS client connection and completes its handshake, all within
 * `signal`. Without a client certificate it connects with `Deno.connect`
 * (which can be aborted) and upgrades with `Deno.startTls`; with one it
 * needs `Deno.connectTls`, whose TCP connect cannot be aborted: a
 * connection that comes after the abort is closed.
 */
export async function openTlsClient(
  hostname: string,
  port: number,
  tls: TlsConnectOptions,
  signal: AbortSignal | undefined,
  noDelay: boolean,
  keepAlive: boolean,
): Promise<Deno.TlsConn> {
  const common = {
    ...(tls.caCerts ? { caCerts: tls.caCerts } : {}),
    ...(tls.alpnProtocols ? { alpnProtocols: tls.alpnProtocols } : {}),
  };
  let conn: Deno.TlsConn;
  if (tls.cert !== undefined && tls.key !== undefined) {
    conn = await abortable(
      Deno.connectTls({
        hostname,
        port,
        cert: tls.cert,
        key: tls.key,
        ...common,
      }),
      signal,
      closeQuietly,
    );
  } else {
    const tcp = await Deno.connect({
      transport: "tcp",
      hostname,
      port,
      ...(signal ? { signal } : {}),
    });
    try {
      // Options set on the TCP socket stay with it under TLS.
      if (noDelay) tcp.setNoDelay(true);
      if (keepAlive) tcp.setKeepAlive(true);
      conn = await Deno.startTls(tcp, {
        hostname: tls.serverName ?? hostname,
        ...common,
      });
    } catch (error) {
      closeQuietly(tcp);
      throw error;
    }
  }
  return await finishClientHandshake(conn, signal);
}

/**
 * A socket's `handshake()`: waits for the TLS handshake of `conn`; refuses
 * a connection that is not TLS, and one that is closed (`closed` says why).
 */
export function handshakeOf(
  conn: Deno.Conn,
  closed: Error | undefined,
  peer: string,
  options: WaitOptions | undefined,
): Promise<TlsHandshakeInfo> {
  if (!("handshake" in conn)) {
    return Promise.reject(
      new TypeError(
        `Cannot complete a TLS handshake with ${peer}: it is not a TLS socket`,
      ),
    );
  }
  if (closed !== undefined) return Promise.reject(closed);
  return handshakeWithin(
    conn as unknown as Deno.TlsConn,
    options,
    `complete the TLS handshake with ${peer}`,
  );
}

/**
 * Runs `conn.handshake()` within `options`' timeout and signal. A timeout
 * leaves the connection as it is (the caller decides whether to close it).
 */
export async function handshakeWithin(
  conn: Deno.TlsConn,
  options: WaitOptions | undefined,
  action: string,
  nameOption?: string,
): Promise<TlsHandshakeInfo> {
  const shaking = conn.handshake();
  shaking.catch(() => {});
  const deadline = hasDeadline(options)
    ? new Deadline(options!, () => `Cannot ${action}`)
    : undefined;
  try {
    const info = await (deadline ? deadline.race(shaking) : shaking);
    return { alpnProtocol: info.alpnProtocol };
  } catch (error) {
    throw mapError(error, { action, nameOption });
  } finally {
    deadline?.clear();
  }
}

/** How startTls() is told the server's name, for a name mismatch. */
const STARTTLS_NAME = "pass hostname to startTls()";

/**
 * Upgrades a plain TCP connection to TLS as a client (STARTTLS) and
 * completes the handshake; on failure the connection is closed.
 */
export async function upgradeToTls(
  tcp: Deno.TcpConn,
  options: StartTlsOptions,
  hostname: string,
  action: string,
  started: (conn: Deno.TlsConn) => void,
): Promise<Deno.TlsConn> {
  let conn: Deno.TlsConn;
  try {
    conn = await Deno.startTls(tcp, {
      hostname: options.hostname ?? hostname,
      ...(options.caCerts ? { caCerts: options.caCerts } : {}),
      ...(options.alpnProtocols
        ? { alpnProtocols: options.alpnProtocols }
        : {}),
    });
  } catch (error) {
    closeQuietly(tcp);
    throw mapError(error, { action, nameOption: STARTTLS_NAME });
  }
  // The handshake is still to come: closing `conn` now cancels it.
  started(conn);
  try {
    await handshakeWithin(conn, options, action, STARTTLS_NAME);
  } catch (error) {
    closeQuietly(conn);
    throw error;
  }
  return conn;
}

/** Checks `startTls()`'s options; throws a TypeError naming the bad one. */
export function checkStartTlsOptions(options: StartTlsOptions): void {
  if (typeof options !== "object" || options === null) {
    throw new TypeError("Cannot start TLS: the options must be an object");
  }
  if (
    options.hostname !== undefined &&
    (typeof options.hostname !== "string" || options.hostname === "")
  ) {
    throw new TypeError("Cannot start TLS: hostname must be a host name");
  }
  checkPemList("caCerts", options.caCerts);
  checkAlpn(options.alpnProtocols);
}
