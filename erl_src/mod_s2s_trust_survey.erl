%%% mod_s2s_trust_survey - survey this server's own federation partners
%%% against the pledge, in the background (docs/survey.md).
%%%
%%% `ejabberdctl s2s_trust_survey connected|violators|DOMAIN[,DOMAIN...]`
%%% queues domains; one node-wide worker surveys them one at a time, each
%%% by running `s2s-trust survey --json` (the CLI, on the same C core: the
%%% same probe, self-test, DANE and POSH as an operator's survey) as an
%%% OS process under a port, with the vhost's trust configuration, DANE
%%% and POSH options. Results go to Mnesia (disc copies: a restart keeps
%%% them) and show in `s2s_trust_export survey|survey_json`,
%%% `s2s_trust_survey_results` and the WebAdmin page.
%%%
%%% Why a process and not a NIF: a survey of one domain takes seconds to a
%%% minute of network work and threads of its own (the self-test's
%%% dialback server); in its own OS process it can neither hold a
%%% scheduler nor take the VM down, and the deadline is enforced by
%%% killing it.
%%%
%%% Rate: one domain at a time, survey_interval apart, so a server
%%% surveying its partners is never a burst against any of them. The queue
%%% is bounded; a domain already queued or running is not queued twice.
-module(mod_s2s_trust_survey).
-behaviour(gen_server).

-export([start/0, stop/0, init_table/0, survey/1, status/0, results/0]).
%% mod_s2s_trust's options of the survey (its mod_opt_type/1, mod_options/1, mod_doc/0 ask here)
-export([mod_opt_type/1, mod_options/0, mod_doc_opts/0]).
-export([init/1, handle_call/3, handle_cast/2, handle_info/2, terminate/2, code_change/3]).
%% pure, for EUnit
-export([cli_args/2]).

-include_lib("kernel/include/logger.hrl").
-include("mod_s2s_trust.hrl").

-define(SERVER, ?MODULE).
-define(MAX_QUEUE, 1000).
%% Results kept (each up to ~15 KB: 24 evidence lines of 512 bytes).
-define(MAX_RESULTS, 2000).
%% Bytes read of one CLI answer; more is a failure.
-define(MAX_OUTPUT, 4194304).
%% How long past survey_timeout the CLI may take before it is killed (it
%% stops itself at its --deadline).
-define(KILL_GRACE, 10000).

-record(s2s_trust_survey, {domain :: binary(), result :: map()}).

mod_opt_type(survey_interval) ->
    econf:int(0, 86400000);
mod_opt_type(survey_timeout) ->
    econf:int(5000, 600000);
mod_opt_type(survey_from_zone) ->
    econf:either(econf:enum([default]), econf:domain());
mod_opt_type(survey_from) ->
    econf:either(econf:enum([default]), econf:domain());
mod_opt_type(survey_dialback) ->
    econf:either(econf:enum([none]), econf:binary("^[^ ]+:[0-9]+$"));
mod_opt_type(survey_cli) ->
    econf:either(econf:enum([default]), econf:file()).

mod_options() ->
    [{survey_interval, 10000}, {survey_timeout, 60000}, {survey_from_zone, default},
     {survey_from, default}, {survey_dialback, none}, {survey_cli, default}].

mod_doc_opts() ->
    [{survey_interval,
            #{value => "Milliseconds",
              desc => "The pause between two surveyed domains of s2s_trust_survey "
                      "(docs/survey.md). Default 10000."}},
     {survey_timeout,
            #{value => "Milliseconds",
              desc => "The deadline of one domain's survey. Default 60000."}},
     {survey_from_zone,
            #{value => "default | Domain",
              desc => "The survey's untrusted peers use a random label under this domain "
                      "(one you control); default: s2s-trust-survey.invalid."}},
     {survey_from,
            #{value => "default | Domain",
              desc => "The survey's untrusted peers use exactly this name (one you control; "
                      "needed by survey_dialback). Default: see survey_from_zone."}},
     {survey_dialback,
            #{value => "none | Address:Port",
              desc => "Also try dialback: the survey serves survey_from's s2s server there, "
                      "and survey_from must resolve to it for the surveyed servers. Default none: "
                      "dialback is reported as not tested."}},
     {survey_cli,
            #{value => "default | Path",
              desc => "The s2s-trust program; default: the one installed with the module."}}].

%%%===================================================================
%%% API
%%%===================================================================

%% Under ejabberd's module supervisor, as the learner: a crash restarts it
%% and never takes a stream down.
-spec start() -> ok.
start() ->
    mod_s2s_trust_worker:start(?SERVER, []).

-spec stop() -> ok.
stop() ->
    mod_s2s_trust_worker:stop(?SERVER).

-spec init_table() -> ok | {error, term()}.
init_table() ->
    case ejabberd_mnesia:create(?MODULE, s2s_trust_survey,
                                [{disc_copies, [node()]},
                                 {attributes, record_info(fields, s2s_trust_survey)}]) of
        {atomic, _} -> ok;
        Other -> {error, Other}
    end.

%% The command: queue what Targets names; the answer says what happened
%% (restuple: a string, which every ejabberdctl prints as text).
-spec survey(binary()) -> {ok, string()} | {error, string()}.
survey(Targets) ->
    case survey_(Targets) of
        {Tag, Text} -> {Tag, unicode:characters_to_list(Text)}
    end.

survey_(Targets) ->
    case mod_s2s_trust_survey_report:parse_targets(Targets) of
        {error, Why} ->
            {error, Why};
        What ->
            %% Partners' names (connected, violators) may be U-labels:
            %% the CLI takes A-labels. A name that is neither is counted.
            {Valid, Invalid} = lists:partition(fun mod_s2s_trust_survey_report:valid_domain/1,
                                               [to_ascii(D) || D <- domains(What)]),
            Skipped = length(Invalid),
            try gen_server:call(?SERVER, {queue, lists:usort(Valid)}, 10000) of
                {Queued, Already, Full} ->
                    {ok, iolist_to_binary(
                           [io_lib:format("~b domain(s) queued, ~b already queued or running, "
                                          "~b not queued (queue full); results: ejabberdctl "
                                          "s2s_trust_survey_results", [Queued, Already, Full]),
                            case Skipped of
                                0 -> [];
                                _ -> io_lib:format("; ~b name(s) skipped: not domain names", [Skipped])
                            end])}
            catch exit:_ ->
                    {error, <<"the survey worker is not running (is mod_s2s_trust loaded?)">>}
            end
    end.

to_ascii(D) ->
    try list_to_binary(idna:to_ascii(unicode:characters_to_list(D))) of
        A -> string:lowercase(A)
    catch _:_ -> D   % not a name: valid_domain/1 drops it, and it is counted
    end.

%% What the worker is doing: {Running | none, Queued}.
-spec status() -> {binary() | none, non_neg_integer()}.
status() ->
    try gen_server:call(?SERVER, status, 5000)
    catch exit:_ -> {none, 0}
    end.

-spec results() -> [mod_s2s_trust_survey_report:result()].
results() ->
    try [R || #s2s_trust_survey{result = R} <- mnesia:dirty_match_object(#s2s_trust_survey{_ = '_'})]
    catch _:_ -> []   % no table (module not started on this node)
    end.

%% connected: the remote ends of our outgoing s2s connections, and the
%% peers accepted inbound within the last hour; violators: the list.
domains(connected) ->
    Out = try [R || {_L, R} <- ejabberd_s2s:dirty_get_connections()]
          catch _:_ -> []
          end,
    lists:usort(Out ++ mod_s2s_trust_violators:accepted_since(erlang:system_time(second) - 3600));
domains(violators) ->
    lists:usort([D || #s2s_trust_violation{domain = D} <- mod_s2s_trust_violators:all()]);
domains({domains, Ds}) ->
    Ds.

%%%===================================================================
%%% The CLI's command line (pure)
%%%===================================================================

%% The arguments for one domain under the options Opts (a map of the
%% vhost's module options that matter).
-spec cli_args(binary(), map()) -> [string()].
cli_args(Domain, Opts) ->
    Timeout = integer_to_list(maps:get(survey_timeout, Opts)),
    ["survey", "--json", "--no-progress", "--jobs", "1", "--timeout", Timeout, "--deadline", Timeout]
        ++ case maps:get(trust_config, Opts, default) of
               default -> [];
               Conf -> ["--config", str(Conf)]
           end
        ++ case {maps:get(survey_from, Opts, default), maps:get(survey_from_zone, Opts, default)} of
               {default, default} -> [];
               {default, Zone} -> ["--from-zone", str(Zone)];
               {From, _} -> ["--from", str(From)]
           end
        ++ case maps:get(survey_dialback, Opts, none) of
               none -> [];
               Listen -> ["--dialback", str(Listen)]
           end
        ++ case maps:get(dane, Opts, off) of
               off -> ["--no-dane"];
               _ -> file_opt("--unbound-conf", maps:get(dnssec_config, Opts, default))
                        ++ file_opt("--trust-anchor", maps:get(dnssec_trust_anchor, Opts, default))
           end
        ++ case maps:get(posh, Opts, off) of
               off -> ["--no-posh"];
               on -> file_opt("--posh-cafile", maps:get(posh_cafile, Opts, default))
                         ++ lists:append([["--posh-resolve", str(R)] || R <- maps:get(posh_resolve, Opts, [])])
                         ++ case maps:get(posh_port, Opts, 0) of
                                0 -> [];
                                P -> ["--posh-port", integer_to_list(P)]
                            end
           end
        ++ [str(Domain)].   % an LDH name: it cannot start with '-'

file_opt(_Flag, default) -> [];
file_opt(Flag, Path) -> [Flag, str(Path)].

str(B) when is_binary(B) -> unicode:characters_to_list(B);   % a path may be UTF-8
str(A) when is_atom(A) -> atom_to_list(A);
str(L) when is_list(L) -> L.

%%%===================================================================
%%% The worker
%%%===================================================================

%% queue: domains waiting, in order; queued: the same as a set;
%% running: #{domain, port, os_pid, buf, timer} or none; next_at: when
%% the next domain may start (monotonic ms); waiting: a start_next timer
%% is pending.
init([]) ->
    process_flag(trap_exit, true),
    %% Monotonic time may be negative: "now", not 0, is "no pause pending".
    {ok, #{queue => queue:new(), queued => #{}, running => none,
           next_at => erlang:monotonic_time(millisecond), waiting => false}}.

handle_call({queue, Domains}, _From, #{queue := Q, queued := In, running := Run} = S) ->
    Busy = case Run of #{domain := D} -> #{D => true}; none -> #{} end,
    {Q1, In1, Added, Already, Full} =
        lists:foldl(fun(D, {Qa, Ia, N, A, F}) ->
                            case is_map_key(D, Ia) orelse is_map_key(D, Busy) of
                                true -> {Qa, Ia, N, A + 1, F};
                                false when map_size(Ia) >= ?MAX_QUEUE -> {Qa, Ia, N, A, F + 1};
                                false -> {queue:in(D, Qa), Ia#{D => true}, N + 1, A, F}
                            end
                    end, {Q, In, 0, 0, 0}, Domains),
    {reply, {Added, Already, Full}, next(S#{queue := Q1, queued := In1})};
handle_call(status, _From, #{running := Run, queued := In} = S) ->
    {reply, {case Run of #{domain := D} -> D; none -> none end, map_size(In)}, S};
handle_call(_Other, _From, S) ->
    {reply, {error, unknown_call}, S}.

handle_cast(_Msg, S) ->
    {noreply, S}.

handle_info({Port, {data, Data}}, #{running := #{port := Port, buf := Buf} = Run} = S) ->
    case byte_size(Buf) + byte_size(Data) > ?MAX_OUTPUT of
        true -> {noreply, finish(S, {error, <<"the CLI's answer is over 4 MB">>})};
        false -> {noreply, S#{running := Run#{buf := <<Buf/binary, Data/binary>>}}}
    end;
handle_info({Port, {exit_status, Status}}, #{running := #{port := Port, buf := Buf}} = S) ->
    %% 0 keeps, 1 breaks, 3 undecided: each has a JSON answer; 2 and
    %% others are the CLI's own failures.
    Outcome = case lists:member(Status, [0, 1, 3]) of
                  true -> decode(Buf);
                  false -> {error, iolist_to_binary(io_lib:format("the CLI exited with status ~b", [Status]))}
              end,
    %% The CLI has exited and been reaped: its pid may be another
    %% process's by now, so it is never signalled.
    {noreply, finish(S#{running := maps:remove(os_pid, maps:get(running, S))}, Outcome)};
handle_info({survey_deadline, Port}, #{running := #{port := Port}} = S) ->
    {noreply, finish(S, {error, <<"the CLI overran its deadline and was killed">>})};
handle_info(start_next, S) ->
    {noreply, next(S#{waiting := false})};
handle_info({'EXIT', Port, _Why}, #{running := #{port := Port}} = S) ->
    {noreply, finish(S, {error, <<"the CLI's port closed">>})};
handle_info(_Msg, S) ->
    {noreply, S}.

%% A stop or a crash loses the queue (not the results): said in the log,
%% and in docs/survey.md.
terminate(_Reason, #{running := Run, queued := In}) ->
    is_map(Run) andalso kill(Run),
    Lost = map_size(In) + case Run of #{} -> 1; none -> 0 end,
    Lost > 0 andalso
        ?LOG_NOTICE("mod_s2s_trust: survey worker stopped; ~b queued or running domain(s) not "
                    "surveyed (queue them again with s2s_trust_survey)", [Lost]),
    ok.

code_change(_Old, S, _Extra) ->
    {ok, S}.

%% Start the next domain when nothing runs and the interval has passed.
next(#{running := #{}} = S) ->
    S;
next(#{waiting := true} = S) ->
    S;
next(#{queue := Q, queued := In, next_at := At} = S) ->
    Now = erlang:monotonic_time(millisecond),
    case queue:out(Q) of
        {empty, _} ->
            S;
        {{value, _}, _} when Now < At ->
            erlang:send_after(At - Now, self(), start_next),
            S#{waiting := true};
        {{value, D}, Q1} ->
            S1 = S#{queue := Q1, queued := maps:remove(D, In)},
            case run(D) of
                {ok, Run} -> S1#{running := Run};
                {error, Why} -> next(store_failure(S1, D, Why))
            end
    end.

run(Domain) ->
    case options_host() of
        undefined -> {error, <<"mod_s2s_trust is not loaded on any vhost">>};
        Host -> run(Domain, Host)
    end.

run(Domain, Host) ->
    Opts = maps:from_list([{K, gen_mod:get_module_opt(Host, mod_s2s_trust, K)}
                           || K <- [survey_timeout, survey_from_zone, survey_from, survey_dialback,
                                    trust_config, dane, dnssec_config,
                                    dnssec_trust_anchor, posh, posh_cafile, posh_resolve, posh_port]]),
    case cli(gen_mod:get_module_opt(Host, mod_s2s_trust, survey_cli)) of
        none ->
            {error, <<"no s2s-trust program found (survey_cli)">>};
        Bin ->
            ?LOG_INFO("mod_s2s_trust: surveying ~ts", [mod_s2s_trust:safe(Domain)]),
            try open_port({spawn_executable, Bin},
                          [{args, cli_args(Domain, Opts)}, binary, exit_status, use_stdio, hide]) of
                Port ->
                    OsPid = case erlang:port_info(Port, os_pid) of {os_pid, P} -> P; _ -> undefined end,
                    Timer = erlang:send_after(maps:get(survey_timeout, Opts) + ?KILL_GRACE, self(),
                                              {survey_deadline, Port}),
                    {ok, #{domain => Domain, port => Port, os_pid => OsPid, buf => <<>>, timer => Timer,
                           started => erlang:system_time(second)}}
            catch error:Why ->
                    {error, iolist_to_binary(io_lib:format("cannot run ~ts: ~p", [Bin, Why]))}
            end
    end.

%% The program: survey_cli, else the one beside the module's beams
%% (a checkout, or the Debian package's app directory), else on the PATH.
cli(default) ->
    Beside = filename:join([filename:dirname(code:which(?MODULE)), "..", "priv", "bin", "s2s-trust"]),
    case filelib:is_regular(Beside) of
        true -> Beside;
        false ->
            case os:find_executable("s2s-trust") of
                false -> none;
                P -> P
            end
    end;
cli(Path) ->
    str(Path).

%% The survey is the node's: its options are those of the first vhost
%% (in the order of hosts:) that runs the module (docs/survey.md).
options_host() ->
    case [H || H <- ejabberd_option:hosts(), gen_mod:is_loaded(H, mod_s2s_trust)] of
        [H | _] -> H;
        [] -> undefined
    end.

finish(#{running := #{domain := D, timer := T} = Run} = S, Outcome) ->
    _ = erlang:cancel_timer(T),
    kill(Run),
    S1 = case Outcome of
             {ok, [R | _]} -> store(S, R#{domain := D});
             {ok, []} -> store_failure(S, D, <<"the CLI's answer holds no result for the domain">>);
             {error, Why} -> store_failure(S, D, Why)
         end,
    Interval = case options_host() of
                   undefined -> 0;
                   Host -> gen_mod:get_module_opt(Host, mod_s2s_trust, survey_interval)
               end,
    next(S1#{running := none, next_at := erlang:monotonic_time(millisecond) + Interval}).

%% The CLI stops at its own --deadline; this is the backstop for one that
%% does not, or whose answer was too long. Killed while the port is open:
%% its pid is still its own then. A number only reaches the shell.
%% (try, not a bare catch: OTP 29 deprecates that, and sid refuses to
%% compile it, warnings being errors.)
kill(#{port := Port} = Run) ->
    case maps:get(os_pid, Run, undefined) of
        OsPid when is_integer(OsPid) -> os:cmd("kill -9 " ++ integer_to_list(OsPid) ++ " 2>/dev/null");
        _ -> ok
    end,
    try port_close(Port) catch _:_ -> ok end,
    ok.

decode(Buf) ->
    try json_decode(Buf) of
        Term -> {ok, mod_s2s_trust_survey_report:results(Term)}
    catch _:_ -> {error, <<"the CLI's answer is not JSON">>}
    end.

%% OTP 27+ has json; ejabberd before it depends on jiffy.
json_decode(Buf) ->
    case erlang:function_exported(json, decode, 1) orelse
         (code:ensure_loaded(json) =:= {module, json} andalso erlang:function_exported(json, decode, 1)) of
        true -> json:decode(Buf);
        false -> jiffy:decode(Buf, [return_maps])
    end.

%% A domain the CLI could not survey at all (our failure, not the
%% domain's: no program, an overrun, an answer that is not JSON) keeps its
%% earlier measurement; without one it is inconclusive, with our reason,
%% so the operator sees it was tried. Never "unreachable": that would
%% publish our fault as the domain's.
store_failure(S, D, Why) ->
    ?LOG_WARNING("mod_s2s_trust: survey of ~ts failed: ~ts", [mod_s2s_trust:safe(D), Why]),
    case mnesia:dirty_read(s2s_trust_survey, D) of
        [_Earlier] ->
            S;
        [] ->
            store(S, #{domain => D, verdict => inconclusive, reason => <<"not surveyed: ", Why/binary>>,
                       measured_at => erlang:system_time(second), evidence => [], accepted => [],
                       checks => #{}})
    end.

store(S, #{domain := D} = R) ->
    mnesia:dirty_write(#s2s_trust_survey{domain = D, result = R}),
    bound(),
    ?LOG_INFO("mod_s2s_trust: survey of ~ts: ~ts (~ts)",
              [mod_s2s_trust:safe(D), maps:get(verdict, R),
               mod_s2s_trust_format:text_escape(maps:get(reason, R))]),
    S.

%% Past ?MAX_RESULTS, the oldest measurements go.
bound() ->
    case mnesia:table_info(s2s_trust_survey, size) > ?MAX_RESULTS of
        false -> ok;
        true ->
            Old = lists:sort([{maps:get(measured_at, R, 0), D}
                              || #s2s_trust_survey{domain = D, result = R}
                                     <- mnesia:dirty_match_object(#s2s_trust_survey{_ = '_'})]),
            N = mnesia:table_info(s2s_trust_survey, size) - ?MAX_RESULTS,
            [mnesia:dirty_delete(s2s_trust_survey, D) || {_, D} <- lists:sublist(Old, N)],
            ok
    end.
