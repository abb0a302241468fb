#!/bin/bash
# Opaque TCP to a service: a connection to a ServiceEntry's VIP and TCP
# port reaches one of its endpoints (at the targetPort), picked by the
# DestinationRule's load balancer, with no wait for protocol detection
# (the backends speak first); the metrics name the service. Then the
# egress lock-down: with --outbound-traffic-policy registry-only, calls
# to addresses that are no service's are refused (HTTP 502 from
# BlackHoleCluster, TCP closed) while the services still answer.
. "$(dirname "$0")/lib.sh"
e2e_init
WEFTCTL="$WEFT_BUILDDIR/src/ctl/weftctl"
[ -x "$WEFTCTL" ] || skip "weftctl not built"
command -v python3 >/dev/null || skip "needs python3"

# The backends have no sidecar: what is timed is the client side alone.
for i in 1 2; do
	pod_new "db-$i" "198.18.12.1$i"
	bg "$POD" "app-$i" "$WEFT_TESTD" --listen 0.0.0.0:9080 --name "db-$i" \
	    --banner "0.0.0.0:7000:hello from db-$i"
	wait_listen "$POD" 7000
	wait_listen "$POD" 9080
done
mesh_pod cli 198.18.12.1
CLI=$POD

cat >"$T/mesh.yaml" <<'YAML'
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: db, namespace: default}
spec:
  hosts: [db.default.svc.cluster.local]
  addresses: [240.240.0.50]
  ports:
  - {number: 5432, name: tcp-db, protocol: TCP, targetPort: 7000}
  - {number: 80, name: http, protocol: HTTP, targetPort: 9080}
  resolution: STATIC
  workloadSelector: {labels: {app: db}}
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: db-1, namespace: default}
spec: {address: 198.18.12.11, labels: {app: db}}
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: db-2, namespace: default}
spec: {address: 198.18.12.12, labels: {app: db}}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: db, namespace: default}
spec:
  host: db.default.svc.cluster.local
  trafficPolicy: {loadBalancer: {simple: ROUND_ROBIN}}
YAML
rc=0
"$WEFTCTL" --db "$T/cli.db" apply -f "$T/mesh.yaml" >"$T/apply.log" 2>&1 || rc=$?
expect_eq "the policy applies" 0 "$rc"
chmod 644 "$T/cli.db"
eventually "the client sidecar loads the policy" \
    sh -c "[ \"\$(ip netns exec $CLI curl -s --max-time 2 http://127.0.0.1:15020/metrics | awk '/^weft_config_version /{print \$2}')\" -ge 1 ]"

# banner ADDR PORT: what a server-first backend says on connect, or
# "closed" when the connection ends without a word.
cat >"$T/banner.py" <<'PY'
import socket, sys, time
t0 = time.monotonic()
try:
    s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=5)
    data = s.recv(128)
except OSError as e:
    print("error %s" % e.__class__.__name__)
    sys.exit(0)
ms = (time.monotonic() - t0) * 1000
print("%s %d" % (data.decode(errors="replace").strip() or "closed", ms))
PY
banner() {
	in_ns "$CLI" python3 "$T/banner.py" "$@"
}

: >"$T/banners"
for _ in $(seq 1 10); do
	banner 240.240.0.50 5432 >>"$T/banners"
done
expect_eq "10 connections to the VIP reach db-1 five times" 5 \
    "$(grep -c '^hello from db-1 ' "$T/banners")"
expect_eq "and db-2 five times (ROUND_ROBIN)" 5 \
    "$(grep -c '^hello from db-2 ' "$T/banners")"
# Declared TCP: relayed at once, not after the 250 ms detection wait.
check "a server-first backend is heard in under 200 ms" \
    awk '$NF >= 200 { bad = 1 } END { exit bad }' "$T/banners"
expect_eq "the metrics name the service" 10 \
    "$(metric "$CLI" weft_tcp_connections_opened_total reporter=source \
	destination_service=db.default.svc.cluster.local)"
expect_eq "and the endpoint's workload" 5 \
    "$(metric "$CLI" weft_tcp_connections_opened_total reporter=source \
	destination_service=db.default.svc.cluster.local destination_workload=db-2)"
check "HTTP on the service's other port still routes" \
    sh -c "ip netns exec $CLI curl -s --max-time 5 http://240.240.0.50:80/ | grep -q '\"db-[12]\"'"
check "an address that is no service's passes through (ALLOW_ANY)" \
    sh -c "[ \"\$(ip netns exec $CLI python3 $T/banner.py 198.18.12.11 7000 | cut -d' ' -f1-3)\" = 'hello from db-1' ]"

### The egress lock-down.
stop_pid "$PROXY_PID"
proxy_start "$CLI" cli --outbound-traffic-policy registry-only
eventually "the client sidecar loads the policy again" \
    sh -c "[ \"\$(ip netns exec $CLI curl -s --max-time 2 http://127.0.0.1:15020/metrics | awk '/^weft_config_version /{print \$2}')\" -ge 1 ]"
expect_eq "REGISTRY_ONLY: HTTP to no service gets 502" 502 \
    "$(in_ns "$CLI" curl -s -o /dev/null -w '%{http_code}' --max-time 5 http://198.18.12.11:9080/)"
expect_eq "REGISTRY_ONLY: TCP to no service is closed" closed \
    "$(banner 198.18.12.11 7000 | cut -d' ' -f1)"
expect_eq "REGISTRY_ONLY: the service's HTTP port answers" 200 \
    "$(in_ns "$CLI" curl -s -o /dev/null -w '%{http_code}' --max-time 5 http://240.240.0.50:80/)"
check "REGISTRY_ONLY: the service's TCP port answers" \
    sh -c "ip netns exec $CLI python3 $T/banner.py 240.240.0.50 5432 | grep -q '^hello from db-'"
check "refusals are counted as BlackHoleCluster" \
    [ "$(metric "$CLI" weft_requests_total destination_service=BlackHoleCluster response_code=502)" -ge 1 ]
rc=0
out=$("$WEFT_PROXY" --workload x --namespace y --outbound-traffic-policy none 2>&1) || rc=$?
expect_eq "a bad --outbound-traffic-policy exits 1 with one line" \
    "1 1" "$rc $(printf '%s\n' "$out" | wc -l)"
e2e_done
