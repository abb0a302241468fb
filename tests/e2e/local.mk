# End-to-end tests: shell scripts that build pods out of network
# namespaces (they need root; see tests/e2e/lib.sh).
PROXY_E2E_TESTS = \
	tests/e2e/proxy_capture.sh \
	tests/e2e/proxy_smuggling.sh \
	tests/e2e/proxy_tcp.sh \
	tests/e2e/proxy_lifecycle.sh \
	tests/e2e/proxy_limits.sh \
	tests/e2e/proxy_policy_db.sh \
	tests/e2e/route_basic.sh \
	tests/e2e/route_tcp.sh \
	tests/e2e/route_retry.sh \
	tests/e2e/route_lb.sh \
	tests/e2e/route_outlier.sh \
	tests/e2e/route_locality.sh \
	tests/e2e/route_reload.sh \
	tests/e2e/cp_mesh.sh \
	tests/e2e/ca_rotation.sh \
	tests/e2e/mtls.sh \
	tests/e2e/security.sh \
	tests/e2e/jwks_uri.sh \
	tests/e2e/trace.sh \
	tests/e2e/stat_tap.sh \
	tests/e2e/prometheus.sh \
	tests/e2e/stat_server.sh \
	tests/e2e/l4_policy.sh \
	tests/e2e/kube_discovery.sh
EXTRA_DIST += tests/e2e/lib.sh $(PROXY_E2E_TESTS)
if E2E
TESTS += $(PROXY_E2E_TESTS)
endif

# The control plane on loopback (weft-server, weft-sync, weftctl
# --server): needs neither root nor namespaces, so it always runs
# (ctl_check.sh checks weftctl check --proxy too when run as root).
SERVER_E2E_TESTS = tests/e2e/server_api.sh tests/e2e/webhook.sh \
	tests/e2e/ctl_check.sh
EXTRA_DIST += $(SERVER_E2E_TESTS)
TESTS += $(SERVER_E2E_TESTS)
