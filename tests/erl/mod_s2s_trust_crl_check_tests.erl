%%% EUnit: the rules of CRL refresh, mod_s2s_trust_crl_check (docs/crl.md),
%%% against the test PKI (S2S_TRUST_PKI): which distribution points
%%% certificates name, which URLs are fetched, when, what state a copy is
%%% in, what a fetched CRL must be before it is kept, the operator's texts.
-module(mod_s2s_trust_crl_check_tests).

-include_lib("eunit/include/eunit.hrl").

-import(s2s_trust_test_pki, [pki/1, pem_der/1]).

-define(M, mod_s2s_trust_crl_check).
-define(ROOT_URL, <<"http://127.0.0.40:18089/root.crl">>).
-define(INTER_CRL_URL, <<"http://127.0.0.40:18089/inter-crl.crl">>).

cas(Names) -> [?M:ca_row(pem_der(N)) || N <- Names].

%%% ---- distribution points -------------------------------------------------

cert_urls_test_() ->
    [{"an intermediate names where its issuer publishes",
      ?_assertEqual([?ROOT_URL], ?M:cert_urls(pem_der("inter-crl.pem")))},
     {"a leaf names where its issuer publishes (Let's Encrypt style)",
      ?_assertEqual([?INTER_CRL_URL], ?M:cert_urls(pem_der("crlleaf.pem")))},
     {"no extension, no point",
      ?_assertEqual([], ?M:cert_urls(pem_der("good.pem")))},
     {"the test intermediates without the extension name none",
      ?_assertEqual([], ?M:cert_urls(pem_der("inter.pem")))},
     {"bytes that are not a certificate name nothing, and do not raise",
      ?_assertEqual([], ?M:cert_urls(<<"not a certificate">>))},
     {"a truncated certificate names nothing",
      ?_assertEqual([], ?M:cert_urls(binary:part(pem_der("crlleaf.pem"), 0, 200)))}].

ca_row_test_() ->
    {_, _, RootUrls, RootText} = ?M:ca_row(pem_der("root.pem")),
    {_, _, InterUrls, InterText} = ?M:ca_row(pem_der("inter-crl.pem")),
    [{"a self-signed root names no point we fetch", ?_assertEqual([], RootUrls)},
     ?_assertEqual(<<"CN=s2s-trust Test Root">>, RootText),
     ?_assertEqual([?ROOT_URL], InterUrls),
     ?_assertEqual(<<"CN=s2s-trust CRL-Publishing Intermediate">>, InterText),
     ?_assertEqual(undefined, ?M:ca_row(<<1, 2, 3>>))].

signed_by_test_() ->
    [{"leaf by its issuer", ?_assert(?M:signed_by(pem_der("crlleaf.pem"), pem_der("inter-crl.pem")))},
     {"leaf by another CA", ?_assertNot(?M:signed_by(pem_der("crlleaf.pem"), pem_der("inter.pem")))},
     {"a flipped signature byte", ?_assertNot(?M:signed_by(pem_der("badsig.pem"), pem_der("inter.pem")))},
     {"expiry is not this check's business",
      ?_assert(?M:signed_by(pem_der("expired.pem"), pem_der("inter.pem")))},
     {"garbage", ?_assertNot(?M:signed_by(<<"x">>, pem_der("inter.pem")))}].

%%% ---- URLs ----------------------------------------------------------------

validate_url_test_() ->
    Ok = fun(U) -> ?_assertEqual({ok, U}, ?M:validate_url(U)) end,
    Bad = fun(U, Why) -> {binary_to_list(U), ?_assertEqual({error, Why}, ?M:validate_url(U))} end,
    [Ok(<<"http://x1.c.lencr.org/">>),
     Ok(<<"http://e7.c.lencr.org/42.crl">>),
     Ok(<<"http://127.0.0.40:18089/root.crl">>),
     Ok(<<"http://[::1]:8080/a.crl">>),
     Ok(<<"HTTP://Example.ORG/a.crl?x=1">>),
     {"a charlist", ?_assertEqual({ok, ?ROOT_URL}, ?M:validate_url(binary_to_list(?ROOT_URL)))},
     Bad(<<"https://x1.c.lencr.org/">>, {scheme, <<"https">>}),
     Bad(<<"ldap://ldap.example/cn=CA?certificateRevocationList">>, {scheme, <<"ldap">>}),
     Bad(<<"file:///etc/passwd">>, {scheme, <<"file">>}),
     Bad(<<"ftp://example.org/a.crl">>, {scheme, <<"ftp">>}),
     Bad(<<"http://user:pw@example.org/a.crl">>, userinfo),
     Bad(<<"http://example.org/a.crl#frag">>, fragment),
     Bad(<<"http:///a.crl">>, no_host),
     Bad(<<"/a.crl">>, no_scheme),
     Bad(<<"http://example.org:0/a.crl">>, bad_port),
     Bad(<<"http://example.org:70000/a.crl">>, bad_port),
     Bad(<<"http://exa_mple.org/a.crl">>, bad_host),
     Bad(<<"http://example.org/a b.crl">>, not_ascii),
     Bad(<<"http://example.org/\r\nHost: evil/">>, not_ascii),
     Bad(<<"http://b", 16#c3, 16#bc, "cher.test/a.crl">>, not_ascii),
     Bad(<<"http://example.org/", (binary:copy(<<"a">>, 1100))/binary>>, too_long),
     {"not a string", ?_assertEqual({error, malformed}, ?M:validate_url(42))}].

url_file_test_() ->
    F = ?M:url_file(<<"http://e7.c.lencr.org/42.crl">>),
    [?_assertEqual(36, byte_size(F)),
     ?_assertMatch(<<_:32/binary, ".crl">>, F),
     {"no URL byte reaches the file name",
      ?_assertEqual(nomatch, binary:match(?M:url_file(<<"http://x/../../etc/passwd">>), <<"/">>))},
     ?_assertNotEqual(F, ?M:url_file(<<"http://e7.c.lencr.org/43.crl">>))].

%%% ---- scheduling ----------------------------------------------------------

next_fetch_test_() ->
    Now = 1000000, I = 10800,
    [{"success, nextUpdate far away: after the interval",
      ?_assertEqual(Now + I, ?M:next_fetch({ok, Now + 7 * 86400}, Now, I, 0))},
     {"success, no nextUpdate: after the interval",
      ?_assertEqual(Now + I, ?M:next_fetch({ok, undefined}, Now, I, 0))},
     {"success, nextUpdate before the interval ends: at nextUpdate",
      ?_assertEqual(Now + 3600, ?M:next_fetch({ok, Now + 3600}, Now, I, 0))},
     {"success, nextUpdate already past (stale CRL): not before the minimum gap",
      ?_assertEqual(Now + 300, ?M:next_fetch({ok, Now - 10}, Now, I, 0))},
     {"success, short interval (tests): the interval",
      ?_assertEqual(Now + 15, ?M:next_fetch({ok, Now - 10}, Now, 15, 0))},
     {"failure: 60 s, then doubling",
      ?_assertEqual([Now + 60, Now + 120, Now + 240, Now + 480],
                    [?M:next_fetch(error, Now, I, F) || F <- [1, 2, 3, 4]])},
     {"failure: capped at the interval",
      ?_assertEqual(Now + I, ?M:next_fetch(error, Now, I, 40))},
     {"failure, short interval",
      ?_assertEqual(Now + 15, ?M:next_fetch(error, Now, 15, 1))}].

due_test_() ->
    [{"new point", ?_assert(?M:due(undefined, 100, false))},
     {"due now", ?_assert(?M:due(#{next_fetch => 100}, 100, false))},
     {"not yet", ?_assertNot(?M:due(#{next_fetch => 101}, 100, false))},
     {"s2s_trust_reload fetches everything", ?_assert(?M:due(#{next_fetch => 9999}, 100, true))},
     {"noted by a leaf, never fetched", ?_assert(?M:due(#{next_fetch => 0}, 100, false))}].

copy_state_test_() ->
    [?_assertEqual(none, ?M:copy_state(#{}, 100)),
     ?_assertEqual(none, ?M:copy_state(#{file => undefined}, 100)),
     ?_assertEqual(current, ?M:copy_state(#{file => <<"f">>, next_update => 200}, 100)),
     ?_assertEqual(current, ?M:copy_state(#{file => <<"f">>}, 100)),
     ?_assertEqual(stale, ?M:copy_state(#{file => <<"f">>, next_update => 99}, 100))].

%%% ---- what a fetched CRL must be ------------------------------------------

parse_crl_test_() ->
    {ok, Pem} = file:read_file(pki("inter.crl.pem")),
    [{'CertificateList', Der, _}] = public_key:pem_decode(Pem),
    [{"PEM", ?_assertMatch({ok, Der, _}, ?M:parse_crl(Pem))},
     {"DER", ?_assertMatch({ok, Der, _}, ?M:parse_crl(Der))},
     {"two CRLs in one PEM", ?_assertEqual({error, not_a_crl},
                                           ?M:parse_crl(<<Pem/binary, Pem/binary>>))},
     {"a certificate", ?_assertEqual({error, not_a_crl}, ?M:parse_crl(pem_der("inter.pem")))},
     {"an HTML error page", ?_assertEqual({error, not_a_crl},
                                          ?M:parse_crl(<<"<html>404</html>">>))},
     {"empty", ?_assertEqual({error, not_a_crl}, ?M:parse_crl(<<>>))},
     {"truncated DER", ?_assertEqual({error, not_a_crl},
                                     ?M:parse_crl(binary:part(Der, 0, byte_size(Der) - 5)))}].

validate_crl_test_() ->
    {ok, Pem} = file:read_file(pki("inter.crl.pem")),
    [{'CertificateList', Der, _}] = public_key:pem_decode(Pem),
    Cas = cas(["root.pem", "inter.pem", "inter-nc.pem"]),
    Now = erlang:system_time(second),
    {ok, #{this_update := TU} = Info} = ?M:validate_crl(Der, Cas, undefined, Now),
    Size = byte_size(Der),
    Flipped = <<(binary:part(Der, 0, Size - 1))/binary, (binary:last(Der) bxor 1)>>,
    [{"the test PKI's intermediate CRL", ?_assertMatch(#{issuer := <<"CN=s2s-trust Test Intermediate">>,
                                                         revoked := 1, der := Der}, Info)},
     {"thisUpdate and nextUpdate read (30 days apart)",
      ?_assertEqual(30 * 86400, maps:get(next_update, Info) - TU)},
     {"the root's CRL (no revocations)",
      ?_assertMatch({ok, #{revoked := 0, issuer := <<"CN=s2s-trust Test Root">>}},
                    ?M:validate_crl(pem_der("root.crl.pem"), Cas, undefined, Now))},
     {"issuer not in the store", ?_assertEqual({error, unknown_issuer},
                                               ?M:validate_crl(Der, cas(["root.pem"]), undefined, Now))},
     {"a flipped signature byte", ?_assertEqual({error, bad_signature},
                                                ?M:validate_crl(Flipped, Cas, undefined, Now))},
     {"same thisUpdate as the copy held: fine (an unchanged CRL)",
      ?_assertMatch({ok, _}, ?M:validate_crl(Der, Cas, TU, Now))},
     {"older than the copy held: a replay, refused",
      ?_assertEqual({error, {older_than_held, TU + 1}}, ?M:validate_crl(Der, Cas, TU + 1, Now))},
     {"thisUpdate ahead of our clock", ?_assertEqual({error, this_update_ahead},
                                                     ?M:validate_crl(Der, Cas, undefined, TU - 3600))},
     {"not a CRL", ?_assertEqual({error, not_a_crl},
                                 ?M:validate_crl(<<"garbage">>, Cas, undefined, Now))}].

format_error_test_() ->
    [?_assertEqual(<<"HTTP status 404">>, ?M:format_error({http_status, 404})),
     ?_assertEqual(<<"cannot connect: connection refused">>, ?M:format_error({connect, econnrefused})),
     ?_assertEqual(<<"redirect refused: scheme https (only http:// is fetched)">>,
                   ?M:format_error({redirect, {scheme, <<"https">>}})),
     {"a hostile scheme is escaped",
      ?_assertEqual(<<"scheme a\\x0ab (only http:// is fetched)">>,
                    ?M:format_error({scheme, <<"a\nb">>}))}].
