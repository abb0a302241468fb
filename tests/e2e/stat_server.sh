#!/bin/bash
# shellcheck disable=SC2317 # helpers called through check and eventually
# weftctl stat and tap --server: weft-server asks every healthy
# registered workload's proxy for its /stats (in parallel, short
# timeout) and weftctl merges them; a tap goes to every weft-sync in its
# sync answer, each relays its proxy's /tap stream to the server, and
# weftctl reads the matching requests from the server. A mesh built as in cp_mesh.sh (server pod,
# workloads with weft-sync joined by token, mTLS between sidecars);
# a known mix from the client; a workload whose proxy is gone is listed
# as not answering while the others still count.
. "$(dirname "$0")/lib.sh"
e2e_init
WEFTCTL="$WEFT_BUILDDIR/src/ctl/weftctl"
WEFT_SERVER_BIN="$WEFT_BUILDDIR/src/server/weft-server"
WEFT_SYNC="$WEFT_BUILDDIR/src/sync/weft-sync"
if [ ! -x "$WEFT_SERVER_BIN" ] || [ ! -x "$WEFT_SYNC" ]; then
	skip "weft-server or weft-sync not built"
fi
command -v jq >/dev/null || skip "needs jq"

SRV_ADDR=198.18.11.2
pod_new server "$SRV_ADDR"
SRV=$POD
mkdir -m 700 "$T/srv"
bg "$SRV" server "$WEFT_SERVER_BIN" --data-dir "$T/srv" --heartbeat-timeout 30s
wait_listen "$SRV" 15010
ctl() {
	in_ns "$SRV" "$WEFTCTL" --server https://127.0.0.1:15010 \
	    --ca "$T/srv/ca.pem" --token-file "$T/srv/admin.token" "$@"
}

declare -A POD_OF PROXY_OF
workload() {
	local wl=$1 addr=$2 labels=$3 tok
	pod_new "$wl" "$addr"
	POD_OF[$wl]=$POD
	in_ns "$POD" "$WEFT_INIT" >"$T/init-$wl.log" 2>&1
	proxy_start "$POD" "$wl" --db "$T/px/$wl.db" --certs "$T/px/$wl-certs"
	PROXY_OF[$wl]=$PROXY_PID
	tok=$(ctl token create --workload "$wl" --namespace e2e \
	    --service-account "$wl-sa")
	bg_proxy_uid "$POD" "sync-$wl" "$WEFT_SYNC" \
	    --server "https://$SRV_ADDR:15010" --workload "$wl" --namespace e2e \
	    --service-account "$wl-sa" --address "$addr" --labels "$labels" \
	    --ports http=9080 --db "$T/px/$wl.db" --certs "$T/px/$wl-certs" \
	    --token "$tok"
}
for i in 1 2; do
	workload "web-$i" "198.18.11.1$i" "app=web"
	bg "${POD_OF[web-$i]}" "app-$i" "$WEFT_TESTD" --listen 0.0.0.0:9080 --name "web-$i"
	wait_listen "${POD_OF[web-$i]}" 9080
done
workload cli 198.18.11.1 app=cli
CLI=${POD_OF[cli]}

ctl apply -f - >"$T/apply.log" 2>&1 <<'YAML'
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: web, namespace: e2e}
spec:
  hosts: [web.e2e.svc.cluster.local]
  addresses: [240.240.0.50]
  ports: [{number: 9080, name: http, protocol: HTTP}]
  workloadSelector: {labels: {app: web}}
YAML
check "the service applies through the server" grep -q 'serviceentry.*created' "$T/apply.log"
# The client's sidecar knows both endpoints once their syncs registered.
both_served() {
	in_ns "$CLI" curl -s --max-time 5 "http://240.240.0.50:9080/a" "http://240.240.0.50:9080/b" \
	    "http://240.240.0.50:9080/c" "http://240.240.0.50:9080/d" -o /dev/null -o /dev/null \
	    -o /dev/null -o /dev/null -w '%header{x-backend}\n' 2>/dev/null | sort -u | grep -c web- |
	    grep -qx 2
}
check_loop() {
	local i
	for i in $(seq 1 150); do
		"$@" && return 0
		sleep 0.1
	done
	return 1
}
check "the client reaches both backends through the mesh" check_loop both_served

stat_json() {
	ctl stat -o json "$@" 2>>"$T/stat.err"
}
before=$(stat_json service/web.e2e.svc.cluster.local | jq '.rows[0].requests // 0')
urls=""
for i in $(seq 1 20); do urls="$urls http://240.240.0.50:9080/ok/$i"; done
for i in $(seq 1 5); do urls="$urls http://240.240.0.50:9080/status/500"; done
# shellcheck disable=SC2086
in_ns "$CLI" curl -s --max-time 60 $urls >/dev/null || true

stat_json service/web.e2e.svc.cluster.local >"$T/stat1.json"
expect_eq "three proxies answer through the server, none missing" "3 0" \
    "$(jq -r '"\(.proxies) \(.unreachable | length)"' "$T/stat1.json")"
expect_eq "service web: 25 more requests, reported by the client's sidecar" \
    "25 source" \
    "$(jq -r --argjson b "$before" '.rows[0] | "\(.requests - $b) \(.reporter)"' "$T/stat1.json")"
rate=$(jq -r '.rows[0].success_rate' "$T/stat1.json")
check "service web: success rate ($rate) below 1, 5 of the 25 failed" \
    awk -v r="$rate" -v b="$before" 'BEGIN { n = b + 25; exit !(r > (n - 5) / n - 0.001 && r < (n - 5) / n + 0.001) }'
ctl stat workload >"$T/stat-wl.txt" 2>&1 || true
check "per workload: web-1, web-2 and cli, with mTLS between them" \
    sh -c "grep -q '^web-1 ' '$T/stat-wl.txt' && grep -q '^web-2 ' '$T/stat-wl.txt' &&
        grep -q '^cli ' '$T/stat-wl.txt'"
check "the backends' series say mutual_tls" \
    sh -c "ip netns exec ${POD_OF[web-1]} curl -s http://127.0.0.1:15020/metrics |
        grep -q 'weft_requests_total{reporter=\"destination\".*connection_security_policy=\"mutual_tls\"'"
check "the backends name the service and the calling workload, as Istio's inbound side" \
    sh -c "ip netns exec ${POD_OF[web-1]} curl -s http://127.0.0.1:15020/metrics |
        grep -q 'weft_requests_total{reporter=\"destination\".*source_workload=\"cli\",source_workload_namespace=\"e2e\",.*destination_service=\"web.e2e.svc.cluster.local\"'"
eventually "and so does their access log" grep -q \
    '"direction":"inbound".*"destination_service":"web.e2e.svc.cluster.local".*"source_workload":"cli","source_namespace":"e2e"' \
    "$T/px/web-1.access"

### tap --server: the server tells every weft-sync, which relays its
### proxy's /tap stream; only matching requests come back, up to --max.
bg "$SRV" tap1 "$WEFTCTL" --server https://127.0.0.1:15010 --ca "$T/srv/ca.pem" \
    --token-file "$T/srv/admin.token" tap --destination web.e2e.svc.cluster.local \
    --method POST --path /tap/ --max 4 --duration 60s -o json
TAP_PID=$LAST_PID
for i in $(seq 1 60); do
	kill -0 "$TAP_PID" 2>/dev/null || break
	in_ns "$CLI" curl -s --max-time 5 "http://240.240.0.50:9080/tap/get-$i" \
	    "http://240.240.0.50:9080/other-$i" >/dev/null || true
	in_ns "$CLI" curl -s --max-time 5 -X POST -H "x-request-id: srv-$i" \
	    "http://240.240.0.50:9080/tap/post-$i" >/dev/null || true
	sleep 0.2
done
ended=no
kill -0 "$TAP_PID" 2>/dev/null || ended=yes
wait "$TAP_PID" 2>/dev/null || true
expect_eq "tap --server ends by itself at --max 4" yes "$ended"
expect_eq "tap --server: 4 events, all POST /tap/... to web from cli" 4 \
    "$(jq -r 'select(.method == "POST" and (.path | startswith("/tap/post-")) and .destination.service == "web.e2e.svc.cluster.local" and .source.workload == "cli" and (.request_id | startswith("srv-"))) | .path' "$T/tap1.log" | grep -c .)"
eventually "the syncs relayed the tap and stopped once it ended" \
    sh -c "grep -q 'tap .*: relaying' '$T/sync-cli.log' && grep -q 'tap .*: done' '$T/sync-cli.log'"
check "the server started and ended the tap" \
    sh -c "grep -q 'tap .* started' '$T/server.log' && grep -q 'tap .* ended' '$T/server.log'"
rc=0
ctl tap --status 99 >/dev/null 2>"$T/tap2.err" || rc=$?
check "tap --server --status 99: exit 2, one line" sh -c "[ $rc -eq 2 ] && [ \$(wc -l <'$T/tap2.err') -eq 1 ]"
expect_eq "/v1/tap without the admin credential: 401" 401 \
    "$(in_ns "$SRV" curl -sk -o /dev/null -w '%{http_code}' https://127.0.0.1:15010/v1/tap)"

### A workload whose proxy is gone: named, the others still shown.
stop_pid "${PROXY_OF[web-2]}"
rc=0
ctl stat service >"$T/stat2.txt" 2>"$T/stat2.err" || rc=$?
check "web-2's proxy gone: one line names it, exit 0, web still shown" \
    sh -c "[ $rc -eq 0 ] && grep -q 'e2e/web-2 (198.18.11.12)' '$T/stat2.err' &&
        [ \$(wc -l <'$T/stat2.err') -eq 1 ] && grep -q '^web.e2e.svc.cluster.local ' '$T/stat2.txt'"
expect_eq "/v1/stats without the admin credential: 401" 401 \
    "$(in_ns "$SRV" curl -sk -o /dev/null -w '%{http_code}' https://127.0.0.1:15010/v1/stats)"
rc=0
ctl stat --window 1h >/dev/null 2>"$T/stat3.err" || rc=$?
check "--window 1h: exit 2, one line" sh -c "[ $rc -eq 2 ] && [ \$(wc -l <'$T/stat3.err') -eq 1 ]"
e2e_done
