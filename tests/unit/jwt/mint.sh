#!/bin/sh
# Mints a JWS compact serialization with the openssl CLI alone, so that
# weft's JWT tests (tests/unit/test_jwt.c) never check libjwt against
# itself.
#
# usage: mint.sh ALG KEY HEADER PAYLOAD
#   ALG      HS256, HS384, HS512 (KEY: a file holding the raw secret),
#            RS256, RS384, RS512 (KEY: a private key PEM),
#            ES256, ES384, ES512 (KEY: a private key PEM; OpenSSL's DER
#            signature becomes JOSE's r || s, RFC 7518 3.4),
#            ES256-DER (the DER signature left as is: a bad token),
#            none (no signature)
#   HEADER, PAYLOAD  files holding the exact bytes to encode
# The token goes to stdout, without a newline.
set -eu

if [ $# -ne 4 ]; then
	echo "usage: mint.sh ALG KEY HEADER PAYLOAD" >&2
	exit 2
fi
alg=$1 key=$2 hdr=$3 pl=$4
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

b64url() {
	openssl base64 -A | tr '+/' '-_' | tr -d '=\n'
}

h=$(b64url <"$hdr")
p=$(b64url <"$pl")
printf '%s.%s' "$h" "$p" >"$tmp/in"

case $alg in
HS256 | HS384 | HS512)
	hex=$(od -An -v -tx1 <"$key" | tr -d ' \n')
	openssl dgst "-sha${alg#HS}" -mac HMAC -macopt "hexkey:$hex" \
	    -binary <"$tmp/in" >"$tmp/sig"
	;;
RS256 | RS384 | RS512)
	openssl dgst "-sha${alg#RS}" -sign "$key" -binary <"$tmp/in" \
	    >"$tmp/sig"
	;;
ES256-DER)
	openssl dgst -sha256 -sign "$key" -binary <"$tmp/in" >"$tmp/sig"
	;;
ES256 | ES384 | ES512)
	case $alg in
	ES256) n=32 ;;
	ES384) n=48 ;;
	*) n=66 ;;
	esac
	openssl dgst "-sha${alg#ES}" -sign "$key" -binary <"$tmp/in" \
	    >"$tmp/der"
	# The two INTEGERs of the ECDSA-Sig-Value, each left-padded to the
	# size of the curve's order.
	rs=$(openssl asn1parse -inform DER -in "$tmp/der" |
	    awk -v n="$n" '/INTEGER/ {
		v = $NF; sub(/^:/, "", v)
		while (length(v) < 2 * n) v = "0" v
		printf "%s", v }')
	if [ ${#rs} -ne $((4 * n)) ]; then
		echo "mint.sh: cannot read the ECDSA signature" >&2
		exit 1
	fi
	# Hex to bytes with openssl alone: the content of an OCTET STRING
	# is the last 2n bytes of its DER encoding.
	openssl asn1parse -genstr "FORMAT:HEX,OCTETSTRING:$rs" -noout \
	    -out "$tmp/os" >/dev/null
	tail -c $((2 * n)) "$tmp/os" >"$tmp/sig"
	;;
none)
	: >"$tmp/sig"
	;;
*)
	echo "mint.sh: unknown alg $alg" >&2
	exit 2
	;;
esac

printf '%s.%s.' "$h" "$p"
b64url <"$tmp/sig"
