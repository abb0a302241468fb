#!/bin/sh
# weft-init's command line: --help, --version, and bad input refused
# with exit status 2 and one line on stderr, before any rule changes.
. "$(dirname "$0")/lib.sh"

e2e_init
[ -x "$WEFT_INIT" ] || skip "weft-init not built"

ns_new flags

rc=0
in_ns "$NS" "$WEFT_INIT" --help >"$T/help.out" 2>"$T/help.err" || rc=$?
expect_eq "--help exits 0" 0 "$rc"
check "--help prints the usage on stdout" grep -q '^usage: weft-init ' "$T/help.out"
for opt in --proxy-uid --proxy-gid --outbound-port --inbound-port \
    --include-inbound-ports --exclude-inbound-ports --exclude-outbound-ports \
    --exclude-outbound-cidrs --l4-queue --l4-fail-open --dry-run --cleanup; do
	check "--help names $opt" grep -q -- "$opt" "$T/help.out"
done
expect_eq "--help writes nothing on stderr" "" "$(cat "$T/help.err")"
check "--version prints name and version" grep -qx 'weft-init [0-9]*\.[0-9]*\.[0-9]*' \
    /dev/stdin <<EOF
$(in_ns "$NS" "$WEFT_INIT" --version)
EOF

# bad WANT ARGS...: weft-init ARGS exits 2, prints one stderr line
# containing WANT and nothing on stdout.
bad() {
	bad_want=$1
	bad_rc=0
	shift
	in_ns "$NS" "$WEFT_INIT" "$@" >"$T/bad.out" 2>"$T/bad.err" || bad_rc=$?
	expect_eq "refused: $*: exit status" 2 "$bad_rc"
	expect_eq "refused: $*: one line" "1 0" \
	    "$(wc -l <"$T/bad.err") $(wc -c <"$T/bad.out")"
	check "refused: $*: says '$bad_want'" grep -qF -- "$bad_want" "$T/bad.err"
}
bad '--outbound-port: "abc" is not a port number' --outbound-port abc
bad '--outbound-port: "0" is not a port number' --outbound-port 0
bad '"65536" is not a port number' --inbound-port 65536
bad '--inbound-port: "" is not a port number' --inbound-port ''
bad '--inbound-port: " 80" is not a port number' --inbound-port ' 80'
bad '--proxy-uid: "-1" is not a numeric id' --proxy-uid -1
bad '--proxy-gid: "proxy" is not a numeric id' --proxy-gid proxy
bad '--proxy-uid: "4294967295" is not a numeric id' --proxy-uid 4294967295
bad '--include-inbound-ports: empty item' --include-inbound-ports 80,,90
bad '"*" is not a port' --include-inbound-ports '*,80'
bad '"9010-9000" is not a port range' --exclude-inbound-ports 9010-9000
bad '"80-x" is not a port or a port range' --exclude-outbound-ports 80-x
bad '"10.0.0.0/33" is not a CIDR' --exclude-outbound-cidrs 10.0.0.0/33
bad '"fd00::/129" is not a CIDR' --exclude-outbound-cidrs fd00::/129
bad '"example.com" is not an IPv4 or IPv6 CIDR' --exclude-outbound-cidrs example.com
bad '--l4-queue: "65536" is not a queue number' --l4-queue 65536
bad '--l4-fail-open needs --l4-queue' --l4-fail-open
bad 'unknown option "--bogus"' --bogus
bad 'unknown option "-x"' -x
bad '"--dry-run" takes no value' --dry-run=yes
bad '--outbound-port: missing value' --outbound-port
bad 'unexpected argument "extra"' extra
bad 'must differ' --inbound-port 15001

expect_eq "no rule installed by any of it" 0 \
    "$(in_ns "$NS" iptables-save | grep -c WEFT_ || true)"

e2e_done
