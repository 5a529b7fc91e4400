/**
 * Common Lisp data on the wire: an incremental reader working on bytes, a
 * printer that writes exactly what SBCL's `(format nil "~s" x)` writes, and
 * Common Lisp `+` with SBCL's number rules (integers, ratios, single- and
 * double-floats, complexes, float contagion, signed zeros, overflow errors).
 *
 * The code is pure: no I/O and no runtime-specific APIs.
 *
 * Numbers are `bigint` (integers), {@linkcode Ratio}, {@linkcode SingleFloat},
 * {@linkcode DoubleFloat} and {@linkcode Complex}; other data are
 * {@linkcode LispSymbol}, `string`, {@linkcode LispChar}, {@linkcode LispList}
 * and {@linkcode LispVector}.
 *
 * Rounding follows SBCL 2.2.9 on x86-64 bit for bit, including where SBCL's
 * conversion of a large ratio or bignum to a float, or a subnormal result,
 * is not the nearest float; printed subnormals carry SBCL's extra digits.
 *
 * @example The sum protocol
 * ```ts
 * import assert from "node:assert/strict";
 * import { add, formatLisp, isLispNumber, readDatum } from "@sock/sock";
 *
 * const request = new TextEncoder().encode("1.234 3.23423 ");
 * const a = readDatum(request, 0, request.length, false);
 * assert.equal(a.kind, "datum");
 * if (a.kind !== "datum") throw new Error("unreachable");
 * const b = readDatum(request, a.next, request.length, false);
 * if (b.kind !== "datum") throw new Error("unreachable");
 * assert.ok(isLispNumber(a.datum) && isLispNumber(b.datum));
 * assert.equal(formatLisp(add(a.datum, b.datum)), "4.4682302");
 * ```
 *
 * @module
 */

export { add } from "./add.ts";
export { makeComplex } from "./complex.ts";
export {
  LispArithmeticError,
  LispLimitError,
  LispReadError,
} from "./errors.ts";
export { formatLisp } from "./format.ts";
export { parseLisp, readDatum } from "./read.ts";
export type { ReadLimits, ReadResult } from "./read.ts";
export {
  Complex,
  DoubleFloat,
  isLispNumber,
  LispChar,
  LispList,
  LispSymbol,
  LispVector,
  makeRatio,
  Ratio,
  SingleFloat,
} from "./types.ts";
export type { LispDatum, LispNumber, LispReal } from "./types.ts";
