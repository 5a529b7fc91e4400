// Runs the `sock` command (cli.ts) as a user would, with pipes for stdin,
// stdout and stderr, and bounded waits on what it prints.
import { DeadlineError, track } from "../tools/examples.ts";

/** The path of cli.ts. */
export const CLI_PATH = new URL("../cli.ts", import.meta.url).pathname;

/** What a finished `sock` printed. */
export interface SockResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** A running `sock` process. */
export class SockProcess implements AsyncDisposable {
  readonly #child: Deno.ChildProcess;
  readonly #writer: WritableStreamDefaultWriter<Uint8Array>;
  readonly #done: Promise<SockResult>;
  #stdout = "";
  #stderr = "";
  #changed: () => void = () => {};

  /**
   * Starts `deno run --no-prompt FLAGS cli.ts ARGS`.
   *
   * @param flags Deno's flags, e.g. the `--allow-net` grant.
   * @param args sock's arguments.
   * @param cwd The working directory, if not this process's.
   */
  constructor(flags: string[], args: string[], cwd?: string) {
    this.#child = track(
      new Deno.Command(Deno.execPath(), {
        args: ["run", "--no-prompt", ...flags, CLI_PATH, ...args],
        ...(cwd === undefined ? {} : { cwd }),
        stdin: "piped",
        stdout: "piped",
        stderr: "piped",
        env: { NO_COLOR: "1" },
      }).spawn(),
    );
    this.#writer = this.#child.stdin.getWriter();
    const read = async (
      stream: ReadableStream<Uint8Array>,
      add: (text: string) => void,
    ) => {
      for await (const text of stream.pipeThrough(new TextDecoderStream())) {
        add(text);
        this.#changed();
      }
    };
    this.#done = Promise.all([
      read(this.#child.stdout, (text) => this.#stdout += text),
      read(this.#child.stderr, (text) => this.#stderr += text),
      this.#child.status,
    ]).then(([, , status]) => ({
      code: status.code,
      stdout: this.#stdout,
      stderr: this.#stderr,
    }));
  }

  /** All of stdout so far. */
  get stdout(): string {
    return this.#stdout;
  }

  /** All of stderr so far. */
  get stderr(): string {
    return this.#stderr;
  }

  /** Types `text` on sock's stdin. */
  async type(text: string): Promise<void> {
    await this.#writer.write(new TextEncoder().encode(text));
  }

  /** Ends sock's stdin. */
  async endInput(): Promise<void> {
    await this.#writer.close();
  }

  /**
   * Waits until stdout (or stderr) matches `pattern`, for at most `ms`.
   *
   * @returns The match.
   */
  async waitFor(
    pattern: RegExp,
    where: "stdout" | "stderr" = "stdout",
    ms = 5_000,
  ): Promise<RegExpExecArray> {
    const end = Date.now() + ms;
    for (;;) {
      const match = pattern.exec(
        where === "stdout" ? this.#stdout : this.#stderr,
      );
      if (match) return match;
      const left = end - Date.now();
      if (left <= 0) {
        throw new DeadlineError(
          `sock's ${where} did not match ${pattern} within ${ms} ms; stdout ${
            JSON.stringify(this.#stdout)
          }, stderr ${JSON.stringify(this.#stderr)}`,
        );
      }
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([
        new Promise<void>((resolve) => this.#changed = resolve),
        new Promise<void>((resolve) => timer = setTimeout(resolve, left)),
        this.#done,
      ]);
      clearTimeout(timer);
    }
  }

  /** Waits for `listening on HOST:PORT` on stderr; the port. */
  async listening(): Promise<number> {
    const match = await this.waitFor(
      /listening (?:for datagrams )?on .*:(\d+)\n/,
      "stderr",
    );
    return Number(match[1]);
  }

  /** Sends a signal to sock. */
  kill(signal: Deno.Signal): void {
    try {
      this.#child.kill(signal);
    } catch {
      // Already ended.
    }
  }

  /** Waits for sock to end, for at most `ms`; then it is killed and this throws. */
  async finish(ms = 5_000): Promise<SockResult> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        this.kill("SIGKILL");
        reject(
          new DeadlineError(
            `sock did not end within ${ms} ms; stdout ${
              JSON.stringify(this.#stdout)
            }, stderr ${JSON.stringify(this.#stderr)}`,
          ),
        );
      }, ms);
    });
    try {
      return await Promise.race([this.#done, late]);
    } finally {
      clearTimeout(timer);
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.kill("SIGKILL");
    await this.#writer.close().catch(() => {});
    await this.#done.catch(() => {});
  }
}

/** Runs sock to its end with `input` on stdin. */
export async function runSock(
  flags: string[],
  args: string[],
  input = "",
  ms = 5_000,
): Promise<SockResult> {
  await using sock = new SockProcess(flags, args);
  if (input !== "") await sock.type(input);
  await sock.endInput().catch(() => {});
  return await sock.finish(ms);
}

/** The lines of stderr that are sock's, not Deno's (a download, a warning). */
export function errorLines(stderr: string): string[] {
  return stderr.split("\n").filter((line) =>
    line !== "" && !/^(Warning|Download|Check)\b/.test(line)
  );
}
