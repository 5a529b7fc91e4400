/**
 * The baselines: each scenario's server written the obvious way on
 * `Deno.listen` / `Deno.listenDatagram` and nothing else. Prints
 * `listening <port>` once it is ready.
 *
 * ```sh
 * deno run --allow-net=127.0.0.1 --unstable-net bench/raw_server.ts <scenario> [port] [reuse-port]
 * ```
 *
 * @module
 */

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Writes all of `bytes`; `conn.write()` may take only part of them. */
async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  while (bytes.length > 0) bytes = bytes.subarray(await conn.write(bytes));
}

/** Accepts until the listener closes; a client that resets early is skipped. */
async function acceptLoop(
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

/** Sum: read "A B ", reply with A+B, close. */
async function sum(conn: Deno.Conn): Promise<void> {
  const buf = new Uint8Array(1024);
  let text = "";
  for (;;) {
    const n = await conn.read(buf);
    if (n === null) return;
    text += decoder.decode(buf.subarray(0, n));
    const words = text.trimStart().split(/\s+/);
    if (words.length >= 3) {
      const reply = String(BigInt(words[0]!) + BigInt(words[1]!));
      await writeAll(conn, encoder.encode(reply));
      return;
    }
  }
}

/** Line protocol: "A B\n" → "SUM\n", a write per reply. */
async function line(conn: Deno.Conn): Promise<void> {
  // Without it, replies written one by one wait on Nagle's algorithm and
  // the peer's delayed ACK: 40 ms stalls when requests are pipelined.
  (conn as Deno.TcpConn).setNoDelay(true);
  const buf = new Uint8Array(65536);
  let text = "";
  for (;;) {
    const n = await conn.read(buf);
    if (n === null) return;
    text += decoder.decode(buf.subarray(0, n));
    let lf: number;
    while ((lf = text.indexOf("\n")) >= 0) {
      const [a, b] = text.slice(0, lf).split(" ");
      text = text.slice(lf + 1);
      await writeAll(conn, encoder.encode(`${Number(a) + Number(b)}\n`));
    }
  }
}

/** Bulk echo: 64 KiB reads, each written back. */
async function echo(conn: Deno.Conn): Promise<void> {
  (conn as Deno.TcpConn).setNoDelay(true);
  const buf = new Uint8Array(65536);
  for (;;) {
    const n = await conn.read(buf);
    if (n === null) return;
    await writeAll(conn, buf.subarray(0, n));
  }
}

/** Idle: wait for one line, answer it, close. */
async function idle(conn: Deno.Conn): Promise<void> {
  const buf = new Uint8Array(1024);
  let text = "";
  for (;;) {
    const n = await conn.read(buf);
    if (n === null) return;
    text += decoder.decode(buf.subarray(0, n));
    const lf = text.indexOf("\n");
    if (lf >= 0) {
      await writeAll(conn, encoder.encode(text.slice(0, lf + 1)));
      return;
    }
  }
}

/** UDP reverse: each datagram is sent back reversed. */
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
