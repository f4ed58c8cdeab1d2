%%% mod_s2s_trust_audit - the posture audit of the running server.
%%%
%%% `ejabberdctl s2s_trust_audit text|json` (and mod_http_api): for every
%%% virtual host, does the live configuration keep the pledge? Each check
%%% is pass / warn / fail with a one-line fix (docs/audit.md).
%%%
%%% Two halves, kept apart on purpose:
%%%   snapshots/1 reads ejabberd's LIVE configuration (ejabberd_option,
%%%               gen_mod, pkix's certificate table, the host's trust
%%%               store) into a plain map: thin, impure;
%%%   checks/1    turns one snapshot into check results: pure, no ejabberd
%%%               call, so EUnit covers every branch with hand-made maps.
%%% The writers (text/1, json/1) are pure too. Everything in a snapshot
%%% that is not ours (host names, file names, certificate text, cipher
%%% strings) is escaped by the writer for its format.
-module(mod_s2s_trust_audit).

-export([audit/1, run/0, snapshots/1, checks/1, report/2, text/1, json/1]).
%% pure helpers, exported for the tests and the web admin page
-export([cert_info/1, pem_certs/1, worst/1, stale_days/0, expiry_warn_days/0]).

-include_lib("public_key/include/public_key.hrl").
-include_lib("kernel/include/file.hrl").

%% A certificate expiring within this many days is a warning.
-define(EXPIRY_WARN_DAYS, 14).
%% A trust store built longer ago than this is stale: CA bundles and
%% intermediates change (Let's Encrypt rotates intermediates yearly), and
%% a file edited since the build is not in use until a reload.
-define(STALE_DAYS, 30).
-define(DAY, 86400).
%% Debian's CA bundle (ca-certificates), what libcurl uses when posh_cafile
%% is default.
-define(SYSTEM_BUNDLE, "/etc/ssl/certs/ca-certificates.crt").

-type status() :: pass | warn | fail.
-type result() :: #{check := atom(), status := status(), text := binary(), fix := binary()}.
-export_type([result/0]).

stale_days() -> ?STALE_DAYS.
expiry_warn_days() -> ?EXPIRY_WARN_DAYS.

%%%===================================================================
%%% The command
%%%===================================================================

-spec audit(binary()) -> binary().
audit(<<"text">>) -> text(run());
audit(<<>>) -> text(run());
audit(<<"json">>) -> json(run());
audit(_) -> <<"unknown format: use text or json">>.

%% Every virtual host of this node, audited now.
-spec run() -> map().
run() ->
    report(snapshots(ejabberd_option:hosts()), erlang:system_time(second)).

%%%===================================================================
%%% Gathering (impure, thin)
%%%===================================================================

%% The snapshots of Hosts. What accepted the peers is the node's (its
%% last-verdict table): read once, reported on each host running the module.
-spec snapshots([binary()]) -> [map()].
snapshots(Hosts) ->
    Loaded = [H || H <- Hosts, gen_mod:is_loaded(H, mod_s2s_trust)],
    AcceptedBy = accepted_by(Loaded =/= []),
    [snapshot(H, lists:member(H, Loaded), AcceptedBy) || H <- Hosts].

snapshot(Host, Loaded, AcceptedBy) ->
    Store = case Loaded of
                true -> mod_s2s_trust_store:of_host(Host);
                false -> undefined
            end,
    Module = case Loaded of
                 true -> #{loaded => true,
                           mode => gen_mod:get_module_opt(Host, mod_s2s_trust, mode),
                           exempt => gen_mod:get_module_opt(Host, mod_s2s_trust, exempt),
                           dane => gen_mod:get_module_opt(Host, mod_s2s_trust, dane),
                           dane_resolver => mod_s2s_trust_dane:has_resolver(Host),
                           posh => gen_mod:get_module_opt(Host, mod_s2s_trust, posh),
                           posh_cafile => posh_cafile(Host),
                           posh_resolve => gen_mod:get_module_opt(Host, mod_s2s_trust, posh_resolve),
                           posh_port => gen_mod:get_module_opt(Host, mod_s2s_trust, posh_port)};
                 false -> #{loaded => false}
             end,
    #{host => Host,
      now => erlang:system_time(second),
      module => Module,
      starttls => ejabberd_option:s2s_use_starttls(Host),
      dialback => gen_mod:is_loaded(Host, mod_s2s_dialback),
      ciphers => ejabberd_option:s2s_ciphers(Host),
      certs => host_certs(Host, Store),
      store => store_info(Store),
      crls => crl_info(Host, Loaded),
      storage => storage_info(Loaded),
      accepted_by => case Loaded of
                         true -> AcceptedBy;
                         false -> undefined
                     end}.

%% POSH fetches verify the web server against posh_cafile, or the system
%% bundle: whether that file is readable now.
posh_cafile(Host) ->
    File = case gen_mod:get_module_opt(Host, mod_s2s_trust, posh_cafile) of
               default -> ?SYSTEM_BUNDLE;
               F -> F
           end,
    #{file => to_bin(File), readable => readable(File)}.

readable(File) ->
    case file:open(File, [read, raw, binary]) of
        {ok, Fd} -> ok = file:close(Fd), true;
        {error, _} -> false
    end.

%% What accepted the peers whose last verdict was an acceptance (node-wide:
%% the last-verdict table is the node's).
accepted_by(true) -> mod_s2s_trust_violators:accepted_by();
accepted_by(false) -> undefined.

%% Where the violators list is kept, and whether the SQL writer keeps up
%% (docs/storage.md). Node-wide, reported on each host that runs the module.
storage_info(true) ->
    #{backend => mod_s2s_trust_violators:backend(), sql => mod_s2s_trust_sql_writer:stats()};
storage_info(false) ->
    undefined.

%% The CRLs the node fetches (mod_s2s_trust_crl, docs/crl.md), when CRL
%% refresh is on for the host; undefined when it is off or unknown.
crl_info(Host, true) ->
    try gen_mod:get_module_opt(Host, mod_s2s_trust, crl_refresh) of
        true -> #{rows => mod_s2s_trust_crl:status(),
                  missing => gen_mod:get_module_opt(Host, mod_s2s_trust, crl_missing)};
        false -> undefined
    catch _:_ -> undefined
    end;
crl_info(_Host, false) ->
    undefined.

%% The certificates ejabberd holds for the host: pkix keeps, per domain,
%% one combined file (chain + key) per key type; ejabberd 23.01 serves the
%% EC one when there is one (ejabberd_pkix:select_certfile/1). Each is
%% judged by our own verifier against the host's store, as a peer running
%% this module would judge it.
host_certs(Host, Store) ->
    Ascii = try list_to_binary(idna:to_ascii(unicode:characters_to_list(Host))) catch _:_ -> Host end,
    try pkix:get_certfile(Ascii) of
        {EC, RSA, DSA} ->
            [cert_entry(Kind, File, Host, Store)
             || {Kind, File} <- [{ec, EC}, {rsa, RSA}, {dsa, DSA}], File =/= undefined];
        _ ->
            none
    catch _:_ ->
            none
    end.

cert_entry(Kind, File, Host, Store) ->
    Base = #{kind => Kind, file => to_bin(File)},
    case file:read_file(File) of
        {ok, Pem} ->
            case pem_certs(Pem) of
                [] ->
                    Base#{error => <<"no certificate in the file">>};
                [Leaf | _] = Chain ->
                    Info = cert_info(Leaf),
                    Judged = case Store of
                                 undefined -> #{verdict => no_trust_store};
                                 _ ->
                                     {V, D} = s2s_trust:explain(Store, Host, Chain),
                                     #{verdict => case V of ok -> ok; {error, R} -> R end,
                                       detail => maps:get(detail, D, undefined)}
                             end,
                    maps:merge(maps:merge(Base#{source => pem_source(Pem)}, Info), Judged)
            end;
        {error, Why} ->
            Base#{error => iolist_to_binary(file:format_error(Why))}
    end.

store_info(undefined) ->
    undefined;
store_info(Store) ->
    #{anchors := A, intermediates := I, crls := C, built_at := Built, config := Config,
      sources := Sources} = s2s_trust:info(Store),
    Files = [F || F <- [Config | Sources], F =/= <<>>],
    #{anchors => A, intermediates => I, crls => C, built_at => Built,
      files => [#{file => F, mtime => mtime(F)} || F <- lists:usort(Files)]}.

mtime(File) ->
    case file:read_file_info(File, [{time, posix}]) of
        {ok, #file_info{mtime = M}} -> M;
        {error, _} -> missing
    end.

%%%===================================================================
%%% Certificates (pure)
%%%===================================================================

%% The certificates of a PEM file, in file order (pkix writes the leaf
%% first, then its chain, then the key).
-spec pem_certs(binary()) -> [binary()].
pem_certs(Pem) ->
    try [Der || {'Certificate', Der, not_encrypted} <- public_key:pem_decode(Pem)]
    catch _:_ -> []
    end.

%% pkix's combined files say where each part came from ("From FILE:LINE"):
%% the operator's own file, which is what a fix should name.
pem_source(Pem) ->
    case re:run(Pem, <<"^From (.*):[0-9]+$">>, [multiline, {capture, [1], binary}]) of
        {match, [Src]} -> Src;
        nomatch -> undefined
    end.

%% What the audit needs of a certificate: key type, validity end, subject.
-spec cert_info(binary()) -> map().
cert_info(Der) ->
    try public_key:pkix_decode_cert(Der, otp) of
        #'OTPCertificate'{tbsCertificate = Tbs} ->
            #'OTPTBSCertificate'{subjectPublicKeyInfo = Spki, validity = Validity,
                                 subject = Subject} = Tbs,
            #'OTPSubjectPublicKeyInfo'{algorithm = #'PublicKeyAlgorithm'{algorithm = Alg}} = Spki,
            #'Validity'{notAfter = NotAfter} = Validity,
            #{key => key_type(Alg), not_after => asn1_time(NotAfter),
              subject => subject_text(Subject)}
    catch _:_ ->
            #{error => <<"the certificate does not parse">>}
    end.

key_type(?rsaEncryption) -> rsa;
key_type(?'id-RSASSA-PSS') -> rsa;
key_type(?'id-ecPublicKey') -> ec;
key_type(?'id-Ed25519') -> ed25519;
key_type(?'id-Ed448') -> ed448;
key_type(?'id-dsa') -> dsa;
key_type(_) -> other.

asn1_time({utcTime, [Y1, Y2 | Rest]}) ->
    YY = list_to_integer([Y1, Y2]),
    asn1_time({generalTime, integer_to_list(if YY >= 50 -> 1900 + YY; true -> 2000 + YY end) ++ Rest});
asn1_time({generalTime, [Y1, Y2, Y3, Y4, M1, M2, D1, D2, H1, H2, Mi1, Mi2, S1, S2 | _]}) ->
    I = fun list_to_integer/1,
    Greg = calendar:datetime_to_gregorian_seconds(
             {{I([Y1, Y2, Y3, Y4]), I([M1, M2]), I([D1, D2])},
              {I([H1, H2]), I([Mi1, Mi2]), I([S1, S2])}}),
    Greg - calendar:datetime_to_gregorian_seconds({{1970, 1, 1}, {0, 0, 0}});
asn1_time(_) ->
    undefined.

subject_text({rdnSequence, Rdns}) ->
    Parts = [attr_text(T, V) || Set <- Rdns, #'AttributeTypeAndValue'{type = T, value = V} <- Set],
    iolist_to_binary(lists:join(<<", ">>, [P || P <- Parts, P =/= <<>>]));
subject_text(_) ->
    <<>>.

attr_text(?'id-at-commonName', V) -> [<<"CN=">>, dir_string(V)];
attr_text(?'id-at-organizationName', V) -> [<<"O=">>, dir_string(V)];
attr_text(_, _) -> <<>>.

dir_string({_, S}) when is_list(S) -> unicode:characters_to_binary(S);
dir_string({_, S}) when is_binary(S) -> S;
dir_string(S) when is_list(S) -> unicode:characters_to_binary(S);
dir_string(S) when is_binary(S) -> S;
dir_string(_) -> <<"?">>.

%%%===================================================================
%%% The checks (pure)
%%%===================================================================

%% One host's snapshot -> its check results, in a fixed order.
-spec checks(map()) -> [result()].
checks(#{host := Host} = S) ->
    Module = maps:get(module, S, #{loaded => false}),
    lists:flatten(
      [check_module(Module),
       check_exempt(Module),
       check_starttls(maps:get(starttls, S, false)),
       check_dialback(maps:get(dialback, S, false), Module),
       check_ciphers(maps:get(ciphers, S, undefined)),
       check_certs(Host, maps:get(certs, S, none), maps:get(now, S)),
       check_store(maps:get(store, S, undefined), Module, maps:get(now, S)),
       check_crls(maps:get(crls, S, undefined)),
       check_storage(maps:get(storage, S, undefined)),
       check_dane(Module),
       check_posh(Module),
       check_accepted_by(maps:get(accepted_by, S, undefined))]).

enforcing(#{loaded := true, mode := enforce}) -> true;
enforcing(_) -> false.

check_module(#{loaded := false}) ->
    r(module, fail, <<"mod_s2s_trust is not loaded: peers' certificates are not checked">>,
      <<"add mod_s2s_trust (mode: enforce) under modules: in ejabberd.yml, then "
        "ejabberdctl reload_config">>);
check_module(#{loaded := true, mode := enforce}) ->
    r(module, pass, <<"mod_s2s_trust is loaded, mode enforce">>, <<>>);
check_module(#{loaded := true, mode := Mode}) ->
    r(module, warn, [<<"mod_s2s_trust is loaded in mode ">>, to_bin(Mode),
                     <<": untrusted peers are recorded but let through">>],
      <<"set mode: enforce for mod_s2s_trust, then ejabberdctl reload_config">>).

check_exempt(#{loaded := true, exempt := [_ | _] = Domains}) ->
    r(exempt, warn, [integer_to_binary(length(Domains)),
                     <<" domain(s) let through even when untrusted: ">>,
                     lists:join(<<", ">>, Domains)],
      <<"remove them from mod_s2s_trust's exempt list once their certificates validate">>);
check_exempt(#{loaded := true}) ->
    r(exempt, pass, <<"no exempt domains">>, <<>>);
check_exempt(_) ->
    [].

check_starttls(required) ->
    r(starttls, pass, <<"s2s_use_starttls: required">>, <<>>);
check_starttls(Value) ->
    r(starttls, fail, [<<"s2s_use_starttls is ">>, to_bin(Value),
                       <<": peers may talk to this host without TLS">>],
      <<"set s2s_use_starttls: required in ejabberd.yml">>).

check_dialback(false, _Module) ->
    r(dialback, pass, <<"mod_s2s_dialback is not loaded: only certificates authenticate "
                        "peers (on ejabberd 23.01 keep it with mod_s2s_trust enforcing: "
                        "docs/module.md)">>, <<>>);
check_dialback(true, Module) ->
    case enforcing(Module) of
        true ->
            r(dialback, pass, <<"mod_s2s_dialback is loaded and mod_s2s_trust enforces: "
                                "dialback is only a transport, every dialback-authenticated "
                                "stream's certificate is still checked (docs/module.md)">>, <<>>);
        false ->
            r(dialback, fail, <<"mod_s2s_dialback is loaded without mod_s2s_trust enforcing: "
                                "a peer proving only DNS control is accepted, whatever its "
                                "certificate">>,
              <<"enable mod_s2s_trust with mode: enforce, or remove mod_s2s_dialback">>)
    end.

check_ciphers(undefined) ->
    r(ciphers, pass, <<"s2s_ciphers not set: the TLS library's defaults">>, <<>>);
check_ciphers(Ciphers) ->
    r(ciphers, warn, [<<"s2s_ciphers is a hand-written list: ">>, to_bin(Ciphers)],
      <<"remove s2s_ciphers to keep the defaults, and add an ECC certificate rather than "
        "tuning cipher lists">>).

check_certs(Host, none, _Now) ->
    r(certificate, fail, [<<"no certificate in certfiles names ">>, Host,
                          <<": ejabberd would present another host's certificate">>],
      [<<"add a certificate (with its chain and key) for ">>, Host, <<" to certfiles">>]);
check_certs(Host, Certs, Now) ->
    Kinds = [K || #{kind := K} <- Certs],
    KeyCheck = case lists:member(ec, Kinds) of
                   true -> r(cert_key, pass, [<<"certificate key types: ">>, kinds_text(Kinds)], <<>>);
                   false -> r(cert_key, warn, [<<"only an ">>, kinds_text(Kinds),
                                               <<" certificate: no ECC certificate">>],
                              <<"add an ECC (P-256) certificate for the host to certfiles, "
                                "beside the RSA one">>)
               end,
    [KeyCheck | [check_cert(Host, C, Now) || C <- Certs]].

kinds_text(Kinds) ->
    lists:join(<<" + ">>, [string:uppercase(atom_to_binary(K)) || K <- Kinds]).

cert_label(#{kind := Kind} = C) ->
    [string:uppercase(atom_to_binary(Kind)), <<" certificate (">>,
     case maps:get(source, C, undefined) of
         undefined -> maps:get(file, C);
         Src -> Src
     end, <<")">>].

check_cert(_Host, #{error := Why} = C, _Now) ->
    r(cert_read, fail, [cert_label(C), <<": ">>, Why],
      <<"fix the file named in certfiles (PEM: certificate, chain, key)">>);
check_cert(Host, C, Now) ->
    [check_expiry(C, Now), check_name(Host, C)].

check_expiry(#{not_after := undefined} = C, _Now) ->
    r(cert_expiry, fail, [cert_label(C), <<": its expiry date cannot be read">>],
      <<"replace the certificate">>);
check_expiry(#{not_after := NotAfter} = C, Now) ->
    Days = (NotAfter - Now) div ?DAY,
    When = mod_s2s_trust_format:iso8601(NotAfter),
    if NotAfter =< Now ->
            r(cert_expiry, fail, [cert_label(C), <<" expired on ">>, When],
              <<"renew the certificate now (ACME / your CA), then ejabberdctl reload_config">>);
       NotAfter - Now < ?EXPIRY_WARN_DAYS * ?DAY ->
            r(cert_expiry, warn, [cert_label(C), <<" expires on ">>, When, <<" (in ">>,
                                  integer_to_binary(Days), <<" days)">>],
              <<"renew the certificate before it expires, then ejabberdctl reload_config">>);
       true ->
            r(cert_expiry, pass, [cert_label(C), <<" valid until ">>, When, <<" (">>,
                                  integer_to_binary(Days), <<" days)">>], <<>>)
    end.

check_name(Host, #{verdict := ok} = C) ->
    r(cert_name, pass, [cert_label(C), <<" validates for ">>, Host,
                        <<" under mod_s2s_trust's verifier">>], <<>>);
check_name(_Host, #{verdict := no_trust_store} = C) ->
    r(cert_name, fail, [cert_label(C), <<": cannot be checked, no trust store">>],
      <<"load mod_s2s_trust with a working trust_config (see trust_store)">>);
check_name(Host, #{verdict := Reason} = C) ->
    Detail = case maps:get(detail, C, undefined) of
                 undefined -> <<>>;
                 D -> [<<" (">>, D, <<")">>]
             end,
    r(cert_name, fail, [cert_label(C), <<" is refused for ">>, Host,
                        <<" by mod_s2s_trust's verifier: ">>, to_bin(Reason), Detail],
      name_fix(Reason, Host)).

name_fix(name_mismatch, Host) ->
    [<<"get a certificate naming ">>, Host, <<" (a dNSName SAN)">>];
name_fix(unknown_issuer, _Host) ->
    <<"put the intermediate certificates after the leaf in the certfile, or the issuing "
      "CA in the trust store">>;
name_fix(self_signed, _Host) ->
    <<"use a certificate from a CA that peers trust (e.g. Let's Encrypt)">>;
name_fix(expired, _Host) ->
    <<"renew the certificate">>;
name_fix(not_yet_valid, _Host) ->
    <<"check the clock, or wait until the certificate's validity starts">>;
name_fix(bad_purpose, _Host) ->
    <<"use a certificate allowed for TLS server authentication (serverAuth)">>;
name_fix(weak_crypto, _Host) ->
    <<"reissue with a stronger key and signature (RSA >= 2048, SHA-256, or ECDSA)">>;
name_fix(_, _Host) ->
    <<"replace the certificate with one that validates (ejabberdctl s2s_trust_check "
      "explains peers' verdicts the same way)">>.

check_store(_, #{loaded := false}, _Now) ->
    [];
check_store(undefined, _Module, _Now) ->
    r(trust_store, fail, <<"no trust store is loaded: every s2s stream of this host is "
                           "refused (no_trust_store)">>,
      <<"correct mod_s2s_trust's trust_config (the log names file and line), then "
        "ejabberdctl s2s_trust_reload">>);
check_store(#{anchors := 0}, _Module, _Now) ->
    r(trust_store, warn, <<"the trust store holds no trust anchors: every peer will be "
                           "refused as unknown_issuer">>,
      <<"set ca_file (or ca_dir) in the trust configuration, then ejabberdctl s2s_trust_reload">>);
check_store(#{built_at := Built, files := Files} = St, _Module, Now) ->
    Changed = [F || #{file := F, mtime := M} <- Files, is_integer(M), M > Built],
    Missing = [F || #{file := F, mtime := missing} <- Files],
    Age = (Now - Built) div ?DAY,
    Summary = [integer_to_binary(maps:get(anchors, St)), <<" anchors, ">>,
               integer_to_binary(maps:get(intermediates, St)), <<" intermediates, ">>,
               integer_to_binary(maps:get(crls, St)), <<" CRLs, built ">>,
               mod_s2s_trust_format:iso8601(Built)],
    Reload = <<"ejabberdctl s2s_trust_reload">>,
    if Missing =/= [] ->
            r(trust_store, warn, [Summary, <<"; gone since: ">>, lists:join(<<", ">>, Missing)],
              [<<"restore the files or fix trust_config, then ">>, Reload]);
       Changed =/= [] ->
            r(trust_store, warn, [Summary, <<"; changed since: ">>, lists:join(<<", ">>, Changed)],
              [Reload, <<" to use the new files">>]);
       Now - Built > ?STALE_DAYS * ?DAY ->
            r(trust_store, warn, [Summary, <<" (">>, integer_to_binary(Age),
                                  <<" days ago, more than ">>, integer_to_binary(?STALE_DAYS), <<")">>],
              [Reload, <<" (after the system's CA bundle updates) to rebuild it">>]);
       true ->
            r(trust_store, pass, Summary, <<>>)
    end.

%% A CRL we could not fetch (or only hold a stale copy of) is reported,
%% never silently ignored: a warn, or a fail where crl_missing: refuse
%% makes it refuse peers.
check_crls(undefined) ->
    [];
check_crls(#{rows := []}) ->
    r(crls, pass, <<"CRL refresh is on; no CRL distribution point is known yet">>, <<>>);
check_crls(#{rows := Rows, missing := Missing}) ->
    Bad = [R || #{copy := C} = R <- Rows, C =/= current],
    case Bad of
        [] ->
            r(crls, pass, [integer_to_binary(length(Rows)), <<" CRL(s) fetched and current">>], <<>>);
        _ ->
            Status = case Missing of refuse -> fail; _ -> warn end,
            Texts = [[mod_s2s_trust_format:text_escape(maps:get(url, R, <<"?">>)), <<": ">>,
                      atom_to_binary(maps:get(copy, R)),
                      case maps:get(last_error, R, undefined) of
                          #{reason := Why} -> [<<" (">>, mod_s2s_trust_format:text_escape(to_bin(Why)), <<")">>];
                          _ -> <<>>
                      end] || R <- Bad],
            r(crls, Status, [integer_to_binary(length(Bad)), <<" of ">>,
                             integer_to_binary(length(Rows)), <<" CRL(s) not current: ">>,
                             lists:join(<<"; ">>, Texts)],
              <<"make the CA's CRL server reachable from this host over HTTP; "
                "ejabberdctl s2s_trust_crls shows every fetch and its error">>)
    end.

%% DANE (docs/dane.md): off is PKIX alone, which the pledge asks for; on,
%% the vhost needs its DNSSEC resolver, or every lookup is an error
%% (refused under require, PKIX under opportunistic).
check_dane(#{loaded := true, dane := off}) ->
    %% A pass carries no fix (only warn and fail do); the text says where to read.
    r(dane, pass, <<"dane off: peers' TLSA records are not consulted, PKIX alone decides "
                    "(dane: opportunistic uses them, docs/dane.md)">>, <<>>);
check_dane(#{loaded := true, dane := Policy, dane_resolver := true}) ->
    r(dane, pass, [<<"dane ">>, atom_to_binary(Policy), <<", DNSSEC resolver ready">>], <<>>);
check_dane(#{loaded := true, dane := Policy}) ->
    r(dane, case Policy of require -> fail; _ -> warn end,
      [<<"dane ">>, atom_to_binary(Policy), <<", but no DNSSEC resolver could be made: every "
                                               "lookup fails">>],
      <<"check dnssec_config and dnssec_trust_anchor (the log says why); the default trust "
        "anchor needs the package dns-root-data">>);
check_dane(_) ->
    [].

%% POSH (docs/dane.md): off is PKIX alone; on needs a CA file to verify
%% the web servers it fetches from. posh_resolve is for tests: set in
%% production, it sends peers' POSH fetches to fixed addresses.
check_posh(#{loaded := true, posh := off}) ->
    r(posh, pass, <<"posh off: peers' POSH documents are not consulted (posh: on lets a hosting "
                    "provider's certificate serve a domain that delegates to it, docs/dane.md)">>, <<>>);
check_posh(#{loaded := true, posh := on, posh_cafile := #{readable := false, file := F}}) ->
    r(posh, fail, [<<"posh on, but its CA file is not readable: ">>, F,
                   <<"; every POSH fetch fails and POSH accepts no peer">>],
      <<"set posh_cafile to a readable PEM file of CAs, or install ca-certificates">>);
check_posh(#{loaded := true, posh := on, posh_resolve := [_ | _] = Rs}) ->
    r(posh, warn, [<<"posh on, with posh_resolve set (">>, integer_to_binary(length(Rs)),
                   <<" fixed address(es)): POSH fetches for those names skip DNS">>],
      <<"remove posh_resolve outside tests">>);
check_posh(#{loaded := true, posh := on, posh_port := Port}) when is_integer(Port), Port =/= 0 ->
    r(posh, warn, [<<"posh on, with posh_port ">>, integer_to_binary(Port),
                   <<": POSH documents are fetched from that port, not 443 (RFC 7711)">>],
      <<"remove posh_port outside tests">>);
check_posh(#{loaded := true, posh := on, posh_cafile := #{file := F}}) ->
    r(posh, pass, [<<"posh on, web servers verified against ">>, F], <<>>);
check_posh(_) ->
    [].

%% An inventory, never a failure: how the peers last accepted were
%% accepted. A pass: every authority here is one the pledge accepts.
check_accepted_by(undefined) ->
    [];
check_accepted_by(Counts) when map_size(Counts) =:= 0 ->
    r(accepted_by, pass, <<"no peer accepted yet">>, <<>>);
check_accepted_by(Counts) ->
    r(accepted_by, pass,
      [<<"peers last accepted: ">>,
       lists:join(<<", ">>, [[integer_to_binary(N), <<" by ">>, to_bin(A)]
                            || {A, N} <- lists:keysort(1, maps:to_list(Counts))])],
      <<>>).

check_storage(undefined) ->
    [];
check_storage(#{backend := mnesia}) ->
    r(violators_storage, pass, <<"violators list in Mnesia">>, <<>>);
check_storage(#{backend := {sql, Host}, sql := #{pending := P, dropped := D}}) ->
    Where = [<<"violators list in SQL (the SQL pool of ">>, mod_s2s_trust_format:text_escape(Host),
             <<")">>],
    case {P, D} of
        {0, 0} ->
            r(violators_storage, pass, Where, <<>>);
        _ ->
            r(violators_storage, warn,
              [Where, <<": ">>, integer_to_binary(P), <<" domain(s) of violations wait for the "
                                                       "database; ">>,
               integer_to_binary(D), <<" violation(s) not stored since start">>],
              <<"make the database reachable (sql_* options); waiting violations are retried, "
                "the log names those not stored">>)
    end.

r(Check, Status, Text, Fix) ->
    #{check => Check, status => Status, text => iolist_to_binary(Text),
      fix => iolist_to_binary(Fix)}.

%%%===================================================================
%%% Report and writers (pure)
%%%===================================================================

%% Snapshots -> the whole report: per host its checks, the worst status
%% per host and overall, the counts.
-spec report([map()], integer()) -> map().
report(Snapshots, Now) ->
    Hosts = [begin
                 Cs = checks(S),
                 #{host => H, status => worst(Cs), checks => Cs}
             end || #{host := H} = S <- Snapshots],
    All = lists:append([Cs || #{checks := Cs} <- Hosts]),
    #{generated_at => mod_s2s_trust_format:iso8601(Now),
      status => worst(All),
      counts => maps:from_list([{St, length([x || #{status := X} <- All, X =:= St])}
                                || St <- [pass, warn, fail]]),
      hosts => Hosts}.

-spec worst([result()]) -> status().
worst(Results) ->
    Ss = [S || #{status := S} <- Results],
    case {lists:member(fail, Ss), lists:member(warn, Ss)} of
        {true, _} -> fail;
        {_, true} -> warn;
        _ -> pass
    end.

%% For a person: one line per check, the fix under it, every field
%% text-escaped (control bytes, invalid UTF-8, backslash -> \xNN).
-spec text(map()) -> binary().
text(#{generated_at := At, status := Status, counts := Counts, hosts := Hosts}) ->
    E = fun mod_s2s_trust_format:text_escape/1,
    Head = [<<"mod_s2s_trust posture audit, ">>, At, <<"\n">>,
            <<"overall: ">>, string:uppercase(atom_to_binary(Status)), <<" (">>,
            counts_text(Counts), <<")\n">>],
    Body = [[<<"\n">>, E(H), <<": ">>, string:uppercase(atom_to_binary(HS)), <<"\n">>,
             [[<<"  [">>, atom_to_binary(St), <<"] ">>, pad(atom_to_binary(C), 12), E(T), <<"\n">>,
               case F of
                   <<>> -> [];
                   _ -> [<<"         fix: ">>, E(F), <<"\n">>]
               end]
              || #{check := C, status := St, text := T, fix := F} <- Cs]]
            || #{host := H, status := HS, checks := Cs} <- Hosts],
    iolist_to_binary([Head, Body]).

counts_text(Counts) ->
    lists:join(<<", ">>, [[integer_to_binary(maps:get(S, Counts, 0)), <<" ">>, atom_to_binary(S)]
                          || S <- [fail, warn, pass]]).

pad(Bin, N) ->
    [Bin, binary:copy(<<" ">>, max(1, N - byte_size(Bin)))].

%% For monitoring: the report as one JSON object (RFC 8259, keys sorted).
-spec json(map()) -> binary().
json(Report) ->
    mod_s2s_trust_format:json(Report).

to_bin(B) when is_binary(B) -> B;
to_bin(A) when is_atom(A) -> atom_to_binary(A);
to_bin(L) when is_list(L) -> unicode:characters_to_binary(L);
to_bin(T) -> iolist_to_binary(io_lib:format("~0p", [T])).
