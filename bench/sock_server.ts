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
import { greet } from "../examples/hello_server.ts";

/** The size of one bulk echo message. */
export const ECHO_CHUNK = 65536;

/**
 * The sum of a request line "A B", the integers parsed from the line's
 * character codes as the raw baseline parses them from its bytes; anything
 * else goes through Number().
 */
function sumLine(text: string): number {
  const space = text.indexOf(" ");
  const a = parseInteger(text, 0, space);
  const b = parseInteger(text, space + 1, text.length);
  if (space < 0 || Number.isNaN(a) || Number.isNaN(b)) {
    return Number(text.slice(0, space)) + Number(text.slice(space + 1));
  }
  return a + b;
}

/** A decimal integer of up to 15 digits in `text[from, to)`; NaN otherwise. */
function parseInteger(text: string, from: number, to: number): number {
  const negative = text.charCodeAt(from) === 0x2d;
  let i = negative ? from + 1 : from;
  if (i >= to || to - i > 15) return NaN;
  let value = 0;
  for (; i < to; i++) {
    const digit = text.charCodeAt(i) - 0x30;
    if (!(digit >= 0 && digit <= 9)) return NaN;
    value = value * 10 + digit;
  }
  return negative ? -value : value;
}

/**
 * Line protocol: "A B\n" → "SUM\n". Every line that has arrived is taken
 * at once, its replies queued (a write into the buffer settles at once, so
 * it is not awaited one by one) and sent with one flush.
 */
async function line(socket: Socket): Promise<void> {
  for (let lines; (lines = await socket.readLines()) !== null;) {
    for (const text of lines) socket.write(`${sumLine(text)}\n`);
    await socket.flush();
  }
}

/** The same with readLine(): a promise per line, flushed once the input runs dry. */
async function lineByLine(socket: Socket): Promise<void> {
  for (;;) {
    const text = await socket.readLine();
    if (text === null) return;
    await socket.write(`${sumLine(text)}\n`);
    if (!socket.hasInput) await socket.flush();
  }
}

/** Bulk echo: 64 KiB messages read with readFull() into one array and written back. */
export async function echo(socket: Socket): Promise<void> {
  const chunk = new Uint8Array(ECHO_CHUNK);
  for (;;) {
    try {
      await socket.readFull(chunk);
    } catch (error) {
      if (error instanceof EndOfStreamError && error.partial.length === 0) {
        return;
      }
      throw error;
    }
    // Copied into the output buffer: `chunk` may be reused at once.
    await socket.write(chunk);
    if (!socket.hasInput) await socket.flush();
  }
}

/**
 * Bulk echo without an array of its own: what has arrived is written back
 * from sock's read buffer (it grows to 256 KiB under load; the write copies
 * it into the output buffer), then consumed.
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

/** One-way receive: read() into one 64 KiB buffer until the end of the stream. */
async function receive(socket: Socket): Promise<void> {
  const buf = new Uint8Array(65536);
  let total = 0;
  for (;;) {
    const n = await socket.read(buf);
    if (n === null) break;
    total += n;
  }
  await socket.write(`${total}\n`);
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
      "line-by-line": lineByLine,
      echo,
      "echo-peek": echoPeek,
      receive,
      hello: (socket) => greet(socket as Socket<Deno.NetAddr>, true),
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
