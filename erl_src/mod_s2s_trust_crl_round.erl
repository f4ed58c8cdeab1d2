%%% mod_s2s_trust_crl_round - one round of CRL fetches (docs/crl.md, "What
%%% is fetched", "Before a copy is used").
%%%
%%% One concern: the work of a round, in a worker process the CRL server
%%% (mod_s2s_trust_crl) spawns so that it, the hooks and status/0 never
%%% wait on the network. It reads the CA certificates of the stores from
%%% their source files and the distribution points they name, picks the
%%% points that are due (mod_s2s_trust_crl_check), fetches them
%%% ?PARALLEL at a time (mod_s2s_trust_crl_fetch), checks each body
%%% (mod_s2s_trust_crl_check:validate_crl/4), and keeps a new copy only
%%% after a candidate store of every trust_config in use accepts it
%%% (written as .new, renamed over the copy held).
%%%
%%% Why apart: this is all the I/O of CRL refresh (sockets, certificate
%%% files, copies), and it writes nothing but copy files: it returns what
%%% it found, and the server records it (mod_s2s_trust_crl_index:
%%% apply_round/1), so the tables have one writer.
-module(mod_s2s_trust_crl_round).

-export([run/1]).

%% Fetches running at once during a round.
-define(PARALLEL, 4).
%% Certificate files read from the store's sources, each.
-define(MAX_SOURCE_BYTES, 64 * 1024 * 1024).

%% In the worker: the CA certificates of the stores, the points they name,
%% then every due point fetched, checked and (if new) kept. P: what the
%% server knew when it started the round (mod_s2s_trust_crl:start_round/2).
-spec run(map()) -> map().
run(P) ->
    Hosts = [H || H <- ejabberd_option:hosts(), gen_mod:is_loaded(H, mod_s2s_trust)],
    case [St || H <- Hosts, St <- [mod_s2s_trust_store:of_host(H)], St =/= undefined] of
        [] -> #{stores => 0};
        Stores -> run(P, Hosts, Stores)
    end.

run(#{entries := Entries, force := Force, dir := Dir} = P, Hosts, Stores) ->
    Now = erlang:system_time(second),
    Sources = lists:usort([Src || St <- Stores, #{sources := Srcs} <- [s2s_trust:info(St)],
                                  Src <- Srcs]),
    Cas = ca_rows(Sources, Dir),
    PoolUrls = pool_urls(Cas),
    %% The pool's points, then leaf points still named recently; bounded.
    Wanted = mod_s2s_trust_crl_index:wanted(PoolUrls, Entries, Now),
    Configs = lists:usort([gen_mod:get_module_opt(H, mod_s2s_trust, trust_config) || H <- Hosts]),
    Learned = try mod_s2s_trust_learn:extra_files() catch _:_ -> [] end,
    Due = [U || U <- Wanted, mod_s2s_trust_crl_check:due(maps:get(U, Entries, undefined), Now, Force)],
    Fetch = fun(U) ->
                    fetch_one(U, maps:get(U, Entries, #{}), Cas, Configs, Learned, P)
            end,
    Results = pmap(Fetch, Due, ?PARALLEL),
    #{cas => Cas, pool => PoolUrls, wanted => Wanted, results => lists:zip(Due, Results),
      stores => length(Stores), snapshot => maps:keys(Entries),
      interval => maps:get(interval, P)}.

pool_urls(Cas) ->
    Pairs = [{U, Text} || {_, _, Urls, Text} <- Cas, U <- Urls],
    lists:foldl(fun({U, T}, Acc) ->
                        case lists:keymember(U, 1, Acc) of
                            true -> Acc;
                            false -> Acc ++ [{U, T}]
                        end
                end, [], Pairs).

%% Certificates in the stores' source files (anchors, intermediates,
%% learned bundle); our own CRL copies are skipped, directories (ca_dir)
%% are listed.
ca_rows(Sources, Dir) ->
    Files = lists:append([source_files(S, Dir) || S <- Sources]),
    Rows = lists:append([file_certs(F) || F <- lists:usort(Files)]),
    lists:usort([R || Der <- Rows, R <- [mod_s2s_trust_crl_check:ca_row(Der)], R =/= undefined]).

source_files(Src, Dir) ->
    case binary:match(Src, <<Dir/binary, "/">>) of
        {0, _} -> [];
        _ ->
            case filelib:is_dir(Src) of
                true ->
                    case file:list_dir(Src) of
                        {ok, Names} ->
                            [filename:join(Src, N) || N <- lists:sublist(lists:sort(Names), 10000),
                                                      hd(N) =/= $.];
                        _ -> []
                    end;
                false -> [Src]
            end
    end.

file_certs(F) ->
    case filelib:file_size(F) of
        Size when Size > 0, Size =< ?MAX_SOURCE_BYTES ->
            case file:read_file(F) of
                {ok, Bin} ->
                    try [Der || {'Certificate', Der, not_encrypted} <- public_key:pem_decode(Bin)]
                    catch _:_ -> []
                    end;
                _ -> []
            end;
        _ -> []
    end.

%% Fetch, check, try in a store, keep. Returns what the server records.
fetch_one(Url, Old, Cas, Configs, Learned, #{timeout := T, max_bytes := Max, dir := Dir}) ->
    Now = erlang:system_time(second),
    Prev = case maps:get(file, Old, undefined) of
               undefined -> undefined;
               _ -> maps:get(this_update, Old, undefined)
           end,
    case mod_s2s_trust_crl_fetch:http_get(Url, #{timeout => T, max_bytes => Max}) of
        {error, Why} -> {error, Why, Now};
        {ok, Body} ->
            case mod_s2s_trust_crl_check:validate_crl(Body, Cas, Prev, Now) of
                {error, Why} -> {error, Why, Now};
                {ok, #{der := Der} = Info} ->
                    Hash = crypto:hash(sha256, Der),
                    Name = mod_s2s_trust_crl_check:url_file(Url),
                    File = iolist_to_binary(filename:join(Dir, Name)),
                    case maps:get(sha256, Old, undefined) =:= Hash andalso
                        filelib:is_regular(File) of
                        true ->
                            {ok, maps:remove(der, Info#{sha256 => Hash, size => byte_size(Der),
                                                        file => File}), false, Now};
                        false ->
                            keep(File, Der, Hash, Info, Configs, Learned, Now)
                    end
            end
    end.

%% The candidate goes into a store of every trust_config in use before it
%% replaces the copy: the store build names a CRL file it cannot use.
keep(File, Der, Hash, Info, Configs, Learned, Now) ->
    New = <<File/binary, ".new">>,
    case file:write_file(New, Der) of
        {error, R} -> {error, {write, R}, Now};
        ok ->
            Refused = [Text || C <- Configs,
                               {error, Reason} <- [s2s_trust:open(C, #{intermediate_files => Learned,
                                                                       crl_files => [New]})],
                               Text <- [s2s_trust:format_reason(Reason)]],
            case Refused of
                [Text | _] ->
                    _ = file:delete(New),
                    {error, {store_refused, Text}, Now};
                [] ->
                    case file:rename(New, File) of
                        ok ->
                            {ok, maps:remove(der, Info#{sha256 => Hash, size => byte_size(Der),
                                                        file => File}), true, Now};
                        {error, R} ->
                            _ = file:delete(New),
                            {error, {write, R}, Now}
                    end
            end
    end.

%% F over Items, N at a time, results in order; a crashed F is a failed
%% fetch.
pmap(F, Items, N) ->
    pmap(F, Items, N, []).

pmap(_F, [], _N, Acc) ->
    lists:append(lists:reverse(Acc));
pmap(F, Items, N, Acc) ->
    {Batch, Rest} = lists:split(min(N, length(Items)), Items),
    Ws = [spawn_monitor(fun() -> exit({done, F(I)}) end) || I <- Batch],
    Res = [receive
               {'DOWN', Ref, process, Pid, {done, R}} -> R;
               {'DOWN', Ref, process, Pid, Why} -> {error, {crashed, Why},
                                                    erlang:system_time(second)}
           end || {Pid, Ref} <- Ws],
    pmap(F, Rest, N, [Res | Acc]).
