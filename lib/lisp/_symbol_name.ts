// Printing symbol names the way SBCL does with the standard readtable
// (readtable-case :upcase, *print-base* 10): SBCL's SYMBOL-QUOTEP state
// machine decides whether a name must be written between bars.

const OTHER = 1;
const NUMBER = 2;
const UPPER = 4;
const LOWER = 8;
const SIGN = 16;
const EXTENSION = 32;
const DOT = 64;
const SLASH = 128;
const FUNNY = 256;

const ATTRIBUTES = new Uint16Array(160).fill(FUNNY);
for (const c of "!@$%&*=~[]{}?<>") ATTRIBUTES[c.charCodeAt(0)] = OTHER;
for (let c = 48; c <= 57; c++) ATTRIBUTES[c] = NUMBER;
for (let c = 65; c <= 90; c++) {
  ATTRIBUTES[c] = UPPER;
  ATTRIBUTES[c + 32] = LOWER;
}
ATTRIBUTES[43] = SIGN; // +
ATTRIBUTES[45] = SIGN; // -
ATTRIBUTES[94] = EXTENSION; // ^
ATTRIBUTES[95] = EXTENSION; // _
ATTRIBUTES[46] = DOT;
ATTRIBUTES[47] = SLASH;

function attributeOf(char: string): number {
  const code = char.codePointAt(0)!;
  if (code < 160) return ATTRIBUTES[code]!;
  const upper = char.toUpperCase();
  // A character the reader would upcase must be escaped, like a lowercase one.
  if (upper !== char && upper.length === char.length) return LOWER;
  if (char.toLowerCase() !== char) return UPPER;
  return OTHER;
}

const enum State {
  Start,
  Other,
  DotFound,
  StartStuff,
  StartMarker,
  StartDotStuff,
  StartDotMarker,
  DotDigit,
  DotMarker,
  Digit,
  Marker,
  TestSign,
  Quote,
  Plain,
}

/** Tells whether SBCL would print this symbol name between bars. */
export function needsBars(name: string): boolean {
  if (name.normalize("NFKC") !== name) return true;
  const chars = Array.from(name);
  const len = chars.length;
  let index = 0;
  let bits = 0;
  // Reads the next character; at the end goes to `atEnd`.
  const advance = (next: State, atEnd: State): State => {
    if (index === len) return atEnd;
    bits = attributeOf(chars[index]!);
    index += 1;
    return next;
  };
  const test = (mask: number): boolean => (bits & mask) !== 0;
  let state = advance(State.Start, State.TestSign);
  for (;;) {
    switch (state) {
      case State.TestSign:
        return !test(SIGN);
      case State.Quote:
        return true;
      case State.Plain:
        return false;
      case State.Other:
        for (let i = index - 1; i < len; i++) {
          if ((attributeOf(chars[i]!) & (LOWER | FUNNY)) !== 0) return true;
        }
        return false;
      case State.Start:
        if (test(NUMBER)) state = advance(State.Digit, State.TestSign);
        else if (test(UPPER | OTHER | SLASH)) {
          state = advance(State.Other, State.Plain);
        } else if (test(DOT)) state = advance(State.DotFound, State.TestSign);
        else if (test(SIGN | EXTENSION)) {
          state = advance(State.StartStuff, State.Plain);
        } else state = State.Quote;
        break;
      case State.DotFound:
        if (test(UPPER)) state = advance(State.StartDotMarker, State.Plain);
        else if (test(NUMBER)) state = advance(State.DotDigit, State.TestSign);
        else if (test(OTHER)) state = advance(State.Other, State.Plain);
        else if (test(EXTENSION | SLASH | SIGN)) {
          state = advance(State.StartDotStuff, State.Plain);
        } else if (test(DOT)) state = advance(State.DotFound, State.TestSign);
        else state = State.Quote;
        break;
      case State.StartStuff:
        if (test(NUMBER)) state = advance(State.Digit, State.TestSign);
        else if (test(OTHER)) state = advance(State.Other, State.Plain);
        else if (test(UPPER)) state = advance(State.StartMarker, State.Plain);
        else if (test(DOT)) state = advance(State.StartDotStuff, State.Plain);
        else if (test(SIGN | EXTENSION | SLASH)) {
          state = advance(State.StartStuff, State.Plain);
        } else state = State.Quote;
        break;
      case State.StartMarker:
        state = test(UPPER)
          ? advance(State.Other, State.Plain)
          : State.StartStuff;
        break;
      case State.StartDotStuff:
        if (test(UPPER)) state = advance(State.StartDotStuff, State.Plain);
        else if (test(NUMBER)) state = advance(State.DotDigit, State.TestSign);
        else if (test(SIGN | EXTENSION | DOT | SLASH)) {
          state = advance(State.StartDotStuff, State.Plain);
        } else if (test(OTHER)) state = advance(State.Other, State.Plain);
        else state = State.Quote;
        break;
      case State.StartDotMarker:
        state = test(UPPER)
          ? advance(State.Other, State.Plain)
          : State.StartDotStuff;
        break;
      case State.DotDigit:
        if (test(UPPER)) state = advance(State.DotMarker, State.TestSign);
        else if (test(NUMBER)) state = advance(State.DotDigit, State.TestSign);
        else if (test(OTHER)) state = advance(State.Other, State.Plain);
        else if (test(SIGN | EXTENSION | DOT | SLASH)) {
          state = advance(State.DotDigit, State.TestSign);
        } else state = State.Quote;
        break;
      case State.DotMarker:
        state = test(UPPER)
          ? advance(State.Other, State.Plain)
          : State.DotDigit;
        break;
      case State.Digit:
        if (test(NUMBER)) state = advance(State.Digit, State.TestSign);
        else if (test(OTHER)) state = advance(State.Other, State.Plain);
        else if (test(UPPER)) state = advance(State.Marker, State.TestSign);
        else if (test(EXTENSION | SLASH | SIGN)) {
          state = advance(State.Digit, State.TestSign);
        } else if (test(DOT)) state = advance(State.DotDigit, State.TestSign);
        else state = State.Quote;
        break;
      case State.Marker:
        state = test(UPPER) ? advance(State.Other, State.Plain) : State.Digit;
        break;
    }
  }
}

/** Writes a symbol name as SBCL's `~s` does, between bars when needed. */
export function formatSymbolName(name: string): string {
  if (!needsBars(name)) return name;
  return `|${name.replace(/[|\\]/g, "\\$&")}|`;
}
