noinst_LIBRARIES += src/lib/libweft.a
src_lib_libweft_a_SOURCES = \
	src/lib/log.c src/lib/log.h \
	src/lib/xmalloc.c src/lib/xmalloc.h
