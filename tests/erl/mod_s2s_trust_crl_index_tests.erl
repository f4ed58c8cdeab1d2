%%% EUnit: the record of distribution points and copies,
%%% mod_s2s_trust_crl_index (docs/crl.md): which points a round keeps, and
%%% whether every CRL that covers a leaf is held and current (crl_missing:
%%% refuse), on tables made here by hand.
-module(mod_s2s_trust_crl_index_tests).

-include_lib("eunit/include/eunit.hrl").

-import(s2s_trust_test_pki, [pem_der/1]).

-define(M, mod_s2s_trust_crl_index).
%% The index's tables, as its server would make them (mod_s2s_trust_crl_index:init/0).
-define(TAB, mod_s2s_trust_crl_index).
-define(CA_TAB, mod_s2s_trust_crl_index_ca).
-define(ROOT_URL, <<"http://127.0.0.40:18089/root.crl">>).
-define(INTER_CRL_URL, <<"http://127.0.0.40:18089/inter-crl.crl">>).

cas(Names) -> [mod_s2s_trust_crl_check:ca_row(pem_der(N)) || N <- Names].

%%% ---- crl_missing: refuse ---------------------------------------------------

%% Every CRL named for a leaf (its own point, and its issuer's) must be held
%% and current; the tables are the server's, made here by hand.
freshness_test_() ->
    Leaf = pem_der("crlleaf.pem"),
    Now = 1000000,
    Put = fun(Entries) ->
                  ets:delete_all_objects(?TAB),
                  ets:insert(?TAB, [{maps:get(url, E), E} || E <- Entries])
          end,
    Good = fun(U) -> #{url => U, file => <<"f">>, next_update => Now + 100} end,
    {setup,
     fun() ->
             T = ets:new(?TAB, [named_table, public, set]),
             C = ets:new(?CA_TAB, [named_table, public, bag]),
             ets:insert(C, cas(["root.pem", "inter-crl.pem"])),
             {T, C}
     end,
     fun({T, C}) -> ets:delete(T), ets:delete(C) end,
     fun(_) ->
             [{"both held and current",
               ?_test(begin Put([Good(?ROOT_URL), Good(?INTER_CRL_URL)]),
                            ?assertEqual(ok, ?M:freshness(Leaf, Now)) end)},
              {"the leaf's own point never fetched",
               ?_test(begin Put([Good(?ROOT_URL)]),
                            {missing, T} = ?M:freshness(Leaf, Now),
                            ?assertMatch({_, _}, binary:match(T, <<"inter-crl.crl not fetched yet">>))
                      end)},
              {"the issuer's point (named by inter-crl) stale",
               ?_test(begin Put([(Good(?ROOT_URL))#{next_update => Now - 1}, Good(?INTER_CRL_URL)]),
                            {missing, T} = ?M:freshness(Leaf, Now),
                            ?assertMatch({_, _}, binary:match(T, <<"root.crl is stale">>))
                      end)},
              {"failing, no copy",
               ?_test(begin Put([Good(?ROOT_URL), #{url => ?INTER_CRL_URL,
                                                    last_error => {Now, timeout}}]),
                            {missing, T} = ?M:freshness(Leaf, Now),
                            ?assertMatch({_, _}, binary:match(T, <<"could not be fetched: timed out">>))
                      end)},
              {"failing, but a current copy held: fine",
               ?_test(begin Put([Good(?ROOT_URL), (Good(?INTER_CRL_URL))#{last_error => {Now, timeout}}]),
                            ?assertEqual(ok, ?M:freshness(Leaf, Now)) end)},
              {"a leaf naming no point, from a CA naming none",
               ?_test(begin Put([]), ?assertEqual(ok, ?M:freshness(pem_der("good.pem"), Now)) end)}]
     end}.

%%% ---- which points a round keeps -------------------------------------------

wanted_test_() ->
    Now = 100 * 86400,
    Leaf = fun(U, SeenAt) -> {U, #{url => U, origins => [leaf], seen_at => SeenAt}} end,
    Pool = [{<<"http://p/2.crl">>, <<"CN=B">>}, {<<"http://p/1.crl">>, <<"CN=A">>}],
    Many = [{<<"http://p/", (integer_to_binary(I))/binary, ".crl">>, <<"CN=X">>}
            || I <- lists:seq(1, 300)],
    [{"the pool's points first, in their order, then leaves' (sorted)",
      ?_assertEqual([<<"http://p/2.crl">>, <<"http://p/1.crl">>, <<"http://l/a.crl">>,
                     <<"http://l/b.crl">>],
                    ?M:wanted(Pool, maps:from_list([Leaf(<<"http://l/b.crl">>, Now),
                                                    Leaf(<<"http://l/a.crl">>, Now - 86400)]),
                              Now))},
     {"a leaf point seen 30 days ago stays; one day more and it goes",
      ?_assertEqual([<<"http://l/a.crl">>],
                    ?M:wanted([], maps:from_list([Leaf(<<"http://l/a.crl">>, Now - 30 * 86400),
                                                  Leaf(<<"http://l/b.crl">>, Now - 31 * 86400)]),
                              Now))},
     {"a point both the pool and a leaf name is kept once",
      ?_assertEqual([<<"http://p/2.crl">>, <<"http://p/1.crl">>],
                    ?M:wanted(Pool, maps:from_list([Leaf(<<"http://p/1.crl">>, Now)]), Now))},
     {"a point no longer named by the pool nor by a leaf is not kept",
      ?_assertEqual([], ?M:wanted([], #{<<"http://p/1.crl">> => #{origins => [pool]}}, Now))},
     {"at most 256 points",
      ?_assertEqual(256, length(?M:wanted(Many, #{}, Now)))}].
