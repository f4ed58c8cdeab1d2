#!/usr/bin/env bash
# tests/sql/test_sql.sh - the violators list on PostgreSQL (db_type: sql,
# docs/storage.md) inside Debian's real ejabberd, with a real PostgreSQL
# started here on 127.0.0.1:55432 as a throwaway cluster.
#
#   a.test   ejabberd + mod_s2s_trust, first on Mnesia, then switched to sql
#   a2.test  a second ejabberd node in a.test's cluster, also on sql
#   b.test   ejabberd, trusted          c.test  Prosody, self-signed
#
# What it proves: the switch from Mnesia moves the rows; the table is
# created (and, on 23.10+, registered with ejabberd_sql_schema); verdicts
# both ways are recorded in SQL and read back by the commands, the export,
# the web admin page, the check and the metrics; a restart keeps them; a
# database that stops changes no verdict, its violations wait and are
# written when it returns; the cluster shares the table.
#
# Output: "ok NAME" / "FAIL NAME" per case, then "N passed, N failed".
#   LAB_DIR=/tmp/s2s-lab-sql flock /tmp/s2s-lab.lock bash tests/sql/test_sql.sh
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
: "${LAB_DIR:=/tmp/s2s-lab-sql}"
: "${LAB_DIST_BASE:=27500}"
# shellcheck source=tests/e2e/lab.sh
source "$HERE/../e2e/lab.sh"
# shellcheck source=tests/e2e/testing.sh
source "$HERE/../e2e/testing.sh"
# shellcheck source=tests/sql/pg.sh
source "$HERE/pg.sh"
E2E_LOGS=(a)

PG_PORT=55432
PG_DIR=$LAB_DIR/pg
HTTP_PORT=5281
ADMIN=admin@a.test
ADMIN_PW=admin-pw-$RANDOM

epmd_was_running=0
(echo >/dev/tcp/127.0.0.1/4369) 2>/dev/null && epmd_was_running=1
stop_epmd() { [ "$epmd_was_running" = 1 ] || ERL_EPMD_ADDRESS=127.0.0.1 epmd -kill >/dev/null 2>&1 || true; }

lab_init || exit 1
trap 'pg_stop "$PG_DIR"; lab_teardown; stop_epmd' EXIT
pg_start "$PG_DIR" "$PG_PORT" || { echo "PostgreSQL did not start"; exit 1; }
sql() { pg_sql "$PG_PORT" "$@"; }

lab_add_host a2.test 127.0.0.52 || exit 1
lab_issue_leaf a a.test >/dev/null
lab_issue_leaf a2 a2.test >/dev/null
lab_issue_leaf b b.test >/dev/null
lab_issue_leaf c c.test selfsigned >/dev/null
lab_trust_config || exit 1

# ejabberd 23.10+ knows update_sql_schema (23.01 refuses an unknown option).
# Its schema tracking acts under new_sql_schema: false (under true, 24.12
# only for vhosts with auth_method sql): the tables of this test have no
# server_host column either way (docs/storage.md).
SCHEMA_OPT=''
if dpkg --compare-versions "$(lab_ejabberd_version)" ge 23.10; then
    SCHEMA_OPT=$'\nupdate_sql_schema: true'
fi
YAML="sql_type: pgsql
sql_server: \"127.0.0.1\"
sql_port: $PG_PORT
sql_database: ejabberd_test
sql_username: ejabberd
sql_password: \"\"
sql_pool_size: 2
sql_start_interval: 1
sql_query_timeout: 5
new_sql_schema: false$SCHEMA_OPT
acl:
  admin:
    user: \"$ADMIN\"
access_rules:
  configure:
    allow: admin
$LAB_API_PERMS"
module() { printf 'mod_s2s_trust:\n  trust_config: "%s"\n  db_type: %s\n' "$TRUST/trust.conf" "$1"; }

# ---- on Mnesia first: a violation to migrate ----------------------------------
lab_ejabberd_start a a.test 127.0.0.2 a starttls=required dialback=yes code="$LAB_REPO" \
    http_api=$HTTP_PORT http_handler=/admin=ejabberd_web_admin yaml="$YAML" \
    modules="$(module mnesia)" nowait || exit 1
lab_ejabberd_start b b.test 127.0.0.3 b starttls=required dialback=yes nowait || exit 1
lab_prosody_start c c.test 127.0.0.4 c - secure_auth=false nowait || exit 1
lab_wait_ready a b c || exit 1
for u in alice@a.test "$ADMIN:$ADMIN_PW" bob@b.test carol@c.test; do
    lab_register "${u%%:*}" "$( [[ $u == *:* ]] && echo "${u#*:}" || echo pw)" >/dev/null || exit 1
done

lab_send carol@c.test alice@a.test "c to a on mnesia"
check "on mnesia: a refuses the self-signed peer" lab_assert_not_delivered alice@a.test \
    "c to a on mnesia" a "refused inbound s2s stream of c\.test: self_signed"
mnesia_rows() { lab_rpc a 'mnesia:table_info(s2s_trust_violation, size)'; }
check "on mnesia: the row is in Mnesia, no table in SQL yet" \
    eval '[ "$(mnesia_rows)" = 1 ] && [ -z "$(sql "select to_regclass('"'"'s2s_trust_violators'"'"')")" ]'
MNESIA_COUNT=$(lab_ctl a s2s_trust_violators | awk '$1 == "c.test" { print $NF }')

# ---- switch to sql: what an operator does ---------------------------------------
sed -i 's/^    db_type: mnesia$/    db_type: sql/' "$LAB_DIR/a/etc/ejabberd.yml"
grep -q '^    db_type: sql$' "$LAB_DIR/a/etc/ejabberd.yml" || { echo "could not switch db_type"; exit 1; }
lab_ejabberd_restart a || exit 1
columns=$(sql "select string_agg(column_name || ':' || data_type, ',' order by column_name)
               from information_schema.columns where table_name = 's2s_trust_violators'")
check "the module created its table" grep -q \
    'count:bigint,directions:text,domain:text,first_seen:bigint,last_details:text,last_outcome:text,last_reason:text,last_seen:bigint,last_seen_us:bigint,reasons:text' \
    <<<"$columns"
if [ -n "$SCHEMA_OPT" ]; then
    check "ejabberd_sql_schema knows the table's version" \
        eval '[ "$(sql "select version from schema_version where module = '"'"'mod_s2s_trust'"'"'")" = 1 ]'
else
    echo "n/a  ejabberd_sql_schema (ejabberd $(lab_ejabberd_version) has none; the module's own CREATE TABLE made it)"
fi
moved() { [ "$(sql "select count || ' ' || reasons from s2s_trust_violators where domain = 'c.test'")" = "$MNESIA_COUNT self_signed" ]; }
check "the Mnesia row moved into SQL, count kept" _lab_poll 20 0.2 moved
check "and left Mnesia" eval '[ "$(mnesia_rows)" = 0 ]'

# ---- verdicts recorded in SQL ----------------------------------------------------
sql_count() { sql "select coalesce((select count from s2s_trust_violators where domain = '$1'), 0)"; }
BEFORE=$(sql_count c.test)
lab_send bob@b.test alice@a.test "b to a on sql"
check "b -> a delivered" lab_wait_delivered alice@a.test "b to a on sql"
lab_send alice@a.test bob@b.test "a to b on sql"
check "a -> b delivered" lab_wait_delivered bob@b.test "a to b on sql"
lab_send alice@a.test carol@c.test "a to c on sql"
check "a -> c refused" lab_assert_not_delivered carol@c.test "a to c on sql" a \
    "refused outbound s2s stream of c\.test: self_signed"
both_ways() { [ "$(sql "select directions from s2s_trust_violators where domain = 'c.test'")" = in,out ]; }
check "the refusal is in SQL: directions in,out, count grew" \
    eval '_lab_poll 20 0.2 both_ways && [ "$(sql_count c.test)" -gt "$BEFORE" ]'
check "b.test is not in the list" eval '[ "$(sql_count b.test)" = 0 ]'
check "s2s_trust_violators lists c.test from SQL" \
    eval 'lab_ctl a s2s_trust_violators | grep -Eq "^c\.test[[:space:]]+self_signed[[:space:]]+in/out"'
check "s2s_trust_export markdown" \
    eval 'lab_ctl a s2s_trust_export markdown | grep -q "^+ c\.test — self_signed"'
check "s2s_trust_export json" \
    eval 'lab_ctl a s2s_trust_export json | python3 -c "import json,sys; d=json.load(sys.stdin); sys.exit(0 if [v[\"domain\"] for v in d] == [\"c.test\"] else 1)"'
check "s2s_trust_check c.test" eval 'lab_ctl a s2s_trust_check c.test | grep -q self_signed'
metric() { lab_ctl a s2s_trust_metrics | awk -v n="ejabberd_s2s_trust_$1" '$1 == n { print $2 }'; }
check "metrics: violators 1" eval '[ "$(metric violators)" = 1 ] || { metric violators; false; }'
audit_storage() { # STATUS TEXT: the posture audit's violators_storage line for a.test
    lab_ctl a s2s_trust_audit text | grep -Eq -- "^  \[$1\] violators_storage +$2"
}
check "audit: violators_storage passes, names SQL" audit_storage pass 'violators list in SQL \(the SQL pool of a\.test\)$'
admin_page() {
    python3 - "http://127.0.0.2:$HTTP_PORT/admin/server/a.test/s2s_trust/" "$ADMIN" "$ADMIN_PW" <<'EOF'
import base64, re, sys, urllib.request
req = urllib.request.Request(sys.argv[1])
req.add_header("Authorization", "Basic " + base64.b64encode((sys.argv[2] + ":" + sys.argv[3]).encode()).decode())
page = urllib.request.urlopen(req, timeout=10).read().decode()
m = re.search(r"""id=['"]s2s-trust-violators['"]""", page)
table = page[m.start():page.find("</table>", m.start())] if m else ""
ok = "c.test" in table and "self_signed" in table and "b.test" not in table
if not ok:
    print(page[:3000], file=sys.stderr)
sys.exit(0 if ok else 1)
EOF
}
check "the web admin page shows the SQL list" admin_page

# ---- restart: the list is the database's ------------------------------------------
COUNT=$(sql_count c.test)
lab_ejabberd_restart a || exit 1
check "after a restart the list is intact" \
    eval 'lab_ctl a s2s_trust_violators | grep -Eq "^c\.test[[:space:]]+self_signed[[:space:]]+in/out[[:space:]].*[[:space:]]$COUNT$"'

# ---- the database stops: verdicts stand, violations wait ---------------------------
pg_stop "$PG_DIR"
lab_mark a
lab_send carol@c.test alice@a.test "c to a, database down"
check "database down: c.test still refused" lab_assert_not_delivered alice@a.test \
    "c to a, database down" a "refused inbound s2s stream of c\.test: self_signed"
lab_send bob@b.test alice@a.test "b to a, database down"
check "database down: b.test still delivered" lab_wait_delivered alice@a.test "b to a, database down"
pending() { lab_ctl a s2s_trust_metrics | grep -Eq '^ejabberd_s2s_trust_storage_pending [1-9]'; }
check "the violation is pending (metrics)" _lab_poll 20 0.2 pending
check "the failure is logged" lab_wait_log a "writing the violators list to SQL failed"
check "audit: violators_storage warns, counts what waits" \
    audit_storage warn 'violators list in SQL \(the SQL pool of a\.test\): [1-9][0-9]* domain\(s\) of violations wait'
check "s2s_trust_violators says the database is unavailable" \
    eval '! lab_ctl a s2s_trust_violators >/dev/null 2>&1'
pg_start "$PG_DIR" "$PG_PORT" || { echo "PostgreSQL did not restart"; exit 1; }
written() { [ "$(sql_count c.test)" -gt "$COUNT" ] 2>/dev/null; }
check "the database back: the waiting violation is written" _lab_poll 60 0.5 written
drained() { lab_ctl a s2s_trust_metrics | grep -Eq '^ejabberd_s2s_trust_storage_pending 0$'; }
check "nothing pending, nothing dropped" \
    eval '_lab_poll 20 0.2 drained && lab_ctl a s2s_trust_metrics | grep -Eq "^ejabberd_s2s_trust_storage_dropped_total 0$"'

check "every lab socket is on loopback, no epmd" lab_assert_loopback_only

# ---- a cluster on one database (epmd on 127.0.0.1, stopped at the end) -------------------
# a.test again, now reachable through epmd for a2 to join (same spool).
lab_ejabberd_stop a || exit 1
lab_ejabberd_start a a.test 127.0.0.2 a starttls=required dialback=yes code="$LAB_REPO" \
    cluster=a http_api=$HTTP_PORT yaml="$YAML" modules="$(module sql)" || exit 1
lab_ejabberd_start a2 a2.test 127.0.0.52 a2 starttls=required dialback=yes code="$LAB_REPO" \
    cluster=a yaml="$YAML" modules="$(module sql)" || exit 1
lab_ctl a2 join_cluster lab_a@localhost >/dev/null
in_cluster() { lab_rpc a 'lists:sort(ejabberd_cluster:get_nodes())' | grep -q "lab_a2@localhost"; }
check "a2 joins a's cluster" _lab_poll 60 0.5 in_cluster
lab_wait_ready a2 || exit 1
lab_register dave@a2.test pw >/dev/null
C1=$(sql_count c.test)
lab_send carol@c.test dave@a2.test "c to a2"
check "a2 refuses c.test" lab_assert_not_delivered dave@a2.test "c to a2" a2 \
    "refused inbound s2s stream of c\.test: self_signed"
grew() { [ "$(sql_count c.test)" -gt "$C1" ]; }
check "a2 writes its violation to the shared table" _lab_poll 20 0.2 grew
C2=$(sql_count c.test)
lab_ctl a s2s_trust_forget c.test >/dev/null
check "forget on a removes the row for both" \
    eval '[ "$(sql_count c.test)" = 0 ] && ! lab_ctl a2 s2s_trust_violators | grep -q "^c\.test"'
lab_send carol@c.test dave@a2.test "c to a2 again"
on_a() { lab_ctl a s2s_trust_violators | grep -Eq '^c\.test[[:space:]]+self_signed'; }
check "a violation a2 records is listed on a" _lab_poll 30 0.5 on_a
check "count restarted from the forget (was $C2)" eval '[ "$(sql_count c.test)" -ge 1 ] && [ "$(sql_count c.test)" -lt "$C2" ]'

# ---- the bound on SQL: max_violators 5 on a2, twelve domains recorded in time order -----
sed -i 's/^    db_type: sql$/    db_type: sql\n    max_violators: 5/' "$LAB_DIR/a2/etc/ejabberd.yml"
lab_ejabberd_restart a2 || exit 1
lab_rpc a2 "Now = erlang:system_time(second),
    [ok = mod_s2s_trust_violators:record(<<\"flood\", (integer_to_binary(I))/binary, \".test\">>,
                                          in, self_signed, refused, #{}, Now + I) || I <- lists:seq(1, 12)],
    mod_s2s_trust_sql_writer:flush(20000)" >/dev/null
rows() { sql "select count(*) from s2s_trust_violators"; }
newest_kept() { sql "select string_agg(domain, ',' order by last_seen) from s2s_trust_violators"; }
check "past max_violators the table is cut back to it" eval '[ "$(rows)" -le 5 ]'
check "the least recently seen went, the newest stayed" eval '[[ "$(newest_kept)" == *flood11.test,flood12.test ]] && [[ "$(newest_kept)" != *flood1.test,* ]]'
check "the eviction is logged" lab_wait_log a2 "the violators list is full \(max_violators = 5\)"

e2e_summary
