# shellcheck shell=bash
# tests/posh/weblab.sh - a loopback HTTPS lab for the POSH tests: one nginx
# serving named virtual hosts (SNI) on one loopback address and port, each
# with its own certificate and document root, started and stopped by its
# pid. Nothing is installed or left behind outside DIR.
#
#   weblab_site DIR NAME CERT KEY [DIRECTIVE...]
#                                declare a virtual host NAME with its
#                                certificate and key (PEM files); its root
#                                is DIR/www/NAME (made now); each DIRECTIVE
#                                goes verbatim into its server block, e.g.
#                                "return 301 https://x/;" or "ssi on;". The
#                                first site declared answers unknown names.
#   weblab_file DIR NAME PATH     write stdin to DIR/www/NAME/PATH (dirs made)
#   weblab_start DIR ADDR PORT    write DIR/nginx/nginx.conf, start nginx in
#                                the foreground of a background job (its pid
#                                is the master's), wait until ADDR:PORT accepts
#   weblab_stop DIR               TERM the master by its pid, wait for it and
#                                its workers, KILL late. Safe when not running.
#   weblab_pids DIR               the master's pid, then its workers'
#   weblab_show_log DIR           tail of nginx's error log, for failures
#   weblab_silent_start DIR ADDR PORT
#                                a web server gone dark: accepts every
#                                connection and never answers (python3), in
#                                the background; returns once it listens
#   weblab_silent_stop DIR        TERM it by its pid and reap it. Safe when
#                                not running.
#   weblab_silent_most DIR        the most connections it held open at once
#                                (each is read and dropped when its client
#                                closes), 0 if none
#
# DIR is absolute, without blanks; put it under the suite's LAB_DIR so the
# lab's teardown sees nginx (its command line names DIR). ADDR must be
# 127.x.y.z. As root, the workers run as nobody:nogroup (DIR's files are
# made world-readable for them); unprivileged, as the caller. Needs nginx
# (Debian's, 1.22 or later: -e for the early error log). Functions return
# non-zero with a message on stderr; none exits.

: "${WEBLAB_TIMEOUT:=20}"

_weblab_log() { printf 'weblab: %s\n' "$*" >&2; }

_weblab_ms() {
    local t=${EPOCHREALTIME/./}
    echo $((t / 1000))
}

_weblab_check_dir() {
    if [[ $1 != /* || $1 =~ [[:space:]\"\'\;] || $1 == / ]]; then
        _weblab_log "DIR must be absolute, without blanks, quotes or ';': '$1'"
        return 1
    fi
}

_weblab_check_name() {
    if [[ ! $1 =~ ^([a-z0-9]([a-z0-9-]*[a-z0-9])?\.)*[a-z0-9]([a-z0-9-]*[a-z0-9])?$ ]]; then
        _weblab_log "site name must be a lower-case LDH name: '$1'"
        return 1
    fi
}

_weblab_alive() { [ -n "$1" ] && kill -0 "$1" 2>/dev/null; }

# The master's pid when it runs: the recorded pid, if that process's
# command line still names DIR's config.
_weblab_pid() {
    local pid args
    pid=$(cat "$1/nginx/job.pid" 2>/dev/null) && _weblab_alive "$pid" || return 0
    { mapfile -d '' -t args <"/proc/$pid/cmdline"; } 2>/dev/null
    [[ " ${args[*]} " == *" $1/nginx/nginx.conf "* ]] && echo "$pid"
}

_weblab_nginx() {
    command -v nginx 2>/dev/null || { [ -x /usr/sbin/nginx ] && echo /usr/sbin/nginx; }
}

# weblab_site DIR NAME CERT KEY [DIRECTIVE...]
weblab_site() {
    local dir=$1 name=$2 cert=$3 key=$4 s
    shift 4
    _weblab_check_dir "$dir" && _weblab_check_name "$name" || return 1
    if [ ! -r "$cert" ] || [ ! -r "$key" ]; then
        _weblab_log "$name: certificate or key not readable: $cert $key"
        return 1
    fi
    s=$dir/sites/$name
    [ -e "$s" ] && { _weblab_log "site $name already declared in $dir"; return 1; }
    mkdir -p "$s" "$dir/www/$name" || return 1
    printf '%s\n' "$cert" >"$s/cert"
    printf '%s\n' "$key" >"$s/key"
    printf '%s\n' "$@" >"$s/extra"
    echo "$name" >>"$dir/sites/order"
}

# weblab_file DIR NAME PATH < CONTENT
weblab_file() {
    local dir=$1 name=$2 path=$3
    [ -d "$dir/www/$name" ] || { _weblab_log "no site $name in $dir (weblab_site first)"; return 1; }
    [[ $path == /* || $path == *..* ]] && { _weblab_log "PATH is relative, without '..': '$path'"; return 1; }
    mkdir -p "$(dirname "$dir/www/$name/$path")" && cat >"$dir/www/$name/$path"
}

_weblab_write_conf() {
    local dir=$1 addr=$2 port=$3 name first=default_server user=
    [ "$(id -u)" = 0 ] && user="user nobody nogroup;"
    mkdir -p "$dir/nginx/tmp" || return 1
    {
        cat <<EOF
# written by tests/posh/weblab.sh
daemon off;
master_process on;
worker_processes 1;
$user
pid $dir/nginx/nginx.pid;
error_log $dir/nginx/error.log info;
events { worker_connections 64; }
http {
    access_log $dir/nginx/access.log;
    client_body_temp_path $dir/nginx/tmp/body;
    proxy_temp_path $dir/nginx/tmp/proxy;
    fastcgi_temp_path $dir/nginx/tmp/fastcgi;
    uwsgi_temp_path $dir/nginx/tmp/uwsgi;
    scgi_temp_path $dir/nginx/tmp/scgi;
    types { application/json json; }
    default_type application/json;
    server_tokens off;
    ssl_protocols TLSv1.2 TLSv1.3;
EOF
        while read -r name; do
            printf '    server {\n        listen %s:%s ssl %s;\n        server_name %s;\n' "$addr" "$port" "$first" "$name"
            printf '        ssl_certificate %s;\n        ssl_certificate_key %s;\n' \
                "$(cat "$dir/sites/$name/cert")" "$(cat "$dir/sites/$name/key")"
            printf '        root %s/www/%s;\n' "$dir" "$name"
            sed 's/^/        /' "$dir/sites/$name/extra"
            printf '    }\n'
            first=
        done <"$dir/sites/order"
        echo "}"
    } >"$dir/nginx/nginx.conf"
}

# Something listens on ADDR:PORT (TCP, that address or 0.0.0.0).
_weblab_in_use() {
    local a b c d want
    IFS=. read -r a b c d <<<"$1"
    want=$(printf '%02X%02X%02X%02X:%04X' "$d" "$c" "$b" "$a" "$2")
    awk -v w="$want" -v a="00000000:${want#*:}" 'FNR > 1 && ($2 == w || $2 == a) && $4 == "0A" { f = 1 }
        END { exit !f }' /proc/net/tcp
}

# weblab_start DIR ADDR PORT
weblab_start() {
    local dir=$1 addr=$2 port=$3 nginx t0 pid deadline
    t0=$(_weblab_ms)
    _weblab_check_dir "$dir" || return 1
    if [[ ! $addr =~ ^127\.[0-9]+\.[0-9]+\.[0-9]+$ ]] || [[ ! $port =~ ^[0-9]+$ ]] || ((port < 1 || port > 65535)); then
        _weblab_log "address must be 127.x.y.z and a port: '$addr' '$port'"
        return 1
    fi
    nginx=$(_weblab_nginx) || { _weblab_log "nginx is not installed (make deps)"; return 1; }
    [ -s "$dir/sites/order" ] || { _weblab_log "no site in $dir (weblab_site first)"; return 1; }
    if _weblab_alive "$(_weblab_pid "$dir")"; then
        _weblab_log "nginx of $dir already runs (pid $(_weblab_pid "$dir"))"
        return 1
    fi
    if _weblab_in_use "$addr" "$port"; then
        _weblab_log "$addr:$port is already in use (another lab, or a stale nginx)"
        return 1
    fi
    _weblab_write_conf "$dir" "$addr" "$port" || return 1
    # Workers running as nobody read the documents.
    [ "$(id -u)" = 0 ] && chmod -R a+rX "$dir/www"
    if ! "$nginx" -t -q -p "$dir/nginx" -e "$dir/nginx/error.log" -c "$dir/nginx/nginx.conf"; then
        _weblab_log "nginx -t refused $dir/nginx/nginx.conf"
        return 1
    fi
    echo "=== start $(date -u +%FT%TZ)" >>"$dir/nginx/nginx.out"
    "$nginx" -p "$dir/nginx" -e "$dir/nginx/error.log" -c "$dir/nginx/nginx.conf" </dev/null >>"$dir/nginx/nginx.out" 2>&1 &
    pid=$!
    echo "$pid" >"$dir/nginx/job.pid"
    deadline=$(($(_weblab_ms) + WEBLAB_TIMEOUT * 1000))
    until (exec 3<>"/dev/tcp/$addr/$port") 2>/dev/null; do
        if ! _weblab_alive "$pid" || (($(_weblab_ms) >= deadline)); then
            _weblab_log "nginx on $addr:$port not accepting within ${WEBLAB_TIMEOUT}s"
            weblab_show_log "$dir"
            weblab_stop "$dir"
            return 1
        fi
        sleep 0.02
    done
    WEBLAB_START_MS=$(($(_weblab_ms) - t0))
    _weblab_log "nginx (pid $pid) serving $(tr '\n' ' ' <"$dir/sites/order")on $addr:$port, ready in ${WEBLAB_START_MS} ms"
}

_weblab_none_alive() {
    local p
    for p; do _weblab_alive "$p" && return 1; done
    return 0
}

_weblab_wait_gone() { # SECONDS PID...
    local deadline=$(($(_weblab_ms) + $1 * 1000))
    shift
    until _weblab_none_alive "$@"; do
        (($(_weblab_ms) >= deadline)) && return 1
        sleep 0.02
    done
}

# weblab_stop DIR
weblab_stop() {
    local dir=$1 pid pids p
    pid=$(_weblab_pid "$dir")
    _weblab_alive "$pid" || { rm -f "$dir/nginx/job.pid"; return 0; }
    mapfile -t pids < <(weblab_pids "$dir")
    kill -TERM "$pid" 2>/dev/null
    if ! _weblab_wait_gone 10 "${pids[@]}"; then
        _weblab_log "nginx (pid $pid) did not stop on TERM; killing it"
        for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null; done
        _weblab_wait_gone 5 "${pids[@]}"
    fi
    wait "$pid" 2>/dev/null
    rm -f "$dir/nginx/job.pid"
}

# weblab_pids DIR: the master's pid, then its workers'.
weblab_pids() {
    local pid
    pid=$(_weblab_pid "$1")
    _weblab_alive "$pid" || return 0
    echo "$pid"
    cat "/proc/$pid/task/"*/children 2>/dev/null | tr ' ' '\n' | sed '/^$/d'
}

weblab_show_log() {
    local f
    for f in "$1/nginx/error.log" "$1/nginx/nginx.out"; do
        [ -s "$f" ] || continue
        echo "----- tail of $f -----" >&2
        tail -n "${WEBLAB_TAIL_LINES:-15}" "$f" >&2
    done
}

# weblab_silent_start DIR ADDR PORT: the silent server (see the head).
weblab_silent_start() {
    local dir=$1 addr=$2 port=$3 pid deadline
    _weblab_check_dir "$dir" || return 1
    case $addr in 127.*) ;; *) _weblab_log "the silent server's ADDR must be in 127/8: $addr"; return 1 ;; esac
    mkdir -p "$dir/silent" || return 1
    rm -f "$dir/silent/out" "$dir/silent/most"
    python3 -c 'import selectors, socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], int(sys.argv[2])))
s.listen(64)
sel = selectors.DefaultSelector()
sel.register(s, selectors.EVENT_READ)
open_now = most = 0
print("ready", flush=True)
while True:
    for key, _ in sel.select():
        if key.fileobj is s:
            c, _ = s.accept()
            sel.register(c, selectors.EVENT_READ)
            open_now += 1
            if open_now > most:
                most = open_now
                with open(sys.argv[3] + ".tmp", "w") as f:
                    f.write("%d\n" % most)
                __import__("os").replace(sys.argv[3] + ".tmp", sys.argv[3])
        else:
            try:
                data = key.fileobj.recv(65536)
            except OSError:
                data = b""
            if not data:
                sel.unregister(key.fileobj)
                key.fileobj.close()
                open_now -= 1' "$addr" "$port" "$dir/silent/most" >"$dir/silent/out" 2>&1 &
    pid=$!
    echo "$pid" >"$dir/silent/pid"
    deadline=$(($(_weblab_ms) + WEBLAB_TIMEOUT * 1000))
    until grep -q ready "$dir/silent/out" 2>/dev/null; do
        if ! _weblab_alive "$pid" || (($(_weblab_ms) >= deadline)); then
            _weblab_log "the silent server on $addr:$port did not start: $(cat "$dir/silent/out" 2>/dev/null)"
            weblab_silent_stop "$dir"
            return 1
        fi
        sleep 0.02
    done
}

# weblab_silent_stop DIR
weblab_silent_stop() {
    local pid
    pid=$(cat "$1/silent/pid" 2>/dev/null) || return 0
    if _weblab_alive "$pid"; then
        kill -TERM "$pid" 2>/dev/null
        _weblab_wait_gone 5 "$pid" || kill -KILL "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
    fi
    rm -f "$1/silent/pid"
}

# weblab_silent_most DIR: the most connections held open at once.
weblab_silent_most() { cat "$1/silent/most" 2>/dev/null || echo 0; }
