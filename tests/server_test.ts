import assert from "node:assert/strict";
import {
  connect,
  connectDatagram,
  ConnectionRefusedError,
  ConnectionResetError,
  LimitExceededError,
  serve,
  serveDatagram,
  type Socket,
  TimeoutError,
} from "../mod.ts";
import { handleSum } from "../examples/sum_server.ts";
import { delay } from "./_helpers.ts";

const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);

/** Sends a sum request and returns the whole reply. */
async function ask(
  port: number,
  request: string,
  closeWrite = false,
): Promise<string> {
  await using socket = await connect({ port, timeout: 5000 });
  await socket.write(request);
  if (closeWrite) await socket.closeWrite();
  else await socket.flush();
  return text(await socket.readAll({ timeout: 5000 }));
}

Deno.test("serve() runs the handler for each connection and closes it afterwards", async () => {
  await using server = serve(handleSum, { port: 0 });
  assert.equal(await ask(server.port, "1 3 "), "4");
  assert.equal(await ask(server.port, "1.234 3.23423 "), "4.4682302");
  assert.equal(await ask(server.port, "3 #C(0.0 1.0)", true), "#C(3.0 1.0)");
});

Deno.test("serve() reports a throwing handler through onError and keeps serving", async () => {
  const reported: string[] = [];
  await using server = serve(async (socket) => {
    const line = await socket.readLine();
    if (line === "boom") throw new Error("handler failed on purpose");
    await socket.write(`ok ${line}\n`);
  }, {
    port: 0,
    onError: (error, where) =>
      reported.push(`${where}: ${(error as Error).message}`),
  });
  assert.equal(await ask(server.port, "boom\n"), "");
  assert.equal(await ask(server.port, "fine\n"), "ok fine\n");
  assert.equal(reported.length, 1);
  assert.match(
    reported[0]!,
    /^handler for 127\.0\.0\.1:\d+: handler failed on purpose$/,
  );
});

Deno.test("serve() answers bad sum requests with an error form and a good one afterwards", async (t) => {
  await using server = serve(handleSum, { port: 0, maxBufferSize: 64 * 1024 });
  const cases: [string, string][] = [
    ["foo 1 ", '(:ERROR "FOO is not a number")'],
    ['1 "two" ', '(:ERROR "\\"two\\" is not a number")'],
    ["(1 2", '(:ERROR "Cannot read list: unexpected end of input")'],
    [")", '(:ERROR "Cannot read datum: unmatched close parenthesis")'],
    [
      '#.(delete-file "x") 1 ',
      '(:ERROR "Cannot read \\"#.\\": read-time evaluation is not allowed")',
    ],
    ["3.0e38 3.0e38 ", "(:ERROR "],
    ["1.0e39 1 ", "(:ERROR "],
    ["", '(:ERROR "expected two numbers, got an empty request")'],
    ["   ", '(:ERROR "expected two numbers, got an empty request")'],
    ["7", '(:ERROR "expected two numbers, the request ended after one")'],
    ["1/0 1 ", "(:ERROR "],
    ["9".repeat(100_000), "(:ERROR "],
    ["(".repeat(10_000), "(:ERROR "],
  ];
  for (const [request, reply] of cases) {
    await t.step(JSON.stringify(request.slice(0, 24)), async () => {
      const got = await ask(server.port, request, true);
      assert.ok(got.startsWith(reply), `got ${got}`);
      assert.ok(got.endsWith(")"), `one complete form: ${got}`);
    });
  }
  assert.equal(await ask(server.port, "1 3 "), "4");
});

Deno.test("serve() closes a connection that stays idle past idleTimeout", async () => {
  await using server = serve(handleSum, { port: 0, idleTimeout: 100 });
  await using idle = await connect({ port: server.port });
  const started = performance.now();
  assert.equal(await idle.readLine({ timeout: 3000 }), null);
  const waited = performance.now() - started;
  assert.ok(waited >= 90 && waited < 2000, `closed after ${waited} ms`);
  assert.equal(await ask(server.port, "2 2 "), "4");
});

Deno.test("serve() stops accepting past maxConnections and resumes when a slot frees", async () => {
  const release: (() => void)[] = [];
  await using server = serve(async (socket: Socket) => {
    await new Promise<void>((resolve) => release.push(resolve));
    await socket.write("served\n");
  }, { port: 0, maxConnections: 2 });
  await using a = await connect({ port: server.port });
  await using b = await connect({ port: server.port });
  await using c = await connect({ port: server.port });
  for (let i = 0; i < 100 && release.length < 2; i++) await delay(5);
  await delay(30);
  assert.equal(release.length, 2, "only two handlers run");
  assert.equal(server.active, 2);
  assert.equal(
    await c.waitForInput({ timeout: 50 }),
    false,
    "the third waits unanswered",
  );
  release.shift()!();
  assert.equal(await a.readLine({ timeout: 2000 }), "served");
  for (let i = 0; i < 100 && release.length < 2; i++) await delay(5);
  assert.equal(release.length, 2, "the third is accepted once a slot frees");
  for (const resolve of release) resolve();
  assert.equal(await b.readLine({ timeout: 2000 }), "served");
  assert.equal(await c.readLine({ timeout: 2000 }), "served");
});

Deno.test("serve() limits what one connection may buffer", async () => {
  await using server = serve(async (socket) => {
    try {
      await socket.readLine({ maxLength: 1 << 30 });
    } catch (error) {
      await socket.write(`${(error as Error).name}\n`);
    }
  }, { port: 0, maxBufferSize: 16 * 1024 });
  await using client = await connect({ port: server.port });
  await client.write("x".repeat(100_000));
  await client.flush().catch(() => {});
  assert.equal(await client.readLine({ timeout: 5000 }), "LimitExceededError");
  assert.ok(new LimitExceededError("", 1));
});

Deno.test("shutdown() lets in-flight handlers finish, refuses new connections, then resolves", async () => {
  const server = serve(async (socket) => {
    const line = await socket.readLine();
    await delay(50);
    await socket.write(`done ${line}\n`);
  }, { port: 0 });
  const port = server.port;
  await using inFlight = await connect({ port });
  await inFlight.write("a\n");
  await inFlight.flush();
  await delay(10);
  const stopped = server.shutdown();
  // Closing a listener can reset a connection that reached it at that moment.
  await assert.rejects(
    connect({ port }),
    (e) =>
      e instanceof ConnectionRefusedError || e instanceof ConnectionResetError,
  );
  assert.equal(await inFlight.readLine({ timeout: 2000 }), "done a");
  await stopped;
  await server.finished;
  assert.equal(server.active, 0);
});

Deno.test("shutdown() closes handlers that outlive shutdownTimeout", async () => {
  const reported: string[] = [];
  const server = serve(async (socket) => {
    await socket.readLine();
  }, {
    port: 0,
    shutdownTimeout: 50,
    onError: (error, where) =>
      reported.push(`${where}: ${(error as Error).message}`),
  });
  await using stuck = await connect({ port: server.port });
  await delay(10);
  const started = performance.now();
  await server.shutdown();
  const took = performance.now() - started;
  assert.ok(took >= 45, `took ${took} ms: less than shutdownTimeout`);
  assert.equal(await stuck.readLine({ timeout: 2000 }), null);
  assert.equal(reported.length, 1);
  assert.match(reported[0]!, /still running 50 ms after shutdown began/);
});

Deno.test("serve() stops when its signal is aborted", async () => {
  const controller = new AbortController();
  const server = serve(handleSum, { port: 0, signal: controller.signal });
  assert.equal(await ask(server.port, "1 1 "), "2");
  controller.abort();
  await server.finished;
  await assert.rejects(connect({ port: server.port }), ConnectionRefusedError);
});

Deno.test("serveDatagram() answers with the handler's reply and survives a throwing handler", async () => {
  const reported: unknown[] = [];
  await using server = serveDatagram(({ data }) => {
    if (data[0] === 0) throw new Error("no zeros");
    return data.reverse();
  }, { port: 0, onError: (error) => reported.push(error) });
  using client = connectDatagram({ remotePort: server.port });
  await client.send(new Uint8Array([0]));
  await assert.rejects(client.receive({ timeout: 100 }), TimeoutError);
  await client.send(new Uint8Array([1, 2, 3]));
  assert.deepEqual(
    (await client.receive({ timeout: 2000 })).data,
    new Uint8Array([3, 2, 1]),
  );
  assert.equal(reported.length, 1);
});

Deno.test("serveDatagram() awaits async handlers and sends string replies", async () => {
  await using server = serveDatagram(async ({ data }) => {
    await delay(5);
    return `got ${data.length}`;
  }, { port: 0 });
  using client = connectDatagram({ remotePort: server.port });
  await client.send(new Uint8Array(7));
  assert.equal(text((await client.receive({ timeout: 2000 })).data), "got 7");
});
