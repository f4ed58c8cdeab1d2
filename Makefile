# mod_s2s_trust - top-level build. Targets a newcomer needs:
#   make deps    install Debian 12 packages that are missing (apt-get, as root)
#   make         build the NIF, the CLI and the beams
#   make demo    the main job (see README.md)
#   make test    every test: C (plain, ASan+UBSan, valgrind), CLI, EUnit (plain and
#                the NIF under ASan), fuzz replay + short runs, end to end
# rebar3 is not needed (Debian's pulls in ~590 MB of GUI packages); rebar.config
# still works for those who have it.

SHELL    := /bin/bash
TOP      := $(CURDIR)
BUILD    := $(TOP)/_build
EBIN     := $(TOP)/ebin
TEST_EBIN := $(BUILD)/test/ebin
PKI      := $(BUILD)/test/pki

DEB_PACKAGES := erlang-nox erlang-dev erlang-eunit libssl-dev libconfig-dev libidn2-dev \
                openssl pkg-config gcc make python3 valgrind clang libclang-rt-14-dev \
                ejabberd prosody lua-unbound chromium chromium-driver

ERL_SRC  := $(wildcard erl_src/*.erl)
BEAMS    := $(ERL_SRC:erl_src/%.erl=$(EBIN)/%.beam)
ERLC_OPTS := +debug_info +warn_unused_vars +warnings_as_errors
# The ejabberd module compiles against the installed ejabberd (Debian:
# /usr/lib/<arch>/ejabberd-<vsn>); override EJABBERD_DIR for another one.
EJABBERD_DIR ?= $(firstword $(wildcard /usr/lib/*/ejabberd-[0-9]*) $(wildcard /usr/lib/ejabberd-[0-9]*))

.PHONY: all deps c erl pki demo demo-cli package bench-batch test-e2e test-c-valgrind test test-pki test-c test-c-asan test-cli test-erl clean

all: c erl

deps:
	@missing=$$(for p in $(DEB_PACKAGES); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing:" $$missing; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing; \
	else echo "deps: all present"; fi

c:
	$(MAKE) -C c_src all

erl: $(BEAMS) $(EBIN)/s2s_trust.app

# The engine's API needs only OTP; the ejabberd module needs ejabberd's headers.
MOD_BEAMS := $(filter $(EBIN)/mod_s2s_trust%,$(BEAMS))
LIB_BEAMS := $(filter-out $(MOD_BEAMS),$(BEAMS))

$(LIB_BEAMS): $(EBIN)/%.beam: erl_src/%.erl $(wildcard erl_src/*.hrl)
	@mkdir -p $(EBIN)
	erlc $(ERLC_OPTS) -I erl_src -o $(EBIN) $<

$(MOD_BEAMS): $(EBIN)/%.beam: erl_src/%.erl $(wildcard erl_src/*.hrl)
	@mkdir -p $(EBIN)
	@test -n "$(EJABBERD_DIR)" || { echo "ejabberd is not installed: run 'make deps'"; exit 1; }
	erlc $(ERLC_OPTS) -I erl_src -I $(EJABBERD_DIR)/include -pa $(EJABBERD_DIR)/ebin -o $(EBIN) $<

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
                 $(shell pkg-config --cflags libssl libcrypto libconfig libidn2)
C_TEST_LIBS := $(shell pkg-config --libs libssl libcrypto libconfig libidn2) -lresolv -lpthread

$(BUILD)/c/test_runner: $(C_TEST_SRC) $(wildcard tests/c/*.h) FORCE
	$(MAKE) -C c_src core
	$(CC) $(C_TEST_CFLAGS) -o $@ $(C_TEST_SRC) $(BUILD)/c/libs2s_trust_core.a $(C_TEST_LIBS)

$(BUILD)/c-asan/test_runner: $(C_TEST_SRC) $(wildcard tests/c/*.h) FORCE
	$(MAKE) -C c_src core SANITIZE=1
	$(CC) $(C_TEST_CFLAGS) -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all \
	  -o $@ $(C_TEST_SRC) $(BUILD)/c-asan/libs2s_trust_core.a $(C_TEST_LIBS)
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
test-e2e: all pki package
	LAB_PKI_FROM=$(PKI) $(LAB_LOCK) bash tests/e2e/test_lab.sh
	LAB_PKI_FROM=$(PKI) $(LAB_LOCK) bash tests/e2e/test_module.sh
	LAB_PKI_FROM=$(PKI) $(LAB_LOCK) bash tests/e2e/test_package.sh
	LAB_PKI_FROM=$(PKI) $(LAB_LOCK) bash tests/e2e/test_failclosed.sh
	LAB_PKI_FROM=$(PKI) $(LAB_LOCK) bash tests/e2e/test_load.sh
	LAB_PKI_FROM=$(PKI) $(LAB_LOCK) bash tests/e2e/test_cluster.sh
	LAB_PKI_FROM=$(PKI) $(LAB_LOCK) bash tests/e2e/test_learn.sh

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

test: test-pki test-c test-c-asan test-c-valgrind test-cli test-erl test-erl-asan test-fuzz test-e2e test-probe test-crl test-webadmin test-selftest

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
	rm -rf $(PACKAGE) && mkdir -p $(PACKAGE)/src $(PACKAGE)/include $(PACKAGE)/c_src $(PACKAGE)/conf
	cp erl_src/*.erl $(PACKAGE)/src/
	cp erl_src/*.hrl $(PACKAGE)/include/
	cp c_src/Makefile c_src/*.c c_src/*.h $(PACKAGE)/c_src/
	cp priv/ext_mod/mod_s2s_trust.spec $(PACKAGE)/
	cp priv/ext_mod/conf/mod_s2s_trust.yml $(PACKAGE)/conf/
	cp README.md $(PACKAGE)/README.md
	cp README.md $(PACKAGE)/README.txt
	cp -r docs $(PACKAGE)/docs
	tar -C $(BUILD)/package -czf $(BUILD)/package/mod_s2s_trust.tar.gz mod_s2s_trust
	@echo "package: $(PACKAGE) and $(BUILD)/package/mod_s2s_trust.tar.gz"

# Fuzzing (tests/fuzz) and benchmarks (bench/) keep their targets beside their code.
include tests/fuzz/fuzz.mk
include bench/bench.mk
include tests/sanitize.mk

clean:
	$(MAKE) -C c_src clean
	rm -rf $(BUILD) $(EBIN)
