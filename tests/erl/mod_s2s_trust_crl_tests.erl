%%% EUnit: the pure parts of mod_s2s_trust_crl (docs/crl.md) against the
%%% test PKI (S2S_TRUST_PKI): which distribution points certificates name,
%%% which URLs are fetched, when, what a fetched CRL must be before it is
%%% kept, the HTTP client's limits against a hostile local server, and the
%%% store build with the copies held.
-module(mod_s2s_trust_crl_tests).

-include_lib("eunit/include/eunit.hrl").

-define(M, mod_s2s_trust_crl).
-define(ROOT_URL, <<"http://127.0.0.40:18089/root.crl">>).
-define(INTER_CRL_URL, <<"http://127.0.0.40:18089/inter-crl.crl">>).

pki(Name) ->
    Dir = case os:getenv("S2S_TRUST_PKI") of
              false -> "_build/test/pki";
              D -> D
          end,
    filename:join(Dir, Name).

pem_der(Name) ->
    {ok, Pem} = file:read_file(pki(Name)),
    [{_, Der, _} | _] = public_key:pem_decode(Pem),
    Der.

cas(Names) -> [?M:ca_row(pem_der(N)) || N <- Names].

%%% ---- distribution points -------------------------------------------------

cert_urls_test_() ->
    [{"an intermediate names where its issuer publishes",
      ?_assertEqual([?ROOT_URL], ?M:cert_urls(pem_der("inter-crl.pem")))},
     {"a leaf names where its issuer publishes (Let's Encrypt style)",
      ?_assertEqual([?INTER_CRL_URL], ?M:cert_urls(pem_der("crlleaf.pem")))},
     {"no extension, no point",
      ?_assertEqual([], ?M:cert_urls(pem_der("good.pem")))},
     {"the test intermediates without the extension name none",
      ?_assertEqual([], ?M:cert_urls(pem_der("inter.pem")))},
     {"bytes that are not a certificate name nothing, and do not raise",
      ?_assertEqual([], ?M:cert_urls(<<"not a certificate">>))},
     {"a truncated certificate names nothing",
      ?_assertEqual([], ?M:cert_urls(binary:part(pem_der("crlleaf.pem"), 0, 200)))}].

ca_row_test_() ->
    {_, _, RootUrls, RootText} = ?M:ca_row(pem_der("root.pem")),
    {_, _, InterUrls, InterText} = ?M:ca_row(pem_der("inter-crl.pem")),
    [{"a self-signed root names no point we fetch", ?_assertEqual([], RootUrls)},
     ?_assertEqual(<<"CN=s2s-trust Test Root">>, RootText),
     ?_assertEqual([?ROOT_URL], InterUrls),
     ?_assertEqual(<<"CN=s2s-trust CRL-Publishing Intermediate">>, InterText),
     ?_assertEqual(undefined, ?M:ca_row(<<1, 2, 3>>))].

signed_by_test_() ->
    [{"leaf by its issuer", ?_assert(?M:signed_by(pem_der("crlleaf.pem"), pem_der("inter-crl.pem")))},
     {"leaf by another CA", ?_assertNot(?M:signed_by(pem_der("crlleaf.pem"), pem_der("inter.pem")))},
     {"a flipped signature byte", ?_assertNot(?M:signed_by(pem_der("badsig.pem"), pem_der("inter.pem")))},
     {"expiry is not this check's business",
      ?_assert(?M:signed_by(pem_der("expired.pem"), pem_der("inter.pem")))},
     {"garbage", ?_assertNot(?M:signed_by(<<"x">>, pem_der("inter.pem")))}].

%%% ---- URLs ----------------------------------------------------------------

validate_url_test_() ->
    Ok = fun(U) -> ?_assertEqual({ok, U}, ?M:validate_url(U)) end,
    Bad = fun(U, Why) -> {binary_to_list(U), ?_assertEqual({error, Why}, ?M:validate_url(U))} end,
    [Ok(<<"http://x1.c.lencr.org/">>),
     Ok(<<"http://e7.c.lencr.org/42.crl">>),
     Ok(<<"http://127.0.0.40:18089/root.crl">>),
     Ok(<<"http://[::1]:8080/a.crl">>),
     Ok(<<"HTTP://Example.ORG/a.crl?x=1">>),
     {"a charlist", ?_assertEqual({ok, ?ROOT_URL}, ?M:validate_url(binary_to_list(?ROOT_URL)))},
     Bad(<<"https://x1.c.lencr.org/">>, {scheme, <<"https">>}),
     Bad(<<"ldap://ldap.example/cn=CA?certificateRevocationList">>, {scheme, <<"ldap">>}),
     Bad(<<"file:///etc/passwd">>, {scheme, <<"file">>}),
     Bad(<<"ftp://example.org/a.crl">>, {scheme, <<"ftp">>}),
     Bad(<<"http://user:pw@example.org/a.crl">>, userinfo),
     Bad(<<"http://example.org/a.crl#frag">>, fragment),
     Bad(<<"http:///a.crl">>, no_host),
     Bad(<<"/a.crl">>, no_scheme),
     Bad(<<"http://example.org:0/a.crl">>, bad_port),
     Bad(<<"http://example.org:70000/a.crl">>, bad_port),
     Bad(<<"http://exa_mple.org/a.crl">>, bad_host),
     Bad(<<"http://example.org/a b.crl">>, not_ascii),
     Bad(<<"http://example.org/\r\nHost: evil/">>, not_ascii),
     Bad(<<"http://b", 16#c3, 16#bc, "cher.test/a.crl">>, not_ascii),
     Bad(<<"http://example.org/", (binary:copy(<<"a">>, 1100))/binary>>, too_long),
     {"not a string", ?_assertEqual({error, malformed}, ?M:validate_url(42))}].

url_file_test_() ->
    F = ?M:url_file(<<"http://e7.c.lencr.org/42.crl">>),
    [?_assertEqual(36, byte_size(F)),
     ?_assertMatch(<<_:32/binary, ".crl">>, F),
     {"no URL byte reaches the file name",
      ?_assertEqual(nomatch, binary:match(?M:url_file(<<"http://x/../../etc/passwd">>), <<"/">>))},
     ?_assertNotEqual(F, ?M:url_file(<<"http://e7.c.lencr.org/43.crl">>))].

%%% ---- scheduling ----------------------------------------------------------

next_fetch_test_() ->
    Now = 1000000, I = 10800,
    [{"success, nextUpdate far away: after the interval",
      ?_assertEqual(Now + I, ?M:next_fetch({ok, Now + 7 * 86400}, Now, I, 0))},
     {"success, no nextUpdate: after the interval",
      ?_assertEqual(Now + I, ?M:next_fetch({ok, undefined}, Now, I, 0))},
     {"success, nextUpdate before the interval ends: at nextUpdate",
      ?_assertEqual(Now + 3600, ?M:next_fetch({ok, Now + 3600}, Now, I, 0))},
     {"success, nextUpdate already past (stale CRL): not before the minimum gap",
      ?_assertEqual(Now + 300, ?M:next_fetch({ok, Now - 10}, Now, I, 0))},
     {"success, short interval (tests): the interval",
      ?_assertEqual(Now + 15, ?M:next_fetch({ok, Now - 10}, Now, 15, 0))},
     {"failure: 60 s, then doubling",
      ?_assertEqual([Now + 60, Now + 120, Now + 240, Now + 480],
                    [?M:next_fetch(error, Now, I, F) || F <- [1, 2, 3, 4]])},
     {"failure: capped at the interval",
      ?_assertEqual(Now + I, ?M:next_fetch(error, Now, I, 40))},
     {"failure, short interval",
      ?_assertEqual(Now + 15, ?M:next_fetch(error, Now, 15, 1))}].

due_test_() ->
    [{"new point", ?_assert(?M:due(undefined, 100, false))},
     {"due now", ?_assert(?M:due(#{next_fetch => 100}, 100, false))},
     {"not yet", ?_assertNot(?M:due(#{next_fetch => 101}, 100, false))},
     {"s2s_trust_reload fetches everything", ?_assert(?M:due(#{next_fetch => 9999}, 100, true))},
     {"noted by a leaf, never fetched", ?_assert(?M:due(#{next_fetch => 0}, 100, false))}].

copy_state_test_() ->
    [?_assertEqual(none, ?M:copy_state(#{}, 100)),
     ?_assertEqual(none, ?M:copy_state(#{file => undefined}, 100)),
     ?_assertEqual(current, ?M:copy_state(#{file => <<"f">>, next_update => 200}, 100)),
     ?_assertEqual(current, ?M:copy_state(#{file => <<"f">>}, 100)),
     ?_assertEqual(stale, ?M:copy_state(#{file => <<"f">>, next_update => 99}, 100))].

%%% ---- what a fetched CRL must be ------------------------------------------

parse_crl_test_() ->
    {ok, Pem} = file:read_file(pki("inter.crl.pem")),
    [{'CertificateList', Der, _}] = public_key:pem_decode(Pem),
    [{"PEM", ?_assertMatch({ok, Der, _}, ?M:parse_crl(Pem))},
     {"DER", ?_assertMatch({ok, Der, _}, ?M:parse_crl(Der))},
     {"two CRLs in one PEM", ?_assertEqual({error, not_a_crl},
                                           ?M:parse_crl(<<Pem/binary, Pem/binary>>))},
     {"a certificate", ?_assertEqual({error, not_a_crl}, ?M:parse_crl(pem_der("inter.pem")))},
     {"an HTML error page", ?_assertEqual({error, not_a_crl},
                                          ?M:parse_crl(<<"<html>404</html>">>))},
     {"empty", ?_assertEqual({error, not_a_crl}, ?M:parse_crl(<<>>))},
     {"truncated DER", ?_assertEqual({error, not_a_crl},
                                     ?M:parse_crl(binary:part(Der, 0, byte_size(Der) - 5)))}].

validate_crl_test_() ->
    {ok, Pem} = file:read_file(pki("inter.crl.pem")),
    [{'CertificateList', Der, _}] = public_key:pem_decode(Pem),
    Cas = cas(["root.pem", "inter.pem", "inter-nc.pem"]),
    Now = erlang:system_time(second),
    {ok, #{this_update := TU} = Info} = ?M:validate_crl(Der, Cas, undefined, Now),
    Size = byte_size(Der),
    Flipped = <<(binary:part(Der, 0, Size - 1))/binary, (binary:last(Der) bxor 1)>>,
    [{"the test PKI's intermediate CRL", ?_assertMatch(#{issuer := <<"CN=s2s-trust Test Intermediate">>,
                                                         revoked := 1, der := Der}, Info)},
     {"thisUpdate and nextUpdate read (30 days apart)",
      ?_assertEqual(30 * 86400, maps:get(next_update, Info) - TU)},
     {"the root's CRL (no revocations)",
      ?_assertMatch({ok, #{revoked := 0, issuer := <<"CN=s2s-trust Test Root">>}},
                    ?M:validate_crl(pem_der("root.crl.pem"), Cas, undefined, Now))},
     {"issuer not in the store", ?_assertEqual({error, unknown_issuer},
                                               ?M:validate_crl(Der, cas(["root.pem"]), undefined, Now))},
     {"a flipped signature byte", ?_assertEqual({error, bad_signature},
                                                ?M:validate_crl(Flipped, Cas, undefined, Now))},
     {"same thisUpdate as the copy held: fine (an unchanged CRL)",
      ?_assertMatch({ok, _}, ?M:validate_crl(Der, Cas, TU, Now))},
     {"older than the copy held: a replay, refused",
      ?_assertEqual({error, {older_than_held, TU + 1}}, ?M:validate_crl(Der, Cas, TU + 1, Now))},
     {"thisUpdate ahead of our clock", ?_assertEqual({error, this_update_ahead},
                                                     ?M:validate_crl(Der, Cas, undefined, TU - 3600))},
     {"not a CRL", ?_assertEqual({error, not_a_crl},
                                 ?M:validate_crl(<<"garbage">>, Cas, undefined, Now))}].

format_error_test_() ->
    [?_assertEqual(<<"HTTP status 404">>, ?M:format_error({http_status, 404})),
     ?_assertEqual(<<"cannot connect: connection refused">>, ?M:format_error({connect, econnrefused})),
     ?_assertEqual(<<"redirect refused: scheme https (only http:// is fetched)">>,
                   ?M:format_error({redirect, {scheme, <<"https">>}})),
     {"a hostile scheme is escaped",
      ?_assertEqual(<<"scheme a\\x0ab (only http:// is fetched)">>,
                    ?M:format_error({scheme, <<"a\nb">>}))}].

%%% ---- HTTP ----------------------------------------------------------------

parse_http_head_test_() ->
    H = fun(L) -> maps:from_list(L) end,
    [?_assertEqual({body, undefined}, ?M:parse_http_head({200, H([])})),
     ?_assertEqual({body, 12}, ?M:parse_http_head({200, H([{<<"content-length">>, <<"12">>}])})),
     ?_assertEqual({error, bad_response},
                   ?M:parse_http_head({200, H([{<<"content-length">>, <<"-1">>}])})),
     ?_assertEqual({error, bad_response},
                   ?M:parse_http_head({200, H([{<<"content-length">>, <<"12x">>}])})),
     ?_assertEqual({error, unsupported_encoding},
                   ?M:parse_http_head({200, H([{<<"transfer-encoding">>, <<"chunked">>}])})),
     ?_assertEqual({redirect, <<"http://b/x">>},
                   ?M:parse_http_head({301, H([{<<"location">>, <<"http://b/x">>}])})),
     ?_assertEqual({error, no_location}, ?M:parse_http_head({302, H([])})),
     ?_assertEqual({error, {http_status, 304}}, ?M:parse_http_head({304, H([])})),
     ?_assertEqual({error, {http_status, 404}}, ?M:parse_http_head({404, H([])})),
     ?_assertEqual({error, {http_status, 204}}, ?M:parse_http_head({204, H([])}))].

%% A scripted server on 127.0.0.1: Fun(Socket, Path) answers each request.
serve(Fun) ->
    {ok, L} = gen_tcp:listen(0, [binary, {ip, {127, 0, 0, 1}}, {active, false}, {reuseaddr, true}]),
    {ok, Port} = inet:port(L),
    Pid = spawn(fun() -> accept_loop(L, Fun) end),
    ok = gen_tcp:controlling_process(L, Pid),
    {Port, Pid}.

accept_loop(L, Fun) ->
    case gen_tcp:accept(L) of
        {ok, S} ->
            Path = read_request(S, <<>>),
            spawn(fun() -> try Fun(S, Path) catch _:_ -> ok after gen_tcp:close(S) end end),
            accept_loop(L, Fun);
        _ -> ok
    end.

read_request(S, Acc) ->
    case binary:match(Acc, <<"\r\n\r\n">>) of
        nomatch ->
            case gen_tcp:recv(S, 0, 5000) of
                {ok, B} -> read_request(S, <<Acc/binary, B/binary>>);
                _ -> <<>>
            end;
        _ ->
            [Line | _] = binary:split(Acc, <<"\r\n">>),
            [_, Path | _] = binary:split(Line, <<" ">>, [global]),
            Path
    end.

stop_server({_, Pid}) -> exit(Pid, kill).

http_get_test_() ->
    {ok, CrlPem} = file:read_file(pki("inter.crl.pem")),
    [{'CertificateList', Crl, _}] = public_key:pem_decode(CrlPem),
    Handler =
        fun(S, <<"/ok">>) ->
                gen_tcp:send(S, [<<"HTTP/1.0 200 OK\r\nContent-Type: application/pkix-crl\r\n"
                                   "Content-Length: ">>, integer_to_binary(byte_size(Crl)),
                                 <<"\r\n\r\n">>, Crl]);
           (S, <<"/nolength">>) ->
                gen_tcp:send(S, [<<"HTTP/1.0 200 OK\r\n\r\n">>, Crl]);
           (S, <<"/404big">>) ->
                %% An error page with an endless body: must cost us nothing.
                gen_tcp:send(S, <<"HTTP/1.0 404 Not Found\r\n\r\n">>),
                [gen_tcp:send(S, binary:copy(<<"x">>, 65536)) || _ <- lists:seq(1, 400)];
           (S, <<"/big">>) ->
                gen_tcp:send(S, <<"HTTP/1.0 200 OK\r\n\r\n">>),
                [gen_tcp:send(S, binary:copy(<<"x">>, 65536)) || _ <- lists:seq(1, 400)];
           (S, <<"/biglength">>) ->
                gen_tcp:send(S, <<"HTTP/1.0 200 OK\r\nContent-Length: 99999999999\r\n\r\n">>),
                timer:sleep(2000);
           (S, <<"/short">>) ->
                gen_tcp:send(S, <<"HTTP/1.0 200 OK\r\nContent-Length: 100\r\n\r\nabc">>);
           (_S, <<"/silent">>) ->
                timer:sleep(3000);
           (S, <<"/trickle">>) ->
                %% One byte a while: only the overall deadline stops it.
                gen_tcp:send(S, <<"HTTP/1.0 200 OK\r\n\r\n">>),
                [begin gen_tcp:send(S, <<"x">>), timer:sleep(50) end || _ <- lists:seq(1, 100)];
           (S, <<"/headers">>) ->
                gen_tcp:send(S, [<<"HTTP/1.0 200 OK\r\n">>,
                                 [[<<"X-", (integer_to_binary(I))/binary, ": y\r\n">>]
                                  || I <- lists:seq(1, 500)], <<"\r\n">>]);
           (S, <<"/longline">>) ->
                gen_tcp:send(S, [<<"HTTP/1.0 200 OK\r\nX-Long: ">>, binary:copy(<<"y">>, 100000),
                                 <<"\r\n\r\n">>]);
           (S, <<"/garbage">>) ->
                gen_tcp:send(S, <<"SSH-2.0-OpenSSH\r\n\r\n">>);
           (S, <<"/to-https">>) ->
                gen_tcp:send(S, <<"HTTP/1.0 302 Found\r\nLocation: https://x/ok\r\n\r\n">>);
           (S, <<"/to-ok">>) ->
                gen_tcp:send(S, <<"HTTP/1.0 301 Moved\r\nLocation: /ok\r\n\r\n">>);
           (S, <<"/loop">>) ->
                gen_tcp:send(S, <<"HTTP/1.0 302 Found\r\nLocation: /loop\r\n\r\n">>);
           (S, _) ->
                gen_tcp:send(S, <<"HTTP/1.0 404 Not Found\r\nContent-Length: 0\r\n\r\n">>)
        end,
    {setup,
     fun() -> serve(Handler) end,
     fun stop_server/1,
     fun({Port, _}) ->
             Url = fun(P) -> iolist_to_binary(io_lib:format("http://127.0.0.1:~b~s", [Port, P])) end,
             Get = fun(P) -> ?M:http_get(Url(P), #{timeout => 1500, max_bytes => 1048576}) end,
             [{"a CRL", ?_assertEqual({ok, Crl}, Get("/ok"))},
              {"no Content-Length: read to the close", ?_assertEqual({ok, Crl}, Get("/nolength"))},
              {"404 with a 26 MB body: refused without reading it",
               ?_assertEqual({error, {http_status, 404}}, Get("/404big"))},
              {"a 200 longer than the limit", ?_assertEqual({error, too_large}, Get("/big"))},
              {"a Content-Length over the limit: refused before the body",
               ?_assertEqual({error, too_large}, Get("/biglength"))},
              {"shorter than its Content-Length", ?_assertEqual({error, truncated}, Get("/short"))},
              {"a server that never answers", ?_assertEqual({error, timeout}, Get("/silent"))},
              {"a trickle: the deadline holds", ?_assertEqual({error, timeout}, Get("/trickle"))},
              {"500 headers", ?_assertEqual({error, too_many_headers}, Get("/headers"))},
              {"a 100 kB header line", ?_assertMatch({error, _}, Get("/longline"))},
              {"not HTTP", ?_assertMatch({error, _}, Get("/garbage"))},
              {"redirect to https: refused",
               ?_assertEqual({error, {redirect, {scheme, <<"https">>}}}, Get("/to-https"))},
              {"redirect to http (relative): followed", ?_assertEqual({ok, Crl}, Get("/to-ok"))},
              {"redirect loop", ?_assertEqual({error, too_many_redirects}, Get("/loop"))},
              {"nothing listening",
               ?_assertMatch({error, {connect, econnrefused}},
                             ?M:http_get(<<"http://127.0.0.1:1/x">>,
                                         #{timeout => 1000, max_bytes => 1000}))},
              {"an https URL is not fetched at all",
               ?_assertEqual({error, {scheme, <<"https">>}},
                             ?M:http_get(<<"https://127.0.0.1/x">>,
                                         #{timeout => 1000, max_bytes => 1000}))}]
     end}.

%%% ---- crl_missing: refuse ---------------------------------------------------

%% Every CRL named for a leaf (its own point, and its issuer's) must be held
%% and current; the tables are the server's, made here by hand.
freshness_test_() ->
    Leaf = pem_der("crlleaf.pem"),
    Now = 1000000,
    Put = fun(Entries) ->
                  ets:delete_all_objects(mod_s2s_trust_crl),
                  ets:insert(mod_s2s_trust_crl, [{maps:get(url, E), E} || E <- Entries])
          end,
    Good = fun(U) -> #{url => U, file => <<"f">>, next_update => Now + 100} end,
    {setup,
     fun() ->
             T = ets:new(mod_s2s_trust_crl, [named_table, public, set]),
             C = ets:new(mod_s2s_trust_crl_ca, [named_table, public, bag]),
             ets:insert(C, cas(["root.pem", "inter-crl.pem"])),
             {T, C}
     end,
     fun({T, C}) -> ets:delete(T), ets:delete(C) end,
     fun(_) ->
             [{"both held and current",
               ?_test(begin Put([Good(?ROOT_URL), Good(?INTER_CRL_URL)]),
                            ?assertEqual(ok, ?M:freshness(Leaf, Now)) end)},
              {"the leaf's own point never fetched",
               ?_test(begin Put([Good(?ROOT_URL)]),
                            {missing, T} = ?M:freshness(Leaf, Now),
                            ?assertMatch({_, _}, binary:match(T, <<"inter-crl.crl not fetched yet">>))
                      end)},
              {"the issuer's point (named by inter-crl) stale",
               ?_test(begin Put([(Good(?ROOT_URL))#{next_update => Now - 1}, Good(?INTER_CRL_URL)]),
                            {missing, T} = ?M:freshness(Leaf, Now),
                            ?assertMatch({_, _}, binary:match(T, <<"root.crl is stale">>))
                      end)},
              {"failing, no copy",
               ?_test(begin Put([Good(?ROOT_URL), #{url => ?INTER_CRL_URL,
                                                    last_error => {Now, timeout}}]),
                            {missing, T} = ?M:freshness(Leaf, Now),
                            ?assertMatch({_, _}, binary:match(T, <<"could not be fetched: timed out">>))
                      end)},
              {"failing, but a current copy held: fine",
               ?_test(begin Put([Good(?ROOT_URL), (Good(?INTER_CRL_URL))#{last_error => {Now, timeout}}]),
                            ?assertEqual(ok, ?M:freshness(Leaf, Now)) end)},
              {"a leaf naming no point, from a CA naming none",
               ?_test(begin Put([]), ?assertEqual(ok, ?M:freshness(pem_der("good.pem"), Now)) end)}]
     end}.

%%% ---- the store with the copies held --------------------------------------

%% A copy the store cannot read (disk fault) is set aside, and the store is
%% built with the others; with refresh off no copy is read.
open_test_() ->
    {setup,
     fun() ->
             Tmp = string:trim(os:cmd("mktemp -d")),
             application:set_env(mnesia, dir, Tmp),
             Dir = ?M:dir(),
             ok = filelib:ensure_dir(filename:join(Dir, "x")),
             {ok, _} = file:copy(pki("inter.crl.pem"), filename:join(Dir, "aa.crl")),
             ok = file:write_file(filename:join(Dir, "bb.crl"), <<"broken">>),
             Conf = filename:join(Tmp, "trust.conf"),
             ok = file:write_file(Conf, io_lib:format("ca_file = \"~s\";\nintermediate_file = \"~s\";\n",
                                                      [pki("root.pem"), pki("inter.pem")])),
             {Tmp, Conf}
     end,
     fun({Tmp, _}) ->
             persistent_term:erase({?M, enabled}),
             os:cmd("rm -rf " ++ Tmp)
     end,
     fun({_Tmp, Conf}) ->
             Dir = ?M:dir(),
             Off = fun() -> persistent_term:erase({?M, enabled}), ?M:open(Conf, []) end,
             On = fun() -> persistent_term:put({?M, enabled}, true), ?M:open(Conf, []) end,
             Verify = fun({ok, St}, Leaf) -> s2s_trust:verify(St, <<"revoked.test">>, [Leaf]) end,
             Revoked = pem_der("revoked.pem"),
             [{"refresh off: no copy read",
               ?_assertMatch(#{crls := 0}, s2s_trust:info(element(2, Off())))},
              {inorder,
               [{"refresh on: the broken copy is set aside, the good one used",
                 ?_assertMatch(#{crls := 1}, s2s_trust:info(element(2, On())))},
                ?_assert(filelib:is_regular(filename:join(Dir, "bb.crl.bad"))),
                ?_assertNot(filelib:is_regular(filename:join(Dir, "bb.crl"))),
                {"and it revokes", ?_assertEqual({error, revoked}, Verify(On(), Revoked))}]}]
     end}.
