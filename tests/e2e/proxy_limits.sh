#!/bin/bash
# Bounds a sidecar keeps: memory with a slow reader (back-pressure), the
# header and idle timeouts, and the connection limit.
. "$(dirname "$0")/lib.sh"
e2e_init
command -v python3 >/dev/null || skip "needs python3"

mesh_pod srv 198.18.5.2
SRV=$POD
SRV_PROXY=$PROXY_PID
bg "$SRV" backend "$WEFT_TESTD" --listen 0.0.0.0:8080 --name srv
wait_listen "$SRV" 8080
pod_new cli 198.18.5.1
CLI=$POD
in_ns "$CLI" "$WEFT_INIT" >"$T/init-cli.log" 2>&1
proxy_start "$CLI" cli --header-timeout 1s --idle-timeout 2s --max-connections 2
CLI_PROXY=$PROXY_PID

# A slow reader of a 200 MiB response: both sidecars stop reading their
# upstream instead of buffering it.
cat >"$T/slow.py" <<'PY'
import socket, sys, time
s = socket.create_connection(("198.18.5.2", 8080), timeout=20)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
s.sendall(b"GET /bytes/209715200 HTTP/1.1\r\nHost: srv\r\n\r\n")
got = 0
while got < 1 << 20:
    got += len(s.recv(65536))
open(sys.argv[1], "w").write("paused\n")
time.sleep(3)
print("read", got)
PY
in_ns "$CLI" timeout 20 python3 "$T/slow.py" "$T/paused" >"$T/slow.out" 2>&1 &
job=$!
for _ in $(seq 1 100); do
	[ -f "$T/paused" ] && break
	sleep 0.1
done
sleep 1.5
for pid in "$CLI_PROXY" "$SRV_PROXY"; do
	rss=$(awk '/^VmRSS/ {print $2}' "/proc/$pid/status")
	check "sidecar $pid holds ${rss} KiB with a stalled 200 MiB response (< 16 MiB + $MEM_SLACK_KIB KiB sanitizer slack)" \
	    test "$rss" -lt $((16384 + MEM_SLACK_KIB))
done
wait "$job" || true

# A request head that never ends gets 408 after --header-timeout.
reply=$(raw "$CLI" 198.18.5.2 8080 'GET / HTTP/1.1\r\nHost: srv\r\n')
expect_eq "incomplete head answered 408 after the header timeout" 408 \
    "$(printf '%s' "$reply" | head -n 1 | awk '{print $2}')"

# An idle keep-alive connection is closed after --idle-timeout.
cat >"$T/idle.py" <<'PY'
import socket, time
s = socket.create_connection(("198.18.5.2", 8080), timeout=10)
s.sendall(b"GET / HTTP/1.1\r\nHost: srv\r\n\r\n")
buf = b""
while b"\r\n\r\n" not in buf:
    buf += s.recv(4096)
t = time.time()
while s.recv(65536):
    pass
print("closed after %d s" % round(time.time() - t))
PY
expect_eq "idle keep-alive connection closed by the idle timeout" \
    "closed after 2 s" "$(in_ns "$CLI" timeout 10 python3 "$T/idle.py")"

# With --max-connections 2, a third client waits until a slot frees up.
cat >"$T/limit.py" <<'PY'
import socket, time
a = socket.create_connection(("198.18.5.2", 8080), timeout=10)
b = socket.create_connection(("198.18.5.2", 8080), timeout=10)
time.sleep(0.3)
c = socket.create_connection(("198.18.5.2", 8080), timeout=10)
c.settimeout(1.0)
c.sendall(b"GET /third HTTP/1.1\r\nHost: srv\r\n\r\n")
try:
    c.recv(100)
    print("served at once")
except socket.timeout:
    a.close()
    c.settimeout(5.0)
    print("waited, then", c.recv(12).decode())
PY
expect_eq "a third connection waits for a free slot" "waited, then HTTP/1.1 200" \
    "$(in_ns "$CLI" timeout 15 python3 "$T/limit.py")"

e2e_done
