// socket.readable and socket.writable on real loopback sockets: composing
// with the platform's streams, mixing with the socket's own reads, cancel,
// half-close, abort, and a 100 MB relay.
import assert from "node:assert/strict";
import { ConnectionClosedError, type Socket } from "../mod.ts";
import {
  bounded,
  delay,
  inputArrives,
  rawConnect,
  socketPair,
  test,
  writeAllRaw,
} from "./_helpers.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const T = { timeout: 2000 };

/** Everything a readable gives, joined. */
async function collect(
  stream: ReadableStream<Uint8Array<ArrayBuffer>>,
): Promise<Uint8Array> {
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

test("readable piped through TextDecoderStream decodes characters split across reads", async () => {
  await using pair = await socketPair();
  using raw = await rawConnect(pair.listener.port);
  await using server = await pair.listener.accept(T);
  const bytes = encoder.encode("añ€😀 end");
  const text = (async () => {
    let out = "";
    for await (
      const part of server.readable.pipeThrough(new TextDecoderStream())
    ) out += part;
    return out;
  })();
  // One byte at a time, each in its own read: every multi-byte character
  // is cut.
  for (const byte of bytes) {
    await writeAllRaw(raw, new Uint8Array([byte]));
    await delay(2);
  }
  await raw.closeWrite();
  assert.equal(await bounded(text, 4000, "decoding"), "añ€😀 end");
});

test("CompressionStream into writable, DecompressionStream out of readable, both ways", async () => {
  await using pair = await socketPair();
  const { client, server } = pair;
  const message = "the quick brown fox ".repeat(5000);
  const sent = ReadableStream.from([encoder.encode(message)])
    .pipeThrough(new CompressionStream("gzip"))
    .pipeTo(client.writable);
  const received = await new Response(
    server.readable.pipeThrough(new DecompressionStream("gzip")),
  ).text();
  await sent;
  assert.equal(received, message);
  // The client only half-closed: the answer comes back the same way.
  const answer = ReadableStream.from([encoder.encode(`got ${received.length}`)])
    .pipeThrough(new CompressionStream("deflate"))
    .pipeTo(server.writable);
  const reply = await new Response(
    client.readable.pipeThrough(new DecompressionStream("deflate")),
  ).text();
  await answer;
  assert.equal(reply, `got ${message.length}`);
});

test("a half-closed peer still gets a reply after the readable ended", async () => {
  await using pair = await socketPair();
  using raw = await rawConnect(pair.listener.port);
  await using server = await pair.listener.accept(T);
  await writeAllRaw(raw, "1 3 ");
  await raw.closeWrite();
  const got = await collect(server.readable);
  assert.equal(decoder.decode(got), "1 3 ");
  assert.equal(server.closed, false);
  await server.write("4");
  await server.close();
  const reply = new Uint8Array(16);
  const n = await raw.read(reply);
  assert.equal(decoder.decode(reply.subarray(0, n ?? 0)), "4");
  assert.equal(await raw.read(reply), null);
});

test("readLine() before and after reading from the readable: each byte goes to one of them", async () => {
  await using pair = await socketPair();
  const { client, server } = pair;
  await client.write("one\n0123456789two\n");
  await client.flush();
  assert.equal(await server.readLine(T), "one");
  // A BYOB read of exactly 10 bytes from what is buffered.
  const reader = server.readable.getReader({ mode: "byob" });
  const { value } = await reader.read(new Uint8Array(10), { min: 10 });
  reader.releaseLock();
  assert.equal(decoder.decode(value), "0123456789");
  assert.equal(await server.readLine(T), "two");
  // A default reader takes what has arrived; the next line is the socket's.
  await client.write("three");
  await client.flush();
  const more = server.readable.getReader();
  const chunk = await more.read();
  more.releaseLock();
  assert.equal(decoder.decode(chunk.value), "three");
  await client.write("four\n");
  await client.flush();
  assert.equal(await server.readLine(T), "four");
});

test("the readable starts with bytes a readLine() left in the buffer", async () => {
  await using pair = await socketPair();
  const { client, server } = pair;
  await client.write("head\nrest of it");
  await client.closeWrite();
  assert.equal(await server.readLine(T), "head");
  assert.ok(server.buffered > 0);
  assert.equal(decoder.decode(await collect(server.readable)), "rest of it");
  assert.equal(await server.readLine(T), null);
});

test("BYOB reads fill the caller's buffers exactly, in order", async () => {
  await using pair = await socketPair();
  const { client, server } = pair;
  const data = new Uint8Array(1000).map((_, i) => (i * 7) % 256);
  await client.write(data);
  await client.closeWrite();
  const reader = server.readable.getReader({ mode: "byob" });
  const got: number[] = [];
  let buffer = new ArrayBuffer(33);
  for (;;) {
    const { value, done } = await reader.read(new Uint8Array(buffer, 0, 33));
    if (done) break;
    assert.ok(value.byteLength >= 1 && value.byteLength <= 33);
    got.push(...value);
    buffer = value.buffer as ArrayBuffer; // handed back, reused
  }
  reader.releaseLock();
  assert.deepEqual(got, [...data]);
  // With { min }, a read waits until the view is full.
  await using pair2 = await socketPair();
  const byob = pair2.server.readable.getReader({ mode: "byob" });
  const full = byob.read(new Uint8Array(6), { min: 6 });
  await pair2.client.write("abc");
  await pair2.client.flush();
  await delay(20);
  await pair2.client.write("defg");
  await pair2.client.flush();
  assert.equal(decoder.decode((await full).value), "abcdef");
  byob.releaseLock();
  assert.equal(
    await pair2.server.readExactly(1, T).then(decoder.decode.bind(decoder)),
    "g",
  );
});

test("cancel withdraws the waiting read: the socket stays open and the next bytes are its own", async () => {
  await using pair = await socketPair();
  const { client, server } = pair;
  const stream = server.readable;
  const reader = stream.getReader();
  const pending = reader.read();
  await delay(20); // the stream's read is waiting in the socket's queue
  await reader.cancel("enough");
  assert.deepEqual(await pending, { done: true, value: undefined });
  assert.equal(server.closed, false);
  // The read is gone from the socket's queue, not just ignored: nothing
  // waits, so consume() may run.
  await delay(5);
  server.consume(0);
  assert.equal(server.idleTime, 0);
  await client.write("after\n");
  await client.flush();
  assert.equal(await server.readLine(T), "after");
  // Both directions still work.
  await server.write("reply\n");
  await server.flush();
  assert.equal(await client.readLine(T), "reply");
  // A new stream is handed out after a cancel, and it reads on.
  assert.notEqual(server.readable, stream);
  assert.equal(server.readable, server.readable);
  await client.write("again");
  await client.closeWrite();
  assert.equal(decoder.decode(await collect(server.readable)), "again");
});

test("cancel with bytes buffered takes none of them", async () => {
  await using pair = await socketPair();
  const { client, server } = pair;
  await client.write("kept\n");
  await client.flush();
  await inputArrives(server, T);
  await server.readable.cancel();
  assert.equal(await server.readLine(T), "kept");
});

test("writable: each chunk reaches the peer without a flush; close() half-closes", async () => {
  await using pair = await socketPair();
  const { client, server } = pair;
  const writer = client.writable.getWriter();
  await writer.write(encoder.encode("ping\n"));
  // Not flushed by hand: the writable sent it.
  assert.equal(await server.readLine(T), "ping");
  await writer.write(encoder.encode("last"));
  await writer.close();
  assert.equal(decoder.decode(await server.readAll(T)), "last");
  // The peer saw the end of the stream and can still answer.
  await server.write("pong\n");
  await server.flush();
  assert.equal(await client.readLine(T), "pong");
  assert.equal(client.closed, false);
  await assert.rejects(client.write("more"), ConnectionClosedError);
});

test("writable: abort() aborts the connection and drops what was not sent", async () => {
  await using pair = await socketPair();
  const { client, server } = pair;
  const writer = client.writable.getWriter();
  await writer.write(encoder.encode("sent\n"));
  await client.write("never sent"); // buffered, not flushed
  await writer.abort(new Error("changed my mind"));
  assert.equal(client.closed, true);
  assert.equal(await server.readLine(T), "sent");
  assert.equal(await server.readLine(T), null);
  await assert.rejects(client.readLine(T), ConnectionClosedError);
});

test("writable refuses a chunk that is not a Uint8Array, with a message that says what to do", async () => {
  await using pair = await socketPair();
  const writer = pair.client.writable.getWriter();
  await assert.rejects(
    writer.write("text" as unknown as Uint8Array),
    (error: unknown) =>
      error instanceof TypeError &&
      /a string .* takes Uint8Array chunks \(pipe text through a TextEncoderStream\)/
        .test(error.message),
  );
});

test("writable refuses each kind of chunk that is not a Uint8Array by naming it", async () => {
  const chunks: [unknown, string][] = [
    [null, "null"],
    [undefined, "undefined"],
    [42, "a number"],
    [new DataView(new ArrayBuffer(4)), "a DataView"],
    [new Map(), "a Map"],
    [Object.create(null), "an object"],
    [new ArrayBuffer(4), "an ArrayBuffer"],
  ];
  for (const [chunk, named] of chunks) {
    // A refused chunk fails the writable for good: a new socket each time.
    await using pair = await socketPair();
    const writer = pair.client.writable.getWriter();
    await assert.rejects(writer.write(chunk as Uint8Array), {
      name: "TypeError",
      message:
        `Cannot write ${named} to a socket's writable: it takes Uint8Array chunks (pipe text through a TextEncoderStream)`,
    });
  }
});

test("a socket has one writable: a second writer is refused until the first is released", async () => {
  await using pair = await socketPair();
  const { client, server } = pair;
  assert.equal(client.writable, client.writable);
  const writer = client.writable.getWriter();
  assert.throws(() => client.writable.getWriter(), TypeError);
  await writer.write(encoder.encode("one "));
  writer.releaseLock();
  const next = client.writable.getWriter();
  await next.write(encoder.encode("two"));
  await next.close();
  assert.equal(decoder.decode(await server.readAll(T)), "one two");
});

test("writable: a peer that does not read holds back the writer", async () => {
  await using pair = await socketPair();
  const writer = pair.client.writable.getWriter();
  const big = new Uint8Array(1 << 20);
  let written = 0;
  const writing = (async () => {
    for (let i = 0; i < 256; i++) {
      await writer.write(big);
      written++;
    }
  })();
  writing.catch(() => {});
  await delay(300);
  // The kernel's buffers hold a few MB at most; 256 MB cannot have gone.
  assert.ok(written < 64, `${written} MB written to a peer that reads nothing`);
  await pair.client.close({ abort: true });
  await assert.rejects(writing);
});

test("the readable fails with the socket's error when the socket is closed under it", async () => {
  await using pair = await socketPair();
  const reader = pair.server.readable.getReader();
  const pending = reader.read();
  await delay(10);
  await pair.server.close();
  await assert.rejects(pending, ConnectionClosedError);
});

// --- 100 MB relay --------------------------------------------------------

const TOTAL = 100 * 1024 * 1024;
const BLOCK = 1024 * 1024;

/** Byte i of the data: a hash of its position, so a lost, repeated or moved piece shows. */
function fillPattern(into: Uint8Array, from: number): void {
  for (let j = 0; j < into.length; j++) {
    let x = Math.imul(from + j, 0x9e3779b1);
    x ^= x >>> 15;
    x = Math.imul(x, 0x85ebca6b);
    into[j] = x >>> 24;
  }
}

/** Sends TOTAL bytes of the pattern, then half-closes. */
async function sendPattern(socket: Socket): Promise<void> {
  const block = new Uint8Array(BLOCK);
  for (let at = 0; at < TOTAL; at += BLOCK) {
    fillPattern(block, at);
    await socket.write(block);
  }
  await socket.closeWrite();
}

/** Reads to the end, checking every byte against the pattern; the count. */
async function checkPattern(socket: Socket): Promise<number> {
  const buffer = new Uint8Array(256 * 1024);
  const expected = new Uint8Array(256 * 1024);
  let at = 0;
  for (;;) {
    const n = await socket.read(buffer);
    if (n === null) return at;
    fillPattern(expected.subarray(0, n), at);
    for (let j = 0; j < n; j++) {
      if (buffer[j] !== expected[j]) {
        throw new Error(`byte ${at + j} is ${buffer[j]}, not ${expected[j]}`);
      }
    }
    at += n;
  }
}

/** Client → A, relay A → B, B → sink; returns MB/s for the whole trip. */
async function relay(
  move: (from: Socket, to: Socket) => Promise<void>,
): Promise<number> {
  await using first = await socketPair();
  await using second = await socketPair();
  const start = performance.now();
  const [, , count] = await Promise.all([
    sendPattern(first.client),
    move(first.server, second.client),
    checkPattern(second.server),
  ]);
  const seconds = (performance.now() - start) / 1000;
  assert.equal(count, TOTAL);
  return TOTAL / 1e6 / seconds;
}

test(
  "a 100 MB pipeTo relay between two sockets is byte-exact (throughput next to a read/write loop)",
  async () => {
    const piped = await relay((from, to) => from.readable.pipeTo(to.writable));
    const looped = await relay(async (from, to) => {
      const buffer = new Uint8Array(64 * 1024);
      for (;;) {
        const n = await from.read(buffer);
        if (n === null) break;
        await to.write(buffer.subarray(0, n));
        await to.flush();
      }
      await to.closeWrite();
    });
    console.log(
      `100 MB relay: readable.pipeTo(writable) ${
        piped.toFixed(0)
      } MB/s, read()/write() loop ${looped.toFixed(0)} MB/s (ratio ${
        (piped / looped).toFixed(2)
      })`,
    );
  },
  { deadline: 120_000 },
);
