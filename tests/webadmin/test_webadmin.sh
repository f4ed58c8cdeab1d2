#!/usr/bin/env bash
# tests/webadmin/test_webadmin.sh - the posture audit (`s2s_trust_audit`)
# and the web admin page of mod_s2s_trust, against Debian's real ejabberd
# 23.01 on loopback, the page loaded and clicked through in headless
# Chromium (Debian's chromium + chromium-driver, driven by driver.py).
#
#   a.test   ejabberd + mod_s2s_trust (enforce), mod_s2s_dialback, STARTTLS
#            optional, a hand-written s2s_ciphers, an RSA-only certificate;
#            vhost v.test with an expired certificate; web admin on
#            127.0.0.2:5290/admin (admin@a.test), mod_http_api on /api
#   k.test   Prosody, self-signed, subject CN full of HTML (<script>,
#            <b>, quotes, &, a newline)
#   d.test   Prosody, expired certificate
# Plus two rows written straight into the violators table (a domain that is
# itself hostile markup, and an old, busy one) for escaping and sorting.
#
# Run under the lab lock, with a private run dir:
#   flock /tmp/s2s-lab.lock bash tests/webadmin/test_webadmin.sh
# Screenshots and the browser's logs: _build/test/webadmin/.
# Output: "ok NAME" / "FAIL NAME" per case, then "N passed, N failed".
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
: "${LAB_DIR:=/tmp/s2s-lab-webadmin}"
: "${LAB_DIST_BASE:=27300}"
# shellcheck source=tests/e2e/lab.sh
source "$HERE/../e2e/lab.sh"
# shellcheck source=tests/e2e/testing.sh
source "$HERE/../e2e/testing.sh"
E2E_LOGS=(a)

REPO=$LAB_REPO
OUT=${WEBADMIN_OUT:-$REPO/_build/test/webadmin}
STATE=$OUT/browser.json
HTTP_PORT=5290
declare -A IP=([a]=127.0.0.2 [d]=127.0.0.5 [k]=127.0.0.25)
ADMIN=admin@a.test
ADMIN_PW='adm1n-pw'

for bin in /usr/bin/chromedriver /usr/lib/chromium/chromium; do
    [ -x "$bin" ] || { echo "missing $bin: apt-get install chromium chromium-driver (make deps)"; exit 1; }
done
rm -rf "$OUT"
mkdir -p "$OUT"

browser() { python3 "$HERE/driver.py" "$1" "$STATE" "${@:2}"; }
lab_init || exit 1
trap 'browser stop; lab_teardown' EXIT
lab_add_host k.test "${IP[k]}" || exit 1

# ---- certificates and trust ------------------------------------------------------
lab_issue_leaf a a.test rsa || exit 1
lab_issue_leaf v v.test expired || exit 1
lab_issue_leaf d d.test expired || exit 1
# (a CN holds at most 64 characters)
HOSTILE_CN='<script>window.__pwned=1</script><b>x</b>"q"&'\''s
l2'
lab_issue_leaf k k.test selfsigned dns=k.test cn="$HOSTILE_CN" || exit 1

TRUST=$LAB_DIR/trust
mkdir -p "$TRUST"
cp "$LAB_DIR/pki/root.pem" "$LAB_DIR/pki/pool.pem" "$TRUST/"
printf 'ca_file = "root.pem";\nintermediate_file = "pool.pem";\n' >"$TRUST/trust.conf"
# Older than the store that will be built from them: the audit says fresh.
touch -d '1 hour ago' "$TRUST"/*
chmod -R a+rX "$TRUST"

YAML='s2s_ciphers: "HIGH:!aNULL"
acl:
  admin:
    user: "'$ADMIN'"
access_rules:
  configure:
    allow: admin
api_permissions:
  "s2s trust from loopback":
    from: mod_http_api
    who:
      ip: 127.0.0.0/8
    what: "[tag:s2s]"'
MODULE='mod_s2s_trust:
  trust_config: "'$TRUST/trust.conf'"
  mode: enforce'

lab_ejabberd_start a a.test "${IP[a]}" a starttls=optional dialback=yes code="$REPO" \
    http_api=$HTTP_PORT vhost=v.test=v yaml="$YAML" modules="$MODULE" nowait || exit 1
lab_prosody_start k k.test "${IP[k]}" k - secure_auth=false nowait || exit 1
lab_prosody_start d d.test "${IP[d]}" d - secure_auth=false nowait || exit 1
lab_wait_ready a k d || exit 1

# ==== part 1: the posture audit, from ejabberdctl and mod_http_api ================

AUDIT_TXT=$(lab_ctl a s2s_trust_audit text)
printf '%s\n' "$AUDIT_TXT" >"$OUT/audit.txt"
lab_ctl a s2s_trust_audit json >"$OUT/audit.json"
# in_audit HOST STATUS CHECK [TEXT-REGEX]: the text report of HOST has that line.
in_audit() {
    awk -v h="$1:" '$1 == h { on = 1; next } /^[^ ]/ { on = 0 } on' <<<"$AUDIT_TXT" |
        grep -Eq -- "^  \[$2\] $3 +${4:-}"
}
check "audit text: module loaded in enforce mode passes" -- in_audit a.test pass module 'mod_s2s_trust is loaded, mode enforce'
check "audit text: s2s_use_starttls optional fails" -- in_audit a.test fail starttls 's2s_use_starttls is optional'
check "audit text: dialback with the module enforcing passes, says why" -- \
    in_audit a.test pass dialback 'mod_s2s_dialback is loaded and mod_s2s_trust enforces'
check "audit text: hand-written s2s_ciphers warns" -- in_audit a.test warn ciphers 's2s_ciphers is a hand-written list: HIGH:!aNULL'
check "audit text: RSA-only certificate warns" -- in_audit a.test warn cert_key 'only an RSA certificate'
check "audit text: a.test's certificate validates under our verifier" -- \
    in_audit a.test pass cert_name 'RSA certificate \(.*\) validates for a\.test'
check "audit text: a.test's certificate not expiring" -- in_audit a.test pass cert_expiry 'RSA certificate .* valid until'
check "audit text: fresh trust store passes" -- in_audit a.test pass trust_store '[0-9]+ anchors'
check "audit text: v.test's expired certificate fails" -- in_audit v.test fail cert_expiry '.* expired on 2021-01-01'
check "audit text: v.test's expired certificate refused by our verifier" -- in_audit v.test fail cert_name '.*: expired'
fix_lines() { grep -c '^         fix: ' <<<"$AUDIT_TXT"; }
# one fix line per warn/fail
want_fixes=$(grep -cE '^  \[(warn|fail)\] ' <<<"$AUDIT_TXT")
check "audit text: every warn and fail has a one-line fix" -- test "$(fix_lines)" = "$want_fixes" -a "$want_fixes" -gt 0
check "audit text: overall FAIL" -- grep -q '^overall: FAIL' <<<"$AUDIT_TXT"

audit_json_ok() { # the JSON report, per host and check
    python3 - "$OUT/audit.json" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
h = {x["host"]: {c["check"] + ":" + c["status"] for c in x["checks"]} for x in r["hosts"]}
assert r["status"] == "fail", r["status"]
assert {"module:pass", "starttls:fail", "dialback:pass", "ciphers:warn", "cert_key:warn",
        "cert_name:pass", "cert_expiry:pass", "trust_store:pass"} <= h["a.test"], h["a.test"]
assert {"cert_expiry:fail", "cert_name:fail"} <= h["v.test"], h["v.test"]
assert sum(r["counts"].values()) == sum(len(x["checks"]) for x in r["hosts"])
assert all(c["fix"] for x in r["hosts"] for c in x["checks"] if c["status"] != "pass")
EOF
}
check "audit json: valid, same verdicts" -- audit_json_ok

api_audit() { # mod_http_api: the JSON report, the command's string result
    local shape=wrapped
    lab_ejabberd_api_latest && shape=bare
    python3 - "${IP[a]}" $HTTP_PORT $shape <<'EOF'
import json, sys, urllib.request
req = urllib.request.Request("http://%s:%s/api/s2s_trust_audit" % (sys.argv[1], sys.argv[2]),
                             data=json.dumps({"format": "json"}).encode(),
                             headers={"Content-Type": "application/json"})
answer = json.loads(urllib.request.urlopen(req, timeout=10).read())
# 23.01 (API version 0 by default) wraps a string result as {"audit": "..."};
# 24.12 and later answer in the latest API version: the string itself.
if sys.argv[3] == "wrapped":
    assert isinstance(answer, dict), answer
    answer = answer["audit"]
assert isinstance(answer, str), answer
r = json.loads(answer)
assert {x["host"] for x in r["hosts"]} == {"a.test", "v.test"}, r
EOF
}
check "audit over mod_http_api (POST /api/s2s_trust_audit)" -- api_audit
unknown_format() { lab_ctl a s2s_trust_audit yaml | grep -q 'unknown format: use text or json'; }
check "audit: an unknown format is refused" -- unknown_format

# A trust file edited after the store was built: stale until a reload.
built_at=$(lab_rpc a 'maps:get(built_at, s2s_trust:info(mod_s2s_trust_store:of_host(<<"a.test">>)))')
later() { [ "$(date +%s)" -gt "$built_at" ]; }
_lab_poll 5 0.1 later
touch "$TRUST/trust.conf"
AUDIT_TXT=$(lab_ctl a s2s_trust_audit text)
printf '%s\n' "$AUDIT_TXT" >"$OUT/audit-stale.txt"
check "audit: trust.conf changed since the build warns" -- in_audit a.test warn trust_store ".*changed since: $TRUST/trust.conf"
lab_ctl a s2s_trust_reload >/dev/null
AUDIT_TXT=$(lab_ctl a s2s_trust_audit text)
check "audit: after s2s_trust_reload the store is fresh again" -- in_audit a.test pass trust_store

# ==== part 2: the web admin page ====================================================

# The web admin is a request handler of the HTTP listener: what an operator
# adds to ejabberd.yml (docs/webadmin.md), then a restart.
sed -i 's|^      /api: mod_http_api$|      /api: mod_http_api\n      /admin: ejabberd_web_admin|' "$LAB_DIR/a/etc/ejabberd.yml"
grep -q '/admin: ejabberd_web_admin' "$LAB_DIR/a/etc/ejabberd.yml" || { echo "could not enable the web admin"; exit 1; }
lab_ejabberd_restart a || exit 1
for u in "$ADMIN" alice@a.test kim@k.test dave@d.test; do
    pw=pw
    [ "$u" = "$ADMIN" ] && pw=$ADMIN_PW
    lab_register "$u" "$pw" || exit 1
done

# Real violations, after the restart (the counters count since start).
REFUSED_IN='mod_s2s_trust: refused inbound s2s stream of'
REFUSED_OUT='mod_s2s_trust: refused outbound s2s stream of'
lab_send kim@k.test alice@a.test "k to a hostile"
check "hostile k.test -> a refused" a k -- \
    lab_assert_not_delivered alice@a.test "k to a hostile" a "$REFUSED_IN k.test: self_signed"
lab_send dave@d.test alice@a.test "d to a expired"
check "expired d.test -> a refused" a d -- \
    lab_assert_not_delivered alice@a.test "d to a expired" a "$REFUSED_IN d.test: expired"
lab_send alice@a.test kim@k.test "a to k hostile"
check "a -> hostile k.test refused" a k -- \
    lab_assert_not_delivered kim@k.test "a to k hostile" a "$REFUSED_OUT k.test: self_signed"

# Rows no peer could produce through ejabberd's JID checks: the domain
# itself is markup; and an old domain with many violations, for sorting.
HOSTILE_DOMAIN_ERL='<<"x<script>window.__pwned=3</script><img src=x onerror=\"window.__pwned=4\">\x27&\n.test">>'
lab_rpc a "Now = erlang:system_time(second),
    ok = mod_s2s_trust_violators:record($HOSTILE_DOMAIN_ERL, in, bad_signature, refused,
            #{subject => <<\"CN=<b>bold</b>\">>}, Now - 3600),
    [ok = mod_s2s_trust_violators:record(<<\"busy.test\">>, out, expired, refused, #{}, Now - 86400 - I)
     || I <- lists:seq(1, 7)], ok" >/dev/null || e2e_fail "insert crafted rows"
# A survey result with a hostile domain and reason (the CLI escapes, but the
# page must not rely on it): the survey section shows them as text.
lab_rpc a "ok = mnesia:dirty_write({s2s_trust_survey, $HOSTILE_DOMAIN_ERL,
    #{domain => $HOSTILE_DOMAIN_ERL, verdict => accepts_untrusted,
      reason => <<\"<img src=x onerror=\\\"window.__pwned=5\\\">\">>,
      measured_at => erlang:system_time(second), evidence => [], accepted => [], checks => #{}}})" \
    >/dev/null || e2e_fail "insert a crafted survey result"

# ---- the browser -----------------------------------------------------------------------
BASE="http://${IP[a]}:$HTTP_PORT/admin"
unauthorized() {
    python3 - "$BASE/server/a.test/s2s_trust/" <<'EOF'
import sys, urllib.request, urllib.error
try:
    urllib.request.urlopen(sys.argv[1], timeout=10)
except urllib.error.HTTPError as e:
    sys.exit(0 if e.code == 401 else 1)
sys.exit(1)
EOF
}
check "web admin page needs a login (401 without one)" -- unauthorized

browser start "$OUT" >"$OUT/browser-version.txt" || { e2e_fail "start headless chromium"; e2e_summary; exit 1; }
browser auth "$ADMIN" "$ADMIN_PW" || e2e_fail "browser: basic auth header"

# Facts about the loaded page, as JSON in $OUT/facts.json; asserted in Python.
FACTS_JS='
const t = (e) => e ? e.textContent : null;
const rows = [...document.querySelectorAll("#s2s-trust-violators tbody tr")].map(r => ({
  domain: t(r.querySelector(".domain")), reasons: t(r.querySelector(".reasons")),
  count: +t(r.querySelector(".count")), last: t(r.querySelector(".last-seen"))}));
const audit = [...document.querySelectorAll("#s2s-trust-audit tr.s2s-trust-check")].map(r =>
  [r.children[0].textContent, r.dataset.check, r.dataset.status]);
const counters = {};
for (const td of document.querySelectorAll("#s2s-trust-counters td[id]")) counters[td.id] = +td.textContent;
const ours = document.querySelector("#s2s-trust");
return {url: location.href, h1: [...document.querySelectorAll("h1")].map(t),
  rows, audit, counters, shown: t(document.querySelector("#s2s-trust-shown")),
  detail: t(document.querySelector("#s2s-trust-detail")),
  h2: [...document.querySelectorAll("h2")].map(t),
  survey: [...document.querySelectorAll("#s2s-trust-survey tr.s2s-trust-surveyed")].map(r =>
    [r.children[0].textContent, r.dataset.verdict, r.children[2].textContent]),
  survey_status: t(document.querySelector("#s2s-trust-survey-status")),
  tables: ours ? [...ours.querySelectorAll("table")].map(t).join("\n") : "",
  injected: ours ? ours.querySelectorAll("script, img, iframe, table b, h2 *").length : -1,
  pwned: window.__pwned === undefined ? null : window.__pwned,
  error: t(document.querySelector(".s2s-trust-error"))};'
facts() { browser js "$FACTS_JS" >"$OUT/facts.json"; }
# page_ok PYTHON-ASSERTIONS: run them with f = the facts of the current page.
page_ok() {
    facts || return 1
    HOSTILE_CN="$HOSTILE_CN" python3 -c '
import json, os, sys
f = json.load(open(sys.argv[1]))
cn = os.environ["HOSTILE_CN"]
hostile_domain = "x<script>window.__pwned=3</script><img src=x onerror=\"window.__pwned=4\">\x27&\\x0a.test"
'"$1"'
' "$OUT/facts.json" || { echo "     facts: $(head -c 1500 "$OUT/facts.json")"; return 1; }
}

PAGE="$BASE/server/a.test/s2s_trust/"
browser get "$PAGE" || e2e_fail "browser: load $PAGE"
browser screenshot "$OUT/s2s_trust.png" || e2e_fail "screenshot of the list"
check "page: the module's page inside ejabberd's web admin" -- page_ok '
assert "S2S Trust" in f["h1"], f["h1"]
assert f["error"] is None, f["error"]
assert f["h2"][:3] == ["Posture audit", "Counters", "Violators"], f["h2"]'
check "page: violators listed with their reasons" -- page_ok '
d = {r["domain"]: r for r in f["rows"]}
assert d["k.test"]["reasons"] == "self_signed", d
assert d["d.test"]["reasons"] == "expired", d
assert d["busy.test"]["count"] == 7, d'
check "page: hostile domain shown as text, nothing injected, no script ran" -- page_ok '
assert any(r["domain"] == hostile_domain for r in f["rows"]), [r["domain"] for r in f["rows"]]
assert f["injected"] == 0, f["injected"]
assert f["pwned"] is None, f["pwned"]'
check "page: the survey section, hostile names and reasons as text" -- page_ok '
assert "Survey of federation partners" in f["h2"], f["h2"]
assert "idle, 0 queued" in f["survey_status"], f["survey_status"]
assert [hostile_domain, "accepts_untrusted", "<img src=x onerror=\"window.__pwned=5\">"] in f["survey"], f["survey"]
assert f["injected"] == 0 and f["pwned"] is None, (f["injected"], f["pwned"])'
check "page: default sort is last seen, newest first" -- page_ok '
last = [r["last"] for r in f["rows"]]
assert last == sorted(last, reverse=True), last
assert f["rows"][0]["domain"] == "k.test", f["rows"][0]'
check "page: posture audit of a.test (starttls fail, ciphers warn, module pass)" -- page_ok '
a = {(c, s) for h, c, s in f["audit"] if h == "a.test"}
assert {("starttls", "fail"), ("ciphers", "warn"), ("module", "pass"), ("dialback", "pass")} <= a, a
assert all(h == "a.test" for h, c, s in f["audit"]), "host page shows only its host"'
check "page: counters count the refusals since start, per direction" -- page_ok '
c = f["counters"]
assert c["count-in-refused"] >= 2 and c["count-out-refused"] >= 1, c
assert c["count-in-audited"] == 0 and c["count-out-exempted"] == 0, c'

browser click '#sort-count' || e2e_fail "browser: click sort by count"
check "sort by count: most violations first (a real click on the header)" -- page_ok '
assert "sort=count" in f["url"], f["url"]
counts = [r["count"] for r in f["rows"]]
assert counts == sorted(counts, reverse=True) and f["rows"][0]["domain"] == "busy.test", counts'

browser click 'a.s2s-trust-reason[href*="reason=expired"]' || e2e_fail "browser: click filter expired"
check "filter by reason: only expired rows, sort kept" -- page_ok '
assert "reason=expired" in f["url"] and "sort=count" in f["url"], f["url"]
assert sorted(r["domain"] for r in f["rows"]) == ["busy.test", "d.test"], f["rows"]
assert f["shown"].startswith("2 of "), f["shown"]'

browser get "$PAGE" && browser click 'td.domain a[href="?domain=k.test/"]' || e2e_fail "browser: open k.test"
browser screenshot "$OUT/s2s_trust_detail.png" || e2e_fail "screenshot of the detail"
check "detail: k.test explained (verdict, words, subject, names)" -- page_ok '
d = f["detail"]
assert "self_signed" in d and "refused" in d and ("inbound" in d or "outbound" in d), d
assert "Domain k.test" in f["h2"], f["h2"]'
check "detail: hostile CN shown as text (newline made visible), nothing injected" -- page_ok '
assert ("cn" + cn.replace("\n", "\\x0a")) in f["tables"], f["tables"][:800]
assert f["injected"] == 0 and f["pwned"] is None, (f["injected"], f["pwned"])'

browser get "$PAGE?domain=x%3Cscript%3E/" || e2e_fail "browser: unknown domain"
check "detail: a domain never seen says so (query value shown as text)" -- page_ok '
assert "no verdict recorded" in (f["detail"] or ""), f["detail"]
assert "Domain x<script>" in f["h2"] and f["injected"] == 0, f["h2"]'

browser get "$PAGE" && browser click "td.domain a[href^=\"?domain=x%3Cscript\"]" || e2e_fail "browser: open the hostile domain"
check "detail: hostile domain's page, as text" -- page_ok '
assert ("Domain " + hostile_domain) in f["h2"], f["h2"]
assert "CN=<b>bold</b>" in f["detail"] and f["injected"] == 0 and f["pwned"] is None, f["detail"]'

browser get "$BASE/s2s_trust/" || e2e_fail "browser: the global page"
browser screenshot "$OUT/s2s_trust_global.png" || e2e_fail "screenshot of the global page"
check "global page: the audit covers every virtual host" -- page_ok '
assert {h for h, c, s in f["audit"]} == {"a.test", "v.test"}, f["audit"]
assert ("v.test", "cert_expiry", "fail") in [tuple(x) for x in f["audit"]], f["audit"]'
menu_has_item() { browser js 'return [...document.querySelectorAll("a")].some(a => a.textContent === "S2S Trust")' | grep -qx true; }
check "global page: 'S2S Trust' in the web admin's menu" -- menu_has_item
pngs_ok() { local f; for f in s2s_trust s2s_trust_detail s2s_trust_global; do
    [ "$(head -c 8 "$OUT/$f.png" | od -An -tx1 | tr -d ' \n')" = 89504e470d0a1a0a ] || return 1; done; }
check "screenshots saved under ${OUT#"$REPO"/}" -- pngs_ok

browser stop
check "every listener on loopback, no epmd" -- lab_assert_loopback_only
e2e_summary
