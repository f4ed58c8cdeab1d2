%%% mod_s2s_trust_crl - keep the trust stores' CRLs fresh (docs/crl.md).
%%%
%%% Let's Encrypt publishes revocation only as CRLs, and only names them in
%%% certificates (crlDistributionPoints). This node-wide server finds those
%%% names, fetches the CRLs over plain HTTP with hard limits, checks each
%%% one (a CRL, signed by a CA of the store, not older than the copy held),
%%% keeps the last good copy in ejabberd's spool, and has every host's store
%%% rebuilt with the copies and the live s2s streams re-checked when one
%%% changes.
%%%
%%% Which distribution points (docs/crl.md, "What is fetched"):
%%% - those named by every CA certificate of the stores that is not
%%%   self-signed: configured and learned intermediates name where THEIR
%%%   issuer publishes the CRL that covers them;
%%% - those named by peers' leaves, which say where the leaf's issuer
%%%   publishes the CRL that covers the leaf (Let's Encrypt shards these).
%%%   A leaf is only read for that if one of the stores' CA certificates
%%%   signed it, so a peer cannot make us fetch an address of its choosing;
%%%   such a name is kept while leaves keep naming it (?LEAF_URL_TTL) and
%%%   at most ?MAX_URLS names are held in all.
%%%
%%% Failure is visible, never silent: every failed fetch is logged with its
%%% URL (escaped), status/0 (and `ejabberdctl s2s_trust_crls`) shows it,
%%% and crl_missing decides whether a peer whose CRL we lack or hold only
%%% stale is refused (refuse) or let through on the trust config's
%%% crl_check (warn).
-module(mod_s2s_trust_crl).
-behaviour(gen_server).

%% for mod_s2s_trust
-export([start/2, stop/0, open/2, refresh/0, check_chain/3]).
%% for operators and the posture audit
-export([status/0, crls_command/0, dir/0]).
%% pure, for EUnit
-export([validate_url/1, cert_urls/1, next_fetch/4, due/3, copy_state/2, parse_crl/1,
         validate_crl/4, ca_row/1, signed_by/2, url_file/1, format_error/1, parse_http_head/1]).
-export([http_get/2, freshness/2]).
-export([init/1, handle_call/3, handle_cast/2, handle_info/2, terminate/2, code_change/3]).

-include_lib("kernel/include/logger.hrl").
-include_lib("public_key/include/public_key.hrl").
-include("ejabberd_commands.hrl").

-define(SERVER, ?MODULE).
-define(TAB, mod_s2s_trust_crl).          % {Url, Entry}
-define(CA_TAB, mod_s2s_trust_crl_ca).    % {NormalizedSubject, Der, Urls, SubjectText}
-define(ENABLED, {?MODULE, enabled}).
%% Distribution points held in all (pool and leaves).
-define(MAX_URLS, 256).
%% A name only leaves carried is forgotten this long after the last one.
-define(LEAF_URL_TTL, 30 * 86400).
%% After a good fetch, never sooner than this again (unless forced).
-define(MIN_GAP, 300).
%% First retry after a failure; doubles up to the refresh interval.
-define(RETRY_BASE, 60).
%% Fetches running at once during a round.
-define(PARALLEL, 4).
%% Redirects followed (http:// to http:// only).
-define(MAX_REDIRECTS, 3).
%% Response head: bytes per line (status and each header), and header count.
-define(MAX_LINE, 8192).
-define(MAX_HEADERS, 64).
%% A thisUpdate this far ahead of our clock is refused.
-define(CLOCK_SKEW, 300).
%% URL length limit.
-define(MAX_URL, 1024).
%% Certificate files read from the store's sources, each.
-define(MAX_SOURCE_BYTES, 64 * 1024 * 1024).
%% How long s2s_trust_reload waits for its fetch round (reload_trust gives
%% each node 60 s in all). A round that takes longer goes on, and applies
%% what it fetched itself.
-define(REFRESH_CALL_TIMEOUT, 30000).
%% Pending note messages beyond which leaves are not looked at.
-define(MAX_QUEUE, 1000).

-type url() :: binary().
-type entry() :: map().

%%%===================================================================
%%% API for mod_s2s_trust
%%%===================================================================

%% Called by mod_s2s_trust:start/2 for every host; the first one that
%% enables crl_refresh starts the node's server, under ejabberd's module
%% supervisor (like mod_s2s_trust_learn).
-spec start(binary(), gen_mod:opts()) -> ok.
start(_Host, Opts) ->
    case gen_mod:get_opt(crl_refresh, Opts) of
        false ->
            ok;
        true ->
            persistent_term:put(?ENABLED, true),
            Spec = #{id => ?SERVER,
                     start => {gen_server, start_link, [{local, ?SERVER}, ?MODULE, [Opts], []]},
                     restart => transient, shutdown => 5000, type => worker,
                     modules => [?MODULE]},
            case supervisor:start_child(ejabberd_gen_mod_sup, Spec) of
                {ok, _} -> ok;
                {error, {already_started, _}} -> ok;
                {error, already_present} ->
                    _ = supervisor:restart_child(ejabberd_gen_mod_sup, ?SERVER),
                    ok
            end,
            mod_s2s_trust_compat:register_commands(?MODULE, commands()),
            ok
    end.

-spec stop() -> ok.
stop() ->
    _ = persistent_term:erase(?ENABLED),
    mod_s2s_trust_compat:unregister_commands(commands()),
    _ = supervisor:terminate_child(ejabberd_gen_mod_sup, ?SERVER),
    _ = supervisor:delete_child(ejabberd_gen_mod_sup, ?SERVER),
    ok.

%% s2s_trust:open/2 with the learned intermediates and every CRL copy we
%% hold. A copy the store refuses (a disk fault: copies are checked before
%% they are kept) is set aside as *.bad, logged, and the store built
%% without it; any other error is the configuration's and is returned.
-spec open(s2s_trust:store() | default | file:filename_all(), [binary()]) ->
          {ok, s2s_trust:store()} | {error, s2s_trust:reason()}.
open(Config, Intermediates) ->
    open(Config, Intermediates, held_files(), 0).

open(Config, Inter, Crls, Tries) ->
    case s2s_trust:open(Config, #{intermediate_files => Inter, crl_files => Crls}) of
        {ok, _} = Ok ->
            Ok;
        {error, {config, _, _, Text}} = Error when Crls =/= [], Tries < 8 ->
            %% The engine names the file: "crl_file PATH: why".
            case [F || F <- Crls, binary:match(Text, <<"crl_file ", F/binary, ":">>) =/= nomatch] of
                [File | _] ->
                    ?LOG_ERROR("mod_s2s_trust: CRL copy ~ts not loaded, set aside as .bad: ~ts",
                               [File, Text]),
                    _ = file:rename(File, <<File/binary, ".bad">>),
                    open(Config, Inter, lists:delete(File, Crls), Tries + 1);
                [] ->
                    Error
            end;
        {error, _} = Error ->
            Error
    end.

%% The CRL copies the stores read: none when refresh is off.
held_files() ->
    case persistent_term:get(?ENABLED, false) of
        false -> [];
        true ->
            Dir = dir(),
            [iolist_to_binary(filename:join(Dir, F))
             || F <- lists:sort(filelib:wildcard("*.crl", binary_to_list(Dir)))]
    end.

%% s2s_trust_reload on this node: fetch every CRL now (files only; the
%% caller rebuilds the stores and re-checks the streams). Bounded.
-spec refresh() -> ok | {error, term()}.
refresh() ->
    case whereis(?SERVER) of
        undefined -> {error, not_running};
        _ ->
            try gen_server:call(?SERVER, refresh, ?REFRESH_CALL_TIMEOUT)
            catch exit:Why -> {error, Why}
            end
    end.

%% In the authentication hook, after the verdict: note the leaf's
%% distribution points, and with crl_missing: refuse turn an ok verdict
%% into crl_unavailable when a CRL that covers the peer is missing or stale.
-spec check_chain(binary(), [binary()], {term(), map()}) -> {term(), map()}.
check_chain(_Host, [], Judged) ->
    Judged;
check_chain(Host, [Leaf | _], {Verdict, Details} = Judged) ->
    case persistent_term:get(?ENABLED, false) of
        false ->
            Judged;
        true ->
            note_leaf(Leaf),
            case Verdict =:= ok andalso
                gen_mod:get_module_opt(Host, mod_s2s_trust, crl_missing) =:= refuse of
                false ->
                    Judged;
                true ->
                    case freshness(Leaf, erlang:system_time(second)) of
                        ok -> Judged;
                        {missing, Text} ->
                            {{error, crl_unavailable}, Details#{detail => Text}}
                    end
            end
    end.

note_leaf(Leaf) ->
    case whereis(?SERVER) of
        undefined -> ok;
        Pid ->
            case erlang:process_info(Pid, message_queue_len) of
                {message_queue_len, N} when N < ?MAX_QUEUE -> gen_server:cast(Pid, {leaf, Leaf});
                _ -> ok
            end
    end.

%% Every CRL named for this leaf (its own points, and its issuer's) must be
%% held and current.
freshness(Leaf, Now) ->
    case ets:whereis(?TAB) of
        undefined -> {missing, <<"the CRL refresher is not running (crl_missing: refuse)">>};
        _ -> freshness1(Leaf, Now)
    end.

freshness1(Leaf, Now) ->
    try
        Otp = public_key:pkix_decode_cert(Leaf, otp),
        Issuer = public_key:pkix_normalize_name((tbs(Otp))#'OTPTBSCertificate'.issuer),
        IssuerUrls = lists:append([Urls || {_, _, Urls, _} <- ets:lookup(?CA_TAB, Issuer)]),
        Urls = lists:usort(cert_urls(Otp) ++ IssuerUrls),
        case [{U, Why} || U <- Urls, {missing, Why} <- [url_fresh(U, Now)]] of
            [] -> ok;
            [{U, Why} | _] ->
                {missing, iolist_to_binary(
                            [<<"CRL ">>, mod_s2s_trust_format:text_escape(U), <<" ">>, Why,
                             <<" (crl_missing: refuse)">>])}
        end
    catch _:_ ->
            %% An unreadable leaf cannot have passed the engine: nothing to add.
            ok
    end.

url_fresh(Url, Now) ->
    case ets:lookup(?TAB, Url) of
        [] -> {missing, <<"not fetched yet">>};
        [{_, E}] ->
            case copy_state(E, Now) of
                current -> ok;
                none -> {missing, [<<"could not be fetched: ">>, last_error_text(E)]};
                stale -> {missing, [<<"is stale (nextUpdate ">>, iso(maps:get(next_update, E)),
                                    <<")">>]}
            end
    end.

last_error_text(#{last_error := {_, Why}}) -> format_error(Why);
last_error_text(_) -> <<"not fetched yet">>.

%%%===================================================================
%%% Status
%%%===================================================================

%% One map per distribution point held: where it comes from, the copy we
%% hold (current / stale / none), the last success and failure, when the
%% next fetch is due. Read from ETS: answers while a round is running.
-spec status() -> [#{url := url(), atom() => term()}].
status() ->
    Now = erlang:system_time(second),
    try ets:tab2list(?TAB) of
        Rows ->
            [status_row(E, Now) || {_, E} <- lists:keysort(1, Rows)]
    catch error:badarg -> []
    end.

status_row(E, Now) ->
    Base = maps:with([url, origins, named_by, issuer, this_update, next_update, last_ok,
                      last_attempt, next_fetch, failures, revoked, size], E),
    Base#{copy => copy_state(E, Now),
          last_error => case maps:get(last_error, E, undefined) of
                            {At, Why} -> #{at => At, reason => format_error(Why)};
                            undefined -> undefined
                        end}.

commands() ->
    [#ejabberd_commands{
        name = s2s_trust_crls, tags = [s2s], policy = admin,
        desc = "List the CRLs mod_s2s_trust fetches, their copies and fetch failures",
        module = ?MODULE, function = crls_command, args = [],
        result = {crls, {list, {crl, {tuple, [{url, string}, {copy, string},
                                              {next_update, string}, {last_ok, string},
                                              {last_error, string}, {next_fetch, string},
                                              {named_by, string}]}}}}}].

crls_command() ->
    [{mod_s2s_trust_format:text_escape(Url), atom_to_binary(Copy), iso(NU), iso(LastOk),
      case LastErr of
          undefined -> <<"-">>;
          #{at := At, reason := R} -> iolist_to_binary([iso(At), <<" ">>, R])
      end, iso(Next), mod_s2s_trust_format:text_escape(Named)}
     || #{url := Url, copy := Copy, last_error := LastErr} = S <- status(),
        NU <- [maps:get(next_update, S, undefined)], LastOk <- [maps:get(last_ok, S, undefined)],
        Next <- [maps:get(next_fetch, S, undefined)],
        Named <- [maps:get(named_by, S, <<>>)]].

iso(undefined) -> <<"-">>;
iso(0) -> <<"now">>;
iso(T) when is_integer(T) -> mod_s2s_trust_format:iso8601(T).

%% <ejabberd spool>/s2s_trust_crls: one DER file per distribution point,
%% named by a hash of its URL, and index.term.
-spec dir() -> binary().
dir() ->
    iolist_to_binary(filename:join(mnesia:system_info(directory), "s2s_trust_crls")).

%%%===================================================================
%%% Pure parts
%%%===================================================================

%% A distribution point we fetch: http:// only, printable ASCII, a host,
%% no user info or fragment, a sane port. https is not used: a CRL is
%% signed by its CA, which is what we check, so TLS adds nothing but a
%% circle (checking the CRL server's certificate needs revocation data),
%% and the CA/Browser Forum Baseline Requirements make CAs publish CRLs
%% over http. ldap://, file://, ftp:// ... are refused.
-spec validate_url(term()) -> {ok, url()} | {error, term()}.
validate_url(Url) when is_list(Url) ->
    try unicode:characters_to_binary(Url) of
        B when is_binary(B) -> validate_url(B);
        _ -> {error, not_ascii}
    catch _:_ -> {error, not_ascii}
    end;
validate_url(Url) when is_binary(Url), byte_size(Url) > ?MAX_URL ->
    {error, too_long};
validate_url(Url) when is_binary(Url) ->
    case [C || <<C>> <= Url, C < 16#21 orelse C > 16#7E] of
        [_ | _] -> {error, not_ascii};
        [] ->
            case uri_string:parse(Url) of
                #{scheme := Scheme} = U ->
                    case string:lowercase(Scheme) of
                        <<"http">> -> check_http(Url, U);
                        Other -> {error, {scheme, Other}}
                    end;
                #{} -> {error, no_scheme};
                {error, _, _} -> {error, malformed}
            end
    end;
validate_url(_) ->
    {error, malformed}.

check_http(Url, U) ->
    Host = maps:get(host, U, <<>>),
    Port = maps:get(port, U, 80),
    if
        Host =:= <<>> -> {error, no_host};
        is_map_key(userinfo, U) -> {error, userinfo};
        is_map_key(fragment, U) -> {error, fragment};
        not is_integer(Port) orelse Port < 1 orelse Port > 65535 -> {error, bad_port};
        true ->
            case host_ok(Host) of
                true -> {ok, Url};
                false -> {error, bad_host}
            end
    end.

host_ok(Host) ->
    case inet:parse_address(binary_to_list(Host)) of
        {ok, _} -> true;
        {error, _} ->
            byte_size(Host) =< 253 andalso
                lists:all(fun(C) -> (C >= $a andalso C =< $z) orelse (C >= $A andalso C =< $Z)
                                        orelse (C >= $0 andalso C =< $9) orelse C =:= $-
                                        orelse C =:= $.
                          end, binary_to_list(Host))
    end.

%% The http:// distribution points a certificate names (DER or decoded),
%% in order, without duplicates. Other schemes are left out (and say so
%% in the log of whoever asks with validate_url/1); a certificate that
%% does not decode names nothing.
-spec cert_urls(binary() | #'OTPCertificate'{}) -> [url()].
cert_urls(Der) when is_binary(Der) ->
    try public_key:pkix_decode_cert(Der, otp) of
        Otp -> cert_urls(Otp)
    catch _:_ -> []
    end;
cert_urls(#'OTPCertificate'{} = Otp) ->
    Names = try public_key:pkix_dist_points(Otp) catch _:_ -> [] end,
    Uris = [U || #'DistributionPoint'{distributionPoint = {fullName, Gs}} <- Names,
                 {uniformResourceIdentifier, U} <- Gs],
    dedup([B || U <- Uris, {ok, B} <- [validate_url(U)]]).

dedup(L) -> dedup(L, []).
dedup([], Acc) -> lists:reverse(Acc);
dedup([X | R], Acc) ->
    case lists:member(X, Acc) of
        true -> dedup(R, Acc);
        false -> dedup(R, [X | Acc])
    end.

%% When to fetch a URL next, after an attempt at Now.
%% Success: after the refresh interval, or at the CRL's nextUpdate when
%% that comes first (a new CRL is out by then), never sooner than ?MIN_GAP
%% (or the interval, if shorter). Failure: ?RETRY_BASE doubling per
%% consecutive failure, capped at the interval.
-spec next_fetch({ok, integer() | undefined} | error, integer(), pos_integer(),
                 non_neg_integer()) -> integer().
next_fetch({ok, NextUpdate}, Now, Interval, _Failures) ->
    Soonest = Now + min(Interval, ?MIN_GAP),
    Latest = Now + Interval,
    case NextUpdate of
        undefined -> Latest;
        NU -> max(Soonest, min(Latest, NU))
    end;
next_fetch(error, Now, Interval, Failures) ->
    Now + min(Interval, ?RETRY_BASE bsl min(max(Failures, 1) - 1, 16)).

%% Is this URL to be fetched in a round at Now? Forced rounds
%% (s2s_trust_reload) fetch everything.
-spec due(entry() | undefined, integer(), boolean()) -> boolean().
due(_, _Now, true) -> true;
due(undefined, _Now, false) -> true;
due(#{next_fetch := Next}, Now, false) -> Next =< Now;
due(#{}, _Now, false) -> true.

%% The copy we hold: current, stale (past its nextUpdate) or none.
-spec copy_state(entry(), integer()) -> current | stale | none.
copy_state(#{file := F} = E, Now) when F =/= undefined ->
    case maps:get(next_update, E, undefined) of
        undefined -> current;
        NU when NU < Now -> stale;
        _ -> current
    end;
copy_state(_, _Now) ->
    none.

%% Bytes fetched -> one CRL (DER, or one PEM "X509 CRL" block).
-spec parse_crl(binary()) -> {ok, binary(), #'CertificateList'{}} | {error, not_a_crl}.
parse_crl(<<"-----BEGIN", _/binary>> = Pem) ->
    try public_key:pem_decode(Pem) of
        [{'CertificateList', Der, not_encrypted}] -> parse_crl(Der);
        _ -> {error, not_a_crl}
    catch _:_ -> {error, not_a_crl}
    end;
parse_crl(Der) ->
    try public_key:der_decode('CertificateList', Der) of
        #'CertificateList'{} = Crl -> {ok, Der, Crl}
    catch _:_ -> {error, not_a_crl}
    end.

%% A fetched CRL we may use: it parses, is a complete CRL (no delta), is
%% signed by a CA certificate of the stores (Cas: ca_row/1 rows), its
%% thisUpdate is not ahead of our clock and not older than the copy held
%% (PrevThisUpdate: a replayed older CRL would un-revoke).
-spec validate_crl(binary(), [tuple()], integer() | undefined, integer()) ->
          {ok, map()} | {error, term()}.
validate_crl(Bytes, Cas, PrevThisUpdate, Now) ->
    case parse_crl(Bytes) of
        {error, _} = E -> E;
        {ok, Der, Crl} ->
            #'CertificateList'{tbsCertList = Tbs} = Crl,
            #'TBSCertList'{thisUpdate = TU0, nextUpdate = NU0, crlExtensions = Exts,
                           revokedCertificates = Revoked} = Tbs,
            IssuerName = try public_key:pkix_normalize_name(public_key:pkix_crl_issuer(Crl))
                         catch _:_ -> undefined
                         end,
            ThisUpdate = asn1_time(TU0),
            NextUpdate = asn1_time(NU0),
            Cands = [{CaDer, Text} || {N, CaDer, _, Text} <- Cas, N =:= IssuerName],
            Signer = [Text || {CaDer, Text} <- Cands, crl_signed_by(Crl, CaDer)],
            if
                ThisUpdate =:= undefined -> {error, not_a_crl};
                Cands =:= [] -> {error, unknown_issuer};
                Signer =:= [] -> {error, bad_signature};
                true ->
                    case is_delta(Exts) of
                        true -> {error, delta_crl};
                        false when ThisUpdate > Now + ?CLOCK_SKEW -> {error, this_update_ahead};
                        false when is_integer(PrevThisUpdate), ThisUpdate < PrevThisUpdate ->
                            {error, {older_than_held, PrevThisUpdate}};
                        false ->
                            {ok, #{der => Der, issuer => hd(Signer), this_update => ThisUpdate,
                                   next_update => NextUpdate,
                                   revoked => case Revoked of
                                                  L when is_list(L) -> length(L);
                                                  _ -> 0
                                              end}}
                    end
            end
    end.

crl_signed_by(Crl, CaDer) ->
    try public_key:pkix_crl_verify(Crl, CaDer) of
        true -> true;
        _ -> false
    catch _:_ -> false
    end.

is_delta(Exts) when is_list(Exts) ->
    lists:any(fun(#'Extension'{extnID = Id}) -> Id =:= ?'id-ce-deltaCRLIndicator';
                 (_) -> false
              end, Exts);
is_delta(_) -> false.

%% A CA certificate as the server keeps it: {NormalizedSubject, Der, the
%% http distribution points it names, subject text}; undefined for what is
%% not a certificate. Self-signed certificates name no point we fetch (no
%% CRL can revoke a trust anchor) but still sign CRLs and leaves.
-spec ca_row(binary()) -> tuple() | undefined.
ca_row(Der) ->
    try public_key:pkix_decode_cert(Der, otp) of
        Otp ->
            Subject = (tbs(Otp))#'OTPTBSCertificate'.subject,
            Urls = case public_key:pkix_is_self_signed(Otp) of
                       true -> [];
                       false -> cert_urls(Otp)
                   end,
            {public_key:pkix_normalize_name(Subject), Der, Urls, name_text(Subject)}
    catch _:_ -> undefined
    end.

%% Did the CA certificate CaDer sign Leaf? Only the signature (and the
%% names) count here: the trust engine judges everything else.
-spec signed_by(binary(), binary()) -> boolean().
signed_by(Leaf, CaDer) ->
    try public_key:pkix_path_validation(CaDer, [Leaf], [{verify_fun, {fun sig_only/3, ok}}]) of
        {ok, _} -> true;
        _ -> false
    catch _:_ -> false
    end.

sig_only(_, {bad_cert, invalid_signature}, _) -> {fail, invalid_signature};
sig_only(_, {bad_cert, invalid_issuer}, _) -> {fail, invalid_issuer};
sig_only(_, {bad_cert, _}, S) -> {valid, S};
sig_only(_, {extension, _}, S) -> {unknown, S};
sig_only(_, _, S) -> {valid, S}.

%% The file of a URL's copy: a hash, so no byte of the URL reaches a path.
-spec url_file(url()) -> binary().
url_file(Url) ->
    <<(binary:encode_hex(binary:part(crypto:hash(sha256, Url), 0, 16)))/binary, ".crl">>.

%% Operator text for a fetch or check failure.
-spec format_error(term()) -> binary().
format_error(Why) ->
    iolist_to_binary(
      case Why of
          timeout -> <<"timed out">>;
          too_large -> <<"response larger than crl_max_size">>;
          {http_status, S} -> io_lib:format("HTTP status ~b", [S]);
          {connect, R} -> [<<"cannot connect: ">>, inet_text(R)];
          {recv, R} -> [<<"connection failed: ">>, inet_text(R)];
          bad_response -> <<"malformed HTTP response">>;
          too_many_headers -> <<"too many HTTP headers">>;
          truncated -> <<"response shorter than its Content-Length">>;
          unsupported_encoding -> <<"unsupported Transfer-Encoding">>;
          too_many_redirects -> <<"too many redirects">>;
          {redirect, R} -> [<<"redirect refused: ">>, format_error(R)];
          no_location -> <<"redirect without Location">>;
          {scheme, S} -> [<<"scheme ">>, mod_s2s_trust_format:text_escape(S),
                          <<" (only http:// is fetched)">>];
          not_a_crl -> <<"not a CRL (DER or PEM)">>;
          unknown_issuer -> <<"issued by no CA certificate of the trust store">>;
          bad_signature -> <<"bad signature">>;
          delta_crl -> <<"a delta CRL (not supported)">>;
          this_update_ahead -> <<"thisUpdate is in the future">>;
          {older_than_held, T} -> [<<"older than the copy held (thisUpdate ">>, iso(T), <<")">>];
          {store_refused, Text} -> [<<"the trust store refused it: ">>, Text];
          {write, R} -> io_lib:format("cannot write the copy: ~0p", [R]);
          {crashed, _} -> <<"internal error while fetching">>;
          A when is_atom(A) -> atom_to_binary(A);
          _ -> io_lib:format("~0p", [Why])
      end).

inet_text(R) when is_atom(R) ->
    case inet:format_error(R) of
        "unknown POSIX error" ++ _ -> atom_to_list(R);
        T -> T
    end;
inet_text(R) -> io_lib:format("~0p", [R]).

%%%===================================================================
%%% HTTP: a GET with hard limits
%%%===================================================================
%%% Not httpc: with {stream, self} httpc streams only 200/206 answers and
%%% keeps a whole error body in memory (a 404 with a 200 MB body cost the
%%% VM 200 MB when measured; docs/crl.md). Here every byte is counted: the
%%% status line and each header at most ?MAX_LINE bytes, ?MAX_HEADERS
%%% headers, the body at most MaxBytes, everything within one deadline.
%%% HTTP/1.0 with Connection: close, so no chunked answer is expected.

-spec http_get(url(), #{timeout := pos_integer(), max_bytes := pos_integer()}) ->
          {ok, binary()} | {error, term()}.
http_get(Url, #{timeout := Timeout, max_bytes := Max}) ->
    Deadline = erlang:monotonic_time(millisecond) + Timeout,
    http_get(Url, Deadline, Max, 0).

http_get(_Url, _Deadline, _Max, Hops) when Hops > ?MAX_REDIRECTS ->
    {error, too_many_redirects};
http_get(Url, Deadline, Max, Hops) ->
    case validate_url(Url) of
        {error, R} when Hops > 0 -> {error, {redirect, R}};
        {error, R} -> {error, R};
        {ok, _} ->
            #{host := Host} = U = uri_string:parse(Url),
            Port = maps:get(port, U, 80),
            Path = case {maps:get(path, U, <<>>), maps:get(query, U, undefined)} of
                       {<<>>, undefined} -> <<"/">>;
                       {P, undefined} -> P;
                       {P, Q} -> <<P/binary, "?", Q/binary>>
                   end,
            case exchange(Host, Port, Path, Deadline, Max) of
                {redirect, Location} ->
                    Next = try uri_string:resolve(Location, Url) of
                               N when is_binary(N) -> N;
                               _ -> Location
                           catch _:_ -> Location
                           end,
                    http_get(Next, Deadline, Max, Hops + 1);
                Other ->
                    Other
            end
    end.

left(Deadline) -> max(0, Deadline - erlang:monotonic_time(millisecond)).

exchange(Host, Port, Path, Deadline, Max) ->
    case connect(Host, Port, Deadline) of
        {error, R} -> {error, {connect, R}};
        {ok, S} ->
            try
                HostHdr = case Port of
                              80 -> Host;
                              _ -> [Host, $:, integer_to_binary(Port)]
                          end,
                Req = [<<"GET ">>, Path, <<" HTTP/1.0\r\nHost: ">>, HostHdr,
                       <<"\r\nUser-Agent: mod_s2s_trust (ejabberd)\r\n"
                         "Accept: application/pkix-crl, application/x-pkcs7-crl, */*\r\n"
                         "Connection: close\r\n\r\n">>],
                case gen_tcp:send(S, Req) of
                    ok -> response(S, Deadline, Max);
                    {error, R} -> {error, {recv, R}}
                end
            after
                gen_tcp:close(S)
            end
    end.

connect(Host, Port, Deadline) ->
    Opts = [binary, {active, false}, {packet, http_bin}, {packet_size, ?MAX_LINE},
            {recbuf, 65536}, {send_timeout, left(Deadline)}],
    H = binary_to_list(Host),
    case inet:parse_address(H) of
        {ok, Addr} ->
            Family = case tuple_size(Addr) of 4 -> inet; 8 -> inet6 end,
            gen_tcp:connect(Addr, Port, [Family | Opts], left(Deadline));
        {error, _} ->
            case gen_tcp:connect(H, Port, [inet | Opts], left(Deadline)) of
                {error, nxdomain} -> gen_tcp:connect(H, Port, [inet6 | Opts], left(Deadline));
                Other -> Other
            end
    end.

response(S, Deadline, Max) ->
    case gen_tcp:recv(S, 0, left(Deadline)) of
        {ok, {http_response, _Vsn, Status, _Reason}} ->
            case headers(S, Deadline, 0, #{}) of
                {ok, Hs} -> answer(S, Status, Hs, Deadline, Max);
                {error, _} = E -> E
            end;
        {ok, _} -> {error, bad_response};
        {error, timeout} -> {error, timeout};
        {error, R} -> {error, {recv, R}}
    end.

headers(_S, _Deadline, N, _Hs) when N > ?MAX_HEADERS ->
    {error, too_many_headers};
headers(S, Deadline, N, Hs) ->
    case gen_tcp:recv(S, 0, left(Deadline)) of
        {ok, http_eoh} -> {ok, Hs};
        {ok, {http_header, _, Name, _, Value}} ->
            Key = case Name of
                      A when is_atom(A) -> string:lowercase(atom_to_binary(A));
                      B -> string:lowercase(B)
                  end,
            headers(S, Deadline, N + 1, Hs#{Key => Value});
        {ok, _} -> {error, bad_response};
        {error, timeout} -> {error, timeout};
        {error, R} -> {error, {recv, R}}
    end.

answer(S, Status, Hs, Deadline, Max) ->
    case parse_http_head({Status, Hs}) of
        {redirect, _} = R -> R;
        {error, _} = E -> E;
        {body, Length} when is_integer(Length), Length > Max -> {error, too_large};
        {body, Length} ->
            ok = inet:setopts(S, [{packet, raw}]),
            body(S, Length, Deadline, Max, 0, [])
    end.

%% What a response's status and headers mean for us (pure, for EUnit):
%% a body to read (with its Content-Length, if any), a redirect, or an error.
-spec parse_http_head({integer(), #{binary() => binary()}}) ->
          {body, non_neg_integer() | undefined} | {redirect, binary()} | {error, term()}.
parse_http_head({Status, Hs}) when Status >= 300, Status < 400,
                                   Status =/= 300, Status =/= 304, Status =/= 305 ->
    case maps:find(<<"location">>, Hs) of
        {ok, L} when byte_size(L) > 0 -> {redirect, L};
        _ -> {error, no_location}
    end;
parse_http_head({200, Hs}) ->
    case maps:get(<<"transfer-encoding">>, Hs, <<"identity">>) of
        TE when TE =/= <<"identity">> -> {error, unsupported_encoding};
        _ ->
            case maps:find(<<"content-length">>, Hs) of
                error -> {body, undefined};
                {ok, V} ->
                    try binary_to_integer(string:trim(V)) of
                        N when N >= 0 -> {body, N};
                        _ -> {error, bad_response}
                    catch _:_ -> {error, bad_response}
                    end
            end
    end;
parse_http_head({Status, _}) ->
    {error, {http_status, Status}}.

body(_S, Length, _Deadline, _Max, Got, Acc) when is_integer(Length), Got >= Length ->
    {ok, binary:part(iolist_to_binary(lists:reverse(Acc)), 0, Length)};
body(S, Length, Deadline, Max, Got, Acc) ->
    case gen_tcp:recv(S, 0, left(Deadline)) of
        {ok, Bin} when Got + byte_size(Bin) > Max -> {error, too_large};
        {ok, Bin} -> body(S, Length, Deadline, Max, Got + byte_size(Bin), [Bin | Acc]);
        {error, closed} when Length =:= undefined -> {ok, iolist_to_binary(lists:reverse(Acc))};
        {error, closed} -> {error, truncated};
        {error, timeout} -> {error, timeout};
        {error, R} -> {error, {recv, R}}
    end.

%%%===================================================================
%%% gen_server
%%%===================================================================
%%% The server owns the tables and the index; rounds of fetches run in a
%%% worker process so status/0, leaf notes and the hooks never wait on the
%%% network. One round at a time.
%%%
%%% State: opts (of the host that started it; rounds read the live ones),
%%% round (undefined | {Pid, MonitorRef, Force}), waiters (s2s_trust_reload
%%% calls to answer when a forced round ends), again (another round is
%%% wanted when this one ends: new leaf points, a forced refresh), timer.

init([Opts]) ->
    process_flag(trap_exit, true),
    ets:new(?TAB, [named_table, protected, set, {read_concurrency, true}]),
    ets:new(?CA_TAB, [named_table, protected, bag, {read_concurrency, true}]),
    Dir = dir(),
    ok = filelib:ensure_dir(filename:join(Dir, "x")),
    load_index(Dir),
    %% The stores are built right after start: the first round (which reads
    %% their sources) waits a moment for them.
    TRef = erlang:send_after(1000, self(), tick),
    {ok, #{opts => Opts, round => undefined, waiters => [], again => none, timer => TRef}}.

%% Waiters are answered by a round started after they asked.
handle_call(refresh, From, #{waiters := Ws} = S) ->
    S1 = S#{waiters := [From | Ws]},
    case S of
        #{round := undefined} -> {noreply, start_round(true, S1)};
        _ -> {noreply, S1#{again := force}}
    end;
handle_call(_, _From, S) ->
    {reply, {error, unknown_call}, S}.

handle_cast({leaf, Der}, S) ->
    {noreply, note(Der, S)};
handle_cast(_, S) ->
    {noreply, S}.

handle_info(tick, #{round := undefined} = S) ->
    {noreply, start_round(false, S)};
handle_info(tick, S) ->
    {noreply, S};
handle_info({round_done, Pid, Result}, #{round := {Pid, Ref, Force0, Ws}} = S) ->
    erlang:demonitor(Ref, [flush]),
    %% Callers of a forced round that outlived their wait are gone: then the
    %% round rebuilds by itself, as a scheduled one does.
    Force = Force0 andalso erlang:monotonic_time(millisecond) - maps:get(started, S, 0)
                               < ?REFRESH_CALL_TIMEOUT - 1000,
    Changed = try apply_round(Result)
              catch C:E:St ->
                      ?LOG_ERROR("mod_s2s_trust: recording a CRL round failed: ~0p", [{C, E, St}]),
                      []
              end,
    %% A forced round serves s2s_trust_reload, which rebuilds and re-checks
    %% itself; a scheduled round that changed a copy does it here.
    case Changed of
        [_ | _] when not Force -> rebuild(Changed);
        _ -> ok
    end,
    [gen_server:reply(W, ok) || W <- Ws],
    S1 = S#{round := undefined},
    case Result of
        #{stores := 0} ->
            %% The stores are not built yet (module start): look again soon.
            {noreply, retry_soon(S1)};
        _ ->
            {noreply, after_round(S1)}
    end;
handle_info({'DOWN', Ref, process, _, Why}, #{round := {_, Ref, _Force, Ws}} = S) ->
    ?LOG_ERROR("mod_s2s_trust: CRL refresh round crashed: ~0p", [Why]),
    [gen_server:reply(W, {error, crashed}) || W <- Ws],
    {noreply, after_round(S#{round := undefined})};
handle_info(_, S) ->
    {noreply, S}.

terminate(_Reason, #{round := {Pid, _, _, _}}) ->
    exit(Pid, kill),
    ok;
terminate(_Reason, _S) ->
    ok.

code_change(_Old, S, _Extra) ->
    {ok, S}.

%%%===================================================================
%%% Rounds
%%%===================================================================

after_round(#{again := none} = S) ->
    schedule(S);
after_round(#{again := force, waiters := []} = S) ->
    start_round(false, S#{again := none});
after_round(#{again := Again} = S) ->
    start_round(Again =:= force, S#{again := none}).

schedule(#{timer := Old} = S) ->
    _ = erlang:cancel_timer(Old),
    Now = erlang:system_time(second),
    Interval = opt(crl_refresh_interval, S),
    Next = lists:min([Now + Interval | [maps:get(next_fetch, E, Now) || {_, E} <- ets:tab2list(?TAB)]]),
    Ms = max(1000, min(Interval, max(0, Next - Now)) * 1000),
    S#{timer := erlang:send_after(Ms, self(), tick)}.

retry_soon(#{timer := Old} = S) ->
    _ = erlang:cancel_timer(Old),
    S#{timer := erlang:send_after(5000, self(), tick)}.

start_round(Force, #{timer := T, waiters := Ws} = S) ->
    _ = erlang:cancel_timer(T),
    Self = self(),
    Params = #{force => Force,
               entries => maps:from_list(ets:tab2list(?TAB)),
               interval => opt(crl_refresh_interval, S),
               timeout => opt(crl_fetch_timeout, S),
               max_bytes => opt(crl_max_size, S),
               dir => dir()},
    {Pid, Ref} = spawn_monitor(fun() -> Self ! {round_done, self(), run_round(Params)} end),
    Started = erlang:monotonic_time(millisecond),
    case Force of
        true -> S#{round := {Pid, Ref, true, Ws}, waiters := [], started => Started};
        false -> S#{round := {Pid, Ref, false, []}, started => Started}
    end.

opt(Key, #{opts := Opts}) ->
    case [H || H <- ejabberd_option:hosts(), gen_mod:is_loaded(H, mod_s2s_trust)] of
        [H | _] -> gen_mod:get_module_opt(H, mod_s2s_trust, Key);
        [] -> gen_mod:get_opt(Key, Opts)
    end.

%% In the worker: the CA certificates of the stores, the points they name,
%% then every due point fetched, checked and (if new) kept.
run_round(P) ->
    Hosts = [H || H <- ejabberd_option:hosts(), gen_mod:is_loaded(H, mod_s2s_trust)],
    case [St || H <- Hosts, St <- [mod_s2s_trust:store(H)], St =/= undefined] of
        [] -> #{stores => 0};
        Stores -> run_round(P, Hosts, Stores)
    end.

run_round(#{entries := Entries, force := Force} = P, Hosts, Stores) ->
    Now = erlang:system_time(second),
    Sources = lists:usort([Src || St <- Stores, #{sources := Srcs} <- [s2s_trust:info(St)],
                                  Src <- Srcs]),
    Cas = ca_rows(Sources, dir()),
    PoolUrls = pool_urls(Cas),
    %% Leaf points still named recently, then the pool's; bounded.
    LeafUrls = [U || {U, #{origins := Os} = E} <- maps:to_list(Entries), lists:member(leaf, Os),
                     Now - maps:get(seen_at, E, Now) =< ?LEAF_URL_TTL],
    Wanted = lists:sublist(dedup([U || {U, _} <- PoolUrls] ++ lists:sort(LeafUrls)), ?MAX_URLS),
    Configs = lists:usort([gen_mod:get_module_opt(H, mod_s2s_trust, trust_config) || H <- Hosts]),
    Learned = try mod_s2s_trust_learn:extra_files() catch _:_ -> [] end,
    Due = [U || U <- Wanted, due(maps:get(U, Entries, undefined), Now, Force)],
    Fetch = fun(U) ->
                    fetch_one(U, maps:get(U, Entries, #{}), Cas, Configs, Learned, P)
            end,
    Results = pmap(Fetch, Due, ?PARALLEL),
    #{cas => Cas, pool => PoolUrls, wanted => Wanted, results => lists:zip(Due, Results),
      stores => length(Stores), snapshot => maps:keys(Entries),
      interval => maps:get(interval, P)}.

pool_urls(Cas) ->
    Pairs = [{U, Text} || {_, _, Urls, Text} <- Cas, U <- Urls],
    lists:foldl(fun({U, T}, Acc) ->
                        case lists:keymember(U, 1, Acc) of
                            true -> Acc;
                            false -> Acc ++ [{U, T}]
                        end
                end, [], Pairs).

%% Certificates in the stores' source files (anchors, intermediates,
%% learned bundle); our own CRL copies are skipped, directories (ca_dir)
%% are listed.
ca_rows(Sources, Dir) ->
    Files = lists:append([source_files(S, Dir) || S <- Sources]),
    Rows = lists:append([file_certs(F) || F <- lists:usort(Files)]),
    lists:usort([R || Der <- Rows, R <- [ca_row(Der)], R =/= undefined]).

source_files(Src, Dir) ->
    case binary:match(Src, <<Dir/binary, "/">>) of
        {0, _} -> [];
        _ ->
            case filelib:is_dir(Src) of
                true ->
                    case file:list_dir(Src) of
                        {ok, Names} ->
                            [filename:join(Src, N) || N <- lists:sublist(lists:sort(Names), 10000),
                                                      hd(N) =/= $.];
                        _ -> []
                    end;
                false -> [Src]
            end
    end.

file_certs(F) ->
    case filelib:file_size(F) of
        Size when Size > 0, Size =< ?MAX_SOURCE_BYTES ->
            case file:read_file(F) of
                {ok, Bin} ->
                    try [Der || {'Certificate', Der, not_encrypted} <- public_key:pem_decode(Bin)]
                    catch _:_ -> []
                    end;
                _ -> []
            end;
        _ -> []
    end.

%% Fetch, check, try in a store, keep. Returns what the server records.
fetch_one(Url, Old, Cas, Configs, Learned, #{timeout := T, max_bytes := Max, dir := Dir}) ->
    Now = erlang:system_time(second),
    Prev = case maps:get(file, Old, undefined) of
               undefined -> undefined;
               _ -> maps:get(this_update, Old, undefined)
           end,
    case http_get(Url, #{timeout => T, max_bytes => Max}) of
        {error, Why} -> {error, Why, Now};
        {ok, Body} ->
            case validate_crl(Body, Cas, Prev, Now) of
                {error, Why} -> {error, Why, Now};
                {ok, #{der := Der} = Info} ->
                    Hash = crypto:hash(sha256, Der),
                    File = iolist_to_binary(filename:join(Dir, url_file(Url))),
                    case maps:get(sha256, Old, undefined) =:= Hash andalso
                        filelib:is_regular(File) of
                        true ->
                            {ok, maps:remove(der, Info#{sha256 => Hash, size => byte_size(Der),
                                                        file => File}), false, Now};
                        false ->
                            keep(File, Der, Hash, Info, Configs, Learned, Now)
                    end
            end
    end.

%% The candidate goes into a store of every trust_config in use before it
%% replaces the copy: the store build names a CRL file it cannot use.
keep(File, Der, Hash, Info, Configs, Learned, Now) ->
    New = <<File/binary, ".new">>,
    case file:write_file(New, Der) of
        {error, R} -> {error, {write, R}, Now};
        ok ->
            Refused = [Text || C <- Configs,
                               {error, Reason} <- [s2s_trust:open(C, #{intermediate_files => Learned,
                                                                       crl_files => [New]})],
                               Text <- [s2s_trust:format_reason(Reason)]],
            case Refused of
                [Text | _] ->
                    _ = file:delete(New),
                    {error, {store_refused, Text}, Now};
                [] ->
                    case file:rename(New, File) of
                        ok ->
                            {ok, maps:remove(der, Info#{sha256 => Hash, size => byte_size(Der),
                                                        file => File}), true, Now};
                        {error, R} ->
                            _ = file:delete(New),
                            {error, {write, R}, Now}
                    end
            end
    end.

pmap(F, Items, N) ->
    pmap(F, Items, N, []).

pmap(_F, [], _N, Acc) ->
    lists:append(lists:reverse(Acc));
pmap(F, Items, N, Acc) ->
    {Batch, Rest} = lists:split(min(N, length(Items)), Items),
    Ws = [spawn_monitor(fun() -> exit({done, F(I)}) end) || I <- Batch],
    Res = [receive
               {'DOWN', Ref, process, Pid, {done, R}} -> R;
               {'DOWN', Ref, process, Pid, Why} -> {error, {crashed, Why},
                                                    erlang:system_time(second)}
           end || {Pid, Ref} <- Ws],
    pmap(F, Rest, N, [Res | Acc]).

%% In the server: record a round, log, persist. Returns the URLs whose
%% copy changed.
apply_round(#{stores := 0}) ->
    ?LOG_INFO("mod_s2s_trust: CRL refresh: no trust store loaded yet", []),
    [];
apply_round(#{cas := Cas, pool := Pool, wanted := Wanted, results := Results,
              snapshot := Snapshot, interval := Interval}) ->
    ets:delete_all_objects(?CA_TAB),
    ets:insert(?CA_TAB, Cas),
    PoolSet = maps:from_list(Pool),
    %% Points no longer named by the stores nor by recent leaves go, with
    %% their copies (not those leaves named while the round ran).
    [drop(U) || U <- Snapshot, not lists:member(U, Wanted)],
    [begin
         Old = entry(U),
         Origins = lists:usort([pool | maps:get(origins, Old, [])]),
         ets:insert(?TAB, {U, Old#{url => U, origins => Origins, named_by => Text}})
     end || {U, Text} <- maps:to_list(PoolSet)],
    [begin
         Old = entry(U),
         Os = maps:get(origins, Old, []),
         case {lists:member(pool, Os), maps:is_key(U, PoolSet)} of
             {true, false} -> ets:insert(?TAB, {U, Old#{origins => lists:delete(pool, Os)}});
             _ -> ok
         end
     end || {U, _} <- ets:tab2list(?TAB)],
    Changed = [U || {U, Res} <- Results, record(U, Res, Interval)],
    save_index(dir()),
    Changed.

entry(U) ->
    case ets:lookup(?TAB, U) of
        [{_, E}] -> E;
        [] -> #{url => U, origins => [], next_fetch => 0, failures => 0}
    end.

record(U, {ok, Info, Changed, Now}, Interval) ->
    Old = entry(U),
    E = maps:remove(last_error, maps:merge(Old, Info)),
    ets:insert(?TAB, {U, E#{last_ok => Now, last_attempt => Now, failures => 0,
                            next_fetch => next_fetch({ok, maps:get(next_update, Info)}, Now,
                                                     Interval, 0)}}),
    case {Changed, maps:get(last_error, Old, undefined)} of
        {true, _} ->
            ?LOG_NOTICE("mod_s2s_trust: CRL ~ts updated: issuer ~ts, ~b revoked, thisUpdate ~ts, "
                        "nextUpdate ~ts", [safe(U), safe(maps:get(issuer, Info)),
                                           maps:get(revoked, Info), iso(maps:get(this_update, Info)),
                                           iso(maps:get(next_update, Info))]);
        {false, {_, _}} ->
            ?LOG_NOTICE("mod_s2s_trust: CRL ~ts fetched again after a failure (unchanged)",
                        [safe(U)]);
        _ -> ok
    end,
    Changed;
record(U, {error, Why, Now}, Interval) ->
    Old = entry(U),
    Failures = maps:get(failures, Old, 0) + 1,
    E = Old#{last_error => {Now, Why}, last_attempt => Now, failures => Failures,
             next_fetch => next_fetch(error, Now, Interval, Failures)},
    ets:insert(?TAB, {U, E}),
    Held = case copy_state(E, Now) of
               none -> <<"no copy is held: certificates it covers are not checked against it">>;
               stale -> [<<"the copy held is STALE (nextUpdate ">>, iso(maps:get(next_update, E)),
                         <<") and stays in use">>];
               current -> [<<"the copy held (nextUpdate ">>, iso(maps:get(next_update, E)),
                           <<") stays in use">>]
           end,
    ?LOG_WARNING("mod_s2s_trust: CRL ~ts not updated: ~ts; ~ts (attempt ~b, next ~ts)",
                 [safe(U), format_error(Why), Held, Failures, iso(maps:get(next_fetch, E))]),
    false.

drop(U) ->
    case ets:lookup(?TAB, U) of
        [{_, #{file := F}}] when F =/= undefined -> _ = file:delete(F);
        _ -> ok
    end,
    ?LOG_INFO("mod_s2s_trust: CRL ~ts is no longer named by any certificate; dropped", [safe(U)]),
    ets:delete(?TAB, U).

%% Rebuild every host's store with the copies and re-check the live
%% streams, outside the server (the re-check waits for streams).
rebuild(Changed) ->
    ?LOG_NOTICE("mod_s2s_trust: ~b CRL(s) changed; rebuilding the trust stores and "
                "re-checking live s2s streams", [length(Changed)]),
    _ = spawn(fun() ->
                      try mod_s2s_trust:rebuild_and_recheck() of
                          {_, Errors, Checked, Closed} ->
                              ?LOG_NOTICE("mod_s2s_trust: after the CRL update ~b live s2s "
                                          "stream(s) re-checked, ~b closed~ts",
                                          [Checked, Closed,
                                           case Errors of
                                               [] -> <<>>;
                                               _ -> io_lib:format("; store errors: ~0p", [Errors])
                                           end])
                      catch C:E:St ->
                              ?LOG_ERROR("mod_s2s_trust: rebuilding after a CRL update failed: "
                                         "~0p", [{C, E, St}])
                      end
              end),
    ok.

%% A leaf seen on an authenticated stream: keep the points it names if a
%% CA certificate of the stores signed it, and fetch new ones at once.
note(Der, S) ->
    Now = erlang:system_time(second),
    try public_key:pkix_decode_cert(Der, otp) of
        Otp ->
            case cert_urls(Otp) of
                [] -> S;
                Urls ->
                    {Known, New} = lists:partition(fun(U) -> ets:member(?TAB, U) end, Urls),
                    [ets:insert(?TAB, {U, E#{seen_at => Now}})
                     || U <- Known, [{_, #{origins := Os} = E}] <- [ets:lookup(?TAB, U)],
                        lists:member(leaf, Os)],
                    [ets:insert(?TAB, {U, E#{seen_at => Now, origins => [leaf | Os]}})
                     || U <- Known, [{_, #{origins := Os} = E}] <- [ets:lookup(?TAB, U)],
                        not lists:member(leaf, Os), issuer_of(Der, Otp) =/= undefined],
                    case New of
                        [] -> S;
                        _ -> add_leaf_urls(Der, Otp, New, Now, S)
                    end
            end
    catch _:_ ->
            S
    end.

add_leaf_urls(Der, Otp, New, Now, S) ->
    case issuer_of(Der, Otp) of
        undefined ->
            S;
        IssuerText ->
            make_room(length(New) - (?MAX_URLS - ets:info(?TAB, size))),
            Named = <<"leaves issued by ", IssuerText/binary>>,
            [begin
                 ?LOG_INFO("mod_s2s_trust: new CRL distribution point ~ts, named by a leaf "
                           "issued by ~ts", [safe(U), safe(IssuerText)]),
                 ets:insert(?TAB, {U, #{url => U, origins => [leaf], named_by => Named,
                                        seen_at => Now, next_fetch => 0, failures => 0}})
             end || U <- lists:sublist(New, max(0, ?MAX_URLS - ets:info(?TAB, size)))],
            case S of
                #{round := undefined} -> start_round(false, S);
                _ -> S#{again := case maps:get(again, S) of force -> force; _ -> normal end}
            end
    end.

%% Past ?MAX_URLS, the leaf points seen longest ago go first.
make_room(N) when N =< 0 -> ok;
make_room(N) ->
    Leafs = lists:sort([{maps:get(seen_at, E, 0), U} || {U, #{origins := [leaf]} = E}
                                                             <- ets:tab2list(?TAB)]),
    [drop(U) || {_, U} <- lists:sublist(Leafs, N)],
    ok.

issuer_of(Der, Otp) ->
    Issuer = public_key:pkix_normalize_name((tbs(Otp))#'OTPTBSCertificate'.issuer),
    case [Text || {_, CaDer, _, Text} <- ets:lookup(?CA_TAB, Issuer), signed_by(Der, CaDer)] of
        [Text | _] -> Text;
        [] -> undefined
    end.

%%%===================================================================
%%% Index: what survives a restart besides the copies
%%%===================================================================

load_index(Dir) ->
    Index = filename:join(Dir, "index.term"),
    Terms = case file:consult(Index) of
                {ok, Ts} -> Ts;
                {error, enoent} -> [];
                {error, Why} ->
                    ?LOG_ERROR("mod_s2s_trust: CRL index ~ts unreadable, starting afresh: ~0p",
                               [Index, Why]),
                    []
            end,
    Now = erlang:system_time(second),
    Entries = [{U, E} || {crl, U, E} <- Terms, is_binary(U), is_map(E)],
    [begin
         File = iolist_to_binary(filename:join(Dir, url_file(U))),
         E1 = case filelib:is_regular(File) of
                  true -> E#{file => File};
                  false -> maps:without([file, sha256, this_update, next_update, issuer, revoked,
                                         size], E)
              end,
         ets:insert(?TAB, {U, E1#{url => U, next_fetch => min(maps:get(next_fetch, E1, Now), Now)}})
     end || {U, E} <- lists:sublist(Entries, ?MAX_URLS)],
    %% Copies no entry owns (an older run's) are not read by any store.
    Owned = [url_file(U) || {U, _} <- ets:tab2list(?TAB)],
    [file:delete(filename:join(Dir, F))
     || F <- filelib:wildcard("*.crl", binary_to_list(Dir)),
        not lists:member(list_to_binary(F), Owned)],
    [file:delete(filename:join(Dir, F)) || F <- filelib:wildcard("*.new", binary_to_list(Dir))],
    ok.

save_index(Dir) ->
    Index = filename:join(Dir, "index.term"),
    Keep = [url, origins, named_by, seen_at, this_update, next_update, issuer, revoked, size,
            sha256, last_ok, last_error, next_fetch, failures],
    Text = ["%% mod_s2s_trust CRL copies (docs/crl.md); rewritten by the module.\n" |
            [io_lib:format("~0tp.~n", [{crl, U, maps:with(Keep, E)}])
             || {U, E} <- lists:keysort(1, ets:tab2list(?TAB))]],
    Tmp = <<Index/binary, ".tmp">>,
    case file:write_file(Tmp, Text) of
        ok -> _ = file:rename(Tmp, Index), ok;
        {error, Why} -> ?LOG_ERROR("mod_s2s_trust: cannot write ~ts: ~0p", [Index, Why])
    end.

%%%===================================================================
%%% Small things
%%%===================================================================

tbs(#'OTPCertificate'{tbsCertificate = T}) -> T.

safe(B) -> mod_s2s_trust_format:text_escape(B).

%% UTCTime / GeneralTime -> unix seconds.
asn1_time({utcTime, [Y1, Y2 | Rest]}) ->
    YY = list_to_integer([Y1, Y2]),
    Century = case YY >= 50 of true -> "19"; false -> "20" end,
    asn1_time({generalTime, Century ++ [Y1, Y2 | Rest]});
asn1_time({generalTime, [Y1, Y2, Y3, Y4, M1, M2, D1, D2, H1, H2, Mi1, Mi2, S1, S2, $Z]}) ->
    I = fun(L) -> list_to_integer(L) end,
    calendar:datetime_to_gregorian_seconds(
      {{I([Y1, Y2, Y3, Y4]), I([M1, M2]), I([D1, D2])}, {I([H1, H2]), I([Mi1, Mi2]), I([S1, S2])}})
        - 62167219200;
asn1_time(_) ->
    undefined.

%% An RDN sequence as "CN=..,O=..", for logs (escaped where logged).
name_text({rdnSequence, Rdns}) ->
    Parts = [attr_text(A) || Rdn <- lists:reverse(Rdns), A <- Rdn],
    iolist_to_binary(lists:join(<<",">>, [P || P <- Parts, P =/= <<>>]));
name_text(_) ->
    <<>>.

attr_text(#'AttributeTypeAndValue'{type = T, value = V}) ->
    Key = case T of
              ?'id-at-commonName' -> <<"CN">>;
              ?'id-at-organizationName' -> <<"O">>;
              ?'id-at-organizationalUnitName' -> <<"OU">>;
              ?'id-at-countryName' -> <<"C">>;
              _ -> <<>>
          end,
    case {Key, value_text(V)} of
        {<<>>, _} -> <<>>;
        {_, undefined} -> <<>>;
        {K, Text} -> <<K/binary, "=", Text/binary>>
    end;
attr_text(_) ->
    <<>>.

value_text({_Tag, V}) when is_binary(V) -> V;
value_text({_Tag, V}) when is_list(V) ->
    try unicode:characters_to_binary(V) of B when is_binary(B) -> B; _ -> undefined
    catch _:_ -> undefined
    end;
value_text(V) when is_list(V) -> value_text({x, V});
value_text(V) when is_binary(V) -> V;
value_text(_) -> undefined.
