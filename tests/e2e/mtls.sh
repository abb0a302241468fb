#!/bin/bash
# Mesh mTLS between sidecars with certificate files made by hand (the
# openssl CLI): the client sidecar originates TLS with its SPIFFE
# certificate to an endpoint that has a sidecar, the server sidecar
# terminates it, checks the chain, and forwards plaintext to the app;
# metrics carry connection_security_policy and source_principal. An
# application's own TLS passes through untouched; plaintext from a pod
# without a sidecar is accepted (PERMISSIVE by default); a server with
# the wrong identity is refused; weak protocols and ciphers are refused;
# certificates rotate under load without a failed request; an expired
# certificate shows in /ready.
. "$(dirname "$0")/lib.sh"
e2e_init
command -v openssl >/dev/null || skip "needs openssl"
WEFTCTL="$WEFT_BUILDDIR/src/ctl/weftctl"

pki_ca
pki_leaf "$T/px/srv-certs" spiffe://cluster.local/ns/e2e/sa/srv
pki_leaf "$T/px/cli-certs" spiffe://cluster.local/ns/e2e/sa/cli

pod_new srv 198.18.12.2
SRV=$POD
in_ns "$SRV" "$WEFT_INIT" >"$T/init-srv.log" 2>&1
proxy_start "$SRV" srv --certs "$T/px/srv-certs"
SRV_PROXY=$PROXY_PID
bg "$SRV" app "$WEFT_TESTD" --listen 0.0.0.0:9080 --name srv
# The application's own TLS server, with a certificate of its own.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$T/app-key.pem" -out "$T/app.pem" -subj "/CN=app-own-tls" -days 1 2>/dev/null
bg "$SRV" apptls openssl s_server -quiet -accept 9443 -cert "$T/app.pem" \
    -key "$T/app-key.pem" -www
wait_listen "$SRV" 9080
wait_listen "$SRV" 9443
pod_new cli 198.18.12.1
CLI=$POD
in_ns "$CLI" "$WEFT_INIT" >"$T/init-cli.log" 2>&1
proxy_start "$CLI" cli --certs "$T/px/cli-certs"
CLI_PROXY=$PROXY_PID
pod_new legacy 198.18.12.9
LEGACY=$POD

cat >"$T/mesh.yaml" <<'YAML'
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: srv, namespace: e2e}
spec:
  hosts: [srv.e2e.svc.cluster.local]
  addresses: [240.240.0.20]
  ports: [{number: 9080, name: http, protocol: HTTP}]
  workloadSelector: {labels: {app: srv}}
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: srv, namespace: e2e}
spec:
  address: 198.18.12.2
  serviceAccount: srv
  labels: {app: srv, security.istio.io/tlsMode: istio}
YAML
"$WEFTCTL" --db "$T/cli.db" apply -f "$T/mesh.yaml" >"$T/apply.log" 2>&1
chmod 644 "$T/cli.db"
eventually "the client sidecar loads the policy" \
    sh -c "[ \"\$(ip netns exec $CLI curl -s --max-time 2 http://127.0.0.1:15020/metrics | awk '/^weft_config_version /{print \$2}')\" -ge 1 ]"
eventually "the server sidecar loaded its certificate" \
    grep -q 'certificate of spiffe://cluster.local/ns/e2e/sa/srv loaded' "$T/proxy-srv.log"

code=$(in_ns "$CLI" curl -s --max-time 5 -o /dev/null -D "$T/h" -w '%{http_code}' \
    http://240.240.0.20:9080/hello)
expect_eq "a request through both sidecars over mTLS" 200 "$code"
expect_eq "the server sidecar counted it as mutual_tls from the client's identity" 1 \
    "$(metric "$SRV" weft_requests_total reporter=destination connection_security_policy=mutual_tls source_principal=spiffe://cluster.local/ns/e2e/sa/cli)"
expect_eq "the client sidecar counted it as mutual_tls" 1 \
    "$(metric "$CLI" weft_requests_total reporter=source connection_security_policy=mutual_tls)"
check "the app was called in plaintext by its sidecar on loopback" \
    grep -qi '^x-peer: 127.0.0.1' "$T/h"
eventually "the client's access log names both identities" grep -q \
    '"path":"/hello".*"source_workload":"cli","source_namespace":"e2e","source_principal":"spiffe://cluster.local/ns/e2e/sa/cli","destination_workload":"srv","destination_namespace":"e2e","destination_principal":"spiffe://cluster.local/ns/e2e/sa/srv"' \
    "$T/px/cli.access"
eventually "the server's access log has the caller's identity from mTLS" grep -q \
    '"path":"/hello".*"source_workload":"unknown","source_namespace":"e2e","source_principal":"spiffe://cluster.local/ns/e2e/sa/cli","destination_workload":"srv","destination_namespace":"e2e","destination_principal":"spiffe://cluster.local/ns/e2e/sa/srv"' \
    "$T/px/srv.access"

# Large bodies both ways through the TLS layer (its back-pressure).
head -c 67108864 /dev/urandom >"$T/big"
want=$(sha256sum "$T/big" | cut -d' ' -f1)
out=$(in_ns "$CLI" curl -s --max-time 60 --data-binary @"$T/big" \
    http://240.240.0.20:9080/upload)
expect_eq "64 MiB upload over mTLS arrives intact" "$want" \
    "$(echo "$out" | sed -n 's/.*"body_sha256":"\([0-9a-f]*\)".*/\1/p')"
n=104857600
expect_eq "100 MiB download over mTLS arrives intact" \
    "$(in_ns "$CLI" curl -s --max-time 10 "http://240.240.0.20:9080/sha256/$n")" \
    "$(in_ns "$CLI" curl -s --max-time 60 "http://240.240.0.20:9080/bytes/$n" | sha256sum | cut -d' ' -f1)"
for pid in "$SRV_PROXY" "$CLI_PROXY"; do
	hwm=$(awk '/^VmHWM/ {print $2}' "/proc/$pid/status")
	check "sidecar $pid peak memory ${hwm} KiB stays under 32 MiB over mTLS (+ $MEM_SLACK_KIB KiB sanitizer slack)" \
	    test "$hwm" -lt $((32768 + MEM_SLACK_KIB))
done

# Opaque TCP to the sidecar pod is mTLS too (the relay's upstream).
got=$(in_ns "$CLI" bash -c 'exec 3<>/dev/tcp/198.18.12.2/9080; printf "GET /tcp HTTP/1.0\r\n\r\n" >&3; head -n 1 <&3')
check "plain HTTP/1.0 by pod address, through mTLS" grep -q '200' <<<"$got"

# The application's own TLS passes through untouched.
subj=$(in_ns "$CLI" sh -c 'echo | timeout 10 openssl s_client -connect 198.18.12.2:9443 2>/dev/null' |
    grep -m1 '^subject=' || true)
check "an app's own TLS reaches the app untouched ($subj)" grep -q 'app-own-tls' <<<"$subj"

# A pod without a sidecar: plaintext is accepted (PERMISSIVE).
code=$(in_ns "$LEGACY" curl -s --max-time 5 -o /dev/null -w '%{http_code}' http://198.18.12.2:9080/legacy)
expect_eq "plaintext from a pod without a sidecar is accepted" 200 "$code"
expect_eq "and counted as connection_security_policy none" 1 \
    "$(metric "$SRV" weft_requests_total reporter=destination connection_security_policy=none | awk '{print ($1 >= 1)}')"

# Only strong protocols and ciphers on the mesh port: what openssl
# s_client negotiates ("0000" or "(NONE)" when the handshake failed).
mesh_hello() {
	in_ns "$LEGACY" sh -c "echo | timeout 10 openssl s_client -connect 198.18.12.2:9080 \
	    -alpn weft-mtls -cert '$T/px/cli-certs/cert.pem' -key '$T/px/cli-certs/key.pem' \
	    -CAfile '$T/pki/ca.pem' $* 2>&1" | awk '/^New, / { print $NF; exit }'
}
negotiated=$(mesh_hello -tls1_3)
check "TLS 1.3 with a mesh certificate is accepted ($negotiated)" \
    grep -q '^TLS_' <<<"$negotiated"
negotiated=$(mesh_hello -tls1_2)
check "TLS 1.2 negotiates an ECDHE AEAD cipher ($negotiated)" \
    grep -qE '^ECDHE-ECDSA-(AES(128|256)-GCM|CHACHA20)' <<<"$negotiated"
for proto in -tls1 -tls1_1; do
	negotiated=$(mesh_hello "$proto" -cipher 'ALL:@SECLEVEL=0')
	check "protocol $proto refused ($negotiated)" \
	    grep -qE '^(0000|\(NONE\))?$' <<<"$negotiated"
done
for c in NULL aNULL RC4 3DES EXP CBC; do
	negotiated=$(mesh_hello -tls1_2 -cipher "$c:@SECLEVEL=0")
	check "TLS 1.2 cipher class $c refused ($negotiated)" \
	    grep -qE '^(0000|\(NONE\))?$' <<<"$negotiated"
done
answer=$(in_ns "$LEGACY" sh -c "printf 'GET /nocert HTTP/1.0\r\n\r\n' |
    timeout 10 openssl s_client -quiet -connect 198.18.12.2:9080 -alpn weft-mtls \
    -CAfile '$T/pki/ca.pem' 2>&1" | head -c 300 | tr -d '\r' || true)
check "a mesh handshake without a client certificate gets no answer" \
    sh -c "! printf '%s' \"\$1\" | grep -q '^HTTP/1'" _ "$answer"

# A server with the wrong identity: the client sidecar refuses it.
sed -i 's/serviceAccount: srv/serviceAccount: other/' "$T/mesh.yaml"
"$WEFTCTL" --db "$T/cli.db" apply -f "$T/mesh.yaml" >>"$T/apply.log" 2>&1
eventually "the policy naming another identity is in force" \
    sh -c "[ \"\$(ip netns exec $CLI curl -s --max-time 2 http://127.0.0.1:15020/metrics | awk '/^weft_config_version /{print \$2}')\" -ge 2 ]"
code=$(in_ns "$CLI" curl -s --max-time 5 -o /dev/null -w '%{http_code}' \
    http://240.240.0.20:9080/wrong-identity)
expect_eq "a peer with another SPIFFE ID is refused: 503" 503 "$code"
sed -i 's/serviceAccount: other/serviceAccount: srv/' "$T/mesh.yaml"
"$WEFTCTL" --db "$T/cli.db" apply -f "$T/mesh.yaml" >>"$T/apply.log" 2>&1
eventually "the right identity again" \
    sh -c "[ \"\$(ip netns exec $CLI curl -s --max-time 2 -o /dev/null -w '%{http_code}' http://240.240.0.20:9080/ok)\" = 200 ]"

# Rotation under load: new files for both sides, no failed request.
in_ns "$CLI" sh -c "for i in \$(seq 1 20); do curl -s --max-time 5 -o /dev/null \
    -w '%{http_code}\n' 'http://240.240.0.20:9080/rot/[1-100]' --no-keepalive; done" \
    >"$T/rot.codes" 2>&1 &
LOAD=$!
E2E_PIDS="$E2E_PIDS $LOAD"
sleep 0.3
pki_leaf "$T/px/srv-certs" spiffe://cluster.local/ns/e2e/sa/srv
pki_leaf "$T/px/cli-certs" spiffe://cluster.local/ns/e2e/sa/cli
wait "$LOAD" || true
expect_eq "2000 requests across the rotation" 2000 "$(wc -l <"$T/rot.codes")"
expect_eq "none failed" 0 "$(grep -vc '^200$' "$T/rot.codes" || true)"
expect_eq "both sidecars loaded their new certificate" 4 \
    "$(cat "$T/proxy-srv.log" "$T/proxy-cli.log" | grep -c 'certificate of spiffe.* loaded')"

# A certificate that expires while in force: /ready says so.
pki_leaf "$T/px/srv-certs" spiffe://cluster.local/ns/e2e/sa/srv \
    -startdate "$(date -u -d '-1 hour' +%y%m%d%H%M%SZ)" \
    -enddate "$(date -u -d '+4 seconds' +%y%m%d%H%M%SZ)"
loads() {
	[ "$(grep -c "certificate of spiffe://cluster.local/ns/e2e/sa/srv loaded" \
	    "$T/proxy-srv.log")" -ge "$1" ]
}
eventually "the short-lived certificate is loaded" loads 3
sleep 5
body=$(in_ns "$SRV" curl -s --max-time 2 -w ' %{http_code}' http://127.0.0.1:15020/ready |
    tr -d '\n' || true)
check "an expired certificate makes /ready fail and say why ($body)" \
    grep -q 'certificate expired.* 503$' <<<"$body"
check "and the log says so" grep -q 'certificate of spiffe://cluster.local/ns/e2e/sa/srv.* expired at' "$T/proxy-srv.log"
kill -0 "$SRV_PROXY"
e2e_done
