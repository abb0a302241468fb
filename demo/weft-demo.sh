#!/bin/bash
# weft demo: a small mesh of pods on this machine. Each pod is a network
# namespace with weft-init's capture rules and a weft-proxy sidecar; the
# applications know nothing of the mesh. Run as root by `make demo`.
#
#   frontend (198.18.10.1) --curl--> reviews (198.18.10.2:9080)
#                          --curl--> ratings (198.18.10.3:9080)
#   legacy   (198.18.10.9, no sidecar) --curl--> reviews
#   weft-server (198.18.10.100) <-- weft-sync in shop, orders-v1, orders-v2,
#                                   profilepicture
#   batch    (198.18.10.39, no sidecar) --curl--> orders-v1
#   billing-vm (198.18.10.40, a "VM": weftctl join, then the systemd
#              units' command lines) <--> shop, orders
#   frontend, legacy --UDP :5353, TCP :5432--> db (198.18.10.50, L4 policy
#                                              through NFQUEUE)
#
# Everything stays inside namespaces this script creates (no route out)
# and is removed when it ends.
# shellcheck source=tests/e2e/lib.sh
. "${WEFT_SRCDIR:-$(dirname "$0")/..}/tests/e2e/lib.sh"
# shellcheck disable=SC2034 # read by proxy_start in tests/e2e/lib.sh
MESH_NAMESPACE=default
e2e_init

say() { printf '\n\033[1m%s\033[0m\n' "$*"; }
run() { printf '$ %s\n' "$*" | sed "s/$E2E_SUFFIX/*/g"; }

say "1. Three pods with sidecars, one without"
for app in reviews ratings; do
	ip=198.18.10.2
	[ $app = ratings ] && ip=198.18.10.3
	mesh_pod "$app" "$ip"
	bg "$POD" "$app-app" "$WEFT_TESTD" --listen 0.0.0.0:9080 --name "$app-v1"
	wait_listen "$POD" 9080
	eval "${app^^}=\$POD"
	echo "  $app: $ip, app on :9080, sidecar pid $PROXY_PID"
done
mesh_pod frontend 198.18.10.1
FRONTEND=$POD
# proxy_start reads the pod's policy from $T/frontend.db
echo "  frontend: 198.18.10.1, sidecar pid $PROXY_PID"
pod_new legacy 198.18.10.9
LEGACY=$POD
echo "  legacy: 198.18.10.9, no sidecar"

say "2. The capture rules weft-init installed in the frontend pod"
run "ip netns exec frontend iptables-save -t nat | grep WEFT"
in_ns "$FRONTEND" iptables-save -t nat | grep -E '^-A (OUTPUT|PREROUTING|WEFT_)' | sed 's/^/  /'

say "3. The frontend calls its backends by their pod address, as usual"
for i in 1 2 3; do
	for dst in 198.18.10.2 198.18.10.3; do
		in_ns "$FRONTEND" curl -s --max-time 5 -o /dev/null \
		    "http://$dst:9080/products/$i"
	done
done
run "curl -si http://198.18.10.2:9080/products/1   # from frontend"
in_ns "$FRONTEND" curl -si --max-time 5 http://198.18.10.2:9080/products/1 |
    grep -iE '^(HTTP|x-backend|x-peer)' | sed 's/^/  /'
echo "  (X-Peer 127.0.0.1: the app was called by its own sidecar on loopback)"
in_ns "$LEGACY" curl -s --max-time 5 -o /dev/null http://198.18.10.2:9080/from-legacy
in_ns "$FRONTEND" curl -s --max-time 5 -o /dev/null http://198.18.10.3:9080/status/503

say "4. Which sidecars handled them: weft_requests_total on each"
for p in frontend reviews ratings; do
	eval "ns=\$${p^^}"
	# shellcheck disable=SC2154
	in_ns "$ns" curl -s --max-time 5 http://127.0.0.1:15020/metrics |
	    awk -v p="$p" '/^weft_requests_total/ {
		match($0, /reporter="[^"]*"/); r = substr($0, RSTART + 10, RLENGTH - 11)
		match($0, /destination_service="[^"]*"/); d = substr($0, RSTART + 21, RLENGTH - 22)
		match($0, /response_code="[^"]*"/); c = substr($0, RSTART + 15, RLENGTH - 16)
		printf "  %-9s reporter=%-12s destination=%-18s code=%s  %s requests\n", p, r, d, c, $NF }'
done

say "5. The frontend sidecar's access log (one JSON line per request)"
sleep 0.3
tail -n 2 "$T/px/frontend.access" | sed 's/^/  /'

say "6. Smuggling attempts never reach an application"
run "printf 'POST / HTTP/1.1\\r\\nHost: x\\r\\nContent-Length: 4\\r\\nTransfer-Encoding: chunked\\r\\n...' > reviews"
raw "$FRONTEND" 198.18.10.2 9080 \
    'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n' |
    head -n 1 | sed 's/^/  /'

say "7. Latency histogram of the reviews sidecar (inbound), Prometheus format"
in_ns "$REVIEWS" curl -s --max-time 5 http://127.0.0.1:15020/metrics |
    grep '^weft_request_duration_seconds_bucket' | grep 'response_code="200"' |
    sed -E 's/\{.*le="([^"]*)"\}/{le="\1"}/' | head -n 8 | sed 's/^/  /'

say "8. Mesh policy from Istio YAML: a canary, header routing, faults"
mesh_pod reviews2 198.18.10.4
bg "$POD" reviews2-app "$WEFT_TESTD" --listen 0.0.0.0:9080 --name reviews-v2
wait_listen "$POD" 9080
cat >"$T/policy.yaml" <<'YAML'
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: reviews}
spec:
  hosts: [reviews]
  addresses: [240.240.0.2]
  ports: [{number: 9080, name: http, protocol: HTTP}]
  resolution: STATIC
  endpoints:
  - {address: 198.18.10.2, labels: {version: v1}}
  - {address: 198.18.10.4, labels: {version: v2}}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews}
spec:
  host: reviews
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews}
spec:
  hosts: [reviews]
  http:
  - name: jason-sees-v2
    match: [{headers: {end-user: {exact: jason}}}]
    route: [{destination: {host: reviews, subset: v2}}]
  - name: test-fault
    match: [{headers: {x-testing: {exact: "true"}}}]
    fault: {abort: {httpStatus: 503, percentage: {value: 100}}}
    route: [{destination: {host: reviews, subset: v1}}]
  - name: slow-call
    match: [{uri: {prefix: /slow}}]
    rewrite: {uri: /delay/2000}
    timeout: 0.5s
    route: [{destination: {host: reviews, subset: v1}}]
  - name: canary
    route:
    - {destination: {host: reviews, subset: v1}, weight: 90}
    - {destination: {host: reviews, subset: v2}, weight: 10}
YAML
run "weftctl --db frontend/policy.db apply -f policy.yaml"
"$WEFT_BUILDDIR/src/ctl/weftctl" --db "$T/frontend.db" apply -f "$T/policy.yaml" | sed 's/^/  /'
chmod 644 "$T/frontend.db"
for _ in $(seq 1 30); do
	v=$(in_ns "$FRONTEND" curl -s --max-time 2 http://127.0.0.1:15020/metrics |
	    awk '/^weft_config_version /{print $2}')
	[ "${v:-0}" -ge 1 ] && break
	sleep 0.2
done
run "for i in 1..200: curl http://reviews:9080/   # by its VIP 240.240.0.2"
in_ns "$FRONTEND" timeout 60 curl -s --max-time 5 -o /dev/null \
    -w '%header{x-backend}\n' -H 'Host: reviews' \
    "http://240.240.0.2:9080/canary/[1-200]" | sort | uniq -c | sed 's/^/  /'
run "curl -H 'end-user: jason' http://reviews:9080/"
in_ns "$FRONTEND" curl -s --max-time 5 -o /dev/null -w '  %header{x-backend}\n' \
    -H 'Host: reviews' -H 'end-user: jason' http://240.240.0.2:9080/
run "curl -H 'x-testing: true' http://reviews:9080/"
in_ns "$FRONTEND" curl -s --max-time 5 -w '  (%{http_code})\n' \
    -H 'Host: reviews' -H 'x-testing: true' http://240.240.0.2:9080/ | sed 's/^/  /'
run "curl http://reviews:9080/slow   # the app takes 2 s; the route allows 0.5 s"
in_ns "$FRONTEND" curl -s --max-time 5 -w '  (%{http_code} after %{time_total} s)\n' \
    -H 'Host: reviews' http://240.240.0.2:9080/slow | sed 's/^/  /'
run "sqlite3 -readonly frontend/policy.db 'SELECT route_name, subset, percent FROM effective_routes'"
sqlite3 -readonly "$T/frontend.db" \
    "SELECT route_name, subset, percent FROM effective_routes" | sed 's/^/  /'

say "9. A control plane: weft-server, and weft-sync beside each sidecar"
pod_new server 198.18.10.100
SERVER=$POD
mkdir -m 700 "$T/srv"
bg "$SERVER" server "$WEFT_BUILDDIR/src/server/weft-server" --data-dir "$T/srv"
wait_listen "$SERVER" 15010
ctl() {
	in_ns "$SERVER" "$WEFT_BUILDDIR/src/ctl/weftctl" --server https://127.0.0.1:15010 \
	    --ca "$T/srv/ca.pem" --token-file "$T/srv/admin.token" "$@"
}
echo "  weft-server on 198.18.10.100:15010 made its CA and admin token:"
ls -l "$T/srv" | awk 'NR > 1 { print "  " $1, $NF }'
join_pod() { # NAME ADDRESS LABELS SA: a pod whose policy comes from the server
	local wl=$1 addr=$2 labels=$3 sa=$4 tok
	pod_new "$wl" "$addr"
	in_ns "$POD" "$WEFT_INIT" >"$T/init-$wl.log" 2>&1
	proxy_start "$POD" "$wl" --db "$T/px/$wl.db" --certs "$T/px/$wl-certs" \
	    --service-account "$sa" --labels "$labels"
	tok=$(ctl token create --workload "$wl" --namespace default --service-account "$sa")
	bg_proxy_uid "$POD" "sync-$wl" "$WEFT_BUILDDIR/src/sync/weft-sync" \
	    --server https://198.18.10.100:15010 --token "$tok" --workload "$wl" \
	    --namespace default --service-account "$sa" --address "$addr" --labels "$labels" \
	    --db "$T/px/$wl.db" --certs "$T/px/$wl-certs"
}
run "weftctl token create --workload orders-v1 --namespace default --service-account orders"
echo "  $(ctl token create --workload orders-v1 --namespace default --service-account orders | cut -c1-40)..."
for v in 1 2; do
	join_pod "orders-v$v" "198.18.10.2$v" "app=orders,version=v$v" orders
	if [ "$v" = 1 ]; then ORDERS1=$POD; else ORDERS2=$POD; fi
	bg "$POD" "orders-v$v-app" "$WEFT_TESTD" --listen 0.0.0.0:8080 --name "orders-v$v"
	wait_listen "$POD" 8080
done
join_pod shop 198.18.10.20 app=shop shop
SHOP=$POD
cat >"$T/orders.yaml" <<'YAML'
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: orders}
spec:
  hosts: [orders]
  addresses: [240.240.0.3]
  ports: [{number: 8080, name: http, protocol: HTTP}]
  workloadSelector: {labels: {app: orders}}
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
  - route:
    - {destination: {host: orders, subset: v1}, weight: 75}
    - {destination: {host: orders, subset: v2}, weight: 25}
YAML
run "weftctl --server https://198.18.10.100:15010 apply -f orders.yaml"
ctl apply -f - <"$T/orders.yaml" | sed 's/^/  /'
for _ in $(seq 1 50); do
	[ "$(ctl status | grep -c 'in sync$')" -eq 3 ] && break
	sleep 0.2
done
run "weftctl --server https://198.18.10.100:15010 status"
ctl status | sed 's/^/  /'
run "weftctl --server https://198.18.10.100:15010 check"
ctl check | sed 's/^/  /'
run "for i in 1..100: curl http://orders:8080/   # from shop, by its VIP"
in_ns "$SHOP" timeout 60 curl -s --max-time 5 -o /dev/null \
    -w '%header{x-backend}\n' -H 'Host: orders' \
    "http://240.240.0.3:8080/o/[1-100]" | sort | uniq -c | sed 's/^/  /'
run "sqlite3 -readonly /var/lib/weft/server/policy.db \"SELECT service, workload, address, healthy FROM service_endpoints WHERE service = 'orders'\""
sqlite3 -readonly "$T/srv/policy.db" \
    "SELECT service, workload, address, healthy FROM service_endpoints WHERE service = 'orders'" |
    sed 's/^/  /'

# converge: waits (10 s at most) until every sidecar of the control
# plane's pods runs the server's current policy version, and says so.
converge() {
	local v p got t0=${EPOCHREALTIME//[.,]/} end=$((SECONDS + 10)) late="" dt
	v=$(ctl status -o json | grep -o '"version": *[0-9]*' | head -n 1 | tr -dc 0-9)
	for p in $SYNCED; do
		while :; do
			got=$(in_ns "$p" curl -s --max-time 2 http://127.0.0.1:15020/metrics |
			    awk '/^weft_config_version /{print $2}')
			[ "${got:-0}" -ge "${v:-1}" ] && break
			if [ $SECONDS -ge $end ]; then
				late="$late $(echo "$p" | sed "s/^weft-//; s/-$E2E_SUFFIX\$//")"
				break
			fi
			sleep 0.1
		done
	done
	dt=$(((${EPOCHREALTIME//[.,]/} - t0) / 100000))
	if [ -n "$late" ]; then
		echo "  (policy version $v is not in force after 10 s in:$late)"
	else
		echo "  (policy version $v in force in every sidecar after $((dt / 10)).$((dt % 10)) s)"
	fi
}
# http_status POD CURL-ARGS...: the status code, and the body of a refusal.
http_status() {
	local p=$1 code
	shift
	code=$(in_ns "$p" curl -s --max-time 5 -o "$T/body" -D "$T/head" \
	    -w '%{http_code}' "$@") || true
	if [ "$code" = 200 ]; then
		echo "  $code"
	else
		echo "  $code $(head -c 200 "$T/body")"
	fi
}
server_apply() { # FILE...: applies the files through weft-server, then waits
	local f args=()
	for f in "$@"; do
		args+=(-f "$T/$f")
	done
	run "weftctl --server https://198.18.10.100:15010 apply ${args[*]//$T\//}"
	ctl apply "${args[@]}" | sed 's/^/  /'
	converge
}

say "10. mTLS between the pods that joined weft-server"
join_pod profilepicture 198.18.10.30 app=profilepicture profilepicture
PROFILEPICTURE=$POD
SYNCED="$ORDERS1 $ORDERS2 $SHOP $PROFILEPICTURE"
pod_new batch 198.18.10.39
BATCH=$POD
echo "  profilepicture: 198.18.10.30, joined like shop; batch: 198.18.10.39, no sidecar"
converge
run "curl -s http://127.0.0.1:15020/metrics | grep 'weft_requests_total{reporter=\"destination\"'   # in orders-v1"
in_ns "$ORDERS1" curl -s --max-time 5 http://127.0.0.1:15020/metrics |
    awk '/^weft_requests_total\{reporter="destination"/ {
	match($0, /source_principal="[^"]*"/); s = substr($0, RSTART + 18, RLENGTH - 19)
	match($0, /connection_security_policy="[^"]*"/); m = substr($0, RSTART + 28, RLENGTH - 29)
	match($0, /response_code="[^"]*"/); c = substr($0, RSTART + 15, RLENGTH - 16)
	printf "  source_principal=%s\n    connection_security_policy=%s code=%s  %s requests\n", s, m, c, $NF }'
run "openssl x509 -noout -ext subjectAltName -in /var/lib/weft/certs/cert.pem   # in shop"
openssl x509 -noout -ext subjectAltName -in "$T/px/shop-certs/cert.pem" | sed 's/^ */  /'

say "11. PeerAuthentication STRICT: orders takes mTLS only"
cat >"$T/strict.yaml" <<'YAML'
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: orders-strict}
spec:
  selector: {matchLabels: {app: orders}}
  mtls: {mode: STRICT}
YAML
server_apply strict.yaml
run "curl http://198.18.10.21:8080/count   # from batch, which has no sidecar"
in_ns "$BATCH" curl -sS --max-time 5 -o /dev/null http://198.18.10.21:8080/count 2>&1 |
    sed 's/^/  /' || true
run "curl http://orders:8080/count   # from shop"
http_status "$SHOP" -H 'Host: orders' http://240.240.0.3:8080/count

say "12. AuthorizationPolicy: profilepicture may GET orders' /count and nothing else"
cat >"$T/orders-authz.yaml" <<'YAML'
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: orders-count}
spec:
  selector: {matchLabels: {app: orders}}
  action: ALLOW
  rules:
  - from: [{source: {principals: [cluster.local/ns/default/sa/profilepicture]}}]
    to: [{operation: {methods: [GET], paths: [/count]}}]
YAML
sed 's/^/  /' "$T/orders-authz.yaml"
server_apply orders-authz.yaml
run "curl http://orders:8080/count   # from profilepicture"
http_status "$PROFILEPICTURE" -H 'Host: orders' http://240.240.0.3:8080/count
run "curl -X POST http://orders:8080/count   # from profilepicture"
http_status "$PROFILEPICTURE" -X POST -d x -H 'Host: orders' http://240.240.0.3:8080/count
run "curl http://orders:8080/count   # from shop"
http_status "$SHOP" -H 'Host: orders' http://240.240.0.3:8080/count

say "13. JWT: only members of gold_member may call /discounts"
ISTIO_JWT="$WEFT_SRCDIR/../shared/testdata/istio/jwt"
if [ -f "$ISTIO_JWT/key.pem" ] && [ -f "$ISTIO_JWT/jwks.json" ] && command -v openssl >/dev/null; then
	jwks=$(tr -d '\n' <"$ISTIO_JWT/jwks.json" | sed 's/"/\\"/g')
	cat >"$T/orders-jwt.yaml" <<YAML
apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata: {name: orders-jwt}
spec:
  selector: {matchLabels: {app: orders}}
  jwtRules:
  - issuer: testing@secure.istio.io
    jwks: "$jwks"
YAML
	cat >"$T/orders-gold.yaml" <<'YAML'
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: orders-discounts}
spec:
  selector: {matchLabels: {app: orders}}
  action: ALLOW
  rules:
  - to: [{operation: {paths: [/discounts]}}]
    when: [{key: "request.auth.claims[groups]", values: [gold_member]}]
YAML
	sed 's/^/  /' "$T/orders-gold.yaml"
	server_apply orders-jwt.yaml orders-gold.yaml
	mint() { # PAYLOAD-JSON: a token signed with Istio's sample key
		printf '{"alg":"RS256","kid":"DHFbpoIUqrY8t2zpA2qXfCmr5VO5ZEr4RzHU_-envvQ","typ":"JWT"}' >"$T/h.json"
		printf '%s' "$1" >"$T/p.json"
		sh "$WEFT_SRCDIR/tests/unit/jwt/mint.sh" RS256 "$ISTIO_JWT/key.pem" "$T/h.json" "$T/p.json"
	}
	now=$(date +%s)
	run "GOLD=\$(tests/unit/jwt/mint.sh RS256 ../shared/testdata/istio/jwt/key.pem header.json gold.json)   # groups: [gold_member]"
	GOLD=$(mint "{\"iss\":\"testing@secure.istio.io\",\"sub\":\"alice\",\"exp\":$((now + 3600)),\"groups\":[\"gold_member\"]}")
	run "SILVER=\$(tests/unit/jwt/mint.sh RS256 ../shared/testdata/istio/jwt/key.pem header.json silver.json)   # groups: [silver]"
	SILVER=$(mint "{\"iss\":\"testing@secure.istio.io\",\"sub\":\"bob\",\"exp\":$((now + 3600)),\"groups\":[\"silver\"]}")
	run "EXPIRED=\$(tests/unit/jwt/mint.sh RS256 ../shared/testdata/istio/jwt/key.pem header.json expired.json)   # gold_member, exp an hour ago"
	EXPIRED=$(mint "{\"iss\":\"testing@secure.istio.io\",\"sub\":\"carol\",\"exp\":$((now - 3600)),\"groups\":[\"gold_member\"]}")
	run "curl -H \"Authorization: Bearer \$GOLD\" http://orders:8080/discounts   # from shop"
	http_status "$SHOP" -H "Authorization: Bearer $GOLD" -H 'Host: orders' http://240.240.0.3:8080/discounts
	run "curl -H \"Authorization: Bearer \$SILVER\" http://orders:8080/discounts   # from shop"
	http_status "$SHOP" -H "Authorization: Bearer $SILVER" -H 'Host: orders' http://240.240.0.3:8080/discounts
	run "curl -H \"Authorization: Bearer \$EXPIRED\" http://orders:8080/discounts   # from shop"
	http_status "$SHOP" -H "Authorization: Bearer $EXPIRED" -H 'Host: orders' http://240.240.0.3:8080/discounts
else
	echo "  (skipped: Istio's JWT samples are not in ../shared/testdata/istio/jwt)"
fi

say "14. A RateLimit: 10 requests per second on GET /count, per source"
cat >"$T/orders-ratelimit.yaml" <<'YAML'
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
server_apply orders-ratelimit.yaml
run "for i in 1..14: curl http://198.18.10.21:8080/count   # from profilepicture; each replica has its own buckets"
in_ns "$PROFILEPICTURE" curl -s --max-time 5 -o /dev/null -w '%{http_code}\n' \
    "http://198.18.10.21:8080/count?[1-14]" | sort | uniq -c | sed 's/^/  /'
run "curl -i http://198.18.10.21:8080/count   # from profilepicture, at once"
http_status "$PROFILEPICTURE" http://198.18.10.21:8080/count
grep -i '^retry-after' "$T/head" | tr -d '\r' | sed 's/^/  /'

say "15. Why: weftctl explain, on a copy of the policy DB that weft-sync keeps"
if "$WEFT_BUILDDIR/src/ctl/weftctl" --help 2>&1 | grep -q '^  explain '; then
	# A consistent copy, read as the proxy uid that owns the DB.
	in_ns "$PROFILEPICTURE" setpriv --reuid "$PROXY_UID" --regid "$PROXY_UID" --clear-groups \
	    sqlite3 "$T/px/profilepicture.db" ".backup '$T/px/explain.db'"
	run "weftctl --db policy-copy.db explain --source profilepicture --destination orders:8080 --method POST --path /count"
	"$WEFT_BUILDDIR/src/ctl/weftctl" --db "$T/px/explain.db" explain --source profilepicture \
	    --destination orders:8080 --method POST --path /count | sed 's/^/  /'
else
	echo "  (skipped: this weftctl has no explain)"
fi

say "16. A VM joins the mesh: weftctl join, then the systemd units"
# A namespace stands in for the VM; its units run from their own
# command lines (tools/unit-exec), as systemd would run them.
vm_new billing-vm 198.18.10.40
echo "  billing-vm: 198.18.10.40, weft installed, an app on :8080"
bg "$VM" billing-app "$WEFT_TESTD" --listen 0.0.0.0:8080 --name billing-vm
wait_listen "$VM" 8080
run "weftctl --server https://198.18.10.100:15010 token create --workload billing-vm --namespace default --service-account billing > billing.token   # on the server"
ctl token create --workload billing-vm --namespace default \
    --service-account billing >"$T/billing.token"
run "weftctl join --server https://198.18.10.100:15010 --token-file billing.token --address 198.18.10.40 --ports http=8080 --labels app=billing --no-start   # on the VM"
in_ns "$VM" "$WEFT_BUILDDIR/src/ctl/weftctl" join --server https://198.18.10.100:15010 \
    --token-file "$T/billing.token" --address 198.18.10.40 --ports http=8080 \
    --labels app=billing --etc "$VM_DIR/etc" --no-start 2>&1 |
    sed -e "s|$VM_DIR||g" -e 's/^/  /'
run "grep -v '^#' /etc/default/weft | grep ."
grep -v '^#' "$VM_DIR/etc/default/weft" | grep . | sed 's/^/  /'
run "systemctl start weft-init weft-proxy weft-sync   # what they run:"
for u in weft-init weft-proxy weft-sync; do
	vm_unit "$u" print | head -n 2 |
	    sed -e "s|$VM_DIR/sbin|/usr/sbin|g" -e "s|$VM_DIR||g" -e 's/^/  /' |
	    cut -c1-200
done
vm_unit weft-init start >"$T/billing-init.log" 2>&1
vm_unit_start weft-proxy
vm_unit_start weft-sync
cat >"$T/billing.yaml" <<'YAML'
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: billing}
spec:
  hosts: [billing]
  addresses: [240.240.0.4]
  ports: [{number: 8080, name: http, protocol: HTTP}]
  workloadSelector: {labels: {app: billing}}
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: orders-billing}
spec:
  selector: {matchLabels: {app: orders}}
  action: ALLOW
  rules:
  - from: [{source: {principals: [cluster.local/ns/default/sa/billing]}}]
    to: [{operation: {methods: [GET], paths: [/invoices]}}]
YAML
SYNCED="$SYNCED $VM"
for _ in $(seq 1 100); do
	[ -s "$VM_DIR/varlib/weft/certs/cert.pem" ] && break
	sleep 0.2
done
server_apply billing.yaml
for _ in $(seq 1 50); do
	[ "$(ctl status | grep -c 'in sync$')" -eq 5 ] && break
	sleep 0.2
done
run "weftctl --server https://198.18.10.100:15010 status"
ctl status | sed 's/^/  /'
run "curl http://billing:8080/charge   # from shop, to the VM"
http_status "$SHOP" -H 'Host: billing' http://240.240.0.4:8080/charge
run "curl http://orders:8080/invoices   # from the VM"
http_status "$VM" -H 'Host: orders' http://240.240.0.3:8080/invoices
run "curl http://orders:8080/count   # from the VM: not allowed"
http_status "$VM" -H 'Host: orders' http://240.240.0.3:8080/count
run "curl -s http://127.0.0.1:15020/metrics | grep 'weft_requests_total{reporter=\"destination\"'   # on the VM"
in_ns "$VM" curl -s --max-time 5 http://127.0.0.1:15020/metrics |
    awk '/^weft_requests_total\{reporter="destination"/ {
	match($0, /source_principal="[^"]*"/); s = substr($0, RSTART + 18, RLENGTH - 19)
	match($0, /connection_security_policy="[^"]*"/); m = substr($0, RSTART + 28, RLENGTH - 29)
	printf "  source_principal=%s connection_security_policy=%s  %s requests\n", s, m, $NF }'
run "systemctl stop weft-init   # ExecStop: weft-init --cleanup"
vm_unit weft-init stop >>"$T/billing-init.log" 2>&1
echo "  capture rules left on the VM: $(in_ns "$VM" iptables-save | grep -c WEFT || true)"
say "17. Golden metrics and a live tap: weftctl stat and weftctl tap"
run "weftctl --server https://198.18.10.100:15010 stat --window 1m   # every service, from the proxies"
ctl stat --window 1m 2>&1 | sed 's/^/  /'
run "weftctl --server https://198.18.10.100:15010 stat workload"
ctl stat workload 2>&1 | sed 's/^/  /'
run "weftctl tap --proxy 127.0.0.1:15000 --destination orders --max 5   # in shop, which step 12 denies: the 403s show"
bg "$SHOP" tap "$WEFT_BUILDDIR/src/ctl/weftctl" tap --proxy 127.0.0.1:15000 \
    --destination orders --max 5 --duration 20s
TAP_PID=$LAST_PID
for _ in $(seq 1 50); do
	in_ns "$SHOP" ss -Htn state established '( dport = :15000 )' | grep -q . && break
	sleep 0.1
done
for i in $(seq 1 40); do
	kill -0 "$TAP_PID" 2>/dev/null || break
	in_ns "$SHOP" curl -s --max-time 5 -o /dev/null -H 'Host: orders' \
	    -H "x-request-id: demo-$i" "http://240.240.0.3:8080/count" || true
done
wait "$TAP_PID" 2>/dev/null || true
sed 's/^/  /' "$T/tap.log"
say "18. L4 policy: UDP and an opaque TCP port obey AuthorizationPolicy too"
pod_new db 198.18.10.50
DB=$POD
in_ns "$DB" "$WEFT_INIT" --l4-queue 3 --exclude-inbound-ports 5432 >"$T/init-db.log" 2>&1
cat >"$T/db-l4.yaml" <<'YAML'
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: frontend}
spec: {address: 198.18.10.1, serviceAccount: frontend, labels: {app: frontend}}
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: db-l4}
spec:
  selector: {matchLabels: {app: db}}
  action: ALLOW
  rules:
  - from: [{source: {principals: [cluster.local/ns/default/sa/frontend]}}]
    to: [{operation: {ports: ["5432", "5353"]}}]
YAML
sed 's/^/  /' "$T/db-l4.yaml"
run "weftctl --db db/policy.db apply -f db-l4.yaml"
"$WEFT_BUILDDIR/src/ctl/weftctl" --db "$T/db.db" apply -f "$T/db-l4.yaml" | sed 's/^/  /'
chmod 644 "$T/db.db"
run "weft-init --l4-queue 3 --exclude-inbound-ports 5432; weft-proxy ... --l4-queue 3   # in db"
proxy_start "$DB" db --labels app=db --l4-queue 3
bg "$DB" db-app "$WEFT_TESTD" --listen 0.0.0.0:5432 --name db
wait_listen "$DB" 5432
echo "  db: 198.18.10.50, a TCP service on the excluded port 5432, sidecar pid $PROXY_PID"
run "curl http://198.18.10.50:5432/   # from frontend (service account frontend)"
http_status "$FRONTEND" http://198.18.10.50:5432/
run "curl --max-time 2 http://198.18.10.50:5432/   # from legacy (unknown)"
in_ns "$LEGACY" curl -sS --max-time 2 -o /dev/null http://198.18.10.50:5432/ 2>&1 |
    sed 's/^/  /' || true
if command -v python3 >/dev/null; then
	bg "$DB" db-udp python3 -u -c '
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("0.0.0.0", 5353))
while True:
    print(s.recvfrom(64)[0].decode(errors="replace"), flush=True)'
	for _ in $(seq 1 50); do
		in_ns "$DB" ss -Hlun "sport = :5353" | grep -q . && break
		sleep 0.1
	done
	run "echo hello | udp 198.18.10.50:5353   # from frontend, then from legacy"
	for p in frontend legacy; do
		eval "ns=\$${p^^}"
		in_ns "$ns" python3 -c 'import socket, sys
socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(sys.argv[1].encode(), ("198.18.10.50", 5353))' "hello from $p"
	done
	for _ in $(seq 1 20); do
		grep -q frontend "$T/db-udp.log" && break
		sleep 0.1
	done
	echo "  the UDP server received: $(paste -sd, "$T/db-udp.log")"
fi
run "curl -s http://127.0.0.1:15020/metrics | grep -E 'weft_l4|reason=\"l4\"'   # in db"
in_ns "$DB" curl -s --max-time 5 http://127.0.0.1:15020/metrics |
    grep -E '^weft_l4_verdicts|^weft_denied_total\{reason="l4"' | sed 's/^/  /'
echo "  the sidecar's log:"
grep -m 1 'L4 flow denied' "$T/proxy-db.log" | sed 's/^/  /'

say "Done. The pods and sidecars are removed now."
echo "Try it yourself: tests/e2e/*.sh build the same pods; see README."
