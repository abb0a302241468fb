#!/bin/bash
# shellcheck disable=SC2317 # helpers called through check and eventually
# weftctl stat and weftctl tap --proxy against real sidecars: a client
# pod calls the service web (two backend pods behind their sidecars)
# with a known mix (30 fast 200s, 10 503s, 10 that take 300 ms); stat
# shows that mix per service, workload and route (counts, success rate,
# p99 in the bucket of the slow ones), and tap streams only the requests
# that match its filter, ending at --max.
. "$(dirname "$0")/lib.sh"
e2e_init
WEFTCTL="$WEFT_BUILDDIR/src/ctl/weftctl"
[ -x "$WEFTCTL" ] || skip "weftctl not built"
command -v jq >/dev/null || skip "needs jq"

for i in 1 2; do
	mesh_pod "b$i" "198.18.9.1$i"
	bg "$POD" "app-b$i" "$WEFT_TESTD" --listen 0.0.0.0:9080 --name "b$i"
	wait_listen "$POD" 9080
	[ "$i" = 1 ] && B1=$POD
done
mesh_pod cli 198.18.9.1
CLI=$POD
# Where the operator runs weftctl: a pod without a sidecar.
pod_new ops 198.18.9.100
OPS=$POD

cat >"$T/mesh.yaml" <<'YAML'
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: web, namespace: default}
spec:
  hosts: [web.default.svc.cluster.local]
  addresses: [240.240.0.30]
  ports: [{number: 9080, name: http, protocol: HTTP}]
  resolution: STATIC
  workloadSelector: {labels: {app: web}}
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: b1, namespace: default}
spec: {address: 198.18.9.11, labels: {app: web}}
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: b2, namespace: default}
spec: {address: 198.18.9.12, labels: {app: web}}
YAML
rc=0
"$WEFTCTL" --db "$T/cli.db" apply -f "$T/mesh.yaml" >"$T/apply.log" 2>&1 || rc=$?
expect_eq "the policy applies" 0 "$rc"
eventually "the client sidecar loads the policy" \
    sh -c "[ \"\$(ip netns exec $CLI curl -s --max-time 2 http://127.0.0.1:15020/metrics | awk '/^weft_config_version /{print \$2}')\" -ge 1 ]"

WEB=http://240.240.0.30:9080
STAT_PROXIES="--proxy 198.18.9.1:15020 --proxy 198.18.9.11:15020 --proxy 198.18.9.12:15020"

# stat JQ-FILTER ARGS...: weftctl stat -o json from the ops pod, through jq.
stat() {
	local filter=$1
	shift
	# shellcheck disable=SC2086
	in_ns "$OPS" "$WEFTCTL" stat $STAT_PROXIES -o json "$@" 2>>"$T/stat.err" |
	    jq -r "$filter" 2>>"$T/stat.err"
}

### No traffic yet: every proxy answers, no rows.
expect_eq "stat before any traffic: three proxies, no rows" "3 0" \
    "$(stat '"\(.proxies) \(.rows | length)"')"
[ -s "$T/stat.err" ] && sed 's/^/# /' "$T/stat.err"

### The mix, on keep-alive connections from the client pod.
urls=""
for i in $(seq 1 30); do urls="$urls $WEB/ok/$i"; done
for i in $(seq 1 10); do urls="$urls $WEB/status/503"; done
for i in $(seq 1 10); do urls="$urls $WEB/delay/300"; done
# shellcheck disable=SC2086
in_ns "$CLI" curl -s --max-time 60 $urls >/dev/null || true

expect_eq "service web: 50 requests, 40 successes, from the client's sidecar" \
    "50 40 source 1" \
    "$(stat '.rows[] | select(.name == "web.default.svc.cluster.local") | "\(.requests) \(.success) \(.reporter) \(.meshed)"' service)"
rate=$(stat '.rows[0].success_rate' service/web.default.svc.cluster.local)
check "service web: success rate $rate is 0.8" \
    awk -v r="$rate" 'BEGIN { exit !(r > 0.799 && r < 0.801) }'
p99=$(stat '.rows[0].latency_p99' service/web.default.svc.cluster.local)
p50=$(stat '.rows[0].latency_p50' service/web.default.svc.cluster.local)
check "service web: p99 ($p99 s) in the bucket of the 300 ms requests (0.25-0.5 s)" \
    awk -v q="$p99" 'BEGIN { exit !(q > 0.25 && q <= 0.5) }'
check "service web: p50 ($p50 s) under 50 ms" \
    awk -v q="$p50" 'BEGIN { exit !(q > 0 && q < 0.05) }'
expect_eq "workloads b1 and b2 served the 50 requests (reporter=destination)" \
    "50 destination" \
    "$(stat '[.rows[] | select(.name == "b1" or .name == "b2")] | "\(map(.requests) | add) \(.[0].reporter)"' workload)"
expect_eq "workload cli: its 50 outbound requests" "50 source" \
    "$(stat '.rows[] | "\(.requests) \(.reporter)"' workload/cli)"
expect_eq "route default: 50 requests" "50" \
    "$(stat '.rows[] | select(.name == "default") | .requests' route)"
# shellcheck disable=SC2086
in_ns "$OPS" "$WEFTCTL" stat $STAT_PROXIES >"$T/stat.txt" 2>&1 || true
check "the table has linkerd's columns and the service row" \
    sh -c "head -1 '$T/stat.txt' | grep -q 'NAME.*MESHED.*SUCCESS.*RPS.*LATENCY_P50.*LATENCY_P95.*LATENCY_P99.*TCP_CONN' &&
        grep -q '^web.default.svc.cluster.local .* 80.00%' '$T/stat.txt'"

# shellcheck disable=SC2086
in_ns "$OPS" "$WEFTCTL" stat $STAT_PROXIES -o wide route >"$T/stat-wide.txt" 2>&1 || true
check "-o wide adds the request count and the reporter" \
    sh -c "head -1 '$T/stat-wide.txt' | grep -q 'REQUESTS  REPORTER' &&
        grep -q '^default .* 50  source\$' '$T/stat-wide.txt'"
rc=0
"$WEFTCTL" stat --proxy 127.0.0.1:1 pods/x >/dev/null 2>"$T/stat5.err" || rc=$?
check "an unknown kind: exit 2 and one line" \
    sh -c "[ $rc -eq 2 ] && [ \$(wc -l <'$T/stat5.err') -eq 1 ]"

### A proxy that does not answer is named, the others still count.
rc=0
in_ns "$OPS" "$WEFTCTL" stat --proxy 198.18.9.1:15020 --proxy 198.18.9.99:15020 \
    service >"$T/stat2.txt" 2>"$T/stat2.err" || rc=$?
check "an unreachable proxy: one line naming it, the rest shown" \
    sh -c "[ $rc -eq 0 ] && grep -q '198.18.9.99:15020' '$T/stat2.err' &&
        [ \$(wc -l <'$T/stat2.err') -eq 1 ] && grep -q '^web' '$T/stat2.txt'"
rc=0
in_ns "$OPS" "$WEFTCTL" stat --proxy 198.18.9.99:15020 >/dev/null 2>"$T/stat3.err" || rc=$?
expect_eq "no proxy answering: exit 1" 1 "$rc"
rc=0
"$WEFTCTL" stat --proxy 127.0.0.1:1 --window 10m >/dev/null 2>"$T/stat4.err" || rc=$?
check "--window past 5m: exit 2 and one line" \
    sh -c "[ $rc -eq 2 ] && [ \$(wc -l <'$T/stat4.err') -eq 1 ]"
expect_eq "/stats with a bad window: 400" 400 \
    "$(in_ns "$OPS" curl -s -o /dev/null -w '%{http_code}' 'http://198.18.9.1:15020/stats?window=nope')"

### tap: the admin port is loopback only.
expect_eq "/tap is not served on the metrics port" 404 \
    "$(in_ns "$OPS" curl -s -o /dev/null -w '%{http_code}' --max-time 3 'http://198.18.9.1:15020/tap')"

# tap_run NAME ARGS...: weftctl tap in the client pod (its admin port),
# in the background; its output in $T/NAME.out.
tap_run() {
	local name=$1
	shift
	bg "$CLI" "$name" "$WEFTCTL" tap --proxy 127.0.0.1:15000 -o json "$@"
	TAP_PID=$LAST_PID
	TAP_OUT="$T/$name.log"
}
# tap_ready NS: a tap stream to the admin port of NS is open.
tap_ready() {
	in_ns "$1" ss -Htn state established '( dport = :15000 )' | grep -q .
}
# tap_wait: waits (bounded) for the tap to end; 0 when it did.
tap_wait() {
	local i
	for i in $(seq 1 100); do
		kill -0 "$TAP_PID" 2>/dev/null || { wait "$TAP_PID" 2>/dev/null; return 0; }
		sleep 0.1
	done
	return 1
}

tap_run tap2 --method POST --path /status/2 --status 201 --max 3
eventually "the tap stream is open" tap_ready "$CLI"
# Each round: noise that must not show (wrong status, method or path),
# then one request that matches; until the tap ends (bounded).
for i in $(seq 1 30); do
	kill -0 "$TAP_PID" 2>/dev/null || break
	in_ns "$CLI" curl -s --max-time 10 -o /dev/null "$WEB/status/201" || true
	in_ns "$CLI" curl -s --max-time 10 -X POST "$WEB/status/200" \
	    "$WEB/status/404" "$WEB/ok/status/201" >/dev/null || true
	in_ns "$CLI" curl -s --max-time 10 -o /dev/null -X POST \
	    -H "x-request-id: req-$i" "$WEB/status/201" || true
done
check "tap ends by itself at --max 3" tap_wait
expect_eq "tap: exactly 3 events" 3 "$(grep -c '"method"' "$TAP_OUT" || true)"
expect_eq "tap: every event matches (POST, /status/2..., 201, outbound to web)" \
    "3" "$(jq -r 'select(.method == "POST" and (.path | startswith("/status/2")) and .status == 201 and .direction == "outbound" and .destination.service == "web.default.svc.cluster.local" and .source.workload == "cli") | .request_id' "$TAP_OUT" | grep -c '^req-')"
expect_eq "tap: the destination workload is b1 or b2" 3 \
    "$(jq -r '.destination.workload' "$TAP_OUT" | grep -cE '^(b1|b2)$')"

# The text form, like linkerd viz tap, on a backend's inbound side,
# from the proxy beside weftctl (no --proxy, no server).
bg "$B1" tap3 "$WEFTCTL" tap --path /ok --max 2
TAP_PID=$LAST_PID
TAP_OUT="$T/tap3.log"
eventually "the backend tap stream is open" tap_ready "$B1"
for i in $(seq 1 40); do
	kill -0 "$TAP_PID" 2>/dev/null || break
	in_ns "$CLI" curl -s --max-time 10 -o /dev/null "$WEB/ok/t$i" || true
done
check "backend tap ends at --max 2" tap_wait
check "backend tap: linkerd-like lines, inbound, status and latency" \
    sh -c "[ \$(grep -c '^req id=' '$TAP_OUT') -eq 2 ] &&
        grep -q 'proxy=in .*:method=GET .*:path=/ok/t.* status=200 latency=[0-9]*µs' '$TAP_OUT'"

### A tap client that stops reading loses events, never slows the
### proxy, and the stream says how many it lost once it reads again.
bg "$CLI" slowtap curl -sN --max-time 60 "http://127.0.0.1:15000/tap?path=/flood/"
SLOW_PID=$LAST_PID
eventually "the slow tap stream is open" tap_ready "$CLI"
kill -STOP "$SLOW_PID"
for i in $(seq 1 4000); do
	echo "url = \"$WEB/flood/$i/$(printf '%0200d' 0)\""
	echo "output = /dev/null"
done >"$T/flood.cfg"
before=$(metric "$CLI" weft_requests_total reporter=source)
t0=$(date +%s)
in_ns "$CLI" curl -s --max-time 120 -K "$T/flood.cfg" || true
t1=$(date +%s)
after=$(metric "$CLI" weft_requests_total reporter=source)
expect_eq "4000 requests served while the tap client did not read" 4000 "$((after - before))"
check "the flood took under 60 s ($((t1 - t0)) s)" [ $((t1 - t0)) -lt 60 ]
check "the proxy counts the events it dropped" \
    [ "$(metric "$CLI" weft_tap_events_dropped_total)" -gt 0 ]
kill -CONT "$SLOW_PID"
eventually "the stream then says how many it dropped" grep -q '{"dropped":[1-9]' "$T/slowtap.log"
stop_pid "$SLOW_PID"

### At most 8 taps at once; a bad filter is refused in one line.
expect_eq "/tap with an unknown parameter: 400" 400 \
    "$(in_ns "$CLI" curl -s -o /dev/null -w '%{http_code}' --max-time 3 'http://127.0.0.1:15000/tap?colour=red')"
rc=0
"$WEFTCTL" tap --proxy 127.0.0.1:1 --status 700 >/dev/null 2>"$T/tap4.err" || rc=$?
check "tap --status 700: exit 2 and one line" \
    sh -c "[ $rc -eq 2 ] && [ \$(wc -l <'$T/tap4.err') -eq 1 ]"

check "the proxies are still alive" kill -0 "$PROXY_PID"
e2e_done
