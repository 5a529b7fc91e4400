// The terminal side of `sock`: stdin read once for every connection, stdout
// written whole, a hex dump, notes on stderr, and the idle timer.

const encoder = new TextEncoder();
const LF = 10;
const CR = 13;

/** How much one read of stdin may take. */
const INPUT_CHUNK = 1024 * 1024;

/** Something to read from as `Deno.stdin` is read. */
export interface Readable {
  read(into: Uint8Array): Promise<number | null>;
}

/**
 * Standard input, read one chunk at a time. The read in progress is kept
 * when a connection ends, so with `--keep-open` the next connection gets
 * what was typed meanwhile, and nothing typed is lost.
 *
 * Each read goes straight into one of two arrays, used in turn: a chunk
 * is valid until the read after the next one, which is as long as a
 * sender holds it (it sends a chunk before it asks for the next).
 */
export class Input {
  readonly #source: Readable;
  readonly #buffers = [
    new Uint8Array(INPUT_CHUNK),
    new Uint8Array(INPUT_CHUNK),
  ];
  #turn = 0;
  #next: Promise<Uint8Array | null> | undefined;
  #ended = false;

  constructor(source: Readable = Deno.stdin) {
    this.#source = source;
  }

  /** Whether stdin has ended (and that end was taken). */
  get ended(): boolean {
    return this.#ended;
  }

  /**
   * The next chunk, or null at the end of input; the same promise until
   * {@linkcode Input.prototype.take} says it was used.
   */
  peek(): Promise<Uint8Array | null> {
    if (this.#ended) return Promise.resolve(null);
    if (this.#next === undefined) {
      const buffer = this.#buffers[this.#turn]!;
      this.#turn ^= 1;
      this.#next = this.#read(buffer);
    }
    return this.#next;
  }

  async #read(buffer: Uint8Array): Promise<Uint8Array | null> {
    for (;;) {
      const n = await this.#source.read(buffer);
      if (n === null) return null;
      // A read of 0 bytes is not the end.
      if (n > 0) return buffer.subarray(0, n);
    }
  }

  /** Marks the chunk `peek()` gave as used. */
  take(chunk: Uint8Array | null): void {
    this.#next = undefined;
    if (chunk === null) this.#ended = true;
  }

  /**
   * Gives back a chunk that was taken but reached no one: the next
   * `peek()` gives it again. Only while no read is waiting.
   */
  untake(chunk: Uint8Array): void {
    if (this.#next !== undefined) return;
    this.#next = Promise.resolve(chunk);
  }
}

/** What stdout's reader going away (`sock … | head`) ends the program with. */
export class StdoutClosed extends Error {
  /** Makes the error. */
  constructor() {
    super("stdout was closed by its reader");
    this.name = "StdoutClosed";
  }
}

/**
 * Writes every byte to stdout.
 *
 * @throws {StdoutClosed} when its reader has gone away.
 */
export async function writeOut(bytes: Uint8Array): Promise<void> {
  let view = bytes;
  try {
    while (view.length > 0) {
      view = view.subarray(await Deno.stdout.write(view));
    }
  } catch (error) {
    if (error instanceof Deno.errors.BrokenPipe) throw new StdoutClosed();
    throw error;
  }
}

/** Writes a line of text to stdout. */
export function printLine(text: string): Promise<void> {
  return writeOut(encoder.encode(`${text}\n`));
}

/** A note for the user on stderr, unless `--quiet`. */
export function note(quiet: boolean, text: string): void {
  if (!quiet) console.error(text);
}

/** A problem that does not stop the program (bad input): one line on stderr. */
export function warn(text: string): void {
  console.error(`error: ${text.replace(/\s*\n\s*/g, " ")}`);
}

/**
 * A hex dump in the style of `hexdump -C`: the offset, 16 bytes in hex, and
 * the printable ones as text. Offsets run on from one call to the next;
 * each call starts a new line.
 */
export class HexDump {
  #offset = 0;

  /** The lines for `bytes`, each ending in a newline. */
  format(bytes: Uint8Array): string {
    let out = "";
    for (let at = 0; at < bytes.length; at += 16) {
      const row = bytes.subarray(at, at + 16);
      let hex = "";
      let text = "";
      for (let i = 0; i < 16; i++) {
        if (i === 8) hex += " ";
        const byte = row[i];
        hex += byte === undefined
          ? "   "
          : ` ${byte.toString(16).padStart(2, "0")}`;
        if (byte !== undefined) {
          text += byte >= 0x20 && byte < 0x7f ? String.fromCharCode(byte) : ".";
        }
      }
      out += `${
        (this.#offset + at).toString(16).padStart(8, "0")
      } ${hex}  |${text}|\n`;
    }
    this.#offset += bytes.length;
    return out;
  }
}

/** Turns each LF not already after a CR into CRLF, across chunks. */
export class CrlfWriter {
  #afterCr = false;

  /** The chunk with its line ends as CRLF. */
  convert(chunk: Uint8Array): Uint8Array {
    let lone = 0;
    let afterCr = this.#afterCr;
    for (const byte of chunk) {
      if (byte === LF && !afterCr) lone++;
      afterCr = byte === CR;
    }
    if (lone === 0) {
      this.#afterCr = afterCr;
      return chunk;
    }
    const out = new Uint8Array(chunk.length + lone);
    let at = 0;
    for (const byte of chunk) {
      if (byte === LF && !this.#afterCr) out[at++] = CR;
      out[at++] = byte;
      this.#afterCr = byte === CR;
    }
    return out;
  }
}

/**
 * Calls `expire` once nothing has happened for `ms` milliseconds (and
 * `armed()`, when given, says the time counts); `touch()` says something
 * did. Dispose it to stop the timer. Without `ms` it never fires.
 */
export class IdleTimer implements Disposable {
  readonly #ms: number | undefined;
  readonly #expire: () => void;
  readonly #armed: () => boolean;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #last = performance.now();

  constructor(
    ms: number | undefined,
    expire: () => void,
    armed: () => boolean = () => true,
  ) {
    this.#ms = ms;
    this.#expire = expire;
    this.#armed = armed;
    if (ms !== undefined) this.#arm(ms);
  }

  /** Data went one way or the other. */
  touch(): void {
    this.#last = performance.now();
  }

  #arm(wait: number): void {
    this.#timer = setTimeout(() => {
      const ms = this.#ms!;
      const idle = performance.now() - this.#last;
      if (!this.#armed()) this.#arm(ms);
      else if (idle >= ms - 1) this.#expire();
      else this.#arm(ms - idle);
    }, wait);
  }

  [Symbol.dispose](): void {
    clearTimeout(this.#timer);
  }
}
