/**
 * Waiting on many sockets at once: usocket's `wait-for-input`.
 *
 * @module
 */
import { checkTimeout, Deadline, type WaitOptions } from "./_deadline.ts";
import { TimeoutError } from "./errors.ts";

/**
 * Anything {@linkcode waitForInput} can wait on: a `Socket` or a `Listener`.
 *
 * @example Sockets and listeners are both waitable
 * ```ts
 * import { listen, type Waitable, waitForInput } from "@sock/sock";
 * import assert from "node:assert/strict";
 *
 * using listener = listen({ port: 0 });
 * const waitables: Waitable[] = [listener];
 * assert.deepEqual(await waitForInput(waitables, { timeout: 10 }), []);
 * ```
 */
export interface Waitable {
  /** True when a read (or an accept) would not wait. */
  readonly hasInput: boolean;
  /**
   * Waits until {@linkcode Waitable.hasInput} is true.
   *
   * @param options `timeout` in milliseconds and an abort `signal`.
   * @returns `true` when ready, `false` on timeout.
   */
  waitForInput(options?: WaitOptions): Promise<boolean>;
}

/**
 * Waits until at least one of `sockets` has input: buffered bytes, the end
 * of the stream, an error to report, or (for a listener) a connection to
 * accept. Like usocket's `wait-for-input`, but it never consumes anything,
 * so waiting and then reading loses no data. When one is ready, the others'
 * reads get one more turn of the event loop, so every socket whose input
 * has arrived by then is in the result. What counts as ready is each
 * socket's `hasInput`: input already fetched into its buffer.
 *
 * @typeParam T The kind of socket waited on.
 * @param sockets One socket or listener, or a list of them.
 * @param options `timeout` in milliseconds and an abort `signal`.
 * @returns The sockets that are ready, in the order given; an empty list
 * when the timeout passed first.
 *
 * @example Waiting for a reply
 * ```ts
 * import { connect, listen, waitForInput } from "@sock/sock";
 * import assert from "node:assert/strict";
 *
 * using listener = listen({ port: 0 });
 * await using client = await connect({ port: listener.port });
 * await using server = await listener.accept();
 *
 * assert.deepEqual(await waitForInput([client], { timeout: 10 }), []);
 * await server.write("Hello World\n");
 * await server.flush();
 * assert.deepEqual(await waitForInput([client], { timeout: 1000 }), [client]);
 * assert.equal(await client.readLine(), "Hello World");
 * ```
 */
export async function waitForInput<T extends Waitable>(
  sockets: T | readonly T[],
  options: WaitOptions = {},
): Promise<T[]> {
  checkTimeout(options.timeout);
  const list: readonly T[] = Array.isArray(sockets) ? sockets : [sockets as T];
  const ready = list.filter((socket) => socket.hasInput);
  if (ready.length > 0 || list.length === 0) return ready;
  const deadline = new Deadline(options, () => "Cannot wait for input");
  // Each socket's own wait ends with this one: none is left behind to
  // count the socket as waiting on its peer.
  const done = new AbortController();
  const waits = list.map((socket) =>
    socket.waitForInput({ signal: done.signal }).catch(() => false)
  );
  try {
    await deadline.race(Promise.race(waits));
  } catch (error) {
    if (!(error instanceof TimeoutError)) throw error;
    return list.filter((socket) => socket.hasInput);
  } finally {
    deadline.clear();
    done.abort();
  }
  // One socket is ready: give every other pending read one turn of the
  // event loop to land, so the whole ready set is returned, as usocket's
  // select-based wait-for-input does.
  await new Promise((resolve) => setTimeout(resolve, 0));
  return list.filter((socket) => socket.hasInput);
}
