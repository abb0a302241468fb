#!/bin/bash
# shellcheck disable=SC2317 # helpers called through check and waitfor
# The control plane on loopback, with real clients only (weftctl,
# weft-sync, curl, openssl s_client, sqlite3), no root and no network
# namespaces: weft-server keeps its CA and admin token across restarts,
# speaks only HTTPS (TLS 1.2 or later) and answers 401 without a valid
# credential; weftctl --server applies, gets and deletes exactly as
# weftctl --db does, one changeset per committed transaction; a join
# token bootstraps weft-sync, which then uses its certificate; the
# local copy follows the server through long polls, server restarts, a
# gap longer than the history kept, a conflicting local row and a
# damaged file; the registry follows the sync's heartbeat.
#
# Checks are numbered by the part of the contract they cover:
#  1 CA and admin token   2 TLS and authentication   3 weftctl --server
#  4 changesets           5 join and first sync      6 credentials
#  7 live sync, restarts  8 gap: full snapshot       9 conflict: resync
# 10 damaged local DB    11 heartbeat and deregistration
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
for tool in curl openssl sqlite3; do
	command -v "$tool" >/dev/null || skip "needs $tool"
done
WEFTCTL=$WEFT_BUILDDIR/src/ctl/weftctl
SERVER=$WEFT_BUILDDIR/src/server/weft-server
SYNC=$WEFT_BUILDDIR/src/sync/weft-sync
for prog in "$WEFTCTL" "$SERVER" "$SYNC"; do
	if [ ! -x "$prog" ]; then
		echo "$prog is not built" >&2
		exit 1
	fi
done
ISTIO=$WEFT_SRCDIR/../shared/testdata/istio
T=$(mktemp -d "${TMPDIR:-/tmp}/weft-e2e.XXXXXX")
trap e2e_cleanup EXIT
trap 'exit 130' INT TERM HUP

DATA=$T/server
SDB=$DATA/policy.db
WDB=$T/workload.db
CERTS=$T/certs
NS=bookinfo
WL=reviews-v1
SA=bookinfo-reviews
SPIFFE=spiffe://cluster.local/ns/$NS/sa/$SA
PORT=
URL=
SERVER_PID=
SYNC_PID=
NLOG=0

### Helpers.

# start LOG CMD...: runs CMD in the background with its output in
# $T/LOG.log; records its PID for the cleanup and in $LAST_PID.
start() {
	local log=$1
	shift
	"$@" >"$T/$log.log" 2>&1 &
	LAST_PID=$!
	E2E_PIDS="$E2E_PIDS $LAST_PID"
}

# stop SIGNAL PID: signals one process started by start and reaps it;
# its exit status is left in $STOP_RC (128+N when killed by signal N).
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

# waitfor SECONDS CMD...: retries CMD every 0.1 s until it succeeds or
# SECONDS have passed; returns its last status.
waitfor() {
	local n=$(($1 * 10))
	shift
	while ! "$@"; do
		n=$((n - 1))
		[ "$n" -gt 0 ] || return 1
		sleep 0.1
	done
}

# The HTTP status of an API call (000 when there was none); the body
# goes to $BODY when set.
http_code() {
	curl -s -o "${BODY:-/dev/null}" -w '%{http_code}' --max-time 5 "$@" || true
}

# server_up: weft-server answers on its port (401 without a token).
server_up() {
	[ -f "$DATA/ca.pem" ] || return 1
	[ "$(http_code --cacert "$DATA/ca.pem" "$URL/v1/status")" = 401 ]
}

# server_start [ARGS...]: starts weft-server on loopback and waits until
# it answers. The first start picks a random port in 20000-29999 and
# tries another one when it is taken; later starts keep it.
server_start() {
	for _ in 1 2 3 4 5 6 7 8 9 10; do
		if [ -z "$PORT" ] || [ -n "${PORT_TRY:-}" ]; then
			PORT_TRY=1
			PORT=$((20000 + $(od -An -N2 -tu2 /dev/urandom) % 10000))
		fi
		URL=https://127.0.0.1:$PORT
		NLOG=$((NLOG + 1))
		SERVER_LOG=$T/server-$NLOG.log
		start "server-$NLOG" "$SERVER" --data-dir "$DATA" \
		    --listen "127.0.0.1:$PORT" --heartbeat-timeout 3s \
		    --webhook-listen off "$@"
		SERVER_PID=$LAST_PID
		for _ in $(seq 1 100); do
			kill -0 "$SERVER_PID" 2>/dev/null || break
			if server_up; then
				PORT_TRY=
				return 0
			fi
			sleep 0.1
		done
		if [ -n "${PORT_TRY:-}" ] && ! kill -0 "$SERVER_PID" 2>/dev/null &&
		    grep -q 'cannot listen' "$SERVER_LOG"; then
			stop KILL "$SERVER_PID"
			continue
		fi
		break
	done
	echo "weft-server did not come up on port $PORT" >&2
	cat "$SERVER_LOG" >&2
	exit 1
}

server_stop() {
	stop TERM "$SERVER_PID"
	SERVER_PID=
}

rctl() {
	"$WEFTCTL" --server "$URL" --ca "$DATA/ca.pem" \
	    --token-file "$DATA/admin.token" "$@"
}
lctl() { "$WEFTCTL" --db "$T/local.db" "$@"; }
# sq DB SQL: the sqlite3 CLI, never creating DB (it would create an
# empty file where weft-sync is about to build its copy).
sq() {
	[ -f "$1" ] || return 1
	sqlite3 -batch -cmd '.timeout 5000' "$1" "$2" 2>/dev/null
}
sversion() { sq "$SDB" 'SELECT version FROM config_version'; }
wversion() { sq "$WDB" 'SELECT version FROM config_version'; }
ncs() { sq "$SDB" 'SELECT count(*) FROM server_changesets'; }
fingerprint() {
	openssl x509 -in "$DATA/ca.pem" -noout -fingerprint -sha256 |
	    sed 's/.*=//; s/://g' | tr '[:upper:]' '[:lower:]'
}

# replica DB: every replicated table of DB (all but server_*, sync_*),
# row by row, sorted: equal outputs, equal copies.
replica() {
	local t
	for t in $(sq "$1" "SELECT name FROM sqlite_schema
	    WHERE type = 'table' AND name NOT GLOB 'server_*'
	    AND name NOT GLOB 'sync_*' AND name NOT GLOB 'sqlite_*'
	    ORDER BY name"); do
		echo "table $t"
		sq "$1" "SELECT * FROM \"$t\"" | sort
	done
}
replica_equal() {
	replica "$SDB" >"$T/replica-server"
	replica "$WDB" >"$T/replica-local"
	[ -n "$(sversion)" ] && cmp -s "$T/replica-server" "$T/replica-local"
}
in_sync() { [ -n "$(wversion)" ] && [ "$(wversion)" = "$(sversion)" ]; }

# sync_start: the long-running weft-sync of the workload, with
# the certificate it already has; its log is $SYNC_LOG.
sync_args() {
	echo --server "$URL" --db "$WDB" --certs "$CERTS" --workload "$WL" \
	    --namespace "$NS" --service-account "$SA" --address 198.18.0.10 \
	    --labels app=reviews,version=v1 --proxy-admin 127.0.0.1:1
}
sync_start() {
	NLOG=$((NLOG + 1))
	SYNC_LOG=$T/sync-$NLOG.log
	# shellcheck disable=SC2046 # the arguments are words without blanks
	start "sync-$NLOG" "$SYNC" $(sync_args)
	SYNC_PID=$LAST_PID
}
sync_once() {
	# shellcheck disable=SC2046
	"$SYNC" $(sync_args) --once "$@"
}

# change N: a distinct committed change (a route timeout of N seconds).
change() {
	cat >"$T/change.yaml" <<EOF
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: e2e-web, namespace: e2e}
spec:
  hosts: [e2e-web]
  http:
  - timeout: ${1}s
    route:
    - destination: {host: e2e-web}
EOF
	rctl apply -f "$T/change.yaml" >/dev/null
}

# What an apply must not change on the server: the version, the
# resources as stored, the changesets.
server_state() {
	{
		sversion
		ncs
		sq "$SDB" 'SELECT * FROM resources ORDER BY kind, namespace, name'
	} >"$T/$1.state"
}

### 1. The CA and the admin token: made on first start, kept after.
server_start
expect_eq "1. ca.pem is 0644" 644 "$(stat -c %a "$DATA/ca.pem")"
expect_eq "1. ca-key.pem is 0600" 600 "$(stat -c %a "$DATA/ca-key.pem")"
expect_eq "1. admin.token is 0600" 600 "$(stat -c %a "$DATA/admin.token")"
check "1. admin.token holds 64 hex digits" \
    grep -q -x '[0-9a-f]\{64\}' "$DATA/admin.token"
FP=$(fingerprint)
TOKEN=$(cat "$DATA/admin.token")
server_stop
expect_eq "1. SIGTERM: weft-server exits 0" 0 "$STOP_RC"
server_start
expect_eq "1. restart: same CA fingerprint" "$FP" "$(fingerprint)"
expect_eq "1. restart: same admin token" "$TOKEN" "$(cat "$DATA/admin.token")"
check "1. the log names the CA fingerprint" grep -q "CA fingerprint $FP" "$SERVER_LOG"

### 2. Only HTTPS, TLS 1.2 or later, and a credential for everything.
rc=0
curl -s --max-time 5 -o /dev/null "http://127.0.0.1:$PORT/v1/status" || rc=$?
check "2. plain HTTP gets no answer (curl status $rc)" test "$rc" -ne 0
curl -s --max-time 5 -D "$T/h" -o "$T/body" --cacert "$DATA/ca.pem" \
    "$URL/v1/resources" || true
check "2. no credential: 401" grep -q '^HTTP/1.1 401' "$T/h"
check "2. no credential: WWW-Authenticate" grep -qi '^WWW-Authenticate: Bearer' "$T/h"
check "2. no credential: JSON content type" grep -qi '^Content-Type: application/json' "$T/h"
check "2. no credential: a JSON error" grep -q '^{"error":"[^"]\{1,\}"}$' "$T/body"
# Every API, even asked wrongly: the credential is checked first.
for api in "GET /v1/resources" "POST /v1/resources" \
    "GET /v1/resources/vs/default/x" "DELETE /v1/resources/vs/default/x" \
    "GET /v1/sync" "POST /v1/register" "DELETE /v1/register" \
    "POST /v1/certificates" "GET /v1/status" "POST /v1/tokens"; do
	expect_eq "2. no credential: $api: 401" 401 "$(http_code \
	    --cacert "$DATA/ca.pem" -X "${api% *}" "$URL${api#* }")"
done
expect_eq "2. a wrong token: 401" 401 "$(http_code --cacert "$DATA/ca.pem" \
    -H "Authorization: Bearer $(printf '%064d' 0)" "$URL/v1/resources")"
expect_eq "2. a join-token-shaped wrong token: 401" 401 \
    "$(http_code --cacert "$DATA/ca.pem" -H "Authorization: Bearer weft1.0123.4567.$FP" \
    "$URL/v1/status")"
expect_eq "2. the admin token: 200" 200 "$(http_code --cacert "$DATA/ca.pem" \
    -H "Authorization: Bearer $TOKEN" "$URL/v1/status")"
expect_eq "2. the server certificate verifies for 127.0.0.1" 401 \
    "$(http_code --cacert "$DATA/ca.pem" "https://127.0.0.1:$PORT/v1/status")"
expect_eq "2. the server certificate verifies for localhost" 401 \
    "$(http_code --cacert "$DATA/ca.pem" --resolve "localhost:$PORT:127.0.0.1" \
    "https://localhost:$PORT/v1/status")"
rc=0
curl -s --max-time 5 -o /dev/null "$URL/v1/status" || rc=$?
expect_eq "2. without --cacert the certificate does not verify" 60 "$rc"
# The client side allows TLS 1.1 (security level 0), so that a refusal
# is the server's.
tls() {
	timeout 10 openssl s_client -connect "127.0.0.1:$PORT" "-$1" \
	    -cipher 'DEFAULT:@SECLEVEL=0' -CAfile "$DATA/ca.pem" \
	    -verify_return_error -verify_ip 127.0.0.1 </dev/null \
	    >"$T/tls.out" 2>"$T/tls.err"
}
rc=0
tls tls1_1 || rc=$?
check "2. TLS 1.1 is refused by the server" \
    eval "[ $rc -ne 0 ] && grep -q 'alert protocol version' '$T/tls.err'"
check "2. TLS 1.2 works" eval "tls tls1_2 && grep -q 'Protocol *: TLSv1.2' '$T/tls.out'"
check "2. TLS 1.3 works" eval "tls tls1_3 && grep -q 'New, TLSv1.3' '$T/tls.out'"

### 3 and 4. weftctl --server is weftctl --db; one changeset per
### committed apply.
CS_BAD=
# both DESC ARGS...: runs weftctl ARGS on the server and on a local DB;
# stdout, stderr and exit status must be the same. A committed apply on
# the server adds exactly one changeset, of its version.
both() {
	local desc=$1 rrc=0 lrc=0 v0 n0 v1 n1
	shift
	v0=$(sversion)
	n0=$(ncs)
	rctl "$@" >"$T/r.out" 2>"$T/r.err" || rrc=$?
	lctl "$@" >"$T/l.out" 2>"$T/l.err" || lrc=$?
	BOTH_RC=$rrc
	v1=$(sversion)
	n1=$(ncs)
	BOTH_CS="$v0 $n0 $v1 $n1"
	if [ "$rrc" = "$lrc" ] && cmp -s "$T/r.out" "$T/l.out" &&
	    cmp -s "$T/r.err" "$T/l.err"; then
		check "3. $desc: same output and status ($rrc) as --db" true
	else
		check "3. $desc: same output and status as --db" false
		echo "# server ($rrc):"
		sed 's/^/#   /' "$T/r.out" "$T/r.err"
		echo "# local ($lrc):"
		sed 's/^/#   /' "$T/l.out" "$T/l.err"
	fi
	if [ "$v1" = "$v0" ]; then
		[ "$n1" = "$n0" ] ||
		    CS_BAD="$CS_BAD [$desc: version $v0 kept, changesets $n0 -> $n1]"
	elif [ "$n1" != $((n0 + 1)) ] || [ "$v1" != $((v0 + 1)) ] ||
	    [ "$(sq "$SDB" 'SELECT max(version) FROM server_changesets')" != "$v1" ]; then
		CS_BAD="$CS_BAD [$desc: version $v0 -> $v1, changesets $n0 -> $n1]"
	fi
}

if [ -d "$ISTIO/bookinfo-networking" ]; then
	for f in "$ISTIO"/bookinfo-networking/*.yaml; do
		both "apply $(basename "$f")" apply -f "$f"
	done
	both "apply again: unchanged" apply -f \
	    "$ISTIO/bookinfo-networking/virtual-service-reviews-v3.yaml"
	check "3. the samples were applied" grep -q unchanged "$T/r.out"
	for o in yaml json name; do
		both "get all -A -o $o" get all -A -o "$o"
	done
	both "get all -A" get all -A
	both "get vs reviews -o yaml" get vs reviews -o yaml
	both "get dr reviews -o json" get dr reviews -o json
	both "get of a missing name" get vs nosuch
	both "delete of a rule in use" delete dr reviews
	both "delete of a missing name" delete vs nosuch
	both "--dry-run" apply --dry-run -f \
	    "$ISTIO/bookinfo-networking/virtual-service-reviews-80-20.yaml"
	both "delete" delete vs ratings
	expect_eq "3. deleted on the server" 0 \
	    "$(sq "$SDB" "SELECT count(*) FROM resources WHERE kind = 'VirtualService' AND name = 'ratings'")"
	both "get of what was deleted" get vs ratings
	both "explain (the server's snapshot in a private copy)" explain \
	    --source spiffe://cluster.local/ns/default/sa/productpage \
	    --destination reviews:9080 --path /reviews/1
	both "explain -o json" explain -o json \
	    --source spiffe://cluster.local/ns/default/sa/productpage \
	    --destination details:9080 --method POST --path /details
	both "delete -f" delete -f "$ISTIO/bookinfo-networking/destination-rule-reviews.yaml"
	both "get after delete" get all -A -o yaml
else
	echo "# no Istio samples in $ISTIO: their checks are skipped"
fi

cat >"$T/se.yaml" <<'EOF'
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: details, namespace: bookinfo}
spec:
  hosts: [details.bookinfo]
  addresses: [240.240.0.8]
  ports: [{number: 9080, name: http, protocol: HTTP}]
  workloadSelector: {labels: {app: details}}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: details, namespace: bookinfo}
spec:
  host: details.bookinfo
  subsets:
  - {name: v1, labels: {version: v1}}
EOF
both "apply a ServiceEntry and a rule" apply -f "$T/se.yaml"
read -r v0 n0 v1 n1 <<<"$BOTH_CS"
expect_eq "4. a committed apply: the next version, one changeset more" \
    "$((v0 + 1)) $((n0 + 1))" "$v1 $n1"
expect_eq "4. the new changeset is of that version" 1 \
    "$(sq "$SDB" "SELECT count(*) FROM server_changesets WHERE version = $v1")"
both "apply them again" apply -f "$T/se.yaml"
check "4. applied again: unchanged" grep -q 'details unchanged$' "$T/r.out"
expect_eq "4. an unchanged apply: same version, no changeset" "$v1 $n1 $v1 $n1" "$BOTH_CS"
cat >"$T/unknown.yaml" <<'EOF'
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: details, namespace: bookinfo}
spec:
  hosts: [details.bookinfo]
  http:
  - route:
    - destination: {host: details.bookinfo, subset: v1}
    retriez: {attempts: 3}
EOF
cat >"$T/dangling.yaml" <<'EOF'
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: details, namespace: bookinfo}
spec:
  hosts: [details.bookinfo]
  http:
  - route:
    - destination: {host: details.bookinfo, subset: v9}
EOF
for bad in unknown dangling; do
	server_state before
	both "invalid ($bad)" apply -f "$T/$bad.yaml"
	expect_eq "3. invalid ($bad): exit status 1" 1 "$BOTH_RC"
	server_state after
	check "3. invalid ($bad): nothing changed on the server" \
	    cmp -s "$T/before.state" "$T/after.state"
	cp "$T/r.err" "$T/$bad.err"
done
check "3. the unknown field is named" \
    grep -q 'unknown.yaml:1: VirtualService/details: spec.http\[0\].retriez: unknown field$' "$T/unknown.err"
check "3. the missing subset is named" \
    grep -q 'dangling.yaml:1: VirtualService/details: .*subset "v9" of host "details.bookinfo" is not defined' "$T/dangling.err"
# The server's own check, without weftctl's: the raw YAML posted.
server_state before
code=$(BODY=$T/body http_code --cacert "$DATA/ca.pem" -H "Authorization: Bearer $TOKEN" \
    -H 'Content-Type: application/yaml' --data-binary "@$T/unknown.yaml" \
    "$URL/v1/resources")
expect_eq "3. raw YAML with an unknown field: 422" 422 "$code"
check "3. raw YAML with an unknown field: the field named" \
    grep -q '"message":"[^"]*spec.http\[0\].retriez: unknown field"' "$T/body"
server_state after
check "3. raw YAML with an unknown field: nothing changed" cmp -s "$T/before.state" "$T/after.state"
server_state before
sed 's/v9/v1/' "$T/dangling.yaml" >"$T/vs.yaml"
both "--dry-run of a valid change" apply --dry-run -f "$T/vs.yaml"
check "3. --dry-run says so" grep -q ' (dry run)$' "$T/r.out"
server_state after
check "3. --dry-run: nothing changed on the server" cmp -s "$T/before.state" "$T/after.state"
both "apply the change" apply -f "$T/vs.yaml"
both "delete the VirtualService" delete vs details -n bookinfo
both "apply it back" apply -f "$T/vs.yaml"
both "delete -f" delete -f "$T/vs.yaml"
expect_eq "3. delete -f: deleted" 'virtualservice.networking.istio.io "details" deleted' "$(cat "$T/r.out")"
both "apply it back" apply -f "$T/vs.yaml"
expect_eq "4. every committed apply added one changeset of its version, no other" "" "$CS_BAD"
v=$(sversion)
expect_eq "4. the last changeset is of the server's version" "$v" \
    "$(sq "$SDB" 'SELECT version FROM server_changesets ORDER BY version DESC LIMIT 1')"

### 5. A join token, and the first sync with it.
JOIN=$(rctl token create --workload "$WL" --namespace "$NS" --service-account "$SA")
check "5. token create prints weft1.ID.SECRET.FINGERPRINT" \
    eval "echo '$JOIN' | grep -q -x -E 'weft1\.[0-9a-f]+\.[0-9a-f]+\.[0-9a-f]{64}'"
expect_eq "5. the token pins the CA fingerprint" "$FP" "${JOIN##*.}"
rc=0
sync_once --token "$JOIN" >"$T/once-1.log" 2>&1 || rc=$?
expect_eq "5. weft-sync --once with the token: exit 0" 0 "$rc"
for f in cert.pem key.pem ca.pem; do
	check "5. $f written" test -s "$CERTS/$f"
done
expect_eq "5. key.pem is 0600" 600 "$(stat -c %a "$CERTS/key.pem")"
check "5. ca.pem is the server's CA" cmp -s "$CERTS/ca.pem" "$DATA/ca.pem"
expect_eq "5. the certificate names exactly the workload's SPIFFE ID" "URI:$SPIFFE" \
    "$(openssl x509 -in "$CERTS/cert.pem" -noout -ext subjectAltName | sed 1d | tr -d ' ')"
check "5. the certificate verifies with the CA" \
    eval "openssl verify -CAfile '$DATA/ca.pem' '$CERTS/cert.pem' >/dev/null"
expect_eq "5. the local DB has the server's version" "$(sversion)" "$(wversion)"
ROW="SELECT source, address, labels, service_account, healthy FROM workloads
    WHERE namespace = '$NS' AND name = '$WL'"
WANT="registered|198.18.0.10|{\"app\":\"reviews\",\"version\":\"v1\"}|$SA|1"
expect_eq "5. registered and healthy on the server" "$WANT" "$(sq "$SDB" "$ROW")"
expect_eq "5. and in the local copy" "$WANT" "$(sq "$WDB" "$ROW")"
check "5. the local copy equals the server's" replica_equal

### 6. Later syncs use the certificate; other credentials are refused.
rc=0
sync_once >"$T/once-2.log" 2>&1 || rc=$?
expect_eq "6. weft-sync --once without a token: exit 0" 0 "$rc"
check "6. it authenticated with the certificate" \
    grep -q 'authenticating with the certificate' "$T/once-2.log"
OTHER=$(rctl token create --workload ratings-v1 --namespace "$NS" --service-account "$SA")
expect_eq "6. a token of another workload may not register this one: 403" 403 \
    "$(BODY=$T/body http_code --cacert "$DATA/ca.pem" -H "Authorization: Bearer $OTHER" \
    -H 'Content-Type: application/json' --data-binary \
    "{\"workload\":\"$WL\",\"namespace\":\"$NS\",\"serviceAccount\":\"$SA\",\"address\":\"198.18.0.66\"}" \
    "$URL/v1/register")"
rc=0
"$SYNC" --server "$URL" --db "$T/other.db" --certs "$T/other-certs" \
    --workload "$WL" --namespace "$NS" --service-account "$SA" \
    --address 198.18.0.66 --proxy-admin 127.0.0.1:1 --once --token "$OTHER" \
    >"$T/once-other.log" 2>&1 || rc=$?
expect_eq "6. weft-sync with that token: exit 1" 1 "$rc"
check "6. weft-sync with that token: says 403" grep -q 'HTTP 403' "$T/once-other.log"
expect_eq "6. the registration is unchanged" "${WANT%|1}" \
    "$(sq "$SDB" "SELECT source, address, labels, service_account FROM workloads
    WHERE namespace = '$NS' AND name = '$WL'")"
check "6. no certificate for it" test ! -e "$T/other-certs/cert.pem"
EXPIRED=$(rctl token create --workload "$WL" --namespace "$NS" --service-account "$SA" --ttl 1s)
sleep 2 # the token's lifetime, not a readiness wait
rc=0
"$SYNC" --server "$URL" --db "$T/expired.db" --certs "$T/expired-certs" \
    --workload "$WL" --namespace "$NS" --service-account "$SA" \
    --address 198.18.0.10 --proxy-admin 127.0.0.1:1 --once --token "$EXPIRED" \
    >"$T/once-expired.log" 2>&1 || rc=$?
expect_eq "6. an expired token: exit 1" 1 "$rc"
check "6. an expired token: a clear error" grep -q 'join token [0-9a-f]* has expired' "$T/once-expired.log"

### 7. A running sync follows the server, and outlives it.
sync_start
check "7. the running sync catches up" waitfor 10 in_sync
change 1
check "7. a change arrives within 10 s" waitfor 10 in_sync
status_is() { rctl status | grep -q -E "^$NS/$WL +.* $1\$"; }
check "7. weftctl status: in sync" waitfor 10 status_is "in sync"
replica "$WDB" >"$T/before-stop"
server_stop
retried() { grep -q 'retrying in' "$SYNC_LOG"; }
check "7. server stopped: weft-sync logs a retry" waitfor 10 retried
check "7. server stopped: weft-sync still runs" kill -0 "$SYNC_PID"
replica "$WDB" >"$T/after-stop"
check "7. server stopped: the local DB is unchanged" cmp -s "$T/before-stop" "$T/after-stop"
# The same data dir, now keeping only two changesets (for 8).
server_start --history 2
expect_eq "7. restart: same CA" "$FP" "$(fingerprint)"
change 2
check "7. after the restart a change arrives" waitfor 10 in_sync
check "7. resumed from its version with changesets" \
    grep -q "policy version $(sversion) (1 changesets)" "$SYNC_LOG"
check "7. still running" kill -0 "$SYNC_PID"

### 8. A gap longer than the history: a full snapshot.
stop KILL "$SYNC_PID"
v=$(sversion)
for i in 3 4 5 6 7; do
	change "$i"
done
# (The server may add a version of its own: the killed sync's health.)
check "8. five changes committed" test "$(sversion)" -ge $((v + 5))
expect_eq "8. the server keeps two changesets" 2 "$(ncs)"
sync_start
check "8. the sync catches up" waitfor 10 replica_equal
check "8. with a full snapshot" grep -q 'full snapshot' "$SYNC_LOG"
diff "$T/replica-server" "$T/replica-local" | head -n 20 | sed 's/^/# /'
expect_eq "8. services equal" "$(sq "$SDB" 'SELECT * FROM services ORDER BY id')" \
    "$(sq "$WDB" 'SELECT * FROM services ORDER BY id')"
expect_eq "8. routes equal" "$(sq "$SDB" 'SELECT * FROM routes ORDER BY id')" \
    "$(sq "$WDB" 'SELECT * FROM routes ORDER BY id')"

### 9. A row the changeset does not expect: no half apply, a resync.
stop KILL "$SYNC_PID"
next=$(sq "$SDB" 'SELECT coalesce(max(id), 0) + 1 FROM services')
sq "$WDB" "INSERT INTO services (id, namespace, name)
    VALUES ($next, '$NS', 'reviews')"
expect_eq "9. a stray row in the stopped sync's copy" 1 \
    "$(sq "$WDB" "SELECT count(*) FROM services WHERE id = $next")"
cat >"$T/conflict.yaml" <<'EOF'
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: reviews, namespace: bookinfo}
spec:
  hosts: [reviews.bookinfo]
  addresses: [240.240.0.9]
  ports: [{number: 9080, name: http, protocol: HTTP}]
  workloadSelector: {labels: {app: reviews}}
EOF
rctl apply -f "$T/conflict.yaml" >/dev/null
expect_eq "9. (setup) the server's new service has the stray row's id" "$next" \
    "$(sq "$SDB" "SELECT id FROM services WHERE namespace = '$NS' AND name = 'reviews'")"
sync_start
check "9. the copy ends equal to the server's" waitfor 10 replica_equal
check "9. the conflict was seen and a snapshot asked for" \
    grep -q 'asking for a full snapshot' "$SYNC_LOG"
check "9. and received" grep -q 'full snapshot' "$SYNC_LOG"
expect_eq "9. one reviews service, the server's" \
    "$(sq "$SDB" "SELECT * FROM services WHERE name = 'reviews'")" \
    "$(sq "$WDB" "SELECT * FROM services WHERE name = 'reviews'")"

### 10. A damaged local DB is kept aside and rebuilt. Its WAL goes too:
### the DB keeps its -wal file (weft-policy(5)), from which SQLite would
### rebuild the pages it still holds.
stop KILL "$SYNC_PID"
head -c 8192 /dev/urandom >"$T/garbage"
rm -f "$WDB-wal" "$WDB-shm"
cp "$T/garbage" "$WDB"
sync_start
check "10. the copy is rebuilt equal to the server's" waitfor 10 replica_equal
check "10. the sync says the DB is damaged" grep -q -F "$WDB is damaged" "$SYNC_LOG"
check "10. the damaged file is kept as PATH.corrupt" cmp -s "$T/garbage" "$WDB.corrupt"
check "10. still running" kill -0 "$SYNC_PID"

### 11. Health follows the heartbeat; SIGTERM deregisters.
check "11. in sync before" waitfor 10 status_is "in sync"
stop KILL "$SYNC_PID"
unhealthy() { [ "$(sq "$SDB" "SELECT healthy FROM workloads WHERE namespace = '$NS' AND name = '$WL'")" = 0 ]; }
healthy() { [ "$(sq "$SDB" "SELECT healthy FROM workloads WHERE namespace = '$NS' AND name = '$WL'")" = 1 ]; }
check "11. SIGKILL: unhealthy on the server within 10 s" waitfor 10 unhealthy
check "11. weftctl status: offline" waitfor 5 status_is offline
sync_start
check "11. started again: healthy" waitfor 10 healthy
check "11. the local copy says healthy too" waitfor 10 replica_equal
check "11. weftctl status: in sync" waitfor 10 status_is "in sync"
stop TERM "$SYNC_PID"
expect_eq "11. SIGTERM: weft-sync exits 0" 0 "$STOP_RC"
check "11. SIGTERM: deregistered" grep -q "deregistered $NS/$WL" "$SYNC_LOG"
expect_eq "11. gone from workloads" 0 \
    "$(sq "$SDB" "SELECT count(*) FROM workloads WHERE namespace = '$NS' AND name = '$WL'")"
expect_eq "11. gone from server_proxies" 0 \
    "$(sq "$SDB" "SELECT count(*) FROM server_proxies WHERE namespace = '$NS' AND workload = '$WL'")"
check "11. gone from weftctl status" eval "! rctl status | grep -q '^$NS/$WL '"

server_stop
expect_eq "weft-server exits 0 on SIGTERM" 0 "$STOP_RC"
e2e_done
