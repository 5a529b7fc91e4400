// Reads for protocols: lines as bytes, readWith() and readBatch() with a
// parser that says how many bytes it needs, null at a clean end between
// messages, and readBody() for a body larger than the buffer.
import assert from "node:assert/strict";
import {
  EndOfStreamError,
  LimitExceededError,
  type Parser,
  TimeoutError,
} from "../mod.ts";
import { batchStep, parseStep } from "../lib/_parse_steps.ts";
import { NEED, ReadBuffer } from "../lib/_read_buffer.ts";
import { pattern, socketPair, test } from "./_helpers.ts";

const T = { timeout: 2000 };

/** A message: a 4-byte big-endian length, then that many bytes. */
const framed: Parser<Uint8Array> = (bytes) => {
  if (bytes.length < 4) return undefined;
  const total = 4 + new DataView(bytes.buffer, bytes.byteOffset).getUint32(0);
  if (bytes.length < total) return total;
  return { value: bytes.slice(4, total), length: total };
};

function frame(body: Uint8Array): Uint8Array {
  const out = new Uint8Array(4 + body.length);
  new DataView(out.buffer).setUint32(0, body.length);
  out.set(body, 4);
  return out;
}

/** A read buffer over bytes given in pieces, for the steps alone. */
function bufferOf(...pieces: number[][]): ReadBuffer {
  const chunks = pieces.map((p) => new Uint8Array(p));
  return new ReadBuffer(
    {
      read(into) {
        const chunk = chunks.shift();
        if (chunk === undefined) return Promise.resolve(null);
        into.set(chunk);
        return Promise.resolve(chunk.length);
      },
    },
    64,
    () => "memory",
  );
}

Deno.test({
  name:
    "parseStep: a parser that asks for n bytes in all is not called again until they are buffered",
  permissions: "none",
  async fn() {
    const buffer = bufferOf([0, 0, 0, 5, 1], [2], [3, 4], [5, 0, 0]);
    let calls = 0;
    const step = parseStep(buffer, (bytes, eof) => {
      calls++;
      return framed(bytes, eof);
    });
    await buffer.fill();
    assert.equal(step(), NEED);
    assert.equal(calls, 1);
    await buffer.fill();
    assert.equal(step(), NEED);
    await buffer.fill();
    assert.equal(step(), NEED);
    assert.equal(calls, 1); // 7 of 9 bytes: not called
    await buffer.fill();
    assert.deepEqual(step(), new Uint8Array([1, 2, 3, 4, 5]));
    assert.equal(calls, 2);
    assert.equal(buffer.size, 2);
  },
});

Deno.test({
  name:
    "parseStep/batchStep: null at a clean end, EndOfStreamError inside a message, bad counts are RangeErrors",
  permissions: "none",
  async fn() {
    const empty = bufferOf();
    await empty.fill();
    assert.equal(parseStep(empty, framed)(), null);
    assert.equal(batchStep(empty, framed)(), null);
    const cut = bufferOf([0, 0, 0, 9, 1]);
    await cut.fill();
    await cut.fill();
    assert.throws(() => parseStep(cut, framed)(), (error: unknown) => {
      assert.ok(error instanceof EndOfStreamError);
      assert.deepEqual(error.partial, new Uint8Array([0, 0, 0, 9, 1]));
      return true;
    });
    const some = bufferOf([1, 2, 3]);
    await some.fill();
    assert.throws(() => parseStep(some, () => 2)(), RangeError);
    assert.throws(() => parseStep(some, () => 65)(), LimitExceededError);
    assert.throws(
      () => parseStep(some, () => ({ value: 0, length: 4 }))(),
      RangeError,
    );
  },
});

Deno.test({
  name:
    "batchStep: every whole message buffered, the partial one left; length 0 ends a batch",
  permissions: "none",
  async fn() {
    const buffer = bufferOf([0, 0, 0, 1, 7, 0, 0, 0, 2, 8, 9, 0, 0, 0, 3, 1]);
    await buffer.fill();
    assert.deepEqual(batchStep(buffer, framed)(), [
      new Uint8Array([7]),
      new Uint8Array([8, 9]),
    ]);
    assert.equal(buffer.size, 5);
    let calls = 0;
    const zero = batchStep(buffer, () => ({ value: calls++, length: 0 }));
    assert.deepEqual(zero(), [0]);
  },
});

test("readLineBytes() and readLinesBytes() give every byte of a line, CRLF or LF ended, null at the end", async () => {
  await using pair = await socketPair();
  await pair.client.write(
    new Uint8Array([0xff, 0xfe, 13, 10, 65, 10, 66, 13, 10, 67, 10, 68]),
  );
  await pair.client.closeWrite();
  assert.deepEqual(
    await pair.server.readLineBytes(T),
    new Uint8Array([0xff, 0xfe]),
  );
  await pair.server.waitForInput(T);
  const batch = await pair.server.readLinesBytes(T);
  assert.deepEqual(batch, [
    new Uint8Array([65]),
    new Uint8Array([66]),
    new Uint8Array([67]),
  ]);
  // A copy: changing it changes nothing in the socket.
  batch![0]![0] = 0;
  assert.deepEqual(await pair.server.readLinesBytes(T), [new Uint8Array([68])]);
  assert.equal(await pair.server.readLineBytes(T), null);
  assert.equal(await pair.server.readLinesBytes(T), null);
});

test("readLineBytes() and readLinesBytes() refuse a line over maxLength and leave it buffered", async () => {
  await using pair = await socketPair();
  await pair.client.write("abcdef\n");
  await pair.client.flush();
  await pair.server.waitForInput(T);
  await assert.rejects(
    pair.server.readLineBytes({ maxLength: 3, ...T }),
    LimitExceededError,
  );
  await assert.rejects(
    pair.server.readLinesBytes({ maxLength: 3, ...T }),
    LimitExceededError,
  );
  assert.equal(await pair.server.readLine(T), "abcdef");
});

test("line reads need no options: readLine(), readLines(), readLineBytes() and readLinesBytes() wait without a time limit", async () => {
  await using pair = await socketPair();
  const { client, server } = pair;
  const first = server.readLine();
  await client.write("one\n");
  await client.flush();
  assert.equal(await first, "one");
  const bytes = server.readLineBytes();
  await client.write("two\n");
  await client.flush();
  assert.deepEqual(await bytes, new Uint8Array([116, 119, 111]));
  const batch = server.readLines();
  await client.write("three\n");
  await client.flush();
  assert.deepEqual(await batch, ["three"]);
  const byteBatch = server.readLinesBytes();
  await client.write("four\n");
  await client.closeWrite();
  assert.deepEqual(await byteBatch, [new Uint8Array([102, 111, 117, 114])]);
  assert.equal(await server.readLine(), null);
});

test("readWith() returns null at a clean close between messages, and a message split across reads", async () => {
  await using pair = await socketPair();
  const body = pattern(3000);
  const whole = frame(body);
  await pair.client.write(whole.subarray(0, 10));
  await pair.client.flush();
  const reading = pair.server.readWith(framed, T);
  await new Promise((resolve) => setTimeout(resolve, 20));
  await pair.client.write(whole.subarray(10));
  await pair.client.closeWrite();
  assert.deepEqual(await reading, body);
  assert.equal(await pair.server.readWith(framed, T), null);
});

test("readBatch() drains pipelined replies in one promise; a timeout loses nothing", async () => {
  await using pair = await socketPair();
  await assert.rejects(
    pair.client.readBatch(framed, { timeout: 10 }),
    TimeoutError,
  );
  for (let i = 0; i < 5; i++) await pair.server.write(frame(pattern(10, i)));
  await pair.server.write(frame(pattern(10, 5)).subarray(0, 7));
  await pair.server.flush();
  const got: Uint8Array[] = [];
  while (got.length < 5) got.push(...(await pair.client.readBatch(framed, T))!);
  assert.deepEqual(got, [0, 1, 2, 3, 4].map((i) => pattern(10, i)));
  await pair.server.write(frame(pattern(10, 5)).subarray(7));
  await pair.server.close();
  assert.deepEqual(await pair.client.readBatch(framed, T), [pattern(10, 5)]);
  assert.equal(await pair.client.readBatch(framed, T), null);
});

test("readBody() reads a body larger than maxBufferSize with a timeout; a timeout's partial lets it go on", async () => {
  await using pair = await socketPair({ maxBufferSize: 4096 });
  const body = pattern(200_000);
  const into = new Uint8Array(body.length);
  await pair.client.write(body.subarray(0, 50_000));
  await pair.client.flush();
  let filled = 0;
  await assert.rejects(
    pair.server.readBody(into, { timeout: 100 }),
    (error: unknown) => {
      assert.ok(error instanceof TimeoutError);
      filled = error.partial!.length;
      return true;
    },
  );
  // What was filled left the socket; the rest is still to come.
  assert.ok(filled <= 50_000);
  assert.equal(pair.server.buffered, 0);
  await pair.client.write(body.subarray(50_000));
  await pair.client.flush();
  await pair.server.readBody(into.subarray(filled), { timeout: 5000 });
  assert.deepEqual(into, body);
  // readFull() with a timeout is still bound by the buffer.
  await assert.rejects(
    pair.server.readFull(new Uint8Array(5000), T),
    LimitExceededError,
  );
});

test("readBody() at the end of the stream is an EndOfStreamError with the part filled", async () => {
  await using pair = await socketPair();
  await pair.client.write("abc");
  await pair.client.closeWrite();
  await assert.rejects(
    pair.server.readBody(new Uint8Array(10), T),
    (error: unknown) => {
      assert.ok(error instanceof EndOfStreamError);
      assert.equal(new TextDecoder().decode(error.partial), "abc");
      return true;
    },
  );
});
