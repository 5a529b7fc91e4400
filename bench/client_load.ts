/**
 * The client side: a request/response client of a length-prefixed binary
 * protocol, sock against a raw `Deno.connect` client written as an
 * engineer who cares about speed writes it, both talking to the same raw
 * server. 8 connections with 1 or 32 requests in flight each, with a
 * timeout on every call and without. Rounds alternate sock and raw, each
 * client in a fresh process; the table gives medians, the sock/raw ratios
 * with their per-round range, and the client CPU per request.
 *
 * A request is a 4-byte big-endian length and that many bytes; the server
 * answers each with the same frame.
 *
 * ```sh
 * deno run -A bench/client_load.ts --rounds 3 --duration 3
 * deno run -A bench/client_load.ts --only 8x1 --rounds 5
 * ```
 *
 * @module
 */
import process from "node:process";
import { parseArgs } from "node:util";
import { connect, type Parser } from "../mod.ts";
import { median } from "./_stats.ts";

const CONNECTIONS = 8;
const PAYLOAD = 32;
const TIMEOUT = 5000;

/** One frame: its length, then the payload. */
function frameOf(payload: Uint8Array): Uint8Array {
  const frame = new Uint8Array(4 + payload.length);
  new DataView(frame.buffer).setUint32(0, payload.length);
  frame.set(payload, 4);
  return frame;
}

const REQUEST = frameOf(new Uint8Array(PAYLOAD).fill(0x61));

/** The length of the frame at `at` when it is all in `bytes[at, end)`, else -1. */
function frameAt(bytes: Uint8Array, at: number, end: number): number {
  if (end - at < 4) return -1;
  const n = 4 +
    ((bytes[at]! << 24 | bytes[at + 1]! << 16 | bytes[at + 2]! << 8 |
      bytes[at + 3]!) >>> 0);
  return end - at >= n ? n : -1;
}

// ---- the raw server -------------------------------------------------------

async function serveConn(conn: Deno.Conn): Promise<void> {
  let buf = new Uint8Array(64 * 1024);
  let end = 0;
  try {
    for (;;) {
      if (end === buf.length) {
        const bigger = new Uint8Array(buf.length * 2);
        bigger.set(buf);
        buf = bigger;
      }
      const n = await conn.read(buf.subarray(end));
      if (n === null) return;
      end += n;
      let at = 0;
      for (let k; (k = frameAt(buf, at, end)) > 0;) at += k;
      if (at > 0) {
        // Echo every whole frame in one write, from where it is: nothing
        // is read into the buffer until the write is done.
        const out = buf.subarray(0, at);
        for (let sent = 0; sent < out.length;) {
          sent += await conn.write(out.subarray(sent));
        }
        buf.copyWithin(0, at, end);
        end -= at;
      }
    }
  } catch {
    // The client went away.
  } finally {
    try {
      conn.close();
    } catch {
      // Closed already.
    }
  }
}

async function runServer(): Promise<void> {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  console.log(listener.addr.port);
  for await (const conn of listener) {
    conn.setNoDelay(true);
    serveConn(conn);
  }
}

// ---- the clients ----------------------------------------------------------

interface ClientResult {
  requests: number;
  seconds: number;
  cpuUs: number;
}

const parser: Parser<number> = (bytes) => {
  const n = frameAt(bytes, 0, bytes.length);
  if (n > 0) return { value: n, length: n };
  return bytes.length >= 4 ? frameAt(bytes, 0, Infinity) : undefined;
};

/** A sock connection keeping `depth` requests in flight until `stop()`. */
async function sockConnection(
  port: number,
  depth: number,
  timeout: boolean,
  done: () => boolean,
  count: (n: number) => void,
): Promise<void> {
  await using socket = await connect({ port });
  const options = timeout ? { timeout: TIMEOUT } : undefined;
  if (depth === 1) {
    while (!done()) {
      socket.write(REQUEST);
      await socket.flush(options);
      await socket.readWith(parser, options);
      count(1);
    }
    return;
  }
  for (let i = 0; i < depth; i++) socket.write(REQUEST);
  await socket.flush(options);
  let inFlight = depth;
  while (inFlight > 0) {
    const replies = await socket.readBatch(parser, options);
    if (replies === null) throw new Error("the server ended the stream");
    count(replies.length);
    inFlight -= replies.length;
    if (!done()) {
      for (let i = 0; i < replies.length; i++) socket.write(REQUEST);
      inFlight += replies.length;
      await socket.flush(options);
    }
  }
}

/**
 * The raw client: one read buffer per connection, every whole reply taken
 * per read, the requests for them sent in one write. Its timeout is what a
 * careful raw client does: one timer per connection that checks, every
 * second, that a reply has come within the timeout while requests wait.
 */
async function rawConnection(
  port: number,
  depth: number,
  timeout: boolean,
  done: () => boolean,
  count: (n: number) => void,
): Promise<void> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  conn.setNoDelay(true);
  let lastReply = performance.now();
  let inFlight = 0;
  const watchdog = timeout
    ? setInterval(() => {
      if (inFlight > 0 && performance.now() - lastReply > TIMEOUT) {
        conn.close();
      }
    }, 1000)
    : undefined;
  const batch = new Uint8Array(REQUEST.length * depth);
  for (let i = 0; i < depth; i++) batch.set(REQUEST, i * REQUEST.length);
  const send = async (n: number) => {
    const out = batch.subarray(0, n * REQUEST.length);
    for (let sent = 0; sent < out.length;) {
      sent += await conn.write(out.subarray(sent));
    }
    inFlight += n;
  };
  const buf = new Uint8Array(64 * 1024);
  let end = 0;
  try {
    await send(depth);
    while (inFlight > 0) {
      const n = await conn.read(buf.subarray(end));
      if (n === null) throw new Error("the server ended the stream");
      end += n;
      let at = 0;
      let replies = 0;
      for (let k; (k = frameAt(buf, at, end)) > 0;) {
        at += k;
        replies++;
      }
      if (replies > 0) {
        if (timeout) lastReply = performance.now();
        buf.copyWithin(0, at, end);
        end -= at;
        inFlight -= replies;
        count(replies);
        if (!done()) await send(replies);
      }
    }
  } finally {
    if (watchdog !== undefined) clearInterval(watchdog);
    conn.close();
  }
}

async function runClient(
  impl: string,
  port: number,
  depth: number,
  timeout: boolean,
  seconds: number,
): Promise<ClientResult> {
  const connection = impl === "sock" ? sockConnection : rawConnection;
  let stopped = false;
  let counting = false;
  let requests = 0;
  const count = (n: number) => {
    if (counting) requests += n;
  };
  const running = Array.from(
    { length: CONNECTIONS },
    () => connection(port, depth, timeout, () => stopped, count),
  );
  // A short warm-up, then the measured window.
  await new Promise((resolve) => setTimeout(resolve, 300));
  counting = true;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
  counting = false;
  const elapsed = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  stopped = true;
  await Promise.all(running);
  return { requests, seconds: elapsed, cpuUs: cpu.user + cpu.system };
}

// ---- the runner -----------------------------------------------------------

interface Case {
  key: string;
  depth: number;
  timeout: boolean;
}

const CASES: Case[] = [
  { key: "8x1", depth: 1, timeout: false },
  { key: "8x1-timeout", depth: 1, timeout: true },
  { key: "8x32", depth: 32, timeout: false },
  { key: "8x32-timeout", depth: 32, timeout: true },
];

async function spawnClient(
  impl: string,
  port: number,
  c: Case,
  seconds: number,
): Promise<ClientResult> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-net=127.0.0.1",
      import.meta.filename!,
      "client",
      impl,
      String(port),
      String(c.depth),
      String(c.timeout),
      String(seconds),
    ],
    stderr: "inherit",
  }).output();
  if (!out.success) throw new Error(`the ${impl} client failed`);
  return JSON.parse(new TextDecoder().decode(out.stdout));
}

async function runAll(
  rounds: number,
  seconds: number,
  only: string | undefined,
): Promise<void> {
  const server = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-net=127.0.0.1", import.meta.filename!, "server"],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const reader = server.stdout.pipeThrough(new TextDecoderStream()).getReader();
  const first = await reader.read();
  const port = Number(first.value!.trim());
  await reader.cancel();
  const chosen = CASES.filter((c) =>
    only === undefined || only.split(",").includes(c.key)
  );
  console.log(
    `| client, ${CONNECTIONS} connections | impl | req/s | client CPU µs/req | sock/raw req/s (range) | sock/raw CPU/req |`,
  );
  console.log("|---|---|---|---|---|---|");
  try {
    for (const c of chosen) {
      const runs: Record<string, ClientResult[]> = { sock: [], raw: [] };
      for (let r = 0; r < rounds; r++) {
        const order = r % 2 === 0 ? ["sock", "raw"] : ["raw", "sock"];
        for (const impl of order) {
          runs[impl]!.push(await spawnClient(impl, port, c, seconds));
        }
      }
      const rate = (x: ClientResult) => x.requests / x.seconds;
      const cpu = (x: ClientResult) => x.cpuUs / x.requests;
      const ratios = runs.sock!.map((s, i) => rate(s) / rate(runs.raw![i]!));
      const cpuRatios = runs.sock!.map((s, i) => cpu(s) / cpu(runs.raw![i]!));
      for (const impl of ["sock", "raw"]) {
        const list = runs[impl]!;
        console.log(
          `| ${impl === "sock" ? c.key : ""} | ${impl} | ${
            median(list.map(rate)).toFixed(0)
          } | ${median(list.map(cpu)).toFixed(2)} | ${
            impl === "sock"
              ? `${median(ratios).toFixed(2)} (${
                Math.min(...ratios).toFixed(2)
              }–${Math.max(...ratios).toFixed(2)})`
              : ""
          } | ${impl === "sock" ? median(cpuRatios).toFixed(2) : ""} |`,
        );
      }
    }
  } finally {
    server.kill();
    await server.status;
  }
}

if (import.meta.main) {
  const [mode, ...rest] = Deno.args;
  if (mode === "server") {
    await runServer();
  } else if (mode === "client") {
    const [impl, port, depth, timeout, seconds] = rest;
    const result = await runClient(
      impl!,
      Number(port),
      Number(depth),
      timeout === "true",
      Number(seconds),
    );
    console.log(JSON.stringify(result));
  } else {
    const { values } = parseArgs({
      args: Deno.args,
      options: {
        rounds: { type: "string", default: "3" },
        duration: { type: "string", default: "3" },
        only: { type: "string" },
      },
    });
    await runAll(Number(values.rounds), Number(values.duration), values.only);
  }
}
