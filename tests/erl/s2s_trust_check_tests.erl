%%% EUnit: s2s_trust:check/3 (what the module asks on every stream) and
%%% s2s_trust:describe/3 (the leaf's facts, nothing verified), against
%%% explain/3, the fresh verification with every detail, on the test PKI.
-module(s2s_trust_check_tests).
-include_lib("eunit/include/eunit.hrl").

pki(Name) ->
    filename:join(os:getenv("S2S_TRUST_PKI"), Name).

der(Name) ->
    {ok, Der} = file:read_file(pki(Name ++ ".der")),
    Der.

store() ->
    Dir = filename:join(["/tmp", "s2s_trust_check_" ++ os:getpid()]),
    ok = filelib:ensure_dir(filename:join(Dir, "x")),
    Conf = filename:join(Dir, "trust.conf"),
    ok = file:write_file(Conf, ["ca_file = \"", pki("root.pem"), "\";\n",
                                "intermediate_file = \"", pki("pool.pem"), "\";\n"]),
    {ok, S} = s2s_trust:open(Conf),
    S.

leaf_facts(D) ->
    maps:with([subject, issuer, not_before, not_after, names, domain, presented], D).

%% Same verdicts as explain/3, the first time and through the cache; a
%% refusal's details are explain's, an acceptance's are the leaf's facts.
check_agrees_with_explain_test_() ->
    S = store(),
    Cases = [{"good", <<"good.test">>}, {"good", <<"other.test">>}, {"expired", <<"expired.test">>},
             {"selfsigned", <<"selfsigned.test">>}, {"xmppaddr", <<"xmpp.test">>},
             {"unknownroot", <<"unknownroot.test">>}, {"badsig", <<"badsig.test">>}],
    [{Name ++ " for " ++ binary_to_list(Domain),
      fun() ->
              {V, Ex} = s2s_trust:explain(S, Domain, [der(Name)]),
              [begin
                   {CV, Ck} = s2s_trust:check(S, Domain, [der(Name)]),
                   ?assertEqual(V, CV),
                   ?assertEqual(leaf_facts(Ex), leaf_facts(Ck)),
                   case V of
                       ok ->
                           ?assertMatch(#{chain := [], matched_by := M, detail := T}
                                          when M =/= none andalso is_binary(T), Ck),
                           ?assertEqual(maps:get(detail, Ex), maps:get(detail, Ck));
                       {error, _} ->
                           ?assertEqual(Ex, Ck)
                   end
               end || _ <- [first, cached]]
      end} || {Name, Domain} <- Cases].

%% check/3 goes through the verdict cache, explain/3 never does.
check_uses_the_cache_test() ->
    S = store(),
    Hits = fun() -> maps:get(hits, maps:get(verdict_cache, s2s_trust:info(S))) end,
    {ok, _} = s2s_trust:check(S, <<"good.test">>, [der("good")]),
    H0 = Hits(),
    {ok, _} = s2s_trust:check(S, <<"good.test">>, [der("good")]),
    ?assertEqual(H0 + 1, Hits()),
    _ = s2s_trust:explain(S, <<"good.test">>, [der("good")]),
    ?assertEqual(H0 + 1, Hits()).

describe_names_without_verifying_test() ->
    S = store(),
    %% an expired, self-signed leaf still shows its facts: nothing is verified
    {ok, D} = s2s_trust:describe(S, <<"selfsigned.test">>, [der("selfsigned")]),
    {_, Ex} = s2s_trust:explain(S, <<"selfsigned.test">>, [der("selfsigned")]),
    ?assertEqual(leaf_facts(Ex), leaf_facts(D)),
    ?assertMatch(#{chain := [], detail := undefined, depth := undefined}, D),
    {ok, X} = s2s_trust:describe(S, <<"invalid.invalid">>, [der("xmppaddr")]),
    ?assert(lists:any(fun(#{type := T}) -> T =:= xmpp end, maps:get(names, X))),
    ?assertMatch(#{matched_by := none}, X).

%% Bytes from the network: the verifier's early verdicts, never a raise.
describe_hostile_bytes_test_() ->
    S = store(),
    [?_assertMatch({{error, no_certificate}, #{detail := <<_/binary>>}}, s2s_trust:describe(S, <<"a.test">>, [])),
     ?_assertMatch({{error, malformed}, #{names := []}}, s2s_trust:describe(S, <<"a.test">>, [<<>>])),
     ?_assertMatch({{error, malformed}, _}, s2s_trust:describe(S, <<"a.test">>, [<<48, 3, 1, 2, 3>>])),
     ?_assertMatch({{error, malformed}, _}, s2s_trust:describe(S, <<"a.test">>, [<<(der("good"))/binary, 0>>])),
     ?_assertMatch({{error, too_long}, _}, s2s_trust:describe(S, <<"a.test">>, [<<0:(40000 * 8)>>])),
     ?_assertMatch({{error, too_long}, _}, s2s_trust:describe(S, <<"a.test">>, lists:duplicate(11, der("good")))),
     ?_assertMatch({{error, malformed}, _}, s2s_trust:check(S, <<"a.test">>, [<<48, 3, 1, 2, 3>>])),
     ?_assertError({badarg, _, _}, s2s_trust:describe(S, 42, [der("good")])),
     ?_assertError({badarg, _, _}, s2s_trust:check(S, <<"a.test">>, not_a_list))].
