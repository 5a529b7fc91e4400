// sock's servers behind a real HAProxy (Debian's haproxy, 2.6), on loopback:
// PROXY v2 addresses seen end to end, health checks, a rolling restart of
// both backends under load, and an HAProxy reload under load, with no
// failed request. HAProxy runs in the foreground from a config generated
// here, on ports chosen free; the test skips when haproxy is not installed.
import assert from "node:assert/strict";
import net from "node:net";
import { connect } from "../mod.ts";
import {
  flagsWithPort,
  freePort,
  type RunningExample,
  startExample,
} from "../tools/examples.ts";
import { bounded, canRun, delay } from "./_helpers.ts";

const haveHaproxy = await canRun("haproxy", ["-v"]);
if (!haveHaproxy) {
  console.log(
    "haproxy tests skipped: haproxy is not installed (apt-get install haproxy)",
  );
}

/** How long each load phase runs, and how many clients loop in it. */
const LOAD_MS = 10_000;
const CLIENTS = 8;
/** The health-check interval: a backend is marked down or up within 2 of them. */
const CHECK_MS = 100;
/** How long a stopping backend fails its checks before it closes its port. */
const DRAIN_MS = 600;

function haproxyTest(
  name: string,
  fn: () => Promise<void>,
  deadline = 60_000,
): void {
  Deno.test({
    name,
    ignore: !haveHaproxy,
    fn: () => bounded(fn(), deadline, "the test"),
  });
}

interface Ports {
  frontend: number;
  hello: number;
  stats: number;
  a: number;
  b: number;
  helloA: number;
}

/**
 * The config a deployment would use (docs/DEPLOYMENT.md explains each
 * line): PROXY v2 to every backend, health checks every CHECK_MS, and
 * retries with redispatch, so that a connection refused by a backend that
 * is going away is retried on the other one.
 */
function config(ports: Ports, dir: string): string {
  return `global
    maxconn 2000
    stats socket ${dir}/admin.sock mode 600 level admin expose-fd listeners
    stats socket ipv4@127.0.0.1:${ports.stats} level admin

defaults
    mode tcp
    timeout connect 2s
    timeout client 10s
    timeout server 10s
    timeout check 1s
    retries 3
    option redispatch 1

frontend sum
    bind 127.0.0.1:${ports.frontend}
    default_backend sum_servers

backend sum_servers
    balance roundrobin
    option tcp-check
    tcp-check send "1 2 "
    tcp-check expect string 3
    default-server send-proxy-v2 check inter ${CHECK_MS}ms fall 2 rise 2
    server a 127.0.0.1:${ports.a}
    server b 127.0.0.1:${ports.b}

frontend hello
    bind 127.0.0.1:${ports.hello}
    default_backend hello_servers

backend hello_servers
    server h 127.0.0.1:${ports.helloA} send-proxy-v2 check inter ${CHECK_MS}ms
`;
}

/** HAProxy in the foreground, its output collected. */
class Haproxy {
  readonly child: Deno.ChildProcess;
  readonly output: Promise<string>;

  constructor(configPath: string, args: string[] = []) {
    this.child = new Deno.Command("haproxy", {
      args: ["-db", "-f", configPath, ...args],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const decode = (stream: ReadableStream<Uint8Array>) =>
      new Response(stream).text();
    this.output = Promise.all([
      decode(this.child.stdout),
      decode(this.child.stderr),
    ]).then(([out, err]) => out + err);
  }

  get pid(): number {
    return this.child.pid;
  }

  /** Stops it at once and waits for the end. */
  async stop(): Promise<void> {
    try {
      this.child.kill("SIGTERM");
    } catch {
      // Already ended.
    }
    await bounded(this.child.status, 10_000, "haproxy's exit");
    await this.output;
  }
}

/** The servers' states and session counts from HAProxy's stats socket. */
async function stats(
  port: number,
): Promise<Map<string, { status: string; sessions: number }>> {
  await using socket = await connect({ port, timeout: 2000 });
  await socket.write("show stat\n");
  await socket.flush();
  const csv = new TextDecoder().decode(await socket.readAll({ timeout: 2000 }));
  const [head, ...rows] = csv.trim().split("\n");
  const names = head!.replace(/^# /, "").split(",");
  const at = (name: string) => names.indexOf(name);
  const out = new Map<string, { status: string; sessions: number }>();
  for (const row of rows) {
    const cells = row.split(",");
    out.set(`${cells[at("pxname")]}/${cells[at("svname")]}`, {
      status: cells[at("status")]!,
      sessions: Number(cells[at("stot")]),
    });
  }
  return out;
}

/** Waits until HAProxy reports `server` in `status` (e.g. "UP"). */
async function waitForStatus(
  statsPort: number,
  server: string,
  status: RegExp,
  ms = 10_000,
): Promise<void> {
  const end = performance.now() + ms;
  let last = "";
  while (performance.now() < end) {
    try {
      last = (await stats(statsPort)).get(server)?.status ?? "(none)";
      if (status.test(last)) return;
    } catch (error) {
      last = String(error);
    }
    await delay(20);
  }
  throw new Error(`${server} is ${last}, not ${status}, after ${ms} ms`);
}

/** Waits until something accepts connections on `port`. */
async function waitForPort(port: number, ms = 10_000): Promise<void> {
  const end = performance.now() + ms;
  for (;;) {
    try {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port });
      conn.close();
      return;
    } catch (error) {
      if (performance.now() > end) throw error;
      await delay(20);
    }
  }
}

function startSumServer(port: number): RunningExample {
  return startExample(
    "sum_server",
    ["--port", String(port), "--proxy-protocol", "--drain-delay", String(DRAIN_MS)],
    flagsWithPort("sum_server", port),
  );
}

/** What a load phase did. */
interface Load {
  served: number;
  failed: number;
  failures: string[];
}

/**
 * CLIENTS clients, each sending sum requests one after another through the
 * frontend until `ms` have passed; every answer is checked.
 */
async function sumLoad(port: number, ms: number): Promise<Load> {
  const end = performance.now() + ms;
  const load: Load = { served: 0, failed: 0, failures: [] };
  const decoder = new TextDecoder();
  await Promise.all(
    Array.from({ length: CLIENTS }, async (_, client) => {
      for (let i = 0; performance.now() < end; i++) {
        const a = client * 1_000_003 + i;
        const b = i * 7 - 3;
        try {
          await using socket = await connect({ port, timeout: 3000 });
          await socket.write(`${a} ${b} `);
          await socket.flush();
          const answer = decoder.decode(
            await socket.readAll({ timeout: 5000 }),
          );
          if (answer !== String(a + b)) {
            throw new Error(`${a} + ${b}: got ${JSON.stringify(answer)}`);
          }
          load.served++;
        } catch (error) {
          load.failed++;
          if (load.failures.length < 5) {
            load.failures.push(
              `${(performance.now() - end + ms).toFixed(0)} ms: ${error}`,
            );
          }
        }
      }
    }),
  );
  return load;
}

/** Connects from `localAddress` with node:net and reads the whole reply. */
function helloFrom(
  localAddress: string,
  port: number,
): Promise<{ port: number; reply: string }> {
  return new Promise((resolve, reject) => {
    let reply = "";
    const socket = net.connect({ host: "127.0.0.1", port, localAddress });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no reply from ${port} within 5 s`));
    }, 5000);
    socket.setEncoding("utf8");
    socket.on("data", (chunk: string) => reply += chunk);
    socket.on("error", (error) => {
      clearTimeout(timer);
      reject(error);
    });
    socket.on("close", () => {
      clearTimeout(timer);
      resolve({ port: localPort, reply });
    });
    let localPort = 0;
    socket.on("connect", () => localPort = socket.localPort!);
  });
}

haproxyTest(
  "HAProxy in front: real client addresses, health checks, rolling restarts and a reload with no failed request",
  async () => {
    const dir = await Deno.makeTempDir({ prefix: "sock-haproxy-" });
    const ports: Ports = {
      frontend: freePort("tcp"),
      hello: freePort("tcp"),
      stats: freePort("tcp"),
      a: freePort("tcp"),
      b: freePort("tcp"),
      helloA: freePort("tcp"),
    };
    const configPath = `${dir}/haproxy.cfg`;
    await Deno.writeTextFile(configPath, config(ports, dir));
    const check = await new Deno.Command("haproxy", {
      args: ["-c", "-f", configPath],
      stdout: "null",
      stderr: "piped",
    }).output();
    assert.ok(check.success, new TextDecoder().decode(check.stderr));

    const servers: Record<string, RunningExample> = {
      a: startSumServer(ports.a),
      b: startSumServer(ports.b),
    };
    const hello = startExample(
      "hello_server",
      ["--port", String(ports.helloA), "--proxy-protocol"],
      flagsWithPort("hello_server", ports.helloA),
    );
    let haproxy: Haproxy | undefined;
    try {
      await servers.a!.listening();
      await servers.b!.listening();
      await hello.listening();
      haproxy = new Haproxy(configPath);
      await waitForPort(ports.frontend);
      await waitForStatus(ports.stats, "sum_servers/a", /^UP/);
      await waitForStatus(ports.stats, "sum_servers/b", /^UP/);
      await waitForStatus(ports.stats, "hello_servers/h", /^UP/);

      // 1. Each client is seen as itself, not as HAProxy.
      for (const from of ["127.0.0.1", "127.0.0.2"]) {
        const { port, reply } = await helloFrom(from, ports.hello);
        assert.equal(reply, "Hello World\n");
        await hello.waitForLine(
          new RegExp(`^said hello to ${from.replaceAll(".", "\\.")}:${port}$`),
          5000,
        );
      }

      // 2. Health checks (a LOCAL header, then a reset, every 100 ms) have
      // been hitting the backends all along: they are up, serve, and said
      // nothing.
      const before = await stats(ports.stats);
      let load = await sumLoad(ports.frontend, 1000);
      assert.equal(load.failed, 0, load.failures.join("\n"));
      const after = await stats(ports.stats);
      const share = (name: string) =>
        after.get(`sum_servers/${name}`)!.sessions -
        before.get(`sum_servers/${name}`)!.sessions;
      assert.ok(share("a") > 0 && share("b") > 0, `a ${share("a")}, b ${share("b")}`);

      // 3. A rolling restart under load: a, then b.
      const running = sumLoad(ports.frontend, LOAD_MS);
      await delay(1000);
      const drains: number[] = [];
      for (const name of ["a", "b"] as const) {
        const old = servers[name]!;
        const started = performance.now();
        old.kill("SIGTERM");
        const result = await old.finish(15_000);
        drains.push(performance.now() - started);
        assert.equal(result.code, 0, `${name} exited ${result.code}: ${result.stderr}`);
        assert.equal(result.stderr.trim(), "", `${name} said: ${result.stderr}`);
        servers[name] = startSumServer(ports[name]);
        await servers[name]!.listening();
        await waitForStatus(ports.stats, `sum_servers/${name}`, /^UP/);
        await delay(500);
      }
      load = await running;
      console.log(
        `rolling restart: ${load.served} requests served, ${load.failed} failed, drained in ${
          drains.map((ms) => `${ms.toFixed(0)} ms`).join(" and ")
        }`,
      );
      assert.equal(load.failed, 0, load.failures.join("\n"));
      assert.ok(load.served > 0);

      // 4. An HAProxy reload under load: a new process takes the listening
      // sockets over (-x) and the old one finishes its connections (-sf).
      const reloading = sumLoad(ports.frontend, LOAD_MS);
      await delay(2000);
      const old = haproxy;
      haproxy = new Haproxy(configPath, [
        "-x",
        `${dir}/admin.sock`,
        "-sf",
        String(old.pid),
      ]);
      const oldStatus = await bounded(old.child.status, 15_000, "old haproxy");
      await old.output;
      load = await reloading;
      console.log(
        `haproxy reload: ${load.served} requests served, ${load.failed} failed; the old process exited ${oldStatus.code}`,
      );
      assert.equal(load.failed, 0, load.failures.join("\n"));
      assert.equal(oldStatus.code, 0);
    } finally {
      await haproxy?.stop();
      for (const server of Object.values(servers)) await server.stop();
      await hello.stop();
      await Deno.remove(dir, { recursive: true });
    }
  },
);
