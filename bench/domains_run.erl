%%% bench/domains_run.erl - runs inside the ejabberd of bench/domains.sh
%%% (loaded with the lab's code= option): the module at the scale of a large
%%% server, N distinct peer domains, through the module's own code paths.
%%%
%%% - cache(Host, LeafDir, Flavour, N): N distinct leaves (host-I.<flavour>.test)
%%%   verified against Host's store in batches of 100, as many streams at
%%%   once would be; once uncached (every chain verified, every verdict
%%%   stored in the cache) and once more (every verdict from the cache). The
%%%   beam's RSS before and after tells what N cache entries cost.
%%% - violations(Host, LeafDir, Flavour, N): N refusals recorded the way a
%%%   real one is (mod_s2s_trust_record:note/6, with explain/3's details of
%%%   leaf I presented for a domain it does not name, bad-I.example):
%%%   per-note time, and what the violators list, the last-verdict table and
%%%   the recency index then hold, in memory and on disk.
%%% - commands(): the list and export commands' functions timed in the
%%%   node (the ejabberdctl round trip is timed by the shell script).
%%% Every result is checked (N verdicts ok, N rows in the list); a wrong one
%%% fails the bench, since its numbers would mean nothing. Times never are.
-module(domains_run).
-export([cache/4, cache_stats/1, violations/4, commands/0, count/0, intermediates/1]).

-define(BATCH, 100).

cache(Host, LeafDir, Flavour, N) ->
    Store = mod_s2s_trust_store:of_host(Host),
    Items = [{domain(Flavour, I), [leaf(LeafDir, I)]} || I <- lists:seq(1, N)],
    C0 = cache_stats(Store),
    {Uncached, R1} = timer:tc(fun() -> batches(Store, Items) end),
    C1 = cache_stats(Store),
    {Cached, R2} = timer:tc(fun() -> batches(Store, Items) end),
    C2 = cache_stats(Store),
    Ok = [ok || _ <- Items],
    (R1 =:= Ok andalso R2 =:= Ok) orelse error({not_all_ok, lists:usort(R1 ++ R2)}),
    #{capacity := Cap, bytes := Bytes} = C2,
    #{verify_first_pass_per_s => round(N / (Uncached / 1.0e6)),
      verify_second_pass_per_s => round(N / (Cached / 1.0e6)),
      capacity => Cap, bytes => Bytes, bytes_per_entry => Bytes / max(1, Cap),
      entries_after => maps:get(entries, C2),
      second_pass_hits => maps:get(hits, C2) - maps:get(hits, C1),
      second_pass_misses => maps:get(misses, C2) - maps:get(misses, C1),
      evictions => maps:get(evictions, C2) - maps:get(evictions, C0)}.

cache_stats(Store) ->
    maps:get(verdict_cache, s2s_trust:info(Store)).

violations(Host, LeafDir, Flavour, N) ->
    %% The WARNING line of each refusal goes to the node's log, not back to
    %% the rpc client that called us.
    group_leader(whereis(user), self()),
    Store = mod_s2s_trust_store:of_host(Host),
    Before = footprint(),
    Refusals = [begin
                    D = bad(I),
                    {Verdict, Details} = s2s_trust:explain(Store, D, [leaf(LeafDir, I)]),
                    Verdict =/= ok orelse error({accepted, D}),
                    {D, Verdict, Details}
                end || I <- lists:seq(1, N)],
    _ = Flavour,
    {T, _} = timer:tc(fun() ->
                              [mod_s2s_trust_record:note(in, Host, D, V, refused, Details)
                               || {D, V, Details} <- Refusals]
                      end),
    dumped = mnesia:dump_log(),
    After = footprint(),
    Rows = mnesia:table_info(s2s_trust_violation, size),
    Rows >= N orelse error({rows, Rows}),
    maps:merge(#{note_us => T / N, rows => Rows},
               maps:map(fun(K, V) -> (V - maps:get(K, Before)) / N end, After)).

commands() ->
    {TList, Rows} = timer:tc(mod_s2s_trust_commands, violators, []),
    {TMd, Md} = timer:tc(mod_s2s_trust_commands, export, [<<"markdown">>]),
    {TJson, Json} = timer:tc(mod_s2s_trust_commands, export, [<<"json">>]),
    #{list_ms => TList / 1000, list_rows => length(Rows),
      markdown_ms => TMd / 1000, markdown_bytes => iolist_size(Md),
      json_ms => TJson / 1000, json_bytes => iolist_size(Json)}.

count() ->
    mnesia:table_info(s2s_trust_violation, size).

intermediates(Host) ->
    maps:get(intermediates, s2s_trust:info(mod_s2s_trust_store:of_host(Host))).

batches(_Store, []) -> [];
batches(Store, Items) ->
    {Now, Rest} = lists:split(min(?BATCH, length(Items)), Items),
    s2s_trust:verify_batch(Store, Now) ++ batches(Store, Rest).

domain(Flavour, I) ->
    iolist_to_binary(["host-", integer_to_list(I), ".", Flavour, ".test"]).

bad(I) ->
    iolist_to_binary(["bad-", integer_to_list(I), ".example"]).

leaf(Dir, I) ->
    {ok, Der} = file:read_file(filename:join(Dir, "host-" ++ integer_to_list(I) ++ ".der")),
    Der.

%% Bytes held for the violators list: Mnesia's RAM copies (words), the
%% recency index, and the table's files in the spool after a log dump.
footprint() ->
    W = erlang:system_info(wordsize),
    Spool = mnesia:system_info(directory),
    Disk = lists:sum([filelib:file_size(filename:join(Spool, F))
                      || F <- ["s2s_trust_violation.DCD", "s2s_trust_violation.DCL"]]),
    #{violation_ram_bytes => W * mnesia:table_info(s2s_trust_violation, memory),
      last_ram_bytes => W * mnesia:table_info(s2s_trust_last, memory),
      recency_ram_bytes => W * ets:info(mod_s2s_trust_recency, memory),
      throttle_ram_bytes => W * ets:info(mod_s2s_trust_throttle, memory),
      violation_disk_bytes => Disk}.

