%%% mod_s2s_trust_dane - what DNSSEC-signed TLSA records mean for a peer
%%% (RFC 7673; docs/dane.md), per vhost: option dane = off | opportunistic |
%%% require.
%%%
%%%   off            PKIX alone (the trust store), as before.
%%%   opportunistic  published records are enforced: a chain matching a
%%%                  DANE-EE or DANE-TA record is accepted even without a
%%%                  public CA; a chain matching none of a secure TLSA set
%%%                  is refused (dane_mismatch), however PKIX judged it. No
%%%                  records, or an unsigned zone: PKIX decides.
%%%   require        as opportunistic, and a peer without secure TLSA
%%%                  records is refused (dane_required).
%%% Under both, a bogus answer refuses (dnssec_bogus): someone is forging
%%% the peer's DNS. A lookup that does not answer (timeout, SERVFAIL, a
%%% full resolver queue) refuses under require (dane_unavailable) and leaves
%%% PKIX to decide under opportunistic: PKIX still has to pass, so an
%%% attacker who blocks DNS gains nothing a CA would not give him.
%%%
%%% The lookup runs on the resolver's own threads (s2s_trust_dane); the
%%% stream waits at most dane_timeout. libunbound's cache honours the
%%% records' TTLs, so a peer's reconnections cost no new queries.
%%%
%%% DANE-TA under fast_tls, which hands us only the leaf: the chain the
%%% peer's server sends is asked for (mod_s2s_trust_dane_chain).
-module(mod_s2s_trust_dane).

-export([start/2, stop/1, judge/4, has_resolver/1]).
%% mod_s2s_trust's options of DANE (its mod_opt_type/1, mod_options/1, mod_doc/0 ask here)
-export([mod_opt_type/1, mod_options/0, mod_doc_opts/0]).
%% pure, for EUnit
-export([decide/4]).

-include_lib("kernel/include/logger.hrl").

-define(HOST_KEY(Host), {?MODULE, host, Host}).
-define(RESOLVER_KEY(Conf, Anchor), {?MODULE, resolver, Conf, Anchor}).

-type policy() :: off | opportunistic | require.
-type judged() :: {ok | {error, atom()}, map()}.

mod_opt_type(dane) ->
    econf:enum([off, opportunistic, require]);
mod_opt_type(dnssec_config) ->
    econf:either(econf:enum([default]), econf:file());
mod_opt_type(dnssec_trust_anchor) ->
    econf:either(econf:enum([default]), econf:file());
mod_opt_type(dane_timeout) ->
    econf:int(100, 60000).

mod_options() ->
    [{dane, off}, {dnssec_config, default}, {dnssec_trust_anchor, default}, {dane_timeout, 5000}].

mod_doc_opts() ->
    [{dane,
            #{value => "off | opportunistic | require",
              desc => "DANE for s2s (RFC 7673, docs/dane.md): 'opportunistic' accepts a "
                      "certificate matching the peer's DNSSEC-signed TLSA records even without "
                      "a public CA and refuses one that matches none of them; 'require' also "
                      "refuses a peer without such records. A bogus DNSSEC answer refuses. "
                      "Default off."}},
           {dnssec_config,
            #{value => "default | Path",
              desc => "A libunbound configuration file for the DNSSEC lookups; 'default' "
                      "resolves from the root servers."}},
           {dnssec_trust_anchor,
            #{value => "default | Path",
              desc => "DNSSEC trust anchor (DS or DNSKEY lines); 'default' is the system's "
                      "root key, /usr/share/dns/root.key (package dns-root-data)."}},
           {dane_timeout,
            #{value => "Milliseconds",
              desc => "How long a stream waits for its peer's TLSA lookup (default 5000)."}}].

%% A vhost's resolver: one per (dnssec_config, dnssec_trust_anchor) pair,
%% shared by the vhosts that name the same files. A resolver that cannot
%% be made is logged; the vhost's lookups then answer error (refused under
%% require, PKIX under opportunistic).
-spec start(binary(), gen_mod:opts()) -> ok.
start(Host, Opts) ->
    case gen_mod:get_opt(dane, Opts) of
        off ->
            _ = persistent_term:erase(?HOST_KEY(Host)),
            ok;
        _ ->
            Conf = gen_mod:get_opt(dnssec_config, Opts),
            Anchor = gen_mod:get_opt(dnssec_trust_anchor, Opts),
            Key = ?RESOLVER_KEY(Conf, Anchor),
            case persistent_term:get(Key, undefined) of
                undefined ->
                    case s2s_trust_dane:open_resolver(Conf, Anchor) of
                        {ok, R} ->
                            persistent_term:put(Key, R);
                        {error, Why} ->
                            ?LOG_ERROR("mod_s2s_trust: no DNSSEC resolver for ~ts (dnssec_config ~p, "
                                       "dnssec_trust_anchor ~p): ~ts", [Host, Conf, Anchor, Why])
                    end;
                _ ->
                    ok
            end,
            persistent_term:put(?HOST_KEY(Host), Key)
    end.

-spec stop(binary()) -> ok.
stop(Host) ->
    _ = persistent_term:erase(?HOST_KEY(Host)),
    ok.

%% The PKIX judgement of Chain for RServer (Judged), seen through the
%% vhost's DANE policy.
-spec judge(binary(), binary(), [binary()], judged()) -> judged().
judge(_Host, _RServer, [], Judged) ->
    Judged;   % no certificate: nothing for a TLSA record to match
judge(Host, RServer, Chain, Judged) ->
    case gen_mod:get_module_opt(Host, mod_s2s_trust, dane) of
        off ->
            Judged;
        Policy ->
            Lookup = lookup(Host, RServer),
            mod_s2s_trust_metrics:dane_lookup(result_of(Lookup)),
            Store = mod_s2s_trust_store:of_host(Host),
            Probe = mod_s2s_trust_dane_chain:prober(Host, RServer, hd(Chain),
                                                    gen_mod:get_module_opt(Host, mod_s2s_trust, probe_timeout)),
            Match = fun(Target, Port, Records) ->
                            Verify = fun(C) -> s2s_trust_dane:verify(Store, RServer, Target, C, Records) end,
                            mod_s2s_trust_dane_chain:complete(Verify(Chain), Chain, Records,
                                                              fun() -> Probe(Target, Port) end, Verify)
                    end,
            decide(Policy, Lookup, Judged, Match)
    end.

%% Whether Host's lookups have a resolver (the posture audit asks).
-spec has_resolver(binary()) -> boolean().
has_resolver(Host) ->
    case persistent_term:get(?HOST_KEY(Host), undefined) of
        undefined -> false;
        Key -> persistent_term:get(Key, undefined) =/= undefined
    end.

lookup(Host, RServer) ->
    case persistent_term:get(?HOST_KEY(Host), undefined) of
        undefined ->
            {error, no_resolver};
        Key ->
            case persistent_term:get(Key, undefined) of
                undefined ->
                    {error, no_resolver};
                R ->
                    Timeout = gen_mod:get_module_opt(Host, mod_s2s_trust, dane_timeout),
                    s2s_trust_dane:lookup(R, RServer, Timeout)
            end
    end.

result_of({error, Why}) -> Why;
result_of(#{status := S}) -> S.

%% The policy, as a pure function of the lookup, the PKIX judgement and a
%% match function (EUnit covers every row).
-spec decide(policy(), s2s_trust_dane:lookup() | {error, atom()}, judged(),
             fun((binary(), inet:port_number(), [s2s_trust_dane:tlsa()]) -> {atom(), term(), map()})) ->
          judged().
decide(Policy, {error, Why}, Judged, _Match) ->
    unavailable(Policy, atom_to_binary(Why), Judged);
decide(Policy, #{status := error} = L, Judged, _Match) ->
    unavailable(Policy, why(L), Judged);
decide(_Policy, #{status := bogus} = L, {_, D}, _Match) ->
    {{error, dnssec_bogus},
     D#{detail => <<"DNSSEC validation of the peer's SRV or TLSA records failed: ",
                    (why(L))/binary>>,
        dane => bogus}};
decide(require, #{status := insecure}, {_, D}, _Match) ->
    {{error, dane_required},
     D#{detail => <<"dane is require, and the peer's DNS is not signed (no DNSSEC-signed "
                    "TLSA records)">>,
        dane => insecure}};
decide(opportunistic, #{status := insecure}, {V, D}, _Match) ->
    {V, pkix(V, D#{dane => insecure})};
decide(Policy, #{status := secure, targets := Targets}, {V, D} = Judged, Match) ->
    Sets = [{H, P, Rs} || #{host := H, port := P, status := secure, records := [_ | _] = Rs} <- Targets],
    case Sets of
        [] when Policy =:= require ->
            {{error, dane_required},
             D#{detail => <<"dane is require, and the peer publishes no TLSA records">>,
                dane => no_records}};
        [] ->
            {V, pkix(V, D#{dane => no_records})};
        _ ->
            pick(Policy, [{H, Match(H, P, Rs)} || {H, P, Rs} <- Sets], Judged)
    end.

%% One matching record set accepts; else a record that matched a chain
%% that then failed says why; else records that match nothing refuse; else
%% (no record OpenSSL can use) PKIX decides, or require refuses.
pick(Policy, Results, {V, D}) ->
    Accepted = [{H, O, I} || {H, {O, ok, I}} <- Results, lists:member(O, [dane_ee, dane_ta, pkix])],
    Failed = [{H, R} || {H, {failed, R, _}} <- Results],
    Unavailable = [{H, W} || {H, {ta_chain_unavailable, W, _}} <- Results],
    Mismatched = [H || {H, {dane_mismatch, _, _}} <- Results],
    case {Accepted, Failed, Mismatched} of
        {[{H, O, I} | _], _, _} ->
            {ok, D#{authority => O, dane => secure, dane_target => H,
                    detail => <<"accepted by a DNSSEC-signed TLSA record (", (usage_text(O))/binary,
                                ") of ", H/binary, (chain_from_text(I))/binary>>}};
        {[], [{H, R} | _], _} ->
            {{error, R},
             D#{dane => secure, dane_target => H,
                detail => <<"a DNSSEC-signed TLSA record of ", H/binary, " matched, but the chain "
                            "failed: ", (atom_to_binary(R))/binary>>}};
        {[], [], _} when Unavailable =/= [] ->
            %% Not a mismatch: the anchor the records name is in a chain we
            %% could not get (busy, no answer). Refused all the same: an
            %% attacker can keep the probe slots busy.
            [{H, Why} | _] = Unavailable,
            {{error, dane_unavailable},
             D#{dane => secure, dane_target => H,
                detail => <<"the DNSSEC-signed TLSA records of ", H/binary, " name a DANE-TA anchor, "
                            "and the chain the peer's server sends could not be obtained (ejabberd "
                            "keeps only the leaf): ", (mod_s2s_trust_format:text_escape(Why))/binary>>}};
        {[], [], [H | _]} ->
            {{error, dane_mismatch},
             D#{dane => secure, dane_target => H,
                detail => <<"the certificate matches none of the DNSSEC-signed TLSA records of ",
                            H/binary>>}};
        {[], [], []} when Policy =:= require ->
            {{error, dane_required},
             D#{detail => <<"dane is require, and none of the peer's TLSA records is usable">>,
                dane => unusable}};
        {[], [], []} ->
            {V, pkix(V, D#{dane => unusable})}
    end.

unavailable(require, Why, {_, D}) ->
    {{error, dane_unavailable},
     D#{detail => <<"dane is require, and the peer's TLSA records could not be looked up: ",
                    Why/binary>>,
        dane => error}};
unavailable(opportunistic, _Why, {V, D}) ->
    {V, pkix(V, D#{dane => error})}.

pkix(ok, D) -> D#{authority => pkix};
pkix(_, D) -> D.

chain_from_text(#{chain_from := peer_server}) ->
    <<", its anchor in the chain the peer's server sends (ejabberd's TLS layer keeps only the leaf)">>;
chain_from_text(_) ->
    <<>>.

usage_text(dane_ee) -> <<"DANE-EE">>;
usage_text(dane_ta) -> <<"DANE-TA">>;
usage_text(pkix) -> <<"PKIX, constrained">>.

why(#{why := W}) when is_binary(W) -> mod_s2s_trust_format:text_escape(W);
why(_) -> <<"no reason given">>.
