%%% EUnit: mod_s2s_trust_metrics counts what it is told, in the series
%%% docs/metrics.md lists, and renders text Prometheus' parser takes: every
%%% sample under its family's HELP and TYPE, no series twice, histogram
%%% buckets cumulative. The real scrape (Prometheus from Debian, promtool)
%%% is tests/metrics/test_metrics.sh, against a real ejabberd.
-module(mod_s2s_trust_metrics_tests).

-include_lib("eunit/include/eunit.hrl").

-define(KEY, {mod_s2s_trust_metrics, counters}).

fresh() ->
    _ = persistent_term:erase(?KEY),
    ok = mod_s2s_trust_metrics:init().

%% name{labels} -> value, from the rendered text.
samples(Text) ->
    maps:from_list(
      [begin
           [Series, Value] = string:split(L, <<" ">>, trailing),
           {Series, Value}
       end || L <- binary:split(Text, <<"\n">>, [global, trim_all]), binary:first(L) =/= $#]).

value(Text, Series) ->
    binary_to_integer(maps:get(Series, samples(Text))).

counts_verdicts_test() ->
    fresh(),
    T0 = mod_s2s_trust_metrics:render(),
    ?assertEqual(0, value(T0, <<"ejabberd_s2s_trust_verdicts_total{direction=\"in\",outcome=\"refused\",reason=\"self_signed\"}">>)),
    ok = mod_s2s_trust_metrics:verdict(in, refused, self_signed),
    ok = mod_s2s_trust_metrics:verdict(in, refused, self_signed),
    ok = mod_s2s_trust_metrics:verdict(out, accepted, ok),
    ok = mod_s2s_trust_metrics:verdict(out, audited, no_tls),
    %% a reason the module does not know lands in "other", never in a new series
    ok = mod_s2s_trust_metrics:verdict(in, refused, 'a.reason.from.somewhere'),
    T = mod_s2s_trust_metrics:render(),
    ?assertEqual(2, value(T, <<"ejabberd_s2s_trust_verdicts_total{direction=\"in\",outcome=\"refused\",reason=\"self_signed\"}">>)),
    ?assertEqual(1, value(T, <<"ejabberd_s2s_trust_verdicts_total{direction=\"out\",outcome=\"accepted\",reason=\"ok\"}">>)),
    ?assertEqual(1, value(T, <<"ejabberd_s2s_trust_verdicts_total{direction=\"out\",outcome=\"audited\",reason=\"no_tls\"}">>)),
    ?assertEqual(1, value(T, <<"ejabberd_s2s_trust_verdicts_total{direction=\"in\",outcome=\"refused\",reason=\"other\"}">>)),
    ?assertEqual(0, value(T, <<"ejabberd_s2s_trust_verdicts_total{direction=\"out\",outcome=\"refused\",reason=\"self_signed\"}">>)),
    ?assertEqual(nomatch, binary:match(T, <<"somewhere">>)),
    %% the same number of series as before: the set is fixed
    ?assertEqual(maps:size(samples(T0)), maps:size(samples(T))).

histogram_test() ->
    fresh(),
    [ok = mod_s2s_trust_metrics:checked(Us) || Us <- [3, 50, 51, 900, 2000000]],
    T = mod_s2s_trust_metrics:render(),
    B = fun(Le) -> value(T, <<"ejabberd_s2s_trust_check_duration_seconds_bucket{le=\"", Le/binary, "\"}">>) end,
    ?assertEqual(2, B(<<"0.00005">>)),      % 3 and 50 us (le is <=)
    ?assertEqual(3, B(<<"0.0001">>)),       % cumulative: + 51
    ?assertEqual(4, B(<<"0.001">>)),        % + 900
    ?assertEqual(4, B(<<"1.0">>)),
    ?assertEqual(5, B(<<"+Inf">>)),         % + 2 s
    ?assertEqual(5, value(T, <<"ejabberd_s2s_trust_check_duration_seconds_count">>)),
    ?assertEqual(<<"2.001004">>, maps:get(<<"ejabberd_s2s_trust_check_duration_seconds_sum">>, samples(T))),
    %% buckets never decrease
    Les = [le_value(L) || L <- mod_s2s_trust_metrics:buckets()] ++ [<<"+Inf">>],
    Counts = [B(L) || L <- Les],
    ?assertEqual(Counts, lists:sort(Counts)).

le_value(Us) -> float_to_binary(Us / 1.0e6, [{decimals, 6}, compact]).

crl_fetches_test() ->
    fresh(),
    ok = mod_s2s_trust_metrics:crl_fetched(failed),
    ok = mod_s2s_trust_metrics:crl_fetched(updated),
    ok = mod_s2s_trust_metrics:crl_fetched(failed),
    T = mod_s2s_trust_metrics:render(),
    ?assertEqual(2, value(T, <<"ejabberd_s2s_trust_crl_fetches_total{result=\"failed\"}">>)),
    ?assertEqual(1, value(T, <<"ejabberd_s2s_trust_crl_fetches_total{result=\"updated\"}">>)),
    ?assertEqual(0, value(T, <<"ejabberd_s2s_trust_crl_fetches_total{result=\"unchanged\"}">>)).

%% The exposition format's rules, checked on the text itself.
well_formed_test() ->
    fresh(),
    ok = mod_s2s_trust_metrics:verdict(in, accepted, ok),
    Lines = binary:split(mod_s2s_trust_metrics:render(), <<"\n">>, [global, trim_all]),
    {_, Seen} = lists:foldl(fun well_formed_line/2, {none, #{}}, Lines),
    ?assert(maps:size(Seen) > 100),
    %% every family this module documents is there
    Names = [N || <<"# TYPE ", Rest/binary>> <- Lines, [N, _] <- [binary:split(Rest, <<" ">>)]],
    ?assertEqual(lists:usort(Names), lists:sort(Names)),
    [?assert(lists:member(<<"ejabberd_s2s_trust_", N/binary>>, Names))
     || N <- [<<"verdicts_total">>, <<"check_duration_seconds">>, <<"verdict_cache_hits">>,
              <<"verdict_cache_misses">>, <<"verdict_cache_evictions">>,
              <<"verdict_cache_entries">>, <<"violators">>, <<"learned_intermediates">>,
              <<"crl_fetches_total">>, <<"crls">>, <<"start_time_seconds">>]].

well_formed_line(<<"# HELP ", Rest/binary>>, {_, Seen}) ->
    [Name, Help] = binary:split(Rest, <<" ">>),
    ?assert(byte_size(Help) > 0),
    {{help, Name}, Seen};
well_formed_line(<<"# TYPE ", Rest/binary>>, {{help, Name}, Seen}) ->
    [Name, Type] = binary:split(Rest, <<" ">>),
    ?assert(lists:member(Type, [<<"counter">>, <<"gauge">>, <<"histogram">>])),
    %% a counter's name ends in _total (promtool's lint says so too)
    ?assert(Type =/= <<"counter">> orelse binary:longest_common_suffix([Name, <<"_total">>]) =:= 6),
    {{family, Name}, Seen};
well_formed_line(Line, {{family, Name}, Seen}) ->
    ?assertMatch({match, _}, re:run(Line, <<"^[a-z_][a-z0-9_]*(\\{[a-z_]+=\"[^\"\\\\\\n]*\"(,[a-z_]+=\"[^\"\\\\\\n]*\")*\\})? [0-9]+(\\.[0-9]+)?$">>)),
    [Series, _] = string:split(Line, <<" ">>, trailing),
    [Metric | _] = binary:split(Series, <<"{">>),
    ?assert(lists:member(Metric, [Name, <<Name/binary, "_bucket">>, <<Name/binary, "_sum">>,
                                  <<Name/binary, "_count">>])),
    ?assertNot(maps:is_key(Series, Seen)),
    {{family, Name}, Seen#{Series => true}}.

%% Counting before init/0 (or after its term is gone) is a no-op, never a
%% crash in a hook.
uninitialised_test() ->
    _ = persistent_term:erase(?KEY),
    ?assertEqual(ok, mod_s2s_trust_metrics:verdict(in, refused, expired)),
    ?assertEqual(ok, mod_s2s_trust_metrics:checked(10)),
    ?assertEqual(ok, mod_s2s_trust_metrics:crl_fetched(failed)),
    ?assertEqual(undefined, mod_s2s_trust_metrics:snapshot()),
    ?assertMatch(<<"# HELP ", _/binary>>, mod_s2s_trust_metrics:render()),
    fresh().

%% What a hook may hand over by mistake, and an array left by an older
%% version of the code (other keys), never make counting raise; init/0
%% replaces such an array.
never_raises_test() ->
    fresh(),
    ?assertEqual(ok, mod_s2s_trust_metrics:verdict(sideways, refused, expired)),
    ?assertEqual(ok, mod_s2s_trust_metrics:verdict(in, unheard_of, expired)),
    ?assertEqual(ok, mod_s2s_trust_metrics:checked(-5)),
    ?assertEqual(ok, mod_s2s_trust_metrics:crl_fetched(exploded)),
    Old = #{{verdict, in, refused, expired} => 1},
    persistent_term:put(?KEY, {counters:new(1, []), Old, 0}),
    ?assertEqual(ok, mod_s2s_trust_metrics:checked(10)),
    ?assertEqual(ok, mod_s2s_trust_metrics:crl_fetched(failed)),
    ok = mod_s2s_trust_metrics:init(),
    {_, New, _} = persistent_term:get(?KEY),
    ?assertNotEqual(Old, New),
    ok = mod_s2s_trust_metrics:checked(10),
    ?assertEqual(1, maps:get({check_bucket, 50}, mod_s2s_trust_metrics:snapshot())),
    %% init/0 on a current array keeps its counts (a module reload)
    ok = mod_s2s_trust_metrics:init(),
    ?assertEqual(1, maps:get({check_bucket, 50}, mod_s2s_trust_metrics:snapshot())).

allowed_test() ->
    Loop = [{{127, 0, 0, 0}, 8}, {{0, 0, 0, 0, 0, 0, 0, 1}, 128}],
    ?assert(mod_s2s_trust_metrics:allowed({127, 0, 0, 1}, Loop)),
    ?assert(mod_s2s_trust_metrics:allowed({127, 9, 8, 7}, Loop)),
    ?assert(mod_s2s_trust_metrics:allowed({0, 0, 0, 0, 0, 0, 0, 1}, Loop)),
    %% ::ffff:127.0.0.1, an IPv4 client of a dual-stack listener
    ?assert(mod_s2s_trust_metrics:allowed({0, 0, 0, 0, 0, 16#ffff, 16#7f00, 1}, Loop)),
    ?assertNot(mod_s2s_trust_metrics:allowed({0, 0, 0, 0, 0, 16#ffff, 16#0a00, 1}, Loop)),
    ?assertNot(mod_s2s_trust_metrics:allowed({10, 0, 0, 1}, Loop)),
    ?assertNot(mod_s2s_trust_metrics:allowed({128, 0, 0, 1}, Loop)),
    ?assertNot(mod_s2s_trust_metrics:allowed({16#2001, 16#db8, 0, 0, 0, 0, 0, 1}, Loop)),
    ?assert(mod_s2s_trust_metrics:allowed({10, 1, 2, 3}, [{{10, 0, 0, 0}, 8}])),
    ?assertNot(mod_s2s_trust_metrics:allowed({10, 1, 2, 3}, [])).
