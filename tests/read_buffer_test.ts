// The read buffer and the counted-read steps over in-memory bytes: every
// read gives the same result however its input is cut into reads, checked
// against a model that sees the whole input at once.
import assert from "node:assert/strict";
import fc from "npm:fast-check@3";
import { givePiece, PIECE_SIZE, takePiece } from "../lib/_pieces.ts";
import { batchStep, parseStep } from "../lib/_parse_steps.ts";
import { NEED, type Parsed, ReadBuffer } from "../lib/_read_buffer.ts";
import {
  allStep,
  exactStep,
  fullStep,
  lineBytesStep,
  linesBytesStep,
  mayReadDirect,
  overBuffer,
  peekStep,
  someStep,
} from "../lib/_read_steps.ts";
import {
  ConnectionClosedError,
  ConnectionResetError,
  EndOfStreamError,
  LimitExceededError,
  TimeoutError,
} from "../lib/errors.ts";
import { test } from "./_helpers.ts";
import {
  assertBytes,
  cutAt,
  drive,
  everyCut,
  linesStep,
  lineStep,
  MemorySource,
  untilStep,
} from "./_memory.ts";

const PURE = { permissions: "none" } as const;
const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { ignoreBOM: true });
const bytesOf = (text: string) => encoder.encode(text);
const peer = () => "the peer";
const BIG = 1 << 20;

/** A read buffer over `chunks`, then the end (or `end`). */
function over(
  chunks: Iterable<Uint8Array>,
  max = BIG,
  end: "end" | Error = "end",
): { buffer: ReadBuffer; source: MemorySource } {
  const source = new MemorySource(chunks, end);
  return { buffer: new ReadBuffer(source, max, peer), source };
}

// ---- The model: the whole input at once ----------------------------------

/** One line of the model: its text and where the next one starts. */
interface ModelLine {
  text: string;
  next: number;
}

/**
 * The lines of `bytes` from `from`: split on LF, a CR before the LF
 * dropped, a last line without LF kept as it is; `failAt` is where the
 * first line longer than `maxLength` starts.
 */
function modelLines(
  bytes: Uint8Array,
  from: number,
  maxLength: number,
): { lines: ModelLine[]; failAt: number | undefined } {
  const lines: ModelLine[] = [];
  while (from < bytes.length) {
    const lf = bytes.indexOf(10, from);
    const end = lf < 0 ? bytes.length : lf;
    const stop = lf > from && bytes[lf - 1] === 13 ? lf - 1 : end;
    if (stop - from > maxLength) return { lines, failAt: from };
    lines.push({
      text: decoder.decode(bytes.subarray(from, stop)),
      next: lf < 0 ? bytes.length : lf + 1,
    });
    from = lf < 0 ? bytes.length : lf + 1;
  }
  return { lines, failAt: undefined };
}

/** Where `delim` first starts in `bytes` from `from`; -1 when it does not. */
function find(bytes: Uint8Array, delim: Uint8Array, from: number): number {
  outer: for (let i = from; i + delim.length <= bytes.length; i++) {
    for (let j = 0; j < delim.length; j++) {
      if (bytes[i + j] !== delim[j]) continue outer;
    }
    return i;
  }
  return -1;
}

// ---- Reads, as the socket composes them ----------------------------------

type Op =
  | { kind: "line"; max: number }
  | { kind: "lines"; max: number }
  | { kind: "exact"; n: number; deadline: boolean }
  | { kind: "full"; n: number; deadline: boolean }
  | { kind: "until"; delim: Uint8Array; max: number }
  | { kind: "some"; k: number }
  | { kind: "parse" }
  | { kind: "all"; max: number; deadline: boolean };

/** A record: one length byte (taken mod 8), then that many bytes. */
function lengthPrefixed(
  bytes: Uint8Array,
): Parsed<number[]> | undefined {
  if (bytes.length === 0) return undefined;
  const size = bytes[0]! % 8;
  if (bytes.length < 1 + size) return undefined;
  return { value: [...bytes.subarray(1, 1 + size)], length: 1 + size };
}

/** What a read gave: a value, or an error's class and what it holds. */
type Outcome =
  | { value: unknown }
  | { error: string; partial?: number[]; limit?: number };

async function perform(buffer: ReadBuffer, op: Op): Promise<Outcome> {
  try {
    switch (op.kind) {
      case "line":
        return { value: await drive(buffer, lineStep(buffer, op.max)) };
      case "lines":
        return { value: await drive(buffer, linesStep(buffer, op.max)) };
      case "exact": {
        const got = await drive(buffer, exactStep(buffer, op.n, op.deadline));
        return { value: [...got] };
      }
      case "full": {
        const into = new Uint8Array(op.n);
        const got = await drive(buffer, fullStep(buffer, into, op.deadline));
        assert.equal(got, into, "readFull gives back the caller's array");
        return { value: [...got] };
      }
      case "until": {
        const step = untilStep(buffer, op.delim, op.max);
        const got = await drive(buffer, step);
        return { value: got === null ? null : [...got] };
      }
      case "some": {
        const into = new Uint8Array(op.k);
        const n = await drive(buffer, someStep(buffer, into, false));
        return { value: n === null ? null : [...into.subarray(0, n)] };
      }
      case "parse":
        return {
          value: await drive(buffer, parseStep(buffer, lengthPrefixed)),
        };
      case "all": {
        const step = allStep(buffer, op.max, op.deadline);
        return { value: [...await drive(buffer, step)] };
      }
    }
  } catch (error) {
    if (error instanceof EndOfStreamError) {
      return { error: error.name, partial: [...error.partial] };
    }
    if (error instanceof LimitExceededError) {
      return { error: error.name, limit: error.limit };
    }
    throw error;
  }
}

/**
 * Checks `got`, what `op` gave at `cursor` of `bytes`, against the model;
 * the new cursor, or undefined when the read failed (the run ends there).
 * `some` and `lines` may take less than all there is: what they took must
 * be what the model has there.
 */
function check(
  bytes: Uint8Array,
  cursor: number,
  op: Op,
  got: Outcome,
  left: () => number[],
): number | undefined {
  const rest = bytes.subarray(cursor);
  const ended = (partial: number[]) => {
    assert.deepEqual(got, { error: "EndOfStreamError", partial });
    return undefined;
  };
  const limited = (limit: number, from: number) => {
    assert.deepEqual(got, { error: "LimitExceededError", limit });
    assert.deepEqual(left(), [...bytes.subarray(from)], "nothing is lost");
    return undefined;
  };
  switch (op.kind) {
    case "line": {
      const { lines, failAt } = modelLines(bytes, cursor, op.max);
      if (lines.length === 0 && failAt !== undefined) {
        return limited(op.max, failAt);
      }
      const first = lines[0];
      assert.deepEqual(got, { value: first === undefined ? null : first.text });
      return first === undefined ? cursor : first.next;
    }
    case "lines": {
      const { lines, failAt } = modelLines(bytes, cursor, op.max);
      if (lines.length === 0 && failAt !== undefined) {
        return limited(op.max, failAt);
      }
      if (lines.length === 0) {
        assert.deepEqual(got, { value: null });
        return cursor;
      }
      assert.ok("value" in got && Array.isArray(got.value), "a batch");
      const batch = got.value as string[];
      assert.ok(batch.length >= 1, "a batch holds a line");
      assert.deepEqual(batch, lines.slice(0, batch.length).map((l) => l.text));
      return lines[batch.length - 1]!.next;
    }
    case "exact":
    case "full":
      if (rest.length < op.n) return ended([...rest]);
      assert.deepEqual(got, { value: [...rest.subarray(0, op.n)] });
      return cursor + op.n;
    case "until": {
      const at = find(bytes, op.delim, cursor);
      if (at >= 0) {
        if (at - cursor > op.max) return limited(op.max, cursor);
        assert.deepEqual(got, { value: [...bytes.subarray(cursor, at)] });
        return at + op.delim.length;
      }
      if (rest.length === 0) {
        assert.deepEqual(got, { value: null });
        return cursor;
      }
      if (rest.length - op.delim.length + 1 > op.max) {
        return limited(op.max, cursor);
      }
      return ended([...rest]);
    }
    case "some": {
      if (rest.length === 0) {
        assert.deepEqual(got, { value: null });
        return cursor;
      }
      assert.ok("value" in got && Array.isArray(got.value), "some bytes");
      const taken = got.value as number[];
      assert.ok(taken.length >= 1 && taken.length <= op.k, "1 to k bytes");
      assert.deepEqual(taken, [...rest.subarray(0, taken.length)]);
      return cursor + taken.length;
    }
    case "parse": {
      const size = rest.length > 0 ? rest[0]! % 8 : 0;
      // A clean end between messages is null, as readLine()'s is.
      if (rest.length === 0) {
        assert.deepEqual(got, { value: null });
        return cursor;
      }
      if (rest.length < 1 + size) return ended([...rest]);
      assert.deepEqual(got, { value: [...rest.subarray(1, 1 + size)] });
      return cursor + 1 + size;
    }
    case "all":
      if (rest.length > op.max) {
        // With a deadline the bytes wait in the buffer, so none is lost;
        // without one they were taken as they came.
        if (op.deadline) return limited(op.max, cursor);
        assert.deepEqual(got, { error: "LimitExceededError", limit: op.max });
        return undefined;
      }
      assert.deepEqual(got, { value: [...rest] });
      return bytes.length;
  }
}

/** Runs `ops` over `chunks` of `bytes`, checking each read against the model. */
async function runOps(
  bytes: Uint8Array,
  chunks: Uint8Array[],
  ops: Op[],
  max = BIG,
): Promise<void> {
  const { buffer } = over(chunks, max);
  const left = () => {
    // What is buffered and what the source still has, as a read sees it.
    const take = allStep(buffer, Infinity, false);
    return drive(buffer, take).then((rest) => [...rest]);
  };
  let cursor = 0;
  for (const op of ops) {
    const got = await perform(buffer, op);
    let leftover: number[] | undefined;
    if ("error" in got && got.error === "LimitExceededError") {
      leftover = await left();
    }
    const next = check(bytes, cursor, op, got, () => leftover!);
    if (next === undefined) return;
    cursor = next;
  }
}

const lineOps = (max = Infinity): Op[] =>
  Array.from({ length: 12 }, () => ({ kind: "line", max }));

// ---- Every cut of short inputs -------------------------------------------

const SHORT_INPUTS = [
  "a\r\nb\n",
  "\r\n\r\n\n",
  "x\ry\r\n\r",
  "é€\n😀",
  "\uFEFFa\n\uFEFF\r\n",
  "ab\r\r\ncd",
];

test("readLine gives the same lines however a short input is cut", async () => {
  for (const text of SHORT_INPUTS) {
    const bytes = bytesOf(text);
    for (const chunks of everyCut(bytes)) {
      await runOps(bytes, chunks, lineOps());
    }
  }
}, PURE);

test(
  "readLines gives the same lines however a short input is cut",
  async () => {
    for (const text of SHORT_INPUTS) {
      const bytes = bytesOf(text);
      for (const chunks of everyCut(bytes)) {
        const ops: Op[] = Array.from({ length: 8 }, () => ({
          kind: "lines",
          max: Infinity,
        }));
        await runOps(bytes, chunks, ops);
      }
    }
  },
  PURE,
);

test(
  "readLine with maxLength fails on the same line however the input is cut",
  async () => {
    const bytes = bytesOf("abc\r\nabcd\nz");
    for (const max of [2, 3, 4]) {
      for (const chunks of everyCut(bytes)) {
        await runOps(bytes, chunks, lineOps(max));
        await runOps(bytes, chunks, [
          { kind: "lines", max },
          { kind: "lines", max },
          { kind: "lines", max },
        ]);
      }
    }
  },
  PURE,
);

test("readUntil finds a multi-byte delimiter cut anywhere", async () => {
  const cases: [string, string][] = [
    ["ab\r\n\r\ncd\r\n\r\n", "\r\n\r\n"],
    ["aaab--aab--", "aab"],
    ["x€y€€", "€"],
    ["--=--==", "=="],
  ];
  for (const [text, delim] of cases) {
    const bytes = bytesOf(text);
    const ops: Op[] = Array.from({ length: 4 }, () => ({
      kind: "until",
      delim: bytesOf(delim),
      max: Infinity,
    }));
    for (const chunks of everyCut(bytes)) await runOps(bytes, chunks, ops);
  }
}, PURE);

test(
  "counted reads give the same bytes however a short input is cut",
  async () => {
    const bytes = bytesOf("0123456789abcd");
    const ops: Op[] = [
      { kind: "exact", n: 3, deadline: false },
      { kind: "full", n: 2, deadline: true },
      { kind: "some", k: 2 },
      { kind: "exact", n: 2, deadline: true },
      { kind: "full", n: 3, deadline: false },
      { kind: "all", max: Infinity, deadline: false },
    ];
    for (const chunks of everyCut(bytes)) await runOps(bytes, chunks, ops);
  },
  PURE,
);

// ---- Random inputs, random cuts ------------------------------------------

const token = fc.constantFrom(
  ...["a", "b", " ", "\n", "\n", "\r", "\r\n", "é", "€", "😀", "\uFEFF"].map(
    bytesOf,
  ),
  new Uint8Array([0xff]),
  new Uint8Array([0xe2, 0x82]), // a sequence cut short
);

const input = fc.array(token, { maxLength: 60, size: "medium" }).map(
  (parts) => {
    const bytes = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    let at = 0;
    for (const part of parts) {
      bytes.set(part, at);
      at += part.length;
    }
    return bytes;
  },
);

const cuts = fc.array(fc.nat({ max: 160 }), { maxLength: 30 });
const limit = fc.oneof(
  { arbitrary: fc.constant(Infinity), weight: 2 },
  { arbitrary: fc.integer({ min: 0, max: 12 }), weight: 1 },
);

const op: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ kind: fc.constant("line" as const), max: limit }),
  fc.record({ kind: fc.constant("lines" as const), max: limit }),
  fc.record({
    kind: fc.constant("exact" as const),
    n: fc.nat({ max: 9 }),
    deadline: fc.boolean(),
  }),
  fc.record({
    kind: fc.constant("full" as const),
    n: fc.nat({ max: 9 }),
    deadline: fc.boolean(),
  }),
  fc.record({
    kind: fc.constant("until" as const),
    delim: fc.constantFrom("\n", "\r\n", "€", "aa", "\r\n\r\n").map(bytesOf),
    max: limit,
  }),
  fc.record({
    kind: fc.constant("some" as const),
    k: fc.integer({ min: 1, max: 9 }),
  }),
  fc.record({ kind: fc.constant("parse" as const) }),
  fc.record({
    kind: fc.constant("all" as const),
    max: limit,
    deadline: fc.boolean(),
  }),
);

test(
  "property: lines read one at a time match the model for any input and cuts",
  async () => {
    await fc.assert(
      fc.asyncProperty(input, cuts, limit, async (bytes, at, max) => {
        await runOps(
          bytes,
          cutAt(bytes, at),
          lineOps(max).concat(lineOps(max)),
        );
      }),
      { numRuns: 300 },
    );
  },
  PURE,
);

test(
  "property: batches of lines match the model for any input and cuts",
  async () => {
    await fc.assert(
      fc.asyncProperty(input, cuts, limit, async (bytes, at, max) => {
        const ops: Op[] = Array.from({ length: 24 }, () => ({
          kind: "lines",
          max,
        }));
        await runOps(bytes, cutAt(bytes, at), ops);
      }),
      { numRuns: 300 },
    );
  },
  PURE,
);

test(
  "property: any mix of reads matches the model for any input and cuts",
  async () => {
    await fc.assert(
      fc.asyncProperty(
        input,
        cuts,
        fc.array(op, { minLength: 1, maxLength: 12 }),
        async (bytes, at, ops) => {
          await runOps(bytes, cutAt(bytes, at), ops);
        },
      ),
      { numRuns: 1000 },
    );
  },
  PURE,
);

test(
  "property: a line that does not fit in maxBufferSize fails, losing nothing",
  async () => {
    const line = fc.record({
      length: fc.nat({ max: 5000 }),
      end: fc.constantFrom("\n", "\r\n", ""),
    });
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1024, max: 4096 }),
        fc.array(line, { maxLength: 5 }),
        fc.array(fc.integer({ min: 1, max: 3000 }), { minLength: 1 }),
        async (max, lines, sizes) => {
          const text = lines.map((l) => "x".repeat(l.length) + l.end).join("");
          const bytes = bytesOf(text);
          const chunks: Uint8Array[] = [];
          for (let at = 0, i = 0; at < bytes.length; i++) {
            const size = sizes[i % sizes.length]!;
            chunks.push(bytes.subarray(at, at + size));
            at += size;
          }
          const { buffer } = over(chunks, max);
          let from = 0;
          for (
            const { text: line, next } of modelLines(bytes, 0, Infinity).lines
          ) {
            // A line fits when it and its line end do; a last line without
            // one needs a byte more, to read the end of the stream.
            const needs = next - from + (bytes[next - 1] === 10 ? 0 : 1);
            if (needs > max) {
              await assert.rejects(
                drive(buffer, lineStep(buffer, Infinity)),
                (error: unknown) =>
                  error instanceof LimitExceededError && error.limit === max,
              );
              assert.ok(buffer.buf.length <= max, "the buffer stays in bounds");
              const held = [...buffer.take(buffer.size)];
              const rest = await drive(
                buffer,
                allStep(buffer, Infinity, false),
              );
              assertBytes(held.concat([...rest]), bytes.subarray(from));
              return;
            }
            const got = await drive(buffer, lineStep(buffer, Infinity));
            assert.ok(
              got === line,
              `line ${JSON.stringify(got)?.slice(0, 40)}`,
            );
            assert.ok(buffer.buf.length <= max, "the buffer stays in bounds");
            from = next;
          }
          assert.equal(await drive(buffer, lineStep(buffer, Infinity)), null);
        },
      ),
      { numRuns: 60 },
    );
  },
  PURE,
);

test(
  "property: a long stream of reads through a small buffer matches the model",
  async () => {
    // Thousands of bytes through a buffer that starts at 1 KiB: it
    // compacts and grows on the way, and no read may see the difference.
    const line = fc.record({
      length: fc.nat({ max: 400 }),
      end: fc.constantFrom("\n", "\r\n", "\r\n", "\n"),
    });
    const streamOp: fc.Arbitrary<Op> = fc.oneof(
      fc.constant({ kind: "line", max: Infinity } as const),
      fc.constant({ kind: "lines", max: Infinity } as const),
      fc.record({
        kind: fc.constant("exact" as const),
        n: fc.nat({ max: 700 }),
        deadline: fc.boolean(),
      }),
      fc.record({
        kind: fc.constant("until" as const),
        // Records no longer than a line, which fits in the buffer.
        delim: fc.constant(bytesOf("\n")),
        max: fc.constant(Infinity),
      }),
    );
    await fc.assert(
      fc.asyncProperty(
        fc.array(line, { minLength: 10, maxLength: 60 }),
        fc.array(fc.integer({ min: 1, max: 1500 }), { minLength: 1 }),
        fc.array(streamOp, { minLength: 10, maxLength: 80 }),
        fc.constantFrom(1024, 1500, 4096, BIG),
        async (lines, sizes, ops, max) => {
          let i = 0;
          const text = lines.map((l) =>
            String(i++ % 10).repeat(l.length) + l.end
          ).join("");
          const bytes = bytesOf(text);
          const chunks: Uint8Array[] = [];
          for (let at = 0, j = 0; at < bytes.length; j++) {
            const size = sizes[j % sizes.length]!;
            chunks.push(bytes.subarray(at, at + size));
            at += size;
          }
          await runOps(bytes, chunks, ops, max);
        },
      ),
      { numRuns: 150 },
    );
  },
  PURE,
);

// ---- Named cases ---------------------------------------------------------

test(
  "a CRLF split between two reads ends the line, and a CR alone does not",
  async () => {
    const { buffer, source } = over([
      bytesOf("one\r"),
      bytesOf("\ntwo\rthree\r"),
      bytesOf("\n"),
    ]);
    assert.equal(await drive(buffer, lineStep(buffer, 100)), "one");
    assert.equal(await drive(buffer, lineStep(buffer, 100)), "two\rthree");
    assert.equal(await drive(buffer, lineStep(buffer, 100)), null);
    assert.equal(source.overlapped, false);
  },
  PURE,
);

test("a U+FEFF at the start of a line is part of the line", async () => {
  const { buffer } = over([
    bytesOf("\uFEFFfirst\n\uFEFF"),
    bytesOf("second\n\uFEFF"),
  ]);
  assert.equal(await drive(buffer, lineStep(buffer, 100)), "\uFEFFfirst");
  assert.deepEqual(await drive(buffer, linesStep(buffer, 100)), [
    "\uFEFFsecond",
  ]);
  assert.equal(await drive(buffer, lineStep(buffer, 100)), "\uFEFF");
}, PURE);

test("text cut inside a UTF-8 sequence is decoded whole", async () => {
  const bytes = bytesOf("€😀é\n");
  // Cut after every byte: each sequence arrives in pieces.
  const { buffer, source } = over(cutAt(bytes, bytes.keys()));
  assert.equal(await drive(buffer, lineStep(buffer, 100)), "€😀é");
  assert.equal(source.reads, bytes.length, "one read per byte");
}, PURE);

test(
  "a line longer than maxLength fails with LimitExceededError and stays buffered",
  async () => {
    const { buffer } = over([bytesOf("short\nmuch too long\n")]);
    assert.equal(await drive(buffer, lineStep(buffer, 5)), "short");
    await assert.rejects(
      drive(buffer, lineStep(buffer, 5)),
      (error: unknown) => {
        assert.ok(error instanceof LimitExceededError);
        assert.equal(error.limit, 5);
        assert.match(
          error.message,
          /line from the peer: it is longer than 5 bytes/,
        );
        return true;
      },
    );
    assert.equal(await drive(buffer, lineStep(buffer, 100)), "much too long");
  },
  PURE,
);

test("a line of exactly maxLength bytes before a CRLF is read", async () => {
  for (const chunks of everyCut(bytesOf("abc\r\nabcd\r\n"))) {
    const { buffer } = over(chunks);
    assert.equal(await drive(buffer, lineStep(buffer, 3)), "abc");
    await assert.rejects(
      drive(buffer, lineStep(buffer, 3)),
      LimitExceededError,
    );
  }
}, PURE);

test(
  "the last line without a line end is read at the end, then null",
  async () => {
    const { buffer } = over([bytesOf("a\nlast")]);
    assert.equal(await drive(buffer, lineStep(buffer, 100)), "a");
    assert.equal(await drive(buffer, lineStep(buffer, 100)), "last");
    assert.equal(await drive(buffer, lineStep(buffer, 100)), null);
    assert.equal(await drive(buffer, lineStep(buffer, 100)), null);
    const { buffer: long } = over([bytesOf("toolong")]);
    await assert.rejects(drive(long, lineStep(long, 3)), LimitExceededError);
    assert.equal(long.size, 7, "a last line too long stays buffered");
  },
  PURE,
);

test(
  "readUntil at the end: null with nothing left, EndOfStreamError with a partial record",
  async () => {
    const { buffer } = over([bytesOf("rec;tail")]);
    const delim = bytesOf(";");
    assert.deepEqual(
      await drive(buffer, untilStep(buffer, delim, 100)),
      bytesOf("rec"),
    );
    await assert.rejects(
      drive(buffer, untilStep(buffer, delim, 100)),
      (error: unknown) => {
        assert.ok(error instanceof EndOfStreamError);
        assert.deepEqual(error.partial, bytesOf("tail"));
        return true;
      },
    );
    assert.equal(await drive(buffer, untilStep(buffer, delim, 100)), null);
  },
  PURE,
);

test(
  "readUntil with maxLength fails before the record is whole, keeping its bytes",
  async () => {
    const source = new MemorySource([bytesOf("abcdef")]);
    const buffer = new ReadBuffer(source, BIG, peer);
    const delim = bytesOf("\r\n");
    await assert.rejects(
      drive(buffer, untilStep(buffer, delim, 4)),
      (error: unknown) =>
        error instanceof LimitExceededError && /record/.test(error.message),
    );
    assert.equal(buffer.size, 6);
    source.push("\r\n");
    source.end();
    assert.deepEqual(
      await drive(buffer, untilStep(buffer, delim, 6)),
      bytesOf("abcdef"),
    );
  },
  PURE,
);

test("readAll, readExactly and readFull at the end of the stream", async () => {
  for (const deadline of [false, true]) {
    const { buffer } = over([bytesOf("abcde")]);
    assert.deepEqual(
      await drive(buffer, exactStep(buffer, 2, deadline)),
      bytesOf("ab"),
    );
    await assert.rejects(
      drive(buffer, exactStep(buffer, 5, deadline)),
      (error: unknown) => {
        assert.ok(error instanceof EndOfStreamError);
        assert.deepEqual(error.partial, bytesOf("cde"));
        assert.match(
          error.message,
          /Cannot read 5 bytes from the peer: the stream ended after 3 bytes/,
        );
        return true;
      },
    );
    assert.deepEqual(
      await drive(buffer, allStep(buffer, Infinity, deadline)),
      new Uint8Array(),
    );
    const { buffer: b2 } = over([bytesOf("xyz")]);
    const into = new Uint8Array(4);
    await assert.rejects(
      drive(b2, fullStep(b2, into, deadline)),
      (error: unknown) =>
        error instanceof EndOfStreamError &&
        new TextDecoder().decode(error.partial) === "xyz",
    );
    const { buffer: b3 } = over([bytesOf("123"), bytesOf("456")]);
    await assert.rejects(
      drive(b3, allStep(b3, 5, deadline)),
      (error: unknown) =>
        error instanceof LimitExceededError && error.limit === 5 &&
        /stream from the peer/.test(error.message),
    );
  }
}, PURE);

test(
  "a read with a deadline keeps the bytes buffered until all have come",
  async () => {
    const source = new MemorySource([bytesOf("ab")]);
    const buffer = new ReadBuffer(source, BIG, peer);
    const into = new Uint8Array(4);
    const step = fullStep(buffer, into, true);
    assert.equal(step(), NEED);
    await buffer.fill();
    assert.equal(step(), NEED);
    assert.equal(buffer.size, 2, "the two bytes wait in the buffer");
    assert.deepEqual(into, new Uint8Array(4), "nothing was copied out yet");
    const exact = exactStep(buffer, 4, true);
    assert.equal(exact(), NEED);
    assert.equal(buffer.size, 2);
    const all = allStep(buffer, Infinity, true);
    assert.equal(all(), NEED);
    assert.equal(buffer.size, 2);
  },
  PURE,
);

test(
  "a large read with nothing buffered goes straight into the caller's array",
  async () => {
    const n = 64 * 1024;
    const data = new Uint8Array(n).map((_, i) => i % 251);
    // readFull: the source is handed the caller's array.
    {
      const { buffer, source } = over([data]);
      const into = new Uint8Array(n);
      assert.equal(await drive(buffer, fullStep(buffer, into, false)), into);
      assertBytes(into, data);
      assert.equal(source.given[0]!.buffer, into.buffer);
      assert.equal(source.given[0]!.byteOffset, into.byteOffset);
      assert.equal(buffer.size, 0, "nothing passed through the buffer");
    }
    // readFull in pieces: each read goes where the bytes so far end.
    {
      const { buffer, source } = over(cutAt(data, [20000, 41000]));
      const into = new Uint8Array(n);
      await drive(buffer, fullStep(buffer, into, false));
      assertBytes(into, data);
      assert.deepEqual(
        source.given.map((a) => [a.buffer === into.buffer, a.byteOffset]),
        [[true, 0], [true, 20000], [true, 41000]],
      );
    }
    // readExactly: into the new array it returns.
    {
      const { buffer, source } = over([data]);
      const got = await drive(buffer, exactStep(buffer, n, false));
      assertBytes(got, data);
      assert.equal(source.given[0]!.buffer, got.buffer);
    }
    // read(): into the caller's array itself.
    {
      const { buffer, source } = over([data]);
      const into = new Uint8Array(n);
      assert.equal(await drive(buffer, someStep(buffer, into, true)), n);
      assert.equal(source.given[0], into);
      assertBytes(into, data);
    }
    // With a deadline the bytes go through the buffer, never the caller's array.
    {
      const { buffer, source } = over([data]);
      const into = new Uint8Array(n);
      await drive(buffer, fullStep(buffer, into, true));
      assertBytes(into, data);
      assert.ok(source.given.every((a) => a.buffer !== into.buffer));
    }
  },
  PURE,
);

test(
  "a large read copies what is buffered first, then reads the rest directly",
  async () => {
    const n = 40 * 1024;
    const data = new Uint8Array(n).map((_, i) => i % 253);
    const { buffer, source } = over(cutAt(data, [100]));
    assert.equal(
      await drive(buffer, someStep(buffer, new Uint8Array(10), false)),
      10,
    );
    const into = new Uint8Array(n - 10);
    await drive(buffer, fullStep(buffer, into, false));
    assertBytes(into, data.subarray(10));
    const last = source.given.at(-1)!;
    assert.equal(last.buffer, into.buffer);
    assert.equal(last.byteOffset, 90, "after the 90 bytes that were buffered");
  },
  PURE,
);

test(
  "readWith consumes what the parser used, and checks its length",
  async () => {
    const { buffer } = over(
      cutAt(new Uint8Array([2, 7, 8, 1, 9, 3, 1]), [1, 2, 4]),
    );
    assert.deepEqual(await drive(buffer, parseStep(buffer, lengthPrefixed)), [
      7,
      8,
    ]);
    assert.deepEqual(await drive(buffer, parseStep(buffer, lengthPrefixed)), [
      9,
    ]);
    await assert.rejects(
      drive(buffer, parseStep(buffer, lengthPrefixed)),
      (error: unknown) =>
        error instanceof EndOfStreamError && error.partial.join() === "3,1" &&
        /ended inside a message/.test(error.message),
    );
    const { buffer: bad } = over([new Uint8Array([1, 2])]);
    await bad.fill();
    await assert.rejects(
      drive(bad, parseStep(bad, () => ({ value: 0, length: 3 }))),
      RangeError,
    );
    assert.throws(
      () => parseStep(bad, () => ({ value: 0, length: 0.5 }))(),
      RangeError,
    );
    assert.throws(
      () => parseStep(bad, () => ({ value: 0, length: -1 }))(),
      RangeError,
    );
    assert.equal(bad.size, 2, "a bad length consumes nothing");
  },
  PURE,
);

test(
  "peek looks without consuming, and waits for more when asked",
  async () => {
    const source = new MemorySource([bytesOf("ab")]);
    const buffer = new ReadBuffer(source, BIG, peer);
    const first = await drive(buffer, peekStep(buffer, false));
    assert.deepEqual([...first.bytes, first.eof], [97, 98, false]);
    source.push("c");
    const more = await drive(buffer, peekStep(buffer, true));
    assert.deepEqual(more.bytes, bytesOf("abc"));
    source.end();
    const last = await drive(buffer, peekStep(buffer, true));
    assert.deepEqual([last.bytes.length, last.eof], [3, true]);
    assert.equal(buffer.size, 3);
  },
  PURE,
);

test(
  "overBuffer refuses a read with a deadline larger than the buffer may hold",
  () => {
    const buffer = new ReadBuffer(new MemorySource(), 100, peer);
    assert.equal(overBuffer(buffer, 100), undefined);
    const error = overBuffer(buffer, 101);
    assert.ok(error instanceof LimitExceededError);
    assert.equal(error.limit, 100);
    assert.match(error.message, /raise it, or read without one/);
  },
  PURE,
);

test(
  "a source that fails gives a socket error, and every later read the same",
  async () => {
    const cases: [Error, new (...args: never[]) => Error][] = [
      [new Deno.errors.ConnectionReset("reset"), ConnectionResetError],
      [new Deno.errors.BrokenPipe("pipe"), ConnectionResetError],
      [new Deno.errors.BadResource("gone"), ConnectionClosedError],
      [new Deno.errors.TimedOut("slow"), TimeoutError],
    ];
    for (const [cause, mapped] of cases) {
      const { buffer } = over([bytesOf("ok\npartial")], BIG, cause);
      assert.equal(await drive(buffer, lineStep(buffer, 100)), "ok");
      const failed = await drive(buffer, lineStep(buffer, 100)).then(
        () => assert.fail("the read should fail"),
        (error: unknown) => error,
      );
      assert.ok(failed instanceof mapped, `${cause.name} gives ${mapped.name}`);
      assert.equal((failed as Error).cause, cause);
      assert.match((failed as Error).message, /^Cannot read from the peer: /);
      assert.equal(buffer.error, failed);
      await assert.rejects(
        drive(buffer, lineStep(buffer, 100)),
        (e) => e === failed,
      );
      assert.equal(buffer.size, 7, "the partial line is still buffered");
    }
  },
  PURE,
);

test("a TLS stream cut without close_notify ends like any other", async () => {
  const { buffer } = over(
    [bytesOf("tail")],
    BIG,
    new Deno.errors.UnexpectedEof("eof"),
  );
  assert.equal(await drive(buffer, lineStep(buffer, 100)), "tail");
  assert.equal(buffer.error, undefined);
  assert.equal(buffer.eof, true);
}, PURE);

test(
  "a reset seen by a write turns the end of the stream into that reset",
  async () => {
    const { buffer } = over([bytesOf("a\n")]);
    buffer.resetSeen = new Deno.errors.ConnectionReset("reset by a write");
    assert.equal(await drive(buffer, lineStep(buffer, 100)), "a");
    await assert.rejects(
      drive(buffer, lineStep(buffer, 100)),
      ConnectionResetError,
    );
  },
  PURE,
);

test("fill() starts one read of the source however many wait", async () => {
  const source = new MemorySource();
  const buffer = new ReadBuffer(source, BIG, peer);
  const waits = [buffer.fill(), buffer.fill(), buffer.fill()];
  assert.equal(source.reads, 1);
  assert.equal(waits[0], waits[2]);
  source.push("xy");
  await Promise.all(waits);
  assert.equal(buffer.size, 2);
  assert.equal(source.overlapped, false);
}, PURE);

test(
  "a closed buffer keeps what it holds, then fails with its reason",
  async () => {
    const { buffer } = over([bytesOf("kept\n")]);
    await buffer.fill();
    const reason = new ConnectionClosedError("closed by its owner");
    buffer.close(reason);
    assert.equal(await drive(buffer, lineStep(buffer, 100)), "kept");
    await assert.rejects(
      drive(buffer, lineStep(buffer, 100)),
      (e) => e === reason,
    );
    const { buffer: plain } = over([]);
    plain.close(undefined);
    await assert.rejects(
      drive(plain, lineStep(plain, 100)),
      (error: unknown) =>
        error instanceof ConnectionClosedError &&
        /the socket is closed/.test(error.message),
    );
  },
  PURE,
);

test(
  "close() during a read gives the slab piece back only when the read lands",
  async () => {
    const source = new MemorySource();
    const buffer = new ReadBuffer(source, BIG, peer);
    const filled = buffer.fill();
    const inUse = source.given[0]!;
    const overlaps = (piece: Uint8Array) =>
      piece.buffer === inUse.buffer &&
      piece.byteOffset < inUse.byteOffset + inUse.length &&
      inUse.byteOffset < piece.byteOffset + piece.length;
    buffer.close(undefined);
    // The read still holds the piece: no one else may get it.
    const taken = Array.from({ length: 70 }, takePiece);
    assert.ok(!taken.some(overlaps), "a piece a read holds is not handed out");
    for (const piece of taken.reverse()) givePiece(piece);
    source.push("late\n");
    await filled;
    const next = takePiece();
    assert.ok(overlaps(next), "the piece is given back once the read landed");
    givePiece(next);
    // The bytes that landed are still there, in an array of their own.
    assert.ok(buffer.buf.buffer !== inUse.buffer);
    assert.equal(await drive(buffer, lineStep(buffer, 100)), "late");
  },
  PURE,
);

test(
  "small reads are served from the buffer, not from a read of the source each",
  async () => {
    const data = new Uint8Array(1000).map((_, i) => i % 256);
    const { buffer, source } = over([data]);
    for (let at = 0; at < 1000; at += 10) {
      const into = new Uint8Array(10);
      await drive(buffer, fullStep(buffer, into, false));
      assertBytes(into, data.subarray(at, at + 10));
    }
    assert.equal(source.reads, 1, "one read of the source brought them all");
    assert.ok(source.given.every((array) => array.length >= 1000));
    // A read just under the direct size goes through the buffer too.
    const { buffer: b2, source: s2 } = over([new Uint8Array(20_000)]);
    const into = new Uint8Array(16 * 1024 - 1);
    await drive(b2, fullStep(b2, into, false));
    assert.ok(s2.given.every((array) => array.buffer !== into.buffer));
  },
  PURE,
);

test(
  "a source whose read throws at once fails the read the same way",
  async () => {
    const cause = new Deno.errors.BadResource("closed under it");
    const buffer = new ReadBuffer(
      {
        read(): Promise<number | null> {
          throw cause;
        },
      },
      BIG,
      peer,
    );
    await assert.rejects(
      drive(buffer, lineStep(buffer, 100)),
      (error: unknown) =>
        error instanceof ConnectionClosedError && error.cause === cause,
    );
    assert.equal(buffer.pending, undefined, "no read is left in flight");
  },
  PURE,
);

test(
  "peek for more fails when the source fails instead of more coming",
  async () => {
    const cause = new Deno.errors.ConnectionReset("reset");
    const source = new MemorySource([bytesOf("ab")]);
    const buffer = new ReadBuffer(source, BIG, peer);
    await drive(buffer, peekStep(buffer, false));
    source.fail(cause);
    await assert.rejects(
      drive(buffer, peekStep(buffer, true)),
      (error: unknown) =>
        error instanceof ConnectionResetError && error.cause === cause,
    );
    assert.equal(buffer.size, 2, "what was buffered stays");
  },
  PURE,
);

test(
  "readUntil matches only buffered bytes, never old ones left past them",
  async () => {
    // The first record leaves "ab" in the buffer's array; the next read
    // lands at its start and brings only "xa", so the "b" after it is old.
    const { buffer } = over([bytesOf("1ab"), bytesOf("xa")]);
    const delim = bytesOf("ab");
    assert.deepEqual(
      await drive(buffer, untilStep(buffer, delim, 100)),
      bytesOf("1"),
    );
    await assert.rejects(
      drive(buffer, untilStep(buffer, delim, 100)),
      (error: unknown) => {
        assert.ok(error instanceof EndOfStreamError);
        assert.deepEqual(error.partial, bytesOf("xa"));
        return true;
      },
    );
  },
  PURE,
);

test(
  "readUntil finds a delimiter in the last byte the buffer may hold",
  async () => {
    for (const delim of [";", "\r\n"]) {
      const record = "x".repeat(PIECE_SIZE - delim.length);
      const { buffer } = over([bytesOf(record + delim)], PIECE_SIZE);
      const got = await drive(
        buffer,
        untilStep(buffer, bytesOf(delim), PIECE_SIZE),
      );
      assert.equal(decoder.decode(got!), record);
      assert.equal(
        await drive(buffer, untilStep(buffer, bytesOf(delim), 9)),
        null,
      );
    }
  },
  PURE,
);

test(
  "readLineBytes and readLinesBytes give an empty line as an empty array",
  async () => {
    for (const chunks of everyCut(bytesOf("a\n\n\r\nb"))) {
      const { buffer } = over(chunks);
      const one = [];
      for (let line; (line = await drive(buffer, lineBytesStep(buffer, 9)));) {
        one.push(decoder.decode(line));
      }
      assert.deepEqual(one, ["a", "", "", "b"]);
      const { buffer: again } = over(chunks);
      const batched = [];
      for (
        let lines;
        (lines = await drive(again, linesBytesStep(again, 9)));
      ) {
        batched.push(...lines.map((line) => decoder.decode(line)));
      }
      assert.deepEqual(batched, ["a", "", "", "b"]);
    }
  },
  PURE,
);

test("a line of a MiB of ASCII is read whole", async () => {
  const text = "0123456789abcdef".repeat(64 * 1024);
  const { buffer } = over([bytesOf(text + "\n" + text)], 4 * BIG);
  assert.ok(await drive(buffer, lineStep(buffer, BIG)) === text);
  assert.deepEqual(
    (await drive(buffer, linesStep(buffer, BIG)))?.map((l) => l.length),
    [BIG],
  );
}, PURE);

/** A parser of messages whose first byte is their whole length (1 or more). */
function counted(calls: number[]) {
  return (bytes: Uint8Array): Parsed<string> | number | undefined => {
    calls.push(bytes.length);
    if (bytes.length === 0) return undefined;
    const total = bytes[0]!;
    if (bytes.length < total) return total;
    return { value: decoder.decode(bytes.subarray(1, total)), length: total };
  };
}

test(
  "readWith and readBatch parse once exactly the bytes asked for are buffered",
  async () => {
    for (const batch of [false, true]) {
      const source = new MemorySource([new Uint8Array([4, 97])]);
      const buffer = new ReadBuffer(source, BIG, peer);
      const calls: number[] = [];
      const step: () => unknown = batch
        ? batchStep(buffer, counted(calls))
        : parseStep(buffer, counted(calls));
      await buffer.fill();
      assert.equal(step(), NEED);
      assert.deepEqual(calls, [2], "asked for 4 bytes in all");
      source.push(new Uint8Array([98]));
      await buffer.fill();
      assert.equal(step(), NEED);
      assert.deepEqual(calls, [2], "not called with 3 of the 4");
      // The stream stays open: the fourth byte is enough.
      source.push(new Uint8Array([99]));
      await buffer.fill();
      assert.deepEqual(step(), batch ? ["abc"] : "abc");
      assert.deepEqual(calls, batch ? [2, 4, 0] : [2, 4]);
    }
  },
  PURE,
);

test(
  "readWith and readBatch at the end inside a message asked for fail with what came",
  async () => {
    for (const batch of [false, true]) {
      const { buffer } = over([new Uint8Array([9, 1]), new Uint8Array([2])]);
      const calls: number[] = [];
      const step: () => unknown = batch
        ? batchStep(buffer, counted(calls))
        : parseStep(buffer, counted(calls));
      await assert.rejects(drive(buffer, step), (error: unknown) => {
        assert.ok(error instanceof EndOfStreamError);
        assert.deepEqual(error.partial, new Uint8Array([9, 1, 2]));
        return true;
      });
      assert.deepEqual(calls, [0, 2, 3], "called again at the end");
    }
  },
  PURE,
);

test(
  "a parser's bad counts are errors that name them, and its need may be all the buffer holds",
  async () => {
    const source = new MemorySource([new Uint8Array([1, 2, 3])]);
    const buffer = new ReadBuffer(source, 16, peer);
    await buffer.fill();
    for (const step of [parseStep, batchStep]) {
      assert.throws(() => step(buffer, (bytes) => bytes.length)(), {
        name: "RangeError",
        message:
          "Cannot wait for 3 bytes in all: the parser must ask for more than the 3 buffered",
      });
      assert.throws(() => step(buffer, () => ({ value: 0, length: 4 }))(), {
        name: "RangeError",
        message: "Cannot consume 4 bytes after parsing: only 3 are buffered",
      });
      assert.throws(() => step(buffer, () => 17)(), (error: unknown) => {
        assert.ok(error instanceof LimitExceededError);
        assert.equal(error.limit, 16);
        assert.equal(
          error.message,
          "Cannot read a message of 17 bytes from the peer: it is more than maxBufferSize (16)",
        );
        return true;
      });
      assert.equal(buffer.size, 3, "nothing was consumed");
    }
    // A parser may wait for as many bytes as the buffer may hold.
    const step = parseStep(
      buffer,
      (bytes) =>
        bytes.length < 16 ? 16 : { value: [...bytes], length: bytes.length },
    );
    assert.equal(step(), NEED);
    source.push(new Uint8Array(13).fill(7));
    await buffer.fill();
    assert.deepEqual(step(), [1, 2, 3, ...new Array(13).fill(7)]);
  },
  PURE,
);

test(
  "pieces are 1 KiB each, never overlap, and are cut from shared slabs",
  () => {
    const pieces = Array.from({ length: 5000 }, takePiece);
    try {
      const byArray = new Map<ArrayBufferLike, Uint8Array[]>();
      for (const piece of pieces) {
        assert.equal(piece.length, PIECE_SIZE);
        const list = byArray.get(piece.buffer) ?? [];
        list.push(piece);
        byArray.set(piece.buffer, list);
      }
      for (const list of byArray.values()) {
        list.sort((a, b) => a.byteOffset - b.byteOffset);
        for (let i = 1; i < list.length; i++) {
          assert.ok(
            list[i]!.byteOffset >= list[i - 1]!.byteOffset + PIECE_SIZE,
            "two pieces overlap",
          );
        }
      }
      // At most 1024 pieces were free before, from as many arrays; the
      // rest come 64 to a slab.
      assert.ok(
        byArray.size <= 1024 + Math.ceil(5000 / 64),
        `${byArray.size} arrays for 5000 pieces`,
      );
    } finally {
      for (const piece of pieces) givePiece(piece);
    }
  },
  PURE,
);

test("at most 1024 pieces given back are kept for reuse", () => {
  const mine = new Set(Array.from({ length: 2000 }, takePiece));
  for (const piece of mine) givePiece(piece);
  const again = Array.from({ length: 2000 }, takePiece);
  try {
    const reused = again.filter((piece) => mine.has(piece)).length;
    assert.ok(reused <= 1024, `${reused} pieces were kept`);
    assert.ok(reused > 0, "pieces given back are reused");
  } finally {
    for (const piece of again) givePiece(piece);
  }
}, PURE);

test(
  "a read() with a deadline that gives up leaves the bytes for the next read",
  async () => {
    const source = new MemorySource();
    const buffer = new ReadBuffer(source, BIG, peer);
    const abandoned = new Uint8Array(64 * 1024);
    assert.equal(someStep(buffer, abandoned, false)(), NEED);
    // The read queue fills the buffer for it; then the read gives up.
    const filled = buffer.fill();
    source.push("hello");
    await filled;
    const into = new Uint8Array(10);
    assert.equal(someStep(buffer, into, false)(), 5);
    assert.deepEqual(into.subarray(0, 5), bytesOf("hello"));
    assert.ok(source.given.every((array) => array.buffer !== abandoned.buffer));
  },
  PURE,
);

test(
  "readFull and readExactly with a deadline finish once all are buffered, the stream still open",
  async () => {
    const source = new MemorySource([bytesOf("ab")]);
    const buffer = new ReadBuffer(source, BIG, peer);
    const into = new Uint8Array(4);
    const full = fullStep(buffer, into, true);
    assert.equal(full(), NEED);
    await buffer.fill();
    assert.equal(full(), NEED);
    source.push("cd");
    await buffer.fill();
    assert.equal(full(), into);
    assert.deepEqual(into, bytesOf("abcd"));
    const exact = exactStep(buffer, 2, true);
    assert.equal(exact(), NEED);
    source.push("ef");
    await buffer.fill();
    assert.deepEqual(exact(), bytesOf("ef"));
  },
  PURE,
);

test("readAll takes a stream of exactly maxLength bytes", async () => {
  for (const deadline of [false, true]) {
    const { buffer } = over([bytesOf("12"), bytesOf("345")]);
    assert.deepEqual(
      await drive(buffer, allStep(buffer, 5, deadline)),
      bytesOf("12345"),
    );
  }
}, PURE);

test(
  "a large read may go straight into the caller's array, a small one not",
  () => {
    assert.equal(mayReadDirect(new Uint8Array(64 * 1024)), true);
    assert.equal(mayReadDirect(new Uint8Array(100)), false);
  },
  PURE,
);

/** Whether `a` and `b` share any byte of memory. */
function shares(a: Uint8Array, b: Uint8Array): boolean {
  return a.buffer === b.buffer &&
    a.byteOffset < b.byteOffset + b.byteLength &&
    b.byteOffset < a.byteOffset + a.byteLength;
}

test(
  "the buffer fills its piece before it grows, then doubles while reads fill it",
  async () => {
    const input = new Uint8Array(6000).map((_, i) => (i * 13) % 256);
    const source = new MemorySource([
      input.subarray(0, 100),
      input.subarray(100, 200),
      input.subarray(200, 1024),
      input.subarray(1024),
    ]);
    const buffer = new ReadBuffer(source, BIG, peer);
    const sizes: number[] = [];
    for (let i = 0; i < 5; i++) {
      await buffer.fill();
      sizes.push(buffer.buf.length);
    }
    assert.deepEqual(sizes, [1024, 1024, 1024, 2048, 4096]);
    assert.equal(buffer.end, 4096);
    assert.equal(buffer.traffic, 5);
    assert.equal(buffer.bytes, 4096);
    assertBytes(buffer.take(4096), input.subarray(0, 4096));
  },
  PURE,
);

test(
  "a buffer read from as it fills is compacted in place; one mostly unread grows",
  async () => {
    const source = new MemorySource([new Uint8Array(900).fill(1)]);
    const buffer = new ReadBuffer(source, BIG, peer);
    await buffer.fill();
    const piece = buffer.buf;
    buffer.consume(800, false);
    source.push(new Uint8Array(200).fill(2));
    await buffer.fill();
    assert.equal(buffer.buf, piece, "the same piece");
    assert.equal(buffer.start, 0);
    assert.equal(buffer.end, 300);
    // More than half of it unread: the buffer doubles.
    source.push(new Uint8Array(700).fill(3));
    await buffer.fill();
    assert.equal(buffer.end, 1000);
    buffer.consume(200, false);
    source.push(new Uint8Array(500).fill(4));
    await buffer.fill();
    assert.equal(buffer.buf.length, 2048);
    assert.equal(buffer.start, 0);
    assert.equal(buffer.end, 1300);
    assert.ok(nextPiece(piece), "the outgrown piece is given back");
    // Grown once, it stays at that size while reads leave room.
    source.push(new Uint8Array(100).fill(5));
    await buffer.fill();
    assert.equal(buffer.buf.length, 2048);
    assert.equal(buffer.end, 1400);
    assertBytes(buffer.take(1400), [
      ...new Array(100).fill(2),
      ...new Array(700).fill(3),
      ...new Array(500).fill(4),
      ...new Array(100).fill(5),
    ]);
  },
  PURE,
);

/** Whether the next free slab piece is `piece`. */
function nextPiece(piece: Uint8Array): boolean {
  const next = takePiece();
  givePiece(next);
  return shares(next, piece);
}

test(
  "all read, the next read goes to the buffer's start; a read that filled it grows it",
  async () => {
    const source = new MemorySource([new Uint8Array(500).fill(1)]);
    const buffer = new ReadBuffer(source, BIG, peer);
    await buffer.fill();
    buffer.consume(500, false);
    source.push(new Uint8Array(1024).fill(2));
    await buffer.fill();
    assert.equal(source.given[1]!.length, 1024, "the whole piece");
    assert.equal(buffer.start, 0);
    assert.equal(buffer.end, 1024);
    // That read filled the piece: the next one has a larger buffer, even
    // with everything read.
    buffer.consume(1024, false);
    source.push(new Uint8Array(3000).fill(3));
    await buffer.fill();
    assert.equal(buffer.buf.length, 2048);
    assert.equal(buffer.end, 2048);
    // Full and mostly read: it grows rather than compacts.
    buffer.consume(1500, false);
    await buffer.fill();
    assert.equal(buffer.buf.length, 4096);
    assert.equal(buffer.start, 0);
    assert.equal(buffer.end, 548 + 952);
  },
  PURE,
);

test(
  "a buffer of 256 KiB filled by a read grows on, even with most of it read",
  async () => {
    const source = new MemorySource([new Uint8Array(600 * 1024).fill(5)]);
    const buffer = new ReadBuffer(source, BIG, peer);
    while (buffer.buf.length < 256 * 1024 || buffer.end < buffer.buf.length) {
      await buffer.fill();
    }
    assert.equal(buffer.end, 256 * 1024);
    buffer.consume(200 * 1024, false);
    await buffer.fill();
    assert.equal(buffer.buf.length, 512 * 1024);
    assert.equal(buffer.start, 0);
    assert.equal(buffer.end, (56 + 600 - 256) * 1024, "all the rest came");
  },
  PURE,
);

test(
  "a buffer with a maxBufferSize under a piece reads at most that much",
  async () => {
    const source = new MemorySource([new Uint8Array(300).fill(1)]);
    const buffer = new ReadBuffer(source, 100, peer);
    await buffer.fill();
    assert.equal(source.given[0]!.length, 100);
    assert.equal(buffer.buf.length, 100);
    assert.equal(buffer.end, 100);
  },
  PURE,
);

test("a read of exactly 16 KiB may go direct, one byte less not", () => {
  assert.equal(ReadBuffer.direct(16 * 1024), true);
  assert.equal(ReadBuffer.direct(16 * 1024 - 1), false);
  assert.equal(mayReadDirect(new Uint8Array(16 * 1024)), true);
}, PURE);

test(
  "after the end or an error the buffer is ready, and fill() reads the source no more",
  async () => {
    const ended = over([bytesOf("ab")]);
    await ended.buffer.fill();
    ended.buffer.consume(2, false);
    assert.equal(ended.buffer.ready, false);
    await ended.buffer.fill();
    assert.equal(ended.buffer.eof, true);
    assert.equal(ended.buffer.ready, true);
    const reads = ended.source.reads;
    await ended.buffer.fill();
    assert.equal(ended.source.reads, reads, "no read after the end");

    const failed = over([], BIG, new Deno.errors.ConnectionReset("reset"));
    await failed.buffer.fill();
    const error = failed.buffer.error;
    assert.ok(error instanceof ConnectionResetError);
    assert.equal(failed.buffer.eof, false);
    assert.equal(failed.buffer.ready, true, "an error is ready to be thrown");
    await failed.buffer.fill();
    assert.equal(failed.source.reads, 1, "no read after an error");
    assert.equal(failed.buffer.error, error, "the first error is kept");
  },
  PURE,
);

test(
  "consume() takes 0 bytes too, and not while a read waits for them",
  async () => {
    const { buffer } = over([bytesOf("abc")]);
    await buffer.fill();
    buffer.consume(0, false);
    assert.equal(buffer.size, 3);
    assert.throws(() => buffer.consume(1, true), {
      name: "TypeError",
      message:
        "Cannot consume bytes from the peer while a read is waiting: they belong to it",
    });
    assert.equal(buffer.size, 3);
    buffer.consume(3, false);
    assert.equal(buffer.size, 0);
  },
  PURE,
);

test(
  "readInto() while a read is in flight is ignored: the next read goes to the buffer",
  async () => {
    const source = new MemorySource();
    const buffer = new ReadBuffer(source, BIG, peer);
    const first = buffer.fill();
    const into = new Uint8Array(32 * 1024);
    buffer.readInto(into);
    source.push("abc");
    await first;
    source.push("def");
    await buffer.fill();
    assert.equal(buffer.takeDirect(), 0);
    assert.ok(source.given.every((array) => array.buffer !== into.buffer));
    assertBytes(buffer.take(6), bytesOf("abcdef"));
  },
  PURE,
);

test(
  "close() keeps the unread bytes in an array of their own, and gives the piece back once",
  async () => {
    const { buffer } = over([bytesOf("abcdef")]);
    await buffer.fill();
    const piece = buffer.buf;
    buffer.consume(2, false);
    buffer.close(undefined);
    assert.equal(buffer.size, 4);
    assert.ok(buffer.buf.buffer !== piece.buffer || !shares(buffer.buf, piece));
    buffer.close(undefined);
    const a = takePiece();
    const b = takePiece();
    try {
      assert.equal(a.length, PIECE_SIZE);
      assert.equal(b.length, PIECE_SIZE, "the kept bytes are no piece");
      assert.ok(!shares(a, b), "the piece was given back once");
    } finally {
      givePiece(b);
      givePiece(a);
    }
    assertBytes(buffer.take(4), bytesOf("cdef"));
  },
  PURE,
);

test(
  "close() during a read that meets the end or an error gives the piece back when it does",
  async () => {
    for (const how of ["end", "error"] as const) {
      const source = new MemorySource([bytesOf("ab")]);
      const buffer = new ReadBuffer(source, BIG, peer);
      await buffer.fill();
      const piece = buffer.buf;
      const filled = buffer.fill();
      buffer.close(undefined);
      assert.ok(!nextPiece(piece), `${how}: the read still holds the piece`);
      if (how === "end") source.end();
      else source.fail(new Deno.errors.ConnectionReset("reset"));
      await filled;
      assert.ok(nextPiece(piece), `${how}: the piece is back`);
      assertBytes(buffer.take(2), bytesOf("ab"));
    }
  },
  PURE,
);

test(
  "close() during a direct read gives the piece back when the read lands",
  async () => {
    const source = new MemorySource([bytesOf("ab")]);
    const buffer = new ReadBuffer(source, BIG, peer);
    await buffer.fill();
    const piece = buffer.buf;
    const into = new Uint8Array(32 * 1024);
    buffer.readInto(into);
    const filled = buffer.fill();
    assert.equal(source.given[1], into, "the read goes straight to the array");
    buffer.close(undefined);
    assert.ok(!nextPiece(piece), "the buffer's bytes are still in the piece");
    source.push("cd");
    await filled;
    assert.ok(nextPiece(piece), "the piece is back");
    assert.equal(buffer.takeDirect(), 2);
    assertBytes(into.subarray(0, 2), bytesOf("cd"));
    assert.equal(buffer.traffic, 2, "the direct read counts as traffic");
    assert.equal(buffer.bytes, 4);
    assertBytes(buffer.take(2), bytesOf("ab"));
  },
  PURE,
);

test(
  "in a buffer with much room after its bytes, a scan that skips bytes already seen finds no line end before them",
  async () => {
    for (const lines of [false, true]) {
      const source = new MemorySource([bytesOf("x".repeat(9000) + "\n")]);
      const buffer = new ReadBuffer(source, BIG, peer);
      let long: string | undefined;
      while ((long = buffer.line(20000, 0)) === undefined) await buffer.fill();
      assert.equal(long.length, 9000);
      source.push("ab\ncd");
      await buffer.fill();
      assert.ok(buffer.buf.length - buffer.end > 4096, "room past the bytes");
      const next = (scanned: number) =>
        lines ? buffer.lines(100, scanned) : buffer.line(100, scanned);
      assert.deepEqual(next(0), lines ? ["ab"] : "ab");
      assert.equal(next(0), undefined);
      // "cd" is known to hold no LF; the LF before it is consumed.
      assert.equal(next(2), undefined);
      source.push("e\n");
      await buffer.fill();
      assert.deepEqual(next(2), lines ? ["cde"] : "cde");
    }
  },
  PURE,
);

test(
  "a buffer of 256 KiB filled by a read and then read whole keeps its size",
  async () => {
    const source = new MemorySource([new Uint8Array(300 * 1024).fill(6)]);
    const buffer = new ReadBuffer(source, BIG, peer);
    while (buffer.buf.length < 256 * 1024 || buffer.end < buffer.buf.length) {
      await buffer.fill();
    }
    buffer.consume(256 * 1024, false);
    await buffer.fill();
    assert.equal(buffer.buf.length, 256 * 1024);
    assert.equal(buffer.start, 0);
    assert.equal(buffer.end, 44 * 1024);
  },
  PURE,
);

test(
  "a quarter of the buffer free is room enough for the next read: nothing moves",
  async () => {
    const source = new MemorySource([new Uint8Array(768).fill(1)]);
    const buffer = new ReadBuffer(source, BIG, peer);
    await buffer.fill();
    buffer.consume(600, false);
    source.push(new Uint8Array(300).fill(2));
    await buffer.fill();
    assert.equal(buffer.buf.length, 1024);
    assert.equal(buffer.start, 600, "not compacted");
    assert.equal(buffer.end, 1024);
    assertBytes(buffer.take(424), [
      ...new Array(168).fill(1),
      ...new Array(256).fill(2),
    ]);
  },
  PURE,
);

test(
  "a buffer half unread is compacted, not grown",
  async () => {
    const source = new MemorySource([new Uint8Array(1000).fill(1)]);
    const buffer = new ReadBuffer(source, BIG, peer);
    await buffer.fill();
    buffer.consume(488, false);
    source.push(new Uint8Array(100).fill(2));
    await buffer.fill();
    assert.equal(buffer.buf.length, 1024);
    assert.equal(buffer.start, 0);
    assert.equal(buffer.end, 612);
  },
  PURE,
);

/** A buffer holding `text`, the source ended or not. */
async function holding(text: string, ended = false): Promise<ReadBuffer> {
  const { buffer } = over([bytesOf(text)]);
  await buffer.fill();
  if (ended) await buffer.fill();
  return buffer;
}

test(
  "every line scan names a line too long, found whole or not, and keeps its bytes",
  async () => {
    const tooLong = {
      name: "LimitExceededError",
      message: "Cannot read a line from the peer: it is longer than 3 bytes",
    };
    const cases: [string, (buffer: ReadBuffer) => unknown][] = [
      ["abcde", (b) => b.line(3, 0)],
      ["abcde", (b) => b.lineBytes(3, 0)],
      ["abcde", (b) => b.lines(3, 0)],
      ["abcd\n", (b) => b.lineBytes(3, 0)],
      ["abcd\n", (b) => b.lines(3, 0)],
      ["abcd\nef\n", (b) => b.lines(3, 0)],
      ["abcd", (b) => b.lastLine(3)],
      ["abcd", (b) => b.lastLineBytes(3)],
    ];
    for (const [text, scan] of cases) {
      const buffer = await holding(text);
      assert.throws(() => scan(buffer), tooLong, JSON.stringify(text));
      assert.equal(buffer.size, text.length, "the bytes stay buffered");
    }
    // A line of maxLength bytes may still end in a CRLF: no error yet.
    for (const scan of ["line", "lineBytes", "lines"] as const) {
      const buffer = await holding("abc\r");
      assert.equal(buffer[scan](3, 0), undefined, scan);
    }
    // A line of exactly maxLength bytes is read, with or without a CR.
    for (const text of ["abc\n", "abc\r\n"]) {
      assertBytes((await holding(text)).lineBytes(3, 0)!, bytesOf("abc"));
      assert.deepEqual((await holding(text)).lines(3, 0), ["abc"]);
      assert.equal((await holding(text)).line(3, 0), "abc");
    }
    // Lines one after another are each measured from their own start.
    const each = await holding("ab\ncde\nfg\r\nhij\n");
    assertBytes(each.lineBytes(3, 0)!, bytesOf("ab"));
    assertBytes(each.lineBytes(3, 0)!, bytesOf("cde"));
    assert.equal(each.line(3, 0), "fg");
    assertBytes(each.lineBytes(3, 0)!, bytesOf("hij"));
    // Many lines, a later one too long: the batch stops before it.
    const batch = await holding("ab\ncd\nefgh\n");
    assert.deepEqual(batch.lines(3, 0), ["ab", "cd"]);
    assert.throws(() => batch.lines(3, 0), tooLong);
    const last = await holding("abc");
    assertBytes(last.lastLineBytes(3)!, bytesOf("abc"));
    assert.equal(last.lastLineBytes(3), null);
  },
  PURE,
);

test(
  "readUntil names a record too long, and an end before the delimiter",
  async () => {
    const buffer = await holding("abcd;", true);
    assert.throws(() => buffer.until(bytesOf(";"), 3, 0), {
      name: "LimitExceededError",
      message: "Cannot read a record from the peer: it is longer than 3 bytes",
    });
    const cut = await holding("ab", true);
    assert.throws(() => cut.until(bytesOf(";"), 10, 0), {
      name: "EndOfStreamError",
      message:
        "Cannot read a record from the peer: the stream ended before the delimiter",
    });
  },
  PURE,
);

test("lines() takes every whole line buffered at once", async () => {
  const buffer = await holding("a\nb\r\nc\nrest");
  assert.deepEqual(buffer.lines(100, 0), ["a", "b", "c"]);
  assert.equal(buffer.lines(100, 0), undefined);
  assert.equal(buffer.size, 4);
  const one = await holding("only\r\nrest");
  assert.deepEqual(one.lines(100, 0), ["only"]);
  assert.equal(one.size, 4);
}, PURE);

test(
  "fillUp() has a rest of exactly 16 KiB read straight into the caller's array",
  async () => {
    const source = new MemorySource([bytesOf("ab")]);
    const buffer = new ReadBuffer(source, BIG, peer);
    const into = new Uint8Array(16 * 1024);
    assert.equal(buffer.fillUp(into, 0), 0);
    await buffer.fill();
    assert.equal(source.given[0]!.buffer, into.buffer);
    assert.equal(buffer.fillUp(into, 0), 2);
    assertBytes(into.subarray(0, 2), bytesOf("ab"));
  },
  PURE,
);

test(
  "a full buffer at maxBufferSize refuses to read more and says what to raise",
  async () => {
    const source = new MemorySource([new Uint8Array(2000).fill(1)]);
    const buffer = new ReadBuffer(source, 1024, peer);
    await buffer.fill();
    assert.equal(buffer.size, 1024);
    assert.throws(() => buffer.fill(), {
      name: "LimitExceededError",
      message:
        "Cannot buffer more than 1024 bytes from the peer: raise maxBufferSize or read in smaller pieces",
    });
    assert.equal(buffer.size, 1024);
  },
  PURE,
);
