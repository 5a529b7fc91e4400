// `sock connect` and `sock listen` over a stream: one session with stdin
// and stdout, or (`--keep-open`) every client at once.
import { TimeoutError } from "../mod.ts";
import { type Input, note } from "./io.ts";
import type { Options } from "./options.ts";
import { runSession } from "./session.ts";
import { runHub } from "./hub.ts";
import {
  type Acceptor,
  chooseTransport,
  handshake,
  peerOf,
} from "./transport.ts";

/** How long a Unix connection may take to show it was only a check. */
const CHECK_WAIT = 100;

/** `sock connect` or `sock listen` over a stream. */
export async function runStream(
  options: Options,
  input: Input,
  open: DisposableStack,
): Promise<void> {
  const transport = chooseTransport(options);
  if (options.mode === "connect") {
    await using socket = await transport.connect();
    if (options.verbose) note(false, `connected to ${transport.address}`);
    await runSession(socket, input, options, {
      received: 0,
      sent: 0,
      ...(options.unix === undefined && !options.tls
        ? { plainTo: transport.address }
        : {}),
    });
    return;
  }
  let acceptor: Acceptor | undefined = await transport.listen();
  const close = () => {
    acceptor?.[Symbol.dispose]();
    acceptor = undefined;
  };
  open.defer(close);
  note(options.quiet, `listening on ${acceptor.address}`);
  if (options.keepOpen) {
    await runHub(acceptor, input, options);
    return;
  }
  try {
    do {
      await using socket = await acceptor.accept();
      if (options.unix !== undefined) {
        // Another listener checks whether the path is in use by connecting
        // and closing at once: a connection that ends before a byte goes
        // either way is not the one client, and the path stays bound.
        // Its close is seen before anything is sent to it, so what stdin
        // has is kept for the client.
        await socket.peek(false, { timeout: CHECK_WAIT }).catch((error) => {
          if (!(error instanceof TimeoutError)) throw error;
        });
        const traffic = await runSession(socket, input, options, {
          received: 0,
          sent: 0,
          onFirst() {
            note(options.quiet, `connection from ${peerOf(socket)}`);
            close();
          },
        }).catch((error) => {
          if (acceptor === undefined) throw error;
          return undefined;
        });
        if (traffic !== undefined && acceptor === undefined) return;
        continue;
      }
      note(options.quiet, `connection from ${peerOf(socket)}`);
      // One connection: no one else may connect meanwhile.
      close();
      await handshake(socket);
      await runSession(socket, input, options);
      return;
    } while (acceptor !== undefined);
  } finally {
    close();
  }
}
