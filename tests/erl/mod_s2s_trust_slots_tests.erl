%%% EUnit for mod_s2s_trust_slots (the bound on blocking network work) and
%%% mod_s2s_trust_ttl_cache (the bounded expiring cache): both on their own
%%% ETS tables, made here as mod_s2s_trust_throttle makes them.
-module(mod_s2s_trust_slots_tests).

-include_lib("eunit/include/eunit.hrl").

-define(S, mod_s2s_trust_slots).
-define(C, mod_s2s_trust_ttl_cache).

with_table(Name, Test) ->
    {setup,
     fun() -> ets:new(Name, [named_table, public, set]) end,
     fun(T) -> ets:delete(T) end,
     fun(_) -> Test end}.

%% A process that takes a slot of Kind and holds it until told; it reports
%% what run/3 answered.
holder(Kind, Max) ->
    Parent = self(),
    spawn(fun() ->
                  R = ?S:run(Kind, Max, fun() -> Parent ! {holding, self()},
                                                 receive release -> released end
                                        end),
                  Parent ! {done, self(), R}
          end).

wait_holding(Pid) ->
    receive {holding, Pid} -> ok after 5000 -> error(holder_did_not_start) end.

slots_test_() ->
    with_table(mod_s2s_trust_slots,
      [?_assertEqual(42, ?S:run(k1, 2, fun() -> 42 end)),
       ?_assertEqual(0, ?S:in_use(k1)),
       %% a raising Fun gives its slot back
       ?_assertError(boom, ?S:run(k2, 1, fun() -> error(boom) end)),
       ?_assertEqual(0, ?S:in_use(k2)),
       ?_assertEqual(ok, ?S:run(k2, 1, fun() -> ok end)),
       ?_test(begin
                  %% Max holders: the next caller is busy, at once
                  A = holder(k3, 2), ok = wait_holding(A),
                  B = holder(k3, 2), ok = wait_holding(B),
                  ?assertEqual(2, ?S:in_use(k3)),
                  ?assertEqual(busy, ?S:run(k3, 2, fun() -> ran end)),
                  %% kinds are apart
                  ?assertEqual(ran, ?S:run(k4, 2, fun() -> ran end)),
                  %% one gives its slot back: a caller gets it
                  A ! release,
                  receive {done, A, R} -> ?assertEqual(released, R) after 5000 -> error(no_done) end,
                  ?assertEqual(ran, ?S:run(k3, 2, fun() -> ran end)),
                  %% a holder killed while holding: its slot is reclaimed
                  %% when the kind is full, not lost
                  C = holder(k3, 2), ok = wait_holding(C),
                  ?assertEqual(busy, ?S:run(k3, 2, fun() -> ran end)),
                  Ref = monitor(process, C),
                  exit(C, kill),
                  receive {'DOWN', Ref, process, C, _} -> ok end,
                  ?assertEqual(ran, ?S:run(k3, 2, fun() -> ran end)),
                  ?assertEqual(1, ?S:in_use(k3)),   % B's
                  B ! release,
                  receive {done, B, _} -> ok after 5000 -> error(no_done) end,
                  ?assertEqual(0, ?S:in_use(k3))
              end)]).

%% Holders killed at random moments, inside or outside their slot (300,
%% a third killed; light enough for a loaded CI machine): never
%% more than Max run at once, and no slot is lost (a leaked slot would
%% make the kind busy for good).
storm_test_() ->
    {timeout, 120,
     with_table(mod_s2s_trust_slots,
       ?_test(begin
                  %% Who is inside Fun: a row per holder, counted only
                  %% while its process lives (a killed one leaves its row).
                  Live = ets:new(live, [public, set]),
                  Inside = fun() -> length([P || {P, in} <- ets:tab2list(Live), is_process_alive(P)]) end,
                  Work = fun() ->
                                 ets:insert(Live, {self(), in}),
                                 ets:update_counter(Live, entered, 1, {entered, 0}),
                                 ets:insert(Live, {{seen, Inside()}, true}),   % no lost update
                                 try erlang:yield()
                                 after ets:delete(Live, self())
                                 end
                         end,
                  %% each tries until it gets in (or is killed)
                  Try = fun Try() -> case ?S:run(k5, 2, Work) of
                                         busy -> receive after 1 -> Try() end;
                                         _ -> ok
                                     end
                        end,
                  Pids = [spawn(Try) || _ <- lists:seq(1, 300)],
                  [begin
                       rand:uniform(3) =:= 1 andalso exit(P, kill),
                       receive after rand:uniform(2) - 1 -> ok end
                   end || P <- Pids],
                  Refs = [monitor(process, P) || P <- Pids],
                  [receive {'DOWN', R, process, _, _} -> ok end || R <- Refs],
                  Peak = lists:max([N || {{seen, N}, true} <- ets:tab2list(Live)]),
                  ?assert(Peak =< 2),
                  ?assert(Peak >= 1),
                  [{entered, Entered}] = ets:lookup(Live, entered),
                  ?assert(Entered >= 100),   % a storm, not a few (about 200 get in)
                  %% every holder is dead: the kind is free again
                  ?assertEqual(ran, ?S:run(k5, 2, fun() -> ran end)),
                  ?assertEqual(ran, ?S:run(k5, 1, fun() -> ran end)),
                  ets:delete(Live)
              end))}.

%% Without the table (module stopping): no bound, so no work.
no_table_test_() ->
    [?_assertEqual(busy, ?S:run(k, 4, fun() -> ran end)),
     ?_assertEqual(0, ?S:in_use(k))].

ttl_cache_test_() ->
    T = mod_s2s_trust_ttl_cache_test,
    with_table(T,
      [?_assertEqual(miss, ?C:get(T, a, 100)),
       ?_test(begin
                  ok = ?C:put(T, a, doc, 200, 10),
                  ?assertEqual({ok, doc}, ?C:get(T, a, 199)),
                  %% expired at its Until
                  ?assertEqual(miss, ?C:get(T, a, 200))
              end),
       ?_test(begin
                  ok = ?C:flush(T),
                  %% full of live rows: a put drops one, the size stays at Max
                  Far = erlang:monotonic_time(second) + 3600,
                  [ok = ?C:put(T, N, N, Far, 5) || N <- lists:seq(1, 5)],
                  ok = ?C:put(T, new, v, Far, 5),
                  ?assertEqual(5, ets:info(T, size)),
                  ?assertEqual({ok, v}, ?C:get(T, new, Far - 1)),
                  %% expired rows go first
                  ok = ?C:flush(T),
                  Past = erlang:monotonic_time(second) - 1,
                  [ok = ?C:put(T, {old, N}, N, Past, 5) || N <- lists:seq(1, 4)],
                  ok = ?C:put(T, live, l, Far, 5),
                  ok = ?C:put(T, live2, l2, Far, 5),
                  ?assertEqual(2, ets:info(T, size))
              end),
       ?_test(begin
                  ok = ?C:flush(T),
                  ?assertEqual(0, ets:info(T, size))
              end)]).

ttl_cache_no_table_test_() ->
    [?_assertEqual(miss, ?C:get(no_such_cache_table, a, 1)),
     ?_assertEqual(ok, ?C:put(no_such_cache_table, a, v, 2, 10)),
     ?_assertEqual(ok, ?C:flush(no_such_cache_table))].
