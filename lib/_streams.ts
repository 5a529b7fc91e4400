/**
 * Web Streams over a `Socket`: a byte stream that reads through the
 * socket's own buffer and queue, and a writable that writes through its
 * output buffer. Unlike a `Deno.Conn`'s streams, neither closes the
 * connection: the readable ends at the peer's end of stream with this side
 * still open, and the writable's `close()` is a half-close.
 *
 * @module
 */
import type { WaitOptions } from "./_deadline.ts";
import type { Parsed } from "./_read_buffer.ts";

/** What the streams use of a socket. */
interface Socket {
  readWith<T>(
    parse: (bytes: Uint8Array, eof: boolean) => Parsed<T> | undefined,
    options?: WaitOptions,
  ): Promise<T | null>;
  write(data: Uint8Array): Promise<void>;
  flush(): Promise<void>;
  closeWrite(): Promise<void>;
  close(options: { abort: boolean }): Promise<void>;
}

/** The largest chunk a default (not BYOB) reader is given. */
const CHUNK_SIZE = 256 * 1024;

/** What the read's parser returns at the end of the stream. */
const END: unique symbol = Symbol("end of stream");

/** What the read's parser throws when the stream was cancelled meanwhile. */
const CANCELLED: unique symbol = Symbol("cancelled");

const readables = new WeakMap<
  Socket,
  ReadableStream<Uint8Array<ArrayBuffer>>
>();
const writables = new WeakMap<Socket, WritableStream<Uint8Array>>();

/**
 * The socket's readable stream: the same one until it is cancelled or has
 * ended (or failed), then a new one that starts from what the socket holds
 * at that time.
 */
export function readableOf(
  socket: Socket,
): ReadableStream<Uint8Array<ArrayBuffer>> {
  let stream = readables.get(socket);
  if (stream === undefined) {
    stream = makeReadable(socket, () => {
      if (readables.get(socket) === stream) readables.delete(socket);
    });
    readables.set(socket, stream);
  }
  return stream;
}

/** The socket's writable stream, made on first use. */
export function writableOf(socket: Socket): WritableStream<Uint8Array> {
  let stream = writables.get(socket);
  if (stream === undefined) {
    stream = makeWritable(socket);
    writables.set(socket, stream);
  }
  return stream;
}

/**
 * A byte stream whose every pull is one read in the socket's queue. The
 * bytes are copied into the reader's view and handed to the stream in the
 * same step that takes them from the socket's buffer, so a cancel never
 * loses any: what the stream has not been given stays in the socket.
 */
function makeReadable(
  socket: Socket,
  finished: () => void,
): ReadableStream<Uint8Array<ArrayBuffer>> {
  const stop = new AbortController();
  let cancelled = false;
  return new ReadableStream({
    type: "bytes",
    pull(controller) {
      // A BYOB reader's view is filled; a default reader gets a chunk of
      // its own of what is buffered, up to CHUNK_SIZE.
      const request = controller.byobRequest;
      const view = request?.view;
      const into = view
        ? new Uint8Array(view.buffer, view.byteOffset, view.byteLength)
        : undefined;
      return socket.readWith<number | typeof END>((bytes, eof) => {
        if (cancelled) throw CANCELLED;
        if (bytes.length === 0) {
          return eof ? { value: END, length: 0 } : undefined;
        }
        const n = Math.min(into?.length ?? CHUNK_SIZE, bytes.length);
        if (into === undefined) {
          controller.enqueue(bytes.slice(0, n));
        } else {
          into.set(n === bytes.length ? bytes : bytes.subarray(0, n));
          request!.respond(n);
        }
        return { value: n, length: n };
      }, { signal: stop.signal }).then((got) => {
        if (got !== END || cancelled) return;
        finished();
        controller.close();
        request?.respond(0);
      }, (error) => {
        if (cancelled) return;
        finished();
        controller.error(error);
      });
    },
    cancel() {
      cancelled = true;
      finished();
      stop.abort(new DOMException("The stream was cancelled", "AbortError"));
    },
  });
}

/**
 * A writable whose every chunk is written to the socket and flushed: the
 * next chunk is taken once the operating system has this one, which is the
 * backpressure a slow peer puts on a `pipeTo()`.
 */
function makeWritable(socket: Socket): WritableStream<Uint8Array> {
  return new WritableStream<Uint8Array>({
    async write(chunk) {
      if (!(chunk instanceof Uint8Array)) {
        throw new TypeError(
          `Cannot write ${
            describeChunk(chunk)
          } to a socket's writable: it takes Uint8Array chunks (pipe text through a TextEncoderStream)`,
        );
      }
      await socket.write(chunk);
      await socket.flush();
    },
    close() {
      return socket.closeWrite();
    },
    abort() {
      return socket.close({ abort: true });
    },
  });
}

function describeChunk(chunk: unknown): string {
  if (chunk === null || chunk === undefined) return String(chunk);
  const kind = typeof chunk === "object"
    ? chunk.constructor?.name ?? "object"
    : typeof chunk;
  return `${/^[aeiou]/i.test(kind) ? "an" : "a"} ${kind}`;
}
