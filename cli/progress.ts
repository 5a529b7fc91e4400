// `--progress`: one line on stderr, rewritten in place, with the bytes
// sent and received and the rate. Without the flag it shows only when
// stderr is a terminal, the session is a transfer (stdin or stdout is not
// the terminal too), and it has run for a second.

const encoder = new TextEncoder();

/** How often the line is rewritten, in milliseconds. */
const EVERY = 250;

/** How long a transfer runs before the line shows by itself. */
const AFTER = 1000;

/** What the line counts. */
export interface Counts {
  readonly sent: number;
  readonly received: number;
}

/** Whether to show the line: always, after a second, or never. */
export type ProgressMode = "on" | "auto" | "off";

/** The mode `--progress` (or its absence) and the terminal give. */
export function progressMode(flag: boolean): ProgressMode {
  if (flag) return "on";
  if (!Deno.stderr.isTerminal()) return "off";
  // Typing to a peer and reading its answers is a conversation, not a
  // transfer: no line over it.
  return Deno.stdin.isTerminal() && Deno.stdout.isTerminal() ? "off" : "auto";
}

/** `1234567` as `1.2 MB`. */
export function formatBytes(n: number): string {
  const units = ["B", "kB", "MB", "GB", "TB"];
  let value = n;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit++;
  }
  return unit === 0 ? `${n} B` : `${value.toFixed(1)} ${units[unit]}`;
}

/** The line for `counts` after `ms` milliseconds. */
export function progressLine(counts: Counts, ms: number): string {
  const rate = ms > 0 ? (counts.sent + counts.received) / (ms / 1000) : 0;
  return `sent ${formatBytes(counts.sent)}, received ${
    formatBytes(counts.received)
  }, ${formatBytes(Math.round(rate))}/s`;
}

/** The line on stderr while a session runs; dispose it at the end. */
export class Progress implements Disposable {
  readonly #counts: Counts;
  readonly #mode: ProgressMode;
  readonly #start = performance.now();
  readonly #timer: ReturnType<typeof setInterval> | undefined;
  #shown = false;

  constructor(counts: Counts, mode: ProgressMode) {
    this.#counts = counts;
    this.#mode = mode;
    if (mode !== "off") this.#timer = setInterval(() => this.#draw(), EVERY);
  }

  #draw(): void {
    const ms = performance.now() - this.#start;
    if (this.#mode === "auto" && ms < AFTER) return;
    this.#shown = true;
    Deno.stderr.writeSync(
      encoder.encode(`\r\x1b[K${progressLine(this.#counts, ms)}`),
    );
  }

  [Symbol.dispose](): void {
    clearInterval(this.#timer);
    if (this.#mode === "on" || this.#shown) {
      this.#shown = true;
      this.#draw();
      Deno.stderr.writeSync(encoder.encode("\n"));
    }
  }
}
