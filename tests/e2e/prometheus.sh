#!/bin/bash
# shellcheck disable=SC2317 # helpers called through check and eventually
# A real Prometheus server (Debian's prometheus) in a pod of its own
# scrapes two sidecars' :15020/metrics every second. A known latency mix
# goes through the mesh (90 requests of 5 ms, 10 of 200 ms), and
# histogram_quantile() over weft_request_duration_seconds gives the p99
# in the bucket of the slow ones (0.1-0.25 s) and the p50 under 10 ms.
# promtool check metrics passes on both sidecars' output.
. "$(dirname "$0")/lib.sh"
e2e_init
WEFTCTL="$WEFT_BUILDDIR/src/ctl/weftctl"
[ -x "$WEFTCTL" ] || skip "weftctl not built"
command -v prometheus >/dev/null || skip "needs prometheus (Debian package)"
command -v promtool >/dev/null || skip "needs promtool (package prometheus)"
command -v jq >/dev/null || skip "needs jq"

for i in 1 2; do
	mesh_pod "p$i" "198.18.10.1$i"
	bg "$POD" "app-p$i" "$WEFT_TESTD" --listen 0.0.0.0:9080 --name "p$i"
	wait_listen "$POD" 9080
	if [ "$i" = 1 ]; then P1=$POD; else P2=$POD; fi
done
mesh_pod cli 198.18.10.1
CLI=$POD
pod_new prom 198.18.10.100
PROM=$POD

cat >"$T/mesh.yaml" <<'YAML'
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: slowweb, namespace: default}
spec:
  hosts: [slowweb.default.svc.cluster.local]
  addresses: [240.240.0.40]
  ports: [{number: 9080, name: http, protocol: HTTP}]
  resolution: STATIC
  workloadSelector: {labels: {app: slowweb}}
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: p1, namespace: default}
spec: {address: 198.18.10.11, labels: {app: slowweb}}
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: p2, namespace: default}
spec: {address: 198.18.10.12, labels: {app: slowweb}}
YAML
rc=0
"$WEFTCTL" --db "$T/cli.db" apply -f "$T/mesh.yaml" >"$T/apply.log" 2>&1 || rc=$?
expect_eq "the policy applies" 0 "$rc"
eventually "the client sidecar loads the policy" \
    sh -c "[ \"\$(ip netns exec $CLI curl -s --max-time 2 http://127.0.0.1:15020/metrics | awk '/^weft_config_version /{print \$2}')\" -ge 1 ]"
WEB=http://240.240.0.40:9080

# Requests until each backend has served one, so that the series exist
# before Prometheus' first scrape and the window sees the whole mix.
warm=0
for i in $(seq 1 40); do
	[ "$(metric "$P1" weft_requests_total reporter=destination)" -ge 1 ] &&
	    [ "$(metric "$P2" weft_requests_total reporter=destination)" -ge 1 ] &&
	    break
	in_ns "$CLI" curl -s --max-time 10 -o /dev/null "$WEB/delay/5" || true
	warm=$((warm + 1))
done
total=$((warm + 100))

cat >"$T/prometheus.yml" <<'YAML'
global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: weft
    static_configs:
      - targets: ["198.18.10.11:15020", "198.18.10.12:15020"]
YAML
mkdir "$T/tsdb"
bg "$PROM" prometheus prometheus --config.file="$T/prometheus.yml" \
    --storage.tsdb.path="$T/tsdb" --web.listen-address=127.0.0.1:9090 \
    --log.level=warn
PROM_PID=$LAST_PID

# query PROMQL: the first value of an instant query, or nothing.
query() {
	in_ns "$PROM" curl -s --max-time 5 http://127.0.0.1:9090/api/v1/query \
	    --data-urlencode "query=$1" 2>/dev/null |
	    jq -r '.data.result[0].value[1] // empty' 2>/dev/null
}
# waitfor N PROMQL: waits up to N s for PROMQL to return a value >= 1.
waitfor() {
	local i v
	for i in $(seq 1 "$(($1 * 2))"); do
		v=$(query "$2")
		if [ -n "$v" ] && awk -v v="$v" 'BEGIN { exit !(v >= 1) }'; then
			return 0
		fi
		kill -0 "$PROM_PID" 2>/dev/null || return 1
		sleep 0.5
	done
	return 1
}
check "Prometheus scrapes both sidecars" \
    waitfor 60 'count(up{job="weft"} == 1) >= 2'
check "both sidecars' request series are in Prometheus" \
    waitfor 30 'count(weft_requests_total{reporter="destination"}) >= 2'

# The mix: 90 x 5 ms and 10 x 200 ms, interleaved, on keep-alive.
urls=""
for i in $(seq 1 100); do
	if [ $((i % 10)) -eq 0 ]; then
		urls="$urls $WEB/delay/200"
	else
		urls="$urls $WEB/delay/5"
	fi
done
# shellcheck disable=SC2086
in_ns "$CLI" curl -s --max-time 120 $urls >/dev/null || true
check "Prometheus has seen the $total requests" \
    waitfor 30 "sum(weft_requests_total{reporter=\"destination\"}) >= $total"

Q='sum(rate(weft_request_duration_seconds_bucket{reporter="destination"}[1m])) by (le)'
p99=$(query "histogram_quantile(0.99, $Q)")
p50=$(query "histogram_quantile(0.5, $Q)")
echo "# p99 $p99 s, p50 $p50 s"
check "p99 ($p99 s) is in the bucket of the 200 ms requests (0.1-0.25 s)" \
    awk -v q="$p99" 'BEGIN { exit !(q + 0 > 0.1 && q + 0 <= 0.25) }'
check "p50 ($p50 s) is under 10 ms" \
    awk -v q="$p50" 'BEGIN { exit !(q + 0 > 0 && q + 0 < 0.01) }'
expect_eq "the client's sidecar (reporter=source) counts the same $total" "$total" \
    "$(metric "$CLI" weft_requests_total reporter=source)"

# promtool on what each sidecar serves (the client's too).
for ip in 198.18.10.11 198.18.10.12; do
	in_ns "$PROM" curl -s --max-time 5 "http://$ip:15020/metrics" >"$T/m-$ip.txt"
	rc=0
	promtool check metrics <"$T/m-$ip.txt" >"$T/promtool-$ip.log" 2>&1 || rc=$?
	expect_eq "promtool check metrics is clean on $ip" "0 0" \
	    "$rc $(grep -c . "$T/promtool-$ip.log" || true)"
done
check "the backends' series carry the Istio labels, method and route" \
    grep -q 'weft_requests_total{reporter="destination".*destination_workload="p1".*method="GET",route="default"} ' \
    "$T/m-198.18.10.11.txt"
e2e_done
