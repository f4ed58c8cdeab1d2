%%% mod_s2s_trust_crl_fetch - one HTTP GET of a CRL, with hard limits
%%% (docs/crl.md, "Limits on the network side").
%%%
%%% One concern: talking to a CRL server, which is the network and whose
%%% answers are hostile input. Every byte is counted: the status line and
%%% each header at most ?MAX_LINE bytes, ?MAX_HEADERS headers, the body at
%%% most max_bytes (a larger Content-Length is refused before the body),
%%% everything within one deadline, redirects included (at most
%%% ?MAX_REDIRECTS, each to a URL that passes the same test as the first:
%%% mod_s2s_trust_crl_check:validate_url/1). HTTP/1.0 with Connection:
%%% close, so no chunked answer and no keep-alive.
%%%
%%% Why our own client and not httpc: with {stream, self} httpc streams
%%% only 200/206 answers and keeps a whole error body in memory (a 404 with
%%% a 200 MB body cost the VM 200 MB when measured; docs/crl.md). Why
%%% apart: it is the only code here that reads from a socket, so its
%%% limits can be read and tested (against a scripted hostile server, in
%%% tests/erl/mod_s2s_trust_crl_fetch_tests.erl) without the rest.
-module(mod_s2s_trust_crl_fetch).

-export([http_get/2]).
%% pure, for EUnit
-export([parse_http_head/1]).

%% Redirects followed (http:// to http:// only).
-define(MAX_REDIRECTS, 3).
%% Response head: bytes per line (status and each header), and header count.
-define(MAX_LINE, 8192).
-define(MAX_HEADERS, 64).

-spec http_get(mod_s2s_trust_crl_check:url(),
               #{timeout := pos_integer(), max_bytes := pos_integer()}) ->
          {ok, binary()} | {error, term()}.
http_get(Url, #{timeout := Timeout, max_bytes := Max}) ->
    Deadline = erlang:monotonic_time(millisecond) + Timeout,
    http_get(Url, Deadline, Max, 0).

http_get(_Url, _Deadline, _Max, Hops) when Hops > ?MAX_REDIRECTS ->
    {error, too_many_redirects};
http_get(Url, Deadline, Max, Hops) ->
    case mod_s2s_trust_crl_check:validate_url(Url) of
        {error, R} when Hops > 0 -> {error, {redirect, R}};
        {error, R} -> {error, R};
        {ok, _} ->
            #{host := Host} = U = uri_string:parse(Url),
            Port = maps:get(port, U, 80),
            Path = case {maps:get(path, U, <<>>), maps:get(query, U, undefined)} of
                       {<<>>, undefined} -> <<"/">>;
                       {P, undefined} -> P;
                       {P, Q} -> <<P/binary, "?", Q/binary>>
                   end,
            case exchange(Host, Port, Path, Deadline, Max) of
                {redirect, Location} ->
                    Next = try uri_string:resolve(Location, Url) of
                               N when is_binary(N) -> N;
                               _ -> Location
                           catch _:_ -> Location
                           end,
                    http_get(Next, Deadline, Max, Hops + 1);
                Other ->
                    Other
            end
    end.

left(Deadline) -> max(0, Deadline - erlang:monotonic_time(millisecond)).

exchange(Host, Port, Path, Deadline, Max) ->
    case connect(Host, Port, Deadline) of
        {error, R} -> {error, {connect, R}};
        {ok, S} ->
            try
                HostHdr = case Port of
                              80 -> Host;
                              _ -> [Host, $:, integer_to_binary(Port)]
                          end,
                Req = [<<"GET ">>, Path, <<" HTTP/1.0\r\nHost: ">>, HostHdr,
                       <<"\r\nUser-Agent: mod_s2s_trust (ejabberd)\r\n"
                         "Accept: application/pkix-crl, application/x-pkcs7-crl, */*\r\n"
                         "Connection: close\r\n\r\n">>],
                case gen_tcp:send(S, Req) of
                    ok -> response(S, Deadline, Max);
                    {error, R} -> {error, {recv, R}}
                end
            after
                gen_tcp:close(S)
            end
    end.

connect(Host, Port, Deadline) ->
    Opts = [binary, {active, false}, {packet, http_bin}, {packet_size, ?MAX_LINE},
            {recbuf, 65536}, {send_timeout, left(Deadline)}],
    H = binary_to_list(Host),
    case inet:parse_address(H) of
        {ok, Addr} ->
            Family = case tuple_size(Addr) of 4 -> inet; 8 -> inet6 end,
            gen_tcp:connect(Addr, Port, [Family | Opts], left(Deadline));
        {error, _} ->
            case gen_tcp:connect(H, Port, [inet | Opts], left(Deadline)) of
                {error, nxdomain} -> gen_tcp:connect(H, Port, [inet6 | Opts], left(Deadline));
                Other -> Other
            end
    end.

response(S, Deadline, Max) ->
    case gen_tcp:recv(S, 0, left(Deadline)) of
        {ok, {http_response, _Vsn, Status, _Reason}} ->
            case headers(S, Deadline, 0, #{}) of
                {ok, Hs} -> answer(S, Status, Hs, Deadline, Max);
                {error, _} = E -> E
            end;
        {ok, _} -> {error, bad_response};
        {error, timeout} -> {error, timeout};
        {error, R} -> {error, {recv, R}}
    end.

headers(_S, _Deadline, N, _Hs) when N > ?MAX_HEADERS ->
    {error, too_many_headers};
headers(S, Deadline, N, Hs) ->
    case gen_tcp:recv(S, 0, left(Deadline)) of
        {ok, http_eoh} -> {ok, Hs};
        {ok, {http_header, _, Name, _, Value}} ->
            Key = case Name of
                      A when is_atom(A) -> string:lowercase(atom_to_binary(A));
                      B -> string:lowercase(B)
                  end,
            headers(S, Deadline, N + 1, Hs#{Key => Value});
        {ok, _} -> {error, bad_response};
        {error, timeout} -> {error, timeout};
        {error, R} -> {error, {recv, R}}
    end.

answer(S, Status, Hs, Deadline, Max) ->
    case parse_http_head({Status, Hs}) of
        {redirect, _} = R -> R;
        {error, _} = E -> E;
        {body, Length} when is_integer(Length), Length > Max -> {error, too_large};
        {body, Length} ->
            ok = inet:setopts(S, [{packet, raw}]),
            body(S, Length, Deadline, Max, 0, [])
    end.

%% What a response's status and headers mean for us (pure, for EUnit):
%% a body to read (with its Content-Length, if any), a redirect, or an error.
-spec parse_http_head({integer(), #{binary() => binary()}}) ->
          {body, non_neg_integer() | undefined} | {redirect, binary()} | {error, term()}.
parse_http_head({Status, Hs}) when Status >= 300, Status < 400,
                                   Status =/= 300, Status =/= 304, Status =/= 305 ->
    case maps:find(<<"location">>, Hs) of
        {ok, L} when byte_size(L) > 0 -> {redirect, L};
        _ -> {error, no_location}
    end;
parse_http_head({200, Hs}) ->
    case maps:get(<<"transfer-encoding">>, Hs, <<"identity">>) of
        TE when TE =/= <<"identity">> -> {error, unsupported_encoding};
        _ ->
            case maps:find(<<"content-length">>, Hs) of
                error -> {body, undefined};
                {ok, V} ->
                    try binary_to_integer(string:trim(V)) of
                        N when N >= 0 -> {body, N};
                        _ -> {error, bad_response}
                    catch _:_ -> {error, bad_response}
                    end
            end
    end;
parse_http_head({Status, _}) ->
    {error, {http_status, Status}}.

body(_S, Length, _Deadline, _Max, Got, Acc) when is_integer(Length), Got >= Length ->
    {ok, binary:part(iolist_to_binary(lists:reverse(Acc)), 0, Length)};
body(S, Length, Deadline, Max, Got, Acc) ->
    case gen_tcp:recv(S, 0, left(Deadline)) of
        {ok, Bin} when Got + byte_size(Bin) > Max -> {error, too_large};
        {ok, Bin} -> body(S, Length, Deadline, Max, Got + byte_size(Bin), [Bin | Acc]);
        {error, closed} when Length =:= undefined -> {ok, iolist_to_binary(lists:reverse(Acc))};
        {error, closed} -> {error, truncated};
        {error, timeout} -> {error, timeout};
        {error, R} -> {error, {recv, R}}
    end.

