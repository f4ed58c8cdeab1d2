%%% mod_s2s_trust_commands - the module's ejabberd commands (ejabberdctl,
%%% mod_http_api, the web admin): the violators list and its exports, the
%%% last verdict of a domain, the learned intermediates, and the reload that
%%% runs on every node of a cluster. Registered once per node by
%%% mod_s2s_trust (through mod_s2s_trust_compat); the posture audit is
%%% mod_s2s_trust_audit's.
-module(mod_s2s_trust_commands).

-export([commands/0]).
%% the commands
-export([violators/0, export/1, forget/1, reload_trust/0, check/1, learned/0, survey_results/0]).
%% called on every cluster node by reload_trust/0
-export([reload_local/0]).

-include("ejabberd_commands.hrl").
-include("mod_s2s_trust.hrl").

-spec commands() -> [#ejabberd_commands{}].
commands() ->
    [#ejabberd_commands{
        name = s2s_trust_violators, tags = [s2s], policy = admin,
        desc = "List remote servers whose certificates failed validation",
        module = ?MODULE, function = violators, args = [],
        result = {violators, {list, {violator, {tuple, [{domain, string}, {reasons, string},
                                                        {directions, string},
                                                        {first_seen, string},
                                                        {last_seen, string},
                                                        {count, integer}]}}}}},
     #ejabberd_commands{
        name = s2s_trust_export, tags = [s2s], policy = admin,
        desc = "Export the violators list (markdown: the pledge's list style; json)",
        module = ?MODULE, function = export, args = [{format, binary}],
        args_example = [<<"markdown">>],
        result = {export, string}},
     #ejabberd_commands{
        name = s2s_trust_forget, tags = [s2s], policy = admin,
        desc = "Remove a remote domain from the violators list",
        module = ?MODULE, function = forget, args = [{domain, binary}],
        result = {res, rescode}},
     #ejabberd_commands{
        name = s2s_trust_reload, tags = [s2s], policy = admin,
        desc = "Rebuild the s2s trust store and re-check every live s2s connection",
        module = ?MODULE, function = reload_trust, args = [],
        result = {res, restuple}},
     #ejabberd_commands{
        name = s2s_trust_learned, tags = [s2s], policy = admin,
        desc = "List the intermediate certificates learned from peers' servers",
        module = ?MODULE, function = learned, args = [],
        result = {learned, {list, {intermediate, {tuple, [{subject, string},
                                                         {learned_from, string},
                                                         {learned_at, string},
                                                         {sha256, string}]}}}}},
     #ejabberd_commands{
        name = s2s_trust_check, tags = [s2s], policy = admin,
        desc = "Explain the last certificate verdict for a remote domain",
        module = ?MODULE, function = check, args = [{domain, binary}],
        result = {explanation, string}},
     #ejabberd_commands{
        name = s2s_trust_metrics, tags = [s2s, statistics], policy = admin,
        desc = "mod_s2s_trust's counters in Prometheus' text format (docs/metrics.md)",
        module = mod_s2s_trust_metrics, function = command, args = [],
        result = {metrics, string}},
     #ejabberd_commands{
        name = s2s_trust_audit, tags = [s2s], policy = admin,
        desc = "Audit this server's s2s posture per virtual host (text or json)",
        module = mod_s2s_trust_audit, function = audit, args = [{format, binary}],
        args_example = [<<"text">>],
        result = {audit, string}},
     #ejabberd_commands{
        name = s2s_trust_survey, tags = [s2s], policy = admin,
        desc = "Survey federation partners against the pledge, in the background "
               "(connected, violators, or domains separated by commas; docs/survey.md)",
        module = mod_s2s_trust_survey, function = survey, args = [{targets, binary}],
        args_example = [<<"connected">>],
        result = {res, restuple}},
     #ejabberd_commands{
        name = s2s_trust_survey_results, tags = [s2s], policy = admin,
        desc = "The survey's results: domain, verdict, reason, when measured",
        module = ?MODULE, function = survey_results, args = [],
        result = {results, {list, {result, {tuple, [{domain, string}, {verdict, string},
                                                    {reason, string}, {measured_at, string}]}}}}}].

learned() ->
    [{mod_s2s_trust_format:text_escape(S), mod_s2s_trust_format:text_escape(D),
      mod_s2s_trust_format:iso8601(T), binary:encode_hex(F)}
     || #{subject := S, learned_from := D, learned_at := T, fingerprint := F}
            <- mod_s2s_trust_learn:learned()].

violators() ->
    [mod_s2s_trust_format:violator_row(V) || V <- mod_s2s_trust_violators:all()].

export(<<"markdown">>) ->
    mod_s2s_trust_format:markdown(mod_s2s_trust_violators:all());
export(<<"json">>) ->
    mod_s2s_trust_format:json_export(mod_s2s_trust_violators:all());
export(<<"survey">>) ->
    mod_s2s_trust_survey_report:markdown(mod_s2s_trust_survey:results());
export(<<"survey_json">>) ->
    mod_s2s_trust_survey_report:json(mod_s2s_trust_survey:results());
export(_) ->
    <<"unknown format: use markdown, json, survey or survey_json">>.

survey_results() ->
    mod_s2s_trust_survey_report:rows(mod_s2s_trust_survey:results()).

forget(Domain) ->
    case mod_s2s_trust_violators:forget(Domain) of
        ok -> ok;
        not_found -> error
    end.

check(Domain) ->
    case mod_s2s_trust_violators:last_verdict(Domain) of
        {ok, V} -> mod_s2s_trust_format:explain_text(V);
        not_found ->
            case mod_s2s_trust_violators:lookup(Domain) of
                {ok, #s2s_trust_violation{last_reason = R, last_outcome = O, last_seen = T,
                                          last_details = D, directions = Ds}} ->
                    mod_s2s_trust_format:explain_text(
                      #{domain => Domain, direction => hd(Ds), verdict => R, outcome => O,
                        at => T, details => D});
                not_found ->
                    <<"no verdict recorded for ", (mod_s2s_trust:safe(Domain))/binary>>
            end
    end.

%% On every node of the cluster (each holds its own stores and streams):
%% rebuild every host's store (a failure keeps that host's old store and
%% is reported with file and line), then re-validate every live s2s stream
%% against the new stores in one batch per host and close those that no
%% longer pass.
reload_trust() ->
    Nodes = ejabberd_cluster:get_nodes(),
    Results = [{Node, try erpc:call(Node, ?MODULE, reload_local, [], 180000)
                      catch Class:Why ->
                              {error, [{<<"(node)">>, iolist_to_binary(io_lib:format("~0p", [{Class, Why}]))}], 0, 0}
                      end} || Node <- Nodes],
    Checked = lists:sum([C || {_, {_, _, C, _}} <- Results]),
    Closed = lists:sum([C || {_, {_, _, _, C}} <- Results]),
    Errors = [{N, H, E} || {N, {error, Es, _, _}} <- Results, {H, E} <- Es],
    Summary = io_lib:format("~b node(s), ~b live s2s stream(s) re-checked, ~b closed",
                            [length(Nodes), Checked, Closed]),
    case Errors of
        [] ->
            {ok, iolist_to_binary(["trust store reloaded; ", Summary])};
        _ ->
            {error, iolist_to_binary(
                      ["trust store NOT reloaded, previous one kept: ",
                       lists:join(<<"; ">>, [[atom_to_binary(N), <<" ">>, H, <<": ">>, E]
                                             || {N, H, E} <- Errors]),
                       <<"; ">>, Summary])}
    end.

reload_local() ->
    %% Fetch every CRL first (bounded; a failure keeps the copy, and is logged).
    _ = mod_s2s_trust_crl:refresh(),
    mod_s2s_trust_store:rebuild_and_recheck().

