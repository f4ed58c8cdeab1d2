%%% EUnit: the POSH policy of mod_s2s_trust_posh:decide/4 (docs/dane.md),
%%% the fingerprint match of s2s_trust_posh:match/2, the cache lifetimes,
%%% and the NIF's argument checks and refusals that need no network. The
%%% real fetches are tested against nginx on loopback (tests/posh/).
-module(mod_s2s_trust_posh_tests).

-include_lib("eunit/include/eunit.hrl").

-define(P, mod_s2s_trust_posh).

leaf() -> <<"the peer's leaf, as DER">>.
other() -> <<"some other certificate">>.

peer() -> #{domain => <<"h.posh.test">>, der => leaf(), in_validity => true}.

doc(Fps) -> #{fingerprints => Fps, expires => 3600, hop => undefined}.

refused(R) -> {{error, R}, #{detail => <<"PKIX said no">>}}.

never() -> fun() -> error(must_not_fetch) end.
gives(Result) -> fun() -> Result end.

verdict({V, _}) -> V.
details({_, D}) -> D.

decide_test_() ->
    Match256 = {ok, doc([{sha256, crypto:hash(sha256, leaf())}])},
    Match512 = {ok, doc([{sha256, crypto:hash(sha256, other())}, {sha512, crypto:hash(sha512, leaf())}])},
    Mismatch = {ok, doc([{sha256, crypto:hash(sha256, other())}])},
    Hop = {ok, (doc([{sha256, crypto:hash(sha256, leaf())}]))#{hop => <<"https://hosting.test/p.json">>}},
    Failed = {error, http_status, <<"domain document: HTTP 404">>},
    [%% off, or an accepted peer: never fetched, unchanged
     ?_assertEqual(refused(self_signed), ?P:decide(off, refused(self_signed), peer(), never())),
     ?_assertEqual({ok, #{}}, ?P:decide(on, {ok, #{}}, peer(), never())),
     %% curable reasons: a matching fingerprint accepts, by posh
     [?_assertEqual(ok, verdict(?P:decide(on, refused(R), peer(), gives(Match256))))
      || R <- [name_mismatch, self_signed, unknown_issuer]],
     ?_assertEqual(posh, maps:get(authority, details(?P:decide(on, refused(self_signed), peer(),
                                                              gives(Match256))))),
     ?_assertEqual(ok, verdict(?P:decide(on, refused(name_mismatch), peer(), gives(Match512)))),
     ?_assertMatch(<<"accepted by the POSH document of h.posh.test (delegated to https://hosting.test/p.json)", _/binary>>,
                   maps:get(detail, details(?P:decide(on, refused(name_mismatch), peer(), gives(Hop))))),
     %% a document that does not match refuses as posh_mismatch
     ?_assertEqual({error, posh_mismatch},
                   verdict(?P:decide(on, refused(self_signed), peer(), gives(Mismatch)))),
     ?_assertEqual(mismatch, maps:get(posh, details(?P:decide(on, refused(self_signed), peer(),
                                                              gives(Mismatch))))),
     %% no document: the refusal stays, its detail says POSH was tried
     ?_assertEqual({error, unknown_issuer},
                   verdict(?P:decide(on, refused(unknown_issuer), peer(), gives(Failed)))),
     ?_assertEqual(<<"PKIX said no; POSH tried, no usable document: http_status "
                     "(domain document: HTTP 404)">>,
                   maps:get(detail, details(?P:decide(on, refused(unknown_issuer), peer(),
                                                      gives(Failed))))),
     %% what the server says is escaped
     ?_assertEqual(nomatch,
                   binary:match(maps:get(detail, details(?P:decide(on, refused(self_signed), peer(),
                                                                   gives({error, failed, <<"x\e[31m">>})))),
                                <<"\e">>)),
     %% never cured: other PKIX failures, every DANE refusal
     [?_assertEqual(refused(R), ?P:decide(on, refused(R), peer(), never()))
      || R <- [expired, not_yet_valid, revoked, bad_signature, weak_crypto, malformed, untrusted,
               invalid_ca, bad_purpose, name_constraints, crl_unavailable, no_certificate,
               no_trust_store, dane_mismatch, dnssec_bogus, dane_required, dane_unavailable]],
     %% a chain that matched a signed TLSA record and then failed: DNS decided
     ?_assertEqual({{error, unknown_issuer}, #{dane => secure}},
                   ?P:decide(on, {{error, unknown_issuer}, #{dane => secure}}, peer(), never())),
     %% a leaf outside its validity period is not matched, nor fetched for
     ?_assertMatch({{error, self_signed}, #{posh := not_tried}},
                   ?P:decide(on, refused(self_signed), (peer())#{in_validity => false}, never()))].

match_test_() ->
    [?_assert(s2s_trust_posh:match(doc([{sha256, crypto:hash(sha256, leaf())}]), leaf())),
     ?_assert(s2s_trust_posh:match(doc([{sha512, crypto:hash(sha512, leaf())}]), leaf())),
     ?_assertNot(s2s_trust_posh:match(doc([{sha256, crypto:hash(sha256, other())}]), leaf())),
     %% a sha-256 digest under sha512 (or the reverse) is no match, not a crash
     ?_assertNot(s2s_trust_posh:match(doc([{sha512, crypto:hash(sha256, leaf())}]), leaf())),
     ?_assertNot(s2s_trust_posh:match(doc([]), leaf()))].

cache_ttl_test_() ->
    [?_assertEqual(3600, ?P:cache_ttl({ok, #{expires => 3600}}, 300)),
     ?_assertEqual(86400, ?P:cache_ttl({ok, #{expires => 315360000}}, 300)),
     ?_assertEqual(300, ?P:cache_ttl({error, timeout, <<>>}, 300))].

curable_test_() ->
    [?_assert(?P:curable(name_mismatch, #{})),
     ?_assert(?P:curable(self_signed, #{dane => no_records})),
     ?_assertNot(?P:curable(self_signed, #{dane => secure})),
     ?_assertNot(?P:curable(expired, #{}))].

opts() -> #{cafile => default, resolve => [], port => 0, timeout => 1000}.

nif_test_() ->
    F = fun s2s_trust_nif:posh_fetch_nif/2,
    [%% the peer's name is data: a refusal, before any I/O
     ?_assertMatch({error, bad_url, _}, F(<<"not a host!">>, opts())),
     ?_assertMatch({error, bad_url, _}, F(<<>>, opts())),
     ?_assertMatch({error, bad_url, _}, F(<<"a", 0, "b">>, opts())),
     ?_assertMatch({error, bad_url, _}, F(binary:copy(<<"a">>, 300), opts())),
     %% nothing listens there: connect_failed, in bounded time
     ?_assertMatch({error, connect_failed, _},
                   F(<<"closed.posh.test">>, (opts())#{resolve => [<<"closed.posh.test:1:127.0.0.1">>],
                                                       port => 1})),
     %% the operator's options are the caller's: badarg ({badarg, {File, Line}, Text})
     ?_assertError({badarg, _, _}, F(not_a_binary, opts())),
     ?_assertError({badarg, _, _}, F(<<"a.test">>, not_a_map)),
     ?_assertError({badarg, _, _}, F(<<"a.test">>, maps:remove(cafile, opts()))),
     ?_assertError({badarg, _, _}, F(<<"a.test">>, (opts())#{timeout => 0})),
     ?_assertError({badarg, _, _}, F(<<"a.test">>, (opts())#{port => 70000})),
     ?_assertError({badarg, _, _}, F(<<"a.test">>, (opts())#{resolve => [x]})),
     ?_assertError({badarg, _, _}, F(<<"a.test">>, (opts())#{resolve => lists:duplicate(9, <<"a:1:b">>)})),
     ?_assertError({badarg, _, _}, F(<<"a.test">>, (opts())#{cafile => <<>>}))].
