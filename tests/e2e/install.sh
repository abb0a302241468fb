#!/bin/bash
# make install DESTDIR=...: the programs, the man pages of every program
# and file format, the schema, the systemd units, the sysusers.d file
# and the settings file go where the configured directories say (Debian's
# when configured as Debian does); the settings file an operator edited
# is kept by a second make install; systemd-analyze verify finds nothing
# to say about the installed units with the installed programs at their
# real paths under DESTDIR. Needs no root.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
: "${WEFT_SBINDIR:?set by make check}" "${WEFT_SYSCONFDIR:?}" \
    "${WEFT_BINDIR:?}" "${WEFT_MANDIR:?}" "${WEFT_PKGDATADIR:?}" \
    "${WEFT_UNITDIR:?}" "${WEFT_SYSUSERSDIR:?}"
command -v make >/dev/null || skip "needs make"
T=$(mktemp -d "${TMPDIR:-/tmp}/weft-e2e.XXXXXX")
trap e2e_cleanup EXIT
trap 'exit 130' INT TERM HUP
R=$T/root

# The make of the build directory, not the one running this test.
install_to() {
	env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL \
	    make -s -C "$WEFT_BUILDDIR" install DESTDIR="$1" >"$T/install.log" 2>&1
}
check "make install DESTDIR=... succeeds" install_to "$R"

for p in weft-init weft-proxy weft-sync weft-server; do
	check "$p in sbindir" test -x "$R$WEFT_SBINDIR/$p"
done
check "weftctl in bindir" test -x "$R$WEFT_BINDIR/weftctl"
for page in "$WEFT_SRCDIR"/man/*.[0-9]; do
	sec=${page##*.}
	check "$(basename "$page") in man$sec" \
	    cmp -s "$page" "$R$WEFT_MANDIR/man$sec/$(basename "$page")"
done
for page in weft-init.8 weft-proxy.8 weft-sync.8 weft-server.8 weftctl.8 \
    weft-policy.5 weft-env.5 weft-units.7; do
	check "the man pages include $page" test -f "$WEFT_SRCDIR/man/$page"
done
check "the schema in pkgdatadir" \
    cmp -s "$WEFT_SRCDIR/sql/schema.sql" "$R$WEFT_PKGDATADIR/schema.sql"
for u in weft-init weft-proxy weft-sync weft-server; do
	check "$u.service in the unit directory" test -f "$R$WEFT_UNITDIR/$u.service"
done
check "sysusers.d/weft.conf makes weft-proxy" \
    grep -q '^u weft-proxy 1337 ' "$R$WEFT_SYSUSERSDIR/weft.conf"
settings=$R$WEFT_SYSCONFDIR/default/weft
check "the settings file in sysconfdir/default" \
    cmp -s "$WEFT_SRCDIR/systemd/weft.default" "$settings"
check "the units read it from there" \
    grep -q "^EnvironmentFile=-$WEFT_SYSCONFDIR/default/weft\$" \
    "$R$WEFT_UNITDIR/weft-proxy.service"

# An operator's settings survive a second make install.
sed -i 's/^WEFT_WORKLOAD=$/WEFT_WORKLOAD=billing/' "$settings"
cp "$settings" "$T/edited"
check "a second make install succeeds" install_to "$R"
check "and keeps the edited settings file" cmp -s "$T/edited" "$settings"
check "and says so" grep -q "keeping .*default/weft" "$T/install.log"

# systemd-analyze verify under DESTDIR: the installed units, the
# installed programs at the paths the units name; the man pages of
# Documentation= from the installed ones. The targets the units order
# against, and the two programs they use from the base system, come
# from this machine.
# Only where systemd looks for units: make distcheck installs them under
# its own prefix, where no systemd would find them.
case $WEFT_UNITDIR in
/lib/systemd/system | /usr/lib/systemd/system | /etc/systemd/system) ;;
*) WEFT_UNITDIR_ODD=1 ;;
esac
if [ -n "${WEFT_UNITDIR_ODD:-}" ]; then
	echo "# units installed in $WEFT_UNITDIR, where systemd does not look: not verified"
elif command -v systemd-analyze >/dev/null && [ -d /usr/lib/systemd/system ]; then
	mkdir -p "$R/usr/lib/systemd/system" "$R/usr/bin" "$R/bin"
	cp /usr/lib/systemd/system/*.target "$R/usr/lib/systemd/system/"
	cp /usr/bin/install "$R/usr/bin/install"
	cp /bin/sh "$R/bin/sh"
	man=yes
	command -v man >/dev/null || man=no
	rc=0
	(cd "$R$WEFT_UNITDIR" && MANPATH=$R$WEFT_MANDIR systemd-analyze verify \
	    --man=$man --root="$R" ./weft-*.service) >"$T/verify.log" 2>&1 || rc=$?
	expect_eq "systemd-analyze verify --root of the installed units exits 0" 0 "$rc"
	expect_eq "and says nothing" "" "$(cat "$T/verify.log")"
	# The check is real: a program missing under DESTDIR is reported.
	mv "$R$WEFT_SBINDIR/weft-proxy" "$T/weft-proxy"
	(cd "$R$WEFT_UNITDIR" && systemd-analyze verify --man=no --root="$R" \
	    ./weft-proxy.service) >"$T/verify2.log" 2>&1 || true
	check "a missing weft-proxy would be reported" \
	    grep -q "$WEFT_SBINDIR/weft-proxy is not executable" "$T/verify2.log"
else
	echo "# systemd-analyze is missing: the installed units are not verified"
fi
e2e_done
