%%% mod_s2s_trust_throttle - keep a flood of violations off the disk.
%%%
%%% A misconfigured or hostile peer may retry many times a second. Every
%%% attempt is still counted in the violators list (Mnesia), but the
%%% WARNING log line and the log_file line for the same (domain, direction,
%%% reason) are written at most once per interval; the next line written
%%% says how many were held back. The table is bounded: a flood of distinct
%%% keys empties it rather than growing without limit.
-module(mod_s2s_trust_throttle).

-export([start/0, stop/0, allow/3]).

-define(TAB, mod_s2s_trust_throttle).
%% Far more keys than real federations; past it, forget and start over.
-define(MAX_KEYS, 100000).

%% The module's ETS tables need an owner that outlives any one s2s process
%% or module start call: one small registered process that only waits,
%% started by every vhost's start (the first one wins) and stopped with
%% the last vhost.
-spec start() -> ok.
start() ->
    case whereis(?TAB) of
        undefined ->
            Parent = self(),
            Pid = spawn(fun() ->
                                ets:new(?TAB, [named_table, public, set,
                                               {write_concurrency, true}]),
                                %% The violators list's recency index (see
                                %% mod_s2s_trust_violators): same owner.
                                ets:new(mod_s2s_trust_recency,
                                        [named_table, public, set, {write_concurrency, true}]),
                                %% The POSH document cache (mod_s2s_trust_posh).
                                ets:new(mod_s2s_trust_posh_cache,
                                        [named_table, public, set, {read_concurrency, true}]),
                                %% The chains DANE-TA peers' servers send
                                %% (mod_s2s_trust_dane).
                                ets:new(mod_s2s_trust_dane_chains,
                                        [named_table, public, set, {read_concurrency, true}]),
                                %% The slots of blocking network work
                                %% (mod_s2s_trust_slots).
                                ets:new(mod_s2s_trust_slots,
                                        [named_table, public, set, {write_concurrency, true}]),
                                Parent ! {?TAB, ready},
                                receive stop -> ok end
                        end),
            try register(?TAB, Pid) of
                true -> receive {?TAB, ready} -> ok after 5000 -> ok end
            catch error:badarg ->
                    %% Another vhost's start won the race; ours is not needed.
                    exit(Pid, kill),
                    ok
            end;
        _ ->
            ok
    end.

-spec stop() -> ok.
stop() ->
    case whereis(?TAB) of
        undefined -> ok;
        Pid -> Pid ! stop, ok
    end.

%% {true, HeldBack} when a line may be written now (HeldBack lines were
%% suppressed since the last one), false while inside the interval.
%% Without the table (module stopping), always allow: losing the throttle
%% must not lose evidence.
-spec allow(term(), integer(), pos_integer()) -> {true, non_neg_integer()} | false.
allow(Key, Now, Interval) ->
    try
        case ets:lookup(?TAB, Key) of
            [{_, Last, _}] when Now - Last < Interval ->
                _ = ets:update_counter(?TAB, Key, {3, 1}),
                false;
            [{_, _, Held}] ->
                ets:insert(?TAB, {Key, Now, 0}),
                {true, Held};
            [] ->
                case ets:info(?TAB, size) >= ?MAX_KEYS of
                    true -> ets:delete_all_objects(?TAB);
                    false -> ok
                end,
                ets:insert(?TAB, {Key, Now, 0}),
                {true, 0}
        end
    catch error:badarg ->
            {true, 0}
    end.

