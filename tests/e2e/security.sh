#!/bin/bash
# Zero trust on the inbound side, with Istio's YAML applied by weftctl
# and certificates made by hand: PeerAuthentication STRICT refuses
# plaintext; AuthorizationPolicy decides per request (403 "RBAC: access
# denied") and per TCP connection (closed); RequestAuthentication
# refuses invalid tokens (401) and feeds claims to authorization; a
# RateLimit answers 429 with retry-after. The two examples of the
# product brief: profilepicture may GET orders' /count and nothing
# else; only members of gold_member may call orders' /discounts.
. "$(dirname "$0")/lib.sh"
e2e_init
command -v openssl >/dev/null || skip "needs openssl"
WEFTCTL="$WEFT_BUILDDIR/src/ctl/weftctl"
MINT="$WEFT_SRCDIR/tests/unit/jwt/mint.sh"
ISTIO_JWT="$WEFT_SRCDIR/../shared/testdata/istio/jwt"
[ -f "$ISTIO_JWT/key.pem" ] || skip "needs Istio's JWT samples (../shared/testdata/istio/jwt)"
# shellcheck disable=SC2034 # read by proxy_start in lib.sh
MESH_NAMESPACE=default

pki_ca
for sa in orders profilepicture other; do
	pki_leaf "$T/px/$sa-certs" "spiffe://cluster.local/ns/default/sa/$sa"
done
DB="$T/px/mesh.db"

pod_new orders 198.18.13.2
ORDERS=$POD
in_ns "$ORDERS" "$WEFT_INIT" >"$T/init-orders.log" 2>&1
proxy_start "$ORDERS" orders --db "$DB" --certs "$T/px/orders-certs" \
    --labels app=orders,version=v1
bg "$ORDERS" app "$WEFT_TESTD" --listen 0.0.0.0:8080 --name orders \
    --tcp-echo 0.0.0.0:9000
wait_listen "$ORDERS" 9000
for sa in profilepicture other; do
	pod_new "$sa" "198.18.13.$([ $sa = profilepicture ] && echo 3 || echo 4)"
	in_ns "$POD" "$WEFT_INIT" >"$T/init-$sa.log" 2>&1
	proxy_start "$POD" "$sa" --db "$DB" --certs "$T/px/$sa-certs" --labels "app=$sa"
	eval "${sa^^}=\$POD"
done
pod_new legacy 198.18.13.9
LEGACY=$POD

# Tokens from Istio's sample key, minted with the openssl CLI.
mint() { # PAYLOAD-JSON
	printf '{"alg":"RS256","kid":"DHFbpoIUqrY8t2zpA2qXfCmr5VO5ZEr4RzHU_-envvQ","typ":"JWT"}' >"$T/h.json"
	printf '%s' "$1" >"$T/p.json"
	sh "$MINT" RS256 "$ISTIO_JWT/key.pem" "$T/h.json" "$T/p.json"
}
now=$(date +%s)
GOLD=$(mint "{\"iss\":\"testing@secure.istio.io\",\"sub\":\"alice\",\"exp\":$((now + 3600)),\"groups\":[\"gold_member\",\"x\"]}")
PLAIN=$(mint "{\"iss\":\"testing@secure.istio.io\",\"sub\":\"bob\",\"exp\":$((now + 3600)),\"groups\":[\"silver\"]}")
EXPIRED=$(mint "{\"iss\":\"testing@secure.istio.io\",\"sub\":\"carol\",\"exp\":$((now - 3600))}")
DEMO=$(cat "$ISTIO_JWT/demo.jwt")

jwks=$(tr -d '\n' <"$ISTIO_JWT/jwks.json" | sed 's/"/\\"/g')
cat >"$T/mesh.yaml" <<YAML
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: orders}
spec:
  hosts: [orders.default.svc.cluster.local]
  addresses: [240.240.0.30]
  ports: [{number: 8080, name: http, protocol: HTTP}]
  workloadSelector: {labels: {app: orders}}
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: orders}
spec:
  address: 198.18.13.2
  serviceAccount: orders
  labels: {app: orders, security.istio.io/tlsMode: istio}
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: orders-strict}
spec:
  selector: {matchLabels: {app: orders}}
  mtls: {mode: STRICT}
---
apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata: {name: orders-jwt}
spec:
  selector: {matchLabels: {app: orders}}
  jwtRules:
  - issuer: testing@secure.istio.io
    jwks: "$jwks"
    outputClaimToHeaders: [{header: x-jwt-sub, claim: sub}]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: orders-allow}
spec:
  selector: {matchLabels: {app: orders}}
  action: ALLOW
  rules:
  - from: [{source: {principals: [cluster.local/ns/default/sa/profilepicture]}}]
    to: [{operation: {methods: [GET], paths: [/count]}}]
  - to: [{operation: {paths: [/discounts]}}]
    when: [{key: "request.auth.claims[groups]", values: [gold_member]}]
  - from: [{source: {principals: [cluster.local/ns/default/sa/other]}}]
    to: [{operation: {paths: [/public*]}}]
  - to: [{operation: {ports: ["9000"]}}]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: orders-deny-tcp}
spec:
  selector: {matchLabels: {app: orders}}
  action: DENY
  rules:
  - from: [{source: {principals: [cluster.local/ns/default/sa/other]}}]
    to: [{operation: {ports: ["9000"]}}]
---
apiVersion: weft.io/v1
kind: RateLimit
metadata: {name: orders}
spec:
  selector: {matchLabels: {app: orders}}
  limits:
  - requestsPerSecond: 10
    match: {methods: [GET], paths: ["/count"]}
    per: source
YAML
"$WEFTCTL" --db "$DB" apply -f "$T/mesh.yaml" >"$T/apply.log" 2>&1 ||
    { cat "$T/apply.log"; exit 1; }
chmod 644 "$DB"
V=$(sqlite3 "$DB" 'SELECT version FROM config_version')
for p in "$ORDERS" "$PROFILEPICTURE" "$OTHER"; do
	eventually "the policy is in force in $p" \
	    sh -c "[ \"\$(ip netns exec $p curl -s --max-time 2 http://127.0.0.1:15020/metrics | awk '/^weft_config_version /{print \$2}')\" = $V ]"
done

VIP=http://240.240.0.30:8080
req() { # POD [curl args...]: prints the status code
	local p=$1
	shift
	in_ns "$p" curl -s --max-time 5 -o "$T/body" -D "$T/head" -w '%{http_code}' "$@" || true
}

# PeerAuthentication STRICT.
rc=0
in_ns "$LEGACY" curl -s --max-time 5 -o /dev/null http://198.18.13.2:8080/count || rc=$?
check "plaintext from a pod without a sidecar is refused (curl exit $rc)" test "$rc" -ne 0
check "counted as denied for mtls" \
    test "$(metric "$ORDERS" weft_denied_total reason=mtls)" -ge 1

# Only strong protocols and ciphers: testssl.sh against the sidecar's
# inbound side (under STRICT every TLS hello is taken as mesh mTLS).
if command -v testssl >/dev/null; then
	in_ns "$LEGACY" timeout 120 testssl --quiet --color 0 --warnings batch \
	    --jsonfile "$T/testssl.json" -p -s 198.18.13.2:8080 >"$T/testssl.out" 2>&1 || true
	finding() {
		python3 -c 'import json, sys
for e in json.load(open(sys.argv[1])):
    if e["id"] == sys.argv[2]:
        print(e["finding"])' "$T/testssl.json" "$1" 2>/dev/null
	}
	for id in SSLv2 SSLv3 TLS1 TLS1_1 cipherlist_NULL cipherlist_aNULL \
	    cipherlist_EXPORT cipherlist_LOW cipherlist_3DES_IDEA; do
		expect_eq "testssl: $id" "not offered" "$(finding "$id")"
	done
	check "testssl: TLS 1.3 offered ($(finding TLS1_3))" \
	    grep -q '^offered' <<<"$(finding TLS1_3)"
fi

# profilepicture may GET /count and nothing else.
expect_eq "profilepicture GET /count" 200 "$(req "$PROFILEPICTURE" "$VIP/count")"
expect_eq "profilepicture POST /count" 403 "$(req "$PROFILEPICTURE" -X POST -d x "$VIP/count")"
check "the body is Envoy's" grep -qx 'RBAC: access denied' "$T/body"
expect_eq "profilepicture GET /other" 403 "$(req "$PROFILEPICTURE" "$VIP/other")"
expect_eq "other GET /count" 403 "$(req "$OTHER" "$VIP/count")"
expect_eq "other GET /public/x (its own rule)" 200 "$(req "$OTHER" "$VIP/public/x")"
check "denials counted for authz" \
    test "$(metric "$ORDERS" weft_denied_total reason=authz)" -ge 3

# Only members of gold_member may call /discounts.
expect_eq "/discounts with a gold_member token" 200 \
    "$(req "$OTHER" -H "Authorization: Bearer $GOLD" "$VIP/discounts")"
check "the claim was passed to the app as a header" \
    grep -q '"x-jwt-sub","alice"' "$T/body"
check "and the token itself was not (forwardOriginalToken: false)" \
    sh -c "! grep -qi '\"authorization\"' '$T/body'"
expect_eq "/discounts with another valid token" 403 \
    "$(req "$OTHER" -H "Authorization: Bearer $PLAIN" "$VIP/discounts")"
expect_eq "/discounts without a token" 403 "$(req "$OTHER" "$VIP/discounts")"
expect_eq "an expired token" 401 \
    "$(req "$OTHER" -H "Authorization: Bearer $EXPIRED" "$VIP/discounts")"
check "says Jwt is expired" grep -qx 'Jwt is expired' "$T/body"
check "with WWW-Authenticate" grep -qi '^www-authenticate: Bearer' "$T/head"
tampered="${GOLD%.*}.${GOLD##*.}x"
expect_eq "a tampered token" 401 \
    "$(req "$OTHER" -H "Authorization: Bearer $tampered" "$VIP/discounts")"
# The attacks that libjwt alone lets through (FACTS): each gets 401.
attack() { # ALG KEY HEADER-JSON
	printf '%s' "$3" >"$T/ah.json"
	printf '{"iss":"testing@secure.istio.io","sub":"mallory","exp":%d,"groups":["gold_member"]}' \
	    $((now + 3600)) >"$T/ap.json"
	sh "$MINT" "$1" "$2" "$T/ah.json" "$T/ap.json"
}
openssl rsa -in "$ISTIO_JWT/key.pem" -pubout -out "$T/pub.pem" 2>/dev/null
KID='"kid":"DHFbpoIUqrY8t2zpA2qXfCmr5VO5ZEr4RzHU_-envvQ"'
for a in "none|/dev/null|{\"alg\":\"none\",$KID}" \
    "HS256|$T/pub.pem|{\"alg\":\"HS256\",$KID}" \
    "RS256|$ISTIO_JWT/key.pem|{\"alg\":\"RS256\",$KID,\"crit\":[\"exp\"]}" \
    "RS256|$ISTIO_JWT/key.pem|{\"alg\":\"RS256\",$KID,\"jku\":\"https://evil.example/jwks\"}"; do
	IFS='|' read -r alg key hdr <<<"$a"
	tok=$(attack "$alg" "$key" "$hdr")
	expect_eq "attack token ($alg, $hdr) refused" 401 \
	    "$(req "$OTHER" -H "Authorization: Bearer $tok" "$VIP/discounts")"
done
expect_eq "Istio's demo.jwt is valid (and authz then decides)" 403 \
    "$(req "$OTHER" -H "Authorization: Bearer $DEMO" "$VIP/discounts")"
expect_eq "a token in ?access_token= counts too" 200 \
    "$(req "$OTHER" "$VIP/discounts?access_token=$GOLD")"
check "jwt denials counted" \
    test "$(metric "$ORDERS" weft_denied_total reason=jwt)" -ge 2

# 10 qps per source on GET /count.
sleep 1.1
codes=$(in_ns "$PROFILEPICTURE" curl -s --max-time 5 -o /dev/null -w '%{http_code}\n' "$VIP/count?[1-14]")
expect_eq "a burst of 14: 10 pass" 10 "$(grep -c '^200$' <<<"$codes")"
expect_eq "and 4 are limited" 4 "$(grep -c '^429$' <<<"$codes")"
expect_eq "429 once more" 429 "$(req "$PROFILEPICTURE" "$VIP/count")"
check "with retry-after" grep -qi '^retry-after: 1' "$T/head"
sleep 0.25
expect_eq "after 0.25 s a token is back" 200 "$(req "$PROFILEPICTURE" "$VIP/count")"

# TCP: a DENY rule by principal closes the connection.
echo_through() { # POD
	in_ns "$1" timeout 5 bash -c 'exec 3<>/dev/tcp/198.18.13.2/9000 &&
	    printf "ping\n" >&3 && head -n 1 <&3' 2>/dev/null || true
}
expect_eq "profilepicture's TCP connection is allowed" ping "$(echo_through "$PROFILEPICTURE")"
expect_eq "other's TCP connection is closed" "" "$(echo_through "$OTHER")"
eventually "the closed connection is logged with the DENY rule that decided" \
    grep -q '"protocol":"tcp".*"denied_by":"denied by DENY policy default/orders-deny-tcp' "$T/px/orders.access"

# A policy change applies to new requests without a restart.
"$WEFTCTL" --db "$DB" delete authorizationpolicy orders-allow >>"$T/apply.log" 2>&1
V=$(sqlite3 "$DB" 'SELECT version FROM config_version')
eventually "the deletion is in force" \
    sh -c "[ \"\$(ip netns exec $ORDERS curl -s --max-time 2 http://127.0.0.1:15020/metrics | awk '/^weft_config_version /{print \$2}')\" = $V ]"
expect_eq "with no ALLOW policy left, other may GET /other" 200 "$(req "$OTHER" "$VIP/other")"
# Every denial is explained in the orders proxy's access log (denied_by).
alog_has() { # LINE-TEXT DENIED-BY: a line holding both
	grep -F -e "$1" "$T/px/orders.access" | grep -qF -e "\"denied_by\":\"$2\""
}
eventually "access log: the 403 of POST /count names the nearest rule and its failed condition" \
    alog_has '"method":"POST","path":"/count"' \
    'no ALLOW policy matched; nearest: default/orders-allow rule 0, failed to[0].operation.methods: POST not in [GET]'
check "access log: the 403 of other's GET /count fails on principals" \
    alog_has '"response_code":403' \
    'no ALLOW policy matched; nearest: default/orders-allow rule 0, failed from[0].source.principals: \"cluster.local/ns/default/sa/other\" not in [cluster.local/ns/default/sa/profilepicture]'
check "access log: the 401 says why" alog_has '"response_code":401' 'RequestAuthentication: Jwt is expired'
check "access log: the 429 names its limit" alog_has '"response_code":429' 'RateLimit default/orders#0'
check "access log: no denied_by on a 200" \
    sh -c "! grep -F '\"response_code\":200' '$T/px/orders.access' | grep -q denied_by"
e2e_done
