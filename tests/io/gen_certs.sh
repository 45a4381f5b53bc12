#!/usr/bin/env bash
# gen_certs.sh OUTDIR: the certificates the io/ interop tests present and trust.
#
#   ca.pem, ca.key            the test root CA: the only one the client under test trusts
#   server.pem, server.key    localhost (DNS:localhost, IP:127.0.0.1), signed by ca, ~10 years
#   expired.pem, expired.key  same names, signed by ca, valid 2020-01-01..2020-01-02 only
#   other_ca.pem, other_ca.key  a second root that the client must NOT trust
#   unknown.pem, unknown.key  localhost, signed by other_ca, currently valid
#   wrongname.pem, wrongname.key  other.test only (no localhost), signed by ca: a client
#                             that asked for localhost must refuse it
#
# Keys are EC P-256 in PKCS#8 PEM. Idempotent: when OUTDIR already holds every file, it does
# nothing. Safe to run concurrently (ctest -j): the work happens under a lock in OUTDIR, in a
# scratch folder whose files are moved into place only once all of them exist.
#
# Needs the openssl command (OpenSSL 3.0 on Debian 12) and flock (util-linux).
set -euo pipefail

if [ $# -ne 1 ]; then
	echo "usage: $0 OUTDIR" >&2
	exit 2
fi
out=$1
files=(ca.pem ca.key server.pem server.key expired.pem expired.key
	other_ca.pem other_ca.key unknown.pem unknown.key wrongname.pem wrongname.key)

complete() {
	local f
	for f in "${files[@]}"; do
		[ -s "$out/$f" ] || return 1
	done
}

mkdir -p "$out"
complete && exit 0

exec 9>"$out/.gen_certs.lock"
flock 9
# Another run may have finished while this one waited for the lock.
complete && exit 0

tmp=$(mktemp -d "$out/.gen_certs.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
umask 077

# One self-contained config, so the system openssl.cnf (and its defaults for req -x509)
# plays no part. The [ca] part serves `openssl ca`, the only way OpenSSL 3.0 can put a
# notBefore in the past (`x509 -not_before` came in 3.4).
cat >openssl.cnf <<'EOF'
[req]
distinguished_name = dn
prompt = no
[dn]
CN = placeholder

[v3_ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always

[leaf]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost, IP:127.0.0.1
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid, issuer

[leaf_other]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:other.test
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid, issuer

[ca]
default_ca = test_ca
[test_ca]
database = index.txt
new_certs_dir = .
serial = serial
default_md = sha256
policy = policy_any
unique_subject = no
copy_extensions = none
[policy_any]
commonName = supplied
EOF

# quiet CMD...: runs CMD, showing what it printed only when it fails.
quiet() {
	local log
	if ! log=$("$@" 2>&1); then
		printf '%s\n' "$log" >&2
		echo "$0: failed: $*" >&2
		return 1
	fi
}

newkey() {
	quiet openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1"
}

# root NAME CN: a self-signed CA, valid from now for ~10 years.
root() {
	newkey "$1.key"
	quiet openssl req -config openssl.cnf -new -x509 -key "$1.key" -sha256 -days 3650 \
		-subj "/CN=$2" -extensions v3_ca -set_serial "0x$(openssl rand -hex 8)" \
		-out "$1.pem"
}

# leaf NAME CA [CN EXTENSIONS]: a server certificate signed by CA, valid from now for ~10
# years; for localhost unless CN and an extensions section say otherwise.
leaf() {
	newkey "$1.key"
	quiet openssl req -config openssl.cnf -new -key "$1.key" -subj "/CN=${3:-localhost}" \
		-out "$1.csr"
	quiet openssl x509 -req -in "$1.csr" -CA "$2.pem" -CAkey "$2.key" -sha256 -days 3650 \
		-set_serial "0x$(openssl rand -hex 8)" -extfile openssl.cnf -extensions "${4:-leaf}" \
		-out "$1.pem"
}

root ca "tally test CA"
root other_ca "tally untrusted CA"
leaf server ca
leaf unknown other_ca
leaf wrongname ca other.test leaf_other

newkey expired.key
quiet openssl req -config openssl.cnf -new -key expired.key -subj "/CN=localhost" -out expired.csr
: >index.txt
openssl rand -hex 8 >serial
quiet openssl ca -config openssl.cnf -batch -notext -cert ca.pem -keyfile ca.key \
	-startdate 20200101000000Z -enddate 20200102000000Z -extfile openssl.cnf -extensions leaf \
	-in expired.csr -out expired.pem

for f in "${files[@]}"; do
	[ -s "$f" ] || {
		echo "$0: $f was not produced" >&2
		exit 1
	}
done
# Certificates and CA files are public; only the keys stay 0600.
chmod 644 ./*.pem
# The files land one by one, but readers only trust a set once `complete` holds, and only
# runs holding the lock write here.
for f in "${files[@]}"; do
	mv -f "$f" "$out/$f"
done
echo "gen_certs: wrote test certificates to $out"
