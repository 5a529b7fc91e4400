/**
 * What a timeout costs a read that has to wait, paired: rounds alternate
 * reads without a timeout and the same reads with one, and the table gives
 * the median nanoseconds per read of each and their ratio.
 *
 * - `memory`: `readLine()` over an in-memory connection whose every read
 *   brings one line at once, so a read is nothing but the socket's own
 *   work: the queue, the wait and the deadline.
 * - `loopback`: a ping-pong of one line over 127.0.0.1, both ends reading
 *   with `readLine()`; the system calls dominate, the deadline is the
 *   difference.
 *
 * ```sh
 * deno run --allow-net=127.0.0.1 bench/read_timeout.ts [--rounds 7] [--reads 200000]
 * ```
 *
 * @module
 */
import { parseArgs } from "node:util";
import { connect, listen, Socket } from "../mod.ts";
import { median } from "./_stats.ts";

const LINE = new TextEncoder().encode("x\n");

/** A connection whose every read brings one line at once; for the bench only. */
function memoryConn(): Deno.Conn {
  const addr: Deno.NetAddr = {
    transport: "tcp",
    hostname: "127.0.0.1",
    port: 1,
  };
  return {
    localAddr: addr,
    remoteAddr: addr,
    rid: -1,
    read(into: Uint8Array): Promise<number | null> {
      into.set(LINE);
      return Promise.resolve(LINE.length);
    },
    write(p: Uint8Array): Promise<number> {
      return Promise.resolve(p.length);
    },
    close() {},
    closeWrite(): Promise<void> {
      return Promise.resolve();
    },
    ref() {},
    unref() {},
    [Symbol.dispose]() {},
  } as unknown as Deno.Conn;
}

async function memoryRound(reads: number, timeout: boolean): Promise<number> {
  const socket = new Socket(memoryConn());
  const options = timeout ? { timeout: 10_000 } : undefined;
  const start = performance.now();
  for (let i = 0; i < reads; i++) await socket.readLine(options);
  const ns = (performance.now() - start) * 1e6 / reads;
  await socket.close();
  return ns;
}

async function loopbackRound(
  reads: number,
  timeout: boolean,
): Promise<number> {
  using listener = listen({ port: 0 });
  await using client = await connect({ port: listener.port });
  await using server = await listener.accept();
  const options = timeout ? { timeout: 10_000 } : undefined;
  const echo = (async () => {
    for (;;) {
      const line = await server.readLine(options);
      if (line === null) return;
      await server.write("y\n");
      await server.flush(options);
    }
  })();
  const trips = reads / 2;
  const start = performance.now();
  for (let i = 0; i < trips; i++) {
    await client.write("x\n");
    await client.flush(options);
    await client.readLine(options);
  }
  const ns = (performance.now() - start) * 1e6 / reads;
  await client.closeWrite();
  await echo;
  return ns;
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      rounds: { type: "string", default: "7" },
      reads: { type: "string", default: "200000" },
    },
  });
  const rounds = Number(values.rounds);
  const reads = Number(values.reads);
  const rows: string[] = [];
  for (
    const [name, round, n] of [
      ["memory", memoryRound, reads],
      ["loopback", loopbackRound, Math.max(2, Math.round(reads / 10))],
    ] as const
  ) {
    const plain: number[] = [];
    const timed: number[] = [];
    const ratios: number[] = [];
    await round(n / 10, false);
    await round(n / 10, true);
    for (let r = 0; r < rounds; r++) {
      // Which goes first alternates from round to round.
      let without: number;
      let withTimeout: number;
      if (r % 2 === 0) {
        without = await round(n, false);
        withTimeout = await round(n, true);
      } else {
        withTimeout = await round(n, true);
        without = await round(n, false);
      }
      plain.push(without);
      timed.push(withTimeout);
      ratios.push(withTimeout / without);
    }
    const range = `${Math.min(...ratios).toFixed(2)}–${
      Math.max(...ratios).toFixed(2)
    }`;
    rows.push(
      `| ${name} | ${median(plain).toFixed(0)} | ${
        median(timed).toFixed(0)
      } | ${median(ratios).toFixed(2)} (${range}) |`,
    );
  }
  console.log("| reads | ns/read, no timeout | ns/read, timeout | ratio |");
  console.log("|---|---|---|---|");
  for (const row of rows) console.log(row);
}
