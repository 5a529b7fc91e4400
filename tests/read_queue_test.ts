// The read queue over in-memory sources: reads are served one at a time in
// call order, and one that gives up while it waits takes nothing with it.
import assert from "node:assert/strict";
import fc from "npm:fast-check@3";
import type { WaitOptions } from "../lib/_deadline.ts";
import { Expiry } from "../lib/_expiry.ts";
import { IdleClock } from "../lib/_idle.ts";
import { NEED, ReadBuffer } from "../lib/_read_buffer.ts";
import { ReadQueue } from "../lib/_read_queue.ts";
import { bodyStep, exactStep, fullStep, someStep } from "../lib/_read_steps.ts";
import {
  ConnectionClosedError,
  ConnectionResetError,
  EndOfStreamError,
  LimitExceededError,
  SocketError,
  TimeoutError,
} from "../lib/errors.ts";
import { test } from "./_helpers.ts";
import {
  assertBytes,
  cutAt,
  drive,
  lineStep,
  MemorySource,
} from "./_memory.ts";

const PURE = { permissions: "none" } as const;
const encoder = new TextEncoder();
const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);

/** A queue over a source that waits for the test to push its bytes. */
function queued(max = 1 << 20) {
  const source = new MemorySource();
  const buffer = new ReadBuffer(source, max, () => "the peer");
  const clock = new IdleClock();
  // The queue's timer, stopped when the test is done with it, as a
  // socket's is when it closes.
  const expiry = new Expiry();
  const queue = new ReadQueue(buffer, clock, expiry, () => "");
  const line = (options?: WaitOptions) =>
    queue.run(lineStep(buffer, 1000), options, "read a line");
  const exact = (n: number, options?: WaitOptions) =>
    queue.run(
      exactStep(buffer, n, options !== undefined),
      options,
      `read ${n} bytes`,
    );
  return {
    source,
    buffer,
    clock,
    queue,
    line,
    exact,
    [Symbol.dispose]: () => expiry.stop(),
  };
}

/** What a promise settled with, without letting it reject. */
const settled = <T>(promise: Promise<T>) =>
  promise.then(
    (value) => ({ value }),
    (error: unknown) => ({ error }),
  );

test("overlapping reads are served in call order", async () => {
  using q = queued();
  const { source, queue, line, exact } = q;
  const order: string[] = [];
  const reads = [
    exact(5, { timeout: 5000 }).then((v) => (order.push("0"), text(v))),
    line().then((v) => (order.push("a"), v)),
    exact(3).then((v) => (order.push("b"), text(v))),
    line().then((v) => (order.push("c"), v)),
    line().then((v) => (order.push("d"), v)),
  ];
  assert.equal(queue.reading, 5, "all five wait");
  source.push("ab\n");
  await new Promise((resolve) => setTimeout(resolve, 0));
  source.push("cdone\nab");
  source.push("ctwo\r");
  source.push("\nthree");
  source.end();
  assert.deepEqual(await Promise.all(reads), [
    "ab\ncd",
    "one",
    "abc",
    "two",
    "three",
  ]);
  assert.deepEqual(order, ["0", "a", "b", "c", "d"]);
  assert.equal(queue.reading, 0);
  assert.equal(source.overlapped, false, "one read of the source at a time");
}, PURE);

test(
  "a read that can finish from the buffer does so at once, unless reads wait before it",
  async () => {
    using q = queued();
    const { source, buffer, queue, line } = q;
    source.push("x\ny\n");
    await buffer.fill();
    // Nothing waits: the line is taken before run() returns.
    const first = line();
    assert.equal(buffer.size, 2);
    assert.equal(await first, "x");
    // A read waits: the next one takes its turn, even with its line buffered.
    const waiting = queue.run(exactStep(buffer, 3, false), undefined, "read");
    const after = line();
    assert.equal(buffer.size, 0, "the waiting read took what was buffered");
    source.push("zw\n");
    assert.equal(text(await waiting), "y\nz");
    assert.equal(await after, "w");
  },
  PURE,
);

test(
  "a queued read whose timeout passes leaves the queue and takes nothing",
  async () => {
    using q = queued();
    const { source, queue, clock, line, exact } = q;
    // The read before it needs more than the one after it: the one after
    // must still wait its turn once the middle one has left.
    const a = exact(8, { timeout: 5000 });
    const b = settled(line({ timeout: 5 }));
    const c = line();
    const timedOut = await b;
    assert.ok("error" in timedOut && timedOut.error instanceof TimeoutError);
    assert.match(
      (timedOut.error as Error).message,
      /^Cannot read a line from the peer: timed out after 5 ms/,
    );
    assert.equal(queue.reading, 2, "a and c still wait");
    source.push("ab\n");
    await new Promise((resolve) => setTimeout(resolve, 0));
    source.push("cdefgrest\n");
    assert.equal(text(await a), "ab\ncdefg");
    assert.equal(await c, "rest", "the read after it gets the next line");
    assert.equal(queue.reading, 0);
    assert.equal(clock.waiters, 0, "every wait has ended");
  },
  PURE,
);

test(
  "a queued read whose signal aborts leaves the queue and takes nothing",
  async () => {
    using q = queued();
    const { source, queue, line, exact } = q;
    const controller = new AbortController();
    const a = exact(8, { timeout: 5000 });
    const b = settled(line({ signal: controller.signal }));
    const c = line();
    const reason = new Error("no longer wanted");
    controller.abort(reason);
    assert.deepEqual(await b, { error: reason });
    source.push("ab\n");
    await new Promise((resolve) => setTimeout(resolve, 0));
    source.push("cdefgrest\n");
    assert.equal(text(await a), "ab\ncdefg");
    assert.equal(await c, "rest");
    assert.equal(queue.reading, 0);
  },
  PURE,
);

test(
  "a read that times out while bytes come leaves them for the next read",
  async () => {
    using q = queued();
    const { source, buffer, clock, line } = q;
    const first = settled(line({ timeout: 20 }));
    source.push("par");
    const timedOut = await first;
    assert.ok("error" in timedOut && timedOut.error instanceof TimeoutError);
    assert.equal(buffer.size, 3, "the partial line stays buffered");
    // The read of the source it started is still in flight; the next read
    // waits for that one rather than starting another.
    const next = line();
    assert.equal(source.busy, true);
    const reads = source.reads;
    source.push("tial\n");
    assert.equal(await next, "partial");
    assert.equal(
      source.reads,
      reads,
      "no second read of the source was started",
    );
    assert.equal(source.overlapped, false);
    assert.equal(clock.waiters, 0);
  },
  PURE,
);

test(
  "an aborted read of counted bytes gives them all to the next read",
  async () => {
    using q = queued();
    const { source, exact } = q;
    const controller = new AbortController();
    const first = settled(
      exact(6, { timeout: 5000, signal: controller.signal }),
    );
    source.push("abc");
    await new Promise((resolve) => setTimeout(resolve, 0));
    controller.abort(new Error("stop"));
    assert.ok("error" in await first);
    const next = exact(6);
    source.push("def");
    assert.equal(text(await next), "abcdef");
  },
  PURE,
);

test("reading after an error gives the error, to every read", async () => {
  using q = queued();
  const { source, queue, line } = q;
  source.push("ok\n");
  assert.equal(await line(), "ok");
  const waiting = [settled(line()), settled(line()), settled(line())];
  const cause = new Deno.errors.ConnectionReset("connection reset by peer");
  source.fail(cause);
  const results = await Promise.all(waiting);
  const first = results[0]!;
  assert.ok("error" in first && first.error instanceof ConnectionResetError);
  assert.ok(first.error instanceof SocketError);
  assert.equal((first.error as Error).cause, cause);
  for (const result of results) assert.deepEqual(result, first);
  await assert.rejects(line(), (error) => error === first.error);
  await assert.rejects(
    line({ timeout: 100 }),
    (error) => error === first.error,
  );
  assert.equal(queue.reading, 0);
  assert.equal(source.reads, 2, "no read of the source after the failure");
}, PURE);

test(
  "a source that fails gives a SocketError subclass that says what to do",
  async () => {
    const cases: [Error, new (...args: never[]) => SocketError, RegExp][] = [
      [new Deno.errors.ConnectionReset("x"), ConnectionResetError, /reset/],
      [new Deno.errors.BrokenPipe("x"), ConnectionResetError, /closed/],
      [new Deno.errors.ConnectionAborted("x"), ConnectionResetError, /aborted/],
      [
        new Deno.errors.NotConnected("x"),
        ConnectionResetError,
        /not connected/,
      ],
      [new Deno.errors.BadResource("x"), ConnectionClosedError, /closed/],
      [new Deno.errors.Interrupted("x"), ConnectionClosedError, /closed/],
    ];
    for (const [cause, mapped, says] of cases) {
      using q = queued();
      const { source, line } = q;
      const read = settled(line());
      source.fail(cause);
      const result = await read;
      assert.ok("error" in result);
      assert.ok(
        result.error instanceof mapped,
        `${cause.name}: ${mapped.name}`,
      );
      assert.match(
        (result.error as Error).message,
        /^Cannot read from the peer: /,
      );
      assert.match((result.error as Error).message, says);
    }
  },
  PURE,
);

test(
  "a step that throws fails its read, and the next read goes on",
  async () => {
    using q = queued();
    const { source, line, queue, buffer } = q;
    const long = settled(
      queue.run(lineStep(buffer, 3), undefined, "read a line"),
    );
    const next = line();
    source.push("toolong\nshort\n");
    const failed = await long;
    assert.ok("error" in failed && failed.error instanceof LimitExceededError);
    assert.equal(
      await next,
      "toolong",
      "the long line stayed for the next read",
    );
    assert.equal(await line(), "short");
  },
  PURE,
);

test(
  "a step that still needs more at the end of the stream fails with EndOfStreamError",
  async () => {
    using q = queued();
    const { source, queue } = q;
    const never = settled(queue.run(() => NEED, undefined, "read"));
    source.push("abc");
    source.end();
    const result = await never;
    assert.ok("error" in result && result.error instanceof EndOfStreamError);
    assert.match((result.error as Error).message, /the stream ended/);
    assert.equal(queue.reading, 0);
  },
  PURE,
);

test("a bad timeout is refused when the read has to wait", async () => {
  using q = queued();
  const { queue, line } = q;
  await assert.rejects(line({ timeout: -1 }), RangeError);
  await assert.rejects(line({ timeout: NaN }), RangeError);
  assert.equal(queue.reading, 0);
}, PURE);

test(
  "a read with a deadline never reads straight into the caller's array",
  async () => {
    using q = queued();
    const { source, buffer, queue } = q;
    const into = new Uint8Array(64 * 1024);
    // The step asks for a direct read; the deadline overrules it.
    const read = queue.run(
      someStep(buffer, into, true),
      { timeout: 5000 },
      "read",
    );
    source.push(new Uint8Array(100).fill(7));
    assert.equal(await read, 100);
    assert.ok(source.given.every((array) => array.buffer !== into.buffer));
    // Without one, it does.
    const direct = queue.run(someStep(buffer, into, true), undefined, "read");
    source.push(new Uint8Array(50).fill(9));
    assert.equal(await direct, 50);
    assert.equal(source.given.at(-1), into);
  },
  PURE,
);

test(
  "the idle clock counts a wait per waiting read, and none once they settle",
  async () => {
    using q = queued();
    const { source, clock, line } = q;
    const a = line();
    const b = settled(line({ timeout: 1 }));
    assert.equal(
      clock.waiters,
      1,
      "only the read at the head waits on the peer",
    );
    await b;
    const c = line();
    source.push("1\n2\n");
    await Promise.all([a, c]);
    assert.equal(clock.waiters, 0);
    assert.equal(clock.idleTime(0), 0, "nothing waits: not idle");
  },
  PURE,
);

test(
  "property: reads started together give what they give one after another",
  async () => {
    type Read = { kind: "line" } | { kind: "exact"; n: number };
    const read: fc.Arbitrary<Read> = fc.oneof(
      fc.constant({ kind: "line" } as const),
      fc.record({ kind: fc.constant("exact" as const), n: fc.nat({ max: 6 }) }),
    );
    const chars = fc.constantFrom("a", "b", "\n", "\r\n", "€");
    await fc.assert(
      fc.asyncProperty(
        fc.array(chars, { maxLength: 40 }).map((parts) => parts.join("")),
        fc.array(fc.nat({ max: 80 }), { maxLength: 20 }),
        fc.array(read, { minLength: 1, maxLength: 10 }),
        fc.array(fc.boolean(), { minLength: 10, maxLength: 10 }),
        async (input, cuts, reads, timeouts) => {
          const bytes = encoder.encode(input);
          // One at a time, over the whole input.
          const alone = new ReadBuffer(
            new MemorySource([bytes], "end"),
            1 << 20,
            () => "",
          );
          const expected = [];
          for (const r of reads) {
            expected.push(
              await settled<unknown>(
                r.kind === "line"
                  ? drive(alone, lineStep(alone, 1000))
                  : drive(alone, exactStep(alone, r.n, false)),
              ),
            );
          }
          // All at once through the queue, some with a long timeout, over
          // the input cut at random.
          using q = queued();
          const { source, line, exact } = q;
          const started = reads.map((r, i) => {
            const options = timeouts[i] ? { timeout: 5000 } : undefined;
            return settled<unknown>(
              r.kind === "line" ? line(options) : exact(r.n, options),
            );
          });
          for (const chunk of cutAt(bytes, cuts)) source.push(chunk);
          source.end();
          const got = await Promise.all(started);
          const plain = (r: { value: unknown } | { error: unknown }) =>
            "value" in r
              ? {
                value: r.value instanceof Uint8Array ? [...r.value] : r.value,
              }
              : {
                error: (r.error as Error).name,
                partial: [...((r.error as EndOfStreamError).partial ?? [])],
              };
          assert.deepEqual(got.map(plain), expected.map(plain));
        },
      ),
      { numRuns: 200 },
    );
  },
  PURE,
);

test(
  "property: large and small reads together, direct or not, take every byte once, in order",
  async () => {
    type Big =
      | { kind: "full"; n: number; deadline: boolean }
      | { kind: "exact"; n: number; deadline: boolean }
      | { kind: "some"; k: number; deadline: boolean };
    const size = fc.oneof(
      fc.integer({ min: 1, max: 64 }),
      fc.integer({ min: 16 * 1024, max: 40 * 1024 }),
    );
    const big: fc.Arbitrary<Big> = fc.oneof(
      fc.record({
        kind: fc.constant("full" as const),
        n: size,
        deadline: fc.boolean(),
      }),
      fc.record({
        kind: fc.constant("exact" as const),
        n: size,
        deadline: fc.boolean(),
      }),
      fc.record({
        kind: fc.constant("some" as const),
        k: size,
        deadline: fc.boolean(),
      }),
    );
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: 120_000 }),
        fc.array(fc.integer({ min: 1, max: 30_000 }), {
          minLength: 1,
          maxLength: 6,
        }),
        fc.array(big, { minLength: 1, maxLength: 8 }),
        async (length, sizes, reads) => {
          const input = new Uint8Array(length).map((_, i) =>
            (i * 31 + 7) % 256
          );
          using q = queued();
          const { source, buffer, queue } = q;
          const intos: Uint8Array[] = [];
          const started = reads.map((r) => {
            const options = r.deadline ? { timeout: 5000 } : undefined;
            if (r.kind === "full") {
              const into = new Uint8Array(r.n);
              intos.push(into);
              return settled(queue.run(
                fullStep(buffer, into, r.deadline),
                options,
                "read",
              ));
            }
            if (r.kind === "exact") {
              return settled(queue.run(
                exactStep(buffer, r.n, r.deadline),
                options,
                "read",
              ));
            }
            const into = new Uint8Array(r.k);
            const direct = !r.deadline && r.k >= 16 * 1024;
            return settled(
              queue.run(someStep(buffer, into, direct), options, "read").then(
                (n) => n === null ? null : into.subarray(0, n),
              ),
            );
          });
          for (let at = 0, i = 0; at < input.length; i++) {
            const cut = sizes[i % sizes.length]!;
            source.push(input.subarray(at, at + cut));
            at += cut;
          }
          source.end();
          const got = await Promise.all(started);
          let cursor = 0;
          for (const [i, result] of got.entries()) {
            const r = reads[i]!;
            const rest = input.length - cursor;
            if ("error" in result) {
              // Only a read of counted bytes fails, and only at the end.
              assert.ok(
                result.error instanceof EndOfStreamError,
                String(result.error),
              );
              assert.notEqual(r.kind, "some");
              assertBytes(
                result.error.partial,
                input.subarray(cursor),
                `read ${i}'s partial`,
              );
              cursor = input.length;
              continue;
            }
            const bytes = result.value;
            if (bytes === null) {
              assert.equal(r.kind, "some");
              assert.equal(rest, 0, "null only at the end");
              continue;
            }
            if (r.kind === "some") {
              assert.ok(bytes.length >= 1 && bytes.length <= r.k);
            } else {
              assert.equal(bytes.length, r.n);
              assert.ok(r.n <= rest);
            }
            assertBytes(
              bytes,
              input.subarray(cursor, cursor + bytes.length),
              `read ${i}`,
            );
            cursor += bytes.length;
          }
          assert.equal(source.overlapped, false);
        },
      ),
      { numRuns: 25 },
    );
  },
  PURE,
);

test(
  "a read that fails from what is buffered fails at once, starting no read of the source",
  async () => {
    using q = queued();
    const { source, buffer, queue } = q;
    source.push("toolong\n");
    await buffer.fill();
    await assert.rejects(
      queue.run(lineStep(buffer, 3), undefined, "read a line"),
      LimitExceededError,
    );
    assert.equal(source.reads, 1);
    assert.equal(source.busy, false);
    assert.equal(queue.reading, 0);
  },
  PURE,
);

test(
  "a read that has part of what it needs keeps its turn: a read after it waits",
  async () => {
    using q = queued();
    const { source, queue, clock, line, exact } = q;
    const first = line();
    source.push("ab");
    // The line's step has seen "ab" and wants more.
    await new Promise((resolve) => setTimeout(resolve, 0));
    assert.equal(queue.reading, 1);
    assert.equal(clock.waiters, 1);
    const second = exact(2);
    source.push("c\nde");
    assert.equal(await first, "abc");
    assert.equal(text(await second), "de");
    assert.equal(clock.waiters, 0);
  },
  PURE,
);

test(
  "a read with a timeout that finishes from the buffer on its turn leaves no wait behind",
  async () => {
    using q = queued();
    const { source, queue, clock, line, exact } = q;
    const first = exact(4);
    const second = line({ timeout: 5000 });
    source.push("abcdx\n");
    assert.equal(text(await first), "abcd");
    assert.equal(await second, "x");
    assert.equal(queue.reading, 0);
    assert.equal(clock.waiters, 0, "no read waits on the peer");
    assert.equal(source.busy, false, "no read of the source was started");
  },
  PURE,
);

test(
  "readBody's timeout gives what it had taken as the TimeoutError's partial",
  async () => {
    using q = queued();
    const { source, buffer, queue } = q;
    source.push("abc");
    await buffer.fill();
    const into = new Uint8Array(8);
    const body = bodyStep(buffer, into);
    const result = await settled(
      queue.run(body.step, { timeout: 10 }, "read a body", body.partial),
    );
    assert.ok("error" in result && result.error instanceof TimeoutError);
    assert.deepEqual(result.error.partial, encoder.encode("abc"));
    // The rest of the body goes on from there.
    const rest = bodyStep(buffer, into.subarray(3));
    const more = queue.run(rest.step, undefined, "read a body", rest.partial);
    source.push("defgh");
    await more;
    assert.equal(text(into), "abcdefgh");
  },
  PURE,
);

test(
  "a read whose signal has already aborted fails when it would wait, taking nothing",
  async () => {
    using q = queued();
    const { source, queue, line, exact } = q;
    const reason = new Error("not wanted");
    const alone = settled(line({ signal: AbortSignal.abort(reason) }));
    const first = exact(1);
    const queuedToo = settled(line({ signal: AbortSignal.abort(reason) }));
    const after = line();
    source.push("1x\n");
    assert.deepEqual(await alone, { error: reason });
    assert.equal(text(await first), "1");
    assert.deepEqual(await queuedToo, { error: reason });
    assert.equal(await after, "x");
    assert.equal(queue.reading, 0);
  },
  PURE,
);

test(
  "a line that does not fit in maxBufferSize fails its read, with or without a timeout",
  async () => {
    for (const options of [undefined, { timeout: 5000 }]) {
      using q = queued(1024);
      const { source, buffer, queue } = q;
      const read = settled(
        queue.run(lineStep(buffer, 1 << 20), options, "read a line"),
      );
      source.push(new Uint8Array(2000).fill(120));
      const result = await read;
      assert.ok(
        "error" in result && result.error instanceof LimitExceededError,
        String("error" in result ? result.error : result.value),
      );
      assert.equal(result.error.limit, 1024);
      assert.equal(queue.reading, 0);
    }
  },
  PURE,
);

test(
  "a closed buffer fails a read that must wait with its reason, even at the end of the stream",
  async () => {
    for (const ended of [false, true]) {
      for (const options of [undefined, { timeout: 5000 }]) {
        using q = queued();
        const { source, buffer, queue } = q;
        if (ended) {
          source.end();
          await buffer.fill();
        }
        const reason = new ConnectionClosedError("closed by its owner");
        buffer.close(reason);
        // A step that still wants more, whatever the buffer holds.
        const read = settled(queue.run(() => NEED, options, "read"));
        assert.deepEqual(await read, { error: reason });
        assert.equal(queue.reading, 0);
      }
    }
  },
  PURE,
);
