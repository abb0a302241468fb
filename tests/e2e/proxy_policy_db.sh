#!/bin/bash
# The sidecar follows its local policy DB without a restart: it starts
# without one (an empty policy), keeps serving on the last good snapshot
# when the DB is corrupt, picks up a DB that appears or is replaced, and
# an update made in place; the metrics tell the version and the reloads.
. "$(dirname "$0")/lib.sh"
e2e_init
command -v sqlite3 >/dev/null || skip "needs the sqlite3 CLI"

mesh_pod srv 198.18.6.2
SRV=$POD
bg "$SRV" backend "$WEFT_TESTD" --listen 0.0.0.0:8080 --name srv
wait_listen "$SRV" 8080
mesh_pod cli 198.18.6.1
CLI=$POD
DB=$T/cli.db
URL=http://198.18.6.2:8080

ok() {
	[ "$(in_ns "$CLI" curl -s --max-time 5 -o /dev/null -w '%{http_code}' "$URL/$1")" = 200 ]
}
version_is() { [ "$(metric "$CLI" weft_config_version)" = "$1" ]; }
failures_at_least() {
	[ "$(metric "$CLI" weft_config_reloads_total result=failure)" -ge "$1" ]
}

check "no DB: an empty policy, traffic passes" ok no-db
expect_eq "no DB: version 0" 0 "$(metric "$CLI" weft_config_version)"

head -c 4096 /dev/urandom >"$DB"
eventually "a corrupt DB is a failed reload" failures_at_least 1
check "the proxy keeps serving with the last good snapshot" ok corrupt-db
expect_eq "the version in force is unchanged" 0 "$(metric "$CLI" weft_config_version)"
check "the failure is logged once with its cause" \
    test "$(grep -c 'policy reload failed' "$T/proxy-cli.log")" -eq 1

sqlite3 "$T/new.db" <"$WEFT_SRCDIR/sql/schema.sql"
sqlite3 "$T/new.db" 'PRAGMA user_version = 3; UPDATE config_version SET version = 7'
mv "$T/new.db" "$DB"
eventually "a DB replaced by rename is picked up" version_is 7
sqlite3 "$DB" 'UPDATE config_version SET version = 8'
eventually "an update committed in place is picked up" version_is 8
check "still serving" ok after-updates

sqlite3 "$DB" 'PRAGMA user_version = 99'
eventually "a DB of a newer schema is refused" failures_at_least 2
check "and the policy in force stays" version_is 8
check "the refusal names the schema version" \
    grep -q 'schema version 99 is newer' "$T/proxy-cli.log"

rm -f "$DB"
eventually "a removed DB is an empty policy again" version_is 0
check "still serving" ok after-removal

e2e_done
