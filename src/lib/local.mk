noinst_LIBRARIES += src/lib/libweft.a
src_lib_libweft_a_SOURCES = \
	src/lib/log.c src/lib/log.h \
	src/lib/xmalloc.c src/lib/xmalloc.h \
	src/lib/duration.c src/lib/duration.h \
	src/lib/http1.c src/lib/http1.h \
	src/lib/metrics.c src/lib/metrics.h \
	src/lib/stats_window.c src/lib/stats_window.h \
	src/lib/tap.c src/lib/tap.h \
	src/lib/json_esc.c src/lib/json_esc.h \
	src/lib/http_req.h \
	src/lib/schema_db.c src/lib/schema_db.h \
	src/lib/tls_hello.c src/lib/tls_hello.h
nodist_src_lib_libweft_a_SOURCES = src/lib/schema_sql.c
src_lib_libweft_a_CFLAGS = $(AM_CFLAGS) $(LIBEVENT_CFLAGS) $(SQLITE_CFLAGS)

# sql/schema.sql compiled in, so that every program creates the same schema.
BUILT_SOURCES += src/lib/schema_sql.c
CLEANFILES += src/lib/schema_sql.c
src/lib/schema_sql.c: $(top_srcdir)/sql/schema.sql
	$(AM_V_GEN)$(MKDIR_P) src/lib && { \
	  echo '/* Generated from sql/schema.sql; do not edit. */'; \
	  echo 'extern const char schema_sql[];'; \
	  echo 'const char schema_sql[] = {'; \
	  od -An -v -tx1 < $(top_srcdir)/sql/schema.sql | \
	    sed -e 's/\([0-9a-f][0-9a-f]\)/0x\1,/g'; \
	  echo '0x00};'; } > $@.tmp && mv $@.tmp $@
