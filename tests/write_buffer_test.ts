// The write buffer over in-memory sinks that take a few bytes per write:
// every byte arrives, in order, however the sink takes them.
import assert from "node:assert/strict";
import fc from "npm:fast-check@3";
import { Expiry } from "../lib/_expiry.ts";
import { flushWithin } from "../lib/_flush_limit.ts";
import { IdleClock } from "../lib/_idle.ts";
import { givePiece, PIECE_SIZE, takePiece } from "../lib/_pieces.ts";
import { ReadBuffer } from "../lib/_read_buffer.ts";
import { WRITE_HIGH_WATER, WriteBuffer } from "../lib/_write_buffer.ts";
import {
  ConnectionClosedError,
  ConnectionResetError,
  SocketError,
} from "../lib/errors.ts";
import { test } from "./_helpers.ts";
import {
  assertBytes,
  drive,
  lineStep,
  MemorySink,
  MemorySource,
} from "./_memory.ts";

const PURE = { permissions: "none" } as const;
const encoder = new TextEncoder();

/** A write buffer into `sink`, with its clock and its reset record. */
function into(sink: MemorySink) {
  const clock = new IdleClock();
  const resets = { resetSeen: undefined as unknown };
  const out = new WriteBuffer(sink, () => "the peer", clock, resets);
  return { out, clock, resets };
}

/** Whether two views share any byte of memory. */
function overlap(a: Uint8Array, b: Uint8Array): boolean {
  return a.buffer === b.buffer &&
    a.byteOffset < b.byteOffset + b.byteLength &&
    b.byteOffset < a.byteOffset + a.byteLength;
}

/** Takes `n` free slab pieces, checks none overlaps `inUse`, gives them back. */
function assertNotHandedOut(inUse: Uint8Array, n = 70): void {
  const taken = Array.from({ length: n }, takePiece);
  const clash = taken.some((piece) => overlap(piece, inUse));
  for (const piece of taken.reverse()) givePiece(piece);
  assert.ok(!clash, "a piece still being written from was handed out");
}

/** Whether the next free slab piece is the one `inUse` lies in. */
function nextPieceIs(inUse: Uint8Array): boolean {
  const piece = takePiece();
  givePiece(piece);
  return overlap(piece, inUse);
}

const pattern = (n: number, seed = 0) =>
  new Uint8Array(n).map((_, i) => (i * 7 + seed) % 256);

test(
  "every byte arrives in order whatever the sink takes per write",
  async () => {
    const parts: (string | Uint8Array)[] = [
      "hello ",
      pattern(300),
      "wörld €😀 ",
      "x".repeat(100),
      pattern(5, 1),
    ];
    const expected = new Uint8Array(
      parts.flatMap((
        p,
      ) => [...(typeof p === "string" ? encoder.encode(p) : p)]),
    );
    const sizes: number[][] = [];
    for (let k = 1; k <= 16; k++) sizes.push([k]);
    sizes.push([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], [3, 1], [1000, 1]);
    for (const take of sizes) {
      const sink = new MemorySink(take);
      const { out } = into(sink);
      for (const part of parts) await out.append(part);
      assert.equal(sink.writes, 0, "nothing is sent before a flush");
      await out.flush();
      assertBytes(sink.bytes, expected, `taking ${take} bytes a write`);
      assert.equal(out.length, 0);
      assert.equal(sink.overlapped, false, "one write of the sink at a time");
    }
  },
  PURE,
);

test("strings are sent as UTF-8, short ASCII and the rest alike", async () => {
  const texts = [
    "",
    "a",
    "plain ascii",
    "\u007f\u0080",
    "\u0080",
    "x".repeat(64),
    "y".repeat(65),
    "ab€",
    "€ab",
    "é".repeat(40),
    "😀 at the end 😀",
    "\uFEFFbom",
    "lone \uD800 surrogate",
    "long " + "ü".repeat(200),
  ];
  for (const text of texts) {
    const sink = new MemorySink([7]);
    const { out } = into(sink);
    await out.append(text);
    await out.append(text);
    await out.flush();
    assertBytes(sink.bytes, encoder.encode(text + text), JSON.stringify(text));
  }
}, PURE);

test(
  "bytes written are copied: the caller may reuse its array at once",
  async () => {
    const sink = new MemorySink([3]);
    const { out } = into(sink);
    const scratch = new Uint8Array([1, 2, 3, 4]);
    await out.append(scratch);
    scratch.fill(9);
    await out.append(scratch);
    await out.flush();
    assert.deepEqual([...sink.bytes], [1, 2, 3, 4, 9, 9, 9, 9]);
  },
  PURE,
);

test("64 KiB buffered starts a flush by itself", async () => {
  const sink = new MemorySink([10000]);
  const { out, clock } = into(sink);
  const chunk = pattern(1000);
  let sent = 0;
  while (out.length + chunk.length < WRITE_HIGH_WATER) {
    assert.equal(await out.append(chunk), undefined);
    sent += chunk.length;
  }
  assert.equal(sink.writes, 0, "below the mark nothing is sent");
  const rest = WRITE_HIGH_WATER - out.length;
  const started = out.append(chunk.subarray(0, rest));
  assert.equal(sink.writes, 1, "the write at the mark started sending");
  assert.equal(started, out.flushing);
  assert.equal(clock.draining, true);
  assert.equal(out.flush(), started, "a flush joins the drain in progress");
  await started;
  assert.equal(sink.bytes.length, sent + rest);
  assert.equal(out.length, 0);
  assert.equal(clock.draining, false);
  assert.equal(out.flushing, undefined);
  // Text counts the same way.
  const text = new MemorySink();
  const { out: out2 } = into(text);
  await out2.append("z".repeat(WRITE_HIGH_WATER - 1));
  assert.equal(text.writes, 0);
  const flushed = out2.append("z");
  assert.equal(text.writes, 1);
  await flushed;
  assert.equal(text.bytes.length, WRITE_HIGH_WATER);
}, PURE);

test(
  "a large array is copied like a small one: the caller may change it at once",
  async () => {
    const data = pattern(100_000);
    const sink = new MemorySink([30_000]);
    const { out } = into(sink);
    const appended = out.append(data);
    data.fill(0); // before the write has settled
    await appended;
    await out.flush();
    assert.ok(sink.given.every((view) => view.buffer !== data.buffer));
    assertBytes(sink.bytes, pattern(100_000));
    // With bytes buffered before it, it is copied behind them.
    const sink2 = new MemorySink();
    const { out: out2 } = into(sink2);
    await out2.append("head");
    await out2.append(pattern(100_000));
    await out2.flush();
    assertBytes(sink2.bytes, [...encoder.encode("head"), ...pattern(100_000)]);
  },
  PURE,
);

test(
  "writes while a drain waits on the sink go out after it, in order",
  async () => {
    const sink = new MemorySink([5]);
    const { out } = into(sink);
    sink.gate();
    await out.append("first ");
    const flushed = out.flush();
    await out.append("second ");
    await out.append(pattern(2000)); // grows the buffer under the drain
    await out.append("third");
    sink.open();
    await flushed;
    await out.flush();
    assertBytes(sink.bytes, [
      ...encoder.encode("first second "),
      ...pattern(2000),
      ...encoder.encode("third"),
    ]);
  },
  PURE,
);

test(
  "property: any writes, any flushes, any sink sizes: every byte in order",
  async () => {
    // ASCII, the first code point past it, two to four bytes, a lone
    // surrogate (sent as U+FFFD) and U+FEFF.
    const char = fc.constantFrom(
      ..."abcdefghij".split(""),
      "\u007f",
      "\u0080",
      "é",
      "€",
      "😀",
      "\uD800",
      "\uFEFF",
    );
    const action = fc.oneof(
      fc.array(char, { maxLength: 100 }).map((c) => ({ text: c.join("") })),
      fc.integer({ min: 0, max: 800 }).map((n) => ({ bytes: n })),
      fc.constant({ flush: true }),
      fc.constant({ wait: true }),
    );
    await fc.assert(
      fc.asyncProperty(
        fc.array(action, { maxLength: 30 }),
        fc.array(
          fc.oneof(
            fc.integer({ min: 1, max: 8 }),
            fc.integer({ min: 1, max: 700 }),
          ),
          {
            minLength: 1,
            maxLength: 8,
          },
        ),
        async (actions, sizes) => {
          const sink = new MemorySink(sizes);
          const { out } = into(sink);
          const expected: number[] = [];
          const pending: Promise<void>[] = [];
          let seed = 0;
          for (const a of actions) {
            if ("text" in a) {
              pending.push(out.append(a.text));
              expected.push(...encoder.encode(a.text));
            } else if ("bytes" in a) {
              const data = pattern(a.bytes, seed++);
              pending.push(out.append(data));
              expected.push(...data);
            } else if ("flush" in a) {
              pending.push(out.flush());
            } else {
              await new Promise((resolve) => setTimeout(resolve, 0));
            }
          }
          await Promise.all(pending);
          await out.flush();
          assertBytes(sink.bytes, expected);
          assert.equal(sink.overlapped, false);
        },
      ),
      { numRuns: 100 },
    );
  },
  PURE,
);

test(
  "property: a large write through a sink that takes odd sizes arrives whole",
  async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: WRITE_HIGH_WATER, max: 3 * WRITE_HIGH_WATER }),
        fc.array(fc.integer({ min: 1, max: 40_000 }), {
          minLength: 1,
          maxLength: 5,
        }),
        fc.boolean(),
        async (n, sizes, buffered) => {
          const sink = new MemorySink(sizes);
          const { out } = into(sink);
          const data = pattern(n, n);
          if (buffered) await out.append("x");
          await out.append(data);
          await out.append("tail");
          await out.flush();
          assertBytes(sink.bytes, [
            ...(buffered ? [120] : []),
            ...data,
            ...encoder.encode("tail"),
          ]);
        },
      ),
      { numRuns: 25 },
    );
  },
  PURE,
);

test(
  "a failing sink rejects the flush with a socket error, and later writes with it",
  async () => {
    const cases: [Error, boolean][] = [
      [new Deno.errors.ConnectionReset("connection reset by peer"), true],
      [new Deno.errors.BrokenPipe("broken pipe"), false],
    ];
    for (const [cause, isReset] of cases) {
      const sink = new MemorySink([4]);
      const { out, resets } = into(sink);
      await out.append("some bytes");
      sink.fail(cause);
      const error = await out.flush().then(
        () => assert.fail("the flush should fail"),
        (e: unknown) => e,
      );
      assert.ok(error instanceof ConnectionResetError, cause.name);
      assert.ok(error instanceof SocketError);
      assert.equal(error.cause, cause);
      assert.match(error.message, /^Cannot write to the peer: /);
      assert.equal(out.error, error);
      assert.equal(out.length, 0, "what was buffered is dropped");
      const writes = sink.writes;
      await assert.rejects(out.append("more"), (e) => e === error);
      await assert.rejects(out.flush(), (e) => e === error);
      assert.equal(sink.writes, writes, "the failed sink is not written again");
      assert.equal(resets.resetSeen, isReset ? cause : undefined);
    }
  },
  PURE,
);

test(
  "a failure at the high-water mark is the flush's, and the next flush's",
  async () => {
    const sink = new MemorySink();
    const { out } = into(sink);
    sink.fail(new Deno.errors.BrokenPipe("gone"));
    // Nobody awaits this one: it must not be an unhandled rejection.
    out.append(new Uint8Array(WRITE_HIGH_WATER));
    await new Promise((resolve) => setTimeout(resolve, 0));
    await assert.rejects(out.flush(), ConnectionResetError);
  },
  PURE,
);

test(
  "a reset met by a write makes the reading side's end of stream a reset",
  async () => {
    const source = new MemorySource([encoder.encode("last\n")], "end");
    const input = new ReadBuffer(source, 1 << 16, () => "the peer");
    const sink = new MemorySink();
    const out = new WriteBuffer(sink, () => "the peer", new IdleClock(), input);
    await out.append("request");
    sink.fail(new Deno.errors.ConnectionReset("connection reset by peer"));
    await assert.rejects(out.flush(), ConnectionResetError);
    assert.equal(await drive(input, lineStep(input, 100)), "last");
    await assert.rejects(
      drive(input, lineStep(input, 100)),
      ConnectionResetError,
    );
  },
  PURE,
);

test(
  "close() during a drain gives the slab piece back only when the drain ends",
  async () => {
    const sink = new MemorySink([3]);
    const { out, clock } = into(sink);
    await out.append("held by the sink");
    sink.gate();
    const flushed = out.flush();
    const inUse = sink.given[0]!;
    assert.equal(inUse.length, 16);
    out.close(undefined);
    assert.equal(clock.draining, true);
    assertNotHandedOut(inUse);
    sink.open();
    await flushed;
    assert.equal(sink.text, "held by the sink", "the drain finished unharmed");
    assert.ok(nextPieceIs(inUse), "the piece is back once the drain ended");
    assert.equal(out.length, 0);
  },
  PURE,
);

test("close() with no drain gives the piece back at once", async () => {
  const sink = new MemorySink();
  const { out } = into(sink);
  await out.append("x");
  await out.flush();
  const used = sink.given[0]!;
  out.close(undefined);
  assert.ok(nextPieceIs(used));
  // Closed twice, the piece is not given back twice.
  out.close(undefined);
  const a = takePiece();
  const b = takePiece();
  givePiece(b);
  givePiece(a);
  assert.ok(!overlap(a, b));
}, PURE);

test(
  "a buffer that grows during a drain gives the old piece back when the drain ends",
  async () => {
    const sink = new MemorySink([2]);
    const { out } = into(sink);
    await out.append("abc");
    sink.gate();
    const flushed = out.flush();
    const inUse = sink.given[0]!;
    await out.append(pattern(5000));
    assertNotHandedOut(inUse);
    sink.open();
    await flushed;
    await out.flush();
    assertBytes(sink.bytes, [...encoder.encode("abc"), ...pattern(5000)]);
    assert.ok(nextPieceIs(inUse));
  },
  PURE,
);

test(
  "a sink that fails after close() rejects with the close's reason",
  async () => {
    const sink = new MemorySink([1]);
    const { out, resets } = into(sink);
    await out.append("bytes");
    sink.gate();
    const flushed = out.flush();
    const reason = new ConnectionClosedError("closed while sending");
    out.close(reason);
    sink.fail(new Deno.errors.BadResource("closed"));
    sink.open();
    await assert.rejects(flushed, (e) => e === reason);
    assert.equal(resets.resetSeen, undefined);
    // Without a reason: a plain close, naming the peer.
    const sink2 = new MemorySink([1]);
    const { out: out2 } = into(sink2);
    await out2.append("bytes");
    sink2.gate();
    const flushed2 = out2.flush();
    out2.close(undefined);
    const cause = new Deno.errors.BadResource("closed");
    sink2.fail(cause);
    sink2.open();
    await assert.rejects(
      flushed2,
      (e: unknown) =>
        e instanceof ConnectionClosedError && e.cause === cause &&
        /^Cannot write to the peer: the socket is closed/.test(e.message),
    );
  },
  PURE,
);

test("the watcher hears of each write, and traffic counts them", async () => {
  const sink = new MemorySink([4]);
  const { out } = into(sink);
  let told = 0;
  out.watcher = { beforeWrite: () => void told++ };
  await out.append("0123456789");
  await out.flush();
  assert.equal(sink.writes, 3);
  assert.equal(told, 3);
  assert.equal(out.traffic, 3);
  await out.flush();
  assert.equal(sink.writes, 3, "an empty flush writes nothing");
}, PURE);

test(
  "a write after a failure fails with it, small or large, and leaves the sink alone",
  async () => {
    const sink = new MemorySink();
    const { out } = into(sink);
    await out.append("x");
    sink.fail(new Deno.errors.BrokenPipe("gone"));
    const error = await out.flush().then(() => undefined, (e: unknown) => e);
    assert.ok(error instanceof ConnectionResetError);
    const writes = sink.writes;
    await assert.rejects(out.append("small"), (e) => e === error);
    await assert.rejects(out.append(new Uint8Array(100)), (e) => e === error);
    await assert.rejects(
      out.append(new Uint8Array(WRITE_HIGH_WATER + 1)),
      (e) => e === error,
    );
    assert.equal(sink.writes, writes, "the failed sink is not written again");
    assert.equal(out.error, error, "the first failure is the one kept");
    assert.equal(out.length, 0, "nothing piles up behind the failure");
  },
  PURE,
);

test(
  "commit() appends what was put in the view reserve() gave, and refuses any other count",
  async () => {
    const sink = new MemorySink();
    const { out } = into(sink);
    assert.throws(() => out.commit(0), TypeError, "nothing was reserved");
    const view = out.reserve(3);
    view.set([1, 2, 3]);
    await out.commit(1);
    assert.equal(out.length, 1);
    assert.equal(sink.writes, 0, "a small commit waits for a flush");
    assert.throws(
      () => out.commit(0),
      /nothing is reserved/,
      "one reservation, one commit",
    );
    for (const bad of [-1, 1.5, NaN]) {
      out.reserve(4);
      assert.throws(() => out.commit(bad), RangeError);
    }
    const whole = out.reserve(4);
    await out.commit(whole.length);
    assert.equal(out.length, 1 + whole.length, "the whole view may be used");
    const more = out.reserve(1);
    assert.throws(() => out.commit(more.length + 1), {
      name: "RangeError",
      message: /no larger than the view reserve\(\) gave/,
    });
    out.reserve(0);
    await out.commit(0);
    assert.equal(out.length, 1 + whole.length);
    await out.flush();
    assert.equal(sink.bytes[0], 1);
    assert.equal(out.bytes, 1 + whole.length);
  },
  PURE,
);

test(
  "a write between reserve() and commit() makes the commit fail, even from empty",
  async () => {
    const sink = new MemorySink();
    const { out } = into(sink);
    out.reserve(4);
    await out.append("x");
    assert.throws(() => out.commit(1), /changed since reserve\(\)/);
    assert.equal(out.length, 1);
    await out.flush();
    assert.equal(sink.text, "x");
  },
  PURE,
);

test(
  "a commit reaching 64 KiB starts a flush by itself, and only then",
  async () => {
    const sink = new MemorySink();
    const { out } = into(sink);
    out.reserve(WRITE_HIGH_WATER);
    await out.commit(WRITE_HIGH_WATER - 1);
    assert.equal(sink.writes, 0);
    out.reserve(1);
    const flushed = out.commit(1);
    assert.equal(sink.writes, 1, "the commit that reached 64 KiB wrote");
    await flushed;
    assert.equal(sink.bytes.length, WRITE_HIGH_WATER);
    assert.equal(out.bytes, WRITE_HIGH_WATER);
  },
  PURE,
);

test(
  "the output buffer: a slab piece, grown to 4 KiB then doubling, sized to fit",
  () => {
    const { out } = into(new MemorySink());
    assert.equal(out.reserve(PIECE_SIZE).length, PIECE_SIZE, "one piece");
    out.reserve(0);
    void out.commit(1);
    // Exactly full: no growth.
    assert.equal(out.reserve(PIECE_SIZE - 1).length, PIECE_SIZE - 1);
    // One byte more: the first growth is to 4 KiB.
    assert.equal(out.reserve(PIECE_SIZE).length, 4 * 1024 - 1);
    // Exactly 8 KiB needed: 8 KiB.
    assert.equal(out.reserve(8 * 1024 - 1).length, 8 * 1024 - 1);
    assert.equal(out.reserve(8 * 1024).length, 16 * 1024 - 1);
    const big = into(new MemorySink()).out;
    assert.equal(big.reserve(PIECE_SIZE + 1).length, 4 * 1024);
    const bigger = into(new MemorySink()).out;
    assert.equal(bigger.reserve(5000).length, 8 * 1024);
    bigger.close(undefined);
    big.close(undefined);
    out.close(undefined);
  },
  PURE,
);

test(
  "a piece outgrown with no drain is given back at once, and a drained piece is kept",
  async () => {
    const sink = new MemorySink();
    const { out } = into(sink);
    await out.append("x");
    const piece = out.reserve(0);
    await out.flush();
    assert.ok(!nextPieceIs(piece), "the drained buffer still holds its piece");
    await out.append(pattern(3000));
    assert.ok(nextPieceIs(piece), "outgrown, the piece is back");
    await out.flush();
    assertBytes(sink.bytes, [...encoder.encode("x"), ...pattern(3000)]);
    out.close(undefined);
  },
  PURE,
);

test(
  "after a drain, a buffer of up to 256 KiB is kept for the next writes, a larger one dropped",
  async () => {
    for (
      const [size, kept] of [[256 * 1024, true], [512 * 1024, false]] as const
    ) {
      const sink = new MemorySink();
      const { out } = into(sink);
      await out.append("x");
      const view = out.reserve(size - 1);
      assert.equal(view.length, size - 1);
      await out.commit(size - 1);
      await out.flush();
      assert.equal(sink.bytes.length, size);
      const after = out.reserve(0);
      assert.equal(after.length, kept ? size : 0, `${size} bytes`);
      assert.equal(after.buffer === view.buffer, kept);
      out.close(undefined);
    }
    // A slab piece is kept after its drain.
    const { out } = into(new MemorySink());
    await out.append("x");
    const piece = out.reserve(0);
    await out.flush();
    assert.equal(out.reserve(0).buffer, piece.buffer);
    assert.equal(out.reserve(0).length, PIECE_SIZE);
    out.close(undefined);
  },
  PURE,
);

test("an empty flush keeps a buffer reserved but not yet used", async () => {
  const sink = new MemorySink();
  const { out } = into(sink);
  const view = out.reserve(300 * 1024);
  await out.flush();
  assert.equal(sink.writes, 0);
  assert.equal(out.reserve(0).buffer, view.buffer);
  assert.equal(out.reserve(0).length, 512 * 1024);
}, PURE);

test(
  "a sink whose write throws at once leaves no drain behind",
  async () => {
    const failure = new Deno.errors.BrokenPipe("gone");
    const sink = {
      write(_: Uint8Array): Promise<number> {
        throw failure;
      },
    };
    const clock = new IdleClock();
    const out = new WriteBuffer(sink, () => "the peer", clock, {
      resetSeen: undefined,
    });
    await out.append("x");
    await assert.rejects(out.flush(), ConnectionResetError);
    assert.equal(out.flushing, undefined);
    assert.equal(clock.draining, false);
  },
  PURE,
);

test(
  "a bounded flush: a bad timeout is refused, and a signal's abort closes the connection and says so",
  async () => {
    const expiry = new Expiry();
    const closedWith: ConnectionClosedError[] = [];
    const abort = (error: ConnectionClosedError) => void closedWith.push(error);
    const never = new Promise<void>(() => {});
    for (const timeout of [-1, NaN]) {
      await assert.rejects(
        flushWithin(never, expiry, false, { timeout }, () => "the peer", abort),
        { name: "RangeError", message: /Cannot use timeout/ },
      );
    }
    assert.equal(closedWith.length, 0, "a refused flush aborts nothing");
    const controller = new AbortController();
    const reason = new Error("stop");
    const cut = flushWithin(
      never,
      expiry,
      false,
      { signal: controller.signal },
      () => "the peer",
      abort,
    );
    controller.abort(reason);
    await assert.rejects(cut, (e) => e === reason);
    assert.equal(closedWith.length, 1);
    assert.equal(
      closedWith[0]!.message,
      "Cannot use the connection to the peer: it was aborted when a flush was aborted",
    );
    // A flush that ends in time resolves, with nothing aborted.
    await flushWithin(
      Promise.resolve(),
      expiry,
      false,
      { signal: new AbortController().signal, timeout: 60_000 },
      () => "the peer",
      abort,
    );
    assert.equal(closedWith.length, 1);
    // A flush that fails by itself is done: a later abort closes nothing.
    const later = new AbortController();
    await assert.rejects(
      flushWithin(
        Promise.reject(new Error("the sink failed")),
        expiry,
        false,
        { signal: later.signal },
        () => "the peer",
        abort,
      ),
      /the sink failed/,
    );
    later.abort(new Error("too late"));
    assert.equal(closedWith.length, 1);
    expiry.stop();
  },
  PURE,
);
