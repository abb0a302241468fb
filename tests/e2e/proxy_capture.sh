#!/bin/bash
# Two pods, each with weft-init and weft-proxy, a test backend in the
# server pod and curl in the client pod: traffic is captured both ways,
# the proxy uid is not captured, connections are reused, large bodies
# stream intact, both sidecars count it, and with a sidecar down traffic
# is refused rather than let through.
. "$(dirname "$0")/lib.sh"
e2e_init

mesh_pod srv 198.18.1.2 2001:2:0:1::2
SRV=$POD
SRV_PROXY=$PROXY_PID
bg "$SRV" backend "$WEFT_TESTD" --listen 0.0.0.0:8080 --listen '[::]:8080' --name srv \
    --log "$T/backend.jsonl" --ready-file "$T/backend.ready"
wait_listen "$SRV" 8080
mesh_pod cli 198.18.1.1 2001:2:0:1::1
CLI=$POD
CLI_PROXY=$PROXY_PID

URL=http://198.18.1.2:8080

# Capture in both directions: the backend sees the server sidecar's
# loopback connection, and each sidecar counts the request as its side.
out=$(in_ns "$CLI" curl -s --max-time 5 -D "$T/h1" "$URL/hello")
expect_eq "request through both sidecars answers" "/hello" \
    "$(echo "$out" | sed -n 's/.*"path":"\([^"]*\)".*/\1/p')"
check "backend peer is the server sidecar on loopback" \
    grep -qi '^X-Peer: 127\.0\.0\.1:' "$T/h1"
expect_eq "client sidecar counted it as source" 1 \
    "$(metric "$CLI" weft_requests_total reporter=source response_code=200 method=GET)"
expect_eq "server sidecar counted it as destination" 1 \
    "$(metric "$SRV" weft_requests_total reporter=destination response_code=200 destination_workload=srv)"
eventually "client access log has the request" \
    grep -q '"direction":"outbound".*"path":"/hello".*"response_code":200' "$T/px/cli.access"

# IPv6: captured on both sides too, original destination from
# IP6T_SO_ORIGINAL_DST, forwarded to the application on ::1.
out=$(in_ns "$CLI" curl -s --max-time 5 -D "$T/h6" 'http://[2001:2:0:1::2]:8080/over-v6')
check "IPv6 request through both sidecars" grep -q '"path":"/over-v6"' <<<"$out"
check "IPv6 backend peer is the server sidecar on ::1" \
    grep -qi '^X-Peer: \[::1\]:' "$T/h6"
expect_eq "IPv6 counted by the client sidecar" 1 \
    "$(metric "$CLI" weft_requests_total reporter=source 'destination_service=[2001:2:0:1::2]:8080')"

# The proxy uid is not captured: its connection goes straight to the
# server pod, and the client sidecar sees nothing.
before=$(metric "$CLI" weft_requests_total reporter=source)
out=$(in_ns "$CLI" setpriv --reuid "$PROXY_UID" --regid "$PROXY_UID" \
    --clear-groups curl -s --max-time 5 "$URL/as-proxy-uid")
check "proxy uid reaches the server" grep -q as-proxy-uid <<<"$out"
expect_eq "proxy uid traffic is not captured" "$before" \
    "$(metric "$CLI" weft_requests_total reporter=source)"

# Keep-alive on both sides: two requests on one client connection use one
# upstream connection to the backend; a second client connection reuses
# the pooled sidecar-to-sidecar connection.
in_ns "$CLI" curl -s --max-time 5 -D "$T/h2" -o /dev/null "$URL/a" \
    -o /dev/null "$URL/b"
ids=$(grep -i '^X-Conn-Id:' "$T/h2" | tr -d '\r' | awk '{print $2}' | sort -u | wc -l)
expect_eq "two requests share one backend connection" 1 "$ids"
reqs=$(grep -i '^X-Conn-Req:' "$T/h2" | tr -d '\r' | awk '{print $2}' | paste -sd' ')
expect_eq "they follow each other on that connection" 1 \
    "$(echo "$reqs" | awk '{print $2 - $1}')"
opened=$(metric "$SRV" weft_tcp_connections_opened_total reporter=destination)
in_ns "$CLI" curl -s --max-time 5 -o /dev/null "$URL/c"
expect_eq "a new client connection reuses the sidecar pool" "$opened" \
    "$(metric "$SRV" weft_tcp_connections_opened_total reporter=destination)"

# Large bodies stream intact both ways (and the sidecars stay small).
head -c 67108864 /dev/urandom >"$T/big"
want=$(sha256sum "$T/big" | cut -d' ' -f1)
out=$(in_ns "$CLI" curl -s --max-time 60 --data-binary @"$T/big" "$URL/upload")
expect_eq "64 MiB upload with Content-Length arrives intact" "$want" \
    "$(echo "$out" | sed -n 's/.*"body_sha256":"\([0-9a-f]*\)".*/\1/p')"
out=$(in_ns "$CLI" curl -s --max-time 60 -H 'Transfer-Encoding: chunked' \
    --data-binary @"$T/big" "$URL/upload-chunked")
expect_eq "64 MiB chunked upload arrives intact" "$want" \
    "$(echo "$out" | sed -n 's/.*"body_sha256":"\([0-9a-f]*\)".*/\1/p')"
n=104857600
expect_eq "100 MiB chunked download arrives intact" \
    "$(in_ns "$CLI" curl -s --max-time 10 "$URL/sha256/$n")" \
    "$(in_ns "$CLI" curl -s --max-time 60 "$URL/bytes/$n?chunked=1" | sha256sum | cut -d' ' -f1)"
expect_eq "100 MiB download with Content-Length arrives intact" \
    "$(in_ns "$CLI" curl -s --max-time 10 "$URL/sha256/$n")" \
    "$(in_ns "$CLI" curl -s --max-time 60 "$URL/bytes/$n" | sha256sum | cut -d' ' -f1)"
for pid in "$CLI_PROXY" "$SRV_PROXY"; do
	hwm=$(awk '/^VmHWM/ {print $2}' "/proc/$pid/status")
	check "sidecar $pid peak memory ${hwm} KiB stays under 32 MiB (+ $MEM_SLACK_KIB KiB sanitizer slack)" \
	    test "$hwm" -lt $((32768 + MEM_SLACK_KIB))
done
expect_eq "bytes counted on the client side" 1 \
    "$(metric "$CLI" weft_request_bytes_count reporter=source method=POST | awk '{print ($1 >= 2)}')"

# HEAD, 1xx and a backend error pass through unchanged.
code=$(in_ns "$CLI" curl -s --max-time 5 -I -o /dev/null -w '%{http_code}' "$URL/bytes/100")
expect_eq "HEAD answers 200" 200 "$code"
code=$(in_ns "$CLI" curl -s --max-time 5 -o /dev/null -w '%{http_code}' "$URL/status/503")
expect_eq "backend status passes through" 503 "$code"
expect_eq "503 counted with its code" 1 \
    "$(metric "$CLI" weft_requests_total response_code=503)"
out=$(in_ns "$CLI" curl -s --max-time 5 -D "$T/h3" "$URL/hints")
check "103 Early Hints is forwarded" grep -q '^HTTP/1.1 103' "$T/h3"
out=$(in_ns "$CLI" curl -s --max-time 5 -H 'Expect: 100-continue' \
    --data-binary @"$T/big" -o /dev/null -w '%{http_code}' "$URL/expect")
expect_eq "Expect: 100-continue upload completes" 200 "$out"

# Pipelined requests on one connection come back complete and in order.
reply=$(raw "$CLI" 198.18.1.2 8080 'GET /p1 HTTP/1.1\r\nHost: srv\r\n\r\nGET /p2 HTTP/1.1\r\nHost: srv\r\n\r\nGET /p3 HTTP/1.1\r\nHost: srv\r\nConnection: close\r\n\r\n')
expect_eq "three pipelined requests, three responses in order" "/p1 /p2 /p3" \
    "$(printf '%s' "$reply" | grep -o '"path":"/p[0-9]"' | cut -d'"' -f4 | paste -sd' ')"

# promtool accepts both sidecars' metrics.
if command -v promtool >/dev/null; then
	for ns in "$CLI" "$SRV"; do
		in_ns "$ns" curl -s --max-time 5 http://127.0.0.1:15020/metrics >"$T/m.txt"
		check "promtool check metrics passes ($ns)" \
		    sh -c "promtool check metrics <'$T/m.txt'"
	done
fi

# Nothing reached the backend but through the server sidecar.
check "every backend request came from the server sidecar" \
    sh -c "! grep -v -e '\"peer\":\"127.0.0.1:' -e '\"peer\":\"\\[::1\\]:' '$T/backend.jsonl' | grep -v as-proxy-uid | grep -q ."

# Fail closed: with the server sidecar down, requests fail and never
# reach the backend directly; with the client sidecar down, connections
# are refused.
n_before=$(wc -l <"$T/backend.jsonl")
stop_pid "$SRV_PROXY"
code=$(in_ns "$CLI" curl -s --max-time 5 -o "$T/body" -w '%{http_code}' "$URL/after-srv-down" || true)
expect_eq "server sidecar down: 503 from the client sidecar" 503 "$code"
check "the 503 says why, as Envoy does" \
    grep -q 'upstream connect error or disconnect/reset before headers. reset reason: connection failure' "$T/body"
expect_eq "counted with response flag UF" 1 \
    "$(metric "$CLI" weft_requests_total response_code=503 response_flags=UF)"
stop_pid "$CLI_PROXY"
rc=0
in_ns "$CLI" curl -s --max-time 5 -o /dev/null "$URL/after-cli-down" || rc=$?
expect_eq "client sidecar down: connection refused (curl exit 7)" 7 "$rc"
expect_eq "the backend saw none of them" "$n_before" "$(wc -l <"$T/backend.jsonl")"

e2e_done
