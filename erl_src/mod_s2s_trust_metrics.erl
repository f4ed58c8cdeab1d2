%%% mod_s2s_trust_metrics - the module's numbers for graphs and alerts
%%% (docs/metrics.md lists every series).
%%%
%%% Events are counted in one `counters` array published through
%%% persistent_term: no process, no message, no allocation per event, and a
%%% hook that counts can never block on us. Everything else is read when a
%%% scraper asks: the verdict caches of the stores, the violators list and
%%% the learned pool, the CRL copies. The text is Prometheus' exposition
%%% format 0.0.4, served by an ejabberd_http request handler
%%% (request_handlers: {"/metrics": mod_s2s_trust_metrics}) to the
%%% addresses metrics_allow names (loopback by default), and printed by the
%%% s2s_trust_metrics command (ejabberdctl, mod_http_api).
%%%
%%% No label carries a peer domain: the set of series is fixed by this
%%% code, however many peers a server meets (a domain is data for the
%%% violators list, not a dimension of a time series).
-module(mod_s2s_trust_metrics).

-export([init/0, verdict/3, checked/1, crl_fetched/1, dane_lookup/1, posh_fetch/1]).
-export([render/0, command/0, process/2, allowed/2]).
%% for tests
-export([reasons/0, buckets/0, snapshot/0]).
%% for the web admin page's counters
-export([verdict_totals/0]).

-include_lib("kernel/include/logger.hrl").
-include("ejabberd_http.hrl").

-define(KEY, {?MODULE, counters}).
-define(DIRECTIONS, [in, out]).
-define(OUTCOMES, [accepted, refused, audited, exempted]).
%% Verdicts the module itself gives, besides the engine's (s2s_trust:reasons/0).
-define(MODULE_REASONS, [no_trust_store, no_tls, not_authenticated, internal_error,
                         dane_mismatch, dnssec_bogus, dane_required, dane_unavailable,
                         posh_mismatch]).
%% Results of the DANE lookups (mod_s2s_trust_dane): the DNSSEC status of
%% the answer, or why there was none.
-define(DANE_RESULTS, [secure, insecure, bogus, error, timeout, busy, no_resolver]).
%% Results of the POSH fetches (mod_s2s_trust_posh; cache hits are not
%% fetches): ok, or s2s_trust_posh_result_error's name; another is other.
-define(POSH_RESULTS, [ok, connect_failed, tls_failed, cert_untrusted, timeout, redirect, http_status,
                       too_large, failed, internal, bad_url, malformed, no_fingerprints_or_url,
                       bad_expires, too_many_hops, busy, other]).
%% CRL fetch results (mod_s2s_trust_crl_index:record/3).
-define(CRL_RESULTS, [updated, unchanged, failed]).
%% Upper bounds of the check-time histogram, in microseconds: a verdict
%% cache hit takes a few, an uncached ECDSA chain 100-250, RSA-4096 or a
%% learned intermediate more; above 1 s something is wrong.
-define(BUCKETS_US, [50, 100, 250, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000,
                     1000000]).
-define(CONTENT_TYPE, <<"text/plain; version=0.0.4; charset=utf-8">>).

%%%===================================================================
%%% Counting (called from the hooks; never raises)
%%%===================================================================

%% Once per node, from mod_s2s_trust:start/2. The counters live as long as
%% the node (a reload or a restart of the module keeps them; Prometheus
%% reads a reset as one anyway): start_time_seconds says since when.
%% A new version of this code with other keys (a reason, a bucket more)
%% starts a new array: an index that does not match the code would count
%% into the wrong series.
-spec init() -> ok.
init() ->
    Keys = [{verdict, D, O, R} || D <- ?DIRECTIONS, O <- ?OUTCOMES, R <- reasons() ++ [other]]
        ++ [{check_bucket, B} || B <- ?BUCKETS_US ++ [inf]]
        ++ [check_sum_us]
        ++ [{crl_fetch, R} || R <- ?CRL_RESULTS]
        ++ [{dane_lookup, R} || R <- ?DANE_RESULTS]
        ++ [{posh_fetch, R} || R <- ?POSH_RESULTS],
    Index = maps:from_list(lists:zip(Keys, lists:seq(1, length(Keys)))),
    case persistent_term:get(?KEY, undefined) of
        {_, Index, _} ->
            ok;
        _ ->
            Ref = counters:new(length(Keys), [write_concurrency]),
            persistent_term:put(?KEY, {Ref, Index, erlang:system_time(second)})
    end,
    ok.

%% One verdict recorded by mod_s2s_trust_record (every stream, every
%% direction, every outcome); a reason this code does not know is "other".
-spec verdict(in | out, atom(), atom()) -> ok.
verdict(Dir, Outcome, Reason) ->
    bump(fun(Index) ->
                 case maps:find({verdict, Dir, Outcome, Reason}, Index) of
                     {ok, I} -> [{I, 1}];
                     error -> [{maps:get({verdict, Dir, Outcome, other}, Index), 1}]
                 end
         end).

%% One certificate check (s2s_trust:check/3 from the module), its time.
%% The count is the sum of the buckets (render/0), so a scrape never sees
%% a count that disagrees with the +Inf bucket.
-spec checked(non_neg_integer()) -> ok.
checked(Micros) ->
    bump(fun(Index) ->
                 [{maps:get({check_bucket, bucket(Micros, ?BUCKETS_US)}, Index), 1},
                  {maps:get(check_sum_us, Index), Micros}]
         end).

-spec crl_fetched(updated | unchanged | failed) -> ok.
crl_fetched(Result) ->
    bump(fun(Index) -> [{maps:get({crl_fetch, Result}, Index), 1}] end).

%% One DANE lookup (mod_s2s_trust_dane) and its result.
-spec dane_lookup(atom()) -> ok.
dane_lookup(Result) ->
    bump(fun(Index) -> [{maps:get({dane_lookup, Result}, Index), 1}] end).

%% One POSH document fetch (mod_s2s_trust_posh) and its result.
-spec posh_fetch(atom()) -> ok.
posh_fetch(Result) ->
    bump(fun(Index) ->
                 case maps:find({posh_fetch, Result}, Index) of
                     {ok, I} -> [{I, 1}];
                     error -> [{maps:get({posh_fetch, other}, Index), 1}]
                 end
         end).

%% Never raises, whatever it is given (an outcome this code does not know,
%% an array of an older version): the hooks count through here.
bump(Which) ->
    try
        case persistent_term:get(?KEY, undefined) of
            {Ref, Index, _} -> lists:foreach(fun({I, N}) -> counters:add(Ref, I, N) end, Which(Index));
            undefined -> ok
        end
    catch _:_ ->
            ok
    end,
    ok.

bucket(Micros, [B | _]) when Micros =< B -> B;
bucket(Micros, [_ | Rest]) -> bucket(Micros, Rest);
bucket(_, []) -> inf.

-spec reasons() -> [atom()].
reasons() ->
    [R || {R, _} <- s2s_trust:reasons()] ++ ?MODULE_REASONS.

buckets() -> ?BUCKETS_US.

%% Every counter by its key, or undefined before init/0.
-spec snapshot() -> undefined | #{since := integer(), term() => non_neg_integer()}.
snapshot() ->
    case persistent_term:get(?KEY, undefined) of
        {Ref, Index, Since} -> maps:put(since, Since, maps:map(fun(_, I) -> counters:get(Ref, I) end, Index));
        undefined -> undefined
    end.

%% Verdicts by direction and outcome, all reasons together (the web admin
%% page's counters); empty before init/0.
-spec verdict_totals() -> #{{in | out, atom()} => non_neg_integer()}.
verdict_totals() ->
    case snapshot() of
        undefined ->
            #{};
        C ->
            maps:fold(fun({verdict, D, O, _}, N, Acc) -> maps:update_with({D, O}, fun(M) -> M + N end, N, Acc);
                         (_, _, Acc) -> Acc
                      end, #{}, C)
    end.

%%%===================================================================
%%% The text
%%%===================================================================

-spec render() -> binary().
render() ->
    C = case snapshot() of
            undefined -> #{since => erlang:system_time(second)};
            S -> S
        end,
    iolist_to_binary(
      [family(<<"verdicts_total">>, counter,
              <<"s2s stream verdicts of mod_s2s_trust by direction, outcome and reason">>,
              [{[{direction, D}, {outcome, O}, {reason, R}], maps:get({verdict, D, O, R}, C, 0)}
               || D <- ?DIRECTIONS, O <- ?OUTCOMES, R <- reasons() ++ [other]]),
       histogram(C),
       cache_families(),
       family(<<"violators">>, gauge, <<"Remote domains in the violators list">>,
              [{[], safe_count(fun mod_s2s_trust_violators:size/0)}]),
       family(<<"learned_intermediates">>, gauge,
              <<"Intermediate certificates learned from peers' servers">>,
              [{[], safe_count(fun() -> length(mod_s2s_trust_learn:learned()) end)}]),
       family(<<"crl_fetches_total">>, counter, <<"CRL fetches by result">>,
              [{[{result, R}], maps:get({crl_fetch, R}, C, 0)} || R <- ?CRL_RESULTS]),
       crl_families(),
       family(<<"dane_lookups_total">>, counter,
              <<"DNSSEC lookups of peers' TLSA records (dane on), by result">>,
              [{[{result, R}], maps:get({dane_lookup, R}, C, 0)} || R <- ?DANE_RESULTS]),
       family(<<"posh_fetches_total">>, counter,
              <<"Fetches of peers' POSH documents (posh on; cache hits are not counted), by result">>,
              [{[{result, R}], maps:get({posh_fetch, R}, C, 0)} || R <- ?POSH_RESULTS]),
       storage_families(),
       family(<<"start_time_seconds">>, gauge,
              <<"When these counters started (Unix time)">>, [{[], maps:get(since, C)}])]).

%% The SQL writer's (db_type sql; all zero on Mnesia): what waits for the
%% database, and what was not stored at all.
storage_families() ->
    #{pending := P, dropped := D, errors := E, written := W} = mod_s2s_trust_sql_writer:stats(),
    [family(<<"storage_pending">>, gauge,
            <<"Domains whose violations wait for the SQL database">>, [{[], P}]),
     family(<<"storage_dropped_total">>, counter,
            <<"Violations not stored (the SQL writer full or not running), each logged">>,
            [{[], D}]),
     family(<<"storage_write_failures_total">>, counter,
            <<"Failed SQL write rounds (their violations are kept and retried)">>, [{[], E}]),
     family(<<"storage_rows_written_total">>, counter,
            <<"Violators list rows written to SQL">>, [{[], W}])].

histogram(C) ->
    Name = <<"ejabberd_s2s_trust_check_duration_seconds">>,
    {Rows, Count} = lists:mapfoldl(
                      fun(B, Acc) ->
                              N = Acc + maps:get({check_bucket, B}, C, 0),
                              {[Name, <<"_bucket{le=\"">>, le(B), <<"\"} ">>, integer_to_binary(N), $\n], N}
                      end, 0, ?BUCKETS_US ++ [inf]),
    [<<"# HELP ">>, Name, <<" Time mod_s2s_trust took to judge a peer certificate "
                            "(verdict cache included)\n">>,
     <<"# TYPE ">>, Name, <<" histogram\n">>,
     Rows,
     Name, <<"_sum ">>, float_to_binary(maps:get(check_sum_us, C, 0) / 1.0e6, [{decimals, 6}]), $\n,
     Name, <<"_count ">>, integer_to_binary(Count), $\n].

le(inf) -> <<"+Inf">>;
le(Us) -> float_to_binary(Us / 1.0e6, [{decimals, 6}, compact]).

%% The verdict caches of the stores in use, summed (vhosts sharing a trust
%% config share a store). Gauges, not counters: every store keeps its own
%% counts and a new store (a reload, a learned intermediate, a changed CRL)
%% starts at zero, so with several stores their sum can go down by less
%% than to zero, which Prometheus would misread as a counter reset.
cache_families() ->
    Caches = [VC || S <- stores(), #{verdict_cache := VC} <- [safe_info(S)]],
    Sum = fun(K) -> lists:sum([maps:get(K, VC, 0) || VC <- Caches]) end,
    [family(<<"verdict_cache_hits">>, gauge,
            <<"Verdict cache hits of the trust stores in use, since each was built">>, [{[], Sum(hits)}]),
     family(<<"verdict_cache_misses">>, gauge,
            <<"Verdict cache misses of the trust stores in use, since each was built">>, [{[], Sum(misses)}]),
     family(<<"verdict_cache_evictions">>, gauge,
            <<"Verdicts evicted before their time from the caches in use, since each was built">>,
            [{[], Sum(evictions)}]),
     family(<<"verdict_cache_entries">>, gauge, <<"Verdicts held in the caches">>,
            [{[], Sum(entries)}])].

stores() ->
    try
        lists:usort([S || H <- ejabberd_option:hosts(), gen_mod:is_loaded(H, mod_s2s_trust),
                          S <- [mod_s2s_trust_store:of_host(H)], S =/= undefined])
    catch _:_ -> []
    end.

safe_info(Store) ->
    try s2s_trust:info(Store) catch _:_ -> #{} end.

%% CRL copies by state (current / stale / none) and the age of the oldest
%% successful fetch among the points held: what an alert wants to know.
crl_families() ->
    Rows = try mod_s2s_trust_crl:status() catch _:_ -> [] end,
    Now = erlang:system_time(second),
    Oks = [Now - T || #{last_ok := T} <- Rows, is_integer(T)],
    [family(<<"crls">>, gauge, <<"CRL distribution points followed, by the state of the copy held">>,
            [{[{copy, St}], length([R || #{copy := X} = R <- Rows, X =:= St])}
             || St <- [current, stale, none]]),
     case Oks of
         [] -> [];
         _ -> family(<<"crl_oldest_fetch_age_seconds">>, gauge,
                     <<"Seconds since the least recent successful fetch of a CRL held">>,
                     [{[], lists:max(Oks)}])
     end].

safe_count(Fun) ->
    try Fun() catch _:_ -> 0 end.

family(Short, Type, Help, Samples) ->
    Name = <<"ejabberd_s2s_trust_", Short/binary>>,
    [<<"# HELP ">>, Name, $\s, Help, $\n,
     <<"# TYPE ">>, Name, $\s, atom_to_binary(Type), $\n,
     [[Name, labels(Labels), $\s, integer_to_binary(V), $\n] || {Labels, V} <- Samples]].

%% Label values are our own atoms (directions, outcomes, reasons, states):
%% never text from the network, so nothing here needs escaping.
labels([]) -> [];
labels(Ls) ->
    [${, lists:join($,, [[atom_to_binary(K), <<"=\"">>, atom_to_binary(V), $"] || {K, V} <- Ls]), $}].

%%%===================================================================
%%% Where it is read
%%%===================================================================

%% ejabberdctl s2s_trust_metrics
-spec command() -> binary().
command() ->
    render().

%% ejabberd_http request handler. Only GET and HEAD, only from the
%% networks of metrics_allow: the counters say how the federation of this
%% server is going, which is nobody else's business.
process(_LocalPath, #request{method = Method, ip = {IP, _Port}}) ->
    try
        case {Method, allowed(IP, allow_list())} of
            {_, false} ->
                {403, [{<<"Content-Type">>, <<"text/plain">>}], <<"Forbidden\n">>};
            {M, true} when M =:= 'GET'; M =:= 'HEAD' ->
                {200, [{<<"Content-Type">>, ?CONTENT_TYPE}], render()};
            _ ->
                {405, [{<<"Allow">>, <<"GET, HEAD">>}, {<<"Content-Type">>, <<"text/plain">>}],
                 <<"Method Not Allowed\n">>}
        end
    catch Class:Err:St ->
            ?LOG_ERROR("mod_s2s_trust: metrics page failed: ~p", [{Class, Err, St}]),
            {500, [{<<"Content-Type">>, <<"text/plain">>}], <<"Internal Server Error\n">>}
    end.

%% The networks of every vhost that loads the module, together (the page
%% is node-wide, like the counters); loopback when no vhost loads it. Lists
%% that are all empty allow nobody.
allow_list() ->
    case [H || H <- ejabberd_option:hosts(), gen_mod:is_loaded(H, mod_s2s_trust)] of
        [] -> [{{127, 0, 0, 0}, 8}, {{0, 0, 0, 0, 0, 0, 0, 1}, 128}];
        Hosts -> [N || H <- Hosts, N <- gen_mod:get_module_opt(H, mod_s2s_trust, metrics_allow)]
    end.

%% An IPv4 client on a dual-stack listener arrives as ::ffff:a.b.c.d.
-spec allowed(inet:ip_address(), [{inet:ip_address(), 0..128}]) -> boolean().
allowed({0, 0, 0, 0, 0, 16#ffff, AB, CD}, Nets) ->
    allowed({AB bsr 8, AB band 255, CD bsr 8, CD band 255}, Nets);
allowed(IP, Nets) ->
    lists:any(fun({Net, Mask}) -> misc:match_ip_mask(IP, Net, Mask) end, Nets).
