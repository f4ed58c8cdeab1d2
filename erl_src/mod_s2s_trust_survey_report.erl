%%% mod_s2s_trust_survey_report - the pure half of the survey from inside
%%% ejabberd (mod_s2s_trust_survey, docs/survey.md): which domains a
%%% command names, what a `s2s-trust survey --json` answer says about each,
%%% and the results as the pledge's Markdown lists, JSON and text rows.
%%%
%%% The answer comes from our own CLI, but every string in it may quote a
%%% remote server (its name, its error text): nothing here trusts its size
%%% or bytes, and every writer escapes for its format.
-module(mod_s2s_trust_survey_report).

-export([parse_targets/1, valid_domain/1, results/1, by_domain/1, markdown/1, json/1, rows/1,
         verdicts/0, verdict_words/1]).

%% Domains one command may queue.
-define(MAX_TARGETS, 1000).
%% Evidence lines and bytes per string kept of one result.
-define(MAX_EVIDENCE, 24).
-define(MAX_TEXT, 512).

-type verdict() :: keeps | accepts_untrusted | own_certificate_fails | unreachable | inconclusive.
-type result() :: #{domain := binary(), verdict := verdict(), reason := binary(),
                    measured_at := integer(), evidence := [binary()],
                    accepted := [binary()], checks := #{binary() => binary()}}.
-export_type([result/0, verdict/0]).

-spec verdicts() -> [verdict()].
verdicts() -> [keeps, accepts_untrusted, own_certificate_fails, unreachable, inconclusive].

-spec verdict_words(verdict()) -> binary().
verdict_words(keeps) -> <<"keeps the pledge">>;
verdict_words(accepts_untrusted) -> <<"accepts untrusted peers">>;
verdict_words(own_certificate_fails) -> <<"own certificate fails">>;
verdict_words(unreachable) -> <<"unreachable">>;
verdict_words(inconclusive) -> <<"inconclusive">>.

%% What `s2s_trust_survey TARGETS` names: connected, violators, or domains
%% separated by commas or white space. Domains are lower-cased A-labels;
%% anything else is refused whole, naming the first bad one (escaped).
-spec parse_targets(binary()) ->
          connected | violators | {domains, [binary()]} | {error, binary()}.
parse_targets(Bin) when is_binary(Bin) ->
    %% Bytes, not characters: a domain is ASCII, and anything else is
    %% refused below (string:* would raise on invalid UTF-8).
    Lower = << <<(if C >= $A, C =< $Z -> C + 32; true -> C end)>> || <<C>> <= Bin >>,
    case re:replace(Lower, <<"^[\\s,]+|[\\s,]+$">>, <<>>, [global, {return, binary}]) of
        <<"connected">> -> connected;
        <<"violators">> -> violators;
        <<>> -> {error, <<"name connected, violators or domains">>};
        Trimmed ->
            Names = [N || N <- re:split(Trimmed, <<"[\\s,]+">>), N =/= <<>>],
            case [N || N <- Names, not valid_domain(N)] of
                [Bad | _] ->
                    {error, <<"not a domain name (A-label, letters, digits, '-' and '.'): ",
                              (mod_s2s_trust_format:text_escape(Bad))/binary>>};
                [] when length(Names) > ?MAX_TARGETS ->
                    {error, <<"too many domains at once (at most ",
                              (integer_to_binary(?MAX_TARGETS))/binary, ")">>};
                [] ->
                    {domains, lists:usort(Names)}
            end
    end;
parse_targets(_) ->
    {error, <<"name connected, violators or domains">>}.

%% An LDH name of labels 1..63, at most 253 bytes, not an IP literal: all
%% that may reach the CLI's command line.
-spec valid_domain(binary()) -> boolean().
valid_domain(D) when is_binary(D), byte_size(D) >= 1, byte_size(D) =< 253 ->
    Labels = binary:split(D, <<".">>, [global]),
    lists:all(fun valid_label/1, Labels)
        andalso not lists:all(fun(L) -> re:run(L, <<"^[0-9]+$">>) =/= nomatch end, Labels);
valid_domain(_) ->
    false.

valid_label(L) when byte_size(L) >= 1, byte_size(L) =< 63 ->
    re:run(L, <<"^[a-z0-9]([a-z0-9-]*[a-z0-9])?$">>) =/= nomatch;
valid_label(_) ->
    false.

%% The results of one decoded `s2s-trust survey --json` answer (maps with
%% binary keys, as json:decode/1 and jiffy's return_maps give them); a
%% result that does not have the expected shape is left out.
-spec results(term()) -> [result()].
results(#{<<"results">> := Rs}) when is_list(Rs) ->
    lists:filtermap(fun result/1, lists:sublist(Rs, 10000));
results(_) ->
    [].

result(#{<<"domain">> := D, <<"verdict">> := V, <<"reason">> := R, <<"measured_at">> := At} = M)
  when is_binary(D), is_binary(V), is_binary(R), is_binary(At) ->
    case {lists:member(V, [atom_to_binary(X) || X <- verdicts()]), parse_time(At)} of
        {true, {ok, T}} ->
            {true, #{domain => D, verdict => binary_to_existing_atom(V),
                     reason => cut(R), measured_at => T,
                     evidence => [cut(E) || E <- lists:sublist(list_of(M, <<"evidence">>), ?MAX_EVIDENCE),
                                            is_binary(E)],
                     accepted => [cut(<<C/binary, " over ", Via/binary>>)
                                  || #{<<"case">> := C, <<"via">> := Via}
                                         <- lists:sublist(list_of(M, <<"accepted">>), 8),
                                     is_binary(C), is_binary(Via)],
                     checks => maps:from_list(
                                 [{K, cut(Val)} || {K, Val} <- maps:to_list(map_of(M, <<"checks">>)),
                                                   lists:member(K, [<<"certificate">>, <<"starttls">>,
                                                                    <<"direct_tls">>, <<"dane">>,
                                                                    <<"posh">>]),
                                                   is_binary(Val)])}};
        _ ->
            false
    end;
result(_) ->
    false.

list_of(M, K) ->
    case maps:get(K, M, []) of
        L when is_list(L) -> L;
        _ -> []
    end.

map_of(M, K) ->
    case maps:get(K, M, #{}) of
        X when is_map(X) -> X;
        _ -> #{}
    end.

cut(B) when byte_size(B) > ?MAX_TEXT -> <<(binary:part(B, 0, ?MAX_TEXT))/binary, "...">>;
cut(B) -> B.

%% "YYYY-MM-DDTHH:MM:SSZ" -> Unix seconds.
parse_time(<<Y:4/binary, "-", Mo:2/binary, "-", D:2/binary, "T", H:2/binary, ":", Mi:2/binary, ":",
             S:2/binary, "Z">>) ->
    try
        DT = {{binary_to_integer(Y), binary_to_integer(Mo), binary_to_integer(D)},
              {binary_to_integer(H), binary_to_integer(Mi), binary_to_integer(S)}},
        true = calendar:valid_date(element(1, DT)),
        {ok, calendar:datetime_to_gregorian_seconds(DT) - 62167219200}
    catch _:_ -> error
    end;
parse_time(_) ->
    error.

%%%===================================================================
%%% Writers
%%%===================================================================

%% Every writer lists the results in domain order.
-spec by_domain([result()]) -> [result()].
by_domain(Results) ->
    lists:sort(fun(#{domain := A}, #{domain := B}) -> A =< B end, Results).

%% The pledge's lists: one section per verdict that has servers, a bullet
%% per server "+ domain — reason, measured TIME", sorted by domain.
-spec markdown([result()]) -> binary().
markdown(Results) ->
    Sections = [{<<"Keep the pledge">>, keeps},
                {<<"Accept untrusted peers">>, accepts_untrusted},
                {<<"Own certificate fails">>, own_certificate_fails},
                {<<"Unreachable">>, unreachable},
                {<<"Inconclusive">>, inconclusive}],
    Sorted = by_domain(Results),
    Body = [case [R || #{verdict := V} = R <- Sorted, V =:= Verdict] of
                [] -> [];
                Rs -> [<<"\n## ">>, Title, <<"\n\n">>, [md_line(R) || R <- Rs]]
            end || {Title, Verdict} <- Sections],
    iolist_to_binary([<<"<!-- s2s federation partners surveyed by mod_s2s_trust "
                        "(s2s-trust survey, docs/survey.md) -->\n">> | Body]).

md_line(#{domain := D, reason := R, measured_at := T}) ->
    E = fun mod_s2s_trust_format:markdown_escape/1,
    [<<"+ ">>, E(D), <<" — "/utf8>>, E(R), <<", measured ">>, mod_s2s_trust_format:iso8601(T), <<"\n">>].

-spec json([result()]) -> binary().
json(Results) ->
    mod_s2s_trust_format:json(
      [R#{measured_at := mod_s2s_trust_format:iso8601(T)}
       || #{measured_at := T} = R <- by_domain(Results)]).

%% Rows for a text table (ejabberdctl, the web admin), escaped.
-spec rows([result()]) -> [{binary(), binary(), binary(), binary()}].
rows(Results) ->
    E = fun mod_s2s_trust_format:text_escape/1,
    [{E(D), atom_to_binary(V), E(R), mod_s2s_trust_format:iso8601(T)}
     || #{domain := D, verdict := V, reason := R, measured_at := T}
            <- by_domain(Results)].
