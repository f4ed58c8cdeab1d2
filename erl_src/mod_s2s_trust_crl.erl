%%% mod_s2s_trust_crl - keep the trust stores' CRLs fresh (docs/crl.md):
%%% the node's CRL server and the API the rest of the module calls.
%%%
%%% Let's Encrypt publishes revocation only as CRLs, and only names them in
%%% certificates (crlDistributionPoints). This node-wide server finds those
%%% names, fetches the CRLs over plain HTTP with hard limits, checks each
%%% one (a CRL, signed by a CA of the store, not older than the copy held),
%%% keeps the last good copy in ejabberd's spool, and has every host's store
%%% rebuilt with the copies and the live s2s streams re-checked when one
%%% changes.
%%%
%%% One concern here: when things happen, and the door in. The server
%%% decides when a round runs (at start, on schedule, on s2s_trust_reload,
%%% at once for a point a leaf newly names; one at a time), owns the
%%% tables, and rebuilds the stores after a round that changed a copy. The
%%% rest lives beside it, one concern a module:
%%% - mod_s2s_trust_crl_index: the points known, the copies held, their
%%%   bounds, index.term (the tables this server owns);
%%% - mod_s2s_trust_crl_round: one round's work, in a worker process;
%%% - mod_s2s_trust_crl_fetch: the HTTP GET with its limits;
%%% - mod_s2s_trust_crl_check: the rules, as pure functions.
%%%
%%% Failure is visible, never silent: every failed fetch is logged with its
%%% URL (escaped), status/0 (and `ejabberdctl s2s_trust_crls`) shows it,
%%% and crl_missing decides whether a peer whose CRL we lack or hold only
%%% stale is refused (refuse) or let through on the trust config's
%%% crl_check (warn).
-module(mod_s2s_trust_crl).
-behaviour(gen_server).

%% for mod_s2s_trust
-export([start/2, stop/0, open/2, refresh/0, check_chain/3]).
%% for operators and the posture audit
-export([status/0, crls_command/0]).
-export([init/1, handle_call/3, handle_cast/2, handle_info/2, terminate/2, code_change/3]).

-include_lib("kernel/include/logger.hrl").
-include("ejabberd_commands.hrl").

-define(SERVER, ?MODULE).
-define(ENABLED, {?MODULE, enabled}).
%% How long s2s_trust_reload waits for its fetch round (reload_trust gives
%% each node 60 s in all). A round that takes longer goes on, and applies
%% what it fetched itself.
-define(REFRESH_CALL_TIMEOUT, 30000).
%% Pending note messages beyond which leaves are not looked at.
-define(MAX_QUEUE, 1000).

%%%===================================================================
%%% API for mod_s2s_trust
%%%===================================================================

%% Called by mod_s2s_trust:start/2 for every host; the first one that
%% enables crl_refresh starts the node's server, under ejabberd's module
%% supervisor (like mod_s2s_trust_learn).
-spec start(binary(), gen_mod:opts()) -> ok.
start(_Host, Opts) ->
    case gen_mod:get_opt(crl_refresh, Opts) of
        false ->
            ok;
        true ->
            persistent_term:put(?ENABLED, true),
            Spec = #{id => ?SERVER,
                     start => {gen_server, start_link, [{local, ?SERVER}, ?MODULE, [Opts], []]},
                     restart => transient, shutdown => 5000, type => worker,
                     modules => [?MODULE]},
            case supervisor:start_child(ejabberd_gen_mod_sup, Spec) of
                {ok, _} -> ok;
                {error, {already_started, _}} -> ok;
                {error, already_present} ->
                    _ = supervisor:restart_child(ejabberd_gen_mod_sup, ?SERVER),
                    ok
            end,
            mod_s2s_trust_compat:register_commands(?MODULE, commands()),
            ok
    end.

-spec stop() -> ok.
stop() ->
    _ = persistent_term:erase(?ENABLED),
    mod_s2s_trust_compat:unregister_commands(commands()),
    _ = supervisor:terminate_child(ejabberd_gen_mod_sup, ?SERVER),
    _ = supervisor:delete_child(ejabberd_gen_mod_sup, ?SERVER),
    ok.

%% s2s_trust:open/2 with the learned intermediates and every CRL copy we
%% hold. A copy the store refuses (a disk fault: copies are checked before
%% they are kept) is set aside as *.bad, logged, and the store built
%% without it; any other error is the configuration's and is returned.
-spec open(s2s_trust:store() | default | file:filename_all(), [binary()]) ->
          {ok, s2s_trust:store()} | {error, s2s_trust:reason()}.
open(Config, Intermediates) ->
    open(Config, Intermediates, held_files(), 0).

open(Config, Inter, Crls, Tries) ->
    case s2s_trust:open(Config, #{intermediate_files => Inter, crl_files => Crls}) of
        {ok, _} = Ok ->
            Ok;
        {error, {config, _, _, Text}} = Error when Crls =/= [], Tries < 8 ->
            %% The engine names the file: "crl_file PATH: why".
            case [F || F <- Crls, binary:match(Text, <<"crl_file ", F/binary, ":">>) =/= nomatch] of
                [File | _] ->
                    ?LOG_ERROR("mod_s2s_trust: CRL copy ~ts not loaded, set aside as .bad: ~ts",
                               [File, Text]),
                    _ = file:rename(File, <<File/binary, ".bad">>),
                    open(Config, Inter, lists:delete(File, Crls), Tries + 1);
                [] ->
                    Error
            end;
        {error, _} = Error ->
            Error
    end.

%% The CRL copies the stores read: none when refresh is off.
held_files() ->
    case persistent_term:get(?ENABLED, false) of
        false -> [];
        true -> mod_s2s_trust_crl_index:held_files()
    end.

%% s2s_trust_reload on this node: fetch every CRL now (files only; the
%% caller rebuilds the stores and re-checks the streams). Bounded.
-spec refresh() -> ok | {error, term()}.
refresh() ->
    case whereis(?SERVER) of
        undefined -> {error, not_running};
        _ ->
            try gen_server:call(?SERVER, refresh, ?REFRESH_CALL_TIMEOUT)
            catch exit:Why -> {error, Why}
            end
    end.

%% In the authentication hook, after the verdict: note the leaf's
%% distribution points, and with crl_missing: refuse turn an ok verdict
%% into crl_unavailable when a CRL that covers the peer is missing or stale.
-spec check_chain(binary(), [binary()], {term(), map()}) -> {term(), map()}.
check_chain(_Host, [], Judged) ->
    Judged;
check_chain(Host, [Leaf | _], {Verdict, Details} = Judged) ->
    case persistent_term:get(?ENABLED, false) of
        false ->
            Judged;
        true ->
            note_leaf(Leaf),
            case Verdict =:= ok andalso
                gen_mod:get_module_opt(Host, mod_s2s_trust, crl_missing) =:= refuse of
                false ->
                    Judged;
                true ->
                    case mod_s2s_trust_crl_index:freshness(Leaf, erlang:system_time(second)) of
                        ok -> Judged;
                        {missing, Text} ->
                            {{error, crl_unavailable}, Details#{detail => Text}}
                    end
            end
    end.

note_leaf(Leaf) ->
    case whereis(?SERVER) of
        undefined -> ok;
        Pid ->
            case erlang:process_info(Pid, message_queue_len) of
                {message_queue_len, N} when N < ?MAX_QUEUE -> gen_server:cast(Pid, {leaf, Leaf});
                _ -> ok
            end
    end.

%%%===================================================================
%%% Status
%%%===================================================================

%% One map per distribution point held: where it comes from, the copy we
%% hold (current / stale / none), the last success and failure, when the
%% next fetch is due. Read from ETS: answers while a round is running.
-spec status() -> [#{url := mod_s2s_trust_crl_check:url(), atom() => term()}].
status() ->
    Now = erlang:system_time(second),
    [status_row(E, Now) || {_, E} <- mod_s2s_trust_crl_index:list()].

status_row(E, Now) ->
    Base = maps:with([url, origins, named_by, issuer, this_update, next_update, last_ok,
                      last_attempt, next_fetch, failures, revoked, size], E),
    Base#{copy => mod_s2s_trust_crl_check:copy_state(E, Now),
          last_error => case maps:get(last_error, E, undefined) of
                            {At, Why} -> #{at => At,
                                           reason => mod_s2s_trust_crl_check:format_error(Why)};
                            undefined -> undefined
                        end}.

commands() ->
    [#ejabberd_commands{
        name = s2s_trust_crls, tags = [s2s], policy = admin,
        desc = "List the CRLs mod_s2s_trust fetches, their copies and fetch failures",
        module = ?MODULE, function = crls_command, args = [],
        result = {crls, {list, {crl, {tuple, [{url, string}, {copy, string},
                                              {next_update, string}, {last_ok, string},
                                              {last_error, string}, {next_fetch, string},
                                              {named_by, string}]}}}}}].

crls_command() ->
    [{mod_s2s_trust_format:text_escape(Url), atom_to_binary(Copy), iso(NU), iso(LastOk),
      case LastErr of
          undefined -> <<"-">>;
          #{at := At, reason := R} -> iolist_to_binary([iso(At), <<" ">>, R])
      end, iso(Next), mod_s2s_trust_format:text_escape(Named)}
     || #{url := Url, copy := Copy, last_error := LastErr} = S <- status(),
        NU <- [maps:get(next_update, S, undefined)], LastOk <- [maps:get(last_ok, S, undefined)],
        Next <- [maps:get(next_fetch, S, undefined)],
        Named <- [maps:get(named_by, S, <<>>)]].

iso(T) -> mod_s2s_trust_crl_check:iso(T).

%%%===================================================================
%%% gen_server
%%%===================================================================
%%% The server owns the tables (mod_s2s_trust_crl_index); rounds of
%%% fetches run in a worker process (mod_s2s_trust_crl_round) so status/0,
%%% leaf notes and the hooks never wait on the network. One round at a
%%% time.
%%%
%%% State: opts (of the host that started it; rounds read the live ones),
%%% round (undefined | {Pid, MonitorRef, Force, Waiters}), waiters (s2s_trust_reload
%%% calls to answer when a forced round ends), again (another round is
%%% wanted when this one ends: new leaf points, a forced refresh), timer.

init([Opts]) ->
    process_flag(trap_exit, true),
    ok = mod_s2s_trust_crl_index:init(),
    %% The stores are built right after start: the first round (which reads
    %% their sources) waits a moment for them.
    TRef = erlang:send_after(1000, self(), tick),
    {ok, #{opts => Opts, round => undefined, waiters => [], again => none, timer => TRef}}.

%% Waiters are answered by a round started after they asked.
handle_call(refresh, From, #{waiters := Ws} = S) ->
    S1 = S#{waiters := [From | Ws]},
    case S of
        #{round := undefined} -> {noreply, start_round(true, S1)};
        _ -> {noreply, S1#{again := force}}
    end;
handle_call(_, _From, S) ->
    {reply, {error, unknown_call}, S}.

%% A leaf that names a new point: it is fetched at once (in the round
%% running, or in one more after it).
handle_cast({leaf, Der}, S) ->
    case mod_s2s_trust_crl_index:note_leaf(Der) of
        false -> {noreply, S};
        true ->
            case S of
                #{round := undefined} -> {noreply, start_round(false, S)};
                #{again := force} -> {noreply, S};
                _ -> {noreply, S#{again := normal}}
            end
    end;
handle_cast(_, S) ->
    {noreply, S}.

handle_info(tick, #{round := undefined} = S) ->
    {noreply, start_round(false, S)};
handle_info(tick, S) ->
    {noreply, S};
handle_info({round_done, Pid, Result}, #{round := {Pid, Ref, Force0, Ws}} = S) ->
    erlang:demonitor(Ref, [flush]),
    %% Callers of a forced round that outlived their wait are gone: then the
    %% round rebuilds by itself, as a scheduled one does.
    Force = Force0 andalso erlang:monotonic_time(millisecond) - maps:get(started, S, 0)
                               < ?REFRESH_CALL_TIMEOUT - 1000,
    Changed = try mod_s2s_trust_crl_index:apply_round(Result)
              catch C:E:St ->
                      ?LOG_ERROR("mod_s2s_trust: recording a CRL round failed: ~0p", [{C, E, St}]),
                      []
              end,
    %% A forced round serves s2s_trust_reload, which rebuilds and re-checks
    %% itself; a scheduled round that changed a copy does it here.
    case Changed of
        [_ | _] when not Force -> rebuild(Changed);
        _ -> ok
    end,
    [gen_server:reply(W, ok) || W <- Ws],
    S1 = S#{round := undefined},
    case Result of
        #{stores := 0} ->
            %% The stores are not built yet (module start): look again soon.
            {noreply, retry_soon(S1)};
        _ ->
            {noreply, after_round(S1)}
    end;
handle_info({'DOWN', Ref, process, _, Why}, #{round := {_, Ref, _Force, Ws}} = S) ->
    ?LOG_ERROR("mod_s2s_trust: CRL refresh round crashed: ~0p", [Why]),
    [gen_server:reply(W, {error, crashed}) || W <- Ws],
    {noreply, after_round(S#{round := undefined})};
handle_info(_, S) ->
    {noreply, S}.

terminate(_Reason, #{round := {Pid, _, _, _}}) ->
    exit(Pid, kill),
    ok;
terminate(_Reason, _S) ->
    ok.

code_change(_Old, S, _Extra) ->
    {ok, S}.

%%%===================================================================
%%% Rounds
%%%===================================================================

after_round(#{again := none} = S) ->
    schedule(S);
after_round(#{again := force, waiters := []} = S) ->
    start_round(false, S#{again := none});
after_round(#{again := Again} = S) ->
    start_round(Again =:= force, S#{again := none}).

schedule(#{timer := Old} = S) ->
    _ = erlang:cancel_timer(Old),
    Now = erlang:system_time(second),
    Interval = opt(crl_refresh_interval, S),
    Next = lists:min([Now + Interval | [maps:get(next_fetch, E, Now)
                                        || {_, E} <- mod_s2s_trust_crl_index:list()]]),
    Ms = max(1000, min(Interval, max(0, Next - Now)) * 1000),
    S#{timer := erlang:send_after(Ms, self(), tick)}.

retry_soon(#{timer := Old} = S) ->
    _ = erlang:cancel_timer(Old),
    S#{timer := erlang:send_after(5000, self(), tick)}.

start_round(Force, #{timer := T, waiters := Ws} = S) ->
    _ = erlang:cancel_timer(T),
    Self = self(),
    Params = #{force => Force,
               entries => maps:from_list(mod_s2s_trust_crl_index:list()),
               interval => opt(crl_refresh_interval, S),
               timeout => opt(crl_fetch_timeout, S),
               max_bytes => opt(crl_max_size, S),
               dir => mod_s2s_trust_crl_index:dir()},
    {Pid, Ref} = spawn_monitor(fun() ->
                                       Self ! {round_done, self(), mod_s2s_trust_crl_round:run(Params)}
                               end),
    Started = erlang:monotonic_time(millisecond),
    case Force of
        true -> S#{round := {Pid, Ref, true, Ws}, waiters := [], started => Started};
        false -> S#{round := {Pid, Ref, false, []}, started => Started}
    end.

opt(Key, #{opts := Opts}) ->
    case [H || H <- ejabberd_option:hosts(), gen_mod:is_loaded(H, mod_s2s_trust)] of
        [H | _] -> gen_mod:get_module_opt(H, mod_s2s_trust, Key);
        [] -> gen_mod:get_opt(Key, Opts)
    end.

%% Rebuild every host's store with the copies and re-check the live
%% streams, outside the server (the re-check waits for streams).
rebuild(Changed) ->
    ?LOG_NOTICE("mod_s2s_trust: ~b CRL(s) changed; rebuilding the trust stores and "
                "re-checking live s2s streams", [length(Changed)]),
    _ = spawn(fun() ->
                      try mod_s2s_trust_store:rebuild_and_recheck() of
                          {_, Errors, Checked, Closed} ->
                              ?LOG_NOTICE("mod_s2s_trust: after the CRL update ~b live s2s "
                                          "stream(s) re-checked, ~b closed~ts",
                                          [Checked, Closed,
                                           case Errors of
                                               [] -> <<>>;
                                               _ -> io_lib:format("; store errors: ~0p", [Errors])
                                           end])
                      catch C:E:St ->
                              ?LOG_ERROR("mod_s2s_trust: rebuilding after a CRL update failed: "
                                         "~0p", [{C, E, St}])
                      end
              end),
    ok.

