#!/bin/bash
# RequestAuthentication with a jwksUri: the proxy fetches Istio's sample
# JWKS from an HTTPS server in another pod (python3, with a certificate
# of the test CA that --jwks-ca trusts), off the request path. Before a
# fetch succeeds, requests with a token get 401 "Jwks remote fetch is
# failed" and requests without one pass; once the keys are in, a valid
# token passes and invalid ones get 401; the keys are refreshed
# (--jwks-refresh 1s here), and when the server goes away the keys
# fetched before keep working, across a policy reload too.
. "$(dirname "$0")/lib.sh"
e2e_init
command -v openssl >/dev/null || skip "needs openssl"
command -v python3 >/dev/null || skip "needs python3"
command -v sqlite3 >/dev/null || skip "needs sqlite3"
WEFTCTL="$WEFT_BUILDDIR/src/ctl/weftctl"
MINT="$WEFT_SRCDIR/tests/unit/jwt/mint.sh"
ISTIO_JWT="$WEFT_SRCDIR/../shared/testdata/istio/jwt"
[ -f "$ISTIO_JWT/key.pem" ] || skip "needs Istio's JWT samples (../shared/testdata/istio/jwt)"
# shellcheck disable=SC2034 # read by proxy_start in lib.sh
MESH_NAMESPACE=default
IDP_ADDR=198.18.14.5
JWKS_URI="https://$IDP_ADDR:8443/jwks.json"

# The identity provider's certificate, for its address, from the test CA.
pki_ca
mkdir "$T/idp" "$T/idp/www"
cp "$ISTIO_JWT/jwks.json" "$T/idp/www/jwks.json"
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$T/idp/key.pem" -out "$T/idp/csr.pem" -subj "/O=test/CN=idp" 2>/dev/null
printf '%s\n' "subjectAltName=IP:$IDP_ADDR" "extendedKeyUsage=serverAuth" \
    "basicConstraints=critical,CA:FALSE" >"$T/idp/ext.cnf"
openssl x509 -req -in "$T/idp/csr.pem" -CA "$T/pki/ca.pem" \
    -CAkey "$T/pki/ca-key.pem" -CAcreateserial -days 1 \
    -extfile "$T/idp/ext.cnf" -out "$T/idp/cert.pem" 2>/dev/null
cat >"$T/idp/idp.py" <<'PY'
import functools, http.server, ssl, sys
addr, port, cert, key, root = sys.argv[1:6]
handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=root)
srv = http.server.ThreadingHTTPServer((addr, int(port)), handler)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(cert, key)
srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
srv.serve_forever()
PY

DB="$T/px/mesh.db"
pod_new orders 198.18.14.2
ORDERS=$POD
in_ns "$ORDERS" "$WEFT_INIT" >"$T/init-orders.log" 2>&1
pod_new idp "$IDP_ADDR"
IDP=$POD
pod_new client 198.18.14.3
CLIENT=$POD

cat >"$T/mesh.yaml" <<YAML
apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata: {name: orders-jwt}
spec:
  selector: {matchLabels: {app: orders}}
  jwtRules:
  - issuer: testing@secure.istio.io
    jwksUri: $JWKS_URI
    outputClaimToHeaders: [{header: x-jwt-sub, claim: sub}]
YAML
"$WEFTCTL" --db "$DB" apply -f "$T/mesh.yaml" >"$T/apply.log" 2>&1 ||
    { cat "$T/apply.log"; exit 1; }
chmod 644 "$DB"
# Two workers: both read the keys that the fetch thread swaps.
proxy_start "$ORDERS" orders --db "$DB" --labels app=orders --threads 2 \
    --jwks-ca "$T/pki/ca.pem" --jwks-refresh 1s --log-level debug
PLOG="$T/proxy-orders.log"
bg "$ORDERS" app "$WEFT_TESTD" --listen 0.0.0.0:8080 --name orders
wait_listen "$ORDERS" 8080
in_force() {
	local v
	v=$(sqlite3 "$DB" 'SELECT version FROM config_version')
	eventually "policy version $v is in force" \
	    sh -c "[ \"\$(ip netns exec $ORDERS curl -s --max-time 2 http://127.0.0.1:15020/metrics | awk '/^weft_config_version /{print \$2}')\" = $v ]"
}
in_force

# Tokens from Istio's sample key, and from a key the JWKS does not hold
# under the same kid, minted with the openssl CLI.
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 \
    -out "$T/other-key.pem" 2>/dev/null
mint() { # KEY PAYLOAD-JSON
	printf '{"alg":"RS256","kid":"DHFbpoIUqrY8t2zpA2qXfCmr5VO5ZEr4RzHU_-envvQ","typ":"JWT"}' >"$T/h.json"
	printf '%s' "$2" >"$T/p.json"
	sh "$MINT" RS256 "$1" "$T/h.json" "$T/p.json"
}
now=$(date +%s)
GOOD=$(mint "$ISTIO_JWT/key.pem" "{\"iss\":\"testing@secure.istio.io\",\"sub\":\"alice\",\"exp\":$((now + 3600))}")
EXPIRED=$(mint "$ISTIO_JWT/key.pem" "{\"iss\":\"testing@secure.istio.io\",\"sub\":\"carol\",\"exp\":$((now - 3600))}")
FORGED=$(mint "$T/other-key.pem" "{\"iss\":\"testing@secure.istio.io\",\"sub\":\"mallory\",\"exp\":$((now + 3600))}")
# Mallory's claims under alice's signature.
TAMPERED="${GOOD%%.*}.$(echo "$FORGED" | cut -d. -f2).${GOOD##*.}"

URL=http://198.18.14.2:8080/orders
req() { # [curl args...]: prints the status code, keeps body and head
	in_ns "$CLIENT" curl -s --max-time 5 -o "$T/body" -D "$T/head" -w '%{http_code}' "$@" "$URL" || true
}
# until_ok SECONDS DESCRIPTION CMD...: waits for CMD, then records it.
until_ok() {
	local n=$(($1 * 10)) desc=$2
	shift 2
	while [ "$n" -gt 0 ]; do
		if "$@"; then
			check "$desc" true
			return 0
		fi
		sleep 0.1
		n=$((n - 1))
	done
	check "$desc" false
}

# No JWKS server yet: every fetch fails.
eventually "the failed fetch is logged" \
    grep -q "jwksUri $JWKS_URI: connect to $IDP_ADDR port 8443: connection refused; its tokens are refused" "$PLOG"
expect_eq "before any fetch, a token gets 401" 401 \
    "$(req -H "Authorization: Bearer $GOOD")"
check "saying Jwks remote fetch is failed" grep -qx 'Jwks remote fetch is failed' "$T/body"
check "with WWW-Authenticate" grep -qi '^www-authenticate: Bearer' "$T/head"
expect_eq "before any fetch, a request without a token passes" 200 "$(req)"

# The server comes up: the next retry (backoff from 1 s, doubling) fetches.
bg "$IDP" idp python3 -u "$T/idp/idp.py" "$IDP_ADDR" 8443 \
    "$T/idp/cert.pem" "$T/idp/key.pem" "$T/idp/www"
IDP_PID=$LAST_PID
wait_listen "$IDP" 8443
good_passes() {
	[ "$(req -H "Authorization: Bearer $GOOD")" = 200 ]
}
until_ok 40 "once the keys are fetched, a valid token passes" good_passes
check "the keys are logged in force" grep -q "jwksUri $JWKS_URI: 1 key in force" "$PLOG"
check "its claim reached the application" grep -q '"x-jwt-sub","alice"' "$T/body"
check "and the token did not" sh -c "! grep -qi '\"authorization\"' '$T/body'"
expect_eq "a tampered token gets 401" 401 "$(req -H "Authorization: Bearer $TAMPERED")"
check "saying Jwt verification fails" grep -qx 'Jwt verification fails' "$T/body"
expect_eq "a token signed by a key not in the JWKS gets 401" 401 \
    "$(req -H "Authorization: Bearer $FORGED")"
check "saying Jwt verification fails" grep -qx 'Jwt verification fails' "$T/body"
expect_eq "an expired token gets 401" 401 "$(req -H "Authorization: Bearer $EXPIRED")"
check "saying Jwt is expired" grep -qx 'Jwt is expired' "$T/body"
expect_eq "a token in ?access_token= counts too" 401 \
    "$(URL="$URL?access_token=$TAMPERED" req)"
expect_eq "a request without a token still passes" 200 "$(req)"
check "jwt denials counted" test "$(metric "$ORDERS" weft_denied_total reason=jwt)" -ge 5

# Refreshed every second (--jwks-refresh 1s).
refetched() {
	[ "$(grep -c 'GET /jwks.json HTTP/1.1" 200' "$T/idp.log")" -ge 3 ]
}
until_ok 10 "the JWKS is fetched again and again" refetched

# The server goes away: the refresh fails, the keys fetched stay.
stop_pid "$IDP_PID"
until_ok 10 "a failed refresh is logged" \
    grep -q "jwksUri $JWKS_URI: .*; keeping the keys fetched before" "$PLOG"
expect_eq "with the server gone, a valid token passes" 200 "$(req -H "Authorization: Bearer $GOOD")"
expect_eq "and a tampered one gets 401" 401 "$(req -H "Authorization: Bearer $TAMPERED")"

# A new policy version shares the cached keys: nothing to fetch again.
cat >"$T/more.yaml" <<YAML
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: orders}
spec:
  hosts: [orders.default.svc.cluster.local]
  addresses: [240.240.0.31]
  ports: [{number: 8080, name: http, protocol: HTTP}]
  workloadSelector: {labels: {app: orders}}
YAML
"$WEFTCTL" --db "$DB" apply -f "$T/more.yaml" >>"$T/apply.log" 2>&1
in_force
expect_eq "after a reload, the cached keys still work" 200 \
    "$(req -H "Authorization: Bearer $GOOD")"
e2e_done
