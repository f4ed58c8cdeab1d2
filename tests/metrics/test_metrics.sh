#!/usr/bin/env bash
# tests/metrics/test_metrics.sh - mod_s2s_trust's metrics (docs/metrics.md)
# against Debian's real ejabberd with the module, real peers and a real
# Prometheus from Debian scraping the page, all on loopback:
#
#   a.test   ejabberd + mod_s2s_trust (enforce), its HTTP listener on
#            127.0.0.2:5293 with /api and /metrics (mod_s2s_trust_metrics),
#            metrics_allow 127.0.0.1/32 (Prometheus and this script's
#            default source address; 127.0.0.9 is turned away)
#   b.test   ejabberd, valid certificate          (accepted both ways)
#   d.test   Prosody, expired certificate         (refused both ways)
#   Prometheus on 127.0.0.10:9090, scraping a.test every second
#
# Checks that the counters move as the scenario runs (in the page, in
# `ejabberdctl s2s_trust_metrics`, and in what Prometheus stored), that
# `promtool check metrics` accepts the page, and the page's refusals (a
# source outside metrics_allow: 403; POST: 405).
#
#   LAB_DIR=/tmp/s2s-lab-metrics flock /tmp/s2s-lab.lock bash tests/metrics/test_metrics.sh
# Output: "ok NAME" / "FAIL NAME" per case, then "N passed, N failed".
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
: "${LAB_DIR:=/tmp/s2s-lab-metrics}"
: "${LAB_DIST_BASE:=27400}"
# shellcheck source=tests/e2e/lab.sh
source "$HERE/../e2e/lab.sh"
# shellcheck source=tests/e2e/testing.sh
source "$HERE/../e2e/testing.sh"
E2E_LOGS=(a)

REPO=$LAB_REPO
HTTP_PORT=5293
PROM_IP=127.0.0.10
PROM_PORT=9090
declare -A IP=([a]=127.0.0.2 [b]=127.0.0.3 [d]=127.0.0.5)
for bin in /usr/bin/prometheus /usr/bin/promtool; do
    [ -x "$bin" ] || { echo "missing $bin: apt-get install prometheus (make deps)"; exit 1; }
done

PROM_PID=
stop_prometheus() {
    [ -n "$PROM_PID" ] || return 0
    kill "$PROM_PID" 2>/dev/null
    _lab_poll 10 0.1 sh -c "! kill -0 $PROM_PID 2>/dev/null" || kill -9 "$PROM_PID" 2>/dev/null
    PROM_PID=
}
lab_init || exit 1
trap 'stop_prometheus; lab_teardown' EXIT

lab_issue_leaf a a.test || exit 1
lab_issue_leaf b b.test || exit 1
lab_issue_leaf d d.test expired || exit 1

lab_trust_config || exit 1
MODULE='mod_s2s_trust:
  trust_config: "'$TRUST/trust.conf'"
  mode: enforce
  metrics_allow: ["127.0.0.1/32"]'

lab_ejabberd_start a a.test "${IP[a]}" a starttls=optional dialback=yes code="$REPO" \
    http_api=$HTTP_PORT http_handler=/metrics=mod_s2s_trust_metrics yaml="$LAB_API_PERMS" \
    modules="$MODULE" nowait || exit 1
lab_ejabberd_start b b.test "${IP[b]}" b hardened nowait || exit 1
lab_prosody_start d d.test "${IP[d]}" d - secure_auth=false nowait || exit 1
lab_wait_ready a b d || exit 1
for u in alice@a.test bob@b.test dave@d.test; do
    lab_register "$u" pw || exit 1
done

URL=http://${IP[a]}:$HTTP_PORT/metrics
# The scrapes stay after the run, for a reader of a failure.
OUT=${METRICS_OUT:-$REPO/_build/test/metrics}
rm -rf "$OUT"
mkdir -p "$OUT"

# fetch FILE [SOURCE_IP [METHOD]]: the page into FILE; prints "STATUS CONTENT-TYPE".
fetch() {
    python3 - "$URL" "$1" "${2:-127.0.0.1}" "${3:-GET}" <<'EOF'
import http.client, sys, urllib.parse
url, out, source, method = sys.argv[1:5]
u = urllib.parse.urlsplit(url)
c = http.client.HTTPConnection(u.hostname, u.port, timeout=10, source_address=(source, 0))
c.request(method, u.path, body=b"x=1" if method == "POST" else None,
          headers={"Content-Type": "application/x-www-form-urlencoded"} if method == "POST" else {})
r = c.getresponse()
open(out, "wb").write(r.read())
print(r.status, r.getheader("Content-Type"))
EOF
}
# value FILE SERIES: the sample's value, or "absent".
value() { awk -v s="$2" '$1 == s { print $2; found = 1 } END { if (!found) print "absent" }' "$1"; }
series_in() { printf 'ejabberd_s2s_trust_verdicts_total{direction="%s",outcome="%s",reason="%s"}' "$1" "$2" "$3"; }
ge() { [ "$(value "$1" "$2")" != absent ] && awk -v a="$(value "$1" "$2")" -v b="$3" 'BEGIN { exit !(a >= b) }'; }
eq() { [ "$(value "$1" "$2")" = "$3" ]; }

# ---- the page before any peer -------------------------------------------------------
check "page: 200 with the 0.0.4 text content type" -- \
    test "$(fetch "$OUT/0.txt")" = "200 text/plain; version=0.0.4; charset=utf-8"
check "page: promtool check metrics accepts it" -- sh -c "promtool check metrics <'$OUT/0.txt'"
check "page: no verdict yet" -- eq "$OUT/0.txt" "$(series_in in accepted ok)" 0
check "page: a source outside metrics_allow gets 403" -- \
    test "$(fetch "$OUT/forbidden.txt" 127.0.0.9 | cut -d' ' -f1)" = 403
POST_STATUS=$(fetch "$OUT/post.txt" 127.0.0.1 POST)
check "page: POST gets 405 ($POST_STATUS)" -- test "${POST_STATUS%% *}" = 405

# ---- Prometheus, scraping every second --------------------------------------------
PROM_DIR=$LAB_DIR/prometheus
mkdir -p "$PROM_DIR/data"
cat >"$PROM_DIR/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: ejabberd
    metrics_path: /metrics
    static_configs:
      - targets: ["${IP[a]}:$HTTP_PORT"]
EOF
prometheus --config.file="$PROM_DIR/prometheus.yml" --storage.tsdb.path="$PROM_DIR/data" \
    --web.listen-address="$PROM_IP:$PROM_PORT" >"$PROM_DIR/log" 2>&1 &
PROM_PID=$!
# promql EXPR: the first sample's value of an instant query, or "none".
promql() {
    python3 - "http://$PROM_IP:$PROM_PORT" "$1" <<'EOF'
import json, sys, urllib.parse, urllib.request
base, expr = sys.argv[1:3]
try:
    with urllib.request.urlopen(base + "/api/v1/query?" + urllib.parse.urlencode({"query": expr}), timeout=5) as r:
        res = json.load(r)["data"]["result"]
    print(res[0]["value"][1] if res else "none")
except Exception:
    print("none")
EOF
}
prom_ge() { local v; v=$(promql "$1"); [ "$v" != none ] && awk -v a="$v" -v b="$2" 'BEGIN { exit !(a >= b) }'; }
check "prometheus: scrapes the page (up == 1)" -- _lab_poll 30 0.5 prom_ge 'up{job="ejabberd"}' 1

# ---- traffic: accepted and refused, both directions -----------------------------------
lab_send bob@b.test alice@a.test "b to a"
check "traffic: b -> a delivered" a b -- lab_wait_delivered alice@a.test "b to a"
lab_send alice@a.test bob@b.test "a to b"
check "traffic: a -> b delivered" a b -- lab_wait_delivered bob@b.test "a to b"
lab_send dave@d.test alice@a.test "d to a"
check "traffic: d -> a refused (expired)" a d -- \
    lab_assert_not_delivered alice@a.test "d to a" a 'mod_s2s_trust: refused inbound s2s stream of d.test: expired'
lab_send alice@a.test dave@d.test "a to d"
check "traffic: a -> d refused (expired)" a d -- \
    lab_assert_not_delivered dave@d.test "a to d" a 'mod_s2s_trust: refused outbound s2s stream of d.test: expired'

fetch "$OUT/1.txt" >/dev/null
check "counted: inbound accepted ok" -- ge "$OUT/1.txt" "$(series_in in accepted ok)" 1
check "counted: outbound accepted ok" -- ge "$OUT/1.txt" "$(series_in out accepted ok)" 1
check "counted: inbound refused expired" -- ge "$OUT/1.txt" "$(series_in in refused expired)" 1
check "counted: outbound refused expired" -- ge "$OUT/1.txt" "$(series_in out refused expired)" 1
check "counted: nothing refused for another reason" -- \
    sh -c "! awk '/^ejabberd_s2s_trust_verdicts_total.*outcome=\"refused\"/ && \$0 !~ /reason=\"expired\"/ && \$2 != 0' '$OUT/1.txt' | grep -q ."
checks=$(value "$OUT/1.txt" ejabberd_s2s_trust_check_duration_seconds_count)
check "counted: checks timed (histogram count >= 4, +Inf bucket = count)" -- \
    sh -c "[ '$checks' != absent ] && [ '$checks' -ge 4 ] && [ \"\$(awk '\$1 == \"ejabberd_s2s_trust_check_duration_seconds_bucket{le=\\\"+Inf\\\"}\" { print \$2 }' '$OUT/1.txt')\" = '$checks' ]"
check "counted: the verdict cache was asked" -- \
    sh -c "[ \$(( $(value "$OUT/1.txt" ejabberd_s2s_trust_verdict_cache_hits) + $(value "$OUT/1.txt" ejabberd_s2s_trust_verdict_cache_misses) )) -ge 2 ]"
check "counted: one violator (d.test)" -- eq "$OUT/1.txt" ejabberd_s2s_trust_violators 1
check "page: promtool still accepts it" -- sh -c "promtool check metrics <'$OUT/1.txt'"
check "page: still no peer domain in it" -- sh -c "! grep -qE 'b\.test|d\.test' '$OUT/1.txt'"

CTL_OUT=$OUT/ctl.txt
lab_ctl a s2s_trust_metrics >"$CTL_OUT"
series_of() { awk '!/^#/ && NF { print $1 }' "$1" | sort; }
same_series() { [ "$(series_of "$1")" = "$(series_of "$2")" ] && [ -n "$(series_of "$1")" ]; }
check "ejabberdctl s2s_trust_metrics: the same series as the page" -- same_series "$CTL_OUT" "$OUT/1.txt"
check "ejabberdctl s2s_trust_metrics: the refusals counted" -- ge "$CTL_OUT" "$(series_in in refused expired)" 1

refused_in='ejabberd_s2s_trust_verdicts_total{direction="in",outcome="refused",reason="expired"}'
check "prometheus: stored the inbound refusal" -- _lab_poll 20 0.5 prom_ge "$refused_in" 1
# The count now, from the page; Prometheus has caught up when it shows it.
fetch "$OUT/2.txt" >/dev/null
before=$(value "$OUT/2.txt" "$refused_in")
check "prometheus: caught up with the page ($before)" -- _lab_poll 20 0.5 prom_ge "$refused_in" "$before"
# d.test tries again on a new stream (its last one was refused and closed).
lab_prosody_restart d || true
lab_send dave@d.test alice@a.test "d to a again"
# (the module's WARNING for d.test is throttled to one a minute; ejabberd's
# own line about the closed stream is not)
check "traffic: d -> a refused again" a d -- \
    lab_assert_not_delivered alice@a.test "d to a again" a \
    'Closing inbound s2s connection d\.test -> a\.test: .*Certificate refused \(mod_s2s_trust\): expired'
check "prometheus: the value moved with the scenario" -- _lab_poll 20 0.5 prom_ge "$refused_in" "$((before + 1))"

check "lab: every listener of the lab on loopback" -- lab_assert_loopback_only
stop_prometheus
e2e_summary
