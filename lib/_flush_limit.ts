// A flush bounded in time: by its own timeout, the socket's default write
// timeout or write deadline, or a signal, watched by the socket's expiry
// timer. A flush cut short aborts the connection, since a stream cut in
// the middle of a write cannot be resumed.
import { checkTimeout, onAbort, type WaitOptions } from "./_deadline.ts";
import {
  expiredError,
  expiresAt,
  type Expiring,
  type Expiry,
} from "./_expiry.ts";
import { ConnectionClosedError, TimeoutError } from "./errors.ts";

/**
 * Waits for `flushed` within the limits of `options`, the default timeout
 * of `expiry` and (when `useDeadline`) its write deadline; when
 * they pass first, calls `abort` with the reason the connection is closed
 * and rejects with a `TimeoutError` (or the signal's reason).
 */
export function flushWithin(
  flushed: Promise<void>,
  expiry: Expiry,
  useDeadline: boolean,
  options: WaitOptions | undefined,
  peer: () => string,
  abort: (error: ConnectionClosedError) => void,
): Promise<void> {
  const deadline = useDeadline ? expiry.writeDeadline : Infinity;
  if (
    (options?.timeout ?? expiry.writeTimeout) === Infinity &&
    deadline === Infinity && options?.signal === undefined
  ) return flushed;
  try {
    checkTimeout(options?.timeout);
  } catch (error) {
    return Promise.reject(error);
  }
  const signal = options?.signal;
  const timeout = options?.timeout ?? expiry.writeTimeout;
  const began = performance.now();
  const { at, byDeadline } = expiresAt(began, timeout, deadline);
  const bounded = new Promise<void>((resolve, reject) => {
    let finished = false;
    let stopWatching: (() => void) | undefined;
    const end = (): boolean => {
      if (finished) return false;
      finished = true;
      if (at !== Infinity) expiry.forget(wait);
      stopWatching?.();
      return true;
    };
    const cut = (error: unknown) => {
      if (!end()) return;
      const timedOut = error instanceof TimeoutError;
      const why = timedOut
        ? new TimeoutError(
          `${error.message}: the peer is not reading; the connection was aborted, since a stream cut in the middle of a write cannot be resumed`,
          error.timeout,
        )
        : error;
      abort(
        new ConnectionClosedError(
          `Cannot use the connection to ${peer()}: it was aborted when a flush ${
            timedOut ? "timed out" : "was aborted"
          }`,
        ),
      );
      reject(why);
    };
    const wait: Expiring = {
      at,
      expire: () =>
        cut(
          expiredError(`Cannot send to ${peer()}`, began, timeout, byDeadline),
        ),
    };
    if (signal !== undefined) {
      if (signal.aborted) return cut(signal.reason);
      stopWatching = onAbort(signal, () => cut(signal.reason));
    }
    if (at !== Infinity) expiry.watch(wait);
    flushed.then(() => {
      if (end()) resolve();
    }, (error) => {
      if (end()) reject(error);
    });
  });
  // An unawaited write() whose flush this bounds must not crash.
  bounded.catch(() => {});
  return bounded;
}
