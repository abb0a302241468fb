#!/bin/bash
# shellcheck disable=SC2317 # helpers called through check and within
# A VM joins the mesh as its operator would make it: weftctl join writes
# the settings and the join token, then the systemd units' own command
# lines run (tools/unit-exec reads them from the unit files, made from
# systemd/*.service.in as make makes them, with the settings file, the
# credential and the User= of each unit) in a network namespace standing in for the VM, with its own /var/lib
# and a weft-proxy user in its /etc/passwd. The VM calls a pod's
# service, and the pod calls the VM's, both with mTLS from the
# identities weft-sync got; weft-init's ExecStop removes its rules.
# weftctl join refuses bad input, a wrong CA and a bad token, each in
# one line, writing nothing; a second join updates the settings and
# keeps the operator's other lines.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
e2e_init
WEFTCTL=$WEFT_BUILDDIR/src/ctl/weftctl
command -v setpriv >/dev/null || skip "needs setpriv"
command -v unshare >/dev/null || skip "needs unshare"
for p in init proxy sync server; do
	[ -x "$WEFT_BUILDDIR/src/$p/weft-$p" ] || skip "weft-$p is not built"
done

# The server pod, and an admin's weftctl there.
SRV_ADDR=198.18.11.2
pod_new server "$SRV_ADDR"
SRV=$POD
mkdir -m 700 "$T/srv"
bg "$SRV" server "$WEFT_BUILDDIR/src/server/weft-server" --data-dir "$T/srv"
wait_listen "$SRV" 15010
ctl() {
	in_ns "$SRV" "$WEFTCTL" --server https://127.0.0.1:15010 \
	    --ca "$T/srv/ca.pem" --token-file "$T/srv/admin.token" "$@"
}

# A pod with a sidecar, as tests/e2e/cp_mesh.sh makes them.
APP_ADDR=198.18.11.10
pod_new app "$APP_ADDR"
APP=$POD
in_ns "$APP" "$WEFT_INIT" >"$T/init-app.log" 2>&1
proxy_start "$APP" app --db "$T/px/app.db" --certs "$T/px/app-certs"
bg_proxy_uid "$APP" sync-app "$WEFT_BUILDDIR/src/sync/weft-sync" \
    --server "https://$SRV_ADDR:15010" --workload app --namespace e2e \
    --service-account app-sa --address "$APP_ADDR" --labels app=app \
    --ports http=9080 --db "$T/px/app.db" --certs "$T/px/app-certs" \
    --token "$(ctl token create --workload app --namespace e2e \
    --service-account app-sa)"
bg "$APP" app-testd "$WEFT_TESTD" --listen 0.0.0.0:9080 --name app
wait_listen "$APP" 9080

ctl apply -f - >"$T/apply.log" 2>&1 <<'YAML'
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: app, namespace: e2e}
spec:
  hosts: [app.e2e.svc.cluster.local]
  addresses: [240.240.0.20]
  ports: [{number: 9080, name: http, protocol: HTTP}]
  workloadSelector: {labels: {app: app}}
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: billing, namespace: e2e}
spec:
  hosts: [billing.e2e.svc.cluster.local]
  addresses: [240.240.0.30]
  ports: [{number: 8080, name: http, protocol: HTTP}]
  workloadSelector: {labels: {app: billing}}
YAML
check "the services apply through the server" grep -q created "$T/apply.log"

# The VM: a namespace, its /etc and /var/lib, the units made from
# their .in files as make does (lib.sh: vm_new).
VM_ADDR=198.18.11.20
vm_new vm "$VM_ADDR"
check "the units read the VM's settings file" \
    grep -q "^EnvironmentFile=-$VM_DIR/etc/default/weft\$" "$VM_DIR/units/weft-proxy.service"
check "every @variable@ of the units substituted" \
    sh -c "! grep -q '@[a-z]*@' '$VM_DIR'/units/*.service"
check "the VM has the weft-proxy user of sysusers.d, uid $PROXY_UID" \
    grep -q "^weft-proxy:x:$PROXY_UID:" "$VM_DIR/passwd"
# The operator's own setting, which joins must keep.
echo "WEFT_PROXY_ARGS=--access-log -" >>"$VM_DIR/etc/default/weft"

# within SECONDS CMD...: CMD succeeds within SECONDS (bounded).
within() {
	local n=$(($1 * 10)) _
	shift
	for _ in $(seq 1 "$n"); do
		"$@" && return 0
		sleep 0.1
	done
	return 1
}
join() {
	in_ns "$VM" "$WEFTCTL" join --server "https://$SRV_ADDR:15010" \
	    --etc "$VM_DIR/etc" --no-start "$@"
}

# Bad input: one line each, nothing written.
TOKEN=$(ctl token create --workload billing-vm --namespace e2e \
    --service-account billing --ttl 1h)
cp "$VM_DIR/etc/default/weft" "$T/settings.before"
refused() { # DESCRIPTION WANT-STATUS WANT-TEXT JOIN-ARGS...
	local desc=$1 want=$2 text=$3 rc=0
	shift 3
	join "$@" >"$T/join.out" 2>"$T/join.err" || rc=$?
	expect_eq "$desc: exit status" "$want" "$rc"
	expect_eq "$desc: one line on stderr" 1 "$(wc -l <"$T/join.err")"
	check "$desc: says \"$text\"" grep -q -- "$text" "$T/join.err"
}
refused "no address" 2 "--address IP is required" --token "$TOKEN"
refused "a bad address" 2 "not an IP address" --token "$TOKEN" --address 198.18.11
refused "a bad port" 2 "--ports" --token "$TOKEN" --address "$VM_ADDR" --ports http=70000
refused "a malformed token" 2 "weft1.ID.SECRET.CA-FINGERPRINT" --token weft1.abc --address "$VM_ADDR"
refused "a '\$' in a setting" 2 "not allowed" --token "$TOKEN" --address "$VM_ADDR" --init-args 'a$b' # a literal $
refused "another CA's fingerprint" 1 "pinned CA fingerprint" \
    --token "${TOKEN%.*}.$(printf '%064d' 0)" --address "$VM_ADDR"
refused "a wrong secret" 1 "refused the join token: invalid token" \
    --token "$(echo "$TOKEN" | awk -F. '{ print $1 "." $2 ".wrong." $4 }')" \
    --address "$VM_ADDR"
refused "the token of another workload" 1 "the join token is for workload billing-vm" \
    --token "$TOKEN" --address "$VM_ADDR" --workload other
rc=0
in_ns "$VM" "$WEFTCTL" join --server "https://198.18.11.99:15010" --etc "$VM_DIR/etc" \
    --no-start --token "$TOKEN" --address "$VM_ADDR" >/dev/null 2>"$T/join.err" || rc=$?
expect_eq "an unreachable server: exit status 1, one line" "1 1" "$rc $(wc -l <"$T/join.err")"
check "nothing was written" cmp -s "$T/settings.before" "$VM_DIR/etc/default/weft"
check "no token was written" test ! -e "$VM_DIR/etc/weft/join-token"

# The join, as the operator would type it (the token from a file).
echo "$TOKEN" >"$T/token"
join --token-file "$T/token" --address "$VM_ADDR" --ports http=8080 \
    --labels app=billing,version=v1 >"$T/join.out" 2>&1
check "weftctl join checks the token with the server" \
    grep -q "join token of e2e/billing-vm (spiffe://cluster.local/ns/e2e/sa/billing) accepted" "$T/join.out"
settings=$VM_DIR/etc/default/weft
for kv in WEFT_WORKLOAD=billing-vm WEFT_NAMESPACE=e2e WEFT_SERVICE_ACCOUNT=billing \
    WEFT_ADDRESS=$VM_ADDR WEFT_PORTS=http=8080 WEFT_LABELS=app=billing,version=v1 \
    "WEFT_SERVER=https://$SRV_ADDR:15010" "WEFT_PROXY_ARGS=--access-log -"; do
	expect_eq "settings: ${kv%%=*}" 1 "$(grep -cx -- "$kv" "$settings")"
done
expect_eq "the settings keep their comments" \
    "$(grep -c '^#' "$T/settings.before")" "$(grep -c '^#' "$settings")"
expect_eq "the join token: root's, mode 0600" "600 0 $TOKEN" \
    "$(stat -c '%a %u' "$VM_DIR/etc/weft/join-token") $(cat "$VM_DIR/etc/weft/join-token")"
# Again, with a locality: the same file, one line changed.
cp "$settings" "$T/settings.first"
join --token "$TOKEN" --address "$VM_ADDR" --locality eu/z1 >"$T/join2.out" 2>&1
expect_eq "a second join changes only what it was given" \
    "< WEFT_LOCALITY= > WEFT_LOCALITY=eu/z1 " \
    "$(diff "$T/settings.first" "$settings" | grep '^[<>]' | tr '\n' ' ')"

# The units, from their own command lines.
vm_unit weft-init start >"$T/vm-init.log" 2>&1
check "weft-init.service's ExecStart installed the capture" \
    sh -c "ip netns exec '$VM' iptables-save -t nat | grep -q WEFT_OUTPUT"
vm_unit_start weft-proxy
VM_PROXY_PID=$LAST_PID
vm_unit_start weft-sync
VM_SYNC_PID=$LAST_PID
bg "$VM" vm-testd "$WEFT_TESTD" --listen 0.0.0.0:8080 --name billing-vm
wait_listen "$VM" 8080
wait_listen "$VM" 15001
# The PID is the daemon's once unit-exec has exec'ed it (as the User=).
runs_as_proxy_uid() {
	[ "$(ps -o uid=,comm= -p "$1" | tr -s ' ' | sed 's/^ //')" = "$PROXY_UID $2" ]
}
check "weft-proxy runs as the unit's User=" \
    within 20 runs_as_proxy_uid "$VM_PROXY_PID" weft-proxy
check "weft-sync runs as the unit's User=" \
    within 20 runs_as_proxy_uid "$VM_SYNC_PID" weft-sync
check "weft-sync was given the join token credential" \
    within 20 grep -q "registered e2e/billing-vm at $VM_ADDR" "$T/vm-vm-weft-sync.log"
check "/var/lib/weft is the VM's, and weft-proxy's" \
    test "$(stat -c %u "$VM_DIR/varlib/weft")" = "$PROXY_UID"

certs_ready() {
	[ -s "$VM_DIR/varlib/weft/certs/cert.pem" ] && [ -s "$T/px/app-certs/cert.pem" ]
}
check "both workloads have their certificates" within 30 certs_ready

# The VM calls the pod's service through its sidecar, with mTLS.
vm_calls() {
	[ "$(in_ns "$VM" curl -s --max-time 5 -o /dev/null -w '%{http_code}' \
	    http://240.240.0.20:9080/from-vm)" = 200 ] &&
	    [ "$(metric "$APP" weft_requests_total reporter=destination \
	    connection_security_policy=mutual_tls \
	    source_principal=spiffe://cluster.local/ns/e2e/sa/billing)" -gt 0 ]
}
check "the VM calls app.e2e (240.240.0.20) with mTLS as spiffe://cluster.local/ns/e2e/sa/billing" \
    within 30 vm_calls
check "the VM's sidecar counted it as the source" \
    test "$(metric "$VM" weft_requests_total reporter=source \
    destination_service=app.e2e.svc.cluster.local)" -gt 0

# The pod calls the VM's service (the ServiceEntry selects its labels).
pod_calls() {
	[ "$(in_ns "$APP" curl -s --max-time 5 -o /dev/null -w '%{http_code}' \
	    http://240.240.0.30:8080/from-pod)" = 200 ] &&
	    [ "$(metric "$VM" weft_requests_total reporter=destination \
	    connection_security_policy=mutual_tls \
	    source_principal=spiffe://cluster.local/ns/e2e/sa/app-sa)" -gt 0 ]
}
check "the pod calls billing.e2e (240.240.0.30) on the VM with mTLS" within 30 pod_calls
check "the VM's application answered the pod" \
    sh -c "ip netns exec '$APP' curl -s --max-time 5 -D - -o /dev/null \
    http://240.240.0.30:8080/who | grep -qi '^x-backend: billing-vm'"
check "the access log of WEFT_PROXY_ARGS went to the unit's stdout" \
    within 10 grep -q '"path"' "$T/vm-vm-weft-proxy.log"

# Stopping: the daemons by PID, then weft-init's ExecStop.
stop_pid "$VM_SYNC_PID"
stop_pid "$VM_PROXY_PID"
vm_unit weft-init stop >>"$T/vm-init.log" 2>&1
check "weft-init.service's ExecStop removed every rule" \
    sh -c "! ip netns exec '$VM' iptables-save | grep -q WEFT"
check "and the IPv6 ones" \
    sh -c "! ip netns exec '$VM' ip6tables-save | grep -q WEFT"
e2e_done
