/**
 * Building complex numbers with Common Lisp's `complex` rules.
 *
 * @module
 */

import { contagionFormat, realToFloat } from "./_contagion.ts";
import {
  Complex,
  DoubleFloat,
  type LispNumber,
  type LispReal,
  Ratio,
  SingleFloat,
} from "./types.ts";

/**
 * Returns the complex `re + im·i` as Common Lisp's `complex` builds it: if
 * either part is a float, both parts become floats of the wider format
 * (double-float beats single-float); a rational complex with a zero imaginary
 * part is just the rational `re`. A float complex stays complex even when its
 * imaginary part is zero.
 *
 * @param re The real part.
 * @param im The imaginary part.
 * @returns The canonical number.
 * @throws {LispArithmeticError} If a rational part is too large for the float format.
 * @throws {TypeError} If a part is not a real number.
 *
 * @example Contagion and collapse
 * ```ts
 * import assert from "node:assert/strict";
 * import { formatLisp, makeComplex, makeRatio, SingleFloat } from "@sock/sock";
 *
 * assert.equal(formatLisp(makeComplex(makeRatio(1n, 2n), new SingleFloat(0.5))), "#C(0.5 0.5)");
 * assert.equal(makeComplex(1n, 0n), 1n);
 * assert.equal(formatLisp(makeComplex(1n, new SingleFloat(0))), "#C(1.0 0.0)");
 * ```
 */
export function makeComplex(re: LispReal, im: LispReal): LispNumber {
  if (!isReal(re) || !isReal(im)) {
    throw new TypeError("Cannot make complex: parts must be real numbers");
  }
  const format = contagionFormat(re, im);
  if (format === undefined) return im === 0n ? re : new Complex(re, im);
  if (format.single) {
    return new Complex(
      new SingleFloat(realToFloat(re, format)),
      new SingleFloat(realToFloat(im, format)),
    );
  }
  return new Complex(
    new DoubleFloat(realToFloat(re, format)),
    new DoubleFloat(realToFloat(im, format)),
  );
}

function isReal(x: unknown): x is LispReal {
  return typeof x === "bigint" || x instanceof Ratio ||
    x instanceof SingleFloat || x instanceof DoubleFloat;
}
