#!/bin/bash
# l4-bench.sh: what the L4 policy queue costs UDP traffic.  Run by
# `make bench-l4` (root); see bench/README.
#
#   lb-cli-PID 198.18.1.1/24  ==veth==  lb-srv-PID 198.18.1.2/24
#   python3 load (UDP)                  UDP receiver :5300 (python3)
#                                       mode queue: weft-init --l4-queue 9,
#                                       weft-proxy --l4-queue 9, an ALLOW
#                                       AuthorizationPolicy by ipBlocks
#
# Three modes: direct (no rules at all in the server pod), init (weft-init
# without --l4-queue: conntrack and the nat capture rules, what a mesh
# pod pays anyway) and queue (weft-init and weft-proxy --l4-queue).
# Two figures per mode, each run ROUNDS times (modes alternate):
#   packets/s  one flow, as many datagrams as one sender makes in
#              DURATION s, counted at the receiver (only the packets sent
#              before the first verdict are queued);
#   flows/s    FLOWS request/response exchanges, each from a new socket
#              bound to its own source port (a new conntrack flow, so each
#              one is queued and judged), one at a time.
# Everything stays in the two namespaces made here (no route out); every
# wait is bounded; the EXIT trap stops what this script started (by PID)
# and deletes its namespaces, with their conntrack entries.
if [ -z "${BASH_VERSION:-}" ]; then exec bash "$0" "$@"; fi
set -eu
set -o pipefail

ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-3}
FLOWS=${FLOWS:-5000}
QUEUE=9
PROXY_UID=1337
WEFT_BUILDDIR=${WEFT_BUILDDIR:-}
REPORT_FILE=${REPORT_FILE:-}
NS_CLI=lb-cli-$$
NS_SRV=lb-srv-$$
VETH_CLI=lbc$$
VETH_SRV=lbs$$
CLI_IP=198.18.1.1
SRV_IP=198.18.1.2
PORT=5300

RUNDIR=""
NS_MADE=""
PIDS=()
PX_PID=""

usage() {
	cat <<EOF
usage: l4-bench.sh [-q] [-o REPORT]
  -q         quick: 1 round, 1 s, 1000 flows
  -o REPORT  append the table to REPORT (a Markdown file)
environment: WEFT_BUILDDIR (the build tree), ROUNDS, DURATION, FLOWS
EOF
}

die() {
	printf 'l4-bench: %s\n' "$*" >&2
	exit 1
}

in_ns() {
	local ns=$1
	shift
	ip netns exec "$ns" "$@"
}

stop_pid() {
	kill -TERM "$1" 2>/dev/null || true
	wait "$1" 2>/dev/null || true
}

cleanup() {
	local rc=$? pid ns
	trap - EXIT INT TERM HUP
	set +e
	for pid in ${PIDS[@]+"${PIDS[@]}"}; do
		stop_pid "$pid"
	done
	for ns in $NS_MADE; do
		for pid in $(ip netns pids "$ns" 2>/dev/null); do
			kill -KILL "$pid" 2>/dev/null
		done
		ip netns del "$ns" 2>/dev/null
	done
	[ -z "$RUNDIR" ] || rm -rf -- "$RUNDIR"
	exit "$rc"
}

while getopts ':o:qh' opt; do
	case $opt in
	o) REPORT_FILE=$OPTARG ;;
	q) ROUNDS=1 DURATION=1 FLOWS=1000 ;;
	h) usage; exit 0 ;;
	*) usage >&2; exit 2 ;;
	esac
done
for v in ROUNDS DURATION FLOWS; do
	[[ ${!v} =~ ^[0-9]+$ ]] || die "$v must be a number"
done
((ROUNDS >= 1 && ROUNDS <= 5)) || die "ROUNDS must be 1..5"
((DURATION >= 1 && DURATION <= 10)) || die "DURATION must be 1..10 s"
((FLOWS >= 100 && FLOWS <= 20000)) || die "FLOWS must be 100..20000"  # ports 20000-39999
[ "$(id -u)" = 0 ] || die "must run as root (network namespaces, iptables)"
[ -n "$WEFT_BUILDDIR" ] || die "set WEFT_BUILDDIR (make bench-l4 does)"
PROXY=$WEFT_BUILDDIR/src/proxy/weft-proxy
INIT=$WEFT_BUILDDIR/src/init/weft-init
CTL=$WEFT_BUILDDIR/src/ctl/weftctl
for f in "$PROXY" "$INIT" "$CTL"; do
	[ -x "$f" ] || die "$f is not built"
done
for c in ip iptables python3 setpriv timeout; do
	command -v "$c" >/dev/null || die "missing command: $c"
done

trap cleanup EXIT
trap 'exit 130' INT TERM HUP
RUNDIR=$(mktemp -d -t weft-l4-bench.XXXXXX)
chmod 755 "$RUNDIR"

cat >"$RUNDIR/udp.py" <<'EOF'
import socket, sys, time

def recv(port):
    # Counts datagrams; answers "f..." (a flow) and "count" (the total).
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    s.bind(("0.0.0.0", port))
    n = 0
    while True:
        data, peer = s.recvfrom(64)
        if data == b"count":
            s.sendto(str(n).encode(), peer)
            n = 0
            continue
        n += 1
        if data[:1] == b"f":
            s.sendto(data, peer)

def blast(addr, port, secs):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    payload = b"p" * 32
    sent = 0
    end = time.monotonic() + secs
    while time.monotonic() < end:
        for _ in range(256):
            try:
                s.sendto(payload, (addr, port))
                sent += 1
            except OSError:
                pass
    time.sleep(0.5)
    print(sent, ask_count(addr, port) / secs)

def ask_count(addr, port):
    for _ in range(10):
        q = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        q.settimeout(0.5)
        q.sendto(b"count", (addr, port))
        try:
            return int(q.recv(64))
        except socket.timeout:
            continue
        finally:
            q.close()
    return 0

def flows(addr, port, n, src):
    ok = 0
    t0 = time.monotonic()
    for i in range(n):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.settimeout(0.5)
        try:
            s.bind((src, 20000 + i))
            s.sendto(b"f%d" % i, (addr, port))
            s.recv(64)
            ok += 1
        except OSError:
            pass
        s.close()
    dt = time.monotonic() - t0
    ask_count(addr, port)
    print(ok, ok / dt, dt / n * 1e6)

cmd = sys.argv[1]
if cmd == "recv":
    recv(int(sys.argv[2]))
elif cmd == "blast":
    blast(sys.argv[2], int(sys.argv[3]), float(sys.argv[4]))
else:
    flows(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5])
EOF

for ns in "$NS_CLI" "$NS_SRV"; do
	ip netns add "$ns"
	NS_MADE="$NS_MADE $ns"
	ip -n "$ns" link set lo up
done
ip link add "$VETH_CLI" netns "$NS_CLI" type veth peer name "$VETH_SRV" netns "$NS_SRV"
ip -n "$NS_CLI" addr add "$CLI_IP/24" dev "$VETH_CLI"
ip -n "$NS_SRV" addr add "$SRV_IP/24" dev "$VETH_SRV"
# One source address per run, so that no flow of a run finds the
# conntrack entry of an earlier run's flow with the same ports.
for ((i = 0; i < ROUNDS * 3; i++)); do
	ip -n "$NS_CLI" addr add "198.18.1.$((10 + i))/24" dev "$VETH_CLI"
done
ip -n "$NS_CLI" link set "$VETH_CLI" up
ip -n "$NS_SRV" link set "$VETH_SRV" up

# Started with ip netns exec itself (which execs), so that $! is the
# process to stop, not a subshell.
ip netns exec "$NS_SRV" python3 "$RUNDIR/udp.py" recv "$PORT" \
    >"$RUNDIR/recv.log" 2>&1 &
PIDS+=("$!")
for _ in $(seq 1 50); do
	[ -z "$(in_ns "$NS_SRV" ss -Hlun "sport = :$PORT")" ] || break
	sleep 0.1
done

cat >"$RUNDIR/policy.yaml" <<EOF
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: bench-l4, namespace: bench}
spec:
  selector: {matchLabels: {app: srv}}
  action: ALLOW
  rules:
  - from: [{source: {ipBlocks: ["198.18.1.0/24"]}}]
    to: [{operation: {ports: ["$PORT"]}}]
EOF
"$CTL" --db "$RUNDIR/srv.db" apply -f "$RUNDIR/policy.yaml" >"$RUNDIR/apply.log" 2>&1 ||
	die "weftctl apply failed: $(cat "$RUNDIR/apply.log")"
chmod 644 "$RUNDIR/srv.db"

mode_queue_on() {
	in_ns "$NS_SRV" "$INIT" --l4-queue "$QUEUE" >"$RUNDIR/init.log" 2>&1
	ip netns exec "$NS_SRV" "$PROXY" --uid "$PROXY_UID" --workload srv \
	    --namespace bench --labels app=srv --db "$RUNDIR/srv.db" \
	    --access-log off --l4-queue "$QUEUE" >"$RUNDIR/proxy.log" 2>&1 &
	PX_PID=$!
	PIDS+=("$PX_PID")
	for _ in $(seq 1 100); do
		! in_ns "$NS_SRV" curl -sf -o /dev/null --max-time 1 \
		    http://127.0.0.1:15020/ready || return 0
		kill -0 "$PX_PID" 2>/dev/null || break
		sleep 0.1
	done
	cat "$RUNDIR/proxy.log" >&2
	die "weft-proxy did not become ready"
}

mode_init_on() {
	in_ns "$NS_SRV" "$INIT" >"$RUNDIR/init.log" 2>&1
}

mode_init_off() {
	in_ns "$NS_SRV" "$INIT" --cleanup >>"$RUNDIR/init.log" 2>&1
}

mode_queue_off() {
	local p
	local -a keep=()
	stop_pid "$PX_PID"
	! kill -0 "$PX_PID" 2>/dev/null || die "weft-proxy $PX_PID did not stop"
	for p in "${PIDS[@]}"; do
		[ "$p" = "$PX_PID" ] || keep+=("$p")
	done
	PIDS=("${keep[@]}")
	in_ns "$NS_SRV" "$INIT" --cleanup >>"$RUNDIR/init.log" 2>&1
}

l4_metric() {
	in_ns "$NS_SRV" curl -s --max-time 5 http://127.0.0.1:15020/metrics |
	    awk -v m="$1" 'index($0, m) == 1 { print $NF }'
}

declare -A PPS FPS FUS
MODES=(direct init queue)
for m in "${MODES[@]}"; do
	PPS[$m]="" FPS[$m]="" FUS[$m]=""
done
run=0
for ((r = 1; r <= ROUNDS; r++)); do
	for m in "${MODES[@]}"; do
		src=198.18.1.$((10 + run))
		run=$((run + 1))
		case $m in
		init) mode_init_on ;;
		queue) mode_queue_on ;;
		esac
		read -r _ pps < <(in_ns "$NS_CLI" timeout $((DURATION + 20)) \
		    python3 "$RUNDIR/udp.py" blast "$SRV_IP" "$PORT" "$DURATION")
		if [ "$m" = queue ]; then
			blast_verdicts=$(l4_metric 'weft_l4_verdicts_total{verdict="accept"}')
		fi
		read -r ok fps us < <(in_ns "$NS_CLI" timeout $((FLOWS / 50 + 60)) \
		    python3 "$RUNDIR/udp.py" flows "$SRV_IP" "$PORT" "$FLOWS" "$src")
		[ "$ok" = "$FLOWS" ] || die "$m: $ok of $FLOWS flows answered"
		if [ "$m" = queue ]; then
			accepted=$(l4_metric 'weft_l4_verdicts_total{verdict="accept"}')
			accepted=$((accepted - blast_verdicts))
			printf 'queue: %s verdicts for the one-flow run, %s for %s flows\n' \
			    "$blast_verdicts" "$accepted" "$FLOWS"
			((accepted >= FLOWS)) ||
			    die "queue: only $accepted verdicts for $FLOWS flows"
			mode_queue_off
		fi
		[ "$m" != init ] || mode_init_off
		PPS[$m]="${PPS[$m]} $(printf '%.0f' "$pps")"
		FPS[$m]="${FPS[$m]} $(printf '%.0f' "$fps")"
		FUS[$m]="${FUS[$m]} $(printf '%.1f' "$us")"
		printf 'round %d %-6s %9.0f packets/s %8.0f flows/s (%.1f us/flow)\n' \
		    "$r" "$m" "$pps" "$fps" "$us"
	done
done

median() {
	tr ' ' '\n' | grep . | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'
}
row() { # LABEL ARRAY-NAME
	local -n a=$2
	printf '%-28s %12s %12s %12s\n' "$1" "$(echo "${a[direct]}" | median)" \
	    "$(echo "${a[init]}" | median)" "$(echo "${a[queue]}" | median)"
}
TABLE=$(
	printf '%-28s %12s %12s %12s\n' "" "no rules" "capture" "L4 queue"
	row "UDP packets/s, one flow" PPS
	row "new UDP flows/s (req/resp)" FPS
	row "us per new flow" FUS
)
printf '\n%s\n' "$TABLE"
if [ -n "$REPORT_FILE" ]; then
	{
		printf '\n# L4 policy queue (make bench-l4)\n\n'
		printf '%s UTC, %s rounds (medians), %s s of packets, %s flows a run, python3 load, %s CPUs shared with other work:\n\n' \
		    "$(date -u '+%Y-%m-%d %H:%M')" "$ROUNDS" "$DURATION" "$FLOWS" "$(nproc)"
		fence=$(printf '\140%.0s' 1 2 3)
		printf '%s\n%s\n%s\n' "$fence" "$TABLE" "$fence"
	} >>"$REPORT_FILE"
	printf 'appended to %s\n' "$REPORT_FILE"
fi
