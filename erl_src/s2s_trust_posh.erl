%%% s2s_trust_posh - POSH (RFC 7711) over the trust engine: fetch a domain's
%%% document (c_src/net/s2s_trust_posh_fetch.h, on a dirty IO scheduler: it
%%% blocks on HTTPS for at most its timeout) and match a leaf against its
%%% fingerprints. No policy here: mod_s2s_trust_posh decides what a
%%% document means for a peer, and caches it.
%%%
%%%   {ok, Doc} = s2s_trust_posh:fetch(<<"example.org">>, #{timeout => 5000}),
%%%   true = s2s_trust_posh:match(Doc, LeafDer).
-module(s2s_trust_posh).

-export([fetch/2, match/2]).
-export_type([doc/0, opts/0]).

-type doc() :: #{fingerprints := [{sha256 | sha512, binary()}], expires := pos_integer(),
                 hop := binary() | undefined}.
%% cafile: the only anchors for the HTTPS server (default: the system's);
%% resolve: curl-style HOST:PORT:ADDR pins (tests, private deployments);
%% port: of the domain's URL (0: 443); timeout: both GETs together.
-type opts() :: #{cafile => default | file:filename_all(), resolve => [binary()],
                  port => 0..65535, timeout => 1..60000}.

-spec fetch(binary(), opts()) -> {ok, doc()} | {error, atom(), binary()}.
fetch(Domain, Opts) when is_binary(Domain) ->
    Cafile = case maps:get(cafile, Opts, default) of
                 default -> default;
                 P -> unicode:characters_to_binary(P)
             end,
    s2s_trust_nif:posh_fetch_nif(Domain, #{cafile => Cafile,
                                           resolve => maps:get(resolve, Opts, []),
                                           port => maps:get(port, Opts, 0),
                                           timeout => maps:get(timeout, Opts, 5000)}).

%% Does the leaf (DER, as the peer presented it) have the digest of one of
%% the document's fingerprints? Every fingerprint is compared, each in
%% constant time.
-spec match(doc(), binary()) -> boolean().
match(#{fingerprints := Fps}, Leaf) when is_binary(Leaf) ->
    D256 = crypto:hash(sha256, Leaf),
    D512 = crypto:hash(sha512, Leaf),
    lists:foldl(fun({sha256, D}, Acc) -> equal(D, D256) or Acc;
                   ({sha512, D}, Acc) -> equal(D, D512) or Acc;
                   (_, Acc) -> Acc
                end, false, Fps).

equal(A, B) when byte_size(A) =:= byte_size(B) -> crypto:hash_equals(A, B);
equal(_, _) -> false.
