#!/usr/bin/env -S deno run --allow-net=localhost
/**
 * "Lisp Two" of the Allegro CL socket tutorial: an active socket. It
 * connects to the passive socket's port, writes `hello `, flushes (Lisp's
 * `force-output`), reads one Lisp datum and prints it: `BYE`.
 *
 * ```sh
 * deno run --allow-net=localhost examples/active_socket.ts --port PORT [--host localhost] [--timeout 10000]
 * deno run --allow-net=localhost jsr:@sock/sock/active-socket --port PORT
 * deno run --allow-net=localhost https://jsr.io/@sock/sock/0.1.0/examples/active_socket.ts --port PORT
 * ```
 *
 * The port is whatever the passive side printed, so the grant is the
 * host, written exactly as `--host` (default `localhost`); once you know the
 * port you can narrow it to `--allow-net=localhost:PORT`. `--help` lists
 * the flags.
 *
 * @module
 */
import { connect, formatLisp, readLisp } from "../mod.ts";
import {
  hostFlag,
  millisecondsFlag,
  parseFlags,
  peerPortFlag,
  run,
  UsageError,
} from "./_common/cli.ts";

const HELP =
  `usage: active_socket.ts --port PORT [--host localhost] [--timeout 10000]

Connects to the passive socket, writes "hello ", reads one Lisp datum and
prints it (Allegro CL's "Lisp Two").

  --port P       the port the passive socket printed, 1 to 65535 (required)
  --host H       its host name or IP address (default localhost)
  --timeout MS   how long to wait to connect and for the answer (default 10000)
  -h, --help     show this help

Grant: --allow-net=localhost, or the host exactly as --host spells it.`;

async function main(): Promise<void> {
  const { values } = parseFlags({
    host: { type: "string", default: "localhost" },
    port: { type: "string" },
    timeout: { type: "string", default: "10000" },
  });
  if (values.port === undefined) {
    throw new UsageError(
      "--port is required: the port the passive socket printed",
    );
  }
  const hostname = hostFlag(values.host);
  const port = peerPortFlag(values.port, 0);
  const timeout = millisecondsFlag("--timeout", values.timeout);
  await using socket = await connect({ hostname, port, timeout });
  await socket.write("hello ");
  await socket.flush();
  console.log(formatLisp(await readLisp(socket, { timeout })));
}

if (import.meta.main) await run(main, HELP);
