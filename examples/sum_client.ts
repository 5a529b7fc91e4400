#!/usr/bin/env -S deno run --allow-net=localhost:9231
/**
 * The `socket-sum` client of the Allegro CL socket tutorial: it sends two
 * Lisp numbers to the sum server on localhost:9231, printed as Lisp prints
 * them, and prints the sum the server answers.
 *
 * ```sh
 * deno run --allow-net=localhost:9231 examples/sum_client.ts [--host localhost] [--port 9231] [--timeout 10000] A B
 * deno run --allow-net=localhost:9231 jsr:@sock/sock/sum-client 1.234 3.23423
 * deno run --allow-net=localhost:9231 https://jsr.io/@sock/sock/0.1.0/examples/sum_client.ts 3 '#C(0.0 1.0)'
 * ```
 *
 * A and B are Lisp number syntax, one argument each: `-5`, `1/3`,
 * `1.5d0`, `#x1F`, `'#C(1.0 -0.0)'`. The grant names the one address it
 * connects to, spelled as `--host` is (`localhost` and `127.0.0.1` are
 * different grants); with `--host H --port P` grant `--allow-net=H:P`.
 * `-h` and `--help` list the flags; any other argument starting with `-`
 * is a number, and after `--` everything is.
 *
 * To a TLS sum server, add `--tls`, and `--ca-cert FILE` with a grant to
 * read it when the server's certificate is signed by a private CA:
 *
 * ```sh
 * deno run --allow-net=localhost:9231 --allow-read=ca.crt examples/sum_client.ts --tls --ca-cert ca.crt 1 2
 * ```
 *
 * To a sum server on a Unix domain socket, grant the path three times:
 *
 * ```sh
 * deno run --allow-read=/tmp/sum.sock --allow-write=/tmp/sum.sock --allow-net=unix:/tmp/sum.sock examples/sum_client.ts --unix /tmp/sum.sock 1 2
 * ```
 *
 * @module
 */
import {
  connect,
  formatLisp,
  isLispNumber,
  type LispDatum,
  LispList,
  LispSymbol,
  parseLisp,
  readLisp,
} from "../mod.ts";
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
  `usage: sum_client.ts [--host localhost] [--port 9231] [--tls [--ca-cert FILE]] [--unix PATH] [--timeout 10000] A B

Sends the Lisp numbers A and B to the sum server and prints the sum it
answers (the Allegro CL tutorial's socket-sum). A and B are Lisp number
syntax, one argument each: -5, 1/3, 1.5d0, #x1F, '#C(1.0 -0.0)'.

  --host H       the server's host name or IP address (default localhost)
  --port P       its port, 1 to 65535 (default 9231)
  --tls          connect over TLS
  --ca-cert FILE trust the CA in this PEM file (implies --tls)
  --unix PATH    connect to a Unix domain socket instead of TCP
  --timeout MS   how long to wait to connect and for the sum (default 10000)
  -h, --help     show this help
  --             everything after it is a number, even if it starts with --

Grant: --allow-net=localhost:9231; with --host H --port P, --allow-net=H:P;
with --ca-cert F also --allow-read=F; with --unix P --allow-read=P
--allow-write=P --allow-net=unix:P.`;

const VALUED = /^--(host|port|timeout|ca-cert|unix)$/;

/**
 * Splits the command line into flags and numbers. Numbers may start with
 * "-" (`-5`, `-1/3`), so only `-h` and arguments starting with `--` are
 * flags, and everything after `--` is a number.
 */
function splitArgs(args: string[]): { flags: string[]; numbers: string[] } {
  const flags: string[] = [];
  const numbers: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === "--") {
      numbers.push(...args.slice(i + 1));
      break;
    }
    if (VALUED.test(arg) && i + 1 < args.length) {
      flags.push(`${arg}=${args[++i]}`); // the value may start with "-"
    } else if (arg === "-h" || /^--./.test(arg)) {
      flags.push(arg);
    } else {
      numbers.push(arg);
    }
  }
  return { flags, numbers };
}

function number(text: string): LispDatum {
  let datum: LispDatum;
  try {
    datum = parseLisp(text);
  } catch (error) {
    throw new UsageError(
      `${JSON.stringify(text)} is not Lisp syntax: ${(error as Error).message}`,
    );
  }
  if (!isLispNumber(datum)) {
    throw new UsageError(
      `${JSON.stringify(text)} is not a number (it reads as ${
        formatLisp(datum)
      })`,
    );
  }
  return datum;
}

function isErrorForm(datum: LispDatum): datum is LispList {
  const head = datum instanceof LispList ? datum.items[0] : undefined;
  return head instanceof LispSymbol && head.keyword && head.name === "ERROR";
}

async function main(): Promise<void> {
  const { flags, numbers } = splitArgs(Deno.args);
  const { values } = parseFlags(
    {
      host: { type: "string" },
      port: { type: "string" },
      tls: { type: "boolean" },
      "ca-cert": { type: "string" },
      unix: { type: "string" },
      timeout: { type: "string", default: "10000" },
    },
    false,
    flags,
  );
  const path = unixFlag(values.unix, values);
  const hostname = hostFlag(values.host ?? "localhost");
  const port = peerPortFlag(values.port, 9231);
  const timeout = millisecondsFlag("--timeout", values.timeout);
  const data = numbers.map(number);
  if (data.length !== 2) {
    throw new UsageError(`expected two numbers, got ${data.length}`);
  }
  const [a, b] = data as [LispDatum, LispDatum];
  const tls = await tlsConnectFlags(values.tls, values["ca-cert"]);
  if (tls && path !== undefined) {
    throw new UsageError(
      "--unix cannot go with --tls: Deno has no TLS over Unix sockets",
    );
  }
  await using socket = path !== undefined
    ? await connect({ path, timeout })
    : await connect({ hostname, port, timeout, ...(tls ? { tls } : {}) });
  await socket.write(`${formatLisp(a)} ${formatLisp(b)} `);
  await socket.flush();
  await refuseTlsReply(socket, timeout);
  const reply = await readLisp(socket, { timeout });
  if (isErrorForm(reply)) {
    throw new Failure(
      `the server refused: ${
        typeof reply.items[1] === "string" ? reply.items[1] : formatLisp(reply)
      }`,
    );
  }
  console.log(formatLisp(reply));
}

if (import.meta.main) await run(main, HELP);
