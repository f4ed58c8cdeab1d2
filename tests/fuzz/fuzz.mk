# tests/fuzz/fuzz.mk - fuzzing targets, included by the top-level Makefile.
#
#   make fuzz        libFuzzer binaries (clang, ASan+UBSan), each harness run
#                    for FUZZ_SECONDS (default 60); new inputs go straight
#                    into tests/fuzz/corpus/<harness>/ (then: make fuzz-merge)
#   make test-fuzz   CI: replay every committed corpus file through the
#                    sanitizer-built replay driver, then a bounded libFuzzer
#                    pass of FUZZ_CI_SECONDS (20) per harness into a scratch
#                    directory, so CI both replays and explores
#   make fuzz-merge  minimise each committed corpus with -merge=1
#   make fuzz-seeds  regenerate seeds and tests/fuzz/pki from $(PKI)
#                    (mkseeds.py explains what that invalidates), and
#                    fuzz_dns's seeds (mkseeds_dns.py, no PKI)
#
# The core is compiled here from c_src/*.c with the fuzzing flags, into
# $(BUILD)/fuzz/; c_src/Makefile stays the one place for the real build.
# docs/testing.md, "Fuzzing and sanitizers", says what each harness asserts.

FUZZ_HARNESSES := fuzz_verify fuzz_identity fuzz_config fuzz_stream fuzz_dns
# Harnesses whose seeds mkseeds.py derives from a PKI; fuzz_stream's seeds
# are server bytes (captured in the probe lab) and hand-written variants;
# fuzz_dns's are DNS record data written by mkseeds_dns.py.
FUZZ_PKI_HARNESSES := fuzz_verify fuzz_identity fuzz_config
FUZZ_SECONDS    ?= 60
FUZZ_CI_SECONDS ?= 20
FUZZ_HERE   := $(TOP)/tests/fuzz
FUZZ_OUT    := $(BUILD)/fuzz
FUZZ_CORPUS := $(FUZZ_HERE)/corpus
# The store's trust material: a frozen copy of one generated PKI (public
# files only) with its verification time pinned, because the committed
# corpus holds leaves signed by that PKI's keys; a fresh `make pki` has new
# keys and would turn every seed into unknown_issuer. Override to fuzz
# against another PKI (without a `time` file, "now" applies).
FUZZ_PKI    ?= $(FUZZ_HERE)/pki

FUZZ_CC     ?= clang
# Replay driver: any compiler with ASan/UBSan (gcc works too).
FUZZ_REPLAY_CC ?= clang

FUZZ_PKGS   := libssl libcrypto libconfig libidn2 expat
FUZZ_CFLAGS := -std=c11 -D_GNU_SOURCE -O1 -g -fno-omit-frame-pointer -Wall -Wextra -Werror \
               -Ic_src -DFUZZ_PKI_DEFAULT='"$(FUZZ_PKI)"' $(shell pkg-config --cflags $(FUZZ_PKGS))
FUZZ_LIBS   := $(shell pkg-config --libs $(FUZZ_PKGS))
FUZZ_SAN    := -fsanitize=address,undefined -fno-sanitize-recover=all
FUZZ_CORE   := $(addprefix c_src/core/s2s_trust_,error.c verdict.c config.c store.c pool_index.c identity.c time.c verify.c describe.c cache.c) \
               c_src/net/s2s_trust_xmpp_stream.c c_src/net/s2s_trust_peer_text.c \
               c_src/net/s2s_trust_dns_rdata.c
FUZZ_COMMON := tests/fuzz/driver.c tests/fuzz/fuzz_util.c
FUZZ_DEPS   := $(FUZZ_CORE) $(wildcard c_src/*/*.h) $(FUZZ_COMMON) tests/fuzz/fuzz.h tests/fuzz/fuzz.mk

# fuzz_posh: the POSH document reader (core/s2s_trust_posh.h) and the hop
# rules and match on what it read. A document is at most 64 KiB; 8 KiB
# holds every structure the reader knows (32 fingerprint objects are
# ~5 KB) with room. Seeds: hand-written documents (RFC 7711's examples and
# their hostile variants), committed as they are.
FUZZ_HARNESSES      += fuzz_posh
FUZZ_CORE           += c_src/core/s2s_trust_posh.c c_src/core/s2s_trust_posh_match.c
FUZZ_DEPS           += c_src/core/s2s_trust_posh.c c_src/core/s2s_trust_posh_match.c
FUZZ_MAXLEN_fuzz_posh := 8192
FUZZ_CWD_fuzz_posh    := $(TOP)

# fuzz_http_head: the bounds the HTTP client holds an answer's head to and
# the Location it keeps (net/s2s_trust_http_head.h), line by line as
# libcurl hands them over. Seeds: hand-written heads (redirects, interim
# answers, folded and doubled Locations, lengths), committed as they are.
FUZZ_HARNESSES      += fuzz_http_head
FUZZ_CORE           += c_src/net/s2s_trust_http_head.c
FUZZ_DEPS           += c_src/net/s2s_trust_http_head.c
FUZZ_MAXLEN_fuzz_http_head := 4096
FUZZ_CWD_fuzz_http_head    := $(TOP)

# Largest input each harness reads: a verify input is a domain plus up to 12
# DER certificates (the test PKI's deepest chain, 9 certificates, is ~5 KB;
# 16 KB leaves room for several large RSA ones); an identity input is up to
# 32 names of at most 255 bytes; a configuration is a few lines.
FUZZ_MAXLEN_fuzz_verify   := 16384
FUZZ_MAXLEN_fuzz_identity := 4096
FUZZ_MAXLEN_fuzz_config   := 4096
# A stream input is what a server sends before TLS: a header and features
# are under 1 KB; 8 KB passes the 4 KB tag bound with room.
FUZZ_MAXLEN_fuzz_stream   := 8192
# A DNS input is one record's data or one name: an SRV record is at most
# 6 + 255 bytes, a name 255; a TLSA record with a full certificate is a
# few KB, and the harness pads to both sides of the 8 KB limit itself, so
# 2 KB keeps the fuzzer on the parsing instead of on long inputs.
FUZZ_MAXLEN_fuzz_dns      := 2048
# fuzz_config names its files relative to the current directory (seeds say
# "root.pem"), so it runs inside the PKI directory; every path given to a
# binary is therefore absolute.
FUZZ_CWD_fuzz_verify   := $(TOP)
FUZZ_CWD_fuzz_identity := $(TOP)
FUZZ_CWD_fuzz_config   := $(FUZZ_PKI)
FUZZ_CWD_fuzz_stream   := $(TOP)
FUZZ_CWD_fuzz_dns      := $(TOP)

# Leak checking on: every input must free what it allocated (lsan.supp: one
# known libconfig 1.5 leak).
FUZZ_ENV := S2S_TRUST_PKI=$(FUZZ_PKI) ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
            LSAN_OPTIONS=suppressions=$(FUZZ_HERE)/lsan.supp:print_suppressions=0 \
            UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

FUZZ_LF_BINS     := $(FUZZ_HARNESSES:%=$(FUZZ_OUT)/lf/%)
FUZZ_REPLAY_BINS := $(FUZZ_HARNESSES:%=$(FUZZ_OUT)/replay/%)

.PHONY: fuzz fuzz-build test-fuzz fuzz-replay fuzz-merge fuzz-seeds

# libFuzzer: the core is instrumented for coverage too (fuzzer-no-link),
# otherwise the fuzzer would be blind inside the code it is meant to explore.
$(FUZZ_OUT)/lf/core/%.o: c_src/%.c $(wildcard c_src/*/*.h) tests/fuzz/fuzz.mk
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link $(FUZZ_SAN) -c $< -o $@

$(FUZZ_OUT)/replay/core/%.o: c_src/%.c $(wildcard c_src/*/*.h) tests/fuzz/fuzz.mk
	@mkdir -p $(dir $@)
	$(FUZZ_REPLAY_CC) $(FUZZ_CFLAGS) $(FUZZ_SAN) -c $< -o $@

FUZZ_LF_CORE     := $(FUZZ_CORE:c_src/%.c=$(FUZZ_OUT)/lf/core/%.o)
FUZZ_REPLAY_CORE := $(FUZZ_CORE:c_src/%.c=$(FUZZ_OUT)/replay/core/%.o)
# Kept: they are intermediate files to make, which would delete them after each link.
.SECONDARY: $(FUZZ_LF_CORE) $(FUZZ_REPLAY_CORE)

$(FUZZ_OUT)/lf/%: tests/fuzz/%.c $(FUZZ_LF_CORE) $(FUZZ_DEPS)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -DFUZZ_LIBFUZZER -fsanitize=fuzzer $(FUZZ_SAN) -o $@ \
	  $< $(FUZZ_COMMON) $(FUZZ_LF_CORE) $(FUZZ_LIBS)

$(FUZZ_OUT)/replay/%: tests/fuzz/%.c $(FUZZ_REPLAY_CORE) $(FUZZ_DEPS)
	@mkdir -p $(dir $@)
	$(FUZZ_REPLAY_CC) $(FUZZ_CFLAGS) $(FUZZ_SAN) -o $@ $< $(FUZZ_COMMON) $(FUZZ_REPLAY_CORE) $(FUZZ_LIBS)

fuzz-build: $(FUZZ_LF_BINS) $(FUZZ_REPLAY_BINS)

# One libFuzzer run: $(call fuzz_run,HARNESS,SECONDS,CORPUS DIRS...). The
# first corpus directory receives new inputs; crashes go to
# $(BUILD)/fuzz/artifacts/ (never into the source tree).
fuzz_run = mkdir -p $(FUZZ_OUT)/artifacts && cd $(FUZZ_CWD_$(1)) && $(FUZZ_ENV) $(FUZZ_OUT)/lf/$(1) \
  -max_total_time=$(2) -max_len=$(FUZZ_MAXLEN_$(1)) -timeout=10 -print_final_stats=1 \
  $(if $(wildcard $(FUZZ_HERE)/$(1).dict),-dict=$(FUZZ_HERE)/$(1).dict) \
  -artifact_prefix=$(FUZZ_OUT)/artifacts/$(1)- $(3)

fuzz: $(FUZZ_LF_BINS)
	@set -e; $(foreach h,$(FUZZ_HARNESSES),echo "== $(h): $(FUZZ_SECONDS) s"; \
	  mkdir -p $(FUZZ_CORPUS)/$(h); $(call fuzz_run,$(h),$(FUZZ_SECONDS),$(FUZZ_CORPUS)/$(h));)

# Replay: the committed corpus must run clean (each binary ends with
# "N passed, 0 failed"; a broken invariant or sanitizer report aborts).
fuzz-replay: $(FUZZ_REPLAY_BINS)
	@set -e; $(foreach h,$(FUZZ_HARNESSES),echo "== replay $(h)"; \
	  (cd $(FUZZ_CWD_$(h)) && $(FUZZ_ENV) $(FUZZ_OUT)/replay/$(h) $(FUZZ_CORPUS)/$(h));)

test-fuzz: fuzz-replay $(FUZZ_LF_BINS)
	@set -e; $(foreach h,$(FUZZ_HARNESSES),echo "== explore $(h): $(FUZZ_CI_SECONDS) s"; \
	  rm -rf $(FUZZ_OUT)/ci-corpus/$(h) && mkdir -p $(FUZZ_OUT)/ci-corpus/$(h); \
	  ($(call fuzz_run,$(h),$(FUZZ_CI_SECONDS),$(FUZZ_OUT)/ci-corpus/$(h) $(FUZZ_CORPUS)/$(h)));)

# Minimise: keep only inputs that add coverage, then replace the corpus.
fuzz-merge: $(FUZZ_LF_BINS)
	@set -e; $(foreach h,$(FUZZ_HARNESSES),echo "== merge $(h)"; \
	  rm -rf $(FUZZ_OUT)/merged/$(h) && mkdir -p $(FUZZ_OUT)/merged/$(h); \
	  (cd $(FUZZ_CWD_$(h)) && $(FUZZ_ENV) $(FUZZ_OUT)/lf/$(h) -merge=1 -max_len=$(FUZZ_MAXLEN_$(h)) \
	    -artifact_prefix=$(FUZZ_OUT)/artifacts/$(h)- $(FUZZ_OUT)/merged/$(h) $(FUZZ_CORPUS)/$(h)); \
	  rm -rf $(FUZZ_CORPUS)/$(h) && cp -r $(FUZZ_OUT)/merged/$(h) $(FUZZ_CORPUS)/$(h);)

fuzz-seeds: pki
	rm -rf $(FUZZ_OUT)/seeds
	python3 tests/fuzz/mkseeds.py $(PKI) $(FUZZ_OUT)/seeds
	rm -rf $(FUZZ_HERE)/pki && cp -r $(FUZZ_OUT)/seeds/pki $(FUZZ_HERE)/pki
	$(foreach h,$(FUZZ_PKI_HARNESSES),mkdir -p $(FUZZ_CORPUS)/$(h) && cp $(FUZZ_OUT)/seeds/$(h)/* $(FUZZ_CORPUS)/$(h)/;)
	python3 tests/fuzz/mkseeds_dns.py $(FUZZ_CORPUS)/fuzz_dns
