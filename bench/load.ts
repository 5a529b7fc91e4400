/**
 * The load generator: one process, raw Deno sockets only, so that what it
 * costs is the same whichever server it drives. It runs a warm-up, then a
 * measured window, reading the server's and its own CPU time from /proc at
 * the window's edges, and prints one JSON line ({@linkcode LoadResult}).
 *
 * ```sh
 * deno run -A bench/load.ts '<LoadConfig JSON>'
 * ```
 *
 * `-A`, because Deno asks for every permission to read /proc/<pid>/.
 *
 * @module
 */
import { cpuMillis, openFiles, rssBytes } from "./_proc.ts";
import { median, Reservoir } from "./_stats.ts";

/** What to run. */
export interface LoadConfig {
  /** Which protocol to speak. */
  scenario: "sum" | "hello" | "line" | "echo" | "receive" | "udp" | "idle";
  /** The server's port on 127.0.0.1. */
  port: number;
  /** The server's processes (several with reusePort), for CPU and memory. */
  serverPids: number[];
  /** Seconds of load before the measured window. */
  warmup: number;
  /** Seconds in the measured window. */
  duration: number;
  /** Concurrent connections (or UDP sockets). */
  clients: number;
  /** Requests in flight per connection (line, udp). */
  depth: number;
  /** Idle connections to hold open (idle). */
  idleCount: number;
  /** Idle: resident memory samples taken before and after, 200 ms apart. */
  rssSamples: number;
  /**
   * sum and echo: connect over TLS to `localhost:port`, trusting the CA
   * certificate in this PEM file.
   */
  tlsCaFile?: string;
  /** sum and echo: connect to this Unix socket instead of 127.0.0.1:port. */
  unixPath?: string;
}

/** What one run measured. */
export interface LoadResult {
  /** Requests (lines, datagrams, echoed 64 KiB chunks) completed in the window. */
  ops: number;
  /** Payload bytes received back in the window. */
  bytes: number;
  /** The window's length in seconds. */
  seconds: number;
  /** Median latency in microseconds. */
  p50: number;
  /** 99th percentile latency in microseconds. */
  p99: number;
  /** CPU milliseconds the server processes used in the window. */
  serverCpu: number;
  /** CPU milliseconds this generator used in the window. */
  loadCpu: number;
  /** CPU milliseconds the whole machine was busy in the window (all cores). */
  machineCpu: number;
  /** Failed requests (errors, wrong replies, lost datagrams). */
  errors: number;
  /** Idle only: server resident memory before connecting, in bytes. */
  rssBefore?: number;
  /** Idle only: server resident memory with every connection open, in bytes. */
  rssAfter?: number;
  /** Idle only: how many connections were open. */
  connections?: number;
}

const HOST = "127.0.0.1";
const encoder = new TextEncoder();

/** The size of one bulk echo message, as the sock server reads it. */
const ECHO_CHUNK = 65536;
/** Echo messages written at once: big writes keep the generator cheap. */
const ECHO_BATCH = 4;
/** Echo bytes one connection may have in flight. */
const ECHO_WINDOW = 16 * ECHO_CHUNK;

let phase: 0 | 1 | 2 = 0; // warm-up, measuring, stopping
let ops = 0;
let bytes = 0;
let errors = 0;
const latency = new Reservoir();

let caCerts: string[] | undefined;

/** A connection to the server: TCP, TLS or Unix, as the config says. */
async function dial(): Promise<Deno.Conn> {
  if (config.unixPath !== undefined) {
    return await Deno.connect({ transport: "unix", path: config.unixPath });
  }
  if (config.tlsCaFile !== undefined) {
    caCerts ??= [Deno.readTextFileSync(config.tlsCaFile)];
    return await Deno.connectTls({
      hostname: "localhost",
      port: config.port,
      caCerts,
    });
  }
  return await Deno.connect({ hostname: HOST, port: config.port });
}

function done(start: number, n = 1): void {
  if (phase !== 1) return;
  ops += n;
  latency.add((performance.now() - start) * 1000);
}

async function writeAll(conn: Deno.Conn, data: Uint8Array): Promise<void> {
  while (data.length > 0) data = data.subarray(await conn.write(data));
}

function sameBytes(a: Uint8Array, b: Uint8Array, length: number): boolean {
  if (length !== b.length) return false;
  for (let i = 0; i < length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function randomInt(limit: number): number {
  return Math.floor(Math.random() * limit);
}

// --- sum: one connection per request ---------------------------------------

async function sumClient(): Promise<void> {
  const requests: Uint8Array[] = [];
  const replies: Uint8Array[] = [];
  for (let i = 0; i < 64; i++) {
    const a = randomInt(1e9), b = randomInt(1e9);
    requests.push(encoder.encode(`${a} ${b} `));
    replies.push(encoder.encode(String(a + b)));
  }
  const buf = new Uint8Array(256);
  for (let i = 0; phase < 2; i++) {
    const k = i & 63;
    const start = performance.now();
    let conn: Deno.Conn | undefined;
    try {
      conn = await dial();
      await writeAll(conn, requests[k]!);
      // The reply's length is known: stop there rather than spend a read
      // on the end of the stream, to keep the generator cheap.
      const reply = replies[k]!;
      let got = 0;
      while (got < reply.length) {
        const n = await conn.read(buf.subarray(got));
        if (n === null) break;
        got += n;
      }
      if (sameBytes(buf, reply, got)) done(start);
      else if (phase === 1) errors++;
    } catch {
      if (phase === 1) errors++;
    } finally {
      try {
        conn?.close();
      } catch {
        // Already closed.
      }
    }
  }
}

// --- hello: one connection per greeting ------------------------------------

const HELLO = encoder.encode("Hello World\n");

async function helloClient(): Promise<void> {
  const buf = new Uint8Array(256);
  while (phase < 2) {
    const start = performance.now();
    let conn: Deno.TcpConn | undefined;
    try {
      conn = await Deno.connect({ hostname: HOST, port: config.port });
      let got = 0;
      for (;;) {
        const n = await conn.read(buf.subarray(got));
        if (n === null) break;
        got += n;
      }
      if (sameBytes(buf, HELLO, got)) done(start);
      else if (phase === 1) errors++;
    } catch {
      if (phase === 1) errors++;
    } finally {
      try {
        conn?.close();
      } catch {
        // Already closed.
      }
    }
  }
}

// --- line: persistent connections, `depth` requests per batch --------------

async function lineClient(): Promise<void> {
  const batches: { request: Uint8Array; reply: Uint8Array }[] = [];
  for (let i = 0; i < 16; i++) {
    let request = "", reply = "";
    for (let j = 0; j < config.depth; j++) {
      const a = randomInt(1e6), b = randomInt(1e6);
      request += `${a} ${b}\n`;
      reply += `${a + b}\n`;
    }
    batches.push({
      request: encoder.encode(request),
      reply: encoder.encode(reply),
    });
  }
  const conn = await Deno.connect({ hostname: HOST, port: config.port });
  const buf = new Uint8Array(Math.max(...batches.map((b) => b.reply.length)));
  try {
    for (let i = 0; phase < 2; i++) {
      const { request, reply } = batches[i & 15]!;
      const start = performance.now();
      await writeAll(conn, request);
      let got = 0;
      while (got < reply.length) {
        const n = await conn.read(buf.subarray(got, reply.length));
        if (n === null) throw new Error("the server closed the connection");
        got += n;
      }
      if (sameBytes(buf, reply, got)) done(start, config.depth);
      else if (phase === 1) errors += config.depth;
    }
  } finally {
    conn.close();
  }
}

// --- echo: 64 KiB messages, up to ECHO_WINDOW in flight ----------------------

async function echoClient(): Promise<void> {
  const conn = await dial();
  const chunk = new Uint8Array(ECHO_BATCH * ECHO_CHUNK);
  for (let i = 0; i < chunk.length; i++) chunk[i] = (i * 7) & 255;
  const sentAt: number[] = [];
  let sent = 0;
  let received = 0;
  let wake: (() => void) | undefined;
  const writer = (async () => {
    while (phase < 2) {
      if (sent - received >= ECHO_WINDOW) {
        await new Promise<void>((resolve) => wake = resolve);
        continue;
      }
      const now = performance.now();
      for (let i = 0; i < ECHO_BATCH; i++) sentAt.push(now);
      await writeAll(conn, chunk);
      sent += chunk.length;
    }
    await conn.closeWrite();
  })();
  const buf = new Uint8Array(256 * 1024);
  let acked = 0;
  for (;;) {
    const n = await conn.read(buf);
    if (n === null) break;
    if (buf[0] !== ((received % ECHO_CHUNK * 7) & 255)) errors++;
    received += n;
    if (phase === 1) bytes += n;
    while (received >= (acked + 1) * ECHO_CHUNK) {
      done(sentAt[acked]!);
      sentAt[acked++] = 0;
    }
    wake?.();
    wake = undefined;
  }
  await writer;
  conn.close();
}

// --- receive: one-way, the client streams and the server only reads -------

/** Bytes per write of the one-way stream. */
const RECEIVE_CHUNK = 256 * 1024;

async function receiveClient(): Promise<void> {
  const conn = await Deno.connect({ hostname: HOST, port: config.port });
  const chunk = new Uint8Array(RECEIVE_CHUNK);
  for (let i = 0; i < chunk.length; i++) chunk[i] = (i * 7) & 255;
  let sent = 0;
  try {
    while (phase < 2) {
      const start = performance.now();
      let view = chunk;
      while (view.length > 0) {
        const n = await conn.write(view);
        view = view.subarray(n);
        sent += n;
        if (phase === 1) bytes += n;
      }
      done(start);
    }
    // The server answers the end of the stream with the bytes it counted.
    await conn.closeWrite();
    const buf = new Uint8Array(64);
    let got = 0;
    for (;;) {
      const n = await conn.read(buf.subarray(got));
      if (n === null) break;
      got += n;
    }
    const counted = Number(new TextDecoder().decode(buf.subarray(0, got)));
    if (counted !== sent) errors++;
  } finally {
    conn.close();
  }
}

// --- udp: reverse round trips, `depth` datagrams in flight per socket ---------

async function udpClient(): Promise<void> {
  const socket = Deno.listenDatagram({
    transport: "udp",
    hostname: HOST,
    port: 0,
  });
  const to: Deno.NetAddr = {
    transport: "udp",
    hostname: HOST,
    port: config.port,
  };
  const payload = new Uint8Array(32);
  const sentAt = new Float64Array(1 << 16);
  let seq = 0;
  let inFlight = 0;
  let progress = 0;
  async function sendOne(): Promise<void> {
    const s = seq++ & 0xffff;
    payload[0] = s & 255;
    payload[1] = s >> 8;
    sentAt[s] = performance.now();
    inFlight++;
    await socket.send(payload, to);
  }
  const watchdog = setInterval(() => {
    if (progress === 0 && phase < 2) {
      if (phase === 1) errors += inFlight;
      inFlight = 0;
      for (let i = 0; i < config.depth; i++) sendOne().catch(() => {});
    }
    progress = 0;
  }, 200);
  try {
    for (let i = 0; i < config.depth; i++) await sendOne();
    const buf = new Uint8Array(2048);
    while (phase < 2 || inFlight > 0) {
      let data: Uint8Array;
      try {
        [data] = await socket.receive(buf);
      } catch {
        break;
      }
      progress++;
      inFlight--;
      const n = data.length;
      const s = data[n - 1]! | data[n - 2]! << 8;
      if (n === payload.length) done(sentAt[s]!);
      else if (phase === 1) errors++;
      if (phase < 2) await sendOne();
    }
  } finally {
    clearInterval(watchdog);
    socket.close();
  }
}

// --- idle: hold many connections open, measure the server's memory ---------

function serverRss(): number {
  return config.serverPids.reduce((sum, pid) => sum + rssBytes(pid), 0);
}

function serverFiles(): number {
  return config.serverPids.reduce((sum, pid) => sum + openFiles(pid), 0);
}

async function sampleRss(): Promise<number> {
  const samples: number[] = [];
  for (let i = 0; i < config.rssSamples; i++) {
    await sleep(200);
    samples.push(serverRss());
  }
  return median(samples);
}

async function idle(): Promise<LoadResult> {
  const filesBefore = serverFiles();
  const rssBefore = await sampleRss();
  const conns: Deno.Conn[] = [];
  const start = performance.now();
  const cpuStart = serverCpu();
  const loadStart = cpuMillis(Deno.pid);
  const machineStart = machineCpu();
  async function opener(count: number): Promise<void> {
    for (let i = 0; i < count; i++) {
      try {
        conns.push(await Deno.connect({ hostname: HOST, port: config.port }));
      } catch {
        errors++;
      }
    }
  }
  const openers = 50;
  await Promise.all(
    Array.from(
      { length: openers },
      (_, i) =>
        opener(
          Math.floor(config.idleCount / openers) +
            (i < config.idleCount % openers ? 1 : 0),
        ),
    ),
  );
  // Wait until the server has accepted them all.
  const until = performance.now() + 10_000;
  while (
    serverFiles() < filesBefore + conns.length && performance.now() < until
  ) {
    await sleep(50);
  }
  const seconds = (performance.now() - start) / 1000;
  const serverUsed = serverCpu() - cpuStart;
  const loadUsed = cpuMillis(Deno.pid) - loadStart;
  const machineUsed = machineCpu() - machineStart;
  const rssAfter = await sampleRss();
  for (const conn of conns) conn.close();
  return {
    ops: conns.length,
    bytes: 0,
    seconds,
    p50: NaN,
    p99: NaN,
    serverCpu: serverUsed,
    loadCpu: loadUsed,
    machineCpu: machineUsed,
    errors,
    rssBefore,
    rssAfter,
    connections: conns.length,
  };
}

// --- the run ------------------------------------------------------------------

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Busy CPU milliseconds of the whole machine so far, from /proc/stat. */
function machineCpu(): number {
  try {
    const line = Deno.readTextFileSync("/proc/stat").split("\n", 1)[0]!;
    // cpu user nice system idle iowait irq softirq steal ...
    const t = line.trim().split(/\s+/).slice(1).map(Number);
    const busy = t[0]! + t[1]! + t[2]! + t[5]! + t[6]! + t[7]!;
    return busy * 10;
  } catch {
    return NaN;
  }
}

function serverCpu(): number {
  return config.serverPids.reduce((sum, pid) => sum + cpuMillis(pid), 0);
}

async function run(): Promise<LoadResult> {
  if (config.scenario === "idle") return await idle();
  const client = {
    sum: sumClient,
    hello: helloClient,
    line: lineClient,
    echo: echoClient,
    receive: receiveClient,
    udp: udpClient,
  }[config.scenario];
  const clients = Array.from(
    { length: config.clients },
    () =>
      client().catch((error) => {
        errors++;
        console.error(`client: ${error?.message ?? error}`);
      }),
  );
  await sleep(config.warmup * 1000);
  const serverStart = serverCpu();
  const loadStart = cpuMillis(Deno.pid);
  const machineStart = machineCpu();
  const start = performance.now();
  phase = 1;
  await sleep(config.duration * 1000);
  phase = 2;
  const seconds = (performance.now() - start) / 1000;
  const serverUsed = serverCpu() - serverStart;
  const loadUsed = cpuMillis(Deno.pid) - loadStart;
  const machineUsed = machineCpu() - machineStart;
  const counted = { ops, bytes };
  await Promise.race([Promise.all(clients), sleep(5000)]);
  const [p50, p99] = latency.percentiles([50, 99]);
  return {
    ...counted,
    // Counted to the end: a receive client checks the server's count then.
    errors,
    seconds,
    p50: p50!,
    p99: p99!,
    serverCpu: serverUsed,
    loadCpu: loadUsed,
    machineCpu: machineUsed,
  };
}

const config: LoadConfig = JSON.parse(Deno.args[0] ?? "{}");
if (import.meta.main) {
  const result = await run();
  console.log(JSON.stringify(result));
  // Connections still waiting on a stuck server must not hold the process.
  Deno.exit(0);
}
