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
 * To a TLS hello server add `--tls` (and `--ca-cert FILE`, granted for
 * reading, for a private CA); to one on a Unix domain socket, `--unix
 * PATH` with the path granted three times:
 *
 * ```sh
 * deno run --allow-net=127.0.0.1:12321 --allow-read=ca.crt examples/hello_client.ts --tls --ca-cert ca.crt
 * deno run --allow-read=/tmp/hello.sock --allow-write=/tmp/hello.sock --allow-net=unix:/tmp/hello.sock examples/hello_client.ts --unix /tmp/hello.sock
 * ```
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
  refuseTlsReply,
  run,
  tlsConnectFlags,
  unixFlag,
  UsageError,
} from "./_common/cli.ts";

const HELP =
  `usage: hello_client.ts [--host 127.0.0.1] [--port 12321] [--tls [--ca-cert FILE]] [--unix PATH] [--timeout 5000]

Connects to the hello server, waits for input, reads one line and prints it
(the usocket tutorial's TCP client).

  --host H       the server's host name or IP address (default 127.0.0.1)
  --port P       its port, 1 to 65535 (default 12321)
  --tls          connect over TLS
  --ca-cert FILE trust the CA in this PEM file (implies --tls)
  --unix PATH    connect to a Unix domain socket instead of TCP
  --timeout MS   how long to wait to connect and for input (default 5000)
  -h, --help     show this help

Grant: --allow-net=127.0.0.1:12321; with --host H --port P, --allow-net=H:P;
with --ca-cert F also --allow-read=F; with --unix P --allow-read=P
--allow-write=P --allow-net=unix:P.`;

async function main(): Promise<void> {
  const { values } = parseFlags({
    host: { type: "string" },
    port: { type: "string" },
    tls: { type: "boolean" },
    "ca-cert": { type: "string" },
    unix: { type: "string" },
    timeout: { type: "string", default: "5000" },
  });
  const path = unixFlag(values.unix, values);
  const hostname = hostFlag(values.host ?? "127.0.0.1");
  const port = peerPortFlag(values.port, 12321);
  const timeout = millisecondsFlag("--timeout", values.timeout);
  const tls = await tlsConnectFlags(values.tls, values["ca-cert"]);
  if (tls && path !== undefined) {
    throw new UsageError(
      "--unix cannot go with --tls: Deno has no TLS over Unix sockets",
    );
  }
  await using socket = path !== undefined
    ? await connect({ path, timeout })
    : await connect({ hostname, port, timeout, ...(tls ? { tls } : {}) });
  if ((await waitForInput(socket, { timeout })).length === 0) {
    throw new Failure(`no input from the server within ${timeout} ms`);
  }
  await refuseTlsReply(socket, timeout);
  console.log(`Input is: ${await socket.readLine({ timeout })}`);
}

if (import.meta.main) await run(main, HELP);
