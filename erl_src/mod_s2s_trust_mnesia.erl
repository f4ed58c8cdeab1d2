%%% mod_s2s_trust_mnesia - the violators list in Mnesia (db_type: mnesia,
%%% the default), and the last verdict per domain (Mnesia RAM, whatever the
%%% db_type). mod_s2s_trust_violators is the interface; this is a backend.
%%%
%%% One row per remote domain that presented a certificate we did not
%%% trust (disc copies: it survives restarts; ejabberd_mnesia adds a
%%% replica on every node that starts the module, so a cluster shares it).
%%% A second, RAM-only table keeps the last verdict per domain, good or
%%% bad, for `ejabberdctl s2s_trust_check`.
%%%
%%% Both are bounded (option max_violators, default 100,000 domains): a peer
%%% can name any domain it likes in a stream header, so a flood of bogus
%%% names must cost neither memory nor disk without limit. Past the bound
%%% the least recently seen rows go, a tenth of the bound at a time (one
%%% scan per many insertions), counted and logged once a minute. "Least
%%% recently seen" is last_seen (seconds) and, within one second, the order
%%% of the writes on this node (a RAM index, mod_s2s_trust_recency): a flood
%%% writes many rows a second.
-module(mod_s2s_trust_mnesia).

-export([init/0, record/6, note_verdict/6, all/0, count/0, lookup/1, last_verdict/1, accepted_by/0, accepted_since/1,
         forget/1,
         forget_last/1, delete_unchanged/1, evict/2]).
%% for EUnit
-export([stale_recency/4]).

-include_lib("kernel/include/logger.hrl").
-include("mod_s2s_trust.hrl").

-record(s2s_trust_last, {domain :: binary(),
                         verdict :: map()}).

-spec init() -> ok | {error, term()}.
init() ->
    R1 = ejabberd_mnesia:create(?MODULE, s2s_trust_violation,
                                [{disc_copies, [node()]},
                                 {attributes, record_info(fields, s2s_trust_violation)}]),
    R2 = ejabberd_mnesia:create(?MODULE, s2s_trust_last,
                                [{ram_copies, [node()]},
                                 {attributes, record_info(fields, s2s_trust_last)}]),
    case {R1, R2} of
        {{atomic, _}, {atomic, _}} -> ok;
        _ -> {error, {R1, R2}}
    end.

%% Add one violation to the domain's row, creating it on first sight.
-spec record(binary(), in | out, atom(), refused | audited | exempted, map(), integer()) ->
          ok | {error, term()}.
record(Domain, Direction, Reason, Outcome, Details, Now) ->
    F = fun() ->
                Old = case mnesia:read(s2s_trust_violation, Domain, write) of
                          [V] -> V;
                          [] -> undefined
                      end,
                mnesia:write(mod_s2s_trust_violators:merge(Old, Domain, Direction, Reason, Outcome,
                                                          Details, Now))
        end,
    case mnesia:transaction(F) of
        {atomic, ok} ->
            touch(s2s_trust_violation, Domain),
            bound(s2s_trust_violation);
        {aborted, Why} -> {error, Why}
    end.

-spec note_verdict(binary(), in | out, atom(), atom(), map(), integer()) -> ok.
note_verdict(Domain, Direction, Verdict, Outcome, Details, Now) ->
    mnesia:dirty_write(#s2s_trust_last{domain = Domain,
                                       verdict = #{domain => Domain, direction => Direction,
                                                   verdict => Verdict, outcome => Outcome,
                                                   details => Details, at => Now}}),
    touch(s2s_trust_last, Domain),
    bound(s2s_trust_last).

%% Keep Table within max_violators rows: past it, an evictor does the work
%% (never the stream process that crossed the bound, which is in the middle
%% of an authentication).
bound(Table) ->
    Max = mod_s2s_trust:max_violators(),
    case mnesia:table_info(Table, size) > Max of
        false -> ok;
        true -> start_evictor(Table, Max)
    end.

%% One evictor per table per node at a time. Its registered name is the
%% lock: the runtime releases it however the evictor ends.
start_evictor(Table, Max) ->
    Name = evictor(Table),
    case whereis(Name) of
        undefined ->
            _ = spawn(fun() ->
                              try register(Name, self()) of
                                  true -> evict(Table, Max)
                              catch error:badarg -> ok   % another one won the race
                              end
                      end),
            ok;
        _ ->
            ok
    end.

evictor(s2s_trust_violation) -> mod_s2s_trust_evict_violations;
evictor(s2s_trust_last) -> mod_s2s_trust_evict_last.

%% Delete the least recently seen rows so that Max - Max div 10 remain.
%% Only keys and ages are read (a full row can carry a hostile certificate's
%% details); a row seen again since that read is left alone (one
%% transaction deletes only the rows whose age did not move).
-spec evict(s2s_trust_violation | s2s_trust_last, pos_integer()) -> ok.
evict(Table, Max) ->
    Aged = mnesia:dirty_select(Table, [{age_pattern(Table), [], [{{'$2', '$1'}}]}]),
    Drop = length(Aged) - (Max - Max div 10),
    case Drop > 0 of
        false ->
            ok;
        true ->
            Oldest = lists:sublist(lists:sort([{{Age, recency(Table, Key)}, Age, Key}
                                               || {Age, Key} <- Aged]), Drop),
            {atomic, N} = mnesia:transaction(
                            fun() -> length([ok || {_, Age, Key} <- Oldest,
                                                   delete_if_age(Table, Key, Age)]) end),
            prune_recency(Table),
            log_eviction(Table, Max, N)
    end.

%% last_seen of a violation; `at` of a last verdict.
age_pattern(s2s_trust_violation) ->
    #s2s_trust_violation{domain = '$1', last_seen = '$2', _ = '_'};
age_pattern(s2s_trust_last) ->
    #s2s_trust_last{domain = '$1', verdict = #{at => '$2'}}.

delete_if_age(Table, Key, Age) ->
    case [age_of(R) || R <- mnesia:read(Table, Key, write)] of
        [Age] -> mnesia:delete({Table, Key}), true;
        _ -> false
    end.

age_of(#s2s_trust_violation{last_seen = T}) -> T;
age_of(#s2s_trust_last{verdict = #{at := T}}) -> T.

%% Only the violators list counts as evictions (the last-verdict table is a
%% cache of it).
log_eviction(s2s_trust_violation, Max, N) ->
    mod_s2s_trust_violators:evicted(Max, N);
log_eviction(_Table, _Max, _N) ->
    ok.

%% The recency index: one monotonic number per (table, key) written on this
%% node. Rows written before a restart (or on another node) have 0: their
%% seconds alone order them.
touch(Table, Key) ->
    try ets:insert(mod_s2s_trust_recency, {{Table, Key}, erlang:unique_integer([monotonic, positive])})
    catch error:badarg -> true
    end.

untouch(Table, Key) ->
    try ets:delete(mod_s2s_trust_recency, {Table, Key})
    catch error:badarg -> true
    end.

recency(Table, Key) ->
    try ets:lookup(mod_s2s_trust_recency, {Table, Key}) of
        [{_, Seq}] -> Seq;
        [] -> 0
    catch error:badarg -> 0
    end.

%% Entries of rows that are gone (evicted here, forgotten or evicted on
%% another node of the cluster) leave the index, which thus stays within
%% the table's own bound. Only entries older than the snapshot of the keys:
%% a row is written before its entry, so an entry made after the snapshot
%% may belong to a row the snapshot missed (a flood writes while this
%% runs); dropping it would make that new row look like the oldest one to
%% the next eviction (found by the flood case of test_bypass.sh under load).
prune_recency(Table) ->
    Mark = erlang:unique_integer([monotonic, positive]),
    Present = sets:from_list(mnesia:dirty_all_keys(Table)),
    try ets:foldl(fun({{T, K} = Id, Seq}, Acc) when T =:= Table ->
                          case stale_recency(K, Seq, Present, Mark) of
                              true -> ets:delete(mod_s2s_trust_recency, Id), Acc;
                              false -> Acc
                          end;
                     (_, Acc) -> Acc
                  end, ok, mod_s2s_trust_recency)
    catch error:badarg -> ok
    end.

%% Pure (EUnit): an index entry may go when its row was absent from a
%% snapshot of the keys taken after the entry was made.
-spec stale_recency(binary(), integer(), sets:set(binary()), integer()) -> boolean().
stale_recency(Key, Seq, Present, Mark) ->
    Seq < Mark andalso not sets:is_element(Key, Present).

-spec all() -> [#s2s_trust_violation{}].
all() ->
    mnesia:dirty_select(s2s_trust_violation, [{'_', [], ['$_']}]).

%% Rows in the list (the metrics gauge), without reading them.
-spec count() -> non_neg_integer().
count() ->
    mnesia:table_info(s2s_trust_violation, size).

-spec lookup(binary()) -> {ok, #s2s_trust_violation{}} | not_found.
lookup(Domain) ->
    case mnesia:dirty_read(s2s_trust_violation, Domain) of
        [V] -> {ok, V};
        [] -> not_found
    end.

-spec last_verdict(binary()) -> {ok, map()} | not_found.
last_verdict(Domain) ->
    case mnesia:dirty_read(s2s_trust_last, Domain) of
        [#s2s_trust_last{verdict = V}] -> {ok, V};
        [] -> not_found
    end.

%% The last-verdict table is bounded (max_violators rows), so one pass over
%% the acceptances in it is bounded too.
-spec accepted_by() -> #{atom() => pos_integer()}.
accepted_by() ->
    Ds = mnesia:dirty_select(s2s_trust_last,
                             [{#s2s_trust_last{verdict = #{verdict => ok, details => '$1'}, _ = '_'},
                               [], ['$1']}]),
    lists:foldl(fun(D, Acc) ->
                        A = case D of #{authority := X} when is_atom(X) -> X; _ -> pkix end,
                        maps:update_with(A, fun(N) -> N + 1 end, 1, Acc)
                end, #{}, Ds).

-spec accepted_since(integer()) -> [binary()].
accepted_since(Since) ->
    mnesia:dirty_select(s2s_trust_last,
                        [{#s2s_trust_last{domain = '$1', verdict = #{verdict => ok, at => '$2'}},
                          [{'>=', '$2', Since}], ['$1']}]).

-spec forget(binary()) -> ok | not_found.
forget(Domain) ->
    case mnesia:transaction(fun() ->
                                    Found = mnesia:read(s2s_trust_violation, Domain) =/= [],
                                    mnesia:delete({s2s_trust_violation, Domain}),
                                    mnesia:delete({s2s_trust_last, Domain}),
                                    Found
                            end) of
        {atomic, true} -> untouch(s2s_trust_violation, Domain), untouch(s2s_trust_last, Domain), ok;
        {atomic, false} -> not_found;
        {aborted, Why} -> erlang:error({forget_failed, Why})
    end.

%% One violators row, if it is still exactly V (moved into SQL by
%% mod_s2s_trust_sql; a row another node added to since is kept).
-spec delete_unchanged(#s2s_trust_violation{}) -> deleted | changed.
delete_unchanged(#s2s_trust_violation{domain = Domain} = V) ->
    {atomic, R} = mnesia:transaction(
                    fun() ->
                            case mnesia:read(s2s_trust_violation, Domain, write) of
                                [V] -> mnesia:delete({s2s_trust_violation, Domain}), deleted;
                                _ -> changed
                            end
                    end),
    R =:= deleted andalso untouch(s2s_trust_violation, Domain),
    R.

%% The last verdict only (the SQL backend keeps the list itself).
-spec forget_last(binary()) -> ok.
forget_last(Domain) ->
    mnesia:dirty_delete(s2s_trust_last, Domain),
    untouch(s2s_trust_last, Domain),
    ok.
