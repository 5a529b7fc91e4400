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
  writeAllRaw,
} from "./_helpers.ts";

const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);

/** Sends `pieces` one at a time from a raw connection, waiting for each to be buffered. */
async function sendInPieces(
  conn: Deno.Conn,
  pieces: (string | Uint8Array)[],
): Promise<void> {
  for (const piece of pieces) {
    await writeAllRaw(conn, piece);
    await delay(3);
  }
}

Deno.test("readLine() joins a CRLF split across chunks", async () => {
  await using pair = await socketPair();
  using raw = await rawConnect(pair.listener.port);
  await using server = await pair.listener.accept();
  const line = server.readLine();
  await sendInPieces(raw, ["first\r", "\nsecond", "\r", "\n", "third\n"]);
  assert.equal(await line, "first");
  assert.equal(await server.readLine(), "second");
  assert.equal(await server.readLine(), "third");
});

Deno.test("readLine() reads a line that spans many chunks", async () => {
  await using pair = await socketPair();
  using raw = await rawConnect(pair.listener.port);
  await using server = await pair.listener.accept();
  const long = "x".repeat(300_000);
  const line = server.readLine({ maxLength: 400_000 });
  const pieces: string[] = [];
  for (let i = 0; i < long.length; i += 7_000) {
    pieces.push(long.slice(i, i + 7_000));
  }
  pieces.push("\nnext\n");
  const sent = (async () => {
    for (const piece of pieces) await writeAllRaw(raw, piece);
  })();
  assert.equal(await line, long);
  assert.equal(await server.readLine(), "next");
  await sent;
});

Deno.test("readLine() decodes UTF-8 split inside a character", async () => {
  await using pair = await socketPair();
  using raw = await rawConnect(pair.listener.port);
  await using server = await pair.listener.accept();
  const bytes = new TextEncoder().encode("héllo wörld €\n");
  const line = server.readLine();
  await sendInPieces(raw, [
    bytes.subarray(0, 2),
    bytes.subarray(2, 14),
    bytes.subarray(14),
  ]);
  assert.equal(await line, "héllo wörld €");
});

Deno.test("readLine() returns a last line without LF, then null at end of stream", async () => {
  await using pair = await socketPair();
  await pair.client.write("one\ntwo");
  await pair.client.closeWrite();
  assert.equal(await pair.server.readLine(), "one");
  assert.equal(await pair.server.readLine(), "two");
  assert.equal(await pair.server.readLine(), null);
  assert.equal(await pair.server.readLine(), null);
});

Deno.test("readLine() throws LimitExceededError past maxLength and keeps the bytes", async () => {
  await using pair = await socketPair();
  await pair.client.write("0123456789\nok\n");
  await pair.client.flush();
  while (pair.server.buffered < 14) await pair.server.peek(true);
  await assert.rejects(
    pair.server.readLine({ maxLength: 5 }),
    LimitExceededError,
  );
  assert.equal(await pair.server.readLine({ maxLength: 10 }), "0123456789");
  assert.equal(await pair.server.readLine(), "ok");
});

Deno.test("readLine() stops a line with no end at maxLength without buffering the rest", async () => {
  await using pair = await socketPair();
  const flood = pair.client.write("y".repeat(200_000));
  const error = await assert.rejects(
    pair.server.readLine({ maxLength: 1000 }),
    (e) => {
      assert.ok(e instanceof LimitExceededError);
      assert.equal(e.limit, 1000);
      return true;
    },
  );
  assert.equal(error, undefined);
  assert.ok(pair.server.buffered < 200_000);
  await pair.client.close({ abort: true });
  await flood.catch(() => {});
});

Deno.test("readExactly() gathers bytes across chunks", async () => {
  await using pair = await socketPair();
  using raw = await rawConnect(pair.listener.port);
  await using server = await pair.listener.accept();
  const data = pattern(10_000);
  const read = server.readExactly(9_999);
  await sendInPieces(raw, [
    data.subarray(0, 1),
    data.subarray(1, 4096),
    data.subarray(4096, 9000),
    data.subarray(9000),
  ]);
  assert.deepEqual(await read, data.subarray(0, 9_999));
  assert.deepEqual(await server.readExactly(1), data.subarray(9_999));
  assert.deepEqual(await server.readExactly(0), new Uint8Array(0));
});

Deno.test("readExactly() throws EndOfStreamError with the partial bytes", async () => {
  await using pair = await socketPair();
  await pair.client.write("abc");
  await pair.client.closeWrite();
  await assert.rejects(pair.server.readExactly(5), (e) => {
    assert.ok(e instanceof EndOfStreamError);
    assert.deepEqual(e.partial, new TextEncoder().encode("abc"));
    return true;
  });
});

Deno.test("readUntil() finds a multi-byte delimiter split across chunks", async () => {
  await using pair = await socketPair();
  using raw = await rawConnect(pair.listener.port);
  await using server = await pair.listener.accept();
  const record = server.readUntil("\r\n\r\n");
  await sendInPieces(raw, ["head: 1\r\n", "x: 2\r", "\n\r", "\nbody"]);
  assert.equal(new TextDecoder().decode((await record)!), "head: 1\r\nx: 2");
  await raw.closeWrite();
  await assert.rejects(server.readUntil("\r\n\r\n"), EndOfStreamError);
  assert.equal(await server.readUntil("\n"), null);
});

Deno.test("read() returns what is buffered, then null at end of stream", async () => {
  await using pair = await socketPair();
  await pair.client.write("hello");
  await pair.client.closeWrite();
  const into = new Uint8Array(3);
  assert.equal(await pair.server.read(into), 3);
  assert.equal(new TextDecoder().decode(into), "hel");
  assert.equal(await pair.server.read(into), 2);
  assert.equal(await pair.server.read(into), null);
});

Deno.test("one socket mixes text and binary reads over one buffer", async () => {
  await using pair = await socketPair();
  await pair.client.write("LEN 3\n");
  await pair.client.write(new Uint8Array([0, 255, 7]));
  await pair.client.write("done\n");
  await pair.client.flush();
  assert.equal(await pair.server.readLine(), "LEN 3");
  assert.deepEqual(
    await pair.server.readExactly(3),
    new Uint8Array([0, 255, 7]),
  );
  assert.equal(await pair.server.readLine(), "done");
});

Deno.test("closeWrite() half-closes: the peer reads to the end and can still reply", async () => {
  await using pair = await socketPair();
  await pair.client.write("1 3 ");
  await pair.client.closeWrite();
  assert.equal(new TextDecoder().decode(await pair.server.readAll()), "1 3 ");
  await pair.server.write("4");
  await pair.server.close();
  assert.equal(new TextDecoder().decode(await pair.client.readAll()), "4");
  await assert.rejects(pair.client.write("more"), ConnectionClosedError);
});

Deno.test("write() of 32 MiB arrives whole", async () => {
  await using pair = await socketPair();
  const size = 32 * 1024 * 1024;
  const data = pattern(size, 17);
  const received = pair.server.readExactly(size);
  await pair.client.write(data);
  await pair.client.flush();
  const got = await received;
  assert.equal(got.length, size);
  assert.ok(got.every((byte, i) => byte === data[i]), "every byte matches");
});

Deno.test("write() keeps order across many small writes and automatic flushes", async () => {
  await using pair = await socketPair();
  const lines = 20_000;
  const sent = (async () => {
    for (let i = 0; i < lines; i++) await pair.client.write(`line ${i}\n`);
    await pair.client.closeWrite();
  })();
  for (let i = 0; i < lines; i++) {
    assert.equal(await pair.server.readLine(), `line ${i}`);
  }
  assert.equal(await pair.server.readLine(), null);
  await sent;
});

Deno.test("readLine() timeout loses nothing: data after the timeout is read next", async () => {
  await using pair = await socketPair();
  await assert.rejects(pair.server.readLine({ timeout: 20 }), TimeoutError);
  await pair.client.write("late line\n");
  await pair.client.flush();
  assert.equal(await pair.server.readLine({ timeout: 2000 }), "late line");
});

Deno.test("readExactly() timeout keeps the partial bytes for the next read", async () => {
  await using pair = await socketPair();
  await pair.client.write("abc");
  await pair.client.flush();
  while (pair.server.buffered < 3) await pair.server.peek(true);
  await assert.rejects(pair.server.readLine({ timeout: 20 }), TimeoutError);
  await pair.client.write("def");
  await pair.client.flush();
  assert.deepEqual(
    new TextDecoder().decode(
      await pair.server.readExactly(6, { timeout: 2000 }),
    ),
    "abcdef",
  );
});

Deno.test("read() with an aborted signal rejects with its reason and loses nothing", async () => {
  await using pair = await socketPair();
  const controller = new AbortController();
  const pending = pair.server.read(new Uint8Array(10), {
    signal: controller.signal,
  });
  controller.abort(new Error("stop waiting"));
  await assert.rejects(pending, /stop waiting/);
  await pair.client.write("kept");
  await pair.client.flush();
  assert.equal(
    await pair.server.readLine({ timeout: 50 }).catch(() => "timeout"),
    "timeout",
  );
  assert.equal(
    new TextDecoder().decode(await pair.server.readExactly(4)),
    "kept",
  );
});

Deno.test("close() during a pending read rejects it with ConnectionClosedError", async () => {
  await using pair = await socketPair();
  const pending = pair.server.readLine();
  await delay(5);
  await pair.server.close();
  await assert.rejects(pending, ConnectionClosedError);
  await assert.rejects(pair.server.readLine(), ConnectionClosedError);
  await pair.server.close();
});

Deno.test("close() flushes buffered output before closing", async () => {
  await using pair = await socketPair();
  await pair.server.write("bye ");
  await pair.server.close();
  assert.equal(new TextDecoder().decode(await pair.client.readAll()), "bye ");
});

Deno.test("await using flushes and closes a socket", async () => {
  await using pair = await socketPair();
  {
    await using server = pair.server;
    await server.write("flushed by dispose\n");
  }
  assert.equal(pair.server.closed, true);
  assert.equal(await pair.client.readLine(), "flushed by dispose");
  assert.equal(await pair.client.readLine(), null);
});

Deno.test("write() to a peer that has gone fails with a SocketError, not a crash", async () => {
  await using pair = await socketPair();
  await pair.server.close();
  const chunk = new Uint8Array(64 * 1024);
  await assert.rejects(async () => {
    for (let i = 0; i < 100; i++) {
      await pair.client.write(chunk);
      await pair.client.flush();
      await delay(1);
    }
  }, (e) => e instanceof Error && e.name === "ConnectionResetError");
});

Deno.test("a socket's buffer stops at maxBufferSize", async () => {
  await using pair = await socketPair({ maxBufferSize: 8192 });
  await pair.client.write("z".repeat(20_000));
  await pair.client.flush();
  await assert.rejects(
    pair.server.readLine({ maxLength: 100_000 }),
    LimitExceededError,
  );
  assert.equal((await pair.server.readExactly(20_000)).length, 20_000);
});

Deno.test("toString() describes the socket like Allegro CL", async () => {
  await using pair = await socketPair();
  const port = pair.listener.port;
  assert.match(
    String(pair.client),
    new RegExp(
      `^#<multivalent stream socket connected from 127\\.0\\.0\\.1/\\d+ to 127\\.0\\.0\\.1/${port}>$`,
    ),
  );
  await pair.client.close();
  assert.match(
    String(pair.client),
    /^#<multivalent stream socket closed, was connected/,
  );
  assert.equal(
    String(pair.listener),
    `#<passive socket waiting for connection at 127.0.0.1/${port}>`,
  );
  assert.equal(Deno.inspect(pair.listener), String(pair.listener));
});

Deno.test("write() whose promise nobody awaits does not crash when the peer is gone", async () => {
  await using pair = await socketPair();
  await pair.server.close({ abort: true });
  const chunk = new Uint8Array(256 * 1024);
  for (let i = 0; i < 20; i++) {
    void pair.client.write(chunk);
    await delay(2);
  }
  await assert.rejects(
    pair.client.flush(),
    (e) => e instanceof Error && e.name === "ConnectionResetError",
  );
  await pair.client.close();
  void pair.client.write("after close");
  await delay(5);
});

Deno.test("readExactly() and readAll() with a timeout lose nothing when it fires", async () => {
  await using pair = await socketPair();
  await pair.client.write("abc");
  await pair.client.flush();
  await assert.rejects(
    pair.server.readExactly(6, { timeout: 50 }),
    TimeoutError,
  );
  await assert.rejects(pair.server.readAll({ timeout: 20 }), TimeoutError);
  await pair.client.write("def");
  await pair.client.flush();
  assert.equal(
    text(await pair.server.readExactly(6, { timeout: 2000 })),
    "abcdef",
  );
  await pair.client.write("ghi");
  await pair.client.flush();
  await assert.rejects(pair.server.readAll({ timeout: 50 }), TimeoutError);
  await pair.client.write("jkl");
  await pair.client.closeWrite();
  assert.equal(text(await pair.server.readAll({ timeout: 2000 })), "ghijkl");
});

Deno.test("readExactly() with a timeout refuses more than maxBufferSize up front", async () => {
  await using pair = await socketPair({ maxBufferSize: 4096 });
  await assert.rejects(
    pair.server.readExactly(10_000, { timeout: 50 }),
    LimitExceededError,
  );
});

Deno.test("write() during closeWrite() or close() is refused, not silently dropped", async () => {
  await using pair = await socketPair();
  await pair.client.write("first");
  const half = pair.client.closeWrite();
  await assert.rejects(pair.client.write("late"), ConnectionClosedError);
  await half;
  assert.equal(text(await pair.server.readAll({ timeout: 2000 })), "first");
  await pair.server.write("reply");
  const closing = pair.server.close();
  await assert.rejects(pair.server.write("too late"), ConnectionClosedError);
  await closing;
  assert.equal(text(await pair.client.readAll({ timeout: 2000 })), "reply");
});
