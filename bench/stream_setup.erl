%%% bench/stream_setup.erl - runs inside the sending ejabberd of
%%% bench/streams.sh (loaded with the lab's code= option): one round of s2s
%%% stream set-ups, timed where an operator feels them.
%%%
%%% For every sending domain (a virtual host of this server), a ping IQ from
%%% that domain to the target server is routed, and the time until its
%%% result comes back is the set-up latency: no stream exists between the
%%% two domains yet, so it covers TCP, STARTTLS, authentication both ways
%%% (the target judges our certificate; on 23.01 its reply opens a stream of
%%% its own back, which we authenticate) and the IQ itself. ejabberd's own
%%% router and IQ tracker do the work (ejabberd_router:route_iq/2); this
%%% module only times them. No records: the IQ is decoded from XML, so it
%%% compiles without ejabberd's headers.
-module(stream_setup).
-export([round/3, connections/0, close_all/0]).

%% round(From, To, Concurrency) -> {WallMicroseconds, [LatencyUs | timeout | {error, Type}]}
%% in the order of From.
round(From, To, Concurrency) when is_list(From), is_binary(To), Concurrency > 0 ->
    T0 = erlang:monotonic_time(microsecond),
    Results = pmap(fun(F) -> ping(F, To) end, From, Concurrency),
    {erlang:monotonic_time(microsecond) - T0, Results}.

%% {Incoming, Outgoing} s2s processes of this node, to wait until a round's
%% streams are all gone before the next round.
connections() ->
    {ejabberd_s2s:incoming_s2s_number(), ejabberd_s2s:outgoing_s2s_number()}.

close_all() ->
    ejabberd_s2s:stop_s2s_connections().

ping(From, To) ->
    Self = self(),
    Ref = make_ref(),
    El = fxml_stream:parse_element(
           <<"<iq xmlns='jabber:client' type='get' id='", (integer_to_binary(erlang:unique_integer([positive])))/binary,
             "' from='", From/binary, "' to='", To/binary,
             "'><ping xmlns='urn:xmpp:ping'/></iq>">>),
    IQ = xmpp:decode(El),
    T0 = erlang:monotonic_time(microsecond),
    ejabberd_router:route_iq(IQ, fun(Res) -> Self ! {Ref, Res} end),
    receive
        {Ref, timeout} -> timeout;
        {Ref, Res} ->
            case xmpp:get_type(Res) of
                result -> erlang:monotonic_time(microsecond) - T0;
                Type -> {error, Type}
            end
    after 30000 -> timeout
    end.

%% At most N at a time, results in input order.
pmap(F, Xs, N) ->
    Indexed = lists:zip(lists:seq(1, length(Xs)), Xs),
    pmap(F, Indexed, N, 0, #{}).

pmap(_F, [], _N, 0, Acc) ->
    [V || {_, V} <- lists:sort(maps:to_list(Acc))];
pmap(F, [{I, X} | Rest], N, Running, Acc) when Running < N ->
    Self = self(),
    spawn_link(fun() -> Self ! {pmap, I, F(X)} end),
    pmap(F, Rest, N, Running + 1, Acc);
pmap(F, Rest, N, Running, Acc) ->
    receive {pmap, I, V} -> pmap(F, Rest, N, Running - 1, Acc#{I => V}) end.
