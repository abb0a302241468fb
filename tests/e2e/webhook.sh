#!/bin/bash
# shellcheck disable=SC2317 # helpers called through check and waitfor
# Kubernetes injection on loopback, no cluster, no root: weft-server's
# admission webhook answers AdmissionReview v1 documents (those of the
# unit tests, in the shape kube-apiserver sends them) over HTTPS only,
# with a JSON Patch that a separate RFC 6902 applier (python3, below)
# turns into the pod expected; it refuses what is not an AdmissionReview
# with 400, and its flags change what it injects. weftctl inject does the
# same injection offline on multi-document YAML and leaves the other
# documents as they were; the manifests of init/ parse with the expected
# kinds and pass through weftctl inject unchanged.
#
# Checks are numbered by part:
#  1 webhook answers   2 refusals and TLS   3 server flags
#  4 weftctl inject    5 weftctl inject errors   6 init/ manifests
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
for tool in curl jq python3; do
	command -v "$tool" >/dev/null || skip "needs $tool"
done
python3 -c 'import yaml' 2>/dev/null || skip "needs python3-yaml"
WEFTCTL=$WEFT_BUILDDIR/src/ctl/weftctl
SERVER=$WEFT_BUILDDIR/src/server/weft-server
for prog in "$WEFTCTL" "$SERVER"; do
	if [ ! -x "$prog" ]; then
		echo "$prog is not built" >&2
		exit 1
	fi
done
REVIEWS=$WEFT_SRCDIR/tests/unit/inject
MANIFESTS=$WEFT_SRCDIR/init/manifests
T=$(mktemp -d "${TMPDIR:-/tmp}/weft-e2e.XXXXXX")
trap e2e_cleanup EXIT
trap 'exit 130' INT TERM HUP

DATA=$T/server
PORT=
WPORT=
SERVER_PID=
NLOG=0

### Helpers.

start() {
	local log=$1
	shift
	"$@" >"$T/$log.log" 2>&1 &
	LAST_PID=$!
	E2E_PIDS="$E2E_PIDS $LAST_PID"
}

stop() {
	local p rest=
	kill "-$1" "$2" 2>/dev/null || true
	STOP_RC=0
	wait "$2" 2>/dev/null || STOP_RC=$?
	for p in $E2E_PIDS; do
		[ "$p" = "$2" ] || rest="$rest $p"
	done
	E2E_PIDS=$rest
}

# POST FILE to the webhook: the HTTP status, the body in $T/answer.
post() {
	curl -s -o "$T/answer" -w '%{http_code}' --max-time 5 \
	    --cacert "$DATA/ca.pem" -H 'Content-Type: application/json' \
	    --data-binary "@$1" "https://127.0.0.1:$WPORT/inject" || true
}

api_up() {
	[ -f "$DATA/ca.pem" ] && [ "$(curl -s -o /dev/null -w '%{http_code}' \
	    --max-time 2 --cacert "$DATA/ca.pem" \
	    "https://127.0.0.1:$PORT/v1/status" || true)" = 401 ]
}

# server_start [ARGS...]: weft-server on two random loopback ports
# (another pair when one is taken); waits for its API.
server_start() {
	local try
	for try in 1 2 3 4 5 6 7 8 9 10; do
		PORT=$((20000 + $(od -An -N2 -tu2 /dev/urandom) % 10000))
		WPORT=$((PORT + 1))
		NLOG=$((NLOG + 1))
		SERVER_LOG=$T/server-$NLOG.log
		start "server-$NLOG" "$SERVER" --data-dir "$DATA" \
		    --listen "127.0.0.1:$PORT" \
		    --webhook-listen "127.0.0.1:$WPORT" "$@"
		SERVER_PID=$LAST_PID
		for _ in $(seq 1 100); do
			kill -0 "$SERVER_PID" 2>/dev/null || break
			api_up && return 0
			sleep 0.1
		done
		if ! kill -0 "$SERVER_PID" 2>/dev/null &&
		    grep -q 'cannot listen' "$SERVER_LOG"; then
			stop KILL "$SERVER_PID"
			continue
		fi
		break
	done
	echo "weft-server did not come up (try $try)" >&2
	cat "$SERVER_LOG" >&2
	exit 1
}

# An RFC 6902 applier (add, remove, replace, test), written from the
# RFC and independent of weft's: apply_patch REVIEW ANSWER > POD.json.
cat >"$T/apply.py" <<'EOF'
import base64, json, sys

def walk(doc, pointer):
    if not pointer.startswith("/"):
        raise ValueError("bad pointer " + pointer)
    toks = [t.replace("~1", "/").replace("~0", "~")
            for t in pointer[1:].split("/")]
    for t in toks[:-1]:
        doc = doc[int(t)] if isinstance(doc, list) else doc[t]
    return doc, toks[-1]

def apply(doc, ops):
    for op in ops:
        parent, last = walk(doc, op["path"])
        if isinstance(parent, list):
            if op["op"] == "add":
                i = len(parent) if last == "-" else int(last)
                if i > len(parent):
                    raise IndexError(op["path"])
                parent.insert(i, op["value"])
            elif op["op"] == "remove":
                del parent[int(last)]
            elif op["op"] == "replace":
                parent[int(last)] = op["value"]
            elif op["op"] == "test":
                assert parent[int(last)] == op["value"]
            else:
                raise ValueError(op["op"])
        else:
            if op["op"] == "add":
                parent[last] = op["value"]
            elif op["op"] == "remove":
                del parent[last]
            elif op["op"] == "replace":
                if last not in parent:
                    raise KeyError(op["path"])
                parent[last] = op["value"]
            elif op["op"] == "test":
                assert parent[last] == op["value"]
            else:
                raise ValueError(op["op"])
    return doc

review = json.load(open(sys.argv[1]))
answer = json.load(open(sys.argv[2]))
pod = review["request"]["object"]
ops = json.loads(base64.b64decode(answer["response"]["patch"]))
json.dump(apply(pod, ops), sys.stdout, sort_keys=True)
EOF
apply_patch() { python3 "$T/apply.py" "$1" "$T/answer"; }

# YAML documents as sorted JSON lines, one per document.
cat >"$T/yaml2json.py" <<'EOF'
import json, sys, yaml
for d in yaml.safe_load_all(open(sys.argv[1])):
    if d is not None:
        print(json.dumps(d, sort_keys=True))
EOF
y2j() { python3 "$T/yaml2json.py" "$1"; }

# jq -e, quiet: for check.
jqe() { jq -e "$@" >/dev/null; }
# names JQ-PATH FILE: the names of a list, joined by ",".
names() { jq -r "[$1[].name] | join(\",\")" "$2"; }
# arg CONTAINER FLAG FILE: the value after FLAG in the container's args.
arg() {
	jq -r --arg c "$1" --arg f "$2" '
	    [(.spec.initContainers // []) + .spec.containers | .[] |
	     select(.name == $c) | .args] | first |
	    . as $a | ($a | index($f)) as $i |
	    if $i == null then "none" else $a[$i + 1] end' "$3"
}

### 1. The webhook answers AdmissionReview v1.

server_start
RV=$REVIEWS/review_deployment_pod.json
expect_eq "1. a Deployment's pod: 200" 200 "$(post "$RV")"
cp "$T/answer" "$T/rv-answer"
expect_eq "1. the answer is an AdmissionReview v1" \
    "admission.k8s.io/v1 AdmissionReview" \
    "$(jq -r '"\(.apiVersion) \(.kind)"' "$T/answer")"
expect_eq "1. response.uid is request.uid" "$(jq -r .request.uid "$RV")" \
    "$(jq -r .response.uid "$T/answer")"
expect_eq "1. allowed, with a JSONPatch" "true JSONPatch" \
    "$(jq -r '"\(.response.allowed) \(.response.patchType)"' "$T/answer")"
check "1. the patch only adds" jqe \
    '.response.patch | @base64d | fromjson | all(.op == "add")' "$T/answer"
apply_patch "$RV" >"$T/pod.json"
expect_eq "1. init containers: weft-init, native sidecars, then the app's" \
    weft-init,weft-proxy,weft-sync,migrate \
    "$(names .spec.initContainers "$T/pod.json")"
expect_eq "1. the app's containers untouched" \
    "$(jq -cS .request.object.spec.containers "$RV")" \
    "$(jq -cS .spec.containers "$T/pod.json")"
expect_eq "1. volumes: the pod's, then weft's" \
    kube-api-access-9xk2p,weft-data,weft-certs,weft-token,weft-ca \
    "$(names .spec.volumes "$T/pod.json")"
expect_eq "1. native sidecars restart Always" "Always Always" \
    "$(jq -r '[.spec.initContainers[1,2].restartPolicy] | join(" ")' \
    "$T/pod.json")"
expect_eq "1. the proxy's startup probe holds the app" /ready \
    "$(jq -r '.spec.initContainers[1].startupProbe.httpGet.path' "$T/pod.json")"
expect_eq "1. weft-init: excluded inbound ports from the annotation" \
    9090,9091 "$(arg weft-init --exclude-inbound-ports "$T/pod.json")"
expect_eq "1. weft-init: Istio's excludeOutboundIPRanges" \
    10.96.0.0/12,fd00::/108 \
    "$(arg weft-init --exclude-outbound-cidrs "$T/pod.json")"
expect_eq "1. weft-init: NET_ADMIN and NET_RAW only" "NET_ADMIN,NET_RAW ALL" \
    "$(jq -r '.spec.initContainers[0].securityContext.capabilities |
    "\(.add | join(",")) \(.drop | join(","))"' "$T/pod.json")"
expect_eq "1. the identity is the pod's service account" orders,orders \
    "$(arg weft-proxy --service-account "$T/pod.json"),$(arg weft-sync \
    --service-account "$T/pod.json")"
expect_eq "1. weft-sync: the projected token and the CA" \
    /var/run/secrets/weft.io/token,/etc/weft/ca.pem \
    "$(arg weft-sync --kube-token-file "$T/pod.json"),$(arg weft-sync --ca \
    "$T/pod.json")"
expect_eq "1. weft-sync: the TCP ports of the app" http=8080,metrics=9090 \
    "$(arg weft-sync --ports "$T/pod.json")"
expect_eq "1. the token volume: audience weft, 3600 s" "weft 3600" \
    "$(jq -r '.spec.volumes[] | select(.name == "weft-token") |
    .projected.sources[0].serviceAccountToken |
    "\(.audience) \(.expirationSeconds)"' "$T/pod.json")"
expect_eq "1. the sidecars run as 1337" "1337 1337" \
    "$(jq -r '[.spec.initContainers[1,2].securityContext.runAsUser] |
    join(" ")' "$T/pod.json")"
check "1. weft.io/status records the injection" jqe \
    '.metadata.annotations["weft.io/status"] | fromjson | .containers ==
    ["weft-proxy", "weft-sync"]' "$T/pod.json"
check "1. logged" grep -q 'webhook: pod shop/orders-7d9c6b5f4- injected' \
    "$SERVER_LOG"

for f in review_optout_label review_istio_optout review_hostnetwork \
    review_injected review_deployment review_update; do
	expect_eq "1. $f: 200" 200 "$(post "$REVIEWS/$f.json")"
	expect_eq "1. $f: allowed, no patch" "true null null" \
	    "$(jq -r '.response | "\(.allowed) \(.patch) \(.patchType)"' \
	    "$T/answer")"
	expect_eq "1. $f: its uid" "$(jq -r .request.uid "$REVIEWS/$f.json")" \
	    "$(jq -r .response.uid "$T/answer")"
done
expect_eq "1. a bad annotation: the pod is refused (200, allowed false)" \
    "200 false 400" "$(post "$REVIEWS/review_bad_ports.json") $(jq -r \
    '"\(.response.allowed) \(.response.status.code)"' "$T/answer")"
check "1. ... naming the annotation" jqe '.response.status.message |
    contains("traffic.weft.io/excludeInboundPorts")' "$T/answer"
check "1. ... logged" grep -q 'refused: .*excludeInboundPorts' "$SERVER_LOG"

### 2. Refusals, limits and TLS.

printf '{"apiVersion": "admission.k8s.io/v1", "kind": ' >"$T/broken.json"
expect_eq "2. malformed JSON: 400" 400 "$(post "$T/broken.json")"
check "2. ... with a JSON error" jqe '.error | startswith("the body is not JSON")' \
    "$T/answer"
check "2. ... logged" grep -q 'webhook: a request that is not JSON' "$SERVER_LOG"
jq '.apiVersion = "admission.k8s.io/v1beta1"' "$RV" >"$T/v1beta1.json"
expect_eq "2. AdmissionReview v1beta1: 400" 400 "$(post "$T/v1beta1.json")"
check "2. ... says v1 is expected" jqe '.error | contains("admission.k8s.io/v1")' \
    "$T/answer"
jq 'del(.request.uid)' "$RV" >"$T/nouid.json"
expect_eq "2. no request.uid: 400" 400 "$(post "$T/nouid.json")"
expect_eq "2. another path: 404" 404 "$(curl -s -o /dev/null -w '%{http_code}' \
    --cacert "$DATA/ca.pem" --data-binary "@$RV" \
    "https://127.0.0.1:$WPORT/v1/resources" || true)"
expect_eq "2. GET /inject: 405" 405 "$(curl -s -o /dev/null -w '%{http_code}' \
    --cacert "$DATA/ca.pem" "https://127.0.0.1:$WPORT/inject" || true)"
head -c 9437184 /dev/zero | tr '\0' ' ' >"$T/big.json"
code=$(post "$T/big.json")
check "2. a body over 8 MiB is refused (413 or closed), got $code" \
    test "$code" = 413 -o "$code" = 000
expect_eq "2. plain HTTP gets no answer" 000 \
    "$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 \
    --data-binary "@$RV" "http://127.0.0.1:$WPORT/inject" || true)"
expect_eq "2. the server still answers after all that" 200 "$(post "$RV")"
check "2. the certificate is the mesh CA's (curl verified it)" \
    jqe .response.allowed "$T/answer"
expect_eq "2. the API port does not serve /inject" 401 \
    "$(curl -s -o /dev/null -w '%{http_code}' --cacert "$DATA/ca.pem" \
    --data-binary "@$RV" "https://127.0.0.1:$PORT/inject" || true)"
stop TERM "$SERVER_PID"
expect_eq "2. weft-server exits 0 on SIGTERM" 0 "$STOP_RC"

### 3. Server flags.

server_start --native-sidecars off --proxy-image registry.example/weft/sidecar:9 \
    --init-image registry.example/weft/init:9 --mesh-url https://mesh.example:15010
PP=$REVIEWS/review_plain_pod.json
expect_eq "3. --native-sidecars off: 200" 200 "$(post "$PP")"
apply_patch "$PP" >"$T/plain.json"
expect_eq "3. the sidecars lead the containers" weft-proxy,weft-sync,curl \
    "$(names .spec.containers "$T/plain.json")"
expect_eq "3. weft-init alone among the init containers" weft-init \
    "$(names .spec.initContainers "$T/plain.json")"
check "3. the app waits for the proxy's /ready" jqe \
    '.spec.containers[0].lifecycle.postStart.exec.command[2] |
    contains("/ready")' "$T/plain.json"
expect_eq "3. the images of the flags" \
    "registry.example/weft/init:9 registry.example/weft/sidecar:9 registry.example/weft/sidecar:9" \
    "$(jq -r '[.spec.initContainers[0].image, .spec.containers[0,1].image] |
    join(" ")' "$T/plain.json")"
expect_eq "3. --mesh-url given to weft-sync" https://mesh.example:15010 \
    "$(arg weft-sync --server "$T/plain.json")"
expect_eq "3. no service account: default" default \
    "$(arg weft-proxy --service-account "$T/plain.json")"
stop TERM "$SERVER_PID"

server_start --webhook-listen off
expect_eq "3. --webhook-listen off: nothing on the webhook port" 000 \
    "$(post "$RV")"
check "3. ... and the API still serves" api_up
stop TERM "$SERVER_PID"

rc=0
"$SERVER" --data-dir "$DATA" --native-sidecars maybe >"$T/out" 2>"$T/err" || rc=$?
expect_eq "3. --native-sidecars maybe: exit 2" 2 "$rc"
expect_eq "3. ... one line" 1 "$(wc -l <"$T/err")"
rc=0
"$SERVER" --data-dir "$DATA" --mesh-url http://x:1 >"$T/out" 2>"$T/err" || rc=$?
expect_eq "3. --mesh-url http://: exit 2" 2 "$rc"
check "3. ... names the flag" grep -q -- '--mesh-url' "$T/err"
rc=0
"$SERVER" --data-dir "$DATA" --webhook-listen 127.0.0.1:0x >"$T/out" 2>"$T/err" || rc=$?
check "3. --webhook-listen 127.0.0.1:0x: fails, naming it" \
    test "$rc" != 0 -a "$(grep -c -- '--webhook-listen' "$T/err")" = 1

### 4. weftctl inject.

cat >"$T/app.yaml" <<'EOF'
# An application as users write it.
apiVersion: apps/v1
kind: Deployment
metadata:
  name: orders
  namespace: shop
spec:
  replicas: 2
  selector:
    matchLabels: {app: orders}
  template:
    metadata:
      labels: {app: orders, version: v1}
      annotations:
        traffic.weft.io/excludeOutboundPorts: "5432"
    spec:
      serviceAccountName: orders
      containers:
      - name: orders
        image: example/orders:1.0
        ports:
        - {name: http, containerPort: 8080}
        env:
        - {name: ENABLED, value: "true"}
        - {name: COUNT, value: "0123"}
---
apiVersion: v1
kind: Service
metadata: {name: orders, namespace: shop}
spec:
  selector: {app: orders}
  ports:
  - {name: http, port: 80, targetPort: 8080}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: orders, namespace: shop}
data:
  enabled: "yes"
  count: "0123"
  ratio: "1.50"
  empty: ""
EOF
rc=0
"$WEFTCTL" inject -f "$T/app.yaml" >"$T/app.out.yaml" 2>"$T/err" || rc=$?
expect_eq "4. weftctl inject -f: exit 0" 0 "$rc"
expect_eq "4. ... quiet" "" "$(cat "$T/err")"
y2j "$T/app.yaml" >"$T/in.jsonl"
y2j "$T/app.out.yaml" >"$T/out.jsonl"
expect_eq "4. three documents out" 3 "$(wc -l <"$T/out.jsonl")"
expect_eq "4. the Service is unchanged" "$(sed -n 2p "$T/in.jsonl")" \
    "$(sed -n 2p "$T/out.jsonl")"
expect_eq "4. the ConfigMap is unchanged (strings stay strings)" \
    "$(sed -n 3p "$T/in.jsonl")" "$(sed -n 3p "$T/out.jsonl")"
sed -n 1p "$T/in.jsonl" >"$T/dep.in.json"
sed -n 1p "$T/out.jsonl" >"$T/dep.out.json"
expect_eq "4. the Deployment outside its template is unchanged" \
    "$(jq -cS 'del(.spec.template)' "$T/dep.in.json")" \
    "$(jq -cS 'del(.spec.template)' "$T/dep.out.json")"
jq .spec.template "$T/dep.out.json" >"$T/tmpl.json"
expect_eq "4. the template: weft-init and the native sidecars" \
    weft-init,weft-proxy,weft-sync "$(names .spec.initContainers "$T/tmpl.json")"
expect_eq "4. ... the app's container as it was" \
    "$(jq -cS '.spec.template.spec.containers' "$T/dep.in.json")" \
    "$(jq -cS .spec.containers "$T/tmpl.json")"
expect_eq "4. ... weft's volumes" weft-data,weft-certs,weft-token,weft-ca \
    "$(names .spec.volumes "$T/tmpl.json")"
expect_eq "4. ... the annotation's excluded port" 5432 \
    "$(arg weft-init --exclude-outbound-ports "$T/tmpl.json")"
expect_eq "4. ... the labels given to the proxy" app=orders,version=v1 \
    "$(arg weft-proxy --labels "$T/tmpl.json")"
rc=0
"$WEFTCTL" inject -f "$T/app.out.yaml" >"$T/again.yaml" 2>"$T/err" || rc=$?
expect_eq "4. injecting again: exit 0" 0 "$rc"
expect_eq "4. ... changes nothing (already injected)" \
    "$(cat "$T/out.jsonl")" "$(y2j "$T/again.yaml")"
"$WEFTCTL" inject --native-sidecars off -f - <"$T/app.yaml" >"$T/off.yaml"
expect_eq "4. --native-sidecars off, from stdin" weft-proxy,weft-sync,orders \
    "$(y2j "$T/off.yaml" | sed -n 1p | jq -r '[.spec.template.spec.containers[].name] | join(",")')"

# The same pod through the webhook and through weftctl inject.
jq .request.object "$RV" >"$T/pod-in.json"
"$WEFTCTL" inject -o json -f "$T/pod-in.json" >"$T/pod-ctl.json"
python3 "$T/apply.py" "$RV" "$T/rv-answer" >"$T/pod.json"
expect_eq "4. a Pod: weftctl inject is the webhook's patch applied" \
    "$(jq -cS . "$T/pod.json")" "$(jq -cS . "$T/pod-ctl.json")"

cat >"$T/kinds.yaml" <<'EOF'
apiVersion: batch/v1
kind: CronJob
metadata: {name: report}
spec:
  schedule: "0 * * * *"
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: OnFailure
          containers: [{name: report, image: example/report:1}]
---
apiVersion: v1
kind: List
items:
- apiVersion: apps/v1
  kind: StatefulSet
  metadata: {name: db}
  spec:
    serviceName: db
    selector: {matchLabels: {app: db}}
    template:
      metadata: {labels: {app: db}}
      spec: {containers: [{name: db, image: example/db:1}]}
- apiVersion: apps/v1
  kind: DaemonSet
  metadata: {name: agent}
  spec:
    selector: {matchLabels: {app: agent}}
    template:
      metadata: {labels: {app: agent}}
      spec:
        hostNetwork: true
        containers: [{name: agent, image: example/agent:1}]
EOF
"$WEFTCTL" inject -f "$T/kinds.yaml" >"$T/kinds.out.yaml"
y2j "$T/kinds.out.yaml" >"$T/kinds.jsonl"
expect_eq "4. a CronJob's job template is injected" weft-init,weft-proxy,weft-sync \
    "$(sed -n 1p "$T/kinds.jsonl" | jq -r \
    '[.spec.jobTemplate.spec.template.spec.initContainers[].name] | join(",")')"
expect_eq "4. a StatefulSet in a List is injected" weft-init,weft-proxy,weft-sync \
    "$(sed -n 2p "$T/kinds.jsonl" | jq -r \
    '[.items[0].spec.template.spec.initContainers[].name] | join(",")')"
expect_eq "4. a host-network DaemonSet is left as it was" \
    "$(y2j "$T/kinds.yaml" | sed -n 2p | jq -cS '.items[1]')" \
    "$(sed -n 2p "$T/kinds.jsonl" | jq -cS '.items[1]')"

### 5. weftctl inject errors: one line each, nothing written.

cat >"$T/bad.yaml" <<'EOF'
apiVersion: v1
kind: Service
metadata: {name: fine}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: orders}
spec:
  template:
    metadata:
      annotations:
        traffic.sidecar.istio.io/excludeOutboundIPRanges: "10.0.0.0/8,nonsense"
    spec:
      containers: [{name: orders, image: example/orders:1.0}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: empty}
spec: {}
EOF
rc=0
"$WEFTCTL" inject -f "$T/bad.yaml" >"$T/out" 2>"$T/err" || rc=$?
expect_eq "5. bad documents: exit 1" 1 "$rc"
expect_eq "5. ... nothing on stdout" 0 "$(wc -c <"$T/out")"
expect_eq "5. ... one line per fault" 2 "$(wc -l <"$T/err")"
check "5. ... naming file, document, resource and field" grep -q \
    "bad.yaml:2: Deployment/orders: spec.template.metadata.annotations.traffic.sidecar.istio.io/excludeOutboundIPRanges: \"nonsense\" is not a network" \
    "$T/err"
check "5. ... and the missing template" grep -q \
    "bad.yaml:3: Deployment/empty: spec.template: expected a pod template" \
    "$T/err"
printf 'kind: Pod\nmetadata: {name: x\n' >"$T/broken.yaml"
rc=0
"$WEFTCTL" inject -f "$T/broken.yaml" >"$T/out" 2>"$T/err" || rc=$?
expect_eq "5. YAML that does not parse: exit 1, one line" "1 1" \
    "$rc $(wc -l <"$T/err")"
check "5. ... with its line" grep -q 'broken.yaml:1: line' "$T/err"
rc=0
"$WEFTCTL" inject -f "$T/nonexistent.yaml" >"$T/out" 2>"$T/err" || rc=$?
expect_eq "5. a missing file: exit 1" 1 "$rc"
rc=0
"$WEFTCTL" inject --native-sidecars maybe -f "$T/app.yaml" >"$T/out" \
    2>"$T/err" || rc=$?
expect_eq "5. a bad flag: exit 2, one line" "2 1" "$rc $(wc -l <"$T/err")"

### 6. The manifests of init/.

for f in "$MANIFESTS"/*.yaml; do
	y2j "$f" >>"$T/manifests.jsonl"
done
expect_eq "6. the manifests parse, with the expected kinds" \
    "Namespace ServiceAccount ClusterRole ClusterRoleBinding PersistentVolumeClaim Deployment Service ConfigMap MutatingWebhookConfiguration" \
    "$(jq -r .kind "$T/manifests.jsonl" | tr '\n' ' ' | sed 's/ $//')"
check "6. RBAC: services, pods, endpointslices, tokenreviews" jqe -s '
    [.[] | select(.kind == "ClusterRole") | .rules[] |
     {g: .apiGroups[0], r: .resources, v: .verbs}] ==
    [{g: "", r: ["services", "pods"], v: ["get", "list", "watch"]},
     {g: "discovery.k8s.io", r: ["endpointslices"], v: ["get", "list", "watch"]},
     {g: "authentication.k8s.io", r: ["tokenreviews"], v: ["create"]}]' \
    "$T/manifests.jsonl"
check "6. the webhooks: /inject, v1, no side effects, pods on CREATE" jqe -s '
    [.[] | select(.kind == "MutatingWebhookConfiguration") | .webhooks[] |
     select(.clientConfig.service.path == "/inject" and
            .admissionReviewVersions == ["v1"] and .sideEffects == "None" and
            .rules[0].resources == ["pods"] and
            .rules[0].operations == ["CREATE"])] | length == 2' \
    "$T/manifests.jsonl"
check "6. the Service maps 443 to the webhook port 15017" jqe -s '
    [.[] | select(.kind == "Service") | .spec.ports[] |
     select(.port == 443 and .targetPort == 15017)] | length == 1' \
    "$T/manifests.jsonl"
check "6. the server's flags are weft-server's own" jqe -s '
    [.[] | select(.kind == "Deployment") | .spec.template.spec.containers[0].args |
     .[] | select(startswith("--"))] - ["--data-dir", "--listen",
     "--webhook-listen", "--san", "--init-image", "--proxy-image",
     "--mesh-url", "--native-sidecars"] == []' "$T/manifests.jsonl"
for flag in --data-dir --listen --webhook-listen --san --init-image \
    --proxy-image --mesh-url --native-sidecars; do
	check "6. weft-server --help knows $flag" \
	    grep -q -- "$flag" <("$SERVER" --help)
done
for f in "$MANIFESTS"/*.yaml; do
	cat "$f"
	echo ---
done >"$T/all-manifests.yaml"
"$WEFTCTL" inject -f "$T/all-manifests.yaml" >"$T/all-out.yaml"
expect_eq "6. weftctl inject leaves them as they are (weft-server opts out)" \
    "$(y2j "$T/all-manifests.yaml")" "$(y2j "$T/all-out.yaml")"

e2e_done
