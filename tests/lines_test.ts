// readLines() and lines(): batches of lines and an async iterator, on real
// loopback sockets.
import assert from "node:assert/strict";
import { LimitExceededError, TimeoutError } from "../mod.ts";
import {
  delay,
  rawConnect,
  socketPair,
  test,
  writeAllRaw,
} from "./_helpers.ts";

const T = { timeout: 2000 };

test("readLines() returns every complete line buffered, and keeps the partial one", async () => {
  await using pair = await socketPair();
  await pair.client.write("one\ntwo\r\nthree\nfour");
  await pair.client.flush();
  // Wait until all 19 bytes are buffered, so one batch sees them all.
  while (pair.server.buffered < 19) await pair.server.peek(true, T);
  assert.deepEqual(await pair.server.readLines(T), ["one", "two", "three"]);
  assert.equal(pair.server.buffered, 4, "the partial line stays buffered");
  await pair.client.write("\n");
  await pair.client.closeWrite();
  assert.deepEqual(await pair.server.readLines(T), ["four"]);
  assert.equal(await pair.server.readLines(T), null);
});

test("readLines() waits for a line end split across reads", async () => {
  await using pair = await socketPair();
  using raw = await rawConnect(pair.listener.port);
  await using server = await pair.listener.accept(T);
  const lines = server.readLines(T);
  for (const piece of ["ab", "c\r", "\nde", "f\n"]) {
    await writeAllRaw(raw, piece);
    await delay(3);
  }
  assert.deepEqual(await lines, ["abc"]);
  assert.deepEqual(await server.readLines(T), ["def"]);
});

test("readLines() returns a last line without a line end, then null", async () => {
  await using pair = await socketPair();
  await pair.client.write("a\nlast");
  await pair.client.closeWrite();
  const seen: string[] = [];
  for (let lines; (lines = await pair.server.readLines(T)) !== null;) {
    seen.push(...lines);
  }
  assert.deepEqual(seen, ["a", "last"]);
});

test("readLines() ends a batch before a line over maxLength, then throws on it", async () => {
  await using pair = await socketPair();
  await pair.client.write(`ok\nfine\n${"x".repeat(20)}\nafter\n`);
  await pair.client.flush();
  while (pair.server.buffered < 35) await pair.server.peek(true, T);
  assert.deepEqual(
    await pair.server.readLines({ maxLength: 10, ...T }),
    ["ok", "fine"],
  );
  const before = pair.server.buffered;
  await assert.rejects(
    pair.server.readLines({ maxLength: 10, ...T }),
    (error: unknown) =>
      error instanceof LimitExceededError && error.limit === 10,
  );
  assert.equal(pair.server.buffered, before, "the long line stays buffered");
  assert.equal((await pair.server.readExactly(21, T)).length, 21);
  assert.deepEqual(await pair.server.readLines(T), ["after"]);
});

test("readLines() counts maxLength without the CR of a CRLF", async () => {
  await using pair = await socketPair();
  await pair.client.write("abcd\r\nabcde\r\n");
  await pair.client.flush();
  while (pair.server.buffered < 13) await pair.server.peek(true, T);
  assert.deepEqual(await pair.server.readLines({ maxLength: 4, ...T }), [
    "abcd",
  ]);
  await assert.rejects(
    pair.server.readLines({ maxLength: 4, ...T }),
    LimitExceededError,
  );
});

test("readLines() refuses a partial line over maxLength without waiting for its end", async () => {
  await using pair = await socketPair();
  await pair.client.write("y".repeat(100));
  await pair.client.flush();
  await assert.rejects(
    pair.server.readLines({ maxLength: 50, ...T }),
    LimitExceededError,
  );
  assert.equal(pair.server.buffered, 100);
});

test("readLines() decodes UTF-8 split across reads, and CR inside a line stays", async () => {
  await using pair = await socketPair();
  using raw = await rawConnect(pair.listener.port);
  await using server = await pair.listener.accept(T);
  const bytes = new TextEncoder().encode("é€\rx\n𝄞\n");
  const lines = server.readLines(T);
  // Split inside the two-byte é and inside the four-byte clef.
  for (const [from, to] of [[0, 1], [1, 9], [9, 13]]) {
    await writeAllRaw(raw, bytes.subarray(from, to));
    await delay(3);
  }
  const seen = [...(await lines)!];
  if (seen.length === 1) seen.push(...(await server.readLines(T))!);
  assert.deepEqual(seen, ["é€\rx", "𝄞"]);
});

test("readLines() times out losing nothing, and queues behind other reads", async () => {
  await using pair = await socketPair();
  await pair.client.write("part");
  await pair.client.flush();
  await assert.rejects(pair.server.readLines({ timeout: 30 }), TimeoutError);
  const first = pair.server.readLine(T);
  const batch = pair.server.readLines(T);
  await pair.client.write("ial\nnext\nmore\n");
  await pair.client.flush();
  assert.equal(await first, "partial");
  const rest = [...(await batch)!];
  if (rest.length < 2) rest.push(...(await pair.server.readLines(T))!);
  assert.deepEqual(rest, ["next", "more"]);
});

test("lines() iterates line by line and leaves the rest for other reads", async () => {
  await using pair = await socketPair();
  await pair.client.write("HEAD\nbody:3\nxyzTAIL\r\nend");
  await pair.client.closeWrite();
  const seen: string[] = [];
  for await (const line of pair.server.lines(T)) {
    seen.push(line);
    if (line === "body:3") {
      // A length-prefixed body in the middle of the lines.
      seen.push(new TextDecoder().decode(await pair.server.readExactly(3, T)));
    }
  }
  assert.deepEqual(seen, ["HEAD", "body:3", "xyz", "TAIL", "end"]);
});

test("lines() stops early without closing the socket", async () => {
  await using pair = await socketPair();
  await pair.client.write("a\nb\nc\n");
  await pair.client.flush();
  for await (const line of pair.server.lines(T)) {
    if (line === "a") break;
  }
  assert.equal(await pair.server.readLine(T), "b");
  assert.equal(pair.server.closed, false);
});

test("lines() passes its timeout to each line", async () => {
  await using pair = await socketPair();
  await pair.client.write("x\n");
  await pair.client.flush();
  const iterator = pair.server.lines({ timeout: 30 });
  assert.deepEqual(await iterator.next(), { value: "x" });
  await assert.rejects(iterator.next(), TimeoutError);
});

test("a pipelined batch is answered in order with one flush", async () => {
  await using pair = await socketPair();
  let request = "", expected = "";
  for (let i = 0; i < 1000; i++) {
    request += `${i} ${2 * i}\n`;
    expected += `${3 * i}\n`;
  }
  const serving = (async () => {
    let batches = 0;
    for (let lines; (lines = await pair.server.readLines(T)) !== null;) {
      batches++;
      for (const line of lines) {
        const [a, b] = line.split(" ").map(Number);
        pair.server.write(`${a! + b!}\n`);
      }
      await pair.server.flush(T);
    }
    await pair.server.closeWrite();
    return batches;
  })();
  await pair.client.write(request);
  await pair.client.closeWrite();
  const reply = new TextDecoder().decode(await pair.client.readAll(T));
  assert.equal(reply, expected);
  const batches = await serving;
  assert.ok(batches < 1000, `${batches} batches for 1000 lines`);
});
