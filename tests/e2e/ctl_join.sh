#!/bin/bash
# shellcheck disable=SC2317 # helpers called through check
# weftctl join against weft-server on loopback, with stand-ins for
# systemctl and systemd-sysusers that log their arguments, and a copy of
# /etc/passwd bind-mounted over it in a mount namespace of weftctl's own
# (root, no network namespace; no real unit or user is touched): without
# --no-start it makes the weft-proxy user when there is none and writes
# the uid the user got, writes the settings and the token, then runs
# daemon-reload, enable and restart of the three units, in that order; a
# systemctl that fails or is missing gets one line saying what to run,
# the settings being written; no user and no systemd-sysusers writes
# nothing; joining twice with the same options gives the same file;
# weftctl leave stops and disables the units (--purge: and removes the
# settings and the token); --help answers.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
[ "$(id -u)" = 0 ] || skip "needs root (a mount namespace)"
command -v curl >/dev/null || skip "needs curl"
command -v unshare >/dev/null || skip "needs unshare"
getent passwd weft-proxy >/dev/null && skip "this machine has a weft-proxy user"
WEFTCTL=$WEFT_BUILDDIR/src/ctl/weftctl
SERVER=$WEFT_BUILDDIR/src/server/weft-server
for prog in "$WEFTCTL" "$SERVER"; do
	[ -x "$prog" ] || { echo "$prog is not built" >&2; exit 1; }
done
T=$(mktemp -d "${TMPDIR:-/tmp}/weft-e2e.XXXXXX")
[ -d "$T" ] || exit 1
trap e2e_cleanup EXIT
trap 'exit 130' INT TERM HUP

# weft-server on a free loopback port (a random one, another if taken).
mkdir -m 700 "$T/srv"
URL=
for _ in 1 2 3 4 5 6 7 8 9 10; do
	port=$((20000 + $(od -An -N2 -tu2 /dev/urandom) % 10000))
	"$SERVER" --data-dir "$T/srv" --listen "127.0.0.1:$port" \
	    --webhook-listen off >"$T/server.log" 2>&1 &
	pid=$!
	E2E_PIDS="$E2E_PIDS $pid"
	for _ in $(seq 1 100); do
		kill -0 "$pid" 2>/dev/null || break
		if [ -f "$T/srv/ca.pem" ] && [ "$(curl -s -o /dev/null -w '%{http_code}' \
		    --cacert "$T/srv/ca.pem" "https://127.0.0.1:$port/v1/status")" = 401 ]; then
			URL=https://127.0.0.1:$port
			break 2
		fi
		sleep 0.1
	done
	kill "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
done
[ -n "$URL" ] || { echo "weft-server did not start" >&2; cat "$T/server.log" >&2; exit 1; }
TOKEN=$("$WEFTCTL" --server "$URL" --ca "$T/srv/ca.pem" --token-file "$T/srv/admin.token" \
    token create --workload vm1 --namespace shop --service-account orders)

# Stand-ins, in $T/bin: each logs "NAME ARGS" to $T/calls; FAIL_ON=ARG
# makes systemctl fail when its first argument is ARG; systemd-sysusers
# adds weft-proxy, uid 4242, to the /etc/passwd weftctl sees.
mkdir "$T/bin" "$T/nobin"
printf '%s\n' '#!/bin/sh' 'echo "systemctl $*" >>"$CALLS"' \
    '[ "${FAIL_ON:-}" = "$1" ] && exit 3' 'exit 0' >"$T/bin/systemctl"
printf '%s\n' '#!/bin/sh' 'echo "systemd-sysusers $*" >>"$CALLS"' \
    'echo "weft-proxy:x:4242:4242::/:/usr/sbin/nologin" >>/etc/passwd' \
    >"$T/bin/systemd-sysusers"
chmod +x "$T/bin/systemctl" "$T/bin/systemd-sysusers"
cp /etc/passwd "$T/passwd0"
export CALLS=$T/calls

# join PASSWD PATH ETC ARGS...: weftctl join with PASSWD as /etc/passwd.
join() {
	local passwd=$1 path=$2 etc=$3
	shift 3
	unshare --mount --propagation private sh -c \
	    'mount --bind "$1" /etc/passwd && shift && exec "$@"' _ "$passwd" \
	    env PATH="$path" "$WEFTCTL" join --server "$URL" --token "$TOKEN" \
	    --address 10.0.3.7 --ports http=8080 --labels app=orders \
	    --etc "$etc" "$@"
}

cp "$T/passwd0" "$T/passwd"
: >"$CALLS"
rc=0
join "$T/passwd" "$T/bin" "$T/etc" >"$T/out" 2>"$T/err" || rc=$?
expect_eq "join exits 0" 0 "$rc"
expect_eq "and says nothing on stderr" "" "$(cat "$T/err")"
expect_eq "systemd-sysusers (no weft-proxy user), daemon-reload, enable, restart" \
    "systemd-sysusers 
systemctl daemon-reload
systemctl enable weft-init.service weft-proxy.service weft-sync.service
systemctl restart weft-init.service weft-proxy.service weft-sync.service" \
    "$(cat "$CALLS")"
check "it says it started the units" \
    grep -qx 'started weft-init.service weft-proxy.service weft-sync.service' "$T/out"
check "the settings name the workload the token is for" \
    grep -qx WEFT_WORKLOAD=vm1 "$T/etc/default/weft"
check "and the uid systemd-sysusers gave weft-proxy" \
    grep -qx WEFT_PROXY_UID=4242 "$T/etc/default/weft"
expect_eq "the token file, mode 0600, root's" "600 0" \
    "$(stat -c '%a %u' "$T/etc/weft/join-token")"

# Again, the user there: the same settings, no systemd-sysusers.
cp "$T/etc/default/weft" "$T/first"
: >"$CALLS"
join "$T/passwd" "$T/bin" "$T/etc" >/dev/null 2>&1 || true
check "a second join leaves the same settings" cmp -s "$T/first" "$T/etc/default/weft"
check "and does not run systemd-sysusers" sh -c "! grep -q sysusers '$CALLS'"

# systemctl fails: one line, the settings written, exit 1.
rc=0
FAIL_ON=enable join "$T/passwd" "$T/bin" "$T/etc2" >/dev/null 2>"$T/err" || rc=$?
expect_eq "a failing systemctl: exit status 1, one line" "1 1" "$rc $(wc -l <"$T/err")"
check "saying what failed and what to run" \
    grep -q 'systemctl enable failed (exit status 3); run: systemctl daemon-reload && systemctl enable --now weft-init.service' "$T/err"
check "the settings are written all the same" grep -qx WEFT_WORKLOAD=vm1 "$T/etc2/default/weft"

# No systemctl at all.
rc=0
join "$T/passwd" "$T/nobin" "$T/etc3" >/dev/null 2>"$T/err" || rc=$?
expect_eq "no systemctl: exit status 1, one line" "1 1" "$rc $(wc -l <"$T/err")"
check "saying so" grep -q 'systemctl: No such file or directory; run: systemctl' "$T/err"

# No weft-proxy user, and no systemd-sysusers to make it.
cp "$T/passwd0" "$T/passwd"
rc=0
join "$T/passwd" "$T/nobin" "$T/etc4" >/dev/null 2>"$T/err" || rc=$?
expect_eq "no user and no systemd-sysusers: exit status 1, one line" \
    "1 1" "$rc $(wc -l <"$T/err")"
check "saying what to do" \
    grep -q 'no user weft-proxy (systemd-sysusers: No such file or directory)' "$T/err"
check "and writing nothing" test ! -e "$T/etc4/default/weft"

# --no-start runs nothing.
: >"$CALLS"
join "$T/passwd" "$T/bin" "$T/etc5" --no-start >"$T/out" 2>&1
expect_eq "--no-start runs neither systemctl nor systemd-sysusers" "" "$(cat "$CALLS")"
check "and says what to run" grep -q 'systemctl enable --now' "$T/out"
# An operator's file: blanks around "=", a duplicate, its own mode.
mkdir -p "$T/etc6/default"
printf '%s\n' '# mine' 'WEFT_WORKLOAD = old' 'WEFT_SYNC_ARGS=--log-level debug' \
    'WEFT_WORKLOAD=older' >"$T/etc6/default/weft"
chmod 640 "$T/etc6/default/weft"
join "$T/passwd" "$T/bin" "$T/etc6" --no-start >/dev/null 2>&1
expect_eq "its lines kept, the workload set once, in place" \
    "# mine|WEFT_WORKLOAD=vm1|WEFT_SYNC_ARGS=--log-level debug" \
    "$(sed -n 1,3p "$T/etc6/default/weft" | tr '\n' '|' | sed 's/|$//')"
expect_eq "no other WEFT_WORKLOAD line" 1 "$(grep -c WEFT_WORKLOAD "$T/etc6/default/weft")"
expect_eq "its mode kept" 640 "$(stat -c %a "$T/etc6/default/weft")"
# weftctl leave: the units stopped and disabled, weft-sync first; the
# files kept, or removed with --purge.
leave() { # PATH ARGS...
	local path=$1
	shift
	env PATH="$path" "$WEFTCTL" leave "$@"
}
: >"$CALLS"
rc=0
leave "$T/bin" --etc "$T/etc" >"$T/out" 2>&1 || rc=$?
expect_eq "leave: exit 0, systemctl disable --now, weft-sync first" \
    "0 systemctl disable --now weft-sync.service weft-proxy.service weft-init.service" \
    "$rc $(cat "$CALLS")"
check "leave keeps the settings and the token" \
    test -f "$T/etc/default/weft" -a -f "$T/etc/weft/join-token"
leave "$T/bin" --etc "$T/etc" --purge >"$T/out" 2>&1 || rc=$?
check "leave --purge removes them" \
    test ! -e "$T/etc/default/weft" -a ! -e "$T/etc/weft/join-token"
rc=0
FAIL_ON=disable leave "$T/bin" --etc "$T/etc" >/dev/null 2>"$T/err" || rc=$?
expect_eq "leave with a failing systemctl: exit 1, one line" "1 1" \
    "$rc $(wc -l <"$T/err")"
check "saying what to run" grep -q 'run: systemctl disable --now' "$T/err"
check "the machine's /etc/passwd is untouched" cmp -s "$T/passwd0" /etc/passwd

check "weftctl join --help" sh -c "'$WEFTCTL' join --help | grep -q '^usage: weftctl join'"
check "weftctl --help lists join" sh -c "'$WEFTCTL' --help | grep -q '^  join '"
e2e_done
