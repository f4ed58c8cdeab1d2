%%% EUnit: the HTTP client of CRL refresh, mod_s2s_trust_crl_fetch
%%% (docs/crl.md, "Limits on the network side"): what a response head means,
%%% and every limit held against a scripted hostile server on 127.0.0.1.
-module(mod_s2s_trust_crl_fetch_tests).

-include_lib("eunit/include/eunit.hrl").

-import(s2s_trust_test_pki, [pki/1]).

-define(M, mod_s2s_trust_crl_fetch).

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
