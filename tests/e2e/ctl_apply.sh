#!/bin/bash
# weftctl on a local policy DB (no root, no namespaces): every supported
# document of Istio's Bookinfo routing samples applies unchanged, in
# dependency order; a Gateway is refused by kind and changes nothing; an
# invalid apply changes nothing; applying twice is "unchanged"; get -o
# yaml and -o json round-trip; delete keeps subset references whole; and
# the audit views of weft-policy(5) answer with the sqlite3 CLI. The
# security kinds: every AuthorizationPolicy input of Istio's policy
# tests applies, but those that use what weft does not enforce (CUSTOM,
# Envoy filter metadata), refused naming the field;
# PeerAuthentication, RequestAuthentication and weft.io RateLimit are
# listed, round-tripped and deleted like the others.
. "$(dirname "$0")/lib.sh"
command -v sqlite3 >/dev/null || skip "needs the sqlite3 CLI"
WEFTCTL=$WEFT_BUILDDIR/src/ctl/weftctl
ISTIO=$WEFT_SRCDIR/../shared/testdata/istio
[ -d "$ISTIO/bookinfo-networking" ] || skip "no Istio samples in $ISTIO"
if [ ! -x "$WEFTCTL" ]; then
	echo "$WEFTCTL is not built" >&2
	exit 1
fi
T=$(mktemp -d "${TMPDIR:-/tmp}/weft-e2e.XXXXXX")
trap e2e_cleanup EXIT
trap 'exit 130' INT TERM HUP

BOOKINFO=$ISTIO/bookinfo-networking
DB=$T/policy.db
ctl() { "$WEFTCTL" --db "$DB" "$@"; }
q() { sqlite3 -batch "$DB" "$1"; }
version() { q 'SELECT version FROM config_version'; }
# The whole DB as SQL text: equal dumps, equal policies.
snapshot() { sqlite3 -batch "$DB" .dump >"$T/$1.sql"; }
same() { cmp -s "$T/$1.sql" "$T/$2.sql"; }

# split FILE: writes the documents of FILE to $T/docs/N.yaml, one each.
split_docs() {
	rm -rf "$T/docs"
	mkdir "$T/docs"
	awk -v dir="$T/docs" '
		BEGIN { n = 1 }
		/^---/ { n++; next }
		{ print > (dir "/" n ".yaml") }' "$1"
}
doc_kind() { sed -n 's/^kind: *//p' "$1" | head -n 1; }

# refused DESCRIPTION PATTERN CMD...: CMD fails with status 1 and a
# stderr matching PATTERN, and leaves the DB exactly as it was.
refused() {
	local desc=$1 pattern=$2 rc=0
	shift 2
	snapshot before
	"$@" >"$T/out" 2>"$T/err" || rc=$?
	expect_eq "$desc: exit status" 1 "$rc"
	check "$desc: error names it" grep -q -e "$pattern" "$T/err"
	snapshot after
	check "$desc: nothing changed" same before after
}

### The DB is created on first use, readable by the proxies.
(umask 077 && ctl get vs >/dev/null 2>"$T/err")
check "a missing DB is created" test -f "$DB"
expect_eq "created 0644 whatever the umask" 644 "$(stat -c %a "$DB")"
# The current schema is the last "-- Schema version N:" of sql/schema.sql.
current=$(sed -n 's/^-- Schema version \([0-9]*\):.*/\1/p' \
    "$WEFT_SRCDIR/sql/schema.sql" | tail -n 1)
expect_eq "with the current schema ($current)" "$current" \
    "$(q 'PRAGMA user_version')"
expect_eq "in WAL mode" wal "$(q 'PRAGMA journal_mode')"
expect_eq "at version 0" 0 "$(version)"
expect_eq "an empty list says so" "No resources found in default namespace." "$(cat "$T/err")"

### Every supported document of Bookinfo applies unchanged: rules
### first, so that the routes find their subsets, and the full set of
### rules last (fault-injection-details-v1.yaml narrows details to v1).
FILES=
for f in "$BOOKINFO"/*.yaml; do
	f=$(basename "$f")
	[ "$f" = destination-rule-all.yaml ] || FILES="$FILES $f"
done
FILES="$FILES destination-rule-all.yaml"
for kind in DestinationRule ServiceEntry VirtualService; do
	for f in $FILES; do
		f=$BOOKINFO/$f
		split_docs "$f"
		for d in "$T"/docs/*.yaml; do
			[ "$(doc_kind "$d")" = "$kind" ] || continue
			name="$(basename "$f") document $(basename "$d" .yaml)"
			if ctl apply -f "$d" >"$T/out" 2>"$T/err"; then
				check "$name ($kind) applies" \
				    grep -q -E "^$(echo "$kind" | tr "[:upper:]" "[:lower:]")\.networking\.istio\.io/[a-z0-9.-]+ (created|configured|unchanged)$" "$T/out"
			else
				check "$name ($kind) applies: $(cat "$T/err")" false
			fi
		done
	done
done
expect_eq "nothing else is left unread" "" \
    "$(cd "$BOOKINFO" && for f in *.yaml; do split_docs "$f"; for d in "$T"/docs/*.yaml; do
	k=$(doc_kind "$d"); case $k in DestinationRule|ServiceEntry|VirtualService|Gateway|"") ;; *) echo "$f: $k" ;; esac; done; done)"

### A file holding a Gateway is refused as a whole, by kind.
for f in bookinfo-gateway certmanager-gateway; do
	refused "$f.yaml" \
	    "^$BOOKINFO/$f.yaml:1: Gateway/[a-z-]*: kind: Gateway (networking.istio.io/v1) is not supported$" \
	    ctl apply -f "$BOOKINFO/$f.yaml"
done

### Whole files: a VirtualService with the rule it needs in one file,
### in either order.
ctl apply -f "$BOOKINFO/fault-injection-details-v1.yaml" >"$T/out"
expect_eq "VirtualService before its DestinationRule in one file" \
    "virtualservice.networking.istio.io/details configured
destinationrule.networking.istio.io/details configured" "$(cat "$T/out")"
ctl apply -f "$BOOKINFO/destination-rule-all.yaml" >/dev/null

### The 80/20 split, applied twice: the second time changes nothing.
ctl apply -f "$BOOKINFO/virtual-service-reviews-80-20.yaml" >"$T/out"
expect_eq "80/20 applied" "virtualservice.networking.istio.io/reviews configured" "$(cat "$T/out")"
v=$(version)
snapshot first
ctl apply -f "$BOOKINFO/virtual-service-reviews-80-20.yaml" >"$T/out"
expect_eq "applied again: unchanged" "virtualservice.networking.istio.io/reviews unchanged" "$(cat "$T/out")"
expect_eq "applied again: same version" "$v" "$(version)"
snapshot second
check "applied again: same DB" same first second
expect_eq "effective_routes: the 80/20 split in percent" "v1|80|80.0
v2|20|20.0" "$(q "SELECT subset, weight, percent FROM effective_routes
	WHERE host = 'reviews' ORDER BY route, subset")"
expect_eq "resources: kept as given, with who and at which version" \
    "networking.istio.io/v1|$v|1" \
    "$(q "SELECT api_version, version, applied_by <> '' FROM resources
	WHERE kind = 'VirtualService' AND name = 'reviews'")"
expect_eq "one route row, two destinations" "1|2" \
    "$(q "SELECT count(DISTINCT r.id), count(*) FROM routes r
	JOIN virtual_services v ON v.id = r.vs_id
	JOIN route_destinations d ON d.route_id = r.id WHERE v.name = 'reviews'")"

### A header match: routes in order, the match kept as given.
ctl apply -f "$BOOKINFO/virtual-service-reviews-jason-v2-v3.yaml" >/dev/null
expect_eq "routes in order with their match" \
    '0|[{"headers":{"end-user":{"exact":"jason"}}}]|v2|100.0
1|[]|v3|100.0' \
    "$(q "SELECT route, match, subset, percent FROM effective_routes
	WHERE virtual_service = 'reviews' ORDER BY route")"
expect_eq "fault kept as JSON" '{"abort":{"httpStatus":555,"percentage":{"value":100}}}' \
    "$(q "SELECT r.fault FROM routes r JOIN virtual_services v ON v.id = r.vs_id
	WHERE v.name = 'details' AND r.position = 0")"

### Invalid applies change nothing, and every error is told.
cat >"$T/bad.yaml" <<'EOF'
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: ratings
spec:
  host: ratings
  subsets:
  - name: v1
    labels: {version: v1}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: ratings
spec:
  hosts: [ratings]
  http:
  - match:
    - uri: {regex: "(unclosed"}
    route:
    - destination: {host: ratings, subset: v1}
      weight: 80
    - destination: {host: ratings, subset: v1}
      weight: -20
    timeout: 10x
    retriez: {attempts: 3}
EOF
refused "invalid VirtualService after a valid rule" \
    "bad.yaml:2: VirtualService/ratings: spec.http\[0\].route\[1\].weight: -20 is out of range" \
    ctl apply -f "$T/bad.yaml"
expect_eq "four errors told" 4 "$(grep -c 'bad.yaml:2: VirtualService/ratings: spec.http\[0\]' "$T/err")"
check "unknown field named" grep -q 'spec.http\[0\].retriez: unknown field$' "$T/err"
check "bad regex named" grep -q 'spec.http\[0\].match\[0\].uri.regex: invalid regular expression "(unclosed"' "$T/err"
check "bad duration named" grep -q 'spec.http\[0\].timeout: invalid duration "10x"' "$T/err"
expect_eq "the valid rule was not applied" "v1|v2|v2-mysql|v2-mysql-vm" \
    "$(q "SELECT group_concat(name, '|') FROM (SELECT s.name FROM subsets s
	JOIN destination_rules d ON d.id = s.dr_id WHERE d.name = 'ratings'
	ORDER BY s.name)")"

cat >"$T/dangling.yaml" <<'EOF'
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews}
spec:
  hosts: [reviews]
  http:
  - route:
    - destination: {host: reviews, subset: v4}
EOF
refused "a subset no DestinationRule defines" \
    "^$T/dangling.yaml:1: VirtualService/reviews: spec.http\[0\].route\[0\].destination.subset: subset \"v4\" of host \"reviews\" is not defined by any DestinationRule$" \
    ctl apply -f "$T/dangling.yaml"

cat >"$T/drop.yaml" <<'EOF'
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews}
spec:
  host: reviews
  subsets:
  - {name: v1, labels: {version: v1}}
EOF
refused "a rule dropping a subset in use" \
    "drop.yaml:1: DestinationRule/reviews: spec.subsets: subset \"v2\" of host \"reviews\" is still used by VirtualService default/reviews" \
    ctl apply -f "$T/drop.yaml"
printf 'apiVersion: networking.istio.io/v1\nkind: Sidecar\nmetadata: {name: s}\nspec: {}\n' >"$T/sidecar.yaml"
refused "Sidecar from stdin" \
    '^<stdin>:1: Sidecar/s: kind: Sidecar (networking.istio.io/v1) is not supported$' \
    ctl apply -f - <"$T/sidecar.yaml"
printf 'kind: VirtualService\nmetadata: {name: x\n' >"$T/broken.yaml"
refused "broken YAML" "broken.yaml:1: line 3, column 1: " ctl apply -f "$T/broken.yaml"
snapshot before
ctl apply --dry-run -f "$BOOKINFO/virtual-service-reviews-v3.yaml" >"$T/out"
expect_eq "--dry-run tells what would change" \
    "virtualservice.networking.istio.io/reviews configured (dry run)" "$(cat "$T/out")"
snapshot after
check "--dry-run writes nothing" same before after

### get: table, YAML and JSON, and back.
ctl get vs >"$T/out"
check "table header" grep -q -E '^NAMESPACE +NAME +GATEWAYS +HOSTS$' "$T/out"
check "table row" grep -q -E '^default +reviews +mesh +reviews$' "$T/out"
ctl get dr reviews >"$T/out"
check "DestinationRule subsets listed" grep -q '^default     reviews   reviews   v1,v2,v3$' "$T/out"
v=$(version)
ctl get vs reviews -o yaml >"$T/reviews.yaml"
check "-o yaml as applied" grep -q '^kind: VirtualService$' "$T/reviews.yaml"
expect_eq "get -o yaml | apply: unchanged" \
    "virtualservice.networking.istio.io/reviews unchanged" \
    "$(ctl get vs reviews -o yaml | ctl apply -f -)"
ctl get all -A -o yaml >"$T/all.yaml"
ctl apply -f "$T/all.yaml" >"$T/out"
expect_eq "get all -A -o yaml | apply: all unchanged" 0 "$(grep -vc ' unchanged$' "$T/out" || true)"
check "get all -A -o yaml | apply: every resource" test "$(wc -l <"$T/out")" -eq "$(q 'SELECT count(*) FROM resources')"
ctl get dr -o json >"$T/dr.json"
expect_eq "get -o json | apply: unchanged" 0 "$(ctl apply -f "$T/dr.json" | grep -vc ' unchanged$' || true)"
expect_eq "round trips bump nothing" "$v" "$(version)"
rc=0
ctl get vs nosuch 2>"$T/err" || rc=$?
expect_eq "get of a missing name fails" 1 "$rc"
expect_eq "and says so" 'weftctl: virtualservice.networking.istio.io "nosuch" not found in namespace default' "$(cat "$T/err")"
expect_eq "-n" "cert-manager" "$(ctl get vs -n istio-system -o name | sed 's|.*/||')"

### Endpoints per subset: WorkloadEntries picked by a ServiceEntry.
cat >"$T/reviews-svc.yaml" <<'EOF'
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: reviews}
spec:
  hosts: [reviews]
  addresses: [240.240.0.9]
  ports: [{number: 9080, name: http, protocol: HTTP}]
  workloadSelector: {labels: {app: reviews}}
EOF
for v in 1 2 3; do
	cat <<EOF
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: reviews-v$v}
spec: {address: 198.18.9.$v, labels: {app: reviews, version: v$v}}
EOF
done >>"$T/reviews-svc.yaml"
ctl apply -f "$T/reviews-svc.yaml" >/dev/null
expect_eq "subset_endpoints" "v1|reviews-v1|198.18.9.1
v2|reviews-v2|198.18.9.2
v3|reviews-v3|198.18.9.3" \
    "$(q "SELECT subset, workload, address FROM subset_endpoints
	WHERE host = 'reviews' ORDER BY subset")"
expect_eq "service_endpoints" 3 \
    "$(q "SELECT count(*) FROM service_endpoints WHERE service = 'reviews'")"

### delete keeps references whole.
refused "deleting a rule whose subsets are in use" \
    '^weftctl: DestinationRule/reviews: subset "v2" of host "reviews" is still used by VirtualService default/reviews' \
    ctl delete dr reviews
refused "deleting what is not there" \
    '^weftctl: virtualservice.networking.istio.io "nosuch" not found in namespace default$' \
    ctl delete vs nosuch
v=$(version)
expect_eq "delete the route and its rule together" \
    'virtualservice.networking.istio.io "reviews" deleted
destinationrule.networking.istio.io "reviews" deleted' \
    "$(ctl delete vs reviews && ctl delete dr reviews)"
expect_eq "each delete bumps the version" $((v + 2)) "$(version)"
expect_eq "normalized rows gone" "0|0" \
    "$(q "SELECT (SELECT count(*) FROM virtual_services WHERE name = 'reviews'),
	(SELECT count(*) FROM destination_rules WHERE name = 'reviews')")"
ctl delete -f "$T/reviews-svc.yaml" >"$T/out"
expect_eq "delete -f" 4 "$(grep -c ' deleted$' "$T/out")"
expect_eq "endpoints of a deleted entry gone" 0 "$(q "SELECT count(*) FROM workloads")"
ctl delete vs nosuch --ignore-not-found >"$T/out"
expect_eq "--ignore-not-found" "" "$(cat "$T/out")"

### AuthorizationPolicy: Istio's own policy test inputs, file by file.
AUTHZ=$ISTIO/authz-policies
if [ -d "$AUTHZ" ]; then
	for f in "$AUTHZ"/*.yaml; do
		b=$(basename "$f")
		case $b in
		*-custom-*)
			refused "$b (CUSTOM)" \
			    ": spec.action: CUSTOM is not supported" \
			    ctl apply -f "$f"
			check "$b: provider named" grep -q \
			    ": spec.provider: not supported" "$T/err"
			;;
		http-allow-full-rule-in.yaml | tcp-audit-both-http-tcp-in.yaml | \
		    tcp-deny-both-http-tcp-in.yaml)
			refused "$b (Envoy filter metadata)" \
			    '^[^ ]*:1: AuthorizationPolicy/[a-z0-9-]*: spec.rules\[[0-9]*\].when\[1[23]\].key: condition key "experimental.envoy.filters.a.b\[c\]": not supported' \
			    ctl apply -f "$f"
			expect_eq "$b: the one error" 1 "$(wc -l <"$T/err")"
			;;
		*)
			if ctl apply -f "$f" >"$T/out" 2>"$T/err"; then
				check "$b applies" grep -q -E \
				    '^authorizationpolicy\.security\.istio\.io/[a-z0-9-]+ (created|configured|unchanged)$' \
				    "$T/out"
			else
				check "$b applies: $(cat "$T/err")" false
			fi
			;;
		esac
	done
	ctl apply -f "$AUTHZ/http-dry-run-mix-in.yaml" >/dev/null
	expect_eq "istio.io/dry-run kept as the policy's dry_run" "httpbin-1|1
httpbin-2|0" "$(q "SELECT name, dry_run FROM authorization_policies
	WHERE namespace = 'foo' AND name IN ('httpbin-1', 'httpbin-2') ORDER BY name")"
	v=$(version)
	sed 's|"istio.io/dry-run": "true"|"istio.io/dry-run": "false"|' \
	    "$AUTHZ/http-dry-run-mix-in.yaml" >"$T/enforce.yaml"
	expect_eq "an annotation change is a change" \
	    "authorizationpolicy.security.istio.io/httpbin-1 configured
authorizationpolicy.security.istio.io/httpbin-2 unchanged" \
	    "$(ctl apply -f "$T/enforce.yaml")"
	expect_eq "and bumps the version" $((v + 1)) "$(version)"
	expect_eq "no longer a dry run" 0 "$(q "SELECT dry_run FROM authorization_policies
	WHERE namespace = 'foo' AND name = 'httpbin-1'")"
	expect_eq "annotations kept as given" '{"istio.io/dry-run":"false"}' \
	    "$(q "SELECT annotations FROM resources WHERE kind = 'AuthorizationPolicy'
	AND namespace = 'foo' AND name = 'httpbin-1'")"
fi

### "Which sources may POST to orders?": one query on authorization_rules.
cat >"$T/shop.yaml" <<'EOF'
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: orders, namespace: shop}
spec:
  selector: {matchLabels: {app: orders}}
  rules:
  - from:
    - source: {principals: [cluster.local/ns/shop/sa/web]}
    - source: {namespaces: [billing]}
    to:
    - operation: {methods: [POST, PUT], paths: ["/orders*"]}
  - from:
    - source: {namespaces: [reports]}
    to:
    - operation: {methods: [GET]}
  - from:
    - source: {ipBlocks: [10.9.0.0/16]}
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: ops, namespace: shop}
spec:
  rules:
  - from:
    - source: {namespaces: [ops]}
    to:
    - operation: {methods: ["*"]}
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: catalog, namespace: shop}
spec:
  selector: {matchLabels: {app: catalog}}
  rules:
  - from:
    - source: {namespaces: [web]}
    to:
    - operation: {methods: [POST]}
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata:
  name: trial
  namespace: shop
  annotations: {istio.io/dry-run: "true"}
spec:
  selector: {matchLabels: {app: orders}}
  rules:
  - from:
    - source: {namespaces: [trial]}
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: no-crawlers, namespace: shop}
spec:
  selector: {matchLabels: {app: orders}}
  action: DENY
  rules:
  - from:
    - source: {namespaces: [crawlers]}
EOF
ctl apply -f "$T/shop.yaml" >/dev/null
expect_eq "which sources may POST to orders" \
'ops|0|0||["ops"]|
orders|0|0|["cluster.local/ns/shop/sa/web"]||
orders|0|1||["billing"]|
orders|2|0|||["10.9.0.0/16"]' \
    "$(q "SELECT policy, rule, source, principals, namespaces, ip_blocks
	FROM authorization_rules
	WHERE namespace = 'shop' AND action = 'ALLOW' AND NOT dry_run
	AND (selector IS NULL OR json_extract(selector, '$.app') = 'orders')
	AND (methods IS NULL OR EXISTS (SELECT 1 FROM json_each(methods)
		WHERE value IN ('POST', '*')))
	ORDER BY policy, rule, source")"
expect_eq "a DENY policy is told apart" 'no-crawlers|DENY|["crawlers"]' \
    "$(q "SELECT policy, action, namespaces FROM authorization_rules
	WHERE namespace = 'shop' AND action = 'DENY'")"
ctl get ap -n shop >"$T/out"
check "AuthorizationPolicy table header" grep -q -E '^NAMESPACE +NAME +ACTION +RULES +DRY-RUN +SELECTOR$' "$T/out"
check "AuthorizationPolicy table row" grep -q -E '^shop +orders +ALLOW +3 +false +app=orders$' "$T/out"
check "a dry-run policy says so" grep -q -E '^shop +trial +ALLOW +1 +true +app=orders$' "$T/out"
check "a namespace-wide policy" grep -q -E '^shop +ops +ALLOW +1 +false +-$' "$T/out"

### PeerAuthentication, RequestAuthentication, RateLimit: apply, get,
### round trip, delete.
JWKS=$(tr -d '\n' <"$ISTIO/jwt/jwks.json")
cat >"$T/security.yaml" <<EOF
apiVersion: security.istio.io/v1beta1
kind: PeerAuthentication
metadata: {name: default, namespace: shop}
spec: {mtls: {mode: STRICT}}
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: orders, namespace: shop}
spec:
  selector: {matchLabels: {app: orders}}
  mtls: {mode: UNSET}
  portLevelMtls: {9090: {mode: DISABLE}}
---
apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata: {name: orders, namespace: shop}
spec:
  selector: {matchLabels: {app: orders}}
  jwtRules:
  - issuer: testing@secure.istio.io
    jwks: '$JWKS'
    fromHeaders: [{name: x-jwt}]
    forwardOriginalToken: true
---
apiVersion: weft.io/v1
kind: RateLimit
metadata: {name: orders, namespace: shop}
spec:
  selector: {matchLabels: {app: orders}}
  limits:
  - requestsPerSecond: 10
    burst: 10
    match: {methods: [GET], paths: ["/count"]}
    per: source
  - requestsPerSecond: 0.5
EOF
ctl apply -f "$T/security.yaml" >"$T/out"
expect_eq "security kinds created" \
    "peerauthentication.security.istio.io/default created
peerauthentication.security.istio.io/orders created
requestauthentication.security.istio.io/orders created
ratelimit.weft.io/orders created" "$(cat "$T/out")"
expect_eq "peer_authentications" 'default||STRICT|{}
orders|{"app":"orders"}|UNSET|{"9090":"DISABLE"}' \
    "$(q "SELECT name, selector, mode, port_modes FROM peer_authentications
	WHERE namespace = 'shop' ORDER BY name")"
expect_eq "rate_limits with defaults filled in" \
    '[{"requestsPerSecond":10,"burst":10,"match":{"methods":["GET"],"paths":["/count"]},"per":"source"},{"requestsPerSecond":0.5,"burst":1}]' \
    "$(q "SELECT limits FROM rate_limits WHERE namespace = 'shop'")"
expect_eq "request_authentications: the rules as given" "testing@secure.istio.io|1" \
    "$(q "SELECT json_extract(jwt_rules, '\$[0].issuer'),
	json_array_length(json_extract(jwt_rules, '\$[0].jwks'), '\$.keys')
	FROM request_authentications WHERE namespace = 'shop'")"
ctl get pa -n shop >"$T/out"
check "PeerAuthentication table" grep -q -E '^shop +orders +UNSET +9090=DISABLE +app=orders$' "$T/out"
ctl get requestauthentications -n shop >"$T/out"
check "RequestAuthentication table" grep -q -E '^shop +orders +testing@secure.istio.io +app=orders$' "$T/out"
ctl get ratelimit -n shop >"$T/out"
check "RateLimit table" grep -q -E '^shop +orders +10/s,0.5/s +app=orders$' "$T/out"
v=$(version)
ctl get all -n shop -o yaml >"$T/shop-all.yaml"
check "-o yaml keeps annotations" grep -q "istio.io/dry-run: 'true'" "$T/shop-all.yaml"
expect_eq "get all -o yaml | apply: all unchanged" 0 \
    "$(ctl apply -f "$T/shop-all.yaml" | grep -vc ' unchanged$' || true)"
expect_eq "get -o json | apply: unchanged" 0 \
    "$(ctl get rl -n shop -o json | ctl apply -f - | grep -vc ' unchanged$' || true)"
expect_eq "round trips bump nothing" "$v" "$(version)"
expect_eq "delete each kind" \
    'peerauthentication.security.istio.io "orders" deleted
requestauthentication.security.istio.io "orders" deleted
authorizationpolicy.security.istio.io "orders" deleted
ratelimit.weft.io "orders" deleted' \
    "$(ctl delete pa orders -n shop && ctl delete ra orders -n shop &&
	ctl delete ap orders -n shop && ctl delete rl orders -n shop)"
expect_eq "their normalized rows gone" "0|0|0|0|0" \
    "$(q "SELECT (SELECT count(*) FROM peer_authentications WHERE name = 'orders'),
	(SELECT count(*) FROM request_authentications),
	(SELECT count(*) FROM authorization_policies WHERE namespace = 'shop' AND name = 'orders'),
	(SELECT count(*) FROM authorization_rules WHERE namespace = 'shop' AND policy = 'orders'),
	(SELECT count(*) FROM rate_limits)")"
cat >"$T/rl.yaml" <<'EOF'
apiVersion: weft.io/v1
kind: RateLimit
metadata: {name: ok, namespace: shop}
spec: {limits: [{requestsPerSecond: 1}]}
---
apiVersion: weft.io/v1
kind: RateLimit
metadata: {name: l, namespace: shop}
spec: {limits: [{requestsPerSecond: 0}]}
EOF
refused "a bad RateLimit after a good one" \
    "rl.yaml:2: RateLimit/l: spec.limits\[0\].requestsPerSecond: 0 is out of range" \
    ctl apply -f "$T/rl.yaml"

### The command line.
rc=0
"$WEFTCTL" --server https://127.0.0.1:15010 --token-file "$T/no-token" \
    get vs 2>"$T/err" || rc=$?
expect_eq "--server without a token: status 1, one line" "1|1" \
    "$rc|$(wc -l <"$T/err")"
check "--server says why" grep -q 'no-token' "$T/err"
expect_eq "--version" "weftctl" "$("$WEFTCTL" --version | cut -d' ' -f1)"
check "--help" sh -c "'$WEFTCTL' --help | grep -q '^usage: weftctl'"
rc=0
"$WEFTCTL" frobnicate 2>"$T/err" || rc=$?
expect_eq "bad command: status 2, one line" "2|1" "$rc|$(wc -l <"$T/err")"
expect_eq "WEFT_DB" "$(ctl get dr -o name)" "$(WEFT_DB=$DB "$WEFTCTL" get dr -o name)"
rc=0
"$WEFTCTL" --db "$T/no/such/dir/p.db" get vs 2>"$T/err" || rc=$?
expect_eq "missing directory: status 1, one line" "1|1" "$rc|$(wc -l <"$T/err")"

e2e_done
