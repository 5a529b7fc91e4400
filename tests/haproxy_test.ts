// sock's servers behind a real HAProxy (Debian's haproxy, 2.6), on loopback:
// PROXY v2 addresses seen end to end, health checks, a rolling restart of
// both backends under load, and an HAProxy reload under load, with no
// failed request. HAProxy runs in the foreground from a config generated
// here, on ports chosen free; the test skips when haproxy is not installed.
import assert from "node:assert/strict";
import { connect } from "../mod.ts";
import {
  flagsWithPort,
  type RunningExample,
  startExample,
} from "../tools/examples.ts";
import {
  bounded,
  canRun,
  DeadlineError,
  delay,
  findProgram,
  test,
} from "./_helpers.ts";
import {
  distinctFreePorts,
  helloFrom,
  sumLoad,
  waitForPort,
} from "./_balancer.ts";

/** The haproxy program: on PATH, or in /usr/sbin where Debian puts it. */
const HAPROXY = findProgram("haproxy") ?? "haproxy";
const haveHaproxy = await canRun(HAPROXY, ["-v"]);
if (!haveHaproxy) {
  console.log(
    "haproxy tests ignored: haproxy is not installed, neither on PATH nor in /usr/sbin (apt-get install haproxy)",
  );
}

/** How long each load phase runs. */
const LOAD_MS = 10_000;
/** The health-check interval: a backend is marked down or up within 2 of them. */
const CHECK_MS = 100;
/** How long a stopping backend fails its checks before it closes its port. */
const DRAIN_MS = 600;

function haproxyTest(
  name: string,
  fn: () => Promise<void>,
  deadline = 60_000,
): void {
  test(name, fn, { deadline, ignore: !haveHaproxy });
}

test("haproxy is looked for on PATH, then where Debian installs it", async (t) => {
  assert.equal(findProgram("sh", "/nonexistent:/bin"), "/bin/sh");
  assert.equal(findProgram("no-such-program-here", "/bin"), undefined);
  // Debian's haproxy is in /usr/sbin, which a user's PATH often lacks.
  const debian = isProgram("/usr/sbin/haproxy");
  if (!debian) console.log("ignored: there is no /usr/sbin/haproxy here");
  await t.step({
    name: "/usr/sbin/haproxy with a PATH without /usr/sbin",
    ignore: !debian,
    fn: () =>
      assert.equal(findProgram("haproxy", "/nonexistent"), "/usr/sbin/haproxy"),
  });
});

/** Whether `file` is an executable file. */
function isProgram(file: string): boolean {
  try {
    const { isFile, mode } = Deno.statSync(file);
    return isFile && ((mode ?? 0) & 0o111) !== 0;
  } catch {
    return false;
  }
}

interface Ports {
  frontend: number;
  hello: number;
  stats: number;
  a: number;
  b: number;
  helloA: number;
}

/** The haproxy.cfg that docs/DEPLOYMENT.md shows. */
const DOCUMENTED = (() => {
  const page = Deno.readTextFileSync(
    new URL("../docs/DEPLOYMENT.md", import.meta.url),
  );
  const block = /```haproxy\n([\s\S]*?)```/.exec(page);
  if (!block) throw new Error("docs/DEPLOYMENT.md has no haproxy block");
  return block[1]!;
})();

/**
 * The documented config on this test's ports: the listening addresses, the
 * admin socket's path and the check interval are changed, each exactly
 * where the page has it, and a stats socket on TCP (for this test to read)
 * and a frontend for the hello server are added.
 */
function config(ports: Ports, dir: string): string {
  let text = DOCUMENTED;
  const change = (from: string, to: string) => {
    const parts = text.split(from);
    if (parts.length !== 2) {
      throw new Error(
        `docs/DEPLOYMENT.md's haproxy.cfg has ${
          parts.length - 1
        } "${from}", not 1`,
      );
    }
    text = parts.join(to);
  };
  change("/tmp/haproxy-admin.sock", `${dir}/admin.sock`);
  change("bind 127.0.0.1:9000", `bind 127.0.0.1:${ports.frontend}`);
  change("inter 1s", `inter ${CHECK_MS}ms`);
  change("server a 127.0.0.1:9231", `server a 127.0.0.1:${ports.a}`);
  change("server b 127.0.0.1:9232", `server b 127.0.0.1:${ports.b}`);
  change(
    "level admin expose-fd listeners\n",
    `level admin expose-fd listeners\n    stats socket ipv4@127.0.0.1:${ports.stats} level admin\n`,
  );
  return `${text}
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
    this.child = new Deno.Command(HAPROXY, {
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
  ms = 5_000,
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
  throw new DeadlineError(
    `${server} is ${last}, not ${status}, after ${ms} ms`,
  );
}

function startSumServer(port: number): RunningExample {
  return startExample(
    "sum_server",
    [
      "--port",
      String(port),
      "--proxy-protocol",
      "--drain-delay",
      String(DRAIN_MS),
    ],
    flagsWithPort("sum_server", port),
  );
}

/** HAProxy in front of two sum servers and a hello server, all started. */
class Deployment {
  readonly dir: string;
  readonly ports: Ports;
  readonly configPath: string;
  readonly servers: Record<"a" | "b", RunningExample>;
  readonly hello: RunningExample;
  haproxy: Haproxy | undefined;

  private constructor(dir: string) {
    this.dir = dir;
    const [frontend, hello, stats, a, b, helloA] = distinctFreePorts(6);
    this.ports = { frontend, hello, stats, a, b, helloA } as Ports;
    this.configPath = `${dir}/haproxy.cfg`;
    this.servers = {
      a: startSumServer(this.ports.a),
      b: startSumServer(this.ports.b),
    };
    this.hello = startExample(
      "hello_server",
      ["--port", String(this.ports.helloA), "--proxy-protocol"],
      flagsWithPort("hello_server", this.ports.helloA),
    );
  }

  static async start(): Promise<Deployment> {
    const deployment = new Deployment(
      await Deno.makeTempDir({ prefix: "sock-haproxy-" }),
    );
    try {
      await deployment.#start();
    } catch (error) {
      await deployment[Symbol.asyncDispose]();
      throw error;
    }
    return deployment;
  }

  async #start(): Promise<void> {
    await Deno.writeTextFile(this.configPath, config(this.ports, this.dir));
    const check = await new Deno.Command(HAPROXY, {
      args: ["-c", "-f", this.configPath],
      stdout: "null",
      stderr: "piped",
    }).output();
    assert.ok(check.success, new TextDecoder().decode(check.stderr));
    await this.servers.a.listening();
    await this.servers.b.listening();
    await this.hello.listening();
    const haproxy = this.haproxy = new Haproxy(this.configPath);
    await Promise.race([
      waitForPort(this.ports.frontend),
      haproxy.child.status.then(async ({ code }) => {
        throw new Error(`haproxy exited ${code}: ${await haproxy.output}`);
      }),
    ]);
    await this.waitFor("sum_servers/a", /^UP/);
    await this.waitFor("sum_servers/b", /^UP/);
    await this.waitFor("hello_servers/h", /^UP/);
  }

  waitFor(server: string, status: RegExp, ms?: number): Promise<void> {
    return waitForStatus(this.ports.stats, server, status, ms);
  }

  stats() {
    return stats(this.ports.stats);
  }

  /** Set by a failing test: the programs' output is printed at the end. */
  failed = false;

  async [Symbol.asyncDispose](): Promise<void> {
    await this.haproxy?.stop();
    const output = [`haproxy: ${await this.haproxy?.output}`];
    for (const [name, server] of Object.entries(this.servers)) {
      output.push(`${name}: ${(await server.stop()).stderr}`);
    }
    output.push(`hello: ${(await this.hello.stop()).stderr}`);
    await Deno.remove(this.dir, { recursive: true });
    if (this.failed) console.error(output.join("\n"));
  }
}

const canBind127002 =
  Deno.permissions.querySync({ name: "net", host: "127.0.0.2" }).state ===
    "granted";

haproxyTest(
  "HAProxy in front: clients from 127.0.0.1 and 127.0.0.2 are seen as themselves",
  async () => {
    if (!canBind127002) {
      console.log(
        "only the 127.0.0.1 client: a client from 127.0.0.2 needs --allow-net=127.0.0.2 (deno task test grants it)",
      );
    }
    await using deployment = await Deployment.start();
    try {
      for (
        const from of canBind127002 ? ["127.0.0.1", "127.0.0.2"] : ["127.0.0.1"]
      ) {
        const { port, reply } = await helloFrom(from, deployment.ports.hello);
        assert.equal(reply, "Hello World\n");
        await deployment.hello.waitForLine(
          new RegExp(`^said hello to ${from.replaceAll(".", "\\.")}:${port}$`),
          5000,
        );
      }
    } catch (error) {
      deployment.failed = true;
      throw error;
    }
  },
);

haproxyTest(
  "HAProxy in front: health checks, rolling restarts and a reload under load, with no failed request",
  async () => {
    await using deployment = await Deployment.start();
    try {
      const { ports, servers } = deployment;

      // Health checks (a LOCAL header, then "1 2 ", every 100 ms) have been
      // hitting both backends all along; both are up and both get traffic.
      const before = await deployment.stats();
      let load = await sumLoad(ports.frontend, 1000);
      assert.equal(load.failed, 0, load.failures.join("\n"));
      const after = await deployment.stats();
      const share = (name: string) =>
        after.get(`sum_servers/${name}`)!.sessions -
        before.get(`sum_servers/${name}`)!.sessions;
      assert.ok(
        share("a") > 0 && share("b") > 0,
        `a served ${share("a")}, b ${share("b")}`,
      );

      // A rolling restart under load: a, then b. SIGTERM; the server fails
      // its checks for DRAIN_MS while serving on, HAProxy marks it down,
      // then it closes its port, finishes, and exits 0; a new one starts on
      // the same port and is marked up.
      const loadEnds = performance.now() + LOAD_MS;
      const running = sumLoad(ports.frontend, LOAD_MS);
      await delay(1000);
      const drains: number[] = [];
      for (const name of ["a", "b"] as const) {
        const old = servers[name];
        const started = performance.now();
        old.kill("SIGTERM");
        await deployment.waitFor(`sum_servers/${name}`, /^DOWN/, DRAIN_MS);
        const result = await old.finish(15_000);
        drains.push(performance.now() - started);
        assert.equal(
          result.code,
          0,
          `${name} exited ${result.code}: ${result.stderr}`,
        );
        assert.equal(
          result.stderr.trim(),
          "",
          `${name} said: ${result.stderr}`,
        );
        servers[name] = startSumServer(ports[name]);
        await servers[name].listening();
        await deployment.waitFor(`sum_servers/${name}`, /^UP/);
        await delay(500);
      }
      assert.ok(
        performance.now() < loadEnds,
        "both restarts were over before the load ended",
      );
      load = await running;
      console.log(
        `rolling restart: ${load.served} requests served, ${load.failed} failed; SIGTERM to exit took ${
          drains.map((ms) => `${ms.toFixed(0)} ms`).join(" (a) and ")
        } (b), with --drain-delay ${DRAIN_MS}`,
      );
      assert.equal(load.failed, 0, load.failures.join("\n"));
      assert.ok(load.served > 0);

      // An HAProxy reload under load: a new process takes the listening
      // sockets over (-x) and tells the old one (-sf) to finish its
      // connections and exit.
      const reloadLoadEnds = performance.now() + LOAD_MS;
      const reloading = sumLoad(ports.frontend, LOAD_MS);
      await delay(2000);
      const old = deployment.haproxy!;
      const reloaded = performance.now();
      deployment.haproxy = new Haproxy(deployment.configPath, [
        "-x",
        `${deployment.dir}/admin.sock`,
        "-sf",
        String(old.pid),
      ]);
      const oldStatus = await bounded(old.child.status, 15_000, "old haproxy");
      const oldGone = performance.now() - reloaded;
      assert.ok(
        performance.now() < reloadLoadEnds,
        "the old haproxy was gone before the load ended",
      );
      await old.output;
      load = await reloading;
      console.log(
        `haproxy reload: ${load.served} requests served, ${load.failed} failed; the old process exited ${oldStatus.code} after ${
          oldGone.toFixed(0)
        } ms`,
      );
      assert.equal(load.failed, 0, load.failures.join("\n"));
      assert.equal(oldStatus.code, 0);

      // The backends took every check and every request without a word on
      // stderr, and stop cleanly.
      for (const [name, server] of Object.entries(servers)) {
        const result = await server.stop();
        assert.deepEqual([result.code, result.stderr], [0, ""], name);
      }
    } catch (error) {
      deployment.failed = true;
      throw error;
    }
  },
);
