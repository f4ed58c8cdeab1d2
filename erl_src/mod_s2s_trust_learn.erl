%%% mod_s2s_trust_learn - complete a peer's chain by asking its own server.
%%%
%%% ejabberd hands mod_s2s_trust only a peer's leaf, so a leaf issued by an
%%% intermediate our pool lacks is unknown_issuer even for an honest peer.
%%% When that happens the module asks this learner to probe the peer's s2s
%%% endpoint (where ejabberd itself would connect for that domain), take the
%%% chain its server sends, keep the CA certificates that chain to one of
%%% our anchors (s2s_trust:learn_examine/2: trust is never learned), persist
%%% them in Mnesia, and rebuild every host's store with them on every node.
%%% The caller then verifies the leaf again, in full.
%%%
%%% Decisions (docs/learning.md):
%%% - The hook waits a bounded time (learn_wait) for the outcome; a probe
%%%   that takes longer goes on in the background and serves the next
%%%   stream, while this one is refused with unknown_issuer.
%%% - One probe per domain per probe_interval, and at most ?MAX_PROBES at
%%%   once: a hostile peer can make us connect only to the addresses its
%%%   own domain resolves to, as ejabberd would, and not often.
%%% - The learned pool is bounded (max_learned); the oldest entry goes first.
%%%
%%% One learner per node; its Mnesia table is shared by the cluster.
-module(mod_s2s_trust_learn).
-behaviour(gen_server).

-export([start/0, stop/0, init_table/0, complete/3, extra_files/0, learned/0, forget_all/0,
         pem_file/0, write_pem/0]).
%% pure, for EUnit
-export([order_srv/1, probe_allowed/3, outcome_text/2]).
-export([init/1, handle_call/3, handle_cast/2, handle_info/2, terminate/2, code_change/3]).

-include_lib("kernel/include/logger.hrl").
-include_lib("kernel/include/inet.hrl").

-define(SERVER, ?MODULE).
%% Probes running at once on this node.
-define(MAX_PROBES, 4).
%% Addresses tried per probe: the first few of what the domain resolves to.
-define(MAX_TARGETS, 4).
%% Remembered probe outcomes; past it, the oldest are forgotten.
-define(MAX_RECENT, 10000).

-record(s2s_trust_learned,
        {fingerprint :: binary(),   % SHA-256 of der
         der :: binary(),
         subject :: binary(),
         learned_from :: binary(),  % the domain whose server sent it
         learned_at :: integer()}). % unix seconds

-type outcome() :: {learned, non_neg_integer()} | {error, term()}.

%%%===================================================================
%%% API
%%%===================================================================

-spec init_table() -> ok | {error, term()}.
init_table() ->
    case ejabberd_mnesia:create(?MODULE, s2s_trust_learned,
                                [{disc_copies, [node()]},
                                 {attributes, record_info(fields, s2s_trust_learned)}]) of
        {atomic, _} -> ok;
        Other -> {error, Other}
    end.

%% Started by the first host that loads mod_s2s_trust, under ejabberd's
%% module supervisor, so a crash restarts it and never takes a stream down.
-spec start() -> ok.
start() ->
    mod_s2s_trust_worker:start(?SERVER, []).

-spec stop() -> ok.
stop() ->
    mod_s2s_trust_worker:stop(?SERVER).

%% Try to complete Domain's chain for Host's store; wait at most WaitMs.
%% {learned, N}: N new intermediates are in every store now (verify
%% again); {error, Why}: nothing changed, Why says what happened.
-spec complete(binary(), binary(), non_neg_integer()) -> outcome().
complete(Host, Domain, WaitMs) ->
    try gen_server:call(?SERVER, {complete, Host, Domain}, max(1, WaitMs))
    catch
        exit:{timeout, _} -> {error, {pending, WaitMs}};
        exit:{noproc, _} -> {error, learner_not_running}
    end.

%% The bundle of learned intermediates to add to every store, if any.
-spec extra_files() -> [binary()].
extra_files() ->
    File = pem_file(),
    case filelib:is_regular(File) andalso table_size() > 0 of
        true -> [File];
        false -> []
    end.

-spec learned() -> [#{fingerprint := binary(), subject := binary(),
                      learned_from := binary(), learned_at := integer()}].
learned() ->
    [#{fingerprint => F, subject => S, learned_from => D, learned_at => T}
     || #s2s_trust_learned{fingerprint = F, subject = S, learned_from = D, learned_at = T}
            <- all_rows()].

-spec forget_all() -> ok.
forget_all() ->
    {atomic, ok} = mnesia:clear_table(s2s_trust_learned),
    write_pem().

%% Beside Mnesia's own files: the spool is ejabberd's, per node.
-spec pem_file() -> binary().
pem_file() ->
    iolist_to_binary(filename:join(mnesia:system_info(directory), "s2s_trust_learned.pem")).

%% The table, as the PEM bundle the stores read. Written atomically (a
%% reader never sees half a file); removed when the table is empty.
-spec write_pem() -> ok.
write_pem() ->
    File = pem_file(),
    case all_rows() of
        [] ->
            _ = file:delete(File),
            ok;
        Rows ->
            Pem = public_key:pem_encode([{'Certificate', Der, not_encrypted}
                                         || #s2s_trust_learned{der = Der} <- Rows]),
            Tmp = <<File/binary, ".tmp">>,
            ok = file:write_file(Tmp, Pem),
            ok = file:rename(Tmp, File)
    end.

%%%===================================================================
%%% Pure parts
%%%===================================================================

%% RFC 2782 order: lower priority first; within a priority, a weighted
%% random draw (weight 0 entries only when nothing else is left, as the RFC
%% asks). Entries are {Priority, Weight, Port, Target}.
-spec order_srv([{integer(), integer(), integer(), string()}]) ->
          [{integer(), integer(), integer(), string()}].
order_srv(Records) ->
    Prios = lists:usort([P || {P, _, _, _} <- Records]),
    lists:append([weighted([R || {P, _, _, _} = R <- Records, P =:= Prio]) || Prio <- Prios]).

weighted([]) -> [];
weighted(Rs) ->
    Total = lists:sum([W || {_, W, _, _} <- Rs]),
    Pick = case Total of
               0 -> hd(Rs);
               _ -> pick(rand:uniform(Total), Rs)
           end,
    [Pick | weighted(lists:delete(Pick, Rs))].

pick(N, [{_, W, _, _} = R | _]) when N =< W -> R;
pick(N, [{_, W, _, _} | Rest]) -> pick(N - W, Rest).

%% May Domain be probed now, given when it last was (undefined: never)?
-spec probe_allowed(integer() | undefined, integer(), pos_integer()) -> boolean().
probe_allowed(undefined, _Now, _Interval) -> true;
probe_allowed(Last, Now, Interval) -> Now - Last >= Interval.

%% One line for the violation record and the log.
-spec outcome_text(binary(), outcome()) -> binary().
outcome_text(_Domain, {learned, N}) ->
    iolist_to_binary(io_lib:format("~b intermediate(s) learned from the peer's server", [N]));
outcome_text(Domain, {error, Why}) ->
    D = mod_s2s_trust_format:text_escape(Domain),
    iolist_to_binary(
      case Why of
          {chain_incomplete_at_peer, Where} ->
              [<<"chain incomplete at the peer: the server of ">>, D, <<" (">>, Where,
               <<") does not send the intermediate certificate(s)">>];
          {not_learnable, Where, Fates} ->
              [<<"chain could not be completed: what the server of ">>, D, <<" (">>, Where,
               <<") sends does not reach a trusted root (">>, Fates, <<")">>];
          {probe_failed, Tried} ->
              [<<"chain could not be completed: probing the server of ">>, D,
               <<" failed (">>, Tried, <<")">>];
          no_address ->
              [<<"chain could not be completed: ">>, D, <<" resolves to no address">>];
          {pending, Ms} ->
              io_lib:format("chain completion still running after ~b ms; a later stream "
                            "may pass", [Ms]);
          {rate_limited, Last} ->
              [<<"chain completion not retried yet (last probe: ">>, Last, <<")">>];
          busy ->
              <<"chain completion skipped: too many probes running">>;
          learner_not_running ->
              <<"chain completion unavailable: the learner is not running">>;
          Other ->
              io_lib:format("chain completion failed: ~0p", [Other])
      end).

%%%===================================================================
%%% gen_server
%%%===================================================================

%% inflight: Domain => {{WorkerPid, MonitorRef}, Host, [From]}
%% recent: Domain => {ProbedAt, Outcome} (answers within probe_interval)
init([]) ->
    process_flag(trap_exit, true),
    {ok, #{inflight => #{}, recent => #{}}}.

handle_call({complete, Host, Domain}, From, #{inflight := In, recent := Recent} = S) ->
    Now = erlang:system_time(second),
    Interval = opt(Host, probe_interval),
    case {maps:find(Domain, In), maps:find(Domain, Recent)} of
        {{ok, {W, H, Waiters}}, _} ->
            {noreply, S#{inflight := In#{Domain => {W, H, [From | Waiters]}}}};
        {error, {ok, {Last, Outcome}}} ->
            case probe_allowed(Last, Now, Interval) of
                false -> {reply, remembered(Outcome, Last), S};
                true -> start_probe(Host, Domain, From, S)
            end;
        {error, error} ->
            start_probe(Host, Domain, From, S)
    end;
handle_call(_Other, _From, S) ->
    {reply, {error, unknown_call}, S}.

handle_cast(_Msg, S) ->
    {noreply, S}.

handle_info({probe_done, Pid, Outcome0}, #{inflight := In} = S) ->
    case [D || {D, {{P, _}, _, _}} <- maps:to_list(In), P =:= Pid] of
        [Domain] ->
            {{_, Ref}, Host, _} = maps:get(Domain, In),
            erlang:demonitor(Ref, [flush]),
            Outcome = try finish(Host, Domain, Outcome0)
                      catch C:E:St ->
                              ?LOG_ERROR("mod_s2s_trust: storing what was learned from ~ts "
                                         "failed: ~0p", [mod_s2s_trust_format:text_escape(Domain),
                                                         {C, E, St}]),
                              {error, {store_failed, E}}
                      end,
            {noreply, answer(Domain, Outcome, S)};
        [] ->
            {noreply, S}
    end;
handle_info({'DOWN', Ref, process, _, Why}, #{inflight := In} = S) ->
    case [D || {D, {{_, R}, _, _}} <- maps:to_list(In), R =:= Ref] of
        [Domain] ->
            ?LOG_ERROR("mod_s2s_trust: chain completion for ~ts crashed: ~0p",
                       [mod_s2s_trust_format:text_escape(Domain), Why]),
            {noreply, answer(Domain, {error, {probe_crashed, Why}}, S)};
        [] ->
            {noreply, S}
    end;
handle_info(_Msg, S) ->
    {noreply, S}.

terminate(_Reason, _S) ->
    ok.

code_change(_Old, S, _Extra) ->
    {ok, S}.

%%%===================================================================
%%% Internals
%%%===================================================================

start_probe(_Host, _Domain, _From, #{inflight := In} = S) when map_size(In) >= ?MAX_PROBES ->
    {reply, {error, busy}, S};
start_probe(Host, Domain, From, #{inflight := In} = S) ->
    Self = self(),
    Opts = #{timeout => opt(Host, probe_timeout)},
    {Pid, Ref} = spawn_monitor(
                   fun() -> Self ! {probe_done, self(), probe_and_examine(Host, Domain, Opts)} end),
    {noreply, S#{inflight := In#{Domain => {{Pid, Ref}, Host, [From]}}}}.

%% Every stream waiting on Domain gets the outcome; it is remembered for
%% probe_interval.
answer(Domain, Outcome, #{inflight := In, recent := Recent} = S) ->
    {_, _, Waiters} = maps:get(Domain, In),
    [gen_server:reply(W, Outcome) || W <- Waiters],
    S#{inflight := maps:remove(Domain, In), recent := remember(Domain, Outcome, Recent)}.

remember(Domain, Outcome, Recent) ->
    Now = erlang:system_time(second),
    R = case map_size(Recent) >= ?MAX_RECENT of
            true -> #{};
            false -> Recent
        end,
    R#{Domain => {Now, Outcome}}.

remembered({learned, _}, _Last) ->
    %% Already learned and the stores rebuilt: nothing new to add.
    {error, {rate_limited, mod_s2s_trust_format:iso8601(erlang:system_time(second))}};
remembered({error, {chain_incomplete_at_peer, _}} = E, _Last) -> E;
remembered({error, {not_learnable, _, _}} = E, _Last) -> E;
remembered({error, _}, Last) ->
    {error, {rate_limited, mod_s2s_trust_format:iso8601(Last)}}.

opt(Host, Key) ->
    gen_mod:get_module_opt(Host, mod_s2s_trust, Key).

%% Runs in the worker: resolve like ejabberd, probe until a server sends
%% a chain, then judge its certificates against Host's store.
probe_and_examine(Host, Domain, #{timeout := Timeout}) ->
    ?LOG_INFO("mod_s2s_trust: probing the s2s server of ~ts for its certificate chain",
              [mod_s2s_trust_format:text_escape(Domain)]),
    case targets(Domain) of
        [] ->
            {error, no_address};
        Targets ->
            probe_targets(Host, Domain, lists:sublist(Targets, ?MAX_TARGETS), Timeout, [])
    end.

probe_targets(_Host, _Domain, [], _Timeout, Tried) ->
    {error, {probe_failed, iolist_to_binary(lists:join(<<"; ">>, lists:reverse(Tried)))}};
probe_targets(Host, Domain, [{Addr, Port, Mode} | Rest], Timeout, Tried) ->
    Where = where(Addr, Port, Mode),
    case s2s_trust:probe(Domain, Host, Addr, Port, Mode, Timeout) of
        {ok, Chain, _Info} ->
            examine(Host, Domain, Chain, Where);
        {error, Status, Info} ->
            Text = iolist_to_binary([Where, <<": ">>, atom_to_binary(Status),
                                     case maps:get(detail, Info, undefined) of
                                         undefined -> <<>>;
                                         D -> [<<" (">>, mod_s2s_trust_format:text_escape(D), <<")">>]
                                     end]),
            probe_targets(Host, Domain, Rest, Timeout, [Text | Tried])
    end.

examine(Host, Domain, [_Leaf], Where) ->
    _ = {Host, Domain},
    {error, {chain_incomplete_at_peer, Where}};
examine(Host, Domain, Chain, Where) ->
    Store = mod_s2s_trust_store:of_host(Host),
    Fates = s2s_trust:learn_examine(Store, lists:sublist(Chain, 16)),
    Keep = [Der || {Der, {keep, _, _}} <- lists:zip(lists:sublist(Chain, 16), Fates)],
    case Keep of
        [] ->
            case [F || {F, _, _} <- tl(Fates), F =:= known] of
                [_ | _] ->
                    %% Everything useful is in the pool already: the leaf
                    %% fails for another reason than a missing intermediate.
                    {error, {not_learnable, Where, <<"the intermediates it sends are known">>}};
                [] ->
                    {error, {not_learnable, Where, fates_text(tl(Fates))}}
            end;
        _ ->
            {keep, Keep, Where, Domain}
    end.

fates_text(Fates) ->
    iolist_to_binary(lists:join(<<", ">>, [case T of
                                               undefined -> atom_to_binary(F);
                                               _ -> [atom_to_binary(F), <<": ">>, T]
                                           end || {F, _, T} <- Fates])).

where(Addr, Port, Mode) ->
    A = case Addr of
            {_, _, _, _, _, _, _, _} -> [$[, inet:ntoa(Addr), $]];
            _ -> inet:ntoa(Addr)
        end,
    iolist_to_binary(io_lib:format("~s:~b ~s", [A, Port, Mode])).

%% In the server: persist what the worker kept, rebuild the stores.
finish(_Host, _Domain, {error, _} = E) ->
    E;
finish(Host, _Domain, {keep, Ders, Where, Domain}) ->
    Now = erlang:system_time(second),
    Max = opt(Host, max_learned),
    Store = mod_s2s_trust_store:of_host(Host),
    Rows = [#s2s_trust_learned{fingerprint = crypto:hash(sha256, Der), der = Der,
                               subject = subject(Store, Der), learned_from = Domain,
                               learned_at = Now} || Der <- Ders],
    {atomic, New} = mnesia:transaction(fun() -> store_rows(Rows, Max) end),
    _ = rebuild_everywhere(),
    ?LOG_NOTICE("mod_s2s_trust: learned ~b intermediate(s) from the server of ~ts (~ts): ~ts",
                [New, mod_s2s_trust_format:text_escape(Domain), Where,
                 mod_s2s_trust_format:text_escape(
                   iolist_to_binary(lists:join(<<"; ">>, [R#s2s_trust_learned.subject
                                                          || R <- Rows])))]),
    {learned, New}.

store_rows(Rows, Max) ->
    New = [R || R <- Rows, mnesia:read(s2s_trust_learned, R#s2s_trust_learned.fingerprint) =:= []],
    [mnesia:write(R) || R <- New],
    All = lists:keysort(#s2s_trust_learned.learned_at,
                        mnesia:match_object(#s2s_trust_learned{_ = '_'})),
    Excess = length(All) - Max,
    [mnesia:delete({s2s_trust_learned, R#s2s_trust_learned.fingerprint})
     || R <- lists:sublist(All, max(0, Excess))],
    length(New).

%% Every node of the cluster: rewrite its bundle, rebuild its stores.
rebuild_everywhere() ->
    Nodes = try ejabberd_cluster:get_nodes() catch _:_ -> [node()] end,
    erpc:multicall(Nodes, mod_s2s_trust_store, learned_changed, [], 30000).

%% The subject in the RFC 2253 form the rest of the module shows.
subject(Store, Der) ->
    case s2s_trust:explain(Store, <<"invalid.invalid">>, [Der]) of
        {_, #{subject := S}} when is_binary(S) -> S;
        _ -> <<"(unreadable subject)">>
    end.

all_rows() ->
    try lists:keysort(#s2s_trust_learned.learned_at,
                      ets:tab2list(s2s_trust_learned))
    catch error:badarg -> []
    end.

table_size() ->
    try mnesia:table_info(s2s_trust_learned, size)
    catch exit:_ -> 0
    end.

%% Where ejabberd would connect for Domain (xmpp_stream_out's order):
%% SRV _xmpps-server (direct TLS) then _xmpp-server (STARTTLS), each in RFC
%% 2782 order; without SRV, the domain itself on outgoing_s2s_port. Names
%% resolve through the VM's resolver, configured as ejabberd's.
targets(Domain) ->
    D = binary_to_list(Domain),
    Timeout = ejabberd_option:s2s_dns_timeout(),
    Families = ejabberd_option:outgoing_s2s_families(),
    Srv = srv(<<"_xmpps-server._tcp.">>, D, direct_tls, Timeout) ++
          srv(<<"_xmpp-server._tcp.">>, D, starttls, Timeout),
    HostPorts = case Srv of
                    [] -> [{D, ejabberd_option:outgoing_s2s_port(), starttls}];
                    _ -> Srv
                end,
    lists:append([addresses(H, P, M, F, Timeout) || {H, P, M} <- HostPorts, F <- Families]).

srv(Prefix, D, Mode, Timeout) ->
    case inet_res:getbyname(binary_to_list(Prefix) ++ D, srv, Timeout) of
        {ok, #hostent{h_addr_list = Rs}} ->
            [{T, Port, Mode} || {_, _, Port, T} <- order_srv(Rs), T =/= "", T =/= "."];
        {error, _} ->
            []
    end.

addresses(Host, Port, Mode, Family, Timeout) ->
    case inet:gethostbyname(Host, Family, Timeout) of
        {ok, #hostent{h_addr_list = As}} -> [{A, Port, Mode} || A <- As];
        {error, _} -> []
    end.
