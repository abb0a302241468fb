#!/bin/bash
# The sidecar's life: worker threads, SIGHUP reopening the access log,
# SIGTERM draining (idle connections closed, in-flight requests finished,
# no new connections, exit 0), and the drain deadline.
. "$(dirname "$0")/lib.sh"
e2e_init
command -v python3 >/dev/null || skip "needs python3"

mesh_pod srv 198.18.4.2
SRV=$POD
bg "$SRV" backend "$WEFT_TESTD" --listen 0.0.0.0:8080 --name srv
wait_listen "$SRV" 8080
pod_new cli 198.18.4.1
CLI=$POD
in_ns "$CLI" "$WEFT_INIT" >"$T/init-cli.log" 2>&1
proxy_start "$CLI" cli --threads 2
CLI_PROXY=$PROXY_PID
URL=http://198.18.4.2:8080

# Two workers: 40 client connections of 5 requests each all succeed.
for i in $(seq 1 40); do
	in_ns "$CLI" curl -s --max-time 10 -o /dev/null -w '%{http_code}\n' \
	    "$URL/t$i/[1-5]" &
done >"$T/codes"
wait_jobs=$(jobs -p)
for j in $wait_jobs; do
	case " $E2E_PIDS " in *" $j "*) ;; *) wait "$j" || true ;; esac
done
expect_eq "200 requests over 40 connections with 2 workers" 200 \
    "$(grep -c '^200$' "$T/codes")"
expect_eq "metrics summed over workers" 200 \
    "$(metric "$CLI" weft_requests_total reporter=source response_code=200)"
expect_eq "the proxy runs main + 2 worker threads" 3 \
    "$(ls "/proc/$CLI_PROXY/task" | wc -l)"

# SIGHUP reopens the access log (after a rotation by mv).
mv "$T/px/cli.access" "$T/px/cli.access.1"
kill -HUP "$CLI_PROXY"
eventually "a new access log file appears" test -f "$T/px/cli.access"
in_ns "$CLI" curl -s --max-time 5 -o /dev/null "$URL/after-hup"
eventually "the next request is logged in the new file" \
    grep -q '"path":"/after-hup"' "$T/px/cli.access"

# SIGTERM drains: an idle keep-alive connection is closed, a slow request
# in flight finishes, new connections are refused, and the exit is clean.
cat >"$T/idle.py" <<'PY'
import socket, time
s = socket.create_connection(("198.18.4.2", 8080), timeout=10)
s.sendall(b"GET /idle HTTP/1.1\r\nHost: srv\r\n\r\n")
buf = b""
while b"\r\n\r\n" not in buf:
    buf += s.recv(4096)
t = time.time()
rest = s.recv(65536)
while rest:
    rest = s.recv(65536)
print("closed after %.1fs" % (time.time() - t) if time.time() - t < 8 else "not closed")
PY
in_ns "$CLI" timeout 15 python3 "$T/idle.py" >"$T/idle.out" 2>&1 &
idle_job=$!
in_ns "$CLI" curl -s --max-time 10 -o /dev/null -w '%{http_code}' \
    "$URL/delay/1500" >"$T/slow.out" 2>&1 &
slow_job=$!
sleep 0.5
kill -TERM "$CLI_PROXY"
sleep 0.2
rc=0
in_ns "$CLI" curl -s --max-time 3 -o /dev/null "$URL/new-during-drain" || rc=$?
expect_eq "a new connection during the drain is refused (curl exit 7)" 7 "$rc"
wait "$slow_job" || true
expect_eq "the request in flight finished with 200" 200 "$(cat "$T/slow.out")"
wait "$idle_job" || true
check "the idle keep-alive connection was closed by the drain" \
    grep -q '^closed after' "$T/idle.out"
rc=0
wait "$CLI_PROXY" || rc=$?
expect_eq "weft-proxy exits 0 after draining" 0 "$rc"

# The drain deadline closes what is still open.
proxy_start "$CLI" cli2 --drain-timeout 1s
CLI_PROXY=$PROXY_PID
in_ns "$CLI" curl -s --max-time 10 -o /dev/null "$URL/delay/8000" &
slow_job=$!
sleep 0.5
start=$(date +%s%N)
kill -TERM "$CLI_PROXY"
rc=0
wait "$CLI_PROXY" || rc=$?
took=$((($(date +%s%N) - start) / 1000000))
expect_eq "exit 0 at the drain deadline" 0 "$rc"
check "the deadline was kept (${took} ms)" test "$took" -lt 3000
check "the deadline is logged" grep -q 'drain deadline reached' "$T/proxy-cli2.log"
wait "$slow_job" || true

e2e_done
