/**
 * Data classes for Common Lisp numbers and the other data a peer may send.
 *
 * Integers are plain `bigint`s and strings are plain `string`s; everything
 * else has a small immutable class.
 *
 * @module
 */

import { abs, gcd } from "./_bigint.ts";
import { LispArithmeticError } from "./errors.ts";

/**
 * A Common Lisp ratio `num/den`: always in lowest terms, with `den > 1` and
 * the sign on `num`. Build one with {@linkcode makeRatio}, which returns a
 * `bigint` when the denominator divides out.
 *
 * @example Building ratios
 * ```ts
 * import assert from "node:assert/strict";
 * import { makeRatio, Ratio } from "@sock/sock";
 *
 * const half = makeRatio(2n, -4n);
 * assert.ok(half instanceof Ratio);
 * assert.equal(half.num, -1n);
 * assert.equal(half.den, 2n);
 * assert.equal(makeRatio(6n, 3n), 2n);
 * ```
 */
export class Ratio {
  /** The numerator, carrying the sign. */
  readonly num: bigint;
  /** The denominator, always greater than 1. */
  readonly den: bigint;

  /**
   * Creates a ratio that is already in lowest terms.
   *
   * @param num The numerator, carrying the sign.
   * @param den The denominator; must be greater than 1 and coprime with `num`.
   * @throws {RangeError} If the ratio is not in canonical form; use {@linkcode makeRatio} to normalise.
   */
  constructor(num: bigint, den: bigint) {
    if (den <= 1n || gcd(abs(num), den) !== 1n) {
      throw new RangeError(
        `Cannot create ratio: ${num}/${den} is not in lowest terms with a denominator above 1`,
      );
    }
    this.num = num;
    this.den = den;
  }
}

/**
 * Returns the rational `num/den` in canonical form: a `bigint` when the
 * denominator divides the numerator, otherwise a {@linkcode Ratio} in lowest
 * terms with the sign on the numerator.
 *
 * @param num The numerator.
 * @param den The denominator; must not be zero.
 * @returns The normalised rational.
 * @throws {LispArithmeticError} If `den` is zero.
 *
 * @example Normalising
 * ```ts
 * import assert from "node:assert/strict";
 * import { makeRatio } from "@sock/sock";
 *
 * assert.equal(makeRatio(-4n, 2n), -2n);
 * assert.deepEqual(makeRatio(2n, 4n), makeRatio(1n, 2n));
 * ```
 */
export function makeRatio(num: bigint, den: bigint): bigint | Ratio {
  if (den === 0n) {
    throw new LispArithmeticError("Cannot divide: denominator is zero");
  }
  if (den < 0n) {
    num = -num;
    den = -den;
  }
  if (den === 1n) return num;
  const g = gcd(abs(num), den);
  if (g === den) return num / g;
  return new Ratio(g === 1n ? num : num / g, g === 1n ? den : den / g);
}

/**
 * A Common Lisp `single-float`: an IEEE binary32 value, held as the JavaScript
 * number with exactly that value.
 *
 * @example Rounding to binary32
 * ```ts
 * import assert from "node:assert/strict";
 * import { SingleFloat } from "@sock/sock";
 *
 * assert.equal(new SingleFloat(0.1).value, Math.fround(0.1));
 * ```
 */
export class SingleFloat {
  /** The value; always a binary32 value, i.e. `Math.fround(value) === value`. */
  readonly value: number;

  /**
   * Creates a single-float, rounding `value` to the nearest binary32 value.
   *
   * @param value The value; it must be finite after rounding.
   * @throws {RangeError} If the rounded value is infinite or NaN.
   */
  constructor(value: number) {
    const rounded = Math.fround(value);
    if (!Number.isFinite(rounded)) {
      throw new RangeError(
        `Cannot create single-float: ${value} is not a finite binary32 value`,
      );
    }
    this.value = rounded;
  }
}

/**
 * A Common Lisp `double-float`: an IEEE binary64 value.
 *
 * @example Creating a double-float
 * ```ts
 * import assert from "node:assert/strict";
 * import { DoubleFloat, formatLisp } from "@sock/sock";
 *
 * assert.equal(formatLisp(new DoubleFloat(0.5)), "0.5d0");
 * ```
 */
export class DoubleFloat {
  /** The value. */
  readonly value: number;

  /**
   * Creates a double-float.
   *
   * @param value The value; it must be finite.
   * @throws {RangeError} If `value` is infinite or NaN.
   */
  constructor(value: number) {
    if (!Number.isFinite(value)) {
      throw new RangeError(
        `Cannot create double-float: ${value} is not a finite number`,
      );
    }
    this.value = value;
  }
}

/**
 * A Common Lisp real number: integer, ratio, single-float or double-float.
 *
 * @example Reals are every number but complex
 * ```ts
 * import { isLispNumber, type LispReal, parseLisp, SingleFloat } from "@sock/sock";
 * import assert from "node:assert/strict";
 *
 * const half: LispReal = parseLisp("0.5") as LispReal;
 * assert.ok(half instanceof SingleFloat && isLispNumber(half));
 * ```
 */
export type LispReal = bigint | Ratio | SingleFloat | DoubleFloat;

/**
 * A Common Lisp complex number. Both parts have one type: both rational, both
 * single-floats or both double-floats. A rational complex never has a zero
 * imaginary part (it is just the rational); build complexes with
 * {@linkcode makeComplex}, which applies these rules.
 *
 * @example Reading the parts
 * ```ts
 * import assert from "node:assert/strict";
 * import { Complex, parseLisp } from "@sock/sock";
 *
 * const z = parseLisp("#C(1 2)");
 * assert.ok(z instanceof Complex);
 * assert.equal(z.re, 1n);
 * assert.equal(z.im, 2n);
 * ```
 */
export class Complex {
  /** The real part. */
  readonly re: LispReal;
  /** The imaginary part. */
  readonly im: LispReal;

  /**
   * Creates a complex from parts that already follow the rules.
   *
   * @param re The real part.
   * @param im The imaginary part, of the same type as `re`.
   * @throws {TypeError} If the parts differ in type or are not real numbers.
   * @throws {RangeError} If the parts are rational and `im` is zero.
   */
  constructor(re: LispReal, im: LispReal) {
    const kind = realKind(re);
    if (kind === undefined || kind !== realKind(im)) {
      throw new TypeError(
        "Cannot create complex: parts must be real numbers of the same type",
      );
    }
    if (im === 0n) {
      throw new RangeError(
        "Cannot create complex: a rational complex needs a non-zero imaginary part",
      );
    }
    this.re = re;
    this.im = im;
  }
}

function realKind(x: unknown): "rational" | "single" | "double" | undefined {
  if (typeof x === "bigint" || x instanceof Ratio) return "rational";
  if (x instanceof SingleFloat) return "single";
  if (x instanceof DoubleFloat) return "double";
  return undefined;
}

/**
 * Any Common Lisp number.
 *
 * @example Adding numbers read from text
 * ```ts
 * import { add, formatLisp, type LispNumber, parseLisp } from "@sock/sock";
 * import assert from "node:assert/strict";
 *
 * const a = parseLisp("1/3") as LispNumber;
 * const b = parseLisp("2/3") as LispNumber;
 * assert.equal(formatLisp(add(a, b)), "1");
 * ```
 */
export type LispNumber = LispReal | Complex;

/**
 * A Common Lisp symbol. Keywords (`:foo`) have `keyword` set; their `name`
 * does not include the colon.
 *
 * @example Reading symbols
 * ```ts
 * import assert from "node:assert/strict";
 * import { LispSymbol, parseLisp } from "@sock/sock";
 *
 * assert.deepEqual(parseLisp("foo"), new LispSymbol("FOO"));
 * assert.deepEqual(parseLisp(":Error"), new LispSymbol("ERROR", true));
 * assert.deepEqual(parseLisp("|a b|"), new LispSymbol("a b"));
 * ```
 */
export class LispSymbol {
  /** The symbol name, exactly (reading upcases unescaped letters). */
  readonly name: string;
  /** Whether the symbol is a keyword (lives in the KEYWORD package). */
  readonly keyword: boolean;

  /**
   * Creates a symbol.
   *
   * @param name The symbol name, used as is.
   * @param keyword Whether it is a keyword.
   */
  constructor(name: string, keyword = false) {
    this.name = name;
    this.keyword = keyword;
  }
}

/**
 * A Common Lisp character, e.g. `#\a` or `#\Space`.
 *
 * @example Reading characters
 * ```ts
 * import assert from "node:assert/strict";
 * import { LispChar, parseLisp } from "@sock/sock";
 *
 * assert.deepEqual(parseLisp("#\\Space"), new LispChar(" "));
 * ```
 */
export class LispChar {
  /** The character, as a string of exactly one code point. */
  readonly char: string;

  /**
   * Creates a character.
   *
   * @param char A string of exactly one Unicode code point.
   * @throws {RangeError} If `char` is not exactly one code point.
   */
  constructor(char: string) {
    const code = char.codePointAt(0);
    if (code === undefined || char.length !== (code > 0xffff ? 2 : 1)) {
      throw new RangeError(
        `Cannot create character: ${
          JSON.stringify(char)
        } is not one code point`,
      );
    }
    this.char = char;
  }
}

/**
 * A Common Lisp list, proper or dotted. A dotted tail that is itself a list,
 * or `NIL`, is folded in, so `(1 . (2 3))` is `(1 2 3)`. The reader returns
 * the empty list `()` as the symbol `NIL`, which it is in Common Lisp; an
 * empty `LispList` prints as `NIL` too.
 *
 * @example A dotted pair
 * ```ts
 * import assert from "node:assert/strict";
 * import { formatLisp, LispList } from "@sock/sock";
 *
 * assert.equal(formatLisp(new LispList([1n], 2n)), "(1 . 2)");
 * assert.equal(formatLisp(new LispList([1n], new LispList([2n]))), "(1 2)");
 * ```
 */
export class LispList {
  /** The elements. */
  readonly items: readonly LispDatum[];
  /** The datum after the dot of a dotted list, or `undefined` for a proper list. */
  readonly tail: LispDatum | undefined;

  /**
   * Creates a list.
   *
   * @param items The elements.
   * @param tail The dotted tail, if any.
   */
  constructor(items: readonly LispDatum[], tail?: LispDatum) {
    if (tail instanceof LispList) {
      this.items = items.length === 0 ? tail.items : [...items, ...tail.items];
      this.tail = tail.tail;
    } else if (
      tail instanceof LispSymbol && !tail.keyword && tail.name === "NIL"
    ) {
      this.items = items;
      this.tail = undefined;
    } else {
      this.items = items;
      this.tail = tail;
    }
  }
}

/**
 * A Common Lisp simple vector, `#(…)`.
 *
 * @example Reading a vector
 * ```ts
 * import assert from "node:assert/strict";
 * import { LispVector, parseLisp } from "@sock/sock";
 *
 * assert.deepEqual(parseLisp("#(1 2)"), new LispVector([1n, 2n]));
 * ```
 */
export class LispVector {
  /** The elements. */
  readonly items: readonly LispDatum[];

  /**
   * Creates a vector.
   *
   * @param items The elements.
   */
  constructor(items: readonly LispDatum[]) {
    this.items = items;
  }
}

/**
 * Any datum the reader returns and the printer accepts.
 *
 * @example Any datum a peer may send
 * ```ts
 * import { formatLisp, type LispDatum, LispList, parseLisp } from "@sock/sock";
 * import assert from "node:assert/strict";
 *
 * const datum: LispDatum = parseLisp('(:error "bad")');
 * assert.ok(datum instanceof LispList);
 * assert.equal(formatLisp(datum), '(:ERROR "bad")');
 * ```
 */
export type LispDatum =
  | LispNumber
  | LispSymbol
  | string
  | LispChar
  | LispList
  | LispVector;

/**
 * Tells whether a value is a Common Lisp number: a `bigint`, {@linkcode Ratio},
 * {@linkcode SingleFloat}, {@linkcode DoubleFloat} or {@linkcode Complex}.
 *
 * @param x Any value.
 * @returns `true` if `x` is a {@linkcode LispNumber}.
 *
 * @example Checking what a peer sent
 * ```ts
 * import assert from "node:assert/strict";
 * import { isLispNumber, parseLisp } from "@sock/sock";
 *
 * assert.equal(isLispNumber(parseLisp("1/2")), true);
 * assert.equal(isLispNumber(parseLisp("foo")), false);
 * ```
 */
export function isLispNumber(x: unknown): x is LispNumber {
  return typeof x === "bigint" || x instanceof Ratio ||
    x instanceof SingleFloat || x instanceof DoubleFloat ||
    x instanceof Complex;
}

/**
 * What {@linkcode readDatum} found:
 *
 * - `datum`: a complete datum; `next` is the index just after it. A closing
 *   parenthesis or quote belonging to the datum is consumed, the terminator
 *   after a number or symbol is not.
 * - `more`: the bytes so far are an incomplete datum (or only whitespace and
 *   comments) and `eof` was false; read more bytes and call again from the
 *   same `start`.
 * - `eof`: `eof` was true and there was nothing but whitespace and comments.
 *
 * @example Reading incrementally
 * ```ts
 * import { formatLisp, readDatum, type ReadResult } from "@sock/sock";
 * import assert from "node:assert/strict";
 *
 * const bytes = new TextEncoder().encode("12 3");
 * const first: ReadResult = readDatum(bytes, 0, bytes.length, false);
 * assert.equal(first.kind, "datum");
 * if (first.kind === "datum") {
 *   assert.equal(formatLisp(first.datum), "12");
 *   assert.equal(readDatum(bytes, first.next, bytes.length, false).kind, "more");
 *   assert.equal(readDatum(bytes, first.next, bytes.length, true).kind, "datum");
 * }
 * ```
 */
export type ReadResult =
  | { kind: "datum"; datum: LispDatum; next: number }
  | { kind: "more" }
  | { kind: "eof" };
