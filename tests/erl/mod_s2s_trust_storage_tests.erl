%%% EUnit for the pure parts of the violators list's storage
%%% (docs/storage.md): combining a run of violations with a stored row, the
%%% SQL row encoding, the SQL writer's pending set and retry delay. The
%%% database itself is tested for real by tests/sql/test_sql.sh.
-module(mod_s2s_trust_storage_tests).

-include_lib("eunit/include/eunit.hrl").
-include("../../erl_src/mod_s2s_trust.hrl").

-define(V, mod_s2s_trust_violators).

event(Domain, Dir, Reason, Outcome, Details, Now) ->
    {Domain, Dir, Reason, Outcome, Details, Now}.

%% Merge events one by one into Old (what the Mnesia backend does).
one_by_one(Old, Events) ->
    lists:foldl(fun({D, Dir, R, O, Det, Now}, Acc) -> ?V:merge(Acc, D, Dir, R, O, Det, Now) end,
                Old, Events).

%% Merge the events on their own, then combine with Old (what the SQL
%% writer does).
as_run(Old, Events) ->
    ?V:combine(Old, one_by_one(undefined, Events)).

%% The writer's way gives the row the Mnesia backend's way gives, for
%% every split of a sequence of violations into "stored" and "pending".
combine_equals_merge_test_() ->
    D = <<"x.test">>,
    Events = [event(D, in, expired, refused, #{n => 1}, 100),
              event(D, out, self_signed, refused, #{n => 2}, 105),
              event(D, in, expired, audited, #{n => 3}, 110),
              event(D, out, unknown_issuer, exempted, #{n => 4}, 110),
              event(D, in, self_signed, refused, #{n => 5}, 120)],
    [begin
         {Stored, Pending} = lists:split(K, Events),
         Old = case Stored of [] -> undefined; _ -> one_by_one(undefined, Stored) end,
         ?_assertEqual(one_by_one(undefined, Events), as_run(Old, Pending))
     end || K <- lists:seq(0, length(Events) - 1)].

combine_undefined_test_() ->
    V = ?V:merge(undefined, <<"a.test">>, in, expired, refused, #{}, 5),
    [?_assertEqual(V, ?V:combine(undefined, V)),
     ?_assertEqual(V, ?V:combine(V, undefined))].

%% Another node wrote a later violation of the domain while ours waited:
%% the counts add up and the row's last_* stay the later one's.
combine_older_run_test() ->
    D = <<"y.test">>,
    Stored = one_by_one(undefined, [event(D, out, expired, refused, #{by => other}, 200)]),
    Run = one_by_one(undefined, [event(D, in, self_signed, audited, #{by => us}, 150)]),
    C = ?V:combine(Stored, Run),
    ?assertEqual({2, 150, 200, expired, refused, #{by => other}, [in, out],
                  [expired, self_signed]},
                 {C#s2s_trust_violation.count, C#s2s_trust_violation.first_seen,
                  C#s2s_trust_violation.last_seen, C#s2s_trust_violation.last_reason,
                  C#s2s_trust_violation.last_outcome, C#s2s_trust_violation.last_details,
                  C#s2s_trust_violation.directions, C#s2s_trust_violation.reasons}).

%% A row survives the SQL columns unchanged, whatever bytes its details
%% carry (a hostile certificate's subject: NUL, quotes, invalid UTF-8).
encode_decode_test_() ->
    Hostile = <<"CN=\"x\0y\n", 255, 254, "'); drop table s2s_trust_violators; --">>,
    V = one_by_one(undefined,
                   [event(<<"h.test">>, in, expired, refused, #{subject => Hostile,
                                                              names => [Hostile, <<"é">>]}, 1),
                    event(<<"h.test">>, out, self_signed, audited, #{subject => Hostile}, 2)]),
    Row = mod_s2s_trust_sql:encode(V),
    [?_assertEqual(V, mod_s2s_trust_sql:decode(Row)),
     %% columns an operator reads with psql
     ?_assertEqual(<<"self_signed,expired">>, element(2, Row)),
     ?_assertEqual(<<"in,out">>, element(3, Row)),
     %% the details column is plain ASCII whatever the certificate held
     ?_assertMatch({match, _}, re:run(element(9, Row), <<"^[A-Za-z0-9+/=]*$">>))].

%% A row edited or damaged in the database reads as what can be trusted
%% of it, never as a crash or a new atom per garbage name.
decode_garbage_test_() ->
    Base = mod_s2s_trust_sql:encode(?V:merge(undefined, <<"g.test">>, in, expired, refused,
                                             #{a => 1}, 1)),
    Bad = fun(Pos, Val) -> mod_s2s_trust_sql:decode(setelement(Pos, Base, Val)) end,
    [?_assertEqual(#{}, (Bad(9, <<"not base64!">>))#s2s_trust_violation.last_details),
     ?_assertEqual(#{}, (Bad(9, base64:encode(term_to_binary([not_a_map]))))
                   #s2s_trust_violation.last_details),
     ?_assertEqual([in], (Bad(3, <<"in,sideways">>))#s2s_trust_violation.directions),
     ?_assertEqual(undefined, (Bad(8, <<"maybe">>))#s2s_trust_violation.last_outcome),
     ?_assertEqual([unknown], (Bad(2, <<"DROP TABLE x">>))#s2s_trust_violation.reasons)].

storable_domain_test_() ->
    [?_assert(mod_s2s_trust_sql:storable_domain(<<"xmpp.example">>)),
     ?_assert(mod_s2s_trust_sql:storable_domain(<<"bücher.example"/utf8>>)),
     ?_assertNot(mod_s2s_trust_sql:storable_domain(<<"a\0b">>)),
     ?_assertNot(mod_s2s_trust_sql:storable_domain(<<255, 254>>)),
     ?_assertNot(mod_s2s_trust_sql:storable_domain(<<>>)),
     ?_assertNot(mod_s2s_trust_sql:storable_domain(binary:copy(<<"a">>, 1024)))].

%% The pending set: one entry per domain however many violations, and a
%% bound on domains that a flood of new names meets.
add_pending_test_() ->
    W = mod_s2s_trust_sql_writer,
    V = fun(D, N) -> ?V:merge(undefined, D, in, expired, refused, #{}, N) end,
    {ok, P1, New1} = W:add_pending(V(<<"a">>, 1), 10, #{}),
    {ok, P2, New2} = W:add_pending(V(<<"a">>, 2), 20, P1),
    {Run, Us} = maps:get(<<"a">>, P2),
    Full = maps:from_list([{integer_to_binary(I), {V(integer_to_binary(I), 1), 1}}
                           || I <- lists:seq(1, 10000)]),
    [?_assertEqual(1, map_size(P2)),
     %% only the first joins the queue
     ?_assertEqual({true, false}, {New1, New2}),
     ?_assertEqual({2, 20}, {Run#s2s_trust_violation.count, Us}),
     ?_assertEqual(full, W:add_pending(V(<<"new">>, 1), 1, Full)),
     %% a domain already pending still counts when the set is full
     ?_assertMatch({ok, _, false}, W:add_pending(V(<<"5">>, 2), 2, Full))].

%% After a round that stopped at a failing domain: the untried first, the
%% rest as they were, the failed one last (it cannot hold the others back).
requeue_test_() ->
    W = mod_s2s_trust_sql_writer,
    Rest = queue:from_list([<<"d">>, <<"e">>]),
    [?_assertEqual([<<"b">>, <<"c">>, <<"d">>, <<"e">>, <<"a">>],
                   queue:to_list(W:requeue([<<"b">>, <<"c">>], <<"a">>, Rest))),
     ?_assertEqual([<<"b">>, <<"d">>, <<"e">>], queue:to_list(W:requeue([<<"b">>], none, Rest)))].

retry_delay_test_() ->
    W = mod_s2s_trust_sql_writer,
    [?_assertEqual([1000, 2000, 4000, 8000, 16000, 30000, 30000],
                   [W:retry_delay(N) || N <- [1, 2, 3, 4, 5, 6, 100]])].
