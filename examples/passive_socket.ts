#!/usr/bin/env -S deno run --allow-net=127.0.0.1:0
/**
 * "Lisp One" of the Allegro CL socket tutorial: a passive socket on a port
 * the operating system chooses. It prints `listening on HOST:PORT`, accepts
 * one connection, reads one Lisp datum and prints it (`HELLO` when the peer
 * wrote `hello `), answers `bye `, and closes both sockets. Run
 * `active_socket.ts --port PORT` (or a Lisp peer) against it.
 *
 * ```sh
 * deno run --allow-net=127.0.0.1:0 examples/passive_socket.ts [--host 127.0.0.1] [--port 0] [--timeout 30000] [--proxy-protocol]
 * deno run --allow-net=127.0.0.1:0 jsr:@sock/sock/passive-socket
 * deno run --allow-net=127.0.0.1:0 https://jsr.io/@sock/sock/0.1.0/examples/passive_socket.ts
 * ```
 *
 * `127.0.0.1:0` is exactly the grant to listen on an OS-chosen port; with
 * `--host H --port P` grant `--allow-net=H:P` instead. `--help` lists the
 * flags.
 *
 * @module
 */
import { formatLisp, listen, readLisp } from "../mod.ts";
import {
  hostFlag,
  hostPort,
  listenPortFlag,
  millisecondsFlag,
  parseFlags,
  PROXY_FLAGS,
  proxyHelp,
  proxyOptions,
  run,
} from "./_common/cli.ts";

const HELP =
  `usage: passive_socket.ts [--host 127.0.0.1] [--port 0] [--timeout 30000] [--proxy-protocol]

Listens, accepts one connection, reads one Lisp datum and prints it, answers
"bye " and stops (Allegro CL's "Lisp One").

  --host H       the address to listen on (default 127.0.0.1)
  --port P       the port, 0 to 65535; 0 lets the OS choose (default 0)
  --timeout MS   how long to wait for the peer and its datum (default 30000)
${proxyHelp(17)}
  -h, --help     show this help

Grant: --allow-net=127.0.0.1:0; with --host H --port P, --allow-net=H:P.`;

async function main(): Promise<void> {
  const { values } = parseFlags({
    host: { type: "string", default: "127.0.0.1" },
    port: { type: "string" },
    timeout: { type: "string", default: "30000" },
    ...PROXY_FLAGS,
  });
  const hostname = hostFlag(values.host);
  const port = listenPortFlag(values.port, 0);
  const timeout = millisecondsFlag("--timeout", values.timeout);
  using passive = listen({ hostname, port, ...proxyOptions(values) });
  console.log(`listening on ${hostPort(passive.hostname, passive.port)}`);
  await using socket = await passive.accept({ timeout });
  console.log(formatLisp(await readLisp(socket, { timeout })));
  await socket.write("bye ");
  await socket.flush();
}

if (import.meta.main) await run(main, HELP);
