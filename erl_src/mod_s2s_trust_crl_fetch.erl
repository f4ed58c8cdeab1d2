%%% mod_s2s_trust_crl_fetch - one HTTP GET of a CRL, with hard limits
%%% (docs/crl.md, "Limits on the network side").
%%%
%%% One concern: talking to a CRL server, which is the network and whose
%%% answers are hostile input. Each hop is one GET by the project's one
%%% HTTP client, libcurl in c_src/net/s2s_trust_http.c, through
%%% s2s_trust_nif:crl_fetch_nif/2 on a dirty IO scheduler: http:// only,
%%% no proxy from the environment, the head bounded (each line 8 KB, at
%%% most 64 header lines), the body at most max_bytes (a larger
%%% Content-Length is refused before the body), no body read from an answer
%%% other than 200, redirects never followed by libcurl. Here: the
%%% redirects (at most ?MAX_REDIRECTS, each Location resolved against the
%%% URL that sent it and held to the same test as the first URL:
%%% mod_s2s_trust_crl_check:validate_url/1), one deadline across every hop
%%% (each GET gets what is left of it), and the failure's name.
%%%
%%% Why not OTP's httpc: with {stream, self} it streams only 200/206
%%% answers and keeps a whole error body in memory (a 404 with a 200 MB
%%% body cost the VM 200 MB when measured; docs/crl.md). Why apart: it is
%%% the only code of CRL refresh that reaches the network, so its limits
%%% can be read and tested (against a scripted hostile server, in
%%% tests/erl/mod_s2s_trust_crl_fetch_tests.erl) without the rest.
-module(mod_s2s_trust_crl_fetch).

-export([http_get/2]).
%% pure, for EUnit
-export([reason/1]).

%% Redirects followed (http:// to http:// only).
-define(MAX_REDIRECTS, 3).

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
            case Deadline - erlang:monotonic_time(millisecond) of
                Left when Left =< 0 -> {error, timeout};
                Left ->
                    Opts = #{timeout => min(Left, 120000), max_bytes => Max},
                    case s2s_trust_nif:crl_fetch_nif(Url, Opts) of
                        {ok, Body} ->
                            {ok, Body};
                        {error, Info} ->
                            case reason(Info) of
                                {follow, Location} ->
                                    http_get(resolve(Location, Url), Deadline, Max, Hops + 1);
                                Reason ->
                                    {error, Reason}
                            end
                    end
            end
    end.

%% A Location as sent, against the URL that sent it (RFC 3986 5.2). One
%% that does not resolve goes on as it is, and validate_url/1 refuses it.
resolve(Location, Url) ->
    try uri_string:resolve(Location, Url) of
        N when is_binary(N) -> N;
        _ -> Location
    catch _:_ -> Location
    end.

%% What a failed GET (crl_fetch_nif's error map) means here: a redirect to
%% follow, or the reason the fetch failed, in the names the rest of CRL
%% refresh, its logs and mod_s2s_trust_crl_check:format_error/1 use. Pure,
%% for EUnit.
-spec reason(map()) -> {follow, binary()} | term().
reason(#{status := redirect, code := Code}) when Code =:= 300; Code =:= 304; Code =:= 305 ->
    %% Multiple Choices, Not Modified, Use Proxy: not a move to follow.
    {http_status, Code};
reason(#{status := redirect, location := L}) when is_binary(L) -> {follow, L};
reason(#{status := redirect, location := undefined}) -> no_location;
reason(#{status := redirect, location := too_long}) -> {redirect, too_long};
reason(#{status := redirect, location := bad}) -> {redirect, malformed};
reason(#{status := http_status, code := Code}) -> {http_status, Code};
reason(#{status := timeout}) -> timeout;
reason(#{status := too_large}) -> too_large;
reason(#{status := connect_failed, cause := resolve}) -> {connect, nxdomain};
reason(#{status := connect_failed, errno := E}) when E =/= undefined -> {connect, E};
reason(#{status := failed, cause := truncated}) -> truncated;
reason(#{status := failed, cause := bad_answer}) -> bad_response;
reason(#{status := failed, cause := too_many_headers}) -> too_many_headers;
reason(#{status := failed, cause := line_too_long}) -> header_too_long;
reason(#{status := failed, cause := empty}) -> {recv, closed};
reason(#{status := failed, cause := io, errno := E}) when E =/= undefined -> {recv, E};
reason(#{status := Status, why := Why}) -> {http_failed, Status, Why}.
