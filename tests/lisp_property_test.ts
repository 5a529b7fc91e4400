import assert from "node:assert/strict";
import fc from "npm:fast-check@3";
import {
  add,
  DoubleFloat,
  formatLisp,
  LispArithmeticError,
  LispChar,
  type LispDatum,
  LispList,
  type LispNumber,
  LispReadError,
  type LispReal,
  LispSymbol,
  LispVector,
  makeComplex,
  makeRatio,
  parseLisp,
  readDatum,
  type ReadLimits,
  SingleFloat,
} from "../lib/lisp/mod.ts";
import { testsWithDeadline } from "./_helpers.ts";

/** Bounded tests: property runs over thousands of inputs, so 30 s each. */
const test = testsWithDeadline(30_000);

const encoder = new TextEncoder();
const view = new DataView(new ArrayBuffer(8));

function singleFromBits(bits: number): number {
  view.setUint32(0, bits);
  return view.getFloat32(0);
}

function doubleFromBits(high: number, low: number): number {
  view.setUint32(0, high);
  view.setUint32(4, low);
  return view.getFloat64(0);
}

/** Any finite binary32 value, from a random bit pattern. */
const singleFloat = fc.integer({ min: 0, max: 2 ** 32 - 1 })
  .map(singleFromBits)
  .filter(Number.isFinite)
  .map((value) => new SingleFloat(value));

/** Any finite binary64 value, from a random bit pattern. */
const doubleFloat = fc.tuple(
  fc.integer({ min: 0, max: 2 ** 32 - 1 }),
  fc.integer({ min: 0, max: 2 ** 32 - 1 }),
).map(([high, low]) => doubleFromBits(high, low))
  .filter(Number.isFinite)
  .map((value) => new DoubleFloat(value));

/** Floats of moderate size, where sums actually round. */
const moderateSingle = fc.float({ noNaN: true, noDefaultInfinity: true })
  .map((value) => new SingleFloat(value));
const moderateDouble = fc.double({
  noNaN: true,
  noDefaultInfinity: true,
  min: -1e300,
  max: 1e300,
}).map((value) => new DoubleFloat(value));

const integer = fc.oneof(
  fc.bigInt({ min: -1000n, max: 1000n }),
  fc.bigInt({ min: -(2n ** 70n), max: 2n ** 70n }),
  fc.bigInt({ min: -(2n ** 400n), max: 2n ** 400n }),
);

const rational: fc.Arbitrary<bigint | LispReal> = fc.tuple(
  integer,
  fc.bigInt({ min: 1n, max: 2n ** 130n }),
).map(([num, den]) => makeRatio(num, den));

const real: fc.Arbitrary<LispReal> = fc.oneof(
  integer,
  rational,
  singleFloat,
  doubleFloat,
  moderateSingle,
  moderateDouble,
);

/** Complexes of every part type; parts too large for the float format are skipped. */
const complex: fc.Arbitrary<LispNumber> = fc.oneof(
  fc.tuple(rational, rational),
  fc.tuple(singleFloat, singleFloat),
  fc.tuple(moderateDouble, doubleFloat),
  fc.tuple(moderateSingle, rational),
).map(([re, im]) => {
  try {
    return makeComplex(re, im);
  } catch (error) {
    if (error instanceof LispArithmeticError) return undefined;
    throw error;
  }
}).filter((x): x is LispNumber => x !== undefined);

const number: fc.Arbitrary<LispNumber> = fc.oneof(real, complex);

const symbolName = fc.oneof(
  fc.fullUnicodeString({ maxLength: 8 }),
  fc.stringOf(fc.constantFrom(..."aA1.+-|\\:#() \"';e/dE5"), { maxLength: 8 }),
  fc.constantFrom("QUOTE", "FUNCTION", "NIL", "FOO", "1+"),
);

const NIL = new LispSymbol("NIL");

const symbol = fc.tuple(symbolName, fc.boolean())
  .map(([name, keyword]) => new LispSymbol(name, keyword));

const { datum } = fc.letrec<{ datum: LispDatum }>((tie) => ({
  datum: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    number,
    symbol,
    fc.fullUnicodeString({ maxLength: 8 }),
    fc.fullUnicode().map((char) => new LispChar(char)),
    fc.array(tie("datum"), { maxLength: 4 }).map((items) =>
      items.length === 0 ? NIL : new LispList(items)
    ),
    fc.tuple(
      fc.array(tie("datum"), { minLength: 1, maxLength: 3 }),
      tie("datum"),
    )
      .map(([items, tail]) => new LispList(items, tail)),
    fc.array(tie("datum"), { maxLength: 4 }).map((items) =>
      new LispVector(items)
    ),
  ),
}));

test({
  name:
    "formatLisp() output reads back as the same value for every number type",
  permissions: "none",
  fn() {
    for (
      const arbitrary of [singleFloat, doubleFloat, integer, rational, complex]
    ) {
      fc.assert(
        fc.property(arbitrary, (x: LispNumber) => {
          assert.deepEqual(parseLisp(formatLisp(x)), x);
        }),
        { numRuns: 3000 },
      );
    }
  },
});

test({
  name: "formatLisp() output reads back as the same datum for every datum",
  permissions: "none",
  fn() {
    fc.assert(
      fc.property(datum, (x) => {
        assert.deepEqual(parseLisp(formatLisp(x)), x);
      }),
      { numRuns: 1000 },
    );
  },
});

function sumOrError(a: LispNumber, b: LispNumber): string {
  try {
    return formatLisp(add(a, b));
  } catch (error) {
    assert.ok(error instanceof LispArithmeticError);
    return "overflow";
  }
}

test({
  name: "add() is commutative for every pair of numbers",
  permissions: "none",
  fn() {
    fc.assert(
      fc.property(number, number, (a, b) => {
        assert.equal(sumOrError(a, b), sumOrError(b, a));
      }),
      { numRuns: 5000 },
    );
  },
});

test({
  name: "add() rounds single-float sums in binary32 and rationals exactly",
  permissions: "none",
  fn() {
    fc.assert(
      fc.property(moderateSingle, moderateSingle, (a, b) => {
        const exact = Math.fround(a.value + b.value);
        if (Number.isFinite(exact)) {
          assert.deepEqual(add(a, b), new SingleFloat(exact));
        }
      }),
    );
    fc.assert(
      fc.property(rational, rational, (a, b) => {
        const difference = add(add(a, b), negate(b));
        assert.deepEqual(difference, a);
      }),
    );
  },
});

function negate(x: bigint | LispReal): LispReal {
  if (typeof x === "bigint") return -x;
  if ("num" in x) return makeRatio(-x.num, x.den);
  throw new TypeError("not rational");
}

const lispyByte = fc.oneof(
  fc.integer({ min: 0, max: 255 }),
  fc.constantFrom(
    ...encoder.encode('()()""\\||##;\'.`,/:+-eEdD0123456789aZ \n\tCcxXrRb.\\λ'),
  ),
);

/** Reads data from the bytes until eof, more or an error. */
function readStream(
  bytes: Uint8Array,
  start: number,
  end: number,
  eof: boolean,
  limits?: ReadLimits,
): { data: LispDatum[]; next: number; last: string } {
  const data: LispDatum[] = [];
  for (;;) {
    const result = readDatum(bytes, start, end, eof, limits);
    if (result.kind !== "datum") {
      return { data, next: start, last: result.kind };
    }
    assert.ok(result.next > start && result.next <= end);
    data.push(result.datum);
    start = result.next;
  }
}

test({
  name:
    "readDatum() only throws LispReadError and stays within the limits on random bytes",
  permissions: "none",
  fn() {
    const limits = { maxTokenLength: 16, maxDepth: 4, maxDatumLength: 48 };
    fc.assert(
      fc.property(
        fc.oneof(
          fc.uint8Array({ maxLength: 120 }),
          fc.array(lispyByte, { maxLength: 120 }).map((a) => new Uint8Array(a)),
        ),
        fc.boolean(),
        (bytes, eof) => {
          let start = 0;
          for (;;) {
            let result;
            try {
              result = readDatum(bytes, start, bytes.length, eof, limits);
            } catch (error) {
              assert.ok(error instanceof LispReadError, String(error));
              return;
            }
            if (result.kind === "more") {
              assert.ok(!eof && bytes.length - start <= limits.maxDatumLength);
              return;
            }
            if (result.kind === "eof") return;
            assert.ok(result.next > start);
            assert.ok(result.next <= start + limits.maxDatumLength);
            start = result.next;
          }
        },
      ),
      { numRuns: 20000 },
    );
  },
});

test({
  name:
    "readDatum() gives the same data when the input is split at every byte offset",
  permissions: "none",
  fn() {
    fc.assert(
      fc.property(
        fc.array(datum, { minLength: 1, maxLength: 4 }),
        fc.constantFrom(" ", "\n", " ; note\n", " #| c |# "),
        (data, separator) => {
          const text = data.map(formatLisp).join(separator);
          const bytes = encoder.encode(text);
          const whole = readStream(bytes, 0, bytes.length, true);
          assert.deepEqual(whole.data, data);
          assert.equal(whole.last, "eof");
          for (let split = 0; split <= bytes.length; split++) {
            const head = readStream(bytes, 0, split, false);
            assert.equal(head.last, "more");
            const rest = readStream(bytes, head.next, bytes.length, true);
            assert.deepEqual([...head.data, ...rest.data], data);
          }
        },
      ),
      { numRuns: 300 },
    );
  },
});
