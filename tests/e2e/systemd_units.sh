#!/bin/bash
# The systemd units (systemd/): systemd-analyze verify finds nothing to
# say about them, with their programs at the configured paths (here the
# built ones); every setting they read is in the settings file
# (weft.default); the proxy uid agrees between weft-init, the settings
# and sysusers.d; weft-sync gets --token-file only when the join token
# credential holds one.  Needs no root.
. "$(dirname "$0")/lib.sh"
command -v systemd-analyze >/dev/null || skip "needs systemd-analyze"
: "${WEFT_SBINDIR:?set by make check}" "${WEFT_SYSCONFDIR:?set by make check}"
UNITS="weft-init weft-proxy weft-sync weft-server"
T=$(mktemp -d "${TMPDIR:-/tmp}/weft-e2e.XXXXXX")
trap e2e_cleanup EXIT
trap 'exit 130' INT TERM HUP

# The built units, their programs moved from $(sbindir) to $T/sbin.
mkdir "$T/sbin" "$T/units"
for u in $UNITS; do
	prog=$WEFT_BUILDDIR/src/${u#weft-}/$u
	[ -x "$prog" ] || { echo "$prog is not built" >&2; exit 1; }
	ln -s "$prog" "$T/sbin/$u"
	f=$WEFT_BUILDDIR/systemd/$u.service
	[ -f "$f" ] || { echo "$f is not built" >&2; exit 1; }
	sed "s|$WEFT_SBINDIR/|$T/sbin/|g" "$f" >"$T/units/$u.service"
done

check "every @variable@ substituted" \
    bash -c '! grep -n "@[a-z]*@" "$1"/*.service' _ "$T/units"
check "ExecStart under the configured sbindir" \
    grep -q "^ExecStart=$WEFT_SBINDIR/weft-proxy " \
    "$WEFT_BUILDDIR/systemd/weft-proxy.service"
check "EnvironmentFile under the configured sysconfdir" \
    grep -q "^EnvironmentFile=-$WEFT_SYSCONFDIR/default/weft\$" \
    "$WEFT_BUILDDIR/systemd/weft-sync.service"

# verify prints a line for each problem; zero lines is the bar.  It
# looks up the Documentation= pages too: here, those of the source tree.
mkdir -p "$T/man/man8"
ln -s "$WEFT_SRCDIR"/man/*.8 "$T/man/man8/"
man=yes
command -v man >/dev/null || man=no
(cd "$T/units" && MANPATH=$T/man systemd-analyze verify --man=$man \
    ./*.service) >"$T/verify.log" 2>&1 && rc=0 || rc=$?
expect_eq "systemd-analyze verify exits 0" 0 "$rc"
expect_eq "systemd-analyze verify says nothing" "" "$(cat "$T/verify.log")"

# Every WEFT_ variable a unit reads is set in the settings file, and the
# settings file is plain NAME=value lines.
DEFAULTS=$WEFT_SRCDIR/systemd/weft.default
for v in $(grep -oh 'WEFT_[A-Z_]*' "$T"/units/*.service | sort -u); do
	check "$v in weft.default" grep -q "^$v=" "$DEFAULTS"
done
check "weft.default: NAME=value lines only" \
    bash -c '! grep -v -E "^(#.*|[A-Z_]+=.*|)\$" "$1"' _ "$DEFAULTS"

# One proxy uid: weft-init's default, the settings', sysusers.d's.
init_uid=$("$WEFT_BUILDDIR/src/init/weft-init" --dry-run |
    grep -o -m1 -- '--uid-owner [0-9]*' | cut -d' ' -f2)
expect_eq "weft.default WEFT_PROXY_UID is weft-init's default" "$init_uid" \
    "$(sed -n 's/^WEFT_PROXY_UID=//p' "$DEFAULTS")"
expect_eq "sysusers.d makes weft-proxy with that uid" "$init_uid" \
    "$(awk '$1 == "u" && $2 == "weft-proxy" { print $3 }' \
    "$WEFT_SRCDIR/systemd/weft.sysusers.conf")"
for u in weft-init weft-proxy; do
	check "$u.service defaults WEFT_PROXY_UID to $init_uid" \
	    grep -q "^Environment=.*WEFT_PROXY_UID=$init_uid" \
	    "$T/units/$u.service"
done

# weft-sync's ExecStart script, run with a stand-in weft-sync that
# prints its arguments: with and without a join token credential.
awk '/^ExecStart=/ { on = 1 } on { l = $0; c = sub(/\\$/, "", l);
	printf "%s%s", l, c ? " " : "\n"; if (!c) exit }' \
    "$T/units/weft-sync.service" |
    sed -e "s|^ExecStart=/bin/sh -c '||" -e "s|'\$||" -e 's/\$\$/$/g' \
    >"$T/sync.sh"
printf '#!/bin/sh\necho "$@"\n' >"$T/sbin/weft-sync.stub"
chmod +x "$T/sbin/weft-sync.stub"
sed -i "s|$T/sbin/weft-sync|$T/sbin/weft-sync.stub|" "$T/sync.sh"
mkdir "$T/creds"
echo >"$T/creds/join-token"
sync_args() {
	env CREDENTIALS_DIRECTORY="$T/creds" WEFT_WORKLOAD=vm1 \
	    WEFT_NAMESPACE=shop WEFT_SERVICE_ACCOUNT=orders WEFT_LABELS=app=o \
	    WEFT_LOCALITY= WEFT_ADDRESS=10.0.0.5 WEFT_PORTS=http=8080 \
	    WEFT_SYNC_ARGS='--log-level debug' sh "$T/sync.sh"
}
expect_eq "weft-sync without a token" \
    "--workload vm1 --namespace shop --service-account orders --labels app=o --locality  --address 10.0.0.5 --ports http=8080 --log-level debug" \
    "$(sync_args)"
echo weft1.a.b.c >"$T/creds/join-token"
expect_eq "weft-sync with a token" \
    "--token-file $T/creds/join-token --workload vm1 --namespace shop --service-account orders --labels app=o --locality  --address 10.0.0.5 --ports http=8080 --log-level debug" \
    "$(sync_args)"

# The exposure of the daemons, for the log; not a pass or fail.
if systemd-analyze security --help 2>/dev/null | grep -q -- --offline; then
	for u in weft-proxy weft-sync weft-server; do
		(cd "$T/units" && systemd-analyze security --offline=true \
		    --no-pager "./$u.service" 2>/dev/null | tail -n 1) || true
	done
fi
e2e_done
