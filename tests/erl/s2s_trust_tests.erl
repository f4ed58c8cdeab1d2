%%% s2s_trust_tests - EUnit tests of the public API and the NIF glue.
%%%
%%% Run by `make test-erl`, which points S2S_TRUST_PKI at the PKI that
%%% tests/pki/gen.sh generated (tests/pki/README.md is the contract: file
%%% names and expected verdicts). Without it every test fails rather than
%%% being skipped: a green run must mean the verdicts were checked.
%%%
%%% What is tested, and why:
%%%  - every verdict of the PKI table through the API, with the leaf alone
%%%    (intermediates from the store's pool, what ejabberd gives us) and
%%%    with the chain a server sends;
%%%  - batches keep their order across NIF chunks;
%%%  - explain/3 details an operator acts on;
%%%  - configuration errors name file and line;
%%%  - the error rule: wrong Erlang types raise badarg naming the argument,
%%%    while any bytes a peer sends give a verdict and never raise;
%%%  - stores swapped under concurrent verifiers, and stores kept across a
%%%    reload of the NIF library.
%%% No test sleeps to synchronise: processes are monitored and awaited
%%% with timeouts.
-module(s2s_trust_tests).

-include_lib("eunit/include/eunit.hrl").

-define(PT_KEY, {?MODULE, current_store}).

%% X509_V_ERR_CERT_HAS_EXPIRED in OpenSSL's x509_vfy.h.
-define(X509_V_ERR_CERT_HAS_EXPIRED, 10).

%%% ---- fixture -----------------------------------------------------------

s2s_trust_test_() ->
    {setup, fun setup/0, fun cleanup/1,
     fun(Ctx) ->
             [{"verdicts, leaf alone with the pool", verdict_tests(Ctx, leaf)},
              {"verdicts, chain as sent", verdict_tests(Ctx, chain)},
              {"every verdict is covered", ?_test(every_verdict_is_covered())},
              {"pool is needed for leaf alone", ?_test(pool_is_needed_for_leaf_alone(Ctx))},
              {"verification time is applied", ?_test(verification_time_is_applied(Ctx))},
              {"reasons are the verdicts", ?_test(reasons_are_the_verdicts())},
              {"format reason texts", ?_test(format_reason_texts(Ctx))},
              {timeout, 60, {"batch order across chunks", ?_test(batch_order_across_chunks(Ctx))}},
              {"batch edge cases", ?_test(batch_edge_cases(Ctx))},
              {"explain expired", ?_test(explain_expired(Ctx))},
              {"explain good", ?_test(explain_good(Ctx))},
              {"explain identity types", ?_test(explain_identity_types(Ctx))},
              {"explain garbage", ?_test(explain_garbage(Ctx))},
              {"info counts and policy", ?_test(info_counts_and_policy(Ctx))},
              {"info custom policy", ?_test(info_custom_policy(Ctx))},
              {"info verdict cache", ?_test(info_verdict_cache(Ctx))},
              {"open default", ?_test(open_default(Ctx))},
              {"open errors", ?_test(open_errors(Ctx))},
              {"open accepts filename forms", ?_test(open_accepts_filename_forms(Ctx))},
              {"badarg open", ?_test(badarg_open())},
              {"badarg verify", ?_test(badarg_verify(Ctx))},
              {"badarg verify batch", ?_test(badarg_verify_batch(Ctx))},
              {"badarg explain", ?_test(badarg_explain(Ctx))},
              {"badarg info", ?_test(badarg_info())},
              {"badarg nif direct", ?_test(badarg_nif_direct(Ctx))},
              {timeout, 60, {"garbage bytes", ?_test(garbage_bytes(Ctx))}},
              {"garbage domains", ?_test(garbage_domains(Ctx))},
              {timeout, 120, {"concurrent verify while reloading", ?_test(concurrent_verify_while_reloading(Ctx))}},
              {timeout, 60, {"store survives nif reload", ?_test(store_survives_nif_reload(Ctx))}}]
     end}.

setup() ->
    Pki = case os:getenv("S2S_TRUST_PKI") of
              false -> error({missing_env, "S2S_TRUST_PKI (run make test-erl)"});
              P -> P
          end,
    true = filelib:is_regular(filename:join(Pki, "root.pem")),
    Tmp = filename:join(tmp_root(), "s2s_trust_tests." ++ os:getpid() ++ "."
                        ++ integer_to_list(erlang:unique_integer([positive]))),
    ok = file:make_dir(Tmp),
    Base = base_lines(Pki),
    Crls = [crl_line(Pki)],
    Variants =
        #{base => Base,
          eku => Base ++ ["require_server_auth_eku = true;"],
          cn => Base ++ ["insecure_allow_cn_id = true;"],
          crl => Base ++ Crls,
          crlreq => Base ++ ["crl_check = \"require\";"],
          crlreq_ok => Base ++ Crls ++ ["crl_check = \"require\";"],
          lowsec => Base ++ ["security_level = 1;"],
          deep_ok => Base ++ ["max_depth = 10;"],
          nopool => [ca_line(Pki)]},
    Cfgs = maps:map(fun(Name, Lines) -> write_cfg(Tmp, atom_to_list(Name), Lines) end,
                    Variants),
    Stores = maps:map(fun(_, Cfg) -> {ok, S} = s2s_trust:open(Cfg), S end, Cfgs),
    #{pki => Pki, tmp => Tmp, cfgs => Cfgs, stores => Stores}.

cleanup(#{tmp := Tmp}) ->
    _ = persistent_term:erase(?PT_KEY),
    {ok, Files} = file:list_dir(Tmp),
    [ok = file:delete(filename:join(Tmp, F)) || F <- Files],
    ok = file:del_dir(Tmp).

tmp_root() ->
    case os:getenv("TMPDIR") of
        false -> "/tmp";
        "" -> "/tmp";
        T -> T
    end.

ca_line(Pki) -> "ca_file = \"" ++ filename:join(Pki, "root.pem") ++ "\";".
pool_line(Pki) -> "intermediate_file = [\"" ++ filename:join(Pki, "pool.pem") ++ "\"];".
crl_line(Pki) ->
    "crl_file = [\"" ++ filename:join(Pki, "root.crl.pem") ++ "\", \""
        ++ filename:join(Pki, "inter.crl.pem") ++ "\"];".

base_lines(Pki) -> [ca_line(Pki), pool_line(Pki)].

write_cfg(Tmp, Name, Lines) ->
    Path = filename:join(Tmp, Name ++ ".cfg"),
    ok = file:write_file(Path, [[L, $\n] || L <- Lines]),
    Path.

store(#{stores := Stores}, Name) -> maps:get(Name, Stores).

leaf(#{pki := Pki}, Name) ->
    {ok, Der} = file:read_file(filename:join(Pki, Name ++ ".der")),
    [Der].

chain(#{pki := Pki}, Name) ->
    {ok, Pem} = file:read_file(filename:join(Pki, Name ++ ".chain.pem")),
    Ders = [Der || {'Certificate', Der, not_encrypted} <- public_key:pem_decode(Pem)],
    ?assertNotEqual([], Ders),
    Ders.

certs(Ctx, leaf, Name) -> leaf(Ctx, Name);
certs(Ctx, chain, Name) -> chain(Ctx, Name).

%%% ---- the verdict table (tests/pki/README.md) ---------------------------

%% {Store, Leaf, Domain, Expected, Modes}: Modes says whether the row holds
%% for the leaf alone, the chain file, or both.
verdict_table() ->
    [{base, "good", "good.test", ok, both},
     {base, "good", "www.good.test", ok, both},
     {base, "good", "GOOD.Test.", ok, both},       % case and trailing dot
     {base, "good", "bad.test", name_mismatch, both},
     {base, "good-rsa", "good-rsa.test", ok, both},
     {base, "serverauth", "serverauth.test", ok, both},
     {base, "clientauth", "clientauth.test", bad_purpose, both},
     {base, "noeku", "noeku.test", ok, both},
     {eku, "noeku", "noeku.test", bad_purpose, both},
     {eku, "serverauth", "serverauth.test", ok, both},
     {eku, "good", "good.test", ok, both},
     {base, "expired", "expired.test", expired, both},
     {base, "notyet", "notyet.test", not_yet_valid, both},
     {base, "selfsigned", "selfsigned.test", self_signed, both},
     %% the untrusted root sent along does not make it self_signed:
     %% that verdict is for the peer's own certificate
     {base, "unknownroot", "unknownroot.test", unknown_issuer, both},
     {base, "wrongname", "wrongname.test", name_mismatch, both},
     {base, "wrongname", "other.test", ok, both},
     {base, "wildcard", "a.wild.test", ok, both},
     {base, "wildcard", "a.b.wild.test", name_mismatch, both},
     {base, "wildcard", "wild.test", name_mismatch, both},
     {base, "partialwild", "foo.pwild.test", name_mismatch, both},
     {base, "xmppaddr", "xmpp.test", ok, both},
     {base, "xmppjid", "jid.test", name_mismatch, both},
     {base, "srvid", "srv.test", ok, both},
     {base, "srvclient", "srvc.test", name_mismatch, both},
     {base, "cnonly", "cnonly.test", name_mismatch, both},
     {cn, "cnonly", "cnonly.test", ok, both},
     {base, "cnsan", "cnsan-cn.test", name_mismatch, both},
     {cn, "cnsan", "cnsan-cn.test", name_mismatch, both},
     {base, "cnsan", "cnsan.test", ok, both},
     {base, "idn", "bücher.test", ok, both},
     {base, "idn", <<"bücher.test"/utf8>>, ok, both},
     {base, "idn", "xn--bcher-kva.test", ok, both},
     {base, "idn", "bücher-x.test", ok, both},
     {base, "idn", "xn--bcher-x-n2a.test", ok, both},
     {base, "nonca", "nonca.test", invalid_ca, chain},
     {base, "nonca", "nonca.test", unknown_issuer, leaf},
     {base, "ncok", "ok.allowed.test", ok, both},
     {base, "ncbad", "evil.test", name_constraints, both},
     {base, "revoked", "revoked.test", ok, both},  % if_available, no CRL loaded
     {crl, "revoked", "revoked.test", revoked, both},
     {crl, "good", "good.test", ok, both},
     {crlreq, "good", "good.test", crl_unavailable, both},
     {crlreq_ok, "good", "good.test", ok, both},
     {base, "nulsan", "nul.test", name_mismatch, both},
     {base, "nulsan", "evil.test", name_mismatch, both},
     {base, "nulsan", "nul.test.evil.test", name_mismatch, both},
     {base, "rsa1024", "rsa1024.test", weak_crypto, both},
     {lowsec, "rsa1024", "rsa1024.test", ok, both},
     {base, "sha1", "sha1.test", weak_crypto, both},
     {base, "badsig", "badsig.test", bad_signature, both},
     {base, "deep", "deep.test", too_long, chain},
     {deep_ok, "deep", "deep.test", ok, chain},
     {base, "deep", "deep.test", unknown_issuer, leaf}].

rows(Mode) ->
    [{Store, Leaf, Domain, Expected}
     || {Store, Leaf, Domain, Expected, Modes} <- verdict_table(),
        Modes =:= both orelse Modes =:= Mode].

expect(ok) -> ok;
expect(Verdict) -> {error, Verdict}.

verdict_tests(Ctx, Mode) ->
    [{lists:flatten(io_lib:format("~s ~ts/~ts -> ~p", [Store, Leaf, Domain, Expected])),
      fun() ->
              S = store(Ctx, Store),
              Certs = certs(Ctx, Mode, Leaf),
              ?assertEqual(expect(Expected), s2s_trust:verify(S, Domain, Certs)),
              %% explain must agree with verify, in both places it says so
              {R, #{reason := Reason}} = s2s_trust:explain(S, Domain, Certs),
              ?assertEqual(expect(Expected), R),
              ?assertEqual(Expected, Reason)
      end}
     || {Store, Leaf, Domain, Expected} <- rows(Mode)].

%% untrusted is the catch-all for OpenSSL codes outside the table; the test
%% PKI has no certificate that provokes one.
every_verdict_is_covered() ->
    Produced = lists:usort([E || {_, _, _, E, _} <- verdict_table()]
                           ++ [no_certificate, malformed, too_long]), % garbage_bytes/1
    All = [V || {V, _} <- s2s_trust:reasons()],
    ?assertEqual([], All -- [untrusted | Produced]).

pool_is_needed_for_leaf_alone(Ctx) ->
    S = store(Ctx, nopool),
    ?assertEqual({error, unknown_issuer}, s2s_trust:verify(S, "good.test", leaf(Ctx, "good"))),
    ?assertEqual(ok, s2s_trust:verify(S, "good.test", chain(Ctx, "good"))).

verification_time_is_applied(#{tmp := Tmp, pki := Pki} = Ctx) ->
    Open = fun(Name, T) ->
                   Cfg = write_cfg(Tmp, Name, base_lines(Pki) ++
                                       ["verification_time = " ++ integer_to_list(T) ++ "L;"]),
                   {ok, S} = s2s_trust:open(Cfg),
                   S
           end,
    %% 2020-06-01: inside the expired leaf's validity, before the CAs'.
    S2020 = Open("t2020", 1590969600),
    ?assertMatch(#{policy := #{verification_time := 1590969600}}, s2s_trust:info(S2020)),
    ?assertEqual({error, not_yet_valid}, s2s_trust:verify(S2020, "good.test", leaf(Ctx, "good"))),
    %% 2100-01-01: everything has expired.
    S2100 = Open("t2100", 4102444800),
    ?assertEqual({error, expired}, s2s_trust:verify(S2100, "good.test", leaf(Ctx, "good"))).

reasons_are_the_verdicts() ->
    %% The order and names of s2s_trust_verdict.h: a public contract.
    Expected = [ok, no_certificate, malformed, too_long, self_signed, unknown_issuer,
                expired, not_yet_valid, revoked, crl_unavailable, bad_signature,
                invalid_ca, bad_purpose, name_mismatch, name_constraints, weak_crypto,
                untrusted],
    Reasons = s2s_trust:reasons(),
    ?assertEqual(Expected, [A || {A, _} <- Reasons]),
    [?assert(is_binary(T) andalso byte_size(T) > 0) || {_, T} <- Reasons].

format_reason_texts(#{tmp := Tmp}) ->
    ?assertEqual(<<"/etc/x.cfg:3: bad thing">>,
                 s2s_trust:format_reason({config, <<"/etc/x.cfg">>, 3, <<"bad thing">>})),
    ?assertEqual(<<"/etc/x.cfg: cannot read">>,
                 s2s_trust:format_reason({config, <<"/etc/x.cfg">>, 0, <<"cannot read">>})),
    {_, ExpiredText} = lists:keyfind(expired, 1, s2s_trust:reasons()),
    ?assertEqual(ExpiredText, s2s_trust:format_reason(expired)),
    %% A real open error formats to "File:Line: Text".
    Cfg = write_cfg(Tmp, "fmt", ["", "no_such_key = 1;"]),
    {error, {config, File, 2, Text} = Reason} = s2s_trust:open(Cfg),
    ?assertEqual(<<File/binary, ":2: ", Text/binary>>, s2s_trust:format_reason(Reason)).

%%% ---- batches -----------------------------------------------------------

batch_order_across_chunks(Ctx) ->
    S = store(Ctx, base),
    Table = [{Domain, certs(Ctx, Mode, Leaf), expect(E)}
             || Mode <- [leaf, chain], {base, Leaf, Domain, E} <- rows(Mode)],
    Garbage = [{"good.test", [], {error, no_certificate}},
               {"good.test", [<<"junk">>], {error, malformed}},
               {<<"good.test">>, [binary:copy(<<0>>, 1 bsl 20)], {error, too_long}}],
    %% Interleave so that neighbouring results differ and a shift shows.
    Items = interleave(Table, Garbage),
    ?assert(length(Items) >= 40),
    ?assert(length(Items) > 2 * 16),
    Expected = [E || {_, _, E} <- Items],
    Got = s2s_trust:verify_batch(S, [{D, C} || {D, C, _} <- Items]),
    ?assertEqual(length(Expected), length(Got)),
    Mismatches = [{I, D, E, G} || {I, {D, _, E}, G} <- lists:zip3(lists:seq(1, length(Items)),
                                                                  Items, Got),
                                 E =/= G],
    ?assertEqual([], Mismatches),
    %% And the same as one call each.
    ?assertEqual(Got, [s2s_trust:verify(S, D, C) || {D, C, _} <- Items]).

interleave(Table, Garbage) ->
    {Out, _} = lists:mapfoldl(fun(Row, I) ->
                                      G = lists:nth(I rem length(Garbage) + 1, Garbage),
                                      {[Row, G], I + 1}
                              end, 0, Table),
    lists:append(Out).

batch_edge_cases(Ctx) ->
    S = store(Ctx, base),
    G = leaf(Ctx, "good"),
    ?assertEqual([], s2s_trust:verify_batch(S, [])),
    %% exactly one chunk, one more than a chunk
    ?assertEqual(lists:duplicate(16, ok), s2s_trust:verify_batch(S, lists:duplicate(16, {"good.test", G}))),
    ?assertEqual(lists:duplicate(17, ok) ++ [{error, name_mismatch}],
                 s2s_trust:verify_batch(S, lists:duplicate(17, {"good.test", G})
                                        ++ [{"x.test", G}])).

%%% ---- explain -----------------------------------------------------------

explain_expired(Ctx) ->
    S = store(Ctx, base),
    {R, D} = s2s_trust:explain(S, "expired.test", leaf(Ctx, "expired")),
    ?assertEqual({error, expired}, R),
    ?assertMatch(#{reason := expired, domain := <<"expired.test">>, depth := 0,
                   openssl_code := ?X509_V_ERR_CERT_HAS_EXPIRED,
                   not_before := <<"2020-01-01", _/binary>>,
                   not_after := <<"2021-01-01", _/binary>>,
                   presented := 1}, D),
    #{openssl_text := OText, subject := Subject, issuer := Issuer,
      error_subject := ErrSubject, detail := Detail, names := Names, chain := Chain} = D,
    ?assert(is_binary(OText) andalso byte_size(OText) > 0),
    ?assert(is_binary(Detail) andalso byte_size(Detail) > 0),
    ?assertNotEqual(nomatch, binary:match(Subject, <<"expired.test">>)),
    ?assertNotEqual(nomatch, binary:match(Issuer, <<"s2s-trust Test Intermediate">>)),
    ?assertEqual(Subject, ErrSubject),
    ?assert(lists:member(#{type => dns, value => <<"expired.test">>}, Names)),
    ?assertMatch([#{subject := Subject, issuer := Issuer} | _], Chain).

explain_good(Ctx) ->
    S = store(Ctx, base),
    {R, D} = s2s_trust:explain(S, <<"www.good.test">>, leaf(Ctx, "good")),
    ?assertEqual(ok, R),
    ?assertMatch(#{reason := ok, domain := <<"www.good.test">>, depth := undefined,
                   openssl_code := 0, matched_by := dns, presented := 1,
                   error_subject := undefined}, D),
    #{names := Names, chain := Chain, not_before := NB, not_after := NA} = D,
    ?assert(lists:member(#{type => dns, value => <<"good.test">>}, Names)),
    ?assert(lists:member(#{type => dns, value => <<"www.good.test">>}, Names)),
    %% leaf, intermediate (from the pool), root
    ?assertEqual(3, length(Chain)),
    [#{issuer := I1}, #{subject := S2, issuer := I2}, #{subject := S3}] = Chain,
    ?assertEqual(I1, S2),
    ?assertEqual(I2, S3),
    ?assertNotEqual(nomatch, binary:match(S3, <<"s2s-trust Test Root">>)),
    [?assertMatch(<<_:4/binary, "-", _:2/binary, "-", _:2/binary, "T", _/binary>>, T)
     || T <- [NB, NA]],
    %% the chain as sent: presented counts what the peer gave
    {ok, D2} = s2s_trust:explain(S, "good.test", chain(Ctx, "good")),
    ?assertEqual(length(chain(Ctx, "good")), maps:get(presented, D2)),
    %% its intermediate is the pool's own: recognised, not parsed again
    ?assertEqual(2, length(chain(Ctx, "good"))),
    ?assertEqual(1, maps:get(known, D2)),
    ?assertEqual(0, maps:get(known, D)).

explain_identity_types(Ctx) ->
    S = store(Ctx, base),
    {ok, X} = s2s_trust:explain(S, "xmpp.test", leaf(Ctx, "xmppaddr")),
    ?assertMatch(#{matched_by := xmpp}, X),
    ?assert(lists:member(#{type => xmpp, value => <<"xmpp.test">>}, maps:get(names, X))),
    {ok, V} = s2s_trust:explain(S, "srv.test", leaf(Ctx, "srvid")),
    ?assertMatch(#{matched_by := srv}, V),
    ?assert(lists:member(#{type => srv, value => <<"_xmpp-server.srv.test">>},
                         maps:get(names, V))),
    {ok, I} = s2s_trust:explain(S, "bücher.test", leaf(Ctx, "idn")),
    ?assertMatch(#{domain := <<"xn--bcher-kva.test">>, matched_by := dns}, I),
    {ok, C} = s2s_trust:explain(store(Ctx, cn), "cnonly.test", leaf(Ctx, "cnonly")),
    ?assertMatch(#{matched_by := cn}, C),
    {{error, name_mismatch}, N} = s2s_trust:explain(S, "nul.test", leaf(Ctx, "nulsan")),
    ?assertMatch(#{matched_by := none}, N),
    %% the raw value, embedded NUL included
    ?assert(lists:member(#{type => dns, value => <<"nul.test", 0, ".evil.test">>},
                         maps:get(names, N))).

explain_garbage(Ctx) ->
    S = store(Ctx, base),
    ?assertMatch({{error, no_certificate}, #{reason := no_certificate, presented := 0,
                                             chain := [], names := []}},
                 s2s_trust:explain(S, "good.test", [])),
    ?assertMatch({{error, malformed}, #{reason := malformed, presented := 1}},
                 s2s_trust:explain(S, "good.test", [<<"junk">>])),
    %% far more than the core is handed: presented is still the real count
    Many = lists:duplicate(100000, hd(leaf(Ctx, "good"))),
    ?assertMatch({{error, too_long}, #{reason := too_long, presented := 100000}},
                 s2s_trust:explain(S, "good.test", Many)).

%%% ---- info and open -----------------------------------------------------

info_counts_and_policy(#{pki := Pki, cfgs := Cfgs} = Ctx) ->
    Before = os:system_time(second),
    I = s2s_trust:info(store(Ctx, base)),
    ?assertMatch(#{anchors := 1, intermediates := 2, crls := 0}, I),
    ?assertEqual(list_to_binary(maps:get(base, Cfgs)), maps:get(config, I)),
    ?assertEqual([list_to_binary(filename:join(Pki, F)) || F <- ["root.pem", "pool.pem"]],
                 maps:get(sources, I)),
    ?assertEqual(#{crl_check => if_available, max_depth => 6, max_chain_certs => 10,
                   max_cert_bytes => 32768, security_level => 2,
                   require_server_auth_eku => false, insecure_allow_cn_id => false,
                   verification_time => undefined},
                 maps:get(policy, I)),
    #{built_at := BuiltAt, generation := Gen} = I,
    ?assert(is_integer(BuiltAt) andalso BuiltAt =< Before andalso BuiltAt > Before - 3600),
    ?assertMatch(#{crls := 2}, s2s_trust:info(store(Ctx, crl))),
    ?assertMatch(#{anchors := 1, intermediates := 0}, s2s_trust:info(store(Ctx, nopool))),
    %% every build gets a new, larger generation
    {ok, S2} = s2s_trust:open(maps:get(base, Cfgs)),
    #{generation := Gen2} = s2s_trust:info(S2),
    ?assert(Gen2 > Gen).

%% What the cache holds and did, as an operator (and bench/domains.sh) reads it.
info_verdict_cache(#{tmp := Tmp, pki := Pki} = Ctx) ->
    {ok, S} = s2s_trust:open(write_cfg(Tmp, "cache", base_lines(Pki) ++ ["verdict_cache_size = 13;"])),
    %% two slots per verdict, 26 rounded up to whole 8-way sets; nothing
    %% allocated before first use
    ?assertMatch(#{verdict_cache := #{capacity := 32, entries := 0, bytes := 0, ttl := 600,
                                      hits := 0, misses := 0}}, s2s_trust:info(S)),
    Leaf = leaf(Ctx, "good"),
    ?assertEqual(ok, s2s_trust:verify(S, "good.test", Leaf)),
    ?assertEqual(ok, s2s_trust:verify(S, "good.test", Leaf)),
    ?assertEqual([ok, {error, name_mismatch}], s2s_trust:verify_batch(S, [{<<"good.test">>, Leaf},
                                                                         {<<"other.test">>, Leaf}])),
    #{verdict_cache := C} = s2s_trust:info(S),
    ?assertMatch(#{entries := 2, hits := 2, misses := 2, inserts := 2, evictions := 0}, C),
    ?assert(maps:get(bytes, C) >= 32 * 64),
    %% explain/3 never uses the cache
    _ = s2s_trust:explain(S, "good.test", Leaf),
    ?assertEqual(C, maps:get(verdict_cache, s2s_trust:info(S))),
    {ok, Off} = s2s_trust:open(write_cfg(Tmp, "nocache", base_lines(Pki) ++ ["verdict_cache_size = 0;"])),
    ?assertEqual(ok, s2s_trust:verify(Off, "good.test", Leaf)),
    ?assertMatch(#{verdict_cache := #{capacity := 0, entries := 0, hits := 0, misses := 0}},
                 s2s_trust:info(Off)).

info_custom_policy(#{tmp := Tmp, pki := Pki}) ->
    Cfg = write_cfg(Tmp, "policy",
                    base_lines(Pki) ++
                        ["crl_check = \"none\";", "max_depth = 3;", "max_chain_certs = 5;",
                         "max_cert_bytes = 4096;", "security_level = 1;",
                         "require_server_auth_eku = true;", "insecure_allow_cn_id = true;",
                         "verification_time = 1700000000;"]),
    {ok, S} = s2s_trust:open(Cfg),
    ?assertEqual(#{crl_check => none, max_depth => 3, max_chain_certs => 5,
                   max_cert_bytes => 4096, security_level => 1,
                   require_server_auth_eku => true, insecure_allow_cn_id => true,
                   verification_time => 1700000000},
                 maps:get(policy, s2s_trust:info(S))).

%% The built-in defaults are the system roots; Debian's bundle is
%% /etc/ssl/certs/ca-certificates.crt (package ca-certificates).
open_default(Ctx) ->
    case filelib:is_regular("/etc/ssl/certs/ca-certificates.crt") of
        true ->
            {ok, S} = s2s_trust:open(default),
            I = s2s_trust:info(S),
            ?assertMatch(#{config := <<>>, policy := #{max_depth := 6}}, I),
            ?assert(maps:get(anchors, I) > 10),
            %% our test root is not a public CA
            ?assertEqual({error, unknown_issuer},
                         s2s_trust:verify(S, "good.test", leaf(Ctx, "good")));
        false ->
            ?assertMatch({error, {config, _, _, _}}, s2s_trust:open(default))
    end.

open_errors(#{tmp := Tmp, pki := Pki}) ->
    Missing = filename:join(Tmp, "no-such.cfg"),
    {error, {config, MFile, 0, MText}} = s2s_trust:open(Missing),
    ?assertEqual(list_to_binary(Missing), MFile),
    ?assert(is_binary(MText) andalso byte_size(MText) > 0),

    Syntax = write_cfg(Tmp, "syntax", [ca_line(Pki), "", "max_depth = = 3;", "security_level = 2;"]),
    ?assertMatch({error, {config, _, 3, _}}, s2s_trust:open(Syntax)),

    Unknown = write_cfg(Tmp, "unknown", [ca_line(Pki), "verify_depht = 3;"]),
    {error, {config, UFile, 2, UText}} = s2s_trust:open(Unknown),
    ?assertEqual(list_to_binary(Unknown), UFile),
    ?assertNotEqual(nomatch, binary:match(UText, <<"verify_depht">>)),

    NoCa = filename:join(Tmp, "nosuch-ca.pem"),
    BadCa = write_cfg(Tmp, "badca", ["# a comment", "ca_file = \"" ++ NoCa ++ "\";"]),
    {error, {config, BFile, 2, BText}} = s2s_trust:open(BadCa),
    ?assertEqual(list_to_binary(BadCa), BFile),
    ?assertNotEqual(nomatch, binary:match(BText, <<"nosuch-ca.pem">>)),

    Range = write_cfg(Tmp, "range", [ca_line(Pki), pool_line(Pki), "max_depth = 99;"]),
    ?assertMatch({error, {config, _, 3, _}}, s2s_trust:open(Range)),

    Type = write_cfg(Tmp, "type", ["crl_check = 3;", ca_line(Pki)]),
    ?assertMatch({error, {config, _, 1, _}}, s2s_trust:open(Type)),

    %% a store that could only ever refuse is refused
    NoAnchors = write_cfg(Tmp, "noanchors", ["system_roots = false;"]),
    ?assertMatch({error, {config, _, _, _}}, s2s_trust:open(NoAnchors)).

open_accepts_filename_forms(#{cfgs := Cfgs}) ->
    Path = maps:get(base, Cfgs),
    {ok, _} = s2s_trust:open(Path),
    {ok, _} = s2s_trust:open(list_to_binary(Path)),
    {ok, _} = s2s_trust:open([filename:dirname(Path), "/", filename:basename(Path)]).

%%% ---- badarg: caller bugs raise, naming the argument --------------------

%% crypto's shape: error:{badarg, {File, Line}, Description}, error_info
%% naming the argument (1-based), format_error/2 describing it.
assert_badarg(Fun, Function, N) ->
    try Fun() of
        R -> error({expected_badarg, Function, N, returned, R})
    catch
        error:{badarg, {File, Line}, Text} = Reason:St ->
            ?assert(is_list(File) andalso is_integer(Line)),
            ?assert(io_lib:char_list(Text) andalso Text =/= ""),
            [{s2s_trust, Function, Args, Info} | _] = St,
            ?assert(is_list(Args)),
            ErrorInfo = proplists:get_value(error_info, Info),
            ?assertMatch(#{module := s2s_trust, erl_function_arg_num := N}, ErrorInfo),
            ?assertEqual(#{N => Text}, s2s_trust:format_error(Reason, St))
    end.

badarg_open() ->
    assert_badarg(fun() -> s2s_trust:open(42) end, open, 1),
    assert_badarg(fun() -> s2s_trust:open(<<>>) end, open, 1),
    assert_badarg(fun() -> s2s_trust:open("") end, open, 1),
    assert_badarg(fun() -> s2s_trust:open("a\0b.cfg") end, open, 1),
    assert_badarg(fun() -> s2s_trust:open({a, b}) end, open, 1).

not_stores() -> [not_a_store, make_ref(), <<"store">>, 42, self()].

bad_domains() -> [atom_domain, 42, [-1], {<<"good.test">>}, [<<"a">> | b]].

bad_chains() -> [not_a_list, <<"der">>, [not_binary], [<<"ok">>, 1], [<<"a">> | <<"b">>]].

badarg_verify(Ctx) ->
    S = store(Ctx, base),
    G = leaf(Ctx, "good"),
    [assert_badarg(fun() -> s2s_trust:verify(X, "good.test", G) end, verify, 1)
     || X <- not_stores()],
    [assert_badarg(fun() -> s2s_trust:verify(S, D, G) end, verify, 2) || D <- bad_domains()],
    [assert_badarg(fun() -> s2s_trust:verify(S, "good.test", C) end, verify, 3)
     || C <- bad_chains()].

badarg_explain(Ctx) ->
    S = store(Ctx, base),
    G = leaf(Ctx, "good"),
    [assert_badarg(fun() -> s2s_trust:explain(X, "good.test", G) end, explain, 1)
     || X <- not_stores()],
    [assert_badarg(fun() -> s2s_trust:explain(S, D, G) end, explain, 2) || D <- bad_domains()],
    [assert_badarg(fun() -> s2s_trust:explain(S, "good.test", C) end, explain, 3)
     || C <- bad_chains()].

badarg_verify_batch(Ctx) ->
    S = store(Ctx, base),
    G = leaf(Ctx, "good"),
    [assert_badarg(fun() -> s2s_trust:verify_batch(X, [{"good.test", G}]) end, verify_batch, 1)
     || X <- not_stores()],
    Bad = [not_a_list, [{"good.test", G} | tail], [not_a_tuple], [{"good.test"}],
           [{"good.test", G, extra}]]
        ++ [[{D, G}] || D <- bad_domains()]
        ++ [[{"good.test", C}] || C <- bad_chains()],
    [assert_badarg(fun() -> s2s_trust:verify_batch(S, B) end, verify_batch, 2) || B <- Bad],
    %% a bad element in a later chunk: named by its place in the whole
    %% batch, and nothing is returned for the good ones before it
    Long = lists:duplicate(39, {"good.test", G}) ++ [{"good.test", [nope]}],
    try s2s_trust:verify_batch(S, Long) of
        R -> error({expected_badarg, R})
    catch
        error:{badarg, _, Text} -> ?assertEqual("element 40: expected a list of DER binaries", Text)
    end.

badarg_info() ->
    [assert_badarg(fun() -> s2s_trust:info(X) end, info, 1) || X <- not_stores()].

%% The NIFs themselves: OTP crypto's raw shape with the 0-based C argument.
assert_nif_badarg(Fun, ArgNum) ->
    try Fun() of
        R -> error({expected_badarg, ArgNum, returned, R})
    catch
        error:{badarg, #{c_file_name := F, c_file_line_num := L,
                         c_function_arg_num := N}, Text} ->
            ?assertEqual(ArgNum, N),
            ?assert(is_list(F) andalso is_integer(L)),
            ?assert(io_lib:char_list(Text))
    end.

badarg_nif_direct(Ctx) ->
    S = store(Ctx, base),
    G = leaf(Ctx, "good"),
    N = s2s_trust_nif,
    assert_nif_badarg(fun() -> N:open_nif(42, [], []) end, 0),
    assert_nif_badarg(fun() -> N:open_nif("/etc/x.cfg", [], []) end, 0),
    assert_nif_badarg(fun() -> N:open_nif(<<"/etc/x", 0, ".cfg">>, [], []) end, 0),
    assert_nif_badarg(fun() -> N:info_nif(make_ref()) end, 0),
    [begin
         assert_nif_badarg(fun() -> N:F(make_ref(), <<"good.test">>, G) end, 0),
         assert_nif_badarg(fun() -> N:F(S, "good.test", G) end, 1),
         assert_nif_badarg(fun() -> N:F(S, <<"good.test">>, [x]) end, 2),
         assert_nif_badarg(fun() -> N:F(S, <<"good.test">>, [<<>> | <<>>]) end, 2),
         %% past the part of the list handed to the core, types still count
         assert_nif_badarg(fun() -> N:F(S, <<"good.test">>, lists:duplicate(50, <<>>) ++ [x]) end, 2)
     end || F <- [verify_nif, explain_nif]],
    assert_nif_badarg(fun() -> N:verify_batch_nif(make_ref(), []) end, 0),
    assert_nif_badarg(fun() -> N:verify_batch_nif(S, [{"good.test", G}]) end, 1),
    assert_nif_badarg(fun() -> N:verify_batch_nif(S, [{<<"good.test">>, G, x}]) end, 1),
    assert_nif_badarg(fun() -> N:verify_batch_nif(S, [{<<"good.test">>, G} | x]) end, 1),
    %% the NIF's own cap on one call's work
    assert_nif_badarg(fun() -> N:verify_batch_nif(S, lists:duplicate(65, {<<"good.test">>, G})) end, 1),
    ?assertEqual(lists:duplicate(64, ok),
                 N:verify_batch_nif(S, lists:duplicate(64, {<<"good.test">>, G}))).

%%% ---- the network's bytes: always a verdict -----------------------------

garbage_bytes(Ctx) ->
    S = store(Ctx, base),
    [G] = leaf(Ctx, "good"),
    V = fun(Chain) -> s2s_trust:verify(S, "good.test", Chain) end,
    ?assertEqual({error, no_certificate}, V([])),
    ?assertEqual({error, malformed}, V([<<>>])),
    rand:seed(exsss, {1, 2, 3}),
    Random = [rand:bytes(rand:uniform(4000)) || _ <- lists:seq(1, 300)],
    ?assertEqual([], [B || B <- Random, V([B]) =/= {error, malformed}]),
    %% random bytes behind a valid-looking SEQUENCE header
    Seq = [<<16#30, 16#82, (byte_size(B)):16, B/binary>> || B <- lists:sublist(Random, 50)],
    ?assertEqual([], [B || B <- Seq, V([B]) =/= {error, malformed}]),
    Size = byte_size(G),
    Truncated = [binary:part(G, 0, N) || N <- [1, 2, 4, 10, Size div 2, Size - 1]],
    ?assertEqual([], [B || B <- Truncated, V([B]) =/= {error, malformed}]),
    ?assertEqual({error, malformed}, V([<<G/binary, 0>>])),
    ?assertEqual({error, malformed}, V([<<G/binary, G/binary>>])),
    ?assertEqual({error, malformed}, V([G, <<"junk">>])),
    Big = binary:copy(<<0>>, 1 bsl 20),
    ?assertEqual({error, too_long}, V([Big])),
    ?assertEqual({error, too_long}, V([G, Big])),
    ?assertEqual({error, too_long}, V(lists:duplicate(11, G))),     % max_chain_certs 10
    ?assertEqual({error, too_long}, V(lists:duplicate(100000, G))),
    %% a sub-binary (not at offset 0) is read in place like any other
    <<_:3/binary, Sub/binary>> = <<"abc", G/binary>>,
    ?assertEqual(ok, V([Sub])),
    %% and the store is unharmed
    ?assertEqual(ok, V([G])).

garbage_domains(Ctx) ->
    S = store(Ctx, base),
    G = leaf(Ctx, "good"),
    Domains = [<<>>, <<".">>, <<"good.test", 0, "x">>, <<"good..test">>,
               binary:copy(<<"a.">>, 200), <<"1.2.3.4">>, <<"[::1]">>, <<255, 254, 253>>,
               <<"*.test">>, <<"good.test/x">>],
    ?assertEqual([], [D || D <- Domains,
                           s2s_trust:verify(S, D, G) =/= {error, name_mismatch}]),
    [?assertMatch({{error, name_mismatch}, #{reason := name_mismatch}},
                  s2s_trust:explain(S, D, G)) || D <- Domains].

%%% ---- lifetime ----------------------------------------------------------

%% 100 verifiers read the current store from persistent_term while another
%% process builds a new store 20 times and swaps it in. Every verdict must
%% be right whatever store a verifier picked up; old stores die when their
%% last holder drops them.
concurrent_verify_while_reloading(#{cfgs := Cfgs} = Ctx) ->
    Cfg = maps:get(base, Cfgs),
    {ok, S0} = s2s_trust:open(Cfg),
    persistent_term:put(?PT_KEY, S0),
    Cases = [{"good.test", leaf(Ctx, "good"), ok},
             {"good.test", chain(Ctx, "good"), ok},
             {"expired.test", leaf(Ctx, "expired"), {error, expired}},
             {"wrongname.test", leaf(Ctx, "wrongname"), {error, name_mismatch}},
             {"good.test", [<<"junk">>], {error, malformed}}],
    Done = atomics:new(1, []),
    Verifiers = [spawn_monitor(fun() -> verifier(Cases, Done, 0, #{}) end)
                 || _ <- lists:seq(1, 100)],
    %% Done is set however the reloader ends, so verifiers never outlive it.
    Reloader = spawn_monitor(fun() ->
                                     try reloader(Cfg, 20, 0)
                                     after atomics:put(Done, 1, 1)
                                     end
                             end),
    {ok, Reloads} = await(Reloader),
    ?assertEqual(20, Reloads),
    Results = [await(V) || V <- Verifiers],
    Bad = [R || R <- Results, element(1, R) =/= ok],
    ?assertEqual([], Bad),
    Seen = lists:usort(lists:append([maps:keys(Gens) || {ok, _, Gens} <- Results])),
    %% the swaps overlapped the verifications
    ?assert(length(Seen) >= 2),
    ?assert(lists:sum([N || {ok, N, _} <- Results]) >= 100 * 10),
    persistent_term:erase(?PT_KEY).

reloader(_Cfg, 0, N) ->
    exit({ok, N});
reloader(Cfg, K, N) ->
    Old = s2s_trust:info(persistent_term:get(?PT_KEY)),
    {ok, S} = s2s_trust:open(Cfg),
    New = s2s_trust:info(S),
    true = maps:get(generation, New) > maps:get(generation, Old),
    persistent_term:put(?PT_KEY, S),
    reloader(Cfg, K - 1, N + 1).

%% Keeps going until the reloader is done, and at least 10 rounds.
verifier(Cases, Done, N, Gens) ->
    case atomics:get(Done, 1) =:= 1 andalso N >= 10 of
        true ->
            exit({ok, N, Gens});
        false ->
            S = persistent_term:get(?PT_KEY),
            {Domain, Chain, Expected} = lists:nth(N rem length(Cases) + 1, Cases),
            case s2s_trust:verify(S, Domain, Chain) of
                Expected ->
                    Gen = maps:get(generation, s2s_trust:info(S)),
                    verifier(Cases, Done, N + 1, Gens#{Gen => true});
                Other ->
                    exit({wrong, Domain, Expected, Other})
            end
    end.

await({Pid, Ref}) ->
    receive
        {'DOWN', Ref, process, Pid, Reason} -> Reason
    after 60000 ->
            exit(Pid, kill),
            error({timeout, Pid})
    end.

%% A store made before the NIF library is reloaded (upgrade, then purge of
%% the old code and so unload of the old library instance) keeps working:
%% the resource type is taken over, not recreated.
store_survives_nif_reload(Ctx) ->
    S = store(Ctx, base),
    {ok, Old} = s2s_trust:open(maps:get(base, maps:get(cfgs, Ctx))),
    G = leaf(Ctx, "good"),
    E = leaf(Ctx, "expired"),
    ?assertEqual(ok, s2s_trust:verify(Old, "good.test", G)),
    Reload = fun() ->
                     _ = code:purge(s2s_trust_nif),
                     ?assertEqual({module, s2s_trust_nif}, code:load_file(s2s_trust_nif)),
                     %% old code exists now; drop it, which unloads its library
                     _ = code:purge(s2s_trust_nif),
                     ?assertNot(erlang:check_old_code(s2s_trust_nif))
             end,
    Reload(),
    ?assertEqual(ok, s2s_trust:verify(Old, "good.test", G)),
    ?assertEqual({error, expired}, s2s_trust:verify(Old, "expired.test", E)),
    ?assertMatch(#{anchors := 1}, s2s_trust:info(Old)),
    ?assertEqual([ok, {error, expired}],
                 s2s_trust:verify_batch(Old, [{"good.test", G}, {"expired.test", E}])),
    %% twice: an upgraded library upgrades again
    Reload(),
    ?assertEqual(ok, s2s_trust:verify(Old, "good.test", G)),
    ?assertEqual(ok, s2s_trust:verify(S, "good.test", G)),
    %% stores made after the reload, and the old ones, still are one type
    {ok, New} = s2s_trust:open(maps:get(base, maps:get(cfgs, Ctx))),
    ?assertEqual(ok, s2s_trust:verify(New, "good.test", G)),
    assert_badarg(fun() -> s2s_trust:verify(make_ref(), "good.test", G) end, verify, 1).
