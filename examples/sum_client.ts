#!/usr/bin/env -S deno run --allow-net=localhost:9231
/**
 * The `socket-sum` client of the Allegro CL socket tutorial: it sends two
 * Lisp numbers to the sum server on localhost:9231, printed as Lisp prints
 * them, and prints the sum the server answers.
 *
 * ```sh
 * deno run --allow-net=localhost:9231 examples/sum_client.ts [--host localhost] [--port 9231] A B
 * deno run --allow-net=localhost:9231 jsr:@sock/sock/sum-client 1.234 3.23423
 * deno run --allow-net=localhost:9231 https://jsr.io/@sock/sock/0.1.0/examples/sum_client.ts 3 '#C(0.0 1.0)'
 * ```
 *
 * A and B are Lisp number syntax, one argument each: `-5`, `1/3`,
 * `1.5d0`, `#x1F`, `'#C(1.0 -0.0)'`. The grant names the one address it
 * connects to, spelled as `--host` is (`localhost` and `127.0.0.1` are
 * different grants); with `--host H --port P` grant `--allow-net=H:P`.
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
  parseFlags,
  portFlag,
  run,
  UsageError,
} from "./_common/cli.ts";

const USAGE =
  "sum_client.ts [--host localhost] [--port 9231] [--timeout 10000] A B";

/** Splits the command line: flags with their values, and everything else (numbers may start with "-"). */
function splitArgs(args: string[]): { flags: string[]; numbers: string[] } {
  const flags: string[] = [];
  const numbers: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (/^--(host|port|timeout)$/.test(arg)) flags.push(arg, args[++i] ?? "");
    else if (/^--(host|port|timeout)=/.test(arg) || /^--[a-z]/.test(arg)) {
      flags.push(arg);
    } else if (arg !== "--") numbers.push(arg);
  }
  return { flags, numbers };
}

function number(text: string): LispDatum {
  let datum: LispDatum;
  try {
    datum = parseLisp(text);
  } catch (error) {
    throw new UsageError(
      `"${text}" is not Lisp syntax: ${(error as Error).message}`,
    );
  }
  if (!isLispNumber(datum)) {
    throw new UsageError(
      `"${text}" is not a number (it reads as ${formatLisp(datum)})`,
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
      host: { type: "string", default: "localhost" },
      port: { type: "string" },
      timeout: { type: "string", default: "10000" },
    },
    false,
    flags,
  );
  if (numbers.length !== 2) {
    throw new UsageError(`expected two numbers, got ${numbers.length}`);
  }
  const [a, b] = numbers.map(number) as [LispDatum, LispDatum];
  const timeout = Number(values.timeout);
  await using socket = await connect({
    hostname: values.host,
    port: portFlag(values.port, 9231),
    timeout,
  });
  await socket.write(`${formatLisp(a)} ${formatLisp(b)} `);
  await socket.flush();
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

if (import.meta.main) await run(main, USAGE);
