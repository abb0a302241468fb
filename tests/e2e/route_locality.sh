#!/bin/bash
# Locality load balancing: a client sidecar in us-east/zone-a/sub1 and
# endpoints (WorkloadEntry locality) in us-east/zone-a, us-east/zone-b
# and eu-west/zone-c. With outlier detection (which Istio requires for
# locality failover) every request goes to zone-a; when zone-a fails
# (its application stops) it is ejected and traffic fails over to
# zone-b, in the same region, never to eu-west; when zone-b fails too
# (its sidecar dies: connections refused), to eu-west. Without outlier
# detection, or with localityLbSetting disabled, locality is ignored.
. "$(dirname "$0")/lib.sh"
e2e_init
WEFTCTL="$WEFT_BUILDDIR/src/ctl/weftctl"
[ -x "$WEFTCTL" ] || skip "weftctl not built"

# zone_pod Z N: the pod of zone Z at 198.18.10.3N, its sidecar and app.
zone_pod() {
	mesh_pod "zone-$1" "198.18.10.3$2"
	bg "$POD" "app-$1" "$WEFT_TESTD" --listen 0.0.0.0:9080 --name "zone-$1"
	wait_listen "$POD" 9080
}
zone_pod a 1
APP_A=$LAST_PID
zone_pod b 2
PROXY_B=$PROXY_PID
zone_pod c 3
pod_new cli 198.18.10.1
CLI=$POD
in_ns "$CLI" "$WEFT_INIT" >"$T/init-cli.log" 2>&1
proxy_start "$CLI" cli --locality us-east/zone-a/sub1

{
	n=40
	for svc in loc noloc locoff; do
		cat <<YAML
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: $svc, namespace: default}
spec:
  hosts: [$svc.default.svc.cluster.local]
  addresses: [240.240.0.$n]
  ports: [{number: 9080, name: http, protocol: HTTP}]
  resolution: STATIC
  workloadSelector: {labels: {app: zoned}}
---
YAML
		n=$((n + 1))
	done
	cat <<'YAML'
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: zone-a, namespace: default}
spec: {address: 198.18.10.31, labels: {app: zoned}, locality: us-east/zone-a}
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: zone-b, namespace: default}
spec: {address: 198.18.10.32, labels: {app: zoned}, locality: us-east/zone-b}
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: zone-c, namespace: default}
spec: {address: 198.18.10.33, labels: {app: zoned}, locality: eu-west/zone-c}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: loc, namespace: default}
spec:
  host: loc.default.svc.cluster.local
  trafficPolicy:
    loadBalancer:
      simple: ROUND_ROBIN
      localityLbSetting: {enabled: true}
    outlierDetection:
      consecutive5xxErrors: 3
      interval: 1s
      baseEjectionTime: 30s
      maxEjectionPercent: 100
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: noloc, namespace: default}
spec:
  host: noloc.default.svc.cluster.local
  trafficPolicy:
    loadBalancer:
      simple: ROUND_ROBIN
      localityLbSetting: {enabled: true}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: locoff, namespace: default}
spec:
  host: locoff.default.svc.cluster.local
  trafficPolicy:
    loadBalancer:
      simple: ROUND_ROBIN
      localityLbSetting: {enabled: false}
    outlierDetection:
      consecutive5xxErrors: 3
      interval: 1s
      baseEjectionTime: 30s
      maxEjectionPercent: 100
YAML
} >"$T/mesh.yaml"
rc=0
"$WEFTCTL" --db "$T/cli.db" apply -f "$T/mesh.yaml" >"$T/apply.log" 2>&1 || rc=$?
expect_eq "the policy applies" 0 "$rc"
eventually "the client sidecar loads the policy" \
    sh -c "[ \"\$(ip netns exec $CLI curl -s --max-time 2 http://127.0.0.1:15020/metrics | awk '/^weft_config_version /{print \$2}')\" -ge 1 ]"

# send FILE URL: requests on one connection; one line per response:
# status and X-Backend.
send() {
	in_ns "$CLI" timeout 60 curl -s --max-time 10 -o /dev/null \
	    -w '%{http_code} %header{x-backend}\n' "$2" >"$T/$1" 2>>"$T/curl.err" || true
}
# count FILE PATTERN: the lines of FILE matching PATTERN.
count() {
	grep -c -e "$2" "$T/$1" || true
}

### Locality is ignored without outlier detection, or when disabled.
send noloc "http://240.240.0.41:9080/noloc/[1-30]"
check "without outlierDetection, every locality serves (a/b/c: $(count noloc 'zone-a$')/$(count noloc 'zone-b$')/$(count noloc 'zone-c$'))" \
    test "$(count noloc '^200 zone-a$')" = 10 -a "$(count noloc '^200 zone-b$')" = 10 \
    -a "$(count noloc '^200 zone-c$')" = 10
send locoff "http://240.240.0.42:9080/locoff/[1-30]"
check "with localityLbSetting disabled, every locality serves (a/b/c: $(count locoff 'zone-a$')/$(count locoff 'zone-b$')/$(count locoff 'zone-c$'))" \
    test "$(count locoff '^200 zone-a$')" = 10 -a "$(count locoff '^200 zone-b$')" = 10 \
    -a "$(count locoff '^200 zone-c$')" = 10

### Everything goes to the caller's zone.
URL=http://240.240.0.40:9080
send local "$URL/local/[1-50]"
expect_eq "all 50 requests go to us-east/zone-a" 50 "$(count local '^200 zone-a$')"

### zone-a's application stops: its sidecar answers 503, it is ejected
### after 3 errors, and zone-b (same region) takes over.
stop_pid "$APP_A"
send failover1 "$URL/failover1/[1-50]"
e=$(count failover1 '^503')
check "zone-a down: at most 3 errors before its ejection ($e)" test "$e" -le 3
expect_eq "zone-a down: the rest goes to us-east/zone-b" $((50 - e)) \
    "$(count failover1 '^200 zone-b$')"
expect_eq "zone-a down: nothing goes to eu-west while zone-b is healthy" 0 \
    "$(count failover1 'zone-c$')"

### zone-b's sidecar dies: connections are refused, it is ejected
### after 3 failures, and eu-west takes over.
kill -KILL "$PROXY_B"
wait "$PROXY_B" 2>/dev/null || true
send failover2 "$URL/failover2/[1-50]"
e=$(count failover2 '^503')
check "zone-b down too: at most 3 errors before its ejection ($e)" test "$e" -le 3
expect_eq "zone-b down too: the rest goes to eu-west/zone-c" $((50 - e)) \
    "$(count failover2 '^200 zone-c$')"
expect_eq "zone-b down too: zone-a stays ejected" 0 "$(count failover2 'zone-a$')"

e2e_done
