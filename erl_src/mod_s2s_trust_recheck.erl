%%% mod_s2s_trust_recheck - judge every live s2s stream again: when the
%%% module starts on a vhost (streams opened before it, or while it was
%%% off, were never judged) and after a reload (the policy, the stores or
%%% the CRLs changed).
%%%
%%% Each stream judges itself, inside its own process
%%% (ejabberd_s2s_{in,out}:update_state/2), every (local vhost, remote
%%% domain) pair it carries: the domains it authenticated under its own
%%% vhost, and the pairs the gate judged for other vhosts. The processes do
%%% that in parallel, each on the dirty schedulers. A stream refused for its
%%% own vhost is closed with a policy-violation; a pair refused for another
%%% vhost is marked refused, and the gate drops its stanzas.
%%%
%%% Fail closed, and never stop half-way: a stream whose check raises is
%%% closed as refused (internal_error) and logged, and the others are checked
%%% all the same. The coordinator waits for every stream's answer (a stream
%%% that ends meanwhile counts as answered) up to a deadline, then returns:
%%% a stream still busy then (a slow chain completion, a connect in
%%% progress) is not harmed, because the re-check request sits in its mailbox
%%% ahead of anything that arrives later, so it judges itself before it
%%% handles another stanza. The caller's own stream, if it is one, is left
%%% out (it would wait for itself).
-module(mod_s2s_trust_recheck).

-export([run/1, recheck_stream/5, rejudge_self/2]).
%% for tests: the pairs a stream carries
-export([pairs/3]).

-include_lib("kernel/include/logger.hrl").

%% Long enough for a stream that waits on chain completion (learn_wait,
%% at most 60 s, 5 s by default) to answer.
-define(DEADLINE_EXTRA, 5000).

%% Re-judge every live s2s stream for the vhosts in Hosts; returns how many
%% streams answered and how many were closed (refused, failed or silent).
-spec run([binary()]) -> {non_neg_integer(), non_neg_integer()}.
run([]) ->
    {0, 0};
run(Hosts) ->
    Ref = make_ref(),
    Self = self(),
    Streams = [{in, P} || P <- children(ejabberd_s2s_in_sup), P =/= Self] ++
              [{out, P} || P <- children(ejabberd_s2s_out_sup), P =/= Self],
    Pending = maps:from_list(
                [begin
                     Mon = erlang:monitor(process, P),
                     case Dir of
                         in -> ejabberd_s2s_in:update_state(P, {?MODULE, recheck_stream, [Self, Ref, in, Hosts]});
                         out -> ejabberd_s2s_out:update_state(P, {?MODULE, recheck_stream, [Self, Ref, out, Hosts]})
                     end,
                     {P, Mon}
                 end || {Dir, P} <- Streams]),
    Wait = lists:max([0 | [learn_wait(H) || H <- Hosts]]) + ?DEADLINE_EXTRA,
    Deadline = erlang:monotonic_time(millisecond) + Wait,
    collect(Ref, Pending, Deadline, 0, 0).

collect(_Ref, Pending, _Deadline, Answered, Closed) when map_size(Pending) =:= 0 ->
    {Answered, Closed};
collect(Ref, Pending, Deadline, Answered, Closed) ->
    Left = max(0, Deadline - erlang:monotonic_time(millisecond)),
    receive
        {Ref, Pid, Result} when is_map_key(Pid, Pending) ->
            erlang:demonitor(maps:get(Pid, Pending), [flush]),
            C = case Result of kept -> 0; closed -> 1; failed -> 1 end,
            collect(Ref, maps:remove(Pid, Pending), Deadline, Answered + 1, Closed + C);
        {'DOWN', _Mon, process, Pid, _} when is_map_key(Pid, Pending) ->
            %% Ended on its own: nothing left to judge.
            collect(Ref, maps:remove(Pid, Pending), Deadline, Answered, Closed)
    after Left ->
            [erlang:demonitor(M, [flush]) || M <- maps:values(Pending)],
            ?LOG_WARNING("mod_s2s_trust: ~b s2s stream(s) had not answered the re-check after "
                         "~b ms; each judges itself before it handles its next stanza",
                         [map_size(Pending), Left]),
            {Answered, Closed}
    end.

%% Runs inside an s2s stream process. Always answers, and always returns a
%% state: whatever goes wrong closes this stream, never the re-check.
-spec recheck_stream(map(), pid(), reference(), in | out, [binary()]) -> map().
recheck_stream(State, ReplyTo, Ref, Dir, Hosts) ->
    {State1, Result} = judge_self(Dir, State, Hosts),
    ReplyTo ! {Ref, self(), Result},
    State1.

%% Runs inside an s2s stream process whose earliest acceptance expired:
%% every pair it carries is judged again, under every vhost's current policy.
-spec rejudge_self(in | out, map()) -> map().
rejudge_self(Dir, State) ->
    Hosts = [H || H <- ejabberd_option:hosts(), gen_mod:is_loaded(H, mod_s2s_trust)],
    element(1, judge_self(Dir, State, Hosts)).

%% Both of the above, inside the stream: kept, closed (refused for its own
%% vhost) or failed (the judging raised: closed as internal_error).
judge_self(Dir, State, Hosts) ->
    try judge_pairs(Dir, pairs(Dir, State, Hosts), State)
    catch Class:Err:St ->
            ?LOG_ERROR("mod_s2s_trust: judging an s2s stream (~tsbound) again failed; "
                       "the stream is closed as refused (internal_error): ~p",
                       [Dir, {Class, Err, St}]),
            {close_or_stop(State, Dir), failed}
    end.

%% A stream too broken to judge may be too broken to send an error to:
%% then it just stops.
close_or_stop(State, Dir) ->
    try mod_s2s_trust:close_stream(State, Dir, mod_s2s_trust:refusal_text(internal_error, <<>>))
    catch _:_ ->
            case Dir of
                in -> ejabberd_s2s_in:stop_async(self());
                out -> ejabberd_s2s_out:stop_async(self())
            end,
            State
    end.

%% The (local vhost, remote domain) pairs a stream carries that belong to
%% Hosts: what it authenticated under its own vhost, and what the gate
%% judged for others. Dialback verification streams carry nothing.
-spec pairs(in | out, map(), [binary()]) -> [{binary(), binary()}].
pairs(out, #{db_verify := _}, _Hosts) ->
    [];
pairs(Dir, #{server_host := Own} = State, Hosts) ->
    Authenticated = case Dir of
                        in -> sets:to_list(maps:get(auth_domains, State, sets:new()));
                        out ->
                            case maps:get(stream_authenticated, State, false) of
                                true -> [maps:get(remote_server, State)];
                                false -> []
                            end
                    end,
    Judged = mod_s2s_trust_gate:verdict_keys(State),
    lists:usort([P || {H, _} = P <- [{Own, D} || D <- Authenticated] ++ Judged,
                      lists:member(H, Hosts)]).

%% Judge each pair (mod_s2s_trust records every refusal); a refusal under
%% the stream's own vhost closes the stream.
judge_pairs(_Dir, [], State) ->
    {State, kept};
judge_pairs(Dir, Pairs, #{server_host := Own} = State) ->
    {State1, OwnRefusal} =
        lists:foldl(
          fun({LHost, RDomain}, {S, Refusal}) ->
                  case mod_s2s_trust:judge_stream(Dir, LHost, RDomain, S) of
                      {accept, Until} ->
                          {mod_s2s_trust_gate:accepted(S, LHost, RDomain, Until), Refusal};
                      {refuse, Reason, Detail} when LHost =:= Own, Refusal =:= none ->
                          {mod_s2s_trust_gate:refused(S, LHost, RDomain), {Reason, Detail}};
                      {refuse, _, _} ->
                          {mod_s2s_trust_gate:refused(S, LHost, RDomain), Refusal}
                  end
          end, {State, none}, Pairs),
    case OwnRefusal of
        none ->
            {State1, kept};
        {internal_error, _} ->
            %% The judgement itself failed: the stream may not even be able
            %% to send its error.
            {close_or_stop(State1, Dir), closed};
        {Reason, Detail} ->
            Text = mod_s2s_trust:refusal_text(Reason, Detail),
            {mod_s2s_trust:close_stream(State1, Dir, Text), closed}
    end.

learn_wait(Host) ->
    try gen_mod:get_module_opt(Host, mod_s2s_trust, learn_wait)
    catch _:_ -> 5000
    end.

children(Sup) ->
    try [P || {_, P, _, _} <- supervisor:which_children(Sup), is_pid(P)]
    catch exit:_ -> []
    end.
