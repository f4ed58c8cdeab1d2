# shellcheck shell=bash
# tests/e2e/cli_suite.sh - what the CLI's end-to-end suites against servers
# of their own (tests/dane/test_dane_cli.sh, tests/posh/test_posh_cli.sh)
# share: the binary under test, a run dir of their own, and certificates
# made on the spot with openssl.
#
#   cli_suite_bin TOP             sets S2S_TRUST_BIN, building the CLI when it
#                                 is not given
#   cli_suite_run_dir DIR STOP... makes DIR afresh with a marker file. A DIR
#                                 left by a run killed before its trap (it has
#                                 the marker, or is empty) is first stopped
#                                 with the command STOP... and removed;
#                                 anything else at DIR is left alone (1)
#   cli_suite_mkcert DIR NAME SUBJECT SAN|ca [CA]
#                                 DIR/NAME.pem and .key (EC P-256, 30 days):
#                                 self-signed (a CA when SAN is "ca"), or
#                                 issued by DIR/CA.pem for serverAuth and
#                                 clientAuth
#   cli_suite_stop_pid VAR        kills and reaps the background server whose
#                                 pid is in $VAR, then empties VAR
#   cli_suite_tls_server VAR LOG ADDR:PORT CERT KEY [CHAIN]
#                                 stops the server in $VAR, then starts a TLS
#                                 server (openssl s_server, TLS at once, as an
#                                 XEP-0368 s2s port) on ADDR:PORT (127/8 only)
#                                 presenting CERT (and CHAIN after it), its
#                                 pid in VAR, its output in LOG; returns once
#                                 it accepts (5 s at most, else 1)

cli_suite_bin() {
    if [ -z "${S2S_TRUST_BIN:-}" ]; then
        make -s -C "$1/c_src" cli >/dev/null || { echo "could not build the CLI" >&2; return 1; }
        S2S_TRUST_BIN=$1/priv/bin/s2s-trust
    fi
}

cli_suite_run_dir() {
    local dir=$1 marker=$1/.s2s-trust-lab
    shift
    if [ -e "$dir" ]; then
        if [ -e "$marker" ] || [ -z "$(ls -A "$dir")" ]; then
            "$@"
            rm -rf "$dir"
        else
            echo "$dir exists and is not a lab run dir (no $marker); not touching it" >&2
            return 1
        fi
    fi
    mkdir -p "$dir" && : >"$marker"
}

cli_suite_mkcert() {
    local dir=$1 name=$2 subject=$3 san=$4 ca=${5:-}
    local args=(-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$dir/$name.key"
                -days 30 -subj "$subject")
    if [ -n "$ca" ]; then
        openssl req "${args[@]}" -out "$dir/$name.csr" 2>/dev/null &&
            openssl x509 -req -in "$dir/$name.csr" -CA "$dir/$ca.pem" -CAkey "$dir/$ca.key" \
                -CAcreateserial -days 30 -out "$dir/$name.pem" \
                -extfile <(printf 'subjectAltName=%s\nextendedKeyUsage=serverAuth,clientAuth\n' "$san") \
                2>/dev/null
    elif [ "$san" = ca ]; then
        openssl req -x509 "${args[@]}" -out "$dir/$name.pem" \
            -addext "basicConstraints=critical,CA:TRUE" \
            -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
    else
        openssl req -x509 "${args[@]}" -out "$dir/$name.pem" -addext "subjectAltName=$san" 2>/dev/null
    fi
}

cli_suite_stop_pid() {
    local pid=${!1}
    [ -n "$pid" ] || return 0
    kill "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    printf -v "$1" '%s' ''
}

cli_suite_tls_server() {
    local var=$1 log=$2 where=$3 cert=$4 key=$5 chain=${6:-}
    case $where in 127.*) ;; *) echo "TLS server address must be in 127/8: $where" >&2; return 1 ;; esac
    cli_suite_stop_pid "$var"
    local args=(-accept "$where" -cert "$cert" -key "$key" -www)
    [ -n "$chain" ] && args+=(-cert_chain "$chain")
    openssl s_server "${args[@]}" </dev/null >"$log" 2>&1 &
    printf -v "$var" '%s' $!
    for _ in $(seq 250); do
        grep -q ACCEPT "$log" && return 0
        kill -0 "${!var}" 2>/dev/null || break
        sleep 0.02
    done
    echo "the TLS server on $where did not start:" >&2
    cat "$log" >&2
    return 1
}
