// Shared test fixtures: real sockets on 127.0.0.1, closed when done.
import {
  connect,
  listen,
  type Listener,
  type Socket,
  type SocketOptions,
} from "../mod.ts";

/** A listener with one connected client and the server side of it. */
export interface Pair {
  listener: Listener;
  client: Socket;
  server: Socket;
  [Symbol.asyncDispose](): Promise<void>;
}

/** Opens a listener on 127.0.0.1 port 0 and connects one client to it. */
export async function socketPair(options: SocketOptions = {}): Promise<Pair> {
  const listener = listen({ port: 0, ...options });
  const client = await connect({ port: listener.port, ...options });
  const server = await listener.accept();
  return {
    listener,
    client,
    server,
    async [Symbol.asyncDispose]() {
      await client.close({ abort: true });
      await server.close({ abort: true });
      listener.close();
    },
  };
}

/** A raw Deno connection to `port`, for sending exact chunks. */
export function rawConnect(port: number): Promise<Deno.TcpConn> {
  return Deno.connect({ hostname: "127.0.0.1", port });
}

/** Writes every byte of `data` to a raw connection. */
export async function writeAllRaw(
  conn: Deno.Conn,
  data: Uint8Array | string,
): Promise<void> {
  let view = typeof data === "string" ? new TextEncoder().encode(data) : data;
  while (view.length > 0) view = view.subarray(await conn.write(view));
}

/** Resolves after `ms` milliseconds. */
export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Waits until `check()` is true, polling every few milliseconds, for at most `ms`. */
export async function until(check: () => boolean, ms = 2000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error("Condition not met in time");
    await delay(2);
  }
}

/** Bytes 0, 1, 2, … of length `n`, wrapping at 251 so runs are easy to spot. */
export function pattern(n: number, seed = 0): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = (i + seed) % 251;
  return out;
}
