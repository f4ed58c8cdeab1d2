%%% mod_s2s_trust_violators - the violators list, in Mnesia.
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
-module(mod_s2s_trust_violators).

-export([init/0, record/6, note_verdict/6, all/0, lookup/1, last_verdict/1, forget/1,
         merge/7, evict/3, evicted/0]).

-include_lib("kernel/include/logger.hrl").
-include("mod_s2s_trust.hrl").

%% Counts evicted rows since the node started (the web admin and tests read it).
-define(EVICTED, {?MODULE, evicted}).

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
                mnesia:write(merge(Old, Domain, Direction, Reason, Outcome, Details, Now))
        end,
    case mnesia:transaction(F) of
        {atomic, ok} ->
            touch(s2s_trust_violation, Domain),
            bound(s2s_trust_violation, #s2s_trust_violation.last_seen);
        {aborted, Why} -> {error, Why}
    end.

%% Pure: the row after one more violation (EUnit tests this directly).
-spec merge(#s2s_trust_violation{} | undefined, binary(), in | out, atom(),
            refused | audited | exempted, map(), integer()) -> #s2s_trust_violation{}.
merge(undefined, Domain, Direction, Reason, Outcome, Details, Now) ->
    merge(#s2s_trust_violation{domain = Domain, first_seen = Now}, Domain, Direction,
          Reason, Outcome, Details, Now);
merge(#s2s_trust_violation{reasons = Rs, directions = Ds, count = C} = V,
      _Domain, Direction, Reason, Outcome, Details, Now) ->
    V#s2s_trust_violation{reasons = [Reason | lists:delete(Reason, Rs)],
                          directions = lists:usort([Direction | Ds]),
                          last_seen = Now, count = C + 1,
                          last_reason = Reason, last_outcome = Outcome,
                          last_details = Details}.

-spec note_verdict(binary(), in | out, atom(), atom(), map(), integer()) -> ok.
note_verdict(Domain, Direction, Verdict, Outcome, Details, Now) ->
    mnesia:dirty_write(#s2s_trust_last{domain = Domain,
                                       verdict = #{domain => Domain, direction => Direction,
                                                   verdict => Verdict, outcome => Outcome,
                                                   details => Details, at => Now}}),
    touch(s2s_trust_last, Domain),
    bound(s2s_trust_last, fun(#s2s_trust_last{verdict = #{at := At}}) -> At end).

%% Keep Table within max_violators rows. One evicting process at a time
%% (the others go on: the bound is soft by at most their own rows).
bound(Table, Age) ->
    Max = mod_s2s_trust:max_violators(),
    case mnesia:table_info(Table, size) > Max of
        false ->
            ok;
        true ->
            case mod_s2s_trust_throttle:try_lock({evict, Table}) of
                false ->
                    ok;
                true ->
                    try evict(Table, Age, Max)
                    after mod_s2s_trust_throttle:unlock({evict, Table})
                    end
            end
    end.

%% Delete the least recently seen rows so that Max - Max div 10 remain.
%% Age is the record field holding the last-seen time, or a fun of a row.
-spec evict(atom(), pos_integer() | fun((tuple()) -> integer()), pos_integer()) -> ok.
evict(Table, Age, Max) ->
    Rows = mnesia:dirty_select(Table, [{'_', [], ['$_']}]),
    Keep = Max - Max div 10,
    Drop = length(Rows) - Keep,
    case Drop > 0 of
        false ->
            ok;
        true ->
            AgeOf = case Age of
                        F when is_function(F, 1) -> F;
                        N when is_integer(N) -> fun(R) -> element(N, R) end
                    end,
            Aged = [{{AgeOf(R), recency(Table, element(2, R))}, element(2, R)} || R <- Rows],
            Oldest = lists:sublist(lists:keysort(1, Aged), Drop),
            [begin mnesia:dirty_delete(Table, Key), untouch(Table, Key) end || {_, Key} <- Oldest],
            Total = counters_add(length(Oldest)),
            case Table of
                s2s_trust_violation ->
                    Now = erlang:system_time(second),
                    case mod_s2s_trust_throttle:allow({violators_full}, Now, 60) of
                        {true, _} ->
                            ?LOG_WARNING("mod_s2s_trust: the violators list is full (max_violators = ~b): "
                                         "evicted the ~b least recently seen domain(s); ~b evicted since "
                                         "start", [Max, length(Oldest), Total]);
                        false ->
                            ok
                    end;
                _ ->
                    ok
            end,
            ok
    end.

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

%% Violators list rows evicted since the node started.
-spec evicted() -> non_neg_integer().
evicted() ->
    case persistent_term:get(?EVICTED, undefined) of
        undefined -> 0;
        C -> counters:get(C, 1)
    end.

counters_add(N) ->
    C = case persistent_term:get(?EVICTED, undefined) of
            undefined ->
                New = counters:new(1, [atomics]),
                persistent_term:put(?EVICTED, New),
                New;
            Existing -> Existing
        end,
    counters:add(C, 1, N),
    counters:get(C, 1).

-spec all() -> [#s2s_trust_violation{}].
all() ->
    mnesia:dirty_select(s2s_trust_violation, [{'_', [], ['$_']}]).

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
