#!/bin/sh
# Real traffic through weft-init's rules: in the app pod, outgoing TCP of
# root lands on port 15001 with its original destination intact, the
# proxy uid's goes straight out, excluded ports and CIDRs are left
# alone, and incoming TCP lands on port 15006 except on excluded ports.
# IPv4 and IPv6. --cleanup gives the direct path back.
. "$(dirname "$0")/lib.sh"

e2e_init
[ -x "$WEFT_INIT" ] || skip "weft-init not built"
PY=$(command -v python3 || true)
[ -x /usr/bin/python3 ] && PY=/usr/bin/python3
[ -n "$PY" ] || skip "needs python3"
command -v setpriv >/dev/null || skip "needs setpriv"

# listen.py PORT LABEL: answers each HTTP request on PORT (IPv4 and IPv6)
# with "LABEL ORIGINAL-DESTINATION"; the original destination is what
# SO_ORIGINAL_DST (IP6T_SO_ORIGINAL_DST) says, "-" when it is the
# listener's own address (not redirected) or unknown (no conntrack).
cat >"$T/listen.py" <<'EOF'
import selectors, socket, struct, sys

SO_ORIGINAL_DST = 80
port, label = int(sys.argv[1]), sys.argv[2]
sel = selectors.DefaultSelector()
for fam, addr in ((socket.AF_INET, "0.0.0.0"), (socket.AF_INET6, "::")):
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if fam == socket.AF_INET6:
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
    s.bind((addr, port))
    s.listen(16)
    sel.register(s, selectors.EVENT_READ)


def original_dst(c):
    try:
        if c.family == socket.AF_INET:
            raw = c.getsockopt(socket.SOL_IP, SO_ORIGINAL_DST, 16)
            addr = socket.inet_ntop(socket.AF_INET, raw[4:8])
            p = struct.unpack("!H", raw[2:4])[0]
            text = "%s:%d" % (addr, p)
        else:
            raw = c.getsockopt(socket.IPPROTO_IPV6, SO_ORIGINAL_DST, 28)
            addr = socket.inet_ntop(socket.AF_INET6, raw[8:24])
            p = struct.unpack("!H", raw[2:4])[0]
            text = "[%s]:%d" % (addr, p)
    except OSError:
        return "-"
    local = c.getsockname()
    return "-" if (addr, p) == (local[0], local[1]) else text


while True:
    for key, _ in sel.select():
        c, _ = key.fileobj.accept()
        c.settimeout(3)
        try:
            req = b""
            while b"\r\n\r\n" not in req:
                chunk = c.recv(4096)
                if not chunk:
                    break
                req += chunk
            body = ("%s %s\n" % (label, original_dst(c))).encode()
            c.sendall(b"HTTP/1.0 200 OK\r\nContent-Length: %d\r\n"
                      b"Connection: close\r\n\r\n%s" % (len(body), body))
        except OSError:
            pass
        c.close()
EOF

pod_new app 198.18.0.1
APP=$POD
pod_new srv 198.18.0.2 198.18.0.5
SRV=$POD
pod_new cli 198.18.0.3
CLI=$POD
ip -n "$APP" addr add fd00:18::1/64 dev eth0 nodad
ip -n "$SRV" addr add fd00:18::2/64 dev eth0 nodad
ip -n "$CLI" addr add fd00:18::3/64 dev eth0 nodad

for p in 15001 15006; do
	bg "$APP" "proxy-$p" "$PY" "$T/listen.py" "$p" "proxy-$p"
done
for p in 8080 9090 15020; do
	bg "$APP" "app-$p" "$PY" "$T/listen.py" "$p" app
done
for p in 80 5432; do
	bg "$SRV" "srv-$p" "$PY" "$T/listen.py" "$p" srv
done
for p in 15001 15006 8080 9090 15020; do
	wait_listen "$APP" "$p"
done
wait_listen "$SRV" 80
wait_listen "$SRV" 5432

# get NS URL [as-proxy]: the body of an HTTP GET, or "failed".
get() {
	if [ "${3:-}" = proxy ]; then
		in_ns "$1" setpriv --reuid "$PROXY_UID" --regid "$PROXY_UID" \
		    --clear-groups curl -sS --max-time 3 "$2" 2>/dev/null ||
		    echo failed
	else
		in_ns "$1" curl -sS --max-time 3 "$2" 2>/dev/null || echo failed
	fi
}

expect_eq "before: app reaches the server directly" "srv -" \
    "$(get "$APP" http://198.18.0.2/)"

in_ns "$APP" "$WEFT_INIT" --exclude-inbound-ports 9090 \
    --exclude-outbound-ports 5432 \
    --exclude-outbound-cidrs 198.18.0.5/32 2>"$T/init.log"

expect_eq "outbound: root is redirected to 15001" "proxy-15001 198.18.0.2:80" \
    "$(get "$APP" http://198.18.0.2/)"
expect_eq "outbound: the proxy uid is not redirected" "srv -" \
    "$(get "$APP" http://198.18.0.2/ proxy)"
expect_eq "outbound: excluded port is not redirected" "srv -" \
    "$(get "$APP" http://198.18.0.2:5432/)"
expect_eq "outbound: excluded CIDR is not redirected" "srv -" \
    "$(get "$APP" http://198.18.0.5/)"
expect_eq "outbound: app to its own loopback is not redirected" "app -" \
    "$(get "$APP" http://127.0.0.1:8080/)"
expect_eq "outbound IPv6: root is redirected to 15001" \
    "proxy-15001 [fd00:18::2]:80" "$(get "$APP" 'http://[fd00:18::2]/')"
expect_eq "outbound IPv6: the proxy uid is not redirected" "srv -" \
    "$(get "$APP" 'http://[fd00:18::2]/' proxy)"

expect_eq "inbound: redirected to 15006" "proxy-15006 198.18.0.1:8080" \
    "$(get "$CLI" http://198.18.0.1:8080/)"
expect_eq "inbound: excluded port reaches the app" "app -" \
    "$(get "$CLI" http://198.18.0.1:9090/)"
expect_eq "inbound: the proxy's own ports are not captured" "app -" \
    "$(get "$CLI" http://198.18.0.1:15020/)"
expect_eq "inbound IPv6: redirected to 15006" "proxy-15006 [fd00:18::1]:8080" \
    "$(get "$CLI" 'http://[fd00:18::1]:8080/')"
# The proxy calling its own pod address goes through the inbound side.
expect_eq "proxy to its own pod address goes inbound" \
    "proxy-15006 198.18.0.1:8080" "$(get "$APP" http://198.18.0.1:8080/ proxy)"

in_ns "$APP" "$WEFT_INIT" --cleanup 2>>"$T/init.log"
expect_eq "after cleanup: direct again" "srv -" "$(get "$APP" http://198.18.0.2/)"
expect_eq "after cleanup: inbound direct again" "app -" \
    "$(get "$CLI" http://198.18.0.1:8080/)"

e2e_done
