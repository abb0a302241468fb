#!/bin/bash
# What is not HTTP/1 is relayed as opaque TCP through both sidecars: a
# half-closed stream is echoed whole, a server-first protocol works, TLS
# passes untouched, and an HTTP Upgrade (WebSocket) becomes a tunnel.
. "$(dirname "$0")/lib.sh"
e2e_init
command -v python3 >/dev/null || skip "needs python3"

mesh_pod srv 198.18.3.2
SRV=$POD
bg "$SRV" backend "$WEFT_TESTD" --listen 0.0.0.0:8080 --name srv \
    --tcp-echo 0.0.0.0:9000 --banner 0.0.0.0:9001:WELCOME
wait_listen "$SRV" 9001
mesh_pod cli 198.18.3.1
CLI=$POD

# Opaque TCP with a half-close: send 4 MiB, shut down the write side,
# read everything back.
head -c 4194304 /dev/urandom >"$T/blob"
cat >"$T/halfclose.py" <<'PY'
import socket, sys
data = open(sys.argv[1], "rb").read()
s = socket.create_connection(("198.18.3.2", 9000), timeout=20)
s.sendall(data)
s.shutdown(socket.SHUT_WR)
got = bytearray()
while True:
    b = s.recv(65536)
    if not b:
        break
    got += b
print("same" if bytes(got) == data else "differ %d/%d" % (len(got), len(data)))
PY
expect_eq "4 MiB echoed whole after a half-close" same \
    "$(in_ns "$CLI" timeout 30 python3 "$T/halfclose.py" "$T/blob")"
expect_eq "client sidecar counted a tcp connection" 1 \
    "$(metric "$CLI" weft_tcp_connections_opened_total request_protocol=tcp | awk '{print ($1 >= 1)}')"
expect_eq "server sidecar received the bytes" 1 \
    "$(metric "$SRV" weft_tcp_received_bytes_total request_protocol=tcp reporter=destination | awk '{print ($1 >= 4194304)}')"

# A server-first protocol: the client says nothing until it is greeted.
cat >"$T/banner.py" <<'PY'
import socket
s = socket.create_connection(("198.18.3.2", 9001), timeout=10)
print(s.recv(100).decode().strip())
PY
expect_eq "server-first banner arrives through both sidecars" WELCOME \
    "$(in_ns "$CLI" timeout 15 python3 "$T/banner.py")"

# TLS from the application passes through untouched.
if command -v openssl >/dev/null; then
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	    -keyout "$T/key.pem" -out "$T/cert.pem" -days 1 -subj /CN=srv \
	    >/dev/null 2>&1
	bg "$SRV" tls openssl s_server -accept 8443 -cert "$T/cert.pem" \
	    -key "$T/key.pem" -www -quiet
	wait_listen "$SRV" 8443
	out=$(in_ns "$CLI" curl -sk --max-time 10 https://198.18.3.2:8443/ | head -c 200)
	check "application TLS works end to end" grep -q 's_server' <<<"$out"
	expect_eq "and was relayed as tcp, not parsed" 1 \
	    "$(metric "$SRV" weft_tcp_connections_opened_total request_protocol=tcp | awk '{print ($1 >= 2)}')"
fi

# WebSocket: Upgrade, 101, then raw bytes both ways.
cat >"$T/ws.py" <<'PY'
import socket
s = socket.create_connection(("198.18.3.2", 8080), timeout=10)
s.sendall(b"GET /ws HTTP/1.1\r\nHost: srv\r\nUpgrade: websocket\r\n"
          b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
          b"Sec-WebSocket-Version: 13\r\n\r\n")
head = b""
while b"\r\n\r\n" not in head:
    head += s.recv(1)
status = head.split(b"\r\n")[0].decode()
s.sendall(b"ping-through-tunnel")
got = b""
while len(got) < 19:
    b = s.recv(100)
    if not b:
        break
    got += b
print(status, got.decode())
PY
expect_eq "WebSocket upgrade becomes a tunnel" \
    "HTTP/1.1 101 Switching Protocols ping-through-tunnel" \
    "$(in_ns "$CLI" timeout 15 python3 "$T/ws.py")"
expect_eq "the 101 is counted as a request" 1 \
    "$(metric "$CLI" weft_requests_total response_code=101)"

e2e_done
