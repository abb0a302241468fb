# src/ctl: weftctl, the user's command line for the mesh policy.
#
# The reading and checking of configuration documents is shared code in
# src/lib (weft-server will use it too); it is built into libweft.a here.
src_lib_libweft_a_SOURCES += \
	src/lib/yaml_doc.c src/lib/yaml_doc.h \
	src/lib/config_doc.c src/lib/config_doc.h \
	src/lib/config_field.c src/lib/config_field.h \
	src/lib/config_refs.c src/lib/config_refs.h \
	src/lib/config_serviceentry.c src/lib/config_serviceentry.h \
	src/lib/config_workloadentry.c src/lib/config_workloadentry.h \
	src/lib/config_destinationrule.c src/lib/config_destinationrule.h \
	src/lib/config_virtualservice.c src/lib/config_virtualservice.h \
	src/lib/config_peerauthentication.c \
	src/lib/config_peerauthentication.h \
	src/lib/config_requestauthentication.c \
	src/lib/config_requestauthentication.h \
	src/lib/config_authorizationpolicy.c \
	src/lib/config_authorizationpolicy.h \
	src/lib/config_ratelimit.c src/lib/config_ratelimit.h \
	src/lib/store_db.c src/lib/store_db.h \
	src/lib/store_apply.c src/lib/store_apply.h \
	src/lib/replica_db.c src/lib/replica_db.h \
	src/lib/config_input.c src/lib/config_input.h
src_lib_libweft_a_CFLAGS += $(JANSSON_CFLAGS) $(YAML_CFLAGS)

bin_PROGRAMS += src/ctl/weftctl
src_ctl_weftctl_SOURCES = \
	src/ctl/weftctl.c src/ctl/ctl.h \
	src/ctl/ctl_input.c \
	src/ctl/ctl_apply.c \
	src/ctl/ctl_get.c \
	src/ctl/ctl_delete.c \
	src/ctl/ctl_status.c \
	src/ctl/ctl_remote.c \
	src/ctl/ctl_ca.c \
	src/ctl/ctl_explain.c \
	src/ctl/ctl_explain_print.c \
	src/ctl/ctl_join.c \
	src/ctl/ctl_inject.c \
	src/ctl/ctl_http.c src/ctl/ctl_http.h \
	src/ctl/ctl_stat.c \
	src/ctl/ctl_tap.c \
	src/ctl/ctl_check.c src/ctl/ctl_check.h \
	src/ctl/ctl_check_policy.c
# weftctl explain builds the proxy's own snapshots and decides on them.
src_ctl_weftctl_SOURCES += \
	src/proxy/policy_db.c src/proxy/policy_db.h \
	src/proxy/snapshot.c src/proxy/snapshot.h \
	src/proxy/snapshot_rows.c src/proxy/snapshot_rows.h \
	src/proxy/snapshot_build.c src/proxy/snapshot_build.h \
	src/proxy/snapshot_parse.c \
	src/proxy/snapshot_security.c \
	src/proxy/jwt_locate.c src/proxy/jwt_locate.h \
	src/proxy/route_match.c \
	src/proxy/lb.c src/proxy/lb.h \
	src/proxy/ratelimit.c src/proxy/ratelimit.h
src_ctl_weftctl_CFLAGS = $(AM_CFLAGS) $(SQLITE_CFLAGS) $(JANSSON_CFLAGS) \
	$(YAML_CFLAGS) $(LIBJWT_CFLAGS) -I$(top_srcdir)/src/proxy
src_ctl_weftctl_LDADD = src/lib/libweft.a $(SQLITE_LIBS) $(JANSSON_LIBS) \
	$(YAML_LIBS) $(LIBJWT_LIBS) $(LIBEVENT_SSL_LIBS) $(LIBEVENT_LIBS) \
	$(OPENSSL_LIBS) -lm

dist_man_MANS += man/weftctl.8 man/weft-policy.5

# No root needed: the sqlite3 and jq command line tools, and openssl for
# ctl_explain's tokens.
CTL_TESTS = tests/e2e/ctl_apply.sh tests/e2e/ctl_explain.sh
EXTRA_DIST += $(CTL_TESTS)
TESTS += $(CTL_TESTS)
