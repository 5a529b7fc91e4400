/**
 * The baselines: each scenario's server written on `Deno.listen` /
 * `Deno.listenDatagram` and nothing else, the way an engineer who cares
 * about speed writes it: buffers allocated once per connection and reused,
 * requests parsed from the bytes, every reply to what one read brought sent
 * in one write, `setNoDelay(true)` where replies are small and pipelined.
 * Prints `listening <port>` once it is ready.
 *
 * ```sh
 * deno run --allow-net=127.0.0.1 --unstable-net bench/raw_server.ts <scenario> [port] [reuse-port]
 * ```
 *
 * @module
 */

const LF = 0x0a;
const SPACE = 0x20;
const encoder = new TextEncoder();
const decoder = new TextDecoder();
const HELLO = encoder.encode("Hello World\n");

/** Writes all of `bytes`; `conn.write()` may take only part of them. */
async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  while (bytes.length > 0) bytes = bytes.subarray(await conn.write(bytes));
}

/** Accepts until the listener closes; a client that resets early is skipped. */
export async function acceptLoop(
  listener: Deno.Listener,
  handle: (conn: Deno.Conn) => Promise<void>,
): Promise<void> {
  for (;;) {
    let conn: Deno.Conn;
    try {
      conn = await listener.accept();
    } catch (error) {
      if (error instanceof Deno.errors.BadResource) return;
      continue;
    }
    handle(conn).catch(() => {}).finally(() => {
      try {
        conn.close();
      } catch {
        // Already closed.
      }
    });
  }
}

/**
 * Parses a decimal integer of up to 15 digits (an optional `-`, then
 * digits) in `bytes[from, to)`; NaN when it is anything else.
 */
export function parseInteger(
  bytes: Uint8Array,
  from: number,
  to: number,
): number {
  const negative = bytes[from] === 0x2d;
  let i = negative ? from + 1 : from;
  if (i === to || to - i > 15) return NaN;
  let value = 0;
  for (; i < to; i++) {
    const digit = bytes[i]! - 0x30;
    if (digit < 0 || digit > 9) return NaN;
    value = value * 10 + digit;
  }
  return negative ? -value : value;
}

/** Writes `value`, a safe integer, in decimal at `out[at]`; returns the end. */
export function writeInteger(
  out: Uint8Array,
  at: number,
  value: number,
): number {
  if (value < 0) {
    out[at++] = 0x2d;
    value = -value;
  }
  let end = at + 1;
  for (let rest = value; rest >= 10; rest = Math.floor(rest / 10)) end++;
  for (let i = end; i > at;) {
    out[--i] = 0x30 + value % 10;
    value = Math.floor(value / 10);
  }
  return end;
}

/**
 * Sum: read "A B ", reply with A+B, close. Small integers are parsed from
 * the bytes; anything else goes through BigInt, so the answer is exact.
 */
export async function sum(conn: Deno.Conn): Promise<void> {
  const buf = new Uint8Array(1024);
  let have = 0;
  for (;;) {
    const n = await conn.read(buf.subarray(have));
    if (n === null) return;
    have += n;
    // Find "A", "B" and the whitespace that ends B.
    const words: number[] = [];
    let i = 0;
    while (words.length < 4 && i < have) {
      while (i < have && buf[i]! <= SPACE) i++;
      if (i === have) break;
      const start = i;
      while (i < have && buf[i]! > SPACE) i++;
      if (i === have) break;
      words.push(start, i);
    }
    if (words.length < 4) {
      if (have === buf.length) return;
      continue;
    }
    const [a0, a1, b0, b1] = words as [number, number, number, number];
    const a = parseInteger(buf, a0, a1);
    const b = parseInteger(buf, b0, b1);
    const out = new Uint8Array(64);
    if (!Number.isNaN(a) && !Number.isNaN(b)) {
      await writeAll(conn, out.subarray(0, writeInteger(out, 0, a + b)));
    } else {
      const text = String(
        BigInt(decoder.decode(buf.subarray(a0, a1))) +
          BigInt(decoder.decode(buf.subarray(b0, b1))),
      );
      await writeAll(conn, encoder.encode(text));
    }
    return;
  }
}

/**
 * Line protocol: "A B\n" → "SUM\n". The lines are parsed from the bytes
 * of each read, and the replies to all of them go out in one write.
 */
async function line(conn: Deno.Conn): Promise<void> {
  (conn as Deno.TcpConn).setNoDelay(true);
  const buf = new Uint8Array(65536);
  // A reply is at most one byte longer than its request line.
  const out = new Uint8Array(2 * buf.length);
  let have = 0;
  for (;;) {
    const n = await conn.read(buf.subarray(have));
    if (n === null) return;
    const end = have + n;
    // Searches stop at the end of the input.
    const data = buf.subarray(0, end);
    let start = 0;
    let o = 0;
    for (let lf = data.indexOf(LF, have); lf >= 0;) {
      const stop = lf > start && buf[lf - 1] === 0x0d ? lf - 1 : lf;
      const space = data.indexOf(SPACE, start);
      let a = NaN, b = NaN;
      if (space >= 0 && space < stop) {
        a = parseInteger(buf, start, space);
        b = parseInteger(buf, space + 1, stop);
      }
      if (Number.isNaN(a) || Number.isNaN(b)) {
        const [x, y] = decoder.decode(buf.subarray(start, stop)).split(" ");
        o += encoder.encodeInto(
          `${Number(x) + Number(y)}\n`,
          out.subarray(o),
        ).written;
      } else {
        o = writeInteger(out, o, a + b);
        out[o++] = LF;
      }
      start = lf + 1;
      lf = data.indexOf(LF, start);
    }
    if (o > 0) await writeAll(conn, out.subarray(0, o));
    // Keep the unfinished line at the front of the buffer.
    buf.copyWithin(0, start, end);
    have = end - start;
    if (have === buf.length) return; // a line longer than the buffer
  }
}

/** Bulk echo: 64 KiB reads into one buffer, each written back. */
export async function echo(conn: Deno.Conn): Promise<void> {
  if ("setNoDelay" in conn) (conn as Deno.TcpConn).setNoDelay(true);
  const buf = new Uint8Array(65536);
  for (;;) {
    const n = await conn.read(buf);
    if (n === null) return;
    await writeAll(conn, buf.subarray(0, n));
  }
}

/** One-way receive: read into one 64 KiB buffer until the end of the stream. */
async function receive(conn: Deno.Conn): Promise<void> {
  const buf = new Uint8Array(65536);
  let total = 0;
  for (;;) {
    const n = await conn.read(buf);
    if (n === null) break;
    total += n;
  }
  await writeAll(conn, encoder.encode(`${total}\n`));
}

/** Hello: one greeting, then close. */
async function hello(conn: Deno.Conn): Promise<void> {
  await writeAll(conn, HELLO);
}

/** Idle: wait for one line, answer it, close. */
async function idle(conn: Deno.Conn): Promise<void> {
  const buf = new Uint8Array(1024);
  let have = 0;
  for (;;) {
    const n = await conn.read(buf.subarray(have));
    if (n === null) return;
    const lf = buf.subarray(0, have + n).indexOf(LF, have);
    have += n;
    if (lf >= 0) {
      await writeAll(conn, buf.subarray(0, lf + 1));
      return;
    }
    if (have === buf.length) return;
  }
}

/** UDP reverse: each datagram is reversed in the one receive buffer and sent back. */
async function udpReverse(conn: Deno.DatagramConn): Promise<void> {
  const buf = new Uint8Array(65507);
  for (;;) {
    let data: Uint8Array, from: Deno.Addr;
    try {
      [data, from] = await conn.receive(buf);
    } catch {
      return;
    }
    await conn.send(data.reverse(), from);
  }
}

if (import.meta.main) {
  const [scenario, portArg, reuse] = Deno.args;
  const port = Number(portArg ?? 0);
  // Exit cleanly on SIGTERM, so that --cpu-prof can write its profile.
  Deno.addSignalListener("SIGTERM", () => Deno.exit(0));
  if (scenario === "udp") {
    const conn = Deno.listenDatagram({
      transport: "udp",
      hostname: "127.0.0.1",
      port,
    });
    console.log(`listening ${(conn.addr as Deno.NetAddr).port}`);
    await udpReverse(conn);
  } else {
    const handlers: Record<string, (conn: Deno.Conn) => Promise<void>> = {
      sum,
      "idle-sum": sum,
      idle,
      line,
      echo,
      receive,
      hello,
    };
    const handle = handlers[scenario ?? ""];
    if (!handle) throw new Error(`unknown scenario "${scenario}"`);
    const listener = Deno.listen({
      hostname: "127.0.0.1",
      port,
      ...(reuse === "reuse-port" ? { reusePort: true } : {}),
    });
    console.log(`listening ${listener.addr.port}`);
    await acceptLoop(listener, handle);
  }
}
