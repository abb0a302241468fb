#!/bin/bash
# Request smuggling and malformed framing are answered 400 (or 505) and
# the connection closed, on the outbound side and on the inbound side,
# and nothing of them reaches the backend.
. "$(dirname "$0")/lib.sh"
e2e_init

mesh_pod srv 198.18.2.2
SRV=$POD
bg "$SRV" backend "$WEFT_TESTD" --listen 0.0.0.0:8080 --name srv \
    --log "$T/backend.jsonl"
wait_listen "$SRV" 8080
mesh_pod cli 198.18.2.1
CLI=$POD
# A pod without a sidecar, to reach the server sidecar's inbound side.
pod_new bare 198.18.2.3
BARE=$POD

H='Host: srv\r\n'
declare -A cases=(
	[cl-te]="POST / HTTP/1.1\r\n${H}Content-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\n${H}\r\n"
	[te-cl]="POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n8\r\nSMUGGLED\r\n0\r\n\r\n"
	[dup-cl]="POST / HTTP/1.1\r\n${H}Content-Length: 5\r\nContent-Length: 30\r\n\r\nhelloGET /smuggled HTTP/1.1\r\n\r\n"
	[same-dup-cl]="POST / HTTP/1.1\r\n${H}Content-Length: 5\r\nContent-Length: 5\r\n\r\nhello"
	[cl-list]="POST / HTTP/1.1\r\n${H}Content-Length: 5, 5\r\n\r\nhello"
	[cl-sign]="POST / HTTP/1.1\r\n${H}Content-Length: +5\r\n\r\nhello"
	[cl-hex]="POST / HTTP/1.1\r\n${H}Content-Length: 0x5\r\n\r\nhello"
	[te-xchunked]="POST / HTTP/1.1\r\n${H}Transfer-Encoding: xchunked\r\n\r\n0\r\n\r\n"
	[te-space-colon]="POST / HTTP/1.1\r\n${H}Transfer-Encoding : chunked\r\n\r\n0\r\n\r\n"
	[te-twice]="POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n\r\n0\r\n\r\n"
	[te-not-last]="POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n"
	[te-http10]="POST / HTTP/1.0\r\n${H}Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
	[obs-fold]="GET / HTTP/1.1\r\n${H}X-Folded: a\r\n b\r\n\r\n"
	[bare-cr]="GET / HTTP/1.1\r\n${H}X-A: a\rb\r\n\r\n"
	[bare-lf]="GET / HTTP/1.1\n${H}\n"
	[nul]="GET / HTTP/1.1\r\n${H}X-A: a\x00b\r\n\r\n"
	[no-host]="GET / HTTP/1.1\r\nX-A: a\r\n\r\n"
	[two-hosts]="GET / HTTP/1.1\r\n${H}Host: other\r\n\r\n"
	[bad-chunk-size]="POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n0x5\r\nhello\r\n0\r\n\r\n"
	[neg-chunk-size]="POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n-1\r\nx\r\n0\r\n\r\n"
	[chunk-no-crlf]="POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n5\r\nhelloXX0\r\n\r\n"
	[space-in-target]="GET /a b HTTP/1.1\r\n${H}\r\n"
	[bad-version]="GET / HTTP/1.2\r\n${H}\r\n"
)

# Lines of a request past 64 KiB of header section.
big="GET / HTTP/1.1\r\n${H}"
filler=$(head -c 1000 /dev/zero | tr '\0' a)
for i in $(seq 1 70); do
	big="${big}X-Filler-$i: $filler\r\n"
done
cases[oversized-headers]="${big}\r\n"

for from in cli bare; do
	if [ $from = cli ]; then ns=$CLI; else ns=$BARE; fi
	for name in "${!cases[@]}"; do
		reply=$(raw "$ns" 198.18.2.2 8080 "${cases[$name]}")
		status=$(printf '%s' "$reply" | head -n 1 | tr -d '\r' | awk '{print $2}')
		want=400
		[ "$name" = bad-version ] && want=505
		# A chunked body broken mid-way may follow a forwarded head: the
		# proxy then answers 400 if nothing of the response went out yet.
		expect_eq "$from: $name refused" "$want" "$status"
		count=$(printf '%s' "$reply" | grep -c '^HTTP/1' || true)
		expect_eq "$from: $name gets one response and a close" 1 "$count"
	done
done

# A valid request after all that still works, on both paths.
for ns in "$CLI" "$BARE"; do
	code=$(in_ns "$ns" curl -s --max-time 5 -o /dev/null -w '%{http_code}' \
	    http://198.18.2.2:8080/still-fine)
	expect_eq "a valid request is served" 200 "$code"
done
check "nothing smuggled reached the backend" \
    sh -c "! grep -qi smuggled '$T/backend.jsonl'"
expect_eq "refusals counted as bad_request on the client sidecar" 1 \
    "$(metric "$CLI" weft_denied_total reason=bad_request | awk '{print ($1 >= 20)}')"
expect_eq "refusals counted as bad_request on the server sidecar" 1 \
    "$(metric "$SRV" weft_denied_total reason=bad_request | awk '{print ($1 >= 20)}')"

e2e_done
