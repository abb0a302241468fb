#!/bin/bash
# shellcheck disable=SC2317 # helpers called through check
# Kubernetes service discovery and service-account bootstrap: weft-server
# watches a stand-in for kube-apiserver (tests/e2e/kube/stub.py, HTTPS,
# serving recorded API responses) in the server's pod. Services and
# EndpointSlices become mesh services of source kubernetes; watch events
# (a Service deleted, an endpoint no longer ready, another one ready)
# follow; a 410 relists; a resync removes what is no longer listed. Then
# two pods join with service-account tokens (TokenReview answered by the
# stub) and one calls the Service's cluster IP: the call reaches the
# EndpointSlice's pod over mTLS. A refused token is a 401 with its reason.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
e2e_init
WEFT_SERVER_BIN="$WEFT_BUILDDIR/src/server/weft-server"
WEFT_SYNC="$WEFT_BUILDDIR/src/sync/weft-sync"
KUBE="$WEFT_SRCDIR/tests/e2e/kube"
if [ ! -x "$WEFT_SERVER_BIN" ] || [ ! -x "$WEFT_SYNC" ]; then
	skip "weft-server or weft-sync not built"
fi
command -v python3 >/dev/null || skip "needs python3"
command -v sqlite3 >/dev/null || skip "needs sqlite3"
command -v openssl >/dev/null || skip "needs openssl"
# shellcheck disable=SC2034 # read by proxy_start in lib.sh
MESH_NAMESPACE=shop

# Bad command lines: one line each, status 2.
bad() { # WANT-TEXT CMD...
	local want=$1 rc=0
	shift
	"$@" >"$T/bad.out" 2>&1 || rc=$?
	[ "$rc" -eq 2 ] && [ "$(wc -l <"$T/bad.out")" -eq 1 ] && grep -q -- "$want" "$T/bad.out"
}
check "weft-server --kube-api needs https" \
    bad "expected https://HOST\[:PORT\] or off" "$WEFT_SERVER_BIN" --kube-api http://x
check "weft-server --kube-resync needs a duration" \
    bad "at least 1s" "$WEFT_SERVER_BIN" --kube-resync 0s
check "weft-sync --kube-token-file needs --ca" \
    bad "needs --ca FILE" "$WEFT_SYNC" --server https://x --kube-token-file /dev/null \
    --workload w --namespace n --address 198.18.0.1

# The API server's certificate, from a test CA (the openssl CLI).
pki_ca
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$T/pki/api-key.pem" -out "$T/pki/api.csr" -subj "/CN=kube-apiserver" 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1,DNS:kubernetes.default.svc\n' >"$T/pki/api.ext"
openssl x509 -req -in "$T/pki/api.csr" -CA "$T/pki/ca.pem" -CAkey "$T/pki/ca-key.pem" \
    -CAcreateserial -days 1 -extfile "$T/pki/api.ext" -out "$T/pki/api.pem" 2>/dev/null

SRV_ADDR=198.18.77.100
pod_new server "$SRV_ADDR"
SRV=$POD
ST="$T/kube"
mkdir -p "$ST"
cp "$KUBE/services.json" "$KUBE/endpointslices.json" "$KUBE/pods.json" "$ST/"
echo '{}' >"$ST/tokens.json"
# The server's own service-account token, which the stub checks.
od -An -N24 -tx1 /dev/urandom | tr -d ' \n' >"$T/server.token"
bg "$SRV" stub python3 "$KUBE/stub.py" --cert "$T/pki/api.pem" \
    --key "$T/pki/api-key.pem" --token-file "$T/server.token" --state "$ST"
wait_listen "$SRV" 6443

mkdir -m 700 "$T/srv"
bg "$SRV" server "$WEFT_SERVER_BIN" --data-dir "$T/srv" \
    --kube-api https://127.0.0.1:6443 --kube-token-file "$T/server.token" \
    --kube-ca "$T/pki/ca.pem" --kube-resync 6s --log-level debug
wait_listen "$SRV" 15010
q() {
	sqlite3 -cmd '.timeout 2000' "$T/srv/policy.db" "$1" 2>/dev/null
}
# until_eq WANT SQL: waits up to 15 s for the query to answer WANT.
until_eq() {
	local i
	for i in $(seq 1 150); do
		[ "$(q "$2")" = "$1" ] && return 0
		sleep 0.1
	done
	return 1
}
svcs() {
	q "SELECT group_concat(namespace || '/' || service, ' ') FROM
	    (SELECT DISTINCT namespace, service FROM kubernetes_services
	    ORDER BY 1, 2)"
}

# The first lists.
check "Services and EndpointSlices listed become mesh services" \
    until_eq "default/kubernetes shop/orders shop/orders-db" \
    "SELECT group_concat(namespace || '/' || service, ' ') FROM (SELECT DISTINCT namespace, service FROM kubernetes_services ORDER BY 1, 2)"
expect_eq "ExternalName is not mapped, and nothing else is" \
    "default/kubernetes shop/orders shop/orders-db" "$(svcs)"
expect_eq "orders: host, cluster IP, port 80 http, named targetPort" \
    '["orders.shop.svc.cluster.local"]|["240.240.77.10"]|80|http|HTTP||1|2' \
    "$(q "SELECT hosts, addresses, port, port_name, protocol, target_port, ready, endpoints FROM kubernetes_services WHERE service = 'orders'")"
expect_eq "orders' endpoints: pods, port from the slice, zones, readiness" \
    'orders-5d8f7b9c4-abcde|198.18.77.2|{"http":9080}|1|/zone-a orders-5d8f7b9c4-fghij|198.18.77.3|{"http":9080}|0|/zone-b' \
    "$(q "SELECT group_concat(pod || '|' || address || '|' || ports || '|' || ready || '|' || locality, ' ') FROM kubernetes_endpoints WHERE service = 'orders'")"
expect_eq "from the pods: injected pods have sidecars, their accounts, labels" \
    'orders-5d8f7b9c4-abcde|1|orders|v1 orders-5d8f7b9c4-fghij|1|orders|v2 orders-db-0|0|default|' \
    "$(q "SELECT group_concat(x, ' ') FROM (SELECT e.pod || '|' || e.sidecar || '|' || e.service_account || '|' || ifnull(json_extract(w.labels, '\$.version'), '') AS x FROM kubernetes_endpoints e JOIN workloads w ON w.source = 'kubernetes' AND w.address = e.address WHERE e.namespace = 'shop' ORDER BY e.pod)")"
expect_eq "the headless Service has no virtual IP, its UDP port is left out" \
    '[]|5432|TCP|5432|1' \
    "$(q "SELECT addresses, port, protocol, target_port, ready FROM kubernetes_services WHERE service = 'orders-db'")"
expect_eq "discovered services are of source kubernetes" \
    "kubernetes/orders" \
    "$(q "SELECT name FROM services WHERE source = 'kubernetes' AND namespace = 'shop' AND name LIKE '%/orders'")"
check "the server asked with its bearer token, for lists and watches" \
    sh -c "grep -q 'GET /api/v1/services watch rv=4100 auth=ok' '$ST/requests.log' &&
        grep -q 'GET /apis/discovery.k8s.io/v1/endpointslices watch rv=4100 auth=ok' '$ST/requests.log' &&
        grep -q 'GET /api/v1/pods watch rv=4100 auth=ok' '$ST/requests.log'"
V1=$(q "SELECT version FROM config_version")

# Watch events: orders-db deleted; one pod terminating, the other ready.
cp "$KUBE/watch-services-1.jsonl" "$ST/watch/services/01.jsonl"
cp "$KUBE/watch-endpointslices-1.jsonl" "$ST/watch/endpointslices/01.jsonl"
check "a DELETED Service goes" until_eq "default/kubernetes shop/orders" \
    "SELECT group_concat(namespace || '/' || service, ' ') FROM (SELECT DISTINCT namespace, service FROM kubernetes_services ORDER BY 1, 2)"
check "a MODIFIED EndpointSlice: terminating not ready, the other ready" \
    until_eq 'orders-5d8f7b9c4-abcde|0 orders-5d8f7b9c4-fghij|1' \
    "SELECT group_concat(pod || '|' || ready, ' ') FROM kubernetes_endpoints WHERE service = 'orders'"
V2=$(q "SELECT version FROM config_version")
check "the policy version moved ($V1 -> $V2)" test "$V2" -gt "$V1"
i=0
until grep -q 'services watch rv=4152' "$ST/requests.log" || [ $i -ge 100 ]; do
	sleep 0.1
	i=$((i + 1))
done
check "the next watch of services starts at resourceVersion 4152" \
    grep -q 'GET /api/v1/services watch rv=4152' "$ST/requests.log"

# 410 Gone: a new list (payments was created meanwhile).
cp "$KUBE/services-2.json" "$ST/services.json"
cp "$KUBE/watch-410.jsonl" "$ST/watch/services/02.jsonl"
check "after an ERROR 410 the server lists again and finds payments" \
    until_eq "default/kubernetes shop/orders shop/payments" \
    "SELECT group_concat(namespace || '/' || service, ' ') FROM (SELECT DISTINCT namespace, service FROM kubernetes_services ORDER BY 1, 2)"
check "the request for services after the 410 was a list, not a watch" \
    sh -c "grep -E 'GET /api/v1/services |EVENT services ' '$ST/requests.log' |
        grep -A1 'EVENT services ERROR' | tail -n 1 | grep -q 'GET /api/v1/services list'"
expect_eq "payments: appProtocol grpc" "7070|GRPC|0" \
    "$(q "SELECT port, protocol, endpoints FROM kubernetes_services WHERE service = 'payments'")"

# A resync (every 6 s here) reconciles: what is not listed goes.
cp "$KUBE/services-3.json" "$ST/services.json"
check "the resync removes the Services no longer listed" \
    until_eq "shop/orders" \
    "SELECT group_concat(namespace || '/' || service, ' ') FROM (SELECT DISTINCT namespace, service FROM kubernetes_services ORDER BY 1, 2)"
expect_eq "with their rows" 0 \
    "$(q "SELECT count(*) FROM services WHERE source = 'kubernetes' AND name <> 'kubernetes/orders'")"
check "the server logged no write error" \
    sh -c "! grep -q 'cannot write' '$T/server.log'"

# The mesh: pods joining with service-account tokens.
cp "$T/srv/ca.pem" "$T/px/server-ca.pem"
chmod 644 "$T/px/server-ca.pem"
sa_token() { # NS SA POD: a token shaped as the kubelet's (not signed here)
	local hdr payload
	hdr=$(printf '{"alg":"RS256","kid":"e2e"}' | base64 -w0 | tr '+/' '-_' | tr -d '=')
	payload=$(printf '{"aud":["weft"],"exp":%d,"iss":"https://kubernetes.default.svc.cluster.local","kubernetes.io":{"namespace":"%s","pod":{"name":"%s"},"serviceaccount":{"name":"%s"}},"sub":"system:serviceaccount:%s:%s"}' \
	    $(($(date +%s) + 3600)) "$1" "$3" "$2" "$1" "$2" | base64 -w0 | tr '+/' '-_' | tr -d '=')
	printf '%s.%s.%s' "$hdr" "$payload" "$(od -An -N32 -tx1 /dev/urandom | tr -d ' \n')"
}
BE_POD=orders-5d8f7b9c4-fghij
CLI_POD=cli-6c9d7f8b5-k2x9q
sa_token shop orders "$BE_POD" >"$T/px/be.token"
sa_token shop cli "$CLI_POD" >"$T/px/cli.token"
sa_token shop cli "$CLI_POD" >"$T/px/bad.token"
sa_token shop cli "$CLI_POD" >"$T/px/aud.token"
python3 - "$ST/tokens.json" "$(cat "$T/px/be.token")" "$(cat "$T/px/cli.token")" "$BE_POD" "$CLI_POD" "$(cat "$T/px/aud.token")" <<'PY'
import json, sys
path, be, cli, be_pod, cli_pod, aud = sys.argv[1:]
json.dump({be: {"namespace": "shop", "sa": "orders", "pod": be_pod},
           cli: {"namespace": "shop", "sa": "cli", "pod": cli_pod},
           aud: {"namespace": "shop", "sa": "cli", "pod": cli_pod,
                 "audiences": ["https://kubernetes.default.svc.cluster.local"]}},
          open(path, "w"))
PY
chown "$PROXY_UID:$PROXY_UID" "$T/px/"*.token

join_pod() { # SHORT ADDR POD TOKEN LABELS
	pod_new "$1" "$2"
	in_ns "$POD" "$WEFT_INIT" >"$T/init-$1.log" 2>&1
	proxy_start "$POD" "$3" --db "$T/px/$1.db" --certs "$T/px/$1-certs"
	bg_proxy_uid "$POD" "sync-$1" "$WEFT_SYNC" --server "https://$SRV_ADDR:15010" \
	    --kube-token-file "$T/px/$4" --ca "$T/px/server-ca.pem" \
	    --workload "$3" --namespace shop --address "$2" --ports http=9080 \
	    --labels "$5" --db "$T/px/$1.db" --certs "$T/px/$1-certs"
}
join_pod be 198.18.77.3 "$BE_POD" be.token app=orders,version=v2
BE=$POD
bg "$BE" testd "$WEFT_TESTD" --listen 0.0.0.0:9080 --name "$BE_POD"
wait_listen "$BE" 9080
join_pod cli 198.18.77.50 "$CLI_POD" cli.token app=cli
CLI=$POD
certs_ok() {
	[ -s "$T/px/be-certs/cert.pem" ] && [ -s "$T/px/cli-certs/cert.pem" ]
}
i=0
until certs_ok || [ $i -ge 150 ]; do sleep 0.1; i=$((i + 1)); done
check "both pods got certificates with their service-account tokens" certs_ok
check "each token was reviewed by the API server" \
    sh -c "grep -q 'REVIEW authenticated orders' '$ST/requests.log' && grep -q 'REVIEW authenticated cli' '$ST/requests.log'"
expect_eq "the backend's certificate is its service account's identity" \
    "URI:spiffe://cluster.local/ns/shop/sa/orders" \
    "$(openssl x509 -in "$T/px/be-certs/cert.pem" -noout -ext subjectAltName | tail -n 1 | tr -d ' ')"
check "the endpoint in the EndpointSlice is known to have a sidecar" \
    until_eq "orders|1" "SELECT service_account || '|' || sidecar FROM kubernetes_endpoints WHERE pod = '$BE_POD'"
expect_eq "the endpoint has the registered workload's labels" "orders|v2" \
    "$(q "SELECT json_extract(labels, '\$.app') || '|' || json_extract(labels, '\$.version') FROM workloads WHERE source = 'kubernetes' AND name = 'orders/$BE_POD'")"
in_copy() {
	[ "$(sqlite3 -cmd '.timeout 2000' "$T/px/cli.db" "SELECT count(*) FROM kubernetes_endpoints WHERE pod = '$BE_POD' AND sidecar AND ready" 2>/dev/null)" = 1 ]
}
i=0
until in_copy || [ $i -ge 100 ]; do sleep 0.1; i=$((i + 1)); done
check "the discovered service reached the client's copy of the policy" in_copy

calls() {
	in_ns "$CLI" curl -s --max-time 5 -o /dev/null -w '%header{x-backend}\n' \
	    "http://240.240.77.10/calls/[1-$1]" | sort | uniq -c | awk '{ print $2 "=" $1 }'
}
ok_calls() {
	[ "$(calls 5)" = "$BE_POD=5" ]
}
i=0
until ok_calls || [ $i -ge 100 ]; do sleep 0.1; i=$((i + 1)); done
expect_eq "calls to the Service's cluster IP reach the ready pod" "$BE_POD=10" "$(calls 10)"
mtls=$(metric "$BE" weft_requests_total reporter=destination \
    connection_security_policy=mutual_tls \
    source_principal=spiffe://cluster.local/ns/shop/sa/cli)
check "and are mTLS from the client's service account ($mtls)" test "$mtls" -ge 10

# The same host in a ServiceEntry (sorting first by name) and in a
# Kubernetes Service: the Service wins, as in Istio. A VirtualService on
# the entry's address routes to the host: the pod answers, not the
# entry's (empty) selection.
cat >"$T/squat.yaml" <<'YAML'
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: a-orders, namespace: shop}
spec:
  hosts: [orders.shop.svc.cluster.local]
  addresses: [240.240.77.99]
  ports: [{number: 80, name: http, protocol: HTTP}]
  workloadSelector: {labels: {app: nobody}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: orders, namespace: shop}
spec:
  hosts: [orders.shop.svc.cluster.local]
  http:
  - route: [{destination: {host: orders.shop.svc.cluster.local}}]
YAML
in_ns "$SRV" "$WEFT_BUILDDIR/src/ctl/weftctl" --server https://127.0.0.1:15010 \
    --ca "$T/srv/ca.pem" --token-file "$T/srv/admin.token" apply -f - \
    <"$T/squat.yaml" >"$T/apply.log" 2>&1
check "a ServiceEntry for the same host applies" grep -q 'serviceentry.*created' "$T/apply.log"
squat_ok() {
	[ "$(in_ns "$CLI" curl -s --max-time 5 -o /dev/null -w '%header{x-backend}' \
	    http://240.240.77.99/squat)" = "$BE_POD" ]
}
i=0
until squat_ok || [ $i -ge 100 ]; do sleep 0.1; i=$((i + 1)); done
check "the host is the Kubernetes Service's: the pod answers" squat_ok

# A refused token: 401, and weft-sync says why.
pod_new bad 198.18.77.60
rc=0
in_ns "$POD" setpriv --reuid "$PROXY_UID" --regid "$PROXY_UID" --clear-groups \
    timeout 20 "$WEFT_SYNC" --server "https://$SRV_ADDR:15010" \
    --kube-token-file "$T/px/bad.token" --ca "$T/px/server-ca.pem" \
    --workload bad --namespace shop --address 198.18.77.60 --once \
    --db "$T/px/bad.db" --certs "$T/px/bad-certs" >"$T/sync-bad.log" 2>&1 || rc=$?
expect_eq "weft-sync --once with a refused token fails" 1 "$rc"
check "it says the server answered 401 and why" \
    grep -q 'HTTP 401: service account token refused: \[invalid bearer token' "$T/sync-bad.log"
rc=0
in_ns "$POD" setpriv --reuid "$PROXY_UID" --regid "$PROXY_UID" --clear-groups \
    timeout 20 "$WEFT_SYNC" --server "https://$SRV_ADDR:15010" \
    --kube-token-file "$T/px/aud.token" --ca "$T/px/server-ca.pem" \
    --workload "$CLI_POD" --namespace shop --address 198.18.77.60 --once \
    --db "$T/px/aud.db" --certs "$T/px/aud-certs" >"$T/sync-aud.log" 2>&1 || rc=$?
expect_eq "a token the API server authenticates for another audience fails" 1 "$rc"
check "with a 401 that names the audience" \
    grep -q 'HTTP 401: service account token refused: not for audience weft' "$T/sync-aud.log"

e2e_done
