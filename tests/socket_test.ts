import assert from "node:assert/strict";
import {
  CertificateError,
  connect,
  ConnectionClosedError,
  EndOfStreamError,
  LimitExceededError,
  listen,
  Socket,
  TimeoutError,
  TlsError,
} from "../mod.ts";
import {
  bounded,
  canRun,
  delay,
  inputArrives,
  pattern,
  rawConnect,
  socketPair,
  test,
  until,
  writeAllRaw,
} from "./_helpers.ts";
import { makeLocalhostCert } from "./_certs.ts";

const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
const encoder = new TextEncoder();
const T = { timeout: 2000 };

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

test("readLine() joins a CRLF split across chunks", async () => {
  await using pair = await socketPair();
  using raw = await rawConnect(pair.listener.port);
  await using server = await pair.listener.accept();
  const line = server.readLine();
  await sendInPieces(raw, ["first\r", "\nsecond", "\r", "\n", "third\n"]);
  assert.equal(await line, "first");
  assert.equal(await server.readLine(), "second");
  assert.equal(await server.readLine(), "third");
});

test("readLine() reads a line that spans many chunks", async () => {
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

test("readLine() decodes UTF-8 split inside a character", async () => {
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

test("readLine() returns a last line without LF, then null at end of stream", async () => {
  await using pair = await socketPair();
  await pair.client.write("one\ntwo");
  await pair.client.closeWrite();
  assert.equal(await pair.server.readLine(), "one");
  assert.equal(await pair.server.readLine(), "two");
  assert.equal(await pair.server.readLine(), null);
  assert.equal(await pair.server.readLine(), null);
});

test("readLine() throws LimitExceededError past maxLength and keeps the bytes", async () => {
  await using pair = await socketPair();
  await pair.client.write("0123456789\nok\n");
  await pair.client.flush();
  while (pair.server.buffered < 14) await pair.server.peek(true, T);
  await assert.rejects(
    pair.server.readLine({ maxLength: 5 }),
    LimitExceededError,
  );
  assert.equal(await pair.server.readLine({ maxLength: 10 }), "0123456789");
  assert.equal(await pair.server.readLine(), "ok");
});

test("readLine() stops a line with no end at maxLength without buffering the rest", async () => {
  await using pair = await socketPair();
  const flood = pair.client.write("y".repeat(200_000));
  await assert.rejects(
    pair.server.readLine({ maxLength: 1000, timeout: 2000 }),
    (e) => {
      assert.ok(e instanceof LimitExceededError);
      assert.equal(e.limit, 1000);
      return true;
    },
  );
  // It gave up as soon as the buffer held more than a line can: one or two
  // reads' worth, not the 200,000 bytes on their way.
  const buffered = pair.server.buffered;
  assert.ok(buffered > 1000 && buffered <= 4096, `buffered ${buffered}`);
  await pair.client.close({ abort: true });
  await flood.catch(() => {});
});

test("readExactly() gathers bytes across chunks", async () => {
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

test("readExactly() throws EndOfStreamError with the partial bytes", async () => {
  await using pair = await socketPair();
  await pair.client.write("abc");
  await pair.client.closeWrite();
  await assert.rejects(pair.server.readExactly(5), (e) => {
    assert.ok(e instanceof EndOfStreamError);
    assert.deepEqual(e.partial, new TextEncoder().encode("abc"));
    return true;
  });
});

test("readUntil() finds a multi-byte delimiter split across chunks", async () => {
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

test("read() returns what is buffered, then null at end of stream", async () => {
  await using pair = await socketPair();
  await pair.client.write("hello");
  await pair.client.closeWrite();
  const into = new Uint8Array(3);
  assert.equal(await pair.server.read(into), 3);
  assert.equal(new TextDecoder().decode(into), "hel");
  assert.equal(await pair.server.read(into), 2);
  assert.equal(await pair.server.read(into), null);
});

test("one socket mixes text and binary reads over one buffer", async () => {
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

test("closeWrite() half-closes: the peer reads to the end and can still reply", async () => {
  await using pair = await socketPair();
  await pair.client.write("1 3 ");
  await pair.client.closeWrite();
  assert.equal(new TextDecoder().decode(await pair.server.readAll()), "1 3 ");
  await pair.server.write("4");
  await pair.server.close();
  assert.equal(new TextDecoder().decode(await pair.client.readAll()), "4");
  await assert.rejects(pair.client.write("more"), ConnectionClosedError);
});

test("write() of 32 MiB arrives whole", async () => {
  await using pair = await socketPair();
  const size = 32 * 1024 * 1024;
  const data = pattern(size, 17);
  const received = pair.server.readExactly(size);
  await pair.client.write(data);
  await pair.client.flush();
  const got = await received;
  assert.equal(got.length, size);
  assert.ok(got.every((byte, i) => byte === data[i]), "every byte matches");
}, { deadline: 15_000 });

test(
  "write() keeps order across many small writes and automatic flushes",
  async () => {
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
  },
  { deadline: 15_000 },
);

test("readLine() timeout loses nothing: data after the timeout is read next", async () => {
  await using pair = await socketPair();
  await assert.rejects(pair.server.readLine({ timeout: 20 }), TimeoutError);
  await pair.client.write("late line\n");
  await pair.client.flush();
  assert.equal(await pair.server.readLine({ timeout: 2000 }), "late line");
});

test("readExactly() timeout keeps the partial bytes for the next read", async () => {
  await using pair = await socketPair();
  await pair.client.write("abc");
  await pair.client.flush();
  while (pair.server.buffered < 3) await pair.server.peek(true, T);
  await assert.rejects(
    pair.server.readExactly(6, { timeout: 20 }),
    TimeoutError,
  );
  assert.equal(pair.server.buffered, 3);
  await pair.client.write("def");
  await pair.client.flush();
  assert.deepEqual(
    new TextDecoder().decode(
      await pair.server.readExactly(6, { timeout: 2000 }),
    ),
    "abcdef",
  );
});

test("read() with an aborted signal rejects with its reason and loses nothing", async () => {
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

test("close() during a pending read rejects it with ConnectionClosedError", async () => {
  await using pair = await socketPair();
  const pending = pair.server.readLine();
  await delay(5);
  await pair.server.close();
  await assert.rejects(pending, ConnectionClosedError);
  await assert.rejects(pair.server.readLine(), ConnectionClosedError);
  await pair.server.close();
});

test("close() with nothing to send closes at once: a read would not wait even before close() is awaited", async () => {
  await using pair = await socketPair();
  const closing = pair.client.close();
  assert.equal(pair.client.hasInput, true);
  await closing;
  await assert.rejects(pair.client.readLine(T), ConnectionClosedError);
});

test("close() flushes buffered output before closing", async () => {
  await using pair = await socketPair();
  await pair.server.write("bye ");
  await pair.server.close();
  assert.equal(new TextDecoder().decode(await pair.client.readAll()), "bye ");
});

test("await using flushes and closes a socket", async () => {
  await using pair = await socketPair();
  {
    await using server = pair.server;
    await server.write("flushed by dispose\n");
  }
  assert.equal(pair.server.closed, true);
  assert.equal(await pair.client.readLine(), "flushed by dispose");
  assert.equal(await pair.client.readLine(), null);
});

test("write() to a peer that has gone fails with a SocketError, not a crash", async () => {
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

test("a socket's buffer stops at maxBufferSize", async () => {
  await using pair = await socketPair({ maxBufferSize: 8192 });
  await pair.client.write("z".repeat(20_000));
  await pair.client.flush();
  await assert.rejects(
    pair.server.readLine({ maxLength: 100_000 }),
    LimitExceededError,
  );
  assert.equal((await pair.server.readExactly(20_000)).length, 20_000);
});

test("toString() describes the socket like Allegro CL", async () => {
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

test("write() whose promise nobody awaits does not crash when the peer is gone", async () => {
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

test("readExactly() and readAll() with a timeout lose nothing when it fires", async () => {
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

test("readExactly() with a timeout refuses more than maxBufferSize up front", async () => {
  await using pair = await socketPair({ maxBufferSize: 4096 });
  await assert.rejects(
    pair.server.readExactly(10_000, { timeout: 50 }),
    LimitExceededError,
  );
});

test("write() during closeWrite() or close() is refused, not silently dropped", async () => {
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

// --- limits, and what the documented defaults let through ----------------

test("readLine() takes a line of 65,536 bytes by default and refuses one byte more, keeping it", async () => {
  await using pair = await socketPair();
  const line = "a".repeat(65_536);
  await pair.client.write(`${line}\n${line}b\n`);
  await pair.client.flush();
  assert.equal(await pair.server.readLine(T), line);
  await assert.rejects(pair.server.readLine(T), (e) => {
    assert.ok(e instanceof LimitExceededError);
    assert.equal(e.limit, 65_536);
    return true;
  });
  assert.equal(
    await pair.server.readLine({ maxLength: 65_537, ...T }),
    `${line}b`,
  );
});

test("readUntil() refuses a record longer than maxLength and keeps its bytes", async () => {
  await using pair = await socketPair();
  await pair.client.write("0123456789|rest|");
  await pair.client.flush();
  while (pair.server.buffered < 16) await pair.server.peek(true, T);
  await assert.rejects(
    pair.server.readUntil("|", { maxLength: 9, ...T }),
    (e) => {
      assert.ok(e instanceof LimitExceededError);
      assert.equal(e.limit, 9);
      return true;
    },
  );
  assert.equal(pair.server.buffered, 16);
  assert.equal(
    text((await pair.server.readUntil("|", { maxLength: 10, ...T }))!),
    "0123456789",
  );
  assert.equal(text((await pair.server.readUntil("|", T))!), "rest");
});

test("readUntil() gives up on a record with no delimiter past 65,536 bytes by default", async () => {
  await using pair = await socketPair();
  const flood = pair.client.write("y".repeat(300_000));
  await assert.rejects(pair.server.readUntil("||", T), (e) => {
    assert.ok(e instanceof LimitExceededError);
    assert.equal(e.limit, 65_536);
    return true;
  });
  const buffered = pair.server.buffered;
  assert.ok(buffered > 65_536 && buffered <= 131_072, `buffered ${buffered}`);
  await pair.client.close({ abort: true });
  await flood.catch(() => {});
});

test("readUntil() that meets the end of the stream inside a record gives its bytes in EndOfStreamError.partial", async () => {
  await using pair = await socketPair();
  await pair.client.write("abc||de|");
  await pair.client.closeWrite();
  assert.equal(text((await pair.server.readUntil("||", T))!), "abc");
  await assert.rejects(pair.server.readUntil("||", T), (e) => {
    assert.ok(e instanceof EndOfStreamError);
    assert.equal(text(e.partial), "de|");
    return true;
  });
  assert.equal(pair.server.buffered, 0);
  assert.equal(await pair.server.readUntil("||", T), null);
});

for (const deadline of [false, true]) {
  const how = deadline ? "with a timeout" : "without a timeout";
  test(`readAll() ${how} takes a stream of exactly maxLength bytes and refuses a longer one`, async () => {
    const options = (maxLength: number) =>
      deadline ? { maxLength, ...T } : { maxLength };
    {
      await using pair = await socketPair();
      await pair.client.write("0123456789");
      await pair.client.closeWrite();
      assert.equal(
        text(await pair.server.readAll(options(10))),
        "0123456789",
      );
    }
    await using pair = await socketPair();
    await pair.client.write("0123456789");
    await pair.client.closeWrite();
    await assert.rejects(pair.server.readAll(options(9)), (e) => {
      assert.ok(e instanceof LimitExceededError);
      assert.equal(e.limit, 9);
      assert.match(e.message, /longer than 9 bytes/);
      return true;
    });
  });
}

test("readAll() without a timeout refuses a stream that passes maxLength in a later chunk", async () => {
  await using pair = await socketPair();
  using raw = await rawConnect(pair.listener.port);
  await using server = await pair.listener.accept(T);
  const reading = server.readAll({ maxLength: 6 });
  // Two reads, most likely: the limit is on their sum.
  await writeAllRaw(raw, "abcd");
  await delay(30);
  await writeAllRaw(raw, "efg");
  await raw.closeWrite();
  await assert.rejects(reading, LimitExceededError);
});

test("readWith() has one deadline for the whole read: a peer trickling bytes cannot keep it waiting", async () => {
  await using pair = await socketPair();
  let trickling = true;
  const trickle = (async () => {
    while (trickling) {
      await pair.client.write("x");
      await pair.client.flush();
      await delay(10);
    }
  })();
  try {
    const reading = pair.server.readWith(() => undefined, { timeout: 150 });
    await assert.rejects(bounded(reading, 3000, "readWith()"), TimeoutError);
    assert.ok(pair.server.buffered > 0, "bytes arrived while it waited");
  } finally {
    trickling = false;
    await trickle;
  }
});

test("hasInput tells whether a read would wait: bytes buffered, the end of the stream, a closed socket", async () => {
  await using pair = await socketPair();
  assert.equal(pair.server.hasInput, false);
  await pair.client.write("x");
  await pair.client.flush();
  await inputArrives(pair.server, T);
  assert.equal(pair.server.hasInput, true);
  assert.equal(text(await pair.server.readExactly(1, T)), "x");
  assert.equal(pair.server.hasInput, false);
  await pair.client.closeWrite();
  await inputArrives(pair.server, T);
  assert.equal(pair.server.hasInput, true);
  assert.equal(pair.server.buffered, 0);
  assert.equal(pair.client.hasInput, false);
  await pair.client.close();
  assert.equal(pair.client.hasInput, true);
});

test("idleTime counts only while a read waits, from when it began", async () => {
  await using pair = await socketPair();
  assert.equal(pair.server.idleTime, 0);
  const began = performance.now();
  const line = pair.server.readLine(T);
  await until(() => pair.server.idleTime >= 20);
  assert.ok(pair.server.idleTime <= performance.now() - began + 1);
  await pair.client.write("x\n");
  await pair.client.flush();
  assert.equal(await line, "x");
  assert.equal(pair.server.idleTime, 0);
});

/** Returns once `performance.now()` has moved on. */
function clockMoves(): void {
  for (const start = performance.now(); performance.now() === start;) {
    // Spins for at most the clock's resolution.
  }
}

test("idleTime starts again from 0 when bytes move either way while a read waits", async () => {
  await using pair = await socketPair();
  const { client, server } = pair;
  const line = server.readLine(T);
  assert.equal(server.idleTime, 0);
  // One write out and one read in, the read still waiting for its line end.
  await server.write("ping\n");
  await server.flush();
  await client.write("half");
  await client.flush();
  await until(() => server.buffered === 4);
  clockMoves();
  assert.equal(server.idleTime, 0);
  await client.write(" a line\n");
  await client.flush();
  assert.equal(await line, "half a line");
  assert.equal(await client.readLine(T), "ping");
});

test("idleTime is 0 again once waitForInput() has returned, with input or without", async () => {
  await using pair = await socketPair();
  const { client, server } = pair;
  assert.equal(await server.waitForInput({ timeout: 1 }), false);
  assert.equal(server.idleTime, 0);
  clockMoves();
  assert.equal(server.idleTime, 0);
  const waiting = server.waitForInput(T);
  await client.write("x");
  await client.flush();
  assert.equal(await waiting, true);
  assert.equal(server.idleTime, 0);
  clockMoves();
  assert.equal(server.idleTime, 0);
});

test("a read called while another waits takes no bytes before it, even when they are buffered", async () => {
  await using pair = await socketPair();
  const { client, server } = pair;
  // readExactly() behind a readLine() that still lacks its line end.
  const line = server.readLine(T);
  await client.write("abc");
  await client.flush();
  await until(() => server.buffered === 3);
  const two = server.readExactly(2, T);
  await client.write("\nxy");
  await client.flush();
  assert.equal(await line, "abc");
  assert.equal(text(await two), "xy");
  // readLine() and readLines() behind a readExactly() that lacks bytes.
  const ten = server.readExactly(10, T);
  await client.write("ab\ncd");
  await client.flush();
  await until(() => server.buffered === 5);
  const next = server.readLine(T);
  const batch = server.readLines(T);
  await client.write("efghione\ntwo\n");
  await client.flush();
  assert.equal(text(await ten), "ab\ncdefghi");
  assert.equal(await next, "one");
  assert.deepEqual(await batch, ["two"]);
});

test("behind a PROXY balancer: the addresses are the header's, proxyAddr is the balancer's, proxyHeader the header", async () => {
  using listener = listen({ port: 0, proxyProtocol: "v1" });
  using raw = await rawConnect(listener.port);
  await writeAllRaw(raw, "PROXY TCP4 192.0.2.1 198.51.100.2 40000 443\r\nhi\n");
  await using server = await listener.accept(T);
  assert.deepEqual(server.remoteAddr, {
    transport: "tcp",
    hostname: "192.0.2.1",
    port: 40000,
  });
  assert.deepEqual(server.localAddr, {
    transport: "tcp",
    hostname: "198.51.100.2",
    port: 443,
  });
  assert.deepEqual(server.proxyAddr, raw.localAddr);
  assert.deepEqual(server.proxyHeader, {
    version: 1,
    command: "proxy",
    family: "tcp4",
    source: server.remoteAddr,
    destination: server.localAddr,
    tlvs: [],
  });
  assert.equal(await server.readLine(T), "hi");
  // Without a header, neither is there.
  await using pair = await socketPair();
  assert.equal(pair.server.proxyAddr, undefined);
  assert.equal(pair.server.proxyHeader, undefined);
});

test("behind a PROXY balancer: a header that names no client (v1 UNKNOWN, v2 LOCAL) leaves the addresses as they are", async () => {
  using listener = listen({ port: 0, proxyProtocol: true });
  const signature = [13, 10, 13, 10, 0, 13, 10, 81, 85, 73, 84, 10];
  // v2 LOCAL (a health check) over TCP4; the addresses it carries are not a client's.
  const local = new Uint8Array([
    ...signature,
    0x20,
    0x11,
    0,
    12,
    ...[192, 0, 2, 1, 198, 51, 100, 2],
    ...[0x9c, 0x40, 0x01, 0xbb],
  ]);
  for (const header of [encoder.encode("PROXY UNKNOWN\r\n"), local]) {
    using raw = await rawConnect(listener.port);
    await writeAllRaw(raw, header);
    await writeAllRaw(raw, "hi\n");
    await using server = await listener.accept(T);
    assert.deepEqual({ ...server.remoteAddr }, { ...raw.localAddr });
    assert.deepEqual({ ...server.localAddr }, { ...raw.remoteAddr });
    assert.deepEqual(server.proxyAddr, server.remoteAddr);
    assert.equal(
      server.proxyHeader?.command,
      header === local ? "local" : "proxy",
    );
    assert.equal(await server.readLine(T), "hi");
  }
});

test(
  "a TLS socket's addresses are TCP addresses, on both ends; startTls() checks the name connect() was given",
  async () => {
    const dir = await Deno.makeTempDir();
    try {
      await makeLocalhostCert(dir);
      const cert = await Deno.readTextFile(`${dir}/cert.pem`);
      const key = await Deno.readTextFile(`${dir}/key.pem`);
      using listener = listen({ port: 0, tls: { cert, key } });
      const accepted = listener.accept(T);
      await using client = await connect({
        hostname: "localhost",
        port: listener.port,
        tls: { caCerts: [cert] },
        timeout: 2000,
      });
      await using server = await accepted;
      // Compared as plain objects: Deno gives some with a null prototype.
      const listening = {
        transport: "tcp",
        hostname: "127.0.0.1",
        port: listener.port,
      };
      assert.deepEqual({ ...client.remoteAddr }, listening);
      assert.deepEqual({ ...server.localAddr }, listening);
      assert.deepEqual({ ...client.localAddr }, { ...server.remoteAddr });
      assert.equal(client.localAddr.transport, "tcp");
      await client.write("over TLS\n");
      await client.flush();
      assert.equal(await server.readLine(T), "over TLS");
      // A plain connection by name, upgraded: the certificate is checked
      // against the name connect() was given (it names no address).
      const upgraded = listener.accept(T);
      await using plain = await connect({
        hostname: "localhost",
        port: listener.port,
        timeout: 2000,
      });
      await using other = await upgraded;
      await Promise.all([
        plain.startTls({ caCerts: [cert], timeout: 2000 }),
        other.handshake({ timeout: 2000 }),
      ]);
      await plain.write("upgraded\n");
      await plain.flush();
      assert.equal(await other.readLine(T), "upgraded");
      // Writes are refused while the handshake is under way (with a peer
      // that never answers the ClientHello).
      using silent = listen({ port: 0 });
      const held = silent.accept(T);
      const early = await connect({
        hostname: "localhost",
        port: silent.port,
        timeout: 2000,
      });
      await using _held = await held;
      const upgrading = early.startTls({ caCerts: [cert], timeout: 2000 });
      upgrading.catch(() => {});
      await until(() => early.tls);
      await assert.rejects(early.write("too soon"), {
        name: "TlsError",
        message: /: TLS is being started \(await startTls\(\) first\)$/,
      });
      await early.close();
      await assert.rejects(upgrading, ConnectionClosedError);
      // A socket made from a connection has no name: its address is checked.
      const third = listener.accept(T);
      const conn = await rawConnect(listener.port);
      await using unnamed = new Socket(conn);
      await using thirdServer = await third;
      thirdServer.handshake({ timeout: 2000 }).catch(() => {});
      const error = await unnamed.startTls({ caCerts: [cert], timeout: 2000 })
        .catch((e) => e);
      assert.ok(error instanceof CertificateError, String(error));
      assert.match(error.message, /127\.0\.0\.1/);
      // close() as the upgrade begins closes the TLS connection too.
      const fourth = listener.accept(T);
      const cut = await connect({
        hostname: "localhost",
        port: listener.port,
        timeout: 2000,
      });
      await using _fourthServer = await fourth;
      const cutShort = cut.startTls({ caCerts: [cert] });
      await null;
      await cut.close();
      await assert.rejects(
        bounded(cutShort, 2000, "startTls()"),
        ConnectionClosedError,
      );
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
  { ignore: !await canRun("openssl", ["version"]) },
);

test("startTls() refuses, leaving the connection as it was, while a read waits, after bytes came, at the end of the stream, after closeWrite()", async () => {
  const refusal = (why: string) => (error: unknown) =>
    error instanceof TlsError &&
    error.message.endsWith(`: ${why}; the connection is left as it was`);
  await using pair = await socketPair();
  const { client, server } = pair;
  const goAhead = async () => {
    await server.write("go\n");
    await server.flush();
  };
  // A read waiting, or a wait for input.
  const line = client.readLine(T);
  const waiting =
    "a read is waiting on the socket (upgrade between the go-ahead reply and the next read)";
  await assert.rejects(client.startTls(), refusal(waiting));
  await goAhead();
  assert.equal(await line, "go");
  const input = client.waitForInput(T);
  await assert.rejects(client.startTls(), refusal(waiting));
  await goAhead();
  assert.equal(await input, true);
  assert.equal(await client.readLine(T), "go");
  // A read that begins while the output is being sent.
  await client.write("STARTTLS\n");
  const upgrading = client.startTls();
  const reply = client.readLine(T);
  await assert.rejects(
    upgrading,
    refusal("a read began while the output was being sent"),
  );
  assert.equal(await server.readLine(T), "STARTTLS");
  await goAhead();
  assert.equal(await reply, "go");
  // Bytes that came before the handshake.
  await server.write("early");
  await server.flush();
  await inputArrives(client, T);
  await assert.rejects(
    client.startTls(),
    refusal(
      "5 bytes arrived after the reply that allowed it (plaintext injected before the handshake, or a protocol error)",
    ),
  );
  assert.equal(text(await client.readExactly(5, T)), "early");
  // The end of the stream, then this side closed for writing, then closed.
  await server.closeWrite();
  assert.equal(await client.readLine(T), null);
  await assert.rejects(
    client.startTls(),
    refusal("the peer has ended the stream"),
  );
  await client.closeWrite();
  await assert.rejects(client.startTls(), refusal("it is closed for writing"));
  await client.close();
  await assert.rejects(client.startTls(), {
    name: "ConnectionClosedError",
    message: /: the socket is closed$/,
  });
});

test("setOption() after close() says the socket is closed, naming the peer", async () => {
  await using pair = await socketPair();
  const peer = `127.0.0.1:${pair.client.localAddr.port}`;
  await pair.server.close();
  assert.throws(() => pair.server.setOption("noDelay", false), {
    name: "ConnectionClosedError",
    message:
      `Cannot set TCP_NODELAY on the connection to ${peer}: the socket is closed`,
  });
  assert.throws(() => pair.server.setOption("keepAlive", true), {
    name: "ConnectionClosedError",
    message:
      `Cannot set SO_KEEPALIVE on the connection to ${peer}: the socket is closed`,
  });
});

test("consume() drops bytes after peek(), and refuses a count that is not buffered or not whole", async () => {
  await using pair = await socketPair();
  await pair.client.write("abcdef");
  await pair.client.flush();
  while (pair.server.buffered < 6) await pair.server.peek(true, T);
  const { bytes, eof } = await pair.server.peek(false, T);
  assert.equal(text(bytes), "abcdef");
  assert.equal(eof, false);
  pair.server.consume(2);
  assert.equal(pair.server.buffered, 4);
  for (const n of [5, -1, 0.5, Number.NaN]) {
    assert.throws(() => pair.server.consume(n), {
      name: "RangeError",
      message:
        `Cannot consume ${n} bytes: it must be a whole number, and only 4 are buffered`,
    });
  }
  assert.equal(pair.server.buffered, 4);
  pair.server.consume(4);
  assert.equal(pair.server.buffered, 0);
  await assert.rejects(pair.server.readLine({ timeout: 20 }), TimeoutError);
});

test("short text is encoded and decoded as UTF-8 at the ASCII boundary: U+007F, U+0080 and a stray 0x80 byte", async () => {
  await using pair = await socketPair();
  await pair.client.write("\u007f\u0080\n");
  await pair.client.write(new Uint8Array([0x61, 0x80, 0x0a, 0x7f, 0x0a]));
  await pair.client.flush();
  assert.deepEqual(
    await pair.server.readExactly(4, T),
    new Uint8Array([0x7f, 0xc2, 0x80, 0x0a]),
  );
  assert.equal(await pair.server.readLine(T), "a\ufffd");
  assert.equal(await pair.server.readLine(T), "\u007f");
});

test("write() sends by itself once 64 KiB are waiting, and not before", async () => {
  await using pair = await socketPair();
  await pair.client.write("a".repeat(65_535));
  assert.equal(
    await pair.server.waitForInput({ timeout: 50 }),
    false,
    "nothing is sent below 64 KiB without flush()",
  );
  await pair.client.write("b");
  const got = await pair.server.readExactly(65_536, T);
  assert.equal(got[65_534], 0x61);
  assert.equal(got[65_535], 0x62);
});

// --- edges of each read ----------------------------------------------------

test("readLine() edges: empty lines, a lone CR inside a line, CRLF at exactly maxLength", async () => {
  await using pair = await socketPair();
  using raw = await rawConnect(pair.listener.port);
  await using server = await pair.listener.accept(T);
  await writeAllRaw(raw, "\n\r\na\rb\n");
  assert.equal(await server.readLine(T), "");
  assert.equal(await server.readLine(T), "");
  assert.equal(await server.readLine(T), "a\rb");
  // The CR may arrive before its LF: five bytes and a CR are not yet too
  // long for maxLength 5.
  const line = server.readLine({ maxLength: 5, ...T });
  await sendInPieces(raw, ["abcde\r", "\n"]);
  assert.equal(await line, "abcde");
  await writeAllRaw(raw, "abcdef\n");
  await assert.rejects(server.readLine({ maxLength: 5, ...T }), (e) => {
    assert.ok(e instanceof LimitExceededError);
    assert.equal(e.limit, 5);
    return true;
  });
  assert.equal(await server.readLine({ maxLength: 6, ...T }), "abcdef");
});

test("readLine() applies maxLength to a last line without a line end", async () => {
  await using pair = await socketPair();
  await pair.client.write("abcdef");
  await pair.client.closeWrite();
  await inputArrives(pair.server, T);
  while (!(await pair.server.peek(true, T)).eof) {
    // Until the end of the stream is seen.
  }
  await assert.rejects(
    pair.server.readLine({ maxLength: 5, ...T }),
    LimitExceededError,
  );
  assert.equal(await pair.server.readLine({ maxLength: 6, ...T }), "abcdef");
  assert.equal(await pair.server.readLine(T), null);
});

test("readExactly() with a timeout: EndOfStreamError keeps the partial bytes; a bad count is a RangeError", async () => {
  await using pair = await socketPair();
  await pair.client.write("abc");
  await pair.client.closeWrite();
  await assert.rejects(pair.server.readExactly(5, T), (e) => {
    assert.ok(e instanceof EndOfStreamError);
    assert.equal(text(e.partial), "abc");
    assert.equal(
      e.message,
      `Cannot read 5 bytes from 127.0.0.1:${pair.client.localAddr.port}: the stream ended after 3 bytes`,
    );
    return true;
  });
  for (const n of [-1, 1.5, Number.NaN]) {
    await assert.rejects(pair.server.readExactly(n), {
      name: "RangeError",
      message: `Cannot read ${n} bytes: the count must be a whole number >= 0`,
    });
  }
});

test("readUntil() finds a delimiter whose first byte repeats, and refuses an empty one", async () => {
  await using pair = await socketPair();
  await pair.client.write("xaaab|aab");
  await pair.client.write(new Uint8Array([0, 1, 0, 0, 1]));
  await pair.client.flush();
  assert.equal(text((await pair.server.readUntil("aab", T))!), "xa");
  assert.equal(text((await pair.server.readUntil("|", T))!), "");
  assert.equal(text((await pair.server.readUntil("aab", T))!), "");
  assert.deepEqual(
    await pair.server.readUntil(new Uint8Array([0, 1]), T),
    new Uint8Array(0),
  );
  assert.deepEqual(
    await pair.server.readUntil(new Uint8Array([0, 1]), T),
    new Uint8Array([0]),
  );
  await assert.rejects(pair.server.readUntil("", T), {
    name: "RangeError",
    message: "Cannot read until an empty delimiter",
  });
});

test("peek() looks without consuming: at once when bytes are buffered, waiting for more when asked", async () => {
  await using pair = await socketPair();
  await pair.client.write("ab");
  await pair.client.flush();
  assert.equal(text((await pair.server.peek(false, T)).bytes), "ab");
  assert.equal(text((await pair.server.peek(false, T)).bytes), "ab");
  await assert.rejects(pair.server.peek(true, { timeout: 30 }), TimeoutError);
  await pair.client.write("c");
  await pair.client.closeWrite();
  let seen = await pair.server.peek(true, T);
  while (!seen.eof) seen = await pair.server.peek(true, T);
  assert.equal(text(seen.bytes), "abc");
  assert.equal(text(await pair.server.readAll(T)), "abc");
  const end = await pair.server.peek(true, T);
  assert.deepEqual([end.bytes.length, end.eof], [0, true]);
});

test("waitForInput() checks its timeout even when input is ready", async () => {
  await using pair = await socketPair();
  await pair.client.write("x");
  await pair.client.flush();
  await inputArrives(pair.server, T);
  await assert.rejects(pair.server.waitForInput({ timeout: -1 }), RangeError);
  await assert.rejects(
    pair.server.waitForInput({ timeout: Number.NaN }),
    RangeError,
  );
  assert.equal(await pair.server.waitForInput({ timeout: 0 }), true);
});

test("write() after closeWrite() or close() says which", async () => {
  await using pair = await socketPair();
  const peer = `127.0.0.1:${pair.listener.port}`;
  await pair.client.closeWrite();
  await pair.client.closeWrite();
  await assert.rejects(pair.client.write("x"), {
    name: "ConnectionClosedError",
    message: `Cannot write to ${peer}: the socket is closed for writing`,
  });
  await pair.client.close();
  await assert.rejects(pair.client.write("x"), {
    name: "ConnectionClosedError",
    message: `Cannot write to ${peer}: the socket is closed`,
  });
  await assert.rejects(pair.client.readLine(T), {
    name: "ConnectionClosedError",
    message: `Cannot read from ${peer}: the socket is closed`,
  });
});

test("close() called twice while it flushes returns one promise; a bad timeout is a RangeError", async () => {
  await using pair = await socketPair();
  await pair.server.write("x".repeat(10));
  await assert.rejects(pair.server.close({ timeout: -1 }), RangeError);
  assert.equal(pair.server.closed, true);
  const first = pair.server.close();
  assert.equal(pair.server.close(), first);
  await first;
  assert.equal(text(await pair.client.readAll(T)), "x".repeat(10));
});

test("connect() checks closeTimeout; new Socket() with a bad option closes the connection it was given", async () => {
  {
    using listener = listen({ port: 0 });
    await assert.rejects(
      connect({ port: listener.port, closeTimeout: -1 }),
      {
        name: "RangeError",
        message:
          "Cannot use closeTimeout -1: it must be a number >= 0 (or Infinity)",
      },
    );
  }
  using listener = listen({ port: 0 });
  const conn = await rawConnect(listener.port);
  await using server = await listener.accept(T);
  assert.equal(server.remoteAddr.port, conn.localAddr.port);
  assert.throws(
    () => new Socket(conn, { closeTimeout: Number.NaN }),
    RangeError,
  );
  assert.equal(await server.readLine(T), null, "the connection was closed");
  await using client = await connect({
    port: listener.port,
    closeTimeout: Infinity,
    ...T,
  });
  await using other = await listener.accept(T);
  await client.write("ok\n");
  await client.close();
  assert.equal(await other.readLine(T), "ok");
});

test("buffers a closed socket gives back are never shared: a socket aborted mid-flush, then new sockets", async () => {
  {
    await using stalled = await socketPair();
    // The client never reads: the big write fills the kernel's buffers and
    // stays unfinished, and the short text waits behind it.
    stalled.server.write(new Uint8Array(64 * 1024 * 1024)).catch(() => {});
    stalled.server.write("short text").catch(() => {});
    const flushing = stalled.server.flush().catch(() => {});
    await delay(20);
    await stalled.server.close({ abort: true });
    await flushing;
  }
  const pairs = [await socketPair(), await socketPair(), await socketPair()];
  try {
    // Two rounds: a socket keeps its buffers after a flush or a read, and
    // no other socket may be given one meanwhile. Each socket writes while
    // input waits unread in its read buffer.
    for (const round of [1, 2]) {
      const lines = ["a", "b", "c"].map((c) => c.repeat(100 * round));
      for (const [i, pair] of pairs.entries()) {
        await pair.client.write(`${lines[i]}\n`);
        await pair.client.flush();
      }
      for (const pair of pairs) await pair.server.waitForInput(T);
      for (const [i, pair] of pairs.entries()) {
        await pair.server.write(`${lines[i]}!\n`);
        await pair.server.flush();
      }
      for (const pair of pairs) await pair.client.waitForInput(T);
      for (const [i, pair] of pairs.entries()) {
        assert.equal(await pair.server.readLine(T), lines[i]);
        assert.equal(await pair.client.readLine(T), `${lines[i]}!`);
      }
    }
  } finally {
    for (const pair of pairs) await pair[Symbol.asyncDispose]();
  }
});

// --- what each read says, and the paths a stream takes through the buffer --

test("readWith() checks the length its parser returns, and ends inside a message with EndOfStreamError", async () => {
  await using pair = await socketPair();
  await pair.client.write("abc");
  await pair.client.flush();
  while (pair.server.buffered < 3) await pair.server.peek(true, T);
  for (const length of [4, -1, 1.5]) {
    await assert.rejects(
      pair.server.readWith(() => ({ value: 0, length }), T),
      {
        name: "RangeError",
        message:
          `Cannot consume ${length} bytes after parsing: only 3 are buffered`,
      },
    );
  }
  assert.equal(pair.server.buffered, 3);
  const all = await pair.server.readWith(
    (bytes) => ({ value: text(bytes), length: bytes.length }),
    T,
  );
  assert.equal(all, "abc");
  await pair.client.write("de");
  await pair.client.closeWrite();
  const seen: [string, boolean][] = [];
  await assert.rejects(
    pair.server.readWith((bytes, eof) => {
      seen.push([text(bytes), eof]);
      return undefined;
    }, T),
    (e) => {
      assert.ok(e instanceof EndOfStreamError);
      assert.equal(text(e.partial), "de");
      assert.equal(
        e.message,
        `Cannot read from 127.0.0.1:${pair.listener.port}: the stream ended inside a message`
          .replace(
            String(pair.listener.port),
            String(pair.client.localAddr.port),
          ),
      );
      return true;
    },
  );
  assert.deepEqual(seen.at(-1), ["de", true]);
  assert.equal(pair.server.buffered, 0);
});

test("each read's timeout names what it was doing and whom it waited for", async () => {
  await using pair = await socketPair();
  const peer = `127.0.0.1:${pair.client.localAddr.port}`;
  const cases: [string, () => Promise<unknown>][] = [
    ["read a line", () => pair.server.readLine({ timeout: 20 })],
    ["read a record", () => pair.server.readUntil("|", { timeout: 20 })],
    ["read to the end", () => pair.server.readAll({ timeout: 20 })],
    ["read 6 bytes", () => pair.server.readExactly(6, { timeout: 20 })],
    ["read", () => pair.server.read(new Uint8Array(4), { timeout: 20 })],
    ["read", () => pair.server.peek(true, { timeout: 20 })],
    ["read", () => pair.server.readWith(() => undefined, { timeout: 20 })],
    ["read", () => pair.server.readBatch(() => undefined, { timeout: 20 })],
    ["read lines", () => pair.server.readLines({ timeout: 20 })],
    ["read a line", () => pair.server.readLineBytes({ timeout: 20 })],
    ["read lines", () => pair.server.readLinesBytes({ timeout: 20 })],
    [
      "read 5 bytes",
      () => pair.server.readFull(new Uint8Array(5), { timeout: 20 }),
    ],
    [
      "read 7 bytes",
      () => pair.server.readBody(new Uint8Array(7), { timeout: 20 }),
    ],
  ];
  for (const [what, read] of cases) {
    await assert.rejects(read(), {
      name: "TimeoutError",
      message: `Cannot ${what} from ${peer}: timed out after 20 ms`,
    });
  }
});

test("a socket's buffer stops at maxBufferSize, below a read buffer's first size too, and says so", async () => {
  for (const maxBufferSize of [100, 8192]) {
    await using pair = await socketPair({ maxBufferSize });
    const peer = `127.0.0.1:${pair.client.localAddr.port}`;
    await pair.client.write("z".repeat(maxBufferSize + 50));
    await pair.client.flush();
    await assert.rejects(pair.server.readLine({ maxLength: 1 << 20, ...T }), {
      name: "LimitExceededError",
      message:
        `Cannot buffer more than ${maxBufferSize} bytes from ${peer}: raise maxBufferSize or read in smaller pieces`,
    });
    // Exactly maxBufferSize bytes may wait in the buffer for a timed read.
    assert.equal(
      (await pair.server.readExactly(maxBufferSize, T)).length,
      maxBufferSize,
    );
    assert.equal((await pair.server.readExactly(50, T)).length, 50);
  }
});

test("new Socket() checks maxBufferSize and closeTimeout, with messages, and closes what it was given", async () => {
  using listener = listen({ port: 0 });
  const cases: [Record<string, number>, string][] = [
    [{ maxBufferSize: 0 }, "maxBufferSize 0: it must be a whole number >= 1"],
    [
      { maxBufferSize: 1.5 },
      "maxBufferSize 1.5: it must be a whole number >= 1",
    ],
    [
      { closeTimeout: -1 },
      "closeTimeout -1: it must be a number >= 0 (or Infinity)",
    ],
  ];
  for (const [options, message] of cases) {
    const conn = await rawConnect(listener.port);
    await using server = await listener.accept(T);
    assert.throws(() => new Socket(conn, options), {
      name: "RangeError",
      message: `Cannot use ${message}`,
    });
    assert.equal(await server.readLine(T), null);
  }
});

test("close({ abort: true }) drops buffered output; input buffered before close() can still be read", async () => {
  await using pair = await socketPair();
  await pair.client.write("kept\nlines\n");
  await pair.client.flush();
  while (pair.server.buffered < 11) await pair.server.peek(true, T);
  await pair.server.write("never sent");
  await pair.server.close({ abort: true });
  assert.equal(text(await pair.client.readAll(T)), "");
  // Other sockets take buffers meanwhile; the closed one keeps its input.
  {
    await using other = await socketPair();
    await other.client.write("x".repeat(900));
    await other.client.flush();
    assert.equal((await other.server.readExactly(900, T)).length, 900);
  }
  assert.equal(await pair.server.readLine(T), "kept");
  assert.equal(await pair.server.readLine(T), "lines");
  await assert.rejects(pair.server.readLine(T), ConnectionClosedError);
});

test("a small array is buffered like text until flush(); a big one after text keeps its place", async () => {
  await using pair = await socketPair();
  await pair.client.write(new Uint8Array([1, 2]));
  assert.equal(await pair.server.waitForInput({ timeout: 50 }), false);
  await pair.client.write("head\n");
  const big = pattern(200_000, 5);
  await pair.client.write(big);
  await pair.client.write("tail\n");
  await pair.client.flush();
  assert.deepEqual(await pair.server.readExactly(2, T), new Uint8Array([1, 2]));
  assert.equal(await pair.server.readLine(T), "head");
  assert.deepEqual(await pair.server.readExactly(200_000, T), big);
  assert.equal(await pair.server.readLine(T), "tail");
});

test(
  "two big writes made while the first is still being sent arrive whole and in order",
  async () => {
    await using pair = await socketPair();
    const first = pattern(8 * 1024 * 1024, 1);
    const second = pattern(8 * 1024 * 1024, 2);
    const a = pair.client.write(first);
    const b = pair.client.write(second);
    const text = pair.client.write("end\n");
    const got = await pair.server.readExactly(16 * 1024 * 1024, T);
    await Promise.all([a, b, text, pair.client.flush()]);
    assert.ok(got.subarray(0, first.length).every((v, i) => v === first[i]));
    assert.ok(got.subarray(first.length).every((v, i) => v === second[i]));
    assert.equal(await pair.server.readLine(T), "end");
  },
  { deadline: 15_000 },
);

test(
  "text written while a long flush waits for the peer is sent after it, whole",
  async () => {
    await using pair = await socketPair();
    const body = "z".repeat(8 * 1024 * 1024);
    await pair.client.write(body.slice(0, 100));
    const flushing = pair.client.write(body.slice(100));
    // Appended while that flush waits: its promise is the same flush's.
    const tail = pair.client.write("tail\n");
    // The peer starts reading only now: the flush above waited meanwhile.
    await delay(20);
    const got = await pair.server.readExactly(body.length, T);
    await Promise.all([flushing, tail]);
    await pair.client.flush();
    assert.ok(got.every((byte) => byte === 0x7a));
    assert.equal(await pair.server.readLine(T), "tail");
  },
  { deadline: 15_000 },
);

test("idleTime counts while a flush waits for a peer that does not read", async () => {
  await using pair = await socketPair();
  pair.server.write(new Uint8Array(64 * 1024 * 1024)).catch(() => {});
  const flushing = pair.server.flush().catch(() => {});
  await until(() => pair.server.idleTime >= 20);
  assert.equal(pair.client.idleTime, 0);
  await pair.server.close({ abort: true });
  await flushing;
});

test("a failed flush with a timeout that did not expire leaves the socket open; an expired one closes it and says why", async () => {
  {
    await using pair = await socketPair();
    await pair.client.write("unread");
    await pair.client.flush();
    await pair.server.waitForInput(T);
    // Closing with input unread resets the connection.
    await pair.server.close({ abort: true });
    await assert.rejects(async () => {
      for (let i = 0; i < 100; i++) {
        await pair.client.write(new Uint8Array(64 * 1024));
        await pair.client.flush({ timeout: 2000 });
        await delay(1);
      }
    }, (e) => e instanceof Error && e.name === "ConnectionResetError");
    assert.equal(pair.client.closed, false, "not aborted by the flush");
  }
  await using pair = await socketPair();
  const peer = `127.0.0.1:${pair.client.localAddr.port}`;
  pair.server.write(new Uint8Array(64 * 1024 * 1024)).catch(() => {});
  await assert.rejects(pair.server.flush({ timeout: 50 }), {
    name: "TimeoutError",
    message:
      `Cannot send to ${peer}: timed out after 50 ms: the peer is not reading; the connection was aborted, since a stream cut in the middle of a write cannot be resumed`,
  });
  await assert.rejects(pair.server.readLine(T), {
    name: "ConnectionClosedError",
    message:
      `Cannot use the connection to ${peer}: it was aborted when a flush timed out`,
  });
});

test("readAll() without a timeout joins what came in several reads", async () => {
  await using pair = await socketPair();
  using raw = await rawConnect(pair.listener.port);
  await using server = await pair.listener.accept(T);
  const reading = server.readAll();
  await sendInPieces(raw, ["abc", "def", "ghi"]);
  await raw.closeWrite();
  assert.equal(text(await reading), "abcdefghi");
  assert.equal(Deno.inspect(server), String(server));
});

test("an empty line right after a long one is found in the grown buffer", async () => {
  await using pair = await socketPair();
  const long = "y".repeat(300_000);
  await pair.client.write(`${long}\n`);
  await pair.client.flush();
  assert.equal(await pair.server.readLine({ maxLength: 400_000, ...T }), long);
  await pair.client.write("\nx\n");
  await pair.client.flush();
  assert.equal(await pair.server.readLine(T), "");
  assert.equal(await pair.server.readLine(T), "x");
});

test(
  "every byte survives a long stream read in random pieces through every kind of read",
  async () => {
    for (const maxBufferSize of [3000, 1 << 24]) {
      await using pair = await socketPair({ maxBufferSize });
      const total = 1 << 20;
      const data = pattern(total, 11);
      // Chunks of random sizes, some with pauses, so reads see every
      // buffer state: empty, partly used, full, grown, compacted.
      let seed = 7;
      const next = (n: number) => {
        seed = (seed * 1103515245 + 12345) & 0x7fffffff;
        return seed % n;
      };
      const sending = (async () => {
        for (let at = 0; at < total;) {
          const n = Math.min(total - at, 1 + next(5000));
          await pair.client.write(data.subarray(at, at + n));
          if (next(4) === 0) {
            await pair.client.flush();
            await delay(1);
          }
          at += n;
        }
        await pair.client.closeWrite();
      })();
      const got = new Uint8Array(total);
      let have = 0;
      while (have < total) {
        const want = Math.min(total - have, 1 + next(2500));
        switch (next(4)) {
          case 0:
            got.set(await pair.server.readExactly(want, T), have);
            have += want;
            break;
          case 1: {
            const n = await pair.server.read(
              got.subarray(have, have + want),
              T,
            );
            have += n!;
            break;
          }
          case 2: {
            const { bytes } = await pair.server.peek(true, T);
            const n = Math.min(want, bytes.length);
            got.set(bytes.subarray(0, n), have);
            pair.server.consume(n);
            have += n;
            break;
          }
          default: {
            const n = await pair.server.readWith(
              (bytes) =>
                bytes.length > 0
                  ? {
                    value: bytes.slice(0, want),
                    length: Math.min(want, bytes.length),
                  }
                  : undefined,
              T,
            );
            assert.ok(n !== null, "the stream has not ended");
            got.set(n, have);
            have += n.length;
          }
        }
      }
      await sending;
      assert.equal(await pair.server.read(new Uint8Array(1), T), null);
      assert.ok(got.every((byte, i) => byte === data[i]), "every byte matches");
    }
  },
  { deadline: 15_000 },
);
