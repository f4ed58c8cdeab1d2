# priv/debian/deb.mk - Debian packages of the module (docs/packaging.md).
#   make deb        build ejabberd-mod-s2s-trust for the running release into
#                   _build/deb/ (dpkg-buildpackage, then lintian)
#   make deb STACK=trixie     the same in that release's root (the Makefile's
#                   dispatch), against that release's ejabberd
#   make test-deb   install the package into a clean root of each release of
#                   DEB_RELEASES (default: this one) and run the module's
#                   scenario against the installed files (tests/deb/)
#   make test-deb DEB_RELEASES="bookworm trixie sid"   all three
# The packaging source lives here, not in a top-level debian/ (the top level
# is fixed): `deb` copies it in as debian/ next to an export of the tree.
ifndef S2S_DEB_MK
S2S_DEB_MK := 1

DEB_DIR := $(BUILD)/deb
DEB_SRC := $(DEB_DIR)/src
DEB_PKG := ejabberd-mod-s2s-trust
DEB_RELEASES ?= $(HOST_RELEASE)

.PHONY: deb test-deb
deb:
	rm -rf $(DEB_DIR) && mkdir -p $(DEB_SRC)
	# The tree as it is now, without build outputs or git metadata.
	tar -C $(TOP) --exclude-vcs --exclude=./_build --exclude=./ebin \
	    --exclude=./priv/lib --exclude=./priv/bin --exclude=./priv/debian -cf - . | tar -C $(DEB_SRC) -xf -
	cp -r priv/debian $(DEB_SRC)/debian
	rm -f $(DEB_SRC)/debian/deb.mk
	# No make variable of this run (STACK, MAKEFLAGS) leaks into the build.
	cd $(DEB_SRC) && env -u MAKEFLAGS -u MAKELEVEL -u MFLAGS -u STACK dpkg-buildpackage -us -uc -b
	# Errors and warnings fail the build unless overridden (with a reason,
	# in debian/*.lintian-overrides); infos are shown, not fatal.
	lintian --fail-on error,warning --info $(DEB_DIR)/$(DEB_PKG)_*.changes
	@ls -l $(DEB_DIR)/*.deb

# apt-get in the clean roots needs the network, which runs inside a stack
# root do not have: test-deb runs on the host and builds the other
# releases' packages in their roots itself (tests/deb/test_deb.sh).
test-deb:
ifdef STACK_IN_ROOT
	@echo "test-deb makes clean roots with apt-get, which needs the network: run 'make test-deb DEB_RELEASES=$(HOST_RELEASE)' on the host" >&2; exit 1
else
	@$(if $(filter-out $(RELEASES),$(DEB_RELEASES)),echo "DEB_RELEASES: use some of $(RELEASES)" >&2; exit 1,:)
	@status=0; for r in $(DEB_RELEASES); do \
	    LAB_DIR=/tmp/s2s-lab-deb LAB_DIST_BASE=27550 bash tests/deb/test_deb.sh $$r || status=1; \
	done; exit $$status
endif

endif
