/**
 * The sock side of each scenario, written as a user of the library would
 * write it. Prints `listening <port>` once it is ready.
 *
 * ```sh
 * deno run --allow-net=127.0.0.1 --unstable-net bench/sock_server.ts <scenario> [port] [reuse-port]
 * ```
 *
 * @module
 */
import {
  EndOfStreamError,
  serve,
  serveDatagram,
  type Server,
  type Socket,
} from "../mod.ts";
import { handleSum } from "../examples/sum_server.ts";

/** The size of one bulk echo message. */
export const ECHO_CHUNK = 65536;

/** Line protocol: "A B\n" → "SUM\n"; replies are buffered and flushed once the input runs dry. */
async function line(socket: Socket): Promise<void> {
  for (;;) {
    const text = await socket.readLine();
    if (text === null) return;
    const space = text.indexOf(" ");
    await socket.write(
      `${Number(text.slice(0, space)) + Number(text.slice(space + 1))}\n`,
    );
    if (!socket.hasInput) await socket.flush();
  }
}

/** Bulk echo: 64 KiB messages read with readExactly() and written back. */
async function echo(socket: Socket): Promise<void> {
  for (;;) {
    let chunk: Uint8Array;
    try {
      chunk = await socket.readExactly(ECHO_CHUNK);
    } catch (error) {
      if (error instanceof EndOfStreamError && error.partial.length === 0) {
        return;
      }
      throw error;
    }
    await socket.write(chunk);
    if (!socket.hasInput) await socket.flush();
  }
}

/**
 * Bulk echo without a copy: what has arrived is written back straight from
 * sock's read buffer (it grows to 256 KiB under load), then consumed.
 */
async function echoPeek(socket: Socket): Promise<void> {
  for (;;) {
    const { bytes, eof } = await socket.peek(false);
    if (bytes.length === 0) {
      if (eof) return;
      continue;
    }
    await socket.write(bytes);
    socket.consume(bytes.length);
    if (!socket.hasInput) await socket.flush();
  }
}

/** Idle: wait for one line, answer it, close. */
async function idleLine(socket: Socket): Promise<void> {
  const text = await socket.readLine();
  await socket.write(`${text}\n`);
}

if (import.meta.main) {
  const [scenario, portArg, reuse] = Deno.args;
  const port = Number(portArg ?? 0);
  // Exit cleanly on SIGTERM, so that --cpu-prof can write its profile.
  Deno.addSignalListener("SIGTERM", () => Deno.exit(0));
  let server: Server;
  if (scenario === "udp") {
    server = serveDatagram(({ data }) => data.reverse(), { port });
  } else {
    const handlers: Record<string, (socket: Socket) => Promise<void>> = {
      sum: handleSum,
      "idle-sum": handleSum,
      idle: idleLine,
      line,
      echo,
      "echo-peek": echoPeek,
    };
    const handler = handlers[scenario ?? ""];
    if (!handler) throw new Error(`unknown scenario "${scenario}"`);
    server = serve(handler, {
      port,
      maxConnections: 100_000,
      ...(reuse === "reuse-port" ? { reusePort: true } : {}),
    });
  }
  console.log(`listening ${server.port}`);
  await server.finished;
}
