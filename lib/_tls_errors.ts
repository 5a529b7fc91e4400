// What rustls says, through Deno, when a TLS handshake fails: every
// certificate failure is a Deno.errors.InvalidData with no code, told apart
// only by its message. This turns them into TlsError and CertificateError
// with messages that say what to do.
import {
  CertificateError,
  type CertificateProblem,
  type SocketError,
  type SocketErrorOptions,
  TlsError,
} from "./errors.ts";
import { formatIp, parseIp } from "./_ip.ts";

const NAME_MISMATCH = /certificate not valid for name "([^"]*)"; (.*)$/;
const SAN_NAME = /(?:DnsName|IpAddress)\(([^)]*)\)/g;
const NOT_AFTER = /not valid after (\d+)/;
const NOT_BEFORE = /not valid before (\d+)/;
const ALERT = /received fatal alert: (\w+)/;

/**
 * The names a rustls "only valid for …" text lists, unquoted; addresses in
 * their usual form (rustls writes ::1 as 0::1).
 */
function sanNames(text: string): string[] {
  return [...text.matchAll(SAN_NAME)].map((m) => {
    const name = m[1]!.replace(/^"|"$/g, "").replace(/^V[46]\((.*)\)$/, "$1");
    const ip = parseIp(name);
    return ip === undefined ? name : formatIp(ip);
  });
}

function unixDate(seconds: string): string {
  return new Date(Number(seconds) * 1000).toISOString().slice(0, 10);
}

/** Why this side refused the peer's certificate ("invalid peer certificate: …"). */
function peerCertificate(
  detail: string,
  nameOption: string,
): [CertificateProblem, string] {
  if (detail.includes("UnknownIssuer")) {
    return [
      "untrusted",
      "the peer's certificate is not signed by a CA this side trusts (pass the CA's certificate in tls.caCerts)",
    ];
  }
  if (detail.includes("BadSignature")) {
    return [
      "untrusted",
      "the peer's certificate is not signed by a CA this side trusts: it names a trusted CA as its issuer, but that CA's key did not sign it (pass the CA that did in tls.caCerts)",
    ];
  }
  if (detail.includes("CaUsedAsEndEntity")) {
    return [
      "not-a-leaf",
      "the peer's certificate is a CA certificate, not one of its own (make a leaf certificate signed by a CA, or add -addext basicConstraints=critical,CA:FALSE to a self-signed one)",
    ];
  }
  if (detail.includes("certificate expired")) {
    const after = NOT_AFTER.exec(detail)?.[1];
    return [
      "expired",
      `the peer's certificate expired${
        after ? ` on ${unixDate(after)}` : ""
      } (the peer needs a new one)`,
    ];
  }
  if (detail.includes("not valid yet")) {
    const before = NOT_BEFORE.exec(detail)?.[1];
    return [
      "expired",
      `the peer's certificate is not valid yet${
        before ? ` (from ${unixDate(before)})` : ""
      }: check this machine's clock`,
    ];
  }
  const mismatch = NAME_MISMATCH.exec(detail);
  if (mismatch) {
    const wanted = mismatch[1]!;
    const names = sanNames(mismatch[2]!);
    if (names.length === 0) {
      return [
        "name-mismatch",
        `the certificate names no host in its subjectAltName, so it is not valid for ${wanted} (TLS ignores the CN: make it with -addext subjectAltName=DNS:${wanted})`,
      ];
    }
    return [
      "name-mismatch",
      `the certificate is for ${
        names.join(", ")
      }, not ${wanted} (connect by one of those names, or ${nameOption})`,
    ];
  }
  return ["invalid", `the peer's certificate is not valid (${detail})`];
}

/** An alert the peer sent: it refused something of ours. */
function alert(name: string): [CertificateProblem | undefined, string] {
  switch (name) {
    case "CertificateRequired":
      return [
        "client-certificate-required",
        "the server requires a client certificate (pass tls.cert and tls.key)",
      ];
    case "UnknownCA":
      return [
        "rejected-by-peer",
        "the peer does not trust this side's certificate: it lacks the CA that signed it (UnknownCA)",
      ];
    case "CertificateExpired":
      return [
        "rejected-by-peer",
        "the peer refused this side's certificate as expired",
      ];
    case "DecryptError":
      return [
        "rejected-by-peer",
        "the peer could not verify a signature of this side's (DecryptError): most often it trusts another CA of the same name as the one that signed this side's certificate",
      ];
    case "BadCertificate":
    case "CertificateUnknown":
    case "UnsupportedCertificate":
    case "CertificateRevoked":
    case "AccessDenied":
      return [
        "rejected-by-peer",
        `the peer refused this side's certificate (${name}): check that it is for the name the peer connects to and signed by a CA the peer trusts`,
      ];
    case "NoApplicationProtocol":
      return [
        undefined,
        "no ALPN protocol is common to both sides (check tls.alpnProtocols)",
      ];
    case "ProtocolVersion":
    case "HandshakeFailure":
    case "InsufficientSecurity":
      return [
        undefined,
        `the peer found no TLS version or cipher in common (${name}); TLS 1.2 and 1.3 are offered`,
      ];
    case "DecodeError":
      return [
        undefined,
        "the peer could not read this side's TLS (is one side not speaking TLS?)",
      ];
    default:
      return [undefined, `the peer ended the handshake with alert ${name}`];
  }
}

/**
 * Classifies a TLS failure Deno reported as `InvalidData` (or, during a
 * handshake, `UnexpectedEof`); undefined for anything else.
 */
export function mapTlsError(
  error: unknown,
  prefix: string,
  options: SocketErrorOptions,
  nameOption: string,
): SocketError | undefined {
  if (!(error instanceof Error)) return undefined;
  const text = error.message;
  if (error instanceof Deno.errors.UnexpectedEof) {
    return new TlsError(
      `${prefix}: the peer closed the connection in the TLS handshake (a plain TCP server does that to a TLS client: connect without tls)`,
      options,
    );
  }
  if (!(error instanceof Deno.errors.InvalidData)) return undefined;
  const peer = /invalid peer certificate: (.*)$/.exec(text);
  if (peer) {
    const [reason, why] = peerCertificate(peer[1]!, nameOption);
    return new CertificateError(`${prefix}: ${why}`, reason, options);
  }
  const fatal = ALERT.exec(text);
  if (fatal) {
    const [reason, why] = alert(fatal[1]!);
    return reason === undefined
      ? new TlsError(`${prefix}: ${why}`, options)
      : new CertificateError(`${prefix}: ${why}`, reason, options);
  }
  if (text.includes("corrupt message") || text.includes("InvalidContentType")) {
    return new TlsError(
      `${prefix}: the peer sent bytes that are not TLS (a plain TCP peer on a TLS connection, or plaintext injected before the handshake)`,
      options,
    );
  }
  if (text.includes("peer doesn't support any known protocol")) {
    return new TlsError(
      `${prefix}: no ALPN protocol is common to both sides (check alpnProtocols)`,
      options,
    );
  }
  if (text.includes("peer is incompatible")) {
    return new TlsError(
      `${prefix}: the peer offers no TLS version or cipher in common (TLS 1.2 and 1.3 are supported)`,
      options,
    );
  }
  return new TlsError(`${prefix}: TLS failed (${text})`, options);
}
