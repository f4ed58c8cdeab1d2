# tests/sanitize.mk - the NIF under AddressSanitizer inside a real VM; included by the top-level Makefile.
#
#   make test-erl-asan
#
# Builds the NIF with -fsanitize=address,undefined (c_src/Makefile's
# SANITIZE=1, written to a private priv/ so the normal priv/lib is left
# alone), lays beams and library out as an application directory
# (lib/s2s_trust/{ebin,priv/lib}, where s2s_trust_nif:lib_path/0 finds it
# through code:priv_dir/1), and runs the EUnit suites tests/erl/s2s_trust_tests
# and tests/erl/mod_s2s_trust_crl_fetch_tests (the CRL GET against a hostile
# server, through libcurl) in `erl` with gcc's libasan preloaded: beam.smp is not built with ASan, so
# the runtime has to be in the process before the NIF is dlopen()ed.
#
# Leak detection is off: the VM itself does not free everything at exit,
# and its allocators hide what the NIF leaks (the C tests under
# test-c-asan and the fuzzers check leaks in the core). Any ASan or UBSan
# report fails the target, whatever the VM's exit status: ASan writes its
# reports to log files (log_path), printed and counted after the run, and
# the VM's output is searched too, because gcc's UBSan runtime writes to
# stderr whatever UBSAN_OPTIONS says.

ASAN_ERL    := $(BUILD)/asan-erl
ASAN_APP    := $(ASAN_ERL)/lib/s2s_trust
ASAN_NIF    := $(ASAN_ERL)/priv/lib/s2s_trust_nif.so
# Resolved when the recipe runs, so that including this file costs nothing.
ASAN_RT      = $$(gcc -print-file-name=libasan.so)

# The suite's own checks, then proof that the library in the VM is the
# sanitized copy (not priv/lib from `make`) and that libasan is loaded.
ASAN_EVAL := R = eunit:test([s2s_trust_tests, mod_s2s_trust_crl_fetch_tests], [verbose]), \
  Maps = os:cmd("cat /proc/" ++ os:getpid() ++ "/maps"), \
  Nif = string:find(Maps, "$(ASAN_APP)/priv/lib/s2s_trust_nif.so") =/= nomatch, \
  Asan = string:find(Maps, "libasan") =/= nomatch, \
  io:format("test-erl-asan: EUnit ~p; sanitized NIF loaded: ~p; libasan loaded: ~p~n", [R, Nif, Asan]), \
  halt(case {R, Nif, Asan} of {ok, true, true} -> 0; _ -> 1 end).

.PHONY: test-erl-asan
test-erl-asan: erl pki
	$(MAKE) -C c_src nif SANITIZE=1 PRIV=$(ASAN_ERL)/priv
	rm -rf $(ASAN_APP) $(ASAN_ERL)/logs $(ASAN_ERL)/test
	mkdir -p $(ASAN_APP)/ebin $(ASAN_APP)/priv/lib $(ASAN_ERL)/logs $(ASAN_ERL)/test
	cp $(EBIN)/*.beam $(EBIN)/s2s_trust.app $(ASAN_APP)/ebin/
	cp $(ASAN_NIF) $(ASAN_APP)/priv/lib/
	erlc $(ERLC_OPTS) -o $(ASAN_ERL)/test tests/erl/s2s_trust_tests.erl tests/erl/mod_s2s_trust_crl_fetch_tests.erl \
	  tests/erl/s2s_trust_test_pki.erl
	@rt=$(ASAN_RT); test -f "$$rt" || { echo "test-erl-asan: gcc's libasan.so not found"; exit 1; }; \
	set +e; \
	S2S_TRUST_PKI=$(PKI) LD_PRELOAD=$$rt \
	  ASAN_OPTIONS=detect_leaks=0:abort_on_error=1:log_path=$(ASAN_ERL)/logs/asan \
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1:log_path=$(ASAN_ERL)/logs/ubsan \
	  erl -noshell -pa $(ASAN_APP)/ebin -pa $(ASAN_ERL)/test -eval '$(ASAN_EVAL)' 2>&1 | tee $(ASAN_ERL)/erl.out; \
	rc=$${PIPESTATUS[0]}; \
	reports=$$(ls $(ASAN_ERL)/logs); \
	if grep -qE 'ERROR: (Address|Leak)Sanitizer|runtime error:|SUMMARY: (Address|UndefinedBehavior)Sanitizer' $(ASAN_ERL)/erl.out; then \
	  echo "test-erl-asan: FAILED, sanitizer report in the output above"; exit 1; \
	fi; \
	if [ -n "$$reports" ]; then \
	  for f in $(ASAN_ERL)/logs/*; do echo "== $$f"; cat "$$f"; done; \
	  echo "test-erl-asan: FAILED, sanitizer reports above"; exit 1; \
	fi; \
	if [ $$rc -ne 0 ]; then echo "test-erl-asan: FAILED (erl exit status $$rc)"; exit 1; fi; \
	echo "test-erl-asan: passed, no sanitizer report"
