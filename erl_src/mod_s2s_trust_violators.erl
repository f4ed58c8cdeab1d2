%%% mod_s2s_trust_violators - the violators list, whatever stores it.
%%%
%%% One list per node (and per cluster): a remote domain is judged the same
%%% whichever of our vhosts it talks to. Its storage is the db_type of the
%%% first vhost that starts the module (docs/storage.md): mnesia (the
%%% default, mod_s2s_trust_mnesia) or sql (mod_s2s_trust_sql, written
%%% through mod_s2s_trust_sql_writer, read on that vhost's SQL pool). The
%%% last verdict per domain is RAM-only and stays in Mnesia on both.
%%%
%%% The verdict is never the storage: recording happens after the decision,
%%% and a storage failure is logged (and, on SQL, queued and retried), never
%%% turned into an acceptance or a refusal.
-module(mod_s2s_trust_violators).

-export([init/2, stop/0, backend/0, record/6, note_verdict/6, all/0, count/0, size/0, lookup/1,
         last_verdict/1, accepted_by/0, accepted_since/1, forget/1, evicted/0, evicted/2]).
%% pure, for the backends and EUnit
-export([merge/7, combine/2]).

-include_lib("kernel/include/logger.hrl").
-include("mod_s2s_trust.hrl").

-define(BACKEND, {?MODULE, backend}).
%% Counts evicted rows since the node started (the web admin and tests read it).
-define(EVICTED, {?MODULE, evicted}).

-type backend() :: mnesia | {sql, binary()}.

%% Called by every vhost's start. The first one to start picks the
%% storage; a later vhost with another db_type is told it shares the list.
-spec init(binary(), mnesia | sql) -> ok | {error, term()}.
init(Host, DbType) ->
    ok = mod_s2s_trust_mnesia:init(),
    case {persistent_term:get(?BACKEND, undefined), DbType} of
        {undefined, mnesia} ->
            persistent_term:put(?BACKEND, mnesia);
        {undefined, sql} ->
            case mod_s2s_trust_sql:check_type(Host) of
                ok ->
                    %% The writer creates the table and moves Mnesia rows
                    %% from before a switch, after this start: a start
                    %% never waits for the database.
                    persistent_term:put(?BACKEND, {sql, Host}),
                    ok = mod_s2s_trust_sql_writer:start(Host);
                {error, _} = E ->
                    E
            end;
        {Same, _} when Same =:= DbType; element(1, Same) =:= DbType ->
            ok;
        {Other, _} ->
            ?LOG_WARNING("mod_s2s_trust: ~ts has db_type ~ts, but the violators list of this node "
                         "is already kept by ~ts; one list serves every vhost",
                         [Host, DbType, describe(Other)]),
            ok
    end.

%% The last vhost running the module stops: the writer writes what it
%% holds (or names it in the log), and the next start chooses again. A
%% vhost that chose SQL and stops while others run leaves the list where
%% it is: its SQL pool belongs to the vhost, not to the module.
-spec stop() -> ok.
stop() ->
    case persistent_term:get(?BACKEND, undefined) of
        {sql, _} -> mod_s2s_trust_sql_writer:stop();
        _ -> ok
    end,
    _ = persistent_term:erase(?BACKEND),
    ok.

describe(mnesia) -> "mnesia";
describe({sql, Host}) -> io_lib:format("sql (the SQL pool of ~ts)", [Host]).

%% Before any vhost started (EUnit, ejabberdctl during start-up): Mnesia.
-spec backend() -> backend().
backend() ->
    persistent_term:get(?BACKEND, mnesia).

%% Add one violation to the domain's row, creating it on first sight. On
%% SQL this queues the violation for the writer and returns at once: the
%% stream that caused it never waits for the database.
-spec record(binary(), in | out, atom(), refused | audited | exempted, map(), integer()) ->
          ok | {error, term()}.
record(Domain, Direction, Reason, Outcome, Details, Now) ->
    case backend() of
        mnesia -> mod_s2s_trust_mnesia:record(Domain, Direction, Reason, Outcome, Details, Now);
        {sql, _} -> mod_s2s_trust_sql_writer:record(
                      merge(undefined, Domain, Direction, Reason, Outcome, Details, Now))
    end.

-spec note_verdict(binary(), in | out, atom(), atom(), map(), integer()) -> ok.
note_verdict(Domain, Direction, Verdict, Outcome, Details, Now) ->
    mod_s2s_trust_mnesia:note_verdict(Domain, Direction, Verdict, Outcome, Details, Now).

%% Reads on SQL raise {storage_unavailable, Why} when the database does not
%% answer: the commands and the page say so instead of showing a list
%% that is not the list.
-spec all() -> [#s2s_trust_violation{}].
all() ->
    case backend() of
        mnesia -> mod_s2s_trust_mnesia:all();
        {sql, Host} -> mod_s2s_trust_sql:all(Host)
    end.

%% Rows in the list without waiting for a database (the metrics gauge):
%% on SQL, the writer's last count.
-spec size() -> non_neg_integer().
size() ->
    case backend() of
        mnesia -> mod_s2s_trust_mnesia:count();
        {sql, _} -> mod_s2s_trust_sql_writer:rows()
    end.

-spec count() -> non_neg_integer().
count() ->
    case backend() of
        mnesia -> mod_s2s_trust_mnesia:count();
        {sql, Host} -> mod_s2s_trust_sql:count(Host)
    end.

-spec lookup(binary()) -> {ok, #s2s_trust_violation{}} | not_found.
lookup(Domain) ->
    case backend() of
        mnesia -> mod_s2s_trust_mnesia:lookup(Domain);
        {sql, Host} -> mod_s2s_trust_sql:lookup(Host, Domain)
    end.

%% What accepted the domains whose last verdict is an acceptance:
%% authority (pkix, dane_ee, dane_ta, posh) -> domains.
-spec accepted_by() -> #{atom() => pos_integer()}.
accepted_by() ->
    mod_s2s_trust_mnesia:accepted_by().

%% The domains whose last verdict is an acceptance at or after Since.
-spec accepted_since(integer()) -> [binary()].
accepted_since(Since) ->
    mod_s2s_trust_mnesia:accepted_since(Since).

-spec last_verdict(binary()) -> {ok, map()} | not_found.
last_verdict(Domain) ->
    mod_s2s_trust_mnesia:last_verdict(Domain).

%% On SQL the writers drop what they still hold for Domain first, so a
%% queued violation cannot bring back a row the operator just forgot.
-spec forget(binary()) -> ok | not_found.
forget(Domain) ->
    case backend() of
        mnesia ->
            mod_s2s_trust_mnesia:forget(Domain);
        {sql, Host} ->
            %% Every node's writer: a violation another node still holds
            %% must not bring the row back either.
            {Answers, Down} = rpc:multicall(ejabberd_cluster:get_nodes(), mod_s2s_trust_sql_writer,
                                            forget, [Domain], 70000),
            %% A writer that did not answer may still write the domain
            %% back: say so rather than claim it is forgotten.
            case [A || A <- Answers, A =/= true, A =/= false] ++ Down of
                [] -> ok;
                Busy -> erlang:error({storage_busy, Busy})
            end,
            Pending = lists:member(true, Answers),
            ok = mod_s2s_trust_mnesia:forget_last(Domain),
            Deleted = mod_s2s_trust_sql:delete(Host, Domain),
            mod_s2s_trust_sql_writer:recount(),
            case {Deleted, Pending} of
                {ok, _} -> ok;
                {not_found, true} -> ok;
                {not_found, false} -> not_found
            end
    end.

%% Violators list rows evicted since the node started (either backend).
-spec evicted() -> non_neg_integer().
evicted() ->
    case persistent_term:get(?EVICTED, undefined) of
        undefined -> 0;
        C -> counters:get(C, 1)
    end.

%% A backend evicted N rows past max_violators = Max: counted, and logged
%% at most once a minute, whichever backend it was.
-spec evicted(pos_integer(), non_neg_integer()) -> ok.
evicted(Max, N) ->
    Total = note_evicted(N),
    case mod_s2s_trust_throttle:allow({violators_full}, erlang:system_time(second), 60) of
        {true, _} ->
            ?LOG_WARNING("mod_s2s_trust: the violators list is full (max_violators = ~b): evicted "
                         "the ~b least recently seen domain(s); ~b evicted since start",
                         [Max, N, Total]);
        false ->
            ok
    end.

note_evicted(N) ->
    C = case persistent_term:get(?EVICTED, undefined) of
            undefined ->
                New = counters:new(1, [atomics]),
                persistent_term:put(?EVICTED, New),
                New;
            Existing -> Existing
        end,
    counters:add(C, 1, N),
    counters:get(C, 1).

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

%% Pure: a stored row (or none) after a run of newer violations that were
%% merged on their own (the SQL writer's pending entry). For violations
%% in time order, merging the run one by one into Old gives the same row:
%% combine(Old, merge(undefined, ...)) = merge(Old, ...), which EUnit
%% checks. When Old is the later one (another node wrote since), its
%% last violation stays the row's last.
-spec combine(#s2s_trust_violation{} | undefined, #s2s_trust_violation{} | undefined) ->
          #s2s_trust_violation{}.
combine(undefined, New) ->
    New;
combine(Old, undefined) ->
    Old;
combine(#s2s_trust_violation{} = Old, #s2s_trust_violation{} = New) ->
    #s2s_trust_violation{reasons = OldRs, directions = OldDs, count = OldC,
                         first_seen = OldFirst, last_seen = OldLast} = Old,
    #s2s_trust_violation{reasons = NewRs, directions = NewDs, count = NewC,
                         first_seen = NewFirst, last_seen = NewLast} = New,
    %% Another node may have written a later violation meanwhile: the
    %% later of the two gives the row its last_* and the head of its
    %% reasons (on equal seconds, the run: it is the newer write).
    {Latest, Rs} = case max_seen(OldLast, NewLast) =:= NewLast of
                       true -> {New, NewRs ++ [R || R <- OldRs, not lists:member(R, NewRs)]};
                       false -> {Old, OldRs ++ [R || R <- NewRs, not lists:member(R, OldRs)]}
                   end,
    Latest#s2s_trust_violation{reasons = Rs,
                               directions = lists:usort(OldDs ++ NewDs),
                               first_seen = min_seen(OldFirst, NewFirst),
                               last_seen = max_seen(OldLast, NewLast),
                               count = OldC + NewC}.

min_seen(undefined, B) -> B;
min_seen(A, undefined) -> A;
min_seen(A, B) -> min(A, B).

max_seen(undefined, B) -> B;
max_seen(A, undefined) -> A;
max_seen(A, B) -> max(A, B).
