// Float contagion: converting a real to a float format as SBCL's COERCE does,
// raising LispArithmeticError instead of returning an infinity.

import {
  DOUBLE,
  type FloatFormat,
  integerToFloat,
  ratioToFloat,
  SINGLE,
} from "./_float.ts";
import { LispArithmeticError } from "./errors.ts";
import {
  DoubleFloat,
  type LispReal,
  type Ratio,
  SingleFloat,
} from "./types.ts";

/** Returns `x` converted to the format, raising if it is out of range. */
export function realToFloat(x: LispReal, format: FloatFormat): number {
  if (x instanceof SingleFloat || x instanceof DoubleFloat) return x.value;
  const value = typeof x === "bigint"
    ? integerToFloat(x, format)
    : ratioToFloat(x.num, x.den, format);
  if (!Number.isFinite(value)) {
    throw new LispArithmeticError(
      `Cannot convert ${describe(x)} to ${
        formatName(format)
      }: value is too large`,
    );
  }
  return value;
}

/** Returns a float of the given format, raising if `value` overflowed. */
export function checkedFloat(
  value: number,
  format: FloatFormat,
  what: string,
): SingleFloat | DoubleFloat {
  if (!Number.isFinite(value)) {
    throw new LispArithmeticError(
      `Cannot ${what}: the result is too large for a ${formatName(format)}`,
    );
  }
  return format.single ? new SingleFloat(value) : new DoubleFloat(value);
}

/** Returns the float format that real contagion picks for two reals, if any. */
export function contagionFormat(
  a: LispReal,
  b: LispReal,
): FloatFormat | undefined {
  if (a instanceof DoubleFloat || b instanceof DoubleFloat) return DOUBLE;
  if (a instanceof SingleFloat || b instanceof SingleFloat) return SINGLE;
  return undefined;
}

function formatName(format: FloatFormat): string {
  return format.single ? "single-float" : "double-float";
}

function describe(x: bigint | Ratio): string {
  const text = typeof x === "bigint" ? String(x) : `${x.num}/${x.den}`;
  if (text.length <= 40) return text;
  return typeof x === "bigint"
    ? `an integer of ${text.length} characters`
    : `a ratio of ${text.length} characters`;
}
