%%% EUnit for the pure parts of mod_s2s_trust: the decision table, what the
%%% peer is told, and every writer of the violators list with hostile names.
%%% The behaviour against a real ejabberd is tests/e2e.
-module(mod_s2s_trust_tests).

-include_lib("eunit/include/eunit.hrl").
-include("../../erl_src/mod_s2s_trust.hrl").

-define(ENFORCE, #{mode => enforce, exempt => [<<"legacy.test">>]}).
-define(AUDIT, #{mode => audit, exempt => []}).

decide_test_() ->
    [?_assertEqual({accept, accepted}, mod_s2s_trust:decide(ok, <<"a.test">>, ?ENFORCE)),
     ?_assertEqual({refuse, refused},
                   mod_s2s_trust:decide({error, expired}, <<"a.test">>, ?ENFORCE)),
     ?_assertEqual({accept, exempted},
                   mod_s2s_trust:decide({error, expired}, <<"legacy.test">>, ?ENFORCE)),
     ?_assertEqual({accept, audited},
                   mod_s2s_trust:decide({error, self_signed}, <<"a.test">>, ?AUDIT)),
     ?_assertEqual({accept, accepted}, mod_s2s_trust:decide(ok, <<"a.test">>, ?AUDIT)),
     %% exempt is exact: a subdomain of an exempted domain is not exempt
     ?_assertEqual({refuse, refused},
                   mod_s2s_trust:decide({error, expired}, <<"muc.legacy.test">>, ?ENFORCE)),
     ?_assertEqual({refuse, refused},
                   mod_s2s_trust:decide({error, internal_error}, <<"a.test">>, ?ENFORCE))].

refusal_text_test_() ->
    [?_assertEqual(<<"Certificate refused (mod_s2s_trust): expired: depth 0: certificate has expired">>,
                   mod_s2s_trust:refusal_text(expired, <<"depth 0: certificate has expired">>)),
     ?_assertEqual(<<"Certificate refused (mod_s2s_trust): no_certificate">>,
                   mod_s2s_trust:refusal_text(no_certificate, <<>>)),
     %% a detail quoting a hostile name cannot break the stream error text
     ?_assertEqual(<<"Certificate refused (mod_s2s_trust): name_mismatch: x\\x0ay">>,
                   mod_s2s_trust:refusal_text(name_mismatch, <<"x\ny">>))].

pkix_reason_test_() ->
    [?_assertEqual(self_signed, mod_s2s_trust:pkix_reason('self signed certificate')),
     ?_assertEqual(self_signed, mod_s2s_trust:pkix_reason('self-signed certificate')),
     ?_assertEqual(expired, mod_s2s_trust:pkix_reason('certificate has expired')),
     ?_assertEqual(unknown_issuer,
                   mod_s2s_trust:pkix_reason('unable to get local issuer certificate')),
     ?_assertEqual(bad_purpose, mod_s2s_trust:pkix_reason('unsupported certificate purpose')),
     ?_assertEqual(name_mismatch, mod_s2s_trust:pkix_reason(hostname_mismatch)),
     ?_assertEqual(untrusted, mod_s2s_trust:pkix_reason(something_new))].

%% The recency index keeps the entry of a row written after the snapshot of
%% the keys (a flood writing while an eviction prunes), drops the entry of
%% a row that was gone from a snapshot taken after the entry was made.
stale_recency_test_() ->
    Present = sets:from_list([<<"kept.test">>]),
    [?_assertNot(mod_s2s_trust_mnesia:stale_recency(<<"kept.test">>, 5, Present, 10)),
     ?_assert(mod_s2s_trust_mnesia:stale_recency(<<"gone.test">>, 5, Present, 10)),
     %% touched after the snapshot: its row may be newer than the snapshot
     ?_assertNot(mod_s2s_trust_mnesia:stale_recency(<<"new.test">>, 11, Present, 10))].

merge_test_() ->
    V1 = mod_s2s_trust_violators:merge(undefined, <<"x.test">>, in, expired, refused, #{}, 100),
    V2 = mod_s2s_trust_violators:merge(V1, <<"x.test">>, out, self_signed, audited, #{a => 1}, 200),
    V3 = mod_s2s_trust_violators:merge(V2, <<"x.test">>, in, expired, refused, #{}, 300),
    [?_assertEqual({<<"x.test">>, 100, 100, 1}, {V1#s2s_trust_violation.domain,
                                                  V1#s2s_trust_violation.first_seen,
                                                  V1#s2s_trust_violation.last_seen,
                                                  V1#s2s_trust_violation.count}),
     ?_assertEqual([in, out], V2#s2s_trust_violation.directions),
     ?_assertEqual([self_signed, expired], V2#s2s_trust_violation.reasons),
     ?_assertEqual(#{a => 1}, V2#s2s_trust_violation.last_details),
     ?_assertEqual([expired, self_signed], V3#s2s_trust_violation.reasons),
     ?_assertEqual({100, 300, 3, refused}, {V3#s2s_trust_violation.first_seen,
                                            V3#s2s_trust_violation.last_seen,
                                            V3#s2s_trust_violation.count,
                                            V3#s2s_trust_violation.last_outcome})].

violation(Domain, Reasons, Last) ->
    #s2s_trust_violation{domain = Domain, reasons = Reasons, directions = [in],
                         first_seen = 1764000000, last_seen = Last, count = 3,
                         last_reason = hd(Reasons), last_outcome = refused,
                         last_details = #{subject => <<"CN=x">>}}.

markdown_test_() ->
    Plain = mod_s2s_trust_format:markdown([violation(<<"old.test">>, [expired], 1764000000),
                                           violation(<<"new.test">>, [self_signed, expired],
                                                     1764086400)]),
    Lines = binary:split(Plain, <<"\n">>, [global, trim]),
    [?_assertEqual(3, length(Lines)),
     %% most recent first, the pledge's style
     ?_assertEqual(<<"+ new.test — self_signed/expired, first seen 2025-11-24T16:00:00Z, "
                     "last seen 2025-11-25T16:00:00Z, 3"/utf8>>, lists:nth(2, Lines)),
     ?_assertMatch(<<"+ old.test — expired"/utf8, _/binary>>, lists:nth(3, Lines))].

markdown_hostile_test() ->
    Evil = <<"evil.test\n+ good.example — forged, [link](http://x) *b* `c` <img src=x>", 0, 7>>,
    Out = mod_s2s_trust_format:markdown([violation(Evil, [expired], 1764000000)]),
    Lines = binary:split(Out, <<"\n">>, [global, trim]),
    %% still exactly one list item: the newline did not start a second one
    ?assertEqual(2, length(Lines)),
    Item = lists:nth(2, Lines),
    ?assertEqual(nomatch, binary:match(Item, <<"[link]">>)),
    ?assertNotEqual(nomatch, binary:match(Item, <<"\\<img">>)),
    %% every '<' is escaped, so no HTML tag survives
    ?assertEqual(length(binary:matches(Item, <<"<">>)), length(binary:matches(Item, <<"\\<">>))),
    ?assertEqual(nomatch, binary:match(Item, <<0>>)),
    ?assertNotEqual(nomatch, binary:match(Item, <<"\\[link\\]">>)).

text_escape_test_() ->
    [?_assertEqual(<<"a.test">>, mod_s2s_trust_format:text_escape(<<"a.test">>)),
     ?_assertEqual(<<"a\\x0ab">>, mod_s2s_trust_format:text_escape(<<"a\nb">>)),
     ?_assertEqual(<<"\\x1b[31m">>, mod_s2s_trust_format:text_escape(<<27, "[31m">>)),
     ?_assertEqual(<<"\\x5c">>, mod_s2s_trust_format:text_escape(<<"\\">>)),
     ?_assertEqual(<<"bücher.test"/utf8>>, mod_s2s_trust_format:text_escape(<<"bücher.test"/utf8>>)),
     ?_assertEqual(<<"\\xff\\xfe">>, mod_s2s_trust_format:text_escape(<<255, 254>>)),
     ?_assertEqual(<<"\\xc2\\x85">>, mod_s2s_trust_format:text_escape(<<16#85/utf8>>)),
     %% the plain fast path ends where escaping starts: DEL, and a last byte
     ?_assertEqual(<<"a\\x7f">>, mod_s2s_trust_format:text_escape(<<"a", 127>>)),
     ?_assertEqual(<<"ab\\x00">>, mod_s2s_trust_format:text_escape(<<"ab", 0>>))].

iso8601_test_() ->
    At = fun(DateTime) -> calendar:datetime_to_gregorian_seconds(DateTime) - 62167219200 end,
    F = fun mod_s2s_trust_format:iso8601/1,
    [?_assertEqual(<<"1970-01-01T00:00:00Z">>, F(0)),
     ?_assertEqual(<<"2025-11-24T16:00:00Z">>, F(1764000000)),
     ?_assertEqual(<<"0999-01-02T03:04:05Z">>, F(At({{999, 1, 2}, {3, 4, 5}}))),
     ?_assertEqual(<<"9999-12-31T23:59:59Z">>, F(At({{9999, 12, 31}, {23, 59, 59}}))),
     ?_assertEqual(<<"10000-01-01T00:00:00Z">>, F(At({{10000, 1, 1}, {0, 0, 0}}))),
     ?_assertEqual(<<"-">>, F(undefined))].

json_test_() ->
    J = fun mod_s2s_trust_format:json/1,
    [?_assertEqual(<<"{\"a\":1,\"b\":[true,null,\"x\"]}">>, J(#{b => [true, undefined, x], a => 1})),
     ?_assertEqual(<<"\"q\\\"b\\\\n\\n\\u0000\\u001b\"">>, J(<<"q\"b\\n\n", 0, 27>>)),
     ?_assertEqual(<<"\"\\ufffd\"">>, J(<<255>>)),
     ?_assertEqual(<<"\"\\u2028\"">>, J(<<16#2028/utf8>>)),
     ?_assertEqual(<<"\"bücher\""/utf8>>, J(<<"bücher"/utf8>>)),
     ?_assertEqual(<<"\"a\\u007f\"">>, J(<<"a", 127>>)),
     ?_assertEqual(<<"\"plain.test\"">>, J(<<"plain.test">>))].

json_export_is_one_valid_document_test() ->
    Evil = <<"x\"}, {\"domain\": \"forged", 10>>,
    Out = mod_s2s_trust_format:json_export([violation(Evil, [expired], 1764000000)]),
    %% The injected quote is escaped: the document still holds one object.
    ?assertMatch([_], binary:matches(Out, <<"\"domain\":">>)),
    ?assertEqual(nomatch, binary:match(Out, <<"\n">>)).

log_line_test() ->
    Line = mod_s2s_trust_format:log_line(#{domain => <<"a\nb">>, reason => expired}),
    ?assertEqual(<<"{\"domain\":\"a\\nb\",\"reason\":\"expired\"}\n">>, Line).

violator_row_test() ->
    Row = mod_s2s_trust_format:violator_row(violation(<<"a\tb">>, [expired, revoked], 1764000000)),
    ?assertEqual({<<"a\\x09b">>, <<"expired/revoked">>, <<"in">>, <<"2025-11-24T16:00:00Z">>,
                  <<"2025-11-24T16:00:00Z">>, 3}, Row).

explain_text_test() ->
    T = mod_s2s_trust_format:explain_text(
          #{domain => <<"e.test">>, direction => in, verdict => expired, outcome => refused,
            at => 1764000000,
            details => #{detail => <<"depth 0: certificate has expired">>,
                         subject => <<"CN=e.test\n">>,
                         names => [#{type => dns, value => <<"e.test">>}],
                         chain => [#{subject => <<"CN=e.test">>, issuer => <<"CN=I">>}]}}),
    ?assertNotEqual(nomatch, binary:match(T, <<"verdict:    expired (refused, inbound, 2025-11-24T16:00:00Z)">>)),
    ?assertNotEqual(nomatch, binary:match(T, <<"subject:    CN=e.test\\x0a">>)),
    ?assertNotEqual(nomatch, binary:match(T, <<"name:       dns e.test">>)),
    ?assertNotEqual(nomatch, binary:match(T, <<"chain[0]:   CN=e.test">>)).

throttle_test() ->
    ok = mod_s2s_trust_throttle:start(),
    ok = mod_s2s_trust_throttle:start(), % a second vhost: same table
    K = {<<"flood.test">>, in, expired},
    ?assertEqual({true, 0}, mod_s2s_trust_throttle:allow(K, 1000, 60)),
    %% 500 more attempts inside the interval: none written
    ?assertEqual([false], lists:usort([mod_s2s_trust_throttle:allow(K, 1000 + I div 10, 60)
                                       || I <- lists:seq(1, 500)])),
    %% other keys are independent
    ?assertEqual({true, 0}, mod_s2s_trust_throttle:allow({<<"other.test">>, in, expired}, 1001, 60)),
    %% after the interval: written again, saying how many were held back
    ?assertEqual({true, 500}, mod_s2s_trust_throttle:allow(K, 1060, 60)),
    ?assertEqual(false, mod_s2s_trust_throttle:allow(K, 1061, 60)),
    ok = mod_s2s_trust_throttle:stop(),
    %% without its table the throttle lets everything through (no lost evidence)
    wait_gone(mod_s2s_trust_throttle, 50),
    ?assertEqual({true, 0}, mod_s2s_trust_throttle:allow(K, 1062, 60)).

wait_gone(_Name, 0) -> erlang:error(table_owner_still_alive);
wait_gone(Name, N) ->
    case ets:info(Name) of
        undefined -> ok;
        _ -> receive after 10 -> wait_gone(Name, N - 1) end
    end.
