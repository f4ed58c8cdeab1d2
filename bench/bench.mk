# bench/bench.mk - benchmark targets, included by the top-level Makefile.
#   make bench           build the bench PKI if missing (_build/bench/pki), then
#                        measure and print ratios against baselines taken in the
#                        same run (floors in C, Erlang public_key), then absolute
#                        numbers; BENCH_RUNS=5 by default. Report also in
#                        _build/bench/results/report.txt.
#   make bench-profile   perf profile of the core's s2s_trust_verify_chain in a C loop
#   make bench-scale     store build (reload) and verification with 100, 1,000
#                        and 10,000 intermediates in the pool (bench/pool_scale.c)
#   make bench-domains   the scale of a large server: 10,000 peer domains in one
#                        real ejabberd (verdict cache, violators list, list and
#                        export commands, reload with a 10,000 pool, restart;
#                        bench/domains.sh; BENCH_DOMAINS=N)
#   make bench-streams   s2s stream set-up between real ejabberd servers on
#                        loopback, with the module and without it, same run
#                        (bench/streams.sh; BENCH_STREAMS="ROUNDS DOMAINS CONCURRENCY")
# Numbers never fail the bench; a verification that should succeed and does not does.

BENCH_DIR    := $(BUILD)/bench
BENCH_RUNS   ?= 5
BENCH_CFLAGS := -std=c11 -D_GNU_SOURCE -O2 -g -fno-omit-frame-pointer -Wall -Wextra -Werror
BENCH_CRYPTO := $(shell pkg-config --cflags --libs libcrypto)

.PHONY: bench bench-profile bench-streams bench-scale bench-domains

$(BENCH_DIR)/pool_scale: bench/pool_scale.c FORCE
	$(MAKE) -C c_src core
	@mkdir -p $(BENCH_DIR)/scale
	$(CC) $(BENCH_CFLAGS) -Ic_src -o $@ $< $(BUILD)/c/libs2s_trust_core.a \
	  $(shell pkg-config --cflags --libs libssl libcrypto libconfig libidn2) -lpthread

BENCH_SCALE ?= 100 1000 10000
bench-scale: $(BENCH_DIR)/pool_scale
	$(BENCH_DIR)/pool_scale $(BENCH_DIR)/scale $(BENCH_SCALE)

BENCH_DOMAINS ?= 10000
bench-domains: all $(BENCH_DIR)/pool_scale
	$(LAB_LOCK) bash bench/domains.sh $(BENCH_DIR) $(BENCH_DOMAINS)

BENCH_STREAMS ?= 5 100 10

# The lab's servers on 127.0.0.101-103, under the lab lock like the suites.
bench-streams: all
	$(LAB_LOCK) bash bench/streams.sh $(BENCH_STREAMS)

$(BENCH_DIR)/floors: bench/floors.c
	@mkdir -p $(BENCH_DIR)
	$(CC) $(BENCH_CFLAGS) -o $@ $< $(BENCH_CRYPTO)

$(BENCH_DIR)/s2s_bench.beam: bench/s2s_bench.erl
	@mkdir -p $(BENCH_DIR)
	erlc +warn_unused_vars +warnings_as_errors -o $(BENCH_DIR) $<

bench: all $(BENCH_DIR)/floors $(BENCH_DIR)/s2s_bench.beam
	bash bench/run.sh $(BENCH_DIR) $(EBIN) $(BENCH_RUNS)

# The core alone (no VM): where the time of one leaf-only verification goes.
$(BENCH_DIR)/profile_core: bench/profile_core.c FORCE
	$(MAKE) -C c_src core
	@mkdir -p $(BENCH_DIR)
	$(CC) $(BENCH_CFLAGS) -Ic_src -o $@ $< $(BUILD)/c/libs2s_trust_core.a \
	  $(shell pkg-config --cflags --libs libssl libcrypto libconfig libidn2) -lpthread

# Flat self-time profile (libcrypto has no debug symbols: some EC internals
# show as addresses), once with the default provider only and once with the
# providers OTP's crypto NIF loads into every VM (the core parses in its own
# library context since issue 5, so the two should now look alike); then the
# rate with and without the pool-signature shortcut, and through the verdict
# cache. Inclusive costs:
#   valgrind --tool=callgrind _build/bench/profile_core _build/bench/pki/ec 25
#   callgrind_annotate --inclusive=yes callgrind.out.*
bench-profile: $(BENCH_DIR)/profile_core
	bash bench/gen_pki.sh $(BENCH_DIR)/pki 1000
	@for p in "" default,base,legacy; do \
	  echo "== providers: $${p:-default only} =="; \
	  FLOORS_PROVIDERS=$$p perf record -q -e cpu-clock -o $(BENCH_DIR)/perf.data \
	    $(BENCH_DIR)/profile_core $(BENCH_DIR)/pki/ec 5 || exit 1; \
	  perf report -i $(BENCH_DIR)/perf.data --no-children --sort dso --stdio 2>/dev/null | grep -E '^ +[0-9]' | head -4; \
	  perf report -i $(BENCH_DIR)/perf.data --no-children --sort dso,symbol --stdio 2>/dev/null | grep -E '^ +[0-9]' | head -15; \
	done
	@echo "== the engine's shortcuts, on and off (chains/s; one core, noisy: repeat) =="
	@for f in ec rsa p384; do \
	  FLOORS_PROVIDERS=default,base,legacy $(BENCH_DIR)/profile_core $(BENCH_DIR)/pki/$$f 2 || exit 1; \
	  S2S_TRUST_NO_SIG_SHORTCUT=1 FLOORS_PROVIDERS=default,base,legacy $(BENCH_DIR)/profile_core $(BENCH_DIR)/pki/$$f 2 \
	    | sed 's/$$/  [S2S_TRUST_NO_SIG_SHORTCUT=1]/' || exit 1; \
	  $(BENCH_DIR)/profile_core $(BENCH_DIR)/pki/$$f 1 cached || exit 1; \
	done
	@echo "== the verdict cache past its bound (default 10,000 verdicts: 20,000 slots) =="
	$(BENCH_DIR)/profile_core $(BENCH_DIR)/pki/ec 0 fill
