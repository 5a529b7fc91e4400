// Socket-wide timeouts and deadlines: readTimeout/writeTimeout options,
// setDeadline() shared by a flush and a read, a per-call timeout beside
// them, and the one timer of a socket that finds expired waits.
import assert from "node:assert/strict";
import { connect, listen, serve, TimeoutError } from "../mod.ts";
import {
  expiredError,
  expiresAt,
  type Expiring,
  Expiry,
} from "../lib/_expiry.ts";
import {
  Deadline,
  onAbort,
  startTimer,
  untilClosed,
  waitUntil,
} from "../lib/_deadline.ts";
import { bounded, delay, pattern, socketPair, test } from "./_helpers.ts";

const T = { timeout: 2000 };
const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);

test("readTimeout applies to a read that gives no timeout, and loses nothing", async () => {
  await using pair = await socketPair({ readTimeout: 30 });
  await assert.rejects(pair.server.readLine(), (error: unknown) => {
    assert.ok(error instanceof TimeoutError);
    assert.equal(error.timeout, 30);
    assert.match(error.message, /read a line .*timed out after 30 ms/);
    return true;
  });
  await pair.client.write("late line\n");
  await pair.client.flush();
  assert.equal(await pair.server.readLine({ timeout: 2000 }), "late line");
  // A call's own timeout replaces the default.
  const longer = pair.server.readLine({ timeout: 2000 });
  await new Promise((resolve) => setTimeout(resolve, 60));
  await pair.client.write("after 60 ms\n");
  await pair.client.flush();
  assert.equal(await longer, "after 60 ms");
});

test("connect() and listen() take readTimeout and writeTimeout; bad ones are RangeErrors naming them, Infinity is none", async () => {
  using listener = listen({ port: 0, readTimeout: 20 });
  await using client = await connect({
    port: listener.port,
    readTimeout: 25,
  });
  await using server = await listener.accept();
  await assert.rejects(server.readExactly(4), /timed out after 20 ms/);
  await assert.rejects(client.readExactly(4), /timed out after 25 ms/);
  for (const name of ["readTimeout", "writeTimeout"] as const) {
    for (const bad of [-1, NaN]) {
      assert.throws(
        () => listen({ port: 0, [name]: bad }),
        (error: unknown) =>
          error instanceof RangeError && error.message.includes(name),
      );
      await assert.rejects(
        connect({ port: listener.port, [name]: bad }),
        (error: unknown) =>
          error instanceof RangeError && error.message.includes(name),
      );
    }
  }
  // Infinity, like leaving them out, sets no limit.
  using unlimited = listen({
    port: 0,
    readTimeout: Infinity,
    writeTimeout: Infinity,
  });
  await using quiet = await connect({
    port: unlimited.port,
    readTimeout: Infinity,
    writeTimeout: Infinity,
  });
  await using accepted = await unlimited.accept();
  await quiet.write("x");
  await quiet.flush();
  assert.equal(text(await accepted.readExactly(1)), "x");
});

test("serve() takes readTimeout for its handlers' reads", async () => {
  const seen: string[] = [];
  const served = serve(async (socket) => {
    try {
      await socket.readLine();
    } catch (error) {
      seen.push((error as Error).message);
    }
  }, { port: 0, readTimeout: 30, onError: () => {} });
  await using quiet = await connect({ port: served.port });
  assert.equal(await quiet.readLine(T), null);
  await served.shutdown();
  assert.equal(seen.length, 1);
  assert.match(seen[0]!, /timed out after 30 ms/);
});

test("setDeadline() bounds a flush and the read after it; a call's timeout still applies; null clears it", async () => {
  await using pair = await socketPair();
  const { client, server } = pair;
  client.setDeadline(Date.now() + 300);
  await client.write("PING\n");
  await client.flush();
  assert.equal(await server.readLine(T), "PING");
  // The earlier of the call's timeout and the deadline wins.
  await assert.rejects(
    client.readLine({ timeout: 10 }),
    /timed out after 10 ms/,
  );
  await assert.rejects(client.readLine({ timeout: 5000 }), (error: unknown) => {
    assert.ok(error instanceof TimeoutError);
    assert.match(error.message, /its deadline passed/);
    return true;
  });
  client.setDeadline(null);
  await server.write("one\nthree\ntwo");
  await server.flush();
  assert.equal(await client.readLine(T), "one");
  // A deadline in the past fails a wait at once, but what is buffered is
  // still served.
  client.setDeadline(new Date(Date.now() - 1));
  assert.equal(await client.readLine(T), "three");
  await assert.rejects(client.readLine(T), /deadline passed/);
  client.setDeadline(null);
  await server.write("\n");
  await server.flush();
  assert.equal(await client.readLine(T), "two");
  client.setReadDeadline(Date.now() - 1);
  await assert.rejects(client.readExactly(1), TimeoutError);
  client.setReadDeadline(null);
  assert.throws(() => client.setDeadline("soon" as unknown as number), /Date/);
});

test("a write deadline that passes while a flush waits aborts the connection", async () => {
  await using pair = await socketPair();
  pair.server.setWriteDeadline(Date.now() + 50);
  // The write starts the flush, so the deadline bounds its promise.
  await assert.rejects(
    pair.server.write(new Uint8Array(64 * 1024 * 1024)),
    (error: unknown) => {
      assert.ok(error instanceof TimeoutError);
      assert.match(
        error.message,
        /deadline passed.*the connection was aborted/,
      );
      return true;
    },
  );
  assert.equal(pair.server.closed, true);
  await assert.rejects(pair.server.flush(), {
    name: "ConnectionClosedError",
    message: /aborted when a flush timed out/,
  });
});

test("writeTimeout bounds the flush a large write starts", async () => {
  await using pair = await socketPair({ writeTimeout: 50 });
  await assert.rejects(
    pair.server.write(new Uint8Array(64 * 1024 * 1024)),
    /timed out after 50 ms: the peer is not reading/,
  );
  assert.equal(pair.server.closed, true);
});

test("reads in the queue each keep their own timeout; one timing out in the queue takes nothing", async () => {
  await using pair = await socketPair({ readTimeout: 5000 });
  const { client, server } = pair;
  const first = server.readLine({ timeout: 2000 });
  const second = server.readLine({ timeout: 20 });
  const third = server.readLine();
  await assert.rejects(second, TimeoutError);
  await client.write("a\nb\n");
  await client.flush();
  assert.equal(await first, "a");
  assert.equal(await third, "b");
});

test("a read that times out with output written but not flushed says how many bytes wait", async () => {
  await using pair = await socketPair();
  await pair.client.write("GET\r\n");
  await assert.rejects(pair.client.readLine({ timeout: 10 }), {
    name: "TimeoutError",
    message: new RegExp(
      "timed out after 10 ms; 5 bytes written to it are not flushed \\(call flush\\(\\) before waiting for a reply\\)",
    ),
  });
  await pair.client.flush();
  await assert.rejects(pair.client.readLine({ timeout: 10 }), (error) => {
    assert.doesNotMatch((error as Error).message, /not flushed/);
    return true;
  });
});

test("a read that times out while a flush is sending the output does not call it unflushed", async () => {
  await using pair = await socketPair();
  // The peer reads nothing: the flush stays under way.
  pair.client.write(new Uint8Array(64 * 1024 * 1024)).catch(() => {});
  const flushing = pair.client.flush().catch(() => {});
  await assert.rejects(pair.client.readLine({ timeout: 10 }), (error) => {
    assert.ok(error instanceof TimeoutError);
    assert.match(error.message, /timed out after 10 ms$/);
    return true;
  });
  await pair.client.close({ abort: true });
  await flushing;
});

Deno.test({
  name:
    "Expiry: one timer for many waits; a wait that ends in time is only forgotten",
  permissions: "none",
  async fn() {
    const expiry = new Expiry();
    const expired: string[] = [];
    const now = performance.now();
    const fired: Record<string, Promise<void>> = {};
    const wait = (name: string, ms: number) => {
      let done!: () => void;
      fired[name] = new Promise((resolve) => done = resolve);
      return {
        at: now + ms,
        expire: () => {
          expired.push(name);
          done();
        },
      };
    };
    // The expiry timer does not keep the program running (a socket's
    // read or write in flight does): this interval stands in for one.
    const alive = setInterval(() => {}, 1000);
    const gone = wait("gone", 5);
    expiry.watch(wait("late", 400));
    expiry.watch(wait("early", 10));
    expiry.watch(gone);
    expiry.forget(gone);
    await fired.early;
    assert.deepEqual(expired, ["early"]);
    await fired.late;
    assert.deepEqual(expired, ["early", "late"]);
    expiry.watch(wait("never", 10));
    expiry.stop();
    await new Promise((resolve) => setTimeout(resolve, 30));
    clearInterval(alive);
    assert.deepEqual(expired, ["early", "late"]);
  },
});

test("an unawaited write whose flush times out is not an unhandled rejection", async () => {
  await using pair = await socketPair({ writeTimeout: 30 });
  void pair.server.write(new Uint8Array(64 * 1024 * 1024));
  await assert.rejects(pair.server.readLine({ timeout: 2000 }), {
    name: "ConnectionClosedError",
    message: /aborted when a flush timed out/,
  });
});

test("closeWrite() flushes within its closeTimeout, not the write deadline", async () => {
  await using pair = await socketPair();
  const sent = pattern(8 * 1024 * 1024);
  // More than the kernel takes at once: the flush waits for the reader.
  void pair.client.write(sent);
  pair.client.setWriteDeadline(Date.now() - 1);
  const ending = pair.client.closeWrite();
  const got = await pair.server.readBody(new Uint8Array(sent.length), T);
  await ending;
  assert.ok(got.every((byte, i) => byte === sent[i]), "every byte sent");
  assert.equal(await pair.server.readLine(T), null);
});

test("flush() keeps to the write deadline, as does a commit() that starts a flush", async () => {
  {
    // The peer never reads; the flush the write started had no limit.
    await using pair = await socketPair();
    pair.client.write(new Uint8Array(64 * 1024 * 1024)).catch(() => {});
    pair.client.setWriteDeadline(Date.now() - 1);
    await assert.rejects(
      bounded(pair.client.flush(), 2000, "flush()"),
      (error: unknown) =>
        error instanceof TimeoutError &&
        /its deadline passed/.test(error.message),
    );
    assert.equal(pair.client.closed, true);
  }
  {
    await using pair = await socketPair();
    pair.client.setWriteDeadline(Date.now() - 1);
    pair.client.reserve(64 * 1024 * 1024);
    await assert.rejects(
      bounded(pair.client.commit(64 * 1024 * 1024), 2000, "commit()"),
      TimeoutError,
    );
    assert.equal(pair.client.closed, true);
  }
});

test("a flush with nothing to send does not wait: a passed deadline or an aborted signal does not fail it", async () => {
  await using pair = await socketPair();
  pair.client.setWriteDeadline(Date.now() - 1);
  await pair.client.flush();
  await pair.client.flush({ signal: AbortSignal.abort(new Error("no")) });
  assert.equal(pair.client.closed, false);
  pair.client.setWriteDeadline(null);
  await pair.client.write("still open\n");
  await pair.client.flush();
  assert.equal(await pair.server.readLine(T), "still open");
});

test("close() flushes within its closeTimeout, not the write deadline", async () => {
  await using pair = await socketPair();
  const sent = pattern(8 * 1024 * 1024);
  // More than the kernel takes at once: the flush waits for the reader.
  void pair.client.write(sent);
  pair.client.setWriteDeadline(Date.now() - 1);
  const closing = pair.client.close();
  const got = await pair.server.readBody(new Uint8Array(sent.length), T);
  await closing;
  assert.ok(got.every((byte, i) => byte === sent[i]), "every byte sent");
});

/** A wait due at `at`, and a promise that settles when it expires. */
function due(at: number): { wait: Expiring; expired: Promise<void> } {
  let done!: () => void;
  const expired = new Promise<void>((resolve) => done = resolve);
  return { wait: { at, expire: () => done() }, expired };
}

test(
  "Expiry: after some waits expire, the timer is armed for the earliest left",
  async () => {
    const expiry = new Expiry();
    try {
      const now = performance.now();
      const first = due(now + 1);
      const next = due(now + 20);
      let lastExpired = false;
      expiry.watch(first.wait);
      expiry.watch(next.wait);
      expiry.watch({ at: now + 1e7, expire: () => lastExpired = true });
      await first.expired;
      await next.expired;
      assert.equal(lastExpired, false);
    } finally {
      expiry.stop();
    }
  },
  { permissions: "none" },
);

test(
  "Expiry: a wait due at the very time the timer fires expires then",
  async () => {
    const expiry = new Expiry();
    const real = performance.now;
    // The clock stands still: the wait is due now and stays due now.
    performance.now = () => 1000;
    try {
      const { wait, expired } = due(1000);
      expiry.watch(wait);
      await expired;
    } finally {
      performance.now = real;
      expiry.stop();
    }
  },
  { permissions: "none" },
);

test(
  "expiresAt: the earlier of the timeout and the deadline; a tie is the timeout",
  () => {
    assert.deepEqual(expiresAt(100, 50, 200), { at: 150, byDeadline: false });
    assert.deepEqual(expiresAt(100, 50, 150), { at: 150, byDeadline: false });
    assert.deepEqual(expiresAt(100, 50, 120), { at: 120, byDeadline: true });
    assert.deepEqual(expiresAt(100, Infinity, Infinity), {
      at: Infinity,
      byDeadline: false,
    });
  },
  { permissions: "none" },
);

test(
  "expiredError: a deadline's error tells how long the wait was, a timeout's its timeout",
  () => {
    const real = performance.now;
    performance.now = () => 1000;
    try {
      const late = expiredError("Cannot read a line from x", 400, 900, true);
      assert.equal(late.timeout, 600);
      assert.equal(
        late.message,
        "Cannot read a line from x: its deadline passed (after 600 ms)",
      );
      const slow = expiredError("Cannot read a line from x", 400, 900, false);
      assert.equal(slow.timeout, 900);
      assert.equal(
        slow.message,
        "Cannot read a line from x: timed out after 900 ms",
      );
    } finally {
      performance.now = real;
    }
  },
  { permissions: "none" },
);

test("Deadline: a timeout rejects with a TimeoutError naming the wait; a signal with its reason, even one aborted before", async () => {
  const timed = new Deadline({ timeout: 5 }, () => "Cannot wait for x");
  assert.equal(timed.expired, false);
  await assert.rejects(timed.race(new Promise(() => {})), {
    name: "TimeoutError",
    message: "Cannot wait for x: timed out after 5 ms",
    timeout: 5,
  });
  assert.equal(timed.expired, true);
  timed.clear();
  const reason = new Error("stop");
  const early = new Deadline(
    { signal: AbortSignal.abort(reason), timeout: 1000 },
    () => "never",
  );
  assert.equal(early.expired, true);
  await assert.rejects(early.race(new Promise(() => {})), (e) => e === reason);
  early.clear();
  const controller = new AbortController();
  const later = new Deadline({ signal: controller.signal }, () => "never");
  const racing = later.race(new Promise(() => {}));
  assert.equal(later.expired, false);
  controller.abort(reason);
  await assert.rejects(racing, (e) => e === reason);
  assert.equal(later.expired, true);
  later.clear();
  // Cleared, it no longer watches: the first of two promises wins.
  const cleared = new AbortController();
  const done = new Deadline({ signal: cleared.signal }, () => "never");
  done.clear();
  cleared.abort(reason);
  assert.equal(done.expired, false);
  assert.equal(await done.race(Promise.resolve("value")), "value");
  // Cleared before its time, its timer is gone (the sanitizer sees none).
  const unused = new Deadline({ timeout: 60_000 }, () => "never");
  assert.equal(await unused.race(Promise.resolve("first")), "first");
  unused.clear();
});

test("onAbort(): each wait on a signal is told once, and one that stopped watching is not", () => {
  const controller = new AbortController();
  const told: string[] = [];
  onAbort(controller.signal, () => told.push("a"));
  const stop = onAbort(controller.signal, () => told.push("b"));
  onAbort(controller.signal, () => told.push("c"));
  stop();
  controller.abort();
  controller.abort();
  assert.deepEqual(told, ["a", "c"]);
});

test("startTimer(): a delay longer than setTimeout takes does not fire at once", async () => {
  let fired = false;
  const stop = startTimer(() => fired = true, 2 ** 31 + 5);
  await delay(20);
  stop();
  assert.equal(fired, false);
  const short = await new Promise<boolean>((resolve) => {
    startTimer(() => resolve(true), 1);
  });
  assert.equal(short, true);
});

test("waitUntil() and untilClosed(): ready at once, a timeout is false, an abort throws; a failure after close ends the loop", async () => {
  let asked = 0;
  const never = () => {
    asked++;
    return new Promise(() => {});
  };
  assert.equal(await waitUntil(true, never, { timeout: 5 }), true);
  assert.equal(asked, 0);
  assert.equal(await waitUntil(false, never, { timeout: 5 }), false);
  assert.equal(await waitUntil(false, () => Promise.resolve(), {}), true);
  const reason = new Error("stop");
  await assert.rejects(
    waitUntil(false, never, { signal: AbortSignal.abort(reason) }),
    (e) => e === reason,
  );
  await assert.rejects(waitUntil(false, never, { timeout: -1 }), RangeError);
  let closed = false;
  let n = 0;
  const next = () => {
    n++;
    if (n <= 2) return Promise.resolve(n);
    closed = n > 3;
    return Promise.reject(new Error(`failed ${n}`));
  };
  const items: number[] = [];
  await assert.rejects(
    (async () => {
      for await (const item of untilClosed(next, () => closed)) {
        items.push(item);
      }
    })(),
    /failed 3/,
  );
  assert.deepEqual(items, [1, 2]);
  for await (const item of untilClosed(next, () => closed)) items.push(item);
  assert.deepEqual(items, [1, 2]);
});
