#!/usr/bin/env bash
# bench/streams.sh - what an operator feels: the cost of setting up a new
# s2s stream between two real ejabberd servers on loopback, with
# mod_s2s_trust loaded and without it, in the same run.
#
#   a: trust.test   127.0.0.101  ejabberd + mod_s2s_trust (verdict cache
#                                off: every stream is verified, the worst
#                                case; BENCH_STREAMS_CACHE=on: as shipped)
#   b: stock.test   127.0.0.102  the same ejabberd, same options, no module
#   v: sender.test  127.0.0.103  the sender: DOMAINS virtual hosts
#                                v1.test..vN.test, each with its own
#                                certificate from the test PKI
# (not the lab's a.test..h.test, which sit on 127.0.0.2-9, so that this
# bench never collides with a test suite's servers)
#
# A round sends, from every vN.test at once (CONCURRENCY at a time), a ping
# IQ to the target server and times its result (bench/stream_setup.erl):
# each is a stream set-up between two domains that have none. Rounds
# alternate between a and b (ab, ba, ab, ...), every stream closed and gone
# on all three servers between rounds. Measured per round: wall time
# (streams/s), each set-up's latency, and the target server's CPU time
# (utime+stime of its beam, /proc). Printed: rates and CPU as medians over
# rounds, latency percentiles over every set-up of every round (a second
# or so now and then is a TCP SYN retransmission; both servers see them,
# so they are counted apart), and the ratios a/b; never an assertion on time (a round that loses a ping fails
# the bench, since the numbers would then mean nothing).
#
# Usage: bash bench/streams.sh [ROUNDS] [DOMAINS] [CONCURRENCY]
# (make bench-streams; env LAB_DIR, BENCH_STREAMS_OUT for the raw lines;
# BENCH_STREAMS_TRACE=1 adds one traced round: bench/hook_time.erl;
# BENCH_STREAMS_MSACC=1 one round per target under msacc).
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
: "${LAB_DIR:=/tmp/s2s-bench-streams}"
: "${LAB_DIST_BASE:=27700}"
export LAB_DIST_BASE
# shellcheck source=tests/e2e/lab.sh
source "$HERE/../tests/e2e/lab.sh"

ROUNDS=${1:-5}
DOMAINS=${2:-100}
CONCURRENCY=${3:-10}
OUT=${BENCH_STREAMS_OUT:-$LAB_REPO/_build/bench/streams}
mkdir -p "$OUT/code/stream_setup/ebin" "$OUT/code/hook_time/ebin"
erlc -o "$OUT/code/stream_setup/ebin" "$HERE/stream_setup.erl" || exit 1
erlc -o "$OUT/code/hook_time/ebin" "$HERE/hook_time.erl" || exit 1
RAW=$OUT/rounds.txt
: >"$RAW"

trap 'lab_teardown >/dev/null 2>&1' EXIT
lab_init || exit 1
declare -A DOMAIN=([a]=trust.test [b]=stock.test [v]=sender.test)
for n in a b v; do lab_issue_leaf "$n" "${DOMAIN[$n]}" >/dev/null || exit 1; done
VH=()
for i in $(seq 1 "$DOMAINS"); do
    lab_issue_leaf "v$i" "v$i.test" >/dev/null || exit 1
    VH+=("vhost=v$i.test=v$i")
done
TRUST=$LAB_DIR/trust
mkdir -p "$TRUST"
cp "$LAB_DIR/pki/root.pem" "$LAB_DIR/pki/pool.pem" "$TRUST/"
# BENCH_STREAMS_CACHE=off (the default here): every stream verified, the
# worst case; =on: the module's default verdict cache, what an operator runs.
case ${BENCH_STREAMS_CACHE:-off} in
    off) cache_line='verdict_cache_size = 0;' ;;
    on) cache_line='' ;;
    *) echo "BENCH_STREAMS_CACHE is off or on" >&2; exit 1 ;;
esac
printf 'ca_file = "root.pem";\nintermediate_file = "pool.pem";\n%s\n' "$cache_line" >"$TRUST/trust.conf"
chmod -R a+rX "$TRUST"

common=(starttls=required dialback=yes nowait)
# BENCH_STREAMS_ERL_OPTIONS: emulator flags for both targets alike (for
# instance "+sbwtdcpu none": dirty schedulers that do not spin when idle).
[ -n "${BENCH_STREAMS_ERL_OPTIONS:-}" ] && common+=("cfg=ERL_OPTIONS=\"\$ERL_OPTIONS $BENCH_STREAMS_ERL_OPTIONS\"")
lab_ejabberd_start a trust.test 127.0.0.101 a "${common[@]}" code="$LAB_REPO" code="$OUT/code/hook_time" \
    modules="mod_s2s_trust: {trust_config: \"$TRUST/trust.conf\"}" || exit 1
lab_ejabberd_start b stock.test 127.0.0.102 b "${common[@]}" || exit 1
lab_ejabberd_start v sender.test 127.0.0.103 v "${common[@]}" code="$OUT/code/stream_setup" "${VH[@]}" || exit 1
lab_wait_ready a b v || exit 1
echo "ejabberd $(lab_ejabberd_version), OTP $(erl -noshell -eval 'io:format("~s", [erlang:system_info(otp_release)]), halt().'), $(openssl version | cut -d' ' -f1-2)"
echo "$DOMAINS sending domains, $CONCURRENCY set-ups at a time, $ROUNDS rounds per server, verdict cache ${BENCH_STREAMS_CACHE:-off}"

cpu_ticks() { # NAME: utime+stime of its beam, in clock ticks
    local pid
    pid=$(_lab_ej_beam_pid "$1") || return 1
    awk '{ print $14 + $15 }' "/proc/$pid/stat"
}
erl_list() { # PREFIX FROM TO -> [<<"PREFIX1.test">>,...]
    local i sep='' s='['
    for i in $(seq "$2" "$3"); do s+="$sep<<\"$1$i.test\">>"; sep=,; done
    echo "$s]"
}
no_streams() {
    local n c
    for n in a b v; do
        c=$(lab_rpc "$n" '{ejabberd_s2s:incoming_s2s_number(), ejabberd_s2s:outgoing_s2s_number()}' 2>/dev/null) || return 1
        [ "$c" = "{0,0}" ] || return 1
    done
}
close_all() {
    local n
    for n in a b v; do lab_rpc "$n" 'ejabberd_s2s:stop_s2s_connections()' >/dev/null || return 1; done
    _lab_poll 30 0.2 no_streams || { echo "streams still open after 30 s" >&2; return 1; }
}
one_round() { # TARGET TAG FIRST LAST
    local target=$1 tag=$2 c0 c1 res
    c0=$(cpu_ticks "$target") || return 1
    res=$(lab_rpc v "{W, L} = stream_setup:round($(erl_list v "$3" "$4"), <<\"${DOMAIN[$target]}\">>, $CONCURRENCY),
                      lists:flatten(io_lib:format(\"~b ~w\", [W, L]))") || return 1
    c1=$(cpu_ticks "$target") || return 1
    res=${res//\"/}
    echo "$target $tag $((c1 - c0)) $res" >>"$RAW"
    case $res in *timeout* | *error*) echo "round $tag to $target lost a ping: $res" >&2; return 1 ;; esac
    close_all
}

# Warm-up: code loaded, TLS contexts built, on both targets (not counted).
one_round a warmup 1 5 && one_round b warmup 1 5 || exit 1
: >"$RAW"
for r in $(seq 1 "$ROUNDS"); do
    if [ $((r % 2)) = 1 ]; then order="a b"; else order="b a"; fi
    for t in $order; do one_round "$t" "$r" 1 "$DOMAINS" || exit 1; done
    printf '.' >&2
done
echo >&2
if [ "${BENCH_STREAMS_TRACE:-0}" = 1 ]; then
    # One more round to a, traced (not counted above): wall time per call
    # of the module's hooks and what they call (bench/hook_time.erl).
    lab_rpc a 'hook_time:start([{mod_s2s_trust, s2s_in_auth_result, 3}, {mod_s2s_trust, s2s_out_auth_result, 2},
                               {mod_s2s_trust, s2s_in_handle_recv, 3}, {mod_s2s_trust, has_xmpp_addr, 1},
                               {mod_s2s_trust, judge_stream, 4}, {mod_s2s_trust, check_stream, 4},
                               {mod_s2s_trust, judge, 3}, {s2s_trust, explain, 3},
                               {mod_s2s_trust_record, note, 6}, {mod_s2s_trust_crl, check_chain, 3},
                               {mod_s2s_trust_gate, accepted, 4}, {mod_s2s_trust_gate, s2s_receive_packet, 1},
                               {mod_s2s_trust_gate, s2s_in_handle_info, 2}, {mod_s2s_trust_gate, s2s_out_packet, 1},
                               {mod_s2s_trust_gate, s2s_out_handle_info, 2}])' >/dev/null || exit 1
    : >"$RAW.traced"
    RAW=$RAW.traced one_round a traced 1 "$DOMAINS" || exit 1
    echo "== one traced round to a: wall time per call of the module's functions =="
    lab_rpc a 'hook_time:stop()'
fi
if [ "${BENCH_STREAMS_MSACC:-0}" = 1 ]; then
    # One more round to each target under microstate accounting (not
    # counted above): where each server's threads spent the round, summed
    # per thread type (scheduler, dirty_cpu_scheduler, ...), in ms.
    for t in a b; do
        lab_rpc "$t" 'msacc:start()' >/dev/null || exit 1
        : >"$RAW.msacc"
        RAW=$RAW.msacc one_round "$t" msacc 1 "$DOMAINS" || exit 1
        echo "== microstate accounting of one round on $t (${DOMAIN[$t]}), ms per thread type and state =="
        lab_rpc "$t" 'msacc:stop(), [{T, maps:filter(fun(_, V) -> V > 0 end,
                                                      maps:map(fun(_, V) -> V div 1000 end, C))}
                                      || #{type := T, counters := C} <- msacc:stats(type, msacc:stats())]'
    done
fi
CLK=$(getconf CLK_TCK)
python3 - "$RAW" "$DOMAINS" "$CLK" <<'PY'
import statistics, sys
raw, n, clk = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rows = {"a": [], "b": []}
for line in open(raw):
    target, tag, ticks, wall, lats = line.split(" ", 4)
    lats = [int(x) for x in lats.strip().strip("[]").split(",")]
    rows[target].append((int(ticks) / clk, int(wall) / 1e6, sorted(lats)))
def pct(xs, p):
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]
def summary(rs):
    every = sorted(x for _, _, l in rs for x in l)
    return {"streams/s": statistics.median(n / w for _, w, _ in rs),
            "p50 ms (all set-ups)": pct(every, 50) / 1000,
            "p90 ms (all set-ups)": pct(every, 90) / 1000,
            "p99 ms (all set-ups)": pct(every, 99) / 1000,
            "set-ups over 500 ms": sum(1 for x in every if x > 500000),
            "cpu ms/stream": statistics.median(c / n * 1000 for c, _, _ in rs)}
a, b = summary(rows["a"]), summary(rows["b"])
print(f"{str(len(rows['a'])) + ' rounds of ' + str(n) + ' set-ups':34} {'a: module':>12} {'b: without':>12} {'a/b':>7} {'a-b':>9}")
for k in a:
    ratio = f"{a[k] / b[k]:7.3f}" if b[k] else f"{'-':>7}"
    print(f"{k:34} {a[k]:12.2f} {b[k]:12.2f} {ratio} {a[k] - b[k]:9.3f}")
share = (a["cpu ms/stream"] - b["cpu ms/stream"]) / a["cpu ms/stream"]
print(f"module's share of the receiving server's CPU per stream: {100 * share:.1f} %"
      f" (per round, a/b CPU: {', '.join(f'{x[0] / y[0]:.3f}' for x, y in zip(rows['a'], rows['b']))})")
PY
