%%% mod_s2s_trust_posh - what a peer's POSH document (RFC 7711; docs/dane.md)
%%% means for it, per vhost: option posh = off | on (default off).
%%%
%%% With posh on, a peer that PKIX (and DANE) refused for a reason POSH can
%%% cure has its document fetched, https://DOMAIN/.well-known/posh/
%%% xmpp-server.json (full certificate validation, no HTTP redirect, one
%%% `url` hop, bounded size and time: s2s_trust_posh). A fingerprint
%%% matching the peer's leaf accepts it (authority posh); a document whose
%%% fingerprints all differ refuses it as posh_mismatch; no document, or
%%% one that could not be fetched or read, keeps the refusal as it was, its
%%% detail saying that POSH was tried and why it did not help.
%%%
%%% Curable reasons, and only these: name_mismatch (the delegation POSH is
%%% for: a hosting provider's certificate for the customer's domain),
%%% self_signed and unknown_issuer (a certificate no public CA vouches for;
%%% the document does, over HTTPS that a public CA vouches for). Never
%%% cured: expired, not_yet_valid, revoked, bad_signature, weak_crypto,
%%% malformed and the other chain faults (a fingerprint says which
%%% certificate, not that it is sound), untrusted (an unnamed failure), and
%%% every DANE refusal: dane_mismatch, dnssec_bogus, dane_required,
%%% dane_unavailable, and a chain that matched a DNSSEC-signed TLSA record
%%% and then failed (signed DNS outranks a web page). A leaf outside its
%%% validity period is not matched either (a self-signed leaf's dates are
%%% never looked at by PKIX, which stops at self_signed).
%%%
%%% Documents are cached per (domain, fetch options) in one node-wide ETS
%%% table, at most ?MAX_ENTRIES: a document for min(its expires, 1 day), a
%%% failure for ?FAILURE_TTL seconds, so a peer cannot make us fetch on each
%%% of its streams. Two streams of one peer arriving together may both fetch.
-module(mod_s2s_trust_posh).

-export([judge/4, flush/0]).
%% mod_s2s_trust's options of POSH (its mod_opt_type/1, mod_options/1, mod_doc/0 ask here)
-export([mod_opt_type/1, mod_options/0, mod_doc_opts/0]).
%% pure, for EUnit
-export([decide/4, curable/2, cache_ttl/2]).


-define(TAB, mod_s2s_trust_posh_cache).
-define(MAX_ENTRIES, 10000).
%% POSH fetches running at once, node-wide (mod_s2s_trust_slots: each holds
%% a dirty I/O scheduler up to posh_timeout; the VM has 10 by default).
-define(MAX_FETCHES, 4).
-define(MAX_TTL, 86400).
-define(FAILURE_TTL, 300).
-define(CURABLE, [name_mismatch, self_signed, unknown_issuer]).

-type judged() :: {ok | {error, atom()}, map()}.
-type fetched() :: {ok, s2s_trust_posh:doc()} | {error, atom(), binary()}.
-type peer() :: #{domain := binary(), der := binary(), in_validity := boolean()}.

%%%===================================================================
%%% Options (of mod_s2s_trust; vhost options)
%%%===================================================================

mod_opt_type(posh) ->
    econf:enum([off, on]);
mod_opt_type(posh_cafile) ->
    econf:either(econf:enum([default]), econf:file());
mod_opt_type(posh_timeout) ->
    econf:int(100, 60000);
mod_opt_type(posh_resolve) ->
    econf:list(econf:binary("^[^:]+:[0-9]+:[^:]+$"));
mod_opt_type(posh_port) ->
    econf:int(0, 65535).

mod_options() ->
    [{posh, off}, {posh_cafile, default}, {posh_timeout, 5000}, {posh_resolve, []}, {posh_port, 0}].

mod_doc_opts() ->
    [{posh,
            #{value => "off | on",
              desc => "POSH for s2s (RFC 7711, docs/dane.md): 'on' fetches the peer's "
                      "https://DOMAIN/.well-known/posh/xmpp-server.json when its certificate was "
                      "refused as name_mismatch, self_signed or unknown_issuer (and no DNSSEC-signed "
                      "TLSA record decided), accepts it when a fingerprint matches, and refuses it as "
                      "posh_mismatch when none does. Default off."}},
           {posh_cafile,
            #{value => "default | Path",
              desc => "The only anchors for the HTTPS servers of POSH documents; 'default' is "
                      "the system's CA bundle."}},
           {posh_timeout,
            #{value => "Milliseconds",
              desc => "Deadline of one POSH fetch, its one delegation hop included (default 5000)."}},
           {posh_resolve,
            #{value => "[HOST:PORT:ADDR]",
              desc => "For tests and private deployments only: connect to ADDR for HOST:PORT "
                      "when fetching POSH documents (as curl --resolve; the certificate is still "
                      "verified for HOST). Default []."}},
           {posh_port,
            #{value => "Port",
              desc => "For tests and private deployments only: the port of the peer's POSH URL "
                      "(0, the default, is 443)."}}].

%%%===================================================================
%%% The cache, the judgement
%%%===================================================================

%% The cache's table is owned by mod_s2s_trust_throttle's process, with
%% the module's other ETS tables; without it (module stopping) nothing is
%% cached and every judgement fetches.

%% Forget every cached document (s2s_trust_reload, tests).
-spec flush() -> ok.
flush() ->
    mod_s2s_trust_ttl_cache:flush(?TAB).

%% Judged (PKIX, then DANE) of Chain for RServer, seen through the vhost's
%% POSH policy.
-spec judge(binary(), binary(), [binary()], judged()) -> judged().
judge(_Host, _RServer, [], Judged) ->
    Judged;
judge(Host, RServer, [Leaf | _], Judged) ->
    case gen_mod:get_module_opt(Host, mod_s2s_trust, posh) of
        off ->
            Judged;
        on ->
            Peer = #{domain => RServer, der => Leaf, in_validity => in_validity(Leaf)},
            decide(on, Judged, Peer, fun() -> cached_fetch(Host, RServer) end)
    end.

%% The policy as a pure function of the judgement so far, the peer, and a
%% fetch that is only called when POSH could change the answer.
-spec decide(off | on, judged(), peer(), fun(() -> fetched())) -> judged().
decide(off, Judged, _Peer, _Fetch) ->
    Judged;
decide(on, {ok, _} = Judged, _Peer, _Fetch) ->
    Judged;
decide(on, {{error, R}, D} = Judged, #{domain := Domain} = Peer, Fetch) ->
    case curable(R, D) of
        false ->
            Judged;
        true when not map_get(in_validity, Peer) ->
            {{error, R},
             tried(D, not_tried, <<"not tried, the certificate is outside its validity period">>)};
        true ->
            case Fetch() of
                {ok, Doc} ->
                    case s2s_trust_posh:match(Doc, map_get(der, Peer)) of
                        true ->
                            {ok, D#{authority => posh, posh => match,
                                    detail => <<"accepted by the POSH document of ",
                                                (mod_s2s_trust_format:text_escape(Domain))/binary,
                                                (hop_text(Doc))/binary, " (RFC 7711): a fingerprint "
                                                "matches the certificate, which PKIX alone refused as ",
                                                (atom_to_binary(R))/binary>>}};
                        false ->
                            {{error, posh_mismatch},
                             D#{posh => mismatch,
                                detail => <<"the certificate matches none of the fingerprints of the "
                                            "POSH document of ",
                                            (mod_s2s_trust_format:text_escape(Domain))/binary,
                                            (hop_text(Doc))/binary, " (and PKIX refused it as ",
                                            (atom_to_binary(R))/binary, ")">>}}
                    end;
                {error, Why, Text} ->
                    {{error, R},
                     tried(D, Why, <<"tried, no usable document: ", (atom_to_binary(Why))/binary, " (",
                                     (mod_s2s_trust_format:text_escape(Text))/binary, ")">>)}
            end
    end.

%% Can POSH accept a chain refused as R (with details D)?
-spec curable(atom(), map()) -> boolean().
curable(R, D) ->
    lists:member(R, ?CURABLE) andalso maps:get(dane, D, undefined) =/= secure.

tried(D, Why, Text) ->
    Detail = maps:get(detail, D, <<>>),
    D#{posh => Why, detail => <<Detail/binary, "; POSH ", Text/binary>>}.

hop_text(#{hop := Url}) when is_binary(Url) ->
    <<" (delegated to ", (mod_s2s_trust_format:text_escape(Url))/binary, ")">>;
hop_text(_) ->
    <<>>.

%% How long a fetch result is kept, in seconds.
-spec cache_ttl(fetched(), non_neg_integer()) -> non_neg_integer().
cache_ttl({ok, #{expires := E}}, _Failure) -> max(1, min(E, ?MAX_TTL));
cache_ttl({error, _, _}, Failure) -> Failure.

%% The leaf's notBefore..notAfter holds now (unreadable: false).
in_validity(Der) ->
    try
        Cert = public_key:pkix_decode_cert(Der, otp),
        {'Validity', NB, NA} = element(6, element(2, Cert)),
        Now = calendar:universal_time(),
        pubkey_cert:time_str_2_gregorian_sec(NB) =< calendar:datetime_to_gregorian_seconds(Now)
            andalso calendar:datetime_to_gregorian_seconds(Now) =< pubkey_cert:time_str_2_gregorian_sec(NA)
    catch _:_ ->
            false
    end.

fetch_opts(Host) ->
    #{cafile => case gen_mod:get_module_opt(Host, mod_s2s_trust, posh_cafile) of
                    default -> default;
                    P -> P
                end,
      resolve => [iolist_to_binary(R) || R <- gen_mod:get_module_opt(Host, mod_s2s_trust, posh_resolve)],
      port => gen_mod:get_module_opt(Host, mod_s2s_trust, posh_port),
      timeout => gen_mod:get_module_opt(Host, mod_s2s_trust, posh_timeout)}.

cached_fetch(Host, Domain) ->
    Opts = fetch_opts(Host),
    Key = {Domain, Opts},
    Now = erlang:monotonic_time(second),
    case mod_s2s_trust_ttl_cache:get(?TAB, Key, Now) of
        {ok, Result} ->
            Result;
        miss ->
            case mod_s2s_trust_slots:run(posh, ?MAX_FETCHES, fun() -> s2s_trust_posh:fetch(Domain, Opts) end) of
                busy ->
                    %% Our state, not the peer's: not cached.
                    mod_s2s_trust_metrics:posh_fetch(busy),
                    {error, busy, <<"not fetched: ", (integer_to_binary(?MAX_FETCHES))/binary,
                                    " POSH fetches already running">>};
                Result ->
                    mod_s2s_trust_metrics:posh_fetch(case Result of
                                                         {ok, _} -> ok;
                                                         {error, Why, _} -> Why
                                                     end),
                    mod_s2s_trust_ttl_cache:put(?TAB, Key, Result,
                                                Now + cache_ttl(Result, ?FAILURE_TTL), ?MAX_ENTRIES),
                    Result
            end
    end.
