#!/bin/sh
# tests/survey/fake_cli.sh - a stand-in for s2s-trust, as ejabberd's survey
# worker runs it (survey_cli), to drive the worker's failure paths: the
# domain (the last argument) says what to do. The test installs a copy in
# a directory every user may write (ejabberd may run as its own user) and
# runs that; the copy writes its pid there first, as DOMAIN.pid, so the
# test can see whether it was killed.
for last; do :; done
dir=$(dirname "$0")
echo $$ >"$dir/$last.pid"
case $last in
    hang.test) exec sleep 600 ;;                     # past every deadline: killed
    big.test) head -c 5000000 /dev/zero | tr "\0" x; exec sleep 600 ;;   # over 4 MB: killed
    exit2.test) echo "usage error" >&2; exit 2 ;;
    garbage.test) echo "this is not JSON"; exit 0 ;;
    *) exit 2 ;;
esac
