import assert from "node:assert/strict";
import {
  Complex,
  DoubleFloat,
  formatLisp,
  LispChar,
  type LispDatum,
  LispLimitError,
  LispList,
  LispReadError,
  LispSymbol,
  LispVector,
  makeRatio,
  parseLisp,
  readDatum,
  type ReadLimits,
  type ReadResult,
  SingleFloat,
} from "../lib/lisp/mod.ts";
import { readLisp } from "../mod.ts";
import { socketPair, test } from "./_helpers.ts";

const encoder = new TextEncoder();

function bytesOf(text: string): Uint8Array {
  return encoder.encode(text);
}

/** Reads every datum of `text` with the given eof flag. */
function readAll(text: string, eof = true): ReadResult[] {
  const bytes = bytesOf(text);
  const results: ReadResult[] = [];
  let start = 0;
  for (;;) {
    const result = readDatum(bytes, start, bytes.length, eof);
    results.push(result);
    if (result.kind !== "datum") return results;
    start = result.next;
  }
}

function printed(text: string): string {
  return formatLisp(parseLisp(text));
}

function assertReadError(
  text: string,
  message: RegExp,
  offset?: number,
): void {
  assert.throws(() => parseLisp(text), (error: unknown) => {
    assert.ok(error instanceof LispReadError, `${text}: ${error}`);
    assert.ok(error instanceof SyntaxError);
    assert.match(error.message, message);
    if (offset !== undefined) assert.equal(error.offset, offset, text);
    return true;
  });
}

test({
  name: "readDatum() returns each number as soon as its terminator arrives",
  permissions: "none",
  fn() {
    assert.deepEqual(readAll("1 3 ", false), [
      { kind: "datum", datum: 1n, next: 1 },
      { kind: "datum", datum: 3n, next: 3 },
      { kind: "more" },
    ]);
  },
});

test({
  name:
    "readDatum() returns more when a token is not terminated and eof is false",
  permissions: "none",
  fn() {
    assert.deepEqual(readAll("1 3", false), [
      { kind: "datum", datum: 1n, next: 1 },
      { kind: "more" },
    ]);
    assert.deepEqual(readAll("1 3", true), [
      { kind: "datum", datum: 1n, next: 1 },
      { kind: "datum", datum: 3n, next: 3 },
      { kind: "eof" },
    ]);
    for (const text of ["1.5", "foo", "#\\a", "#x1F", "1/2", "|a b|", "-"]) {
      assert.deepEqual(readAll(text, false), [{ kind: "more" }], text);
    }
  },
});

test({
  name:
    "readDatum() returns more or eof when there is only whitespace or comments",
  permissions: "none",
  fn() {
    for (const text of ["", "  \n\t", "; comment", "#| a |# ", " ; x\n "]) {
      assert.deepEqual(readAll(text, false), [{ kind: "more" }], text);
      assert.deepEqual(readAll(text, true), [{ kind: "eof" }], text);
    }
    assert.deepEqual(readAll("#| open", false), [{ kind: "more" }]);
    assert.deepEqual(readAll("#", false), [{ kind: "more" }]);
    assert.deepEqual(readAll("#12", false), [{ kind: "more" }]);
    assert.deepEqual(readAll("(1 #| open", false), [{ kind: "more" }]);
  },
});

test({
  name:
    "readDatum() does not consume the terminator after a token but consumes closing delimiters",
  permissions: "none",
  fn() {
    const cases: [string, number][] = [
      ["12)", 2],
      ["foo(", 3],
      ['12"x"', 2],
      ["12'x", 2],
      ["12;c", 2],
      ["(1 2) 3", 5],
      ['"ab" c', 4],
      ["#(1) 2", 4],
      ["#C(1 2)x", 7],
      ["#\\a b", 3],
      ["#\\( b", 3],
    ];
    for (const [text, next] of cases) {
      const result = readDatum(bytesOf(text), 0, text.length, false);
      assert.equal(result.kind, "datum", text);
      assert.equal(result.kind === "datum" && result.next, next, text);
    }
  },
});

test({
  name:
    "readDatum() reads from the middle of a buffer and never looks past end",
  permissions: "none",
  fn() {
    const bytes = bytesOf("xx(1 2)yy");
    assert.deepEqual(readDatum(bytes, 2, 7, false), {
      kind: "datum",
      datum: new LispList([1n, 2n]),
      next: 7,
    });
    const digits = bytesOf("123456");
    assert.deepEqual(readDatum(digits, 0, 3, false), { kind: "more" });
    assert.deepEqual(readDatum(digits, 0, 3, true), {
      kind: "datum",
      datum: 123n,
      next: 3,
    });
    assert.throws(() => parseLisp("(1 2"), (error: unknown) => {
      assert.ok(error instanceof LispReadError);
      assert.equal(error.offset, 4);
      return true;
    });
  },
});

test({
  name: "readDatum() throws RangeError when the range is outside the buffer",
  permissions: "none",
  fn() {
    const bytes = bytesOf("1 ");
    assert.throws(() => readDatum(bytes, 0, 3, true), RangeError);
    assert.throws(() => readDatum(bytes, 2, 1, true), RangeError);
    assert.throws(() => readDatum(bytes, -1, 1, true), RangeError);
    assert.throws(
      () => readDatum(bytes, 0, 2, true, { maxDepth: 0 }),
      RangeError,
    );
  },
});

test({
  name:
    "parseLisp() reads integers with signs, trailing dots and radix prefixes",
  permissions: "none",
  fn() {
    const cases: [string, bigint][] = [
      ["+5", 5n],
      ["-0", 0n],
      ["1.", 1n],
      ["-12.", -12n],
      ["00012", 12n],
      ["123456789012345678901234567890", 123456789012345678901234567890n],
      ["-999999999999999999", -999999999999999999n],
      ["#x1F", 31n],
      ["#X-1f", -31n],
      ["#x+1F", 31n],
      ["#b101", 5n],
      ["#o17", 15n],
      ["#36rZZ", 1295n],
      ["#3r-21", -7n],
      ["#x10.", 10n],
      ["#x1e5", 485n],
      ["#x FF", 255n],
    ];
    for (const [text, value] of cases) {
      assert.equal(parseLisp(text), value, text);
    }
  },
});

test({
  name:
    "parseLisp() reads ratios in lowest terms with the sign on the numerator",
  permissions: "none",
  fn() {
    assert.deepEqual(parseLisp("2/4"), makeRatio(1n, 2n));
    assert.deepEqual(parseLisp("-4/2"), -2n);
    assert.deepEqual(parseLisp("+1/2"), makeRatio(1n, 2n));
    assert.deepEqual(parseLisp("0/5"), 0n);
    assert.deepEqual(parseLisp("#xFF/2"), makeRatio(255n, 2n));
    assert.deepEqual(parseLisp("#36rZZ/z"), 37n);
    assert.equal(printed("1/-2"), "|1/-2|");
    assertReadError("1/0", /denominator is zero/, 0);
    assertReadError("#x1/0", /denominator is zero/);
  },
});

test({
  name: "parseLisp() reads floats with every exponent marker",
  permissions: "none",
  fn() {
    const cases: [string, SingleFloat | DoubleFloat][] = [
      ["1.5", new SingleFloat(1.5)],
      [".5", new SingleFloat(0.5)],
      ["-.5e2", new SingleFloat(-50)],
      ["1e10", new SingleFloat(1e10)],
      ["1.5e+3", new SingleFloat(1500)],
      ["0.1e1", new SingleFloat(1)],
      ["1.e5", new SingleFloat(1e5)],
      ["1.5E0", new SingleFloat(1.5)],
      ["1.5f0", new SingleFloat(1.5)],
      ["1.5F0", new SingleFloat(1.5)],
      ["1.5s0", new SingleFloat(1.5)],
      ["1.5S0", new SingleFloat(1.5)],
      ["1.5d0", new DoubleFloat(1.5)],
      ["1.5D0", new DoubleFloat(1.5)],
      ["1.5l0", new DoubleFloat(1.5)],
      ["1.5L0", new DoubleFloat(1.5)],
      ["0.1", new SingleFloat(0.1)],
      ["0.1d0", new DoubleFloat(0.1)],
      ["-0.0", new SingleFloat(-0)],
      ["-0.0d0", new DoubleFloat(-0)],
      ["1.0e-50", new SingleFloat(0)],
      ["-1.0e-50", new SingleFloat(-0)],
      ["1.0d-400", new DoubleFloat(0)],
      ["3.4028235e38", new SingleFloat(3.4028234663852886e38)],
      ["1.7976931348623157d308", new DoubleFloat(1.7976931348623157e308)],
    ];
    for (const [text, value] of cases) {
      assert.deepEqual(parseLisp(text), value, text);
    }
  },
});

test({
  name: "parseLisp() rounds decimals exactly as SBCL's reader does",
  permissions: "none",
  fn() {
    // Binary32 rounding of the exact decimal, not of the double nearest to
    // it: the double nearest to this is the binary32 midpoint 1 + 2^-24.
    assert.equal(Math.fround(parseFloat("1.00000005960464477539063")), 1);
    assert.deepEqual(
      parseLisp("1.00000005960464477539063"),
      new SingleFloat(1 + 2 ** -23),
    );
    assert.deepEqual(
      parseLisp("1.00000005960464477539062"),
      new SingleFloat(1),
    );
    // SBCL's FLOAT-RATIO drops low bits of a large numerator before rounding.
    assert.deepEqual(parseLisp("123456789.5"), new SingleFloat(123456784));
    assert.deepEqual(parseLisp("16777217.000001"), new SingleFloat(16777216));
    assert.deepEqual(
      parseLisp("1.00000005960464477539062500001"),
      new SingleFloat(1),
    );
    // Subnormal results are truncated, as SBCL's SCALE-FLOAT does.
    assert.deepEqual(parseLisp("1.0e-45"), new SingleFloat(0));
    assert.deepEqual(parseLisp("2.0e-45"), new SingleFloat(2 ** -149));
  },
});

test({
  name: "parseLisp() throws when a float is too large for its format",
  permissions: "none",
  fn() {
    for (
      const text of [
        "1.0e39",
        "-1.0e39",
        "3.4028236e38",
        "1.0d309",
        "1.7976931348623159d308",
        "1e99999999999",
      ]
    ) {
      assertReadError(text, /too large/, 0);
    }
    assert.deepEqual(parseLisp("1e-99999999999"), new SingleFloat(0));
    assert.deepEqual(parseLisp("0e99999999999"), new SingleFloat(0));
  },
});

test({
  name: "parseLisp() reads complexes with contagion between the parts",
  permissions: "none",
  fn() {
    assert.deepEqual(parseLisp("#C(1 2)"), new Complex(1n, 2n));
    assert.equal(printed("#c(1/2 0.5)"), "#C(0.5 0.5)");
    assert.equal(parseLisp("#C(1 0)"), 1n);
    assert.equal(printed("#C(1.0 0)"), "#C(1.0 0.0)");
    assert.equal(printed("#C(0.0 0)"), "#C(0.0 0.0)");
    assert.equal(printed("#C(1/2 1.0d0)"), "#C(0.5d0 1.0d0)");
    assert.equal(printed("#C (1 2)"), "#C(1 2)");
    assert.equal(printed("#C(#x10 #b11)"), "#C(16 3)");
    for (const text of ["#C(1 2 3)", "#C(1)", "#C(1 a)", "#C 1", "#C(1 . 2)"]) {
      assertReadError(text, /complex/, 0);
    }
    assertReadError("#C(#C(1 2) 3)", /complex/);
    assertReadError(
      "#C(10000000000000000000000000000000000000000 1.0)",
      /too large/,
    );
  },
});

test({
  name: "parseLisp() reads tokens that are not numbers as symbols",
  permissions: "none",
  fn() {
    const cases: [string, string][] = [
      ["foo", "FOO"],
      ["Foo", "FOO"],
      ["Infinity", "INFINITY"],
      ["NaN", "NAN"],
      ["0x10", "0X10"],
      ["1_000", "1_000"],
      ["1e", "1E"],
      ["1.5.", "1.5."],
      ["1d", "1D"],
      ["+", "+"],
      ["-", "-"],
      ["+.", "+."],
      [".e5", ".E5"],
      ["1+", "1+"],
      ["a.b", "A.B"],
      ["|a b|", "a b"],
      ["a\\bc", "AbC"],
      ["\\1", "1"],
      ["a\\ b", "A B"],
      ["a\\(b", "A(B"],
      ["a\\λb", "AλB"],
      ["a\\ｂc", "AｂC"],
      ["a\\😀b", "A😀B"],
      ["|x\\😀y|", "x😀y"],
      ["abc|DEF|ghi", "ABCDEFGHI"],
      ["|a\\|b|", "a|b"],
      ["||", ""],
      ["λ", "Λ"],
    ];
    for (const [text, name] of cases) {
      assert.deepEqual(parseLisp(text), new LispSymbol(name), text);
    }
    assert.deepEqual(parseLisp(":foo"), new LispSymbol("FOO", true));
    assert.deepEqual(parseLisp("::foo"), new LispSymbol("FOO", true));
    assert.deepEqual(parseLisp(":|a|"), new LispSymbol("a", true));
    assertReadError(":", /keyword/);
    assertReadError("foo:bar", /package/);
    assertReadError(".", /only allowed inside a list/);
    assertReadError("...", /too many dots/);
    assertReadError(
      "(a ..)",
      /^Cannot read token: "\.\." has too many dots$/,
      3,
    );
    assertReadError("|abc", /escape/);
  },
});

test({
  name: "parseLisp() reads strings and characters",
  permissions: "none",
  fn() {
    assert.equal(parseLisp('"a\\"b\\\\c\\d"'), 'a"b\\cd');
    assert.equal(parseLisp('"λ x"'), "λ x");
    assert.equal(parseLisp('""'), "");
    const chars: [string, string][] = [
      ["#\\a", "a"],
      ["#\\A", "A"],
      ["#\\Space", " "],
      ["#\\space", " "],
      ["#\\ ", " "],
      ["#\\Newline", "\n"],
      ["#\\Linefeed", "\n"],
      ["#\\Tab", "\t"],
      ["#\\Nul", "\0"],
      ["#\\Rubout", "\x7f"],
      ["#\\(", "("],
      ["#\\\\", "\\"],
      ["#\\λ", "λ"],
      ["#\\U+41", "A"],
    ];
    for (const [text, char] of chars) {
      assert.deepEqual(parseLisp(text), new LispChar(char), text);
    }
    assertReadError("#\\nosuchname", /unknown character name/, 0);
    assertReadError('"abc', /end of input/, 4);
    assertReadError("#\\", /end of input/);
  },
});

/** SBCL's names of the characters 0 to 31, as it prints them. */
const CONTROL_NAMES = [
  "Nul",
  "Soh",
  "Stx",
  "Etx",
  "Eot",
  "Enq",
  "Ack",
  "Bel",
  "Backspace",
  "Tab",
  "Newline",
  "Vt",
  "Page",
  "Return",
  "So",
  "Si",
  "Dle",
  "Dc1",
  "Dc2",
  "Dc3",
  "Dc4",
  "Nak",
  "Syn",
  "Etb",
  "Can",
  "Em",
  "Sub",
  "Esc",
  "Fs",
  "Gs",
  "Rs",
  "Us",
];

test({
  name: "parseLisp() reads every character name SBCL reads",
  permissions: "none",
  fn() {
    const named: [string, number][] = [
      ...CONTROL_NAMES.map((name, code): [string, number] => [name, code]),
      ["SPACE", 32],
      ["rubout", 127],
      ["Del", 127],
      ["Delete", 127],
      ["Linefeed", 10],
      ["Null", 0],
      ["Escape", 27],
      ["u41", 65],
      ["U+D7FF", 0xd7ff],
      ["U+E000", 0xe000],
      ["U+10FFFF", 0x10ffff],
      ["U+1F600", 0x1f600],
      ["U+0", 0],
      ["U+0000041", 65],
      ["U+000000000000041", 65],
    ];
    for (const [name, code] of named) {
      assert.deepEqual(
        parseLisp(`#\\${name}`),
        new LispChar(String.fromCodePoint(code)),
        name,
      );
    }
    for (const name of ["U+110000", "U+", "Bogus"]) {
      assertReadError(`#\\${name}`, /unknown character name/, 0);
    }
  },
});

test({
  name: "parseLisp() reads lists, dotted lists, quotes and vectors",
  permissions: "none",
  fn() {
    assert.deepEqual(parseLisp("()"), new LispSymbol("NIL"));
    assert.deepEqual(parseLisp("( )"), parseLisp("nil"));
    assert.deepEqual(
      parseLisp("(1 (2) . 3)"),
      new LispList([1n, new LispList([2n])], 3n),
    );
    assert.deepEqual(parseLisp("(a . (b c))"), parseLisp("(a b c)"));
    assert.deepEqual(parseLisp("(1 . nil)"), new LispList([1n]));
    assert.deepEqual(
      parseLisp("'x"),
      new LispList([new LispSymbol("QUOTE"), new LispSymbol("X")]),
    );
    assert.deepEqual(
      parseLisp("#'car"),
      new LispList([new LispSymbol("FUNCTION"), new LispSymbol("CAR")]),
    );
    assert.deepEqual(
      parseLisp('#(1 #(2) "x")'),
      new LispVector([1n, new LispVector([2n]), "x"]),
    );
    assert.equal(printed("(1(2)3)"), "(1 (2) 3)");
    assert.equal(printed("(a;comment\nb #|c|# c)"), "(A B C)");
    assert.equal(printed("#| a #| nested |# b |# 5"), "5");
  },
});

test({
  name: "parseLisp() throws LispReadError for malformed structure",
  permissions: "none",
  fn() {
    assertReadError(")", /unmatched close parenthesis/, 0);
    assertReadError("  )", /unmatched close parenthesis/, 2);
    assertReadError("(1 . 2 3)", /more than one datum after the dot/);
    assertReadError("( . 2)", /nothing before the dot/);
    assertReadError("(1 .)", /nothing after the dot/);
    assertReadError("#(1 . 2)", /not allowed in a vector/, 4);
    assertReadError(
      "(1 . . 2)",
      /^Cannot read list: nothing after the dot$/,
      3,
    );
    assertReadError("(' . 1)", /^Cannot read quote: no datum follows "'"$/, 1);
    assertReadError("(#' . 1)", /^Cannot read "#'": no datum follows it$/, 1);
    assertReadError("(1 2", /list: unexpected end of input/, 4);
    assertReadError("#(1", /vector: unexpected end of input/);
    assertReadError("'", /end of input/);
    assertReadError("(')", /no datum follows/);
    assertReadError("#| never closed", /never closed/);
    assertReadError(
      "(1 #| x",
      /^Cannot read comment: "#\|" is never closed$/,
      7,
    );
    assertReadError("#12", /^Cannot read datum: unexpected end of input$/, 3);
    assertReadError("`(1)", /backquote/, 0);
    assertReadError(",a", /backquote/, 0);
    assertReadError("1 2", /more than one datum/);
    assertReadError("   ", /no datum/);
  },
});

test({
  name: "parseLisp() never evaluates #. and rejects other unsupported # syntax",
  permissions: "none",
  fn() {
    assertReadError("#.(+ 1 2)", /read-time evaluation is not allowed/, 0);
    assertReadError("(1 #.(+ 1 2))", /read-time evaluation is not allowed/, 3);
    assertReadError("#C(#.1 2)", /read-time evaluation/);
    for (
      const text of [
        "#:foo",
        "#+sbcl 1",
        "#*101",
        '#p"x"',
        "#<x>",
        "#2A((1))",
        "#3(1)",
      ]
    ) {
      assertReadError(text, /unsupported syntax/, 0);
    }
    assertReadError("#1r1", /radix/);
    assertReadError("#37r1", /radix/);
    assertReadError("#x1.5", /not a rational/);
    assertReadError("#b102", /not a rational/);
    assertReadError("#x(1)", /not a rational/);
    assertReadError("#x|1|", /not a rational/);
    assertReadError("#x", /end of input/);
    // The error is raised without waiting for the rest of the datum.
    assert.throws(
      () => readDatum(bytesOf("(1 #."), 0, 5, false),
      LispReadError,
    );
  },
});

test({
  name: "parseLisp() throws LispReadError for invalid UTF-8",
  permissions: "none",
  fn() {
    for (
      const bytes of [[0x22, 0xff, 0x22], [0x61, 0xc3], [
        0x23,
        0x5c,
        0xe2,
        0x82,
      ]]
    ) {
      const buffer = new Uint8Array(bytes);
      assert.throws(
        () => readDatum(buffer, 0, buffer.length, true),
        LispReadError,
      );
    }
  },
});

test({
  name:
    "readDatum() throws LispLimitError as soon as a token exceeds maxTokenLength",
  permissions: "none",
  fn() {
    const digits = new Uint8Array(10_000_000).fill(0x31);
    assert.throws(
      () => readDatum(digits, 0, digits.length, false),
      (error: unknown) => {
        assert.ok(error instanceof LispLimitError);
        assert.ok(error instanceof LispReadError);
        assert.equal(error.limit, "maxTokenLength");
        assert.equal(error.offset, 4096);
        assert.match(error.message, /maxTokenLength \(4096 bytes\)/);
        return true;
      },
    );
    const limits = { maxTokenLength: 4 };
    const text = bytesOf("abcd abcde");
    assert.equal(readDatum(text, 0, 10, false, limits).kind, "datum");
    assert.throws(() => readDatum(text, 5, 10, false, limits), LispLimitError);
    assert.deepEqual(readDatum(text, 5, 9, false, limits), { kind: "more" });
    assert.throws(
      () => readDatum(bytesOf('"abcde"'), 0, 7, true, limits),
      LispLimitError,
    );
    assert.equal(
      readDatum(bytesOf('"abcd"'), 0, 6, true, limits).kind,
      "datum",
    );
  },
});

test({
  name:
    "readDatum() names the limit a token crosses, counting the byte after a backslash",
  permissions: "none",
  fn() {
    const escaped = bytesOf("a\\b c");
    const long = bytesOf("abcdefgh ");
    const radix = bytesOf("#123456r1 ");
    const cases: [Uint8Array, ReadLimits, string, number][] = [
      [escaped, { maxTokenLength: 2 }, "maxTokenLength", 2],
      [escaped, { maxDatumLength: 2 }, "maxDatumLength", 2],
      [long, { maxDatumLength: 4 }, "maxDatumLength", 4],
      [long, { maxTokenLength: 4, maxDatumLength: 6 }, "maxTokenLength", 4],
      [radix, { maxTokenLength: 4 }, "maxTokenLength", 4],
      [radix, { maxDatumLength: 4 }, "maxDatumLength", 4],
    ];
    for (const [bytes, limits, limit, offset] of cases) {
      assert.throws(
        () => readDatum(bytes, 0, bytes.length, false, limits),
        (error: unknown) => {
          assert.ok(error instanceof LispLimitError);
          assert.equal(error.limit, limit);
          assert.equal(error.offset, offset);
          return true;
        },
      );
    }
    assert.equal(
      readDatum(escaped, 0, escaped.length, false, {
        maxTokenLength: 3,
      }).kind,
      "datum",
    );
  },
});

test({
  name: "readDatum() holds a short integer to the limits like any other token",
  permissions: "none",
  fn() {
    const cases: [string, ReadLimits, bigint | string][] = [
      ["1234 ", { maxTokenLength: 4 }, 1234n],
      ["12345 ", { maxTokenLength: 4 }, "maxTokenLength"],
      ["-123 ", { maxTokenLength: 4 }, -123n],
      ["-1234 ", { maxTokenLength: 4 }, "maxTokenLength"],
      ["  12 ", { maxDatumLength: 4 }, 12n],
      ["  12 ", { maxDatumLength: 3 }, "maxDatumLength"],
    ];
    for (const [text, limits, expected] of cases) {
      const bytes = bytesOf(text);
      const read = () => readDatum(bytes, 0, bytes.length, false, limits);
      if (typeof expected === "bigint") {
        assert.deepEqual(read(), {
          kind: "datum",
          datum: expected,
          next: text.trimEnd().length,
        }, text);
      } else {
        assert.throws(read, (error: unknown) => {
          assert.ok(error instanceof LispLimitError, text);
          assert.equal(error.limit, expected, text);
          return true;
        });
      }
    }
    assertReadError("1:", /package prefixes/, 1);
    assertReadError("12:3", /package prefixes/, 2);
  },
});

test({
  name: "parseLisp() names what the input ended inside",
  permissions: "none",
  fn() {
    const cases: [string, string][] = [
      ["(", "list"],
      ["#(", "vector"],
      ["'", "quoted datum"],
      ["#'", "function name"],
      ["#C", "complex number"],
      ["#x", '"#16r" number'],
    ];
    for (const [text, what] of cases) {
      assertReadError(
        text,
        new RegExp(`^Cannot read ${what}: unexpected end of input$`),
        text.length,
      );
    }
    assert.equal(parseLisp("#| #| |# x |# 1"), 1n);
    assertReadError("#| #| |# 1", /"#\|" is never closed/, 10);
  },
});

test({
  name:
    "parseLisp() shows a refused number's token in the message, its first 40 bytes when longer",
  permissions: "none",
  fn() {
    const forty = `${"1".repeat(38)}/0`;
    assertReadError(
      `(1 ${forty})`,
      new RegExp(`^Cannot read ratio "${forty}": denominator is zero$`),
      3,
    );
    assertReadError(
      `(1 1${forty})`,
      new RegExp(
        `^Cannot read ratio "1${forty.slice(0, -1)}…": denominator is zero$`,
      ),
      3,
    );
    assertReadError(
      `(1 ${"1".repeat(39)}e99999)`,
      new RegExp(
        `^Cannot read float "${
          "1".repeat(39)
        }e…": too large for a single-float$`,
      ),
      3,
    );
    assert.deepEqual(parseLisp("1/"), new LispSymbol("1/"));
  },
});

test({
  name: "readDatum() reads a number only up to end when more digits follow",
  permissions: "none",
  fn() {
    const ratio = bytesOf("1/23");
    assert.deepEqual(readDatum(ratio, 0, 3, true), {
      kind: "datum",
      datum: makeRatio(1n, 2n),
      next: 3,
    });
    const float = bytesOf("1.55");
    assert.deepEqual(readDatum(float, 0, 3, true), {
      kind: "datum",
      datum: new SingleFloat(1.5),
      next: 3,
    });
  },
});

test({
  name:
    "readDatum() refuses a lone UTF-8 continuation byte, giving the decoder's error as cause",
  permissions: "none",
  fn() {
    for (const byte of [0x80, 0xbf, 0xff]) {
      const bytes = new Uint8Array([0x22, byte, 0x22]);
      assert.throws(() => readDatum(bytes, 0, 3, true), (error: unknown) => {
        assert.ok(error instanceof LispReadError);
        assert.equal(error.message, "Cannot read text: invalid UTF-8");
        assert.equal(error.offset, 1);
        assert.ok(error.cause instanceof TypeError);
        return true;
      });
    }
  },
});

test({
  name: "readDatum() reads only up to end, even inside a run of dots",
  permissions: "none",
  fn() {
    assert.throws(
      () => readDatum(bytesOf(".."), 0, 1, true),
      /"\." is only allowed inside a list/,
    );
    assert.throws(
      () => readDatum(bytesOf("..."), 0, 2, true),
      /"\.\." has too many dots/,
    );
  },
});

test({
  name: "readDatum() throws LispLimitError when nesting exceeds maxDepth",
  permissions: "none",
  fn() {
    const deep = bytesOf("(".repeat(65));
    assert.throws(
      () => readDatum(deep, 0, deep.length, false),
      (error: unknown) => {
        assert.ok(error instanceof LispLimitError);
        assert.equal(error.limit, "maxDepth");
        return true;
      },
    );
    const ok = bytesOf(`${"(".repeat(64)}${")".repeat(64)}`);
    assert.equal(readDatum(ok, 0, ok.length, true).kind, "datum");
    const limits = { maxDepth: 2 };
    assert.equal(formatLisp(parseLisp("((1))", limits)), "((1))");
    assert.throws(() => parseLisp("(((1)))", limits), LispLimitError);
    assert.throws(() => parseLisp("('(1))", limits), LispLimitError);
    assert.throws(() => parseLisp("(#(1))", { maxDepth: 1 }), LispLimitError);
  },
});

test({
  name:
    "readDatum() throws LispLimitError once an incomplete datum exceeds maxDatumLength",
  permissions: "none",
  fn() {
    const limits = { maxDatumLength: 10 };
    const list = bytesOf("(1 2 3 4 5 6 7 8");
    assert.deepEqual(readDatum(list, 0, 10, false, limits), { kind: "more" });
    assert.throws(
      () => readDatum(list, 0, 11, false, limits),
      (error: unknown) => {
        assert.ok(error instanceof LispLimitError);
        assert.equal(error.limit, "maxDatumLength");
        assert.equal(error.offset, 10);
        return true;
      },
    );
    // A datum that fits is returned even when more bytes follow.
    const fits = bytesOf("(1 2 3 4) 5 6 7 8 9");
    assert.equal(readDatum(fits, 0, fits.length, false, limits).kind, "datum");
    // A token ending exactly at the limit is complete when a terminator follows.
    const token = bytesOf("1234567890 ");
    assert.deepEqual(readDatum(token, 0, token.length, false, limits), {
      kind: "datum",
      datum: 1234567890n,
      next: 10,
    });
    const spaces = new Uint8Array(100_000).fill(0x20);
    assert.throws(
      () => readDatum(spaces, 0, spaces.length, false),
      LispLimitError,
    );
    const string = bytesOf(`"${"a".repeat(20)}"`);
    assert.throws(
      () => readDatum(string, 0, string.length, false, limits),
      LispLimitError,
    );
  },
});

const DEEP = 100_000;
const DEEP_LIMITS = { maxDepth: DEEP, maxDatumLength: 1 << 20 };

/**
 * Follows `datum` down through `step` until it gives `undefined`, without
 * recursion; returns how many levels it went down and the innermost datum.
 */
function descend(
  datum: LispDatum,
  step: (d: LispDatum) => LispDatum | undefined,
): { levels: number; innermost: LispDatum } {
  let levels = 0;
  for (let next = step(datum); next !== undefined; next = step(datum)) {
    datum = next;
    levels++;
  }
  return { levels, innermost: datum };
}

/** The only element of a one-element list or vector. */
function onlyItem(datum: LispDatum): LispDatum | undefined {
  if (!(datum instanceof LispList || datum instanceof LispVector)) {
    return undefined;
  }
  assert.equal(datum.items.length, 1);
  return datum.items[0];
}

/** What `(QUOTE x)` or `(FUNCTION x)` quotes. */
function quoted(name: string): (datum: LispDatum) => LispDatum | undefined {
  return (datum) => {
    if (!(datum instanceof LispList)) return undefined;
    assert.equal(datum.items.length, 2);
    assert.deepEqual(datum.items[0], new LispSymbol(name));
    return datum.items[1];
  };
}

test({
  name:
    "readDatum() reads lists, vectors and quotes nested 100,000 deep with a raised maxDepth",
  permissions: "none",
  fn() {
    const cases: [
      string,
      (d: LispDatum) => LispDatum | undefined,
      LispDatum,
    ][] = [
      [`${"(".repeat(DEEP)}1${")".repeat(DEEP)}`, onlyItem, 1n],
      [`${"#(".repeat(DEEP)}1${")".repeat(DEEP)}`, onlyItem, 1n],
      [`${"(#(".repeat(DEEP / 2)}1${")".repeat(DEEP)}`, onlyItem, 1n],
      [`${"'".repeat(DEEP)}x`, quoted("QUOTE"), new LispSymbol("X")],
      [`${"#'".repeat(DEEP)}f`, quoted("FUNCTION"), new LispSymbol("F")],
    ];
    for (const [text, step, innermost] of cases) {
      const bytes = bytesOf(`${text} `);
      const result = readDatum(bytes, 0, bytes.length, false, DEEP_LIMITS);
      assert.equal(result.kind, "datum", text.slice(0, 10));
      if (result.kind !== "datum") continue;
      assert.equal(result.next, bytes.length - 1);
      assert.deepEqual(descend(result.datum, step), {
        levels: DEEP,
        innermost,
      });
    }
  },
});

test({
  name:
    "readDatum() throws LispLimitError, not RangeError, one level beyond a raised maxDepth",
  permissions: "none",
  fn() {
    for (const opener of ["(", "#(", "'", "#'"]) {
      const text = `${opener.repeat(DEEP + 1)}1${
        opener.endsWith("(") ? ")".repeat(DEEP + 1) : ""
      }`;
      const bytes = bytesOf(text);
      assert.throws(
        () => readDatum(bytes, 0, bytes.length, true, DEEP_LIMITS),
        (error: unknown) => {
          assert.ok(error instanceof LispLimitError, String(error));
          assert.equal(error.limit, "maxDepth");
          assert.equal(
            error.offset,
            opener === "#(" ? DEEP * 2 + 1 : DEEP * opener.length,
          );
          return true;
        },
        opener,
      );
    }
    const limits = { maxDepth: 10_000_000, maxDatumLength: 1 << 24 };
    const huge = bytesOf("(".repeat(1_000_000));
    assert.deepEqual(readDatum(huge, 0, huge.length, false, limits), {
      kind: "more",
    });
  },
});

test({
  name:
    "readDatum() reads a 100,000-deep datum split anywhere as more, then the datum",
  permissions: "none",
  fn() {
    const text = `${"(a ".repeat(DEEP)}${")".repeat(DEEP)}`;
    const bytes = bytesOf(`${text} `);
    for (
      const end of [1, 2, 3, DEEP, DEEP * 3, DEEP * 3 + 1, text.length - 1]
    ) {
      assert.deepEqual(
        readDatum(bytes, 0, end, false, DEEP_LIMITS),
        { kind: "more" },
        String(end),
      );
    }
    assert.throws(
      () => readDatum(bytes, 0, text.length - 1, true, DEEP_LIMITS),
      /Cannot read list: unexpected end of input/,
    );
    const result = readDatum(bytes, 0, bytes.length, false, DEEP_LIMITS);
    assert.equal(result.kind, "datum");
    if (result.kind !== "datum") return;
    const printed = formatLisp(result.datum);
    const expected = `${"(A ".repeat(DEEP - 1)}(A)${")".repeat(DEEP - 1)}`;
    assert.ok(printed === expected, "the datum prints as it was written");
  },
});

test({
  name: "readDatum() reads a 100,000-deep chain of dotted tails as one list",
  permissions: "none",
  fn() {
    const n = DEEP - 1;
    const heads = Array.from({ length: n }, (_, i) => `(${i} . `).join("");
    const closes = ")".repeat(n);
    const cases: [string, LispDatum[], LispDatum | undefined][] = [
      [`${heads}nil${closes}`, [], undefined],
      [`${heads}()${closes}`, [], undefined],
      [`${heads}end${closes}`, [], new LispSymbol("END")],
      [`${heads}(x . y)${closes}`, [new LispSymbol("X")], new LispSymbol("Y")],
      [
        `${heads}'q${closes}`,
        [new LispSymbol("QUOTE"), new LispSymbol("Q")],
        undefined,
      ],
    ];
    for (const [text, last, tail] of cases) {
      const list = parseLisp(text, DEEP_LIMITS);
      assert.ok(list instanceof LispList);
      assert.deepEqual(list.tail, tail);
      assert.equal(list.items.length, n + last.length);
      assert.ok(list.items.slice(0, n).every((item, i) => item === BigInt(i)));
      assert.deepEqual(list.items.slice(n), last);
    }
    assertReadError("(1 . (2 . 3) 4)", /more than one datum after the dot/, 3);
    assertReadError("(1 . (. 2))", /nothing before the dot/, 6);
    assertReadError("(1 . (2 . ))", /nothing after the dot/, 8);
  },
});

test({
  name:
    "readLisp() reads a 100,000-deep list from a socket with a raised maxDepth",
  permissions: { net: ["127.0.0.1"] },
  async fn() {
    await using pair = await socketPair();
    const limits = { maxDepth: DEEP, maxDatumLength: 1 << 20 };
    const deep = `${"(".repeat(DEEP)}1${")".repeat(DEEP)}`;
    const tooDeep = `${"(".repeat(DEEP + 1)}`;
    const reading = readLisp(pair.server, { limits, timeout: 10_000 });
    await pair.client.write(`${deep} 7 ${tooDeep}`);
    await pair.client.flush();
    const datum = await reading;
    assert.equal(descend(datum, onlyItem).levels, DEEP);
    assert.equal(formatLisp(datum), deep);
    assert.equal(await readLisp(pair.server, { limits, timeout: 10_000 }), 7n);
    await assert.rejects(
      readLisp(pair.server, { limits, timeout: 10_000 }),
      (error: unknown) => {
        assert.ok(error instanceof LispLimitError, String(error));
        assert.equal(error.limit, "maxDepth");
        return true;
      },
    );
  },
});
