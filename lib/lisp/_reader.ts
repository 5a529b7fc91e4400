// The reading state machine behind readDatum(): one Reader per call.

import { BYTE_CLASS, charByName, CONSTITUENT, WHITESPACE } from "./_chars.ts";
import { buildSymbol, decodeUtf8, parseNumber } from "./_token.ts";
import { makeComplex } from "./complex.ts";
import {
  LispArithmeticError,
  LispLimitError,
  LispReadError,
} from "./errors.ts";
import type { ReadResult } from "./types.ts";
import { Frame, Nest, NEST_WHAT, Part } from "./_frame.ts";
import {
  DoubleFloat,
  LispChar,
  type LispDatum,
  LispList,
  type LispReal,
  LispSymbol,
  LispVector,
  Ratio,
  SingleFloat,
} from "./types.ts";

/** The result for an incomplete datum. */
export const MORE_RESULT: ReadResult = Object.freeze({ kind: "more" });
const EOF_RESULT: ReadResult = Object.freeze({ kind: "eof" });

const MORE: unique symbol = Symbol("more");
const CLOSE: unique symbol = Symbol("close");
const DOT: unique symbol = Symbol("dot");
/** A list, vector, quote or `#C` opened: its frame is `#top`. */
const OPEN: unique symbol = Symbol("open");
/** A frame still waiting for forms. */
const PENDING: unique symbol = Symbol("pending");
/** A spliced list closed: its elements and tail are already its parent's. */
const SPLICED: unique symbol = Symbol("spliced");
type Form = LispDatum | typeof MORE | typeof CLOSE | typeof DOT | typeof OPEN;
type Element = LispDatum | typeof CLOSE | typeof DOT;
type Accepted = LispDatum | typeof PENDING | typeof SPLICED;

const QUOTE = new LispSymbol("QUOTE");
const FUNCTION = new LispSymbol("FUNCTION");
const NIL = new LispSymbol("NIL");

const BACKSLASH = 92;
const BAR = 124;
const HASH = 35;
const SEMICOLON = 59;
const NEWLINE = 10;

const enum Skip {
  Found,
  Out,
  OutInComment,
}

/** One call's reading state. */
export class Reader {
  readonly #bytes: Uint8Array;
  readonly #end: number;
  readonly #bound: number;
  readonly #eof: boolean;
  readonly #maxToken: number;
  readonly #maxDepth: number;
  readonly #maxDatum: number;
  #pos: number;
  #escaped = false;
  /** The innermost open list, vector, quote or `#C`. */
  #top: Frame | undefined;

  constructor(
    bytes: Uint8Array,
    start: number,
    end: number,
    eof: boolean,
    maxToken: number,
    maxDepth: number,
    maxDatum: number,
  ) {
    this.#bytes = bytes;
    this.#pos = start;
    this.#end = end;
    this.#bound = Math.min(end, start + maxDatum);
    this.#eof = eof;
    this.#maxToken = maxToken;
    this.#maxDepth = maxDepth;
    this.#maxDatum = maxDatum;
  }

  read(): ReadResult {
    const skip = this.#skipAtmosphere();
    if (skip !== Skip.Found) {
      if (this.#bound < this.#end) throw this.#datumLimit();
      if (!this.#eof) return MORE_RESULT;
      if (skip === Skip.OutInComment) throw this.#unterminatedComment();
      return EOF_RESULT;
    }
    let form = this.#readAt(0, "datum");
    if (form === OPEN) form = this.#readNested();
    if (form === MORE) return MORE_RESULT;
    if (form === CLOSE) {
      throw new LispReadError(
        "Cannot read datum: unmatched close parenthesis",
        this.#pos - 1,
      );
    }
    if (form === DOT) {
      throw new LispReadError(
        'Cannot read datum: "." is only allowed inside a list',
        this.#pos - 1,
      );
    }
    return { kind: "datum", datum: form, next: this.#pos };
  }

  #datumLimit(): LispLimitError {
    return new LispLimitError(
      `Cannot read datum: longer than maxDatumLength (${this.#maxDatum} bytes)`,
      this.#bound,
      "maxDatumLength",
    );
  }

  #unterminatedComment(): LispReadError {
    return new LispReadError(
      'Cannot read comment: "#|" is never closed',
      this.#end,
    );
  }

  /** Handles running out of bytes inside a datum. */
  #exhausted(what: string): typeof MORE {
    if (this.#bound < this.#end) throw this.#datumLimit();
    if (this.#eof) {
      throw new LispReadError(
        `Cannot read ${what}: unexpected end of input`,
        this.#end,
      );
    }
    return MORE;
  }

  /** Skips whitespace and comments, leaving #pos at the next datum. */
  #skipAtmosphere(): Skip {
    const bytes = this.#bytes;
    const bound = this.#bound;
    let pos = this.#pos;
    for (;;) {
      if (pos >= bound) {
        this.#pos = pos;
        return Skip.Out;
      }
      const b = bytes[pos]!;
      if (BYTE_CLASS[b] === WHITESPACE) {
        pos++;
      } else if (b === SEMICOLON) {
        while (pos < bound && bytes[pos] !== NEWLINE) pos++;
      } else if (b === HASH) {
        if (pos + 1 >= bound) {
          this.#pos = pos;
          return pos + 1 >= this.#end && this.#eof ? Skip.Found : Skip.Out;
        }
        if (bytes[pos + 1] !== BAR) {
          this.#pos = pos;
          return Skip.Found;
        }
        let depth = 1;
        pos += 2;
        while (depth > 0) {
          if (pos + 1 >= bound) {
            this.#pos = bound;
            return Skip.OutInComment;
          }
          const c = bytes[pos]!;
          const next = bytes[pos + 1]!;
          if (c === BAR && next === HASH) {
            depth--;
            pos += 2;
          } else if (c === HASH && next === BAR) {
            depth++;
            pos += 2;
          } else {
            pos++;
          }
        }
      } else {
        this.#pos = pos;
        return Skip.Found;
      }
    }
  }

  /** Reads the next form after skipping whitespace and comments. */
  #readForm(depth: number, what: string): Form {
    const skip = this.#skipAtmosphere();
    if (skip !== Skip.Found) {
      if (
        skip === Skip.OutInComment && this.#eof && this.#bound === this.#end
      ) {
        throw this.#unterminatedComment();
      }
      return this.#exhausted(what);
    }
    return this.#readAt(depth, what);
  }

  /** Reads the form starting at #pos. */
  #readAt(depth: number, what: string): Form {
    const b = this.#bytes[this.#pos]!;
    switch (b) {
      case 0x28: // (
        return this.#open(Nest.List, depth, this.#pos, this.#pos + 1);
      case 0x29: // )
        this.#pos++;
        return CLOSE;
      case 0x22: // "
        return this.#readString();
      case 0x27: // '
        return this.#open(Nest.Quote, depth, this.#pos, this.#pos + 1);
      case 0x60: // `
      case 0x2c: // ,
        throw new LispReadError(
          `Cannot read "${
            String.fromCharCode(b)
          }": backquote syntax is not supported`,
          this.#pos,
        );
      case HASH:
        return this.#readDispatch(depth, what);
      default:
        return this.#readToken();
    }
  }

  /**
   * Opens a list, vector, quote, `#'` or `#C` whose first byte is at
   * `start` and whose contents begin at `next`.
   */
  #open(kind: Nest, depth: number, start: number, next: number): typeof OPEN {
    if (kind !== Nest.Complex && depth >= this.#maxDepth) {
      throw new LispLimitError(
        `Cannot read datum: nested deeper than maxDepth (${this.#maxDepth})`,
        start,
        "maxDepth",
      );
    }
    this.#pos = next;
    this.#top = new Frame(
      kind,
      start,
      this.#top,
      kind === Nest.Complex ? depth : depth + 1,
    );
    return OPEN;
  }

  /**
   * Reads until the frame just opened closes. Open forms wait on an explicit
   * stack of frames, so no nesting depth can overflow the call stack.
   */
  #readNested(): LispDatum | typeof MORE {
    let frame = this.#top!;
    for (;;) {
      const form = this.#readInto(frame);
      if (form === MORE) return MORE;
      if (form === OPEN) {
        frame = this.#top!;
        continue;
      }
      let element: Element = form;
      for (;;) {
        const done = this.#accept(frame, element);
        if (done === PENDING) break;
        const up = frame.up;
        this.#top = up;
        if (done === SPLICED) {
          frame = up!;
          break;
        }
        if (up === undefined) return done;
        frame = up;
        element = done;
      }
    }
  }

  /**
   * Reads the next form for `frame`. A list or vector collecting elements
   * takes every complete datum itself and returns the first other form.
   */
  #readInto(frame: Frame): Form {
    const what = NEST_WHAT[frame.kind]!;
    if (!frame.collecting) return this.#readForm(frame.depth, what);
    for (;;) {
      const form = this.#readForm(frame.depth, what);
      if (form === MORE || form === CLOSE || form === DOT || form === OPEN) {
        return form;
      }
      frame.items.push(form);
    }
  }

  /** Gives `frame` its next form; returns the datum when the frame closes. */
  #accept(frame: Frame, form: Element): Accepted {
    switch (frame.kind) {
      case Nest.List:
        return this.#acceptInList(frame, form);
      case Nest.Vector:
        return this.#acceptInVector(frame, form);
      case Nest.Complex:
        return this.#complex(frame.start, form);
      default:
        return this.#quoted(frame, form);
    }
  }

  #acceptInList(list: Frame, form: Element): Accepted {
    if (list.part === Part.Items) {
      if (form === CLOSE) return this.#closeList(list);
      if (form !== DOT) {
        list.items.push(form);
        return PENDING;
      }
      list.dot = this.#pos - 1;
      if (list.items.length === list.base) {
        throw new LispReadError(
          "Cannot read list: nothing before the dot",
          list.dot,
        );
      }
      list.part = Part.Tail;
      return PENDING;
    }
    if (list.part === Part.Tail) {
      if (form === CLOSE || form === DOT) {
        throw new LispReadError(
          "Cannot read list: nothing after the dot",
          list.dot,
        );
      }
      list.tail = form;
      list.part = Part.Close;
      return PENDING;
    }
    if (form !== CLOSE) {
      throw new LispReadError(
        "Cannot read list: more than one datum after the dot",
        list.dot,
      );
    }
    return this.#closeList(list);
  }

  #closeList(list: Frame): Accepted {
    if (list.spliced) {
      const parent = list.up!;
      parent.tail = list.tail;
      parent.part = Part.Close;
      return SPLICED;
    }
    if (list.items.length === 0) return NIL;
    return new LispList(list.items, list.tail);
  }

  #acceptInVector(vector: Frame, form: Element): Accepted {
    if (form === CLOSE) return new LispVector(vector.items);
    if (form === DOT) {
      throw new LispReadError(
        'Cannot read vector: "." is not allowed in a vector',
        this.#pos - 1,
      );
    }
    vector.items.push(form);
    return PENDING;
  }

  /** Completes `'x` or `#'x`. */
  #quoted(quote: Frame, form: Element): LispDatum {
    const isQuote = quote.kind === Nest.Quote;
    if (form === CLOSE || form === DOT) {
      throw new LispReadError(
        isQuote
          ? `Cannot read quote: no datum follows "'"`
          : `Cannot read "#'": no datum follows it`,
        quote.start,
      );
    }
    return new LispList([isQuote ? QUOTE : FUNCTION, form]);
  }

  /**
   * Finds the end of the token whose first byte is at `tokenStart`, scanning
   * from `from`. Sets #escaped when the token has `\` or `|` escapes.
   */
  #scanToken(tokenStart: number, from: number): number | typeof MORE {
    const bytes = this.#bytes;
    const tokenCap = tokenStart + this.#maxToken;
    const cap = Math.min(this.#bound, tokenCap);
    let i = from;
    let open = false;
    while (i < cap) {
      const b = bytes[i]!;
      if (BYTE_CLASS[b] !== CONSTITUENT) return i;
      if (b === BACKSLASH) {
        this.#escaped = true;
        i += 2;
      } else if (b === BAR) {
        this.#escaped = true;
        i++;
        while (i < cap && bytes[i] !== BAR) i += bytes[i] === BACKSLASH ? 2 : 1;
        if (i >= cap) {
          open = true;
          break;
        }
        i++;
      } else {
        i++;
      }
    }
    if (i > cap) open = true;
    if (!open && i < this.#end && BYTE_CLASS[bytes[i]!] !== CONSTITUENT) {
      return i;
    }
    if (cap < this.#end) {
      if (cap === tokenCap) {
        throw new LispLimitError(
          `Cannot read token: longer than maxTokenLength (${this.#maxToken} bytes)`,
          cap,
          "maxTokenLength",
        );
      }
      throw this.#datumLimit();
    }
    if (!this.#eof) return MORE;
    if (open) {
      throw new LispReadError(
        "Cannot read symbol: escape is never closed",
        this.#end,
      );
    }
    return this.#end;
  }

  #readToken(): Form {
    const start = this.#pos;
    this.#escaped = false;
    const end = this.#scanToken(start, start);
    if (end === MORE) return MORE;
    this.#pos = end;
    const bytes = this.#bytes;
    if (!this.#escaped) {
      let dots = start;
      while (dots < end && bytes[dots] === 0x2e) dots++;
      if (dots === end) {
        if (end - start === 1) return DOT;
        throw new LispReadError(
          `Cannot read token: "${".".repeat(end - start)}" has too many dots`,
          start,
        );
      }
      const number = parseNumber(bytes, start, end, 10);
      if (number !== undefined) return number;
    }
    return buildSymbol(bytes, start, end);
  }

  #readString(): Form {
    const bytes = this.#bytes;
    const open = this.#pos;
    const tokenCap = open + 2 + this.#maxToken;
    const cap = Math.min(this.#bound, tokenCap);
    let i = open + 1;
    let escapes = false;
    while (i < cap) {
      const b = bytes[i]!;
      if (b === 0x22) {
        this.#pos = i + 1;
        if (!escapes) return decodeUtf8(bytes, open + 1, i);
        const raw = new Uint8Array(i - open);
        let n = 0;
        for (let j = open + 1; j < i; j++) {
          const c = bytes[j]!;
          if (c === BACKSLASH) j++;
          raw[n++] = bytes[j]!;
        }
        return decodeUtf8(raw, 0, n);
      }
      if (b === BACKSLASH) {
        escapes = true;
        i += 2;
      } else {
        i++;
      }
    }
    if (cap < this.#end && cap === tokenCap) {
      throw new LispLimitError(
        `Cannot read string: longer than maxTokenLength (${this.#maxToken} bytes)`,
        cap,
        "maxTokenLength",
      );
    }
    return this.#exhausted("string");
  }

  #readDispatch(depth: number, what: string): Form {
    const bytes = this.#bytes;
    const start = this.#pos;
    const cap = Math.min(this.#bound, start + this.#maxToken);
    let i = start + 1;
    let arg = -1;
    while (i < cap && bytes[i]! >= 48 && bytes[i]! <= 57) {
      arg = Math.min((arg < 0 ? 0 : arg * 10) + bytes[i]! - 48, 1e6);
      i++;
    }
    if (i >= cap) {
      if (cap < this.#end && cap !== this.#bound) {
        throw new LispLimitError(
          `Cannot read token: longer than maxTokenLength (${this.#maxToken} bytes)`,
          cap,
          "maxTokenLength",
        );
      }
      return this.#exhausted(what);
    }
    const sub = bytes[i]!;
    const lower = sub | 0x20;
    if (sub === BACKSLASH && arg < 0) return this.#readChar(start, i + 1);
    if (sub === 0x28 && arg < 0) {
      return this.#open(Nest.Vector, depth, i, i + 1);
    }
    if (lower === 0x63 && arg < 0) { // c
      return this.#open(Nest.Complex, depth, start, i + 1);
    }
    if (lower === 0x78 && arg < 0) return this.#readRadix(start, i + 1, 16); // x
    if (lower === 0x62 && arg < 0) return this.#readRadix(start, i + 1, 2); // b
    if (lower === 0x6f && arg < 0) return this.#readRadix(start, i + 1, 8); // o
    if (lower === 0x72 && arg >= 0) { // r
      if (arg < 2 || arg > 36) {
        throw new LispReadError(
          `Cannot read "#${arg}r": radix must be between 2 and 36`,
          start,
        );
      }
      return this.#readRadix(start, i + 1, arg);
    }
    if (sub === 0x27 && arg < 0) {
      return this.#open(Nest.Function, depth, start, i + 1);
    }
    if (sub === 0x2e) {
      throw new LispReadError(
        'Cannot read "#.": read-time evaluation is not allowed',
        start,
      );
    }
    const shown = sub < 0x80 ? String.fromCharCode(sub) : "…";
    throw new LispReadError(
      `Cannot read "#${arg >= 0 ? arg : ""}${shown}": unsupported syntax`,
      start,
    );
  }

  #readChar(start: number, i: number): Form {
    const bytes = this.#bytes;
    if (i >= this.#bound) return this.#exhausted("character");
    const lead = bytes[i]!;
    const length = lead < 0xc0 ? 1 : lead < 0xe0 ? 2 : lead < 0xf0 ? 3 : 4;
    if (i + length > this.#bound) return this.#exhausted("character");
    this.#escaped = false;
    const end = this.#scanToken(start, i + length);
    if (end === MORE) return MORE;
    this.#pos = end;
    const text = decodeUtf8(bytes, i, end);
    if (end === i + length) {
      try {
        return new LispChar(text);
      } catch (cause) {
        throw new LispReadError(
          "Cannot read character: invalid UTF-8",
          i,
          { cause },
        );
      }
    }
    const named = charByName(text);
    if (named === undefined) {
      throw new LispReadError(
        `Cannot read character "#\\${text}": unknown character name`,
        start,
      );
    }
    return new LispChar(named);
  }

  /** Completes `#C` from the form after it. */
  #complex(start: number, form: Element): LispDatum {
    if (
      form instanceof LispList && form.items.length === 2 &&
      form.tail === undefined
    ) {
      const [re, im] = form.items;
      if (isReal(re) && isReal(im)) {
        try {
          return makeComplex(re, im);
        } catch (cause) {
          if (!(cause instanceof LispArithmeticError)) throw cause;
          throw new LispReadError(
            `Cannot read complex number: ${cause.message}`,
            start,
            { cause },
          );
        }
      }
    }
    throw new LispReadError(
      'Cannot read complex number: "#C" must be followed by a list of two real numbers',
      start,
    );
  }

  #readRadix(start: number, i: number, radix: number): Form {
    this.#pos = i;
    const what = `"#${radix}r" number`;
    const skip = this.#skipAtmosphere();
    if (skip !== Skip.Found) return this.#exhausted(what);
    const tokenStart = this.#pos;
    const b = this.#bytes[tokenStart]!;
    if (BYTE_CLASS[b] === CONSTITUENT && b !== HASH) {
      this.#escaped = false;
      const end = this.#scanToken(tokenStart, tokenStart);
      if (end === MORE) return MORE;
      this.#pos = end;
      if (!this.#escaped) {
        const number = parseNumber(this.#bytes, tokenStart, end, radix);
        if (typeof number === "bigint" || number instanceof Ratio) {
          return number;
        }
      }
    }
    throw new LispReadError(
      `Cannot read ${what}: not a rational in radix ${radix}`,
      start,
    );
  }
}

function isReal(x: LispDatum | undefined): x is LispReal {
  return typeof x === "bigint" || x instanceof Ratio ||
    x instanceof SingleFloat || x instanceof DoubleFloat;
}
