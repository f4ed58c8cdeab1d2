#!/usr/bin/env bash
# bench/run.sh - `make bench`: build the PKI if missing, measure, print.
#   bash bench/run.sh BENCH_DIR EBIN [RUNS]
# BENCH_DIR holds floors, s2s_bench.beam, pki/ (cached) and results/.
# Timing never fails the run; only a functional error does (exit 1).
set -euo pipefail
[ $# -ge 2 ] || { echo "usage: run.sh BENCH_DIR EBIN [RUNS]" >&2; exit 1; }
B=$1 EBIN=$2 RUNS=${3:-${BENCH_RUNS:-5}}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
OUT=$B/results
T0=$SECONDS

bash "$HERE/gen_pki.sh" "$B/pki" 1000

rm -rf "$OUT" && mkdir -p "$OUT"
ERL=(erl -noshell -pa "$EBIN" -pa "$B")
export ERL_CRASH_DUMP_BYTES=0

echo "bench: memory (fresh VM)"
"${ERL[@]}" -run s2s_bench memory "$B/pki" "$OUT"
echo "bench: main measurements, $RUNS runs, flavours interleaved"
"${ERL[@]}" -run s2s_bench main "$B/pki" "$B/floors" "$OUT" "$RUNS"
echo -n "bench: scaling, +SDcpu 1:1 and 2:2 alternating, $RUNS runs each:"
for r in $(seq 1 "$RUNS"); do
    for d in 1 2; do
        echo -n " $r/$d"
        "${ERL[@]}" +SDcpu "$d:$d" -run s2s_bench scale "$B/pki" "$OUT/scale-$d-$r.term"
    done
    # The machine's own ceiling for 2-way scaling right now (other workers
    # share the cores): one C process, then two at once.
    one=$("$B/floors" "$B/pki/ec" 1 parse1 | awk '{print $2}')
    two=$( { "$B/floors" "$B/pki/ec" 1 parse1 & "$B/floors" "$B/pki/ec" 1 parse1; wait; } | awk '{s += $2} END {printf "%.1f", s}')
    echo "#{one => $one, two => $two}." >"$OUT/ceiling-$r.term"
done
echo
{
    echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'); $(openssl version);" \
         "OTP $(erl -noshell -eval 'io:format("~s (erts ~s)", [erlang:system_info(otp_release), erlang:system_info(version)]), halt().')"
    echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg) (other workers share this machine: read the ratios)"
    "${ERL[@]}" -run s2s_bench report "$OUT"
    echo "bench: total $((SECONDS - T0)) s"
} | tee "$OUT/report.txt"
