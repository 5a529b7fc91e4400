// Runs the example programs as a user would: each with exactly the flags of
// its own shebang line. Shared by the demo and the tests.

const ROOT = new URL("../", import.meta.url);

/** The path of an example, from its file name without `.ts`. */
export function examplePath(name: string): string {
  return new URL(`examples/${name}.ts`, ROOT).pathname;
}

/** The flags of an example's `#!/usr/bin/env -S deno run …` line. */
export function shebangFlags(name: string): string[] {
  const first = Deno.readTextFileSync(examplePath(name)).split("\n", 1)[0]!;
  const match = /^#!\/usr\/bin\/env -S deno run((?: --?[a-z-]+(?:=\S+)?)*)$/
    .exec(first);
  if (!match) throw new Error(`examples/${name}.ts has no deno run shebang`);
  return match[1]!.trim().split(/\s+/);
}

/**
 * The example's shebang flags with its one fixed port replaced by `port` in
 * the `--allow-net` grant: `127.0.0.1:12321` becomes `127.0.0.1:PORT`; a
 * grant for port 0 or for a whole host stays as it is.
 */
export function flagsWithPort(name: string, port: number): string[] {
  return shebangFlags(name).map((flag) => {
    const grant = /^--allow-net=(.+)$/.exec(flag)?.[1];
    if (grant === undefined) return flag;
    const hosts = grant.split(",").map((host) =>
      host.replace(/:[1-9]\d*$/, `:${port}`)
    );
    return `--allow-net=${hosts.join(",")}`;
  });
}

/** A TCP or UDP port on 127.0.0.1 that was free a moment ago. */
export function freePort(transport: "tcp" | "udp"): number {
  return (transport === "tcp" ? bindTcp(0) : bindUdp(0)).port;
}

/** Whether `port` on 127.0.0.1 is free for `transport` right now. */
export function portIsFree(transport: "tcp" | "udp", port: number): boolean {
  try {
    if (transport === "tcp") bindTcp(port);
    else bindUdp(port);
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.AddrInUse) return false;
    throw error;
  }
}

function bindTcp(port: number): { port: number } {
  using listener = Deno.listen({ hostname: "127.0.0.1", port });
  return { port: listener.addr.port };
}

function bindUdp(port: number): { port: number } {
  const socket = Deno.listenDatagram({
    transport: "udp",
    hostname: "127.0.0.1",
    port,
  });
  try {
    return { port: (socket.addr as Deno.NetAddr).port };
  } finally {
    socket.close();
  }
}

/** A wait that ran out of time; a program it waited for was killed. */
export class DeadlineError extends Error {
  override name = "DeadlineError";
}

/** The programs started here that have not ended yet. */
const running = new Set<Deno.ChildProcess>();

/** Notes `child` as running until it ends, for {@linkcode killRunning}. */
export function track(child: Deno.ChildProcess): Deno.ChildProcess {
  running.add(child);
  child.status.finally(() => running.delete(child)).catch(() => {});
  return child;
}

/**
 * Kills every program started here that is still running: for a test that
 * has run out of time, so that nothing it started outlives it.
 */
export function killRunning(): void {
  for (const child of running) {
    try {
      child.kill("SIGKILL");
    } catch {
      // Already ended.
    }
  }
}

/** What a finished run printed. */
export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** The command line a user would type, for transcripts. */
export function commandLine(
  name: string,
  args: string[],
  flags = shebangFlags(name),
): string {
  const quote = (arg: string) =>
    /^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replaceAll("'", "'\\''")}'`;
  return ["deno run", ...flags, `examples/${name}.ts`, ...args].map(quote).join(
    " ",
  ).replace(/^'deno run'/, "deno run");
}

/** Where to run an example from: another copy of the repository (a URL), and the working directory. */
export interface Source {
  /** The base URL the repository is served at, e.g. `http://127.0.0.1:8000/`. */
  base?: string;
  /** The working directory of the process. */
  cwd?: string;
}

let source: Source = {};

/** Runs examples from `next` from now on (until it is called again with `{}`). */
export function useSource(next: Source): void {
  source = next;
}

function command(name: string, args: string[], flags: string[]): Deno.Command {
  const main = source.base
    ? new URL(`examples/${name}.ts`, source.base).href
    : examplePath(name);
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "--no-prompt", ...flags, main, ...args],
    cwd: source.cwd ?? new URL(".", ROOT).pathname,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  });
}

/**
 * How long a run of an example may take: a Deno start on a busy machine,
 * and a few exchanges on loopback.
 */
export const RUN_TIMEOUT = 5_000;

/** Runs an example to its end, with at most `timeout` ms. */
export function runExample(
  name: string,
  args: string[] = [],
  flags: string[] = shebangFlags(name),
  timeout: number = RUN_TIMEOUT,
): Promise<RunResult> {
  return runToEnd(command(name, args, flags), timeout);
}

/**
 * Runs any program to its end. After `timeout` ms it is killed, and this
 * throws a {@linkcode DeadlineError} with what it printed.
 */
export async function runToEnd(
  program: Deno.Command,
  timeout: number,
): Promise<RunResult> {
  const child = track(program.spawn());
  let late = false;
  const timer = setTimeout(() => {
    late = true;
    try {
      child.kill("SIGKILL");
    } catch {
      // Already ended.
    }
  }, timeout);
  try {
    const { code, stdout, stderr } = await child.output();
    const decoder = new TextDecoder();
    const result = {
      code,
      stdout: decoder.decode(stdout),
      stderr: decoder.decode(stderr),
    };
    if (late) {
      throw new DeadlineError(
        `the program did not end within ${timeout} ms; stdout ${
          JSON.stringify(result.stdout)
        }, stderr ${JSON.stringify(result.stderr)}`,
      );
    }
    return result;
  } finally {
    clearTimeout(timer);
  }
}

/** A server example running in the background. */
export class RunningExample {
  readonly #child: Deno.ChildProcess;
  readonly #lines: ReadableStreamDefaultReader<string>;
  readonly #stderr: Promise<string>;
  readonly #seen: string[] = [];

  constructor(child: Deno.ChildProcess) {
    this.#child = track(child);
    this.#lines = child.stdout
      .pipeThrough(new TextDecoderStream())
      .pipeThrough(new LineSplitter())
      .getReader();
    this.#stderr = new Response(child.stderr).text();
  }

  /** The process id. */
  get pid(): number {
    return this.#child.pid;
  }

  /** Every stdout line read so far. */
  get lines(): readonly string[] {
    return this.#seen;
  }

  /** Reads stdout lines until one matches, with at most `timeout` ms. */
  async waitForLine(
    pattern: RegExp,
    timeout: number = RUN_TIMEOUT,
  ): Promise<string> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const expired = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(
            new DeadlineError(
              `no line matching ${pattern} within ${timeout} ms; got ${
                JSON.stringify(this.#seen)
              }`,
            ),
          ),
        timeout,
      );
    });
    try {
      for (;;) {
        const { value, done } = await Promise.race([
          this.#lines.read(),
          expired,
        ]);
        if (done) {
          throw new Error(
            `the program ended without a line matching ${pattern}; got ${
              JSON.stringify(this.#seen)
            }`,
          );
        }
        this.#seen.push(value);
        if (pattern.test(value)) return value;
      }
    } finally {
      clearTimeout(timer);
    }
  }

  /** Waits for the `listening on HOST:PORT` line and returns the port. */
  async listening(): Promise<number> {
    const line = await this.waitForLine(/^listening on /);
    return Number(line.slice(line.lastIndexOf(":") + 1));
  }

  /** Sends a signal (SIGTERM by default). */
  kill(signal: Deno.Signal = "SIGTERM"): void {
    try {
      this.#child.kill(signal);
    } catch {
      // Already ended.
    }
  }

  /**
   * Waits for the end, reading the rest of stdout. After `timeout` ms it is
   * killed, and this throws a {@linkcode DeadlineError}.
   */
  async finish(timeout: number = RUN_TIMEOUT): Promise<RunResult> {
    let late = false;
    const timer = setTimeout(() => {
      late = true;
      this.kill("SIGKILL");
    }, timeout);
    try {
      for (;;) {
        const { value, done } = await this.#lines.read();
        if (done) break;
        this.#seen.push(value);
      }
      const { code } = await this.#child.status;
      const result = {
        code,
        stdout: this.#seen.map((line) => `${line}\n`).join(""),
        stderr: await this.#stderr,
      };
      if (late) {
        throw new DeadlineError(
          `the program did not end within ${timeout} ms; stdout ${
            JSON.stringify(result.stdout)
          }, stderr ${JSON.stringify(result.stderr)}`,
        );
      }
      return result;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Stops it with SIGTERM and waits for the end. */
  async stop(): Promise<RunResult> {
    this.kill("SIGTERM");
    return await this.finish();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.kill("SIGKILL");
    await this.finish().catch(() => {});
  }
}

/** Starts an example in the background. */
export function startExample(
  name: string,
  args: string[] = [],
  flags: string[] = shebangFlags(name),
): RunningExample {
  return new RunningExample(command(name, args, flags).spawn());
}

class LineSplitter extends TransformStream<string, string> {
  constructor() {
    let rest = "";
    super({
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
}
