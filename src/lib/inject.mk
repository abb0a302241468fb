# src/lib/inject.c: the Kubernetes sidecar injection (a JSON Patch of a
# pod), shared by weft-server's admission webhook and weftctl inject.
src_lib_libweft_a_SOURCES += src/lib/inject.c src/lib/inject.h
src_lib_libweft_a_CFLAGS += $(JANSSON_CFLAGS)
