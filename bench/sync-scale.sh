#!/bin/bash
# sync-scale.sh: the control plane at scale.  Run by `make bench-sync`
# (no root needed); the figures of a run are in bench/RESULTS.md.
#
# Part "sync": one weft-server on 127.0.0.1 (a free port, pinned to CPU 0)
# and bench/sync-sim (pinned to CPU 1) with 1,000 simulated weft-sync
# clients that register and long-poll /v1/sync; 20 VirtualService changes
# are applied one at a time, and the propagation delay of each is taken
# from the moment its POST is sent to each client's answer.  The server's
# CPU (utime+stime of /proc/PID/stat) and memory (VmRSS, VmHWM) are read
# before the clients, per phase and after.
#
# Part "db": a fresh weft-server; 1,000 ServiceEntries with 10 inline
# endpoints each (10,000 endpoints), plus DestinationRules and
# VirtualServices for some of them, applied with weftctl --server; the
# DB size after a checkpoint; a full snapshot fetched twice (built, then
# cached); weft-sync --once into a fresh local DB; and the proxy's own
# snapshot build from that DB (bench/snapshot-load).
#
# Part "fleet": the clients of part "sync" against the server of part
# "db": every client's first sync is a snapshot of the whole policy;
# then a few changes.
#
# All traffic is on loopback; every wait is bounded; the EXIT trap stops
# what this script started (by PID) and removes its directory.
if [ -z "${BASH_VERSION:-}" ]; then exec bash "$0" "$@"; fi
set -eu
set -o pipefail

CLIENTS=1000
CHANGES=20
INTERVAL=1000
IDLE=10
CONCURRENCY=50
SERVICES=1000
ENDPOINTS=10
RULES=100
FLEET_CHANGES=5
MTLS=0
PIN=1
KEEP=0
REPORT_FILE=""
READY_TIMEOUT=15
SIM_TIMEOUT=900
WEFT_BUILDDIR=${WEFT_BUILDDIR:-.}

RUNDIR=""
PROCS=() # "pid:starttime" of every process started here
LAST_PID=""
PORT=""
CLK_TCK=100
SRV_CPU=""
SIM_CPU=""
NS=bench
NOTES=()
RESULTS=()

usage() {
	cat <<EOF
Usage: ${0##*/} [-q] [-n CLIENTS] [-k CHANGES] [-i MS] [-I SEC] [-c N]
                [-S SERVICES] [-E ENDPOINTS] [-R RULES] [-m] [-P] [-K]
                [-o FILE] [PART...]

PART: sync (1,000 clients, change propagation), db (policy DB and
snapshots at 1,000 services x 10 endpoints) and fleet (the clients of
sync against the policy of db: a snapshot each); default all three.
  -n N    simulated weft-sync clients (1000)   -k K   changes (20)
  -i MS   pause after every client had a change (1000)
  -I SEC  idle long polling measured (10)      -c N   registrations and
          first syncs at a time (50)
  -S N    ServiceEntries (1000)  -E N  inline endpoints each (10)
  -R N    DestinationRules and VirtualServices (100 of each)
  -m      clients present a client certificate (mTLS), as a joined
          weft-sync does, instead of the admin token
  -q      quick: 200 clients, 5 changes, 5 s idle, 200 services, 2
          changes in fleet
  -P      no CPU pinning   -K  keep the run directory   -o FILE  also
          write the results to FILE
Environment: WEFT_BUILDDIR, the build tree (weft-server, weftctl,
weft-sync, bench/sync-sim, bench/snapshot-load); default the current
directory.
EOF
}

log() { printf '%s\n' "$*"; }
note() {
	log "note: $*"
	NOTES+=("$*")
}
die() {
	printf 'sync-scale: %s\n' "$*" >&2
	exit 1
}
skip() {
	printf 'sync-scale: SKIP: %s\n' "$*" >&2
	exit 77
}
section() { # TITLE: a row of the results table that starts a part
	RESULTS+=("$(printf '| %-58s | %22s |' "**$1**" "")")
}
result() { # LABEL VALUE: a row of the results table
	RESULTS+=("$(printf '| %-58s | %22s |' "$1" "$2")")
	printf '  %-58s %s\n' "$1" "$2"
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

ticks() { # PID: utime + stime (all threads)
	local u s
	u=$(stat_field "$1" 14) || {
		echo 0
		return
	}
	s=$(stat_field "$1" 15) || {
		echo 0
		return
	}
	echo $((u + s))
}

status_kib() { # PID FIELD: VmRSS, VmHWM... in KiB
	awk -v f="$2:" '$1 == f { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0
}

alive() { # PID STARTTIME: that very process still runs
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

now_ns() { date +%s%N; }
ms_since() { # START_NS
	awk -v a="$1" -v b="$(now_ns)" 'BEGIN { printf "%.0f", (b - a) / 1e6 }'
}
cpu_s() { # TICKS
	awk -v t="$1" -v h="$CLK_TCK" 'BEGIN { printf "%.2f", t / h }'
}

# start_bg CPUS LOG CMD...: runs CMD in the background, pinned to CPUS
# when set; sets LAST_PID (taskset execs).
start_bg() {
	local cpus=$1 logf=$2
	shift 2
	local -a pre=()
	[ -z "$cpus" ] || pre=(taskset -c "$cpus")
	(${pre[@]+"${pre[@]}"} "$@" </dev/null >"$logf" 2>&1 9>&-) &
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
	local rc=$? i
	trap - EXIT INT TERM HUP
	set +e
	for ((i = ${#PROCS[@]} - 1; i >= 0; i--)); do
		stop "${PROCS[$i]%%:*}"
	done
	if [ -n "$RUNDIR" ] && [ -d "$RUNDIR" ]; then
		if [ "$KEEP" = 1 ]; then
			printf 'sync-scale: run directory kept: %s\n' "$RUNDIR" >&2
		else
			rm -rf -- "$RUNDIR"
		fi
	fi
	exit "$rc"
}

# run_bounded SECONDS LOG CPUS CMD...: runs CMD in the background (so
# that a signal interrupts the wait at once), at most SECONDS; returns
# its status.
run_bounded() {
	local secs=$1 logf=$2 cpus=$3 rc=0
	shift 3
	start_bg "$cpus" "$logf" timeout -k 5 "$secs" "$@"
	local pid=$LAST_PID
	wait "$pid" || rc=$?
	forget "$pid"
	return "$rc"
}

parse_args() {
	local opt v p
	while getopts ':n:k:i:I:c:S:E:R:o:mqPKh' opt; do
		case $opt in
		n) CLIENTS=$OPTARG ;;
		k) CHANGES=$OPTARG ;;
		i) INTERVAL=$OPTARG ;;
		I) IDLE=$OPTARG ;;
		c) CONCURRENCY=$OPTARG ;;
		S) SERVICES=$OPTARG ;;
		E) ENDPOINTS=$OPTARG ;;
		R) RULES=$OPTARG ;;
		o) REPORT_FILE=$OPTARG ;;
		m) MTLS=1 ;;
		q) CLIENTS=200 CHANGES=5 IDLE=5 SERVICES=200 RULES=20 FLEET_CHANGES=2 ;;
		P) PIN=0 ;;
		K) KEEP=1 ;;
		h)
			usage
			exit 0
			;;
		*)
			usage >&2
			exit 2
			;;
		esac
	done
	shift $((OPTIND - 1))
	PARTS=("$@")
	[ $# -gt 0 ] || PARTS=(sync db fleet)
	for p in "${PARTS[@]}"; do
		case $p in sync | db | fleet) ;; *) die "unknown part '$p' (sync, db, fleet)" ;; esac
	done
	for v in CLIENTS CHANGES INTERVAL IDLE CONCURRENCY SERVICES ENDPOINTS RULES; do
		[[ ${!v} =~ ^[0-9]+$ ]] || die "$v must be a number"
	done
	((CLIENTS >= 1 && CLIENTS <= 100000)) || die "1 to 100000 clients"
	((CHANGES >= 1 && CHANGES <= 1000)) || die "1 to 1000 changes"
	((SERVICES >= 1 && SERVICES <= 60000)) || die "1 to 60000 services"
	((ENDPOINTS >= 1 && ENDPOINTS <= 100)) || die "1 to 100 endpoints per service"
	((SERVICES * ENDPOINTS <= 1000000)) || die "at most 1,000,000 endpoints"
	((RULES <= SERVICES)) || die "at most one rule pair per service"
}

has_part() { [[ " ${PARTS[*]} " == *" $1 "* ]]; }

preflight() {
	local c b
	for c in curl openssl sqlite3 taskset timeout flock ss awk sed; do
		command -v "$c" >/dev/null || die "missing command: $c"
	done
	b=$(cd "$WEFT_BUILDDIR" 2>/dev/null && pwd) ||
	    die "WEFT_BUILDDIR=$WEFT_BUILDDIR: no such directory"
	WEFT_BUILDDIR=$b
	SERVER=$WEFT_BUILDDIR/src/server/weft-server
	WEFTCTL=$WEFT_BUILDDIR/src/ctl/weftctl
	WEFT_SYNC=$WEFT_BUILDDIR/src/sync/weft-sync
	SIM=$WEFT_BUILDDIR/bench/sync-sim
	LOADER=$WEFT_BUILDDIR/bench/snapshot-load
	for b in "$SERVER" "$WEFTCTL" "$WEFT_SYNC" "$SIM" "$LOADER"; do
		[ -x "$b" ] || die "$b is not built (make, or set WEFT_BUILDDIR)"
	done
	if ldd "$SERVER" 2>/dev/null | grep -q 'lib[at]san\|libubsan'; then
		note "weft-server is built with sanitizers: its figures are not representative"
	fi
	CLK_TCK=$(getconf CLK_TCK)
	if [ "$PIN" = 1 ] && [ "$(nproc)" -ge 2 ]; then
		SRV_CPU=0 SIM_CPU=1
	elif [ "$PIN" = 1 ]; then
		note "1 CPU: no pinning"
	fi
	# a socket per held poll on each side, the DB, and some slack
	NOFILE=$((CLIENTS * 2 + 512))
	((NOFILE >= 8192)) || NOFILE=8192
	if [ "$(ulimit -n)" != unlimited ] && (($(ulimit -n) < NOFILE)); then
		ulimit -n "$NOFILE" 2>/dev/null ||
		    skip "cannot raise the open files limit to $NOFILE (hard limit $(ulimit -Hn))"
	fi
}

# start_server NAME [HEARTBEAT]: a fresh weft-server on a free loopback
# port (--heartbeat-timeout 30s unless given); sets SPID, PORT, URL, DATA
start_server() {
	local name=$1 heartbeat=${2:-30s} try i
	DATA=$RUNDIR/$name
	mkdir -p "$DATA"
	for ((try = 0; try < 5; try++)); do
		# below the ephemeral ports (32768-60999), which the clients use
		PORT=$((20000 + RANDOM % 12000))
		[ -z "$(ss -Hltn "sport = :$PORT")" ] || continue
		start_bg "$SRV_CPU" "$RUNDIR/$name.log" "$SERVER" --data-dir "$DATA" \
		    --listen "127.0.0.1:$PORT" --heartbeat-timeout "$heartbeat" \
		    --webhook-listen off
		SPID=$LAST_PID
		for ((i = 0; i < READY_TIMEOUT * 10; i++)); do
			running "$SPID" || break
			if [ -n "$(ss -Hltn "sport = :$PORT")" ] &&
			    [ -s "$DATA/admin.token" ]; then
				URL=https://127.0.0.1:$PORT
				return 0
			fi
			sleep 0.1
		done
		if running "$SPID"; then
			tail -n 20 "$RUNDIR/$name.log" >&2 || true
			die "weft-server did not listen on 127.0.0.1:$PORT within ${READY_TIMEOUT}s"
		fi
		wait "$SPID" 2>/dev/null || true
		forget "$SPID"
		# another program may have taken the port: try another
		grep -q 'cannot listen' "$RUNDIR/$name.log" || {
			tail -n 20 "$RUNDIR/$name.log" >&2 || true
			die "weft-server exited at start (log above)"
		}
	done
	die "no free port for weft-server after 5 tries"
}

api() { # METHOD TARGET [CURL ARGS...]: an admin request to the server
	local method=$1 target=$2
	shift 2
	[ -s "$DATA/auth.header" ] ||
	    printf 'Authorization: Bearer %s\n' "$(cat "$DATA/admin.token")" >"$DATA/auth.header"
	curl -sS --max-time 60 --cacert "$DATA/ca.pem" -H "@$DATA/auth.header" \
	    -X "$method" "$@" "$URL$target"
}

json_int() { # KEY: the first integer value of "KEY" in the JSON on stdin
	sed -n "s/.*\"$1\":\([0-9-]*\).*/\1/p" | head -n 1
}

nstat_counters() { # host-wide TCP counters: overflows, SYN retransmits
	if command -v nstat >/dev/null; then
		nstat -asz TcpExtListenOverflows TcpExtTCPSynRetrans 2>/dev/null |
		    awk '$1 ~ /^TcpExt/ { v[$1] = $2 }
			END { printf "%d %d\n", v["TcpExtListenOverflows"], v["TcpExtTCPSynRetrans"] }'
	else
		echo "0 0"
	fi
}

sum_get() { # FILE KEY
	awk -v k="$2" '$1 == k { print $2; found = 1 } END { if (!found) print "-" }' "$1"
}

# A client certificate for namespace bench, service account default:
# what a joined weft-sync presents; one serves every simulated client.
make_client_cert() {
	local dir=$RUNDIR/client-cert body
	mkdir -p "$dir"
	openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
	    -out "$dir/key.pem" 2>/dev/null
	openssl req -new -key "$dir/key.pem" -subj "/CN=sim" -out "$dir/csr.pem"
	api POST /v1/register -H 'Content-Type: application/json' \
	    -d '{"workload":"sim-cert","namespace":"bench","address":"198.19.255.253"}' \
	    -o /dev/null -f
	body=$(awk 'BEGIN { printf "{\"namespace\":\"bench\",\"workload\":\"sim-cert\",\"csr\":\"" }
		{ printf "%s\\n", $0 }
		END { printf "\"}" }' "$dir/csr.pem")
	api POST /v1/certificates -H 'Content-Type: application/json' -d "$body" \
	    -f -o "$dir/cert.json"
	sed -n 's/.*"certificate":"\([^"]*\)".*/\1/p' "$dir/cert.json" |
	    sed 's/\\n/\n/g; s/\\\//\//g' >"$dir/cert.pem"
	openssl x509 -in "$dir/cert.pem" -noout 2>/dev/null ||
	    die "no client certificate from /v1/certificates"
	# Gone before the run: silent, it would turn unhealthy in 30 s (a
	# new version, an extra fan-out in the middle of the changes).
	api DELETE "/v1/register?namespace=bench&workload=sim-cert" -f -o /dev/null
	CERT_ARGS=(--cert "$dir/cert.pem" --key "$dir/key.pem")
}

part_sync() {
	local idle_rss t0 t1 n0 n1 s0 s1 rc=0 backlog S P99
	log ""
	log "== sync: $CLIENTS clients, $CHANGES changes =="
	start_server server-sync
	backlog=$(ss -Hltn "sport = :$PORT" | awk '{ print $3 }')
	idle_rss=$(status_kib "$SPID" VmRSS)
	CERT_ARGS=()
	[ "$MTLS" = 0 ] || make_client_cert
	t0=$(ticks "$SPID")
	read -r n0 s0 < <(nstat_counters)
	run_bounded "$SIM_TIMEOUT" "$RUNDIR/sync-sim.out" "$SIM_CPU" "$SIM" \
	    --server "$URL" --ca "$DATA/ca.pem" --token-file "$DATA/admin.token" \
	    ${CERT_ARGS[@]+"${CERT_ARGS[@]}"} --clients "$CLIENTS" \
	    --changes "$CHANGES" --interval "$INTERVAL" --idle "$IDLE" \
	    --concurrency "$CONCURRENCY" --namespace "$NS" --server-pid "$SPID" \
	    --summary "$RUNDIR/sync.sum" --raw "$RUNDIR/sync-delays.tsv" || rc=$?
	t1=$(ticks "$SPID")
	read -r n1 s1 < <(nstat_counters)
	sed 's/^/  /' "$RUNDIR/sync-sim.out"
	case $rc in
	0) ;;
	3) note "some clients missed a change within the sim's 10 s timeout" ;;
	124 | 137) die "sync-sim did not finish within ${SIM_TIMEOUT}s" ;;
	*) die "sync-sim failed (status $rc)" ;;
	esac
	running "$SPID" || die "weft-server exited during the run"
	S=$RUNDIR/sync.sum
	log ""
	log "results (sync):"
	section "sync: $CLIENTS clients, $CHANGES changes"
	result "clients (sync-sim, one process, one event_base)" "$CLIENTS"
	result "client credential" "$([ "$MTLS" = 1 ] && echo "client certificate" || echo "admin token")"
	result "registration, $CONCURRENCY at a time" "$(sum_get "$S" register_s) s"
	result "first sync: one snapshot per client" "$(sum_get "$S" first_sync_s) s"
	result "snapshot answer (JSON, $CLIENTS registered workloads)" "$(sum_get "$S" snapshot_json_bytes) B"
	result "propagation p50 / p90 over $(sum_get "$S" deliveries) deliveries" \
	    "$(sum_get "$S" p50_ms) / $(sum_get "$S" p90_ms) ms"
	result "propagation p99 / max" "$(sum_get "$S" p99_ms) / $(sum_get "$S" max_ms) ms"
	result "worst p99 of one change" "$(sum_get "$S" worst_change_p99_ms) ms"
	result "clients that missed a change (10 s)" "$(sum_get "$S" missing)"
	result "apply (admin POST round trip), median" "$(sum_get "$S" apply_median_ms) ms"
	result "server CPU, idle polling (wait=10s)" "$(sum_get "$S" idle_server_cpu_pct) % of a core"
	result "server CPU over the changes phase" \
	    "$(sum_get "$S" changes_server_cpu_s) s, $(sum_get "$S" changes_server_cpu_pct) %"
	result "server CPU per change (answers + re-polls)" "$(sum_get "$S" server_cpu_s_per_change) CPU-s"
	result "server CPU, registration / first sync" \
	    "$(sum_get "$S" register_server_cpu_s) / $(sum_get "$S" first_sync_server_cpu_s) s"
	result "server CPU, whole run" "$(cpu_s $((t1 - t0))) s"
	result "server VmRSS idle, before clients" "$idle_rss KiB"
	result "server VmRSS, $CLIENTS clients polling" "$(sum_get "$S" server_rss_ready_kib) KiB"
	result "server VmRSS after the changes / VmHWM" \
	    "$(sum_get "$S" server_rss_end_kib) / $(status_kib "$SPID" VmHWM) KiB"
	result "sync-sim CPU over the changes phase" "$(sum_get "$S" sim_cpu_pct_changes) % of a core"
	result "requests / failed" "$(sum_get "$S" requests) / $(sum_get "$S" errors)"
	result "listen backlog of the server's socket" "$backlog"
	result "host TCP ListenOverflows / SYN retransmits" "$((n1 - n0)) / $((s1 - s0))"
	P99=$(sum_get "$S" p99_ms)
	if awk -v p="$P99" 'BEGIN { exit !(p + 0 < 1000) }'; then
		result "target: p99 propagation under 1 s" "met"
	else
		result "target: p99 propagation under 1 s" "NOT met"
	fi
	stop "$SPID"
}

# The policy: SERVICES ServiceEntries of ENDPOINTS inline endpoints each
# (addresses in 198.18.0.0/15), and RULES DestinationRules (subsets v1,
# v2) with VirtualServices (90/10, with a header route to v2).
gen_policy() {
	awk -v nsvc="$SERVICES" -v neps="$ENDPOINTS" -v nrules="$RULES" 'BEGIN {
		a = 0
		for (s = 0; s < nsvc; s++) {
			printf "apiVersion: networking.istio.io/v1\nkind: ServiceEntry\n"
			printf "metadata:\n  name: svc-%d\n", s
			printf "spec:\n  hosts: [svc-%d.bench.svc.cluster.local]\n", s
			printf "  location: MESH_INTERNAL\n  resolution: STATIC\n"
			printf "  ports:\n  - {number: 8080, name: http, protocol: HTTP}\n"
			printf "  endpoints:\n"
			for (e = 0; e < neps; e++) {
				a++
				printf "  - address: 198.%d.%d.%d\n", 18 + int(a / 65536), \
				    int(a / 256) % 256, a % 256
				printf "    labels: {app: svc-%d, version: v%d}\n", s, e % 2 + 1
				printf "    ports: {http: 8080}\n"
				printf "    locality: region-1/zone-%d\n", e % 3
			}
			printf "---\n"
		}
		for (s = 0; s < nrules; s++) {
			h = sprintf("svc-%d.bench.svc.cluster.local", s)
			printf "apiVersion: networking.istio.io/v1\nkind: DestinationRule\n"
			printf "metadata:\n  name: svc-%d\n", s
			printf "spec:\n  host: %s\n", h
			printf "  trafficPolicy:\n    loadBalancer: {simple: LEAST_REQUEST}\n"
			printf "  subsets:\n  - {name: v1, labels: {version: v1}}\n"
			printf "  - {name: v2, labels: {version: v2}}\n---\n"
			printf "apiVersion: networking.istio.io/v1\nkind: VirtualService\n"
			printf "metadata:\n  name: svc-%d\n", s
			printf "spec:\n  hosts: [%s]\n  http:\n", h
			printf "  - match: [{headers: {x-canary: {exact: \"1\"}}}]\n"
			printf "    route: [{destination: {host: %s, subset: v2}}]\n", h
			printf "  - timeout: 5s\n"
			printf "    route:\n"
			printf "    - {destination: {host: %s, subset: v1}, weight: 90}\n", h
			printf "    - {destination: {host: %s, subset: v2}, weight: 10}\n", h
			printf "---\n"
		}
	}' >"$RUNDIR/policy.yaml"
}

file_size() { stat -c %s "$1" 2>/dev/null || echo 0; }

# fetch_snapshot OUT: GET /v1/sync since=-1 as workload snap-reader;
# prints "server_ms total_ms bytes server_cpu_ticks"
fetch_snapshot() {
	local out=$1 t0 t1 w
	t0=$(ticks "$SPID")
	w=$(api GET "/v1/sync?namespace=$NS&workload=snap-reader&since=-1&history=none" \
	    -f -o "$out" -w '%{time_appconnect} %{time_starttransfer} %{time_total} %{size_download}')
	t1=$(ticks "$SPID")
	awk -v w="$w" -v t=$((t1 - t0)) 'BEGIN {
		split(w, f, " ")
		printf "%.1f %.1f %d %d\n", (f[2] - f[1]) * 1000, f[3] * 1000, f[4], t
	}'
}

# db_server_up NAME [HEARTBEAT]: a fresh weft-server with the policy of
# gen_policy, applied in one weftctl --server apply; sets APPLY_MS,
# APPLY_CPU
db_server_up() {
	local t0 c0 c1
	start_server "$@"
	[ -s "$RUNDIR/policy.yaml" ] || gen_policy
	NRES=$((SERVICES + 2 * RULES))
	log "  policy.yaml: $NRES resources, $(file_size "$RUNDIR/policy.yaml") bytes"
	c0=$(ticks "$SPID")
	t0=$(now_ns)
	run_bounded 300 "$RUNDIR/apply.out" "" "$WEFTCTL" --server "$URL" \
	    --ca "$DATA/ca.pem" --token-file "$DATA/admin.token" \
	    apply -f "$RUNDIR/policy.yaml" -n "$NS" ||
	    {
		    tail -n 20 "$RUNDIR/apply.out" >&2
		    die "weftctl apply failed"
	    }
	APPLY_MS=$(ms_since "$t0")
	c1=$(ticks "$SPID")
	APPLY_CPU=$((c1 - c0))
	[ "$(grep -c ' created$' "$RUNDIR/apply.out")" = "$NRES" ] ||
	    die "weftctl apply did not create the $NRES resources (see $RUNDIR/apply.out)"
}

part_db() {
	local t0 version resp db wal live ckpt snap1 snap2 blob
	local tok s1 s2 tbl srv_ms tot_ms bytes cpu nsvc nep ncl
	local first med min rep rss
	log ""
	log "== db: $SERVICES ServiceEntries x $ENDPOINTS endpoints, $RULES DestinationRules + VirtualServices =="
	db_server_up server-db
	resp=$(api GET /v1/status -f)
	version=$(printf '%s' "$resp" | json_int version)
	db=$DATA/policy.db
	live=$(($(file_size "$db") + $(file_size "$db-wal")))
	ckpt=$(sqlite3 "$db" 'PRAGMA busy_timeout = 5000; PRAGMA wal_checkpoint(TRUNCATE);' |
	    tail -n 1 | awk -F'|' '{ printf "busy %s, log %s, done %s", $1, $2, $3 }')
	wal=$(file_size "$db-wal")
	tbl=$(sqlite3 "$db" "SELECT name || ' ' || (SUM(pgsize) / 1024) || ' KiB' FROM dbstat
		GROUP BY name ORDER BY SUM(pgsize) DESC LIMIT 4" 2>/dev/null | paste -sd, - | sed 's/,/, /g') ||
	    tbl="(dbstat not available)"

	# The sync API answers registered workloads only: one more (and one
	# more version) before the snapshot is timed.
	api POST /v1/register -H 'Content-Type: application/json' -f -o /dev/null \
	    -d '{"workload":"snap-reader","namespace":"bench","address":"198.19.255.254"}'
	read -r snap1 < <(fetch_snapshot "$RUNDIR/snapshot.json")
	read -r snap2 < <(fetch_snapshot "$RUNDIR/snapshot2.json")
	blob=$(sed -n 's/.*"snapshot":"\([^"]*\)".*/\1/p' "$RUNDIR/snapshot.json" | base64 -d | wc -c)
	((blob > 0)) || die "no snapshot in the sync answer (see $RUNDIR/snapshot.json)"

	# weft-sync --once into a fresh DB: join token, register, certificate,
	# snapshot, apply; then again into another fresh DB with the
	# certificate it got (no new version: the snapshot comes cached).
	tok=$("$WEFTCTL" --server "$URL" --ca "$DATA/ca.pem" --token-file "$DATA/admin.token" \
	    token create --workload sync-once --namespace "$NS")
	mkdir -p "$RUNDIR/replica"
	t0=$(now_ns)
	run_bounded 120 "$RUNDIR/sync-once.log" "$SIM_CPU" "$WEFT_SYNC" --server "$URL" \
	    --token "$tok" --workload sync-once --namespace "$NS" \
	    --address 198.19.255.252 --db "$RUNDIR/replica/policy.db" \
	    --certs "$RUNDIR/replica/certs" --proxy-admin 127.0.0.1:1 --once ||
	    {
		    tail -n 20 "$RUNDIR/sync-once.log" >&2
		    die "weft-sync --once failed"
	    }
	s1=$(ms_since "$t0")
	t0=$(now_ns)
	run_bounded 120 "$RUNDIR/sync-once2.log" "$SIM_CPU" "$WEFT_SYNC" --server "$URL" \
	    --token "$tok" --workload sync-once --namespace "$NS" \
	    --address 198.19.255.252 --db "$RUNDIR/replica/policy2.db" \
	    --certs "$RUNDIR/replica/certs" --proxy-admin 127.0.0.1:1 --once ||
	    {
		    tail -n 20 "$RUNDIR/sync-once2.log" >&2
		    die "weft-sync --once (again) failed"
	    }
	s2=$(ms_since "$t0")
	run_bounded 300 "$RUNDIR/snapshot-load.out" "$SIM_CPU" "$LOADER" -n 5 \
	    "$RUNDIR/replica/policy2.db" ||
	    {
		    cat "$RUNDIR/snapshot-load.out" >&2
		    die "snapshot-load failed"
	    }

	log ""
	log "results (db):"
	section "db: $SERVICES services, $((SERVICES * ENDPOINTS)) endpoints"
	result "ServiceEntries / endpoints (inline)" "$SERVICES / $((SERVICES * ENDPOINTS))"
	result "DestinationRules / VirtualServices" "$RULES / $RULES"
	result "weftctl --server apply, one transaction" "$APPLY_MS ms"
	result "server CPU for the apply" "$(cpu_s "$APPLY_CPU") s"
	result "policy version after" "$version"
	result "DB file + WAL, live (before checkpoint)" "$((live / 1024)) KiB"
	result "DB file after wal_checkpoint(TRUNCATE)" "$(($(file_size "$db") / 1024)) KiB (WAL $wal B)"
	result "wal_checkpoint(TRUNCATE) answer" "$ckpt"
	log "  largest tables: $tbl"
	read -r srv_ms tot_ms bytes cpu <<<"$snap1"
	result "snapshot, first GET (built): server / total" "$srv_ms / $tot_ms ms"
	result "snapshot, first GET: server CPU" "$(cpu_s "$cpu") s"
	read -r srv_ms tot_ms bytes cpu <<<"$snap2"
	result "snapshot, second GET (cached): server / total" "$srv_ms / $tot_ms ms"
	result "snapshot answer (JSON) / changeset blob" "$((bytes / 1024)) / $((blob / 1024)) KiB"
	result "weft-sync --once, fresh DB (join, cert, build)" "$s1 ms"
	result "weft-sync --once, fresh DB (cert, cached)" "$s2 ms"
	result "local DB written by weft-sync" \
	    "$((($(file_size "$RUNDIR/replica/policy2.db") + $(file_size "$RUNDIR/replica/policy2.db-wal")) / 1024)) KiB"
	# version V services S endpoints E clusters C vhosts H
	read -r _ _ _ nsvc _ nep _ ncl _ _ <"$RUNDIR/snapshot-load.out"
	result "proxy snapshot: services / endpoints / clusters" "$nsvc / $nep / $ncl"
	# first_ms F median_ms M min_ms m repeat n maxrss_kib R
	read -r _ first _ med _ min _ rep _ rss < <(sed -n 2p "$RUNDIR/snapshot-load.out")
	result "proxy snapshot build (policy_db_load): first" "$first ms"
	result "proxy snapshot build: median / min of $rep more" "$med / $min ms"
	result "snapshot-load peak RSS" "$rss KiB"
	result "server VmRSS / VmHWM after" "$(status_kib "$SPID" VmRSS) / $(status_kib "$SPID" VmHWM) KiB"
	stop "$SPID"
}

# The clients of part sync against a server with the policy of part db:
# every first sync is a snapshot of the whole policy. Its heartbeat
# timeout is 300 s: the clients register first and wait their turn for a
# snapshot, longer than 30 s at this size, and would be marked unhealthy
# meanwhile, every mark a new version (seen in the server's log when it
# is 30 s; see bench/RESULTS.md). The polls still wait 10 s.
part_fleet() {
	local rc=0 t0 t1 flaps S
	log ""
	log "== fleet: $CLIENTS clients of the $SERVICES-service policy, $FLEET_CHANGES changes =="
	db_server_up server-fleet 300s
	t0=$(ticks "$SPID")
	run_bounded "$SIM_TIMEOUT" "$RUNDIR/fleet-sim.out" "$SIM_CPU" "$SIM" \
	    --server "$URL" --ca "$DATA/ca.pem" --token-file "$DATA/admin.token" \
	    --clients "$CLIENTS" --changes "$FLEET_CHANGES" --interval "$INTERVAL" \
	    --idle 0 --concurrency "$CONCURRENCY" --namespace "$NS" \
	    --server-pid "$SPID" --summary "$RUNDIR/fleet.sum" || rc=$?
	t1=$(ticks "$SPID")
	sed 's/^/  /' "$RUNDIR/fleet-sim.out"
	case $rc in
	0) ;;
	3) note "fleet: some clients missed a change within the sim's 10 s timeout" ;;
	124 | 137) die "sync-sim (fleet) did not finish within ${SIM_TIMEOUT}s" ;;
	*) die "sync-sim (fleet) failed (status $rc)" ;;
	esac
	flaps=$(grep -c 'out of contact: unhealthy' "$RUNDIR/server-fleet.log" || true)
	S=$RUNDIR/fleet.sum
	log ""
	log "results (fleet):"
	section "fleet: $CLIENTS clients of the db policy"
	result "first sync: $CLIENTS snapshots, $CONCURRENCY at a time" "$(sum_get "$S" first_sync_s) s"
	result "snapshot answer (JSON)" "$(($(sum_get "$S" snapshot_json_bytes) / 1024)) KiB"
	result "server / sync-sim CPU, first sync" \
	    "$(sum_get "$S" first_sync_server_cpu_s) / $(sum_get "$S" first_sync_sim_cpu_s) s"
	result "workloads marked unhealthy meanwhile (heartbeat 300 s)" "$flaps"
	result "server VmRSS, $CLIENTS clients polling / VmHWM" \
	    "$(sum_get "$S" server_rss_ready_kib) / $(sum_get "$S" server_hwm_kib) KiB"
	result "propagation p50 / p99 / max ($FLEET_CHANGES changes)" \
	    "$(sum_get "$S" p50_ms) / $(sum_get "$S" p99_ms) / $(sum_get "$S" max_ms) ms"
	result "server CPU per change" "$(sum_get "$S" server_cpu_s_per_change) CPU-s"
	result "requests / failed" "$(sum_get "$S" requests) / $(sum_get "$S" errors)"
	result "server CPU, whole fleet part" "$(cpu_s $((t1 - t0))) s"
	stop "$SPID"
}

header() {
	local pin="server CPU $SRV_CPU, clients CPU $SIM_CPU"
	[ -n "$SRV_CPU" ] || pin="none"
	log "# weft sync-scale $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPU, kernel $(uname -r)"
	log "$(openssl version), $(sqlite3 --version | awk '{ print "SQLite " $1 }'), open files $(ulimit -n); pinning: $pin"
	log "all on 127.0.0.1; weft-server --heartbeat-timeout 30s (300s in fleet), polls held 10 s; load average $(cut -d' ' -f1-3 /proc/loadavg)"
}

main() {
	local hdr
	parse_args "$@"
	preflight
	trap cleanup EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
	trap 'exit 129' HUP
	exec 9>"${TMPDIR:-/tmp}/weft-bench-sync.lock"
	flock -n 9 || die "another sync-scale run holds ${TMPDIR:-/tmp}/weft-bench-sync.lock"
	RUNDIR=$(mktemp -d "${TMPDIR:-/tmp}/weft-sync-scale.XXXXXX")
	hdr=$(header)
	log "$hdr"
	! has_part sync || part_sync
	! has_part db || part_db
	! has_part fleet || part_fleet
	if [ -n "$REPORT_FILE" ]; then
		{
			log "$hdr"
			[ ${#NOTES[@]} -eq 0 ] || printf 'note: %s\n' "${NOTES[@]}"
			log ""
			printf '| %-58s | %22s |\n' "measure" "value"
			printf '|%s|%s|\n' "$(printf -- '-%.0s' {1..60})" "$(printf -- '-%.0s' {1..24})"
			printf '%s\n' "${RESULTS[@]}"
		} >"$REPORT_FILE"
	fi
}

main "$@"
