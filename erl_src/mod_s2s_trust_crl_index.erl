%%% mod_s2s_trust_crl_index - the distribution points this node knows and
%%% the CRL copies it holds for them (docs/crl.md, "What is fetched", "On
%%% disk").
%%%
%%% One concern: the record of what is fetched and held, and its bounds.
%%% Two ETS tables, written only by the CRL server (mod_s2s_trust_crl, which
%%% creates them with init/0 and so owns them; they are protected) and read
%%% by anyone without asking it, so a hook judging a stream, status/0 or
%%% the posture audit never waits on a round:
%%% - ?TAB, {Url, Entry}: where the point was named (pool / leaf, by whom),
%%%   the copy held (file, thisUpdate, nextUpdate, issuer, revoked, size,
%%%   SHA-256), the last success and failure, the next fetch;
%%% - ?CA_TAB, {NormalizedSubject, Der, Urls, SubjectText}: the CA
%%%   certificates of the stores as the last round read them
%%%   (mod_s2s_trust_crl_check:ca_row/1), which sign CRLs and leaves.
%%% And their image in the spool, what survives a restart: one <32 hex>.crl
%%% per URL (the copies the stores are built with) and index.term.
%%%
%%% The bounds live here: at most ?MAX_URLS points; a point that only
%%% leaves named is forgotten ?LEAF_URL_TTL after the last leaf that named
%%% it; when the table is full, the leaf point seen longest ago goes first.
%%% A leaf is read for its points only if a CA certificate of the stores
%%% signed it, so a peer cannot make us fetch an address of its choosing.
%%%
%%% Why apart: the server (when), the round (fetching) and the hooks
%%% (crl_missing: refuse) each use this record; here it is in one place,
%%% with the rules that keep it bounded.
-module(mod_s2s_trust_crl_index).

-export([init/0, dir/0, held_files/0, list/0, wanted/3, apply_round/1, note_leaf/1,
         freshness/2]).

-include_lib("kernel/include/logger.hrl").

-define(TAB, mod_s2s_trust_crl_index).     % {Url, Entry}
-define(CA_TAB, mod_s2s_trust_crl_index_ca). % {NormalizedSubject, Der, Urls, SubjectText}
%% Distribution points held in all (pool and leaves).
-define(MAX_URLS, 256).
%% A name only leaves carried is forgotten this long after the last one.
-define(LEAF_URL_TTL, 30 * 86400).

-type url() :: mod_s2s_trust_crl_check:url().
-type entry() :: mod_s2s_trust_crl_check:entry().

%%%===================================================================
%%% The tables and the spool
%%%===================================================================

%% In the server's init: the tables (owned by the caller), the spool
%% directory, and what the previous run left in it.
-spec init() -> ok.
init() ->
    ets:new(?TAB, [named_table, protected, set, {read_concurrency, true}]),
    ets:new(?CA_TAB, [named_table, protected, bag, {read_concurrency, true}]),
    Dir = dir(),
    ok = filelib:ensure_dir(filename:join(Dir, "x")),
    load_index(Dir).

%% <ejabberd spool>/s2s_trust_crls: one DER file per distribution point,
%% named by a hash of its URL, and index.term.
-spec dir() -> binary().
dir() ->
    iolist_to_binary(filename:join(mnesia:system_info(directory), "s2s_trust_crls")).

%% The copies held, as the stores read them (crl_files).
-spec held_files() -> [binary()].
held_files() ->
    Dir = dir(),
    [iolist_to_binary(filename:join(Dir, F))
     || F <- lists:sort(filelib:wildcard("*.crl", binary_to_list(Dir)))].

%% Every point and its entry, by URL; [] when the server is not running.
-spec list() -> [{url(), entry()}].
list() ->
    try ets:tab2list(?TAB) of
        Rows -> lists:keysort(1, Rows)
    catch error:badarg -> []
    end.

%% The points a round keeps (Entries: list/0 as a map): the pool's, then
%% those leaves named within ?LEAF_URL_TTL; at most ?MAX_URLS.
-spec wanted([{url(), binary()}], #{url() => entry()}, integer()) -> [url()].
wanted(PoolUrls, Entries, Now) ->
    LeafUrls = [U || {U, #{origins := Os} = E} <- maps:to_list(Entries), lists:member(leaf, Os),
                     Now - maps:get(seen_at, E, Now) =< ?LEAF_URL_TTL],
    lists:sublist(mod_s2s_trust_crl_check:dedup([U || {U, _} <- PoolUrls] ++ lists:sort(LeafUrls)),
                  ?MAX_URLS).

%%%===================================================================
%%% crl_missing: refuse
%%%===================================================================

%% Every CRL named for this leaf (its own points, and its issuer's) must be
%% held and current.
-spec freshness(binary(), integer()) -> ok | {missing, binary()}.
freshness(Leaf, Now) ->
    case ets:whereis(?TAB) of
        undefined -> {missing, <<"the CRL refresher is not running (crl_missing: refuse)">>};
        _ -> freshness1(Leaf, Now)
    end.

freshness1(Leaf, Now) ->
    try
        Otp = public_key:pkix_decode_cert(Leaf, otp),
        Issuer = mod_s2s_trust_crl_check:issuer(Otp),
        IssuerUrls = lists:append([Urls || {_, _, Urls, _} <- ets:lookup(?CA_TAB, Issuer)]),
        Urls = lists:usort(mod_s2s_trust_crl_check:cert_urls(Otp) ++ IssuerUrls),
        case [{U, Why} || U <- Urls, {missing, Why} <- [url_fresh(U, Now)]] of
            [] -> ok;
            [{U, Why} | _] ->
                {missing, iolist_to_binary(
                            [<<"CRL ">>, safe(U), <<" ">>, Why,
                             <<" (crl_missing: refuse)">>])}
        end
    catch _:_ ->
            %% An unreadable leaf cannot have passed the engine: nothing to add.
            ok
    end.

url_fresh(Url, Now) ->
    case ets:lookup(?TAB, Url) of
        [] -> {missing, <<"not fetched yet">>};
        [{_, E}] ->
            case mod_s2s_trust_crl_check:copy_state(E, Now) of
                current -> ok;
                none -> {missing, [<<"could not be fetched: ">>, last_error_text(E)]};
                stale -> {missing, [<<"is stale (nextUpdate ">>, iso(maps:get(next_update, E)),
                                    <<")">>]}
            end
    end.

last_error_text(#{last_error := {_, Why}}) -> mod_s2s_trust_crl_check:format_error(Why);
last_error_text(_) -> <<"not fetched yet">>.

%%%===================================================================
%%% A round's results
%%%===================================================================

%% In the server: record a round (mod_s2s_trust_crl_round:run/1), log,
%% persist. Returns the URLs whose copy changed.
-spec apply_round(map()) -> [url()].
apply_round(#{stores := 0}) ->
    ?LOG_INFO("mod_s2s_trust: CRL refresh: no trust store loaded yet", []),
    [];
apply_round(#{cas := Cas, pool := Pool, wanted := Wanted, results := Results,
              snapshot := Snapshot, interval := Interval}) ->
    ets:delete_all_objects(?CA_TAB),
    ets:insert(?CA_TAB, Cas),
    PoolSet = maps:from_list(Pool),
    %% Points no longer named by the stores nor by recent leaves go, with
    %% their copies (not those leaves named while the round ran).
    [drop(U) || U <- Snapshot, not lists:member(U, Wanted)],
    [begin
         Old = entry(U),
         Origins = lists:usort([pool | maps:get(origins, Old, [])]),
         ets:insert(?TAB, {U, Old#{url => U, origins => Origins, named_by => Text}})
     end || {U, Text} <- maps:to_list(PoolSet)],
    [begin
         Old = entry(U),
         Os = maps:get(origins, Old, []),
         case {lists:member(pool, Os), maps:is_key(U, PoolSet)} of
             {true, false} -> ets:insert(?TAB, {U, Old#{origins => lists:delete(pool, Os)}});
             _ -> ok
         end
     end || {U, _} <- ets:tab2list(?TAB)],
    Changed = [U || {U, Res} <- Results, record(U, Res, Interval)],
    save_index(dir()),
    Changed.

entry(U) ->
    case ets:lookup(?TAB, U) of
        [{_, E}] -> E;
        [] -> #{url => U, origins => [], next_fetch => 0, failures => 0}
    end.

record(U, {ok, Info, Changed, Now}, Interval) ->
    Old = entry(U),
    E = maps:remove(last_error, maps:merge(Old, Info)),
    Next = mod_s2s_trust_crl_check:next_fetch({ok, maps:get(next_update, Info)}, Now, Interval, 0),
    ets:insert(?TAB, {U, E#{last_ok => Now, last_attempt => Now, failures => 0,
                            next_fetch => Next}}),
    mod_s2s_trust_metrics:crl_fetched(case Changed of true -> updated; false -> unchanged end),
    case {Changed, maps:get(last_error, Old, undefined)} of
        {true, _} ->
            ?LOG_NOTICE("mod_s2s_trust: CRL ~ts updated: issuer ~ts, ~b revoked, thisUpdate ~ts, "
                        "nextUpdate ~ts", [safe(U), safe(maps:get(issuer, Info)),
                                           maps:get(revoked, Info), iso(maps:get(this_update, Info)),
                                           iso(maps:get(next_update, Info))]);
        {false, {_, _}} ->
            ?LOG_NOTICE("mod_s2s_trust: CRL ~ts fetched again after a failure (unchanged)",
                        [safe(U)]);
        _ -> ok
    end,
    Changed;
record(U, {error, Why, Now}, Interval) ->
    mod_s2s_trust_metrics:crl_fetched(failed),
    Old = entry(U),
    Failures = maps:get(failures, Old, 0) + 1,
    E = Old#{last_error => {Now, Why}, last_attempt => Now, failures => Failures,
             next_fetch => mod_s2s_trust_crl_check:next_fetch(error, Now, Interval, Failures)},
    ets:insert(?TAB, {U, E}),
    Held = case mod_s2s_trust_crl_check:copy_state(E, Now) of
               none -> <<"no copy is held: certificates it covers are not checked against it">>;
               stale -> [<<"the copy held is STALE (nextUpdate ">>, iso(maps:get(next_update, E)),
                         <<") and stays in use">>];
               current -> [<<"the copy held (nextUpdate ">>, iso(maps:get(next_update, E)),
                           <<") stays in use">>]
           end,
    ?LOG_WARNING("mod_s2s_trust: CRL ~ts not updated: ~ts; ~ts (attempt ~b, next ~ts)",
                 [safe(U), mod_s2s_trust_crl_check:format_error(Why), Held, Failures,
                  iso(maps:get(next_fetch, E))]),
    false.

drop(U) ->
    case ets:lookup(?TAB, U) of
        [{_, #{file := F}}] when F =/= undefined -> _ = file:delete(F);
        _ -> ok
    end,
    ?LOG_INFO("mod_s2s_trust: CRL ~ts is no longer named by any certificate; dropped", [safe(U)]),
    ets:delete(?TAB, U).

%%%===================================================================
%%% Leaves
%%%===================================================================

%% A leaf seen on an authenticated stream: keep the points it names if a
%% CA certificate of the stores signed it. true: it named new ones, which
%% the server fetches at once.
-spec note_leaf(binary()) -> boolean().
note_leaf(Der) ->
    Now = erlang:system_time(second),
    try public_key:pkix_decode_cert(Der, otp) of
        Otp ->
            case mod_s2s_trust_crl_check:cert_urls(Otp) of
                [] -> false;
                Urls ->
                    {Known, New} = lists:partition(fun(U) -> ets:member(?TAB, U) end, Urls),
                    [ets:insert(?TAB, {U, E#{seen_at => Now}})
                     || U <- Known, [{_, #{origins := Os} = E}] <- [ets:lookup(?TAB, U)],
                        lists:member(leaf, Os)],
                    [ets:insert(?TAB, {U, E#{seen_at => Now, origins => [leaf | Os]}})
                     || U <- Known, [{_, #{origins := Os} = E}] <- [ets:lookup(?TAB, U)],
                        not lists:member(leaf, Os), issuer_of(Der, Otp) =/= undefined],
                    case New of
                        [] -> false;
                        _ -> add_leaf_urls(Der, Otp, New, Now)
                    end
            end
    catch _:_ ->
            false
    end.

add_leaf_urls(Der, Otp, New, Now) ->
    case issuer_of(Der, Otp) of
        undefined ->
            false;
        IssuerText ->
            make_room(length(New) - (?MAX_URLS - ets:info(?TAB, size))),
            Named = <<"leaves issued by ", IssuerText/binary>>,
            [begin
                 ?LOG_INFO("mod_s2s_trust: new CRL distribution point ~ts, named by a leaf "
                           "issued by ~ts", [safe(U), safe(IssuerText)]),
                 ets:insert(?TAB, {U, #{url => U, origins => [leaf], named_by => Named,
                                        seen_at => Now, next_fetch => 0, failures => 0}})
             end || U <- lists:sublist(New, max(0, ?MAX_URLS - ets:info(?TAB, size)))],
            true
    end.

%% Past ?MAX_URLS, the leaf points seen longest ago go first.
make_room(N) when N =< 0 -> ok;
make_room(N) ->
    Leafs = lists:sort([{maps:get(seen_at, E, 0), U} || {U, #{origins := [leaf]} = E}
                                                             <- ets:tab2list(?TAB)]),
    [drop(U) || {_, U} <- lists:sublist(Leafs, N)],
    ok.

issuer_of(Der, Otp) ->
    Issuer = mod_s2s_trust_crl_check:issuer(Otp),
    case [Text || {_, CaDer, _, Text} <- ets:lookup(?CA_TAB, Issuer),
                  mod_s2s_trust_crl_check:signed_by(Der, CaDer)] of
        [Text | _] -> Text;
        [] -> undefined
    end.

%%%===================================================================
%%% index.term: what survives a restart besides the copies
%%%===================================================================

load_index(Dir) ->
    Index = filename:join(Dir, "index.term"),
    Terms = case file:consult(Index) of
                {ok, Ts} -> Ts;
                {error, enoent} -> [];
                {error, Why} ->
                    ?LOG_ERROR("mod_s2s_trust: CRL index ~ts unreadable, starting afresh: ~0p",
                               [Index, Why]),
                    []
            end,
    Now = erlang:system_time(second),
    Entries = [{U, E} || {crl, U, E} <- Terms, is_binary(U), is_map(E)],
    [begin
         File = iolist_to_binary(filename:join(Dir, mod_s2s_trust_crl_check:url_file(U))),
         E1 = case filelib:is_regular(File) of
                  true -> E#{file => File};
                  false -> maps:without([file, sha256, this_update, next_update, issuer, revoked,
                                         size], E)
              end,
         ets:insert(?TAB, {U, E1#{url => U, next_fetch => min(maps:get(next_fetch, E1, Now), Now)}})
     end || {U, E} <- lists:sublist(Entries, ?MAX_URLS)],
    %% Copies no entry owns (an older run's) are not read by any store.
    Owned = [mod_s2s_trust_crl_check:url_file(U) || {U, _} <- ets:tab2list(?TAB)],
    [file:delete(filename:join(Dir, F))
     || F <- filelib:wildcard("*.crl", binary_to_list(Dir)),
        not lists:member(list_to_binary(F), Owned)],
    [file:delete(filename:join(Dir, F)) || F <- filelib:wildcard("*.new", binary_to_list(Dir))],
    ok.

save_index(Dir) ->
    Index = filename:join(Dir, "index.term"),
    Keep = [url, origins, named_by, seen_at, this_update, next_update, issuer, revoked, size,
            sha256, last_ok, last_error, next_fetch, failures],
    Text = ["%% mod_s2s_trust CRL copies (docs/crl.md); rewritten by the module.\n" |
            [io_lib:format("~0tp.~n", [{crl, U, maps:with(Keep, E)}])
             || {U, E} <- lists:keysort(1, ets:tab2list(?TAB))]],
    Tmp = <<Index/binary, ".tmp">>,
    case file:write_file(Tmp, Text) of
        ok -> _ = file:rename(Tmp, Index), ok;
        {error, Why} -> ?LOG_ERROR("mod_s2s_trust: cannot write ~ts: ~0p", [Index, Why])
    end.

safe(B) -> mod_s2s_trust_format:text_escape(B).

iso(T) -> mod_s2s_trust_crl_check:iso(T).
