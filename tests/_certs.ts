// Certificates for the TLS tests, made with the openssl command line in a
// temporary directory: a CA, a server leaf for localhost/127.0.0.1/::1, a
// leaf for another name, an expired leaf, and a client certificate.

/** The PEM files one run makes, as paths and as text. */
export interface CertSet {
  /** The temporary directory holding every file. */
  dir: string;
  caCertFile: string;
  serverCertFile: string;
  serverKeyFile: string;
  caCert: string;
  serverCert: string;
  serverKey: string;
  /** A leaf signed by the CA for `other.test` only. */
  otherCert: string;
  otherKey: string;
  otherCertFile: string;
  otherKeyFile: string;
  /** A leaf signed by the CA for the name `localhost` only (no address). */
  nameOnlyCertFile: string;
  nameOnlyKeyFile: string;
  /** A leaf for localhost signed by the CA, valid only during 2020. */
  expiredCert: string;
  expiredKey: string;
  /** A client certificate (CN=sock-client) signed by the CA. */
  clientCert: string;
  clientKey: string;
  clientCertFile: string;
  clientKeyFile: string;
  /** A CA no certificate here is signed by. */
  strangerCaCert: string;
  /** Another CA with the test CA's very name and a key of its own. */
  impostorCaCert: string;
  /** openssl's one-line self-signed certificate for localhost: a CA certificate. */
  selfSignedCaCert: string;
  selfSignedCaKey: string;
  /** A leaf for localhost signed by the CA with no subjectAltName (only a CN). */
  noSanCert: string;
  noSanKey: string;
  /** Removes the directory. */
  [Symbol.asyncDispose](): Promise<void>;
}

/** True when the `openssl` command can be run. */
export async function haveOpenssl(): Promise<boolean> {
  try {
    const { success } = await new Deno.Command("openssl", {
      args: ["version"],
      stdout: "null",
      stderr: "null",
    }).output();
    return success;
  } catch {
    return false;
  }
}

async function openssl(dir: string, args: string[]): Promise<void> {
  const { success, stderr } = await new Deno.Command("openssl", {
    args,
    cwd: dir,
    stdout: "null",
    stderr: "piped",
  }).output();
  if (!success) {
    throw new Error(
      `openssl ${args.join(" ")} failed: ${new TextDecoder().decode(stderr)}`,
    );
  }
}

const LEAF_EXT = (san: string, usage: string) =>
  `subjectAltName=${san}\nbasicConstraints=CA:FALSE\n` +
  `keyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=${usage}\n`;

/** Makes a CA, signs `name` with it using `ext`, in `dir`. */
async function leaf(
  dir: string,
  name: string,
  subject: string,
  ext: string,
): Promise<void> {
  await Deno.writeTextFile(`${dir}/${name}.ext`, ext);
  await openssl(dir, [
    "req",
    "-newkey",
    "rsa:2048",
    "-nodes",
    "-sha256",
    "-keyout",
    `${name}.key`,
    "-out",
    `${name}.csr`,
    "-subj",
    subject,
  ]);
  await openssl(dir, [
    "x509",
    "-req",
    "-sha256",
    "-in",
    `${name}.csr`,
    "-CA",
    "ca.crt",
    "-CAkey",
    "ca.key",
    "-CAcreateserial",
    "-days",
    "30",
    "-extfile",
    `${name}.ext`,
    "-out",
    `${name}.crt`,
  ]);
}

async function makeCa(dir: string, name: string, cn: string): Promise<void> {
  await openssl(dir, [
    "req",
    "-x509",
    "-newkey",
    "rsa:2048",
    "-nodes",
    "-sha256",
    "-days",
    "30",
    "-keyout",
    `${name}.key`,
    "-out",
    `${name}.crt`,
    "-subj",
    `/CN=${cn}`,
    "-addext",
    "basicConstraints=critical,CA:TRUE",
    "-addext",
    "keyUsage=critical,keyCertSign,cRLSign",
  ]);
}

/** An expired leaf: `openssl ca` is the one that can set past dates. */
async function expiredLeaf(dir: string): Promise<void> {
  await Deno.mkdir(`${dir}/ca-db`);
  await Deno.writeTextFile(`${dir}/ca-db/index.txt`, "");
  await Deno.writeTextFile(`${dir}/ca-db/serial`, "1000\n");
  await Deno.writeTextFile(
    `${dir}/ca.cnf`,
    [
      "[ ca ]",
      "default_ca = test_ca",
      "[ test_ca ]",
      "dir = ./ca-db",
      "database = $dir/index.txt",
      "serial = $dir/serial",
      "new_certs_dir = $dir",
      "certificate = ca.crt",
      "private_key = ca.key",
      "default_md = sha256",
      "policy = any",
      "unique_subject = no",
      "copy_extensions = none",
      "x509_extensions = leaf_ext",
      "[ any ]",
      "commonName = supplied",
      "[ leaf_ext ]",
      "subjectAltName = DNS:localhost,IP:127.0.0.1",
      "basicConstraints = CA:FALSE",
      "keyUsage = critical,digitalSignature,keyEncipherment",
      "extendedKeyUsage = serverAuth",
      "",
    ].join("\n"),
  );
  await openssl(dir, [
    "req",
    "-newkey",
    "rsa:2048",
    "-nodes",
    "-sha256",
    "-keyout",
    "expired.key",
    "-out",
    "expired.csr",
    "-subj",
    "/CN=localhost",
  ]);
  await openssl(dir, [
    "ca",
    "-batch",
    "-config",
    "ca.cnf",
    "-in",
    "expired.csr",
    "-out",
    "expired.crt",
    "-startdate",
    "20200101000000Z",
    "-enddate",
    "20210101000000Z",
    "-notext",
  ]);
}

/** Makes every certificate in a new temporary directory. */
export async function makeCerts(): Promise<CertSet> {
  const dir = await Deno.makeTempDir({ prefix: "sock-certs-" });
  try {
    await makeCa(dir, "ca", "sock test CA");
    await makeCa(dir, "stranger", "sock stranger CA");
    await makeCa(dir, "impostor", "sock test CA");
    await leaf(
      dir,
      "server",
      "/CN=localhost",
      LEAF_EXT("DNS:localhost,IP:127.0.0.1,IP:::1", "serverAuth"),
    );
    await leaf(
      dir,
      "other",
      "/CN=other.test",
      LEAF_EXT("DNS:other.test", "serverAuth"),
    );
    await leaf(
      dir,
      "nameonly",
      "/CN=localhost",
      LEAF_EXT("DNS:localhost", "serverAuth"),
    );
    await leaf(
      dir,
      "client",
      "/CN=sock-client",
      LEAF_EXT("DNS:sock-client", "clientAuth"),
    );
    await expiredLeaf(dir);
    await openssl(dir, [
      "req",
      "-x509",
      "-newkey",
      "rsa:2048",
      "-nodes",
      "-sha256",
      "-days",
      "30",
      "-keyout",
      "selfsigned.key",
      "-out",
      "selfsigned.crt",
      "-subj",
      "/CN=localhost",
      "-addext",
      "subjectAltName=DNS:localhost",
    ]);
    await leaf(
      dir,
      "nosan",
      "/CN=localhost",
      "basicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    );
  } catch (error) {
    await Deno.remove(dir, { recursive: true });
    throw error;
  }
  const read = (name: string) => Deno.readTextFileSync(`${dir}/${name}`);
  return {
    dir,
    caCertFile: `${dir}/ca.crt`,
    serverCertFile: `${dir}/server.crt`,
    serverKeyFile: `${dir}/server.key`,
    clientCertFile: `${dir}/client.crt`,
    clientKeyFile: `${dir}/client.key`,
    caCert: read("ca.crt"),
    serverCert: read("server.crt"),
    serverKey: read("server.key"),
    otherCert: read("other.crt"),
    otherKey: read("other.key"),
    otherCertFile: `${dir}/other.crt`,
    otherKeyFile: `${dir}/other.key`,
    nameOnlyCertFile: `${dir}/nameonly.crt`,
    nameOnlyKeyFile: `${dir}/nameonly.key`,
    expiredCert: read("expired.crt"),
    expiredKey: read("expired.key"),
    clientCert: read("client.crt"),
    clientKey: read("client.key"),
    strangerCaCert: read("stranger.crt"),
    impostorCaCert: read("impostor.crt"),
    selfSignedCaCert: read("selfsigned.crt"),
    selfSignedCaKey: read("selfsigned.key"),
    noSanCert: read("nosan.crt"),
    noSanKey: read("nosan.key"),
    async [Symbol.asyncDispose]() {
      await Deno.remove(dir, { recursive: true });
    },
  };
}

/**
 * Writes `cert.pem` and `key.pem` into `dir`: a self-signed EC leaf for the
 * name localhost only (no address, not a CA), in one quick openssl call.
 */
export async function makeLocalhostCert(dir: string): Promise<void> {
  const { success, stderr } = await new Deno.Command("openssl", {
    args: [
      ..."req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 -subj /CN=localhost"
        .split(" "),
      "-addext",
      "subjectAltName=DNS:localhost",
      "-addext",
      "basicConstraints=critical,CA:FALSE",
      "-keyout",
      `${dir}/key.pem`,
      "-out",
      `${dir}/cert.pem`,
    ],
    stdout: "null",
    stderr: "piped",
  }).output();
  if (!success) throw new Error(new TextDecoder().decode(stderr));
}
