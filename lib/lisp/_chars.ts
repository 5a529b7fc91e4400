// Byte classes of the standard readtable and the character names SBCL uses.

/** Byte class: a constituent (or escape) byte that continues a token. */
export const CONSTITUENT = 0;
/** Byte class: whitespace (tab, newline, page, return, space). */
export const WHITESPACE = 1;
/** Byte class: a terminating macro character: ( ) " ' ; ` , */
export const TERMINATING = 2;

/** The class of each byte value. */
export const BYTE_CLASS: Uint8Array = new Uint8Array(256);
for (const b of [9, 10, 12, 13, 32]) BYTE_CLASS[b] = WHITESPACE;
for (const c of "()\"';`,") BYTE_CLASS[c.charCodeAt(0)] = TERMINATING;

/** Digit value of each byte in radix up to 36, or 99 for non-digits. */
export const DIGIT_VALUE: Uint8Array = new Uint8Array(256).fill(99);
for (let i = 0; i < 10; i++) DIGIT_VALUE[48 + i] = i;
for (let i = 0; i < 26; i++) {
  DIGIT_VALUE[65 + i] = 10 + i;
  DIGIT_VALUE[97 + i] = 10 + i;
}

/** SBCL's names of the control characters 0–31. */
export const CHAR_NAMES: readonly string[] = [
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

const NAMED = new Map<string, number>();
CHAR_NAMES.forEach((name, code) => NAMED.set(name.toUpperCase(), code));
for (
  const [name, code] of [
    ["SPACE", 32],
    ["RUBOUT", 127],
    ["DEL", 127],
    ["DELETE", 127],
    ["LINEFEED", 10],
    ["NULL", 0],
    ["ESCAPE", 27],
  ] as const
) {
  NAMED.set(name, code);
}

/** Returns the character a `#\name` names (case-insensitive), if any. */
export function charByName(name: string): string | undefined {
  const upper = name.toUpperCase();
  const code = NAMED.get(upper);
  if (code !== undefined) return String.fromCharCode(code);
  const hex = /^U\+?([0-9A-F]+)$/.exec(upper)?.[1];
  if (hex !== undefined) {
    const point = parseInt(hex, 16);
    if (point <= 0x10ffff && (point < 0xd800 || point > 0xdfff)) {
      return String.fromCodePoint(point);
    }
  }
  return undefined;
}
