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
	src/proxy/session.c \
	src/proxy/tcp_relay.c \
	src/proxy/http_proxy.c \
	src/proxy/upstream.c \
	src/proxy/access_log.c \
	src/proxy/admin.c \
	src/proxy/policy_db.c src/proxy/policy_db.h
src_proxy_weft_proxy_CFLAGS = $(AM_CFLAGS) $(LIBEVENT_CFLAGS) $(SQLITE_CFLAGS)
src_proxy_weft_proxy_LDADD = src/lib/libweft.a $(LIBEVENT_LIBS) $(SQLITE_LIBS) -lm
