%%% EUnit: mod_s2s_trust's options go through ejabberd's own validators
%%% (econf, from the installed ejabberd), so a bad ejabberd.yml is refused
%%% at load time with ejabberd's error, never half-applied.
-module(mod_s2s_trust_opts_tests).

-include_lib("eunit/include/eunit.hrl").

valid(Opt, Value) -> (mod_s2s_trust:mod_opt_type(Opt))(Value).

invalid(Opt, Value) ->
    try valid(Opt, Value) of
        Accepted -> {accepted, Accepted}
    catch error:{Validator, _, _} = Why when Validator =:= yconf; Validator =:= econf ->
            {refused, Why}
    end.

%% ejabberd's global default_db, as ejabberd_config keeps it (the one
%% global option mod_options/1 reads).
set_default_db(Type) ->
    case ets:info(ejabberd_options) of
        undefined -> ets:new(ejabberd_options, [named_table, public]);
        _ -> ok
    end,
    ets:insert(ejabberd_options, {{default_db, global}, Type}).

opts_test_() ->
    {setup,
     fun() -> {ok, _} = application:ensure_all_started(xmpp), set_default_db(mnesia) end,
     [%% db_type: a backend module must exist (mod_s2s_trust_<type>)
      ?_assertEqual(mnesia, valid(db_type, mnesia)),
      ?_assertEqual(sql, valid(db_type, <<"sql">>)),
      ?_assertMatch({refused, _}, invalid(db_type, redis)),
      %% the global default_db does not move the list (docs/storage.md)
      ?_test(begin
                 set_default_db(sql),
                 Default = proplists:get_value(db_type, mod_s2s_trust:mod_options(<<"a.test">>)),
                 set_default_db(mnesia),
                 ?assertEqual(mnesia, Default)
             end),
      ?_assertEqual(enforce, valid(mode, enforce)),
      ?_assertEqual(audit, valid(mode, <<"audit">>)),
      ?_assertMatch({refused, _}, invalid(mode, off)),
      ?_assertEqual(default, valid(trust_config, default)),
      ?_assertEqual(<<"/etc/hostname">>, valid(trust_config, <<"/etc/hostname">>)),
      ?_assertMatch({refused, _}, invalid(trust_config, <<"/nonexistent/s2s_trust.conf">>)),
      %% exempt domains are normalized the way ejabberd names remote servers
      ?_assertEqual([<<"legacy.test">>], valid(exempt, [<<"Legacy.TEST">>])),
      ?_assertMatch({refused, _}, invalid(exempt, [<<"not a domain!">>])),
      ?_assertEqual([{{10, 0, 0, 0}, 8}, {{0, 0, 0, 0, 0, 0, 0, 1}, 128}],
                    valid(metrics_allow, [<<"10.0.0.0/8">>, <<"::1/128">>])),
      ?_assertMatch({refused, _}, invalid(metrics_allow, [<<"10.0.0.0/33">>])),
      ?_assertMatch({refused, _}, invalid(metrics_allow, [<<"prometheus.example">>])),
      ?_assertEqual(none, valid(log_file, none)),
      ?_assertEqual(<<"/tmp/s2s_trust.jsonl">>, valid(log_file, <<"/tmp/s2s_trust.jsonl">>)),
      ?_assertMatch({refused, _}, invalid(log_file, 42)),
      ?_assertEqual(true, valid(learn_intermediates, true)),
      ?_assertMatch({refused, _}, invalid(learn_intermediates, 'maybe')),
      ?_assertEqual(5000, valid(learn_wait, 5000)),
      ?_assertMatch({refused, _}, invalid(learn_wait, -1)),
      ?_assertMatch({refused, _}, invalid(learn_wait, 600000)),
      ?_assertMatch({refused, _}, invalid(probe_timeout, 10)),
      ?_assertMatch({refused, _}, invalid(probe_interval, 0)),
      ?_assertMatch({refused, _}, invalid(max_learned, 0)),
      ?_assertEqual(64, valid(max_learned, 64)),
      ?_test(begin
                 Defaults = mod_s2s_trust:mod_options(<<"a.test">>),
                 [?assertEqual(V, proplists:get_value(K, Defaults))
                  || {K, V} <- [{db_type, mnesia}, {trust_config, default}, {mode, enforce}, {exempt, []},
                                {log_file, none}, {learn_intermediates, true},
                                {learn_wait, 5000}, {probe_timeout, 8000},
                                {probe_interval, 300}, {max_learned, 64}]],
                 %% every default is a valid value of its own option; metrics_allow's
                 %% is in the form the validator gives ({IP, Mask}), as ejabberd
                 %% keeps defaults: it is what the text form validates to
                 [?assertEqual(V, valid(K, V))
                  || {K, V} <- Defaults, K =/= trust_config, K =/= metrics_allow],
                 ?assertEqual(proplists:get_value(metrics_allow, Defaults),
                              valid(metrics_allow, [<<"127.0.0.0/8">>, <<"::1/128">>]))
             end),
      %% every option is documented, and nothing else
      ?_test(begin
                 #{desc := _, opts := Doc} = mod_s2s_trust:mod_doc(),
                 ?assertEqual(lists:sort([K || {K, _} <- mod_s2s_trust:mod_options(<<"a.test">>)]),
                              lists:sort([K || {K, _} <- Doc]))
             end)]}.
