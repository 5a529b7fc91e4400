#!/usr/bin/env -S deno run --allow-net=127.0.0.1:12321
/**
 * The TCP half of the usocket tutorial, server side: it listens on
 * 127.0.0.1:12321, sends `Hello World` and a newline to each client, and
 * closes that connection. With `--once` it stops after the first client, as
 * the tutorial's server does; otherwise Ctrl-C (or SIGTERM) stops it. It
 * prints `said hello to HOST:PORT` for each client; behind a load balancer
 * that sends the PROXY protocol (`--proxy-protocol`), that is the client the
 * balancer names, not the balancer.
 *
 * ```sh
 * deno run --allow-net=127.0.0.1:12321 examples/hello_server.ts [--host 127.0.0.1] [--port 12321] [--once] [--quiet] [--proxy-protocol]
 * deno run --allow-net=127.0.0.1:12321 jsr:@sock/sock/hello-server
 * deno run --allow-net=127.0.0.1:12321 https://jsr.io/@sock/sock/0.1.0/examples/hello_server.ts
 * ```
 *
 * The grant names the one address it listens on; with `--host H --port P`
 * grant `--allow-net=H:P` instead. `--help` lists the flags.
 *
 * @module
 */
import { serve, type Socket } from "../mod.ts";
import {
  hostFlag,
  hostPort,
  listenPortFlag,
  onStopSignal,
  parseFlags,
  PROXY_FLAGS,
  proxyHelp,
  proxyOptions,
  run,
} from "./_common/cli.ts";

const HELP =
  `usage: hello_server.ts [--host 127.0.0.1] [--port 12321] [--once] [--quiet] [--proxy-protocol]

Sends "Hello World" and a newline to each client, then closes that
connection (the usocket tutorial's TCP server). Ctrl-C stops it.

  --host H       the address to listen on (default 127.0.0.1)
  --port P       the port, 0 to 65535; 0 lets the OS choose (default 12321)
  --once         stop after the first client
  --quiet        print no line per client
${proxyHelp(17)}
  -h, --help     show this help

Grant: --allow-net=127.0.0.1:12321; with --host H --port P, --allow-net=H:P.`;

/**
 * Greets one client and, unless `quiet`, prints a line naming it.
 *
 * @param socket The client's connection.
 * @param quiet Print nothing.
 *
 * @example A quiet hello server
 * ```ts
 * import { connect, serve } from "@sock/sock";
 * import { greet } from "@sock/sock/hello-server";
 * import assert from "node:assert/strict";
 *
 * await using server = serve((socket) => greet(socket, true), { port: 0 });
 * await using client = await connect({ port: server.port });
 * assert.equal(await client.readLine({ timeout: 1000 }), "Hello World");
 * ```
 */
export async function greet(
  socket: Socket<Deno.NetAddr>,
  quiet = false,
): Promise<void> {
  await socket.write("Hello World\n");
  await socket.flush();
  if (quiet) return;
  const { hostname, port } = socket.remoteAddr;
  console.log(`said hello to ${hostPort(hostname, port)}`);
}

async function main(): Promise<void> {
  const { values } = parseFlags({
    host: { type: "string", default: "127.0.0.1" },
    port: { type: "string" },
    once: { type: "boolean", default: false },
    quiet: { type: "boolean", default: false },
    ...PROXY_FLAGS,
  });
  const hostname = hostFlag(values.host);
  const port = listenPortFlag(values.port, 12321);
  const server = serve(async (socket) => {
    if (values.once) void server.shutdown();
    await greet(socket, values.quiet);
  }, { hostname, port, ...proxyOptions(values) });
  using _stop = onStopSignal(() => void server.shutdown());
  console.log(`listening on ${hostPort(server.addr.hostname, server.port)}`);
  await server.finished;
}

if (import.meta.main) await run(main, HELP);
