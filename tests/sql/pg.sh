# shellcheck shell=bash
# tests/sql/pg.sh - a throwaway PostgreSQL cluster on loopback for the SQL
# storage tests: Debian's server binaries, a data dir under the lab, TCP on
# 127.0.0.1 only, trust authentication for the test role, fsync off. Stopped
# by its pid (pg_ctl's postmaster.pid), never a system cluster.
#
#   pg_start DIR PORT     initdb (first time) + start; creates ejabberd_test
#   pg_stop DIR           fast stop; waits until the postmaster is gone
#   pg_sql PORT SQL       run SQL in ejabberd_test; rows unaligned, '|'-separated
#   pg_createdb PORT NAME one more database
#
# initdb refuses root: as root, the cluster runs as the postgres user.

pg_bin() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1; }

_pg_as() {
    if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

pg_start() {
    local dir=$1 port=$2 bin
    bin=$(pg_bin)
    [ -n "$bin" ] || { echo "pg: no PostgreSQL server (make deps installs it)" >&2; return 1; }
    mkdir -p "$dir"
    [ "$(id -u)" != 0 ] || chown postgres "$dir"
    if [ ! -f "$dir/data/PG_VERSION" ]; then
        _pg_as "$bin/initdb" -D "$dir/data" -A trust -U ejabberd -E UTF8 --no-locale >"$dir/initdb.log" 2>&1 ||
            { cat "$dir/initdb.log" >&2; return 1; }
    fi
    # -w: pg_ctl returns once the server accepts connections (its own wait,
    # bounded by -t).
    _pg_as "$bin/pg_ctl" -D "$dir/data" -l "$dir/pg.log" -w -t 60 \
        -o "-c listen_addresses=127.0.0.1 -p $port -k $dir -c fsync=off -c full_page_writes=off" \
        start >/dev/null || { tail -n 20 "$dir/pg.log" >&2; return 1; }
    psql -X -q -h 127.0.0.1 -p "$port" -U ejabberd -d postgres -tAc \
        "select 1 from pg_database where datname = 'ejabberd_test'" | grep -q 1 ||
        psql -X -q -h 127.0.0.1 -p "$port" -U ejabberd -d postgres -c "create database ejabberd_test" >/dev/null
}

pg_stop() {
    local dir=$1 bin
    bin=$(pg_bin)
    [ -f "$dir/data/postmaster.pid" ] || return 0
    _pg_as "$bin/pg_ctl" -D "$dir/data" -m fast -w -t 60 stop >/dev/null
}

pg_sql() {
    local port=$1
    shift
    psql -X -q -h 127.0.0.1 -p "$port" -U ejabberd -d ejabberd_test -tA -v ON_ERROR_STOP=1 -c "$*"
}

pg_createdb() { # PORT NAME: one more database (one per ejabberd node that must not share)
    psql -X -q -h 127.0.0.1 -p "$1" -U ejabberd -d postgres -tAc \
        "select 1 from pg_database where datname = '$2'" | grep -q 1 ||
        psql -X -q -h 127.0.0.1 -p "$1" -U ejabberd -d postgres -c "create database $2" >/dev/null
}
