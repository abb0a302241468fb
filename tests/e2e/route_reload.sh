#!/bin/bash
# Policy reloads under load: while wrk keeps 8 connections busy through
# the client sidecar, 100 successive applies switch a VirtualService
# between 100/0 and 0/100 splits of two subsets. No request fails (wrk
# sees no socket error and no non-2xx answer), each split takes effect
# when the sidecar picks up its version, the sidecar ends on the last
# version, and an invalid apply in the middle (an unknown field beside a
# valid change) changes nothing: same DB, same version, same routing.
. "$(dirname "$0")/lib.sh"
e2e_init
WEFTCTL="$WEFT_BUILDDIR/src/ctl/weftctl"
[ -x "$WEFTCTL" ] || skip "weftctl not built"
command -v wrk >/dev/null || skip "needs wrk"
command -v sqlite3 >/dev/null || skip "needs the sqlite3 CLI"

for v in 1 2; do
	mesh_pod "reviews-v$v" "198.18.11.1$v"
	bg "$POD" "app-v$v" "$WEFT_TESTD" --listen 0.0.0.0:9080 --name "reviews-v$v"
	wait_listen "$POD" 9080
	[ "$v" = 1 ] && SRV_V1=$POD || SRV_V2=$POD
done
mesh_pod cli 198.18.11.1
CLI=$POD

cat >"$T/mesh.yaml" <<'YAML'
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: reviews, namespace: default}
spec:
  hosts: [reviews.default.svc.cluster.local]
  addresses: [240.240.0.50]
  ports: [{number: 9080, name: http, protocol: HTTP}]
  resolution: STATIC
  workloadSelector: {labels: {app: reviews}}
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: reviews-v1, namespace: default}
spec: {address: 198.18.11.11, labels: {app: reviews, version: v1}}
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: reviews-v2, namespace: default}
spec: {address: 198.18.11.12, labels: {app: reviews, version: v2}}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews, namespace: default}
spec:
  host: reviews.default.svc.cluster.local
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
YAML
# split W1 W2: the VirtualService sending W1 to v1 and W2 to v2.
split() {
	cat <<YAML
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews, namespace: default}
spec:
  hosts: [reviews.default.svc.cluster.local]
  http:
  - name: split
    route:
    - {destination: {host: reviews.default.svc.cluster.local, subset: v1}, weight: $1}
    - {destination: {host: reviews.default.svc.cluster.local, subset: v2}, weight: $2}
YAML
}
split 100 0 >"$T/split-v1.yaml"
split 0 100 >"$T/split-v2.yaml"
# Invalid: a valid change of the split, then a document with an unknown
# field; applied as one transaction, so neither may take effect.
{
	split 100 0
	cat <<'YAML'
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews, namespace: default}
spec:
  host: reviews.default.svc.cluster.local
  trafficPolicy: {loadBalancer: {simple: ROUND_ROBIN}, bogusField: 1}
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
YAML
} >"$T/invalid.yaml"

DB=$T/cli.db
db_version() {
	sqlite3 -readonly "$DB" 'SELECT version FROM config_version'
}
# synced: waits up to 10 s for the client sidecar to run the DB's
# version; true when it does.
synced() {
	local want i
	want=$(db_version)
	for i in $(seq 1 100); do
		[ "$(metric "$CLI" weft_config_version)" = "$want" ] && return 0
		sleep 0.1
	done
	return 1
}
# backend: the X-Backend of one request to the service.
backend() {
	in_ns "$CLI" curl -s --max-time 5 -o /dev/null -w '%header{x-backend}' \
	    http://240.240.0.50:9080/probe || true
}

rc=0
{ cat "$T/mesh.yaml"; echo ---; cat "$T/split-v1.yaml"; } |
    "$WEFTCTL" --db "$DB" apply -f - >"$T/apply.log" 2>&1 || rc=$?
expect_eq "the policy applies" 0 "$rc"
check "the client sidecar loads it" synced
v0=$(db_version)
expect_eq "the 100/0 split serves v1" reviews-v1 "$(backend)"

# The load: 8 connections, stopped by SIGINT after the applies (wrk then
# prints its report); -d bounds it if anything hangs.
bg "$CLI" wrk wrk -t1 -c8 -d50s --timeout 5s http://240.240.0.50:9080/load
WRK_PID=$LAST_PID
load_flows() {
	[ "$(metric "$CLI" weft_requests_total reporter=source)" -ge 200 ]
}
eventually "load flows through the client sidecar" load_flows
ok_before=$(metric "$CLI" weft_config_reloads_total result=success)
v1_before=$(metric "$SRV_V1" weft_requests_total reporter=destination)
v2_before=$(metric "$SRV_V2" weft_requests_total reporter=destination)

# 100 applies, alternating from the split in force; at checkpoints (ending alternately on a v1
# and a v2 split) wait for the sidecar to run the version and see the
# split in force.
failed=0 unsynced=0 misrouted=0 nsync=0
for i in $(seq 1 100); do
	if [ $((i % 2)) = 1 ]; then f=split-v2 want=reviews-v2; else f=split-v1 want=reviews-v1; fi
	"$WEFTCTL" --db "$DB" apply -f "$T/$f.yaml" >>"$T/apply.log" 2>&1 ||
	    failed=$((failed + 1))
	case $i in
	9 | 20 | 29 | 40 | 51 | 60 | 69 | 80 | 89 | 100)
		nsync=$((nsync + 1))
		synced || unsynced=$((unsynced + 1))
		[ "$(backend)" = "$want" ] || misrouted=$((misrouted + 1))
		;;
	esac
	if [ "$i" = 51 ]; then
		# The invalid apply, in the middle, under load.
		sqlite3 -readonly "$DB" .dump >"$T/before.sql"
		before=$(db_version)
		rc=0
		"$WEFTCTL" --db "$DB" apply -f "$T/invalid.yaml" >"$T/invalid.out" 2>"$T/invalid.err" || rc=$?
		expect_eq "the invalid apply fails" 1 "$rc"
		check "its error names the field" grep -q 'bogusField' "$T/invalid.err"
		sqlite3 -readonly "$DB" .dump >"$T/after.sql"
		check "the invalid apply changes nothing in the DB" cmp -s "$T/before.sql" "$T/after.sql"
		expect_eq "the DB version is unchanged" "$before" "$(db_version)"
		# Watch for 1.5 s, past the sidecar's next look at the DB.
		ok_mid=$(metric "$CLI" weft_config_reloads_total result=success)
		moved=0
		for _ in $(seq 1 15); do
			[ "$(backend)" = reviews-v2 ] || moved=$((moved + 1))
			sleep 0.1
		done
		expect_eq "after it, requests keep the 0/100 split" 0 "$moved"
		expect_eq "the sidecar keeps that version" "$before" "$(metric "$CLI" weft_config_version)"
		expect_eq "and does not reload" "$ok_mid" \
		    "$(metric "$CLI" weft_config_reloads_total result=success)"
	fi
done
expect_eq "100 applies succeed" 0 "$failed"
expect_eq "the sidecar caught up at each of $nsync checkpoints" 0 "$unsynced"
expect_eq "the split in force at each checkpoint routes as applied" 0 "$misrouted"

kill -INT "$WRK_PID" 2>/dev/null || true
wait "$WRK_PID" 2>/dev/null || true
reqs=$(awk '/ requests in /{print $1}' "$T/wrk.log")
check "wrk ran (${reqs:-no} requests)" test "${reqs:-0}" -ge 1000
check "wrk saw no socket error" sh -c "! grep -q 'Socket errors' '$T/wrk.log'"
check "wrk saw no non-2xx response" sh -c "! grep -q 'Non-2xx' '$T/wrk.log'"
v1=$(($(metric "$SRV_V1" weft_requests_total reporter=destination) - v1_before))
v2=$(($(metric "$SRV_V2" weft_requests_total reporter=destination) - v2_before))
check "the load went to both subsets as the splits changed (v1 $v1, v2 $v2)" \
    test "$v1" -gt 0 -a "$v2" -gt 0
expect_eq "no request failed at the client sidecar" 0 \
    "$(metric "$CLI" weft_requests_total reporter=source | awk -v all="$(metric "$CLI" weft_requests_total reporter=source response_code=200)" '{ print $1 - all }')"

expect_eq "the DB is at version $((v0 + 100)) (100 applies, not the invalid one)" \
    $((v0 + 100)) "$(db_version)"
expect_eq "the sidecar ends on the last version" $((v0 + 100)) \
    "$(metric "$CLI" weft_config_version)"
ok_after=$(metric "$CLI" weft_config_reloads_total result=success)
check "reloads succeeded under load ($((ok_after - ok_before)), at least $nsync)" \
    test $((ok_after - ok_before)) -ge "$nsync"
expect_eq "no reload failed" 0 "$(metric "$CLI" weft_config_reloads_total result=failure)"

e2e_done
