#!/bin/bash
# weft-bench.sh: what a weft-proxy sidecar pair costs an HTTP/1.1 request
# path, measured against the direct path and a HAProxy sidecar pair in the
# same position.  Run by `make bench` (root); see bench/README.
#
#   wb-cli-PID 198.18.0.1/24 (CPU 0)   ==veth==   wb-srv-PID 198.18.0.2/24 (CPU 1)
#   wrk -> nat OUTPUT REDIRECT :15001          nat PREROUTING REDIRECT :15006
#          client sidecar (uid 1337)  ------>  server sidecar (uid 1337)
#          -> original destination             -> 127.0.0.1:8080 backend
#
# Every mode runs once per round (order rotated), sidecars restarted each
# time.  All traffic stays in the two namespaces created here, which have no
# route out; every load run and wait is bounded; the EXIT trap stops what
# this script started (by PID) and deletes its namespaces.
if [ -z "${BASH_VERSION:-}" ]; then exec bash "$0" "$@"; fi
set -eu
set -o pipefail

ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-10}
WARMUP=${WARMUP:-2}
CONNS=16
LAT_CONNS=1
CLI_CPU=${CLI_CPU-0}
SRV_CPU=${SRV_CPU-1}
PROXY_UID=1337
BACKEND_UID=65534
BACKEND=${BACKEND:-auto}
READY_TIMEOUT=10
WEFT_PROXY=${WEFT_PROXY:-}
WEFT_TESTD=${WEFT_TESTD:-}
WEFT_ARGS=${WEFT_ARGS:-}
REPORT_FILE=${REPORT_FILE:-}
KEEP=0

NS_CLI=wb-cli-$$
NS_SRV=wb-srv-$$
VETH_CLI=wbc$$
VETH_SRV=wbs$$
CLI_IP=198.18.0.1
SRV_IP=198.18.0.2
APP_PORT=8080
OUT_PORT=15001
IN_PORT=15006
READY_PORT=15020
STATUS_PORT=8081
URL=http://$SRV_IP:$APP_PORT/
LOCK_FILE=/run/lock/weft-bench.lock

RUNDIR=""
NS_MADE=""
PROCS=()        # "pid:starttime" of every process started here
LAST_PID=""
PX_CLI=""
PX_SRV=""
IDLE_CLI=-
IDLE_SRV=-
EXPECT=""
CLK_TCK=100
NOTES=()
RUN_FAILED=0

usage() {
	cat <<EOF
Usage: ${0##*/} [-q] [-r ROUNDS] [-d SEC] [-w SEC] [-b nginx|testd] [-P] [-k] [-o FILE] [MODE...]

MODE: direct haproxy weft (default: all three), run interleaved.
  -r N     rounds (default 3)              -d SEC  seconds per measured run (10)
  -w SEC   warm-up seconds per mode (2)    -q      quick: 1 round, 2 s runs
  -b KIND  backend: nginx or testd (default: nginx when installed)
  -P       no CPU pinning                  -k      keep the run directory
  -o FILE  also write the summary to FILE
Environment: WEFT_PROXY, WEFT_TESTD (paths of the binaries), WEFT_ARGS
(extra weft-proxy options, e.g. '--threads 2'), CLI_CPU/SRV_CPU (taskset lists).
EOF
}

log() { printf '%s\n' "$*"; }
note() { log "note: $*"; NOTES+=("$*"); }
die() {
	printf 'weft-bench: %s\n' "$*" >&2
	exit 1
}
in_ns() {
	local ns=$1
	shift
	ip netns exec "$ns" "$@"
}

# stat_field PID N: field N of /proc/PID/stat (proc(5) numbering, N >= 3)
stat_field() {
	local line
	line=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	line=${line##*) }
	local -a f
	read -r -a f <<<"$line"
	printf '%s\n' "${f[$(($2 - 3))]}"
}

# ticks PID: utime + stime of the process (all its threads)
ticks() {
	local u s
	u=$(stat_field "$1" 14) || { echo 0; return; }
	s=$(stat_field "$1" 15) || { echo 0; return; }
	echo $((u + s))
}

rss_kib() {
	awk '/^VmRSS:/ { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0
}

# alive PID STARTTIME: that very process still runs
alive() {
	local st state
	st=$(stat_field "$1" 22) || return 1
	[ "$st" = "$2" ] || return 1
	state=$(stat_field "$1" 3) || return 1
	[ "$state" != Z ]
}

running() { # PID: exists and is not a zombie
	local state
	state=$(stat_field "$1" 3) && [ "$state" != Z ]
}

# start_bg NS CPUS UID DIR LOG CMD...: runs CMD as UID in NS, pinned to
# CPUS, from DIR; sets LAST_PID (ip, taskset and setpriv all exec).
start_bg() {
	local ns=$1 cpus=$2 uid=$3 dir=$4 logf=$5
	shift 5
	local -a pre=(ip netns exec "$ns")
	[ -z "$cpus" ] || pre+=(taskset -c "$cpus")
	pre+=(setpriv --reuid "$uid" --regid "$uid" --clear-groups)
	(cd "$dir" && exec "${pre[@]}" "$@" </dev/null >"$logf" 2>&1 9>&-) &
	LAST_PID=$!
	PROCS+=("$LAST_PID:$(stat_field "$LAST_PID" 22 || echo gone)")
}

# stop PID: SIGTERM, SIGKILL after 5 s, for a process started here only
stop() {
	local e st="" i
	for e in "${PROCS[@]}"; do
		[ "${e%%:*}" != "$1" ] || st=${e#*:}
	done
	[ -n "$st" ] || return 0
	if alive "$1" "$st"; then
		kill -TERM "$1" 2>/dev/null || true
		for ((i = 0; i < 50; i++)); do
			alive "$1" "$st" || break
			sleep 0.1
		done
		! alive "$1" "$st" || kill -KILL "$1" 2>/dev/null || true
	fi
	wait "$1" 2>/dev/null || true
	forget "$1"
}

forget() { # PID: drop from PROCS
	local e
	local -a keep=()
	for e in "${PROCS[@]}"; do
		[ "${e%%:*}" = "$1" ] || keep+=("$e")
	done
	PROCS=(${keep[@]+"${keep[@]}"})
}

cleanup() {
	local rc=$? i ns pid
	trap - EXIT INT TERM HUP
	set +e
	for ((i = ${#PROCS[@]} - 1; i >= 0; i--)); do
		stop "${PROCS[$i]%%:*}"
	done
	for ns in $NS_MADE; do
		# anything left in a namespace made here was started here
		for pid in $(ip netns pids "$ns" 2>/dev/null); do
			kill -KILL "$pid" 2>/dev/null
		done
		ip netns del "$ns" 2>/dev/null || printf 'weft-bench: could not delete netns %s\n' "$ns" >&2
	done
	if [ -n "$RUNDIR" ] && [ -d "$RUNDIR" ]; then
		if [ "$KEEP" = 1 ]; then
			printf 'weft-bench: run directory kept: %s\n' "$RUNDIR" >&2
		else
			rm -rf -- "$RUNDIR"
		fi
	fi
	exit "$rc"
}

# wait_port NS PORT PID NAME: bounded wait for a listener
wait_port() {
	local i
	for ((i = 0; i < READY_TIMEOUT * 10; i++)); do
		[ -z "$(in_ns "$1" ss -Hltn "sport = :$2")" ] || return 0
		running "$3" || break
		sleep 0.1
	done
	tail -n 20 "$RUNDIR/$4.log" >&2 || true
	running "$3" || die "$4 exited at start (log above)"
	die "$4 did not listen on port $2 in $1 within ${READY_TIMEOUT}s"
}

# wait_ready NS PID NAME: bounded wait for weft-proxy's /ready
wait_ready() {
	local i
	for ((i = 0; i < READY_TIMEOUT * 10; i++)); do
		! in_ns "$1" curl -sf -o /dev/null --max-time 1 \
		    "http://127.0.0.1:$READY_PORT/ready" || return 0
		running "$2" || break
		sleep 0.1
	done
	tail -n 20 "$RUNDIR/$3.log" >&2 || true
	running "$2" || die "$3 exited at start (log above)"
	die "$3: /ready on port $READY_PORT in $1 did not answer 200 within ${READY_TIMEOUT}s"
}

parse_args() {
	local opt m
	while getopts ':r:d:w:b:o:Pkqh' opt; do
		case $opt in
		r) ROUNDS=$OPTARG ;;
		d) DURATION=$OPTARG ;;
		w) WARMUP=$OPTARG ;;
		b) BACKEND=$OPTARG ;;
		o) REPORT_FILE=$OPTARG ;;
		P) CLI_CPU="" SRV_CPU="" ;;
		k) KEEP=1 ;;
		q) ROUNDS=1 DURATION=2 WARMUP=1 ;;
		h) usage; exit 0 ;;
		*) usage >&2; exit 2 ;;
		esac
	done
	shift $((OPTIND - 1))
	MODES=("$@")
	[ $# -gt 0 ] || MODES=(direct haproxy weft)
	for m in "${MODES[@]}"; do
		case $m in
		direct | haproxy | weft) ;;
		*) die "unknown mode '$m' (direct, haproxy, weft)" ;;
		esac
	done
	for m in ROUNDS DURATION WARMUP; do
		[[ ${!m} =~ ^[0-9]+$ ]] || die "$m must be a number"
	done
	((ROUNDS >= 1 && ROUNDS <= 20)) || die "ROUNDS must be 1..20"
	((DURATION >= 1 && DURATION <= 300)) || die "DURATION must be 1..300 s"
	case $BACKEND in auto | nginx | testd) ;; *) die "backend is nginx or testd" ;; esac
}

has_mode() { [[ " ${MODES[*]} " == *" $1 "* ]]; }

# can_exec UID FILE: UID may run FILE (the build tree may sit in a private home)
can_exec() {
	setpriv --reuid "$1" --regid "$1" --clear-groups test -x "$2"
}

abspath() {
	case $1 in /*) echo "$1" ;; *) echo "$PWD/$1" ;; esac
}

preflight() {
	local c
	[ "$(id -u)" = 0 ] || die "must run as root (network namespaces, iptables)"
	for c in ip iptables nft wrk curl setpriv taskset timeout flock ss awk; do
		command -v "$c" >/dev/null || die "missing command: $c"
	done
	if has_mode haproxy; then
		command -v haproxy >/dev/null || die "mode haproxy needs haproxy (apt-get install haproxy)"
	fi
	if [ "$BACKEND" = auto ]; then
		if command -v nginx >/dev/null; then
			BACKEND=nginx
		else
			BACKEND=testd
			note "nginx is not installed: backend is weft-testd (install nginx for the reference backend)"
		fi
	fi
	if [ "$BACKEND" = nginx ]; then
		command -v nginx >/dev/null || die "nginx is not installed"
	else
		[ -n "$WEFT_TESTD" ] || die "no backend: install nginx or set WEFT_TESTD"
		WEFT_TESTD=$(abspath "$WEFT_TESTD")
		can_exec "$BACKEND_UID" "$WEFT_TESTD" || die "$WEFT_TESTD is not executable by uid $BACKEND_UID"
		# its answer at / names the peer; /bytes/2 is always "ab"
		URL=${URL}bytes/2
	fi
	if has_mode weft; then
		[ -n "$WEFT_PROXY" ] || die "mode weft needs WEFT_PROXY (the weft-proxy binary)"
		WEFT_PROXY=$(abspath "$WEFT_PROXY")
		can_exec "$PROXY_UID" "$WEFT_PROXY" || die "$WEFT_PROXY is not executable by uid $PROXY_UID"
		if ldd "$WEFT_PROXY" 2>/dev/null | grep -q 'lib[at]san\|libubsan'; then
			note "weft-proxy is built with sanitizers: its figures are not representative"
		fi
	fi
	if [ -n "$CLI_CPU$SRV_CPU" ] && [ "$(nproc)" -lt 2 ]; then
		note "1 CPU: no pinning"
		CLI_CPU="" SRV_CPU=""
	fi
	CLK_TCK=$(getconf CLK_TCK)
}

setup_topology() {
	local ns
	for ns in "$NS_CLI" "$NS_SRV"; do
		ip netns add "$ns"
		NS_MADE="$NS_MADE $ns"
		ip -n "$ns" link set lo up
		in_ns "$ns" sysctl -q -w net.ipv6.conf.all.disable_ipv6=1 \
		    net.ipv6.conf.default.disable_ipv6=1 >/dev/null
	done
	ip link add "$VETH_CLI" netns "$NS_CLI" type veth peer name "$VETH_SRV" netns "$NS_SRV"
	ip -n "$NS_CLI" addr add "$CLI_IP/24" dev "$VETH_CLI"
	ip -n "$NS_SRV" addr add "$SRV_IP/24" dev "$VETH_SRV"
	ip -n "$NS_CLI" link set "$VETH_CLI" up
	ip -n "$NS_SRV" link set "$VETH_SRV" up
	for ns in "$NS_CLI" "$NS_SRV"; do
		! ip -n "$ns" route get 192.0.2.1 >/dev/null 2>&1 ||
		    die "$ns has a route out of 198.18.0.0/24"
	done
}

write_configs() {
	local role port target
	mkdir -p "$RUNDIR/backend" "$RUNDIR/wrk"
	cat >"$RUNDIR/backend/nginx.conf" <<EOF
worker_processes 1;
daemon off;
pid $RUNDIR/backend/nginx.pid;
error_log stderr warn;
events { worker_connections 4096; }
http {
	access_log off;
	keepalive_requests 1000000;
	client_body_temp_path $RUNDIR/backend/tmp;
	proxy_temp_path $RUNDIR/backend/tmp;
	fastcgi_temp_path $RUNDIR/backend/tmp;
	uwsgi_temp_path $RUNDIR/backend/tmp;
	scgi_temp_path $RUNDIR/backend/tmp;
	server {
		listen $APP_PORT;
		location / { return 200 "ok"; }
	}
	server {
		listen 127.0.0.1:$STATUS_PORT;
		location / { stub_status; }
	}
}
EOF
	chown -R "$BACKEND_UID:$BACKEND_UID" "$RUNDIR/backend"
	for role in cli srv; do
		mkdir -p "$RUNDIR/haproxy-$role" "$RUNDIR/weft-$role"
		if [ $role = cli ]; then
			# 0.0.0.0:0: the original destination (SO_ORIGINAL_DST)
			port=$OUT_PORT target=0.0.0.0:0
		else
			port=$IN_PORT target=127.0.0.1:$APP_PORT
		fi
		cat >"$RUNDIR/haproxy-$role/haproxy.cfg" <<EOF
global
	nbthread 1
	maxconn 4096
defaults
	mode http
	option http-keep-alive
	http-reuse safe
	timeout connect 2s
	timeout client 30s
	timeout server 30s
frontend in
	bind 0.0.0.0:$port
	default_backend out
backend out
	server s $target
EOF
		chown -R "$PROXY_UID:$PROXY_UID" "$RUNDIR/haproxy-$role" "$RUNDIR/weft-$role"
	done
}

start_backend() {
	local body
	if [ "$BACKEND" = nginx ]; then
		start_bg "$NS_SRV" "$SRV_CPU" "$BACKEND_UID" "$RUNDIR/backend" "$RUNDIR/backend.log" \
		    nginx -e stderr -p "$RUNDIR/backend" -c "$RUNDIR/backend/nginx.conf"
	else
		start_bg "$NS_SRV" "$SRV_CPU" "$BACKEND_UID" "$RUNDIR/backend" "$RUNDIR/backend.log" \
		    "$WEFT_TESTD" --listen "0.0.0.0:$APP_PORT"
	fi
	wait_port "$NS_SRV" "$APP_PORT" "$LAST_PID" backend
	body=$(in_ns "$NS_CLI" curl -sf --max-time 3 "$URL") || die "backend does not answer 200 at $URL"
	[ -n "$body" ] || die "backend answers an empty body at $URL"
	EXPECT=$body
}

backend_requests() { # requests the backend has answered so far
	if [ "$BACKEND" = nginx ]; then
		in_ns "$NS_SRV" curl -sf --max-time 3 "http://127.0.0.1:$STATUS_PORT/" |
		    awk 'NR == 3 { print $3 }'
	else
		in_ns "$NS_SRV" curl -sf --max-time 3 "http://127.0.0.1:$APP_PORT/stats" |
		    sed -n 's/.*"requests": *\([0-9]*\).*/\1/p'
	fi
}

redirects() { # NS CHAIN: packets that hit REDIRECT (= new connections)
	in_ns "$1" iptables -w 5 -t nat -L "$2" -n -v -x |
	    awk '$3 == "REDIRECT" { s += $1 } END { print s + 0 }'
}

nat_tables() {
	in_ns "$NS_CLI" nft list tables
	in_ns "$NS_SRV" nft list tables
}

start_sidecar() { # MODE ROLE: sets LAST_PID
	local mode=$1 role=$2 ns cpu port name
	if [ "$role" = cli ]; then
		ns=$NS_CLI cpu=$CLI_CPU port=$OUT_PORT
	else
		ns=$NS_SRV cpu=$SRV_CPU port=$IN_PORT
	fi
	name=$mode-$role
	if [ "$mode" = haproxy ]; then
		start_bg "$ns" "$cpu" "$PROXY_UID" "$RUNDIR/$name" "$RUNDIR/$name.log" \
		    haproxy -db -f "$RUNDIR/$name/haproxy.cfg"
	else
		# shellcheck disable=SC2086 # WEFT_ARGS is a list of options
		start_bg "$ns" "$cpu" "$PROXY_UID" "$RUNDIR/$name" "$RUNDIR/$name.log" \
		    "$WEFT_PROXY" --workload "bench-$role" --namespace bench \
		    --access-log off --db "$RUNDIR/$name/$role.db" $WEFT_ARGS
		wait_ready "$ns" "$LAST_PID" "$name"
	fi
	wait_port "$ns" "$port" "$LAST_PID" "$name"
}

setup_mode() {
	PX_CLI="" PX_SRV="" IDLE_CLI=- IDLE_SRV=-
	[ "$1" != direct ] || return 0
	# server side first: nothing can reach the backend around its sidecar
	start_sidecar "$1" srv
	PX_SRV=$LAST_PID
	IDLE_SRV=$(rss_kib "$PX_SRV")
	in_ns "$NS_SRV" iptables -w 5 -t nat -A PREROUTING -i "$VETH_SRV" -d "$SRV_IP" \
	    -p tcp --dport "$APP_PORT" -j REDIRECT --to-ports "$IN_PORT"
	start_sidecar "$1" cli
	PX_CLI=$LAST_PID
	IDLE_CLI=$(rss_kib "$PX_CLI")
	in_ns "$NS_CLI" iptables -w 5 -t nat -A OUTPUT -p tcp --dport "$APP_PORT" \
	    -m owner --uid-owner "$PROXY_UID" -j RETURN
	in_ns "$NS_CLI" iptables -w 5 -t nat -A OUTPUT -p tcp --dport "$APP_PORT" \
	    -j REDIRECT --to-ports "$OUT_PORT"
}

teardown_mode() {
	local ns
	[ -z "$PX_CLI" ] || stop "$PX_CLI"
	[ -z "$PX_SRV" ] || stop "$PX_SRV"
	PX_CLI="" PX_SRV=""
	# deleting the table unhooks nat, so 'direct' runs without conntrack
	for ns in "$NS_CLI" "$NS_SRV"; do
		if in_ns "$ns" nft list tables | grep -qx 'table ip nat'; then
			in_ns "$ns" nft delete table ip nat
		fi
	done
}

check_path() { # MODE
	local body c s
	if [ "$1" = direct ]; then
		[ -z "$(nat_tables)" ] || die "direct: a netfilter table is loaded"
		body=$(in_ns "$NS_CLI" curl -sf --max-time 3 "$URL") || die "direct: request failed"
		[ "$body" = "$EXPECT" ] || die "direct: unexpected answer '$body'"
		return 0
	fi
	body=$(in_ns "$NS_CLI" curl -sf --max-time 3 "$URL") ||
	    die "$1: request through the sidecars failed"
	[ "$body" = "$EXPECT" ] || die "$1: answer '$body' through the sidecars, expected '$EXPECT'"
	c=$(redirects "$NS_CLI" OUTPUT)
	s=$(redirects "$NS_SRV" PREROUTING)
	((c > 0)) || die "$1: the request was not redirected to the client sidecar"
	((s > 0)) || die "$1: the client sidecar's connection was not redirected to the server sidecar"
}

run_wrk() { # CONNS SECONDS OUTFILE
	local -a cmd=(ip netns exec "$NS_CLI")
	[ -z "$CLI_CPU" ] || cmd+=(taskset -c "$CLI_CPU")
	cmd+=(wrk -t1 -c"$1" -d"$2s" --timeout 5s --latency "$URL")
	# in the background: a signal then interrupts 'wait' at once
	timeout -k 5 $(($2 + 30)) "${cmd[@]}" >"$3" 2>&1 9>&- &
	local pid=$! rc=0
	PROCS+=("$pid:$(stat_field "$pid" 22 || echo gone)")
	wait "$pid" || rc=$?
	forget "$pid"
	if [ "$rc" != 0 ]; then
		cat "$3" >&2
		die "wrk failed (status $rc)"
	fi
}

parse_wrk() { # FILE -> "rps requests p50 p99 errors" (latencies in us)
	awk '
	function us(v) {
		if (v ~ /us$/) return v + 0
		if (v ~ /ms$/) return v * 1000
		if (v ~ /m$/) return v * 60000000
		if (v ~ /s$/) return v * 1000000
		return v + 0
	}
	$1 == "50%" { p50 = us($2) }
	$1 == "99%" { p99 = us($2) }
	/ requests in / { n = $1 }
	$1 == "Requests/sec:" { rps = $2 }
	/Socket errors:/ { gsub(/,/, ""); err += $4 + $6 + $8 + $10 }
	/Non-2xx or 3xx responses:/ { err += $NF }
	END {
		if (n == "" || rps == "" || p99 == "") exit 1
		printf "%.0f %d %.0f %.0f %d\n", rps, n, p50, p99, err + 0
	}' "$1"
}

measure() { # MODE CASE CONNS ROUND
	local mode=$1 kase=$2 conns=$3 round=$4 out
	local cb=0 sb=0 ca=0 sa=0 r0=0 r1=0 b0 b1 parsed rps n p50 p99 err
	local cus=- sus=- crss=- srss=-
	out=$RUNDIR/wrk/r$round-$mode-$kase.txt
	if [ -n "$PX_CLI" ]; then
		r0=$(redirects "$NS_CLI" OUTPUT)
		cb=$(ticks "$PX_CLI")
		sb=$(ticks "$PX_SRV")
	fi
	b0=$(backend_requests) || die "cannot read the backend's request counter"
	run_wrk "$conns" "$DURATION" "$out"
	b1=$(backend_requests) || die "cannot read the backend's request counter"
	if [ -n "$PX_CLI" ]; then
		ca=$(ticks "$PX_CLI")
		sa=$(ticks "$PX_SRV")
		r1=$(redirects "$NS_CLI" OUTPUT)
		crss=$(rss_kib "$PX_CLI")
		srss=$(rss_kib "$PX_SRV")
		if ! running "$PX_CLI" || ! running "$PX_SRV"; then
			die "$mode: a sidecar exited during the $kase run"
		fi
		((r1 - r0 >= conns)) ||
		    die "$mode: only $((r1 - r0)) of wrk's $conns connections went to the client sidecar"
	elif [ -n "$(nat_tables)" ]; then
		die "direct: a netfilter table appeared during the run"
	fi
	parsed=$(parse_wrk "$out") || { cat "$out" >&2; die "cannot parse wrk output"; }
	read -r rps n p50 p99 err <<<"$parsed"
	((n > 0)) || die "$mode/$kase: wrk completed no request"
	# every answer must come from the backend, none from a sidecar
	((b1 - b0 >= n)) || die "$mode/$kase: the backend answered $((b1 - b0)) requests, wrk got $n"
	if ((err > 0)); then
		log "  FAILED: $mode/$kase round $round: $err errors or non-2xx answers"
		RUN_FAILED=1
	fi
	if [ -n "$PX_CLI" ]; then
		cus=$(awk -v t=$((ca - cb)) -v h="$CLK_TCK" -v n="$n" 'BEGIN { printf "%.1f", t * 1e6 / h / n }')
		sus=$(awk -v t=$((sa - sb)) -v h="$CLK_TCK" -v n="$n" 'BEGIN { printf "%.1f", t * 1e6 / h / n }')
	fi
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$round" "$mode" "$kase" \
	    "$rps" "$p50" "$p99" "$err" "$cus" "$sus" "$crss" "$srss" "$IDLE_CLI" "$IDLE_SRV" \
	    >>"$RUNDIR/results.tsv"
	printf '  r%s %-7s c=%-2s %7s req/s  p50 %5s us  p99 %6s us  err %s  proxy CPU %s+%s us/req  RSS %s/%s KiB\n' \
	    "$round" "$mode" "$conns" "$rps" "$p50" "$p99" "$err" "$cus" "$sus" "$crss" "$srss"
}

run_mode() { # MODE ROUND
	setup_mode "$1"
	check_path "$1"
	((WARMUP == 0)) || run_wrk "$CONNS" "$WARMUP" "$RUNDIR/wrk/r$2-$1-warmup.txt"
	measure "$1" thr "$CONNS" "$2"
	measure "$1" lat "$LAT_CONNS" "$2"
	teardown_mode
}

summarize() {
	awk -F'\t' -v conns="$CONNS" -v lconns="$LAT_CONNS" '
	function med(s,   a, n, i, j, t) {
		n = split(s, a, " ")
		for (i = 2; i <= n; i++) {
			t = a[i] + 0
			for (j = i - 1; j >= 1 && a[j] + 0 > t; j--) a[j + 1] = a[j]
			a[j + 1] = t
		}
		return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
	}
	function add(k, v) { if (v != "-") V[k] = (k in V) ? V[k] " " v : v }
	function mx(k, v) { if (v != "-" && (!(k in M) || v + 0 > M[k])) M[k] = v + 0 }
	function num(k) { return (k in V) ? med(V[k]) : "" }
	function fmt(f, v) { return v == "" ? "-" : sprintf(f, v) }
	{
		m = $2
		if (!(m in seen)) { seen[m] = 1; order[++nm] = m }
		if ($3 == "thr") { add(m ",rps", $4); add(m ",cpu", ($8 == "-") ? "-" : $8 + $9) }
		else { add(m ",p50", $5); add(m ",p99", $6); add(m ",lcpu", ($8 == "-") ? "-" : $8 + $9) }
		E[m] += $7
		mx(m ",rc", $10); mx(m ",rs", $11); mx(m ",ic", $12); mx(m ",is", $13)
	}
	END {
		printf "| %-7s | %10s | %7s | %7s | %10s | %10s | %15s | %15s | %3s |\n", "mode",
		    "req/s c=" conns, "p50 us", "p99 us", "CPU us/req", "CPU us/req", "RSS max KiB", "RSS idle KiB", "err"
		printf "| %-7s | %10s | %7s | %7s | %10s | %10s | %15s | %15s | %3s |\n", "",
		    "", "c=" lconns, "c=" lconns, "c=" conns, "c=" lconns, "cli/srv", "cli/srv", ""
		for (i = 1; i <= nm; i++) {
			m = order[i]
			rss = (m ",rc" in M) ? M[m ",rc"] "/" M[m ",rs"] : "-"
			idle = (m ",ic" in M) ? M[m ",ic"] "/" M[m ",is"] : "-"
			printf "| %-7s | %10s | %7s | %7s | %10s | %10s | %15s | %15s | %3d |\n", m,
			    fmt("%.0f", num(m ",rps")), fmt("%.0f", num(m ",p50")), fmt("%.0f", num(m ",p99")),
			    fmt("%.1f", num(m ",cpu")), fmt("%.1f", num(m ",lcpu")), rss, idle, E[m]
		}
		if (!("weft" in seen)) exit 0
		dr = num("direct,rps"); dp = num("direct,p50")
		wr = num("weft,rps"); wp = num("weft,p50"); wc = num("weft,cpu")
		hr = num("haproxy,rps"); hp = num("haproxy,p50"); hc = num("haproxy,cpu")
		print ""
		if (dr != "")
			printf "weft vs direct:  req/s x%.2f, p50 %+.0f us\n", wr / dr, wp - dp
		if (hr != "") {
			printf "weft vs haproxy: req/s x%.2f, CPU/req x%.2f", wr / hr, (hc > 0) ? wc / hc : 0
			if (dr != "" && hp - dp > 0)
				printf ", added p50 x%.2f (%+.0f vs %+.0f us over direct)", (wp - dp) / (hp - dp), wp - dp, hp - dp
			printf "\n"
		}
	}' "$RUNDIR/results.tsv"
}

header() {
	local be=nginx pin="client pod CPU ${CLI_CPU:-any}, server pod CPU ${SRV_CPU:-any}"
	[ -n "$CLI_CPU$SRV_CPU" ] || pin="none"
	if [ "$BACKEND" = nginx ]; then
		be="$(nginx -v 2>&1 | sed 's/.*: //') (1 worker, return 200, keepalive_requests 1000000)"
	else
		be="weft-testd"
	fi
	log "# weft-bench $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPU, kernel $(uname -r)"
	log "modes: ${MODES[*]}; $ROUNDS round(s), ${DURATION}s runs, ${WARMUP}s warm-up; wrk -t1 -c$CONNS (throughput), -c$LAT_CONNS (latency)"
	log "backend: $be, $URL; pinning: $pin"
	! has_mode haproxy || log "haproxy: $(haproxy -v | awk 'NR == 1 { print $3 }'), mode http, nbthread 1, http-reuse safe"
	! has_mode weft || log "weft: weft-proxy --access-log off${WEFT_ARGS:+ $WEFT_ARGS}"
	log "CPU us/req: utime+stime of both sidecars over the run / requests; RSS: VmRSS; medians over rounds"
}

main() {
	local round i n hdr summary
	parse_args "$@"
	preflight
	trap cleanup EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
	trap 'exit 129' HUP
	exec 9>"$LOCK_FILE"
	flock -n 9 || die "another weft-bench run holds $LOCK_FILE"
	RUNDIR=$(mktemp -d "${TMPDIR:-/tmp}/weft-bench.XXXXXX")
	chmod 755 "$RUNDIR"
	: >"$RUNDIR/results.tsv"
	write_configs
	hdr=$(header)
	log "$hdr"
	setup_topology
	start_backend
	n=${#MODES[@]}
	for ((round = 1; round <= ROUNDS; round++)); do
		for ((i = 0; i < n; i++)); do
			run_mode "${MODES[$(((i + round - 1) % n))]}" "$round"
		done
	done
	summary=$(summarize)
	log ""
	log "$summary"
	if [ -n "$REPORT_FILE" ]; then
		{
			log "$hdr"
			[ ${#NOTES[@]} -eq 0 ] || printf 'note: %s\n' "${NOTES[@]}"
			log ""
			log "$summary"
		} >"$REPORT_FILE"
	fi
	[ "$RUN_FAILED" = 0 ] || die "some runs had errors (see FAILED above)"
}

main "$@"
