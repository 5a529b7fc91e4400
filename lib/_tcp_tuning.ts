// The TCP options of one connection, as last set (Deno has no
// getsockopt()). TCP_NODELAY is on by default, and set just before the
// connection's second write: Nagle's algorithm never holds back the first,
// so a one-shot connection is spared the system call.
import { mapError } from "./_map_error.ts";
import type { WriteBuffer, WriteWatcher } from "./_write_buffer.ts";
import { ConnectionClosedError } from "./errors.ts";

/** The names of the options. */
export type TcpOptionName = "noDelay" | "keepAlive";

/** What a setting needs to know of its socket, for its messages. */
export interface TuningContext {
  /** The socket is closed; `closeError` says why when it was cut. */
  closed: boolean;
  closeError: ConnectionClosedError | undefined;
  /** The peer, for messages. */
  peer: string;
}

/** TCP_NODELAY and SO_KEEPALIVE of one TCP connection. */
export class TcpTuning implements WriteWatcher {
  noDelay = true;
  keepAlive = false;
  readonly #conn: Deno.TcpConn;
  readonly #out: WriteBuffer;
  #written = false;

  constructor(conn: Deno.TcpConn, out: WriteBuffer) {
    this.#conn = conn;
    this.#out = out;
    out.watcher = this;
  }

  beforeWrite(): void {
    if (!this.#written) {
      this.#written = true;
      return;
    }
    this.settle();
  }

  /** Sets TCP_NODELAY now if it is still to be set later (before STARTTLS). */
  settle(): void {
    if (this.#out.watcher !== this) return;
    this.#out.watcher = undefined;
    try {
      this.#conn.setNoDelay(true);
    } catch {
      // The peer may be gone; the next write or the handshake will tell.
    }
  }

  /** Sets an option now; its error names the connection. */
  set(name: TcpOptionName, value: boolean, context: TuningContext): void {
    if (name === "noDelay" && this.#out.watcher === this) {
      this.#out.watcher = undefined;
    }
    const what = name === "noDelay"
      ? "set TCP_NODELAY on"
      : "set SO_KEEPALIVE on";
    if (context.closed) {
      throw context.closeError ?? new ConnectionClosedError(
        `Cannot ${what} the connection to ${context.peer}: the socket is closed`,
      );
    }
    try {
      if (name === "noDelay") this.#conn.setNoDelay(value);
      else this.#conn.setKeepAlive(value);
    } catch (error) {
      throw mapError(error, {
        action: `${what} the connection to ${context.peer}`,
      });
    }
    this[name] = value;
  }
}

/**
 * Throws a TypeError when `name` is no option, or `conn` has no TCP
 * options (`verb` is "set" or "read").
 */
export function checkOptionName(
  name: unknown,
  verb: string,
  conn: Deno.Conn,
): asserts name is TcpOptionName {
  if (name !== "noDelay" && name !== "keepAlive") {
    throw new TypeError(
      `Cannot ${verb} the socket option ${
        typeof name === "string" ? JSON.stringify(name) : String(name)
      }: the options are "noDelay" and "keepAlive"`,
    );
  }
  if ("handshake" in conn) {
    throw new TypeError(
      `Cannot ${verb} ${name} on a TLS socket: Deno's TLS connections have no socket options`,
    );
  }
  if (!("setNoDelay" in conn)) {
    throw new TypeError(
      `Cannot ${verb} ${name} on a ${
        conn.remoteAddr.transport === "unix" ? "Unix" : "non-TCP"
      } socket: it has no TCP options`,
    );
  }
}
