#!/usr/bin/env -S deno run --allow-net=127.0.0.1:12321
/**
 * The TCP half of the usocket tutorial, client side: it connects to
 * 127.0.0.1:12321, waits for input (5 seconds at most), reads one line and
 * prints `Input is: Hello World`.
 *
 * ```sh
 * deno run --allow-net=127.0.0.1:12321 examples/hello_client.ts [--host 127.0.0.1] [--port 12321] [--timeout 5000]
 * deno run --allow-net=127.0.0.1:12321 jsr:@sock/sock/hello-client
 * deno run --allow-net=127.0.0.1:12321 https://jsr.io/@sock/sock/0.1.0/examples/hello_client.ts
 * ```
 *
 * The grant names the one address it connects to; with `--host H --port P`
 * grant `--allow-net=H:P` instead. `--help` lists the flags.
 *
 * @module
 */
import { connect, waitForInput } from "../mod.ts";
import {
  Failure,
  hostFlag,
  millisecondsFlag,
  parseFlags,
  peerPortFlag,
  run,
} from "./_common/cli.ts";

const HELP =
  `usage: hello_client.ts [--host 127.0.0.1] [--port 12321] [--timeout 5000]

Connects to the hello server, waits for input, reads one line and prints it
(the usocket tutorial's TCP client).

  --host H       the server's host name or IP address (default 127.0.0.1)
  --port P       its port, 1 to 65535 (default 12321)
  --timeout MS   how long to wait to connect and for input (default 5000)
  -h, --help     show this help

Grant: --allow-net=127.0.0.1:12321; with --host H --port P, --allow-net=H:P.`;

async function main(): Promise<void> {
  const { values } = parseFlags({
    host: { type: "string", default: "127.0.0.1" },
    port: { type: "string" },
    timeout: { type: "string", default: "5000" },
  });
  const hostname = hostFlag(values.host);
  const port = peerPortFlag(values.port, 12321);
  const timeout = millisecondsFlag("--timeout", values.timeout);
  await using socket = await connect({ hostname, port, timeout });
  if ((await waitForInput(socket, { timeout })).length === 0) {
    throw new Failure(`no input from the server within ${timeout} ms`);
  }
  console.log(`Input is: ${await socket.readLine({ timeout })}`);
}

if (import.meta.main) await run(main, HELP);
