// One table from what Deno throws to sock's error classes.
import {
  AddressInUseError,
  AddressNotAvailableError,
  ConnectionClosedError,
  ConnectionRefusedError,
  ConnectionResetError,
  type ErrorAddress,
  HostNotFoundError,
  PermissionError,
  SocketError,
  type SocketErrorOptions,
  TimeoutError,
} from "./errors.ts";
import { mapTlsError } from "./_tls_errors.ts";
import { formatMs } from "./_deadline.ts";

/** What was being done when the error happened, for the message. */
export interface ErrorContext {
  /** A phrase that completes "Cannot …", e.g. "connect to 127.0.0.1:9231". */
  action: string;
  /** The address involved, when there is one. */
  address?: ErrorAddress | undefined;
  /**
   * How the caller names the server a TLS certificate must be for, when a
   * name mismatch should say so ("set tls.serverName" unless given).
   */
  nameOption?: string | undefined;
  /** Milliseconds the failed call took, for a resolver that gave up. */
  elapsed?: number | undefined;
}

type Make = (message: string, options: SocketErrorOptions) => SocketError;

const TABLE: ReadonlyArray<[new (...args: never[]) => Error, string, Make]> = [
  [
    Deno.errors.ConnectionRefused,
    "connection refused (is a server listening there?)",
    (m, o) => new ConnectionRefusedError(m, o),
  ],
  [
    Deno.errors.AddrInUse,
    "address already in use (choose another port, or port 0 for any free one)",
    (m, o) => new AddressInUseError(m, o),
  ],
  [
    Deno.errors.AddrNotAvailable,
    "address not available on this machine",
    (m, o) => new AddressNotAvailableError(m, o),
  ],
  [
    Deno.errors.ConnectionReset,
    "connection reset by peer",
    (m, o) => new ConnectionResetError(m, o),
  ],
  [
    Deno.errors.ConnectionAborted,
    "connection aborted",
    (m, o) => new ConnectionResetError(m, o),
  ],
  [
    Deno.errors.BrokenPipe,
    "the peer has closed the connection",
    (m, o) => new ConnectionResetError(m, o),
  ],
  [
    Deno.errors.NotConnected,
    "the socket is not connected",
    (m, o) => new ConnectionResetError(m, o),
  ],
  [
    Deno.errors.BadResource,
    "the socket is closed",
    (m, o) => new ConnectionClosedError(m, o),
  ],
  [
    Deno.errors.Interrupted,
    "the socket was closed while waiting",
    (m, o) => new ConnectionClosedError(m, o),
  ],
  [
    Deno.errors.TimedOut,
    "timed out",
    (m, o) => new TimeoutError(m, 0, o),
  ],
  [
    Deno.errors.NetworkUnreachable,
    "network unreachable",
    (m, o) => new SocketError(m, o),
  ],
];

const NOT_CAPABLE_HOST = /net access to "([^"]+)"/;

// What the operating system's error codes mean for a socket, for the ones
// that Deno reports as a plain Error with a `code`.
const CODES: Readonly<Record<string, string>> = {
  EMFILE:
    "too many open files in this process (close connections, or raise the limit with ulimit -n)",
  ENFILE:
    "too many open files on this machine (close connections, or raise the system limit)",
  ENOBUFS: "the operating system is out of buffer space",
  ENOMEM: "the operating system is out of memory",
  EAFNOSUPPORT:
    "address family not supported (an IPv4 socket cannot reach an IPv6 address, nor the reverse)",
  EADDRNOTAVAIL: "address not available on this machine",
  ENETUNREACH: "network unreachable",
  EHOSTUNREACH: "host unreachable",
  EMSGSIZE: "the datagram is too large for the network",
  EINVAL: "invalid argument",
};

/** The operating system's error code of `error` (or of its cause), e.g. `"EMFILE"`. */
export function errorCode(error: unknown): string | undefined {
  for (let e = error, depth = 0; e instanceof Error && depth < 4; depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === "string") return code;
    e = e.cause;
  }
  return undefined;
}

const RESOURCE_CODES = new Set(["EMFILE", "ENFILE", "ENOBUFS", "ENOMEM"]);

/**
 * True when `error` (or its cause) says the process or the machine ran out
 * of a resource (file descriptors, buffers, memory): something that passes
 * when connections close, so an accept loop should wait and try again.
 */
export function isResourceError(error: unknown): boolean {
  const code = errorCode(error);
  return code !== undefined && RESOURCE_CODES.has(code);
}

/**
 * Turns whatever a Deno network call threw into a {@linkcode SocketError},
 * keeping the original as `cause`. Errors that already are socket errors pass
 * through, and so do errors that are not about the network (an abort reason,
 * a `TypeError` for a bad argument).
 */
export function mapError(error: unknown, context: ErrorContext): unknown {
  if (error instanceof SocketError) return error;
  const options: SocketErrorOptions = { cause: error };
  if (context.address) options.address = context.address;
  const prefix = `Cannot ${context.action}`;
  if (error instanceof Deno.errors.NotCapable) {
    const host = NOT_CAPABLE_HOST.exec(error.message)?.[1] ??
      (context.address
        ? `${context.address.hostname}:${context.address.port}`
        : "HOST:PORT");
    return new PermissionError(prefix, `--allow-net=${host}`, options);
  }
  if (error instanceof Deno.errors.PermissionDenied) {
    return new SocketError(
      `${prefix}: the operating system denied it (${error.message})`,
      options,
    );
  }
  const tls = mapTlsError(
    error,
    prefix,
    options,
    context.nameOption ?? "set tls.serverName",
  );
  if (tls !== undefined) return tls;
  for (const [type, text, make] of TABLE) {
    if (error instanceof type) return make(`${prefix}: ${text}`, options);
  }
  if (
    error instanceof Error && error.constructor === Error &&
    error.message.includes("failed to lookup address") &&
    /temporary failure in name resolution/i.test(error.message)
  ) {
    // EAI_AGAIN: as lookupHostname() reports it.
    const elapsed = context.elapsed;
    return new TimeoutError(
      `${prefix}: the name server did not answer (the system resolver gave up${
        elapsed === undefined ? "" : ` after ${formatMs(elapsed)} ms`
      }; check the name servers in /etc/resolv.conf, or try again later)`,
      Math.round(elapsed ?? 0),
      options,
    );
  }
  if (
    error instanceof Error && error.constructor === Error &&
    error.message.includes("failed to lookup address")
  ) {
    return new HostNotFoundError(
      `${prefix}: host not found (check the spelling of "${
        context.address?.hostname ?? ""
      }")`,
      options,
    );
  }
  const code = errorCode(error);
  if (code !== undefined && code in CODES) {
    return new SocketError(`${prefix}: ${CODES[code]}`, options);
  }
  if (
    error instanceof Error &&
    (error.name in Deno.errors ||
      (code !== undefined && /^E[A-Z]+$/.test(code)))
  ) {
    return new SocketError(`${prefix}: ${error.message}`, options);
  }
  return error;
}
