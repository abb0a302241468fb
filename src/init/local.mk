# src/init: weft-init, the capture rules installer

sbin_PROGRAMS += src/init/weft-init
src_init_weft_init_SOURCES = \
	src/init/weft_init.c \
	src/init/init_buf.c src/init/init_buf.h \
	src/init/init_exec.c src/init/init_exec.h \
	src/init/init_ipt.c src/init/init_ipt.h \
	src/init/init_opts.c src/init/init_opts.h \
	src/init/init_rules.c src/init/init_rules.h
src_init_weft_init_LDADD = src/lib/libweft.a

dist_man_MANS += man/weft-init.8

INIT_E2E_TESTS = \
	tests/e2e/init_rules.sh \
	tests/e2e/init_flags.sh \
	tests/e2e/init_capture.sh \
	tests/e2e/init_l4.sh \
	tests/e2e/init_mismatch.sh
EXTRA_DIST += $(INIT_E2E_TESTS)
if E2E
TESTS += $(INIT_E2E_TESTS)
endif
