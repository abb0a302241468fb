#!/bin/bash
# Retries as Istio configures them: a request that meets a failing
# endpoint (503, or too slow for perTryTimeout) is sent again to another
# endpoint and succeeds; attempts are bounded, and exhausting them is
# reported with Envoy's URX flag.
. "$(dirname "$0")/lib.sh"
e2e_init
WEFTCTL="$WEFT_BUILDDIR/src/ctl/weftctl"
[ -x "$WEFTCTL" ] || skip "weftctl not built"
command -v python3 >/dev/null || skip "needs python3"

cat >"$T/bad.py" <<'PY'
import http.server, sys, time
mode = sys.argv[1]
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        if mode == "slow":
            time.sleep(2)
        body = mode.encode()
        self.send_response(503 if mode == "fail" else 200)
        self.send_header("X-Backend", mode)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        with open(sys.argv[2], "a") as f:
            f.write("hit\n")
    def log_message(self, *a):
        pass
http.server.ThreadingHTTPServer(("0.0.0.0", 9080), H).serve_forever()
PY

mesh_pod good 198.18.8.11
bg "$POD" app-good "$WEFT_TESTD" --listen 0.0.0.0:9080 --name good
wait_listen "$POD" 9080
mesh_pod fail 198.18.8.12
bg "$POD" app-fail python3 "$T/bad.py" fail "$T/fail.hits"
wait_listen "$POD" 9080
mesh_pod slow 198.18.8.13
bg "$POD" app-slow python3 "$T/bad.py" slow "$T/slow.hits"
wait_listen "$POD" 9080
mesh_pod cli 198.18.8.1
CLI=$POD

cat >"$T/mesh.yaml" <<'YAML'
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: flaky}
spec:
  hosts: [flaky.default.svc.cluster.local]
  addresses: [240.240.0.20]
  ports: [{number: 9080, name: http, protocol: HTTP}]
  resolution: STATIC
  workloadSelector: {labels: {app: flaky}}
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: good}
spec: {address: 198.18.8.11, labels: {app: flaky, role: good}}
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: fail}
spec: {address: 198.18.8.12, labels: {app: flaky, role: fail}}
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: slow}
spec: {address: 198.18.8.13, labels: {app: flaky, role: slow}}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: flaky}
spec:
  host: flaky.default.svc.cluster.local
  trafficPolicy: {loadBalancer: {simple: ROUND_ROBIN}}
  subsets:
  - {name: good-or-fail, labels: {app: flaky}}
  - {name: fail-only, labels: {role: fail}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: flaky}
spec:
  hosts: [flaky.default.svc.cluster.local]
  http:
  - name: exhausted
    match: [{uri: {prefix: /only-fail}}]
    retries: {attempts: 2, retryOn: 5xx}
    route: [{destination: {host: flaky.default.svc.cluster.local, subset: fail-only}}]
  - name: retried
    retries: {attempts: 3, perTryTimeout: 300ms, retryOn: "5xx,reset,connect-failure"}
    timeout: 5s
    route: [{destination: {host: flaky.default.svc.cluster.local, subset: good-or-fail}}]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: breaker}
spec:
  hosts: [breaker.default.svc.cluster.local]
  addresses: [240.240.0.21]
  ports: [{number: 9080, name: http, protocol: HTTP}]
  resolution: STATIC
  workloadSelector: {labels: {role: slow}}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: breaker}
spec:
  host: breaker.default.svc.cluster.local
  trafficPolicy: {connectionPool: {http: {http2MaxRequests: 1}}}
YAML
"$WEFTCTL" --db "$T/cli.db" apply -f "$T/mesh.yaml" >"$T/apply.log" 2>&1
eventually "the client sidecar loads the policy" \
    sh -c "[ \"\$(ip netns exec $CLI curl -s --max-time 2 http://127.0.0.1:15020/metrics | awk '/^weft_config_version /{print \$2}')\" -ge 1 ]"

# Endpoints good, fail and slow take turns; every request succeeds.
in_ns "$CLI" timeout 60 curl -s --max-time 5 -o /dev/null \
    -w '%{http_code} %header{x-backend}\n' "http://240.240.0.20:9080/r/[1-30]" >"$T/codes"
expect_eq "30 requests all succeed through retries" 30 "$(grep -c '^200 good$' "$T/codes")"
check "the failing endpoint was tried" test -s "$T/fail.hits"
check "the slow endpoint was tried and cut short by perTryTimeout" test -s "$T/slow.hits"
expect_eq "retried requests are counted as successes on the route" 30 \
    "$(metric "$CLI" weft_requests_total route=retried response_code=200)"

# A PUT with a small body is retried too, body and all.
head -c 20000 /dev/urandom >"$T/put"
want=$(sha256sum "$T/put" | cut -d' ' -f1)
ok=0
for i in 1 2 3 4 5 6; do
	out=$(in_ns "$CLI" curl -s --max-time 5 -X PUT --data-binary @"$T/put" \
	    "http://240.240.0.20:9080/put/$i")
	grep -q "\"body_sha256\":\"$want\"" <<<"$out" && ok=$((ok + 1))
done
expect_eq "six PUTs with a body all reach the good endpoint intact" 6 "$ok"

# With only failing endpoints, retries are bounded and reported.
: >"$T/fail.hits"
code=$(in_ns "$CLI" curl -s --max-time 10 -o /dev/null -w '%{http_code}' \
    http://240.240.0.20:9080/only-fail)
expect_eq "exhausted retries return the last upstream response" 503 "$code"
expect_eq "one try and two retries reached the endpoint" 3 "$(wc -l <"$T/fail.hits")"
expect_eq "exhaustion counted with flag URX" 1 \
    "$(metric "$CLI" weft_requests_total route=exhausted response_code=503 response_flags=URX)"

# Circuit breaking: one request in flight at most; the next overflows.
in_ns "$CLI" curl -s --max-time 10 -o /dev/null -w '%{http_code}' \
    http://240.240.0.21:9080/first >"$T/first" &
first=$!
sleep 0.5
code=$(in_ns "$CLI" curl -s --max-time 5 -o "$T/b" -w '%{http_code}' http://240.240.0.21:9080/second)
expect_eq "a request beyond http2MaxRequests is refused" 503 "$code"
check "with Envoy's overflow reason" grep -q 'reset reason: overflow' "$T/b"
wait "$first" || true
expect_eq "the request in flight completes" 200 "$(cat "$T/first")"
expect_eq "overflow counted with flag UO" 1 \
    "$(metric "$CLI" weft_requests_total response_code=503 response_flags=UO)"

e2e_done
