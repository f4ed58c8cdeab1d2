%%% s2s_trust_dane - DANE for XMPP s2s (RFC 7673) over the trust engine:
%%% a DNSSEC-validating resolver (libunbound, with its own threads) and the
%%% match of a chain against TLSA records (inside OpenSSL's DANE code).
%%% No policy here: mod_s2s_trust_dane decides what a lookup means.
%%%
%%%   {ok, R} = s2s_trust_dane:open_resolver(default, default),
%%%   Lookup = s2s_trust_dane:lookup(R, <<"example.org">>, 5000),
%%%   #{status := secure, targets := [#{host := H, records := Rs} | _]} = Lookup,
%%%   {dane_ee, ok, _} = s2s_trust_dane:verify(Store, <<"example.org">>, H, [LeafDer], Rs).
-module(s2s_trust_dane).

-export([open_resolver/2, lookup/3, verify/5]).
-export_type([resolver/0, lookup/0, status/0, tlsa/0]).

-opaque resolver() :: reference().
-type status() :: secure | insecure | bogus | error.
-type tlsa() :: {Usage :: byte(), Selector :: byte(), MType :: byte(), Data :: binary()}.
-type target() :: #{host := binary(), port := 1..65535, status := status(), records := [tlsa()]}.
-type lookup() :: #{status := status(), why := binary() | undefined, srv := boolean(),
                    targets := [target()]}
                | {error, timeout | busy}.

%% Resolver threads and how many lookups may wait for them. A queue that
%% is full answers busy at once: a flood of new peers never piles up.
-define(THREADS, 4).
-define(MAX_QUEUE, 1024).
%% How much longer than its deadline lookup/3 waits for the resolver.
-define(BACKSTOP_MS, 500).

%% UnboundConf: a libunbound configuration file, or default (recursion
%% from the root). TrustAnchor: a file of DS/DNSKEY lines, or default (the
%% system's /usr/share/dns/root.key, package dns-root-data).
-spec open_resolver(file:filename_all() | default, file:filename_all() | default) ->
          {ok, resolver()} | {error, binary()}.
open_resolver(UnboundConf, TrustAnchor) ->
    s2s_trust_nif:dnssec_open_nif(path(UnboundConf), path(TrustAnchor), ?THREADS, ?MAX_QUEUE).

path(default) -> default;
path(P) -> unicode:characters_to_binary(P).

%% The RFC 7673 lookup of Domain (SRV, then TLSA per target), answered
%% within TimeoutMs. The deadline is the resolver's (C), for the whole
%% lookup: a query still unanswered then is cancelled and its thread
%% freed, and a lookup that got nothing in time is {error, timeout}. The
%% caller never blocks a scheduler: the query runs on the resolver's
%% threads and the answer is a message, taken here by a short-lived
%% process so that a late answer cannot reach the caller's mailbox. Its
%% own wait, ?BACKSTOP_MS longer, only guards against a resolver that
%% broke its deadline.
-spec lookup(resolver(), binary(), 1..600000) -> lookup().
lookup(Resolver, Domain, TimeoutMs) when is_binary(Domain) ->
    Caller = self(),
    Tag = make_ref(),
    {Pid, Mon} = spawn_monitor(
                   fun() ->
                           Ref = make_ref(),
                           Answer = case s2s_trust_nif:dane_lookup_nif(Resolver, Domain, 5269,
                                                                       TimeoutMs, Ref) of
                                        ok ->
                                            receive {s2s_trust_dane, Ref, L} -> answer(L)
                                            after TimeoutMs + ?BACKSTOP_MS -> {error, timeout}
                                            end;
                                        {error, busy} = Busy ->
                                            Busy
                                    end,
                           Caller ! {Tag, Answer}
                   end),
    receive
        {Tag, Answer} ->
            erlang:demonitor(Mon, [flush]),
            Answer;
        {'DOWN', Mon, process, Pid, Why} ->
            erlang:error({dane_lookup_failed, Why})
    end.

%% Nothing in time is a timeout, whichever side saw it first; a lookup
%% that did get an answer (a secure target beside one that timed out)
%% stays a lookup.
answer(#{status := error, timeout := true}) -> {error, timeout};
answer(#{} = L) -> maps:remove(timeout, L).

%% Does Chain (leaf first, DER) match Records found under Target (the SRV
%% target, or undefined) for Domain? {Outcome, Verdict, Info}: Outcome is
%% dane_ee | dane_ta | pkix (accepted by that record), dane_mismatch
%% (usable records, none matched), failed (a record matched, the chain
%% failed: Verdict says why) or unusable (no record OpenSSL can use: PKIX
%% alone decides, Verdict is its answer).
-spec verify(s2s_trust:store(), binary(), binary() | undefined, [binary()], [tlsa()]) ->
          {dane_ee | dane_ta | pkix | dane_mismatch | failed | unusable, atom(), map()}.
verify(Store, Domain, Target, Chain, Records) ->
    s2s_trust_nif:dane_verify_nif(Store, Domain, Target, Chain, Records).
