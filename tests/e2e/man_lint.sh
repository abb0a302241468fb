#!/bin/bash
# Every manual page of man/ is clean under mandoc -T lint -W warning,
# and has the sections every page has (NAME, DESCRIPTION, EXAMPLES,
# SEE ALSO; and SYNOPSIS, but in section 7, whose pages describe
# rather than run something). Needs no root.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
command -v mandoc >/dev/null || skip "needs mandoc"
T=$(mktemp -d "${TMPDIR:-/tmp}/weft-e2e.XXXXXX")
trap e2e_cleanup EXIT
trap 'exit 130' INT TERM HUP
n=0
for page in "$WEFT_SRCDIR"/man/*.[1-9]; do
	name=$(basename "$page")
	n=$((n + 1))
	rc=0
	mandoc -T lint -W warning "$page" >"$T/lint.out" 2>&1 || rc=$?
	expect_eq "$name: mandoc -T lint -W warning says nothing" "0 " \
	    "$rc $(cat "$T/lint.out")"
	for sec in NAME SYNOPSIS DESCRIPTION EXAMPLES "SEE ALSO"; do
		case $sec.$name in
		SYNOPSIS.*.7) continue ;;
		esac
		check "$name: has $sec" grep -qx "\.Sh $sec" "$page"
	done
done
check "found the pages ($n)" test "$n" -ge 8
e2e_done
