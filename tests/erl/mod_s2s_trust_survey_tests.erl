%%% EUnit for the survey from inside ejabberd: the targets a command names,
%%% the CLI's command line, reading its JSON answer (hostile strings, wrong
%%% shapes) and the Markdown, JSON and row writers.
-module(mod_s2s_trust_survey_tests).

-include_lib("eunit/include/eunit.hrl").

-define(R, mod_s2s_trust_survey_report).

targets_test_() ->
    P = fun ?R:parse_targets/1,
    [?_assertEqual(connected, P(<<"connected">>)),
     ?_assertEqual(violators, P(<<" Violators\n">>)),
     ?_assertEqual({domains, [<<"a.example">>, <<"b.example">>]}, P(<<"b.example, A.Example b.example">>)),
     ?_assertEqual({domains, [<<"xn--bcher-kva.example">>]}, P(<<"xn--bcher-kva.example">>)),
     ?_assertMatch({error, _}, P(<<>>)),
     ?_assertMatch({error, _}, P(<<" , ">>)),
     %% what could reach the command line as an option, a path or a shell word
     ?_assertMatch({error, <<"not a domain name", _/binary>>}, P(<<"-x.example">>)),
     ?_assertMatch({error, _}, P(<<"--config=/etc/passwd">>)),
     ?_assertMatch({error, _}, P(<<"a.example;reboot">>)),
     ?_assertMatch({error, _}, P(<<"a..example">>)),
     ?_assertMatch({error, _}, P(<<"127.0.0.1">>)),
     ?_assertMatch({error, _}, P(<<"bücher.example">>)),
     %% invalid UTF-8 and control bytes: refused, the name shown escaped
     ?_assertEqual({error, <<"not a domain name (A-label, letters, digits, '-' and '.'): a\\xff\\x1b.example">>},
                   P(<<"a", 255, 27, ".example">>)),
     ?_assertMatch({error, <<"too many", _/binary>>},
                   P(iolist_to_binary(lists:join(<<",">>, [<<"d", (integer_to_binary(N))/binary, ".example">>
                                                            || N <- lists:seq(1, 1001)])))),
     ?_assertEqual(false, ?R:valid_domain(binary:copy(<<"a">>, 64))),
     ?_assertEqual(true, ?R:valid_domain(binary:copy(<<"a">>, 63))),
     ?_assertEqual(false, ?R:valid_domain(iolist_to_binary(lists:join(<<".">>, lists:duplicate(64, <<"abc">>)))))].

cli_args_test_() ->
    A = fun(Opts) -> mod_s2s_trust_survey:cli_args(<<"peer.example">>, maps:merge(#{survey_timeout => 30000}, Opts)) end,
    [?_assertEqual(["survey", "--json", "--no-progress", "--jobs", "1", "--timeout", "30000",
                    "--deadline", "30000", "--no-dane", "--no-posh", "peer.example"], A(#{})),
     ?_assertEqual(["survey", "--json", "--no-progress", "--jobs", "1", "--timeout", "30000",
                    "--deadline", "30000", "--config", "/etc/t.conf", "--from-zone", "probe.example",
                    "--unbound-conf", "/u.conf", "--trust-anchor", "/k", "--posh-cafile", "/ca.pem",
                    "--posh-resolve", "peer.example:8443:127.0.0.1", "--posh-port", "8443", "peer.example"],
                   A(#{trust_config => <<"/etc/t.conf">>, survey_from_zone => <<"probe.example">>,
                       dane => opportunistic, dnssec_config => <<"/u.conf">>, dnssec_trust_anchor => <<"/k">>,
                       posh => on, posh_cafile => <<"/ca.pem">>,
                       posh_resolve => [<<"peer.example:8443:127.0.0.1">>], posh_port => 8443})),
     %% survey_from wins over survey_from_zone; dialback is passed through
     ?_assertEqual(["survey", "--json", "--no-progress", "--jobs", "1", "--timeout", "30000",
                    "--deadline", "30000", "--from", "me.example", "--dialback", "127.0.0.1:5269",
                    "--no-dane", "--no-posh", "peer.example"],
                   A(#{survey_from => <<"me.example">>, survey_from_zone => <<"z.example">>,
                       survey_dialback => <<"127.0.0.1:5269">>})),
     %% defaults add nothing
     ?_assertEqual(["survey", "--json", "--no-progress", "--jobs", "1", "--timeout", "30000",
                    "--deadline", "30000", "peer.example"],
                   A(#{dane => require, dnssec_config => default, dnssec_trust_anchor => default,
                       posh => on, posh_cafile => default, posh_resolve => [], posh_port => 0}))].

answer(Results) -> #{<<"survey">> => #{}, <<"results">> => Results}.

result(Domain, Verdict) ->
    #{<<"domain">> => Domain, <<"verdict">> => Verdict, <<"reason">> => <<"why ", Domain/binary>>,
      <<"measured_at">> => <<"2026-12-07T04:00:00Z">>,
      <<"checks">> => #{<<"certificate">> => <<"valid">>, <<"starttls">> => <<"required">>,
                        <<"bogus">> => <<"dropped">>},
      <<"accepted">> => [#{<<"case">> => <<"self_signed">>, <<"via">> => <<"dialback">>}],
      <<"evidence">> => [<<"line 1">>, 42, <<"line 2">>]}.

results_test_() ->
    [?_assertMatch([#{domain := <<"a.example">>, verdict := keeps, measured_at := 1796616000,
                      reason := <<"why a.example">>, accepted := [<<"self_signed over dialback">>],
                      evidence := [<<"line 1">>, <<"line 2">>],
                      checks := #{<<"certificate">> := <<"valid">>}}],
                   ?R:results(answer([result(<<"a.example">>, <<"keeps">>)]))),
     ?_assertEqual(false, is_map_key(<<"bogus">>,
                                     maps:get(checks, hd(?R:results(answer([result(<<"a.example">>, <<"keeps">>)])))))),
     %% shapes that are not a result are left out, never a crash
     ?_assertEqual([], ?R:results(answer([result(<<"a.example">>, <<"great">>)]))),
     ?_assertEqual([], ?R:results(answer([(result(<<"a.example">>, <<"keeps">>))#{<<"measured_at">> => <<"yesterday">>}]))),
     ?_assertEqual([], ?R:results(answer([(result(<<"a.example">>, <<"keeps">>))#{<<"measured_at">> => <<"2026-13-45T99:00:00Z">>}]))),
     ?_assertEqual([], ?R:results(answer([42, null, [], #{}]))),
     ?_assertEqual([], ?R:results(answer(<<"x">>))),
     ?_assertEqual([], ?R:results(null)),
     ?_assertMatch([#{evidence := [], accepted := [], checks := #{}}],
                   ?R:results(answer([(result(<<"a.example">>, <<"keeps">>))#{<<"evidence">> => 1,
                                                                             <<"accepted">> => <<"x">>,
                                                                             <<"checks">> => []}]))),
     %% a huge reason is cut
     ?_test(begin
                [#{reason := R}] = ?R:results(answer([(result(<<"a.example">>, <<"keeps">>))#{
                                                          <<"reason">> => binary:copy(<<"x">>, 100000)}])),
                ?assert(byte_size(R) =< 520)
            end)].

writers_test_() ->
    Rs = ?R:results(answer([result(<<"b.example">>, <<"accepts_untrusted">>),
                            result(<<"a.example">>, <<"keeps">>),
                            (result(<<"c.example">>, <<"keeps">>))#{<<"reason">> => <<"[click](http://x) <b>*">>}])),
    Md = ?R:markdown(Rs),
    [?_assertEqual(<<"<!-- s2s federation partners surveyed by mod_s2s_trust (s2s-trust survey, docs/survey.md) -->\n"
                     "\n## Keep the pledge\n\n"
                     "+ a.example — why a.example, measured 2026-12-07T04:00:00Z\n"/utf8,
                     "+ c.example — \\[click\\]\\(http://x\\) \\<b\\>\\*, measured 2026-12-07T04:00:00Z\n"/utf8,
                     "\n## Accept untrusted peers\n\n"
                     "+ b.example — why b.example, measured 2026-12-07T04:00:00Z\n"/utf8>>, Md),
     ?_assertEqual([{<<"a.example">>, <<"keeps">>, <<"why a.example">>, <<"2026-12-07T04:00:00Z">>},
                    {<<"b.example">>, <<"accepts_untrusted">>, <<"why b.example">>, <<"2026-12-07T04:00:00Z">>},
                    {<<"c.example">>, <<"keeps">>, <<"[click](http://x) <b>*">>, <<"2026-12-07T04:00:00Z">>}],
                   ?R:rows(Rs)),
     ?_assertMatch(<<"[{\"accepted\":[\"self_signed over dialback\"],", _/binary>>, ?R:json(Rs)),
     ?_assertEqual(<<"<!-- s2s federation partners surveyed by mod_s2s_trust (s2s-trust survey, docs/survey.md) -->\n">>,
                   ?R:markdown([]))].

%% The web admin's section: hostile names and reasons go into text nodes
%% once (no markup, no double escape), the worker's state is said.
webadmin_survey_table_test() ->
    Rs = [#{domain => <<"x<script>alert(1)</script>\n.example">>, verdict => accepts_untrusted,
            reason => <<"<img src=x onerror=alert(2)> a\\b">>, measured_at => 1796616000,
            evidence => [], accepted => [], checks => #{}}],
    Html = iolist_to_binary(fxml:element_to_binary(
                              mod_s2s_trust_webadmin:survey_table({<<"busy.example">>, 3}, Rs))),
    ?assertEqual(nomatch, binary:match(Html, <<"<script">>)),
    ?assertEqual(nomatch, binary:match(Html, <<"<img">>)),
    ?assertMatch({_, _}, binary:match(Html, <<"x&lt;script&gt;alert(1)&lt;/script&gt;\\x0a.example">>)),
    %% a backslash is escaped once: \x5c, not \x5cx5c
    ?assertMatch({_, _}, binary:match(Html, <<"a\\x5cb">>)),
    ?assertMatch({_, _}, binary:match(Html, <<"surveying busy.example, 3 queued">>)),
    ?assertMatch({_, _}, binary:match(Html, <<"data-verdict='accepts_untrusted'">>)).
