%%% EUnit: the pure parts of mod_s2s_trust_learn (what to probe, when, and
%%% what the violation record says). The probing itself is tested against
%%% real servers in tests/e2e/test_learn.sh.
-module(mod_s2s_trust_learn_tests).
-include_lib("eunit/include/eunit.hrl").

-define(M, mod_s2s_trust_learn).

srv_priority_first_test() ->
    Rs = [{20, 0, 5269, "c"}, {10, 0, 5269, "a"}, {30, 5, 5270, "d"}, {10, 0, 5269, "b"}],
    Ordered = ?M:order_srv(Rs),
    ?assertEqual(lists:sort(Rs), lists:sort(Ordered)),
    ?assertEqual([10, 10, 20, 30], [P || {P, _, _, _} <- Ordered]).

%% RFC 2782: within one priority, a target is drawn with probability
%% proportional to its weight. 90:10 over 2000 draws: the heavy one comes
%% first far more often (the bound is loose: 5 sigma is about 67 draws).
srv_weight_draw_test() ->
    Rs = [{10, 90, 5269, "heavy"}, {10, 10, 5269, "light"}],
    Firsts = [element(4, hd(?M:order_srv(Rs))) || _ <- lists:seq(1, 2000)],
    Heavy = length([x || "heavy" <- Firsts]),
    ?assert(Heavy > 1600),
    ?assert(Heavy < 2000).

srv_zero_weights_keep_all_test() ->
    Rs = [{0, 0, 1, "x"}, {0, 0, 2, "y"}, {0, 0, 3, "z"}],
    ?assertEqual(lists:sort(Rs), lists:sort(?M:order_srv(Rs))),
    ?assertEqual([], ?M:order_srv([])).

probe_allowed_test() ->
    ?assert(?M:probe_allowed(undefined, 1000, 300)),
    ?assertNot(?M:probe_allowed(1000, 1299, 300)),
    ?assert(?M:probe_allowed(1000, 1300, 300)).

outcome_text_incomplete_test() ->
    T = ?M:outcome_text(<<"c.test">>, {error, {chain_incomplete_at_peer, <<"127.0.0.4:5269 starttls">>}}),
    ?assertMatch({_, _}, binary:match(T, <<"chain incomplete at the peer">>)),
    ?assertMatch({_, _}, binary:match(T, <<"127.0.0.4:5269 starttls">>)).

%% The domain is the peer's data: escaped like every other name in logs.
outcome_text_escapes_domain_test() ->
    T = ?M:outcome_text(<<"evil\ninjected">>, {error, no_address}),
    ?assertEqual(nomatch, binary:match(T, <<"\n">>)),
    T2 = ?M:outcome_text(<<"d.test">>, {error, {not_learnable, <<"w">>, <<"untrusted: x">>}}),
    ?assertMatch({_, _}, binary:match(T2, <<"does not reach a trusted root">>)).

outcome_text_every_error_is_text_test() ->
    Whys = [no_address, busy, learner_not_running, {pending, 5000}, {rate_limited, <<"t">>},
            {probe_failed, <<"a: timeout">>}, {probe_crashed, boom}, {something, 'else'}],
    [?assert(is_binary(?M:outcome_text(<<"x.test">>, {error, W}))) || W <- Whys],
    ?assertMatch(<<"2 intermediate", _/binary>>, ?M:outcome_text(<<"x.test">>, {learned, 2})).
