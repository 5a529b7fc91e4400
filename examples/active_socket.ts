#!/usr/bin/env -S deno run --allow-net=localhost
/**
 * "Lisp Two" of the Allegro CL socket tutorial: an active socket. It
 * connects to the passive socket's port, writes `hello `, flushes (Lisp's
 * `force-output`), reads one Lisp datum and prints it: `BYE`.
 *
 * ```sh
 * deno run --allow-net=localhost examples/active_socket.ts --port PORT [--host localhost]
 * deno run --allow-net=localhost jsr:@sock/sock/active-socket --port PORT
 * deno run --allow-net=localhost https://jsr.io/@sock/sock/0.1.0/examples/active_socket.ts --port PORT
 * ```
 *
 * The port is whatever the passive side printed, so the grant is the
 * host, written exactly as `--host` (default `localhost`); once you know the
 * port you can narrow it to `--allow-net=localhost:PORT`.
 *
 * @module
 */
import { connect, formatLisp, readLisp } from "../mod.ts";
import { parseFlags, portFlag, run, UsageError } from "./_common/cli.ts";

const USAGE =
  "active_socket.ts --port PORT [--host localhost] [--timeout 10000]";

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
  const timeout = Number(values.timeout);
  await using socket = await connect({
    hostname: values.host,
    port: portFlag(values.port, 0),
    timeout,
  });
  await socket.write("hello ");
  await socket.flush();
  console.log(formatLisp(await readLisp(socket, { timeout })));
}

if (import.meta.main) await run(main, USAGE);
