# shellcheck shell=bash disable=SC2034
# Shared helpers for weft's end-to-end tests (sourced, not run).
#
# Each test builds its own hosts out of network namespaces joined to a
# bridge namespace by veth pairs, with addresses from 198.18.0.0/15 and no
# route out. Everything a test creates carries a per-run suffix and is
# removed by the EXIT trap, processes by PID first, even when it fails.
# Exit status: 0 pass, 77 skip, anything else fail.

set -eu

: "${WEFT_BUILDDIR:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${WEFT_SRCDIR:=$WEFT_BUILDDIR}"
WEFT_PROXY="$WEFT_BUILDDIR/src/proxy/weft-proxy"
WEFT_INIT="$WEFT_BUILDDIR/src/init/weft-init"
WEFT_TESTD="$WEFT_BUILDDIR/tests/backend/weft-testd"
PROXY_UID=1337
# Memory bounds checked by tests leave room for the sanitizers' shadow
# memory and quarantine; buffering a whole body would still exceed them.
if [ "${WEFT_SANITIZED:-no}" = yes ]; then
	MEM_SLACK_KIB=32768
else
	MEM_SLACK_KIB=0
fi

E2E_NAME=$(basename "$0" .sh)
E2E_SUFFIX="$$$(od -An -N2 -tu2 /dev/urandom | tr -d ' ')"
E2E_NS=""
E2E_PIDS=""
E2E_FAILED=0
E2E_CHECKS=0
T=""

skip() {
	echo "SKIP: $E2E_NAME: $*"
	exit 77
}

e2e_cleanup() {
	local rc=$? pid ns i
	set +e
	for pid in $E2E_PIDS; do
		kill -TERM "$pid" 2>/dev/null
	done
	for pid in $E2E_PIDS; do
		for i in 1 2 3 4 5 6 7 8 9 10; do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$pid" 2>/dev/null
	done
	# A sanitizer report in any log fails the test, even at exit.
	if [ -n "$T" ] && [ -d "$T" ] && [ $rc -ne 77 ] &&
	    grep -l -E 'ERROR: (Address|Leak)Sanitizer|runtime error:' \
	    "$T"/*.log >/dev/null 2>&1; then
		echo "not ok - sanitizer report in a process log:"
		grep -h -A 30 -E 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$T"/*.log | head -n 60
		rc=1
	fi
	for ns in $E2E_NS; do
		for pid in $(ip netns pids "$ns" 2>/dev/null); do
			kill -KILL "$pid" 2>/dev/null
		done
		ip netns del "$ns" 2>/dev/null
	done
	if [ $rc -ne 0 ] && [ $rc -ne 77 ] && [ -n "$T" ] && [ -d "$T" ]; then
		for f in "$T"/*.log; do
			[ -f "$f" ] || continue
			echo "--- $f (last lines)"
			tail -n 30 "$f"
		done
	fi
	[ -n "$T" ] && rm -rf "$T"
	exit $rc
}

# e2e_init: checks prerequisites and installs the cleanup trap.
e2e_init() {
	[ "$(id -u)" = 0 ] || skip "needs root (network namespaces)"
	command -v ip >/dev/null || skip "needs iproute2"
	command -v iptables-restore >/dev/null || skip "needs iptables"
	command -v curl >/dev/null || skip "needs curl"
	T=$(mktemp -d "${TMPDIR:-/tmp}/weft-e2e.XXXXXX")
	chmod 755 "$T"
	# Files the proxy uid writes (access logs it reopens) live here.
	mkdir "$T/px"
	chown "$PROXY_UID:$PROXY_UID" "$T/px"
	trap e2e_cleanup EXIT
	trap 'exit 130' INT TERM HUP
}

# ns_new SHORT: creates namespace weft-SHORT-SUFFIX with lo up and sets
# $NS to its name (not printed: a $(...) subshell would lose the record
# that cleanup needs).
ns_new() {
	NS="weft-$1-$E2E_SUFFIX"
	ip netns add "$NS"
	E2E_NS="$E2E_NS $NS"
	ip -n "$NS" link set lo up
}

# bridge_new: creates the bridge namespace every pod is attached to.
bridge_new() {
	ns_new br
	BR_NS=$NS
	ip -n "$BR_NS" link add br0 type bridge
	ip -n "$BR_NS" link set br0 up
}

# pod_new SHORT ADDR [ADDR...]: a pod namespace with eth0 on the bridge,
# holding ADDR/16 (198.18.0.0/15 addresses) or ADDR/64 (2001:2::/48, the
# IPv6 benchmarking range); sets $POD to its name. The
# only routes are the pod subnet and the never-routed VIP pool, on eth0.
pod_new() {
	local short=$1 n addr
	shift
	[ -n "${BR_NS:-}" ] || bridge_new
	ns_new "$short"
	POD=$NS
	n=$(echo "$E2E_NS" | wc -w)
	ip link add "v$n$E2E_SUFFIX" type veth peer name eth0 netns "$POD"
	ip link set "v$n$E2E_SUFFIX" netns "$BR_NS"
	ip -n "$BR_NS" link set "v$n$E2E_SUFFIX" master br0 up
	for addr in "$@"; do
		case $addr in
		*:*) ip -n "$POD" addr add "$addr/64" dev eth0 nodad ;;
		*) ip -n "$POD" addr add "$addr/16" dev eth0 ;;
		esac
	done
	ip -n "$POD" link set eth0 up
	ip -n "$POD" route add 240.240.0.0/16 dev eth0
	if ip -n "$POD" route get 192.0.2.1 >/dev/null 2>&1; then
		echo "pod $POD has a route out" >&2
		exit 1
	fi
}

# bg NS LOGNAME CMD...: runs CMD in NS in the background; records its PID.
bg() {
	local ns=$1 log=$2
	shift 2
	ip netns exec "$ns" "$@" >"$T/$log.log" 2>&1 &
	E2E_PIDS="$E2E_PIDS $!"
	LAST_PID=$!
}

# bg_proxy_uid NS LOGNAME CMD...: the same, as the proxy uid.
bg_proxy_uid() {
	local ns=$1 log=$2
	shift 2
	ip netns exec "$ns" setpriv --reuid "$PROXY_UID" --regid "$PROXY_UID" \
	    --clear-groups "$@" >"$T/$log.log" 2>&1 &
	E2E_PIDS="$E2E_PIDS $!"
	LAST_PID=$!
}

# stop_pid PID: ends one process started by bg, waiting for it.
stop_pid() {
	kill -TERM "$1" 2>/dev/null || true
	wait "$1" 2>/dev/null || true
}

# wait_listen NS PORT: waits up to 10 s for a TCP listener on PORT.
wait_listen() {
	local i
	for i in $(seq 1 100); do
		if ip netns exec "$1" ss -Hltn "sport = :$2" | grep -q .; then
			return 0
		fi
		sleep 0.1
	done
	echo "nothing listens on port $2 in $1" >&2
	return 1
}

# in NS CMD...: runs CMD in NS.
in_ns() {
	local ns=$1
	shift
	ip netns exec "$ns" "$@"
}

# check DESCRIPTION CMD...: runs CMD; records a pass or a failure.
check() {
	local desc=$1
	shift
	E2E_CHECKS=$((E2E_CHECKS + 1))
	if "$@"; then
		echo "ok - $desc"
	else
		echo "not ok - $desc"
		E2E_FAILED=$((E2E_FAILED + 1))
	fi
}

# expect_eq DESCRIPTION WANT GOT
expect_eq() {
	E2E_CHECKS=$((E2E_CHECKS + 1))
	if [ "$2" = "$3" ]; then
		echo "ok - $1"
	else
		echo "not ok - $1: want '$2', got '$3'"
		E2E_FAILED=$((E2E_FAILED + 1))
	fi
}

# e2e_done: ends the test with the right status.
e2e_done() {
	echo "$E2E_NAME: $E2E_CHECKS checks, $E2E_FAILED failed"
	[ "$E2E_FAILED" -eq 0 ] || exit 1
	[ "$E2E_CHECKS" -gt 0 ] || exit 1
	exit 0
}

# proxy_start NS WORKLOAD [ARGS...]: starts weft-proxy in NS as root with
# --uid (it drops privileges itself) and waits for /ready; sets $PROXY_PID.
proxy_start() {
	local ns=$1 wl=$2 i
	shift 2
	bg "$ns" "proxy-$wl" "$WEFT_PROXY" --uid "$PROXY_UID" --workload "$wl" \
	    --namespace "${MESH_NAMESPACE:-e2e}" --db "$T/$wl.db" --access-log "$T/px/$wl.access" ${PROXY_ARGS:-} "$@"
	PROXY_PID=$LAST_PID
	for i in $(seq 1 100); do
		if in_ns "$ns" curl -sf --max-time 1 -o /dev/null \
		    http://127.0.0.1:15020/ready; then
			return 0
		fi
		kill -0 "$PROXY_PID" 2>/dev/null || break
		sleep 0.1
	done
	echo "weft-proxy in $ns did not become ready" >&2
	cat "$T/proxy-$wl.log" >&2
	return 1
}

# mesh_pod SHORT ADDR [ADDR...]: a pod with weft-init's capture rules and
# a sidecar named SHORT; sets $POD and $PROXY_PID.
mesh_pod() {
	pod_new "$@"
	in_ns "$POD" "$WEFT_INIT" >"$T/init-$1.log" 2>&1
	proxy_start "$POD" "$1"
}

# metric NS NAME [LABEL=VALUE...]: sums the samples of NAME whose labels
# include every LABEL="VALUE" given, from the sidecar's /metrics in NS.
metric() {
	local ns=$1 name=$2 f
	shift 2
	in_ns "$ns" curl -s --max-time 5 http://127.0.0.1:15020/metrics >"$T/metrics.txt"
	awk -v name="$name" -v want="$*" '
	BEGIN { n = split(want, w, " ") }
	{
		split($1, a, "{")
		if (a[1] != name) next
		for (i = 1; i <= n; i++) {
			split(w[i], kv, "=")
			if (index($0, kv[1] "=\"" kv[2] "\"") == 0) next
		}
		sum += $NF
	}
	END { printf "%d\n", sum }' "$T/metrics.txt"
}

# raw NS HOST PORT PAYLOAD: sends PAYLOAD (printf %b escapes) on a new TCP
# connection and prints what comes back until the peer closes (5 s max).
raw() {
	in_ns "$1" timeout 5 bash -c '
		exec 3<>"/dev/tcp/$0/$1" || exit 1
		printf "%b" "$2" >&3
		cat <&3' "$2" "$3" "$4" 2>/dev/null || true
}

# eventually DESCRIPTION CMD...: like check, for what becomes true shortly
# (a log flushed on a timer): retries CMD for up to 5 s.
eventually() {
	local desc=$1 i
	shift
	for i in $(seq 1 50); do
		if "$@"; then
			check "$desc" true
			return 0
		fi
		sleep 0.1
	done
	check "$desc" false
}

# pki_ca: a test CA in $T/pki (the openssl CLI, as an operator would).
pki_ca() {
	mkdir "$T/pki"
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	    -keyout "$T/pki/ca-key.pem" -out "$T/pki/ca.pem" -subj "/O=test/CN=test CA" \
	    -days 2 -addext basicConstraints=critical,CA:TRUE \
	    -addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null
}
# pki_leaf DIR SPIFFE-ID [openssl ca date options...]: key.pem, cert.pem
# and ca.pem for a workload, readable by the proxy uid, each replaced
# atomically (key first).
pki_leaf() {
	local dir=$1 id=$2
	shift 2
	mkdir -p "$dir"
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	    -keyout "$dir/key.new" -out "$dir/csr.pem" -subj "/O=test/CN=${id##*/}" 2>/dev/null
	cat >"$dir/ext.cnf" <<CNF
subjectAltName=URI:$id
extendedKeyUsage=serverAuth,clientAuth
keyUsage=critical,digitalSignature,keyEncipherment
basicConstraints=critical,CA:FALSE
CNF
	if [ $# -gt 0 ]; then
		mkdir -p "$T/pki/db"
		: >"$T/pki/db/index.txt"
		[ -f "$T/pki/db/serial" ] || echo 1000 >"$T/pki/db/serial"
		cat >"$T/pki/ca.cnf" <<CNF
[ca]
default_ca = test
[test]
database = $T/pki/db/index.txt
serial = $T/pki/db/serial
new_certs_dir = $T/pki/db
default_md = sha256
policy = any
unique_subject = no
[any]
CN = supplied
CNF
		openssl ca -batch -config "$T/pki/ca.cnf" -cert "$T/pki/ca.pem" \
		    -keyfile "$T/pki/ca-key.pem" -in "$dir/csr.pem" -out "$dir/cert.new" \
		    -extfile "$dir/ext.cnf" -notext "$@" 2>/dev/null
	else
		openssl x509 -req -in "$dir/csr.pem" -CA "$T/pki/ca.pem" \
		    -CAkey "$T/pki/ca-key.pem" -CAcreateserial -days 1 \
		    -extfile "$dir/ext.cnf" -out "$dir/cert.new" 2>/dev/null
	fi
	cp "$T/pki/ca.pem" "$dir/ca.new"
	chown -R "$PROXY_UID:$PROXY_UID" "$dir"
	chmod 600 "$dir/key.new"
	# Key first, then certificate, then bundle: each replaced atomically.
	mv "$dir/key.new" "$dir/key.pem"
	mv "$dir/cert.new" "$dir/cert.pem"
	mv "$dir/ca.new" "$dir/ca.pem"
}

# vm_new SHORT ADDR: a pod standing in for a VM under systemd, with its
# own /etc/passwd and /etc/group (holding the weft-proxy user that
# sysusers.d's weft.conf makes), /var/lib and settings directory, under
# $VM_DIR ($T/vm-SHORT); its units are made from systemd/*.service.in as
# make does, with the built programs as sbindir and $VM_DIR/etc as
# sysconfdir. Sets $VM (and $POD) to its namespace.
vm_new() {
	local u p uid
	pod_new "$@"
	VM=$POD
	VM_DIR=$T/vm-$1
	mkdir -p "$VM_DIR/sbin" "$VM_DIR/etc/default" "$VM_DIR/varlib" \
	    "$VM_DIR/units" "$VM_DIR/creds"
	for p in init proxy sync server; do
		ln -s "$WEFT_BUILDDIR/src/$p/weft-$p" "$VM_DIR/sbin/weft-$p"
	done
	for u in weft-init weft-proxy weft-sync; do
		sed -e "s|@sbindir[@]|$VM_DIR/sbin|g" \
		    -e "s|@sysconfdir[@]|$VM_DIR/etc|g" \
		    "$WEFT_SRCDIR/systemd/$u.service.in" >"$VM_DIR/units/$u.service"
	done
	uid=$(awk '$1 == "u" && $2 == "weft-proxy" { print $3 }' \
	    "$WEFT_SRCDIR/systemd/weft.sysusers.conf")
	cp /etc/passwd "$VM_DIR/passwd"
	cp /etc/group "$VM_DIR/group"
	if ! getent passwd weft-proxy >/dev/null; then
		echo "weft-proxy:x:$uid:$uid:weft sidecar proxy:/:/usr/sbin/nologin" >>"$VM_DIR/passwd"
		echo "weft-proxy:x:$uid:" >>"$VM_DIR/group"
	fi
	# The settings file make install puts there.
	cp "$WEFT_SRCDIR/systemd/weft.default" "$VM_DIR/etc/default/weft"
}

# vm_unit UNIT start|stop|print: runs the command lines of UNIT on the
# VM (tools/unit-exec), in the foreground.
vm_unit() {
	in_ns "$VM" "$WEFT_SRCDIR/tools/unit-exec" -C "$VM_DIR/creds" \
	    -b "$VM_DIR/passwd:/etc/passwd" -b "$VM_DIR/group:/etc/group" \
	    -b "$VM_DIR/varlib:/var/lib" "$VM_DIR/units/$1.service" "$2"
}

# vm_unit_start UNIT: starts a daemon's unit on the VM in the background,
# logging to $T/VM-UNIT.log; sets $LAST_PID, the daemon's PID.
vm_unit_start() {
	bg "$VM" "$(basename "$VM_DIR")-$1" "$WEFT_SRCDIR/tools/unit-exec" \
	    -C "$VM_DIR/creds" -b "$VM_DIR/passwd:/etc/passwd" \
	    -b "$VM_DIR/group:/etc/group" -b "$VM_DIR/varlib:/var/lib" \
	    "$VM_DIR/units/$1.service" start
}
