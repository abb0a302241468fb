#!/bin/bash
# kube-scale.sh: Kubernetes discovery at scale.  Run by `make bench-kube`
# (as root: the API stand-in and weft-server run in a network namespace
# of their own, so fixed ports are safe).
#
# The stand-in for kube-apiserver of the tests (tests/e2e/kube/stub.py)
# serves SERVICES Services, one EndpointSlice each with ENDPOINTS ready
# endpoints, and their pods.  Measured: the time from weft-server's start
# to the policy version that holds every discovered service, and in how
# many versions (transactions) it got there; the DB; the delay from one
# watch event (an EndpointSlice with one endpoint no longer ready) to its
# policy version; and whether a resync that finds nothing new writes
# anything.  Every wait is bounded; the EXIT trap stops what this script
# started, by PID, and removes its namespace and directory.
if [ -z "${BASH_VERSION:-}" ]; then exec bash "$0" "$@"; fi
set -eu
set -o pipefail

SERVICES=${SERVICES:-2000}
ENDPOINTS=${ENDPOINTS:-5}
: "${WEFT_BUILDDIR:=$(cd "$(dirname "$0")/.." && pwd)}"
: "${WEFT_SRCDIR:=$(cd "$(dirname "$0")/.." && pwd)}"
SERVER="$WEFT_BUILDDIR/src/server/weft-server"
STUB="$WEFT_SRCDIR/tests/e2e/kube/stub.py"
[ "$(id -u)" = 0 ] || { echo "kube-scale: needs root (a network namespace)" >&2; exit 77; }
[ -x "$SERVER" ] || { echo "kube-scale: build weft-server first" >&2; exit 1; }

NS="weft-kbench-$$"
T=$(mktemp -d "${TMPDIR:-/tmp}/weft-kbench.XXXXXX")
PIDS=""
cleanup() {
	local pid
	set +e
	for pid in $PIDS; do kill -TERM "$pid" 2>/dev/null; done
	for pid in $PIDS; do wait "$pid" 2>/dev/null; done
	ip netns del "$NS" 2>/dev/null
	if [ -n "${KEEP:-}" ]; then echo "kept $T"; else rm -rf "$T"; fi
}
trap cleanup EXIT
ip netns add "$NS"
ip -n "$NS" link set lo up

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$T/key.pem" -out "$T/cert.pem" -subj "/CN=kube-apiserver" \
    -days 1 -addext subjectAltName=IP:127.0.0.1 2>/dev/null
od -An -N24 -tx1 /dev/urandom | tr -d ' \n' >"$T/token"
mkdir -p "$T/state/watch/endpointslices"
python3 - "$T/state" "$SERVICES" "$ENDPOINTS" <<'PY'
import json, sys
state, n, e = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
svcs, slices, pods = [], [], []
for i in range(n):
    name, ns = "svc-%d" % i, "ns-%d" % (i % 50)
    svcs.append({"metadata": {"name": name, "namespace": ns, "resourceVersion": "10"},
                 "spec": {"type": "ClusterIP", "clusterIP": "240.240.%d.%d" % (i // 250, i % 250 + 1),
                          "clusterIPs": ["240.240.%d.%d" % (i // 250, i % 250 + 1)],
                          "ports": [{"name": "http", "port": 80, "protocol": "TCP", "targetPort": "web"}]}})
    eps = []
    for j in range(e):
        pod = "%s-%d" % (name, j)
        addr = "198.19.%d.%d" % ((i * e + j) // 250, (i * e + j) % 250 + 1)
        eps.append({"addresses": [addr], "conditions": {"ready": True, "serving": True, "terminating": False},
                    "targetRef": {"kind": "Pod", "namespace": ns, "name": pod}, "zone": "zone-%d" % (j % 3)})
        pods.append({"metadata": {"name": pod, "namespace": ns, "resourceVersion": "10",
                                  "labels": {"app": name, "version": "v%d" % (j % 2)}},
                     "spec": {"serviceAccountName": name, "containers": [{"name": "app"}, {"name": "weft-proxy"}]}})
    slices.append({"metadata": {"name": name + "-abcde", "namespace": ns, "resourceVersion": "10",
                                "labels": {"kubernetes.io/service-name": name}},
                   "addressType": "IPv4", "endpoints": eps, "ports": [{"name": "http", "port": 9080, "protocol": "TCP"}]})
for kind, api, items in (("ServiceList", "v1", svcs), ("EndpointSliceList", "discovery.k8s.io/v1", slices),
                         ("PodList", "v1", pods)):
    fn = {"ServiceList": "services", "EndpointSliceList": "endpointslices", "PodList": "pods"}[kind]
    json.dump({"kind": kind, "apiVersion": api, "metadata": {"resourceVersion": "100"}, "items": items},
              open("%s/%s.json" % (state, fn), "w"))
s = slices[0]
s["metadata"]["resourceVersion"] = "101"
s["endpoints"][0]["conditions"] = {"ready": False, "serving": True, "terminating": True}
s["kind"], s["apiVersion"] = "EndpointSlice", "discovery.k8s.io/v1"
open("%s/event.jsonl" % state, "w").write(json.dumps({"type": "MODIFIED", "object": s}) + "\n")
PY
echo '{}' >"$T/state/tokens.json"

ip netns exec "$NS" python3 "$STUB" --cert "$T/cert.pem" --key "$T/key.pem" \
    --token-file "$T/token" --state "$T/state" >"$T/stub.log" 2>&1 &
PIDS="$PIDS $!"
for _ in $(seq 1 100); do
	ip netns exec "$NS" ss -Hltn 'sport = :6443' | grep -q . && break
	sleep 0.1
done
mkdir -m 700 "$T/srv"
t0=$(date +%s%N)
ip netns exec "$NS" "$SERVER" --data-dir "$T/srv" --listen 127.0.0.1:15010 \
    --kube-api https://127.0.0.1:6443 --kube-token-file "$T/token" \
    --kube-ca "$T/cert.pem" --kube-resync 20s >"$T/server.log" 2>&1 &
SRV_PID=$!
PIDS="$PIDS $SRV_PID"
q() { sqlite3 -cmd '.timeout 5000' "$T/srv/policy.db" "$1" 2>/dev/null; }
n=0
for _ in $(seq 1 1200); do
	n=$(q "SELECT count(*) FROM services WHERE source = 'kubernetes'" || echo 0)
	[ "${n:-0}" -ge "$SERVICES" ] && break
	sleep 0.05
done
t1=$(date +%s%N)
V=$(q "SELECT version FROM config_version")
echo "services discovered: $n of $SERVICES, endpoints: $(q "SELECT count(*) FROM workloads WHERE source = 'kubernetes'")"
echo "start to all written: $(((t1 - t0) / 1000000)) ms (includes the server's start and the lists), in $V policy version(s)"
echo "server RSS: $(awk '/VmRSS/ { print $2 " " $3 }' "/proc/$SRV_PID/status"), DB: $(du -k "$T/srv/policy.db" | cut -f1) KiB + WAL $(du -k "$T/srv/policy.db-wal" 2>/dev/null | cut -f1) KiB"
echo "changeset of the first write: $(q "SELECT length(changeset) FROM server_changesets ORDER BY version LIMIT 1") bytes"

# One watch event: the first endpoint of svc-0 terminating.
cp "$T/state/event.jsonl" "$T/state/watch/endpointslices/01.jsonl"
t0=$(date +%s%N)
for _ in $(seq 1 1000); do
	[ "$(q "SELECT count(*) FROM workloads WHERE source = 'kubernetes' AND NOT healthy")" = 1 ] && break
	sleep 0.01
done
t1=$(date +%s%N)
echo "watch event to its row in the DB: $(((t1 - t0) / 1000000)) ms (includes up to 1 s until the stub's next watch, the 100 ms batch, the write)"
echo "policy versions: $V before the event, $(q "SELECT version FROM config_version") after; unhealthy endpoints: $(q "SELECT count(*) FROM workloads WHERE source = 'kubernetes' AND NOT healthy")"
V=$(q "SELECT version FROM config_version")

# The resync (20 s) relists everything: nothing changed, nothing written.
for _ in $(seq 1 300); do
	[ "$(grep -c 'kubernetes: [0-9]* services at' "$T/server.log")" -ge 2 ] && break
	sleep 0.1
done
sleep 1
echo "resyncs seen: $(($(grep -c 'kubernetes: [0-9]* services at' "$T/server.log") - 1)), policy version before $V, after $(q "SELECT version FROM config_version")"
echo "server CPU (utime+stime, ticks): $(awk '{ print $14 + $15 }' "/proc/$SRV_PID/stat")"
