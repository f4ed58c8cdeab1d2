%%% mod_s2s_trust_sql_writer - the one process that writes the violators
%%% list to SQL (db_type: sql).
%%%
%%% A stream that refused a peer must not wait for a database, and a
%%% database that fails must not lose what it was given. So record/1 only
%%% hands the violation over; the writer keeps one pending entry per domain
%%% (a flood of one domain is one row to write), writes them, and keeps
%%% what failed for the next try, retrying with a growing delay. The
%%% pending set is bounded (?MAX_PENDING domains, and the mailbox
%%% ?MAX_MAILBOX messages): past it a violation is dropped, counted
%%% (storage_dropped in the metrics) and logged, never silently. What is
%%% still pending when the module stops is written if the database answers
%%% within the stop's time, and otherwise named in the log.
-module(mod_s2s_trust_sql_writer).

-behaviour(gen_server).

-export([start/1, stop/0, record/1, forget/1, recount/0, flush/1, stats/0, rows/0]).
-export([init/1, handle_call/3, handle_cast/2, handle_info/2, terminate/2, code_change/3]).
%% pure, for EUnit
-export([add_pending/3, retry_delay/1]).

-include_lib("kernel/include/logger.hrl").
-include("mod_s2s_trust.hrl").

-define(SERVER, ?MODULE).
-define(STATS, {?MODULE, stats}).
%% counters: 1 pending (a level), 2 dropped, 3 write errors, 4 rows written,
%% 5 rows in the table when last counted (after each write round), so that
%% a scrape never waits for the database
-define(PENDING, 1).
-define(DROPPED, 2).
-define(ERRORS, 3).
-define(WRITTEN, 4).
-define(ROWS, 5).
-define(MAX_PENDING, 10000).
-define(MAX_MAILBOX, 10000).
%% Writes start this long after the first violation of a quiet spell, so a
%% burst becomes one round.
-define(FLUSH_DELAY_MS, 50).
%% Domains written per round before the writer looks at its mailbox again
%% (a forget/1 waits at most one round).
-define(ROUND, 200).
-define(MAX_RETRY_MS, 30000).
-define(LOG_INTERVAL, 60).

%%%===================================================================
%%% API
%%%===================================================================

%% Under ejabberd's module supervisor, like mod_s2s_trust_learn.
-spec start(binary()) -> ok.
start(Host) ->
    stats_counters(),
    Spec = #{id => ?SERVER, start => {gen_server, start_link, [{local, ?SERVER}, ?MODULE, Host, []]},
             restart => transient, shutdown => 5000, type => worker, modules => [?MODULE]},
    case supervisor:start_child(ejabberd_gen_mod_sup, Spec) of
        {ok, _} -> ok;
        {error, {already_started, _}} -> ok;
        {error, already_present} ->
            _ = supervisor:delete_child(ejabberd_gen_mod_sup, ?SERVER),
            start(Host)
    end.

-spec stop() -> ok.
stop() ->
    _ = supervisor:terminate_child(ejabberd_gen_mod_sup, ?SERVER),
    _ = supervisor:delete_child(ejabberd_gen_mod_sup, ?SERVER),
    ok.

%% Hand one violation (a row of count 1, from mod_s2s_trust_violators:merge)
%% to the writer. Never blocks, never raises.
-spec record(#s2s_trust_violation{}) -> ok.
record(#s2s_trust_violation{domain = Domain} = V) ->
    Us = erlang:system_time(microsecond),
    case whereis(?SERVER) of
        undefined ->
            dropped(Domain, writer_not_running);
        Pid ->
            case erlang:process_info(Pid, message_queue_len) of
                {message_queue_len, N} when N < ?MAX_MAILBOX ->
                    gen_server:cast(Pid, {record, V, Us});
                _ ->
                    dropped(Domain, writer_overloaded)
            end
    end.

%% Drop what is pending for Domain; true when there was something.
-spec forget(binary()) -> boolean().
forget(Domain) ->
    try gen_server:call(?SERVER, {forget, Domain}, 30000)
    catch exit:_ -> false
    end.

%% Count the table's rows again soon (after a forget; at start).
-spec recount() -> ok.
recount() ->
    gen_server:cast(?SERVER, recount).

%% Write everything pending now; what is still pending after (the
%% database failed). For tests and `s2s_trust_list` after a restart of
%% the database: no waiting for the retry timer.
-spec flush(timeout()) -> non_neg_integer().
flush(Timeout) ->
    gen_server:call(?SERVER, flush, Timeout).

-spec stats() -> #{pending := non_neg_integer(), dropped := non_neg_integer(),
                   errors := non_neg_integer(), written := non_neg_integer()}.
stats() ->
    case persistent_term:get(?STATS, undefined) of
        undefined -> #{pending => 0, dropped => 0, errors => 0, written => 0};
        C -> #{pending => counters:get(C, ?PENDING), dropped => counters:get(C, ?DROPPED),
               errors => counters:get(C, ?ERRORS), written => counters:get(C, ?WRITTEN)}
    end.

%% Rows in the SQL table when the writer last counted them (the metrics
%% gauge on db_type sql).
-spec rows() -> non_neg_integer().
rows() ->
    case persistent_term:get(?STATS, undefined) of
        undefined -> 0;
        C -> counters:get(C, ?ROWS)
    end.

%%%===================================================================
%%% Pure parts (EUnit)
%%%===================================================================

%% Pending = #{Domain => {Row, LastUs}}: the violation joins its domain's
%% entry; a new domain past the bound is refused.
-spec add_pending(#s2s_trust_violation{}, integer(), map()) -> {ok, map()} | full.
add_pending(#s2s_trust_violation{domain = D} = V, Us, Pending) ->
    case Pending of
        #{D := {Run, OldUs}} ->
            {ok, Pending#{D := {mod_s2s_trust_violators:combine(Run, V), max(OldUs, Us)}}};
        _ when map_size(Pending) >= ?MAX_PENDING ->
            full;
        _ ->
            {ok, Pending#{D => {V, Us}}}
    end.

%% 1 s after the first failure, doubling, at most 30 s.
-spec retry_delay(pos_integer()) -> pos_integer().
retry_delay(Failures) ->
    min(?MAX_RETRY_MS, 1000 bsl min(Failures - 1, 15)).

%%%===================================================================
%%% gen_server
%%%===================================================================

init(Host) ->
    process_flag(trap_exit, true),   % terminate/2 runs at shutdown: last flush
    recount(),
    {ok, #{host => Host, pending => #{}, timer => undefined, failures => 0, table => unknown}}.

handle_call({forget, Domain}, _From, #{pending := P} = S) ->
    S1 = S#{pending := maps:remove(Domain, P)},
    set_pending(S1),
    {reply, maps:is_key(Domain, P), S1};
handle_call(flush, _From, S) ->
    S1 = write_all(S),
    {reply, map_size(maps:get(pending, S1)), S1};
handle_call(_Other, _From, S) ->
    {reply, {error, unknown_call}, S}.

handle_cast({record, #s2s_trust_violation{domain = D} = V, Us}, #{pending := P} = S) ->
    case mod_s2s_trust_sql:storable_domain(D) of
        false ->
            dropped(D, not_storable),
            {noreply, S};
        true ->
            case add_pending(V, Us, P) of
                {ok, P1} ->
                    S1 = S#{pending := P1},
                    set_pending(S1),
                    {noreply, arm(S1, ?FLUSH_DELAY_MS)};
                full ->
                    dropped(D, too_many_pending),
                    {noreply, S}
            end
    end;
handle_cast(recount, S) ->
    {noreply, maybe_evict(S)};
handle_cast(_Msg, S) ->
    {noreply, S}.

handle_info(write, S) ->
    S1 = write_round(S#{timer := undefined}),
    {noreply, S1};
handle_info(_Msg, S) ->
    {noreply, S}.

terminate(_Reason, S) ->
    #{pending := P} = write_all(S),
    case maps:keys(P) of
        [] ->
            ok;
        Left ->
            ?LOG_ERROR("mod_s2s_trust: stopping with ~b domain(s) of violations not written to "
                       "SQL (database unavailable): ~ts",
                       [length(Left), lists:join(<<", ">>, [mod_s2s_trust:safe(D)
                                                           || D <- lists:sublist(Left, 20)])])
    end,
    counters:put(stats_counters(), ?PENDING, 0).

code_change(_Old, S, _Extra) ->
    {ok, S}.

%%%===================================================================
%%% Writing
%%%===================================================================

%% Write up to ?ROUND domains; more left means another round at once, a
%% failure means a retry later (the database is down: no point in trying
%% the other domains now).
write_round(#{host := Host, pending := P, failures := F} = S0) ->
    Batch = lists:sublist(maps:to_list(P), ?ROUND),
    S = ensure_table(S0),
    Written = case S of
                  #{table := ready} -> write_batch(Host, Batch, P);
                  _ -> {error, no_table, P}
              end,
    case Written of
        {ok, P1} when Batch =:= [] ->
            S#{pending := P1, failures := 0};
        {ok, P1} ->
            S1 = maybe_evict(S#{pending := P1, failures := 0}),
            set_pending(S1),
            case map_size(P1) of
                0 -> S1;
                _ -> arm(S1, 0)
            end;
        {error, Why, P1} ->
            counters:add(stats_counters(), ?ERRORS, 1),
            S1 = S#{pending := P1, failures := F + 1},
            set_pending(S1),
            Delay = retry_delay(F + 1),
            log_failure(Why, map_size(P1), Delay),
            arm(S1, Delay)
    end.

%% The table may not exist yet if the database was down when the module
%% started.
ensure_table(#{table := ready} = S) ->
    S;
ensure_table(#{host := Host} = S) ->
    case mod_s2s_trust_sql:create_table(Host) of
        ok -> S#{table := ready};
        {error, _} -> S
    end.

write_all(S) ->
    S1 = write_round(S),
    case S1 of
        #{pending := P, failures := 0} when map_size(P) > 0 -> write_all(cancel(S1));
        _ -> S1
    end.

write_batch(_Host, [], P) ->
    {ok, P};
write_batch(Host, [{D, {Run, Us}} | Rest], P) ->
    case mod_s2s_trust_sql:write(Host, Run, Us) of
        ok ->
            counters:add(stats_counters(), ?WRITTEN, 1),
            write_batch(Host, Rest, maps:remove(D, P));
        {error, Why} ->
            {error, Why, P}
    end.

%% After every round that wrote (and at start, after a forget): bound
%% the table and count it. One count(*) per round of up to ?ROUND
%% transactions.
maybe_evict(#{host := Host} = S) ->
    Max = mod_s2s_trust:max_violators(),
    case mod_s2s_trust_sql:evict(Host, Max) of
        {ok, 0, Rows} ->
            counters:put(stats_counters(), ?ROWS, Rows);
        {ok, N, Rows} ->
            counters:put(stats_counters(), ?ROWS, Rows),
            log_eviction(Max, N, mod_s2s_trust_violators:note_evicted(N));
        {error, _} ->
            ok   % the next write's failure reports the database
    end,
    S.

arm(#{timer := undefined} = S, Ms) ->
    S#{timer := erlang:send_after(Ms, self(), write)};
arm(S, _Ms) ->
    S.

cancel(#{timer := undefined} = S) ->
    S;
cancel(#{timer := T} = S) ->
    _ = erlang:cancel_timer(T),
    receive write -> ok after 0 -> ok end,
    S#{timer := undefined}.

set_pending(#{pending := P}) ->
    counters:put(stats_counters(), ?PENDING, map_size(P)).

stats_counters() ->
    case persistent_term:get(?STATS, undefined) of
        undefined ->
            C = counters:new(5, [write_concurrency]),
            persistent_term:put(?STATS, C),
            C;
        C ->
            C
    end.

dropped(Domain, Why) ->
    counters:add(stats_counters(), ?DROPPED, 1),
    Now = erlang:system_time(second),
    case mod_s2s_trust_throttle:allow({sql_dropped, Why}, Now, ?LOG_INTERVAL) of
        {true, Held} ->
            ?LOG_ERROR("mod_s2s_trust: a violation of ~ts was not stored (~ts)~ts",
                       [mod_s2s_trust:safe(Domain), Why, mod_s2s_trust_record:held_text(Held)]);
        false ->
            ok
    end,
    ok.

log_failure(Why, Pending, Delay) ->
    case mod_s2s_trust_throttle:allow({sql_write_failed}, erlang:system_time(second),
                                      ?LOG_INTERVAL) of
        {true, _} ->
            ?LOG_ERROR("mod_s2s_trust: writing the violators list to SQL failed (~p); ~b "
                       "domain(s) pending, next try in ~b ms", [Why, Pending, Delay]);
        false ->
            ok
    end.

log_eviction(Max, N, Total) ->
    case mod_s2s_trust_throttle:allow({violators_full}, erlang:system_time(second), 60) of
        {true, _} ->
            ?LOG_WARNING("mod_s2s_trust: the violators list is full (max_violators = ~b): evicted "
                         "the ~b least recently seen domain(s); ~b evicted since start",
                         [Max, N, Total]);
        false ->
            ok
    end.
