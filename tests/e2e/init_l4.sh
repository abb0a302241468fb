#!/bin/sh
# weft-init --l4-queue: the first packet of UDP flows, and of TCP
# connections to excluded ports, goes to the NFQUEUE; the queue fails
# closed (no --queue-bypass), so with no proxy reading it they are
# dropped, while the proxy uid's own traffic passes. --cleanup removes
# the mangle rules again.
. "$(dirname "$0")/lib.sh"

e2e_init
[ -x "$WEFT_INIT" ] || skip "weft-init not built"
PY=$(command -v python3 || true)
[ -x /usr/bin/python3 ] && PY=/usr/bin/python3
[ -n "$PY" ] || skip "needs python3"
command -v setpriv >/dev/null || skip "needs setpriv"

# udp_recv.py PORT: prints each datagram received on PORT, one a line.
cat >"$T/udp_recv.py" <<'EOF'
import socket, sys

s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("0.0.0.0", int(sys.argv[1])))
while True:
    data, _ = s.recvfrom(512)
    print(data.decode(errors="replace"), flush=True)
EOF
# udp_send.py ADDR PORT TEXT: sends one datagram (a refused send is fine).
cat >"$T/udp_send.py" <<'EOF'
import socket, sys

s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
try:
    s.sendto(sys.argv[3].encode(), (sys.argv[1], int(sys.argv[2])))
except OSError:
    pass
EOF
mkdir "$T/www"

pod_new app 198.18.0.1
APP=$POD
pod_new srv 198.18.0.2
SRV=$POD

bg "$SRV" udp "$PY" "$T/udp_recv.py" 5353
bg "$SRV" tcp "$PY" -m http.server 5432 --directory "$T/www"
wait_listen "$SRV" 5432
for _ in $(seq 1 100); do
	in_ns "$SRV" ss -Hlun "sport = :5353" | grep -q . && break
	sleep 0.1
done

as_proxy() {
	in_ns "$APP" setpriv --reuid "$PROXY_UID" --regid "$PROXY_UID" \
	    --clear-groups "$@"
}
# received TEXT: waits up to 5 s for TEXT to arrive at the UDP server.
received() {
	for _ in $(seq 1 50); do
		grep -qx "$1" "$T/udp.log" && return 0
		sleep 0.1
	done
	return 1
}
tcp_ok() {
	"$@" curl -s -o /dev/null --max-time 2 http://198.18.0.2:5432/
}

in_ns "$APP" "$WEFT_INIT" --l4-queue 7 --exclude-outbound-ports 5432 \
    2>"$T/init.log"
S=$(in_ns "$APP" iptables-save -t mangle)
for rule in '-A PREROUTING -j WEFT_L4_INBOUND' '-A OUTPUT -j WEFT_L4_OUTPUT' \
    '-A WEFT_L4_OUTPUT -m owner --uid-owner 1337 -j RETURN' \
    '-A WEFT_L4_OUTPUT -p udp -j WEFT_L4_QUEUE' \
    '-A WEFT_L4_OUTPUT -p tcp -m tcp --dport 5432 -j WEFT_L4_QUEUE' \
    '-A WEFT_L4_INBOUND -p udp -j WEFT_L4_QUEUE' \
    '-A WEFT_L4_INBOUND -m connmark --mark 0x1000/0x1000 -j RETURN' \
    '-A WEFT_L4_QUEUE -j CONNMARK --set-xmark 0x1000/0x1000' \
    '-A WEFT_L4_QUEUE -j NFQUEUE --queue-num 7'; do
	expect_eq "mangle rule: $rule" 1 "$(echo "$S" | grep -cxF -- "$rule" || true)"
done
expect_eq "fail closed: no --queue-bypass" 0 \
    "$(echo "$S" | grep -c 'queue-bypass' || true)"
expect_eq "IPv6 too" 1 \
    "$(in_ns "$APP" ip6tables-save -t mangle | grep -cxF -- '-A WEFT_L4_QUEUE -j NFQUEUE --queue-num 7' || true)"

in_ns "$APP" "$PY" "$T/udp_send.py" 198.18.0.2 5353 from-root
as_proxy "$PY" "$T/udp_send.py" 198.18.0.2 5353 from-proxy
check "UDP of the proxy uid passes" received from-proxy
check "UDP with nobody on the queue is dropped" sh -c \
    "! grep -qx from-root '$T/udp.log'"
check "TCP to an excluded port of the proxy uid passes" tcp_ok as_proxy
check "TCP to an excluded port with nobody on the queue is dropped" \
    sh -c "! ip netns exec '$APP' curl -s -o /dev/null --max-time 2 http://198.18.0.2:5432/"

in_ns "$APP" "$WEFT_INIT" --cleanup 2>>"$T/init.log"
expect_eq "cleanup removes the mangle rules" 0 \
    "$(in_ns "$APP" iptables-save | grep -c WEFT_ || true)"
in_ns "$APP" "$PY" "$T/udp_send.py" 198.18.0.2 5353 after-cleanup
check "after cleanup UDP passes" received after-cleanup
check "after cleanup TCP passes" tcp_ok in_ns "$APP"

e2e_done
