%%% mod_s2s_trust_slots - a bound on the blocking network work that peers
%%% can make us do at once.
%%%
%%% A POSH fetch and a DANE-TA chain probe each hold a dirty I/O scheduler
%%% for up to their deadline (seconds), and a hostile peer chooses how many
%%% it triggers: every stream from a domain of its own, with a web server
%%% or an s2s server that never answers, costs one. Without a bound, a few
%%% dozen streams would hold every dirty I/O scheduler of the VM (10 by
%%% default), and with them every other dirty I/O NIF (files, TLS, our
%%% own probes). So each kind of work has a number of slots; a caller that
%%% finds none free does not wait: its work is `busy`, and the verdict is
%%% what it would be without that work (PKIX's).
%%%
%%% The count is one ETS counter per kind (exact: update_counter is
%%% atomic), plus one marker row per holder, so that a slot whose holder
%%% was killed before it could give it back (a stream process killed mid-
%%% fetch) is found and freed the next time the kind is full.
%%% The table is owned by mod_s2s_trust_throttle's process; without it
%%% (module stopping) every call is busy: no bound, no work.
-module(mod_s2s_trust_slots).

-export([run/3, in_use/1]).

-define(TAB, mod_s2s_trust_slots).

%% Run Fun in one of Max slots of Kind: Fun's result, or busy when all are
%% taken by live processes.
-spec run(atom(), pos_integer(), fun(() -> T)) -> T | busy.
run(Kind, Max, Fun) ->
    case acquire(Kind, Max) of
        {ok, Marker} ->
            try Fun()
            after release(Kind, Marker)
            end;
        busy ->
            busy
    end.

%% Slots of Kind held now (metrics, tests).
-spec in_use(atom()) -> non_neg_integer().
in_use(Kind) ->
    try ets:lookup(?TAB, Kind) of
        [{_, N}] -> N;
        [] -> 0
    catch error:badarg -> 0
    end.

acquire(Kind, Max) ->
    try take(Kind, Max) of
        ok -> {ok, mark(Kind)};
        busy ->
            case reclaim(Kind) of
                0 -> busy;
                _ -> case take(Kind, Max) of
                         ok -> {ok, mark(Kind)};
                         busy -> busy
                     end
            end
    catch error:badarg -> busy   % no table
    end.

take(Kind, Max) ->
    case ets:update_counter(?TAB, Kind, {2, 1}, {Kind, 0}) of
        N when N =< Max -> ok;
        _ -> ets:update_counter(?TAB, Kind, {2, -1}), busy
    end.

mark(Kind) ->
    Marker = {Kind, self(), make_ref()},
    true = ets:insert(?TAB, {Marker, holder}),
    Marker.

release(Kind, Marker) ->
    try ets:take(?TAB, Marker) of
        [_] -> ets:update_counter(?TAB, Kind, {2, -1}), ok;
        [] -> ok   % reclaimed meanwhile (cannot happen while we live)
    catch error:badarg -> ok
    end.

%% Free the slots of Kind whose holders are dead; how many were freed.
%% ets:take makes each marker freed once, whoever else reclaims.
reclaim(Kind) ->
    Markers = ets:select(?TAB, [{{{Kind, '$1', '_'}, holder}, [], ['$_']}]),
    length([ets:update_counter(?TAB, Kind, {2, -1})
            || {{_, Pid, _} = M, holder} <- Markers,
               not is_process_alive(Pid),
               ets:take(?TAB, M) =/= []]).
