/**
 * The benchmark suite: every scenario run against sock, against a raw Deno
 * baseline written as an engineer who cares about speed writes it, and
 * against `node:net` / `node:dgram` under Deno as a reference, alternating
 * (sock, raw, node, sock, raw, node, …), each run in fresh server and load
 * generator processes on 127.0.0.1. Prints a Markdown table of medians, the
 * sock/raw and node/raw ratios with their per-round range, and the targets.
 *
 * ```sh
 * deno task bench                  # the full suite, about 15 minutes
 * deno task bench --quick          # a smoke run of every scenario, seconds
 * deno task bench --only sum,idle --rounds 5 --duration 5
 * deno task bench --only line-32 --impls sock,raw   # leave node out
 * deno task bench --only sum --profile /tmp/prof   # --cpu-prof the servers
 * deno task bench --only sum,hello --base 06562d9 --rounds 7   # before and after
 * ```
 *
 * `--base COMMIT` checks COMMIT out in a git worktree in a temporary
 * directory (removed at the end, also after a failure or a signal) and adds
 * the implementation "base": the same sock servers, this checkout's
 * `bench/` copied into that worktree, so that their `../mod.ts` and the
 * handlers of `examples/` are the commit's. With it, rounds run sock, base
 * (and raw, node when `--impls` asks), and the table shows sock/base with
 * the range of the per-round ratios.
 *
 * It runs with `-A`: Deno asks for every permission to read /proc/<pid>/,
 * where the CPU times and memory come from. The servers themselves run with
 * `--allow-net=127.0.0.1 --unstable-net` only.
 *
 * @module
 */
import { parseArgs } from "node:util";
import type { LoadConfig, LoadResult } from "./load.ts";
import { median } from "./_stats.ts";

type Impl = "sock" | "base" | "raw" | "node";

/** Every implementation, in the order each round runs them. */
const IMPLS: Impl[] = ["sock", "base", "raw", "node"];

interface Scenario {
  /** What --only names. */
  key: string;
  /** The table's label. */
  label: string;
  /** What the load generator speaks. */
  protocol: LoadConfig["scenario"];
  /**
   * Each server's scenario argument; an implementation left out is not run.
   * "base" runs sock's.
   */
  servers: Partial<Record<Exclude<Impl, "base">, string>>;
  /** Over TLS or a Unix socket (bench/tls_unix_servers.ts) rather than TCP. */
  transport?: "tls" | "unix";
  /** Load generator settings. */
  load: Pick<LoadConfig, "clients" | "depth">;
  /** Server processes sharing the port (reusePort). */
  workers: number;
  /** The throughput unit. */
  unit: string;
  /** What one "op" is, for CPU per op. */
  op: string;
  /** Minimum sock/raw throughput ratio. */
  minThroughput?: number;
  /** Maximum sock/raw server CPU per op ratio. */
  maxCpu?: number;
  /** Idle only: most extra KiB per connection sock may use over raw. */
  maxIdleExtraKiB?: number;
  /** Rounds when --rounds is not given: the noisy line scenarios take more. */
  rounds?: number;
}

const SCENARIOS: Scenario[] = [
  {
    key: "sum",
    label: "sum, connection per request, 32 clients",
    protocol: "sum",
    servers: { sock: "sum", raw: "sum", node: "sum" },
    load: { clients: 32, depth: 1 },
    workers: 1,
    unit: "req/s",
    op: "request",
    minThroughput: 0.95,
    maxCpu: 1.05,
  },
  {
    key: "hello",
    label: "hello, connection per greeting, 32 clients",
    protocol: "hello",
    servers: { sock: "hello", raw: "hello", node: "hello" },
    load: { clients: 32, depth: 1 },
    workers: 1,
    unit: "conn/s",
    op: "connection",
    minThroughput: 0.95,
    maxCpu: 1.05,
  },
  {
    key: "line-1",
    label: "line protocol, 1 in flight × 32 connections: readLines()",
    protocol: "line",
    servers: { sock: "line", raw: "line", node: "line" },
    load: { clients: 32, depth: 1 },
    workers: 1,
    unit: "lines/s",
    rounds: 5,
    op: "line",
    minThroughput: 0.95,
    maxCpu: 1.1,
  },
  {
    key: "line-32",
    label: "line protocol, 32 pipelined × 32 connections: readLines()",
    protocol: "line",
    servers: { sock: "line", raw: "line", node: "line" },
    load: { clients: 32, depth: 32 },
    workers: 1,
    unit: "lines/s",
    rounds: 5,
    op: "line",
    minThroughput: 0.9,
    maxCpu: 1.1,
  },
  {
    key: "line-by-line",
    label:
      "line protocol, 32 pipelined × 32 connections: readLine(), a write awaited per line",
    protocol: "line",
    servers: { sock: "line-by-line", raw: "line", node: "line" },
    load: { clients: 32, depth: 32 },
    workers: 1,
    unit: "lines/s",
    rounds: 5,
    op: "line",
  },
  {
    key: "echo",
    label: "bulk echo, 4 connections: readFull(64 KiB)/write/flush",
    protocol: "echo",
    servers: { sock: "echo", raw: "echo", node: "echo" },
    load: { clients: 4, depth: 1 },
    workers: 1,
    unit: "MB/s",
    op: "64 KiB",
    minThroughput: 1.0,
  },
  {
    key: "echo-peek",
    label: "bulk echo, 4 connections: peek/write/consume",
    protocol: "echo",
    servers: { sock: "echo-peek", raw: "echo", node: "echo" },
    load: { clients: 4, depth: 1 },
    workers: 1,
    unit: "MB/s",
    op: "64 KiB",
    minThroughput: 1.0,
  },
  {
    key: "receive",
    label: "one-way receive, 4 connections: read() into 64 KiB",
    protocol: "receive",
    servers: { sock: "receive", raw: "receive", node: "receive" },
    load: { clients: 4, depth: 1 },
    workers: 1,
    unit: "MB/s",
    op: "256 KiB",
    minThroughput: 1.0,
  },
  {
    key: "udp",
    label: "UDP reverse, 4 sockets × 8 in flight",
    protocol: "udp",
    servers: { sock: "udp", raw: "udp", node: "udp" },
    load: { clients: 4, depth: 8 },
    workers: 1,
    unit: "dgram/s",
    op: "datagram",
    minThroughput: 0.95,
    maxCpu: 1.05,
  },
  {
    key: "tls-echo",
    label: "TLS bulk echo, 4 connections: readFull(64 KiB)/write/flush",
    protocol: "echo",
    servers: { sock: "tls-echo", raw: "tls-echo" },
    load: { clients: 4, depth: 1 },
    workers: 1,
    unit: "MB/s",
    op: "64 KiB",
    minThroughput: 0.9,
    transport: "tls",
  },
  {
    key: "tls-handshake",
    label: "TLS sum, a handshake per request, 32 clients",
    protocol: "sum",
    servers: { sock: "tls-sum", raw: "tls-sum" },
    load: { clients: 32, depth: 1 },
    workers: 1,
    unit: "handshakes/s",
    op: "handshake",
    minThroughput: 0.9,
    transport: "tls",
  },
  {
    key: "unix-sum",
    label: "sum over a Unix socket, connection per request, 32 clients",
    protocol: "sum",
    servers: { sock: "unix-sum", raw: "unix-sum" },
    load: { clients: 32, depth: 1 },
    workers: 1,
    unit: "req/s",
    op: "request",
    minThroughput: 0.95,
    transport: "unix",
  },
  {
    key: "sum-2w",
    label: "sum with 2 workers (reusePort), 32 clients",
    protocol: "sum",
    servers: { sock: "sum", raw: "sum", node: "sum" },
    load: { clients: 32, depth: 1 },
    workers: 2,
    unit: "req/s",
    op: "request",
  },
  {
    key: "idle",
    label: "idle connections waiting for a line, server RSS",
    protocol: "idle",
    servers: { sock: "idle", raw: "idle", node: "idle" },
    load: { clients: 0, depth: 0 },
    workers: 1,
    unit: "KiB/conn",
    op: "connection",
    maxIdleExtraKiB: 2,
  },
  {
    key: "idle-sum",
    label: "idle connections to the sum servers, server RSS",
    protocol: "idle",
    servers: { sock: "idle-sum", raw: "idle-sum", node: "idle-sum" },
    load: { clients: 0, depth: 0 },
    workers: 1,
    unit: "KiB/conn",
    op: "connection",
  },
];

const IDLE_CONNECTIONS = 10_000;

const HERE = new URL(".", import.meta.url).pathname;

interface Run {
  impl: Impl;
  /** The round, from 1: runs of one round are compared with each other. */
  round: number;
  result: LoadResult;
  throughput: number;
  cpuPerOp: number;
  serverPct: number;
  loadPct: number;
  otherPct: number;
  perConnKiB: number;
}

// --- processes -------------------------------------------------------------

/** The servers and load generators running now, killed on SIGINT or SIGTERM. */
const running = new Set<Deno.ChildProcess>();

/** Runs deno under sh with the open-files limit raised to the hard limit. */
function spawnDeno(args: string[]): Deno.ChildProcess {
  const child = new Deno.Command("sh", {
    args: [
      "-c",
      'ulimit -n "$(ulimit -Hn)" 2>/dev/null; exec "$0" "$@"',
      Deno.execPath(),
      ...args,
    ],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  running.add(child);
  child.status.finally(() => running.delete(child));
  return child;
}

async function openFileLimit(): Promise<number> {
  const { stdout } = await new Deno.Command("sh", {
    args: ["-c", 'ulimit -n "$(ulimit -Hn)" 2>/dev/null; ulimit -n'],
  }).output();
  const text = new TextDecoder().decode(stdout).trim();
  return text === "unlimited" ? Infinity : Number(text);
}

async function collect(stream: ReadableStream<Uint8Array>): Promise<string> {
  let text = "";
  for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
    text += chunk;
  }
  return text;
}

interface ServerProcess {
  child: Deno.ChildProcess;
  port: number;
  stderr: Promise<string>;
}

// TLS and Unix runs: one throwaway CA and certificate for the whole run
// (tools/make_certs.sh), and a fresh socket path in a temporary directory.
let scratch: string | undefined;
let certs: Promise<{ ca: string; cert: string; key: string }> | undefined;
let lastSocket: string | undefined;

async function scratchDir(): Promise<string> {
  scratch ??= await Deno.makeTempDir({ prefix: "sock-bench-" });
  return scratch;
}

function certificates(): Promise<{ ca: string; cert: string; key: string }> {
  certs ??= (async () => {
    const dir = await scratchDir();
    const made = await new Deno.Command("sh", {
      args: [`${HERE}../tools/make_certs.sh`, dir],
    }).output();
    if (!made.success) {
      throw new Error(
        `tools/make_certs.sh failed: ${new TextDecoder().decode(made.stderr)}`,
      );
    }
    return {
      ca: `${dir}/ca.crt`,
      cert: `${dir}/server.crt`,
      key: `${dir}/server.key`,
    };
  })();
  return certs;
}

let sockets = 0;
async function socketPath(): Promise<string> {
  lastSocket = `${await scratchDir()}/run-${++sockets}.sock`;
  return lastSocket;
}

// --- the base commit ---------------------------------------------------------

/** The checkout this file belongs to. */
const ROOT = new URL("..", import.meta.url).pathname;

/** The base commit's worktree, while there is one. */
let baseDir: string | undefined;

/** Runs git in this checkout; its output, or an error with git's message. */
async function git(args: string[]): Promise<string> {
  const out = await new Deno.Command("git", {
    args: ["-C", ROOT, ...args],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decoder = new TextDecoder();
  if (!out.success) {
    throw new Error(
      `git ${args.join(" ")} failed: ${decoder.decode(out.stderr).trim()}`,
    );
  }
  return decoder.decode(out.stdout).trim();
}

/**
 * Checks `commit` out in a git worktree in a temporary directory and copies
 * this checkout's bench/ files into it, so the base servers are these
 * servers on the commit's mod.ts.
 *
 * @returns The commit's short hash and subject.
 */
async function makeBase(commit: string): Promise<string> {
  baseDir = await Deno.makeTempDir({ prefix: "sock-bench-base-" });
  await git(["worktree", "add", "--detach", "--quiet", baseDir, commit]);
  for (const entry of Deno.readDirSync(HERE)) {
    if (entry.isFile && entry.name.endsWith(".ts")) {
      await Deno.copyFile(
        `${HERE}${entry.name}`,
        `${baseDir}/bench/${entry.name}`,
      );
    }
  }
  return await git(["log", "-1", "--format=%h (%s)", commit]);
}

/** Removes the base worktree and the temporary files, if there are any. */
async function cleanUp(): Promise<void> {
  const dir = baseDir;
  baseDir = undefined;
  if (dir !== undefined) {
    try {
      await git(["worktree", "remove", "--force", dir]);
    } catch (error) {
      console.error(`# ${error}`);
      await Deno.remove(dir, { recursive: true }).catch(() => {});
      await git(["worktree", "prune"]).catch(() => {});
    }
  }
  const dir2 = scratch;
  scratch = undefined;
  if (dir2 !== undefined) await Deno.remove(dir2, { recursive: true });
}

/** The server of `scenario` that `impl` runs, or undefined for none. */
function serverName(impl: Impl, scenario: Scenario): string | undefined {
  return scenario.servers[impl === "base" ? "sock" : impl];
}

async function startServer(
  impl: Impl,
  scenario: Scenario,
  port: number,
  profile: { dir: string; name: string } | undefined,
): Promise<ServerProcess> {
  const name = serverName(impl, scenario)!;
  // The base commit runs sock's servers from its worktree.
  const dir = impl === "base" ? `${baseDir}/bench/` : HERE;
  const role = impl === "base" ? "sock" : impl;
  const args = ["run", "--unstable-net"];
  if (profile) {
    args.push(
      "--cpu-prof",
      `--cpu-prof-dir=${profile.dir}`,
      `--cpu-prof-name=${profile.name}.cpuprofile`,
    );
  }
  if (scenario.transport === "tls") {
    const { cert, key } = await certificates();
    args.push(
      "--allow-net=127.0.0.1",
      `--allow-read=${cert},${key}`,
      `${dir}tls_unix_servers.ts`,
      role,
      name,
      String(port),
      "--cert",
      cert,
      "--key",
      key,
    );
  } else if (scenario.transport === "unix") {
    const path = await socketPath();
    args.push(
      `--allow-read=${path}`,
      `--allow-write=${path}`,
      `--allow-net=unix:${path}`,
      `${dir}tls_unix_servers.ts`,
      role,
      name,
      "--path",
      path,
    );
  } else {
    args.push("--allow-net=127.0.0.1", `${dir}${role}_server.ts`, name);
    args.push(String(port));
    if (scenario.workers > 1) args.push("reuse-port");
  }
  const child = spawnDeno(args);
  const stderr = collect(child.stderr);
  const lines = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let seen = "";
  const timer = setTimeout(() => child.kill("SIGKILL"), 20_000);
  try {
    for (;;) {
      const { value, done } = await lines.read();
      if (done) {
        throw new Error(
          `${impl} ${name} server exited before listening: ${await stderr}`,
        );
      }
      seen += value;
      const match = /listening (\d+)/.exec(seen);
      if (match) {
        // Keep draining stdout so the server never blocks on it.
        (async () => {
          while (!(await lines.read()).done);
        })().catch(() => {});
        return { child, port: Number(match[1]), stderr };
      }
    }
  } finally {
    clearTimeout(timer);
  }
}

async function stopServer(server: ServerProcess): Promise<void> {
  try {
    server.child.kill("SIGTERM");
  } catch {
    // Already gone.
  }
  const timer = setTimeout(() => {
    try {
      server.child.kill("SIGKILL");
    } catch {
      // Already gone.
    }
  }, 5000);
  await server.child.status;
  clearTimeout(timer);
}

async function runLoad(config: LoadConfig): Promise<LoadResult> {
  const child = spawnDeno([
    "run",
    "-A",
    `${HERE}load.ts`,
    JSON.stringify(config),
  ]);
  const limit = (config.warmup + config.duration) * 1000 + 60_000;
  const timer = setTimeout(() => child.kill("SIGKILL"), limit);
  const [stdout, stderr, status] = await Promise.all([
    collect(child.stdout),
    collect(child.stderr),
    child.status,
  ]);
  clearTimeout(timer);
  if (!status.success) {
    throw new Error(`load generator failed (${status.code}): ${stderr}`);
  }
  if (stderr.trim()) console.error(stderr.trim());
  return JSON.parse(stdout.trim().split("\n").at(-1)!);
}

async function runOnce(
  impl: Impl,
  scenario: Scenario,
  round: number,
  settings: Settings,
): Promise<Run> {
  const servers: ServerProcess[] = [];
  // --profile: one file per server, named scenario-impl-round[-worker].
  const profile = (worker: number) =>
    settings.profile === undefined ? undefined : {
      dir: settings.profile,
      name: `${scenario.key}-${impl}-${round}${worker ? `-${worker}` : ""}`,
    };
  try {
    servers.push(await startServer(impl, scenario, 0, profile(0)));
    for (let i = 1; i < scenario.workers; i++) {
      servers.push(
        await startServer(impl, scenario, servers[0]!.port, profile(i)),
      );
    }
    const result = await runLoad({
      scenario: scenario.protocol,
      port: servers[0]!.port,
      serverPids: servers.map((s) => s.child.pid),
      warmup: settings.warmup,
      duration: settings.duration,
      idleCount: settings.idle,
      rssSamples: settings.rssSamples,
      ...scenario.load,
      ...(scenario.transport === "tls"
        ? { tlsCaFile: (await certificates()).ca }
        : {}),
      ...(scenario.transport === "unix" ? { unixPath: lastSocket! } : {}),
    });
    const ms = result.seconds * 1000;
    const throughput = scenario.unit === "MB/s"
      ? result.bytes / result.seconds / 1e6
      : result.ops / result.seconds;
    return {
      impl,
      round,
      result,
      throughput,
      cpuPerOp: result.serverCpu * 1000 / result.ops,
      serverPct: 100 * result.serverCpu / ms,
      loadPct: 100 * result.loadCpu / ms,
      otherPct: 100 *
        (result.machineCpu - result.serverCpu - result.loadCpu) / ms,
      perConnKiB: result.connections
        ? (result.rssAfter! - result.rssBefore!) / result.connections / 1024
        : NaN,
    };
  } finally {
    await Promise.all(servers.map(stopServer));
    for (const server of servers) {
      const text = (await server.stderr).trim();
      if (text) console.error(`${impl} server: ${text.slice(0, 2000)}`);
    }
  }
}

// --- reporting ---------------------------------------------------------------

interface Summary {
  scenario: Scenario;
  runs: Run[];
}

function fmt(value: number, digits = 0): string {
  if (!Number.isFinite(value)) return "–";
  return value.toLocaleString("en-US", {
    minimumFractionDigits: digits,
    maximumFractionDigits: digits,
  });
}

function med(runs: Run[], impl: Impl, pick: (run: Run) => number): number {
  return median(runs.filter((r) => r.impl === impl).map(pick));
}

/**
 * `impl` against `ref` round by round: `combine` of the two runs of each
 * round that has both (a ratio, or a difference), the non-finite left out.
 */
function perRound(
  runs: Run[],
  impl: Impl,
  ref: Impl,
  pick: (run: Run) => number,
  combine = (a: number, b: number) => a / b,
): number[] {
  const values: number[] = [];
  for (const run of runs) {
    if (run.impl !== impl) continue;
    const other = runs.find((r) => r.impl === ref && r.round === run.round);
    if (other === undefined) continue;
    const value = combine(pick(run), pick(other));
    if (Number.isFinite(value)) values.push(value);
  }
  return values;
}

/** The lowest and highest of some numbers, or undefined for none. */
function range(values: number[]): [number, number] | undefined {
  return values.length === 0
    ? undefined
    : [Math.min(...values), Math.max(...values)];
}

/**
 * The range of `impl`'s per-round ratios to `ref`: round i of `impl`
 * against round i of `ref`, run next to it.
 */
function spread(
  runs: Run[],
  impl: Impl,
  ref: Impl,
  pick: (run: Run) => number,
): string {
  const r = range(perRound(runs, impl, ref, pick));
  return r ? `${r[0].toFixed(2)}–${r[1].toFixed(2)}` : "–";
}

/** The pairs of each table's ratio rows: each impl/raw, then sock/base. */
function comparisons(impls: Impl[]): [Impl, Impl][] {
  const pairs: [Impl, Impl][] = [];
  if (impls.includes("raw")) {
    for (const impl of impls) if (impl !== "raw") pairs.push([impl, "raw"]);
  }
  if (impls.includes("sock") && impls.includes("base")) {
    pairs.push(["sock", "base"]);
  }
  return pairs;
}

function ratio(a: number, b: number): string {
  return Number.isFinite(a / b) ? `${(a / b).toFixed(2)}×` : "–";
}

function table(summaries: Summary[]): string {
  const out: string[] = [
    "| scenario | impl | throughput | p50 µs | p99 µs | server CPU µs/op | server CPU | load CPU | other CPU | errors |",
    "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|",
  ];
  for (const { scenario, runs } of summaries) {
    const impls = IMPLS.filter((impl) => runs.some((r) => r.impl === impl));
    if (scenario.protocol === "idle") {
      for (const impl of impls) {
        const mine = runs.filter((r) => r.impl === impl);
        out.push(
          `| ${impl === impls[0] ? scenario.label : ""} | ${impl} | ${
            fmt(med(runs, impl, (r) => r.perConnKiB), 2)
          } KiB/conn (${
            fmt(median(mine.map((r) => r.result.connections ?? NaN)))
          } conns, RSS ${
            fmt(med(runs, impl, (r) => r.result.rssBefore! / 2 ** 20), 1)
          } → ${
            fmt(med(runs, impl, (r) => r.result.rssAfter! / 2 ** 20), 1)
          } MiB) | – | – | ${
            fmt(med(runs, impl, (r) => r.cpuPerOp), 1)
          } | – | – | – | ${mine.reduce((n, r) => n + r.result.errors, 0)} |`,
        );
      }
      for (const [impl, ref] of comparisons(impls)) {
        const extra = med(runs, impl, (r) => r.perConnKiB) -
          med(runs, ref, (r) => r.perConnKiB);
        out.push(
          `| | ${impl} − ${ref} | **${
            fmt(extra, 2)
          } KiB/conn** | | | | | | | |`,
        );
      }
      continue;
    }
    for (const impl of impls) {
      const mine = runs.filter((r) => r.impl === impl);
      out.push(
        `| ${impl === impls[0] ? scenario.label : ""} | ${impl} | ${
          fmt(
            med(runs, impl, (r) => r.throughput),
            scenario.unit === "MB/s" ? 0 : 0,
          )
        } ${scenario.unit} | ${fmt(med(runs, impl, (r) => r.result.p50))} | ${
          fmt(med(runs, impl, (r) => r.result.p99))
        } | ${fmt(med(runs, impl, (r) => r.cpuPerOp), 2)} | ${
          fmt(med(runs, impl, (r) => r.serverPct))
        }% | ${fmt(med(runs, impl, (r) => r.loadPct))}% | ${
          fmt(med(runs, impl, (r) => r.otherPct))
        }% | ${mine.reduce((n, r) => n + r.result.errors, 0)} |`,
      );
    }
    for (const [impl, ref] of comparisons(impls)) {
      const vs = (pick: (run: Run) => number) =>
        ratio(med(runs, impl, pick), med(runs, ref, pick));
      const range = spread(runs, impl, ref, (r) => r.throughput);
      out.push(
        `| | ${impl}/${ref} | **${vs((r) => r.throughput)}** (${range}) | ${
          vs((r) => r.result.p50)
        } | ${vs((r) => r.result.p99)} | **${vs((r) => r.cpuPerOp)}** (${
          spread(runs, impl, ref, (r) => r.cpuPerOp)
        }) | | | | |`,
      );
    }
  }
  return out.join("\n");
}

/**
 * sock against the base commit, one row per scenario: the ratio of the
 * medians (for idle, the difference in KiB per connection) with the range
 * of the per-round figures, and whether the median moved the wrong way by
 * more than the width of that range.
 */
function beforeAfter(summaries: Summary[]): string {
  const out: string[] = [
    "| scenario | throughput sock/base (per round) | server CPU per op sock/base (per round) | worse by more than the range |",
    "|---|--:|--:|---|",
  ];
  // "a–b", or "a to b" when a dash would read as a minus sign.
  const shown = (r: [number, number] | undefined) =>
    r
      ? ` (${r[0].toFixed(2)}${r[0] < 0 || r[1] < 0 ? " to " : "–"}${
        r[1].toFixed(2)
      })`
      : "";
  const width = (r: [number, number] | undefined) => r ? r[1] - r[0] : NaN;
  for (const { scenario, runs } of summaries) {
    if (!runs.some((r) => r.impl === "base")) continue;
    const worse: string[] = [];
    if (scenario.protocol === "idle") {
      const pick = (r: Run) => r.perConnKiB;
      const extra = med(runs, "sock", pick) - med(runs, "base", pick);
      const r = range(perRound(runs, "sock", "base", pick, (a, b) => a - b));
      if (extra > width(r)) worse.push("memory per connection");
      out.push(
        `| ${scenario.key} | ${fmt(extra, 2)} KiB/conn${
          shown(r)
        } more than base | – | ${worse.join(", ") || "no"} |`,
      );
      continue;
    }
    const cells = (pick: (run: Run) => number, higherIsWorse: boolean) => {
      const m = med(runs, "sock", pick) / med(runs, "base", pick);
      const r = range(perRound(runs, "sock", "base", pick));
      const by = higherIsWorse ? m - 1 : 1 - m;
      return { text: `${ratio(m, 1)}${shown(r)}`, worse: by > width(r) };
    };
    const t = cells((r) => r.throughput, false);
    const c = cells((r) => r.cpuPerOp, true);
    if (t.worse) worse.push("throughput");
    if (c.worse) worse.push("CPU per op");
    out.push(
      `| ${scenario.key} | ${t.text} | ${c.text} | ${
        worse.join(", ") || "no"
      } |`,
    );
  }
  return out.join("\n");
}

function targets(summaries: Summary[]): { text: string; met: boolean } {
  const out: string[] = ["| target | measured | met |", "|---|--:|:-:|"];
  let all = true;
  const add = (what: string, value: number, ok: boolean, text: string) => {
    if (!Number.isFinite(value)) return;
    all &&= ok;
    out.push(`| ${what} | ${text} | ${ok ? "yes" : "**no**"} |`);
  };
  for (const { scenario, runs } of summaries) {
    if (scenario.protocol === "idle") {
      const extra = med(runs, "sock", (r) => r.perConnKiB) -
        med(runs, "raw", (r) => r.perConnKiB);
      if (scenario.maxIdleExtraKiB !== undefined) {
        add(
          `${scenario.key}: ≤ ${scenario.maxIdleExtraKiB} KiB per connection above raw`,
          extra,
          extra <= scenario.maxIdleExtraKiB,
          `${fmt(extra, 2)} KiB`,
        );
      }
      continue;
    }
    const t = med(runs, "sock", (r) => r.throughput) /
      med(runs, "raw", (r) => r.throughput);
    if (scenario.minThroughput !== undefined) {
      add(
        `${scenario.key}: throughput ≥ ${
          scenario.minThroughput.toFixed(2)
        }× raw`,
        t,
        t >= scenario.minThroughput,
        `${t.toFixed(2)}×`,
      );
    }
    if (scenario.maxCpu !== undefined) {
      const c = med(runs, "sock", (r) => r.cpuPerOp) /
        med(runs, "raw", (r) => r.cpuPerOp);
      add(
        `${scenario.key}: server CPU per ${scenario.op} ≤ ${
          scenario.maxCpu.toFixed(2)
        }× raw`,
        c,
        c <= scenario.maxCpu,
        `${c.toFixed(2)}×`,
      );
    }
  }
  const one = summaries.find((s) => s.scenario.key === "sum");
  const two = summaries.find((s) => s.scenario.key === "sum-2w");
  if (one && two) {
    for (const impl of IMPLS) {
      if (!one.runs.some((r) => r.impl === impl)) continue;
      const a = med(one.runs, impl, (r) => r.throughput);
      const b = med(two.runs, impl, (r) => r.throughput);
      out.push(
        `| sum, ${impl}: 1 worker → 2 workers (reusePort) | ${fmt(a)} → ${
          fmt(b)
        } req/s (${ratio(b, a)}) | – |`,
      );
    }
  }
  // No row (no raw run): no table.
  return { text: out.length > 2 ? out.join("\n") : "", met: all };
}

// --- main --------------------------------------------------------------------

interface Settings {
  rssSamples: number;
  rounds: number;
  warmup: number;
  duration: number;
  idle: number;
  profile: string | undefined;
  impls: Impl[];
}

/** A mistake on the command line: one line saying what to do, exit code 2. */
class UsageError extends Error {}

/**
 * The implementations --impls names, in the order each round runs them:
 * sock, raw and node by default, sock and base with --base.
 */
function parseImpls(text: string | undefined, base: boolean): Impl[] {
  if (text === undefined) {
    return base ? ["sock", "base"] : IMPLS.filter((impl) => impl !== "base");
  }
  const chosen = text.split(",");
  for (const impl of chosen) {
    if (!IMPLS.includes(impl as Impl)) {
      throw new UsageError(
        `no implementation "${impl}" for --impls; choose from ${
          IMPLS.join(", ")
        }`,
      );
    }
  }
  if (chosen.includes("base") && !base) {
    throw new UsageError("--impls base needs --base COMMIT");
  }
  if (base && !(chosen.includes("sock") && chosen.includes("base"))) {
    throw new UsageError(
      "with --base, --impls must include sock and base: the ratio is sock/base",
    );
  }
  if (!base && !chosen.includes("raw")) {
    throw new UsageError(
      "--impls must include raw: every ratio is against it (or give --base COMMIT)",
    );
  }
  return IMPLS.filter((impl) => chosen.includes(impl));
}

async function machine(): Promise<string> {
  const cpus = navigator.hardwareConcurrency;
  let model = "";
  try {
    const info = await Deno.readTextFile("/proc/cpuinfo");
    model = /^model name\s*:\s*(.*)$/m.exec(info)?.[1] ?? "";
  } catch {
    // Not Linux.
  }
  return `${cpus} cores${
    model ? ` (${model})` : ""
  }, Deno ${Deno.version.deno}, V8 ${Deno.version.v8}, ${Deno.build.os} ${Deno.build.arch}`;
}

async function main(): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: Deno.args,
      options: {
        quick: { type: "boolean", default: false },
        only: { type: "string" },
        rounds: { type: "string" },
        warmup: { type: "string" },
        duration: { type: "string" },
        idle: { type: "string" },
        profile: { type: "string" },
        json: { type: "string" },
        impls: { type: "string" },
        base: { type: "string" },
      },
      strict: true,
    }));
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  const quick = values.quick;
  const limit = await openFileLimit();
  let idle = Number(values.idle ?? (quick ? 200 : IDLE_CONNECTIONS));
  const notes: string[] = [];
  if (limit - 200 < idle) {
    notes.push(
      `open-files limit ${limit}: idle scaled down from ${idle} to ${
        limit - 200
      } connections`,
    );
    idle = limit - 200;
  }
  const settings: Settings = {
    rounds: Number(values.rounds ?? (quick ? 1 : 3)),
    warmup: Number(values.warmup ?? (quick ? 0.1 : 1)),
    duration: Number(values.duration ?? (quick ? 0.3 : 2)),
    idle,
    rssSamples: quick ? 1 : 5,
    profile: values.profile,
    impls: parseImpls(values.impls, values.base !== undefined),
  };
  const only = values.only?.split(",");
  const chosen = SCENARIOS.filter((s) => !only || only.includes(s.key));
  if (chosen.length === 0) {
    throw new UsageError(
      `no scenario matches --only ${values.only}; choose from ${
        SCENARIOS.map((s) => s.key).join(", ")
      }`,
    );
  }
  let base: string | undefined;
  if (values.base !== undefined) {
    try {
      await git([
        "rev-parse",
        "--verify",
        "--quiet",
        `${values.base}^{commit}`,
      ]);
    } catch {
      throw new UsageError(
        `--base ${values.base}: no such commit in this repository; give a commit hash, tag or branch`,
      );
    }
    base = await makeBase(values.base);
  }
  const started = performance.now();
  console.error(
    `# ${await machine()}\n# ${settings.rounds} rounds, ${settings.warmup} s warm-up + ${settings.duration} s measured per run${
      base ? `\n# base: ${base}` : ""
    }`,
  );
  for (const note of notes) console.error(`# note: ${note}`);
  const summaries: Summary[] = [];
  let failures = 0;
  for (const scenario of chosen) {
    const runs: Run[] = [];
    const rounds = values.rounds === undefined && !quick
      ? scenario.rounds ?? settings.rounds
      : settings.rounds;
    for (let round = 1; round <= rounds; round++) {
      for (const impl of settings.impls) {
        if (serverName(impl, scenario) === undefined) continue;
        let run: Run;
        try {
          run = await runOnce(impl, scenario, round, settings);
        } catch (error) {
          failures++;
          console.error(`# ${scenario.key} ${impl}: ${error}`);
          continue;
        }
        runs.push(run);
        // A lost datagram or a reset is not the bench code rotting; no
        // answers, or many wrong ones, are.
        if (run.result.ops === 0 || run.result.errors > run.result.ops / 100) {
          failures++;
        }
        console.error(
          `# ${scenario.key} round ${round} ${impl}: ${
            scenario.protocol === "idle"
              ? `${fmt(run.perConnKiB, 2)} KiB/conn`
              : `${fmt(run.throughput)} ${scenario.unit}, ${
                fmt(run.cpuPerOp, 2)
              } µs/op, server ${fmt(run.serverPct)}%, load ${
                fmt(run.loadPct)
              }%, other ${fmt(run.otherPct)}%`
          }${run.result.errors ? `, ${run.result.errors} errors` : ""}`,
        );
      }
    }
    summaries.push({ scenario, runs });
  }
  const seconds = (performance.now() - started) / 1000;
  const goals = targets(summaries);
  console.log(`Machine: ${await machine()}.`);
  if (base) console.log(`base: ${base}.`);
  console.log(
    `Medians of ${settings.rounds} alternating rounds (${
      settings.impls.join(", ")
    }, …${
      values.rounds === undefined && !quick ? "; 5 for the line scenarios" : ""
    }), ${settings.duration} s measured after ${settings.warmup} s warm-up; the suite took ${
      fmt(seconds)
    } s.\n`,
  );
  console.log(table(summaries));
  if (base) console.log(`\n${beforeAfter(summaries)}`);
  if (goals.text) console.log(`\n${goals.text}`);
  if (values.json) {
    await Deno.writeTextFile(
      values.json,
      JSON.stringify({ settings, base, summaries }, null, 2),
    );
  }
  if (failures > 0) {
    console.error(`# ${failures} runs failed or saw errors`);
    return 1;
  }
  return 0;
}

if (import.meta.main) {
  // Interrupted: stop the servers and the generator, then clean up.
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    Deno.addSignalListener(signal, () => {
      for (const child of running) {
        try {
          child.kill("SIGKILL");
        } catch {
          // Already gone.
        }
      }
      cleanUp().finally(() => Deno.exit(signal === "SIGINT" ? 130 : 143));
    });
  }
  let code: number;
  try {
    code = await main();
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    console.error(`bench: ${error.message}`);
    code = 2;
  } finally {
    await cleanUp();
  }
  Deno.exit(code);
}
