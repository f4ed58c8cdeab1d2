%%% mod_s2s_trust_gate - no stanza crosses an s2s stream whose peer
%%% certificate has not been judged, and accepted, for the remote domain and
%%% the local virtual host the stanza comes from or goes to.
%%%
%%% The authentication hooks (mod_s2s_trust) are not enough on their own
%%% (docs/security.md has each path, on ejabberd 23.01, 24.12 and 26.07):
%%% - an inbound stream is judged under the policy of the vhost its header
%%%   names, but ejabberd accepts stanzas on it for every local vhost;
%%% - with mod_s2s_bidi, our stanzas ride a peer's inbound stream (no
%%%   s2s_out_* hook runs), and the peer's stanzas on our outbound stream are
%%%   routed before that stream authenticated, even before TLS;
%%% - streams opened before the module started were never judged.
%%% So every stanza is checked where it passes:
%%% - s2s_receive_packet, on the destination vhost: every stanza that
%%%   enters the router from any s2s stream, inbound or (bidi) outbound;
%%% - s2s_in_handle_info {route, _}: our stanzas over an inbound bidi stream;
%%% - s2s_out_packet: anything the peer sends on our outbound stream, before
%%%   mod_s2s_bidi (Seq 50) can route it.
%%%
%%% Verdicts are kept in the stream's own state map, per (local vhost,
%%% remote domain), so they die with the stream, and each is bound to:
%%% - the connection it was reached on: module keys survive
%%%   xmpp_stream_out:reset_state/1, a new connection has a new socket monitor;
%%% - the vhost's policy: every store (re)load and config reload moves the
%%%   vhost's epoch, and a verdict of an older epoch no longer counts;
%%% - time: an acceptance holds until the leaf's notAfter (an hour for one let
%%%   through by audit or exempt); the stream arms a timer for the earliest,
%%%   and judges itself again when it fires, outbound streams included (they
%%%   have no per-stanza hook for our own stanzas). A pair
%%% without a verdict is judged on the spot, through mod_s2s_trust's own
%%% check, when the stream has authenticated that remote domain; otherwise
%%% the stanza is dropped.
-module(mod_s2s_trust_gate).

-export([accepted/4, refused/3, verdict/3, verdict_keys/1, authenticated/3, direction/1,
         new_policy/1]).
%% hooks
-export([s2s_receive_packet/1, s2s_in_handle_info/2, s2s_out_handle_info/2, s2s_out_packet/2]).

-include_lib("kernel/include/logger.hrl").

-define(KEY, mod_s2s_trust_verdicts).
%% The stream's expiry timer: {TimerRef, At} for the earliest acceptance.
-define(TIMER, mod_s2s_trust_expiry_timer).
-define(EXPIRY_MSG, mod_s2s_trust_verdict_expiry).
%% send_after takes at most 2^32-1 ms: a far expiry is re-armed daily.
-define(MAX_TIMER_MS, 86400000).

-type direction() :: in | out.
-type verdict() :: accept | refuse | none.

%%%===================================================================
%%% Verdicts bound to a stream
%%%===================================================================

-spec accepted(map(), binary(), binary(), integer()) -> map().
accepted(State, LHost, RDomain, Until) ->
    arm_expiry(put_verdict(State, LHost, RDomain, {accept, Until}), Until).

-spec refused(map(), binary(), binary()) -> map().
refused(State, LHost, RDomain) -> put_verdict(State, LHost, RDomain, refuse).

%% The verdict for (LHost, RDomain) on this very connection, under LHost's
%% current policy and, for an acceptance, not yet expired; or none.
-spec verdict(map(), binary(), binary()) -> verdict().
verdict(State, LHost, RDomain) ->
    Token = token(State),
    Epoch = epoch(LHost),
    case maps:get(?KEY, State, #{}) of
        #{{LHost, RDomain} := {Token, Epoch, refuse}} ->
            refuse;
        #{{LHost, RDomain} := {Token, Epoch, {accept, Until}}} ->
            case erlang:system_time(second) < Until of
                true -> accept;
                false -> none
            end;
        _ ->
            none
    end.

%% Every (LHost, RDomain) judged on this connection (any epoch, any age:
%% the re-check judges them all again).
-spec verdict_keys(map()) -> [{binary(), binary()}].
verdict_keys(State) ->
    Token = token(State),
    [K || {K, {T, _, _}} <- maps:to_list(maps:get(?KEY, State, #{})), T =:= Token].

put_verdict(State, LHost, RDomain, V) ->
    Vs = maps:get(?KEY, State, #{}),
    State#{?KEY => Vs#{{LHost, RDomain} => {token(State), epoch(LHost), V}}}.

%% A vhost's policy changed (store rebuilt, options reloaded): every verdict
%% given under the previous one stops counting. A counter per vhost, so
%% that moving it costs no global GC (persistent_term holds only its ref).
-spec new_policy(binary()) -> ok.
new_policy(LHost) ->
    Ref = case persistent_term:get({?MODULE, epoch, LHost}, undefined) of
              undefined ->
                  New = atomics:new(1, []),
                  persistent_term:put({?MODULE, epoch, LHost}, New),
                  New;
              Existing ->
                  Existing
          end,
    atomics:add(Ref, 1, 1).

epoch(LHost) ->
    case persistent_term:get({?MODULE, epoch, LHost}, undefined) of
        undefined -> 0;
        Ref -> atomics:get(Ref, 1)
    end.

%% One timer per stream, for its earliest acceptance.
arm_expiry(State, Until) ->
    case maps:get(?TIMER, State, undefined) of
        {_Ref, At} when At =< Until ->
            State;
        Old ->
            case Old of
                {OldRef, _} -> erlang:cancel_timer(OldRef);
                undefined -> ok
            end,
            Ms = max(0, min((Until - erlang:system_time(second)) * 1000 + 1000, ?MAX_TIMER_MS)),
            State#{?TIMER => {erlang:send_after(Ms, self(), ?EXPIRY_MSG), Until}}
    end.

%% What identifies the connection: the monitor xmpp_stream_{in,out} puts on
%% its socket when it accepts or connects, kept across STARTTLS and SASL,
%% removed when the connection closes or the outbound process resets to
%% connect again. (The socket term itself will not do: it carries the XML
%% parser's state and changes with every read.)
token(State) -> maps:get(socket_monitor, State, undefined).

%% Has the stream proved that it speaks for RDomain? Inbound: ejabberd
%% keeps the authenticated domains (SASL or dialback, piggybacked ones
%% too). Outbound: one remote server, once the stream authenticated.
-spec authenticated(direction(), binary(), map()) -> boolean().
authenticated(in, RDomain, State) ->
    sets:is_element(RDomain, maps:get(auth_domains, State, sets:new()));
authenticated(out, RDomain, State) ->
    maps:get(stream_authenticated, State, false) =:= true
        andalso maps:get(remote_server, State, undefined) =:= RDomain
        andalso not maps:is_key(db_verify, State).

%% mod_s2s_bidi hands the s2s_in_* hooks an s2s_out state: the direction
%% is the state's, not the hook's.
-spec direction(map()) -> direction().
direction(State) -> maps:get(stream_direction, State, in).

%% pass: the pair is accepted (judged now or before); block: refused (now
%% or before); unauthenticated: the stream never proved RDomain.
%% A verdict is not enough on its own: the stream must still have that
%% domain authenticated (ejabberd runs the auth hook with true even when
%% s2s_access denies the domain, and leaves it out of auth_domains).
gate(Dir, LHost, RDomain, State) ->
    case authenticated(Dir, RDomain, State) of
        false ->
            {unauthenticated, State};
        true ->
            case verdict(State, LHost, RDomain) of
                accept -> {pass, State};
                refuse -> {block, State};
                none ->
                    case mod_s2s_trust:judge_stream(Dir, LHost, RDomain, State) of
                        {accept, Until} -> {pass, accepted(State, LHost, RDomain, Until)};
                        {refuse, _Reason, _Detail} -> {block, refused(State, LHost, RDomain)}
                    end
            end
    end.

%%%===================================================================
%%% Hooks
%%%===================================================================

%% Every stanza that reaches our router from any s2s stream, run on the
%% destination vhost (host_of_route of To): judged under that vhost's
%% policy, whatever vhost the stream was opened to.
s2s_receive_packet({Pkt, State} = Acc) ->
    try
        LHost = ejabberd_router:host_of_route(domain(xmpp:get_to(Pkt))),
        RDomain = domain(xmpp:get_from(Pkt)),
        Dir = direction(State),
        case gate(Dir, LHost, RDomain, State) of
            {pass, State1} ->
                {Pkt, State1};
            {Why, State1} ->
                mod_s2s_trust:log_drop(Why, Dir, LHost, RDomain, <<"stanza from">>),
                {stop, {drop, State1}}
        end
    catch Class:Err:St ->
            ?LOG_ERROR("mod_s2s_trust: stanza check failed, stanza dropped: ~p",
                       [{Class, Err, St}]),
            {stop, {drop, element(2, Acc)}}
    end.

%% Our stanza to a remote domain over its inbound stream (mod_s2s_bidi
%% registered the stream as our route there): judged under the policy of
%% the stream's vhost; refused, it is bounced to our sender.
s2s_in_handle_info(#{server_host := LHost} = State, {route, Pkt}) ->
    try
        RDomain = domain(xmpp:get_to(Pkt)),
        case gate(in, LHost, RDomain, State) of
            {pass, State1} ->
                State1;
            {Why, State1} ->
                mod_s2s_trust:log_drop(Why, in, LHost, RDomain, <<"stanza to">>),
                bounce(Pkt, State1),
                {stop, State1}
        end
    catch Class:Err:St ->
            ?LOG_ERROR("mod_s2s_trust: check of a stanza to a bidi peer failed, stanza "
                       "bounced: ~p", [{Class, Err, St}]),
            bounce(Pkt, State),
            {stop, State}
    end;
s2s_in_handle_info(State, ?EXPIRY_MSG) ->
    {stop, mod_s2s_trust_recheck:rejudge_self(in, maps:remove(?TIMER, State))};
s2s_in_handle_info(State, _Info) ->
    State.

%% The earliest acceptance of this outbound stream expired: judge again.
s2s_out_handle_info(State, ?EXPIRY_MSG) ->
    {stop, mod_s2s_trust_recheck:rejudge_self(out, maps:remove(?TIMER, State))};
s2s_out_handle_info(State, _Info) ->
    State.

%% Whatever the peer sends on our outbound stream that is a stanza: before
%% the stream authenticated it is an attack (or a broken peer) and closes
%% the stream; after, the pair must be accepted.
s2s_out_packet(#{db_verify := _} = State, _Pkt) ->
    State;   % a dialback verification stream: mod_s2s_dialback drops stanzas there
s2s_out_packet(#{server_host := LHost} = State, Pkt) ->
    case xmpp:is_stanza(Pkt) of
        false ->
            State;
        true ->
            try
                RDomain = maps:get(remote_server, State),
                case gate(out, LHost, RDomain, State) of
                    {pass, State1} ->
                        State1;
                    {unauthenticated, State1} ->
                        {stop, mod_s2s_trust:refuse_unauthenticated_out(State1, LHost, RDomain)};
                    {block, State1} ->
                        mod_s2s_trust:log_drop(block, out, LHost, RDomain, <<"stanza from">>),
                        {stop, State1}
                end
            catch Class:Err:St ->
                    ?LOG_ERROR("mod_s2s_trust: check of a stanza on an outbound stream "
                               "failed, stanza dropped: ~p", [{Class, Err, St}]),
                    {stop, State}
            end
    end.

%%%===================================================================
%%% Internal
%%%===================================================================

domain(Jid) ->
    {_User, Server, _Resource} = jid:tolower(Jid),
    Server.

bounce(Pkt, State) ->
    whereis(ejabberd_router) =/= undefined andalso bounce_now(Pkt, State).

bounce_now(Pkt, State) ->
    Lang = maps:get(lang, State, <<"en">>),
    Err = xmpp:err_policy_violation(
            <<"The remote server's certificate is not trusted (mod_s2s_trust)">>, Lang),
    try ejabberd_router:route_error(Pkt, Err)
    catch _:_ -> ok
    end.
