%%% mod_s2s_trust_gate_tests - the pure parts of the no-bypass work
%%% (docs/security.md): verdicts bound to one connection, what counts as
%%% authenticated, which pairs a re-check judges, and the bounded violators
%%% list. The paths themselves are proven against real servers in
%%% tests/e2e/test_bypass.sh.
-module(mod_s2s_trust_gate_tests).

-include_lib("eunit/include/eunit.hrl").
-include("../../erl_src/mod_s2s_trust.hrl").

-define(G, mod_s2s_trust_gate).

later() -> erlang:system_time(second) + 3600.

in_state(Monitor, Domains) ->
    #{stream_direction => in, server_host => <<"a.test">>, socket_monitor => Monitor,
      auth_domains => sets:from_list(Domains)}.

verdicts_test_() ->
    M1 = make_ref(),
    M2 = make_ref(),
    S0 = in_state(M1, [<<"r.test">>]),
    S1 = ?G:accepted(S0, <<"a.test">>, <<"r.test">>, later()),
    S2 = ?G:refused(S1, <<"b.test">>, <<"r.test">>),
    [?_assertEqual(none, ?G:verdict(S0, <<"a.test">>, <<"r.test">>)),
     ?_assertEqual(accept, ?G:verdict(S1, <<"a.test">>, <<"r.test">>)),
     %% per (local vhost, remote domain): another vhost is not judged by it
     ?_assertEqual(none, ?G:verdict(S1, <<"b.test">>, <<"r.test">>)),
     ?_assertEqual(none, ?G:verdict(S1, <<"a.test">>, <<"other.test">>)),
     ?_assertEqual(refuse, ?G:verdict(S2, <<"b.test">>, <<"r.test">>)),
     ?_assertEqual(lists:sort([{<<"a.test">>, <<"r.test">>}, {<<"b.test">>, <<"r.test">>}]),
                   lists:sort(?G:verdict_keys(S2))),
     %% bound to the connection: the same state map on a new connection
     %% (xmpp_stream_out:reset_state/1 keeps module keys) has no verdict
     ?_assertEqual(none, ?G:verdict(S2#{socket_monitor => M2}, <<"a.test">>, <<"r.test">>)),
     ?_assertEqual([], ?G:verdict_keys(S2#{socket_monitor => M2})),
     ?_assertEqual(none, ?G:verdict(maps:remove(socket_monitor, S2), <<"a.test">>, <<"r.test">>)),
     %% a later verdict replaces the earlier one
     ?_assertEqual(refuse, ?G:verdict(?G:refused(S1, <<"a.test">>, <<"r.test">>),
                                      <<"a.test">>, <<"r.test">>))].

%% An acceptance holds until its time; a new policy of the vhost voids
%% every verdict given under the old one (and only that vhost's).
expiry_and_policy_test_() ->
    M = make_ref(),
    Now = erlang:system_time(second),
    S0 = in_state(M, [<<"r.test">>]),
    Past = ?G:accepted(S0, <<"a.test">>, <<"r.test">>, Now - 1),
    Live = ?G:accepted(S0, <<"ep.test">>, <<"r.test">>, Now + 3600),
    Other = ?G:accepted(S0, <<"other.test">>, <<"r.test">>, Now + 3600),
    [?_assertEqual(none, ?G:verdict(Past, <<"a.test">>, <<"r.test">>)),
     ?_assertEqual(accept, ?G:verdict(Live, <<"ep.test">>, <<"r.test">>)),
     %% the stream armed one timer, for its earliest acceptance
     ?_assertMatch(#{mod_s2s_trust_expiry_timer := {_, _}}, Live),
     ?_test(begin
                ok = ?G:new_policy(<<"ep.test">>),
                ?assertEqual(none, ?G:verdict(Live, <<"ep.test">>, <<"r.test">>)),
                ?assertEqual(accept, ?G:verdict(Other, <<"other.test">>, <<"r.test">>)),
                %% judged again under the new policy, it counts again
                Again = ?G:accepted(Live, <<"ep.test">>, <<"r.test">>, Now + 3600),
                ?assertEqual(accept, ?G:verdict(Again, <<"ep.test">>, <<"r.test">>))
            end)].

authenticated_test_() ->
    In = in_state(make_ref(), [<<"r.test">>, <<"piggy.test">>]),
    Out = #{stream_direction => out, server_host => <<"a.test">>, remote_server => <<"r.test">>,
            stream_authenticated => true, socket_monitor => make_ref()},
    [?_assert(?G:authenticated(in, <<"r.test">>, In)),
     ?_assert(?G:authenticated(in, <<"piggy.test">>, In)),
     ?_assertNot(?G:authenticated(in, <<"x.test">>, In)),
     ?_assertNot(?G:authenticated(in, <<"r.test">>, maps:remove(auth_domains, In))),
     ?_assert(?G:authenticated(out, <<"r.test">>, Out)),
     %% before the stream authenticated: what mod_s2s_bidi used to route
     ?_assertNot(?G:authenticated(out, <<"r.test">>, Out#{stream_authenticated => false})),
     ?_assertNot(?G:authenticated(out, <<"r.test">>, maps:remove(stream_authenticated, Out))),
     ?_assertNot(?G:authenticated(out, <<"other.test">>, Out)),
     %% a dialback verification stream authenticates nothing of the peer's
     ?_assertNot(?G:authenticated(out, <<"r.test">>, Out#{db_verify => {a, b, c}})),
     ?_assertEqual(out, ?G:direction(Out)),
     ?_assertEqual(in, ?G:direction(In)),
     ?_assertEqual(in, ?G:direction(#{}))].

pairs_test_() ->
    P = fun mod_s2s_trust_recheck:pairs/3,
    M = make_ref(),
    In = ?G:refused(in_state(M, [<<"r.test">>, <<"s.test">>]), <<"b.test">>, <<"r.test">>),
    Out = #{stream_direction => out, server_host => <<"a.test">>, remote_server => <<"r.test">>,
            stream_authenticated => true, socket_monitor => M},
    [?_assertEqual([{<<"a.test">>, <<"r.test">>}, {<<"a.test">>, <<"s.test">>},
                    {<<"b.test">>, <<"r.test">>}],
                   P(in, In, [<<"a.test">>, <<"b.test">>])),
     %% only the vhosts being re-checked
     ?_assertEqual([{<<"b.test">>, <<"r.test">>}], P(in, In, [<<"b.test">>])),
     ?_assertEqual([], P(in, In, [<<"c.test">>])),
     %% a pair judged and authenticated is checked once
     ?_assertEqual([{<<"a.test">>, <<"r.test">>}, {<<"a.test">>, <<"s.test">>}],
                   P(in, ?G:accepted(in_state(M, [<<"r.test">>, <<"s.test">>]),
                                     <<"a.test">>, <<"r.test">>, later()), [<<"a.test">>])),
     ?_assertEqual([{<<"a.test">>, <<"r.test">>}], P(out, Out, [<<"a.test">>])),
     ?_assertEqual([], P(out, Out#{stream_authenticated => false}, [<<"a.test">>])),
     ?_assertEqual([], P(out, Out#{db_verify => x}, [<<"a.test">>]))].

%% The bound of the violators list, on a real (RAM) Mnesia table.
evict_test_() ->
    {setup,
     fun() ->
             mnesia:start(),
             {atomic, ok} = mnesia:create_table(s2s_trust_violation,
                                                [{attributes, record_info(fields, s2s_trust_violation)}]),
             ok
     end,
     fun(_) -> mnesia:delete_table(s2s_trust_violation), mnesia:delete_table(s2s_trust_last),
               mnesia:stop() end,
     fun() ->
             Write = fun(I) ->
                             mnesia:dirty_write(#s2s_trust_violation{
                                                   domain = integer_to_binary(I), last_seen = I,
                                                   count = 1, last_reason = no_tls})
                     end,
             %% inserted in shuffled order: age, not insertion, decides
             [Write(I) || {_, I} <- lists:sort([{erlang:phash2(I), I} || I <- lists:seq(1, 120)])],
             Before = mod_s2s_trust_violators:evicted(),
             ok = mod_s2s_trust_mnesia:evict(s2s_trust_violation, 100),
             Kept = lists:sort([binary_to_integer(D) || D <- mnesia:dirty_all_keys(s2s_trust_violation)]),
             %% down to the bound less a tenth, the newest kept
             ?assertEqual(lists:seq(31, 120), Kept),
             ?assertEqual(30, mod_s2s_trust_violators:evicted() - Before),
             %% within the bound: nothing to do
             ok = mod_s2s_trust_mnesia:evict(s2s_trust_violation, 100),
             ?assertEqual(90, mnesia:table_info(s2s_trust_violation, size)),
             %% the last-verdict table keeps its time inside a map
             {atomic, ok} = mnesia:create_table(s2s_trust_last, [{attributes, [domain, verdict]}]),
             [mnesia:dirty_write({s2s_trust_last, integer_to_binary(I), #{at => I, verdict => ok}})
              || I <- lists:seq(1, 60)],
             ok = mod_s2s_trust_mnesia:evict(s2s_trust_last, 50),
             ?assertEqual(lists:seq(16, 60),
                          lists:sort([binary_to_integer(D) || D <- mnesia:dirty_all_keys(s2s_trust_last)]))
     end}.

%% Our stanza leaving over a peer's inbound bidi stream: without an accepted
%% verdict for that peer it is stopped (and bounced), whatever mod_s2s_bidi
%% would do next; with one, it goes on.
handle_info_test_() ->
    {setup,
     fun() -> {ok, _} = application:ensure_all_started(xmpp) end,
     fun(_) -> ok end,
     fun() ->
             Pkt = xmpp:decode(fxml_stream:parse_element(
                                 <<"<message xmlns='jabber:server' from='u@a.test' "
                                   "to='x@r.test'><body>hi</body></message>">>)),
             M = make_ref(),
             Unauth = in_state(M, []),
             Judged = ?G:accepted(in_state(M, [<<"r.test">>]), <<"a.test">>, <<"r.test">>, later()),
             Refused = ?G:refused(in_state(M, [<<"r.test">>]), <<"a.test">>, <<"r.test">>),
             ?assertMatch({stop, _}, ?G:s2s_in_handle_info(Unauth, {route, Pkt})),
             ?assertMatch({stop, _}, ?G:s2s_in_handle_info(Refused, {route, Pkt})),
             ?assertEqual(Judged, ?G:s2s_in_handle_info(Judged, {route, Pkt})),
             %% another peer's verdict does not cover r.test
             Other = ?G:accepted(in_state(M, [<<"o.test">>]), <<"a.test">>, <<"o.test">>, later()),
             ?assertMatch({stop, _}, ?G:s2s_in_handle_info(Other, {route, Pkt})),
             %% not a route: none of the gate's business
             ?assertEqual(Unauth, ?G:s2s_in_handle_info(Unauth, something_else))
     end}.
