#!/usr/bin/env bash
# bench/domains.sh - the scale of a large server: N distinct peer domains
# (default 10,000) in one real ejabberd with mod_s2s_trust, through the
# module's own code (bench/domains_run.erl runs inside the node):
#
#   verdict cache   N leaves verified twice (batches of 100): rates, entries,
#                   bytes, second-pass hits and misses (s2s_trust:info/1)
#   violators list  N refusals recorded as a real one is; per row: Mnesia RAM,
#                   disk (after a log dump), recency index, log throttle
#   commands        s2s_trust_violators and s2s_trust_export (markdown, json)
#                   timed in the node, and through ejabberdctl against
#                   `ejabberdctl status` in the same run (the client's own
#                   start-up, which every command pays)
#   reload          s2s_trust_reload with the bench pool (1 intermediate) and
#                   with N more intermediates in the pool (bench/pool_scale.c
#                   mints them: the size a learned or configured pool of a
#                   large server could reach)
#   restart         ejabberd stopped and started: the time until it serves
#                   again, and the N rows still there (nothing lost)
#
# One instance: trust.test on 127.0.0.104 (not the lab's a.test..h.test on
# 127.0.0.2-9, nor bench/streams.sh's 101-103). Prints one table; numbers
# never fail the bench, a wrong result does.
#
# Usage: bash bench/domains.sh BENCH_DIR [N]   (make bench-domains)
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
BENCH_DIR=$1
N=${2:-10000}
: "${LAB_DIR:=/tmp/s2s-bench-domains}"
: "${LAB_DIST_BASE:=27800}"
export LAB_DIST_BASE
# shellcheck source=tests/e2e/lab.sh
source "$HERE/../tests/e2e/lab.sh"

PKI=$BENCH_DIR/pki-$N
BENCH_FLAVOURS=ec bash "$HERE/gen_pki.sh" "$PKI" "$N" || exit 1
POOL=$BENCH_DIR/pool-$N
mkdir -p "$POOL"
"$BENCH_DIR/pool_scale" "$POOL" "$N" | sed 's/^/pool_scale (core alone): /' || exit 1
OUT=$BENCH_DIR/domains
mkdir -p "$OUT/code/domains_run/ebin"
erlc -o "$OUT/code/domains_run/ebin" "$HERE/domains_run.erl" || exit 1

trap 'lab_teardown >/dev/null 2>&1' EXIT
lab_init || exit 1
lab_issue_leaf a trust.test >/dev/null || exit 1
TRUST=$LAB_DIR/trust
mkdir -p "$TRUST"
# The two PKIs' files share names: keep them apart.
cp "$PKI/ec/root.pem" "$TRUST/root.pem" && cp "$PKI/ec/int.pem" "$TRUST/int.pem" \
    && cp "$POOL/root.pem" "$TRUST/scale-root.pem" && cp "$POOL/pool.pem" "$TRUST/scale-pool.pem" || exit 1
small_conf() {
    printf 'ca_file = ["root.pem", "scale-root.pem"];\nintermediate_file = "int.pem";\nverdict_cache_size = %d;\n' "$N"
}
large_conf() {
    printf 'ca_file = ["root.pem", "scale-root.pem"];\nintermediate_file = ["int.pem", "scale-pool.pem"];\nverdict_cache_size = %d;\n' "$N"
}
small_conf >"$TRUST/trust.conf"
chmod -R a+rX "$TRUST"

start() {
    lab_ejabberd_start a trust.test 127.0.0.104 a starttls=required code="$LAB_REPO" \
        code="$OUT/code/domains_run" \
        modules="mod_s2s_trust: {trust_config: \"$TRUST/trust.conf\", max_violators: $((2 * N))}"
}
start || exit 1
echo "ejabberd $(lab_ejabberd_version), OTP $(erl -noshell -eval 'io:format("~s", [erlang:system_info(otp_release)]), halt().'), $(openssl version | cut -d' ' -f1-2); N = $N domains"

ms() { _lab_ms; }
# timed_ctl ARGS...: milliseconds of one ejabberdctl call (its output dropped);
# fails the bench if the command fails.
timed_ctl() {
    local t0 t1
    t0=$(ms)
    lab_ctl a "$@" >/dev/null || { echo "ejabberdctl $* failed" >&2; return 1; }
    t1=$(ms)
    echo $((t1 - t0))
}
# median3 ARGS...: the median of three timed_ctl runs
median3() {
    local a b c
    a=$(timed_ctl "$@") && b=$(timed_ctl "$@") && c=$(timed_ctl "$@") || return 1
    printf '%s\n' "$a" "$b" "$c" | sort -n | sed -n 2p
}
rpc() { lab_rpc a "$1" || { echo "rpc failed: $1" >&2; exit 1; }; }

echo "== verdict cache, $N entries =="
rpc "domains_run:cache(<<\"trust.test\">>, \"$PKI/ec/leaves\", \"ec\", $N)"
echo "== violators list, $N rows (per row) =="
rpc "domains_run:violations(<<\"trust.test\">>, \"$PKI/ec/leaves\", \"ec\", $N)"
echo "== commands at $N rows, in the node =="
rpc "domains_run:commands()"
echo "== commands at $N rows, through ejabberdctl (median of 3, ms) =="
status=$(median3 status) || exit 1
list=$(median3 s2s_trust_violators) || exit 1
md=$(median3 s2s_trust_export markdown) || exit 1
json=$(median3 s2s_trust_export json) || exit 1
echo "status (the client's start-up) $status; s2s_trust_violators $list (+$((list - status))); export markdown $md (+$((md - status))); export json $json (+$((json - status)))"

echo "== reload (median of 3, ms through ejabberdctl) =="
small=$(median3 s2s_trust_reload) || exit 1
have=$(rpc 'domains_run:intermediates(<<"trust.test">>)')
large_conf >"$TRUST/trust.conf"
large=$(median3 s2s_trust_reload) || exit 1
have_large=$(rpc 'domains_run:intermediates(<<"trust.test">>)')
[ "$have_large" -eq $((have + N)) ] || { echo "the large pool holds $have_large intermediates, $((have + N)) expected" >&2; exit 1; }
echo "pool of $have: $small; pool of $have_large: $large (+$((large - small)) for $N intermediates)"

echo "== restart with $N rows and the large pool =="
t0=$(ms)
lab_ejabberd_stop a || exit 1
t1=$(ms)
start || exit 1
t2=$(ms)
rows=$(rpc 'domains_run:count()')
[ "$rows" -ge "$N" ] || { echo "after the restart the list holds $rows rows, at least $N expected" >&2; exit 1; }
echo "stop: $((t1 - t0)) ms; start until serving: $((t2 - t1)) ms; rows kept: $rows"
