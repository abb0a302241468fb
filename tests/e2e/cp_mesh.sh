#!/bin/bash
# The control plane in a mesh of pods: weft-server in its own pod, and
# in each workload pod weft-init, weft-proxy and weft-sync (joined with
# a token). Policy applied through the server reaches every proxy; the
# registered workloads are the service's endpoints; an invalid apply
# changes nothing anywhere; the proxies keep serving with no loss while
# the server is killed, and pick up changes once it is back; a
# deregistered or silent workload stops being an endpoint.
. "$(dirname "$0")/lib.sh"
e2e_init
WEFTCTL="$WEFT_BUILDDIR/src/ctl/weftctl"
WEFT_SERVER_BIN="$WEFT_BUILDDIR/src/server/weft-server"
WEFT_SYNC="$WEFT_BUILDDIR/src/sync/weft-sync"
if [ ! -x "$WEFT_SERVER_BIN" ] || [ ! -x "$WEFT_SYNC" ]; then
	skip "weft-server or weft-sync not built"
fi

SRV_ADDR=198.18.9.2
pod_new server "$SRV_ADDR"
SRV=$POD
mkdir -m 700 "$T/srv"
server_start() {
	bg "$SRV" "server$1" "$WEFT_SERVER_BIN" --data-dir "$T/srv" \
	    --heartbeat-timeout 3s
	SRV_PID=$LAST_PID
	wait_listen "$SRV" 15010
}
server_start 1
# weftctl runs as an admin on the server's host.
ctl() {
	in_ns "$SRV" "$WEFTCTL" --server https://127.0.0.1:15010 \
	    --ca "$T/srv/ca.pem" --token-file "$T/srv/admin.token" "$@"
}

# A workload pod: capture, proxy, and weft-sync as the proxy's uid.
declare -A SYNC_PID POD_OF
workload() {
	local wl=$1 addr=$2 labels=$3 tok
	pod_new "$wl" "$addr"
	POD_OF[$wl]=$POD
	in_ns "$POD" "$WEFT_INIT" >"$T/init-$wl.log" 2>&1
	proxy_start "$POD" "$wl" --db "$T/px/$wl.db" --certs "$T/px/$wl-certs"
	tok=$(ctl token create --workload "$wl" --namespace e2e \
	    --service-account "$wl-sa")
	echo "$tok" >"$T/$wl.token"
	sync_start "$wl" "$addr" "$labels" --token "$tok"
}
sync_start() {
	local wl=$1 addr=$2 labels=$3
	shift 3
	bg_proxy_uid "${POD_OF[$wl]}" "sync-$wl" "$WEFT_SYNC" \
	    --server "https://$SRV_ADDR:15010" --workload "$wl" --namespace e2e \
	    --service-account "$wl-sa" --address "$addr" --labels "$labels" \
	    --ports http=9080 --db "$T/px/$wl.db" --certs "$T/px/$wl-certs" "$@"
	SYNC_PID[$wl]=$LAST_PID
}
for v in 1 2 3; do
	workload "reviews-v$v" "198.18.9.1$v" "app=reviews,version=v$v"
	bg "${POD_OF[reviews-v$v]}" "app-v$v" "$WEFT_TESTD" --listen 0.0.0.0:9080 \
	    --name "reviews-v$v"
	wait_listen "${POD_OF[reviews-v$v]}" 9080
done
workload cli 198.18.9.1 app=cli
CLI=${POD_OF[cli]}
ALL="reviews-v1 reviews-v2 reviews-v3 cli"

cat >"$T/mesh.yaml" <<'YAML'
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: reviews, namespace: e2e}
spec:
  hosts: [reviews.e2e.svc.cluster.local]
  addresses: [240.240.0.10]
  ports: [{number: 9080, name: http, protocol: HTTP}]
  workloadSelector: {labels: {app: reviews}}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews, namespace: e2e}
spec:
  host: reviews.e2e.svc.cluster.local
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
  - {name: v3, labels: {version: v3}}
YAML
ctl apply -f - <"$T/mesh.yaml" >"$T/apply.log" 2>&1
check "the mesh applies through the server" grep -q 'serviceentry.*created' "$T/apply.log"

server_version() {
	ctl status -o json | awk -F'[:,]' '/"version"/ { gsub(/ /, "", $2); print $2; exit }'
}
proxy_version() {
	in_ns "${POD_OF[$1]}" curl -s --max-time 2 http://127.0.0.1:15020/metrics |
	    awk '/^weft_config_version /{ print $2 }'
}
# Every proxy runs version $1 or a later one (health changes of other
# workloads also make versions).
all_at() {
	local wl v
	for wl in $ALL; do
		v=$(proxy_version "$wl")
		[ -n "$v" ] && [ "$v" -ge "$1" ] || return 1
	done
}
all_exactly() {
	local wl
	for wl in $ALL; do
		[ "$(proxy_version "$wl")" = "$1" ] || return 1
	done
}
wait_all_at() { # VERSION [TENTHS]
	local i
	for i in $(seq 1 "${2:-150}"); do
		all_at "$1" && return 0
		sleep 0.1
	done
	return 1
}
status_all_in_sync() {
	[ "$(ctl status | grep -c 'in sync$')" -eq 4 ]
}
V=$(server_version)
check "every proxy runs the server's policy (version $V)" wait_all_at "$V"
i=0
until status_all_in_sync || [ $i -ge 100 ]; do sleep 0.1; i=$((i + 1)); done
check "weftctl status: 4 proxies in sync" status_all_in_sync
check "the copies of the policy are the server's" \
    test "$(sqlite3 "$T/px/cli.db" 'SELECT count(*) FROM workloads WHERE source = "registered"')" -eq 4

VIP=http://240.240.0.10:9080
backends() {
	in_ns "$CLI" curl -s --max-time 5 -o /dev/null -w '%header{x-backend}\n' \
	    "$VIP/r/[1-$1]" | sort | uniq -c | awk '{ print $2 "=" $1 }' | tr '\n' ' '
}
b=$(backends 30)
check "the registered workloads are the service's endpoints: $b" \
    sh -c "echo '$b' | grep -q reviews-v1= && echo '$b' | grep -q reviews-v2= && echo '$b' | grep -q reviews-v3="

# The certificates weft-sync got from the server's CA secure the calls.
mtls_in() {
	metric "${POD_OF[$1]}" weft_requests_total reporter=destination \
	    connection_security_policy=mutual_tls \
	    source_principal=spiffe://cluster.local/ns/e2e/sa/cli-sa
}
n=$(($(mtls_in reviews-v1) + $(mtls_in reviews-v2) + $(mtls_in reviews-v3)))
expect_eq "every call was mTLS from the client's SPIFFE identity" 30 "$n"

# Routing changes applied through the server, and how fast they are
# in force at every proxy (its weft_config_version).
route_to() {
	cat <<YAML
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews, namespace: e2e}
spec:
  hosts: [reviews.e2e.svc.cluster.local]
  http:
  - route: [{destination: {host: reviews.e2e.svc.cluster.local, subset: $1}}]
YAML
}
: >"$T/propagation"
for n in $(seq 1 10); do
	s=v$((n % 2 + 1))
	route_to "$s" >"$T/vs.yaml"
	t0=$(date +%s%N)
	ctl apply -f - <"$T/vs.yaml" >/dev/null
	V=$(server_version)
	declare -A seen=()
	for _ in $(seq 1 300); do
		for wl in $ALL; do
			pv=$(proxy_version "$wl")
			if [ -z "${seen[$wl]:-}" ] && [ "${pv:-0}" -ge "$V" ]; then
				seen[$wl]=1
				echo $((($(date +%s%N) - t0) / 1000000)) >>"$T/propagation"
			fi
		done
		[ ${#seen[@]} -eq 4 ] && break
		sleep 0.02
	done
	unset seen
done
expect_eq "10 changes reached 4 proxies each" 40 "$(wc -l <"$T/propagation")"
sort -n "$T/propagation" >"$T/propagation.sorted"
p50=$(awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }' "$T/propagation.sorted")
p99=$(awk '{ a[NR] = $1 } END { i = int(NR * 0.99 + 0.999); print a[i] }' "$T/propagation.sorted")
echo "# apply-to-in-force propagation over 40 proxy updates: p50 ${p50} ms, p99 ${p99} ms, max $(tail -n 1 "$T/propagation.sorted") ms"
b=$(backends 20)
expect_eq "the last route is in force: all to v1" "reviews-v1=20 " "$b"

# An invalid apply changes nothing anywhere.
V=$(server_version)
route_to v9 >"$T/bad.yaml"
rc=0
ctl apply -f - <"$T/bad.yaml" >"$T/bad.out" 2>&1 || rc=$?
expect_eq "an apply naming a missing subset fails" 1 "$rc"
check "and says why" grep -q 'subset "v9"' "$T/bad.out"
expect_eq "the server's version is unchanged" "$V" "$(server_version)"
sleep 1.5
check "every proxy still runs version $V" all_exactly "$V"
b=$(backends 10)
expect_eq "routing is unchanged" "reviews-v1=10 " "$b"

# Kill -9 the server under load: no request is lost.
in_ns "$CLI" sh -c "for i in \$(seq 1 30); do curl -s --max-time 5 -o /dev/null \
    -w '%{http_code}\n' '$VIP/load/[1-100]'; done" >"$T/load.codes" 2>&1 &
LOAD=$!
E2E_PIDS="$E2E_PIDS $LOAD"
sleep 0.5
kill -KILL "$SRV_PID"
wait "$SRV_PID" 2>/dev/null || true
wait "$LOAD" || true
expect_eq "3000 requests while the server died" 3000 "$(wc -l <"$T/load.codes")"
expect_eq "all of them answered 200" 0 "$(grep -vc '^200$' "$T/load.codes" || true)"
check "every proxy still runs version $V" all_exactly "$V"
for wl in $ALL; do
	kill -0 "${SYNC_PID[$wl]}" 2>/dev/null || check "weft-sync of $wl survives the server's death" false
done
i=0
until grep -q 'retrying in' "$T/sync-cli.log" || [ $i -ge 100 ]; do sleep 0.1; i=$((i + 1)); done
check "weft-sync retries with backoff, keeping its version" \
    grep -q "keeping policy version $V, retrying in" "$T/sync-cli.log"

# Back again: new changes arrive everywhere.
server_start 2
route_to v3 >"$T/vs.yaml"
ctl apply -f - <"$T/vs.yaml" >/dev/null
V=$(server_version)
# weft-sync retries with backoff (at most 15 s, jittered) while the
# server is away: give it that long to come back.
check "after the restart, a change reaches every proxy (version $V)" \
    wait_all_at "$V" 400
# A workload whose weft-sync had not come back within the heartbeat
# timeout was marked unhealthy by the restarted server, and is healthy
# again with its next poll, a version or two later: routing follows
# within that time.
for _ in $(seq 1 100); do
	b=$(backends 10)
	[ "$b" = "reviews-v3=10 " ] && break
	sleep 0.2
done
expect_eq "routing follows: all to v3" "reviews-v3=10 " "$b"

# Registration drives endpoints: a deregistered workload and a silent
# one stop receiving traffic.
ctl delete vs reviews -n e2e >/dev/null
kill -TERM "${SYNC_PID[reviews-v3]}"
wait "${SYNC_PID[reviews-v3]}" 2>/dev/null || true
check "weft-sync deregisters on SIGTERM" grep -q 'deregistered e2e/reviews-v3' "$T/sync-reviews-v3.log"
kill -KILL "${SYNC_PID[reviews-v1]}"
wait "${SYNC_PID[reviews-v1]}" 2>/dev/null || true
only_v2() {
	[ "$(backends 20)" = "reviews-v2=20 " ]
}
i=0
until only_v2 || [ $i -ge 100 ]; do sleep 0.1; i=$((i + 1)); done
check "traffic goes only to the workload still in contact" only_v2
offline_and_gone() {
	ctl status >"$T/status.out" 2>&1 &&
	    grep -q 'e2e/reviews-v1 .*offline' "$T/status.out" &&
	    ! grep -q reviews-v3 "$T/status.out"
}
i=0
until offline_and_gone || [ $i -ge 100 ]; do sleep 0.1; i=$((i + 1)); done
offline_and_gone || cat "$T/status.out" >&2
check "the silent workload is unhealthy, the stopped one gone" offline_and_gone

# The silent one comes back with its certificate, no token needed.
sync_start reviews-v1 198.18.9.11 app=reviews,version=v1
back_v1() {
	backends 30 | grep -q reviews-v1=
}
i=0
until back_v1 || [ $i -ge 100 ]; do sleep 0.1; i=$((i + 1)); done
check "a workload back in contact is an endpoint again" back_v1
check "it authenticated with its certificate" \
    grep -q 'authenticating with the certificate' "$T/sync-reviews-v1.log"
e2e_done
