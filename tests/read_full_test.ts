// readFull() and the reads that go straight into the caller's array, on
// real loopback sockets: nothing lost, duplicated or reordered.
import assert from "node:assert/strict";
import {
  ConnectionClosedError,
  EndOfStreamError,
  LimitExceededError,
  TimeoutError,
} from "../mod.ts";
import {
  delay,
  pattern,
  rawConnect,
  socketPair,
  test,
  writeAllRaw,
} from "./_helpers.ts";

const T = { timeout: 2000 };

test("readFull() fills a reused array record after record", async () => {
  await using pair = await socketPair();
  const data = pattern(10 * 1000);
  await pair.client.write(data);
  await pair.client.flush();
  const record = new Uint8Array(1000);
  for (let i = 0; i < 10; i++) {
    const got = await pair.server.readFull(record);
    assert.equal(got, record, "it returns the array it was given");
    assert.deepEqual(got, data.subarray(i * 1000, (i + 1) * 1000));
  }
});

test("readFull() of a large record takes buffered bytes first, then reads the rest straight in", async () => {
  await using pair = await socketPair();
  using raw = await rawConnect(pair.listener.port);
  await using server = await pair.listener.accept(T);
  const data = pattern(3 * 1024 * 1024, 7);
  await writeAllRaw(raw, data.subarray(0, 10));
  await server.peek(false, T);
  assert.equal(server.buffered, 10);
  const into = new Uint8Array(data.length);
  const full = server.readFull(into);
  await writeAllRaw(raw, data.subarray(10));
  assert.deepEqual(await full, data);
  assert.equal(server.buffered, 0);
});

test("readFull() with a timeout keeps every byte when it expires", async () => {
  await using pair = await socketPair();
  await pair.client.write(pattern(100));
  await pair.client.flush();
  const into = new Uint8Array(200);
  await assert.rejects(
    pair.server.readFull(into, { timeout: 50 }),
    TimeoutError,
  );
  assert.equal(pair.server.buffered, 100, "the 100 bytes are still buffered");
  await pair.client.write(pattern(100, 100));
  await pair.client.flush();
  assert.deepEqual(await pair.server.readFull(into, T), pattern(200));
});

test("readFull() with a timeout refuses more than maxBufferSize up front", async () => {
  await using pair = await socketPair({ maxBufferSize: 4096 });
  await assert.rejects(
    pair.server.readFull(new Uint8Array(8192), T),
    LimitExceededError,
  );
});

test("readFull() at the end of the stream: partial is what came", async () => {
  await using pair = await socketPair();
  await pair.client.write(pattern(30_000));
  await pair.client.closeWrite();
  const into = new Uint8Array(50_000);
  await assert.rejects(
    pair.server.readFull(into),
    (error: unknown) =>
      error instanceof EndOfStreamError &&
      error.partial.length === 30_000 &&
      error.partial.every((b, i) => b === i % 251),
  );
});

test("read() into a large array goes straight in and keeps the byte order", async () => {
  await using pair = await socketPair();
  const data = pattern(8 * 1024 * 1024, 3);
  const sending = (async () => {
    await pair.client.write(data);
    await pair.client.closeWrite();
  })();
  const got = new Uint8Array(data.length);
  const buf = new Uint8Array(64 * 1024);
  let have = 0;
  for (;;) {
    const n = await pair.server.read(buf);
    if (n === null) break;
    got.set(buf.subarray(0, n), have);
    have += n;
  }
  await sending;
  assert.equal(have, data.length);
  assert.deepEqual(got, data);
});

test("large reads mixed with readLine() and small reads lose nothing", async () => {
  await using pair = await socketPair();
  const blob = pattern(100_000, 11);
  const sending = (async () => {
    for (let i = 0; i < 20; i++) {
      await pair.client.write(`record ${i}\n`);
      await pair.client.write(blob);
      await pair.client.flush();
      await delay(1);
    }
    await pair.client.closeWrite();
  })();
  const body = new Uint8Array(blob.length);
  for (let i = 0; i < 20; i++) {
    assert.equal(await pair.server.readLine(T), `record ${i}`);
    // A few bytes through the buffer, the rest in one readFull.
    const head = new Uint8Array(5);
    assert.equal(await pair.server.read(head), 5);
    await pair.server.readFull(body.subarray(5));
    body.set(head);
    assert.deepEqual(body, blob, `record ${i}`);
  }
  assert.equal(await pair.server.readLine(T), null);
  await sending;
});

test("a read queued behind a large read gets the bytes after it", async () => {
  await using pair = await socketPair();
  const big = new Uint8Array(40_000);
  const first = pair.server.readFull(big);
  const second = pair.server.readLine(T);
  await pair.client.write(pattern(40_000));
  await pair.client.write("tail\n");
  await pair.client.flush();
  assert.deepEqual(await first, pattern(40_000));
  assert.equal(await second, "tail");
});

test("waitForInput() during a large read waits for it, then sees later input", async () => {
  await using pair = await socketPair();
  const big = new Uint8Array(32_768);
  const full = pair.server.readFull(big);
  const waiting = pair.server.waitForInput(T);
  await pair.client.write(pattern(32_768));
  await pair.client.flush();
  assert.deepEqual(await full, pattern(32_768));
  assert.equal(await waiting, true);
  await pair.client.write("x\n");
  await pair.client.flush();
  assert.equal(await pair.server.readLine(T), "x");
});

test("a large read() with a signal, aborted while it waits behind another read, leaves the next bytes to the next read", async () => {
  await using pair = await socketPair();
  const { client, server } = pair;
  const first = server.readLine();
  const controller = new AbortController();
  const large = new Uint8Array(64 * 1024);
  const second = server.read(large, { signal: controller.signal });
  await client.write("first\n");
  await client.flush();
  assert.equal(await first, "first");
  // A reply and its answer: the second read is waiting for input now.
  await server.write("ok\n");
  await server.flush();
  assert.equal(await client.readLine(T), "ok");
  controller.abort(new Error("given up"));
  await assert.rejects(second, /given up/);
  await client.write("next");
  await client.flush();
  const into = new Uint8Array(16);
  const n = await server.read(into, T);
  assert.equal(new TextDecoder().decode(into.subarray(0, n ?? 0)), "next");
  assert.deepEqual(large.subarray(0, 4), new Uint8Array(4));
});

test("close() during a large read rejects it with ConnectionClosedError", async () => {
  await using pair = await socketPair();
  const pending = pair.server.readFull(new Uint8Array(65_536));
  await delay(5);
  await pair.server.close();
  await assert.rejects(pending, ConnectionClosedError);
});
