// What every example shares: flag parsing, one-line errors, clean stops.
import { parseArgs, type ParseArgsConfig } from "node:util";
import { LispArithmeticError, LispReadError, SocketError } from "../../mod.ts";

/** A mistake in how the program was called; printed with the usage line. */
export class UsageError extends Error {
  /** Makes the error. */
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

/** A failure to report as one line, without the usage. */
export class Failure extends Error {
  /** Makes the error. */
  constructor(message: string) {
    super(message);
    this.name = "Failure";
  }
}

/** Parses `Deno.args` with node:util's parseArgs, turning its errors into UsageErrors. */
export function parseFlags<
  const O extends NonNullable<ParseArgsConfig["options"]>,
  const P extends boolean = false,
>(options: O, allowPositionals?: P, args: string[] = Deno.args) {
  try {
    return parseArgs({
      args,
      options,
      allowPositionals: (allowPositionals ?? false) as P,
      strict: true,
    });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}

/** Reads a port flag: a whole number from 0 to 65535. */
export function portFlag(value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const port = Number(value);
  if (!/^\d+$/.test(value) || port > 65535) {
    throw new UsageError(
      `--port must be a whole number from 0 to 65535, not "${value}"`,
    );
  }
  return port;
}

/** Reads a flag that must be a whole number above 0. */
export function positiveFlag(name: string, value: string): number {
  const number = Number(value);
  if (!/^\d+$/.test(value) || number <= 0) {
    throw new UsageError(
      `${name} must be a whole number above 0, not "${value}"`,
    );
  }
  return number;
}

/** One line for an error a user can fix; a stack trace only for a bug. */
export function describe(error: unknown): string {
  if (
    error instanceof SocketError || error instanceof UsageError ||
    error instanceof Failure || error instanceof LispReadError ||
    error instanceof LispArithmeticError
  ) {
    return error.message;
  }
  return error instanceof Error
    ? (error.stack ?? error.message)
    : String(error);
}

/**
 * Runs an example's main function: a user mistake (refused connection,
 * missing permission, bad flag) prints one line on stderr and exits 1.
 */
export async function run(
  main: () => Promise<void>,
  usage: string,
): Promise<void> {
  try {
    await main();
  } catch (error) {
    console.error(`error: ${describe(error)}`);
    if (error instanceof UsageError) console.error(`usage: ${usage}`);
    Deno.exit(1);
  }
}

/** Calls `stop` on the first SIGINT or SIGTERM; dispose it to stop listening for them. */
export function onStopSignal(stop: () => void): Disposable {
  const signals: Deno.Signal[] = Deno.build.os === "windows"
    ? ["SIGINT"]
    : ["SIGINT", "SIGTERM"];
  const handler = () => stop();
  for (const signal of signals) Deno.addSignalListener(signal, handler);
  return {
    [Symbol.dispose]() {
      for (const signal of signals) Deno.removeSignalListener(signal, handler);
    },
  };
}

/** Prints bytes the way Lisp prints an octet vector: `#(1 2 3)`. */
export function lispVector(bytes: Uint8Array): string {
  return `#(${bytes.join(" ")})`;
}
