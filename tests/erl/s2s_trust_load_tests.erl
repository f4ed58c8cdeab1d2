%%% s2s_trust_load_tests - reload under load.
%%%
%%% 200 processes verify without pause while another process reloads the
%%% store 100 times, alternating between two policies that disagree about
%%% the same chain (one trusts our root, the other only an unrelated one).
%%% Every verdict must be the one the store it ran on gives, no process may
%%% crash, and memory must stay flat while the verifications go on.
%%% S2S_TRUST_LOAD_VERIFICATIONS sets how many (default 100,000; the
%%% hardening issue asks for 1,000,000 once, locally).
-module(s2s_trust_load_tests).

-include_lib("eunit/include/eunit.hrl").

-define(WORKERS, 200).
-define(RELOADS, 100).
-define(KEY, {?MODULE, store}).


reload_under_load_test_() ->
    {timeout, 900, ?_test(reload_under_load())}.

reload_under_load() ->
    Pki = os:getenv("S2S_TRUST_PKI"),
    ?assert(is_list(Pki)),
    Dir = filename:join(Pki, "load-tests"),
    ok = filelib:ensure_dir(filename:join(Dir, "x")),
    Trusting = conf(Dir, "trusting.conf", ["root.pem"], Pki),
    Other = conf(Dir, "other.conf", ["root2.pem"], Pki),
    Expect = #{Trusting => ok, Other => {error, unknown_issuer}},
    Good = der(Pki, "good.pem"),
    Total = list_to_integer(os:getenv("S2S_TRUST_LOAD_VERIFICATIONS", "100000")),
    PerWorker = max(1, Total div ?WORKERS div 2),
    publish(Trusting),
    %% Two rounds of the same shape. The first takes the VM and OpenSSL to
    %% their steady state: allocator carriers for 200 process heaps, the
    %% dirty schedulers' per-thread OpenSSL state, code, atoms. Their size
    %% differs between OTP and OpenSSL releases (a few MiB on OTP 25, up to
    %% ~8 MiB on OTP 27) and is not a leak; what the second round adds is.
    Wrong1 = load_round(Good, Expect, Trusting, Other, PerWorker),
    erlang:garbage_collect(),
    Before = rss_kib(),
    Wrong2 = load_round(Good, Expect, Trusting, Other, PerWorker),
    erlang:garbage_collect(),
    After = rss_kib(),
    ?debugFmt("~b verifications by ~b processes over ~b reloads, twice; RSS after the first "
              "round ~b KiB, after the second ~b KiB",
              [PerWorker * ?WORKERS, ?WORKERS, ?RELOADS, Before, After]),
    ?assertEqual(0, Wrong1 + Wrong2),
    %% Flat. RSS moves by a few MiB either way between rounds of the same
    %% work (malloc arenas of the dirty scheduler threads; measured over 8
    %% rounds on OTP 25 and 27: +-3 MiB, no trend), so the bound sits above
    %% that noise: a leak of 250 bytes per verification (far less than one
    %% parsed certificate, ~1.5 KB) adds 12 MiB in the second round.
    ?assert(After - Before < 12 * 1024).

%% ?WORKERS processes verify PerWorker times each while the store is
%% reloaded ?RELOADS times, spread over the round; the wrong verdicts.
load_round(Good, Expect, Trusting, Other, PerWorker) ->
    Parent = self(),
    Done = counters:new(1, [write_concurrency]),
    Workers = [spawn_monitor(fun() -> Parent ! {self(), work(Good, Expect, Done, PerWorker, 0)} end)
               || _ <- lists:seq(1, ?WORKERS)],
    %% Reloads spread over the whole round: one per 1/100th of the work.
    Step = max(1, PerWorker * ?WORKERS div ?RELOADS),
    {Reloader, RRef} = spawn_monitor(fun() -> reload(Trusting, Other, Done, Step, 1) end),
    Wrong = lists:sum([await(Pid, Ref) || {Pid, Ref} <- Workers]),
    receive {'DOWN', RRef, process, Reloader, Why} -> ?assertEqual(normal, Why)
    after 600000 -> erlang:error(reloader_stuck)
    end,
    Wrong.

%% Each verification reads the published store, as mod_s2s_trust does, and
%% checks the verdict against that store's own policy.
work(_Good, _Expect, _Done, 0, Wrong) ->
    Wrong;
work(Good, Expect, Done, N, Wrong) ->
    Store = current(),
    #{config := Config} = s2s_trust:info(Store),
    Verdict = s2s_trust:verify(Store, <<"good.test">>, [Good]),
    counters:add(Done, 1, 1),
    work(Good, Expect, Done, N - 1, Wrong + case maps:get(Config, Expect) of
                                                Verdict -> 0;
                                                _ -> 1
                                            end).

reload(_A, _B, _Done, _Step, K) when K > ?RELOADS -> ok;
reload(A, B, Done, Step, K) ->
    wait_progress(Done, K * Step),
    publish(case K rem 2 of 0 -> A; 1 -> B end),
    reload(A, B, Done, Step, K + 1).

%% Until the workers have done Target verifications (the last reloads may
%% come after the work is done: the count is rounded down).
wait_progress(Done, Target) ->
    case counters:get(Done, 1) >= Target - ?WORKERS of
        true -> ok;
        false -> receive after 1 -> wait_progress(Done, Target) end
    end.

publish(Config) ->
    {ok, Store} = s2s_trust:open(Config),
    persistent_term:put(?KEY, Store).

current() -> persistent_term:get(?KEY).

await(Pid, Ref) ->
    receive
        {Pid, Wrong} -> erlang:demonitor(Ref, [flush]), Wrong;
        {'DOWN', Ref, process, Pid, Why} -> erlang:error({worker_crashed, Why})
    after 600000 -> erlang:error(worker_stuck)
    end.

conf(Dir, Name, Anchors, Pki) ->
    Path = filename:join(Dir, Name),
    Text = io_lib:format("ca_file = [~ts];\nintermediate_file = \"~ts/pool.pem\";\n",
                         [lists:join(", ", ["\"" ++ filename:join(Pki, A) ++ "\"" || A <- Anchors]),
                          Pki]),
    ok = file:write_file(Path, Text),
    list_to_binary(Path).

der(Pki, File) ->
    {ok, Pem} = file:read_file(filename:join(Pki, File)),
    [{'Certificate', Der, _} | _] = public_key:pem_decode(Pem),
    Der.

rss_kib() ->
    {ok, Status} = file:read_file("/proc/self/status"),
    [Line] = [L || L <- binary:split(Status, <<"\n">>, [global]), binary:match(L, <<"VmRSS:">>) =/= nomatch],
    [_, Kib | _] = binary:split(Line, [<<" ">>, <<"\t">>], [global, trim_all]),
    binary_to_integer(Kib).
