%%% EUnit: the HTTP client of CRL refresh, mod_s2s_trust_crl_fetch
%%% (docs/crl.md, "Limits on the network side"): every limit held against a
%%% scripted hostile server on 127.0.0.1, through the real NIF
%%% (s2s_trust_nif:crl_fetch_nif/2, libcurl), loaded from priv/lib as the
%%% module loads it in ejabberd; what a failed GET is called (reason/1); and
%%% the NIF's own argument rules.
-module(mod_s2s_trust_crl_fetch_tests).

-include_lib("eunit/include/eunit.hrl").

-import(s2s_trust_test_pki, [pki/1]).

-define(M, mod_s2s_trust_crl_fetch).

%% The error map of crl_fetch_nif/2, with these keys changed.
info(Kv) ->
    maps:merge(#{status => failed, cause => none, errno => undefined, code => 0,
                 location => undefined, why => <<"w">>}, maps:from_list(Kv)).

reason_test_() ->
    R = fun(Kv) -> ?M:reason(info(Kv)) end,
    [?_assertEqual({follow, <<"/x">>}, R([{status, redirect}, {code, 302}, {location, <<"/x">>}])),
     ?_assertEqual({follow, <<"http://b/x">>},
                   R([{status, redirect}, {code, 308}, {location, <<"http://b/x">>}])),
     ?_assertEqual(no_location, R([{status, redirect}, {code, 301}])),
     ?_assertEqual({redirect, too_long}, R([{status, redirect}, {code, 302}, {location, too_long}])),
     ?_assertEqual({redirect, malformed}, R([{status, redirect}, {code, 302}, {location, bad}])),
     %% 300, 304, 305 are not moves, even with a Location
     ?_assertEqual({http_status, 304}, R([{status, redirect}, {code, 304}, {location, <<"/x">>}])),
     ?_assertEqual({http_status, 300}, R([{status, redirect}, {code, 300}])),
     ?_assertEqual({http_status, 305}, R([{status, redirect}, {code, 305}, {location, <<"/p">>}])),
     ?_assertEqual({http_status, 404}, R([{status, http_status}, {code, 404}])),
     ?_assertEqual({http_status, 204}, R([{status, http_status}, {code, 204}])),
     ?_assertEqual(timeout, R([{status, timeout}])),
     ?_assertEqual(too_large, R([{status, too_large}, {code, 200}])),
     ?_assertEqual({connect, nxdomain}, R([{status, connect_failed}, {cause, resolve}])),
     ?_assertEqual({connect, econnrefused},
                   R([{status, connect_failed}, {cause, connect}, {errno, econnrefused}])),
     ?_assertEqual(truncated, R([{status, failed}, {cause, truncated}])),
     ?_assertEqual(bad_response, R([{status, failed}, {cause, bad_answer}])),
     ?_assertEqual(too_many_headers, R([{status, failed}, {cause, too_many_headers}])),
     ?_assertEqual(header_too_long, R([{status, failed}, {cause, line_too_long}])),
     ?_assertEqual({recv, closed}, R([{status, failed}, {cause, empty}])),
     ?_assertEqual({recv, econnreset}, R([{status, failed}, {cause, io}, {errno, econnreset}])),
     %% anything else keeps libcurl's words, and format_error/1 escapes them
     ?_assertEqual({http_failed, internal, <<"w">>}, R([{status, internal}])),
     ?_assertEqual({http_failed, connect_failed, <<"w">>}, R([{status, connect_failed}, {cause, connect}])),
     ?_assertEqual(<<"internal: a\\x07b">>,
                   mod_s2s_trust_crl_check:format_error({http_failed, internal, <<"a", 7, "b">>}))].

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
    Endless = fun(S) -> [gen_tcp:send(S, binary:copy(<<"x">>, 65536)) || _ <- lists:seq(1, 400)] end,
    Redirect = fun(S, Code, Loc) ->
                       gen_tcp:send(S, [<<"HTTP/1.1 ">>, integer_to_binary(Code),
                                        <<" Moved\r\nLocation: ">>, Loc, <<"\r\nContent-Length: 0\r\n\r\n">>])
               end,
    Handler =
        fun(S, <<"/ok">>) ->
                gen_tcp:send(S, [<<"HTTP/1.0 200 OK\r\nContent-Type: application/pkix-crl\r\n"
                                   "Content-Length: ">>, integer_to_binary(byte_size(Crl)),
                                 <<"\r\n\r\n">>, Crl]);
           (S, <<"/nolength">>) ->
                gen_tcp:send(S, [<<"HTTP/1.0 200 OK\r\n\r\n">>, Crl]);
           (S, <<"/chunked">>) ->
                {A, B} = split_binary(Crl, byte_size(Crl) div 2),
                gen_tcp:send(S, [<<"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n">>,
                                 [[integer_to_binary(byte_size(X), 16), <<"\r\n">>, X, <<"\r\n">>]
                                  || X <- [A, B]], <<"0\r\n\r\n">>]);
           (S, <<"/chunked-big">>) ->
                gen_tcp:send(S, <<"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n">>),
                [gen_tcp:send(S, [<<"10000\r\n">>, binary:copy(<<"x">>, 65536), <<"\r\n">>])
                 || _ <- lists:seq(1, 400)];
           (S, <<"/404big">>) ->
                %% An error page with an endless body: must cost us nothing.
                gen_tcp:send(S, <<"HTTP/1.0 404 Not Found\r\n\r\n">>),
                Endless(S);
           (S, <<"/big">>) ->
                gen_tcp:send(S, <<"HTTP/1.0 200 OK\r\n\r\n">>),
                Endless(S);
           (S, <<"/biglength">>) ->
                gen_tcp:send(S, <<"HTTP/1.0 200 OK\r\nContent-Length: 99999999999\r\n\r\n">>),
                timer:sleep(2000);
           (S, <<"/short">>) ->
                gen_tcp:send(S, <<"HTTP/1.0 200 OK\r\nContent-Length: 100\r\n\r\nabc">>);
           (S, <<"/neglength">>) ->
                gen_tcp:send(S, <<"HTTP/1.0 200 OK\r\nContent-Length: -1\r\n\r\nabc">>);
           (_S, <<"/silent">>) ->
                timer:sleep(3000);
           (_S, <<"/empty">>) ->
                ok;
           (S, <<"/trickle">>) ->
                %% One byte a while: only the overall deadline stops it.
                gen_tcp:send(S, <<"HTTP/1.0 200 OK\r\n\r\n">>),
                [begin gen_tcp:send(S, <<"x">>), timer:sleep(50) end || _ <- lists:seq(1, 100)];
           (S, <<"/headers">>) ->
                gen_tcp:send(S, [<<"HTTP/1.0 200 OK\r\n">>,
                                 [[<<"X-", (integer_to_binary(I))/binary, ": y\r\n">>]
                                  || I <- lists:seq(1, 500)], <<"\r\n">>]);
           (S, <<"/headers64">>) ->
                gen_tcp:send(S, [<<"HTTP/1.0 200 OK\r\nContent-Length: ">>,
                                 integer_to_binary(byte_size(Crl)), <<"\r\n">>,
                                 [[<<"X-", (integer_to_binary(I))/binary, ": y\r\n">>]
                                  || I <- lists:seq(1, 63)], <<"\r\n">>, Crl]);
           (S, <<"/headers65">>) ->
                gen_tcp:send(S, [<<"HTTP/1.0 200 OK\r\nContent-Length: ">>,
                                 integer_to_binary(byte_size(Crl)), <<"\r\n">>,
                                 [[<<"X-", (integer_to_binary(I))/binary, ": y\r\n">>]
                                  || I <- lists:seq(1, 64)], <<"\r\n">>, Crl]);
           (S, <<"/continue">>) ->
                %% Interim answers' lines count against the same budget.
                gen_tcp:send(S, [[<<"HTTP/1.1 100 Continue\r\n\r\n">> || _ <- lists:seq(1, 100)],
                                 <<"HTTP/1.1 200 OK\r\n\r\n">>, Crl]);
           (S, <<"/longline">>) ->
                gen_tcp:send(S, [<<"HTTP/1.0 200 OK\r\nX-Long: ">>, binary:copy(<<"y">>, 100000),
                                 <<"\r\n\r\n">>]);
           (S, <<"/hugeline">>) ->
                %% Past libcurl's own bound (100 KB): it stops before we see the line.
                gen_tcp:send(S, [<<"HTTP/1.0 200 OK\r\nX-Long: ">>, binary:copy(<<"y">>, 300000),
                                 <<"\r\n\r\n">>]);
           (S, <<"/longstatus">>) ->
                gen_tcp:send(S, [<<"HTTP/1.0 200 ">>, binary:copy(<<"y">>, 9000), <<"\r\n\r\n">>]);
           (S, <<"/garbage">>) ->
                gen_tcp:send(S, <<"SSH-2.0-OpenSSH\r\n\r\n">>);
           (S, <<"/to-https">>) ->
                gen_tcp:send(S, <<"HTTP/1.0 302 Found\r\nLocation: https://x/ok\r\n\r\n">>);
           (S, <<"/to-ldap">>) ->
                Redirect(S, 301, <<"ldap://127.0.0.1/cn=crl">>);
           (S, <<"/to-ok">>) ->
                gen_tcp:send(S, <<"HTTP/1.0 301 Moved\r\nLocation: /ok\r\n\r\n">>);
           (S, <<"/to-ok-body">>) ->
                %% A redirect with an endless body: the body is not read.
                gen_tcp:send(S, <<"HTTP/1.0 302 Found\r\nContent-Length: 99999999999\r\n"
                                  "Location: ok\r\n\r\n">>),
                Endless(S);
           (S, <<"/hop", N/binary>>) ->
                %% /hopN -> /hop(N-1) -> ... -> /hop0 -> /ok
                case binary_to_integer(N) of
                    0 -> Redirect(S, 307, <<"/ok">>);
                    I -> Redirect(S, 302, [<<"/hop">>, integer_to_binary(I - 1)])
                end;
           (S, <<"/slow", N/binary>>) ->
                %% Each hop in time, all of them not.
                timer:sleep(600),
                case binary_to_integer(N) of
                    0 -> Redirect(S, 302, <<"/ok">>);
                    I -> Redirect(S, 302, [<<"/slow">>, integer_to_binary(I - 1)])
                end;
           (S, <<"/loop">>) ->
                gen_tcp:send(S, <<"HTTP/1.0 302 Found\r\nLocation: /loop\r\n\r\n">>);
           (S, <<"/noloc">>) ->
                gen_tcp:send(S, <<"HTTP/1.0 302 Found\r\n\r\n">>);
           (S, <<"/notmod">>) ->
                Redirect(S, 304, <<"/ok">>);
           (S, <<"/twoloc">>) ->
                gen_tcp:send(S, <<"HTTP/1.0 302 Found\r\nLocation: /ok\r\nLocation: /loop\r\n\r\n">>);
           (S, <<"/folded">>) ->
                gen_tcp:send(S, <<"HTTP/1.0 302 Found\r\nLocation: /o\r\n k\r\n\r\n">>);
           (S, <<"/longloc">>) ->
                %% Longer than a Location is kept: never cut, refused.
                Redirect(S, 302, [<<"/">>, binary:copy(<<"a">>, 3000)]);
           (S, <<"/longurl">>) ->
                %% Kept whole, then longer than a URL may be.
                Redirect(S, 302, [<<"/">>, binary:copy(<<"a">>, 1500)]);
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
              {"chunked: decoded", ?_assertEqual({ok, Crl}, Get("/chunked"))},
              {"chunked, endless: cut at the limit", ?_assertEqual({error, too_large}, Get("/chunked-big"))},
              {"404 with a 26 MB body: refused without reading it",
               ?_assertEqual({error, {http_status, 404}}, Get("/404big"))},
              {"a 200 longer than the limit", ?_assertEqual({error, too_large}, Get("/big"))},
              {"a Content-Length over the limit: refused before the body",
               ?_assertEqual({error, too_large}, Get("/biglength"))},
              {"shorter than its Content-Length", ?_assertEqual({error, truncated}, Get("/short"))},
              {"a negative Content-Length", ?_assertEqual({error, bad_response}, Get("/neglength"))},
              {"a server that never answers", ?_assertEqual({error, timeout}, Get("/silent"))},
              {"a server that closes at once", ?_assertEqual({error, {recv, closed}}, Get("/empty"))},
              {"a trickle: the deadline holds", ?_assertEqual({error, timeout}, Get("/trickle"))},
              {"500 headers", ?_assertEqual({error, too_many_headers}, Get("/headers"))},
              {"64 headers: taken", ?_assertEqual({ok, Crl}, Get("/headers64"))},
              {"65 headers", ?_assertEqual({error, too_many_headers}, Get("/headers65"))},
              {"100 interim answers", ?_assertEqual({error, too_many_headers}, Get("/continue"))},
              {"a 100 kB header line", ?_assertEqual({error, header_too_long}, Get("/longline"))},
              {"a 300 kB header line", ?_assertEqual({error, header_too_long}, Get("/hugeline"))},
              {"a 9 kB status line", ?_assertEqual({error, header_too_long}, Get("/longstatus"))},
              {"not HTTP", ?_assertEqual({error, bad_response}, Get("/garbage"))},
              {"redirect to https: refused",
               ?_assertEqual({error, {redirect, {scheme, <<"https">>}}}, Get("/to-https"))},
              {"redirect to ldap: refused",
               ?_assertEqual({error, {redirect, {scheme, <<"ldap">>}}}, Get("/to-ldap"))},
              {"redirect to http (relative): followed", ?_assertEqual({ok, Crl}, Get("/to-ok"))},
              {"redirect with a huge Content-Length and an endless body: followed",
               ?_assertEqual({ok, Crl}, Get("/to-ok-body"))},
              {"redirect to http (absolute): followed",
               ?_assertEqual({ok, Crl}, ?M:http_get(Url("/hop0"), #{timeout => 1500, max_bytes => 1048576}))},
              {"3 redirects: followed", ?_assertEqual({ok, Crl}, Get("/hop2"))},
              {"4 redirects: refused", ?_assertEqual({error, too_many_redirects}, Get("/hop3"))},
              {"redirect loop", ?_assertEqual({error, too_many_redirects}, Get("/loop"))},
              {"one deadline across hops", ?_assertEqual({error, timeout}, Get("/slow2"))},
              {"redirect without Location", ?_assertEqual({error, no_location}, Get("/noloc"))},
              {"304 is no redirect", ?_assertEqual({error, {http_status, 304}}, Get("/notmod"))},
              %% Refused by our head callback, or (libcurl 8.2x, Debian unstable)
              %% by libcurl itself before we see the second one.
              {"two Locations",
               ?_assert(lists:member(Get("/twoloc"), [{error, {redirect, malformed}},
                                                      {error, bad_response}]))},
              {"a Location folded over two lines",
               ?_assertEqual({error, {redirect, malformed}}, Get("/folded"))},
              {"a 3 kB Location: refused, not cut",
               ?_assertEqual({error, {redirect, too_long}}, Get("/longloc"))},
              {"a 1.5 kB Location: whole, then too long a URL",
               ?_assertEqual({error, {redirect, too_long}}, Get("/longurl"))},
              {"http_proxy in the environment: not used",
               ?_assertEqual(<<"ok ", (binary:encode_hex(crypto:hash(sha256, Crl)))/binary>>,
                             in_vm_with_proxy_env(Url("/ok")))}, 
              {"nothing listening",
               ?_assertMatch({error, {connect, econnrefused}},
                             ?M:http_get(<<"http://127.0.0.1:1/x">>,
                                         #{timeout => 1000, max_bytes => 1000}))},
              {"an https URL is not fetched at all",
               ?_assertEqual({error, {scheme, <<"https">>}},
                             ?M:http_get(<<"https://127.0.0.1/x">>,
                                         #{timeout => 1000, max_bytes => 1000}))}]
     end}.

%% The fetch of Url in another VM started with every proxy variable
%% libcurl reads pointing at a port where nothing listens: what it printed
%% ("ok" and the body's SHA-256, or the error). Another VM because
%% os:putenv/2 changes only the VM's own copy of the environment, which
%% libcurl's getenv() never sees.
in_vm_with_proxy_env(Url) ->
    Ebin = filename:dirname(code:which(?M)),
    Eval = io_lib:format("R = case mod_s2s_trust_crl_fetch:http_get(<<\"~s\">>, "
                         "#{timeout => 3000, max_bytes => 1048576}) of "
                         "{ok, B} -> [\"ok \", binary:encode_hex(crypto:hash(sha256, B))]; "
                         "E -> io_lib:format(\"~~0p\", [E]) end, "
                         "io:put_chars([\"<<\", R, \">>\"]), halt().", [Url]),
    Env = [{V, "http://127.0.0.1:1/"} || V <- ["http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"]],
    P = open_port({spawn_executable, os:find_executable("erl")},
                  [{args, ["-noshell", "-pa", Ebin, "-eval", lists:flatten(Eval)]}, {env, Env},
                   exit_status, binary, stderr_to_stdout]),
    Out = collect(P, <<>>),
    case re:run(Out, <<"<<(.*)>>">>, [{capture, all_but_first, binary}]) of
        {match, [R]} -> R;
        nomatch -> Out
    end.

collect(P, Acc) ->
    receive
        {P, {data, D}} -> collect(P, <<Acc/binary, D/binary>>);
        {P, {exit_status, _}} -> Acc
    after 20000 -> Acc
    end.

%% The NIF's own rules: the URL is data (a refusal, never badarg), the
%% options are ours (badarg naming the argument); http:// alone is spoken
%% whatever the caller passes.
nif_test_() ->
    F = fun s2s_trust_nif:crl_fetch_nif/2,
    O = #{timeout => 1000, max_bytes => 1000},
    [?_assertMatch({error, #{status := bad_url}}, F(<<>>, O)),
     ?_assertMatch({error, #{status := bad_url}}, F(<<"http://a", 0, "b/">>, O)),
     ?_assertMatch({error, #{status := bad_url}}, F(binary:copy(<<"a">>, 5000), O)),
     ?_assertMatch({error, #{status := bad_url}}, F(<<"https://127.0.0.1:1/x">>, O)),
     ?_assertMatch({error, #{status := bad_url}}, F(<<"file:///etc/passwd">>, O)),
     ?_assertMatch({error, #{status := connect_failed, cause := connect, errno := econnrefused}},
                   F(<<"http://127.0.0.1:1/x">>, O)),
     ?_assertError({badarg, _, _}, F(not_a_binary, O)),
     ?_assertError({badarg, _, _}, F(<<"http://a/">>, not_a_map)),
     ?_assertError({badarg, _, _}, F(<<"http://a/">>, maps:remove(timeout, O))),
     ?_assertError({badarg, _, _}, F(<<"http://a/">>, O#{timeout => 0})),
     ?_assertError({badarg, _, _}, F(<<"http://a/">>, O#{timeout => 120001})),
     ?_assertError({badarg, _, _}, F(<<"http://a/">>, O#{max_bytes => 0})),
     ?_assertError({badarg, _, _}, F(<<"http://a/">>, O#{max_bytes => 104857601}))].
