import assert from "node:assert/strict";
import {
  add,
  Complex,
  DoubleFloat,
  formatLisp,
  isLispNumber,
  LispArithmeticError,
  LispChar,
  LispLimitError,
  type LispNumber,
  LispReadError,
  makeComplex,
  makeRatio,
  parseLisp,
  Ratio,
  readDatum,
  SingleFloat,
} from "../lib/lisp/mod.ts";
import { test } from "./_helpers.ts";

function number(text: string): LispNumber {
  const datum = parseLisp(text);
  assert.ok(isLispNumber(datum), text);
  return datum;
}

function sum(a: string, b: string): string {
  return formatLisp(add(number(a), number(b)));
}

function assertSums(cases: [string, string, string][]): void {
  for (const [a, b, expected] of cases) {
    assert.equal(sum(a, b), expected, `${a} + ${b}`);
    assert.equal(sum(b, a), expected, `${b} + ${a}`);
  }
}

function assertOverflow(a: string, b: string): void {
  assert.throws(() => add(number(a), number(b)), (error: unknown) => {
    assert.ok(error instanceof LispArithmeticError, `${a} + ${b}`);
    assert.ok(error instanceof RangeError);
    assert.match(error.message, /too large/);
    return true;
  });
}

test({
  name: "add() reproduces the sum protocol examples",
  permissions: "none",
  fn() {
    assertSums([
      ["1", "3", "4"],
      ["1.234", "3.23423", "4.4682302"],
      ["3", "#C(0.0 1.0)", "#C(3.0 1.0)"],
      ["123456.7", "0.1", "123456.805"],
      ["0.1", "0.2", "0.3"],
      ["0.1d0", "0.2d0", "0.30000000000000004d0"],
    ]);
  },
});

test({
  name: "add() adds rationals exactly",
  permissions: "none",
  fn() {
    assertSums([
      ["1/2", "1/2", "1"],
      ["1/3", "1/6", "1/2"],
      ["2/3", "-2/3", "0"],
      ["1/3", "1", "4/3"],
      ["4611686018427387903", "1", "4611686018427387904"],
      [
        "123456789012345678901234567890",
        "-123456789012345678901234567891",
        "-1",
      ],
    ]);
  },
});

test({
  name: "add() rounds a rational to the float format before adding",
  permissions: "none",
  fn() {
    assertSums([
      ["1/3", "0.5", "0.8333334"],
      ["16777217", "0.0", "1.6777216e7"],
      ["16777219", "0.0", "1.677722e7"],
      ["1/3", "0.0d0", "0.3333333333333333d0"],
      ["100000000000000000000", "1.0", "1.0e20"],
      ["1/10", "0.1", "0.2"],
      // SBCL's conversion of a bignum looks at a window of low bits only:
      // 2^100 + 2^76 + 1 is rounded as the tie 2^100 + 2^76.
      ["1267650600228229401496703205377", "0.0", "1.2676506e30"],
      ["246913579/2", "0.0", "1.2345678e8"],
    ]);
  },
});

test({
  name:
    "add() widens a single-float exactly when the other addend is a double-float",
  permissions: "none",
  fn() {
    assertSums([
      ["0.1", "0.1d0", "0.20000000149011612d0"],
      ["1.5", "1.5d0", "3.0d0"],
      ["1", "1.0d0", "2.0d0"],
    ]);
  },
});

test({
  name: "add() follows IEEE signed zeros",
  permissions: "none",
  fn() {
    assertSums([
      ["-0.0", "-0.0", "-0.0"],
      ["-0.0", "0.0", "0.0"],
      ["-0.0", "0", "0.0"],
      ["-0.0d0", "-0.0", "-0.0d0"],
      ["-0.0d0", "0", "0.0d0"],
      ["-0.0", "0.0d0", "0.0d0"],
    ]);
  },
});

test({
  name: "add() adds complexes part by part and collapses rational results",
  permissions: "none",
  fn() {
    assertSums([
      ["#C(1.0 -0.0)", "1", "#C(2.0 0.0)"],
      ["#C(1 2)", "#C(1 -2)", "2"],
      ["#C(1/2 1/3)", "#C(1/2 -1/3)", "1"],
      ["#C(1.0 2.0)", "#C(1.0 -2.0)", "#C(2.0 0.0)"],
      ["#C(1 2)", "#C(3 4)", "#C(4 6)"],
      ["#C(1 2)", "1.0d0", "#C(2.0d0 2.0d0)"],
      ["#C(1.0 2.0)", "1.0d0", "#C(2.0d0 2.0d0)"],
      ["1.5", "#C(1 2)", "#C(2.5 2.0)"],
      ["1/3", "#C(1 1)", "#C(4/3 1)"],
      ["#C(1 2.0d0)", "#C(1.0 2.0)", "#C(2.0d0 4.0d0)"],
      ["#C(0.0 -0.0)", "#C(-0.0 -0.0)", "#C(0.0 -0.0)"],
    ]);
  },
});

test({
  name: "add() throws LispArithmeticError when a result overflows",
  permissions: "none",
  fn() {
    assertOverflow("3.0e38", "3.0e38");
    assertOverflow("-3.0e38", "-3.0e38");
    assertOverflow("1.0d308", "1.0d308");
    assertOverflow("3.4028235e38", "2.0e31");
    assertOverflow("#C(3.0e38 1.0)", "#C(3.0e38 1.0)");
    assertOverflow("#C(1.0 3.0e38)", "#C(1.0 3.0e38)");
    assertSums([
      ["1.0e38", "1.0e38", "2.0e38"],
      ["3.4028235e38", "1.0e31", "3.4028235e38"],
      ["1.0d308", "-1.0d308", "0.0d0"],
    ]);
  },
});

test({
  name:
    "add() throws LispArithmeticError when a rational is too large for the float format",
  permissions: "none",
  fn() {
    assertOverflow("1000000000000000000000000000000000000000", "1.0");
    assertOverflow("340282356779733661637539395458142568448", "0.0");
    assertOverflow("10000000000000000000000000000000000000000/3", "1.0");
    assertOverflow(`1${"0".repeat(309)}`, "1.0d0");
    assertSums([
      ["1000000000000000000000000000000000000000", "1.0d0", "1.0d39"],
      ["340282356779733661637539395458142568447", "0.0", "3.4028235e38"],
    ]);
  },
});

test({
  name: "makeRatio() normalises and throws on a zero denominator",
  permissions: "none",
  fn() {
    assert.deepEqual(makeRatio(6n, -4n), new Ratio(-3n, 2n));
    assert.equal(makeRatio(-6n, -3n), 2n);
    assert.equal(makeRatio(0n, 7n), 0n);
    assert.throws(() => makeRatio(1n, 0n), LispArithmeticError);
    assert.throws(() => new Ratio(2n, 4n), RangeError);
    assert.throws(() => new Ratio(1n, 1n), RangeError);
    assert.throws(() => new Ratio(1n, -2n), RangeError);
  },
});

test({
  name: "makeComplex() applies contagion and collapses rational complexes",
  permissions: "none",
  fn() {
    assert.equal(makeComplex(5n, 0n), 5n);
    assert.deepEqual(makeComplex(1n, 2n), new Complex(1n, 2n));
    assert.deepEqual(
      makeComplex(1n, new DoubleFloat(0)),
      new Complex(new DoubleFloat(1), new DoubleFloat(0)),
    );
    assert.deepEqual(
      makeComplex(new SingleFloat(0.1), new DoubleFloat(1)),
      new Complex(new DoubleFloat(Math.fround(0.1)), new DoubleFloat(1)),
    );
    assert.throws(
      () => makeComplex(new Complex(1n, 1n) as never, 1n),
      TypeError,
    );
    assert.throws(() => new Complex(1n, new SingleFloat(1)), TypeError);
    assert.throws(() => new Complex(1n, 0n), RangeError);
  },
});

test({
  name: "SingleFloat and DoubleFloat reject values that are not finite",
  permissions: "none",
  fn() {
    assert.equal(new SingleFloat(0.1).value, Math.fround(0.1));
    assert.throws(() => new SingleFloat(3.5e38), RangeError);
    assert.throws(() => new SingleFloat(NaN), RangeError);
    assert.throws(() => new DoubleFloat(Infinity), RangeError);
    assert.throws(() => new LispChar("ab"), RangeError);
    assert.throws(() => new LispChar(""), RangeError);
  },
});

test({
  name: "isLispNumber() tells numbers from other data",
  permissions: "none",
  fn() {
    for (const text of ["1", "1/2", "1.5", "1.5d0", "#C(1 2)"]) {
      assert.equal(isLispNumber(parseLisp(text)), true, text);
    }
    for (const text of ["foo", '"1"', "#\\1", "(1)", "#(1)", ":x"]) {
      assert.equal(isLispNumber(parseLisp(text)), false, text);
    }
    assert.equal(isLispNumber(1), false);
    assert.equal(isLispNumber(null), false);
    assert.throws(() => add(parseLisp("foo") as never, 1n), TypeError);
    assert.throws(() => add(1n, 1 as never), TypeError);
  },
});

test({
  name:
    "add() names the number too large for a float format, or its length when long",
  permissions: "none",
  fn() {
    const cases: [string, string, string][] = [
      [`1${"0".repeat(39)}`, "1.0", `1${"0".repeat(39)} to single-float`],
      [
        `1${"0".repeat(40)}`,
        "1.0",
        "an integer of 41 characters to single-float",
      ],
      [
        `-1${"0".repeat(309)}`,
        "1.0d0",
        "an integer of 311 characters to double-float",
      ],
      [
        `1${"0".repeat(40)}/3`,
        "1.0",
        "a ratio of 43 characters to single-float",
      ],
    ];
    for (const [a, b, named] of cases) {
      assert.throws(() => add(number(a), number(b)), {
        name: "LispArithmeticError",
        message: `Cannot convert ${named}: value is too large`,
      });
    }
    assert.throws(() => add(number("3.0e38"), number("3.0e38")), {
      name: "LispArithmeticError",
      message: "Cannot add numbers: the result is too large for a single-float",
    });
    assert.throws(() => add(number("1.0d308"), number("1.0d308")), {
      name: "LispArithmeticError",
      message: "Cannot add numbers: the result is too large for a double-float",
    });
  },
});

test({
  name:
    "Number constructors and makeComplex() say what is wrong with their input",
  permissions: "none",
  fn() {
    assert.throws(() => new Ratio(2n, 4n), {
      name: "RangeError",
      message:
        "Cannot create ratio: 2/4 is not in lowest terms with a denominator above 1",
    });
    assert.throws(() => makeRatio(1n, 0n), {
      name: "LispArithmeticError",
      message: "Cannot divide: denominator is zero",
    });
    assert.throws(() => new SingleFloat(3.5e38), {
      message:
        "Cannot create single-float: 3.5e+38 is not a finite binary32 value",
    });
    assert.throws(() => new DoubleFloat(Infinity), {
      message: "Cannot create double-float: Infinity is not a finite number",
    });
    const sameType = {
      name: "TypeError",
      message:
        "Cannot create complex: parts must be real numbers of the same type",
    };
    assert.throws(() => new Complex(1n, new SingleFloat(1)), sameType);
    assert.throws(
      () => new Complex(new SingleFloat(1), new DoubleFloat(1)),
      sameType,
    );
    assert.throws(
      () => new Complex(new DoubleFloat(1), "1" as never),
      sameType,
    );
    assert.throws(() => new Complex("1" as never, "1" as never), sameType);
    assert.throws(() => new Complex(1n, 0n), {
      name: "RangeError",
      message:
        "Cannot create complex: a rational complex needs a non-zero imaginary part",
    });
    const notReal = {
      name: "TypeError",
      message: "Cannot make complex: parts must be real numbers",
    };
    assert.throws(() => makeComplex("1" as never, 1n), notReal);
    assert.throws(() => makeComplex(1n, null as never), notReal);
    assert.throws(() => add(1n, "1" as never), {
      name: "TypeError",
      message: "Cannot add values: both must be Lisp numbers",
    });
  },
});

test({
  name: "LispChar holds one code point, inside or beyond the BMP",
  permissions: "none",
  fn() {
    assert.equal(new LispChar("\u{1F600}").char, "\u{1F600}");
    assert.equal(new LispChar("\uffff").char, "\uffff");
    assert.throws(() => new LispChar("ab"), {
      name: "RangeError",
      message: 'Cannot create character: "ab" is not one code point',
    });
  },
});

test({
  name: "Lisp errors carry their class names",
  permissions: "none",
  fn() {
    assert.throws(() => parseLisp(")"), (error: unknown) => {
      assert.ok(error instanceof LispReadError);
      assert.equal(error.name, "LispReadError");
      return true;
    });
    const text = new TextEncoder().encode("abcdef ");
    assert.throws(
      () => readDatum(text, 0, text.length, false, { maxTokenLength: 2 }),
      (error: unknown) => {
        assert.ok(error instanceof LispLimitError);
        assert.equal(error.name, "LispLimitError");
        return true;
      },
    );
    assert.throws(() => makeRatio(1n, 0n), (error: unknown) => {
      assert.ok(error instanceof LispArithmeticError);
      assert.equal(error.name, "LispArithmeticError");
      return true;
    });
  },
});

test({
  name:
    "add() rounds an integer to a float as SBCL does around 2^53, 2^62 and 2^200",
  permissions: "none",
  fn() {
    const cases: [string, string, string][] = [
      ["-9007199791611905", "-9.0072e15", "-9.007199791611904d15"],
      ["9007199254740995", "9.007199e15", "9.007199254740996d15"],
      ["4611686018427388416", "4.611686e18", "4.611686018427388d18"],
    ];
    for (const [x, single, double] of cases) {
      assert.equal(sum(x, "0.0"), single, x);
      assert.equal(sum(x, "0.0d0"), double, x);
    }
    const big = "1606938044258990453947923680586147734959064902421513529982976";
    assertOverflow(big, "0.0");
    assert.equal(sum(big, "0.0d0"), "1.6069380442589906d60");
  },
});

test({
  name:
    "add() rounds an integer to a single-float before adding, and a ratio just below the largest float stays finite",
  permissions: "none",
  fn() {
    assertSums([
      ["16777217", "1.0", "1.6777216e7"],
      [`${3n * 2n ** 127n - 1n}/2`, "0.0", "2.5521178e38"],
      [`${3n * 2n ** 1023n - 1n}/2`, "0.0d0", "1.348269851146737d308"],
    ]);
  },
});
