# src/server: weft-server, the control plane (policy DB, change feed,
# CA, registry) behind an HTTPS API.
sbin_PROGRAMS += src/server/weft-server
src_server_weft_server_SOURCES = \
	src/server/weft_server.c src/server/server.h \
	src/server/server_http.c \
	src/server/server_auth.c \
	src/server/server_resources.c \
	src/server/server_feed.c \
	src/server/server_registry.c \
	src/server/server_ca.c \
	src/server/server_webhook.c \
	src/server/server_stats.c \
	src/server/server_tap.c \
	src/server/server_db.c src/server/server_db.h \
	src/server/kube_client.c src/server/kube_client.h \
	src/server/kube_discovery.c src/server/kube_discovery.h \
	src/server/kube_sync.c
src_server_weft_server_CFLAGS = $(AM_CFLAGS) $(LIBEVENT_CFLAGS) \
	$(LIBEVENT_SSL_CFLAGS) $(OPENSSL_CFLAGS) $(SQLITE_CFLAGS) \
	$(JANSSON_CFLAGS) $(YAML_CFLAGS)
src_server_weft_server_LDADD = src/lib/libweft.a $(LIBEVENT_SSL_LIBS) \
	$(LIBEVENT_LIBS) $(OPENSSL_LIBS) $(SQLITE_LIBS) $(JANSSON_LIBS) \
	$(YAML_LIBS) -lm -lpthread

dist_man_MANS += man/weft-server.8 man/weft-inject.7
