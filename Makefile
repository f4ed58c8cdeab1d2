# mod_s2s_trust - top-level build. Targets a newcomer needs:
#   make deps    install the Debian packages that are missing (apt-get; as root
#                or through sudo), under the running release's names
#   make         build the NIF, the CLI and the beams
#   make demo    the main job (see README.md)
#   make test    every suite on every supported Debian release: this machine's
#                natively, the others in cached Debian roots (docs/testing.md)
#   make test STACK=trixie   every suite on one release (bookworm, trixie, sid)
#   make <target> STACK=sid  any target, run in that release's root
# rebar3 is not needed (Debian's pulls in ~590 MB of GUI packages); rebar.config
# still works for those who have it.

SHELL    := /bin/bash
TOP      := $(CURDIR)

# The Debian release make runs on, and the one asked for (default: this one).
HOST_RELEASE := $(shell sh $(TOP)/tests/stacks/release.sh 2>/dev/null)
RELEASES := bookworm trixie sid
# Targets that start servers in mount namespaces as the ejabberd and prosody
# users, or build Debian roots: they need root.
NEEDS_ROOT := demo bench-streams bench-domains test test-here test-stacks test-fresh test-stacks-errors test-e2e test-e2e-% test-probe \
              test-crl test-webadmin test-selftest test-metrics test-ipv6 test-sql test-e2e-module-sql test-deb test-dane test-posh \
              test-survey
AS_ROOT  := $(if $(filter 0,$(shell id -u)),,sudo)

ifneq ($(and $(STACK),$(filter-out $(HOST_RELEASE),$(STACK))),)
DISPATCH := stack
else ifneq ($(and $(AS_ROOT),$(filter $(NEEDS_ROOT),$(MAKECMDGOALS))),)
DISPATCH := sudo
endif

ifdef DISPATCH
# ---- make run elsewhere ------------------------------------------------------
# STACK names another release: the same goals run in its cached root
# (tests/stacks/stack.sh builds it the first time, then runs `make deps` in it).
# Not root and a goal needs root: the same make runs again under sudo.
GOALS := $(or $(MAKECMDGOALS),all)
.PHONY: $(GOALS) dispatch
$(GOALS): dispatch ; @:
dispatch:
ifeq ($(DISPATCH),stack)
	@$(if $(filter $(STACK),$(RELEASES)),:,echo "STACK=$(STACK): use one of $(RELEASES)" >&2; exit 1)
	$(AS_ROOT) bash tests/stacks/stack.sh ensure $(STACK)
	$(AS_ROOT) bash tests/stacks/stack.sh run $(STACK) make $(GOALS) $(MAKEOVERRIDES)
else
	sudo $(MAKE) $(GOALS) $(MAKEOVERRIDES)
endif

else
# ---- make run here -----------------------------------------------------------
BUILD    := $(TOP)/_build
EBIN     := $(TOP)/ebin
TEST_EBIN := $(BUILD)/test/ebin
PKI      := $(BUILD)/test/pki

ERL_SRC  := $(wildcard erl_src/*.erl)
BEAMS    := $(ERL_SRC:erl_src/%.erl=$(EBIN)/%.beam)
ERLC_OPTS := +debug_info +warn_unused_vars +warnings_as_errors
# The ejabberd module compiles against the installed ejabberd (Debian:
# /usr/lib/<arch>/ejabberd-<vsn>); override EJABBERD_DIR for another one.
EJABBERD_DIR ?= $(firstword $(wildcard /usr/lib/*/ejabberd-[0-9]*) $(wildcard /usr/lib/ejabberd-[0-9]*))

.PHONY: all deps c erl pki demo demo-cli package bench-batch test-c-valgrind test test-pki test-c test-c-asan test-cli test-erl clean

all: c erl

# The Debian packages of the running release (tests/stacks/deps.sh says which).
deps:
	@sh tests/stacks/deps.sh

c:
	$(MAKE) -C c_src all

erl: $(BEAMS) $(EBIN)/s2s_trust.app

# The engine's API needs only OTP; the ejabberd module needs ejabberd's headers.
MOD_BEAMS := $(filter $(EBIN)/mod_s2s_trust%,$(BEAMS))
LIB_BEAMS := $(filter-out $(MOD_BEAMS),$(BEAMS))

$(LIB_BEAMS): $(EBIN)/%.beam: erl_src/%.erl $(wildcard erl_src/*.hrl)
	@mkdir -p $(EBIN)
	erlc $(ERLC_OPTS) -I erl_src -o $(EBIN) $<

# ejabberd 23.10 and later describe SQL schemas with records that 23.01 lacks
# (mod_s2s_trust_sql_schema uses them only where the header has them).
EJABBERD_DEFS := $(if $(shell grep -ls 'record.sql_schema,' $(EJABBERD_DIR)/include/ejabberd_sql.hrl),-DHAVE_EJABBERD_SQL_SCHEMA)

$(MOD_BEAMS): $(EBIN)/%.beam: erl_src/%.erl $(wildcard erl_src/*.hrl)
	@mkdir -p $(EBIN)
	@test -n "$(EJABBERD_DIR)" || { echo "ejabberd is not installed: run 'make deps'"; exit 1; }
	erlc $(ERLC_OPTS) $(EJABBERD_DEFS) -I erl_src -I $(EJABBERD_DIR)/include -pa $(EJABBERD_DIR)/ebin -o $(EBIN) $<

$(EBIN)/s2s_trust.app: erl_src/s2s_trust.app.src
	@mkdir -p $(EBIN)
	cp $< $@

pki: $(PKI)/.done
$(PKI)/.done: tests/pki/gen.sh
	rm -rf $(PKI)
	bash tests/pki/gen.sh $(PKI)
	touch $@

# ---- tests -----------------------------------------------------------------

C_TEST_SRC := $(wildcard tests/c/*.c)
C_TEST_CFLAGS := -std=c11 -D_GNU_SOURCE -O1 -g -Wall -Wextra -Werror -Ic_src \
                 $(shell pkg-config --cflags libssl libcrypto libconfig libidn2 expat libunbound libcurl)
C_TEST_LIBS := $(shell pkg-config --libs libssl libcrypto libconfig libidn2 expat libunbound libcurl) -lresolv -lpthread

$(BUILD)/c/test_runner: $(C_TEST_SRC) $(wildcard tests/c/*.h) FORCE
	$(MAKE) -C c_src core net
	$(CC) $(C_TEST_CFLAGS) -o $@ $(C_TEST_SRC) $(BUILD)/c/libs2s_trust_net.a $(BUILD)/c/libs2s_trust_core.a $(C_TEST_LIBS)

$(BUILD)/c-asan/test_runner: $(C_TEST_SRC) $(wildcard tests/c/*.h) FORCE
	$(MAKE) -C c_src core net SANITIZE=1
	$(CC) $(C_TEST_CFLAGS) -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all \
	  -o $@ $(C_TEST_SRC) $(BUILD)/c-asan/libs2s_trust_net.a $(BUILD)/c-asan/libs2s_trust_core.a $(C_TEST_LIBS)
FORCE:

test-c: $(BUILD)/c/test_runner pki
	S2S_TRUST_PKI=$(PKI) $(BUILD)/c/test_runner

# Leak checking is on: every test frees what it built.
test-c-asan: $(BUILD)/c-asan/test_runner pki
	S2S_TRUST_PKI=$(PKI) ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 $(BUILD)/c-asan/test_runner

# valgrind memcheck over the same tests: 0 errors, 0 leaks (the limits
# tests generate big keys, which take minutes under valgrind: skipped here,
# they run plain and under ASan above).
test-c-valgrind: $(BUILD)/c/test_runner pki
	S2S_TRUST_PKI=$(PKI) valgrind --quiet --leak-check=full --show-leak-kinds=definite,indirect \
	  --errors-for-leak-kinds=definite,indirect --error-exitcode=1 $(BUILD)/c/test_runner -test_limits

test-cli: c pki
	S2S_TRUST_PKI=$(PKI) S2S_TRUST_BIN=$(TOP)/priv/bin/s2s-trust bash tests/cli/test_cli.sh

ERL_TEST_SRC := $(wildcard tests/erl/*.erl)
# Every *_tests module under tests/erl; halt status tells make whether EUnit passed.
EUNIT_EVAL := Mods = [list_to_atom(filename:basename(F, ".erl")) || F <- filelib:wildcard("tests/erl/*_tests.erl")], case eunit:test(Mods, [verbose]) of ok -> halt(0); _ -> halt(1) end.
test-erl: all pki
	@mkdir -p $(TEST_EBIN)
	erlc $(ERLC_OPTS) -o $(TEST_EBIN) $(ERL_TEST_SRC)
	S2S_TRUST_PKI=$(PKI) ERL_LIBS=$(dir $(EJABBERD_DIR)) erl -noshell -pa $(EBIN) -pa $(TEST_EBIN) -eval '$(EUNIT_EVAL)'

# The PKI itself, judged by the openssl CLI: an oracle independent of our code.
test-pki: pki
	bash tests/pki/check.sh $(PKI)

# Real servers on loopback: the harness's own smoke test (stock ejabberd and
# Prosody), then the module inside ejabberd. Every lab run takes the lab lock:
# the lab's addresses and ports are fixed, so two runs (two checkouts, or a
# developer's run beside CI's) must never overlap.
LAB_LOCK := flock /tmp/s2s-lab.lock
E2E_SUITES := lab module package failclosed load cluster learn bypass
.PHONY: test-e2e $(E2E_SUITES:%=test-e2e-%)
test-e2e: $(E2E_SUITES:%=test-e2e-%)
$(E2E_SUITES:%=test-e2e-%): test-e2e-%: all pki package
	LAB_PKI_FROM=$(PKI) $(LAB_LOCK) bash tests/e2e/test_$*.sh

# s2s-trust probe against real servers and hostile listeners on its own
# 127.0.0.5x addresses; the flock keeps it from overlapping another lab run.
.PHONY: test-probe
test-probe: c pki
	LAB_PKI_FROM=$(PKI) flock /tmp/s2s-lab.lock bash tests/probe/test_probe.sh

# CRL refresh (docs/crl.md): ejabberd fetching CRLs from a python3 http.server
# on 127.0.0.40:18089 (the address the test PKI names); own LAB_DIR, flocked.
.PHONY: test-crl
test-crl: all pki
	LAB_DIR=/tmp/s2s-lab-crl LAB_PKI_FROM=$(PKI) flock /tmp/s2s-lab.lock bash tests/e2e/test_crl.sh

# The posture audit and the web admin page (docs/audit.md, docs/webadmin.md):
# ejabberd with the module, the page driven in headless Chromium; own
# LAB_DIR, flocked; screenshots in _build/test/webadmin/.
.PHONY: test-webadmin
test-webadmin: all pki
	LAB_DIR=/tmp/s2s-lab-webadmin LAB_PKI_FROM=$(PKI) flock /tmp/s2s-lab.lock bash tests/webadmin/test_webadmin.sh

# s2s-trust selftest (docs/selftest.md) against ejabberd with the module,
# stock ejabberd, and Prosody with s2s_secure_auth true and false, on
# 127.0.0.7x; own LAB_DIR and distribution ports, flocked.
.PHONY: test-selftest
test-selftest: all pki
	LAB_DIR=/tmp/s2s-lab-selftest LAB_DIST_BASE=27500 LAB_PKI_FROM=$(PKI) flock /tmp/s2s-lab.lock bash tests/selftest/test_selftest.sh

# s2s-trust survey (docs/survey.md) against a lab of servers of known
# posture (the module, stock ejabberd, hardened ejabberd, Prosody with
# s2s_secure_auth true and false, an expired and an incomplete chain, one
# down, one hanging) on 127.0.0.133-147; own LAB_DIR and distribution
# ports, flocked.
.PHONY: test-survey
test-survey: all pki
	LAB_DIR=/tmp/s2s-lab-survey LAB_DIST_BASE=27700 LAB_PKI_FROM=$(PKI) S2S_TRUST_BIN=$(TOP)/priv/bin/s2s-trust flock /tmp/s2s-lab.lock bash tests/survey/test_survey.sh

# mod_s2s_trust's metrics (docs/metrics.md): ejabberd with the module and two
# peers, the page scraped by a real Prometheus and checked by promtool, on
# 127.0.0.2-5 and .10; own LAB_DIR and distribution ports, flocked.
.PHONY: test-metrics
test-metrics: all pki
	LAB_DIR=/tmp/s2s-lab-metrics LAB_DIST_BASE=27400 LAB_PKI_FROM=$(PKI) flock /tmp/s2s-lab.lock bash tests/metrics/test_metrics.sh

# The module and the CLI over IPv6 only (fd00:5274::/96 on the loopback of a
# network namespace the script creates itself); own LAB_DIR, flocked.
.PHONY: test-ipv6
test-ipv6: all pki
	LAB_DIR=/tmp/s2s-lab-ipv6 LAB_DIST_BASE=27450 LAB_PKI_FROM=$(PKI) flock /tmp/s2s-lab.lock bash tests/ipv6/test_ipv6.sh

# The violators list on PostgreSQL (docs/storage.md): a throwaway cluster on
# 127.0.0.1:55432, ejabberd switched from Mnesia to sql, a database outage,
# a two-node cluster on one database; own LAB_DIR, flocked.
.PHONY: test-sql
test-sql: all pki
	LAB_DIR=/tmp/s2s-lab-sql LAB_DIST_BASE=27500 LAB_PKI_FROM=$(PKI) flock /tmp/s2s-lab.lock bash tests/sql/test_sql.sh

# The module's e2e scenario (tests/e2e/test_module.sh) with both nodes'
# violators lists on PostgreSQL (db_type: sql).
.PHONY: test-e2e-module-sql
test-e2e-module-sql: all pki
	S2S_TRUST_DB=sql LAB_PKI_FROM=$(PKI) $(LAB_LOCK) bash tests/e2e/test_module.sh

# DANE (docs/dane.md) against a loopback DNSSEC lab (tests/dane/dnslab.sh:
# nsd on 127.0.0.53:5353, zones signed at test time): the lab itself, the
# CLI, and the module in real ejabberd with Prosody peers; flocked.
.PHONY: test-dane
test-dane: all pki
	LAB_DIR=/tmp/s2s-lab-dane flock /tmp/s2s-lab.lock bash tests/dane/test_dnslab.sh
	S2S_TRUST_PKI=$(PKI) S2S_TRUST_BIN=$(TOP)/priv/bin/s2s-trust LAB_DIR=/tmp/s2s-lab-dane-cli flock /tmp/s2s-lab.lock bash tests/dane/test_dane_cli.sh
	LAB_DIR=/tmp/s2s-lab-dane-module LAB_DIST_BASE=27600 LAB_PKI_FROM=$(PKI) flock /tmp/s2s-lab.lock bash tests/dane/test_dane_module.sh

# POSH (RFC 7711) in the engine and the CLI, against nginx on loopback
# (tests/posh/weblab.sh: 127.0.0.120:8443, a web CA of the test's own);
# flocked; then the module with posh on in a real ejabberd against Prosody
# peers (test-posh-module: 127.0.0.126-129, LAB_DIST_BASE 27650).
.PHONY: test-posh test-posh-module
test-posh: all pki
	S2S_TRUST_BIN=$(TOP)/priv/bin/s2s-trust LAB_DIR=/tmp/s2s-lab-posh-cli flock /tmp/s2s-lab.lock bash tests/posh/test_posh_cli.sh
	$(MAKE) test-posh-module

test-posh-module: all pki
	LAB_DIR=/tmp/s2s-lab-posh-module LAB_DIST_BASE=27650 LAB_PKI_FROM=$(PKI) flock /tmp/s2s-lab.lock bash tests/posh/test_posh_module.sh

# Every suite of this release, in this order; `make test-here` runs them all
# even when one fails and ends with a table (tests/stacks/suites.sh).
SUITES := test-layout test-stacks-errors test-pki test-c test-c-asan test-c-valgrind test-cli test-erl test-erl-asan test-fuzz \
          demo $(E2E_SUITES:%=test-e2e-%) test-probe test-crl test-webadmin test-selftest test-metrics test-ipv6 test-sql test-e2e-module-sql \
          test-dane test-posh test-survey
.PHONY: test-here test-stacks test-fresh test-stacks-errors test-layout
# The house rules (docs/design.md): layers, no include circle, file sizes.
test-layout:
	bash tests/layout/check_layers.sh

test-here:
	bash tests/stacks/suites.sh $(SUITES)

# `make test`: every release (the matrix); `make test STACK=<this release>`:
# this release's suites only.
ifdef STACK
test: test-here
else
test: test-stacks
endif
# Then the Debian packages of every release, installed into clean roots
# (priv/debian/deb.mk): that needs apt-get and the network, which runs
# inside the matrix's roots do not have, so it runs here, after the matrix
# (both always run; either failing fails the target).
test-stacks:
	@status=0; bash tests/stacks/matrix.sh $(RELEASES) || status=1; \
	$(MAKE) --no-print-directory test-deb DEB_RELEASES="$(RELEASES)" || status=1; exit $$status

# The matrix fails loudly: no debootstrap, an unreachable mirror, a failed
# install, a wrong root are each an error naming what failed.
test-stacks-errors:
	bash tests/stacks/test_stack_errors.sh

# What a newcomer does on a fresh machine, for real: a throwaway root of
# FRESH (default: this release) with only make added, where the README's
# first command runs: make deps && make demo.
FRESH ?= $(HOST_RELEASE)
test-fresh:
	bash tests/stacks/stack.sh fresh $(FRESH)

# The main job: ejabberd with the module, a trusted and an untrusted peer.
demo: all pki
	LAB_PKI_FROM=$(PKI) $(LAB_LOCK) bash tests/demo/run.sh

# The trust engine alone, through the CLI.
demo-cli: all
	bash tests/demo/demo.sh

# Benchmarks print ratios against baselines measured in the same run.
bench-batch: all pki
	@mkdir -p $(BUILD)/bench
	erlc -o $(BUILD)/bench bench/batch_vs_direct.erl
	ERL_CRASH_DUMP_BYTES=0 erl -noshell -pa $(EBIN) -pa $(BUILD)/bench -run batch_vs_direct main $(PKI)

# An ejabberd ext_mod source package (`ejabberdctl module_install mod_s2s_trust`):
# src/ and include/ for ext_mod's compiler, c_src/ built by its `make -C c_src`.
PACKAGE := $(BUILD)/package/mod_s2s_trust
package:
	rm -rf $(PACKAGE) && mkdir -p $(PACKAGE)/src $(PACKAGE)/include $(PACKAGE)/conf
	cp erl_src/*.erl $(PACKAGE)/src/
	cp erl_src/*.hrl $(PACKAGE)/include/
	cp -r c_src $(PACKAGE)/c_src
	cp priv/ext_mod/mod_s2s_trust.spec $(PACKAGE)/
	cp priv/ext_mod/conf/mod_s2s_trust.yml $(PACKAGE)/conf/
	cp README.md $(PACKAGE)/README.md
	cp README.md $(PACKAGE)/README.txt
	cp -r docs $(PACKAGE)/docs
	tar -C $(BUILD)/package -czf $(BUILD)/package/mod_s2s_trust.tar.gz mod_s2s_trust
	@echo "package: $(PACKAGE) and $(BUILD)/package/mod_s2s_trust.tar.gz"

# Fuzzing (tests/fuzz) and benchmarks (bench/) keep their targets beside their code.
include tests/fuzz/fuzz.mk
# Optional: the package build exports the tree without priv/debian/.
-include priv/debian/deb.mk
include bench/bench.mk
include tests/sanitize.mk

clean:
	$(MAKE) -C c_src clean
	rm -rf $(BUILD) $(EBIN)

endif
