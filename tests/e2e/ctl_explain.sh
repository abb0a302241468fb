#!/bin/bash
# weftctl explain on a local policy DB (no root, no namespaces): for a
# described request, the route and destinations the source's proxy
# takes (a header match, a 90/10 split with its shares and endpoints)
# and what each destination workload's inbound side decides, with the
# policy and rule that decided: profilepicture may GET orders' /count
# and nothing else; JWT claims decide /discounts (tokens minted from
# Istio's sample key), an invalid token is a 401; a destination without
# policies allows everything. Exit status 0 when allowed, 1 when not, 2
# for a bad command line; -o json for scripts.
. "$(dirname "$0")/lib.sh"
WEFTCTL=$WEFT_BUILDDIR/src/ctl/weftctl
MINT=$WEFT_SRCDIR/tests/unit/jwt/mint.sh
ISTIO_JWT=$WEFT_SRCDIR/../shared/testdata/istio/jwt
if [ ! -x "$WEFTCTL" ]; then
	echo "$WEFTCTL is not built" >&2
	exit 1
fi
T=$(mktemp -d "${TMPDIR:-/tmp}/weft-e2e.XXXXXX")
trap e2e_cleanup EXIT
trap 'exit 130' INT TERM HUP
DB=$T/policy.db

# explain ARGS...: runs weftctl explain; its output is in $T/out, its
# errors in $T/err and its exit status in $RC. Every stderr is kept in
# a log, where the cleanup looks for sanitizer reports.
explain() {
	RC=0
	"$WEFTCTL" --db "$DB" explain "$@" >"$T/out" 2>"$T/err" || RC=$?
	cat "$T/err" >>"$T/weftctl.log"
}
# has LINE: the output has this exact line.
has() { grep -q -x -F -e "$1" "$T/out"; }
# hasnt TEXT: the output has no line holding TEXT.
hasnt() { ! grep -q -F -e "$1" "$T/out"; }
# json FILTER: jq on the output of the last explain -o json.
json() { jq -c "$1" "$T/out"; }

cat >"$T/mesh.yaml" <<'YAML'
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: orders}
spec:
  hosts: [orders]
  addresses: [240.240.0.30]
  ports: [{number: 8080, name: http, protocol: HTTP}]
  workloadSelector: {labels: {app: orders}}
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: orders-v1}
spec:
  address: 198.18.0.12
  serviceAccount: orders
  labels: {app: orders, version: v1, security.istio.io/tlsMode: istio}
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: orders-v2}
spec:
  address: 198.18.0.13
  serviceAccount: orders
  labels: {app: orders, version: v2, security.istio.io/tlsMode: istio}
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: profilepicture}
spec:
  address: 198.18.0.3
  serviceAccount: profilepicture
  labels: {app: profilepicture, security.istio.io/tlsMode: istio}
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: other}
spec:
  address: 198.18.0.4
  serviceAccount: other
  labels: {app: other, security.istio.io/tlsMode: istio}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: orders}
spec:
  host: orders
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: orders}
spec:
  hosts: [orders]
  http:
  - name: canary
    match: [{headers: {x-canary: {exact: "1"}}}]
    route: [{destination: {host: orders, subset: v2}}]
  - name: split
    timeout: 2s
    retries: {attempts: 2, retryOn: 5xx}
    route:
    - {destination: {host: orders, subset: v1}, weight: 90}
    - {destination: {host: orders, subset: v2}, weight: 10}
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: orders-strict}
spec:
  selector: {matchLabels: {app: orders}}
  mtls: {mode: STRICT}
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
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: ratings}
spec:
  hosts: [ratings]
  ports: [{number: 9080, name: http, protocol: HTTP}]
  workloadSelector: {labels: {app: ratings}}
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: ratings-v1}
spec:
  address: 198.18.0.20
  labels: {app: ratings}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: ratings}
spec:
  hosts: [ratings]
  http:
  - match: [{uri: {prefix: /ratings}}]
    route: [{destination: {host: ratings}}]
YAML
"$WEFTCTL" --db "$DB" apply -f "$T/mesh.yaml" >"$T/apply.log" 2>&1 ||
    { cat "$T/apply.log"; exit 1; }

### profilepicture may GET orders' /count: on every destination of the
### split, each with its share, endpoint and inbound decision.
explain --source profilepicture --destination orders:8080 --method GET --path /count
expect_eq "GET /count from profilepicture: allowed (status 0)" 0 "$RC"
check "names the source by its identity and workload" \
    has "source: spiffe://cluster.local/ns/default/sa/profilepicture (workload default/profilepicture, 198.18.0.3)"
check "the service" has "service: default/orders"
check "the route: the split, second of the VirtualService" has "route: http[1] split"
check "its timeout" has "timeout: 2s"
check "its retries" has "retries: 2 attempts on 5xx"
check "v1 takes 90%" has "  orders v1 90% -> 198.18.0.12:8080 (orders-v1, healthy)"
check "v2 takes 10%" has "  orders v2 10% -> 198.18.0.13:8080 (orders-v2, healthy)"
check "both workloads decide" \
    sh -c "grep -c '^inbound default/orders-v[12] port 8080:\$' '$T/out' | grep -qx 2"
check "STRICT mTLS, which the source speaks" \
    has "  peer authentication: STRICT, mTLS from the source"
check "allowed by the policy and rule that decided" \
    has "  authorization: ALLOWED: allowed by ALLOW policy default/orders-allow rule 0"
check "the rate limit that applies" \
    has "  rate limit: default/orders#0 10/s, burst 10, per source"
check "the result" has "result: ALLOWED"
check "nothing on stderr" test ! -s "$T/err"

### The same source by its SPIFFE ID, the service by its VIP.
explain --source spiffe://cluster.local/ns/default/sa/profilepicture \
    --destination 240.240.0.30:8080 --method GET --path /count
expect_eq "by SPIFFE ID and VIP: allowed" 0 "$RC"
check "the same route" has "route: http[1] split"
check "the same decision" \
    has "  authorization: ALLOWED: allowed by ALLOW policy default/orders-allow rule 0"

### ... and nothing else.
explain --source profilepicture --destination orders:8080 --method POST --path /count
expect_eq "POST /count from profilepicture: denied (status 1)" 1 "$RC"
check "no ALLOW rule matched" has "  authorization: DENIED: no ALLOW policy matched"
check "the ALLOW policy in force is named" \
    has "  policies in force: default/orders-allow (ALLOW)"
check "a 403" has "  decision: 403 RBAC: access denied (no ALLOW policy matched)"
check "the result says where and why" \
    has "result: DENIED: default/orders-v1: 403 RBAC: access denied (no ALLOW policy matched)"
check "a denied request takes no rate limit token" hasnt "rate limit"
check "the nearest rule, failing on the method" \
    has "  nearest ALLOW rule: default/orders-allow rule 0, failed on to[0].operation.methods: POST not in [GET]"
explain --source other --destination orders:8080 --method GET --path /count
expect_eq "GET /count from another identity: denied" 1 "$RC"
check "no ALLOW rule matched it either" has "  authorization: DENIED: no ALLOW policy matched"
check "the nearest rule, failing on the identity" \
    has "  nearest ALLOW rule: default/orders-allow rule 0, failed on from[0].source.principals: \"cluster.local/ns/default/sa/other\" not in [cluster.local/ns/default/sa/profilepicture]"

### A header match takes the canary route: all of it to v2.
explain --source profilepicture --destination orders:8080 --method GET \
    --path /count --header x-canary=1
expect_eq "with x-canary: 1: allowed" 0 "$RC"
check "the canary route, by its first match" has "route: http[0] canary (match 0)"
check "v2 takes 100%" has "  orders v2 100% -> 198.18.0.13:8080 (orders-v2, healthy)"
check "v1 takes nothing" hasnt "orders-v1"
check "the route has Istio's default retries" \
    has "retries: 2 attempts on connect-failure,refused-stream,retriable-status-codes,503"
explain --source profilepicture --destination orders:8080 --method GET \
    --path /count --header x-canary=2
check "another x-canary value takes the split" has "route: http[1] split"

### -o json, for scripts.
if command -v jq >/dev/null; then
	explain --source profilepicture --destination orders:8080 --method GET --path /count -o json
	expect_eq "json: allowed, status 0" "0|true" "$RC|$(json .allowed)"
	expect_eq "json: the shares" "[90,10]" "$(json '[.destinations[].percent]')"
	expect_eq "json: the subsets" '["v1","v2"]' "$(json '[.destinations[].subset]')"
	expect_eq "json: the route" '{"index":1,"name":"split","match":null}' "$(json .route)"
	expect_eq "json: who decided" '["default/orders-allow",0,"ALLOW"]' \
	    "$(json '[.inbound[0].authorization | .policy, .rule, .action]')"
	explain --source profilepicture --destination orders:8080 --method POST --path /count -o json
	expect_eq "json: denied, 403, no deciding policy" "1|false|403|null" \
	    "$RC|$(json .allowed)|$(json .status)|$(json .inbound[0].authorization.policy)"
	expect_eq "json: the policies in force" '["default/orders-allow"]' \
	    "$(json '[.inbound[0].authorization.policies[].name]')"
	expect_eq "json: the nearest rule and what it failed" \
	    '{"policy":"default/orders-allow","rule":0,"failed":"to[0].operation.methods: POST not in [GET]"}' \
	    "$(json .inbound[0].authorization.nearest)"
	expect_eq "json: the explanation, as the proxy logs it" \
	    '"no ALLOW policy matched; nearest: default/orders-allow rule 0, failed to[0].operation.methods: POST not in [GET]"' \
	    "$(json .inbound[0].authorization.explanation)"
	explain --source profilepicture --destination orders:8080 --method GET --path /count -o json
	expect_eq "json: no nearest rule when allowed" "null|null" \
	    "$(json .inbound[0].authorization.nearest)|$(json .inbound[0].authorization.explanation)"
else
	echo "# skipped the -o json checks: no jq"
fi

### A destination without policies; a path no route takes; a host that
### is no service.
explain --source profilepicture --destination ratings:9080 --method DELETE --path /ratings/1
expect_eq "ratings, which no policy guards: allowed" 0 "$RC"
check "one destination, all of the traffic" \
    has "  ratings 100% -> 198.18.0.20:9080 (ratings-v1, healthy)"
check "no AuthorizationPolicy applies" \
    has "  authorization: allowed (no AuthorizationPolicy applies)"
check "plaintext to an endpoint without a sidecar" \
    has "  peer authentication: PERMISSIVE, plaintext from the source (no peer identity)"
explain --source profilepicture --destination ratings:9080 --method GET --path /other
expect_eq "no route matches: denied" 1 "$RC"
check "a 404" has "result: DENIED: no route of the VirtualService matches (404 route not found)"
explain --source profilepicture --destination 192.0.2.1:443 --method GET --path /
expect_eq "an address of no service: allowed" 0 "$RC"
check "it passes through" \
    has "result: ALLOWED: no service of the mesh: the request passes through to its original destination"

### JWT claims decide /discounts; an invalid token is a 401.
if [ -f "$ISTIO_JWT/key.pem" ] && [ -f "$ISTIO_JWT/jwks.json" ] &&
    command -v openssl >/dev/null; then
	jwks=$(tr -d '\n' <"$ISTIO_JWT/jwks.json" | sed 's/"/\\"/g')
	cat >"$T/jwt.yaml" <<YAML
apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata: {name: orders-jwt}
spec:
  selector: {matchLabels: {app: orders}}
  jwtRules:
  - issuer: testing@secure.istio.io
    jwks: "$jwks"
  - issuer: idp@example.com
    jwksUri: https://idp.example.com/jwks.json
YAML
	"$WEFTCTL" --db "$DB" apply -f "$T/jwt.yaml" >"$T/apply.log" 2>&1 ||
	    { cat "$T/apply.log"; exit 1; }
	mint() { # PAYLOAD-JSON
		printf '{"alg":"RS256","kid":"DHFbpoIUqrY8t2zpA2qXfCmr5VO5ZEr4RzHU_-envvQ","typ":"JWT"}' >"$T/h.json"
		printf '%s' "$1" >"$T/p.json"
		sh "$MINT" RS256 "$ISTIO_JWT/key.pem" "$T/h.json" "$T/p.json"
	}
	now=$(date +%s)
	GOLD=$(mint "{\"iss\":\"testing@secure.istio.io\",\"sub\":\"alice\",\"exp\":$((now + 3600)),\"groups\":[\"gold_member\",\"x\"]}")
	PLAIN=$(mint "{\"iss\":\"testing@secure.istio.io\",\"sub\":\"bob\",\"exp\":$((now + 3600)),\"groups\":[\"silver\"]}")
	EXPIRED=$(mint "{\"iss\":\"testing@secure.istio.io\",\"sub\":\"carol\",\"exp\":$((now - 3600)),\"groups\":[\"gold_member\"]}")
	IDP=$(mint "{\"iss\":\"idp@example.com\",\"sub\":\"erin\",\"exp\":$((now + 3600)),\"groups\":[\"gold_member\"]}")
	STRANGER=$(mint "{\"iss\":\"someone@example.com\",\"sub\":\"dave\",\"exp\":$((now + 3600))}")

	explain --source other --destination orders:8080 --method GET \
	    --path /discounts --jwt "$GOLD"
	expect_eq "/discounts with a gold_member token: allowed" 0 "$RC"
	check "the token is valid, its principal named" \
	    has "  jwt: valid, request principal testing@secure.istio.io/alice"
	check "the claims rule decided" \
	    has "  authorization: ALLOWED: allowed by ALLOW policy default/orders-allow rule 1"
	if command -v jq >/dev/null; then
		explain --source other --destination orders:8080 --method GET \
		    --path /discounts --jwt "$GOLD" -o json
		expect_eq "json: the claims" '["gold_member","x"]' \
		    "$(json .inbound[0].jwt.claims.groups)"
	fi
	explain --source other --destination orders:8080 --method GET \
	    --path /discounts --jwt "$PLAIN"
	expect_eq "/discounts with another valid token: denied" 1 "$RC"
	check "valid, but no rule matches its claims" \
	    has "  authorization: DENIED: no ALLOW policy matched"
	check "the claims rule is the nearest, failing on the claim" \
	    has "  nearest ALLOW rule: default/orders-allow rule 1, failed on when[0] request.auth.claims[groups]: [silver] has none of [gold_member]"
	explain --source other --destination orders:8080 --method GET --path /discounts
	expect_eq "/discounts without a token: denied" 1 "$RC"
	check "no token" has "  jwt: none"
	explain --source other --destination orders:8080 --method GET \
	    --path /discounts --header "authorization=Bearer $GOLD"
	expect_eq "the token in an authorization header counts the same" 0 "$RC"
	explain --source other --destination orders:8080 --method GET \
	    --path /discounts --jwt "$EXPIRED"
	expect_eq "an expired token: denied" 1 "$RC"
	check "a 401, saying why" has "  jwt: 401 Jwt is expired"
	check "before authorization" hasnt "authorization:"
	check "the result names it" \
	    has "result: DENIED: default/orders-v1: 401 Jwt is expired"
	forged="${GOLD%%.*}.$(echo "$PLAIN" | cut -d. -f2).${GOLD##*.}"
	explain --source other --destination orders:8080 --method GET \
	    --path /discounts --jwt "$forged"
	check "a forged token: 401" has "  jwt: 401 Jwt verification fails"
	explain --source other --destination orders:8080 --method GET \
	    --path /discounts --jwt "${GOLD}x"
	check "a token with a bad signature encoding: 401" \
	    has "  jwt: 401 Jwt is not in the form of Header.Payload.Signature with two dots and 3 sections"
	explain --source other --destination orders:8080 --method GET \
	    --path /discounts --jwt "$STRANGER"
	check "a token of an unknown issuer: 401" \
	    has "  jwt: 401 Jwt issuer is not configured"
	explain --source other --destination orders:8080 --method GET \
	    --path /discounts --jwt "$IDP"
	expect_eq "a token whose keys are at a jwksUri: its claims decide" 0 "$RC"
	check "said to be unverified" \
	    has "  jwt: NOT VERIFIED (its keys are fetched by the proxy from https://idp.example.com/jwks.json), request principal idp@example.com/erin"
	explain --source other --destination orders:8080 --method GET \
	    --path /discounts --jwt not-a-token
	expect_eq "a malformed token: denied" 1 "$RC"
	check "a 401 for it" \
	    has "result: DENIED: default/orders-v1: 401 Jwt is not in the form of Header.Payload.Signature with two dots and 3 sections"
	explain --source other --destination ratings:9080 --method GET \
	    --path /ratings --jwt "$EXPIRED"
	expect_eq "a token where no RequestAuthentication applies: allowed" 0 "$RC"
	check "it is not validated" \
	    has "  jwt: not validated (no RequestAuthentication applies)"
else
	echo "# skipped the JWT checks: no openssl or no $ISTIO_JWT"
fi

### The command line.
explain --destination orders:8080
expect_eq "no --source: status 2, one line" "2|1" "$RC|$(wc -l <"$T/err")"
explain --source orders --destination orders:99999
expect_eq "a bad port: status 2" 2 "$RC"
explain --source orders --destination 2001:2::1
expect_eq "an IPv6 address without brackets: status 2" 2 "$RC"
explain --source spiffe://cluster.local/default/orders --destination orders
expect_eq "a bad SPIFFE ID: status 2" 2 "$RC"
explain --source profilepicture --destination orders:8080 --path count
expect_eq "a path without /: status 2" 2 "$RC"
explain --source profilepicture --destination orders:8080 --header "x-bad"
expect_eq "a header without =: status 2" 2 "$RC"
explain --source nosuch --destination orders:8080
expect_eq "an unknown workload: status 1, one line" "1|1" "$RC|$(wc -l <"$T/err")"
check "says which" grep -q 'workload "nosuch" not found in namespace default' "$T/err"
RC=0
"$WEFTCTL" --server https://127.0.0.1:15010 --token-file "$T/no-token" \
    explain --source profilepicture --destination orders:8080 \
    >"$T/out" 2>"$T/err" || RC=$?
expect_eq "--server without its token: status 1, one line" "1|1" \
    "$RC|$(wc -l <"$T/err")"
check "says why" grep -q 'no-token' "$T/err"
check "--help tells of explain" \
    sh -c "'$WEFTCTL' --help | grep -q '^  explain --source'"

e2e_done
