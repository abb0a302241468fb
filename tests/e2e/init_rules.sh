#!/bin/sh
# weft-init installs its chains and jumps, is idempotent, follows its
# exclusion flags, changes nothing with --dry-run, and --cleanup leaves
# iptables and ip6tables exactly as they were, user rules included.
. "$(dirname "$0")/lib.sh"

e2e_init
[ -x "$WEFT_INIT" ] || skip "weft-init not built"
command -v ip6tables-save >/dev/null || skip "needs ip6tables"
ns_new init

# norm CMD: CMD's output without comments and counters.
norm() {
	in_ns "$NS" "$@" | grep -v '^#' | sed 's/\[[0-9]*:[0-9]*\]/[0:0]/'
}
save4() {
	norm iptables-save
}
save6() {
	norm ip6tables-save
}
# count CMD LINE: how many lines of CMD's output are exactly LINE.
count() {
	norm "$1" | grep -cxF -- "$2" || true
}
init() {
	in_ns "$NS" "$WEFT_INIT" "$@" 2>>"$T/init.log"
}

# Rules of the user, in every table weft touches, and one in filter.
in_ns "$NS" iptables-restore --noflush <<'EOF'
*nat
:USER_NAT - [0:0]
-A USER_NAT -p udp -j RETURN
-A PREROUTING -p udp -j USER_NAT
-A OUTPUT -d 198.18.9.9/32 -p tcp -j RETURN
COMMIT
*mangle
-A OUTPUT -p udp -m udp --dport 9997 -j MARK --set-xmark 0x1/0xffffffff
COMMIT
*filter
-A INPUT -p tcp -m tcp --dport 9999 -j ACCEPT
-A OUTPUT -p tcp -m tcp --dport 9998 -j DROP
COMMIT
EOF
in_ns "$NS" ip6tables-restore --noflush <<'EOF'
*nat
-A OUTPUT -d fd00:9::9/128 -p tcp -j RETURN
COMMIT
*mangle
-A OUTPUT -p udp -m udp --dport 9997 -j MARK --set-xmark 0x1/0xffffffff
COMMIT
EOF
BEFORE4=$(save4)
BEFORE6=$(save6)

# --dry-run: prints both families' input, changes nothing, also as
# an unprivileged user.
init --dry-run >"$T/dry.out"
check "dry-run prints an IPv4 header" \
    grep -q '^# weft-init .*iptables-restore --noflush.*(IPv4)' "$T/dry.out"
check "dry-run prints an IPv6 header" \
    grep -q '^# weft-init .*ip6tables-restore --noflush.*(IPv6)' "$T/dry.out"
expect_eq "dry-run prints two nat tables" 2 "$(grep -c '^\*nat$' "$T/dry.out")"
expect_eq "dry-run changes no IPv4 rule" "$BEFORE4" "$(save4)"
expect_eq "dry-run changes no IPv6 rule" "$BEFORE6" "$(save6)"
in_ns "$NS" setpriv --reuid 65534 --regid 65534 --clear-groups \
    "$WEFT_INIT" --dry-run >"$T/dry-user.out" 2>"$T/dry-user.err"
check "dry-run works unprivileged" grep -q '^-A WEFT_OUTPUT -j WEFT_REDIRECT$' \
    "$T/dry-user.out"
expect_eq "unprivileged dry-run is quiet on stderr" "" "$(cat "$T/dry-user.err")"

# Install with the defaults.
init
S4=$(save4)
S6=$(save6)
for chain in WEFT_INBOUND WEFT_IN_REDIRECT WEFT_OUTPUT WEFT_REDIRECT; do
	expect_eq "IPv4 chain $chain" 1 "$(count iptables-save ":$chain - [0:0]")"
	expect_eq "IPv6 chain $chain" 1 "$(count ip6tables-save ":$chain - [0:0]")"
done
expect_eq "PREROUTING jump" 1 \
    "$(count iptables-save '-A PREROUTING -p tcp -j WEFT_INBOUND')"
expect_eq "OUTPUT jump" 1 "$(count iptables-save '-A OUTPUT -p tcp -j WEFT_OUTPUT')"
expect_eq "IPv6 OUTPUT jump" 1 \
    "$(count ip6tables-save '-A OUTPUT -p tcp -j WEFT_OUTPUT')"
expect_eq "outbound redirect to 15001" 1 \
    "$(count iptables-save '-A WEFT_REDIRECT -p tcp -j REDIRECT --to-ports 15001')"
expect_eq "inbound redirect to 15006" 1 \
    "$(count iptables-save '-A WEFT_IN_REDIRECT -p tcp -j REDIRECT --to-ports 15006')"
expect_eq "own ports 15000-15099 not captured" 1 \
    "$(count iptables-save '-A WEFT_INBOUND -p tcp -m tcp --dport 15000:15099 -j RETURN')"
expect_eq "all other inbound TCP captured" 1 \
    "$(count iptables-save '-A WEFT_INBOUND -p tcp -j WEFT_IN_REDIRECT')"
expect_eq "proxy uid not captured" 1 \
    "$(count iptables-save '-A WEFT_OUTPUT -m owner --uid-owner 1337 -j RETURN')"
expect_eq "proxy gid not captured" 1 \
    "$(count iptables-save '-A WEFT_OUTPUT -m owner --gid-owner 1337 -j RETURN')"
expect_eq "127.0.0.6 not captured" 1 \
    "$(count iptables-save '-A WEFT_OUTPUT -s 127.0.0.6/32 -o lo -j RETURN')"
expect_eq "IPv6 loopback not captured" 1 \
    "$(count ip6tables-save '-A WEFT_OUTPUT -d ::1/128 -j RETURN')"
expect_eq "the proxy calling its own pod goes inbound" 1 \
    "$(count iptables-save '-A WEFT_OUTPUT ! -d 127.0.0.1/32 -o lo -m owner --uid-owner 1337 -j WEFT_IN_REDIRECT')"
expect_eq "WEFT_OUTPUT ends in WEFT_REDIRECT" "-A WEFT_OUTPUT -j WEFT_REDIRECT" \
    "$(save4 | grep '^-A WEFT_OUTPUT ' | tail -n 1)"
expect_eq "no mangle rules without --l4-queue" 0 \
    "$(save4 | grep -c 'WEFT_L4' || true)"
expect_eq "user rules kept" "$(echo "$BEFORE4" | grep -c '^-A')" \
    "$(save4 | grep '^-A' | grep -vc 'WEFT_' || true)"

# Idempotent: a second run leaves exactly the same rules.
init
expect_eq "second run changes no IPv4 rule" "$S4" "$(save4)"
expect_eq "second run changes no IPv6 rule" "$S6" "$(save6)"
expect_eq "second run: one OUTPUT jump" 1 \
    "$(count iptables-save '-A OUTPUT -p tcp -j WEFT_OUTPUT')"

# A jump duplicated by hand is brought back to one copy.
in_ns "$NS" iptables -t nat -A OUTPUT -p tcp -j WEFT_OUTPUT
init
expect_eq "duplicated jump removed" 1 \
    "$(count iptables-save '-A OUTPUT -p tcp -j WEFT_OUTPUT')"
expect_eq "and the rules are as before" "$S4" "$(save4)"

# The dry-run of a second install declares (flushes) the chains and
# adds no jump.
init --dry-run >"$T/dry2.out"
expect_eq "dry-run over an install adds no jump" 0 \
    "$(grep -c '^-A \(PREROUTING\|OUTPUT\) ' "$T/dry2.out" || true)"

# Exclusions and other settings replace the rules, still one jump each.
init --proxy-uid 2000 --proxy-gid 2001 --outbound-port 16001 \
    --inbound-port 16006 --include-inbound-ports 80,8000-8010 \
    --exclude-inbound-ports 22,9000-9010 --exclude-outbound-ports 5432,6000-6010 \
    --exclude-outbound-cidrs '10.0.0.0/8, 198.18.7.1, fd00:7::/32' --l4-queue 5
expect_eq "included port captured" 1 \
    "$(count iptables-save '-A WEFT_INBOUND -p tcp -m tcp --dport 80 -j WEFT_IN_REDIRECT')"
expect_eq "included range captured" 1 \
    "$(count iptables-save '-A WEFT_INBOUND -p tcp -m tcp --dport 8000:8010 -j WEFT_IN_REDIRECT')"
expect_eq "not all inbound TCP captured" 0 \
    "$(count iptables-save '-A WEFT_INBOUND -p tcp -j WEFT_IN_REDIRECT')"
expect_eq "excluded inbound port" 1 \
    "$(count iptables-save '-A WEFT_INBOUND -p tcp -m tcp --dport 22 -j RETURN')"
expect_eq "excluded inbound range" 1 \
    "$(count ip6tables-save '-A WEFT_INBOUND -p tcp -m tcp --dport 9000:9010 -j RETURN')"
expect_eq "excluded outbound port" 1 \
    "$(count iptables-save '-A WEFT_OUTPUT -p tcp -m tcp --dport 5432 -j RETURN')"
expect_eq "excluded outbound range" 1 \
    "$(count ip6tables-save '-A WEFT_OUTPUT -p tcp -m tcp --dport 6000:6010 -j RETURN')"
expect_eq "excluded IPv4 CIDR" 1 \
    "$(count iptables-save '-A WEFT_OUTPUT -d 10.0.0.0/8 -j RETURN')"
expect_eq "excluded IPv4 host" 1 \
    "$(count iptables-save '-A WEFT_OUTPUT -d 198.18.7.1/32 -j RETURN')"
expect_eq "IPv4 CIDR not in ip6tables" 0 "$(save6 | grep -c '10\.0\.0\.0' || true)"
expect_eq "excluded IPv6 CIDR" 1 \
    "$(count ip6tables-save '-A WEFT_OUTPUT -d fd00:7::/32 -j RETURN')"
expect_eq "IPv6 CIDR not in iptables" 0 "$(save4 | grep -c 'fd00:7' || true)"
expect_eq "proxy uid 2000" 1 \
    "$(count iptables-save '-A WEFT_OUTPUT -m owner --uid-owner 2000 -j RETURN')"
expect_eq "proxy gid 2001" 1 \
    "$(count iptables-save '-A WEFT_OUTPUT -m owner --gid-owner 2001 -j RETURN')"
expect_eq "outbound port 16001" 1 \
    "$(count iptables-save '-A WEFT_REDIRECT -p tcp -j REDIRECT --to-ports 16001')"
expect_eq "inbound port 16006" 1 \
    "$(count ip6tables-save '-A WEFT_IN_REDIRECT -p tcp -j REDIRECT --to-ports 16006')"
expect_eq "old uid gone" 0 "$(save4 | grep -c 'owner 1337' || true)"
expect_eq "still one PREROUTING jump" 1 \
    "$(count iptables-save '-A PREROUTING -p tcp -j WEFT_INBOUND')"
expect_eq "L4 jump in mangle OUTPUT" 1 \
    "$(count iptables-save '-A OUTPUT -j WEFT_L4_OUTPUT')"

# An empty include list captures no inbound traffic at all, and drops
# the L4 rules that were installed before.
init --include-inbound-ports ''
expect_eq "no PREROUTING jump" 0 "$(save4 | grep -c 'WEFT_INBOUND' || true)"
expect_eq "no IPv6 PREROUTING jump" 0 "$(save6 | grep -c 'WEFT_INBOUND' || true)"
expect_eq "no L4 rules left" 0 "$(save4 | grep -c 'WEFT_L4' || true)"
expect_eq "OUTPUT jump kept" 1 "$(count iptables-save '-A OUTPUT -p tcp -j WEFT_OUTPUT')"

# --cleanup restores exactly what was there, and is then a no-op.
init --l4-queue 5
init --cleanup
expect_eq "cleanup restores IPv4 rules" "$BEFORE4" "$(save4)"
expect_eq "cleanup restores IPv6 rules" "$BEFORE6" "$(save6)"
check "second cleanup succeeds" init --cleanup
expect_eq "second cleanup changes nothing" "$BEFORE4" "$(save4)"

# A failing iptables-restore is reported in one line quoting its error
# and the input line it names; nothing of the batch is applied.
init
in_ns "$NS" iptables -t nat -A USER_NAT -p tcp -j WEFT_REDIRECT
S4=$(save4)
rc=0
in_ns "$NS" "$WEFT_INIT" --cleanup >"$T/fail.out" 2>"$T/fail.err" || rc=$?
check "cleanup fails when a user chain still uses a weft chain" [ "$rc" -ne 0 ]
expect_eq "one error line" 1 "$(wc -l <"$T/fail.err")"
check "the error names iptables-restore and the input line" \
    grep -q 'iptables-restore.*(input line [0-9]*: -X WEFT_' "$T/fail.err"
expect_eq "failed batch changed nothing" "$S4" "$(save4)"
in_ns "$NS" iptables -t nat -D USER_NAT -p tcp -j WEFT_REDIRECT
init --cleanup
expect_eq "cleanup after the fix restores IPv4 rules" "$BEFORE4" "$(save4)"

# In a namespace with no rules at all, the nf_tables backend creates
# the tables and their built-in chains on first use; --cleanup leaves
# them empty (ACCEPT policies, no rule, no chain of its own).
ns_new empty
NS0=$NS
in_ns "$NS0" "$WEFT_INIT" --l4-queue 1 2>>"$T/init.log"
in_ns "$NS0" "$WEFT_INIT" --cleanup 2>>"$T/init.log"
expect_eq "fresh namespace: no rule left" "" \
    "$( (in_ns "$NS0" iptables-save; in_ns "$NS0" ip6tables-save) |
	grep -v '^\(#\|\*\|COMMIT$\|:[A-Z]* ACCEPT \)' || true)"

# A missing iptables-restore is one clear error (its directory hidden
# by an empty tmpfs in a private mount namespace).
RESTORE=$(sed -n 's/^#define IPTABLES_RESTORE "\(.*\)"$/\1/p' \
    "$WEFT_BUILDDIR/config.h" 2>/dev/null || true)
if [ -n "$RESTORE" ] && command -v unshare >/dev/null; then
	rc=0
	in_ns "$NS" unshare -m --propagation private sh -c \
	    'mount -t tmpfs weft-test "$1" && exec "$0"' "$WEFT_INIT" \
	    "$(dirname "$RESTORE")" >"$T/missing.out" 2>"$T/missing.err" || rc=$?
	expect_eq "missing iptables-restore: exit status 1" 1 "$rc"
	expect_eq "missing iptables-restore: one line" 1 "$(wc -l <"$T/missing.err")"
	check "missing iptables-restore: says so" \
	    grep -q 'iptables-restore not found' "$T/missing.err"
fi

# IPv6 disabled in the namespace: a warning, IPv4 rules only.
ns_new nov6
NS6=$NS
in_ns "$NS6" sysctl -qw net.ipv6.conf.all.disable_ipv6=1
rc=0
in_ns "$NS6" "$WEFT_INIT" 2>"$T/nov6.err" || rc=$?
expect_eq "IPv6 disabled: success" 0 "$rc"
check "IPv6 disabled: warned" grep -q 'IPv6 is disabled' "$T/nov6.err"
expect_eq "IPv6 disabled: IPv4 rules" 1 \
    "$(in_ns "$NS6" iptables-save | grep -cxF -- '-A OUTPUT -p tcp -j WEFT_OUTPUT' || true)"
expect_eq "IPv6 disabled: no IPv6 rules" 0 \
    "$(in_ns "$NS6" ip6tables-save | grep -c WEFT_ || true)"

e2e_done
