%%% bench/s2s_bench.erl - `make bench`: s2s_trust against its baselines.
%%%
%%% Driven by bench/run.sh, one VM per part:
%%%   memory PKI OUT            RSS / erlang:memory() of stores, fresh VM
%%%   main   PKI FLOORS OUT RUNS  C floors (bench/floors.c), Erlang public_key,
%%%                             s2s_trust verify_batch/verify, interleaved per
%%%                             run and flavour; then normal-scheduler jitter
%%%   scale  PKI OUT            verify_batch with 1 and 4 callers; run.sh starts
%%%                             it with +SDcpu 1:1 and 2:2, alternating
%%%   report OUT                the tables: ratios first, absolute numbers second
%%% Each part writes an Erlang term file under OUT; `report` only reads them.
%%%
%%% Numbers are never judged: the bench stops (exit 1) only on a functional
%%% error, i.e. a chain that should verify and does not.
-module(s2s_bench).
-export([main/1, scale/1, memory/1, report/1]).

-define(FLAVOURS, [ec, rsa, p384]).
-define(BATCH, 100).          % chains per verify_batch/2 call
-define(WINDOW, 1.0).         % seconds per measurement
-define(CALLERS, 4).          % caller processes in the scaling runs
-define(JITTER_CHAINS, 10000).
-define(JITTER_FLAVOURS, [ec, rsa]).
-define(IDLE_MS, 1500).       % timer loop with nothing else running, for reference
-define(JITTER_RUNS, 3).
-define(CACHE_FILL, 21000).   % distinct pairs beyond the 1,000 leaves: > the 20,000 slots of verdict_cache_size 10,000
-define(CACHE_BOUND_BYTES, 1288256). % 10,000 verdicts: 2 slots each, 2,500 sets x 8 x 64 bytes + 64 stripes x 128 + header (bench-domains)
%% What OTP 25's crypto NIF loads into the VM (and so into our NIF's libcrypto).
-define(OTP_PROVIDERS, "default,base,legacy").      % 10,000-chain batches take 3-10 s each: fewer runs

%%% ---- entry points ------------------------------------------------------

main([Pki, Floors, Out, RunsS]) ->
    run(fun() ->
        Runs = list_to_integer(RunsS),
        crypto_loaded(),
        Fls = [load(Pki, Fl) || Fl <- ?FLAVOURS],
        lists:foreach(fun sanity/1, Fls),
        Res = lists:foldl(
                fun(R, Acc0) ->
                        io:format("  run ~b/~b:", [R, Runs]),
                        Acc = lists:foldl(fun(F, A) -> main_run(F, Floors, A) end, Acc0, Fls),
                        io:format("~n"),
                        Acc
                end, #{}, lists:seq(1, Runs)),
        io:format("  jitter (~b-chain verify_batch, ~b runs):", [?JITTER_CHAINS, min(Runs, ?JITTER_RUNS)]),
        Jit = lists:foldl(
                fun(R, Acc) ->
                        lists:foldl(fun(F, A) -> jitter_run(F, R, A) end, Acc,
                                    [F || F = #{fl := Fl} <- Fls, lists:member(Fl, ?JITTER_FLAVOURS)])
                end, #{}, lists:seq(1, min(Runs, ?JITTER_RUNS))),
        io:format("~n"),
        write_term(filename:join(Out, "main.term"),
                   #{rates => Res, jitter => Jit, runs => Runs,
                     schedulers => {erlang:system_info(schedulers_online),
                                    erlang:system_info(dirty_cpu_schedulers_online)}})
    end).

scale([Pki, OutFile]) ->
    run(fun() ->
        crypto_loaded(),
        Fls = [load(Pki, Fl) || Fl <- ?FLAVOURS],
        Dirty = erlang:system_info(dirty_cpu_schedulers_online),
        Rates = maps:from_list(
                  [{{Fl, C}, callers_rate(F, C)} || F = #{fl := Fl} <- Fls, C <- [1, ?CALLERS]]),
        write_term(OutFile, #{dirty => Dirty, rates => Rates})
    end).

memory([Pki, Out]) ->
    run(fun() ->
        crypto_loaded(),
        _ = s2s_trust:reasons(),                % loads the NIF (and libcrypto)
        garbage_collect(),
        M0 = mem(),
        Conf = filename:join([Pki, "ec", "bench.conf"]),
        %% The first store also pays OpenSSL's lazy initialisation (providers,
        %% error strings); the second one is the store alone.
        {TFirst, {ok, First}} = timer:tc(fun() -> s2s_trust:open(Conf) end),
        M1 = mem(),
        {TRoot, {ok, Root}} = timer:tc(fun() -> s2s_trust:open(Conf) end),
        M2 = mem(),
        {TDef, {ok, Def}} = timer:tc(fun() -> s2s_trust:open(default) end),
        M3 = mem(),
        #{anchors := DefAnchors} = s2s_trust:info(Def),
        #{anchors := RootAnchors, intermediates := RootInts} = s2s_trust:info(Root),
        %% Boundedness: RSS after successive 10,000-chain batches of distinct
        %% leaves, verified (the store load/2 opens has the verdict cache off).
        #{items := Items, store := NoCache} = load(Pki, ec),
        Batch = lists:append(lists:duplicate(?JITTER_CHAINS div length(Items), Items)),
        After = [begin
                     check_ok(s2s_trust:verify_batch(NoCache, Batch), ec, "memory batch"),
                     garbage_collect(),
                     mem()
                 end || _ <- lists:seq(1, 3)],
        %% The verdict cache at its bound: a store with the default cache
        %% (10,000 entries) fed 12,000 distinct (leaf, domain) pairs, twice;
        %% RSS after the first round is the cache full, after the second it
        %% must not have grown (LRU eviction).
        {ok, Fill} = s2s_trust:open(Conf),
        MF0 = mem(),
        Pairs = [{<<"d", (integer_to_binary(K))/binary, ".", H/binary>>, C}
                 || K <- lists:seq(1, ?CACHE_FILL div length(Items)), {H, C} <- Items]
                ++ Items,
        CacheAfter = [begin
                          Vs = lists:append([s2s_trust:verify_batch(Fill, P) || P <- chunks(Pairs, ?BATCH)]),
                          length([V || V <- Vs, V =/= ok, V =/= {error, name_mismatch}]) =:= 0
                              orelse functional(ec, "cache fill gave ~p", [lists:usort(Vs)]),
                          garbage_collect(),
                          mem()
                      end || _ <- [1, 2]],
        write_term(filename:join(Out, "mem.term"),
                   #{base => M0, first => M1, test_root => M2, default => M3, after_batches => After,
                     open_us => #{first => TFirst, test_root => TRoot, default => TDef},
                     cache_fill => #{before => MF0, rounds => CacheAfter,
                                     pairs => length(Pairs)},
                     anchors => #{test_root => RootAnchors, default => DefAnchors},
                     intermediates => RootInts, keep => {First, Root, Def, Fill}})
    end).

report([Out]) ->
    run(fun() -> print_report(Out) end).

%% Every VM of the bench has OTP's crypto loaded, as ejabberd's always has:
%% its NIF loads the default, base and legacy providers into the process's
%% libcrypto, which our NIF shares, and that changes what d2i_X509 costs.
crypto_loaded() ->
    _ = crypto:info_lib(),
    ok.

run(Fun) ->
    try Fun() of
        _ -> halt(0)
    catch
        throw:{functional, Text} ->
            io:format(standard_error, "~nbench: FUNCTIONAL ERROR: ~ts~n", [Text]),
            halt(1);
        C:E:St ->
            io:format(standard_error, "~nbench: crashed: ~p:~p~n~p~n", [C, E, St]),
            halt(1)
    end.

%%% ---- PKI ---------------------------------------------------------------

load(Pki, Fl) ->
    Dir = filename:join(Pki, atom_to_list(Fl)),
    {ok, NB} = file:read_file(filename:join(Dir, ".done")),
    N = binary_to_integer(string:trim(NB)),
    Int = read(filename:join(Dir, "int.der")),
    Root = read(filename:join(Dir, "root.der")),
    Items = [{host(Fl, I), [read(filename:join([Dir, "leaves", "host-" ++ integer_to_list(I) ++ ".der"]))]}
             || I <- lists:seq(1, N)],
    %% Uncached rows, scaling and jitter measure verification work: their
    %% store has the verdict cache off. The repeat-peers row uses the
    %% default configuration, cache on (verdict_cache_size 10,000).
    {ok, Store} = s2s_trust:open(nocache_conf(Dir)),
    {ok, Cached} = s2s_trust:open(filename:join(Dir, "bench.conf")),
    %% The same store without the index of pool certificates
    %% (s2s_trust_pool_index.h): the baseline of "leaf + intermediate", where the
    %% presented intermediate is parsed again. The core reads the variable
    %% when it builds a store; os:putenv sets the VM's real environment.
    true = os:putenv("S2S_TRUST_NO_POOL_INDEX", "1"),
    {ok, Parsed} = s2s_trust:open(nocache_conf(Dir)),
    true = os:unsetenv("S2S_TRUST_NO_POOL_INDEX"),
    #{fl => Fl, dir => Dir, store => Store, cached_store => Cached, parsed_store => Parsed,
      items => Items, int => Int,
      root_otp => public_key:pkix_decode_cert(Root, otp)}.

%% bench.conf plus verdict_cache_size = 0, beside it (libconfig includes
%% relative to the including file's directory).
nocache_conf(Dir) ->
    File = filename:join(Dir, "bench-nocache.conf"),
    ok = file:write_file(File, <<"@include \"bench.conf\"\nverdict_cache_size = 0;\n">>),
    File.

read(F) ->
    {ok, B} = file:read_file(F),
    B.

host(Fl, I) ->
    iolist_to_binary(["host-", integer_to_list(I), $., atom_to_list(Fl), ".test"]).

%% The bench's own negative checks: a wrong name and a chain without its
%% root must be refused, or the positive numbers mean nothing.
sanity(#{fl := Fl, store := S, items := [{H, [L]} | _], int := Int} = F) ->
    check_ok(s2s_trust:verify_batch(S, [{H, [L]}, {H, [L, Int]}]), Fl, "sanity"),
    case s2s_trust:verify(S, <<"other.test">>, [L]) of
        {error, name_mismatch} -> ok;
        V1 -> functional(Fl, "wrong name gave ~p", [V1])
    end,
    #{cached_store := CS} = F,
    case [s2s_trust:verify(CS, <<"other.test">>, [L]) || _ <- [1, 2]] of
        [{error, name_mismatch}, {error, name_mismatch}] -> ok;
        V0 -> functional(Fl, "wrong name through the verdict cache gave ~p", [V0])
    end,
    {ok, Other} = s2s_trust:open(default),
    case s2s_trust:verify(Other, H, [L]) of
        {error, unknown_issuer} -> ok;
        V2 -> functional(Fl, "untrusted root gave ~p", [V2])
    end,
    ok = pk_one(F, {H, [L]}).

functional(Fl, Fmt, Args) ->
    throw({functional, io_lib:format("~p: " ++ Fmt, [Fl | Args])}).

check_ok(Verdicts, Fl, What) ->
    case [V || V <- Verdicts, V =/= ok] of
        [] -> length(Verdicts);
        [V | _] -> functional(Fl, "~s: a chain that should verify gave ~p", [What, V])
    end.

%%% ---- one run of the main measurements ----------------------------------

main_run(#{fl := Fl, dir := Dir, store := S, cached_store := CS, parsed_store := PS, items := Items,
           int := Int} = F, Floors, Acc0) ->
    io:format(" ~p", [Fl]),
    Acc1 = lists:foldl(fun({M, R}, A) -> add({Fl, M}, R, A) end, Acc0, floors(Floors, Dir)),
    Batches = chunks(Items, ?BATCH),
    FullBatches = [[{H, [L, Int]} || {H, [L]} <- B] || B <- Batches],
    Ten = lists:sublist(Items, 10),
    Cached = [lists:append(lists:duplicate(?BATCH div 10, Ten))],
    Rates = [{pk, rate(fun(It) -> ok = pk_one(F, It), 1 end, Items)},
             {vb, rate(fun(B) -> check_ok(s2s_trust:verify_batch(S, B), Fl, "verify_batch") end, Batches)},
             {vb_cached, rate(fun(B) -> check_ok(s2s_trust:verify_batch(CS, B), Fl, "verify_batch cached") end, Cached)},
             {vb_full, rate(fun(B) -> check_ok(s2s_trust:verify_batch(S, B), Fl, "verify_batch full") end, FullBatches)},
             {vb_full_parsed, rate(fun(B) -> check_ok(s2s_trust:verify_batch(PS, B), Fl, "verify_batch full, parsed") end,
                                   FullBatches)},
             {v3, rate(fun({H, C}) -> check_ok([s2s_trust:verify(S, H, C)], Fl, "verify/3") end, Items)}],
    lists:foldl(fun({M, R}, A) -> add({Fl, M}, R, A) end, Acc1, Rates).

add(K, V, M) -> maps:update_with(K, fun(L) -> L ++ [V] end, [V], M).

pk_one(#{root_otp := Root, int := Int, fl := Fl}, {H, [L]}) ->
    case public_key:pkix_path_validation(Root, [Int, L], []) of
        {ok, _} -> ok;
        E -> functional(Fl, "public_key path validation of ~s: ~p", [H, E])
    end,
    case public_key:pkix_verify_hostname(L, [{dns_id, binary_to_list(H)}]) of
        true -> ok;
        false -> functional(Fl, "public_key hostname check of ~s failed", [H])
    end.

%% Work units cycled for ?WINDOW seconds after one warm-up unit; Fun returns
%% the chains a unit did. Chains per second.
rate(Fun, Units) ->
    _ = Fun(hd(Units)),
    T = list_to_tuple(Units),
    T0 = erlang:monotonic_time(microsecond),
    rate_loop(Fun, T, 1, 0, T0, T0 + round(?WINDOW * 1.0e6)).

rate_loop(Fun, T, I, N, T0, End) ->
    N1 = N + Fun(element(I, T)),
    Now = erlang:monotonic_time(microsecond),
    if Now >= End -> N1 / ((Now - T0) / 1.0e6);
       true -> rate_loop(Fun, T, (I rem tuple_size(T)) + 1, N1, T0, End)
    end.

%% Issue 18's floor target: 0.5 on OpenSSL 3.0, 0.8 on 3.5 and later.
floor_target() ->
    case openssl() of
        "OpenSSL 3.0" ++ _ -> 0.5;
        _ -> 0.8
    end.

openssl() ->
    case [N || {_, _, N} <- crypto:info_lib()] of
        [Name | _] -> binary_to_list(iolist_to_binary(Name));
        [] -> "OpenSSL ?"
    end.

chunks([], _) -> [];
chunks(L, N) when length(L) =< N -> [L];
chunks(L, N) -> {A, B} = lists:split(N, L), [A | chunks(B, N)].

%% The C floors, in a child process of this run; a non-zero exit is a
%% functional error (floors.c exits 2 when a verification fails).
floors(Bin, Dir) ->
    W = float_to_list(?WINDOW, [{decimals, 2}]),
    floors(Bin, [Dir, W, "sig1", "sig2", "verify", "parse1", "parse2", "parsesig"], "")
        ++ floors(Bin, [Dir, W, "parse1", "parse2"], ?OTP_PROVIDERS).

floors(Bin, Args, Providers) ->
    Dir = hd(Args),
    Port = open_port({spawn_executable, Bin}, [{args, Args}, {env, [{"FLOORS_PROVIDERS", Providers}]},
                                               exit_status, binary, stderr_to_stdout]),
    {Status, Out} = collect(Port, <<>>),
    Status =:= 0 orelse throw({functional, io_lib:format("floors ~s exited ~b: ~s", [Dir, Status, Out])}),
    [{binary_to_atom(M), binary_to_float(W)}
     || Line <- binary:split(Out, <<"\n">>, [global, trim_all]),
        [M, W, _Cpu, _N] <- [binary:split(Line, <<" ">>, [global])]].

collect(Port, Acc) ->
    receive
        {Port, {data, D}} -> collect(Port, <<Acc/binary, D/binary>>);
        {Port, {exit_status, S}} -> {S, Acc}
    end.

%%% ---- scaling -----------------------------------------------------------

%% C caller processes, each calling verify_batch on its own share of the
%% leaves for ?WINDOW seconds; chains/s of all of them together.
callers_rate(#{fl := Fl, store := S, items := Items}, C) ->
    Batches = chunks(Items, ?BATCH),
    NB = length(Batches),
    Parent = self(),
    T0 = erlang:monotonic_time(microsecond),
    End = T0 + round(?WINDOW * 1.0e6),
    Pids = [spawn_link(fun() ->
                               Mine = rotate((K * NB) div C, Batches),
                               Parent ! {self(), caller_loop(S, Fl, list_to_tuple(Mine), 1, 0, End)}
                       end) || K <- lists:seq(0, C - 1)],
    N = lists:sum([receive {P, Done} -> Done end || P <- Pids]),
    N / ((erlang:monotonic_time(microsecond) - T0) / 1.0e6).

caller_loop(S, Fl, T, I, N, End) ->
    N1 = N + check_ok(s2s_trust:verify_batch(S, element(I, T)), Fl, "verify_batch (scaling)"),
    case erlang:monotonic_time(microsecond) >= End of
        true -> N1;
        false -> caller_loop(S, Fl, T, (I rem tuple_size(T)) + 1, N1, End)
    end.

rotate(K, L) -> {A, B} = lists:split(K, L), B ++ A.

%%% ---- normal-scheduler jitter -------------------------------------------

%% A 1 ms timer loop on a normal scheduler: idle, during one 10,000-chain
%% verify_batch in another process, and during two of them at once (both
%% dirty schedulers busy).
jitter_run(#{fl := Fl, store := S, items := Items}, _R, Acc) ->
    io:format(" ~p", [Fl]),
    Batch = lists:append(lists:duplicate(?JITTER_CHAINS div length(Items), Items)),
    Idle = ticks(fun() -> timer:sleep(?IDLE_MS), 0 end),
    One = ticks(fun() -> batches(S, Fl, Batch, 1) end),
    Two = ticks(fun() -> batches(S, Fl, Batch, 2) end),
    lists:foldl(fun({K, V}, A) -> add({Fl, K}, V, A) end, Acc,
                [{idle, Idle}, {batch1, One}, {batch2, Two}]).

%% P processes each run one verify_batch of Batch; returns wall seconds.
batches(S, Fl, Batch, P) ->
    Parent = self(),
    T0 = erlang:monotonic_time(microsecond),
    Pids = [spawn_link(fun() ->
                               Parent ! {self(), check_ok(s2s_trust:verify_batch(S, Batch), Fl, "jitter batch")}
                       end) || _ <- lists:seq(1, P)],
    [receive {Pid, _} -> ok end || Pid <- Pids],
    (erlang:monotonic_time(microsecond) - T0) / 1.0e6.

%% Runs Work() while a ticker process measures its lateness; returns
%% #{p50, p99, max (us), n, work_s}.
ticks(Work) ->
    Parent = self(),
    Ticker = spawn_link(fun() -> tick_loop(Parent, erlang:monotonic_time(millisecond) + 1, []) end),
    WorkS = Work(),
    Ticker ! stop,
    Lat = receive {Ticker, L} -> lists:sort(L) end,
    N = length(Lat),
    #{p50 => pct(Lat, N, 50), p99 => pct(Lat, N, 99), max => lists:last(Lat), n => N, work_s => WorkS}.

tick_loop(Parent, Next, Acc) ->
    Ref = erlang:start_timer(Next, self(), tick, [{abs, true}]),
    receive
        {timeout, Ref, tick} ->
            Now = erlang:monotonic_time(microsecond),
            tick_loop(Parent, max(Next + 1, Now div 1000 + 1), [Now - Next * 1000 | Acc]);
        stop ->
            _ = erlang:cancel_timer(Ref),
            Parent ! {self(), Acc}
    end.

pct(Sorted, N, P) -> lists:nth(max(1, min(N, (N * P + 99) div 100)), Sorted).

%%% ---- memory ------------------------------------------------------------

mem() ->
    {ok, Status} = file:read_file("/proc/self/status"),
    [_, Rest] = binary:split(Status, <<"VmRSS:">>),
    [Kb | _] = string:lexemes(Rest, " \t\n"),
    #{rss_kb => binary_to_integer(Kb), erlang_total => erlang:memory(total)}.

%%% ---- report ------------------------------------------------------------

print_report(Out) ->
    #{rates := R, jitter := J, runs := Runs, schedulers := {NS, ND}} = read_term(filename:join(Out, "main.term")),
    Mem = read_term(filename:join(Out, "mem.term")),
    Scale = [read_term(F) || F <- lists:sort(filelib:wildcard(filename:join(Out, "scale-*.term")))],
    S1 = [Rt || #{dirty := 1, rates := Rt} <- Scale],
    S2 = [Rt || #{dirty := 2, rates := Rt} <- Scale],
    Ceil = [read_term(F) || F <- lists:sort(filelib:wildcard(filename:join(Out, "ceiling-*.term")))],
    CeilR = [Two / One || #{one := One, two := Two} <- Ceil],
    Fls = ?FLAVOURS,
    Ratio = fun(A, B) -> fun(Fl) -> ratios(maps:get({Fl, A}, R), maps:get({Fl, B}, R)) end end,
    ScaleR = fun(C) -> fun(Fl) -> ratios([maps:get({Fl, C}, X) || X <- S2], [maps:get({Fl, C}, X) || X <- S1]) end end,
    nl(),
    io:format("=== s2s_trust bench: headline ratios (median [min-max] of per-run ratios; n=~b, scaling n=~b) ===~n",
              [Runs, min(length(S1), length(S2))]),
    io:format("main VM: ~b normal schedulers, ~b dirty CPU schedulers; verify_batch in calls of ~b chains; ~s~n",
              [NS, ND, ?BATCH, openssl()]),
    row_hdr("ratio", Fls),
    row("verify_batch uncached / Erlang public_key   [target >= 3 on ec, rsa]", Fls, Ratio(vb, pk)),
    row(io_lib:format("verify_batch uncached / 1-signature floor   [target >= ~.1f]", [floor_target()]),
        Fls, Ratio(vb, sig1)),
    row("verify_batch uncached / C d2i leaf + X509_verify (parse+signature)", Fls, Ratio(vb, parsesig)),
    row("C d2i leaf + X509_verify / 1-signature floor (the ceiling above)", Fls, Ratio(parsesig, sig1)),
    row("verify_batch uncached / 2-signature floor", Fls, Ratio(vb, sig2)),
    row("verify_batch uncached / C parse+verify (d2i x2)", Fls, Ratio(vb, parse2)),
    row("verify_batch uncached / C d2i leaf + verify", Fls, Ratio(vb, parse1)),
    row("verify_batch uncached / C d2i leaf + verify, OTP crypto's providers", Fls, Ratio(vb, otp_parse1)),
    row("C d2i leaf + verify: OTP crypto's providers / default only", Fls, Ratio(otp_parse1, parse1)),
    row("verify_batch repeat peers (verdict cache) / uncached", Fls, Ratio(vb_cached, vb)),
    row("verify_batch leaf+intermediate / leaf only   [target ~1]", Fls, Ratio(vb_full, vb)),
    row("leaf+intermediate: pool copy recognised / parsed again", Fls, Ratio(vb_full, vb_full_parsed)),
    row("verify/3 per chain / verify_batch", Fls, Ratio(v3, vb)),
    row("C parse+verify / Erlang public_key", Fls, Ratio(parse2, pk)),
    row(io_lib:format("2 dirty / 1 dirty scheduler, ~b callers [target >= 1.7]", [?CALLERS]), Fls, ScaleR(?CALLERS)),
    row("2 dirty / 1 dirty scheduler, 1 caller", Fls, ScaleR(1)),
    row("machine ceiling: 2 C processes / 1 (floors parse1, ec)", [ec], fun(_) -> CeilR end),
    nl(),
    io:format("--- targets ---~n"),
    VbPk = [{Fl, med(ratios(maps:get({Fl, vb}, R), maps:get({Fl, pk}, R)))} || Fl <- Fls],
    VbS1 = [{Fl, med(ratios(maps:get({Fl, vb}, R), maps:get({Fl, sig1}, R)))} || Fl <- Fls],
    target("uncached verify_batch >= 3x public_key (ec, rsa)",
           [{Fl, V, V >= 3} || {Fl, V} <- VbPk, Fl =/= p384], "x"),
    target(io_lib:format("uncached verify_batch >= ~.1fx one-signature floor (issue 18)", [floor_target()]),
           [{Fl, V, V >= floor_target()} || {Fl, V} <- VbS1], "x"),
    io:format("  ~-72s ~s~n", ["  (an engine that has OpenSSL parse the leaf and check its signature: at most)",
                               lists:join("; ", [io_lib:format("~p ~.2fx", [Fl, med(ratios(maps:get({Fl, parsesig}, R), maps:get({Fl, sig1}, R)))])
                                                 || Fl <- Fls])]),
    target("cached verdicts (repeat peers) >= 100,000 chains/s on one core",
           [{Fl, V, V >= 100000} || Fl <- Fls, V <- [med(maps:get({Fl, vb_cached}, R))]], "/s"),
    target(io_lib:format("2 dirty schedulers >= 1.7x one (~b callers)", [?CALLERS]),
           [{Fl, V, V >= 1.7} || Fl <- Fls, V <- [med((ScaleR(?CALLERS))(Fl))]], "x"),
    io:format("  ~-72s ~s~n", ["  (what this machine gave two independent C processes in the same run)",
                               io_lib:format("~.2fx", [med(CeilR)])]),
    target("normal-scheduler p99 lateness < 1 ms during the 10,000-chain batch",
           [{Fl, V / 1000, V < 1000} || Fl <- ?JITTER_FLAVOURS, V <- [med([P || #{p99 := P} <- maps:get({Fl, batch1}, J)])]], " ms"),
    io:format("  ~-72s ~s~n", ["  (the same timer with nothing of ours running, same run)",
                               lists:join("; ", [io_lib:format("~p ~.2f ms", [Fl, med([P || #{p99 := P} <- maps:get({Fl, idle}, J)]) / 1000])
                                                 || Fl <- ?JITTER_FLAVOURS])]),
    #{base := M0, test_root := M1, default := M2, after_batches := After} = Mem,
    _ = M0,
    Growth = maps:get(rss_kb, lists:last(After)) - maps:get(rss_kb, hd(After)),
    io:format("  ~-72s ~s~n", [io_lib:format("memory bounded (RSS growth, 10,000-chain batch 1 to ~b)", [length(After)]),
                               io_lib:format("~b KiB; stores: test root +~b KiB, open(default) +~b KiB RSS",
                                             [Growth, maps:get(rss_kb, M1) - maps:get(rss_kb, maps:get(first, Mem)),
                                              maps:get(rss_kb, M2) - maps:get(rss_kb, M1)])]),
    #{cache_fill := #{before := CF0, rounds := [CF1, CF2]}} = Mem,
    io:format("  ~-72s ~s~n", ["verdict cache at its bound (10,000 verdicts, 20,000 slots; RSS, fill 1 / fill 2)",
                               io_lib:format("+~b KiB / +~b KiB more (allocated bound ~b KiB)",
                                             [maps:get(rss_kb, CF1) - maps:get(rss_kb, CF0),
                                              maps:get(rss_kb, CF2) - maps:get(rss_kb, CF1),
                                              ?CACHE_BOUND_BYTES div 1024])]),
    nl(),
    io:format("=== absolute: chains/s, median [min-max] of ~b runs (~.1f s windows), and us/chain ===~n", [Runs, ?WINDOW]),
    Abs = [{sig1, "C floor: 1 signature (EVP_DigestVerify, pre-parsed)"},
           {sig2, "C floor: 2 signatures"},
           {verify, "C X509_verify_cert, pre-parsed certs"},
           {parse1, "C d2i leaf + X509_verify_cert (parsed intermediate)"},
           {parse2, "C parse+verify: d2i x2 + X509_verify_cert"},
           {parsesig, "C d2i leaf + X509_verify (no chain logic)"},
           {otp_parse1, "C d2i leaf + verify, providers default,base,legacy"},
           {otp_parse2, "C parse+verify, providers default,base,legacy"},
           {pk, "Erlang pkix_path_validation + verify_hostname (DER)"},
           {vb, "s2s_trust:verify_batch uncached (leaf only, pool)"},
           {vb_cached, "s2s_trust:verify_batch repeat peers (10 leaves, verdict cache)"},
           {vb_full, "s2s_trust:verify_batch leaf + intermediate"},
           {vb_full_parsed, "the same, S2S_TRUST_NO_POOL_INDEX=1 (parsed)"},
           {v3, "s2s_trust:verify/3, one call per chain"}],
    row_hdr("method", Fls),
    [abs_row(Label, [maps:get({Fl, M}, R) || Fl <- Fls]) || {M, Label} <- Abs],
    nl(),
    io:format("scaling (separate VMs, +SDcpu 1:1 and 2:2 alternating, ~b normal schedulers):~n", [NS]),
    row_hdr("verify_batch chains/s", Fls),
    [abs_row(io_lib:format("~b dirty scheduler(s), ~b caller(s)", [D, C]),
             [[maps:get({Fl, C}, X) || X <- Rs] || Fl <- Fls])
     || {D, Rs} <- [{1, S1}, {2, S2}], C <- [1, ?CALLERS]],
    nl(),
    io:format("normal-scheduler lateness of a 1 ms timer (us; median [min-max] over runs of each run's percentile):~n"),
    io:format("  ~-28s ~-22s ~-22s ~-22s ~s~n", ["flavour / load", "p50", "p99", "max", "batch wall s"]),
    [begin
         L = maps:get({Fl, K}, J),
         io:format("  ~-28s ~-22s ~-22s ~-22s ~s~n",
                   [io_lib:format("~p ~s", [Fl, Name])]
                   ++ [spread([maps:get(P, X) || X <- L], "~b") || P <- [p50, p99, max]]
                   ++ [case K of idle -> "-"; _ -> spread([maps:get(work_s, X) || X <- L], "~.2f") end])
     end || Fl <- ?JITTER_FLAVOURS,
            {K, Name} <- [{idle, "idle"}, {batch1, "1 x 10k batch"}, {batch2, "2 x 10k batches"}]],
    nl(),
    #{open_us := #{first := TF, test_root := TR, default := TD},
      anchors := #{test_root := AR, default := AD}, first := MF} = Mem,
    io:format("memory (fresh VM; RSS from /proc, erlang:memory(total); the store lives in C malloc):~n"),
    io:format("  ~-50s ~12s ~14s ~10s~n", ["", "RSS KiB", "erlang bytes", "open ms"]),
    io:format("  ~-50s ~12b ~14b~n", ["VM with the NIF loaded, no store", maps:get(rss_kb, M0), maps:get(erlang_total, M0)]),
    io:format("  ~-50s ~12s ~14s ~10.1f~n", ["+ first store (test root; OpenSSL lazy init too)",
                                            delta(MF, M0, rss_kb), delta(MF, M0, erlang_total), TF / 1000]),
    io:format("  ~-50s ~12s ~14s ~10.1f~n", [io_lib:format("+ second test-root store (~b anchor, 1 intermediate)", [AR]),
                                            delta(M1, MF, rss_kb), delta(M1, MF, erlang_total), TR / 1000]),
    io:format("  ~-50s ~12s ~14s ~10.1f~n", [io_lib:format("+ open(default) (~b system anchors)", [AD]),
                                            delta(M2, M1, rss_kb), delta(M2, M1, erlang_total), TD / 1000]),
    [io:format("  ~-50s ~12b ~14b~n", [io_lib:format("after 10,000-chain batch ~b", [I]),
                                       maps:get(rss_kb, M), maps:get(erlang_total, M)])
     || {I, M} <- lists:zip(lists:seq(1, length(After)), After)],
    #{cache_fill := #{before := CB, rounds := CA, pairs := NP}} = Mem,
    [io:format("  ~-50s ~12b ~14b~n", [io_lib:format("default-cache store, ~b distinct pairs, round ~b", [NP, I]),
                                       maps:get(rss_kb, M), maps:get(erlang_total, M)])
     || {I, M} <- lists:zip([0 | lists:seq(1, length(CA))], [CB | CA])],
    io:format("  the batches use a store with the cache off; the cache rounds fill a 10,000-entry cache past its bound.~n"),
    ok.

nl() -> io:format("~n").

delta(A, B, K) -> io_lib:format("+~b", [maps:get(K, A) - maps:get(K, B)]).

ratios(As, Bs) -> [A / B || {A, B} <- lists:zip(As, Bs)].

med(L) -> S = lists:sort(L), lists:nth((length(S) + 1) div 2, S).

spread(L, Fmt) ->
    S = lists:sort(L),
    lists:flatten(io_lib:format(Fmt ++ " [" ++ Fmt ++ "-" ++ Fmt ++ "]", [med(S), hd(S), lists:last(S)])).

row_hdr(Title, Fls) ->
    io:format("  ~-72s" ++ lists:append(lists:duplicate(length(Fls), " ~-24s")) ++ "~n",
              [Title | [atom_to_list(F) || F <- Fls]]).

row(Label, Fls, F) ->
    io:format("  ~-72s" ++ lists:append(lists:duplicate(length(Fls), " ~-24s")) ++ "~n",
              [lists:flatten(Label) | [spread(F(Fl), "~.2f") || Fl <- Fls]]).

abs_row(Label, PerFl) ->
    Cells = [lists:flatten(io_lib:format("~s ~s", [int(med(L)), us(med(L))])) || L <- PerFl],
    Ranges = [lists:flatten(io_lib:format("[~s-~s]", [int(lists:min(L)), int(lists:max(L))])) || L <- PerFl],
    io:format("  ~-72s" ++ lists:append(lists:duplicate(length(Cells), " ~-24s")) ++ "~n",
              [lists:flatten(Label) | Cells]),
    io:format("  ~-72s" ++ lists:append(lists:duplicate(length(Ranges), " ~-24s")) ++ "~n",
              ["" | Ranges]).

us(Rate) -> io_lib:format("(~b us)", [round(1.0e6 / Rate)]).

target(Label, Vals, Unit) ->
    Cells = [io_lib:format("~p ~s~s ~s", [Fl, num(V), Unit, case Ok of true -> "met"; false -> "MISSED" end])
             || {Fl, V, Ok} <- Vals],
    io:format("  ~-72s ~s~n", [lists:flatten(Label), lists:join("; ", Cells)]).

num(V) when V >= 1000 -> int(V);
num(V) -> io_lib:format("~.2f", [float(V)]).

int(V) ->
    S = integer_to_list(round(V)),
    group(S).

group(S) when length(S) =< 3 -> S;
group(S) -> {A, B} = lists:split(length(S) - 3, S), group(A) ++ "," ++ B.

write_term(File, T) ->
    ok = file:write_file(File, io_lib:format("~p.~n", [strip(T)])).

%% Stores are references: they do not survive a term file.
strip(M) when is_map(M) -> maps:map(fun(_, V) -> strip(V) end, maps:remove(keep, M));
strip(V) -> V.

read_term(File) ->
    {ok, [T]} = file:consult(File),
    T.
