# packaging/install.mk: make install / make uninstall, included by the
# Makefile.
#
#   make install [PREFIX=/usr/local] [DESTDIR=]
#
# Puts libgop11.so in the multiarch PKCS #11 module directory
# ($(PREFIX)/lib/<triplet>/pkcs11/, where Debian's modules live under
# /usr), gop11-broker and gop11 in $(PREFIX)/bin, the systemd unit and the
# sysusers.d entry under $(PREFIX)/lib (systemd reads both from /usr/lib;
# from /usr/local/lib the unit only), the p11-kit module config where
# p11-kit reads it (its own directory, whatever the PREFIX), and example
# configs in /etc/gop11, never over files already there. make uninstall
# removes all of that but /etc/gop11, which an administrator has edited.

PREFIX     ?= /usr/local
DESTDIR    ?=
MULTIARCH  := $(shell $(CC) -print-multiarch 2>/dev/null || dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null)
BINDIR     := $(PREFIX)/bin
P11DIR     := $(PREFIX)/lib/$(MULTIARCH)/pkcs11
UNITDIR    := $(PREFIX)/lib/systemd/system
SYSUSERSDIR := $(PREFIX)/lib/sysusers.d
P11KITDIR  := $(shell pkg-config --variable=p11_module_configs p11-kit-1 2>/dev/null || echo /usr/share/p11-kit/modules)
ETCDIR     := /etc/gop11

INSTALLED := $(BINDIR)/gop11-broker $(BINDIR)/gop11 $(P11DIR)/libgop11.so \
	$(UNITDIR)/gop11-broker.service $(SYSUSERSDIR)/gop11.conf $(P11KITDIR)/gop11.module

.PHONY: install uninstall
install: build
	@test -n "$(MULTIARCH)" || { echo "install: cannot tell the multiarch triplet (gcc -print-multiarch)"; exit 2; }
	install -D -m 0755 $(BUILD)/gop11-broker $(DESTDIR)$(BINDIR)/gop11-broker
	install -D -m 0755 $(BUILD)/gop11 $(DESTDIR)$(BINDIR)/gop11
	install -D -m 0644 $(BUILD)/libgop11.so $(DESTDIR)$(P11DIR)/libgop11.so
	install -d -m 0755 $(DESTDIR)$(UNITDIR) $(DESTDIR)$(SYSUSERSDIR) $(DESTDIR)$(P11KITDIR)
	sed 's|@BINDIR@|$(BINDIR)|g' packaging/gop11-broker.service >$(DESTDIR)$(UNITDIR)/gop11-broker.service
	chmod 0644 $(DESTDIR)$(UNITDIR)/gop11-broker.service
	install -m 0644 packaging/gop11.sysusers.conf $(DESTDIR)$(SYSUSERSDIR)/gop11.conf
	sed 's|@P11DIR@|$(P11DIR)|g' packaging/gop11.module >$(DESTDIR)$(P11KITDIR)/gop11.module
	chmod 0644 $(DESTDIR)$(P11KITDIR)/gop11.module
	install -d -m 0755 $(DESTDIR)$(ETCDIR)
	install -m 0644 cmd/gop11-broker/broker.example.toml $(DESTDIR)$(ETCDIR)/broker.example.toml
	@for f in broker.toml client.toml; do \
		if [ -e $(DESTDIR)$(ETCDIR)/$$f ]; then echo "install: $(ETCDIR)/$$f exists: left as it is"; \
		else install -m 0644 packaging/$$f $(DESTDIR)$(ETCDIR)/$$f; fi; \
	done

uninstall:
	rm -f $(addprefix $(DESTDIR),$(INSTALLED)) $(DESTDIR)$(ETCDIR)/broker.example.toml
	@echo "uninstall: $(ETCDIR) is left: it holds your broker.toml, client.toml and PINs"
