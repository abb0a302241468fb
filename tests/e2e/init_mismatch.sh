#!/bin/sh
# weft-init refuses to install when the other iptables backend (legacy
# next to nf_tables) holds nat rules in the namespace: both would apply.
. "$(dirname "$0")/lib.sh"

e2e_init
[ -x "$WEFT_INIT" ] || skip "weft-init not built"
iptables-restore --version | grep -q nf_tables ||
    skip "iptables-restore is not the nf_tables variant"
command -v iptables-legacy >/dev/null || skip "needs iptables-legacy"

ns_new mismatch

in_ns "$NS" iptables-legacy -t nat -A OUTPUT -d 198.18.9.9/32 -p tcp \
    -j RETURN 2>/dev/null || skip "the kernel has no legacy iptables"

rc=0
in_ns "$NS" "$WEFT_INIT" >"$T/out" 2>"$T/err" || rc=$?
check "refused with legacy nat rules present" [ "$rc" -ne 0 ]
expect_eq "one error line" 1 "$(wc -l <"$T/err")"
check "the error explains the mismatch" \
    grep -q 'nf_tables, but the legacy nat table holds 1 rule' "$T/err"
check "the error names the legacy tool" grep -q 'iptables-legacy-save' "$T/err"
expect_eq "nothing installed" 0 "$(in_ns "$NS" iptables-save 2>/dev/null |
    grep -c WEFT_ || true)"

# With the legacy rule gone (the legacy table itself stays), it works.
in_ns "$NS" iptables-legacy -t nat -D OUTPUT -d 198.18.9.9/32 -p tcp -j RETURN
rc=0
in_ns "$NS" "$WEFT_INIT" 2>"$T/err2" || rc=$?
expect_eq "installs once the legacy rules are gone" 0 "$rc"
expect_eq "no warning about the empty legacy table" 0 \
    "$(grep -c warn "$T/err2" || true)"
cleanup_ok() {
	in_ns "$NS" "$WEFT_INIT" --cleanup 2>>"$T/err2"
}
check "cleanup" cleanup_ok

e2e_done
