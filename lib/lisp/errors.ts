/**
 * Errors raised while reading and adding Common Lisp data.
 *
 * @module
 */

/**
 * Raised when bytes cannot be read as Common Lisp data: unbalanced
 * parentheses, `#.` read-time evaluation (never honoured), unsupported `#`
 * syntax, a ratio with a zero denominator, a float out of range, or the end of
 * input inside a datum.
 *
 * @example Catching a read error
 * ```ts
 * import assert from "node:assert/strict";
 * import { LispReadError, parseLisp } from "@sock/sock";
 *
 * assert.throws(() => parseLisp("#.(+ 1 2)"), LispReadError);
 * try {
 *   parseLisp("(1 2");
 * } catch (error) {
 *   assert.ok(error instanceof LispReadError);
 *   assert.equal(error.offset, 4);
 * }
 * ```
 */
export class LispReadError extends SyntaxError {
  /** Index of the byte (or, for {@linkcode parseLisp}, the UTF-8 byte) where the problem was found. */
  readonly offset: number;

  /**
   * Creates a read error.
   *
   * @param message What went wrong, e.g. "Cannot read ratio: denominator is zero".
   * @param offset Index of the offending byte in the input.
   * @param options Standard error options such as `cause`.
   */
  constructor(message: string, offset: number, options?: ErrorOptions) {
    super(message, options);
    this.name = "LispReadError";
    this.offset = offset;
  }
}

/**
 * Raised when input exceeds one of the {@linkcode ReadLimits}: a token, a
 * datum or a nesting depth longer than allowed. It is raised as soon as the
 * bytes seen so far exceed the limit, even before the datum is complete.
 *
 * @example Stopping an endless token
 * ```ts
 * import assert from "node:assert/strict";
 * import { LispLimitError, readDatum } from "@sock/sock";
 *
 * const digits = new Uint8Array(10_000).fill(0x31); // "111…", no terminator yet
 * assert.throws(
 *   () => readDatum(digits, 0, digits.length, false),
 *   LispLimitError,
 * );
 * ```
 */
export class LispLimitError extends LispReadError {
  /** Name of the exceeded limit, e.g. `"maxTokenLength"`. */
  readonly limit: "maxTokenLength" | "maxDepth" | "maxDatumLength";

  /**
   * Creates a limit error.
   *
   * @param message What went wrong, naming the limit.
   * @param offset Index of the byte at which the limit was exceeded.
   * @param limit Name of the exceeded limit.
   */
  constructor(
    message: string,
    offset: number,
    limit: "maxTokenLength" | "maxDepth" | "maxDatumLength",
  ) {
    super(message, offset);
    this.name = "LispLimitError";
    this.limit = limit;
  }
}

/**
 * Raised by arithmetic that Common Lisp would signal an `arithmetic-error`
 * for: a float result or a rational-to-float conversion beyond the range of
 * the float format (never Infinity or NaN), or a zero denominator.
 *
 * @example Catching a float overflow
 * ```ts
 * import assert from "node:assert/strict";
 * import { add, LispArithmeticError, SingleFloat } from "@sock/sock";
 *
 * assert.throws(
 *   () => add(new SingleFloat(3e38), new SingleFloat(3e38)),
 *   LispArithmeticError,
 * );
 * ```
 */
export class LispArithmeticError extends RangeError {
  /**
   * Creates an arithmetic error.
   *
   * @param message What went wrong, e.g. "Cannot add numbers: the sum is too large for a single-float".
   * @param options Standard error options such as `cause`.
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "LispArithmeticError";
  }
}
