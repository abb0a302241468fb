#!/bin/bash
# weft demo: a small mesh of pods on this machine. Each pod is a network
# namespace with weft-init's capture rules and a weft-proxy sidecar; the
# applications know nothing of the mesh. Run as root by `make demo`.
#
#   frontend (198.18.10.1) --curl--> reviews (198.18.10.2:9080)
#                          --curl--> ratings (198.18.10.3:9080)
#   legacy   (198.18.10.9, no sidecar) --curl--> reviews
#
# Everything stays inside namespaces this script creates (no route out)
# and is removed when it ends.
# shellcheck source=tests/e2e/lib.sh
. "${WEFT_SRCDIR:-$(dirname "$0")/..}/tests/e2e/lib.sh"
MESH_NAMESPACE=default
e2e_init

say() { printf '\n\033[1m%s\033[0m\n' "$*"; }
run() { printf '$ %s\n' "$*" | sed "s/$E2E_SUFFIX/*/g"; }

say "1. Three pods with sidecars, one without"
for app in reviews ratings; do
	ip=198.18.10.2
	[ $app = ratings ] && ip=198.18.10.3
	mesh_pod "$app" "$ip"
	bg "$POD" "$app-app" "$WEFT_TESTD" --listen 0.0.0.0:9080 --name "$app-v1"
	wait_listen "$POD" 9080
	eval "${app^^}=\$POD"
	echo "  $app: $ip, app on :9080, sidecar pid $PROXY_PID"
done
mesh_pod frontend 198.18.10.1
FRONTEND=$POD
echo "  frontend: 198.18.10.1, sidecar pid $PROXY_PID"
pod_new legacy 198.18.10.9
LEGACY=$POD
echo "  legacy: 198.18.10.9, no sidecar"

say "2. The capture rules weft-init installed in the frontend pod"
run "ip netns exec frontend iptables-save -t nat | grep WEFT"
in_ns "$FRONTEND" iptables-save -t nat | grep -E '^-A (OUTPUT|PREROUTING|WEFT_)' | sed 's/^/  /'

say "3. The frontend calls its backends by their pod address, as usual"
for i in 1 2 3; do
	for dst in 198.18.10.2 198.18.10.3; do
		in_ns "$FRONTEND" curl -s --max-time 5 -o /dev/null \
		    "http://$dst:9080/products/$i"
	done
done
run "curl -si http://198.18.10.2:9080/products/1   # from frontend"
in_ns "$FRONTEND" curl -si --max-time 5 http://198.18.10.2:9080/products/1 |
    grep -iE '^(HTTP|x-backend|x-peer)' | sed 's/^/  /'
echo "  (X-Peer 127.0.0.1: the app was called by its own sidecar on loopback)"
in_ns "$LEGACY" curl -s --max-time 5 -o /dev/null http://198.18.10.2:9080/from-legacy
in_ns "$FRONTEND" curl -s --max-time 5 -o /dev/null http://198.18.10.3:9080/status/503

say "4. Which sidecars handled them: weft_requests_total on each"
for p in frontend reviews ratings; do
	eval "ns=\$${p^^}"
	# shellcheck disable=SC2154
	in_ns "$ns" curl -s --max-time 5 http://127.0.0.1:15020/metrics |
	    awk -v p="$p" '/^weft_requests_total/ {
		match($0, /reporter="[^"]*"/); r = substr($0, RSTART + 10, RLENGTH - 11)
		match($0, /destination_service="[^"]*"/); d = substr($0, RSTART + 21, RLENGTH - 22)
		match($0, /response_code="[^"]*"/); c = substr($0, RSTART + 15, RLENGTH - 16)
		printf "  %-9s reporter=%-12s destination=%-18s code=%s  %s requests\n", p, r, d, c, $NF }'
done

say "5. The frontend sidecar's access log (one JSON line per request)"
sleep 0.3
tail -n 2 "$T/px/frontend.access" | sed 's/^/  /'

say "6. Smuggling attempts never reach an application"
run "printf 'POST / HTTP/1.1\\r\\nHost: x\\r\\nContent-Length: 4\\r\\nTransfer-Encoding: chunked\\r\\n...' > reviews"
raw "$FRONTEND" 198.18.10.2 9080 \
    'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n' |
    head -n 1 | sed 's/^/  /'

say "7. Latency histogram of the reviews sidecar (inbound), Prometheus format"
in_ns "$REVIEWS" curl -s --max-time 5 http://127.0.0.1:15020/metrics |
    grep '^weft_request_duration_seconds_bucket' | grep 'response_code="200"' |
    sed -E 's/\{.*le="([^"]*)"\}/{le="\1"}/' | head -n 8 | sed 's/^/  /'

say "Done. The pods and sidecars are removed now."
echo "Try it yourself: tests/e2e/*.sh build the same pods; see README."
