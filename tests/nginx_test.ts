// sock's servers behind a real nginx (Debian's nginx with its stream
// module), on loopback: the client's own address reaches the handler
// through `proxy_protocol on`, and `nginx -s reload` under load loses no
// request. nginx runs in the foreground from the config docs/DEPLOYMENT.md
// shows, with its own prefix, pid file and ports in a temporary directory;
// the test skips when nginx or its stream module is not installed.
import assert from "node:assert/strict";
import {
  flagsWithPort,
  type RunningExample,
  startExample,
} from "../tools/examples.ts";
import { bounded, canRun, delay, findProgram, test } from "./_helpers.ts";
import {
  distinctFreePorts,
  helloFrom,
  sumLoad,
  waitForPort,
} from "./_balancer.ts";

/** Where Debian's libnginx-mod-stream puts the module. */
const STREAM_MODULE = "/usr/lib/nginx/modules/ngx_stream_module.so";

/** The nginx program: on PATH, or in /usr/sbin where Debian puts it. */
const NGINX = findProgram("nginx") ?? "nginx";
const missing = !await canRun(NGINX, ["-v"])
  ? "nginx is not installed (apt-get install nginx libnginx-mod-stream)"
  : !await Deno.stat(STREAM_MODULE).then(() => true, () => false)
  ? `its stream module is not at ${STREAM_MODULE} (apt-get install libnginx-mod-stream)`
  : undefined;
if (missing) console.log(`nginx tests ignored: ${missing}`);

/** How long the load runs, and when the reloads come. */
const LOAD_MS = 6000;
const RELOADS_AT_MS = [1000, 3000];

function nginxTest(name: string, fn: () => Promise<void>): void {
  test(name, fn, { deadline: 60_000, ignore: missing !== undefined });
}

/** The stream block that docs/DEPLOYMENT.md shows. */
const DOCUMENTED = (() => {
  const page = Deno.readTextFileSync(
    new URL("../docs/DEPLOYMENT.md", import.meta.url),
  );
  const block = /```nginx\n([\s\S]*?)```/.exec(page);
  if (!block) throw new Error("docs/DEPLOYMENT.md has no nginx block");
  return block[1]!;
})();

interface Ports {
  frontend: number;
  hello: number;
  a: number;
  b: number;
  helloA: number;
}

/**
 * A whole nginx.conf around the documented stream block, on this test's
 * ports: the listen address and the two servers are changed, each exactly
 * where the page has them, and a frontend for the hello server is added.
 */
function config(ports: Ports, dir: string): string {
  let text = DOCUMENTED;
  const change = (from: string, to: string) => {
    const parts = text.split(from);
    if (parts.length !== 2) {
      throw new Error(
        `docs/DEPLOYMENT.md's nginx block has ${
          parts.length - 1
        } "${from}", not 1`,
      );
    }
    text = parts.join(to);
  };
  change("listen 9000;", `listen 127.0.0.1:${ports.frontend};`);
  change("server 127.0.0.1:9231", `server 127.0.0.1:${ports.a}`);
  change("server 127.0.0.1:9232", `server 127.0.0.1:${ports.b}`);
  change(
    "    server {\n",
    `    server {
        listen 127.0.0.1:${ports.hello};
        proxy_pass 127.0.0.1:${ports.helloA};
        proxy_protocol on;
    }

    server {
`,
  );
  return `load_module ${STREAM_MODULE};
pid ${dir}/nginx.pid;
error_log stderr notice;
worker_processes 1;
events {
    worker_connections 1024;
}
${text}`;
}

/** The nginx command line for this config, as `nginx -s` needs it too. */
function nginxArgs(dir: string): string[] {
  return ["-p", dir, "-c", `${dir}/nginx.conf`, "-e", "stderr"];
}

function startSumServer(port: number): RunningExample {
  return startExample(
    "sum_server",
    ["--port", String(port), "--proxy-protocol"],
    flagsWithPort("sum_server", port),
  );
}

/** nginx in front of two sum servers and a hello server, all started. */
class Deployment {
  readonly dir: string;
  readonly ports: Ports;
  readonly servers: Record<"a" | "b", RunningExample>;
  readonly hello: RunningExample;
  nginx: Deno.ChildProcess | undefined;
  output: Promise<string> = Promise.resolve("");

  private constructor(dir: string) {
    this.dir = dir;
    const [frontend, hello, a, b, helloA] = distinctFreePorts(5);
    this.ports = { frontend, hello, a, b, helloA } as Ports;
    this.servers = { a: startSumServer(a!), b: startSumServer(b!) };
    this.hello = startExample(
      "hello_server",
      ["--port", String(helloA), "--proxy-protocol"],
      flagsWithPort("hello_server", helloA!),
    );
  }

  static async start(): Promise<Deployment> {
    const deployment = new Deployment(
      await Deno.makeTempDir({ prefix: "sock-nginx-" }),
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
    await Deno.writeTextFile(
      `${this.dir}/nginx.conf`,
      config(this.ports, this.dir),
    );
    const check = await new Deno.Command(NGINX, {
      args: [...nginxArgs(this.dir), "-t"],
      stdout: "null",
      stderr: "piped",
    }).output();
    assert.ok(check.success, new TextDecoder().decode(check.stderr));
    await this.servers.a.listening();
    await this.servers.b.listening();
    await this.hello.listening();
    const nginx = this.nginx = new Deno.Command(NGINX, {
      args: [...nginxArgs(this.dir), "-g", "daemon off;"],
      stdin: "null",
      stdout: "null",
      stderr: "piped",
    }).spawn();
    this.output = new Response(nginx.stderr).text();
    // Probed through the hello frontend: the sum servers' counts stay
    // those of the load alone.
    await Promise.race([
      waitForPort(this.ports.hello),
      nginx.status.then(async ({ code }) => {
        throw new Error(`nginx exited ${code}: ${await this.output}`);
      }),
    ]);
  }

  /**
   * `nginx -s reload`: the master rereads the config, old workers finish.
   * With `down`, the config first marks that backend `down`.
   */
  async reload(down?: "a" | "b"): Promise<void> {
    let text = config(this.ports, this.dir);
    if (down) {
      const server = `server 127.0.0.1:${this.ports[down]} `;
      assert.equal(text.split(server).length, 2);
      text = text.replace(server, `${server}down `);
    }
    await Deno.writeTextFile(`${this.dir}/nginx.conf`, text);
    const result = await new Deno.Command(NGINX, {
      args: [...nginxArgs(this.dir), "-s", "reload"],
      stdout: "null",
      stderr: "piped",
    }).output();
    assert.ok(result.success, new TextDecoder().decode(result.stderr));
  }

  /** Set by a failing test: the programs' output is printed at the end. */
  failed = false;

  async [Symbol.asyncDispose](): Promise<void> {
    if (this.nginx) {
      try {
        this.nginx.kill("SIGQUIT");
      } catch {
        // Already ended.
      }
      await bounded(this.nginx.status, 10_000, "nginx's exit");
    }
    const output = [`nginx: ${await this.output}`];
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

nginxTest(
  "nginx in front: clients from 127.0.0.1 and 127.0.0.2 are seen as themselves",
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

nginxTest(
  "nginx in front: reloads under load lose no request, and the backends count every one",
  async () => {
    await using deployment = await Deployment.start();
    try {
      const started = performance.now();
      const running = sumLoad(deployment.ports.frontend, LOAD_MS);
      for (const at of RELOADS_AT_MS) {
        await delay(at - (performance.now() - started));
        await deployment.reload();
      }
      assert.ok(
        performance.now() - started < LOAD_MS,
        "the reloads came while the load ran",
      );
      const load = await running;
      console.log(
        `nginx reload ×${RELOADS_AT_MS.length}: ${load.served} requests served, ${load.failed} failed`,
      );
      assert.equal(load.failed, 0, load.failures.join("\n"));
      assert.ok(load.served > 0);

      // Each backend's own count, from the summary it prints as it stops:
      // together they served exactly the requests the clients saw answered.
      let served = 0;
      for (const [name, server] of Object.entries(deployment.servers)) {
        const result = await server.stop();
        assert.deepEqual([result.code, result.stderr], [0, ""], name);
        const summary = /^served ([\d,]+) clients?, 0 errors, /m.exec(
          result.stdout,
        );
        assert.ok(summary, `${name}'s summary: ${result.stdout}`);
        const count = Number(summary[1]!.replaceAll(",", ""));
        assert.ok(count > 0, `${name} got a share`);
        served += count;
      }
      assert.equal(served, load.served);

      // Both reloads happened: nginx reconfigured, and old workers left.
      deployment.nginx!.kill("SIGQUIT");
      await bounded(deployment.nginx!.status, 10_000, "nginx's exit");
      const log = await deployment.output;
      assert.equal(
        log.match(/reconfiguring$/gm)?.length,
        2 * RELOADS_AT_MS.length,
        log,
      );
      assert.equal(
        log.match(/gracefully shutting down$/gm)?.length! >=
          RELOADS_AT_MS.length,
        true,
        log,
      );
    } catch (error) {
      deployment.failed = true;
      throw error;
    }
  },
);

nginxTest(
  "nginx in front: a backend marked down and reloaded out, then restarted, loses no request",
  async () => {
    await using deployment = await Deployment.start();
    try {
      const { ports, servers } = deployment;
      const started = performance.now();
      const running = sumLoad(ports.frontend, LOAD_MS);
      await delay(1000);
      // As docs/DEPLOYMENT.md says: out of the upstream block first, then the
      // old workers finish their connections to it, then it stops.
      await deployment.reload("a");
      await delay(500);
      const old = await servers.a.stop();
      assert.deepEqual([old.code, old.stderr], [0, ""]);
      const before = /^served ([\d,]+) clients?, 0 errors, /m.exec(old.stdout);
      assert.ok(
        before && Number(before[1]!.replaceAll(",", "")) > 0,
        old.stdout,
      );
      servers.a = startSumServer(ports.a);
      await servers.a.listening();
      await deployment.reload();
      await delay(1500);
      assert.ok(
        performance.now() - started < LOAD_MS,
        "the restart was over while the load ran",
      );
      const load = await running;
      console.log(
        `nginx, backend a marked down, restarted and put back: ${load.served} requests served, ${load.failed} failed`,
      );
      assert.equal(load.failed, 0, load.failures.join("\n"));
      const after = await servers.a.stop();
      assert.match(after.stdout, /^served [1-9][\d,]* clients?, 0 errors, /m);
    } catch (error) {
      deployment.failed = true;
      throw error;
    }
  },
);
