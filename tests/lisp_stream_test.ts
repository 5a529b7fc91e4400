// readLisp() and writeLisp() over real loopback connections: data across
// many reads, one deadline (or signal) for the whole datum however many
// waits it takes, limits, and what stays buffered after an error.
import assert from "node:assert/strict";
import {
  EndOfStreamError,
  formatLisp,
  LispLimitError,
  LispList,
  LispReadError,
  LispSymbol,
  readLisp,
  TimeoutError,
  writeLisp,
} from "../mod.ts";
import { bounded, delay, type Pair, socketPair, test } from "./_helpers.ts";

const T = { timeout: 2000 };

async function send(pair: Pair, text: string): Promise<void> {
  await pair.client.write(text);
  await pair.client.flush();
}

/** Sends `piece` every 10 ms until the returned function is called. */
function trickle(pair: Pair, piece: string): () => Promise<void> {
  let going = true;
  const done = (async () => {
    while (going) {
      await send(pair, piece);
      await delay(10);
    }
  })();
  return async () => {
    going = false;
    await done;
  };
}

test("readLisp() reads a datum that arrives in pieces, and the next one after it", async () => {
  await using pair = await socketPair();
  const reading = readLisp(pair.server, T);
  await send(pair, "(1 ");
  await delay(5);
  await send(pair, '"two" ');
  await delay(5);
  await send(pair, "three) 4 ");
  const list = await reading;
  assert.ok(list instanceof LispList);
  assert.equal(formatLisp(list), '(1 "two" THREE)');
  assert.equal(await readLisp(pair.server, T), 4n);
});

test("readLisp()'s timeout spans every wait: a peer trickling a datum times out, and nothing is lost", async () => {
  await using pair = await socketPair();
  await send(pair, "(");
  const stop = trickle(pair, "1 ");
  let buffered: number;
  try {
    const reading = readLisp(pair.server, { timeout: 150 });
    await assert.rejects(bounded(reading, 3000, "readLisp()"), (e) => {
      assert.ok(e instanceof TimeoutError);
      assert.equal(e.timeout, 150);
      return true;
    });
    buffered = pair.server.buffered;
    assert.ok(buffered > 3, `more than one piece came meanwhile: ${buffered}`);
  } finally {
    await stop();
  }
  await send(pair, ") 9 ");
  const list = await readLisp(pair.server, T);
  assert.ok(list instanceof LispList);
  assert.ok(list.items.length >= (buffered - 1) / 2);
  assert.ok(list.items.every((item) => item === 1n));
  assert.equal(await readLisp(pair.server, T), 9n);
});

test("readLisp()'s signal spans every wait, and the read rejects with its reason", async () => {
  await using pair = await socketPair();
  await send(pair, "(");
  const controller = new AbortController();
  const stop = trickle(pair, "x ");
  try {
    const reading = readLisp(pair.server, { signal: controller.signal, ...T });
    await delay(60);
    controller.abort(new Error("no more"));
    await assert.rejects(reading, /^Error: no more$/);
  } finally {
    await stop();
  }
  await send(pair, ")");
  const list = await readLisp(pair.server, T);
  assert.ok(list instanceof LispList);
  assert.ok(list.items.every((item) => item instanceof LispSymbol));
});

test("readLisp() applies its limits, and a refused datum stays buffered", async () => {
  await using pair = await socketPair();
  await send(pair, "(((1))) 2\n");
  await assert.rejects(
    readLisp(pair.server, { limits: { maxDepth: 2 }, ...T }),
    (e) => {
      assert.ok(e instanceof LispLimitError);
      assert.equal(e.limit, "maxDepth");
      return true;
    },
  );
  assert.equal(pair.server.buffered, 10);
  assert.equal(
    formatLisp(await readLisp(pair.server, { limits: { maxDepth: 3 }, ...T })),
    "(((1)))",
  );
  assert.equal(await readLisp(pair.server, T), 2n);
});

test("readLisp() leaves bytes it cannot read in the buffer for the caller", async () => {
  await using pair = await socketPair();
  await send(pair, ") 5\n");
  await assert.rejects(readLisp(pair.server, T), LispReadError);
  assert.equal(await pair.server.readLine(T), ") 5");
});

test("readLisp() at the end of the stream: EndOfStreamError before a datum begins, and inside one", async () => {
  {
    await using pair = await socketPair();
    await pair.client.write("  ; only a comment\n");
    await pair.client.closeWrite();
    await assert.rejects(readLisp(pair.server, T), (e) => {
      assert.ok(e instanceof EndOfStreamError);
      assert.equal(
        e.message,
        "Cannot read a Lisp datum: the stream ended before one began",
      );
      assert.equal(e.partial.length, 0);
      return true;
    });
    assert.equal(pair.server.buffered, 0);
  }
  {
    // Closed with no byte at all: the same error.
    await using pair = await socketPair();
    await pair.client.closeWrite();
    await assert.rejects(readLisp(pair.server, T), EndOfStreamError);
  }
  await using pair = await socketPair();
  await pair.client.write("7 (1 2");
  await pair.client.closeWrite();
  assert.equal(await readLisp(pair.server, T), 7n);
  await assert.rejects(readLisp(pair.server, T), LispReadError);
});

test("writeLisp() writes a datum that readLisp() reads back the same", async () => {
  await using pair = await socketPair();
  const datum = new LispList([1n, "two", new LispSymbol("THREE")]);
  await writeLisp(pair.client, datum);
  await pair.client.write(" ");
  await pair.client.flush();
  assert.equal(pair.client.buffered, 0);
  const back = await readLisp(pair.server, T);
  assert.equal(formatLisp(back), formatLisp(datum));
  assert.equal(formatLisp(back), '(1 "two" THREE)');
});
