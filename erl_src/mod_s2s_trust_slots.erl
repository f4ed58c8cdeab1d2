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
%%% finds none free does not wait: its work is `busy`, and its caller
%%% decides what that means (POSH: the PKIX verdict stands; a DANE-TA
%%% chain: refused as dane_unavailable).
%%%
%%% Each slot is one row, {{Kind, I}, Pid} for I in 1..Max, taken with
%%% ets:insert_new (atomic: exactly one caller gets a free slot) and given
%%% back with ets:delete_object of the holder's own row. There is no
%%% counter to drift: a holder killed at any moment leaves at worst its row
%%% with a dead pid, which the next caller that finds every slot taken
%%% removes (delete_object of that exact row, so two callers cannot free
%%% one slot twice). Contention costs a few failed insert_new, never a
%%% spurious busy while a slot is free. A holder killed inside a dirty NIF
%%% is dead at once for this count while the NIF still runs to its own
%%% deadline: the bound is on live holders.
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

%% Slots of Kind held now by live processes (tests, the audit).
-spec in_use(atom()) -> non_neg_integer().
in_use(Kind) ->
    try length([P || {{K, _}, P} <- ets:tab2list(?TAB), K =:= Kind, is_process_alive(P)])
    catch error:badarg -> 0
    end.

acquire(Kind, Max) ->
    try
        case take(Kind, Max, 1) of
            {ok, _} = Taken -> Taken;
            busy ->
                case reclaim(Kind) of
                    0 -> busy;
                    _ -> take(Kind, Max, 1)
                end
        end
    catch error:badarg -> busy   % no table
    end.

take(_Kind, Max, I) when I > Max ->
    busy;
take(Kind, Max, I) ->
    Row = {{Kind, I}, self()},
    case ets:insert_new(?TAB, Row) of
        true -> {ok, Row};
        false -> take(Kind, Max, I + 1)
    end.

release(_Kind, Row) ->
    try ets:delete_object(?TAB, Row), ok
    catch error:badarg -> ok
    end.

%% Free the slots of Kind whose holders are dead; how many were found.
reclaim(Kind) ->
    Dead = [Row || {{K, _}, P} = Row <- ets:tab2list(?TAB), K =:= Kind, not is_process_alive(P)],
    lists:foreach(fun(Row) -> ets:delete_object(?TAB, Row) end, Dead),
    length(Dead).
