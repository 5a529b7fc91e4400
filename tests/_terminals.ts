// Real terminals for the tests of `sock`: a private tmux server with one
// window per program, driven as a person types.
import { DeadlineError } from "./_helpers.ts";
import { CLI_PATH } from "./_sock.ts";

const DENO = Deno.execPath();

/** A shell word, quoted. */
export function quote(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word)
    ? word
    : `'${word.replaceAll("'", "'\\''")}'`;
}

/** `deno run FLAGS cli.ts ARGS`, as typed at a shell. */
export function sockCommand(flags: string[], args: string[]): string {
  return [DENO, "run", ...flags, CLI_PATH, ...args].map(quote).join(" ");
}

/** A private tmux server with one window per program; killed when disposed. */
export class Terminals implements AsyncDisposable {
  readonly #dir: string;
  readonly #socket: string;

  private constructor(dir: string) {
    this.#dir = dir;
    this.#socket = `${dir}/tmux.sock`;
  }

  static async start(): Promise<Terminals> {
    return new Terminals(await Deno.makeTempDir({ prefix: "sock_tmux_" }));
  }

  async #tmux(args: string[]): Promise<string> {
    const { code, stdout, stderr } = await new Deno.Command("tmux", {
      args: ["-S", this.#socket, ...args],
      env: { TERM: "xterm-256color", NO_COLOR: "1" },
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = new TextDecoder();
    if (code !== 0) {
      throw new Error(`tmux ${args.join(" ")}: ${text.decode(stderr)}`);
    }
    return text.decode(stdout);
  }

  /**
   * Opens a terminal named `name` running the shell command `command`;
   * when it ends, the terminal shows `[exit N]` with its status.
   */
  async open(name: string, command: string): Promise<void> {
    await this.#tmux([
      "new-session",
      "-d",
      "-s",
      name,
      "-x",
      "200",
      "-y",
      "50",
      `${command}; echo "[exit $?]"; sleep 600`,
    ]);
  }

  /** What the terminal shows, wrapped lines joined. */
  async screen(name: string): Promise<string> {
    return await this.#tmux(["capture-pane", "-p", "-J", "-t", name]);
  }

  /** Waits until the screen matches `pattern`, for at most `ms`. */
  async waitFor(
    name: string,
    pattern: RegExp,
    ms = 8_000,
  ): Promise<RegExpExecArray> {
    const end = Date.now() + ms;
    for (;;) {
      const screen = await this.screen(name);
      const match = pattern.exec(screen);
      if (match) return match;
      if (Date.now() > end) {
        throw new DeadlineError(
          `terminal ${name} did not show ${pattern} within ${ms} ms:\n${screen}`,
        );
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  /** Types `text` and Enter. */
  async typeLine(name: string, text: string): Promise<void> {
    await this.#tmux(["send-keys", "-t", name, "-l", text]);
    await this.#tmux(["send-keys", "-t", name, "Enter"]);
  }

  /** Presses keys such as `C-d` or `C-c`. */
  async press(name: string, key: string): Promise<void> {
    await this.#tmux(["send-keys", "-t", name, key]);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.#tmux(["kill-server"]).catch(() => {});
    await Deno.remove(this.#dir, { recursive: true });
  }
}

/**
 * Answers Deno's permission prompt. Deno empties the terminal's input
 * before it reads the answer, so keys typed earlier are lost: wait for the
 * question, and a moment more.
 */
export async function answerPrompt(
  terminals: Terminals,
  name: string,
  answer: string,
): Promise<void> {
  await terminals.waitFor(name, /Allow\? \[y\/n\/A\].*> $/m);
  await new Promise((resolve) => setTimeout(resolve, 300));
  await terminals.typeLine(name, answer);
}
