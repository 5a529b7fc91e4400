#!/usr/bin/env -S deno run --allow-net=127.0.0.1:12321
/**
 * The TCP half of the usocket tutorial, client side: it connects to
 * 127.0.0.1:12321, waits for input (5 seconds at most), reads one line and
 * prints `Input is: Hello World`.
 *
 * ```sh
 * deno run --allow-net=127.0.0.1:12321 examples/hello_client.ts [--host 127.0.0.1] [--port 12321]
 * deno run --allow-net=127.0.0.1:12321 jsr:@sock/sock/hello-client
 * deno run --allow-net=127.0.0.1:12321 https://jsr.io/@sock/sock/0.1.0/examples/hello_client.ts
 * ```
 *
 * The grant names the one address it connects to; with `--host H --port P`
 * grant `--allow-net=H:P` instead.
 *
 * @module
 */
import { connect, waitForInput } from "../mod.ts";
import { Failure, parseFlags, portFlag, run } from "./_common/cli.ts";

const USAGE =
  "hello_client.ts [--host 127.0.0.1] [--port 12321] [--timeout 5000]";

async function main(): Promise<void> {
  const { values } = parseFlags({
    host: { type: "string", default: "127.0.0.1" },
    port: { type: "string" },
    timeout: { type: "string", default: "5000" },
  });
  const timeout = Number(values.timeout);
  await using socket = await connect({
    hostname: values.host,
    port: portFlag(values.port, 12321),
    timeout,
  });
  if ((await waitForInput(socket, { timeout })).length === 0) {
    throw new Failure(`no input from the server within ${timeout} ms`);
  }
  console.log(`Input is: ${await socket.readLine()}`);
}

if (import.meta.main) await run(main, USAGE);
