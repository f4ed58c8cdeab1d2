#!/usr/bin/env bash
# tests/e2e/test_load.sh - load, end to end: a peer ejabberd hosting 50
# virtual domains, each with its own certificate (good, self-signed,
# expired, not yet valid, unknown CA), all federating with a.test (ejabberd +
# mod_s2s_trust) at once, twice. Every domain's verdict must be right, the
# violators list exactly the bad ones with the right reasons, no record
# lost; then a.test is killed with SIGKILL in the middle of a round,
# restarted, and the list is intact.
# Output: "ok NAME" / "FAIL NAME" per case, then "N passed, N failed".
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
: "${LAB_DIR:=/tmp/s2s-trust-lab-load}"
# shellcheck source=tests/e2e/lab.sh
source "$HERE/lab.sh"

VHOSTS=${LOAD_VHOSTS:-50}
# shellcheck source=tests/e2e/testing.sh
source "$HERE/testing.sh"
E2E_LOGS=(a v)

# The kind of certificate virtual host N gets, and the verdict it must earn.
# (No wrong-name kind here: ejabberd presents, for a domain none of its
# certificates names, some other certificate of its own choosing; the
# Prosody peers of test_module.sh cover name_mismatch.)
kind_of() { case $(($1 % 5)) in 0) echo good ;; 1) echo selfsigned ;; 2) echo expired ;;
                                3) echo notyet ;; 4) echo unknownroot ;; esac; }
reason_of() { case $(kind_of "$1") in good) echo ok ;; selfsigned) echo self_signed ;;
              expired) echo expired ;; notyet) echo not_yet_valid ;; unknownroot) echo unknown_issuer ;; esac; }

lab_init || exit 1
lab_issue_leaf a a.test >/dev/null
lab_issue_leaf v v.test >/dev/null
VH_OPTS=()
for i in $(seq 1 "$VHOSTS"); do
    case $(kind_of "$i") in
        good) lab_issue_leaf "v$i" "v$i.test" >/dev/null ;;
        selfsigned) lab_issue_leaf "v$i" "v$i.test" selfsigned >/dev/null ;;
        expired) lab_issue_leaf "v$i" "v$i.test" expired >/dev/null ;;
        notyet) lab_issue_leaf "v$i" "v$i.test" notyet >/dev/null ;;
        unknownroot) lab_issue_leaf "v$i" "v$i.test" issuer=inter2 >/dev/null ;;
    esac || exit 1
    VH_OPTS+=("vhost=v$i.test=v$i")
done
lab_trust_config || exit 1

lab_ejabberd_start a a.test 127.0.0.2 a starttls=required dialback=yes code="$LAB_REPO" nowait \
    modules="mod_s2s_trust: {trust_config: \"$TRUST/trust.conf\"}" || exit 1
lab_ejabberd_start v v.test 127.0.0.3 v starttls=required dialback=yes nowait "${VH_OPTS[@]}" || exit 1
lab_wait_ready a v || exit 1
lab_register alice@a.test pw || exit 1

# One RPC on the peer sends from every virtual host at once: 50 inbound
# s2s streams to a.test, set up concurrently.
round() { # TAG
    lab_rpc v "[mod_admin_extra:send_message(<<\"chat\">>, <<\"u@v\", (integer_to_binary(N))/binary, \".test\">>, <<\"alice@a.test\">>, <<>>, <<\"$1 from v\", (integer_to_binary(N))/binary, \".\">>) || N <- lists:seq(1, $VHOSTS)], ok" >/dev/null
}
good_ones() { for i in $(seq 1 "$VHOSTS"); do [ "$(kind_of "$i")" = good ] && echo "$i"; done; }
bad_ones() { for i in $(seq 1 "$VHOSTS"); do [ "$(kind_of "$i")" != good ] && echo "$i"; done; }

all_good_delivered() { # TAG
    local i
    for i in $(good_ones); do lab_wait_delivered alice@a.test "$1 from v$i." 30 || return 1; done
}
no_bad_delivered() { # TAG
    local i
    for i in $(bad_ones); do ! lab_has_message alice@a.test "$1 from v$i." || { echo "     v$i got through"; return 1; }; done
}
# The list, exactly: every bad domain with its reason, and nothing else.
list_exact() {
    local want got
    want=$(for i in $(bad_ones); do printf 'v%s.test %s\n' "$i" "$(reason_of "$i")"; done | sort)
    got=$(lab_ctl a s2s_trust_violators | awk '{print $1, $2}' | sort)
    [ "$want" = "$got" ] || { diff <(echo "$want") <(echo "$got") | sed 's/^/     /'; return 1; }
}
all_refused_once_each() { # MIN: every bad domain counted at least MIN times
    local min=$1
    lab_ctl a s2s_trust_violators | awk -v min="$min" '$NF < min { bad = 1; print "     " $1 " counted " $NF } END { exit bad }'
}
wait_all_recorded() { _lab_poll 60 0.5 list_exact; }

round r1
check "round 1: every good domain delivered" all_good_delivered r1
check "round 1: every bad domain recorded with the right reason, nothing else" wait_all_recorded
check "round 1: no bad domain delivered" no_bad_delivered r1

# Each round after the first on new streams, so every domain authenticates anew.
fresh_streams() { lab_ctl a stop_s2s_connections >/dev/null; lab_ctl v stop_s2s_connections >/dev/null; }

# Round 2: every bad domain is refused again and counted.
fresh_streams
round r2
check "round 2: every good domain delivered" all_good_delivered r2
count_twice() { all_refused_once_each 2 >/dev/null; }
check "round 2: every bad domain counted twice, none lost" _lab_poll 60 0.5 count_twice
check "round 2: no bad domain delivered" no_bad_delivered r2

# Round 3, and SIGKILL while it is being set up.
fresh_streams
round r3
lab_ejabberd_kill9 a
lab_ejabberd_restart a || lab_ejabberd_start a a.test 127.0.0.2 a starttls=required dialback=yes \
    code="$LAB_REPO" modules="mod_s2s_trust: {trust_config: \"$TRUST/trust.conf\"}" || exit 1
check "after kill -9 and restart: the list is intact" list_exact
check "after kill -9 and restart: no count went backwards" all_refused_once_each 2
lab_ctl v stop_s2s_connections >/dev/null
round r4
check "after restart: good domains delivered again" all_good_delivered r4
count_thrice() { all_refused_once_each 3 >/dev/null; }
check "after restart: every bad domain refused and counted again" _lab_poll 60 0.5 count_thrice
check "after restart: bad domains still not delivered" no_bad_delivered r4

e2e_summary
