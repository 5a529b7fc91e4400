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
import { listen, type Socket } from "../mod.ts";
import { onStopSignal, parseFlags, portFlag, run } from "./_cli.ts";

const USAGE = "hello_server.ts [--host 127.0.0.1] [--port 12321] [--once]";

async function greet(socket: Socket): Promise<void> {
  try {
    await socket.write("Hello World\n");
    await socket.flush();
    console.log(
      `said hello to ${
        String(
          socket.remoteAddr.transport === "tcp"
            ? `${socket.remoteAddr.hostname}:${socket.remoteAddr.port}`
            : "",
        )
      }`,
    );
  } catch (error) {
    console.error(`could not greet a client: ${(error as Error).message}`);
  } finally {
    await socket.close();
  }
}

async function main(): Promise<void> {
  const { values } = parseFlags({
    host: { type: "string", default: "127.0.0.1" },
    port: { type: "string" },
    once: { type: "boolean", default: false },
  });
  const listener = listen({
    hostname: values.host,
    port: portFlag(values.port, 12321),
  });
  using _stop = onStopSignal(() => listener.close());
  console.log(`listening on ${listener.hostname}:${listener.port}`);
  const greetings: Promise<void>[] = [];
  for await (const socket of listener) {
    if (values.once) {
      await greet(socket);
      break;
    }
    greetings.push(greet(socket));
  }
  listener.close();
  await Promise.all(greetings);
}

if (import.meta.main) await run(main, USAGE);
