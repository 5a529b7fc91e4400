// The write side: every written array is copied, whatever its size, so it
// may be reused at once; reserve() and commit() encode straight into the
// output buffer.
import assert from "node:assert/strict";
import { listen, Socket, SocketError } from "../mod.ts";
import { WriteBuffer } from "../lib/_write_buffer.ts";
import { IdleClock } from "../lib/_idle.ts";
import { pattern, rawConnect, socketPair, test } from "./_helpers.ts";

const T = { timeout: 5000 };

// 32 MiB is more than the kernel takes at once: a write sent from the
// caller's array would send zeros for the rest.
for (const size of [10, 64 * 1024, 32 * 1024 * 1024]) {
  test(`an array of ${size} bytes may be changed as soon as write() returns, with nothing buffered before it`, async () => {
    await using pair = await socketPair();
    const data = pattern(size);
    const sent = data.slice();
    const writing = pair.client.write(data);
    data.fill(0); // before the write has settled
    const sending = writing.then(() => pair.client.flush());
    const got = await pair.server.readBody(new Uint8Array(size), T);
    await sending;
    assert.ok(
      got.every((byte, i) => byte === sent[i]),
      "every byte as written",
    );
  });
}

test("reserve() and commit() append bytes encoded in place, between ordinary writes", async () => {
  await using pair = await socketPair();
  await pair.client.write("a");
  const view = pair.client.reserve(3);
  assert.ok(view.length >= 3);
  view.set([98, 99, 100]);
  await pair.client.commit(2);
  await pair.client.write("e");
  // A reservation larger than a buffer's first piece grows the buffer.
  const big = pair.client.reserve(100_000);
  big.set(pattern(100_000));
  await pair.client.commit(100_000);
  await pair.client.flush();
  const got = await pair.server.readExactly(4 + 100_000, T);
  assert.equal(new TextDecoder().decode(got.subarray(0, 4)), "abce");
  assert.deepEqual(got.subarray(4), pattern(100_000));
});

test("commit() without a reservation, after another write, or past the view is refused", async () => {
  await using pair = await socketPair();
  assert.throws(() => pair.client.commit(1), TypeError);
  pair.client.reserve(4);
  await pair.client.write("x");
  assert.throws(() => pair.client.commit(1), /changed since reserve\(\)/);
  const view = pair.client.reserve(4);
  assert.throws(() => pair.client.commit(view.length + 1), RangeError);
  assert.throws(() => pair.client.reserve(-1), RangeError);
  await pair.client.close();
  pair.client.reserve(1);
  await assert.rejects(pair.client.commit(1), {
    name: "ConnectionClosedError",
  });
});

test("reserve() takes any whole count from 0, and refuses others with a RangeError that says so", async () => {
  await using pair = await socketPair();
  assert.ok(pair.client.reserve(0).length >= 0);
  await pair.client.commit(0);
  for (const bad of [-1, 1.5, NaN, Infinity]) {
    assert.throws(() => pair.client.reserve(bad), {
      name: "RangeError",
      message:
        `Cannot reserve ${bad} bytes: the count must be a whole number >= 0`,
    });
  }
});

test("after a write fails, commit() fails with the same error", async () => {
  using listener = listen({ port: 0 });
  const conn = await rawConnect(listener.port);
  await using socket = new Socket(conn);
  await using _server = await listener.accept(T);
  conn.close();
  await socket.write("lost");
  const failure = await socket.flush().catch((error) => error);
  assert.ok(failure instanceof SocketError, String(failure));
  socket.reserve(1)[0] = 1;
  await assert.rejects(socket.commit(1), (error) => error === failure);
  await assert.rejects(socket.write("x"), (error) => error === failure);
});

Deno.test({
  name:
    "WriteBuffer: a reserved view goes stale when a drain moves the bytes after those it sent",
  permissions: "none",
  async fn() {
    const taken: number[] = [];
    let release!: () => void;
    const sink = {
      write(p: Uint8Array): Promise<number> {
        taken.push(...p);
        return new Promise<number>((resolve) => {
          release = () => resolve(p.length);
        });
      },
    };
    const out = new WriteBuffer(
      sink,
      () => "memory",
      new IdleClock(),
      { resetSeen: undefined },
    );
    await out.append(new Uint8Array([1, 2]));
    const drained = out.flush();
    await out.append(new Uint8Array([3]));
    out.reserve(2)[0] = 4;
    release(); // the drain sends [1, 2], then moves [3] to the front
    await new Promise((resolve) => setTimeout(resolve, 0));
    assert.throws(() => out.commit(1), TypeError);
    release();
    await drained;
    assert.deepEqual(taken, [1, 2, 3]);
  },
});
