// How the listener and the server loops tell their owner about an error:
// always as an Error, and never letting a broken reporter stop them.

/**
 * Reports an error a handler threw, or one the loop met. `error` is always
 * an `Error` (a thrown value that is not one arrives wrapped, as its
 * `cause`), usually one of sock's `SocketError` classes, so `instanceof`
 * tells the expected from the unexpected without a cast.
 *
 * @example Counting handler errors, leaving out the resets clients cause
 * ```ts
 * import {
 *   connect,
 *   ConnectionResetError,
 *   type ErrorReporter,
 *   serve,
 * } from "@sock/sock";
 * import assert from "node:assert/strict";
 *
 * const reported: string[] = [];
 * const onError: ErrorReporter = (error, where) => {
 *   if (error instanceof ConnectionResetError) return; // a client went away
 *   reported.push(`${where}: ${error.message}`);
 * };
 * await using server = serve(() => {
 *   throw new Error("bad");
 * }, { port: 0, onError });
 *
 * await using client = await connect({ port: server.port });
 * assert.equal(await client.readLine({ timeout: 5000 }), null);
 * assert.equal(reported.length, 1);
 * assert.match(reported[0]!, /^handler for 127\.0\.0\.1:\d+: bad$/);
 * ```
 */
export type ErrorReporter = (error: Error, where: string) => void;

/** One line on stderr: `${where}: ${error.message}`. */
const defaultReporter: ErrorReporter = (error, where) => {
  console.error(`${where}: ${error.message}`);
};

/**
 * Tells `reporter` (or the default one) about `error`, as an Error; a
 * reporter that throws or returns a rejected promise is ignored.
 */
export function report(
  reporter: ErrorReporter | undefined,
  error: unknown,
  where: string,
): void {
  const reported = error instanceof Error
    ? error
    : new Error(String(error), { cause: error });
  try {
    const result: unknown = (reporter ?? defaultReporter)(reported, where);
    if (result instanceof Promise) result.catch(() => {});
  } catch {
    // A broken reporter must not stop the listener or the server.
  }
}
