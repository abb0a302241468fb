#!/bin/bash
# Rotating the mesh CA's root under load, with no failed request:
# weftctl ca rotate prepare (the next root joins every trust bundle),
# activate (it signs; the workloads renew at once), finish (the old
# root is dropped). weft-server in its own pod; two workload pods with
# weft-init, weft-proxy and weft-sync joined by token, an app behind
# one of them, STRICT mTLS in front of it. Also: weftctl ca status in
# each phase, a server restart that keeps the phase, the steps refused
# while a registered workload is not ready (and what it says), a join
# token pinning the old root still good after activate, the server's
# certificate of the signing root with a chain that clients of the old
# root can still follow, and the old root refused after finish.
. "$(dirname "$0")/lib.sh"
e2e_init
command -v openssl >/dev/null || skip "needs openssl"
WEFTCTL="$WEFT_BUILDDIR/src/ctl/weftctl"
WEFT_SERVER_BIN="$WEFT_BUILDDIR/src/server/weft-server"
WEFT_SYNC="$WEFT_BUILDDIR/src/sync/weft-sync"
if [ ! -x "$WEFT_SERVER_BIN" ] || [ ! -x "$WEFT_SYNC" ]; then
	skip "weft-server or weft-sync not built"
fi

SRV_ADDR=198.18.14.2
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
# weftctl as an admin on the server's host, trusting the data dir's
# ca.pem: the old root until finish.
ctl() {
	in_ns "$SRV" "$WEFTCTL" --server https://127.0.0.1:15010 \
	    --ca "$T/srv/ca.pem" --token-file "$T/srv/admin.token" "$@"
}
token() { # WORKLOAD
	ctl token create --workload "$1" --namespace e2e --service-account "$1-sa"
}

declare -A POD_OF PROXY_OF
workload() {
	local wl=$1 addr=$2 labels=$3
	pod_new "$wl" "$addr"
	POD_OF[$wl]=$POD
	in_ns "$POD" "$WEFT_INIT" >"$T/init-$wl.log" 2>&1
	proxy_start "$POD" "$wl" --db "$T/px/$wl.db" --certs "$T/px/$wl-certs"
	PROXY_OF[$wl]=$PROXY_PID
	bg_proxy_uid "$POD" "sync-$wl" "$WEFT_SYNC" \
	    --server "https://$SRV_ADDR:15010" --workload "$wl" --namespace e2e \
	    --service-account "$wl-sa" --address "$addr" --labels "$labels" \
	    --ports http=9080 --db "$T/px/$wl.db" --certs "$T/px/$wl-certs" \
	    --token "$(token "$wl")"
}
workload web 198.18.14.11 app=web
WEB=${POD_OF[web]}
bg "$WEB" app "$WEFT_TESTD" --listen 0.0.0.0:9080 --tcp-echo 0.0.0.0:9090 \
    --name web
wait_listen "$WEB" 9080
wait_listen "$WEB" 9090
workload cli 198.18.14.1 app=cli
CLI=${POD_OF[cli]}

cat >"$T/mesh.yaml" <<'YAML'
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: web, namespace: e2e}
spec:
  hosts: [web.e2e.svc.cluster.local]
  addresses: [240.240.0.30]
  ports: [{number: 9080, name: http, protocol: HTTP}]
  workloadSelector: {labels: {app: web}}
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: web-strict, namespace: e2e}
spec:
  selector: {matchLabels: {app: web}}
  mtls: {mode: STRICT}
YAML
ctl apply -f - <"$T/mesh.yaml" >"$T/apply.log" 2>&1
VIP=http://240.240.0.30:9080

# waitfor TENTHS CMD...: until CMD succeeds, for at most TENTHS/10 s.
waitfor() {
	local n=$1 _
	shift
	for _ in $(seq 1 "$n"); do
		"$@" && return 0
		sleep 0.1
	done
	return 1
}
code() {
	in_ns "$CLI" curl -s --max-time 5 -o /dev/null -w '%{http_code}' "$VIP/$1"
}
up() { [ "$(code up)" = 200 ]; }
check "the client reaches the app through both sidecars" waitfor 300 up
mtls_in() {
	metric "$WEB" weft_requests_total reporter=destination \
	    connection_security_policy=mutual_tls \
	    source_principal=spiffe://cluster.local/ns/e2e/sa/cli-sa
}
check "with mTLS from the client's identity (STRICT)" test "$(mtls_in)" -ge 1

OLD_ROOT=$T/old-root.pem
cp "$T/srv/ca.pem" "$OLD_ROOT"
fp() { # PEM: SHA-256 fingerprint of its first certificate, as weft writes it
	openssl x509 -in "$1" -noout -fingerprint -sha256 | sed 's/.*=//; s/://g' |
	    tr 'A-F' 'a-f'
}
OLD_FP=$(fp "$OLD_ROOT")
roots_in() { # FILE: how many certificates
	grep -c 'BEGIN CERTIFICATE' "$1" 2>/dev/null || true
}
both_pods() { # FN: FN holds for both workloads' certificate files
	"$1" "$T/px/web-certs" && "$1" "$T/px/cli-certs"
}

ctl ca status >"$T/status0" 2>&1
check "ca status: phase none, the root signs" \
    sh -c "grep -q '^phase: none' '$T/status0' && grep -q '^current  yes    $OLD_FP' '$T/status0'"

# A workload that joins with --once and says nothing more: it holds up
# the steps until it catches up (or is deregistered).
ghost() { # ARGS...
	in_ns "$SRV" "$WEFT_SYNC" --server https://127.0.0.1:15010 \
	    --workload ghost --namespace e2e --service-account ghost-sa \
	    --address 198.18.14.99 --db "$T/ghost.db" --certs "$T/ghost-certs" \
	    --proxy-admin 127.0.0.1:1 --once "$@" >>"$T/ghost.log" 2>&1
}
check "a workload joins and goes quiet (weft-sync --once)" ghost --token "$(token ghost)"
# A join token made now pins the old root: it joins after activate.
LATE_TOKEN=$(token late)
expect_eq "join tokens pin the root that signs" "$OLD_FP" "${LATE_TOKEN##*.}"

# The load, bounded, and stopped once the rotation is done: HTTP
# requests (the sidecars keep their connections), and TCP connections
# to an echo service, each one a new mTLS handshake between the
# sidecars (to the pod's address: the original destination, a workload
# with a sidecar). Each prints 200 when it worked.
cat >"$T/tcp-load.sh" <<SH
for i in \$(seq 1 40000); do
	[ -e '$T/stop' ] && { echo STOPPED; exit 0; }
	if { exec 3<>/dev/tcp/198.18.14.11/9090; } 2>/dev/null &&
	    echo "ping \$i" >&3 && read -r -t 5 line <&3 &&
	    [ "\$line" = "ping \$i" ]; then
		echo 200
	else
		echo "failed \$i"
	fi
	exec 3<&-
done
SH
load() { # NAME
	if [ "$1" = tcp ]; then
		in_ns "$CLI" bash "$T/tcp-load.sh" >"$T/tcp.codes" 2>&1 &
	else
		in_ns "$CLI" sh -c "for i in \$(seq 1 2000); do
			[ -e '$T/stop' ] && { echo STOPPED; exit 0; }
			curl -s --max-time 5 -o /dev/null -w '%{http_code}\n' \
			    '$VIP/load/[1-20]'
		done" >"$T/http.codes" 2>&1 &
	fi
	E2E_PIDS="$E2E_PIDS $!"
	LOAD_PIDS="${LOAD_PIDS:-} $!"
}
tcp_conns_in() {
	metric "$WEB" weft_tcp_connections_opened_total \
	    connection_security_policy=mutual_tls \
	    destination_service=198.18.14.11:9090
}
tcp_ping() {
	in_ns "$CLI" bash -c 'exec 3<>/dev/tcp/198.18.14.11/9090 &&
	    echo hello >&3 && read -r -t 5 l <&3 && [ "$l" = hello ]'
}
check "TCP through both sidecars" tcp_ping
C0=$(tcp_conns_in)
load http
load tcp
started() { [ -s "$T/http.codes" ] && [ -s "$T/tcp.codes" ]; }
check "the load runs" waitfor 100 started

### prepare
ctl ca rotate prepare >"$T/prepare.out" 2>&1 || true
check "ca rotate prepare" grep -q '^prepared: the next root' "$T/prepare.out"
NEXT="$T/srv/ca-next.pem"
check "the next root is in the data dir" test -s "$NEXT"
expect_eq "ca-next-key.pem is 0600" 600 "$(stat -c %a "$T/srv/ca-next-key.pem" 2>/dev/null)"
NEW_FP=$(fp "$NEXT")
ctl ca status >"$T/status1" 2>&1
check "ca status: phase prepared, the old root still signs" \
    sh -c "grep -q '^phase: prepared' '$T/status1' &&
	grep -q '^current  yes    $OLD_FP' '$T/status1' &&
	grep -q '^next     no     $NEW_FP' '$T/status1'"
two_roots() { [ "$(roots_in "$1/ca.pem")" = 2 ]; }
check "both workloads' ca.pem hold the two roots" waitfor 100 both_pods two_roots
check "still of the old root: web" openssl verify -CAfile "$OLD_ROOT" "$T/px/web-certs/cert.pem"

# A restart keeps the phase.
stop_pid "$SRV_PID"
server_start 2
ctl ca status >"$T/status2" 2>&1
check "after a restart: still prepared, same roots" \
    sh -c "grep -q '^phase: prepared' '$T/status2' && grep -q '^next     no     $NEW_FP' '$T/status2'"

# activate waits for every registered workload: the quiet one blocks.
ready_but_ghost() {
	ctl ca status -o json >"$T/ca.json" 2>/dev/null || return 1
	[ "$(grep -c '"proxy":' "$T/ca.json")" = 1 ] &&
	    grep -q '"proxy": "e2e/ghost"' "$T/ca.json"
}
check "after the restart the workloads report their bundle again" waitfor 200 ready_but_ghost
rc=0
ctl ca rotate activate >"$T/activate0.out" 2>&1 || rc=$?
expect_eq "activate with a workload not ready: refused" 1 "$rc"
check "naming it and why" \
    grep -q "cannot activate: 1 proxy is not ready: e2e/ghost (" "$T/activate0.out"
check "the quiet workload syncs once more (weft-sync --once)" ghost
check "and gets the new trust bundle" two_roots "$T/ghost-certs"
ready() {
	ctl ca status >"$T/ready" 2>/dev/null && grep -q '^next step: .* (ready)' "$T/ready"
}
check "ca status: ready to activate" waitfor 100 ready

### activate
ctl ca rotate activate >"$T/activate.out" 2>&1 || true
check "ca rotate activate" grep -q "^activated: the next root $NEW_FP signs" "$T/activate.out"
ctl ca status >"$T/status3" 2>&1
check "ca status: phase activated, the next root signs" \
    sh -c "grep -q '^phase: activated' '$T/status3' && grep -q '^next     yes    $NEW_FP' '$T/status3'"
new_cert() { openssl verify -CAfile "$NEXT" "$1/cert.pem" >/dev/null 2>&1; }
check "both workloads renew at once: certificates of the new root only" \
    waitfor 150 both_pods new_cert
check "weft-sync said why it renewed" grep -q 'the CA signs with the root .* renewing it' "$T/sync-web.log"
server_verifies() { # CAFILE: the server's chain verifies against it
	in_ns "$SRV" openssl s_client -connect 127.0.0.1:15010 -CAfile "$1" \
	    -verify_return_error </dev/null 2>/dev/null |
	    grep -q 'Verify return code: 0'
}
check "the server presents a certificate of the new root" server_verifies "$NEXT"
check "which a client of the old root alone still trusts (cross certificate)" \
    server_verifies "$OLD_ROOT"
late() {
	in_ns "$SRV" "$WEFT_SYNC" --server https://127.0.0.1:15010 \
	    --workload late --namespace e2e --service-account late-sa \
	    --address 198.18.14.98 --db "$T/late.db" --certs "$T/late-certs" \
	    --proxy-admin 127.0.0.1:1 --once --token "$LATE_TOKEN" >"$T/late.log" 2>&1
}
check "a join token pinning the old root still joins" late
check "and gets a certificate of the new root" new_cert "$T/late-certs"
NEW_TOKEN=$(token later)
expect_eq "join tokens made now pin the new root" "$NEW_FP" "${NEW_TOKEN##*.}"

# finish waits for every workload's certificate of the new root.
check "the workloads report their new certificates" waitfor 100 ready_but_ghost
rc=0
ctl ca rotate finish >"$T/finish0.out" 2>&1 || rc=$?
expect_eq "finish with a certificate of the old root left: refused" 1 "$rc"
check "naming that workload only" \
    sh -c "grep -q 'cannot finish: 1 proxy is not ready: e2e/ghost (its certificate is not of the next root)' '$T/finish0.out'"
admin_delete() { # WORKLOAD: the operator deregisters it
	in_ns "$SRV" curl -s -o /dev/null -w '%{http_code}' --cacert "$T/srv/ca.pem" \
	    -H "Authorization: Bearer $(cat "$T/srv/admin.token")" -X DELETE \
	    "https://127.0.0.1:15010/v1/register?namespace=e2e&workload=$1"
}
expect_eq "the operator deregisters the quiet workload" 200 "$(admin_delete ghost)"
check "ca status: ready to finish" waitfor 100 ready

### finish
ctl ca rotate finish >"$T/finish.out" 2>&1 || true
check "ca rotate finish" grep -q "^finished: $NEW_FP is the only root" "$T/finish.out"
ctl ca status >"$T/status4" 2>&1
check "ca status: phase none, the new root alone signs" \
    sh -c "grep -q '^phase: none' '$T/status4' && grep -q '^current  yes    $NEW_FP' '$T/status4' &&
	[ \$(grep -c '^current \|^next  ' '$T/status4') = 1 ]"
new_only() { [ "$(roots_in "$1/ca.pem")" = 1 ] && [ "$(fp "$1/ca.pem")" = "$NEW_FP" ]; }
check "both workloads' ca.pem hold only the new root" waitfor 100 both_pods new_only
check "the data dir: ca.pem is the new root, ca-old.pem the old one" \
    sh -c "cmp -s '$T/srv/ca-old.pem' '$OLD_ROOT' && [ \"\$(openssl x509 -in '$T/srv/ca.pem' -noout -fingerprint -sha256 | sed 's/.*=//; s/://g' | tr A-F a-f)\" = '$NEW_FP' ] &&
	[ ! -e '$T/srv/ca-next.pem' ] && [ ! -e '$T/srv/ca-rotation' ]"
expect_eq "ca-old-key.pem is 0600" 600 "$(stat -c %a "$T/srv/ca-old-key.pem" 2>/dev/null)"

# A little more load on the final state, then stop it.
sleep 1
touch "$T/stop"
for pid in $LOAD_PIDS; do
	wait "$pid" || true
done
for l in http tcp; do
	n=$(grep -vc STOPPED "$T/$l.codes" || true)
	check "the $l load ran through the whole rotation ($n requests)" \
	    grep -q STOPPED "$T/$l.codes"
	expect_eq "none of the $n $l requests failed" 0 \
	    "$(grep -v STOPPED "$T/$l.codes" | grep -vc '^200$' || true)"
done
C1=$(tcp_conns_in)
check "each TCP connection was a new mTLS connection ($((C1 - C0)))" \
    test $((C1 - C0)) -ge "$(grep -c '^200$' "$T/tcp.codes")"

# After: new connections work, with certificates of the new root.
codes=$(in_ns "$CLI" curl -s --max-time 5 -o /dev/null -w '%{http_code}\n' "$VIP/after/[1-20]" |
    sort | uniq -c | awk '{ print $2 "=" $1 }')
expect_eq "requests after finish" "200=20" "$codes"
sed -i 's/seq 1 40000/seq 1 20/' "$T/tcp-load.sh"
rm "$T/stop"
in_ns "$CLI" bash "$T/tcp-load.sh" >"$T/tcp-after.codes" 2>&1
expect_eq "new TCP connections after finish" 20 "$(grep -c '^200$' "$T/tcp-after.codes")"
# As the client's sidecar would, from the client pod (as the proxy uid,
# which is not captured): the web sidecar's certificate, verified
# against the new root, and refused against the old one.
peer_verifies() { # CAFILE
	in_ns "$CLI" setpriv --reuid "$PROXY_UID" --regid "$PROXY_UID" --clear-groups \
	    openssl s_client -connect 198.18.14.11:9080 -alpn weft-mtls \
	    -cert "$T/px/cli-certs/cert.pem" -key "$T/px/cli-certs/key.pem" \
	    -CAfile "$1" -verify_return_error </dev/null 2>/dev/null |
	    grep -q 'Verify return code: 0'
}
install -m 644 "$T/srv/ca.pem" "$T/new-root.pem"
check "the web sidecar presents a certificate of the new root" \
    peer_verifies "$T/new-root.pem"
check "which does not chain to the old root" eval '! peer_verifies "$OLD_ROOT"'
rc=0
in_ns "$SRV" "$WEFTCTL" --server https://127.0.0.1:15010 --ca "$OLD_ROOT" \
    --token-file "$T/srv/admin.token" ca status >/dev/null 2>&1 || rc=$?
expect_eq "the server is no longer trusted with the old root alone" 1 "$rc"
check "a token made during activate pins the root that is left" \
    test "${NEW_TOKEN##*.}" = "$(fp "$T/srv/ca.pem")"
check "the proxies stayed up" kill -0 "${PROXY_OF[web]}" "${PROXY_OF[cli]}"
e2e_done
