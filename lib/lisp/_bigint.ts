// Small bigint functions shared by the number code.

/** Returns |x|. */
export function abs(x: bigint): bigint {
  return x < 0n ? -x : x;
}

/** Returns the number of bits of a non-negative bigint (0 for 0n), like `integer-length`. */
export function bitLength(x: bigint): number {
  if (x < 0x100000000n) return 32 - Math.clz32(Number(x));
  if (x < 0x20000000000000n) {
    return 64 - Math.clz32(Math.floor(Number(x) / 4294967296));
  }
  const hex = x.toString(16);
  return (hex.length - 1) * 4 + 32 - Math.clz32(parseInt(hex[0] ?? "0", 16));
}

/** Returns the number of trailing zero bits of a positive bigint. */
export function trailingZeros(x: bigint): number {
  if ((x & 0xffffffffn) !== 0n) {
    const low = Number(x & 0xffffffffn);
    return 31 - Math.clz32(low & -low);
  }
  return bitLength(x & -x) - 1;
}

/** Returns the greatest common divisor of two non-negative bigints. */
export function gcd(a: bigint, b: bigint): bigint {
  while (b !== 0n) {
    const t = a % b;
    a = b;
    b = t;
  }
  return a;
}

const POW10: bigint[] = [1n];

/** Returns 10^n as a bigint (n ≥ 0), memoised. */
export function pow10(n: number): bigint {
  if (n < 400) {
    while (POW10.length <= n) POW10.push(POW10[POW10.length - 1]! * 10n);
    return POW10[n]!;
  }
  return 10n ** BigInt(n);
}

/** Exact powers of ten representable as doubles (10^0 … 10^22). */
export const DOUBLE_POW10: readonly number[] = Array.from(
  { length: 23 },
  (_, i) => Number(`1e${i}`),
);
