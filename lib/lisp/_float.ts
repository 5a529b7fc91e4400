// Float conversions that reproduce SBCL (x86-64) bit for bit:
// rational → float rounding (fixnum, bignum and ratio paths), decimal → float
// for the reader, and the shortest-digit generation of the printer.

import { bitLength, DOUBLE_POW10, pow10, trailingZeros } from "./_bigint.ts";

/** Parameters of one IEEE float format. */
export interface FloatFormat {
  /** Significand bits including the hidden bit (24 or 53). */
  readonly digits: number;
  /** Exponent of the last significand bit of the smallest normal value. */
  readonly minExponent: number;
  /** Values must stay below 2^maxLength. */
  readonly maxLength: number;
  /** SBCL's `single-float-min-e` / `double-float-min-e` used by the printer. */
  readonly printMinE: number;
  /** Whether results are rounded to binary32. */
  readonly single: boolean;
}

/** IEEE binary32, Common Lisp `single-float`. */
export const SINGLE: FloatFormat = {
  digits: 24,
  minExponent: -149,
  maxLength: 128,
  printMinE: -148,
  single: true,
};

/** IEEE binary64, Common Lisp `double-float`. */
export const DOUBLE: FloatFormat = {
  digits: 53,
  minExponent: -1074,
  maxLength: 1024,
  printMinE: -1073,
  single: false,
};

const FIXNUM_LIMIT = 1n << 62n;
const MASK_64 = (1n << 64n) - 1n;
const ROUND_BIT = 1n << 63n;

/**
 * Builds sig × 2^exponent where sig has exactly `format.digits` bits, the
 * way SBCL's SCALE-FLOAT does: overflow gives ±Infinity (callers raise the
 * error), and a subnormal result is truncated, not rounded.
 */
function scaleFloat(
  negative: boolean,
  sig: bigint,
  exponent: number,
  format: FloatFormat,
): number {
  let value: number;
  if (exponent + format.digits > format.maxLength) {
    value = Infinity;
  } else if (exponent >= format.minExponent) {
    value = Number(sig) * 2 ** exponent;
  } else {
    const shift = exponent - format.minExponent;
    value = shift < 1 - format.digits
      ? 0
      : Number(sig >> BigInt(-shift)) * 2 ** format.minExponent;
  }
  return negative ? -value : value;
}

/** Rounds |n| < 2^62 to the nearest value of the format, ties to even. */
function roundSmallInteger(n: bigint, format: FloatFormat): number {
  const negative = n < 0n;
  const m = negative ? -n : n;
  let value: number;
  if (m <= 0x20000000000000n) {
    value = Number(m);
    if (format.single) value = Math.fround(value);
  } else {
    const shift = bitLength(m) - format.digits;
    const big = BigInt(shift);
    let q = m >> big;
    const rem = m - (q << big);
    const half = 1n << (big - 1n);
    if (rem > half || (rem === half && (q & 1n) === 1n)) q += 1n;
    value = Number(q) * 2 ** shift;
  }
  return negative ? -value : value;
}

/** SBCL's BIGNUM-TO-FLOAT, including its word-based sticky-bit check. */
function bignumToFloat(n: bigint, format: FloatFormat): number {
  const negative = n < 0n;
  const x = negative ? -n : n;
  const len = bitLength(x);
  const keep = format.digits + 64;
  const shift = keep - len;
  const shifted = shift < 0 ? x >> BigInt(-shift) : x << BigInt(shift);
  const low = shifted & MASK_64;
  let bits = shifted;
  let bitsLength = len;
  let roundUp: boolean;
  if ((low & ROUND_BIT) === 0n) {
    roundUp = false;
  } else if (low === ROUND_BIT) {
    const words = Math.floor(len / 64) + 1 - Math.ceil(keep / 64);
    const lowerZero = words <= 0 ||
      (x & ((1n << BigInt(64 * words)) - 1n)) === 0n;
    roundUp = lowerZero ? ((shifted >> 64n) & 1n) === 1n : true;
  } else {
    roundUp = true;
  }
  if (roundUp) {
    const rounded = shifted + ROUND_BIT;
    if (bitLength(rounded) > keep) {
      bits = rounded >> 1n;
      bitsLength = len + 1;
    } else {
      bits = rounded;
    }
  }
  if (bitsLength > format.maxLength) return negative ? -Infinity : Infinity;
  const value = Number(bits >> 64n) * 2 ** (bitsLength - format.digits);
  return negative ? -value : value;
}

/**
 * Converts an integer to a float as SBCL's COERCE does: fixnums are rounded to
 * nearest (ties to even), bignums go through BIGNUM-TO-FLOAT. Returns ±Infinity
 * when the value is beyond the format's range.
 */
export function integerToFloat(n: bigint, format: FloatFormat): number {
  if (n < FIXNUM_LIMIT && n >= -FIXNUM_LIMIT) {
    return roundSmallInteger(n, format);
  }
  return bignumToFloat(n, format);
}

/**
 * Converts num/den (den > 1, lowest terms) to a float exactly as SBCL's
 * FLOAT-RATIO does. Returns ±Infinity beyond the range and a (signed) zero or
 * truncated subnormal below it.
 */
export function ratioToFloat(
  num: bigint,
  den: bigint,
  format: FloatFormat,
): number {
  const negative = num < 0n;
  const n = negative ? -num : num;
  const p = format.digits;
  const denTwos = trailingZeros(den);
  let scale = -denTwos;
  den >>= BigInt(denTwos);
  const delta = bitLength(den) - bitLength(n);
  const shift = 1 + delta + p;
  let shifted = shift >= 0 ? n << BigInt(shift) : n >> BigInt(-shift);
  scale -= delta;
  for (;;) {
    const q = shifted / den;
    const extra = bitLength(q) - p;
    if (extra === 1) {
      let bits = q;
      if ((q & 1n) === 1n) {
        const exact = shifted === q * den;
        bits = exact && (q & 2n) === 0n ? q : q + 1n;
      }
      bits >>= 1n;
      if (bitLength(bits) > p) {
        return scaleFloat(negative, bits >> 1n, scale + 1 - p, format);
      }
      return scaleFloat(negative, bits, scale - p, format);
    }
    shifted >>= 1n;
    scale += 1;
  }
}

/**
 * Rounds the decimal ±mantissa × 10^exponent to the format exactly as SBCL's
 * reader does (it builds the exact rational and coerces it). Returns
 * ±Infinity when the value is too large for the format.
 *
 * @param mantissa The decimal digits as an integer; a number only when it is
 * an exact integer up to 2^53.
 */
export function decimalToFloat(
  negative: boolean,
  mantissa: number | bigint,
  exponent: number,
  format: FloatFormat,
): number {
  if (mantissa === 0 || mantissa === 0n) return negative ? -0 : 0;
  if (typeof mantissa === "number") {
    // Fast paths where one correctly rounded operation on exact operands
    // gives the same result as SBCL's exact conversion.
    if (format.single) {
      if (mantissa <= 16777216 && exponent >= -10 && exponent <= 10) {
        const value = Math.fround(
          exponent >= 0
            ? mantissa * DOUBLE_POW10[exponent]!
            : mantissa / DOUBLE_POW10[-exponent]!,
        );
        return negative ? -value : value;
      }
    } else if (exponent >= -22 && exponent <= 22) {
      const value = exponent >= 0
        ? mantissa * DOUBLE_POW10[exponent]!
        : mantissa / DOUBLE_POW10[-exponent]!;
      return negative ? -value : value;
    }
  }
  const m = BigInt(mantissa);
  const digits = m < 10n ** 15n
    ? String(m).length
    : Math.floor((bitLength(m) - 1) * Math.LOG10E * Math.LN2) + 1;
  // The value lies in [10^(digits - 2 + exponent), 10^(digits + 1 + exponent)).
  const upper = format.single ? 39 : 309;
  const lower = format.single ? -46 : -325;
  if (digits - 2 + exponent > upper) return negative ? -Infinity : Infinity;
  if (digits + 1 + exponent < lower) return negative ? -0 : 0;
  const signed = negative ? -m : m;
  if (exponent >= 0) return integerToFloat(signed * pow10(exponent), format);
  // Reduce m / 10^j to lowest terms by stripping common factors 2 and 5.
  const j = -exponent;
  const twos = Math.min(trailingZeros(m), j);
  let num = signed >> BigInt(twos);
  let fives = 0;
  for (let step = 2 ** Math.floor(Math.log2(j)); step >= 1; step /= 2) {
    const power = 5n ** BigInt(step);
    while (fives + step <= j && num % power === 0n) {
      num /= power;
      fives += step;
    }
  }
  const den = (5n ** BigInt(j - fives)) << BigInt(j - twos);
  if (den === 1n) return integerToFloat(num, format);
  return ratioToFloat(num, den, format);
}

const VIEW = new DataView(new ArrayBuffer(8));

/**
 * Returns SBCL's INTEGER-DECODE-FLOAT of a positive finite value: the
 * significand `f` (an integer below 2^digits) and exponent `e` with value =
 * f × 2^e. Subnormals give an unnormalised `f` with the minimum exponent.
 */
export function decodeFloat(
  x: number,
  format: FloatFormat,
): { f: number; e: number } {
  if (format.single) {
    VIEW.setFloat32(0, x);
    const bits = VIEW.getUint32(0);
    const biased = bits >>> 23;
    const fraction = bits & 0x7fffff;
    if (biased === 0) return { f: fraction, e: -149 };
    return { f: fraction + 0x800000, e: biased - 150 };
  }
  VIEW.setFloat64(0, x);
  const high = VIEW.getUint32(0);
  const low = VIEW.getUint32(4);
  const biased = (high >>> 20) & 0x7ff;
  const fraction = (high & 0xfffff) * 4294967296 + low;
  if (biased === 0) return { f: fraction, e: -1074 };
  return { f: fraction + 4503599627370496, e: biased - 1075 };
}

/**
 * The shortest digits that read back as `x` in its format, as SBCL's
 * FLONUM-TO-DIGITS produces them (Burger & Dybvig free-format printing,
 * ties in the last digit rounded up): value = 0.digits × 10^k.
 *
 * Subnormals are printed as SBCL 2.2.9 prints them: as if they had the full
 * precision of the format, so with more digits than needed.
 *
 * @param x A positive finite value of the format.
 */
export function shortestDigits(
  x: number,
  format: FloatFormat,
): { digits: string; k: number } {
  let { f: fNumber, e } = decodeFloat(x, format);
  const hidden = 2 ** (format.digits - 1);
  while (fNumber < hidden) {
    // SBCL 2.2.9 prints a subnormal as if it had the full precision.
    fNumber *= 2;
    e -= 1;
  }
  const f = BigInt(fNumber);
  const even = fNumber % 2 === 0;
  let r: bigint;
  let s: bigint;
  let mPlus: bigint;
  let mMinus: bigint;
  if (e >= 0) {
    const be = 1n << BigInt(e);
    if (fNumber !== hidden) {
      r = f * be * 2n;
      s = 2n;
      mPlus = be;
      mMinus = be;
    } else {
      mMinus = be;
      mPlus = be * 2n;
      r = f * mPlus * 2n;
      s = 4n;
    }
  } else if (e === format.printMinE || fNumber !== hidden) {
    r = f * 2n;
    s = 1n << BigInt(1 - e);
    mPlus = 1n;
    mMinus = 1n;
  } else {
    r = f * 4n;
    s = 1n << BigInt(2 - e);
    mPlus = 2n;
    mMinus = 1n;
  }
  // k is the least integer with (r + m+) / s < 10^k (≤ when the high end is
  // excluded); start from an estimate and correct it.
  const high = r + mPlus;
  let k = Math.ceil(Math.log10(x));
  const fits = (k: number): boolean => {
    const c = k >= 0
      ? compare(high, s * pow10(k))
      : compare(high * pow10(-k), s);
    return c < 0 || (c === 0 && !even);
  };
  while (!fits(k)) k += 1;
  while (fits(k - 1)) k -= 1;
  if (k >= 0) {
    s *= pow10(k);
  } else {
    const scale = pow10(-k);
    r *= scale;
    mPlus *= scale;
    mMinus *= scale;
  }
  let digits = "";
  for (;;) {
    r *= 10n;
    const d = r / s;
    r -= d * s;
    mPlus *= 10n;
    mMinus *= 10n;
    const low = r < mMinus || (even && r === mMinus);
    const sum = r + mPlus;
    const up = sum > s || (even && sum === s);
    if (low || up) {
      let last = Number(d);
      if (!low || (up && r * 2n >= s)) last += 1;
      digits += String(last);
      return { digits, k };
    }
    digits += String(Number(d));
  }
}

function compare(a: bigint, b: bigint): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
