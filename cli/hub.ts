// `sock listen --keep-open`: every client served at once. What each client
// sends goes to stdout as it comes; stdin goes to every client connected
// when it is read, and is not read while none is. With `--broker`, what a
// client sends goes to the other clients too: a chat, with sock's own
// stdin and stdout as one more member.
import {
  EndOfStreamError,
  formatLisp,
  LispLimitError,
  LispReadError,
  PermissionError,
  readLisp,
  type Socket,
} from "../mod.ts";
import {
  CrlfWriter,
  HexDump,
  IdleTimer,
  type Input,
  note,
  StdoutClosed,
  warn,
  writeOut,
} from "./io.ts";
import type { Options } from "./options.ts";
import { TypedForms } from "./session.ts";
import { type Acceptor, handshake, peerOf } from "./transport.ts";

const encoder = new TextEncoder();

/**
 * How long a client that has ended its stream stays connected with
 * nothing sent to it (a single session's linger).
 */
const LINGER = 500;

/** One connected client. */
interface Client {
  readonly socket: Socket;
  readonly name: string;
  /** Writes `bytes` and flushes; a failure drops the client. */
  send(bytes: Uint8Array | string): Promise<void>;
  /** Half-closes the connection: stdin has ended. */
  end(): Promise<void>;
}

/** Runs the listener until Ctrl-C (or `-q` after the end of stdin). */
export async function runHub(
  acceptor: Acceptor,
  input: Input,
  options: Options,
): Promise<void> {
  const clients = new Set<Client>();
  let someone: (() => void) | undefined;
  // stdout is written by every client's loop: one write at a time.
  let printing: Promise<void> = Promise.resolve();
  const hex = options.hex ? new HexDump() : undefined;
  const print = (bytes: Uint8Array | string): Promise<void> => {
    const data = typeof bytes === "string"
      ? encoder.encode(bytes)
      : hex
      ? encoder.encode(hex.format(bytes))
      : bytes.slice();
    printing = printing.then(() => writeOut(data));
    return printing;
  };
  let failed: (error: unknown) => void;
  const failure = new Promise<never>((_, reject) => failed = reject);

  let count = 0;
  const serveClient = async (socket: Socket): Promise<void> => {
    count++;
    const name = "path" in socket.remoteAddr
      ? `${peerOf(socket)} #${count}`
      : peerOf(socket);
    try {
      await handshake(socket);
    } catch (error) {
      warn(`${name}: ${messageOf(error)}`);
      await socket.close({ abort: true });
      return;
    }
    const stop = new AbortController();
    let idled = false;
    using idle = new IdleTimer(options.idleTimeout, () => {
      idled = true;
      stop.abort();
    });
    // The client's end of stream does not end the connection at once:
    // stdin may still have lines for it. It ends when stdin has, or after
    // LINGER with nothing sent to it, as a single session's does.
    const ended = Promise.withResolvers<void>();
    let lastSent = 0;
    stop.signal.addEventListener("abort", () => ended.resolve());
    const client: Client = {
      socket,
      name,
      async end() {
        await socket.closeWrite().catch(() => {});
        ended.resolve();
      },
      async send(bytes) {
        try {
          await socket.write(bytes);
          await socket.flush({ signal: stop.signal });
          idle.touch();
          lastSent = performance.now();
        } catch (error) {
          if (!stop.signal.aborted) {
            warn(`${name}: ${messageOf(error)}`);
            stop.abort();
          }
        }
      },
    };
    clients.add(client);
    note(options.quiet, `connection from ${name}`);
    if (input.ended) await client.end();
    someone?.();
    try {
      await receive(socket, stop.signal, async (bytes) => {
        idle.touch();
        if (options.broker) {
          const others = [...clients].filter((other) => other !== client);
          await Promise.all([
            print(bytes),
            ...others.map((other) => other.send(bytes)),
          ]);
        } else await print(bytes);
      });
      lastSent = performance.now();
      for (;;) {
        const left = LINGER - (performance.now() - lastSent);
        if (left <= 0) break;
        let timer: ReturnType<typeof setTimeout> | undefined;
        const over = await Promise.race([
          ended.promise.then(() => true),
          new Promise<false>((resolve) => {
            timer = setTimeout(() => resolve(false), left);
          }),
        ]);
        clearTimeout(timer);
        if (over) break;
      }
    } catch (error) {
      // A missing grant, or stdout's reader gone: the end for everyone.
      if (error instanceof PermissionError || error instanceof StdoutClosed) {
        failed(error);
      } else if (!stop.signal.aborted) warn(`${name}: ${messageOf(error)}`);
      else if (idled) {
        warn(
          `${name}: no data either way for ${options.idleTimeout} ms: closed the connection (--idle-timeout)`,
        );
      }
    } finally {
      clients.delete(client);
      stop.abort();
      await socket.close({ abort: true }).catch(() => {});
      note(options.quiet, `${name} closed`);
    }
  };

  const receive = options.lisp ? receiveLisp : receiveBytes;

  const accepting = (async () => {
    for (;;) {
      const socket = await acceptor.accept();
      serveClient(socket).catch((error) => failed(error));
    }
  })();

  const sending = (async () => {
    const crlf = options.crlf ? new CrlfWriter() : undefined;
    const typed = options.lisp ? new TypedForms() : undefined;
    for (;;) {
      if (clients.size === 0) {
        await new Promise<void>((resolve) => someone = resolve);
        someone = undefined;
        continue;
      }
      const chunk = await input.peek();
      if (clients.size === 0 && chunk !== null) continue; // The next one's.
      input.take(chunk);
      if (chunk === null) {
        const last = typed?.add(null);
        await Promise.all(
          [...clients].map(async (client) => {
            if (last) await client.send(last);
            await client.end();
          }),
        );
        return;
      }
      const bytes = typed
        ? typed.add(chunk)
        : crlf
        ? crlf.convert(chunk)
        : chunk;
      if (bytes.length === 0) continue;
      await Promise.all([...clients].map((client) => client.send(bytes)));
    }
  })();

  const quit = sending.then(() =>
    options.quitAfter === undefined
      ? new Promise<never>(() => {})
      : new Promise<void>((resolve) => setTimeout(resolve, options.quitAfter))
  );
  await Promise.race([accepting, quit, failure]);
}

/** Hands each chunk that arrives to `got`, until the end of stream. */
async function receiveBytes(
  socket: Socket,
  signal: AbortSignal,
  got: (bytes: Uint8Array) => Promise<void>,
): Promise<void> {
  const buffer = new Uint8Array(64 * 1024);
  for (;;) {
    const n = await socket.read(buffer, { signal });
    if (n === null) return;
    await got(buffer.subarray(0, n));
  }
}

/** Hands each Lisp datum that arrives to `got`, one a line. */
async function receiveLisp(
  socket: Socket,
  signal: AbortSignal,
  got: (bytes: Uint8Array) => Promise<void>,
): Promise<void> {
  for (;;) {
    let datum;
    try {
      datum = await readLisp(socket, { signal });
    } catch (error) {
      if (error instanceof EndOfStreamError) return;
      if (error instanceof LispReadError || error instanceof LispLimitError) {
        warn(`the peer sent what Lisp cannot read: ${error.message}`);
        const { bytes } = await socket.peek(false, { signal });
        const lf = bytes.indexOf(10);
        socket.consume(lf >= 0 ? lf + 1 : bytes.length);
        continue;
      }
      throw error;
    }
    await got(encoder.encode(`${formatLisp(datum)}\n`));
  }
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
