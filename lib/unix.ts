/**
 * Unix domain sockets: the `path` forms of `listen()`, `connect()` and
 * `serve()`.
 *
 * Deno needs three grants for a socket path P, for listening and for
 * connecting alike: `--allow-read=P --allow-write=P --allow-net=unix:P`
 * (the exact path; a directory grant is not accepted).
 *
 * @module
 */
import { Deadline, type WaitOptions } from "./_deadline.ts";
import { mapError } from "./_map_error.ts";
import { AddressInUseError, PermissionError, SocketError } from "./errors.ts";
import type { SocketOptions } from "./socket.ts";

/**
 * Options for `listen({ path })` and `serve(handler, { path })`.
 *
 * @example
 * ```ts ignore
 * import { listen, type UnixListenOptions } from "@sock/sock";
 * import assert from "node:assert/strict";
 *
 * const dir = await Deno.makeTempDir();
 * const options: UnixListenOptions = { path: `${dir}/app.sock` };
 * const listener = await listen(options);
 * assert.equal(listener.path, `${dir}/app.sock`);
 * listener.close();
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export interface UnixListenOptions extends SocketOptions {
  /**
   * The socket file to listen on. A socket file left by a server that
   * crashed is removed first, once a connection to it is refused; a file
   * that is not a socket, or one a live server accepts on, is left alone
   * (`AddressInUseError`). `close()` removes the file.
   */
  path: string;
  /**
   * Told when accepting fails for a reason that does not pass with the
   * next client (see `ListenOptions.onError`).
   *
   * @default {one line on stderr}
   */
  onError?: (error: unknown, where: string) => void;
}

/**
 * Options for `connect({ path })`.
 *
 * @example
 * ```ts
 * import type { UnixConnectOptions } from "@sock/sock";
 * import assert from "node:assert/strict";
 *
 * const options: UnixConnectOptions = { path: "/run/app.sock", timeout: 1000 };
 * assert.equal(options.path, "/run/app.sock");
 * ```
 */
export interface UnixConnectOptions extends SocketOptions, WaitOptions {
  /** The socket file to connect to. */
  path: string;
}

/** Most bytes in a socket path (`sun_path` is 108 bytes with its NUL). */
const MAX_PATH_BYTES = 107;

/** The three flags a path needs, in the order Deno checks them. */
export function unixFlags(path: string): string {
  return `--allow-read=${path} --allow-write=${path} --allow-net=unix:${path}`;
}

/** Throws a TypeError unless `path` can name a Unix socket. */
export function checkSocketPath(path: unknown): string {
  if (typeof path !== "string" || path === "") {
    throw new TypeError(
      `Cannot use path ${JSON.stringify(path)}: it must name a socket file`,
    );
  }
  if (path.includes("\0")) {
    throw new TypeError(
      "Cannot use an abstract socket name (one with a NUL byte): Deno can grant those only with an unscoped --allow-net, so sock takes file paths only",
    );
  }
  if (!path.startsWith("/")) {
    throw new TypeError(
      `Cannot use path ${path}: a socket path must be absolute (start with /), as Deno's --allow-net=unix:PATH grant takes only absolute paths`,
    );
  }
  if (new TextEncoder().encode(path).length > MAX_PATH_BYTES) {
    throw new RangeError(
      `Cannot use path ${path}: a socket path has at most ${MAX_PATH_BYTES} bytes (use a shorter directory)`,
    );
  }
  return path;
}

/** Maps what Deno threw about a socket path, naming all three grants. */
export function mapUnixError(
  error: unknown,
  action: string,
  path: string,
  binding = false,
): unknown {
  if (error instanceof Deno.errors.NotCapable) {
    return new PermissionError(`Cannot ${action}`, unixFlags(path), {
      cause: error,
    });
  }
  if (error instanceof Deno.errors.NotFound) {
    const dir = path.slice(0, path.lastIndexOf("/")) || "/";
    return new SocketError(
      `Cannot ${action}: ${
        binding
          ? `the directory ${dir} does not exist (create it first)`
          : "no such socket file (is the server running?)"
      }`,
      { cause: error },
    );
  }
  if (error instanceof Error && /os error 91\b/.test(error.message)) {
    return new SocketError(
      `Cannot ${action}: it is a datagram socket, not a stream socket (use listenDatagram({ path }) to talk to it)`,
      { cause: error },
    );
  }
  return mapError(error, { action });
}

function isSocketFile(path: string): boolean | undefined {
  try {
    return Deno.lstatSync(path).isSocket === true;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw error;
  }
}

/**
 * Looks at what holds `path` after a bind found it in use: `"live"` when a
 * socket of a running program is bound there, `"not-a-socket"` for any
 * other file (never removed), `"stale"` for a socket file nothing holds (a
 * crashed program's), which is removed.
 */
export async function probeSocketFile(
  path: string,
  action: string,
): Promise<"live" | "stale" | "not-a-socket"> {
  if (isSocketFile(path) !== true) return "not-a-socket";
  if (await isBound(path)) return "live";
  if (isSocketFile(path) === true) {
    try {
      Deno.removeSync(path);
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) {
        throw mapUnixError(error, action, path);
      }
    }
  }
  return "stale";
}

/**
 * True when a running program holds the socket file `path`: a stream
 * connect is accepted, or refused as the wrong type (a datagram socket is
 * bound there). A file nothing holds refuses the connection.
 */
async function isBound(path: string): Promise<boolean> {
  try {
    const probe = await Deno.connect({ transport: "unix", path });
    probe.close();
    return true;
  } catch (error) {
    if (
      error instanceof Deno.errors.ConnectionRefused ||
      error instanceof Deno.errors.NotFound
    ) {
      return false;
    }
    if (error instanceof Error && /os error 91\b/.test(error.message)) {
      return true;
    }
    throw mapUnixError(error, `probe ${path}`, path);
  }
}

/**
 * Opens a Unix stream listener on `path`. A socket file that nothing
 * holds (a crashed server's) is removed first; anything else in the way is
 * an `AddressInUseError` naming the path.
 */
export async function openUnixListener(
  path: string,
): Promise<Deno.UnixListener> {
  const action = `listen on ${path}`;
  try {
    return Deno.listen({ transport: "unix", path });
  } catch (error) {
    if (!(error instanceof Deno.errors.AddrInUse)) {
      throw mapUnixError(error, action, path, true);
    }
  }
  const state = await probeSocketFile(path, action);
  if (state !== "stale") {
    throw new AddressInUseError(
      `Cannot ${action}: ${
        state === "live"
          ? "a running program's socket is bound there (stop it first, or choose another path)"
          : "a file that is not a socket is there; it is left alone (choose another path, or remove it yourself)"
      }`,
    );
  }
  try {
    return Deno.listen({ transport: "unix", path });
  } catch (error) {
    throw error instanceof Deno.errors.AddrInUse
      ? new AddressInUseError(
        `Cannot ${action}: another server took the path while the stale file was removed`,
      )
      : mapUnixError(error, action, path, true);
  }
}

/** Connects to the Unix socket `path`, giving up after `options`' timeout. */
export async function openUnixConn(
  path: string,
  options: WaitOptions,
): Promise<Deno.UnixConn> {
  const action = `connect to ${path}`;
  const { timeout, signal } = options;
  const connecting = Deno.connect({ transport: "unix", path });
  if ((timeout === undefined || timeout === Infinity) && !signal) {
    try {
      return await connecting;
    } catch (error) {
      throw mapUnixError(error, action, path);
    }
  }
  // Deno's Unix connect takes no signal; a local connect answers at once
  // unless the server's backlog is full, and a late one is closed.
  const deadline = new Deadline(options, () => `Cannot ${action}`);
  let gaveUp = false;
  try {
    return await deadline.race(connecting);
  } catch (error) {
    if (deadline.expired) {
      gaveUp = true;
      throw error;
    }
    throw mapUnixError(error, action, path);
  } finally {
    deadline.clear();
    if (gaveUp) connecting.then((c) => c.close(), () => {});
  }
}
