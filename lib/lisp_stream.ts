/**
 * Lisp data on a socket: {@linkcode readLisp} is Lisp's `read` on a socket
 * stream and {@linkcode writeLisp} is `(format s "~s" x)`.
 *
 * @module
 */
import type { WaitOptions } from "./_deadline.ts";
import { EndOfStreamError } from "./errors.ts";
import {
  formatLisp,
  type LispDatum,
  readDatum,
  type ReadLimits,
} from "./lisp/mod.ts";
import type { Socket } from "./socket.ts";

/** What the parser gives when the stream ends before a datum begins. */
const ENDED: unique symbol = Symbol("ended");

/**
 * Options for {@linkcode readLisp}.
 *
 * @example Tighter limits for a small protocol
 * ```ts
 * import { connect, listen, LispLimitError, readLisp } from "@sock/sock";
 * import assert from "node:assert/strict";
 *
 * using listener = listen({ port: 0 });
 * await using client = await connect({ port: listener.port });
 * await using server = await listener.accept();
 * await client.write("123456789 ");
 * await client.flush();
 * await assert.rejects(
 *   readLisp(server, { limits: { maxTokenLength: 4 }, timeout: 1000 }),
 *   LispLimitError,
 * );
 * ```
 */
export interface ReadLispOptions extends WaitOptions {
  /**
   * Bounds on token length, nesting depth and datum size, so a peer cannot
   * make the reader use unbounded memory or time. A limit left out takes
   * its default.
   *
   * @default {maxTokenLength: 4096, maxDepth: 64, maxDatumLength: 65536}
   */
  limits?: ReadLimits;
}

/**
 * Reads one Lisp datum from a socket, returning as soon as it is complete:
 * a peer that writes `"1 3 "` and waits, without closing its side, gets both
 * numbers read. The end of the stream also ends a token. Nothing is ever
 * evaluated: `#.` is a read error.
 *
 * @param socket The socket to read from.
 * @param options Reader limits, a `timeout` in milliseconds for the whole
 * datum, and an abort `signal`.
 * @returns The datum.
 * @throws {EndOfStreamError} when the stream ends before a datum starts.
 * @throws {LispReadError} when the bytes are not a readable datum; the bad
 * bytes stay buffered.
 *
 * @example Reading what a Lisp peer writes
 * ```ts
 * import { connect, formatLisp, listen, readLisp } from "@sock/sock";
 * import assert from "node:assert/strict";
 *
 * using listener = listen({ port: 0 });
 * await using client = await connect({ port: listener.port });
 * await using server = await listener.accept();
 * await client.write("hello 1.5d0 ");
 * await client.flush();
 * assert.equal(formatLisp(await readLisp(server)), "HELLO");
 * assert.equal(formatLisp(await readLisp(server)), "1.5d0");
 * ```
 */
export function readLisp(
  socket: Socket,
  options: ReadLispOptions = {},
): Promise<LispDatum> {
  const { limits } = options;
  // One read in the socket's queue, however many waits the datum takes:
  // the parser starts over on the buffered bytes each time more arrive.
  return socket.readWith<LispDatum | typeof ENDED>((bytes, eof) => {
    const result = readDatum(bytes, 0, bytes.length, eof, limits);
    if (result.kind === "datum") {
      return { value: result.datum, length: result.next };
    }
    if (result.kind === "eof") return { value: ENDED, length: bytes.length };
    return undefined;
  }, options).then((datum) => {
    if (datum === ENDED || datum === null) {
      throw new EndOfStreamError(
        "Cannot read a Lisp datum: the stream ended before one began",
        new Uint8Array(0),
      );
    }
    return datum;
  });
}

/**
 * Writes a datum the way Lisp's `(format s "~s" x)` prints it. Like every
 * write it is buffered: call `flush()` (Lisp's `force-output`) to send it.
 *
 * @param socket The socket to write to.
 * @param datum The datum to print.
 * @returns The promise of the underlying `write()`.
 *
 * @example Answering with a Lisp number
 * ```ts
 * import { add, connect, listen, parseLisp, readLisp, writeLisp } from "@sock/sock";
 * import type { LispNumber } from "@sock/sock";
 * import assert from "node:assert/strict";
 *
 * using listener = listen({ port: 0 });
 * await using client = await connect({ port: listener.port });
 * await using server = await listener.accept();
 * await writeLisp(server, add(parseLisp("3") as LispNumber, parseLisp("#C(0.0 1.0)") as LispNumber));
 * await server.close();
 * assert.equal(new TextDecoder().decode(await client.readAll()), "#C(3.0 1.0)");
 * ```
 */
export function writeLisp(socket: Socket, datum: LispDatum): Promise<void> {
  return socket.write(formatLisp(datum));
}
