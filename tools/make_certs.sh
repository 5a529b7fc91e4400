#!/bin/sh
# Makes a throwaway CA and a certificate for localhost signed by it, in the
# directory given (default: the current one; made when it does not exist),
# for `deno task demo` and for trying the TLS examples by hand:
#
#   sh tools/make_certs.sh DIR
#   -> DIR/ca.crt  DIR/server.crt  DIR/server.key   (valid for 30 days)
#
# The certificate names localhost, 127.0.0.1 and ::1 in its subjectAltName:
# Deno's TLS (rustls) ignores the CN.
set -eu
dir=${1:-.}
mkdir -p "$dir"
cd "$dir"
openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days 30 \
  -keyout ca.key -out ca.crt -subj "/CN=sock demo CA" \
  -addext "basicConstraints=critical,CA:TRUE" \
  -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n' >server.ext
openssl req -newkey rsa:2048 -nodes -sha256 -keyout server.key -out server.csr \
  -subj "/CN=localhost" 2>/dev/null
openssl x509 -req -sha256 -in server.csr -CA ca.crt -CAkey ca.key \
  -CAcreateserial -days 30 -extfile server.ext -out server.crt 2>/dev/null
rm -f server.csr server.ext ca.srl ca.key
