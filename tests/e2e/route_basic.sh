#!/bin/bash
# L7 routing from Istio YAML applied with weftctl to the client pod's
# policy DB: a service reached by its VIP or its Host name, a 90/10
# weighted split between subsets, a header match, fault abort and delay
# under a header, a route timeout answering 504, uri rewrite and header
# operations, and route/service labels in the metrics.
. "$(dirname "$0")/lib.sh"
e2e_init
WEFTCTL="$WEFT_BUILDDIR/src/ctl/weftctl"
[ -x "$WEFTCTL" ] || skip "weftctl not built"

for v in 1 2; do
	mesh_pod "reviews-v$v" "198.18.7.1$v"
	bg "$POD" "app-v$v" "$WEFT_TESTD" --listen 0.0.0.0:9080 --name "reviews-v$v" \
	    --log "$T/app-v$v.jsonl"
	wait_listen "$POD" 9080
done
mesh_pod cli 198.18.7.1
CLI=$POD

cat >"$T/mesh.yaml" <<'YAML'
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: reviews, namespace: default}
spec:
  hosts: [reviews.default.svc.cluster.local]
  addresses: [240.240.0.10]
  ports: [{number: 9080, name: http, protocol: HTTP}]
  resolution: STATIC
  workloadSelector: {labels: {app: reviews}}
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: reviews-v1, namespace: default}
spec: {address: 198.18.7.11, labels: {app: reviews, version: v1}}
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: reviews-v2, namespace: default}
spec: {address: 198.18.7.12, labels: {app: reviews, version: v2}}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews, namespace: default}
spec:
  host: reviews.default.svc.cluster.local
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
  - {name: v9, labels: {version: v9}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews, namespace: default}
spec:
  hosts: [reviews.default.svc.cluster.local]
  http:
  - name: jason
    match: [{headers: {end-user: {exact: jason}}}]
    route: [{destination: {host: reviews.default.svc.cluster.local, subset: v2}}]
  - name: testing-abort
    match: [{headers: {x-testing: {exact: "true"}}}]
    fault: {abort: {httpStatus: 418, percentage: {value: 100}}}
    route: [{destination: {host: reviews.default.svc.cluster.local, subset: v1}}]
  - name: slow
    match: [{uri: {prefix: /slow}}]
    rewrite: {uri: /delay/3000}
    timeout: 0.5s
    route: [{destination: {host: reviews.default.svc.cluster.local, subset: v1}}]
  - name: delayed
    match: [{uri: {prefix: /delayed}}]
    fault: {delay: {fixedDelay: 400ms, percentage: {value: 100}}}
    route: [{destination: {host: reviews.default.svc.cluster.local, subset: v1}}]
  - name: mirrored
    match: [{uri: {prefix: /mirrored}}]
    route: [{destination: {host: reviews.default.svc.cluster.local, subset: v1}}]
    mirror: {host: reviews.default.svc.cluster.local, subset: v2}
    mirrorPercentage: {value: 100}
  - name: nowhere
    match: [{uri: {prefix: /nowhere}}]
    route: [{destination: {host: reviews.default.svc.cluster.local, subset: v9}}]
  - name: split
    headers:
      request: {set: {x-weft-route: split}}
      response: {add: {x-served-through: weft}}
    route:
    - {destination: {host: reviews.default.svc.cluster.local, subset: v1}, weight: 90}
    - {destination: {host: reviews.default.svc.cluster.local, subset: v2}, weight: 10}
YAML
"$WEFTCTL" --db "$T/cli.db" apply -f "$T/mesh.yaml" >"$T/apply.log" 2>&1
chmod 644 "$T/cli.db"
eventually "the client sidecar loads the policy" \
    sh -c "[ \"\$(ip netns exec $CLI curl -s --max-time 2 http://127.0.0.1:15020/metrics | awk '/^weft_config_version /{print \$2}')\" -ge 1 ]"

VIP=http://240.240.0.10:9080
# The 90/10 split, over 1000 requests on one connection.
in_ns "$CLI" timeout 120 curl -s --max-time 5 -o /dev/null -w '%header{x-backend}\n' \
    "$VIP/r/[1-1000]" >"$T/split"
v1=$(grep -c '^reviews-v1$' "$T/split" || true)
v2=$(grep -c '^reviews-v2$' "$T/split" || true)
expect_eq "1000 requests answered" 1000 $((v1 + v2))
check "90/10 split: v2 got $v2 of 1000 (expected 100, 4 sigma 62-138)" \
    test "$v2" -ge 62 -a "$v2" -le 138

# The same service by its Host name, on a pod address.
out=$(in_ns "$CLI" curl -s --max-time 5 -H 'Host: reviews.default.svc.cluster.local' \
    -H 'end-user: jason' -D "$T/h1" http://198.18.7.11:9080/by-host)
check "Host name routing with a header match goes to v2" \
    grep -qi '^x-backend: reviews-v2' "$T/h1"
n=0
for _ in $(seq 1 20); do
	b=$(in_ns "$CLI" curl -s --max-time 5 -H 'end-user: jason' -o /dev/null \
	    -w '%header{x-backend}' "$VIP/jason")
	[ "$b" = reviews-v2 ] && n=$((n + 1))
done
expect_eq "end-user: jason always goes to v2" 20 "$n"

# Header operations of the split route.
out=$(in_ns "$CLI" curl -s --max-time 5 -D "$T/h2" "$VIP/headers")
check "request header set by the route reaches the backend" \
    grep -q '"x-weft-route","split"' <<<"$out"
check "response header added by the route reaches the client" \
    grep -qi '^x-served-through: weft' "$T/h2"

# Fault abort only with the header.
code=$(in_ns "$CLI" curl -s --max-time 5 -H 'x-testing: true' -o "$T/b" -w '%{http_code}' "$VIP/t")
expect_eq "fault abort with x-testing: true" 418 "$code"
check "abort body as Envoy's" grep -q '^fault filter abort$' "$T/b"
code=$(in_ns "$CLI" curl -s --max-time 5 -o /dev/null -w '%{http_code}' "$VIP/t")
expect_eq "no fault without the header" 200 "$code"

# Fault delay.
t=$(in_ns "$CLI" curl -s --max-time 5 -o /dev/null -w '%{time_total}' "$VIP/delayed")
check "fault delay of 400 ms applied (${t} s)" awk -v t="$t" 'BEGIN { exit !(t >= 0.39) }'

# Route timeout: the rewritten /delay/3000 takes too long.
code=$(in_ns "$CLI" curl -s --max-time 5 -o "$T/b" -w '%{http_code} %{time_total}' "$VIP/slow")
expect_eq "route timeout answers 504" 504 "${code%% *}"
check "after about 0.5 s (${code#* } s)" awk -v t="${code#* }" 'BEGIN { exit !(t >= 0.45 && t < 2) }'
check "504 body as Envoy's" grep -q '^upstream request timeout$' "$T/b"

# Mirroring: v1 answers, v2 gets a copy with the -shadow host.
out=$(in_ns "$CLI" curl -s --max-time 5 -D "$T/hm" \
    -H "Host: reviews.default.svc.cluster.local" "$VIP/mirrored/1")
check "the mirrored request is answered by v1" grep -qi '^x-backend: reviews-v1' "$T/hm"
eventually "v2 receives the copy with Host ...-shadow" \
    grep -q '"path":"/mirrored/1".*reviews.default.svc.cluster.local-shadow' "$T/app-v2.jsonl"
check "v1 does not see the copy" \
    sh -c "! grep -q 'reviews.default.svc.cluster.local-shadow' '$T/app-v1.jsonl'"

head -c 300000 /dev/urandom >"$T/mbody"
want=$(sha256sum "$T/mbody" | cut -d' ' -f1)
out=$(in_ns "$CLI" curl -s --max-time 10 -H "Host: reviews.default.svc.cluster.local" \
    --data-binary @"$T/mbody" "$VIP/mirrored/post")
check "a POST body reaches the primary intact" grep -q "\"body_sha256\":\"$want\"" <<<"$out"
eventually "and its mirror copy, body included" \
    grep -q "\"path\":\"/mirrored/post\".*\"body_sha256\":\"$want\"" "$T/app-v2.jsonl"

# A subset without endpoints.
code=$(in_ns "$CLI" curl -s --max-time 5 -o "$T/b" -w '%{http_code}' "$VIP/nowhere")
expect_eq "a subset without endpoints answers 503" 503 "$code"
check "no healthy upstream" grep -q 'no healthy upstream' "$T/b"

# Metrics carry the service and route names.
expect_eq "split route counted with its labels" 1 \
    "$(metric "$CLI" weft_requests_total route=split destination_service=reviews.default.svc.cluster.local | awk '{print ($1 >= 1000)}')"
expect_eq "fault abort counted with flag FI" 1 \
    "$(metric "$CLI" weft_requests_total route=testing-abort response_code=418 response_flags=FI)"
expect_eq "timeout counted with flag UT" 1 \
    "$(metric "$CLI" weft_requests_total route=slow response_code=504 response_flags=UT)"

e2e_done
