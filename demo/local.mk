# make demo (as root): a small mesh of pods in network namespaces.
EXTRA_DIST += demo/weft-demo.sh
.PHONY: demo
demo: src/proxy/weft-proxy$(EXEEXT) src/init/weft-init$(EXEEXT) \
	src/ctl/weftctl$(EXEEXT) src/server/weft-server$(EXEEXT) \
	src/sync/weft-sync$(EXEEXT) tests/backend/weft-testd$(EXEEXT)
	WEFT_BUILDDIR='$(abs_top_builddir)' WEFT_SRCDIR='$(abs_top_srcdir)' \
	bash $(srcdir)/demo/weft-demo.sh
