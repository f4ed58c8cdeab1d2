%%% EUnit: the DANE policy table of mod_s2s_trust_dane:decide/4
%%% (docs/dane.md). The lookup and the match are its arguments, so every
%%% row is a hand-made lookup; the real lookups and matches are tested
%%% against a signed zone in tests/dane/ and through ejabberd.
-module(mod_s2s_trust_dane_tests).

-include_lib("eunit/include/eunit.hrl").

-define(D, mod_s2s_trust_dane).

pkix_ok() -> {ok, #{detail => <<"ok">>}}.
pkix_bad() -> {{error, self_signed}, #{detail => <<"self-signed certificate">>}}.

target(Host, Status, Records) ->
    #{host => Host, port => 5269, status => Status, records => Records}.

secure(Targets) -> #{status => secure, why => undefined, srv => true, targets => Targets}.

ee() -> {3, 1, 1, binary:copy(<<1>>, 32)}.

%% A match function answering per target host.
match(Answers) ->
    fun(Host, 5269, _Records) -> maps:get(Host, Answers) end.

verdict({V, _}) -> V.
detail({_, D}) -> D.

decide_test_() ->
    NoMatch = fun(_, _, _) -> error(must_not_be_called) end,
    One = secure([target(<<"xmpp.a.test">>, secure, [ee()])]),
    [%% bogus refuses under both policies, whatever PKIX said
     ?_assertEqual({error, dnssec_bogus},
                   verdict(?D:decide(opportunistic, #{status => bogus, why => <<"sig">>}, pkix_ok(),
                                     NoMatch))),
     ?_assertEqual({error, dnssec_bogus},
                   verdict(?D:decide(require, #{status => bogus, why => <<"sig">>}, pkix_ok(),
                                     NoMatch))),
     %% insecure: PKIX decides, or require refuses
     ?_assertEqual(ok, verdict(?D:decide(opportunistic, #{status => insecure}, pkix_ok(), NoMatch))),
     ?_assertEqual(pkix, maps:get(authority,
                                  detail(?D:decide(opportunistic, #{status => insecure}, pkix_ok(),
                                                   NoMatch)))),
     ?_assertEqual({error, self_signed},
                   verdict(?D:decide(opportunistic, #{status => insecure}, pkix_bad(), NoMatch))),
     ?_assertEqual({error, dane_required},
                   verdict(?D:decide(require, #{status => insecure}, pkix_ok(), NoMatch))),
     %% no answer: PKIX under opportunistic, refused under require
     ?_assertEqual(ok, verdict(?D:decide(opportunistic, {error, timeout}, pkix_ok(), NoMatch))),
     ?_assertEqual({error, dane_unavailable},
                   verdict(?D:decide(require, {error, timeout}, pkix_ok(), NoMatch))),
     ?_assertEqual({error, dane_unavailable},
                   verdict(?D:decide(require, #{status => error, why => <<"SERVFAIL">>}, pkix_ok(),
                                     NoMatch))),
     %% secure, no records
     ?_assertEqual(ok, verdict(?D:decide(opportunistic, secure([target(<<"x">>, secure, [])]),
                                         pkix_ok(), NoMatch))),
     ?_assertEqual({error, dane_required},
                   verdict(?D:decide(require, secure([target(<<"x">>, secure, [])]), pkix_ok(),
                                     NoMatch))),
     %% a DANE-EE match accepts a chain PKIX refused (self-signed)
     ?_test(begin
                {V, D} = ?D:decide(opportunistic, One, pkix_bad(),
                                   match(#{<<"xmpp.a.test">> => {dane_ee, ok, #{}}})),
                ?assertEqual(ok, V),
                ?assertEqual(dane_ee, maps:get(authority, D)),
                ?assertEqual(<<"xmpp.a.test">>, maps:get(dane_target, D))
            end),
     ?_assertEqual(ok, verdict(?D:decide(require, One, pkix_bad(),
                                         match(#{<<"xmpp.a.test">> => {dane_ta, ok, #{}}})))),
     %% a DANE-TA match through the chain the peer's server sent says so
     ?_test(begin
                {ok, D} = ?D:decide(opportunistic, One, pkix_bad(),
                                    match(#{<<"xmpp.a.test">> =>
                                                {dane_ta, ok, #{chain_from => peer_server}}})),
                ?assertEqual(dane_ta, maps:get(authority, D)),
                ?assertMatch({_, _}, binary:match(maps:get(detail, D),
                                                  <<"its anchor in the chain the peer's server sends">>))
            end),
     ?_test(begin
                {ok, D} = ?D:decide(opportunistic, One, pkix_bad(),
                                    match(#{<<"xmpp.a.test">> => {dane_ta, ok, #{}}})),
                ?assertEqual(nomatch, binary:match(maps:get(detail, D), <<"peer's server">>))
            end),
     %% published records are enforced: a PKIX-valid chain matching none is refused
     ?_assertEqual({error, dane_mismatch},
                   verdict(?D:decide(opportunistic, One, pkix_ok(),
                                     match(#{<<"xmpp.a.test">> =>
                                                 {dane_mismatch, untrusted, #{}}})))),
     %% a record matched but the chain failed (a DANE-TA leaf for another name)
     ?_assertEqual({error, name_mismatch},
                   verdict(?D:decide(opportunistic, One, pkix_ok(),
                                     match(#{<<"xmpp.a.test">> =>
                                                 {failed, name_mismatch, #{}}})))),
     %% one target's set matching is enough
     ?_assertEqual(ok, verdict(?D:decide(opportunistic,
                                         secure([target(<<"s1">>, secure, [ee()]),
                                                 target(<<"s2">>, secure, [ee()])]),
                                         pkix_bad(),
                                         match(#{<<"s1">> => {dane_mismatch, untrusted, #{}},
                                                 <<"s2">> => {dane_ee, ok, #{}}})))),
     %% records only under an insecure target do not count
     ?_assertEqual(ok, verdict(?D:decide(opportunistic,
                                         secure([target(<<"s1">>, insecure, [ee()])]),
                                         pkix_ok(), NoMatch))),
     %% no usable record: PKIX decides, or require refuses
     ?_assertEqual({error, self_signed},
                   verdict(?D:decide(opportunistic, One, pkix_bad(),
                                     match(#{<<"xmpp.a.test">> => {unusable, self_signed, #{}}})))),
     ?_assertEqual({error, dane_required},
                   verdict(?D:decide(require, One, pkix_ok(),
                                     match(#{<<"xmpp.a.test">> => {unusable, ok, #{}}})))),
     %% a why from DNS is data: escaped in the detail
     ?_test(begin
                {_, D} = ?D:decide(require, #{status => bogus, why => <<"x\ny">>}, pkix_ok(),
                                   NoMatch),
                ?assertEqual(nomatch, binary:match(maps:get(detail, D), <<"\n">>))
            end)].

%% A DANE-TA anchor in a chain we could not get is dane_unavailable, never
%% dane_mismatch (the fault may be ours), and still a refusal.
unavailable_test_() ->
    One = secure([target(<<"xmpp.a.test">>, secure, [ee()])]),
    Two = secure([target(<<"xmpp.a.test">>, secure, [ee()]), target(<<"xmpp.b.test">>, secure, [ee()])]),
    U = {ta_chain_unavailable, <<"busy: 2 chain probes already running">>, #{}},
    [?_test(begin
                {V, D} = ?D:decide(opportunistic, One, pkix_ok(), match(#{<<"xmpp.a.test">> => U})),
                ?assertEqual({error, dane_unavailable}, V),
                ?assertMatch({_, _}, binary:match(maps:get(detail, D), <<"could not be obtained">>)),
                ?assertMatch({_, _}, binary:match(maps:get(detail, D), <<"busy: 2 chain probes">>))
            end),
     %% one target unavailable, another mismatched: not called a mismatch
     ?_assertEqual({error, dane_unavailable},
                   verdict(?D:decide(opportunistic, Two, pkix_ok(),
                                     match(#{<<"xmpp.a.test">> => {dane_mismatch, untrusted, #{}},
                                             <<"xmpp.b.test">> => U})))),
     %% one target accepted: accepted
     ?_assertEqual(ok, verdict(?D:decide(opportunistic, Two, pkix_bad(),
                                         match(#{<<"xmpp.a.test">> => {dane_ee, ok, #{}},
                                                 <<"xmpp.b.test">> => U}))))].

%% mod_s2s_trust_dane_chain:complete/5, with a recording prober.
complete_test_() ->
    C = fun mod_s2s_trust_dane_chain:complete/5,
    Ta = {2, 0, 1, binary:copy(<<7>>, 32)},
    Mis = {dane_mismatch, untrusted, #{}},
    NoProbe = fun() -> error(must_not_probe) end,
    NoVerify = fun(_) -> error(must_not_verify) end,
    Sent = fun(Chain) -> fun() -> {ok, Chain} end end,
    [%% no DANE-TA record: no probe
     ?_assertEqual(Mis, C(Mis, [<<"leaf">>], [ee()], NoProbe, NoVerify)),
     %% a chain of more than the leaf was judged whole: no probe
     ?_assertEqual(Mis, C(Mis, [<<"leaf">>, <<"ca">>], [Ta], NoProbe, NoVerify)),
     %% anything but a mismatch: no probe
     ?_assertEqual({dane_ee, ok, #{}}, C({dane_ee, ok, #{}}, [<<"leaf">>], [Ta], NoProbe, NoVerify)),
     ?_assertEqual({unusable, self_signed, #{}}, C({unusable, self_signed, #{}}, [<<"leaf">>], [Ta], NoProbe, NoVerify)),
     %% the server sends our leaf and its CA, which the record names
     ?_assertEqual({dane_ta, ok, #{chain_from => peer_server}},
                   C(Mis, [<<"leaf">>], [Ta], Sent([<<"leaf">>, <<"ca">>]),
                     fun([<<"leaf">>, <<"ca">>]) -> {dane_ta, ok, #{}} end)),
     %% its chain leads to another CA: still a mismatch, said by the match
     ?_assertEqual(Mis, C(Mis, [<<"leaf">>], [Ta], Sent([<<"leaf">>, <<"other ca">>]), fun(_) -> Mis end)),
     %% the anchor matched, the chain failed (a name): that failure
     ?_assertEqual({failed, name_mismatch, #{}},
                   C(Mis, [<<"leaf">>], [Ta], Sent([<<"leaf">>, <<"ca">>]), fun(_) -> {failed, name_mismatch, #{}} end)),
     %% a chain that passes only as PKIX is PKIX's answer, not DANE-TA's
     ?_assertEqual({pkix, ok, #{}}, C(Mis, [<<"leaf">>], [Ta], Sent([<<"leaf">>, <<"ca">>]), fun(_) -> {pkix, ok, #{}} end)),
     %% its server sends the leaf alone: a real mismatch, nothing verified
     ?_assertEqual(Mis, C(Mis, [<<"leaf">>], [Ta], Sent([<<"leaf">>]), NoVerify)),
     %% another leaf: unavailable, and its chain never verified
     ?_assertMatch({ta_chain_unavailable, <<"its server presents another certificate">>, _},
                   C(Mis, [<<"leaf">>], [Ta], Sent([<<"another">>, <<"ca">>]), NoVerify)),
     %% busy, or no answer: unavailable with the reason
     ?_assertEqual({ta_chain_unavailable, <<"busy">>, #{}},
                   C(Mis, [<<"leaf">>], [Ta], fun() -> {error, <<"busy">>} end, NoVerify))].
