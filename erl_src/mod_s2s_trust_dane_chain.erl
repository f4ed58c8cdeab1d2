%%% mod_s2s_trust_dane_chain - DANE-TA under a TLS layer that keeps only
%%% the peer's leaf (docs/dane.md, "DANE-TA and ejabberd's TLS layer").
%%%
%%% A DANE-TA record names a CA certificate that the peer sends in its
%%% chain (RFC 7671 §5.2.2); fast_tls hands us only the leaf. So when a
%%% leaf alone matches none of a secure record set holding DANE-TA records,
%%% we ask the peer's server (the SRV target and port the records are
%%% published for) for the chain it sends, as mod_s2s_trust_learn does for
%%% intermediates, and match again with that chain if its leaf is the very
%%% leaf being judged. The probed chain needs no trust of its own: the
%%% DNSSEC-signed record names the anchor, and OpenSSL checks every
%%% signature from the leaf up.
%%%
%%% What a peer can make us do, and the bounds on it:
%%% - one probe per (peer domain, target, port) per ?REPROBE_GAP seconds at
%%%   most, whatever leaves the peer presents (the cache is not keyed by
%%%   leaf); a chain whose leaf is the one judged serves for ?CHAIN_TTL, and
%%%   another leaf or a failure is asked again after ?REPROBE_GAP (a
%%%   certificate rotation is picked up within that);
%%% - at most ?MAX_PROBES probes at once, node-wide (mod_s2s_trust_slots);
%%% - one deadline per judgement (probe_timeout), name resolution included,
%%%   however many targets the record sets have;
%%% - a cached chain is at most ?MAX_CHAIN certificates and ?MAX_BYTES
%%%   bytes, at most ?MAX_CHAINS of them;
%%% - its log lines once a minute per (peer, kind).
%%% When the chain cannot be had (busy, no answer, another leaf), the
%%% verdict says so (ta_chain_unavailable: mod_s2s_trust_dane refuses it as
%%% dane_unavailable), never dane_mismatch: the fault may be ours.
%%% The probe goes where ejabberd itself would connect for the peer's
%%% domain (its DNSSEC-signed SRV target), so it opens no path ejabberd
%%% does not already take.
-module(mod_s2s_trust_dane_chain).

-export([complete/5, prober/4]).

-include_lib("kernel/include/logger.hrl").

-define(CHAINS, mod_s2s_trust_dane_chains).
-define(MAX_CHAINS, 1000).
-define(CHAIN_TTL, 3600).
-define(CHAIN_FAILURE_TTL, 300).
-define(REPROBE_GAP, 60).
-define(MAX_PROBES, 2).
-define(MAX_ADDRESSES, 4).
-define(MAX_CHAIN, 16).
-define(MAX_BYTES, 65536).
-define(LOG_INTERVAL, 60).

-type match() :: {atom(), atom() | binary(), map()}.

%% The match of a chain against one target's records (Result, from
%% Verify(Chain)), completed with the chain the peer's server sends when
%% that can change it. Probe() -> {ok, SentChain} | {error, Why}; Verify is
%% s2s_trust_dane:verify/5 bound to the store, domain, target and records.
%% Pure given its funs (EUnit).
-spec complete(match(), [binary()], [s2s_trust_dane:tlsa()], fun(() -> {ok, [binary()]} | {error, binary()}),
               fun(([binary()]) -> match())) -> match().
complete({dane_mismatch, _, _} = Result, [Leaf], Records, Probe, Verify) ->
    case lists:any(fun({Usage, _, _, _}) -> Usage =:= 2 end, Records) of
        false ->
            Result;   % no DANE-TA record: the leaf alone was all there was to match
        true ->
            case Probe() of
                {ok, [Leaf]} ->
                    Result;   % its server sends no more than we have: a real mismatch
                {ok, [Leaf | _] = Sent} ->
                    case Verify(Sent) of
                        {dane_ta, ok, Info} -> {dane_ta, ok, Info#{chain_from => peer_server}};
                        Other -> Other
                    end;
                {ok, _AnotherLeaf} ->
                    {ta_chain_unavailable, <<"its server presents another certificate">>, #{}};
                {error, Why} ->
                    {ta_chain_unavailable, Why, #{}}
            end
    end;
complete(Result, _Chain, _Records, _Probe, _Verify) ->
    Result.

%% The prober of one judgement: Fun(Target, Port) -> the chain RServer's
%% server at Target:Port sends, within one deadline for all of them.
-spec prober(binary(), binary(), binary(), non_neg_integer()) ->
          fun((binary(), inet:port_number() | undefined) -> {ok, [binary()]} | {error, binary()}).
prober(Host, RServer, Leaf, TimeoutMs) ->
    Deadline = erlang:monotonic_time(millisecond) + TimeoutMs,
    fun(_Target, undefined) -> {error, <<"no port for the target">>};
       (Target, Port) -> sent_chain(Host, RServer, Target, Port, Leaf, Deadline)
    end.

sent_chain(Host, RServer, Target, Port, Leaf, Deadline) ->
    Key = {RServer, Target, Port},
    Now = erlang:monotonic_time(second),
    case mod_s2s_trust_ttl_cache:get(?CHAINS, Key, Now) of
        {ok, {{ok, [Leaf | _]} = Cached, _At}} ->
            Cached;
        {ok, {{ok, _}, At}} when Now - At < ?REPROBE_GAP ->
            %% another leaf just now: not asked again yet
            {error, <<"its server presented another certificate less than a minute ago">>};
        {ok, {{error, _} = Failure, At}} when Now - At < ?REPROBE_GAP ->
            Failure;
        _ ->
            case mod_s2s_trust_slots:run(dane_chain, ?MAX_PROBES,
                                         fun() -> probe(Host, RServer, Target, Port, Deadline) end) of
                busy ->
                    log(RServer, busy, "mod_s2s_trust: no chain probe for ~ts: ~b already running",
                        [mod_s2s_trust:safe(RServer), ?MAX_PROBES]),
                    {error, <<"busy: ", (integer_to_binary(?MAX_PROBES))/binary,
                              " chain probes already running">>};   % ours, not cached
                Probed ->
                    TTL = case Probed of
                              {ok, _} -> ?CHAIN_TTL;
                              {error, Why} ->
                                  log(RServer, failed, "mod_s2s_trust: no chain from ~ts:~b for ~ts: ~ts",
                                      [mod_s2s_trust_format:text_escape(Target), Port,
                                       mod_s2s_trust:safe(RServer), Why]),
                                  ?CHAIN_FAILURE_TTL
                          end,
                    mod_s2s_trust_ttl_cache:put(?CHAINS, Key, {Probed, Now}, Now + TTL, ?MAX_CHAINS),
                    Probed
            end
    end.

%% The chain Target:Port sends when asked as RServer's server (STARTTLS:
%% RFC 7673 records belong to the _xmpp-server SRV target), from the first
%% of its addresses that answers, within Deadline.
probe(Host, RServer, Target, Port, Deadline) ->
    log(RServer, probing, "mod_s2s_trust: probing ~ts:~b for the chain of ~ts (a DANE-TA record, and "
        "ejabberd keeps only the leaf)",
        [mod_s2s_trust_format:text_escape(Target), Port, mod_s2s_trust:safe(RServer)]),
    Addrs = lists:append([addresses(Target, F, Deadline) || F <- [inet, inet6]]),
    case Addrs of
        [] -> {error, <<"the target has no address">>};
        _ -> first_chain(lists:sublist(Addrs, ?MAX_ADDRESSES), Host, RServer, Port, Deadline)
    end.

first_chain([], _Host, _RServer, _Port, _Deadline) ->
    {error, <<"no address of the target sent a chain">>};
first_chain([Addr | Rest], Host, RServer, Port, Deadline) ->
    case left(Deadline) of
        Left when Left < 100 ->
            {error, <<"probe_timeout passed">>};
        Left ->
            try s2s_trust:probe(RServer, Host, Addr, Port, starttls, Left) of
                {ok, Chain, _Info} ->
                    Kept = lists:sublist(Chain, ?MAX_CHAIN),
                    case lists:sum([byte_size(C) || C <- Kept]) > ?MAX_BYTES of
                        true -> {error, <<"its chain is over 64 KB">>};
                        false -> {ok, Kept}
                    end;
                _ ->
                    first_chain(Rest, Host, RServer, Port, Deadline)
            catch _:_ ->
                    first_chain(Rest, Host, RServer, Port, Deadline)
            end
    end.

addresses(Target, Family, Deadline) ->
    case left(Deadline) of
        Left when Left < 100 -> [];
        Left ->
            case inet:gethostbyname(binary_to_list(Target), Family, Left) of
                {ok, {hostent, _, _, _, _, As}} -> As;
                {error, _} -> []
            end
    end.

left(Deadline) -> Deadline - erlang:monotonic_time(millisecond).

%% Once a minute per peer and kind: a peer's streams must not flood the log.
log(RServer, Kind, Format, Args) ->
    case mod_s2s_trust_throttle:allow({RServer, dane_chain, Kind}, erlang:system_time(second),
                                      ?LOG_INTERVAL) of
        {true, Held} -> ?LOG_INFO(Format ++ "~ts", Args ++ [mod_s2s_trust_record:held_text(Held)]);
        false -> ok
    end.
