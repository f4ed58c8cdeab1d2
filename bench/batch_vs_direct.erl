%%% bench/batch_vs_direct.erl - should mod_s2s_trust gather concurrent s2s
%%% authentications into verify_batch/2 calls, or let each stream process
%%% call verify/3 directly?
%%%
%%% Runs both shapes on the same chains in the same VM and prints ratios
%%% against the direct path measured in this run (absolute numbers are
%%% noise on a shared machine). Usage: make bench-batch
-module(batch_vs_direct).
-export([main/1]).

-define(ROUNDS, 5).

main([PkiDir]) ->
    Conf = filename:join(PkiDir, "bench.conf"),
    ok = file:write_file(Conf, io_lib:format("ca_file = \"~ts/root.pem\";\nintermediate_file = \"~ts/pool.pem\";\n",
                                             [PkiDir, PkiDir])),
    {ok, Store} = s2s_trust:open(Conf),
    Items = [{D, [der(PkiDir, F)]} || {F, D} <- [{"good.pem", <<"good.test">>},
                                                {"good-rsa.pem", <<"good-rsa.test">>},
                                                {"serverauth.pem", <<"serverauth.test">>},
                                                {"expired.pem", <<"expired.test">>}]],
    io:format("schedulers: ~b normal, ~b dirty CPU~n",
              [erlang:system_info(schedulers_online), erlang:system_info(dirty_cpu_schedulers_online)]),
    io:format("~-34s ~12s ~10s ~10s ~10s~n", ["shape (callers x calls)", "chains/s", "ratio", "p50 us", "p99 us"]),
    lists:foreach(fun(Callers) -> compare(Store, Items, Callers, 4000 div Callers) end, [1, 8, 64]),
    halt(0).

der(Dir, File) ->
    {ok, Pem} = file:read_file(filename:join(Dir, File)),
    [{'Certificate', Der, _} | _] = public_key:pem_decode(Pem),
    Der.

compare(Store, Items, Callers, Calls) ->
    Direct = median_run(fun() -> run(Callers, Calls, Items, fun({D, C}) -> s2s_trust:verify(Store, D, C) end) end),
    Gatherer = spawn_link(fun() -> gatherer(Store) end),
    Batched = median_run(fun() -> run(Callers, Calls, Items, fun(Item) -> batched(Gatherer, Item) end) end),
    unlink(Gatherer),
    exit(Gatherer, kill),
    {DRate, _, _} = Direct,
    report(io_lib:format("direct verify/3 (~b x ~b)", [Callers, Calls]), Direct, DRate),
    report(io_lib:format("gathered verify_batch (~b x ~b)", [Callers, Calls]), Batched, DRate).

report(Name, {Rate, P50, P99}, Base) ->
    io:format("~-34s ~12.1f ~10.2f ~10b ~10b~n", [lists:flatten(Name), Rate, Rate / Base, P50, P99]).

median_run(Fun) ->
    Runs = lists:sort([Fun() || _ <- lists:seq(1, ?ROUNDS)]),
    lists:nth((?ROUNDS + 1) div 2, Runs).

%% Callers processes, each making Calls calls; chains/s over the whole run
%% and the latency each call saw.
run(Callers, Calls, Items, Call) ->
    Self = self(),
    T0 = erlang:monotonic_time(microsecond),
    Pids = [spawn_link(fun() ->
                               Lat = [begin
                                          S = erlang:monotonic_time(microsecond),
                                          _ = Call(lists:nth(1 + (I rem length(Items)), Items)),
                                          erlang:monotonic_time(microsecond) - S
                                      end || I <- lists:seq(1, Calls)],
                               Self ! {self(), Lat}
                       end) || _ <- lists:seq(1, Callers)],
    All = lists:append([receive {P, L} -> L end || P <- Pids]),
    Secs = (erlang:monotonic_time(microsecond) - T0) / 1.0e6,
    Sorted = lists:sort(All),
    N = length(Sorted),
    {N / Secs, lists:nth(max(1, N div 2), Sorted), lists:nth(max(1, (N * 99) div 100), Sorted)}.

%% The batching shape: callers send requests; the gatherer takes whatever
%% is queued (up to 64), verifies it in one verify_batch/2, and replies.
batched(Gatherer, Item) ->
    Ref = make_ref(),
    Gatherer ! {verify, self(), Ref, Item},
    receive {Ref, Verdict} -> Verdict end.

gatherer(Store) ->
    receive {verify, _, _, _} = First -> ok end,
    Batch = [First | drain(63)],
    Verdicts = s2s_trust:verify_batch(Store, [Item || {verify, _, _, Item} <- Batch]),
    lists:foreach(fun({{verify, From, Ref, _}, V}) -> From ! {Ref, V} end, lists:zip(Batch, Verdicts)),
    gatherer(Store).

drain(0) -> [];
drain(N) ->
    receive {verify, _, _, _} = R -> [R | drain(N - 1)]
    after 0 -> []
    end.
