/**
 * Printing Common Lisp data as SBCL's `(format nil "~s" x)` does.
 *
 * @module
 */

import { DOUBLE, type FloatFormat, shortestDigits, SINGLE } from "./_float.ts";
import { CHAR_NAMES } from "./_chars.ts";
import { formatSymbolName } from "./_symbol_name.ts";
import {
  Complex,
  DoubleFloat,
  LispChar,
  type LispDatum,
  LispList,
  LispSymbol,
  LispVector,
  Ratio,
  SingleFloat,
} from "./types.ts";

/**
 * Prints a datum exactly as SBCL's `(format nil "~s" x)` prints it, for every
 * number:
 *
 * - integers in decimal, ratios as `n/d`, complexes as `#C(re im)`;
 * - floats with the shortest digits that read back to the same value in the
 *   value's own format (binary32 for single-floats), positional when
 *   1e-3 ≤ |x| < 1e7 (`100.0`, `0.001`, `3.0d0`) and in exponent form
 *   otherwise (`1.0e7`, `9.0e-4`, `1.5d-7`); double-floats always carry a
 *   `d` exponent.
 *
 * Other data print readably as SBCL prints them with the standard readtable:
 * symbols upcased, between bars when needed (`|a b|`, `|1|`), keywords as
 * `:FOO`, strings with `"` and `\` escaped, characters as `#\a` or
 * `#\Newline`, lists (`NIL` when empty, `'X` for `(QUOTE X)`) and `#(…)`
 * vectors. Everything prints on one line (SBCL's pretty printer would break
 * lines longer than its right margin), and characters beyond ASCII print as
 * themselves rather than by their Unicode names.
 *
 * @param datum The datum to print.
 * @returns Its printed representation.
 *
 * @example Printing numbers
 * ```ts
 * import assert from "node:assert/strict";
 * import { DoubleFloat, formatLisp, makeRatio, SingleFloat } from "./mod.ts";
 *
 * assert.equal(formatLisp(4n), "4");
 * assert.equal(formatLisp(makeRatio(1n, 3n)), "1/3");
 * assert.equal(formatLisp(new SingleFloat(1e7)), "1.0e7");
 * assert.equal(formatLisp(new SingleFloat(0.001)), "0.001");
 * assert.equal(formatLisp(new DoubleFloat(0.1 + 0.2)), "0.30000000000000004d0");
 * ```
 *
 * @example Printing other data
 * ```ts
 * import assert from "node:assert/strict";
 * import { formatLisp, LispList, LispSymbol } from "./mod.ts";
 *
 * const reply = new LispList([new LispSymbol("ERROR", true), "FOO is not a number"]);
 * assert.equal(formatLisp(reply), '(:ERROR "FOO is not a number")');
 * ```
 */
export function formatLisp(datum: LispDatum): string {
  if (typeof datum === "bigint") return String(datum);
  if (typeof datum === "string") return formatString(datum);
  if (datum instanceof SingleFloat) return formatFloat(datum.value, SINGLE);
  if (datum instanceof DoubleFloat) return formatFloat(datum.value, DOUBLE);
  if (datum instanceof Ratio) return `${datum.num}/${datum.den}`;
  if (datum instanceof Complex) {
    return `#C(${formatLisp(datum.re)} ${formatLisp(datum.im)})`;
  }
  if (datum instanceof LispSymbol) {
    const name = formatSymbolName(datum.name);
    return datum.keyword ? `:${name}` : name;
  }
  if (datum instanceof LispChar) return formatChar(datum.char);
  if (datum instanceof LispList) return formatList(datum);
  if (datum instanceof LispVector) {
    return `#(${datum.items.map(formatLisp).join(" ")})`;
  }
  throw new TypeError(`Cannot print value: ${String(datum)} is not Lisp data`);
}

function formatFloat(value: number, format: FloatFormat): string {
  const sign = value < 0 || Object.is(value, -0) ? "-" : "";
  const suffix = format.single ? "" : "d0";
  if (value === 0) return `${sign}0.0${suffix}`;
  const { digits, k } = shortestDigits(Math.abs(value), format);
  if (k > -3 && k < 8) {
    if (k <= 0) return `${sign}0.${"0".repeat(-k)}${digits}${suffix}`;
    if (digits.length <= k) {
      return `${sign}${digits}${"0".repeat(k - digits.length)}.0${suffix}`;
    }
    return `${sign}${digits.slice(0, k)}.${digits.slice(k)}${suffix}`;
  }
  const marker = format.single ? "e" : "d";
  return `${sign}${digits[0]}.${digits.slice(1) || "0"}${marker}${k - 1}`;
}

function formatString(text: string): string {
  return `"${text.replace(/["\\]/g, "\\$&")}"`;
}

function formatChar(char: string): string {
  const code = char.codePointAt(0)!;
  if (code < 32) return `#\\${CHAR_NAMES[code]}`;
  if (code === 127) return "#\\Rubout";
  return `#\\${char}`;
}

function formatList(list: LispList): string {
  const { items, tail } = list;
  if (items.length === 0 && tail === undefined) return "NIL";
  if (items.length === 2 && tail === undefined) {
    const head = items[0];
    if (head instanceof LispSymbol && !head.keyword) {
      if (head.name === "QUOTE") return `'${formatLisp(items[1]!)}`;
      if (head.name === "FUNCTION") return `#'${formatLisp(items[1]!)}`;
    }
  }
  const body = items.map(formatLisp).join(" ");
  return tail === undefined ? `(${body})` : `(${body} . ${formatLisp(tail)})`;
}
