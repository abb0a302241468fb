#!/bin/bash
# Outlier detection (consecutive 5xx) over three endpoints, one of which
# answers 503 to everything (its sidecar has no application behind it):
# with maxEjectionPercent 100 the bad endpoint is ejected after 3
# consecutive errors, gets nothing while ejected, is tried again once
# baseEjectionTime is over, and is ejected again after 3 more errors;
# with the default maxEjectionPercent (10%) a cluster of 3 ejects
# nothing (as Envoy, see lb.h); raising the limit later ejects it.
. "$(dirname "$0")/lib.sh"
e2e_init
WEFTCTL="$WEFT_BUILDDIR/src/ctl/weftctl"
[ -x "$WEFTCTL" ] || skip "weftctl not built"
command -v sqlite3 >/dev/null || skip "needs the sqlite3 CLI"

for i in 1 2; do
	mesh_pod "good$i" "198.18.9.2$i"
	bg "$POD" "app-good$i" "$WEFT_TESTD" --listen 0.0.0.0:9080 --name "good$i"
	wait_listen "$POD" 9080
done
# No application: the bad pod's sidecar answers 503 (connection failure
# to the application) to every request, and counts each one.
mesh_pod bad 198.18.9.23
BAD=$POD
mesh_pod cli 198.18.9.1
CLI=$POD

# dr NAME MAXPCT: a ROUND_ROBIN DestinationRule for pool-NAME with
# consecutive 5xx detection (MAXPCT empty: the default limit).
dr() {
	cat <<YAML
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: pool-$1, namespace: default}
spec:
  host: pool-$1.default.svc.cluster.local
  trafficPolicy:
    loadBalancer: {simple: ROUND_ROBIN}
    outlierDetection:
      consecutive5xxErrors: 3
      interval: 1s
      baseEjectionTime: 3s
YAML
	[ -z "$2" ] || echo "      maxEjectionPercent: $2"
}
{
	n=30
	for svc in od od10; do
		cat <<YAML
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: pool-$svc, namespace: default}
spec:
  hosts: [pool-$svc.default.svc.cluster.local]
  addresses: [240.240.0.$n]
  ports: [{number: 9080, name: http, protocol: HTTP}]
  resolution: STATIC
  workloadSelector: {labels: {app: pool}}
---
YAML
		n=$((n + 1))
	done
	for we in good1:198.18.9.21 good2:198.18.9.22 bad:198.18.9.23; do
		cat <<YAML
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: ${we%%:*}, namespace: default}
spec: {address: ${we#*:}, labels: {app: pool}}
---
YAML
	done
	dr od 100
	echo ---
	dr od10 ""
} >"$T/mesh.yaml"

# apply FILE: applies FILE and waits until the client sidecar runs the
# DB version it made.
apply() {
	local rc=0 want i got=
	"$WEFTCTL" --db "$T/cli.db" apply -f "$1" >>"$T/apply.log" 2>&1 || rc=$?
	expect_eq "apply $(basename "$1")" 0 "$rc"
	want=$(sqlite3 -readonly "$T/cli.db" 'SELECT version FROM config_version')
	for i in $(seq 1 50); do
		got=$(metric "$CLI" weft_config_version)
		[ "$got" = "$want" ] && break
		sleep 0.1
	done
	expect_eq "the client sidecar runs version $want" "$want" "$got"
}
# send FILE URL: requests on one connection; one line per response:
# status and X-Backend.
send() {
	in_ns "$CLI" timeout 60 curl -s --max-time 10 -o /dev/null \
	    -w '%{http_code} %header{x-backend}\n' "$2" >"$T/$1" 2>>"$T/curl.err" || true
}
# bad_seen: requests the bad endpoint's sidecar received.
bad_seen() {
	metric "$BAD" weft_requests_total reporter=destination
}
now_ms() {
	echo $(($(date +%s%N) / 1000000))
}

apply "$T/mesh.yaml"
URL=http://240.240.0.30:9080

# The bad endpoint answers 503 itself (not a local reply of the client).
out=$(in_ns "$CLI" curl -s --max-time 5 -o /dev/null -w '%{http_code}' \
    http://198.18.9.23:9080/probe)
expect_eq "the bad endpoint answers 503" 503 "$out"
b0=$(bad_seen)
expect_eq "and counts what it receives" 1 "$b0"

### Ejection after 3 consecutive 5xx: in turn, the bad endpoint gets
### every third request, so 9 requests make its 3 errors.
send burst "$URL/burst/[1-9]"
t_eject=$(now_ms)
b1=$(bad_seen)
expect_eq "the burst reached the bad endpoint 3 times" 3 $((b1 - b0))
# (Retries, where a route has them, may rescue some of these.)
e=$(grep -c '^503' "$T/burst" || true)
check "at most those 3 requests of the burst failed ($e)" test "$e" -le 3

# Ejected: 30 requests, all to the good endpoints, all successful.
send ejected "$URL/ejected/[1-30]"
t=$(($(now_ms) - t_eject))
expect_eq "while ejected, the bad endpoint receives nothing (${t} ms after)" \
    "$b1" "$(bad_seen)"
expect_eq "while ejected, all 30 requests succeed" 30 \
    "$(grep -c '^200 good[12]$' "$T/ejected" || true)"
ok1=$(grep -c '^200 good1$' "$T/ejected" || true)
expect_eq "and the two good endpoints share them in turn" 15 "$ok1"

### Readmitted after baseEjectionTime (3 s): one request every 100 ms
### until the bad endpoint sees one again (bounded: 10 s).
readmit=""
for _ in $(seq 1 100); do
	in_ns "$CLI" curl -s --max-time 5 -o /dev/null "$URL/probe" || true
	if [ "$(bad_seen)" -gt "$b1" ]; then
		readmit=$(($(now_ms) - t_eject))
		break
	fi
	sleep 0.1
done
check "the bad endpoint is tried again after its ejection time (${readmit:-never} ms, 2500..9000)" \
    test "${readmit:-0}" -ge 2500 -a "${readmit:-0}" -le 9000
b2=$(bad_seen)

# Still failing: ejected again after 3 more consecutive errors (for
# twice as long now), so 30 more requests give it at most 2 more.
send again "$URL/again/[1-30]"
b3=$(bad_seen)
check "ejected again after 3 more errors ($((b3 - b2 + 1)) since readmitted, at most 3)" \
    test $((b3 - b2 + 1)) -le 3
expect_eq "the last 20 of those requests all succeed" 20 \
    "$(tail -n 20 "$T/again" | grep -c '^200 good[12]$' || true)"

### maxEjectionPercent: the default 10% of 3 endpoints ejects none.
URL10=http://240.240.0.31:9080
b4=$(bad_seen)
send pct10 "$URL10/pct10/[1-30]"
b5=$(bad_seen)
check "maxEjectionPercent 10% with 3 endpoints: the bad endpoint keeps its turn ($((b5 - b4)) of 30, at least 8)" \
    test $((b5 - b4)) -ge 8

# Raising the limit ejects it after at most 3 more errors. Envoy resets
# the consecutive count each time it reaches the threshold, ejected or
# not (DetectorImpl::onConsecutiveErrorWorker), so a count that reached
# it while the limit refused the ejection still ejects later. (A
# refused ejection that kept the count past the threshold would leave
# the endpoint in service until it answered a success.)
dr od10 100 >"$T/od10-100.yaml"
apply "$T/od10-100.yaml"
send pct100 "$URL10/pct100/[1-30]"
b6=$(bad_seen)
check "maxEjectionPercent raised to 100: ejected after at most 3 more errors ($((b6 - b5)) of 30 reached it)" \
    test $((b6 - b5)) -le 3

e2e_done
