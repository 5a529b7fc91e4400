// Interpreting a token (the bytes of a number or symbol) read from bytes.

import { DIGIT_VALUE } from "./_chars.ts";
import { decimalToFloat, DOUBLE, type FloatFormat, SINGLE } from "./_float.ts";
import { LispReadError } from "./errors.ts";
import {
  DoubleFloat,
  type LispNumber,
  LispSymbol,
  makeRatio,
  SingleFloat,
} from "./types.ts";

const PLUS = 43;
const MINUS = 45;
const DOT = 46;
const SLASH = 47;
const BAR = 124;
const BACKSLASH = 92;
const COLON = 58;

const UTF8 = new TextDecoder("utf-8", { fatal: true });

/** Decodes UTF-8 bytes, raising a read error for invalid sequences. */
export function decodeUtf8(
  bytes: Uint8Array,
  start: number,
  end: number,
): string {
  let ascii = true;
  for (let i = start; i < end; i++) {
    if (bytes[i]! >= 0x80) {
      ascii = false;
      break;
    }
  }
  if (ascii && end - start <= 64) {
    let text = "";
    for (let i = start; i < end; i++) text += String.fromCharCode(bytes[i]!);
    return text;
  }
  try {
    return UTF8.decode(bytes.subarray(start, end));
  } catch (cause) {
    throw new LispReadError("Cannot read text: invalid UTF-8", start, {
      cause,
    });
  }
}

/** Reads digits in the radix as an integer; all bytes must be digits. */
function readInteger(
  bytes: Uint8Array,
  start: number,
  end: number,
  radix: number,
): bigint {
  const chunk = radix === 10 ? 15 : Math.floor(53 / Math.log2(radix));
  if (end - start <= chunk) {
    let value = 0;
    for (let i = start; i < end; i++) {
      value = value * radix + DIGIT_VALUE[bytes[i]!]!;
    }
    return BigInt(value);
  }
  let result = 0n;
  let i = start;
  while (i < end) {
    const stop = Math.min(end, i + chunk);
    let value = 0;
    let scale = 1;
    for (; i < stop; i++) {
      value = value * radix + DIGIT_VALUE[bytes[i]!]!;
      scale *= radix;
    }
    result = result * BigInt(scale) + BigInt(value);
  }
  return result;
}

/** Returns the index after the run of digits of the radix starting at `i`. */
function skipDigits(
  bytes: Uint8Array,
  i: number,
  end: number,
  radix: number,
): number {
  while (i < end && DIGIT_VALUE[bytes[i]!]! < radix) i++;
  return i;
}

function tokenText(bytes: Uint8Array, start: number, end: number): string {
  const text = decodeUtf8(bytes, start, Math.min(end, start + 40));
  return end - start > 40 ? `${text}…` : text;
}

/**
 * Parses an unescaped token as a number in the given radix (floats are
 * always decimal). Returns `undefined` when the token has no number syntax,
 * so it is a symbol.
 *
 * @throws {LispReadError} For a zero denominator or a float out of range.
 */
export function parseNumber(
  bytes: Uint8Array,
  start: number,
  end: number,
  radix: number,
): LispNumber | undefined {
  let i = start;
  const first = bytes[i];
  const negative = first === MINUS;
  if (negative || first === PLUS) i++;
  const digitsStart = i;
  const digitsEnd = skipDigits(bytes, i, end, radix);
  if (digitsEnd > digitsStart) {
    if (digitsEnd === end) {
      const value = readInteger(bytes, digitsStart, end, radix);
      return negative ? -value : value;
    }
    if (bytes[digitsEnd] === SLASH) {
      const denStart = digitsEnd + 1;
      if (denStart < end && skipDigits(bytes, denStart, end, radix) === end) {
        const num = readInteger(bytes, digitsStart, digitsEnd, radix);
        const den = readInteger(bytes, denStart, end, radix);
        if (den === 0n) {
          throw new LispReadError(
            `Cannot read ratio "${
              tokenText(bytes, start, end)
            }": denominator is zero`,
            start,
          );
        }
        return makeRatio(negative ? -num : num, den);
      }
      return undefined;
    }
  }
  return parseDecimal(bytes, start, digitsStart, end, negative);
}

/** Parses decimal integers with a trailing dot and floats. */
function parseDecimal(
  bytes: Uint8Array,
  start: number,
  digitsStart: number,
  end: number,
  negative: boolean,
): LispNumber | undefined {
  const intEnd = skipDigits(bytes, digitsStart, end, 10);
  let i = intEnd;
  let fracStart = i;
  let fracEnd = i;
  if (bytes[i] === DOT) {
    if (i + 1 === end) {
      if (intEnd === digitsStart) return undefined;
      const value = readInteger(bytes, digitsStart, intEnd, 10);
      return negative ? -value : value;
    }
    fracStart = i + 1;
    fracEnd = skipDigits(bytes, fracStart, end, 10);
    i = fracEnd;
  }
  const intDigits = intEnd - digitsStart;
  const fracDigits = fracEnd - fracStart;
  if (intDigits + fracDigits === 0) return undefined;
  let format: FloatFormat = SINGLE;
  let exponent = 0;
  if (i < end) {
    const marker = bytes[i]! | 0x20;
    if (marker === 0x64 || marker === 0x6c) format = DOUBLE; // d l
    else if (marker !== 0x65 && marker !== 0x66 && marker !== 0x73) { // e f s
      return undefined;
    }
    i++;
    const expNegative = bytes[i] === MINUS;
    if (expNegative || bytes[i] === PLUS) i++;
    const expStart = i;
    if (expStart === end || skipDigits(bytes, expStart, end, 10) !== end) {
      return undefined;
    }
    for (; i < end; i++) {
      exponent = Math.min(exponent * 10 + bytes[i]! - 48, 1e9);
    }
    if (expNegative) exponent = -exponent;
  } else if (fracDigits === 0) {
    return undefined;
  }
  const mantissa = readMantissa(bytes, digitsStart, intEnd, fracStart, fracEnd);
  const value = decimalToFloat(
    negative,
    mantissa,
    exponent - fracDigits,
    format,
  );
  if (!Number.isFinite(value)) {
    throw new LispReadError(
      `Cannot read float "${tokenText(bytes, start, end)}": too large for a ${
        format.single ? "single-float" : "double-float"
      }`,
      start,
    );
  }
  return format.single ? new SingleFloat(value) : new DoubleFloat(value);
}

/** Reads the digits of the integer and fraction parts as one integer. */
function readMantissa(
  bytes: Uint8Array,
  intStart: number,
  intEnd: number,
  fracStart: number,
  fracEnd: number,
): number | bigint {
  let significant = 0;
  let value = 0;
  for (let i = intStart; i < fracEnd; i++) {
    if (i === intEnd) i = fracStart;
    if (i === fracEnd) break;
    const digit = bytes[i]! - 48;
    if (significant === 0 && digit === 0) continue;
    significant++;
    if (significant > 15) {
      const whole = readInteger(bytes, intStart, intEnd, 10);
      const fraction = readInteger(bytes, fracStart, fracEnd, 10);
      return whole * 10n ** BigInt(fracEnd - fracStart) + fraction;
    }
    value = value * 10 + digit;
  }
  return value;
}

/** UTF-8 sequence length from its first byte (1 for invalid bytes). */
function sequenceLength(lead: number): number {
  if (lead < 0xc0) return 1;
  if (lead < 0xe0) return 2;
  if (lead < 0xf0) return 3;
  return 4;
}

function upcase(text: string): string {
  let out = "";
  for (const char of text) {
    const upper = char.toUpperCase();
    out += upper.length === char.length ? upper : char;
  }
  return out;
}

/**
 * Builds the symbol a token names: unescaped letters are upcased, `\x` and
 * `|…|` escape, a leading colon makes a keyword.
 *
 * @throws {LispReadError} For package-qualified names, which are not supported.
 */
export function buildSymbol(
  bytes: Uint8Array,
  start: number,
  end: number,
): LispSymbol {
  let name = "";
  let keyword = false;
  let i = start;
  if (bytes[i] === COLON) {
    keyword = true;
    i++;
    if (bytes[i] === COLON) i++;
    if (i === end) {
      throw new LispReadError("Cannot read keyword: name is missing", start);
    }
  }
  let run = i;
  const flush = (stop: number): void => {
    if (stop > run) {
      const text = decodeUtf8(bytes, run, stop);
      name += /[a-z]/.test(text) || /[^\0-\x7f]/.test(text)
        ? upcase(text)
        : text;
    }
  };
  while (i < end) {
    const b = bytes[i]!;
    if (b === BACKSLASH) {
      flush(i);
      const stop = Math.min(end, i + 1 + sequenceLength(bytes[i + 1]!));
      name += decodeUtf8(bytes, i + 1, stop);
      i = stop;
      run = i;
    } else if (b === BAR) {
      flush(i);
      i++;
      let piece = i;
      while (i < end && bytes[i] !== BAR) {
        if (bytes[i] === BACKSLASH) {
          name += decodeUtf8(bytes, piece, i);
          piece = i + 1;
          i = Math.min(end, i + 1 + sequenceLength(bytes[i + 1]!));
        } else {
          i++;
        }
      }
      name += decodeUtf8(bytes, piece, i);
      i++;
      run = i;
    } else if (b === COLON) {
      throw new LispReadError(
        `Cannot read symbol "${
          tokenText(bytes, start, end)
        }": package prefixes are not supported`,
        i,
      );
    } else {
      i++;
    }
  }
  flush(end);
  return new LispSymbol(name, keyword);
}
