#!/bin/sh
# shellcheck disable=SC2317 # helpers run through check and eventually
# L4 policy through NFQUEUE: weft-init --l4-queue sends the first packet
# of UDP flows and of TCP connections to an excluded port to the
# proxy's queue, and weft-proxy --l4-queue gives each flow the verdict
# of the AuthorizationPolicies of its workload, with only L3/L4
# attributes: principals of sources known by address (a WorkloadEntry),
# ipBlocks, ports. Denied flows are dropped, counted and logged; a new
# policy applies to new flows without a restart; with the proxy gone,
# new flows are dropped (fail closed) unless weft-init was given
# --l4-fail-open.
. "$(dirname "$0")/lib.sh"

e2e_init
[ -x "$WEFT_INIT" ] || skip "weft-init not built"
[ -x "$WEFT_PROXY" ] || skip "weft-proxy not built"
WEFTCTL="$WEFT_BUILDDIR/src/ctl/weftctl"
PY=$(command -v python3 || true)
[ -x /usr/bin/python3 ] && PY=/usr/bin/python3
[ -n "$PY" ] || skip "needs python3"
modprobe nfnetlink_queue 2>/dev/null || true

# udp_recv.py PORT: prints each datagram received on PORT, one a line.
cat >"$T/udp_recv.py" <<'EOF'
import socket, sys

s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("0.0.0.0", int(sys.argv[1])))
while True:
    data, _ = s.recvfrom(512)
    print(data.decode(errors="replace"), flush=True)
EOF
# udp_send.py ADDR PORT TEXT: one datagram from a new socket (a new flow).
cat >"$T/udp_send.py" <<'EOF'
import socket, sys

s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
try:
    s.sendto(sys.argv[3].encode(), (sys.argv[1], int(sys.argv[2])))
except OSError:
    pass
EOF
# udp_stream.py ADDR PORT TEXT N: N datagrams TEXT-1 .. TEXT-N from one
# socket, one way (conntrack sees no reply: the flow stays NEW).
cat >"$T/udp_stream.py" <<'EOF'
import socket, sys, time

s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for i in range(1, int(sys.argv[4]) + 1):
    s.sendto(("%s-%d" % (sys.argv[3], i)).encode(), (sys.argv[1], int(sys.argv[2])))
    time.sleep(0.01)
EOF
mkdir "$T/www"
echo pong >"$T/www/index.html"

pod_new srv 198.18.0.2
SRV=$POD
pod_new a 198.18.0.3
A=$POD
pod_new b 198.18.0.4
B=$POD

bg "$SRV" udp "$PY" "$T/udp_recv.py" 5353
bg "$SRV" tcp "$PY" -m http.server 5432 --directory "$T/www"
wait_listen "$SRV" 5432
for _ in $(seq 1 100); do
	in_ns "$SRV" ss -Hlun "sport = :5353" | grep -q . && break
	sleep 0.1
done

# Pod a is a workload of the registry (service account client-a); pod b
# is not. Only a may send to the server, by principal.
cat >"$T/policy.yaml" <<'EOF'
apiVersion: networking.istio.io/v1beta1
kind: WorkloadEntry
metadata: {name: client-a, namespace: e2e}
spec:
  address: 198.18.0.3
  serviceAccount: client-a
  labels: {app: client-a}
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: srv-l4, namespace: e2e}
spec:
  selector: {matchLabels: {app: srv}}
  action: ALLOW
  rules:
  - from:
    - source: {principals: ["cluster.local/ns/e2e/sa/client-a"]}
    to:
    - operation: {ports: ["5353", "5432"]}
EOF
"$WEFTCTL" --db "$T/srv.db" apply -f "$T/policy.yaml" >"$T/apply.log" 2>&1 ||
	{ cat "$T/apply.log"; exit 1; }

in_ns "$SRV" "$WEFT_INIT" --l4-queue 7 --exclude-inbound-ports 5432 \
    >"$T/init.log" 2>&1
check "--dry-run shows the queue rules (fail closed by default)" sh -c \
    "'$WEFT_INIT' --dry-run --l4-queue 7 | grep -q -- '-j NFQUEUE --queue-num 7\$'"
check "--dry-run --l4-fail-open shows --queue-bypass" sh -c \
    "'$WEFT_INIT' --dry-run --l4-queue 7 --l4-fail-open | grep -q -- '-j NFQUEUE --queue-num 7 --queue-bypass\$'"

# refused WANT ARGS...: weft-proxy ARGS (as the proxy uid, without
# capabilities; as root with --uid when AS_ROOT=1) exits non-zero with
# one line containing WANT.
refused() {
	want=$1
	shift
	rc=0
	if [ "${AS_ROOT:-0}" = 1 ]; then
		in_ns "$SRV" "$WEFT_PROXY" --uid "$PROXY_UID" --workload srv \
		    --namespace e2e --db "$T/srv.db" --access-log off "$@" \
		    >"$T/refused.log" 2>&1 || rc=$?
	else
		in_ns "$SRV" setpriv --reuid "$PROXY_UID" --regid "$PROXY_UID" \
		    --clear-groups --inh-caps=-all "$WEFT_PROXY" --workload srv \
		    --namespace e2e --db "$T/srv.db" --access-log off "$@" \
		    >"$T/refused.log" 2>&1 || rc=$?
	fi
	check "refused: $*: exit status" test "$rc" -ne 0
	expect_eq "refused: $*: one line" 1 "$(wc -l <"$T/refused.log")"
	check "refused: $*: says '$want'" grep -qF -- "$want" "$T/refused.log"
}
refused "needs CAP_NET_ADMIN" --l4-queue 7
refused "--l4-fail-open needs --l4-queue" --l4-fail-open

proxy_start "$SRV" srv --labels app=srv --l4-queue 7
# caps PID: the effective and permitted capability sets and the uid.
caps() {
	awk '/^CapEff:/ { e = $2 } /^CapPrm:/ { p = $2 } /^Uid:/ { u = $2 }
	    END { print e, p, u }' "/proc/$1/status"
}
expect_eq "the proxy keeps no capability" \
    "0000000000000000 0000000000000000 $PROXY_UID" "$(caps "$PROXY_PID")"
VERDICT_PID=$(pgrep -P "$PROXY_PID" | head -n 1)
expect_eq "its verdict process keeps CAP_NET_ADMIN alone" \
    "0000000000001000 0000000000001000 $PROXY_UID" "$(caps "$VERDICT_PID")"
AS_ROOT=1 refused "another process reads this queue" --l4-queue 7

N=0
# udp FROM-NS: sends a new datagram from FROM-NS; sets $MSG to its text.
udp() {
	N=$((N + 1))
	MSG="m$N"
	in_ns "$1" "$PY" "$T/udp_send.py" 198.18.0.2 5353 "$MSG"
}
# received TEXT: waits up to 5 s for TEXT to reach the UDP server.
received() {
	for _ in $(seq 1 50); do
		grep -qx "$1" "$T/udp.log" && return 0
		sleep 0.1
	done
	return 1
}
# not_received TEXT: TEXT has not arrived after 2 s (bounded).
not_received() {
	for _ in $(seq 1 20); do
		grep -qx "$1" "$T/udp.log" && return 1
		sleep 0.1
	done
	return 0
}
tcp_ok() {
	in_ns "$1" curl -s -o /dev/null --max-time 3 http://198.18.0.2:5432/
}
tcp_refused() {
	! in_ns "$1" curl -s -o /dev/null --max-time 2 http://198.18.0.2:5432/
}
log_has() {
	grep -q "$1" "$T/proxy-srv.log"
}

echo "# by principal: a (client-a) allowed, b (unknown) denied"
udp "$A"
check "UDP from the registered workload passes" received "$MSG"
udp "$B"
check "UDP from an unknown source is dropped" not_received "$MSG"
check "TCP to the excluded port from the registered workload passes" tcp_ok "$A"
check "TCP to the excluded port from an unknown source is dropped" \
    tcp_refused "$B"
check "denied flows are counted as weft_denied_total{reason=l4}" \
    test "$(metric "$SRV" weft_denied_total reason=l4)" -ge 2
check "accepted flows are counted" \
    test "$(metric "$SRV" weft_l4_verdicts_total verdict=accept)" -ge 2
before=$(metric "$SRV" weft_l4_verdicts_total verdict=accept)
in_ns "$A" "$PY" "$T/udp_stream.py" 198.18.0.2 5353 stream 20
check "a one-way UDP stream passes whole" received stream-20
expect_eq "a one-way UDP stream is judged once (connmark), not per packet" \
    $((before + 1)) "$(metric "$SRV" weft_l4_verdicts_total verdict=accept)"
eventually "a denied flow is logged with the rule that decided" log_has \
    'L4 flow denied: [a-z]* 198.18.0.4:[0-9]* -> 198.18.0.2:[0-9]* (unknown source): no ALLOW policy matched; nearest: e2e/srv-l4 rule 0, failed from\[0\].source.principals'

echo "# a new policy, by ipBlocks: b allowed, a denied; no restart"
sed -e 's|principals: \["cluster.local/ns/e2e/sa/client-a"\]|ipBlocks: ["198.18.0.4/32"]|' \
    "$T/policy.yaml" >"$T/policy2.yaml"
"$WEFTCTL" --db "$T/srv.db" apply -f "$T/policy2.yaml" >>"$T/apply.log" 2>&1
# The proxy and its verdict process look at the DB every 200 ms.
switched() {
	udp "$B"
	received "$MSG"
}
eventually "after the change, UDP from b passes" switched
udp "$A"
check "after the change, UDP from a is dropped" not_received "$MSG"
check "after the change, TCP from b passes" tcp_ok "$B"
check "after the change, TCP from a is dropped" tcp_refused "$A"
check "the proxy was not restarted" kill -0 "$PROXY_PID"

echo "# outbound flows are the destination's business: accepted"
bg "$A" udp-a "$PY" "$T/udp_recv.py" 5353
for _ in $(seq 1 100); do
	in_ns "$A" ss -Hlun "sport = :5353" | grep -q . && break
	sleep 0.1
done
before=$(metric "$SRV" weft_l4_verdicts_total verdict=accept)
in_ns "$SRV" "$PY" "$T/udp_send.py" 198.18.0.3 5353 outbound-1
out_received() {
	grep -qx outbound-1 "$T/udp-a.log"
}
eventually "UDP from the server pod to a passes (queued at OUTPUT)" \
    out_received
expect_eq "the outbound flow got an accept verdict" $((before + 1)) \
    "$(metric "$SRV" weft_l4_verdicts_total verdict=accept)"

echo "# a DENY policy on one port, by principal: UDP from a allowed again"
cat >"$T/policy3.yaml" <<'EOF'
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: srv-l4, namespace: e2e}
spec:
  selector: {matchLabels: {app: srv}}
  action: DENY
  rules:
  - from:
    - source: {principals: ["cluster.local/ns/e2e/sa/client-a"]}
    to:
    - operation: {ports: ["5432"]}
EOF
"$WEFTCTL" --db "$T/srv.db" apply -f "$T/policy3.yaml" >>"$T/apply.log" 2>&1
switched_a() {
	udp "$A"
	received "$MSG"
}
eventually "with only a DENY policy, UDP from a passes" switched_a
check "the DENY rule drops TCP from a to its port" tcp_refused "$A"
check "TCP from b passes the DENY rule" tcp_ok "$B"
eventually "the DENY rule is named in the log" log_has \
    'L4 flow denied: tcp 198.18.0.3:[0-9]* -> 198.18.0.2:5432 (cluster.local/ns/e2e/sa/client-a): denied by DENY policy e2e/srv-l4 rule 0'

no_verdicts() {
	for pid in $(ip netns pids "$SRV"); do
		[ "$(cat "/proc/$pid/comm" 2>/dev/null)" = weft-proxy ] &&
		    return 1
	done
	return 0
}
echo "# a graceful stop ends the verdict process too"
kill -TERM "$PROXY_PID"
rc=0
wait "$PROXY_PID" || rc=$?
expect_eq "weft-proxy --l4-queue exits 0 on SIGTERM" 0 "$rc"
check "no verdict process is left" no_verdicts
# Kept for the sanitizer check at exit: the restart truncates the log.
mv "$T/proxy-srv.log" "$T/proxy-srv-first.log"
proxy_start "$SRV" srv --labels app=srv --l4-queue 7 --l4-fail-open
udp "$A"
check "restarted (with the queue's fail-open flag): UDP from a passes" \
    received "$MSG"

echo "# fail closed: the proxy is gone, new flows are dropped"
kill -KILL "$PROXY_PID"
wait "$PROXY_PID" 2>/dev/null || true
# Its verdict process dies with it (parent-death signal).
eventually "the verdict process is gone with the proxy" no_verdicts
udp "$B"
check "without the proxy, UDP is dropped (fail closed)" not_received "$MSG"
check "without the proxy, TCP to the excluded port is dropped" \
    tcp_refused "$B"

echo "# weft-init --l4-fail-open: with no reader, flows pass"
in_ns "$SRV" "$WEFT_INIT" --l4-queue 7 --l4-fail-open \
    --exclude-inbound-ports 5432 >>"$T/init.log" 2>&1
check "the NFQUEUE rules carry --queue-bypass" sh -c \
    "ip netns exec '$SRV' iptables-save -t mangle | grep -q -- '--queue-bypass'"
udp "$A"
check "fail open: UDP passes with no proxy" received "$MSG"
check "fail open: TCP passes with no proxy" tcp_ok "$A"

e2e_done
