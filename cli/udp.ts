// `sock --udp`: each line of stdin is one datagram; each datagram that
// arrives is written to stdout (or dumped in hex).
import {
  connectDatagram,
  type Datagram,
  type DatagramSocket,
  listenDatagram,
  SocketError,
} from "../mod.ts";
import { hostPort } from "../examples/_common/cli.ts";
import { HexDump, IdleTimer, type Input, note, warn, writeOut } from "./io.ts";
import type { Options } from "./options.ts";
import { needNet } from "./permissions.ts";

const encoder = new TextEncoder();
const LF = 10;
const CR = 13;

/** How long to wait for replies after the end of stdin, unless --idle-timeout says. */
const LINGER = 1000;

/** Splits stdin into lines, each one datagram, its line end included. */
class Lines {
  #pending: Uint8Array = new Uint8Array(0);
  readonly #crlf: boolean;

  constructor(crlf: boolean) {
    this.#crlf = crlf;
  }

  /** The lines a chunk completes; at the end (null), what is left too. */
  add(chunk: Uint8Array | null): Uint8Array[] {
    let bytes = this.#pending;
    if (chunk !== null) {
      bytes = new Uint8Array(bytes.length + chunk.length);
      bytes.set(this.#pending);
      bytes.set(chunk, this.#pending.length);
    }
    const lines: Uint8Array[] = [];
    let at = 0;
    for (let lf = bytes.indexOf(LF); lf >= 0; lf = bytes.indexOf(LF, at)) {
      lines.push(this.#ended(bytes.subarray(at, lf + 1)));
      at = lf + 1;
    }
    this.#pending = bytes.slice(at);
    if (chunk === null && this.#pending.length > 0) {
      lines.push(this.#pending);
      this.#pending = new Uint8Array(0);
    }
    return lines;
  }

  #ended(line: Uint8Array): Uint8Array {
    if (!this.#crlf || line.at(-2) === CR) return line;
    const out = new Uint8Array(line.length + 1);
    out.set(line.subarray(0, -1));
    out[line.length - 1] = CR;
    out[line.length] = LF;
    return out;
  }
}

/**
 * Runs `sock connect --udp` or `sock listen --udp` until the end: after
 * the end of stdin, until no datagram has come for a while; always on
 * `--idle-timeout`.
 */
export async function runDatagrams(
  options: Options,
  input: Input,
): Promise<void> {
  const address = hostPort(options.host, options.port);
  let socket: DatagramSocket;
  if (options.mode === "connect") {
    const ip = /^localhost\.?$/i.test(options.host)
      ? "127.0.0.1"
      : options.host;
    const local = ip === "::1"
      ? "::1"
      : ip.startsWith("127.")
      ? "127.0.0.1"
      : ip.includes(":")
      ? "::"
      : "0.0.0.0";
    await needNet(
      [[local, 0], [ip, options.port]],
      `send datagrams to ${address}`,
      true,
    );
    socket = connectDatagram({
      remoteHostname: options.host,
      remotePort: options.port,
    });
  } else {
    await needNet(
      [[options.host, options.port]],
      `listen for datagrams on ${address}`,
      true,
    );
    socket = listenDatagram({ hostname: options.host, port: options.port });
    note(
      options.quiet,
      `listening for datagrams on ${
        hostPort(socket.addr.hostname, socket.port)
      }`,
    );
  }
  using _socket = socket;
  const stop = new AbortController();
  let lingering = false;
  using idle = new IdleTimer(
    options.idleTimeout ?? options.quitAfter ?? LINGER,
    () => stop.abort(),
    options.idleTimeout === undefined
      ? () => lingering && options.mode === "connect"
      : () => true,
  );
  const hex = options.hex ? new HexDump() : undefined;
  let peer: Deno.NetAddr | undefined = socket.remoteAddr;

  const receiving = (async () => {
    for (;;) {
      let datagram: Datagram;
      try {
        datagram = await socket.receive({ signal: stop.signal });
      } catch (error) {
        if (stop.signal.aborted) return;
        throw error;
      }
      const from = datagram.remoteAddr;
      if (options.mode === "listen") {
        if (peer === undefined || options.keepOpen) {
          if (!sameAddr(peer, from)) {
            note(
              options.quiet,
              `datagrams from ${hostPort(from.hostname, from.port)}`,
            );
          }
          peer = from;
        } else if (!sameAddr(peer, from)) continue;
      }
      idle.touch();
      await writeOut(
        hex ? encoder.encode(hex.format(datagram.data)) : datagram.data,
      );
    }
  })();

  const sending = (async () => {
    const lines = new Lines(options.crlf);
    for (;;) {
      const chunk = await Promise.race([input.peek(), receiving]);
      if (chunk === undefined) return;
      input.take(chunk);
      for (const line of lines.add(chunk)) {
        idle.touch();
        if (peer === undefined) {
          warn(
            "no datagram has come yet, so there is no one to send to: line dropped",
          );
          continue;
        }
        try {
          await socket.send(line, options.mode === "listen" ? peer : undefined);
        } catch (error) {
          if (
            !(error instanceof SocketError) || error.name === "PermissionError"
          ) {
            throw error;
          }
          warn(error.message);
        }
      }
      if (chunk === null) {
        lingering = true;
        idle.touch();
        return;
      }
    }
  })();
  await Promise.race([receiving, sending.then(() => receiving)]);
}

function sameAddr(a: Deno.NetAddr | undefined, b: Deno.NetAddr): boolean {
  return a !== undefined && a.hostname === b.hostname && a.port === b.port;
}
