// TLS against other programs: openssl s_client against sock's TLS sum
// server example, sock's client against openssl s_server (TLS 1.2 and 1.3,
// ALPN, mutual TLS with -Verify 1), and STARTTLS against a Python server
// that upgrades with ssl/asyncio. Each skips with one line without its peer.
import assert from "node:assert/strict";
import { CertificateError, connect, TlsError } from "../mod.ts";
import { RunningExample, startExample } from "../tools/examples.ts";
import { type CertSet, haveOpenssl, makeCerts } from "./_certs.ts";
import { canRun, test } from "./_helpers.ts";

const opensslFound = await haveOpenssl();
const pythonFound = await canRun("python3");
if (!opensslFound) console.log("TLS interop tests skipped: openssl not found");
if (opensslFound && !pythonFound) {
  console.log("STARTTLS tests skipped: python3 not found");
}
const certs: CertSet | undefined = opensslFound ? await makeCerts() : undefined;
globalThis.addEventListener("unload", () => {
  if (certs) Deno.removeSync(certs.dir, { recursive: true });
});

const STARTTLS_SERVER = new URL("./peers/starttls_server.py", import.meta.url)
  .pathname;

function interop(
  name: string,
  fn: (c: CertSet) => Promise<void>,
  needs: { python?: boolean } = {},
): void {
  test(name, () => fn(certs!), {
    ignore: certs === undefined || (needs.python === true && !pythonFound),
    deadline: 20_000,
  });
}

/** Starts `openssl s_server -rev` (it answers each line reversed). */
async function sServer(
  c: CertSet,
  extra: string[],
): Promise<[RunningExample, number]> {
  const child = new Deno.Command("openssl", {
    args: [
      "s_server",
      "-accept",
      "127.0.0.1:0",
      "-cert",
      c.serverCertFile,
      "-key",
      c.serverKeyFile,
      "-rev",
      "-naccept",
      "1",
      ...extra,
    ],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const running = new RunningExample(child);
  const line = await running.waitForLine(/^ACCEPT /, 10_000);
  return [running, Number(line.slice(line.lastIndexOf(":") + 1))];
}

async function reversed(
  port: number,
  c: CertSet,
  tls: Record<string, unknown> = {},
): Promise<string | null> {
  await using socket = await connect({
    hostname: "localhost",
    port,
    tls: { caCerts: [c.caCert], ...tls },
    timeout: 5_000,
  });
  await socket.write("hello\n");
  await socket.flush();
  return await socket.readLine({ timeout: 5_000 });
}

for (const version of ["-tls1_2", "-tls1_3"]) {
  interop(
    `TLS interop: sock's client against openssl s_server ${version}, with ALPN`,
    async (c) => {
      const [server, port] = await sServer(c, [
        version,
        "-alpn",
        "h2,http/1.1",
      ]);
      await using _ = server;
      {
        await using socket = await connect({
          hostname: "localhost",
          port,
          tls: { caCerts: [c.caCert], alpnProtocols: ["http/1.1"] },
          timeout: 5_000,
        });
        assert.deepEqual(await socket.handshake(), {
          alpnProtocol: "http/1.1",
        });
        await socket.write("hello\n");
        await socket.flush();
        assert.equal(await socket.readLine({ timeout: 5_000 }), "olleh");
      }
      // -tls1_2 / -tls1_3 restrict s_server to that version, so the
      // exchange succeeding shows the client speaks it.
      assert.equal((await server.finish()).code, 0);
    },
  );
}

interop(
  "TLS interop: mutual TLS against openssl s_server -Verify 1",
  async (c) => {
    const [server, port] = await sServer(c, [
      "-Verify",
      "1",
      "-CAfile",
      c.caCertFile,
    ]);
    await using _ = server;
    assert.equal(
      await reversed(port, c, { cert: c.clientCert, key: c.clientKey }),
      "olleh",
    );
    // -Verify 1 refuses a client without a certificate signed by the CA
    // (the next test), so the answer shows the certificate was checked.
    assert.equal((await server.finish()).code, 0);
  },
);

interop(
  "TLS interop: without a client certificate, s_server -Verify 1 refuses: one CertificateError",
  async (c) => {
    const [server, port] = await sServer(c, [
      "-Verify",
      "1",
      "-CAfile",
      c.caCertFile,
    ]);
    await using _ = server;
    const error = await reversed(port, c).catch((e) => e);
    assert.ok(error instanceof CertificateError, String(error));
    assert.equal(error.reason, "client-certificate-required");
    assert.match(
      error.message,
      /requires a client certificate \(pass tls\.cert and tls\.key\)/,
    );
    const { stdout, stderr } = await server.finish();
    assert.match(stdout + stderr, /peer did not return a certificate/);
  },
);

interop(
  "TLS interop: openssl s_client gets 3 for `1 2 ` from the TLS sum server example",
  async (c) => {
    const server = startExample(
      "sum_server",
      [
        "--port",
        "0",
        "--tls-cert",
        c.serverCertFile,
        "--tls-key",
        c.serverKeyFile,
      ],
      [
        "--allow-net=127.0.0.1:0",
        `--allow-read=${c.serverCertFile},${c.serverKeyFile}`,
      ],
    );
    await using _ = server;
    const port = await server.listening();
    for (const extra of [[], ["-tls1_2"]]) {
      const child = new Deno.Command("openssl", {
        args: [
          "s_client",
          "-quiet",
          "-connect",
          `127.0.0.1:${port}`,
          "-servername",
          "localhost",
          "-CAfile",
          c.caCertFile,
          "-verify_return_error",
          ...extra,
        ],
        stdin: "piped",
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      const writer = child.stdin.getWriter();
      await writer.write(new TextEncoder().encode("1 2 "));
      // s_client keeps its end open until the server closes the connection.
      const { code, stdout } = await child.output();
      await writer.close().catch(() => {});
      assert.equal(new TextDecoder().decode(stdout), "3");
      assert.equal(code, 0);
    }
    const { stderr } = await server.stop();
    assert.equal(stderr, "");
  },
);

interop(
  "STARTTLS: upgrade in place against a Python ssl/asyncio server",
  async (c) => {
    await using server = new RunningExample(
      new Deno.Command("python3", {
        args: [STARTTLS_SERVER, c.serverCertFile, c.serverKeyFile, "normal"],
        stdout: "piped",
        stderr: "piped",
      }).spawn(),
    );
    const port = await server.listening();
    await using socket = await connect({ port, timeout: 5_000 });
    await socket.write("STARTTLS\r\n");
    await socket.flush();
    assert.equal(await socket.readLine({ timeout: 5_000 }), "220 go");
    assert.equal(socket.tls, false);
    await socket.startTls({
      hostname: "localhost",
      caCerts: [c.caCert],
      timeout: 5_000,
    });
    assert.equal(socket.tls, true);
    assert.equal(socket.remoteAddr.port, port);
    await socket.write("secret\n");
    await socket.flush();
    assert.equal(await socket.readLine({ timeout: 5_000 }), "tls: secret");
    assert.equal(await socket.readLine({ timeout: 5_000 }), null);
    const { stdout } = await server.finish();
    assert.doesNotMatch(stdout, /server error/);
  },
  { python: true },
);

/** A STARTTLS server with the given certificate, and a client connected by `localhost`. */
async function startTlsPeer(certFile: string, keyFile: string) {
  const server = new RunningExample(
    new Deno.Command("python3", {
      args: [STARTTLS_SERVER, certFile, keyFile, "normal"],
      stdout: "piped",
      stderr: "piped",
    }).spawn(),
  );
  const port = await server.listening();
  const socket = await connect({
    hostname: "localhost",
    port,
    timeout: 10_000,
  });
  await socket.write("STARTTLS\r\n");
  await socket.flush();
  assert.equal(await socket.readLine({ timeout: 10_000 }), "220 go");
  return { server, socket };
}

interop(
  "STARTTLS checks the certificate against the name connect() was given: a certificate for localhost only passes",
  async (c) => {
    const { server, socket } = await startTlsPeer(
      c.nameOnlyCertFile,
      c.nameOnlyKeyFile,
    );
    await using _server = server;
    await using _socket = socket;
    await socket.startTls({ caCerts: [c.caCert], timeout: 10_000 });
    await socket.write("by name\n");
    await socket.flush();
    assert.equal(await socket.readLine({ timeout: 10_000 }), "tls: by name");
  },
  { python: true },
);

interop(
  "STARTTLS: a certificate for another name is refused by the name connect() was given, and the message names startTls()'s option",
  async (c) => {
    const { server, socket } = await startTlsPeer(
      c.otherCertFile,
      c.otherKeyFile,
    );
    await using _server = server;
    await using _socket = socket;
    const error = await socket.startTls({ caCerts: [c.caCert] }).catch((e) =>
      e
    );
    assert.ok(error instanceof CertificateError, String(error));
    assert.equal(error.reason, "name-mismatch");
    assert.match(
      error.message,
      /^Cannot start TLS with 127\.0\.0\.1:\d+: the certificate is for other\.test, not localhost \(connect by one of those names, or pass hostname to startTls\(\)\)$/,
    );
  },
  { python: true },
);

interop(
  "STARTTLS: plaintext pipelined behind the go-ahead is refused; the connection is untouched",
  async (c) => {
    await using server = new RunningExample(
      new Deno.Command("python3", {
        args: [STARTTLS_SERVER, c.serverCertFile, c.serverKeyFile, "inject"],
        stdout: "piped",
        stderr: "piped",
      }).spawn(),
    );
    const port = await server.listening();
    await using socket = await connect({ port, timeout: 5_000 });
    await socket.write("STARTTLS\r\n");
    await socket.flush();
    assert.equal(await socket.readLine({ timeout: 5_000 }), "220 go");
    // Make sure the injected line has arrived in our buffer.
    await socket.waitForInput({ timeout: 5_000 });
    const error = await socket.startTls({ caCerts: [c.caCert] }).catch((e) =>
      e
    );
    assert.ok(error instanceof TlsError, String(error));
    assert.match(
      error.message,
      /^Cannot start TLS with 127\.0\.0\.1:\d+: 10 bytes arrived after the reply that allowed it \(plaintext injected before the handshake, or a protocol error\); the connection is left as it was$/,
    );
    // Untouched: the same plain connection reads and writes on.
    assert.equal(socket.tls, false);
    assert.equal(await socket.readLine({ timeout: 5_000 }), "INJECTED");
    await socket.write("still plain\n");
    await socket.flush();
    assert.equal(
      await socket.readLine({ timeout: 5_000 }),
      "plain after refusal: still plain",
    );
  },
  { python: true },
);

interop(
  "STARTTLS: refused while a read is waiting; the read and the connection go on",
  async (c) => {
    await using server = new RunningExample(
      new Deno.Command("python3", {
        args: [STARTTLS_SERVER, c.serverCertFile, c.serverKeyFile, "normal"],
        stdout: "piped",
        stderr: "piped",
      }).spawn(),
    );
    const port = await server.listening();
    await using socket = await connect({ port, timeout: 5_000 });
    await socket.write("STARTTLS\r\n");
    await socket.flush();
    const reply = socket.readLine({ timeout: 5_000 });
    const error = await socket.startTls({ caCerts: [c.caCert] }).catch((e) =>
      e
    );
    assert.ok(error instanceof TlsError, String(error));
    assert.match(error.message, /a read is waiting on the socket/);
    assert.equal(await reply, "220 go");
    await socket.startTls({
      hostname: "localhost",
      caCerts: [c.caCert],
      timeout: 5_000,
    });
    await socket.write("after\n");
    await socket.flush();
    assert.equal(await socket.readLine({ timeout: 5_000 }), "tls: after");
  },
  { python: true },
);

interop(
  "STARTTLS: an untrusted certificate is a CertificateError and the socket is closed",
  async (c) => {
    await using server = new RunningExample(
      new Deno.Command("python3", {
        args: [STARTTLS_SERVER, c.serverCertFile, c.serverKeyFile, "normal"],
        stdout: "piped",
        stderr: "piped",
      }).spawn(),
    );
    const port = await server.listening();
    await using socket = await connect({ port, timeout: 5_000 });
    await socket.write("STARTTLS\r\n");
    await socket.flush();
    assert.equal(await socket.readLine({ timeout: 5_000 }), "220 go");
    const error = await socket.startTls({
      hostname: "localhost",
      timeout: 5_000,
    })
      .catch((e) => e);
    assert.ok(error instanceof CertificateError, String(error));
    assert.equal(error.reason, "untrusted");
    assert.match(error.message, /^Cannot start TLS with 127\.0\.0\.1:\d+: /);
    assert.equal(socket.closed, true);
    await assert.rejects(socket.write("x"), CertificateError);
  },
  { python: true },
);
