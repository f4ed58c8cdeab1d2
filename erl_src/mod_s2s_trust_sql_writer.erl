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
%%% (storage_dropped in the metrics) and logged, never silently. Domains
%%% wait in a queue: one that fails goes to its back, so a row the database
%%% refuses for itself cannot hold back the others. What is still pending
%%% when the module stops is written if the database answers within
%%% ?STOP_BUDGET_MS, and otherwise named in the log. Rows kept in Mnesia
%%% from before a switch to SQL are moved here by this process too
%%% (mod_s2s_trust_sql:migrate_from_mnesia/1), never by a vhost's start.
-module(mod_s2s_trust_sql_writer).

-behaviour(gen_server).

-export([start/1, stop/0, record/1, forget/1, recount/0, flush/1, stats/0, rows/0]).
-export([init/1, handle_call/3, handle_cast/2, handle_info/2, terminate/2, code_change/3]).
%% pure, for EUnit
-export([add_pending/3, retry_delay/1, requeue/3]).

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
%% What terminate/2 may spend writing: below the supervisor's shutdown
%% (5000 ms), so the log line naming what was not written always comes.
-define(STOP_BUDGET_MS, 3500).
-define(LOG_INTERVAL, 60).

%%%===================================================================
%%% API
%%%===================================================================

%% Under ejabberd's module supervisor, like mod_s2s_trust_learn.
-spec start(binary()) -> ok.
start(Host) ->
    stats_counters(),
    mod_s2s_trust_worker:start(?SERVER, Host).

-spec stop() -> ok.
stop() ->
    mod_s2s_trust_worker:stop(?SERVER).

%% Hand one violation (a row of count 1, from mod_s2s_trust_violators:merge)
%% to the writer. Never blocks, never raises.
-spec record(#s2s_trust_violation{}) -> ok.
record(#s2s_trust_violation{domain = Domain} = V) ->
    Us = erlang:system_time(microsecond),
    case {mod_s2s_trust_sql:storable_domain(Domain), whereis(?SERVER)} of
        {false, _} ->
            dropped(Domain, not_storable);
        {true, undefined} ->
            dropped(Domain, writer_not_running);
        {true, Pid} ->
            case erlang:process_info(Pid, message_queue_len) of
                {message_queue_len, N} when N < ?MAX_MAILBOX ->
                    gen_server:cast(Pid, {record, V, Us});
                _ ->
                    dropped(Domain, writer_overloaded)
            end
    end.

%% Drop what is pending for Domain: true when there was something, false
%% when not (or no writer runs here), busy when the writer did not answer
%% within a minute (it is in a long round against a slow database: the
%% caller must not claim the domain is forgotten).
-spec forget(binary()) -> boolean() | busy.
forget(Domain) ->
    try gen_server:call(?SERVER, {forget, Domain}, 60000)
    catch exit:{timeout, _} -> busy;
          exit:_ -> false
    end.

%% Count the table's rows again soon (after a forget; at start).
-spec recount() -> ok.
recount() ->
    gen_server:cast(?SERVER, recount).

%% Write everything pending now; what is still pending after (the
%% database failed). A barrier for tests that read the table right after
%% a refusal.
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
%% entry; a new domain past the bound is refused. {ok, Pending, New}: New
%% says whether the domain joins the queue.
-spec add_pending(#s2s_trust_violation{}, integer(), map()) -> {ok, map(), boolean()} | full.
add_pending(#s2s_trust_violation{domain = D} = V, Us, Pending) ->
    case Pending of
        #{D := {Run, OldUs}} ->
            {ok, Pending#{D := {mod_s2s_trust_violators:combine(Run, V), max(OldUs, Us)}}, false};
        _ when map_size(Pending) >= ?MAX_PENDING ->
            full;
        _ ->
            {ok, Pending#{D => {V, Us}}, true}
    end.

%% The queue after a round that wrote Tried (in order) and stopped at
%% Failed (or none): the untried go back to the front, the failed one to
%% the back.
-spec requeue([binary()], binary() | none, queue:queue(binary())) -> queue:queue(binary()).
requeue(Untried, none, Q) ->
    queue:join(queue:from_list(Untried), Q);
requeue(Untried, Failed, Q) ->
    queue:in(Failed, queue:join(queue:from_list(Untried), Q)).

%% 1 s after the first failure, doubling, at most 30 s.
-spec retry_delay(pos_integer()) -> pos_integer().
retry_delay(Failures) ->
    min(?MAX_RETRY_MS, 1000 bsl min(Failures - 1, 15)).

%%%===================================================================
%%% gen_server
%%%===================================================================

init(Host) ->
    process_flag(trap_exit, true),   % terminate/2 runs at shutdown: last flush
    counters:put(stats_counters(), ?PENDING, 0),   % a restarted writer holds nothing
    recount(),
    %% A first round at once: it creates the table if needed and moves
    %% Mnesia rows from before a switch to SQL.
    {ok, arm(#{host => Host, pending => #{}, order => queue:new(), timer => undefined,
               failures => 0, table => unknown, migrated => false}, 0)}.

handle_call({forget, Domain}, _From, #{pending := P, order := Q} = S) ->
    S1 = S#{pending := maps:remove(Domain, P),
            order := queue:filter(fun(D) -> D =/= Domain end, Q)},
    set_pending(S1),
    {reply, maps:is_key(Domain, P), S1};
handle_call(flush, _From, S) ->
    S1 = write_all(S),
    {reply, map_size(maps:get(pending, S1)), S1};
handle_call(_Other, _From, S) ->
    {reply, {error, unknown_call}, S}.

handle_cast({record, V, Us}, S) ->
    S1 = pend(V, Us, S),
    set_pending(S1),
    {noreply, arm(S1, ?FLUSH_DELAY_MS)};
handle_cast(recount, S) ->
    {noreply, maybe_evict(S)};
handle_cast(_Msg, S) ->
    {noreply, S}.

handle_info({write, Ref}, #{timer := {Ref, _}} = S) ->
    {noreply, write_round(S#{timer := undefined})};
handle_info(_Msg, S) ->
    {noreply, S}.

%% Casts still in the mailbox join the pending set; then a helper process
%% writes for at most ?STOP_BUDGET_MS (a database that hangs would hold
%% each query for sql_query_timeout). Whatever is not known to be written
%% is named in the log.
terminate(_Reason, S0) ->
    S = drain(S0),
    Self = self(),
    {Pid, Mon} = spawn_monitor(fun() ->
                                       #{pending := Left} = write_all(S#{timer := undefined}),
                                       Self ! {written, self(), maps:keys(Left)}
                               end),
    Left = receive
               {written, Pid, L} -> L
           after ?STOP_BUDGET_MS ->
                   exit(Pid, kill),
                   maps:keys(maps:get(pending, S))
           end,
    erlang:demonitor(Mon, [flush]),
    case Left of
        [] ->
            ok;
        _ ->
            ?LOG_ERROR("mod_s2s_trust: stopping with ~b domain(s) of violations not known to be "
                       "written to SQL (database unavailable or slow): ~ts",
                       [length(Left), lists:join(<<", ">>, [mod_s2s_trust:safe(D)
                                                           || D <- lists:sublist(Left, 20)])])
    end,
    counters:put(stats_counters(), ?PENDING, 0).

drain(S) ->
    receive
        {'$gen_cast', {record, V, Us}} -> drain(pend(V, Us, S))
    after 0 ->
            S
    end.

%% One violation into the pending set (and the queue), or dropped, counted
%% and logged when the set is full.
pend(#s2s_trust_violation{domain = D} = V, Us, #{pending := P, order := Q} = S) ->
    case add_pending(V, Us, P) of
        {ok, P1, true} -> S#{pending := P1, order := queue:in(D, Q)};
        {ok, P1, false} -> S#{pending := P1};
        full -> dropped(D, too_many_pending), S
    end.

code_change(_Old, S, _Extra) ->
    {ok, S}.

%%%===================================================================
%%% Writing
%%%===================================================================

%% Write up to ?ROUND domains from the front of the queue; more left
%% means another round at once. A failure ends the round and means a retry
%% later (the database is likely down: no point in trying the others now);
%% the domain that failed goes to the back of the queue, so that one row
%% the database refuses for itself does not stop the others for ever.
write_round(#{host := Host, pending := P, order := Q, failures := F} = S0) ->
    {Batch, Rest} = take(?ROUND, Q),
    S = migrate(ensure_table(S0)),
    {Written, Outcome} = case S of
                             #{table := ready} -> write_batch(Host, Batch, P, []);
                             _ -> {[], {error, no_table, Batch}}
                         end,
    P1 = maps:without(Written, P),
    case Outcome of
        ok when Written =:= [] ->
            S#{pending := P1, order := Rest, failures := 0};
        ok ->
            S1 = maybe_evict(S#{pending := P1, order := Rest, failures := 0}),
            set_pending(S1),
            case map_size(P1) of
                0 -> S1;
                _ -> arm(S1, 0)
            end;
        {error, Why, [Failed | Untried]} ->
            counters:add(stats_counters(), ?ERRORS, 1),
            S1 = S#{pending := P1, order := requeue(Untried, Failed, Rest), failures := F + 1},
            set_pending(S1),
            Delay = retry_delay(F + 1),
            log_failure(Why, map_size(P1), Delay),
            arm(S1, Delay);
        {error, Why, []} ->
            S1 = S#{pending := P1, order := Rest, failures := F + 1},
            log_failure(Why, map_size(P1), retry_delay(F + 1)),
            arm(S1, retry_delay(F + 1))
    end.

take(N, Q) ->
    {Front, Rest} = queue:split(min(N, queue:len(Q)), Q),
    {queue:to_list(Front), Rest}.

%% Mnesia rows from before a switch to SQL move once the table is there.
migrate(#{migrated := false, table := ready, host := Host} = S) ->
    mod_s2s_trust_sql:migrate_from_mnesia(Host),
    S#{migrated := true};
migrate(S) ->
    S.

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
    S1 = write_round(cancel(S)),
    case S1 of
        #{pending := P, failures := 0} when map_size(P) > 0 -> write_all(S1);
        _ -> S1
    end.

%% {Written domains, ok | {error, Why, [Failed | Untried]}}.
write_batch(_Host, [], _P, Written) ->
    {Written, ok};
write_batch(Host, [D | Rest] = Batch, P, Written) ->
    case maps:find(D, P) of
        error ->   % forgotten since it was queued
            write_batch(Host, Rest, P, Written);
        {ok, {Run, Us}} ->
            case mod_s2s_trust_sql:write(Host, Run, Us) of
                ok ->
                    counters:add(stats_counters(), ?WRITTEN, 1),
                    write_batch(Host, Rest, P, [D | Written]);
                {error, Why} ->
                    {Written, {error, Why, Batch}}
            end
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
            mod_s2s_trust_violators:evicted(Max, N);
        {error, _} ->
            ok   % the next write's failure reports the database
    end,
    S.

%% The timer's message carries its own reference: a message of a timer
%% cancelled too late is recognised and ignored, never taken for a newer
%% one (which would cut a back-off short).
arm(#{timer := undefined} = S, Ms) ->
    Ref = make_ref(),
    S#{timer := {Ref, erlang:send_after(Ms, self(), {write, Ref})}};
arm(S, _Ms) ->
    S.

cancel(#{timer := undefined} = S) ->
    S;
cancel(#{timer := {_Ref, T}} = S) ->
    _ = erlang:cancel_timer(T),
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
