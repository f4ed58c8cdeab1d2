%%% EUnit for the posture audit's pure half (mod_s2s_trust_audit:checks/1,
%%% report/2, text/1, json/1, cert_info/1): every check's pass / warn / fail
%%% from hand-made snapshots, and the writers with hostile names. The
%%% gathering from a live ejabberd is tested end to end
%%% (tests/webadmin/test_webadmin.sh runs the command against a real one).
%%% The last group renders the web admin page's elements with hostile
%%% names through fxml, as ejabberd_http does, and checks that no markup
%%% gets through.
-module(mod_s2s_trust_audit_tests).

-include_lib("eunit/include/eunit.hrl").
-include("../../erl_src/mod_s2s_trust.hrl").

-import(s2s_trust_test_pki, [pki/1]).

-define(NOW, 1800000000).
-define(DAY, 86400).
-define(A, mod_s2s_trust_audit).

%% A host that keeps the pledge: every check passes.
good() ->
    #{host => <<"a.test">>, now => ?NOW,
      module => #{loaded => true, mode => enforce, exempt => []},
      starttls => required, dialback => true, ciphers => undefined,
      certs => [#{kind => ec, file => <<"/var/lib/ejabberd/certs/x">>,
                  source => <<"/etc/ejabberd/a.pem">>, key => ec,
                  not_after => ?NOW + 60 * ?DAY, subject => <<"CN=a.test">>, verdict => ok}],
      store => #{anchors => 140, intermediates => 3, crls => 0, built_at => ?NOW - ?DAY,
                 files => [#{file => <<"/etc/ejabberd/trust.conf">>, mtime => ?NOW - 2 * ?DAY}]}}.

status_of(Check, Snapshot) ->
    [S || #{check := C, status := S} <- ?A:checks(Snapshot), C =:= Check].

one(Check, Snapshot) ->
    [R] = [R || #{check := C} = R <- ?A:checks(Snapshot), C =:= Check],
    R.

all_pass_test() ->
    Rs = ?A:checks(good()),
    ?assertEqual([module, exempt, starttls, dialback, ciphers, cert_key, cert_expiry,
                  cert_name, trust_store], [C || #{check := C} <- Rs]),
    ?assertEqual([pass], lists:usort([S || #{status := S} <- Rs])),
    ?assertEqual([<<>>], lists:usort([F || #{fix := F} <- Rs])).

module_test_() ->
    G = good(),
    [?_assertEqual([fail], status_of(module, G#{module => #{loaded => false}})),
     ?_assertEqual([warn], status_of(module, G#{module => #{loaded => true, mode => audit,
                                                           exempt => []}})),
     ?_assertEqual([pass], status_of(module, G)),
     %% not loaded: no store, no exempt check (nothing to say about them)
     ?_assertEqual([], status_of(trust_store, G#{module => #{loaded => false}, store => undefined})),
     ?_assertEqual([], status_of(exempt, G#{module => #{loaded => false}})),
     ?_assertEqual([warn], status_of(exempt, G#{module => #{loaded => true, mode => enforce,
                                                           exempt => [<<"old.test">>]}})),
     ?_assertNotEqual(<<>>, maps:get(fix, one(module, G#{module => #{loaded => false}})))].

starttls_test_() ->
    G = good(),
    [?_assertEqual([pass], status_of(starttls, G#{starttls => required}))] ++
    [?_assertEqual([fail], status_of(starttls, G#{starttls => V})) || V <- [optional, true, false]].

dialback_test_() ->
    G = good(),
    Audit = #{loaded => true, mode => audit, exempt => []},
    [%% with the module enforcing: fine, and the text says why
     ?_assertEqual([pass], status_of(dialback, G#{dialback => true})),
     ?_assertMatch({_, _}, binary:match(maps:get(text, one(dialback, G)), <<"still checked">>)),
     ?_assertEqual([fail], status_of(dialback, G#{dialback => true, module => Audit})),
     ?_assertEqual([fail], status_of(dialback, G#{dialback => true, module => #{loaded => false}})),
     ?_assertEqual([pass], status_of(dialback, G#{dialback => false, module => Audit}))].

ciphers_test_() ->
    G = good(),
    [?_assertEqual([pass], status_of(ciphers, G)),
     ?_assertEqual([warn], status_of(ciphers, G#{ciphers => <<"HIGH:!aNULL">>}))].

cert(Overrides) ->
    maps:merge(hd(maps:get(certs, good())), Overrides).

certificate_test_() ->
    G = good(),
    Rsa = cert(#{kind => rsa, key => rsa}),
    [?_assertEqual([fail], status_of(certificate, G#{certs => none})),
     ?_assertEqual([warn], status_of(cert_key, G#{certs => [Rsa]})),
     ?_assertEqual([pass], status_of(cert_key, G#{certs => [cert(#{}), Rsa]})),
     %% one expiry and one name check per certificate
     ?_assertEqual([pass, pass], status_of(cert_expiry, G#{certs => [cert(#{}), Rsa]})),
     ?_assertEqual([fail], status_of(cert_expiry, G#{certs => [cert(#{not_after => ?NOW - 1})]})),
     ?_assertEqual([fail], status_of(cert_expiry, G#{certs => [cert(#{not_after => ?NOW})]})),
     ?_assertEqual([warn], status_of(cert_expiry,
                                     G#{certs => [cert(#{not_after => ?NOW + 13 * ?DAY})]})),
     ?_assertEqual([pass], status_of(cert_expiry,
                                     G#{certs => [cert(#{not_after => ?NOW + 14 * ?DAY})]})),
     ?_assertEqual([fail], status_of(cert_expiry, G#{certs => [cert(#{not_after => undefined})]})),
     ?_assertEqual([fail], status_of(cert_name, G#{certs => [cert(#{verdict => name_mismatch})]})),
     ?_assertEqual([fail], status_of(cert_name, G#{certs => [cert(#{verdict => no_trust_store})]})),
     ?_assertEqual([fail], status_of(cert_read, G#{certs => [#{kind => ec, file => <<"/x">>,
                                                               error => <<"enoent">>}]})),
     %% the fix names the host and the operator's own file is quoted
     fun() ->
             R = one(cert_name, G#{certs => [cert(#{verdict => name_mismatch,
                                                    detail => <<"no name matches">>})]}),
             ?assertMatch({_, _}, binary:match(maps:get(fix, R), <<"a.test">>)),
             ?assertMatch({_, _}, binary:match(maps:get(text, R), <<"/etc/ejabberd/a.pem">>)),
             ?assertMatch({_, _}, binary:match(maps:get(text, R), <<"no name matches">>))
     end].

store_test_() ->
    G = good(),
    St = maps:get(store, G),
    File = fun(M) -> #{file => <<"/etc/ejabberd/trust.conf">>, mtime => M} end,
    [?_assertEqual([fail], status_of(trust_store, G#{store => undefined})),
     ?_assertEqual([warn], status_of(trust_store, G#{store => St#{anchors => 0}})),
     %% a source edited after the build: not in use until a reload
     ?_assertEqual([warn], status_of(trust_store, G#{store => St#{files => [File(?NOW - 10)]}})),
     ?_assertEqual([warn], status_of(trust_store, G#{store => St#{files => [File(missing)]}})),
     ?_assertEqual([warn], status_of(trust_store,
                                     G#{store => St#{built_at => ?NOW - 31 * ?DAY,
                                                     files => [File(?NOW - 40 * ?DAY)]}})),
     ?_assertEqual([pass], status_of(trust_store,
                                     G#{store => St#{built_at => ?NOW - 29 * ?DAY,
                                                     files => [File(?NOW - 40 * ?DAY)]}}))].

report_test_() ->
    Bad = (good())#{host => <<"b.test">>, starttls => optional, ciphers => <<"HIGH">>},
    R = ?A:report([good(), Bad], ?NOW),
    [?_assertEqual(fail, maps:get(status, R)),
     ?_assertEqual(#{pass => 16, warn => 1, fail => 1}, maps:get(counts, R)),
     ?_assertEqual([pass, fail], [S || #{status := S} <- maps:get(hosts, R)]),
     ?_assertEqual(pass, ?A:worst([])),
     ?_assertEqual(warn, ?A:worst([#{status => pass}, #{status => warn}]))].

%% Host names, ciphers, file names and certificate text are not ours:
%% text keeps one line per field, JSON stays JSON.
hostile() ->
    Evil = <<"evil\n[pass] module ok <script>alert(1)</script> \"q\" & \\ \e[31m">>,
    (good())#{host => <<"h.test">>, ciphers => Evil,
              certs => [cert(#{verdict => name_mismatch, detail => Evil, source => Evil})]}.

text_escapes_test() ->
    T = ?A:text(?A:report([hostile()], ?NOW)),
    Lines = binary:split(T, <<"\n">>, [global]),
    %% no line was forged: the embedded newline did not start a new line,
    %% every check line is indented, and the real module line is there once
    ?assertEqual([], [L || L <- Lines, binary:match(L, <<"[pass]">>) =:= {0, 6}]),
    ?assertEqual(1, length([L || L <- Lines, binary:match(L, <<"  [pass] module ">>) =:= {0, 16}])),
    ?assertEqual(nomatch, binary:match(T, <<"\e">>)),
    ?assertMatch({_, _}, binary:match(T, <<"evil\\x0a[pass] module ok">>)),
    ?assertMatch({_, _}, binary:match(T, <<"\\x5c \\x1b[31m">>)).

json_escapes_test() ->
    J = ?A:json(?A:report([hostile()], ?NOW)),
    %% no raw control character: every one is a JSON escape
    ?assertEqual([], [C || <<C>> <= J, C < 16#20]),
    ?assertMatch({_, _}, binary:match(J, <<"evil\\n[pass] module ok <script>">>)),
    ?assertMatch({_, _}, binary:match(J, <<"\\\"q\\\" & \\\\ \\u001b[31m">>)),
    ?assertMatch({_, _}, binary:match(J, <<"\"status\":\"fail\"">>)),
    ?assertEqual(json_ok, python_json(J)).

%% An independent parser, when python3 is there (it is in make deps).
python_json(J) ->
    case os:find_executable("python3") of
        false -> json_ok;
        Py ->
            F = filename:join(os:getenv("TMPDIR", "/tmp"),
                              "audit_json_" ++ os:getpid() ++ ".json"),
            ok = file:write_file(F, J),
            Out = os:cmd(Py ++ " -c 'import json,sys; d=json.load(open(sys.argv[1])); "
                         "assert d[\"hosts\"][0][\"host\"]==\"h.test\"; print(\"json_ok\")' " ++ F),
            file:delete(F),
            list_to_atom(string:trim(Out))
    end.

command_formats_test() ->
    ?assertEqual(<<"unknown format: use text or json">>, ?A:audit(<<"yaml">>)).

%% ---- certificates from the test PKI -----------------------------------------

der(Name) ->
    {ok, Pem} = file:read_file(pki(Name)),
    hd(?A:pem_certs(Pem)).

cert_info_test_() ->
    [?_assertMatch(#{key := ec, subject := <<"CN=good.test">>}, ?A:cert_info(der("good.pem"))),
     ?_assertMatch(#{key := rsa}, ?A:cert_info(der("good-rsa.pem"))),
     %% 2021-01-01T00:00:00Z
     ?_assertMatch(#{not_after := 1609459200}, ?A:cert_info(der("expired.pem"))),
     ?_assertMatch(#{error := _}, ?A:cert_info(<<"not a certificate">>))].

%% pkix's combined file: "From FILE:LINE" before each part, leaf first.
pem_file_test() ->
    {ok, Leaf} = file:read_file(pki("good.pem")),
    {ok, Inter} = file:read_file(pki("inter.pem")),
    Pem = iolist_to_binary([<<"From /etc/ejabberd/a.pem:1\n">>, Leaf,
                            <<"From /etc/ejabberd/a.pem:20\n">>, Inter]),
    [L, I] = ?A:pem_certs(Pem),
    ?assertMatch(#{subject := <<"CN=good.test">>}, ?A:cert_info(L)),
    ?assertNotEqual(L, I),
    ?assertEqual([], ?A:pem_certs(<<"garbage">>)).

%% ---- the web admin page: hostile names through fxml ----------------------------

hostile_violation() ->
    Name = <<"x<script>alert(1)</script>\"'&<b>y\nz.test">>,
    #s2s_trust_violation{domain = Name, reasons = [self_signed], directions = [in],
                         first_seen = ?NOW - 100, last_seen = ?NOW, count = 3,
                         last_reason = self_signed, last_outcome = refused,
                         last_details = #{subject => <<"CN=<img src=x onerror=alert(1)>">>,
                                          names => [#{type => cn, value => Name}]}}.

webadmin_render_test() ->
    V = hostile_violation(),
    Els = mod_s2s_trust_webadmin:violators_table([V], #{sort => last_seen, reason => all}),
    Html = iolist_to_binary([fxml:element_to_binary(E) || E <- Els]),
    ?assertEqual(nomatch, binary:match(Html, <<"<script">>)),
    ?assertEqual(nomatch, binary:match(Html, <<"<b>y">>)),
    ?assertMatch({_, _}, binary:match(Html, <<"&quot;&apos;&amp;&lt;b&gt;y">>)),
    ?assertMatch({_, _}, binary:match(Html, <<"x&lt;script&gt;alert(1)&lt;/script&gt;">>)),
    %% the newline is shown, not rendered
    ?assertMatch({_, _}, binary:match(Html, <<"y\\x0az.test">>)),
    %% the link to the detail carries the name percent-encoded
    ?assertMatch({_, _}, binary:match(Html, <<"domain=x%3Cscript%3Ealert%281%29">>)).

webadmin_detail_render_test() ->
    V = hostile_violation(),
    Verdict = #{domain => V#s2s_trust_violation.domain, direction => in, verdict => self_signed,
                outcome => refused, at => ?NOW, details => V#s2s_trust_violation.last_details},
    Els = mod_s2s_trust_webadmin:detail(V#s2s_trust_violation.domain, {ok, Verdict}, {ok, V}),
    Html = iolist_to_binary([fxml:element_to_binary(E) || E <- Els]),
    ?assertEqual(nomatch, binary:match(Html, <<"<script">>)),
    ?assertEqual(nomatch, binary:match(Html, <<"<img">>)),
    ?assertMatch({_, _}, binary:match(Html, <<"CN=&lt;img src=x onerror=alert(1)&gt;">>)).

%% The module's own verdicts have words on the detail page, and an
%% acceptance names its authority.
webadmin_detail_words_test_() ->
    Render = fun(Verdict, Details) ->
                     Els = mod_s2s_trust_webadmin:detail(<<"p.test">>,
                                                         {ok, #{domain => <<"p.test">>, direction => in,
                                                                verdict => Verdict, outcome => refused,
                                                                at => ?NOW, details => Details}},
                                                         not_found),
                     iolist_to_binary([fxml:element_to_binary(E) || E <- Els])
             end,
    Has = fun(Html, Part) -> binary:match(Html, Part) =/= nomatch end,
    [?_assert(Has(Render(posh_mismatch, #{}), <<"matches none of the fingerprints of the peer&apos;s POSH">>)),
     ?_assert(Has(Render(dane_mismatch, #{}), <<"matches none of the peer&apos;s DNSSEC-signed TLSA">>)),
     ?_assert(Has(Render(dnssec_bogus, #{}), <<"forged or broken">>)),
     ?_assert(Has(Render(dane_required, #{}), <<"no secure, usable TLSA">>)),
     ?_assert(Has(Render(dane_unavailable, #{}), <<"got no answer">>)),
     ?_assert(Has(Render(ok, #{authority => posh}), <<"<th>authority</th><td>posh</td>">>))].

webadmin_query_test_() ->
    Q = fun(L) -> mod_s2s_trust_webadmin:parse_query(L) end,
    [?_assertEqual(#{sort => last_seen, reason => all, domain => undefined}, Q([])),
     ?_assertEqual(#{sort => count, reason => <<"expired">>, domain => undefined},
                   Q([{<<"sort">>, <<"count">>}, {<<"reason">>, <<"expired/">>}])),
     %% unknown values fall back; nothing from the query becomes an atom
     ?_assertEqual(#{sort => last_seen, reason => <<"no_such_reason_xyz">>, domain => undefined},
                   Q([{<<"sort">>, <<"bogus">>}, {<<"reason">>, <<"no_such_reason_xyz">>}])),
     ?_assertEqual(#{sort => last_seen, reason => all, domain => <<"k.test">>},
                   Q([{<<"domain">>, <<"k.test/">>}]))].

webadmin_sort_filter_test() ->
    Mk = fun(D, R, Last, Count) ->
                 #s2s_trust_violation{domain = D, reasons = [R], directions = [in],
                                      first_seen = 0, last_seen = Last, count = Count,
                                      last_reason = R, last_outcome = refused}
         end,
    Vs = [Mk(<<"a.test">>, expired, 10, 5), Mk(<<"b.test">>, self_signed, 30, 1),
          Mk(<<"c.test">>, expired, 20, 9)],
    Names = fun(L) -> [D || #s2s_trust_violation{domain = D} <- L] end,
    S = fun(Opts) -> Names(mod_s2s_trust_webadmin:select(Vs, Opts)) end,
    ?assertEqual([<<"b.test">>, <<"c.test">>, <<"a.test">>], S(#{sort => last_seen, reason => all})),
    ?assertEqual([<<"c.test">>, <<"a.test">>, <<"b.test">>], S(#{sort => count, reason => all})),
    ?assertEqual([<<"c.test">>, <<"a.test">>], S(#{sort => last_seen, reason => <<"expired">>})),
    ?assertEqual([], S(#{sort => count, reason => <<"revoked">>})).

%% The page's counters are the verdicts mod_s2s_trust_metrics counts since
%% the module started here (init_counters/0): earlier ones do not show.
counters_test() ->
    ok = mod_s2s_trust_metrics:init(),
    %% without a start, the page does not count, and counting never raises
    ok = mod_s2s_trust_webadmin:erase_counters(),
    ok = mod_s2s_trust_metrics:verdict(in, refused, expired),
    undefined = mod_s2s_trust_webadmin:counters(),
    ok = mod_s2s_trust_webadmin:init_counters(),
    ok = mod_s2s_trust_metrics:verdict(in, refused, expired),
    ok = mod_s2s_trust_metrics:verdict(in, refused, self_signed),
    ok = mod_s2s_trust_metrics:verdict(out, accepted, ok),
    ok = mod_s2s_trust_metrics:verdict(sideways, bogus, ok),
    #{in := #{refused := 2, accepted := 0}, out := #{accepted := 1}} =
        mod_s2s_trust_webadmin:counters(),
    ok = mod_s2s_trust_webadmin:erase_counters(),
    undefined = mod_s2s_trust_webadmin:counters(),
    ok = mod_s2s_trust_metrics:verdict(in, refused, expired).

%% DANE (docs/dane.md): on without a resolver is reported; require is a
%% fail then (every peer refused).
dane_test_() ->
    G = good(),
    M = fun(Extra) -> G#{module => maps:merge(#{loaded => true, mode => enforce, exempt => []},
                                              Extra)} end,
    [?_assertEqual([], status_of(dane, G)),
     ?_assertEqual([pass], status_of(dane, M(#{dane => off}))),
     %% only warn and fail carry a fix (the report's one-fix-per-problem rule)
     ?_assertEqual(<<>>, maps:get(fix, one(dane, M(#{dane => off})))),
     ?_assertEqual([pass], status_of(dane, M(#{dane => opportunistic, dane_resolver => true}))),
     ?_assertEqual([warn], status_of(dane, M(#{dane => opportunistic, dane_resolver => false}))),
     ?_assertEqual([fail], status_of(dane, M(#{dane => require, dane_resolver => false}))),
     ?_assertEqual([], status_of(dane, G#{module => #{loaded => false}}))].

%% POSH (docs/dane.md): on with an unreadable CA file accepts nobody
%% (fail); posh_resolve outside tests is a warning.
posh_test_() ->
    G = good(),
    M = fun(Extra) -> G#{module => maps:merge(#{loaded => true, mode => enforce, exempt => [],
                                                posh_resolve => [],
                                                posh_cafile => #{file => <<"/ca.pem">>, readable => true}},
                                              Extra)} end,
    [?_assertEqual([], status_of(posh, G)),
     ?_assertEqual([pass], status_of(posh, M(#{posh => off}))),
     ?_assertEqual([pass], status_of(posh, M(#{posh => on}))),
     ?_assertMatch(#{text := <<"posh on, web servers verified against /ca.pem">>, fix := <<>>},
                   one(posh, M(#{posh => on}))),
     ?_assertEqual([fail], status_of(posh, M(#{posh => on, posh_cafile => #{file => <<"/x">>,
                                                                             readable => false}}))),
     %% off: the CA file does not matter
     ?_assertEqual([pass], status_of(posh, M(#{posh => off, posh_cafile => #{file => <<"/x">>,
                                                                              readable => false}}))),
     ?_assertEqual([warn], status_of(posh, M(#{posh => on, posh_resolve => [<<"a:1:127.0.0.1">>]}))),
     ?_assertEqual([warn], status_of(posh, M(#{posh => on, posh_port => 8443}))),
     ?_assertEqual([pass], status_of(posh, M(#{posh => on, posh_port => 0}))),
     ?_assertEqual([], status_of(posh, G#{module => #{loaded => false}}))].

%% What accepted the peers: an inventory, always a pass, sorted by authority.
accepted_by_test_() ->
    G = good(),
    [?_assertEqual([], status_of(accepted_by, G)),
     ?_assertMatch(#{status := pass, text := <<"no peer accepted yet">>},
                   one(accepted_by, G#{accepted_by => #{}})),
     ?_assertMatch(#{status := pass, text := <<"peers last accepted: 1 by dane_ee, 2 by pkix, 1 by posh">>},
                   one(accepted_by, G#{accepted_by => #{pkix => 2, posh => 1, dane_ee => 1}}))].

%% Where the violators list is kept (docs/storage.md): an SQL database that
%% holds violations back, or a writer that dropped some, is reported.
storage_test_() ->
    G = good(),
    Sql = fun(P, D) -> G#{storage => #{backend => {sql, <<"a.test">>},
                                       sql => #{pending => P, dropped => D, errors => 0,
                                                written => 5}}} end,
    [?_assertEqual([], status_of(violators_storage, G#{storage => undefined})),
     ?_assertEqual([pass], status_of(violators_storage,
                                     G#{storage => #{backend => mnesia, sql => #{}}})),
     ?_assertEqual([pass], status_of(violators_storage, Sql(0, 0))),
     ?_assertEqual([warn], status_of(violators_storage, Sql(3, 0))),
     ?_assertEqual([warn], status_of(violators_storage, Sql(0, 1))),
     ?_test(begin
                #{text := T} = one(violators_storage, Sql(3, 2)),
                ?assertMatch({_, _}, binary:match(T, <<"3 domain(s) of violations wait">>)),
                ?assertMatch({_, _}, binary:match(T, <<"2 violation(s) not stored">>))
            end)].

%% CRL refresh (docs/crl.md): a CRL that cannot be fetched is reported,
%% never silently ignored; with crl_missing: refuse it is a fail.
crls_test_() ->
    G = good(),
    Ok = #{url => <<"http://ca.test/a.crl">>, copy => current, last_error => undefined},
    Down = #{url => <<"http://ca.test/b.crl\n<x>">>, copy => none,
             last_error => #{at => ?NOW, reason => <<"connection refused">>}},
    Stale = #{url => <<"http://ca.test/c.crl">>, copy => stale, last_error => undefined},
    [?_assertEqual([], status_of(crls, G)),
     ?_assertEqual([], status_of(crls, G#{crls => undefined})),
     ?_assertEqual([pass], status_of(crls, G#{crls => #{rows => [], missing => warn}})),
     ?_assertEqual([pass], status_of(crls, G#{crls => #{rows => [Ok], missing => warn}})),
     ?_assertEqual([warn], status_of(crls, G#{crls => #{rows => [Ok, Down], missing => warn}})),
     ?_assertEqual([warn], status_of(crls, G#{crls => #{rows => [Stale], missing => warn}})),
     ?_assertEqual([fail], status_of(crls, G#{crls => #{rows => [Down], missing => refuse}})),
     ?_test(begin
                #{text := T, fix := F} = one(crls, G#{crls => #{rows => [Ok, Down], missing => warn}}),
                ?assertMatch({_, _}, binary:match(T, <<"connection refused">>)),
                ?assertMatch({_, _}, binary:match(T, <<"1 of 2">>)),
                %% the URL is the network's: no raw newline reaches the report
                ?assertEqual(nomatch, binary:match(T, <<"\n">>)),
                ?assertNotEqual(<<>>, F)
            end)].
