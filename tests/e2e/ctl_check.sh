#!/bin/bash
# shellcheck disable=SC2317 # helpers called through check and eventually
# weftctl check, as linkerd check and istioctl analyze are used: a good
# local policy DB passes (exit 0) and is left as it was; a dangling
# subset reference, an unknown destination host, a ServiceEntry that
# selects no workload (a warning; a failure with --strict), a corrupt,
# truncated, empty or missing DB each give their line and exit status,
# and a missing DB is not created; -f reports what apply --dry-run
# would, in the same words, and writes nothing; a weft-server on
# loopback passes, and fails with a wrong CA or a wrong token, and
# warns about a registered proxy behind the policy; with
# root, a weft-proxy in a namespace passes --proxy, and a closed port
# fails it.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
for tool in curl sqlite3 jq; do
	command -v "$tool" >/dev/null || skip "needs $tool"
done
WEFTCTL=$WEFT_BUILDDIR/src/ctl/weftctl
SERVER=$WEFT_BUILDDIR/src/server/weft-server
for prog in "$WEFTCTL" "$SERVER"; do
	if [ ! -x "$prog" ]; then
		echo "$prog is not built" >&2
		exit 1
	fi
done
T=$(mktemp -d "${TMPDIR:-/tmp}/weft-e2e.XXXXXX")
trap e2e_cleanup EXIT
trap 'exit 130' INT TERM HUP

# run CMD...: runs weftctl with CMD; its output in $T/out, its standard
# error in $T/err (kept in weftctl.log, where the cleanup looks for
# sanitizer reports), its exit status in $RC.
run() {
	RC=0
	"$WEFTCTL" "$@" >"$T/out" 2>"$T/err" || RC=$?
	cat "$T/err" >>"$T/weftctl.log"
}
has() { grep -q -F -e "$1" "$T/out"; }
dump() { sqlite3 -batch "$1" .dump; }

cat >"$T/good.yaml" <<'EOF'
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: reviews}
spec:
  hosts: [reviews.default.svc.cluster.local]
  addresses: [240.240.0.10]
  ports: [{number: 80, name: http, protocol: HTTP}]
  resolution: STATIC
  workloadSelector: {labels: {app: reviews}}
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: reviews-v1}
spec:
  address: 198.18.7.2
  labels: {app: reviews, version: v1}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews}
spec:
  host: reviews
  subsets:
  - {name: v1, labels: {version: v1}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews}
spec:
  hosts: [reviews]
  http:
  - route:
    - destination: {host: reviews, subset: v1}
EOF
cat >"$T/lonely.yaml" <<'EOF'
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: lonely}
spec:
  hosts: [lonely.example.com]
  ports: [{number: 80, name: http, protocol: HTTP}]
  workloadSelector: {labels: {app: nobody}}
EOF
# Takes the subset v1 away from the route of VirtualService reviews.
cat >"$T/drop-subset.yaml" <<'EOF'
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews}
spec:
  host: reviews
EOF
cat >"$T/invalid.yaml" <<'EOF'
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: broken}
spec:
  hosts: [broken]
  http:
  - timeout: soon
    route:
    - destination: {host: reviews}
EOF

DB=$T/policy.db
"$WEFTCTL" --db "$DB" apply -f "$T/good.yaml" >/dev/null

### 1. A good DB passes, and check writes nothing.
dump "$DB" >"$T/before.sql"
run check --db "$DB"
expect_eq "good DB: exit 0" 0 "$RC"
check "good DB: the DB opens read-only" has "√ policy DB $DB opens read-only"
check "good DB: quick_check" has "√ PRAGMA quick_check is ok"
check "good DB: current schema" has "√ schema version"
check "good DB: subset references hold" has "√ subset references hold"
check "good DB: no failure line" test "$(grep -c '^×' "$T/out")" = 0
check "good DB: result line" has "Status check results are √"
dump "$DB" >"$T/after.sql"
check "good DB: unchanged by check" cmp -s "$T/before.sql" "$T/after.sql"
run check --db "$DB" -o json
expect_eq "-o json: exit 0" 0 "$RC"
expect_eq "-o json: success" true "$(jq -r .success "$T/out")"
expect_eq "-o json: no error" 0 \
    "$(jq '[.categories[].checks[] | select(.result == "error")] | length' "$T/out")"
run --db "$DB" check
expect_eq "global --db: exit 0" 0 "$RC"

### 2. A dangling subset reference and an unknown host fail.
cp "$DB" "$T/dangling.db"
sqlite3 "$T/dangling.db" "UPDATE resources SET spec = json_set(spec,
    '\$.http[0].route[0].destination.subset', 'v9',
    '\$.http[0].route[0].destination.host', 'nowhere.example.com')
    WHERE kind = 'VirtualService'"
run check --db "$T/dangling.db"
expect_eq "dangling subset: exit 1" 1 "$RC"
check "dangling subset: its line" has \
    '× VirtualService/reviews: spec.http[0].route[0].destination.subset: subset "v9" of host "nowhere.example.com" is not defined by any DestinationRule'
check "dangling subset: a hint under it" grep -q '^    hint: define the subset' "$T/out"
check "unknown host: its line" has \
    '× VirtualService default/reviews: destination host "nowhere.example.com" is not a known service'
expect_eq "dangling subset: -o json success" false \
    "$(jq -r .success <("$WEFTCTL" check --db "$T/dangling.db" -o json))"

### 3. A ServiceEntry that selects nothing warns; --strict fails.
cp "$DB" "$T/lonely.db"
"$WEFTCTL" --db "$T/lonely.db" apply -f "$T/lonely.yaml" >/dev/null
run check --db "$T/lonely.db"
expect_eq "selects nothing: a warning, exit 0" 0 "$RC"
check "selects nothing: its line" has \
    '‼ ServiceEntry default/lonely: workloadSelector {"app":"nobody"} selects no workload'
run check --db "$T/lonely.db" --strict
expect_eq "selects nothing, --strict: exit 1" 1 "$RC"

### 4. Damaged, empty, older, missing DBs.
head -c 8192 /dev/urandom >"$T/garbage.db"
run check --db "$T/garbage.db"
expect_eq "garbage DB: exit 1" 1 "$RC"
check "garbage DB: its line" grep -q '^× policy DB cannot be opened read-only: .*garbage.db: file is not a database' "$T/out"
sqlite3 "$DB" 'PRAGMA wal_checkpoint(TRUNCATE)' >/dev/null
head -c 8192 "$DB" >"$T/truncated.db"
run check --db "$T/truncated.db"
expect_eq "truncated DB: exit 1" 1 "$RC"
check "truncated DB: malformed" grep -q '^× .*malformed' "$T/out"
: >"$T/empty.db"
run check --db "$T/empty.db"
expect_eq "empty file: exit 1" 1 "$RC"
check "empty file: not a weft DB" has "is not a weft policy DB (schema version 0)"
cp "$DB" "$T/old.db"
sqlite3 "$T/old.db" 'PRAGMA user_version = 3'
run check --db "$T/old.db"
expect_eq "older schema: a warning, exit 0" 0 "$RC"
check "older schema: its line" has "‼ schema version 3 will be migrated to"
cp "$DB" "$T/new.db"
sqlite3 "$T/new.db" 'PRAGMA user_version = 99'
run check --db "$T/new.db"
expect_eq "newer schema: exit 1" 1 "$RC"
check "newer schema: its line" has "× schema version 99 is newer than this weftctl's"
run check --db "$T/missing.db"
expect_eq "missing DB: exit 1" 1 "$RC"
check "missing DB: its line" has "× no policy DB at $T/missing.db"
check "missing DB: not created" test ! -e "$T/missing.db"

### 5. -f: what apply --dry-run would say, and nothing written.
dump "$DB" >"$T/before.sql"
run check --db "$DB" -f "$T/drop-subset.yaml"
expect_eq "-f breaking a reference: exit 1" 1 "$RC"
"$WEFTCTL" --db "$DB" apply --dry-run -f "$T/drop-subset.yaml" \
    >/dev/null 2>"$T/apply.err" || true
check "-f: apply's message" has "× $(head -n 1 "$T/apply.err")"
run check --db "$DB" -f "$T/invalid.yaml"
expect_eq "-f invalid: exit 1" 1 "$RC"
"$WEFTCTL" --db "$DB" apply --dry-run -f "$T/invalid.yaml" \
    >/dev/null 2>"$T/apply.err" || true
check "-f invalid: apply's message" has "× $(head -n 1 "$T/apply.err")"
run check --db "$DB" -f "$T/lonely.yaml"
expect_eq "-f warning only: exit 0" 0 "$RC"
check "-f: files apply" has "resources of the files apply on this policy (dry run)"
dump "$DB" >"$T/after.sql"
check "-f: the DB is unchanged" cmp -s "$T/before.sql" "$T/after.sql"

### 6. Bad usage.
run check --db "$DB" --bogus
expect_eq "unknown option: exit 2" 2 "$RC"
run check --db "$DB" -o yaml
expect_eq "unknown output: exit 2" 2 "$RC"
run check --proxy nohostport
expect_eq "--proxy without a port: exit 2" 2 "$RC"

### 7. weft-server on loopback.
DATA=$T/server
PORT=
URL=
SERVER_PID=
for _ in 1 2 3 4 5 6 7 8 9 10; do
	PORT=$((20000 + $(od -An -N2 -tu2 /dev/urandom) % 10000))
	URL=https://127.0.0.1:$PORT
	"$SERVER" --data-dir "$DATA" --listen "127.0.0.1:$PORT" \
	    --webhook-listen off >"$T/server.log" 2>&1 &
	SERVER_PID=$!
	E2E_PIDS="$E2E_PIDS $SERVER_PID"
	for _ in $(seq 1 100); do
		kill -0 "$SERVER_PID" 2>/dev/null || break
		[ -f "$DATA/ca.pem" ] && [ "$(curl -s -o /dev/null -w '%{http_code}' \
		    --max-time 2 --cacert "$DATA/ca.pem" "$URL/v1/status")" = 401 ] &&
		    break
		sleep 0.1
	done
	kill -0 "$SERVER_PID" 2>/dev/null && break
	grep -q 'cannot listen' "$T/server.log" || break
	wait "$SERVER_PID" 2>/dev/null || true
done
if ! kill -0 "$SERVER_PID" 2>/dev/null; then
	echo "weft-server did not come up" >&2
	cat "$T/server.log" >&2
	exit 1
fi
srv() {
	run --server "$URL" --ca "$DATA/ca.pem" \
	    --token-file "$DATA/admin.token" "$@"
}
srv apply -f "$T/good.yaml"
srv check
expect_eq "server: exit 0" 0 "$RC"
check "server: TLS verifies" has "√ weft-server $URL answers, its certificate verifies"
check "server: credential" has "√ the credential is accepted (admin)"
check "server: CA" has "√ the mesh CA root is valid until"
check "server: its policy analysed" has "√ subset references hold"
srv check -f "$T/drop-subset.yaml"
expect_eq "server -f breaking a reference: exit 1" 1 "$RC"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$T/other-key.pem" -out "$T/other-ca.pem" -subj "/CN=other" \
    -days 1 2>/dev/null
run check --server "$URL" --ca "$T/other-ca.pem" \
    --token-file "$DATA/admin.token"
expect_eq "wrong CA: exit 1" 1 "$RC"
check "wrong CA: its line" grep -q '^× cannot talk to weft-server: .*certificate verify failed' "$T/out"
echo wrong >"$T/wrong.token"
run check --server "$URL" --ca "$DATA/ca.pem" --token-file "$T/wrong.token"
expect_eq "wrong token: exit 1" 1 "$RC"
check "wrong token: its line" has "× the credential is not accepted (HTTP 401)"

# A workload joins (weft-sync --once): its proxy is then in sync, and
# behind once the policy changes without it.
SYNC=$WEFT_BUILDDIR/src/sync/weft-sync
if [ -x "$SYNC" ]; then
	srv token create --workload reviews-v1 --namespace default \
	    --service-account reviews
	JOIN=$(cat "$T/out")
	RC=0
	"$SYNC" --server "$URL" --db "$T/wl.db" --certs "$T/wl-certs" \
	    --workload reviews-v1 --namespace default \
	    --service-account reviews --address 198.18.7.2 \
	    --labels app=reviews,version=v1 --proxy-admin 127.0.0.1:1 \
	    --once --token "$JOIN" >"$T/sync.log" 2>&1 || RC=$?
	expect_eq "weft-sync --once joins" 0 "$RC"
	srv check
	expect_eq "server, a proxy in sync: exit 0" 0 "$RC"
	check "server, a proxy in sync: its line" has \
	    "√ 1 proxies run policy version"
	srv apply -f "$T/lonely.yaml"
	srv check
	expect_eq "server, a proxy behind: a warning, exit 0" 0 "$RC"
	check "server, a proxy behind: its line" grep -q \
	    '^‼ proxy default/reviews-v1 is behind: policy version [0-9]*, it runs' "$T/out"
	srv check --strict
	expect_eq "server, a proxy behind, --strict: exit 1" 1 "$RC"
fi

### 8. --proxy (root: the proxy runs in a namespace of this test).
if [ "$(id -u)" = 0 ] && command -v ip >/dev/null; then
	chmod 755 "$T"
	mkdir "$T/px"
	chown "$PROXY_UID:$PROXY_UID" "$T/px"
	"$WEFTCTL" --db "$T/pa.db" apply -f "$T/good.yaml" >/dev/null
	chmod 644 "$T"/pa.db*
	pod_new pa 198.18.7.1
	proxy_start "$POD" pa
	run check --db "$T/pa.db" --proxy 127.0.0.1:1
	expect_eq "closed port: exit 1" 1 "$RC"
	proxy_ok() {
		RC=0
		in_ns "$POD" "$WEFTCTL" check --db "$T/pa.db" \
		    --proxy 127.0.0.1:15020 >"$T/out" 2>"$T/err" || RC=$?
		cat "$T/err" >>"$T/weftctl.log"
		[ "$RC" = 0 ]
	}
	eventually "proxy: exit 0" proxy_ok
	check "proxy: /ready" has "√ /ready answers 200"
	check "proxy: /live" has "√ /live answers 200"
	check "proxy: config version current" grep -q '^√ config version [0-9]* is current' "$T/out"
	RC=0
	in_ns "$POD" "$WEFTCTL" check --proxy 127.0.0.1:1 >"$T/out" \
	    2>"$T/err" || RC=$?
	cat "$T/err" >>"$T/weftctl.log"
	expect_eq "proxy, closed port: exit 1" 1 "$RC"
	check "proxy, closed port: its line" grep -q '^× /ready: ' "$T/out"
else
	echo "# skip: --proxy checks need root (a namespace for the proxy)"
fi

e2e_done
