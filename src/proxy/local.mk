sbin_PROGRAMS += src/proxy/weft-proxy
src_proxy_weft_proxy_SOURCES = \
	src/proxy/weft_proxy.c \
	src/proxy/proxy.h \
	src/proxy/proxy_conf.c \
	src/proxy/worker.c \
	src/proxy/listener.c \
	src/proxy/origdst.c \
	src/proxy/netaddr.c \
	src/proxy/conn.c src/proxy/conn.h \
	src/proxy/conn_tls.c \
	src/proxy/tls.c src/proxy/tls.h \
	src/proxy/session.c \
	src/proxy/tcp_relay.c \
	src/proxy/tcp_route.c \
	src/proxy/http_proxy.c \
	src/proxy/http_route.c \
	src/proxy/inbound_policy.c \
	src/proxy/jwt_cache.c src/proxy/jwt_cache.h \
	src/proxy/jwt_locate.c src/proxy/jwt_locate.h \
	src/proxy/mirror.c \
	src/proxy/upstream.c \
	src/proxy/access_log.c \
	src/proxy/trace.h src/proxy/trace_span.c src/proxy/trace_export.c \
	src/proxy/admin.c \
	src/proxy/admin_stats.c \
	src/proxy/tap_queue.c \
	src/proxy/policy_db.c src/proxy/policy_db.h \
	src/proxy/snapshot.c src/proxy/snapshot.h \
	src/proxy/snapshot_rows.c src/proxy/snapshot_rows.h \
	src/proxy/snapshot_build.c src/proxy/snapshot_build.h \
	src/proxy/snapshot_parse.c \
	src/proxy/snapshot_security.c \
	src/proxy/route_match.c \
	src/proxy/lb.c src/proxy/lb.h \
	src/proxy/ratelimit.c src/proxy/ratelimit.h \
	src/proxy/jwks_fetch.c src/proxy/jwks_fetch.h \
	src/proxy/l4_queue.c src/proxy/l4_queue.h \
	src/proxy/l4_packet.c src/proxy/l4_packet.h \
	src/proxy/l4_verdict.c src/proxy/l4_verdict.h
src_proxy_weft_proxy_CFLAGS = $(AM_CFLAGS) $(LIBEVENT_CFLAGS) $(SQLITE_CFLAGS) \
	$(JANSSON_CFLAGS) $(OPENSSL_CFLAGS) $(LIBJWT_CFLAGS) $(NFQ_CFLAGS)
# jwks_fetch.c fetches jwksUri's with the HTTPS client of libweft.a.
src_proxy_weft_proxy_LDADD = src/lib/libweft.a $(LIBEVENT_SSL_LIBS) \
	$(LIBEVENT_LIBS) $(SQLITE_LIBS) $(JANSSON_LIBS) $(LIBJWT_LIBS) \
	$(OPENSSL_LIBS) $(NFQ_LIBS) -lm
