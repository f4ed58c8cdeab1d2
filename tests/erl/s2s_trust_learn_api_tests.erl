%%% EUnit: s2s_trust:open/2 (extra intermediates bundles) and
%%% s2s_trust:learn_examine/2 through the NIF, on the generated test PKI.
-module(s2s_trust_learn_api_tests).
-include_lib("eunit/include/eunit.hrl").

pki(Name) ->
    filename:join(os:getenv("S2S_TRUST_PKI"), Name).

ders(File) ->
    {ok, Pem} = file:read_file(pki(File)),
    [Der || {'Certificate', Der, not_encrypted} <- public_key:pem_decode(Pem)].

config(Name, Text) ->
    Dir = filename:join(["/tmp", "s2s_trust_learn_api_" ++ os:getpid()]),
    ok = filelib:ensure_dir(filename:join(Dir, "x")),
    File = filename:join(Dir, Name),
    ok = file:write_file(File, Text),
    File.

root_only() ->
    config("root_only.conf", ["ca_file = \"", pki("root.pem"), "\";\n"]).

open2_adds_intermediates_test() ->
    [Leaf] = ders("learnme.pem"),
    {ok, S0} = s2s_trust:open(root_only()),
    ?assertEqual({error, unknown_issuer}, s2s_trust:verify(S0, <<"learnme.test">>, [Leaf])),
    {ok, S1} = s2s_trust:open(root_only(), #{intermediate_files => [pki("inter-new.pem")]}),
    ?assertEqual(ok, s2s_trust:verify(S1, <<"learnme.test">>, [Leaf])),
    ?assertMatch(#{intermediates := 1}, s2s_trust:info(S1)),
    ?assert(lists:member(list_to_binary(pki("inter-new.pem")),
                         maps:get(sources, s2s_trust:info(S1)))).

%% A broken bundle is an error naming that file (line 0), never a store
%% without it.
open2_bad_bundle_names_file_test() ->
    Bad = config("bad.pem", "-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n"),
    BadBin = list_to_binary(Bad),
    ?assertMatch({error, {config, _, 0, _}}, s2s_trust:open(root_only(), #{intermediate_files => [Bad]})),
    {error, {config, _, 0, Text}} = s2s_trust:open(root_only(), #{intermediate_files => [Bad]}),
    ?assertMatch({_, _}, binary:match(Text, BadBin)).

open2_badarg_test() ->
    ?assertError({badarg, _, _}, s2s_trust:open(root_only(), not_a_map)),
    ?assertError({badarg, _, _}, s2s_trust:open(root_only(), #{intermediate_files => x})),
    ?assertError({badarg, _, _}, s2s_trust:open(root_only(), #{other => []})),
    ?assertError({badarg, _, _}, s2s_trust:open(root_only(), #{crl_files => ["relative.pem"]})),
    ?assertError({badarg, _, _}, s2s_trust:open(root_only(), #{crl_files => [<<"/a", 0, "b">>]})).

open2_extra_crl_test() ->
    %% revoked.pem is listed in inter.crl.pem: with the CRL added as an
    %% extra file and crl_check require, the leaf is revoked.
    Conf = config("crl.conf", ["ca_file = \"", pki("root.pem"), "\";\nintermediate_file = \"",
                               pki("pool.pem"), "\";\ncrl_check = \"if_available\";\n"]),
    [Leaf] = ders("revoked.pem"),
    {ok, S0} = s2s_trust:open(Conf),
    ?assertEqual(ok, s2s_trust:verify(S0, <<"revoked.test">>, [Leaf])),
    {ok, S1} = s2s_trust:open(Conf, #{crl_files => [pki("inter.crl.pem"), pki("root.crl.pem")]}),
    ?assertEqual({error, revoked}, s2s_trust:verify(S1, <<"revoked.test">>, [Leaf])).

learn_examine_test() ->
    {ok, S} = s2s_trust:open(root_only()),
    ?assertMatch([{leaf, 0, undefined}, {keep, 0, undefined}],
                 s2s_trust:learn_examine(S, ders("learnme.chain.pem"))),
    ?assertMatch([{leaf, _, _}, {untrusted, C, T}, {self_issued, _, _}] when C > 0 andalso is_binary(T),
                 s2s_trust:learn_examine(S, ders("unknownroot.chain.pem"))),
    ?assertMatch([{malformed, _, _}, {malformed, _, _}],
                 s2s_trust:learn_examine(S, [<<>>, <<"garbage">>])).

learn_examine_badarg_test() ->
    {ok, S} = s2s_trust:open(root_only()),
    ?assertError({badarg, _, _}, s2s_trust:learn_examine(S, [])),
    ?assertError({badarg, _, _}, s2s_trust:learn_examine(S, lists:duplicate(17, <<>>))),
    ?assertError({badarg, _, _}, s2s_trust:learn_examine(make_ref(), [<<>>])),
    ?assertError({badarg, _, _}, s2s_trust:learn_examine(S, [not_binary])).

%% The probe refuses what is not an address literal, and a closed port is
%% a value, not an exception (nothing listens on 127.0.0.1:1).
probe_values_test() ->
    ?assertMatch({error, bad_address, #{}},
                 s2s_trust:probe(<<"x.test">>, <<"not an address">>, 5269, starttls, 1000)),
    ?assertMatch({error, connect_failed, #{stage := connect}},
                 s2s_trust:probe(<<"x.test">>, {127, 0, 0, 1}, 1, starttls, 2000)),
    ?assertError({badarg, _, _}, s2s_trust:probe(<<"x.test">>, <<"127.0.0.1">>, 0, starttls, 1000)),
    ?assertError({badarg, _, _}, s2s_trust:probe(<<"x.test">>, <<"127.0.0.1">>, 5269, tcp, 1000)),
    ?assertError({badarg, _, _}, s2s_trust:probe(<<"x.test">>, <<"127.0.0.1">>, 5269, starttls, 0)).
