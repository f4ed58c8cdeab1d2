%%% mod_s2s_trust_crl_check - the rules of CRL refresh, as pure functions
%%% (docs/crl.md).
%%%
%%% One concern: what the rules say, with no process, table, socket or file
%%% behind them. Which URLs are fetched at all (http:// only, bounded,
%%% printable), which distribution points a certificate names, when a point
%%% is due again, what state the copy held is in, what a fetched body must
%%% be before it may replace that copy (one complete CRL, signed by a CA of
%%% the stores, not ahead of our clock, not older than the copy held), and
%%% the operator's text for every failure.
%%%
%%% Why apart: these are the decisions a reviewer has to trust, and a peer
%%% or a CRL server controls their input. Kept free of state, each one is
%%% a function of its arguments that EUnit checks directly
%%% (tests/erl/mod_s2s_trust_crl_check_tests.erl); the server, the round
%%% and the HTTP client only call them.
-module(mod_s2s_trust_crl_check).

-export([validate_url/1, cert_urls/1, dedup/1, next_fetch/4, due/3, copy_state/2,
         validate_crl/4, ca_row/1, signed_by/2, issuer/1, url_file/1, format_error/1, iso/1]).
%% for EUnit (validate_crl/4 parses with it)
-export([parse_crl/1]).
-export_type([url/0, entry/0]).

-include_lib("public_key/include/public_key.hrl").

%% After a good fetch, never sooner than this again (unless forced).
-define(MIN_GAP, 300).
%% First retry after a failure; doubles up to the refresh interval.
-define(RETRY_BASE, 60).
%% A thisUpdate this far ahead of our clock is refused.
-define(CLOCK_SKEW, 300).
%% URL length limit.
-define(MAX_URL, 1024).

-type url() :: binary().
%% What the index holds for one distribution point (mod_s2s_trust_crl_index).
-type entry() :: map().

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

%% A list without its repeats, in the order of first appearance.
-spec dedup(list()) -> list().
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
          header_too_long -> <<"HTTP header line too long">>;
          truncated -> <<"response shorter than its Content-Length">>;
          {http_failed, S, W} -> [atom_to_binary(S), <<": ">>, mod_s2s_trust_format:text_escape(W)];
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
%%% Small things
%%%===================================================================

tbs(#'OTPCertificate'{tbsCertificate = T}) -> T.

%% The normalized issuer name of a decoded certificate: the key under
%% which the CA certificates of the stores are looked up (ca_row/1).
-spec issuer(#'OTPCertificate'{}) -> term().
issuer(Otp) ->
    public_key:pkix_normalize_name((tbs(Otp))#'OTPTBSCertificate'.issuer).

%% A time as operators read it: ISO 8601, "-" for none, "now" for a point
%% due at once.
-spec iso(integer() | undefined) -> binary().
iso(undefined) -> <<"-">>;
iso(0) -> <<"now">>;
iso(T) when is_integer(T) -> mod_s2s_trust_format:iso8601(T).

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
