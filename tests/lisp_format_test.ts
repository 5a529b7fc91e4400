import assert from "node:assert/strict";
import {
  Complex,
  DoubleFloat,
  formatLisp,
  LispChar,
  type LispDatum,
  LispList,
  LispSymbol,
  LispVector,
  makeRatio,
  parseLisp,
  SingleFloat,
} from "../lib/lisp/mod.ts";
import { test } from "./_helpers.ts";

function single(value: number): string {
  return formatLisp(new SingleFloat(value));
}

function double(value: number): string {
  return formatLisp(new DoubleFloat(value));
}

test({
  name: "formatLisp() prints integers and ratios in decimal",
  permissions: "none",
  fn() {
    assert.equal(formatLisp(4n), "4");
    assert.equal(formatLisp(-17n), "-17");
    assert.equal(formatLisp(0n), "0");
    assert.equal(formatLisp(2n ** 100n), "1267650600228229401496703205376");
    assert.equal(formatLisp(makeRatio(2n, 4n)), "1/2");
    assert.equal(formatLisp(makeRatio(3n, -6n)), "-1/2");
  },
});

test({
  name: "formatLisp() prints single-floats positionally when 1e-3 <= |x| < 1e7",
  permissions: "none",
  fn() {
    const cases: [number, string][] = [
      [1.5, "1.5"],
      [100, "100.0"],
      [1000000.5, "1000000.5"],
      [9999999, "9999999.0"],
      [0.001, "0.001"],
      [0.010002136, "0.010002136"],
      [123456.805, "123456.805"],
      [-2.5, "-2.5"],
      [4.4682302, "4.4682302"],
      [0.3, "0.3"],
    ];
    for (const [value, text] of cases) assert.equal(single(value), text);
  },
});

test({
  name: "formatLisp() prints single-floats in exponent form outside that range",
  permissions: "none",
  fn() {
    const cases: [number, string][] = [
      [1e7, "1.0e7"],
      [12345679, "1.2345679e7"],
      [9e-4, "9.0e-4"],
      [1.5e-7, "1.5e-7"],
      [3.4028234663852886e38, "3.4028235e38"],
      [-1e10, "-1.0e10"],
      [2 ** -126, "1.1754944e-38"],
    ];
    for (const [value, text] of cases) assert.equal(single(value), text);
  },
});

test({
  name: "formatLisp() prints double-floats with a d exponent marker",
  permissions: "none",
  fn() {
    const cases: [number, string][] = [
      [3, "3.0d0"],
      [0.001, "0.001d0"],
      [1e7, "1.0d7"],
      [1e-4, "1.0d-4"],
      [0.1 + 0.2, "0.30000000000000004d0"],
      [1.7976931348623157e308, "1.7976931348623157d308"],
      [2.2250738585072014e-308, "2.2250738585072014d-308"],
      [-1.5e-7, "-1.5d-7"],
    ];
    for (const [value, text] of cases) assert.equal(double(value), text);
  },
});

test({
  name: "formatLisp() prints signed zeros",
  permissions: "none",
  fn() {
    assert.equal(single(0), "0.0");
    assert.equal(single(-0), "-0.0");
    assert.equal(double(0), "0.0d0");
    assert.equal(double(-0), "-0.0d0");
  },
});

test({
  name: "formatLisp() prints the shortest digits of the value's own format",
  permissions: "none",
  fn() {
    // Binary32 digits, not those of the double with the same value.
    assert.equal(single(0.1), "0.1");
    assert.equal(double(Math.fround(0.1)), "0.10000000149011612d0");
    assert.equal(single(16777216), "1.6777216e7");
    // A tie in the last digit is rounded up, as SBCL does.
    assert.equal(double(280891694057911.625), "2.8089169405791163d14");
  },
});

test({
  name: "formatLisp() prints subnormals with SBCL's full-precision digits",
  permissions: "none",
  fn() {
    assert.equal(single(2 ** -149), "1.4012985e-45");
    assert.equal(single(2 ** -148), "2.802597e-45");
    assert.equal(double(5e-324), "4.9406564584124654d-324");
    assert.equal(double(1e-323), "9.881312916824931d-324");
  },
});

test({
  name: "formatLisp() prints complexes with each part printed by its own rules",
  permissions: "none",
  fn() {
    assert.equal(formatLisp(new Complex(1n, 2n)), "#C(1 2)");
    assert.equal(formatLisp(new Complex(makeRatio(1n, 2n), -1n)), "#C(1/2 -1)");
    assert.equal(
      formatLisp(new Complex(new SingleFloat(3), new SingleFloat(1))),
      "#C(3.0 1.0)",
    );
    assert.equal(
      formatLisp(new Complex(new DoubleFloat(1e7), new DoubleFloat(-0))),
      "#C(1.0d7 -0.0d0)",
    );
  },
});

test({
  name: "formatLisp() prints symbols upcased as read, with bars when needed",
  permissions: "none",
  fn() {
    const cases: [string, string][] = [
      ["FOO", "FOO"],
      ["foo", "|foo|"],
      ["a b", "|a b|"],
      ["1", "|1|"],
      ["1.5", "|1.5|"],
      ["1E", "|1E|"],
      ["1+", "1+"],
      ["+1", "|+1|"],
      ["+", "+"],
      [".", "|.|"],
      ["", "||"],
      ["A.B", "A.B"],
      ["1.5E+", "1.5E+"],
      ["a|b", "|a\\|b|"],
      ["a\\b", "|a\\\\b|"],
      ["A:B", "|A:B|"],
      ["*X*", "*X*"],
      ["Λ", "Λ"],
      ["λ", "|λ|"],
      ["Z", "Z"],
      ["..", "|..|"],
      ["..A.", "..A."],
      [".!", ".!"],
      [".+1!", ".+1!"],
      [".1AA", ".1AA"],
      ["./A!", "./A!"],
      ["./a", "|./a|"],
      [".a!", "|.a!|"],
      ["+/!", "+/!"],
      ["+1A!", "+1A!"],
      ["^AA1", "^AA1"],
      ["^:", "|^:|"],
      ["11!", "11!"],
      ["1a!", "|1a!|"],
      ["1.a!", "|1.a!|"],
      ["9ß", "9ß"],
      ["9Λ", "|9Λ|"],
      ["\u00a0", "|\u00a0|"],
    ];
    for (const [name, text] of cases) {
      assert.equal(formatLisp(new LispSymbol(name)), text, name);
    }
    assert.equal(formatLisp(new LispSymbol("ERROR", true)), ":ERROR");
    assert.equal(formatLisp(new LispSymbol("a b", true)), ":|a b|");
  },
});

test({
  name: "formatLisp() prints strings with quotes and backslashes escaped",
  permissions: "none",
  fn() {
    assert.equal(formatLisp('a"b\\c'), '"a\\"b\\\\c"');
    assert.equal(formatLisp(""), '""');
    assert.equal(formatLisp("λ\n"), '"λ\n"');
  },
});

test({
  name: "formatLisp() prints characters by name when they are not graphic",
  permissions: "none",
  fn() {
    const cases: [string, string][] = [
      ["a", "#\\a"],
      [" ", "#\\ "],
      ["\n", "#\\Newline"],
      ["\t", "#\\Tab"],
      ["\0", "#\\Nul"],
      ["\x7f", "#\\Rubout"],
      ["(", "#\\("],
      ["λ", "#\\λ"],
    ];
    for (const [char, text] of cases) {
      assert.equal(formatLisp(new LispChar(char)), text);
    }
    // SBCL's names of the characters 0 to 31.
    const names =
      "Nul Soh Stx Etx Eot Enq Ack Bel Backspace Tab Newline Vt Page Return So Si Dle Dc1 Dc2 Dc3 Dc4 Nak Syn Etb Can Em Sub Esc Fs Gs Rs Us"
        .split(" ");
    for (let code = 0; code < 32; code++) {
      assert.equal(
        formatLisp(new LispChar(String.fromCharCode(code))),
        `#\\${names[code]}`,
      );
    }
  },
});

test({
  name: "formatLisp() prints lists, dotted lists, quotes and vectors",
  permissions: "none",
  fn() {
    assert.equal(formatLisp(new LispList([])), "NIL");
    assert.equal(
      formatLisp(
        new LispList([new LispSymbol("ERROR", true), "FOO is not a number"]),
      ),
      '(:ERROR "FOO is not a number")',
    );
    assert.equal(formatLisp(new LispList([1n, 2n], 3n)), "(1 2 . 3)");
    assert.equal(
      formatLisp(new LispVector([1n, new LispVector([])])),
      "#(1 #())",
    );
    assert.equal(
      formatLisp(parseLisp("(a 'b #'c (quote))")),
      "(A 'B #'C (QUOTE))",
    );
    assert.equal(formatLisp(parseLisp("(nil)")), "(NIL)");
    assert.equal(formatLisp(parseLisp("(quote x . y)")), "(QUOTE X . Y)");
    assert.equal(formatLisp(parseLisp("(function x . 1)")), "(FUNCTION X . 1)");
    assert.equal(formatLisp(parseLisp("(:quote x)")), "(:QUOTE X)");
    assert.equal(formatLisp(parseLisp('("QUOTE" x)')), '("QUOTE" X)');
  },
});

test({
  name: "formatLisp() throws TypeError naming a value that is not Lisp data",
  permissions: "none",
  fn() {
    for (
      const [value, shown] of [[5, "5"], [null, "null"], [
        {},
        "[object Object]",
      ]]
    ) {
      assert.throws(() => formatLisp(value as unknown as LispDatum), {
        name: "TypeError",
        message: `Cannot print value: ${shown} is not Lisp data`,
      });
    }
  },
});

test({
  name: "formatLisp() prints data nested 100,000 deep",
  permissions: "none",
  fn() {
    const deep = 100_000;
    const quote = new LispSymbol("QUOTE");
    const fn = new LispSymbol("FUNCTION");
    const cases: [(d: LispDatum) => LispDatum, string, string][] = [
      [(d) => new LispList([d]), "(", ")"],
      [(d) => new LispVector([d]), "#(", ")"],
      [(d) => new LispList([quote, d]), "'", ""],
      [(d) => new LispList([fn, d]), "#'", ""],
      [(d) => new LispList([1n], new LispVector([d])), "(1 . #(", "))"],
      [(d) => new LispList([new LispList([d]), 2n], 3n), "((", ") 2 . 3)"],
    ];
    for (const [wrap, open, close] of cases) {
      let datum: LispDatum = 0n;
      for (let i = 0; i < deep; i++) datum = wrap(datum);
      const printed = formatLisp(datum);
      const expected = `${open.repeat(deep)}0${close.repeat(deep)}`;
      assert.ok(printed === expected, `${open}…0…${close} prints in full`);
    }
  },
});
