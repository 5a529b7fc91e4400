/**
 * Common Lisp `+` on two numbers.
 *
 * @module
 */

import { checkedFloat, contagionFormat, realToFloat } from "./_contagion.ts";
import { makeComplex } from "./complex.ts";
import {
  Complex,
  isLispNumber,
  type LispNumber,
  type LispReal,
  makeRatio,
  Ratio,
} from "./types.ts";

/**
 * Adds two numbers exactly as Common Lisp's `+` does in SBCL:
 *
 * - rationals add exactly (`1/2 + 1/2` is `1`);
 * - a rational added to a float is first converted to that float format the
 *   way SBCL converts it, then added in that format;
 * - single-float + double-float gives a double-float, the single widened
 *   exactly;
 * - single-float arithmetic is IEEE binary32, double-float binary64, signed
 *   zeros included (`-0.0 + 0` is `0.0`);
 * - complexes add part by part; a real added to a complex adds zero to the
 *   imaginary part; a rational complex whose imaginary part becomes zero
 *   collapses to a rational, a float complex stays complex.
 *
 * @param a The first addend.
 * @param b The second addend.
 * @returns The sum.
 * @throws {LispArithmeticError} If the sum, or converting a rational for it, is beyond the float format's range.
 * @throws {TypeError} If an argument is not a Lisp number.
 *
 * @example Sums from the sum protocol
 * ```ts
 * import assert from "node:assert/strict";
 * import { add, formatLisp, isLispNumber, parseLisp } from "@sock/sock";
 *
 * function sum(a: string, b: string): string {
 *   const x = parseLisp(a);
 *   const y = parseLisp(b);
 *   assert.ok(isLispNumber(x) && isLispNumber(y));
 *   return formatLisp(add(x, y));
 * }
 * assert.equal(sum("1", "3"), "4");
 * assert.equal(sum("1.234", "3.23423"), "4.4682302");
 * assert.equal(sum("3", "#C(0.0 1.0)"), "#C(3.0 1.0)");
 * assert.equal(sum("0.1", "0.1d0"), "0.20000000149011612d0");
 * ```
 */
export function add(a: LispNumber, b: LispNumber): LispNumber {
  if (typeof a === "bigint" && typeof b === "bigint") return a + b;
  if (!isLispNumber(a) || !isLispNumber(b)) {
    throw new TypeError("Cannot add values: both must be Lisp numbers");
  }
  if (a instanceof Complex) {
    if (b instanceof Complex) {
      return makeComplex(addReal(a.re, b.re), addReal(a.im, b.im));
    }
    return makeComplex(addReal(a.re, b), addReal(a.im, 0n));
  }
  if (b instanceof Complex) {
    return makeComplex(addReal(a, b.re), addReal(0n, b.im));
  }
  return addReal(a, b);
}

function addReal(a: LispReal, b: LispReal): LispReal {
  if (typeof a === "bigint" && typeof b === "bigint") return a + b;
  const format = contagionFormat(a, b);
  if (format !== undefined) {
    const sum = realToFloat(a, format) + realToFloat(b, format);
    return checkedFloat(
      format.single ? Math.fround(sum) : sum,
      format,
      "add numbers",
    );
  }
  const [an, ad] = a instanceof Ratio ? [a.num, a.den] : [a as bigint, 1n];
  const [bn, bd] = b instanceof Ratio ? [b.num, b.den] : [b as bigint, 1n];
  if (ad === bd) return makeRatio(an + bn, ad);
  return makeRatio(an * bd + bn * ad, ad * bd);
}
