#!/usr/bin/env -S deno run --allow-run=deno
/**
 * One machine, several cores: runs N sum servers (`sum_server.ts`) on one
 * port, each its own process with `serve({ reusePort: true })`, so that the
 * kernel spreads the connections among them (Linux `SO_REUSEPORT`). One
 * Deno process uses about one core for JavaScript; N processes use N.
 *
 * ```sh
 * deno run --allow-run=deno examples/workers.ts [--workers 2] [--host 127.0.0.1] [--port 9231] [-- SUM-SERVER FLAGS]
 * deno task workers --workers 4
 * ```
 *
 * This process opens no socket; it runs `deno`, and each worker gets the
 * grant it needs, `--allow-net=HOST:PORT --unstable-net`, and no more.
 * Flags after `--` go to every sum server (`-- --proxy-protocol
 * --drain-delay 2000` behind a load balancer). It prints `listening on
 * HOST:PORT` once every worker listens. Ctrl-C or SIGTERM stop every
 * worker the way one sum server stops; it exits 0 when they all exited 0,
 * and when it is stopped so before they all listen.
 * With `--port 0` the first worker's port is shared by the others. Stop it
 * with a signal it can catch: after a SIGKILL the workers run on.
 *
 * @module
 */
import {
  countFlag,
  Failure,
  hostFlag,
  hostPort,
  listenPortFlag,
  onStopSignal,
  parseFlags,
  run,
} from "./_common/cli.ts";

const HELP =
  `usage: workers.ts [--workers 2] [--host 127.0.0.1] [--port 9231] [-- SUM-SERVER FLAGS]

Runs N sum servers on one port (SO_REUSEPORT), one process each, and stops
them all on Ctrl-C or SIGTERM.

  --workers N    how many sum servers, 1 to 256 (default 2; one per core)
  --host H       the address they listen on (default 127.0.0.1)
  --port P       the port, 0 to 65535; 0: the first worker's (default 9231)
  -h, --help     show this help

Flags after -- go to every sum server (see sum_server.ts --help).

Grant: --allow-run=deno (the workers get --allow-net=H:P --unstable-net).`;

const MOST_WORKERS = 256;

/** One sum server process, its stdout lines read as they come. */
class Worker {
  readonly child: Deno.ChildProcess;
  readonly #lines: ReadableStreamDefaultReader<string>;

  constructor(hostname: string, port: number, extra: string[]) {
    const grant = `--allow-net=${hostPort(hostname, port)}`;
    const main = new URL("./sum_server.ts", import.meta.url).href;
    const command = new Deno.Command("deno", {
      args: [
        "run",
        "--no-prompt",
        grant,
        "--unstable-net",
        main,
        "--host",
        hostname,
        "--port",
        String(port),
        "--reuse-port",
        ...extra,
      ],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    });
    try {
      this.child = command.spawn();
    } catch (error) {
      if (error instanceof Deno.errors.NotCapable) {
        throw new Failure(
          "Cannot run deno for the workers: permission denied, run again with --allow-run=deno",
        );
      }
      if (error instanceof Deno.errors.NotFound) {
        throw new Failure("Cannot run deno for the workers: it is not on PATH");
      }
      throw error;
    }
    this.#lines = this.child.stdout
      .pipeThrough(new TextDecoderStream())
      .pipeThrough(lines())
      .getReader();
    // Passed on through this process, so that nothing holds its stderr
    // but itself.
    this.errors = this.child.stderr.pipeTo(
      new WritableStream({ write: (chunk) => void Deno.stderr.write(chunk) }),
    ).catch(() => {});
  }

  /** Settles when the worker's stderr has ended. */
  readonly errors: Promise<void>;

  /**
   * The port from the worker's `listening on HOST:PORT` line; undefined
   * when it ended without one because it was stopped.
   */
  async listening(stopping: () => boolean): Promise<number | undefined> {
    for (;;) {
      const { value, done } = await this.#lines.read();
      if (done) {
        const { code } = await this.child.status;
        if (stopping()) return undefined;
        throw new Failure(
          `a sum server stopped before listening (exit ${code})`,
        );
      }
      if (value.startsWith("listening on ")) {
        return Number(value.slice(value.lastIndexOf(":") + 1));
      }
      console.log(value);
    }
  }

  /** Passes the rest of the worker's output on. */
  async relay(): Promise<void> {
    for (;;) {
      const { value, done } = await this.#lines.read();
      if (done) return;
      console.log(value);
    }
  }

  stop(): void {
    try {
      this.child.kill("SIGTERM");
    } catch {
      // Already ended.
    }
  }
}

function lines(): TransformStream<string, string> {
  let rest = "";
  return new TransformStream({
    transform(chunk, controller) {
      const parts = (rest + chunk).split("\n");
      rest = parts.pop()!;
      for (const part of parts) controller.enqueue(part);
    },
    flush(controller) {
      if (rest) controller.enqueue(rest);
    },
  });
}

async function main(): Promise<void> {
  const dash = Deno.args.indexOf("--");
  const ours = dash < 0 ? Deno.args : Deno.args.slice(0, dash);
  const extra = dash < 0 ? [] : Deno.args.slice(dash + 1);
  const { values } = parseFlags(
    {
      workers: { type: "string", default: "2" },
      host: { type: "string", default: "127.0.0.1" },
      port: { type: "string" },
    },
    false,
    ours,
  );
  const count = countFlag("--workers", values.workers, MOST_WORKERS);
  const hostname = hostFlag(values.host);
  let port = listenPortFlag(values.port, 9231);

  const workers: Worker[] = [];
  let stopping = false;
  const stopAll = () => {
    stopping = true;
    for (const worker of workers) worker.stop();
  };
  using _stop = onStopSignal(stopAll);
  try {
    // The first worker picks the port when it is 0; the rest join it.
    for (let i = 0; i < count && !stopping; i++) {
      const worker = new Worker(hostname, port, extra);
      workers.push(worker);
      port = await worker.listening(() => stopping) ?? port;
    }
  } catch (error) {
    stopAll();
    await Promise.all(workers.map((worker) => worker.child.status));
    throw error;
  }
  if (stopping) {
    // Stopped during start-up, as asked: the workers started so far are
    // stopping too; once they are gone, that is a clean end.
    await Promise.all(workers.map((worker) => worker.child.status));
    return;
  }
  console.log(`${workers.length} workers`);
  console.log(`listening on ${hostPort(hostname, port)}`);
  // A worker that ends by itself takes the others down with it.
  const ended = workers.map(async (worker) => {
    await worker.relay();
    await worker.errors;
    const { code } = await worker.child.status;
    if (!stopping) stopAll();
    return code;
  });
  const codes = await Promise.all(ended);
  const failed = codes.filter((code) => code !== 0).length;
  if (failed > 0) {
    throw new Failure(
      `${failed} of ${codes.length} sum servers exited with a failure (codes ${
        codes.join(", ")
      })`,
    );
  }
}

if (import.meta.main) await run(main, HELP);
