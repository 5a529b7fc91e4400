/**
 * sock: sockets for Deno with the ergonomics of Common Lisp's usocket and
 * Allegro CL's `:sock` module.
 *
 * - {@linkcode listen} opens a passive socket, {@linkcode connect} an active
 *   one. Both give a {@linkcode Socket}: one buffered stream that reads and
 *   writes bytes and text alike (`readLine`, `readExactly`, `readUntil`,
 *   `read`, `write`, `flush`, `closeWrite`).
 * - Every read takes a `timeout` or an `AbortSignal` and loses nothing when
 *   it fires; {@linkcode waitForInput} waits on many sockets at once.
 * - {@linkcode connect} and {@linkcode listen} speak TLS with a `tls`
 *   option, and Unix domain sockets with a `path`; `Socket.startTls()`
 *   upgrades a plain connection (STARTTLS).
 * - Failures are {@linkcode SocketError}s whose messages say what to do,
 *   including the exact `--allow-net` flag that is missing.
 *
 * @example A server and a client on loopback
 * ```ts
 * import { connect, listen } from "@sock/sock";
 * import assert from "node:assert/strict";
 *
 * using listener = listen({ hostname: "127.0.0.1", port: 0 });
 * await using client = await connect({ port: listener.port });
 * await using server = await listener.accept();
 *
 * await server.write("Hello World\n");
 * await server.flush();
 * assert.equal(await client.readLine(), "Hello World");
 * ```
 *
 * @module
 */
export {
  AddressInUseError,
  AddressNotAvailableError,
  CertificateError,
  type CertificateProblem,
  ConnectionClosedError,
  ConnectionRefusedError,
  ConnectionResetError,
  EndOfStreamError,
  type ErrorAddress,
  HostNotFoundError,
  LimitExceededError,
  PermissionError,
  ProxyProtocolError,
  SocketError,
  type SocketErrorOptions,
  TimeoutError,
  TlsError,
} from "./lib/errors.ts";
export {
  type StartTlsOptions,
  type TlsConnectOptions,
  type TlsHandshakeInfo,
  type TlsListenOptions,
} from "./lib/tls.ts";
export { type UnixConnectOptions, type UnixListenOptions } from "./lib/unix.ts";
export {
  type UnixDatagram,
  type UnixDatagramOptions,
  UnixDatagramSocket,
} from "./lib/unix_datagram.ts";
export {
  type CloseOptions,
  type Parsed,
  type Parser,
  type ReadAllOptions,
  type ReadLineOptions,
  type ReadUntilOptions,
  Socket,
  type SocketOptions,
  type WaitOptions,
} from "./lib/socket.ts";
export { connect, type ConnectOptions, listen } from "./lib/tcp.ts";
export {
  type AcceptOptions,
  Listener,
  type ListenOptions,
  type TcpOptions,
} from "./lib/listener.ts";
export { type Waitable, waitForInput } from "./lib/wait_for_input.ts";
export type {
  ProxyHeader,
  ProxyProtocolOptions,
  ProxyTlv,
} from "./lib/proxy.ts";
export { formatProxyHeader, type ProxyHeaderInit } from "./lib/proxy_header.ts";
export {
  connectDatagram,
  type ConnectDatagramOptions,
  type Datagram,
  DatagramSocket,
  type JoinMulticastOptions,
  listenDatagram,
  type ListenDatagramOptions,
  MAX_DATAGRAM_SIZE,
  type MulticastMembership,
} from "./lib/udp.ts";
export {
  ipaddrToHostname,
  lookupHostname,
  type LookupHostnameOptions,
} from "./lib/names.ts";
export {
  dottedToIpaddr,
  formatIp,
  inCidr,
  ipaddrToDotted,
  ipEqual,
  parseIp,
} from "./lib/address.ts";
export {
  type ErrorReporter,
  type Handler,
  type HandlerContext,
  serve,
  type ServeOptions,
  type Server,
  type ServerStats,
  type UnixServeOptions,
} from "./lib/server.ts";
export {
  type DatagramHandler,
  type DatagramReply,
  serveDatagram,
  type ServeDatagramOptions,
} from "./lib/serve_datagram.ts";
export {
  readLisp,
  type ReadLispOptions,
  writeLisp,
} from "./lib/lisp_stream.ts";
export {
  add,
  Complex,
  DoubleFloat,
  formatLisp,
  isLispNumber,
  LispArithmeticError,
  LispChar,
  type LispDatum,
  LispLimitError,
  LispList,
  type LispNumber,
  LispReadError,
  type LispReal,
  LispSymbol,
  LispVector,
  makeComplex,
  makeRatio,
  parseLisp,
  Ratio,
  readDatum,
  type ReadLimits,
  type ReadResult,
  SingleFloat,
} from "./lib/lisp/mod.ts";
