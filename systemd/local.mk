# systemd units for a workload on a VM (weft-init, weft-proxy, weft-sync)
# and for the mesh server, their settings file and their users.  The
# units are made from their .in files at build time, as Debian does,
# with the configured paths.
SYSTEMD_UNITS = \
	systemd/weft-init.service \
	systemd/weft-proxy.service \
	systemd/weft-sync.service \
	systemd/weft-server.service
systemdsystemunit_DATA = $(SYSTEMD_UNITS)
CLEANFILES += $(SYSTEMD_UNITS)
EXTRA_DIST += $(SYSTEMD_UNITS:=.in) systemd/weft.default \
	systemd/weft.sysusers.conf

systemd_subst = $(SED) -e 's|@sbindir[@]|$(sbindir)|g' \
	-e 's|@sysconfdir[@]|$(sysconfdir)|g'
systemd_gen = $(AM_V_GEN)$(MKDIR_P) systemd && \
	$(systemd_subst) $(srcdir)/$@.in >$@.tmp && mv -f $@.tmp $@

systemd/weft-init.service: $(srcdir)/systemd/weft-init.service.in Makefile
	$(systemd_gen)
systemd/weft-proxy.service: $(srcdir)/systemd/weft-proxy.service.in Makefile
	$(systemd_gen)
systemd/weft-sync.service: $(srcdir)/systemd/weft-sync.service.in Makefile
	$(systemd_gen)
systemd/weft-server.service: $(srcdir)/systemd/weft-server.service.in Makefile
	$(systemd_gen)

# Installed under other names: /etc/default/weft, which an existing
# (edited) copy is kept over, and sysusers.d/weft.conf.
install-data-local:
	$(MKDIR_P) '$(DESTDIR)$(sysconfdir)/default' '$(DESTDIR)$(sysusersdir)'
	@if test -f '$(DESTDIR)$(sysconfdir)/default/weft'; then \
		echo "keeping $(DESTDIR)$(sysconfdir)/default/weft"; \
	else \
		echo " $(INSTALL_DATA) weft.default $(DESTDIR)$(sysconfdir)/default/weft"; \
		$(INSTALL_DATA) $(srcdir)/systemd/weft.default \
		    '$(DESTDIR)$(sysconfdir)/default/weft'; \
	fi
	$(INSTALL_DATA) $(srcdir)/systemd/weft.sysusers.conf \
	    '$(DESTDIR)$(sysusersdir)/weft.conf'

# The users, at once, on a real install into the system's sysusers.d
# (not under DESTDIR, nor in a private prefix such as distcheck's).
install-data-hook:
	@case '$(DESTDIR):$(sysusersdir)' in \
	:/usr/lib/sysusers.d | :/lib/sysusers.d) \
		if command -v systemd-sysusers >/dev/null; then \
			echo " systemd-sysusers $(sysusersdir)/weft.conf"; \
			systemd-sysusers '$(sysusersdir)/weft.conf' || \
			echo "warning: run systemd-sysusers as root to create weft-proxy and weft"; \
		fi ;; \
	esac

uninstall-local:
	@if cmp -s $(srcdir)/systemd/weft.default \
	    '$(DESTDIR)$(sysconfdir)/default/weft'; then \
		echo " rm -f $(DESTDIR)$(sysconfdir)/default/weft"; \
		rm -f '$(DESTDIR)$(sysconfdir)/default/weft'; \
	fi
	rm -f '$(DESTDIR)$(sysusersdir)/weft.conf'

# The units under systemd-analyze verify, make install under DESTDIR
# (no root needed), weftctl join with stand-ins for systemctl (root, a
# mount namespace; skipped otherwise).
SYSTEMD_TESTS = tests/e2e/systemd_units.sh tests/e2e/install.sh \
	tests/e2e/ctl_join.sh
EXTRA_DIST += $(SYSTEMD_TESTS)
TESTS += $(SYSTEMD_TESTS)
# A VM joining the mesh (weftctl join, then the units' command lines
# through tools/unit-exec): root and namespaces.
VM_E2E_TESTS = tests/e2e/vm_join.sh
EXTRA_DIST += $(VM_E2E_TESTS) tools/unit-exec
if E2E
TESTS += $(VM_E2E_TESTS)
endif
AM_TESTS_ENVIRONMENT += \
	WEFT_SBINDIR='$(sbindir)'; export WEFT_SBINDIR; \
	WEFT_SYSCONFDIR='$(sysconfdir)'; export WEFT_SYSCONFDIR; \
	WEFT_BINDIR='$(bindir)'; export WEFT_BINDIR; \
	WEFT_MANDIR='$(mandir)'; export WEFT_MANDIR; \
	WEFT_PKGDATADIR='$(pkgdatadir)'; export WEFT_PKGDATADIR; \
	WEFT_UNITDIR='$(systemdsystemunitdir)'; export WEFT_UNITDIR; \
	WEFT_SYSUSERSDIR='$(sysusersdir)'; export WEFT_SYSUSERSDIR;
