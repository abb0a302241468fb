#!/bin/bash
# shellcheck disable=SC2016,SC2317 # jq filters use jq's own $variables; helpers run through check and eventually
# Distributed tracing and the access log: a client pod and an app pod,
# each with a sidecar, weft-testd behind the app's sidecar (it echoes the
# request headers it received), and a collector pod running a small
# HTTP server that stores every POSTed body. The trace headers reach the
# app with the inbound span's id, an incoming traceparent is continued,
# x-request-id is made when missing and kept when given; the collector
# gets a CLIENT and a SERVER span of one trace, linked, as Zipkin v2 JSON
# and as OTLP/HTTP JSON; sampling 0 sends no span but still propagates;
# a collector that is down costs requests nothing and counts the drops;
# the access log carries the new fields.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
e2e_init
command -v jq >/dev/null || skip "needs jq"
PYTHON=$(command -v python3) || skip "needs python3"

mesh_pod app 198.18.9.2
APP=$POD
APP_PROXY=$PROXY_PID
bg "$APP" backend "$WEFT_TESTD" --listen 0.0.0.0:8080 --name app
wait_listen "$APP" 8080
mesh_pod cli 198.18.9.1
CLI=$POD
CLI_PROXY=$PROXY_PID
pod_new col 198.18.9.9
COL=$POD

mkdir "$T/col"
cat >"$T/collector.py" <<'PY'
import http.server, os, sys

port, outdir = int(sys.argv[1]), sys.argv[2]
count = [0]

class Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        count[0] += 1
        name = "%s-%05d.json" % (self.path.strip("/").replace("/", "_"), count[0])
        with open(os.path.join(outdir, name + ".tmp"), "wb") as f:
            f.write(body)
        os.rename(os.path.join(outdir, name + ".tmp"), os.path.join(outdir, name))
        self.send_response(202)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass

server = http.server.HTTPServer(("198.18.9.9", port), Handler)
if len(sys.argv) > 4:
    import ssl
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(sys.argv[3], sys.argv[4])
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
server.serve_forever()
PY
bg "$COL" collector "$PYTHON" "$T/collector.py" 9411 "$T/col"
COL_PID=$LAST_PID
wait_listen "$COL" 9411

# restart_sidecars ARGS...: both sidecars again, with ARGS.
restart_sidecars() {
	stop_pid "$CLI_PROXY"
	stop_pid "$APP_PROXY"
	proxy_start "$APP" app "$@"
	APP_PROXY=$PROXY_PID
	proxy_start "$CLI" cli "$@"
	CLI_PROXY=$PROXY_PID
}

# jqtrue ARGS...: jq -e, quietly.
jqtrue() {
	jq -e "$@" >/dev/null
}

# hdr NAME: the value of request header NAME in the record on stdin.
hdr() {
	jq -r --arg n "$1" \
	    '[.headers[] | select(.[0] | ascii_downcase == $n)] | if length == 0 then "" else .[0][1] end'
}

# zipkin_spans: every Zipkin span the collector stored, as one array.
zipkin_spans() {
	cat "$T"/col/api_v2_spans-*.json 2>/dev/null | jq -s 'add // []'
}

# otlp_spans: every OTLP span the collector stored, as one array.
otlp_spans() {
	cat "$T"/col/v1_traces-*.json 2>/dev/null |
	    jq -s '[.[].resourceSpans[] | .scopeSpans[].spans[]]'
}

# has_spans FORMAT TRACE N: the collector holds N spans of TRACE.
has_spans() {
	[ "$("${1}_spans" | jq --arg t "$2" '[.[] | select(.traceId == $t)] | length')" = "$3" ]
}

URL=http://198.18.9.2:8080
ZIPKIN=http://198.18.9.9:9411/api/v2/spans
OTLP=http://198.18.9.9:9411/v1/traces
HEX32='^[0-9a-f]{32}$'
HEX16='^[0-9a-f]{16}$'

# Bad flags: one line, non-zero exit.
for bad in "--trace-sampling 101" "--trace-sampling -1" "--trace-sampling x" \
    "--trace-format jaeger" "--trace-collector ftp://198.18.9.9/" \
    "--trace-collector http://:9411/x"; do
	# shellcheck disable=SC2086 # the flag and its value are two words
	if "$WEFT_PROXY" --workload w --namespace n $bad >"$T/bad.out" 2>&1; then
		check "refused: $bad" false
	else
		expect_eq "refused in one line: $bad" 1 "$(wc -l <"$T/bad.out")"
	fi
done

restart_sidecars --trace-collector "$ZIPKIN" --trace-format zipkin --trace-sampling 100

# A request without trace headers: a new trace, sampled (100 percent).
rec=$(in_ns "$CLI" curl -s --max-time 5 "$URL/new-trace")
tp=$(hdr traceparent <<<"$rec")
tid=$(hdr x-b3-traceid <<<"$rec")
sid=$(hdr x-b3-spanid <<<"$rec")
rid=$(hdr x-request-id <<<"$rec")
check "the app gets a traceparent (sampled)" \
    grep -Eq '^00-[0-9a-f]{32}-[0-9a-f]{16}-01$' <<<"$tp"
expect_eq "traceparent and x-b3-traceid carry one trace id" "$tid" \
    "$(cut -d- -f2 <<<"$tp")"
expect_eq "traceparent and x-b3-spanid carry one span id" "$sid" \
    "$(cut -d- -f3 <<<"$tp")"
check "x-b3-parentspanid is a span id" \
    grep -Eq "$HEX16" <<<"$(hdr x-b3-parentspanid <<<"$rec")"
expect_eq "x-b3-sampled is 1" 1 "$(hdr x-b3-sampled <<<"$rec")"
check "x-request-id made as a UUIDv4" \
    grep -Eq '^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$' <<<"$rid"
eventually "the collector got both spans of the new trace" has_spans zipkin "$tid" 2

# An incoming traceparent is continued; a given x-request-id is kept.
T1=4bf92f3577b34da6a3ce929d0e0e4736
P1=00f067aa0ba902b7
rec=$(in_ns "$CLI" curl -s --max-time 5 -H "traceparent: 00-$T1-$P1-01" \
    -H "tracestate: vendor=opaque" -H "x-request-id: given-id-1" "$URL/continued")
expect_eq "the trace id is continued" "$T1" "$(hdr x-b3-traceid <<<"$rec")"
expect_eq "x-request-id is kept" given-id-1 "$(hdr x-request-id <<<"$rec")"
expect_eq "tracestate travels as received" vendor=opaque "$(hdr tracestate <<<"$rec")"
expect_eq "one traceparent reaches the app" 1 \
    "$(jq '[.headers[] | select(.[0] | ascii_downcase == "traceparent")] | length' <<<"$rec")"
app_span=$(hdr x-b3-spanid <<<"$rec")
app_parent=$(hdr x-b3-parentspanid <<<"$rec")
eventually "the collector got the CLIENT and SERVER spans" has_spans zipkin "$T1" 2
spans=$(zipkin_spans | jq --arg t "$T1" '[.[] | select(.traceId == $t)]')
client=$(jq -c '.[] | select(.kind == "CLIENT")' <<<"$spans")
server=$(jq -c '.[] | select(.kind == "SERVER")' <<<"$spans")
expect_eq "the CLIENT span's parent is the caller's span" "$P1" "$(jq -r .parentId <<<"$client")"
expect_eq "the SERVER span's parent is the CLIENT span" "$(jq -r .id <<<"$client")" \
    "$(jq -r .parentId <<<"$server")"
expect_eq "the app sees the SERVER span's id" "$(jq -r .id <<<"$server")" "$app_span"
expect_eq "the app's parent span is the CLIENT span" "$(jq -r .id <<<"$client")" "$app_parent"
expect_eq "CLIENT span tags" "GET 200 proxy given-id-1 cli.e2e" \
    "$(jq -r '[.tags["http.method"], .tags["http.status_code"], .tags.component, .tags["guid:x-request-id"], .localEndpoint.serviceName] | join(" ")' <<<"$client")"
expect_eq "SERVER span service" app.e2e "$(jq -r .localEndpoint.serviceName <<<"$server")"
expect_eq "CLIENT span name and url" "198.18.9.2:8080/* http://198.18.9.2:8080/continued" \
    "$(jq -r '[.name, .tags["http.url"]] | join(" ")' <<<"$client")"
expect_eq "CLIENT span remote endpoint" "198.18.9.2 8080" \
    "$(jq -r '[.remoteEndpoint.ipv4, .remoteEndpoint.port] | join(" ")' <<<"$client")"
check "span times are set" jqtrue '.timestamp > 1600000000000000 and .duration > 0' <<<"$client"
check "response_flags and upstream_cluster tags" \
    jqtrue '.tags.response_flags == "-" and (.tags.upstream_cluster | startswith("outbound|8080"))' <<<"$client"

# B3 multi headers alone are continued too, and a 5xx is an error span.
rec=$(in_ns "$CLI" curl -s --max-time 5 -H "x-b3-traceid: 80f198ee56343ba864fe8b2a57d3eff7" \
    -H "x-b3-spanid: e457b5a2e4d86bd1" -H "x-b3-sampled: 1" "$URL/status/503" -o /dev/null -w '%{http_code}')
expect_eq "the 503 comes back" 503 "$rec"
eventually "the 5xx spans arrive" has_spans zipkin 80f198ee56343ba864fe8b2a57d3eff7 2
check "a 5xx span is tagged error" test "$(zipkin_spans | jq -r \
    '[.[] | select(.traceId == "80f198ee56343ba864fe8b2a57d3eff7" and .kind == "CLIENT")][0].tags.error')" = true

# The access log lines of the continued request.
eventually "the client access log has the continued request" \
    grep -q '"request_id":"given-id-1"' "$T/px/cli.access"
line=$(grep '"request_id":"given-id-1"' "$T/px/cli.access" | tail -n 1)
check "client access log fields" jqtrue --arg t "$T1" '
    .method == "GET" and .authority == "198.18.9.2:8080" and .path == "/continued" and
    .response_code == 200 and .response_flags == "-" and .bytes_received > 0 and
    .bytes_sent > 0 and .duration_ms >= 0 and .upstream_service_time_ms >= 0 and
    .upstream_duration_ms >= .upstream_service_time_ms and .trace_id == $t and
    .trace_sampled == true and .source_workload == "cli" and
    .source_namespace == "e2e" and .direction == "outbound" and
    .route_name == "default" and .upstream_host == "198.18.9.2:8080" and
    (.start_time | test("^[0-9-]{10}T[0-9:.]{12}Z$"))' <<<"$line"
eventually "the app access log has it" \
    grep -q '"request_id":"given-id-1"' "$T/px/app.access"
line=$(grep '"request_id":"given-id-1"' "$T/px/app.access" | tail -n 1)
check "app access log fields" jqtrue --arg t "$T1" --arg s "$app_span" '
    .direction == "inbound" and .trace_id == $t and .span_id == $s and
    .destination_workload == "app" and .destination_namespace == "e2e" and
    .source_principal == "unknown" and .response_code == 200' <<<"$line"

if command -v promtool >/dev/null; then
	in_ns "$CLI" curl -s --max-time 5 http://127.0.0.1:15020/metrics >"$T/m.txt"
	check "metrics pass promtool" promtool check metrics <"$T/m.txt"
fi
check "spans counted as exported" test "$(metric "$CLI" weft_trace_spans_exported_total)" -ge 3

# OTLP/HTTP JSON.
restart_sidecars --trace-collector "$OTLP" --trace-format otlp --trace-sampling 100
check "config_dump shows the tracing options" jqtrue \
    '.trace_format == "otlp" and .trace_sampling_percent == 100 and (.trace_collector | endswith("/v1/traces"))' \
    <<<"$(in_ns "$CLI" curl -s --max-time 5 http://127.0.0.1:15000/config_dump)"
T2=0af7651916cd43dd8448eb211c80319c
in_ns "$CLI" curl -s --max-time 5 -o /dev/null -H "traceparent: 00-$T2-b7ad6b7169203331-01" "$URL/otlp"
eventually "OTLP: both spans arrive" has_spans otlp "$T2" 2
spans=$(otlp_spans | jq --arg t "$T2" '[.[] | select(.traceId == $t)]')
check "OTLP: kinds CLIENT (3) and SERVER (2), linked" jqtrue '
    (map(select(.kind == 3))[0]) as $c | (map(select(.kind == 2))[0]) as $s |
    $c.parentSpanId == "b7ad6b7169203331" and $s.parentSpanId == $c.spanId and
    ($c.spanId | test("^[0-9a-f]{16}$")) and
    ($c.startTimeUnixNano | tonumber) <= ($c.endTimeUnixNano | tonumber) and
    ([$c.attributes[] | select(.key == "http.status_code")][0].value.intValue == "200") and
    ([$c.attributes[] | select(.key == "http.method")][0].value.stringValue == "GET")' <<<"$spans"
check "OTLP: resource service.name" test "$(cat "$T"/col/v1_traces-*.json | jq -r \
    '.resourceSpans[].resource.attributes[] | select(.key == "service.name") | .value.stringValue' |
    sort -u | tr '\n' ' ')" = "app.e2e cli.e2e "

# An https:// collector, trusted through the system's store (here
# SSL_CERT_FILE, which OpenSSL reads for it).
pki_ca
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$T/pki/col-key.pem" -out "$T/pki/col.csr" -subj "/CN=198.18.9.9" 2>/dev/null
printf 'subjectAltName=IP:198.18.9.9\nextendedKeyUsage=serverAuth\n' >"$T/pki/col.ext"
openssl x509 -req -in "$T/pki/col.csr" -CA "$T/pki/ca.pem" -CAkey "$T/pki/ca-key.pem" \
    -CAcreateserial -days 1 -extfile "$T/pki/col.ext" -out "$T/pki/col.pem" 2>/dev/null
bg "$COL" collector-tls "$PYTHON" "$T/collector.py" 9443 "$T/col" \
    "$T/pki/col.pem" "$T/pki/col-key.pem"
wait_listen "$COL" 9443
export SSL_CERT_FILE="$T/pki/ca.pem"
restart_sidecars --trace-collector https://198.18.9.9:9443/api/v2/spans --trace-sampling 100
unset SSL_CERT_FILE
T4=aaaabbbbccccddddeeeeffff00001111
in_ns "$CLI" curl -s --max-time 5 -o /dev/null -H "traceparent: 00-$T4-b7ad6b7169203331-01" "$URL/tls"
eventually "https collector: both spans arrive" has_spans zipkin "$T4" 2

# Sampling 0: headers still travel (sampled 0), no span is sent. A forced
# trace sent after it shows the exporter has flushed in between.
restart_sidecars --trace-collector "$ZIPKIN" --trace-sampling 0
rec=$(in_ns "$CLI" curl -s --max-time 5 "$URL/unsampled")
tid0=$(hdr x-b3-traceid <<<"$rec")
check "unsampled: a trace id still travels" grep -Eq "$HEX32" <<<"$tid0"
expect_eq "unsampled: x-b3-sampled 0" 0 "$(hdr x-b3-sampled <<<"$rec")"
check "unsampled: traceparent flags 00" grep -q -- '-00$' <<<"$(hdr traceparent <<<"$rec")"
T3=11112222333344445555666677778888
in_ns "$CLI" curl -s --max-time 5 -o /dev/null -H "b3: $T3-1111222233334444-1" "$URL/forced"
eventually "a sampled decision from the caller is honoured at rate 0" has_spans zipkin "$T3" 2
check "unsampled: no span sent" has_spans zipkin "$tid0" 0

# The collector down: requests are as quick as ever, drops are counted.
dropped_at_least() {
	[ "$(metric "$CLI" weft_trace_spans_dropped_total reason=export_failed)" -ge "$1" ]
}
stop_pid "$COL_PID"
fails=0
start=$(date +%s%N)
for i in 1 2 3 4 5; do
	code=$(in_ns "$CLI" curl -s --max-time 2 -o /dev/null -w '%{http_code}' \
	    -H "traceparent: 00-$T1-00000000000000a$i-01" "$URL/down-$i") || true
	[ "$code" = 200 ] || fails=$((fails + 1))
done
elapsed_ms=$((($(date +%s%N) - start) / 1000000))
expect_eq "collector down: requests succeed" 0 "$fails"
check "collector down: 5 requests in under 2 s (took ${elapsed_ms} ms)" test "$elapsed_ms" -lt 2000
eventually "collector down: dropped spans are counted" dropped_at_least 5
check "collector down: one log line about it" \
    grep -q 'trace export to .*dropped' "$T/proxy-cli.log"

e2e_done
