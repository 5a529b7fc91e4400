// Byte searches and conversions shared by the buffers: none allocates
// more than its result.

/** Line feed. */
export const LF = 10;
/** Carriage return. */
export const CR = 13;
/** An empty array, for buffers that hold nothing yet. */
export const EMPTY: Uint8Array = new Uint8Array(0);

// A U+FEFF at the start of a line is part of the line.
const decoder = new TextDecoder("utf-8", { ignoreBOM: true });

/** Finds `byte` in `bytes[from, to)`; -1 when it is not there. */
export function indexOfByte(
  bytes: Uint8Array,
  byte: number,
  from: number,
  to: number,
): number {
  const i = bytes.subarray(from, to).indexOf(byte);
  return i < 0 ? -1 : from + i;
}

/** Decodes `bytes[start, stop)` as UTF-8; short ASCII without a call out. */
export function decodeText(
  bytes: Uint8Array,
  start: number,
  stop: number,
): string {
  if (stop - start <= 32) {
    let ascii = true;
    for (let i = start; i < stop; i++) {
      if (bytes[i]! >= 0x80) {
        ascii = false;
        break;
      }
    }
    if (ascii) {
      return String.fromCharCode.apply(
        null,
        bytes.subarray(start, stop) as unknown as number[],
      );
    }
  }
  return decoder.decode(bytes.subarray(start, stop));
}

/** Finds `needle` in `haystack[from, to)`; -1 when it is not there. */
export function indexOfBytes(
  haystack: Uint8Array,
  needle: Uint8Array,
  from: number,
  to: number,
): number {
  const first = needle[0]!;
  const last = to - needle.length;
  const window = haystack.subarray(0, to);
  for (let i = window.indexOf(first, from); i >= 0 && i <= last;) {
    let j = 1;
    while (j < needle.length && haystack[i + j] === needle[j]) j++;
    if (j === needle.length) return i;
    i = window.indexOf(first, i + 1);
  }
  return -1;
}

/** Joins `chunks` (`total` bytes in all) into one array. */
export function concat(chunks: Uint8Array[], total: number): Uint8Array {
  if (chunks.length === 1) return chunks[0]!;
  const all = new Uint8Array(total);
  let at = 0;
  for (const chunk of chunks) {
    all.set(chunk, at);
    at += chunk.length;
  }
  return all;
}
