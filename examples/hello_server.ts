#!/usr/bin/env -S deno run --allow-net=127.0.0.1:12321
/**
 * The TCP half of the usocket tutorial, server side: it listens on
 * 127.0.0.1:12321, sends `Hello World` and a newline to each client, and
 * closes that connection. With `--once` it stops after the first client, as
 * the tutorial's server does; otherwise Ctrl-C (or SIGTERM) stops it.
 *
 * ```sh
 * deno run --allow-net=127.0.0.1:12321 examples/hello_server.ts [--host 127.0.0.1] [--port 12321] [--once]
 * deno run --allow-net=127.0.0.1:12321 jsr:@sock/sock/hello-server
 * deno run --allow-net=127.0.0.1:12321 https://jsr.io/@sock/sock/0.1.0/examples/hello_server.ts
 * ```
 *
 * The grant names the one address it listens on; with `--host H --port P`
 * grant `--allow-net=H:P` instead.
 *
 * @module
 */
import { serve, type Socket } from "../mod.ts";
import { onStopSignal, parseFlags, portFlag, run } from "./_common/cli.ts";

const USAGE = "hello_server.ts [--host 127.0.0.1] [--port 12321] [--once]";

async function greet(socket: Socket): Promise<void> {
  await socket.write("Hello World\n");
  await socket.flush();
  const peer = socket.remoteAddr as Deno.NetAddr;
  console.log(`said hello to ${peer.hostname}:${peer.port}`);
}

async function main(): Promise<void> {
  const { values } = parseFlags({
    host: { type: "string", default: "127.0.0.1" },
    port: { type: "string" },
    once: { type: "boolean", default: false },
  });
  const server = serve(async (socket) => {
    if (values.once) void server.shutdown();
    await greet(socket);
  }, { hostname: values.host, port: portFlag(values.port, 12321) });
  using _stop = onStopSignal(() => void server.shutdown());
  console.log(`listening on ${server.addr.hostname}:${server.port}`);
  await server.finished;
}

if (import.meta.main) await run(main, USAGE);
