# src/sync: weft-sync, which keeps a workload's policy DB and
# certificate current from weft-server.
sbin_PROGRAMS += src/sync/weft-sync
src_sync_weft_sync_SOURCES = \
	src/sync/weft_sync.c src/sync/sync.h \
	src/sync/sync_client.c \
	src/sync/sync_certs.c \
	src/sync/sync_proxy.c \
	src/sync/sync_tap.c \
	src/sync/sync_db.c src/sync/sync_db.h
src_sync_weft_sync_CFLAGS = $(AM_CFLAGS) $(LIBEVENT_CFLAGS) \
	$(LIBEVENT_SSL_CFLAGS) $(OPENSSL_CFLAGS) $(SQLITE_CFLAGS) \
	$(JANSSON_CFLAGS) $(YAML_CFLAGS)
src_sync_weft_sync_LDADD = src/lib/libweft.a $(LIBEVENT_SSL_LIBS) \
	$(LIBEVENT_LIBS) $(OPENSSL_LIBS) $(SQLITE_LIBS) $(JANSSON_LIBS) \
	$(YAML_LIBS) -lm

dist_man_MANS += man/weft-sync.8
