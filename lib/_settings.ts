// A socket's options are checked once, where the user passes them
// (connect(), listen(), serve(), new Socket(), new Listener()), into
// settings with their defaults filled in; the layers below take the
// settings as they are.
import { checkNumber } from "./_validate.ts";

const DEFAULT_MAX_BUFFER = 16 * 1024 * 1024;
const DEFAULT_CLOSE_TIMEOUT = 30_000;

/** The options a socket is made with, as the user may give them. */
export interface SocketOptionsInput {
  maxBufferSize?: number;
  closeTimeout?: number;
  noDelay?: boolean;
  keepAlive?: boolean;
  readTimeout?: number;
  writeTimeout?: number;
}

/** A socket's options, checked, with their defaults. */
export class SocketSettings {
  readonly maxBufferSize: number;
  readonly closeTimeout: number;
  /** Whether the user turned TCP_NODELAY off. */
  readonly noDelay: boolean;
  readonly keepAlive: boolean;
  /** The timeout of a read that gives none, in ms. */
  readonly readTimeout: number;
  /** The timeout of a flush that gives none, in ms. */
  readonly writeTimeout: number;

  constructor(
    maxBufferSize: number,
    closeTimeout: number,
    noDelay: boolean,
    keepAlive: boolean,
    readTimeout: number,
    writeTimeout: number,
  ) {
    this.maxBufferSize = maxBufferSize;
    this.closeTimeout = closeTimeout;
    this.noDelay = noDelay;
    this.keepAlive = keepAlive;
    this.readTimeout = readTimeout;
    this.writeTimeout = writeTimeout;
  }
}

/**
 * Checks a socket's options: a RangeError or TypeError names the first
 * that no socket can use. Settings are returned as they are.
 */
export function settleSocketOptions(
  options: SocketOptionsInput | SocketSettings,
): SocketSettings {
  if (options instanceof SocketSettings) return options;
  const {
    maxBufferSize,
    closeTimeout,
    noDelay,
    keepAlive,
    readTimeout,
    writeTimeout,
  } = options;
  if (maxBufferSize !== undefined) {
    checkNumber("maxBufferSize", maxBufferSize, 1, { integer: true });
  }
  if (closeTimeout !== undefined) {
    checkNumber("closeTimeout", closeTimeout, 0, { infinite: true });
  }
  for (
    const [name, value] of [["readTimeout", readTimeout], [
      "writeTimeout",
      writeTimeout,
    ]] as const
  ) {
    if (value !== undefined) {
      checkNumber(name, value, 0, { infinite: true });
    }
  }
  checkBoolean("noDelay", noDelay);
  checkBoolean("keepAlive", keepAlive);
  return new SocketSettings(
    maxBufferSize ?? DEFAULT_MAX_BUFFER,
    closeTimeout ?? DEFAULT_CLOSE_TIMEOUT,
    noDelay ?? true,
    keepAlive ?? false,
    readTimeout ?? Infinity,
    writeTimeout ?? Infinity,
  );
}

function checkBoolean(name: string, value: unknown): void {
  if (value !== undefined && typeof value !== "boolean") {
    throw new TypeError(
      `Cannot use ${name} ${String(value)}: it must be true or false`,
    );
  }
}
