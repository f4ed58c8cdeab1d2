%%% mod_s2s_trust_webadmin - the module's page in ejabberd's web admin,
%%% and the counters it shows.
%%%
%%% ejabberd 23.01's web admin (ejabberd_web_admin) asks four hooks:
%%%   webadmin_menu_main (global)  fold(Acc, Lang) -> [{Path, Title}]
%%%   webadmin_menu_host (Host)    fold(Acc, Host, Lang)
%%%   webadmin_page_main (global)  fold(Acc, #request{}) -> Acc | {stop, [xmlel]}
%%%   webadmin_page_host (Host)    fold(Acc, Host, #request{})
%%% (process_admin/3 runs the page hooks with [] and answers 404 if they
%%% return []; make_xhtml/5 wraps our elements in its own page; ejabberd_http
%%% serialises with fxml:element_to_binary/1, which escapes text and
%%% attribute values.) mod_s2s_trust:start/2 calls start/1 here, so the page
%%% is there wherever the module and the web admin both are: no option.
%%%
%%% The page: /admin/s2s_trust/ (every host) and
%%% /admin/server/HOST/s2s_trust/ (one host) show the posture audit, the
%%% counters since start and the violators list (?sort=last_seen|count,
%%% ?reason=REASON); ?domain=D shows one domain's last verdict explained.
%%% Everything shown that came from the network (domains, certificate
%%% subjects, names, OpenSSL's text quoting them) is made visible with
%%% mod_s2s_trust_format:text_escape/1 (control bytes, invalid UTF-8 ->
%%% \xNN) and put in text nodes only, never in raw markup; in links it is
%%% percent-encoded. Query values are compared as binaries, never turned
%%% into atoms.
%%%
%%% Counters: accepted / refused / audited / exempted per direction, since
%%% the module started on this node: the verdicts mod_s2s_trust_metrics
%%% counts (one count per verdict, for both), less what it had counted when
%%% the module started here.
-module(mod_s2s_trust_webadmin).

-export([start/1, stop/1]).
-export([web_menu_main/2, web_menu_host/3, web_page_main/2, web_page_host/3]).
-export([init_counters/0, erase_counters/0, counters/0]).
%% pure, for the tests
-export([page/2, parse_query/1, select/2, violators_table/2, detail/3, audit_table/1,
         counters_table/1, survey_table/2]).

-include("ejabberd_http.hrl").
-include("mod_s2s_trust.hrl").

-define(PATH, <<"s2s_trust">>).
-define(TITLE, <<"S2S Trust">>).
-define(SEQ, 50).
-define(COUNTERS, {?MODULE, counters}).
-define(OUTCOMES, [accepted, refused, audited, exempted]).

%%%===================================================================
%%% Hooks
%%%===================================================================

-spec start(binary()) -> ok.
start(Host) ->
    ok = init_counters(),
    %% Global hooks: ejabberd_hooks keeps one entry for the same
    %% (module, function, seq), however many hosts add it.
    ejabberd_hooks:add(webadmin_menu_main, ?MODULE, web_menu_main, ?SEQ),
    ejabberd_hooks:add(webadmin_page_main, ?MODULE, web_page_main, ?SEQ),
    ejabberd_hooks:add(webadmin_menu_host, Host, ?MODULE, web_menu_host, ?SEQ),
    ejabberd_hooks:add(webadmin_page_host, Host, ?MODULE, web_page_host, ?SEQ),
    ok.

-spec stop(binary()) -> ok.
stop(Host) ->
    ejabberd_hooks:delete(webadmin_menu_host, Host, ?MODULE, web_menu_host, ?SEQ),
    ejabberd_hooks:delete(webadmin_page_host, Host, ?MODULE, web_page_host, ?SEQ),
    case gen_mod:is_loaded_elsewhere(Host, mod_s2s_trust) of
        false ->
            ejabberd_hooks:delete(webadmin_menu_main, ?MODULE, web_menu_main, ?SEQ),
            ejabberd_hooks:delete(webadmin_page_main, ?MODULE, web_page_main, ?SEQ),
            erase_counters();
        true ->
            ok
    end.

web_menu_main(Acc, _Lang) ->
    Acc ++ [{?PATH, ?TITLE}].

web_menu_host(Acc, _Host, _Lang) ->
    Acc ++ [{?PATH, ?TITLE}].

web_page_main(_Acc, #request{path = [?PATH], q = Q}) ->
    {stop, safe_page(global, Q)};
web_page_main(Acc, _Request) ->
    Acc.

web_page_host(_Acc, Host, #request{path = [?PATH], q = Q}) ->
    {stop, safe_page(Host, Q)};
web_page_host(Acc, _Host, _Request) ->
    Acc.

%% A fault in the page must not take the web admin down, nor show a
%% stack trace with peer data in it: one line, escaped.
safe_page(Scope, Q) ->
    Content = try page(Scope, parse_query(Q))
              catch Class:Why ->
                      [el(<<"h1">>, [], [txt(?TITLE)]),
                       el(<<"p">>, [{<<"class">>, <<"s2s-trust-error">>}],
                          [txt(io_lib:format("The page failed: ~0p", [{Class, Why}]))])]
              end,
    [el(<<"div">>, [{<<"id">>, <<"s2s-trust">>}], Content)].

%%%===================================================================
%%% Counters
%%%===================================================================

%% The metrics' totals now, as the zero of this page's counts.
-spec init_counters() -> ok.
init_counters() ->
    case persistent_term:get(?COUNTERS, undefined) of
        undefined ->
            persistent_term:put(?COUNTERS, {mod_s2s_trust_metrics:verdict_totals(),
                                            erlang:system_time(second)});
        _ ->
            ok
    end.

-spec erase_counters() -> ok.
erase_counters() ->
    _ = persistent_term:erase(?COUNTERS),
    ok.

-spec counters() -> undefined | #{in := map(), out := map(), since := integer()}.
counters() ->
    case persistent_term:get(?COUNTERS, undefined) of
        {Base, Since} ->
            Now = mod_s2s_trust_metrics:verdict_totals(),
            %% max/2: a new version of the metrics code starts its counts
            %% again, below the zero taken here
            Get = fun(Dir) ->
                          maps:from_list([{O, max(0, maps:get({Dir, O}, Now, 0) - maps:get({Dir, O}, Base, 0))}
                                          || O <- ?OUTCOMES])
                  end,
            #{in => Get(in), out => Get(out), since => Since};
        _ ->
            undefined
    end.

%%%===================================================================
%%% The page
%%%===================================================================

%% Query parameters. ejabberd's web admin redirects any URL whose raw path
%% (query included) does not end in "/" to the same URL plus "/", so the
%% last value may carry a trailing slash: dropped (mod_muc_admin does the
%% same). A domain or reason never ends in "/".
-spec parse_query([{binary() | nokey, binary()}]) -> map().
parse_query(Q) ->
    Get = fun(K) ->
                  case lists:keyfind(K, 1, Q) of
                      {_, V} -> strip_slash(V);
                      false -> undefined
                  end
          end,
    Sort = case Get(<<"sort">>) of
               <<"count">> -> count;
               _ -> last_seen
           end,
    Reason = case Get(<<"reason">>) of
                 undefined -> all;
                 <<>> -> all;
                 <<"all">> -> all;
                 R -> R
             end,
    Domain = case Get(<<"domain">>) of
                 <<>> -> undefined;
                 D -> D
             end,
    #{sort => Sort, reason => Reason, domain => Domain}.

strip_slash(V) ->
    case byte_size(V) of
        0 -> V;
        N -> case binary:last(V) of
                 $/ -> binary:part(V, 0, N - 1);
                 _ -> V
             end
    end.

-spec page(global | binary(), map()) -> [tuple()].
page(Scope, #{domain := Domain} = Opts) when Domain =/= undefined ->
    [el(<<"h1">>, [], [txt(?TITLE)]),
     el(<<"p">>, [], [el(<<"a">>, [{<<"href">>, href(Opts#{domain => undefined})},
                                   {<<"id">>, <<"s2s-trust-back">>}],
                        [txt(<<"back to the list">>)])])
     | detail(Domain, mod_s2s_trust_violators:last_verdict(Domain),
              mod_s2s_trust_violators:lookup(Domain))] ++ scope_note(Scope);
page(Scope, Opts) ->
    Hosts = case Scope of
                global -> ejabberd_option:hosts();
                Host -> [Host]
            end,
    Now = erlang:system_time(second),
    Report = mod_s2s_trust_audit:report(mod_s2s_trust_audit:snapshots(Hosts), Now),
    [el(<<"h1">>, [], [txt(?TITLE)]),
     el(<<"p">>, [], [txt(<<"mod_s2s_trust refuses s2s peers whose certificates do not validate "
                           "and lists those that fail.">>)]),
     el(<<"h2">>, [], [txt(<<"Posture audit">>)]),
     audit_table(Report),
     el(<<"h2">>, [], [txt(<<"Counters">>)]),
     counters_table(counters()),
     el(<<"h2">>, [], [txt(<<"Violators">>)])
     | violators_table(mod_s2s_trust_violators:all(), Opts)]
        ++ [el(<<"h2">>, [], [txt(<<"Survey of federation partners">>)]),
            survey_table(mod_s2s_trust_survey:status(), mod_s2s_trust_survey:results())]
        ++ scope_note(Scope).

%% ---- survey (docs/survey.md) ----------------------------------------------------

-spec survey_table({binary() | none, non_neg_integer()}, [map()]) -> tuple().
survey_table({Running, Queued}, Results) ->
    Status = case Running of
                 none -> io_lib:format("idle, ~b queued", [Queued]);
                 D -> [<<"surveying ">>, D, io_lib:format(", ~b queued", [Queued])]
             end,
    %% Raw values: td/1 escapes them once (the ejabberdctl rows are
    %% escaped already, and would be escaped twice).
    Rows = [el(<<"tr">>, [{<<"class">>, <<"s2s-trust-surveyed">>}, {<<"data-verdict">>, atom_to_binary(V)}],
               [td(D), td(atom_to_binary(V)), td(R), td(mod_s2s_trust_format:iso8601(T))])
            || #{domain := D, verdict := V, reason := R, measured_at := T}
                   <- mod_s2s_trust_survey_report:by_domain(Results)],
    el(<<"div">>, [{<<"id">>, <<"s2s-trust-survey">>}],
       [el(<<"p">>, [{<<"id">>, <<"s2s-trust-survey-status">>}],
           [txt(iolist_to_binary(["ejabberdctl s2s_trust_survey connected|violators|DOMAIN,... "
                                  "queues a survey; ", Status]))]),
        table([<<"domain">>, <<"verdict">>, <<"reason">>, <<"measured">>], Rows)]).

scope_note(global) -> [];
scope_note(_Host) ->
    [el(<<"p">>, [], [txt(<<"The violators list and the counters are this node's, for every "
                           "virtual host; the audit is this host's.">>)])].

%% ---- posture audit ------------------------------------------------------------

-spec audit_table(map()) -> tuple().
audit_table(#{status := Status, counts := Counts, hosts := Hosts}) ->
    Summary = io_lib:format("overall: ~s (~b fail, ~b warn, ~b pass)",
                            [string:uppercase(atom_to_list(Status)), maps:get(fail, Counts, 0),
                             maps:get(warn, Counts, 0), maps:get(pass, Counts, 0)]),
    Rows = [el(<<"tr">>, [{<<"class">>, <<"s2s-trust-check">>},
                          {<<"data-check">>, atom_to_binary(C)},
                          {<<"data-status">>, atom_to_binary(St)}],
               [td(H), td(atom_to_binary(C)),
                el(<<"td">>, [{<<"style">>, status_style(St)}], [txt(atom_to_binary(St))]),
                td(T), td(F)])
            || #{host := H, checks := Cs} <- Hosts,
               #{check := C, status := St, text := T, fix := F} <- Cs],
    el(<<"div">>, [{<<"id">>, <<"s2s-trust-audit">>}],
       [el(<<"p">>, [{<<"id">>, <<"s2s-trust-audit-summary">>}], [txt(Summary)]),
        table([<<"host">>, <<"check">>, <<"status">>, <<"finding">>, <<"fix">>], Rows)]).

status_style(pass) -> <<"color:#060;font-weight:bold">>;
status_style(warn) -> <<"color:#a60;font-weight:bold">>;
status_style(fail) -> <<"color:#c00;font-weight:bold">>.

%% ---- counters -------------------------------------------------------------------

-spec counters_table(undefined | map()) -> tuple().
counters_table(undefined) ->
    el(<<"p">>, [{<<"id">>, <<"s2s-trust-counters">>}], [txt(<<"not counting (module not started)">>)]);
counters_table(#{since := Since} = C) ->
    Row = fun(Dir) ->
                  el(<<"tr">>, [],
                     [td(<<(atom_to_binary(Dir))/binary, "bound">>)
                      | [el(<<"td">>, [{<<"id">>, iolist_to_binary(["count-", atom_to_binary(Dir), "-",
                                                                    atom_to_binary(O)])}],
                            [txt(integer_to_binary(maps:get(O, maps:get(Dir, C))))])
                         || O <- ?OUTCOMES]])
          end,
    el(<<"div">>, [{<<"id">>, <<"s2s-trust-counters">>}],
       [el(<<"p">>, [], [txt([<<"verdicts since ">>, mod_s2s_trust_format:iso8601(Since),
                              <<" (this node)">>])]),
        table([<<"direction">> | [atom_to_binary(O) || O <- ?OUTCOMES]], [Row(in), Row(out)])]).

%% ---- violators ----------------------------------------------------------------------

%% Filter by reason (any reason the row ever had), then sort: most recent
%% first, or most violations first.
-spec select([#s2s_trust_violation{}], map()) -> [#s2s_trust_violation{}].
select(Vs, #{sort := Sort, reason := Reason}) ->
    Kept = case Reason of
               all -> Vs;
               _ -> [V || #s2s_trust_violation{reasons = Rs} = V <- Vs,
                          lists:member(Reason, [atom_to_binary(R) || R <- Rs])]
           end,
    Key = fun(#s2s_trust_violation{last_seen = L, count = N, domain = D}) ->
                  case Sort of
                      count -> {-N, -num(L), D};
                      _ -> {-num(L), -N, D}
                  end
          end,
    [V || {_, V} <- lists:sort([{Key(V), V} || V <- Kept])].

num(N) when is_integer(N) -> N;
num(_) -> 0.

-spec violators_table([#s2s_trust_violation{}], map()) -> [tuple()].
violators_table(All, Opts) ->
    Shown = select(All, Opts),
    Reasons = lists:usort([atom_to_binary(R) || #s2s_trust_violation{reasons = Rs} <- All,
                                                R <- Rs]),
    Rows = [el(<<"tr">>, [{<<"class">>, <<"s2s-trust-violator">>}],
               [el(<<"td">>, [{<<"class">>, <<"domain">>}],
                   [el(<<"a">>, [{<<"href">>, href(#{domain => D})}], [txt(D)])]),
                el(<<"td">>, [{<<"class">>, <<"reasons">>}], [txt(mod_s2s_trust_format:reasons_text(Rs))]),
                td(lists:join(<<"/">>, [atom_to_binary(X) || X <- Ds])),
                td(mod_s2s_trust_format:iso8601(F)),
                el(<<"td">>, [{<<"class">>, <<"last-seen">>}], [txt(mod_s2s_trust_format:iso8601(L))]),
                el(<<"td">>, [{<<"class">>, <<"count">>}], [txt(integer_to_binary(C))]),
                td(to_bin(O))])
            || #s2s_trust_violation{domain = D, reasons = Rs, directions = Ds, first_seen = F,
                                    last_seen = L, count = C, last_outcome = O} <- Shown],
    SortLink = fun(S, Label) ->
                       el(<<"a">>, [{<<"href">>, href(Opts#{sort => S})},
                                    {<<"id">>, <<"sort-", (atom_to_binary(S))/binary>>}],
                          [txt(Label)])
               end,
    Filter = el(<<"p">>, [{<<"id">>, <<"s2s-trust-filter">>}],
                [txt(<<"reason: ">>)]
                ++ lists:join(txt(<<" | ">>),
                              [filter_link(Opts, all, <<"all">>)
                               | [filter_link(Opts, R, R) || R <- Reasons]])),
    Head = [el(<<"th">>, [], [txt(<<"domain">>)]), el(<<"th">>, [], [txt(<<"reasons">>)]),
            el(<<"th">>, [], [txt(<<"directions">>)]), el(<<"th">>, [], [txt(<<"first seen">>)]),
            el(<<"th">>, [], [SortLink(last_seen, <<"last seen">>)]),
            el(<<"th">>, [], [SortLink(count, <<"count">>)]),
            el(<<"th">>, [], [txt(<<"last outcome">>)])],
    [Filter,
     el(<<"p">>, [{<<"id">>, <<"s2s-trust-shown">>}],
        [txt(io_lib:format("~b of ~b shown, sorted by ~s", [length(Shown), length(All),
                                                            sort_name(maps:get(sort, Opts))]))]),
     el(<<"table">>, [{<<"id">>, <<"s2s-trust-violators">>}, {<<"class">>, <<"withtextareas">>}],
        [el(<<"thead">>, [], [el(<<"tr">>, [], Head)]), el(<<"tbody">>, [], Rows)])].

sort_name(count) -> "count";
sort_name(_) -> "last seen".

filter_link(#{reason := Current} = Opts, Reason, Label) ->
    Attrs = [{<<"href">>, href(Opts#{reason => Reason})}, {<<"class">>, <<"s2s-trust-reason">>}],
    case Current =:= Reason of
        true -> el(<<"b">>, [], [el(<<"a">>, Attrs, [txt(Label)])]);
        false -> el(<<"a">>, Attrs, [txt(Label)])
    end.

%% A relative link to this page. The raw path must end in "/" (see
%% parse_query/1): every link ends with a "/" the parser drops.
href(Opts) ->
    Params = case maps:get(domain, Opts, undefined) of
                 undefined ->
                     [{<<"sort">>, atom_to_binary(maps:get(sort, Opts, last_seen))},
                      {<<"reason">>, case maps:get(reason, Opts, all) of
                                         all -> <<"all">>;
                                         R -> R
                                     end}];
                 D ->
                     [{<<"domain">>, D}]
             end,
    iolist_to_binary([<<"?">>, lists:join(<<"&">>, [[K, <<"=">>, pct(V)] || {K, V} <- Params]),
                      <<"/">>]).

pct(Bin) ->
    [if (C >= $a andalso C =< $z) orelse (C >= $A andalso C =< $Z) orelse
        (C >= $0 andalso C =< $9) orelse C =:= $- orelse C =:= $. orelse C =:= $_ orelse C =:= $~ ->
             C;
        true ->
             io_lib:format("%~2.16.0B", [C])
     end || <<C>> <= Bin].

%% ---- one domain: the explain view --------------------------------------------------------

-spec detail(binary(), {ok, map()} | not_found, {ok, #s2s_trust_violation{}} | not_found) -> [tuple()].
detail(Domain, not_found, not_found) ->
    [el(<<"h2">>, [], [txt(<<"Domain ">>), txt(Domain)]),
     el(<<"p">>, [{<<"id">>, <<"s2s-trust-detail">>}], [txt(<<"no verdict recorded for this domain">>)])];
detail(Domain, not_found, {ok, #s2s_trust_violation{last_reason = R, last_outcome = O, last_seen = T,
                                                   last_details = D, directions = Ds}} = Row) ->
    detail(Domain, {ok, #{domain => Domain, direction => hd(Ds ++ [in]), verdict => R, outcome => O,
                          at => T, details => D}}, Row);
detail(Domain, {ok, V}, Row) ->
    Det = maps:get(details, V, #{}),
    Verdict = maps:get(verdict, V, undefined),
    Fields = [{<<"verdict">>, to_bin(Verdict)},
              {<<"in words">>, reason_words(Verdict)},
              {<<"outcome">>, to_bin(maps:get(outcome, V, undefined))},
              {<<"direction">>, <<(to_bin(maps:get(direction, V, undefined)))/binary, "bound">>},
              {<<"at">>, mod_s2s_trust_format:iso8601(maps:get(at, V, undefined))}]
        ++ [{atom_to_binary(K), to_bin(Val)}
            || K <- [detail, authority, dane, dane_target, posh, subject, issuer, not_before, not_after,
                     openssl_text, matched_by, completion, source],
               Val <- [maps:get(K, Det, undefined)], Val =/= undefined]
        ++ case Row of
               {ok, #s2s_trust_violation{reasons = Rs, first_seen = F, last_seen = L, count = C}} ->
                   [{<<"reasons seen">>, mod_s2s_trust_format:reasons_text(Rs)},
                    {<<"first seen">>, mod_s2s_trust_format:iso8601(F)},
                    {<<"last seen">>, mod_s2s_trust_format:iso8601(L)},
                    {<<"count">>, integer_to_binary(C)}];
               not_found ->
                   [{<<"violators list">>, <<"not listed">>}]
           end,
    Names = [el(<<"tr">>, [], [td(to_bin(T)), td(N)]) || #{type := T, value := N} <- maps:get(names, Det, [])],
    Chain = maps:get(chain, Det, []),
    ChainRows = [el(<<"tr">>, [], [td(integer_to_binary(I)), td(to_bin(maps:get(subject, C, <<"?">>))),
                                   td(to_bin(maps:get(issuer, C, <<"?">>)))])
                 || {I, C} <- lists:zip(lists:seq(0, length(Chain) - 1), Chain)],
    [el(<<"h2">>, [], [txt(<<"Domain ">>), txt(Domain)]),
     el(<<"table">>, [{<<"id">>, <<"s2s-trust-detail">>}],
        [el(<<"tbody">>, [], [el(<<"tr">>, [], [el(<<"th">>, [], [txt(K)]), td(Val)]) || {K, Val} <- Fields])]),
     el(<<"h3">>, [], [txt(<<"Names in the certificate">>)]),
     table([<<"type">>, <<"value">>], Names),
     el(<<"h3">>, [], [txt(<<"Chain">>)]),
     table([<<"depth">>, <<"subject">>, <<"issuer">>], ChainRows)].

reason_words(undefined) -> <<"-">>;
reason_words(ok) -> <<"the certificate validates">>;
reason_words(no_trust_store) -> <<"no trust store was loaded">>;
reason_words(internal_error) -> <<"internal error in the trust check">>;
%% The module's own verdicts (docs/verdicts.md), which the engine's list
%% does not hold.
reason_words(dane_mismatch) ->
    <<"the chain matches none of the peer's DNSSEC-signed TLSA records">>;
reason_words(dnssec_bogus) ->
    <<"DNSSEC validation of the peer's SRV or TLSA answer failed: its DNS is forged or broken">>;
reason_words(dane_required) ->
    <<"DANE is required, and the peer has no secure, usable TLSA records">>;
reason_words(dane_unavailable) ->
    <<"the TLSA lookup got no answer (dane: require), or the DANE-TA anchor the peer's records "
      "name is in a chain its server did not give when asked">>;
reason_words(posh_mismatch) ->
    <<"the certificate matches none of the fingerprints of the peer's POSH document">>;
reason_words(R) ->
    try s2s_trust:format_reason(R)
    catch _:_ -> to_bin(R)
    end.

%%%===================================================================
%%% Elements: text only ever goes into text nodes
%%%===================================================================

%% #xmlel{} of fxml.hrl, spelled as its tuple so that this file needs no
%% include beyond ejabberd's own (ext_mod builds it against ejabberd's).
el(Name, Attrs, Children) -> {xmlel, Name, Attrs, Children}.

txt(Text) -> {xmlcdata, mod_s2s_trust_format:text_escape(flat(Text))}.

%% Bytes as they are (text_escape deals with invalid UTF-8); a character
%% list (io_lib:format ~p may yield code points above 255) as UTF-8.
flat(Text) ->
    try iolist_to_binary(Text)
    catch error:badarg ->
            case unicode:characters_to_binary(Text) of
                B when is_binary(B) -> B;
                _ -> <<"?">>
            end
    end.

td(Text) -> el(<<"td">>, [], [txt(Text)]).

table(Head, Rows) ->
    el(<<"table">>, [{<<"class">>, <<"withtextareas">>}],
       [el(<<"thead">>, [], [el(<<"tr">>, [], [el(<<"th">>, [], [txt(H)]) || H <- Head])]),
        el(<<"tbody">>, [], Rows)]).

to_bin(undefined) -> <<"-">>;
to_bin(B) when is_binary(B) -> B;
to_bin(A) when is_atom(A) -> atom_to_binary(A);
to_bin(I) when is_integer(I) -> integer_to_binary(I);
to_bin(L) when is_list(L) -> try iolist_to_binary(L) catch _:_ -> unicode:characters_to_binary(io_lib:format("~0tp", [L])) end;
to_bin(T) -> iolist_to_binary(io_lib:format("~0p", [T])).
