%%% mod_s2s_trust_ttl_cache - a bounded ETS cache whose entries expire:
%%% what the network told us (POSH documents, the chain a DANE-TA peer's
%%% server sends), kept so that a peer reconnecting, or a hostile one
%%% reconnecting on purpose, cannot make us ask again on every stream.
%%%
%%% The tables are owned by mod_s2s_trust_throttle's process (created
%%% there, with the module's other ETS tables). Without a table (module
%%% stopping) nothing is cached and nothing fails: get/3 misses and put/5
%%% is a no-op, so the caller just asks the network again.
%%%
%%% Rows are {Key, Value, Until}, in erlang:monotonic_time(second): a wall
%%% clock stepped back must not keep an entry alive longer. Past Max rows, a put
%%% drops what has expired, then, still full, one row (any): a flood of
%%% distinct keys costs us lookups, never memory.
-module(mod_s2s_trust_ttl_cache).

-export([get/3, put/5, flush/1]).

-include_lib("kernel/include/logger.hrl").

%% {ok, Value} when Key is cached and Until is still ahead of Now.
-spec get(atom(), term(), integer()) -> {ok, term()} | miss.
get(Tab, Key, Now) ->
    try ets:lookup(Tab, Key) of
        [{_, Value, Until}] when Until > Now -> {ok, Value};
        _ -> miss
    catch error:badarg -> miss   % no table
    end.

-spec put(atom(), term(), term(), integer(), pos_integer()) -> ok.
put(Tab, Key, Value, Until, Max) ->
    try
        case ets:info(Tab, size) >= Max of
            true ->
                Now = erlang:monotonic_time(second),
                _ = ets:select_delete(Tab, [{{'_', '_', '$1'}, [{'=<', '$1', Now}], [true]}]),
                case ets:info(Tab, size) >= Max of
                    true -> ets:delete(Tab, ets:first(Tab));
                    false -> ok
                end;
            false ->
                ok
        end,
        true = ets:insert(Tab, {Key, Value, Until}),
        ok
    catch error:badarg ->
            ?LOG_DEBUG("mod_s2s_trust: no cache table ~p; not cached", [Tab]),
            ok
    end.

%% Forget everything (a reload: the options the entries were made under
%% may have changed).
-spec flush(atom()) -> ok.
flush(Tab) ->
    try ets:delete_all_objects(Tab) of
        true -> ok
    catch error:badarg -> ok
    end.
