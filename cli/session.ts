// One connection of `sock`: stdin to the socket, the socket to stdout,
// until the peer closes. Bytes as they are, or Lisp data both ways.
import {
  EndOfStreamError,
  formatLisp,
  LispLimitError,
  LispReadError,
  readDatum,
  readLisp,
  type Socket,
} from "../mod.ts";
import { Failure } from "../examples/_common/cli.ts";
import {
  CrlfWriter,
  HexDump,
  IdleTimer,
  type Input,
  printLine,
  warn,
  writeOut,
} from "./io.ts";
import type { Options } from "./options.ts";
import { Progress, progressMode } from "./progress.ts";

/** What the loop sending stdin sees once the other loop has finished. */
const OVER: unique symbol = Symbol("over");

/** The reason a session stops when `-q` says it is time. */
const QUIT: unique symbol = Symbol("quit");

const encoder = new TextEncoder();
const LF = 10;

/** The most one read from the socket takes, straight into one array. */
const RECEIVE_CHUNK = 256 * 1024;

/**
 * How long stdin may still be sent after the peer has ended its stream,
 * counted from the last chunk: the peer may have only half-closed, and
 * input already on its way (a pipe) should reach it. Like socat's `-t`.
 */
const LINGER = 500;

/** What a session moved, and who wants to know when it starts moving. */
export interface Traffic {
  /** Bytes received from the peer. */
  received: number;
  /** Bytes sent to the peer. */
  sent: number;
  /** Called once, when the first byte goes either way. */
  onFirst?: () => void;
  /**
   * Connect: the address, when a plain connection should fail in one line
   * if the server answers with a TLS record.
   */
  plainTo?: string;
}

/** Counts `n` bytes moved one way, calling `onFirst` on the first. */
function count(traffic: Traffic, way: "received" | "sent", n: number): void {
  if (n === 0) return;
  if (traffic.received === 0 && traffic.sent === 0) traffic.onFirst?.();
  traffic[way] += n;
}

/** A TLS record's first bytes: an alert (21) of TLS 1.x. */
function isTlsAlert(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === 0x15 && bytes[1] === 0x03;
}

/**
 * Fails when a plain connection's first bytes are a TLS alert: the
 * server speaks TLS.
 */
async function refuseTls(
  socket: Socket,
  address: string,
  signal: AbortSignal,
): Promise<void> {
  const { bytes } = await socket.peek(false, { signal });
  if (isTlsAlert(bytes)) {
    throw new Failure(
      `${address} looks like a TLS server: add --tls (and --ca-cert FILE for a private CA)`,
    );
  }
}

/** The two loops of a session. */
interface Loops {
  /** Sends what `next()` gives until it ends. */
  send(next: () => Promise<Uint8Array | null | typeof OVER>): Promise<void>;
  /** Prints what arrives until the peer ends the stream. */
  receive(): Promise<void>;
}

/**
 * Runs one connection to its end: the peer's end of stream (then stdin is
 * sent on for a moment, see LINGER), or a failure, or the idle timeout.
 *
 * @returns What moved each way.
 */
export async function runSession(
  socket: Socket,
  input: Input,
  options: Options,
  traffic: Traffic = { received: 0, sent: 0 },
): Promise<Traffic> {
  const idleStop = new AbortController();
  using idle = new IdleTimer(options.idleTimeout, () =>
    idleStop.abort(
      new Failure(
        `no data either way for ${options.idleTimeout} ms: closed the connection (--idle-timeout)`,
      ),
    ));
  // -q: once stdin has ended, the session ends this much later.
  const quit = new AbortController();
  let quitTimer: ReturnType<typeof setTimeout> | undefined;
  const quitLater = () => {
    if (options.quitAfter === undefined) return;
    quitTimer = setTimeout(() => quit.abort(QUIT), options.quitAfter);
  };
  using _quitTimer = { [Symbol.dispose]: () => clearTimeout(quitTimer) };
  using _progress = new Progress(
    traffic,
    options.lisp ? "off" : progressMode(options.progress),
  );
  const make = options.lisp ? lispLoops : byteLoops;
  const signal = AbortSignal.any([idleStop.signal, quit.signal]);
  const loops = make(socket, options, idle, signal, traffic, input);
  const { plainTo } = traffic;
  const receiving =
    (plainTo === undefined || socket.tls
      ? loops.receive()
      : refuseTls(socket, plainTo, signal).then(() => loops.receive()))
      .catch((error) => {
        if (error !== QUIT) throw error;
      });
  let ended = false;
  let failed = false;
  const over = receiving.then((): typeof OVER => {
    ended = true;
    return OVER;
  }, (): typeof OVER => {
    failed = true;
    return OVER;
  });
  const next = async (): Promise<Uint8Array | null | typeof OVER> => {
    for (;;) {
      const wait = ended ? delay(LINGER) : undefined;
      const chunk = await Promise.race([input.peek(), wait?.done ?? over]);
      wait?.cancel();
      if (chunk === OVER) {
        if (failed) return OVER;
        continue; // The peer ended: linger.
      }
      if (chunk === undefined) return OVER;
      input.take(chunk);
      if (chunk === null) quitLater();
      return chunk;
    }
  };
  const sent = loops.send(next).then(() => undefined, (error) => error);
  // A failure to send before the peer ended is the session's failure;
  // after it, the peer may be gone for good, which is its end, not ours.
  await Promise.race([
    receiving,
    sent.then((error) => {
      if (error !== undefined && !ended) throw error;
      return receiving;
    }),
  ]);
  await sent;
  return traffic;
}

/** A timer that resolves `done` (with undefined) after `ms`, unless cancelled. */
function delay(ms: number): { done: Promise<undefined>; cancel(): void } {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const done = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), ms);
  });
  return { done, cancel: () => clearTimeout(timer) };
}

function byteLoops(
  socket: Socket,
  options: Options,
  idle: IdleTimer,
  signal: AbortSignal,
  traffic: Traffic,
  input: Input,
): Loops {
  return {
    async send(next) {
      const crlf = options.crlf ? new CrlfWriter() : undefined;
      for (;;) {
        const chunk = await next();
        if (chunk === OVER) return;
        if (chunk === null) {
          await socket.closeWrite();
          return;
        }
        idle.touch();
        const bytes = crlf ? crlf.convert(chunk) : chunk;
        // The next read of stdin goes on while this chunk is sent (not
        // before a first chunk has gone: that one may be given back).
        if (traffic.sent > 0) input.peek().catch(() => {});
        try {
          await socket.write(bytes);
          await socket.flush({ signal });
        } catch (error) {
          // A peer gone before any byte went either way had none of it:
          // the chunk is the next peer's.
          if (traffic.received === 0 && traffic.sent === 0) {
            input.untake(chunk);
          }
          throw error;
        }
        count(traffic, "sent", bytes.length);
      }
    },
    async receive() {
      // Two arrays in turn: the next read fills one while stdout takes
      // the other.
      let buffer = new Uint8Array(RECEIVE_CHUNK);
      let spare = new Uint8Array(RECEIVE_CHUNK);
      const hex = options.hex ? new HexDump() : undefined;
      let reading = socket.read(buffer, { signal });
      try {
        for (;;) {
          const n = await reading;
          if (n === null) return;
          count(traffic, "received", n);
          idle.touch();
          const bytes = buffer.subarray(0, n);
          [buffer, spare] = [spare, buffer];
          reading = socket.read(buffer, { signal });
          await writeOut(hex ? encoder.encode(hex.format(bytes)) : bytes);
        }
      } finally {
        // A read still waiting when stdout failed: its end is no one's.
        reading.catch(() => {});
      }
    },
  };
}

/** A Lisp reader's complaint about input, to report and skip. */
function isBadLisp(error: unknown): error is LispReadError {
  return error instanceof LispReadError || error instanceof LispLimitError;
}

function lispLoops(
  socket: Socket,
  _options: Options,
  idle: IdleTimer,
  signal: AbortSignal,
  traffic: Traffic,
): Loops {
  return {
    async send(next) {
      const typed = new TypedForms();
      for (;;) {
        const chunk = await next();
        if (chunk === OVER) return;
        const forms = typed.add(chunk);
        if (forms !== "") {
          idle.touch();
          await socket.write(forms);
          await socket.flush({ signal });
          count(traffic, "sent", forms.length);
        }
        if (chunk === null) {
          await socket.closeWrite();
          return;
        }
      }
    },
    async receive() {
      for (;;) {
        let datum;
        try {
          datum = await readLisp(socket, { signal });
        } catch (error) {
          if (error instanceof EndOfStreamError) return;
          if (!isBadLisp(error)) throw error;
          warn(`the peer sent what Lisp cannot read: ${error.message}`);
          await skipLine(socket, signal);
          continue;
        }
        count(traffic, "received", 1);
        idle.touch();
        await printLine(formatLisp(datum));
      }
    },
  };
}

/** Drops the rest of the line the socket's buffer starts with. */
async function skipLine(socket: Socket, signal: AbortSignal): Promise<void> {
  const { bytes } = await socket.peek(false, { signal });
  const lf = bytes.indexOf(LF);
  socket.consume(lf >= 0 ? lf + 1 : bytes.length);
}

/**
 * The Lisp forms typed on stdin, as they complete: each one printed as
 * `~s` prints it, with a space after it. A form may span lines; input
 * Lisp cannot read is reported in one line and the rest of its line is
 * dropped.
 */
export class TypedForms {
  #pending: Uint8Array = new Uint8Array(0);
  #skipping = false;

  /**
   * Takes a chunk of input (null: the end of it).
   *
   * @returns The forms it completed, printed, each followed by a space.
   */
  add(chunk: Uint8Array | null): string {
    const eof = chunk === null;
    let bytes = this.#pending;
    if (chunk !== null) {
      bytes = new Uint8Array(bytes.length + chunk.length);
      bytes.set(this.#pending);
      bytes.set(chunk, this.#pending.length);
    }
    let at = 0;
    if (this.#skipping) {
      const lf = bytes.indexOf(LF);
      if (lf < 0) {
        this.#pending = new Uint8Array(0);
        return "";
      }
      this.#skipping = false;
      at = lf + 1;
    }
    let out = "";
    for (;;) {
      let result;
      try {
        result = readDatum(bytes, at, bytes.length, eof);
      } catch (error) {
        if (!isBadLisp(error)) throw error;
        warn(error.message);
        const lf = bytes.indexOf(LF, Math.max(at, error.offset));
        if (lf < 0) {
          this.#skipping = !eof;
          at = bytes.length;
          break;
        }
        at = lf + 1;
        continue;
      }
      if (result.kind !== "datum") {
        if (result.kind === "eof") at = bytes.length;
        break;
      }
      out += `${formatLisp(result.datum)} `;
      at = result.next;
    }
    this.#pending = bytes.slice(at);
    return out;
  }
}
