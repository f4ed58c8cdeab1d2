%%% mod_s2s_trust - refuse s2s peers whose certificate does not validate,
%%% and keep the list of those that fail.
%%%
%%% The module decides; the trust engine (s2s_trust, a NIF over OpenSSL)
%%% judges certificates. It is consulted on every authenticated s2s stream,
%%% in both directions, however the stream authenticated: SASL EXTERNAL or
%%% dialback. With mod_s2s_dialback loaded an untrusted peer is refused all
%%% the same, because dialback only proves DNS control; we still check the
%%% TLS certificate for every domain a stream authenticates.
%%%
%%% Fail closed: ejabberd runs hooks fail-open (a crashing hook is skipped
%%% and the stream goes on), so every hook here catches its own faults and,
%%% in enforce mode, refuses. Audit mode never refuses; it records.
%%%
%%% Works on ejabberd 23.01 (Debian 12) and current ejabberd: hooks are
%%% added by hand (23.01 has no registration list from start/2) and the
%%% only ejabberd records used are #ejabberd_commands{} (mod_s2s_trust_commands)
%%% and #request{} (mod_s2s_trust_metrics), whose fields used are the same in
%%% 23.01, 24.12 and 26.07.
-module(mod_s2s_trust).

-behaviour(gen_mod).

%% gen_mod
-export([start/2, stop/1, reload/3, depends/2, mod_opt_type/1, mod_options/1, mod_doc/0]).
%% hooks
-export([s2s_in_auth_result/3, s2s_out_auth_result/2, s2s_out_closed/2,
         s2s_in_closed/2, s2s_in_handle_recv/3]).
%% for mod_s2s_trust_gate and mod_s2s_trust_recheck (run inside s2s stream
%% processes)
-export([judge_stream/4, close_stream/3, refuse_unauthenticated_out/3, log_drop/5]).
%% for mod_s2s_trust_commands
-export([safe/1]).
%% for mod_s2s_trust_violators
-export([max_violators/0]).
%% for tests and the decision table in docs/
-export([decide/3, refusal_text/2, pkix_reason/1]).

-include_lib("kernel/include/logger.hrl").

%% Before mod_s2s_dialback and mod_s2s_bidi (both 50; equal Seqs run in
%% module-name order): dialback would turn a refused outgoing stream into a
%% dialback retry, bidi would register a refused inbound stream as our route
%% to the peer and route the peer's stanzas on our outbound stream.
-define(HOOK_SEQ, 10).
%% Every hook of the module, added first in start/2 and deleted in stop/1.
-define(HOOKS, [{s2s_in_auth_result, ?MODULE},
                {s2s_out_auth_result, ?MODULE},
                {s2s_out_closed, ?MODULE},
                {s2s_in_closed, ?MODULE},
                {s2s_in_handle_recv, ?MODULE},
                {s2s_receive_packet, mod_s2s_trust_gate},
                {s2s_in_handle_info, mod_s2s_trust_gate},
                {s2s_out_handle_info, mod_s2s_trust_gate},
                {s2s_out_packet, mod_s2s_trust_gate}]).
%% State key marking a stream whose SASL EXTERNAL we hid (see s2s_in_handle_recv/3).
-define(HID_EXTERNAL, mod_s2s_trust_hid_external).
%% id-on-xmppAddr (RFC 6120 section 13.7.1.4)
-define(XMPP_ADDR_NAME, xmpp).
%% A peer's repeated violations are logged once per this many seconds
%% (each one is still counted in the violators list).
-define(LOG_INTERVAL, 60).

-type outcome() :: accepted | refused | audited | exempted.

%% Modules whose options are options of mod_s2s_trust.
-define(OPTION_MODULES, [mod_s2s_trust_dane, mod_s2s_trust_posh, mod_s2s_trust_survey]).

%%%===================================================================
%%% gen_mod
%%%===================================================================

%% Hooks first: from this moment no stream of Host authenticates and no
%% stanza crosses unjudged (until the store is loaded, judging gives
%% no_trust_store, a refusal). Then the streams that were already there
%% (opened before the module started, or while it was off) are judged, and
%% those refused are closed.
start(Host, Opts) ->
    ok = mod_s2s_trust_violators:init(Host, gen_mod:get_opt(db_type, Opts)),
    ok = mod_s2s_trust_metrics:init(),
    ok = mod_s2s_trust_throttle:start(),
    [ejabberd_hooks:add(Hook, Host, Mod, Hook, ?HOOK_SEQ) || {Hook, Mod} <- ?HOOKS],
    ok = mod_s2s_trust_learn:init_table(),
    ok = mod_s2s_trust_learn:start(),
    ok = mod_s2s_trust_survey:init_table(),
    ok = mod_s2s_trust_survey:start(),   % s2s_trust_survey (docs/survey.md)
    %% The bundle is derived from the table; rewrite it so that it matches
    %% what Mnesia holds after a restart or a copy from another node.
    ok = mod_s2s_trust_learn:write_pem(),
    ok = mod_s2s_trust_crl:start(Host, Opts),   % CRL refresh (docs/crl.md)
    ok = mod_s2s_trust_dane:start(Host, Opts),  % DANE (docs/dane.md)
    _ = mod_s2s_trust_store:load(Host, Opts),
    mod_s2s_trust_compat:register_commands(?MODULE, mod_s2s_trust_commands:commands()),
    ok = mod_s2s_trust_webadmin:start(Host),   % web admin page + counters
    {Checked, Closed} = mod_s2s_trust_recheck:run([Host]),
    Checked > 0 andalso
        ?LOG_NOTICE("mod_s2s_trust: started on ~ts: ~b live s2s stream(s) judged, ~b closed",
                    [Host, Checked, Closed]),
    ok.

stop(Host) ->
    mod_s2s_trust_webadmin:stop(Host),
    [ejabberd_hooks:delete(Hook, Host, Mod, Hook, ?HOOK_SEQ) || {Hook, Mod} <- ?HOOKS],
    case gen_mod:is_loaded_elsewhere(Host, ?MODULE) of
        false ->
            mod_s2s_trust_compat:unregister_commands(mod_s2s_trust_commands:commands()),
            mod_s2s_trust_learn:stop(),
            mod_s2s_trust_survey:stop(),
            mod_s2s_trust_crl:stop(),
            mod_s2s_trust_violators:stop(),   % before the throttle: it logs
            mod_s2s_trust_throttle:stop();
        true ->
            ok
    end,
    mod_s2s_trust_dane:stop(Host),
    mod_s2s_trust_store:forget(Host).

%% `ejabberdctl reload_config`: rebuild the store from the (maybe new)
%% trust_config (a failure keeps the store in use), then judge every live
%% stream of Host again: the mode, the exemptions or the trust config may
%% have changed (audit -> enforce is the documented way in), and a verdict
%% given under the old policy no longer counts (the policy epoch moves).
reload(Host, NewOpts, OldOpts) ->
    gen_mod:get_opt(db_type, NewOpts) =:= gen_mod:get_opt(db_type, OldOpts) orelse
        ?LOG_WARNING("mod_s2s_trust: db_type of ~ts changed; the violators list stays where it "
                     "is until ejabberd restarts (docs/storage.md)", [Host]),
    _ = mod_s2s_trust_store:load(Host, NewOpts),
    ok = mod_s2s_trust_dane:start(Host, NewOpts),
    ok = mod_s2s_trust_posh:flush(),   % documents fetched under the old options
    mod_s2s_trust_gate:new_policy(Host),
    {Checked, Closed} = mod_s2s_trust_recheck:run([Host]),
    ?LOG_NOTICE("mod_s2s_trust: reloaded on ~ts: ~b live s2s stream(s) judged, ~b closed",
                [Host, Checked, Closed]),
    ok.

depends(_Host, _Opts) -> [].

mod_opt_type(trust_config) ->
    econf:either(econf:enum([default]), econf:file());
mod_opt_type(mode) ->
    econf:enum([enforce, audit]);
mod_opt_type(exempt) ->
    econf:list(econf:domain(), [unique]);
mod_opt_type(log_file) ->
    econf:either(econf:enum([none]), econf:file(write));
mod_opt_type(learn_intermediates) ->
    econf:bool();
mod_opt_type(learn_wait) ->
    econf:int(0, 60000);
mod_opt_type(probe_timeout) ->
    econf:int(100, 60000);
mod_opt_type(probe_interval) ->
    econf:int(1, 86400);
mod_opt_type(max_learned) ->
    econf:int(1, 1000);
mod_opt_type(crl_refresh) ->
    econf:bool();
mod_opt_type(crl_refresh_interval) ->
    econf:int(5, 604800);
mod_opt_type(crl_fetch_timeout) ->
    econf:int(1000, 120000);
mod_opt_type(crl_max_size) ->
    econf:int(1024, 104857600);
mod_opt_type(crl_missing) ->
    econf:enum([warn, refuse]);
mod_opt_type(max_violators) ->
    econf:pos_int();
mod_opt_type(db_type) ->
    econf:db_type(?MODULE);
mod_opt_type(metrics_allow) ->
    econf:list(econf:ip_mask());
mod_opt_type(Opt) ->   % DANE's, POSH's and the survey's options are their modules' own
    case [M || M <- ?OPTION_MODULES, lists:keymember(Opt, 1, M:mod_options())] of
        [M | _] -> M:mod_opt_type(Opt);
        [] -> mod_s2s_trust_posh:mod_opt_type(Opt)   % function_clause: econf's unknown option
    end.

%% db_type is mnesia unless set: not the global default_db, because an
%% existing server on default_db sql with MySQL (which this module does
%% not support) would otherwise stop at the upgrade, and one on PostgreSQL
%% would change storage without being asked (docs/storage.md).
mod_options(_Host) ->
    [{db_type, mnesia},
     {trust_config, default}, {mode, enforce}, {exempt, []}, {log_file, none},
     {learn_intermediates, true}, {learn_wait, 5000}, {probe_timeout, 8000},
     {probe_interval, 300}, {max_learned, 64},
     {crl_refresh, true}, {crl_refresh_interval, 10800}, {crl_fetch_timeout, 15000},
     {crl_max_size, 10485760}, {crl_missing, warn}, {max_violators, 100000},
     {metrics_allow, [{{127, 0, 0, 0}, 8}, {{0, 0, 0, 0, 0, 0, 0, 1}, 128}]}]
        ++ lists:append([M:mod_options() || M <- ?OPTION_MODULES]).

mod_doc() ->
    #{desc =>
          ["Refuses every server-to-server stream whose peer certificate does not "
           "validate (chain to a trusted root, validity, revocation, purpose, and the "
           "XMPP identity rules of RFC 6120 and RFC 9525), whether the stream "
           "authenticated with SASL EXTERNAL or with dialback, and keeps a list of the "
           "remote domains that failed. See docs/ in the module's sources."],
      opts =>
          [{trust_config,
            #{value => "default | Path",
              desc => "The trust engine's libconfig file (docs/configuration.md). "
                      "'default' uses the system CA bundle."}},
           {mode,
            #{value => "enforce | audit",
              desc => "'enforce' refuses untrusted peers; 'audit' records and logs them "
                      "but lets the stream through. The default is 'enforce'."}},
           {exempt,
            #{value => "[Domain]",
              desc => "Remote domains let through even when untrusted; each such "
                      "stream is still recorded, as exempted."}},
           {log_file,
            #{value => "none | Path",
              desc => "Append one JSON object per violation to this file."}},
           {learn_intermediates,
            #{value => "true | false",
              desc => "On unknown_issuer, fetch the chain the peer's own s2s server sends "
                      "and keep the intermediates that chain to a trusted root "
                      "(docs/learning.md). The default is true."}},
           {learn_wait,
            #{value => "Milliseconds",
              desc => "How long a stream waits for that completion (default 5000); "
                      "a slower probe still serves later streams."}},
           {probe_timeout,
            #{value => "Milliseconds",
              desc => "Total deadline of one probe of a peer's server (default 8000)."}},
           {probe_interval,
            #{value => "Seconds",
              desc => "A domain's server is probed at most once per interval (default 300)."}},
           {max_learned,
            #{value => "Number",
              desc => "Most learned intermediates kept; the oldest goes first (default 64)."}},
           {crl_refresh,
            #{value => "true | false",
              desc => "Fetch the CRLs that the store's intermediates and peers' leaves name "
                      "(http:// distribution points), keep the last good copy in the spool "
                      "and rebuild the stores when one changes (docs/crl.md). Default true."}},
           {crl_refresh_interval,
            #{value => "Seconds",
              desc => "How often each CRL is fetched (sooner when its nextUpdate comes "
                      "first); also on s2s_trust_reload. Default 10800."}},
           {crl_fetch_timeout,
            #{value => "Milliseconds",
              desc => "Deadline of one CRL fetch, redirects included (default 15000)."}},
           {crl_max_size,
            #{value => "Bytes",
              desc => "Largest CRL fetched; a longer answer is a failure (default 10485760)."}},
           {crl_missing,
            #{value => "warn | refuse",
              desc => "A peer covered by a CRL that could not be fetched or is past its "
                      "nextUpdate: 'warn' logs and lets the trust config's crl_check "
                      "decide; 'refuse' refuses it as crl_unavailable. Default warn."}},
           {max_violators,
            #{value => "Number",
              desc => "Most remote domains the violators list keeps (one node-wide list: "
                      "the largest value of the vhosts that load the module). Beyond it the "
                      "least recently seen are evicted, counted and logged. Default 100000."}},
           {db_type,
            #{value => "mnesia | sql",
              desc => "Where the violators list is kept (docs/storage.md): Mnesia, or "
                      "PostgreSQL through the vhost's SQL pool (sql_type: pgsql). One list "
                      "serves the node; the first vhost that starts the module chooses. "
                      "Default: mnesia (the global default_db does not apply)."}},
           {metrics_allow,
            #{value => "[IP/Mask]",
              desc => "Networks allowed to read the metrics page (request_handlers: "
                      "{\"/metrics\": mod_s2s_trust_metrics}, docs/metrics.md); the lists of "
                      "all vhosts together. Default: 127.0.0.0/8 and ::1/128."}}]
          ++ lists:append([M:mod_doc_opts() || M <- ?OPTION_MODULES]),
      example =>
          ["modules:",
           "  mod_s2s_dialback: {}",
           "  mod_s2s_trust:",
           "    trust_config: /etc/ejabberd/s2s_trust.conf",
           "    mode: enforce"]}.

%%%===================================================================
%%% Hooks
%%%===================================================================

%% Inbound: RServer has just authenticated on this stream (EXTERNAL or
%% dialback; a stream may authenticate several domains, each comes here).
%% Accepted: the verdict is bound to the stream (mod_s2s_trust_gate), which
%% lets its stanzas through to this vhost. Refused: the domain leaves the
%% stream's authenticated set, the stream gets a policy-violation error, and
%% {stop, _} keeps mod_s2s_bidi from making it our route to the peer.
s2s_in_auth_result(#{?HID_EXTERNAL := true} = State, false, _RServer) ->
    restore_external(State);   % our own hiding of EXTERNAL, not a refusal
s2s_in_auth_result(#{?HID_EXTERNAL := true} = State, true, RServer) ->
    s2s_in_auth_result(restore_external(State), true, RServer);
s2s_in_auth_result(#{server_host := Host} = State, true, RServer) ->
    case judge_stream(in, Host, RServer, State) of
        {accept, Until} ->
            mod_s2s_trust_gate:accepted(State, Host, RServer, Until);
        {refuse, Reason, Detail} ->
            AD = maps:get(auth_domains, State, sets:new()),
            State1 = mod_s2s_trust_gate:refused(State#{auth_domains => sets:del_element(RServer, AD)},
                                                Host, RServer),
            {stop, refuse_in(State1, Reason, Detail)}
    end;
s2s_in_auth_result(#{server_host := Host, sasl_mech := <<"EXTERNAL">>} = State, false, RServer) ->
    ejabberd_refused(in, Host, RServer, State),
    State;
s2s_in_auth_result(State, _Failed, _RServer) ->
    State.

%% ejabberd 23.01 (and xmpp up to at least 1.13) crashes the inbound
%% stream when SASL EXTERNAL meets a *valid* certificate that carries an
%% XmppAddr name (xmpp_stream_pkix:get_cert_domains/1 appends a binary to a
%% list). Such a peer could never federate inbound. For that certificate
%% only, we make ejabberd see this one <auth/> as if EXTERNAL were not on
%% offer: the peer is told invalid-mechanism and falls back to dialback,
%% and s2s_in_auth_result/3 then checks the same certificate in full. The
%% flag is undone by the auth-failure hook that the refusal runs.
s2s_in_handle_recv(#{stream_state := wait_for_sasl_request} = State, _El,
                   {sasl_auth, <<"EXTERNAL">>, _}) ->
    try has_xmpp_addr(State) of
        true ->
            ?LOG_INFO("mod_s2s_trust: SASL EXTERNAL from a certificate with an XmppAddr "
                      "name is answered as unsupported (it would crash ejabberd); the "
                      "peer may use dialback, its certificate is still checked"),
            State#{stream_encrypted => false, ?HID_EXTERNAL => true};
        false ->
            State
    catch _:_ ->
            State
    end;
s2s_in_handle_recv(State, _El, _Pkt) ->
    State.

restore_external(State) ->
    maps:remove(?HID_EXTERNAL, State#{stream_encrypted => true}).

has_xmpp_addr(#{server_host := Host} = State) ->
    case {peer_chain(State), mod_s2s_trust_store:of_host(Host)} of
        {[_ | _] = Chain, Store} when Store =/= undefined ->
            %% The leaf's names only: nothing verified here (the auth
            %% result hook judges the stream in full).
            {_, #{names := Names}} = s2s_trust:describe(Store, <<"invalid.invalid">>, Chain),
            lists:any(fun(#{type := T}) -> T =:= ?XMPP_ADDR_NAME end, Names);
        _ ->
            false
    end.

%% Outbound: we authenticated to the peer; now judge the peer's certificate.
%% Dialback verification connections (db_verify) carry no stanzas and
%% authenticate nothing of the peer's: the stream being verified is checked
%% on its own.
s2s_out_auth_result(#{db_verify := _} = State, _) ->
    State;
s2s_out_auth_result(#{server_host := Host, remote_server := RServer} = State, true) ->
    case judge_stream(out, Host, RServer, State) of
        {accept, Until} -> mod_s2s_trust_gate:accepted(State, Host, RServer, Until);
        {refuse, Reason, Detail} ->
            {stop, refuse_out(mod_s2s_trust_gate:refused(State, Host, RServer), Reason, Detail)}
    end;
s2s_out_auth_result(State, _) ->
    State.

%% ejabberd refused the peer itself (its own PKIX check, when dialback is
%% not loaded): the stream is already gone; record it so the list is complete.
s2s_out_closed(#{server_host := Host, remote_server := RServer} = State, {pkix, Why}) ->
    record_quietly(RServer, fun() ->
                                    Reason = pkix_reason(Why),
                                    Details = #{detail => to_bin(Why), source => <<"ejabberd">>},
                                    mod_s2s_trust_record:note(out, Host, RServer, {error, Reason}, refused, Details)
                            end),
    State;
s2s_out_closed(#{server_host := Host, remote_server := RServer} = State, Why) ->
    case refused_for_no_tls(State, Why) of
        true -> no_tls(out, Host, RServer);
        false -> ok
    end,
    State;
s2s_out_closed(State, _Reason) ->
    State.

%% ejabberd closed an inbound stream whose peer never started TLS although
%% s2s_use_starttls requires it: a refusal, recorded under the name the
%% peer gave in its stream header (nothing else is known of it).
s2s_in_closed(#{server_host := Host} = State, Why) ->
    case {maps:get(remote_server, State, <<>>), refused_for_no_tls(State, Why)} of
        {RServer, true} when is_binary(RServer), RServer =/= <<>> -> no_tls(in, Host, RServer);
        _ -> ok
    end,
    State;
s2s_in_closed(State, _Why) ->
    State.

%% ejabberd answers a peer that will not do TLS, where it is required, with
%% a policy-violation stream error ("Use of STARTTLS required"); xmpp's
%% #stream_error{reason, text} is matched as a tuple (Debian ships xmpp as
%% p1_xmpp, so include_lib("xmpp/...") does not resolve).
refused_for_no_tls(State, {stream, {out, {stream_error, 'policy-violation', Texts}}}) ->
    %% ejabberd's text is "Use of STARTTLS required"; our own closes of a
    %% plaintext stream (not_authenticated, a refusal) say something else.
    maps:get(stream_encrypted, State, false) =:= false
        andalso lists:any(fun(T) -> says_starttls(T) end, Texts);
refused_for_no_tls(_State, _Why) ->
    false.

%% xmpp's #text{lang, data}, as a tuple (see above).
says_starttls({text, _Lang, Data}) when is_binary(Data) -> binary:match(Data, <<"STARTTLS">>) =/= nomatch;
says_starttls(_) -> false.

no_tls(Dir, Host, RServer) ->
    Detail = case Dir of
                 in -> <<"the peer did not start TLS, which this server requires">>;
                 out -> <<"the peer's server does not offer TLS, which this server requires">>
             end,
    mod_s2s_trust_record:note(Dir, Host, RServer, {error, no_tls}, refused,
                              #{detail => Detail, source => <<"ejabberd">>}).

%% ejabberd refused the peer's SASL EXTERNAL itself. Listed when our own
%% verifier refuses that certificate too (the reason is ours); when ours
%% accepts it (23.01 checks an inbound certificate for the client purpose;
%% a self-signed certificate matching the peer's DANE-EE record is never
%% ejabberd's to accept) it is ejabberd's quirk, not a violation: logged
%% only. Dialback may still follow, and is judged in full.
ejabberd_refused(_Dir, _Host, <<>>, _State) ->
    ok;
ejabberd_refused(Dir, Host, RServer, State) ->
    record_quietly(RServer,
                   fun() ->
                           Chain = peer_chain(State),
                           Judged = mod_s2s_trust_dane:judge(Host, RServer, Chain,
                                                             judge(Host, RServer, Chain)),
                           case mod_s2s_trust_posh:judge(Host, RServer, Chain, Judged) of
                               {ok, _} ->
                                   ?LOG_INFO("mod_s2s_trust: ejabberd refused SASL EXTERNAL of ~ts, "
                                             "whose certificate our verifier accepts",
                                             [safe(RServer)]);
                               {Verdict, Details} ->
                                   Detail = maps:get(detail, Details, <<>>),
                                   mod_s2s_trust_record:note(Dir, Host, RServer, Verdict, refused,
                                        Details#{source => <<"ejabberd">>,
                                                 detail => <<"ejabberd refused SASL EXTERNAL; ",
                                                             Detail/binary>>})
                           end
                   end).

%% Working out what to record (ejabberd's reason, our own verdict) must
%% never crash the stream process that reports it; note/6 itself never does.
record_quietly(RServer, Fun) ->
    try Fun()
    catch Class:Err:St ->
            ?LOG_ERROR("mod_s2s_trust: recording a refusal of ~ts failed: ~p",
                       [safe(RServer), {Class, Err, St}])
    end.

%% The whole judgement of one (stream, local vhost, remote domain): the
%% verdict, the policy of that vhost, the record; never raises (fail closed).
%% Accepted, the verdict holds until Until (unix seconds): the leaf's
%% notAfter for a trusted chain, an hour for one let through by audit or
%% exempt; then it is judged again.
-spec judge_stream(in | out, binary(), binary(), map()) ->
          {accept, integer()} | {refuse, atom(), binary()}.
judge_stream(Dir, Host, RServer, State) ->
    guarded(Dir, Host, RServer, fun() -> check_stream(Dir, Host, RServer, State) end).

%% The peer sent a stanza on our outbound stream before that stream
%% authenticated: RFC 6120 forbids it, and with mod_s2s_bidi ejabberd would
%% route it. Whatever the mode, it is dropped, recorded, and the stream is
%% closed: no certificate policy makes an unauthenticated stanza acceptable.
-spec refuse_unauthenticated_out(map(), binary(), binary()) -> map().
refuse_unauthenticated_out(State, Host, RServer) ->
    Detail = <<"a stanza arrived on our outbound stream before it authenticated">>,
    mod_s2s_trust_record:note(out, Host, RServer, {error, not_authenticated}, refused,
                              #{detail => Detail, source => <<"mod_s2s_trust">>}),
    try close_stream(State, out, refusal_text(not_authenticated, Detail))
    catch _:_ ->
            ejabberd_s2s_out:stop_async(self()),
            State
    end.

%% A stanza the gate did not let through; logged at most once a minute per
%% (domain, direction, why).
-spec log_drop(block | unauthenticated, in | out, binary(), binary(), binary()) -> ok.
log_drop(Why, Dir, LHost, RDomain, What) ->
    Now = erlang:system_time(second),
    case mod_s2s_trust_throttle:allow({RDomain, Dir, {drop, Why, LHost}}, Now, ?LOG_INTERVAL) of
        {true, Held} ->
            Text = case Why of
                       block -> <<"its certificate is not accepted for this vhost">>;
                       unauthenticated -> <<"the stream has not authenticated it">>
                   end,
            ?LOG_WARNING("mod_s2s_trust: dropped a ~ts ~ts (~tsbound s2s stream, vhost ~ts): ~ts~ts",
                         [What, safe(RDomain), Dir, safe(LHost), Text, mod_s2s_trust_record:held_text(Held)]);
        false ->
            ok
    end.

%% Every hook body runs here: any fault is an internal_error verdict and
%% refuses in enforce mode (fail closed), logs in audit mode.
guarded(Dir, Host, RServer, Fun) ->
    try Fun()
    catch Class:Err:St ->
            ?LOG_ERROR("mod_s2s_trust: internal error while checking ~ts (~tsbound): ~p",
                       [safe(RServer), Dir, {Class, Err, St}]),
            Outcome = try mode(Host) of
                          audit -> audited;
                          _ -> refused
                      catch _:_ -> refused
                      end,
            mod_s2s_trust_record:note(Dir, Host, RServer, {error, internal_error}, Outcome, #{}),
            case Outcome of
                audited -> {accept, in_an_hour()};
                refused -> {refuse, internal_error, <<"internal error in the trust check">>}
            end
    end.

check_stream(Dir, Host, RServer, State) ->
    true = gen_mod:is_loaded(Host, ?MODULE),   % a vhost without the module has no policy
    Chain = peer_chain(State),
    Pkix = mod_s2s_trust_crl:check_chain(   % notes CRL points; crl_missing
             Host, Chain, complete_chain(Host, RServer, Chain, judge(Host, RServer, Chain))),
    {Verdict, Details} = mod_s2s_trust_posh:judge(Host, RServer, Chain,
                                                  mod_s2s_trust_dane:judge(Host, RServer, Chain, Pkix)),
    Opts = #{mode => mode(Host),
             exempt => gen_mod:get_module_opt(Host, ?MODULE, exempt)},
    case decide(Verdict, RServer, Opts) of
        {accept, Outcome} ->
            mod_s2s_trust_record:note(Dir, Host, RServer, Verdict, Outcome, Details),
            {accept, valid_until(Verdict, Details)};
        {refuse, refused} ->
            mod_s2s_trust_record:note(Dir, Host, RServer, Verdict, refused, Details),
            {error, Reason} = Verdict,
            {refuse, Reason, maps:get(detail, Details, <<>>)}
    end.

%% How long an acceptance holds. A trusted chain: until the leaf's notAfter
%% (intermediates, CRLs and the policy change through reloads, which judge
%% again). Audited or exempted: an hour, so a long stream is judged again
%% now and then. An unreadable date counts as an hour too.
valid_until(ok, #{authority := Authority}) when Authority =/= pkix ->
    in_an_hour();   % accepted by DNS records, which may change: judged again hourly
valid_until(Verdict, Details) ->
    case {Verdict, maps:get(not_after, Details, undefined)} of
        {ok, NotAfter} when is_binary(NotAfter) ->
            try calendar:rfc3339_to_system_time(binary_to_list(NotAfter))
            catch _:_ -> in_an_hour()
            end;
        _ ->
            in_an_hour()
    end.

in_an_hour() -> erlang:system_time(second) + 3600.

%% unknown_issuer may only mean our pool lacks the peer's intermediate:
%% ask the peer's own server for it (mod_s2s_trust_learn), then judge the
%% same leaf again against the grown store. Otherwise the details say why
%% the chain could not be completed.
complete_chain(Host, RServer, [_ | _] = Chain, {{error, unknown_issuer}, Details} = Judged) ->
    case gen_mod:get_module_opt(Host, ?MODULE, learn_intermediates) of
        false ->
            Judged;
        true ->
            Wait = gen_mod:get_module_opt(Host, ?MODULE, learn_wait),
            case mod_s2s_trust_learn:complete(Host, RServer, Wait) of
                {learned, _} = Learned ->
                    {V2, D2} = judge(Host, RServer, Chain),
                    {V2, D2#{completion => mod_s2s_trust_learn:outcome_text(RServer, Learned)}};
                {error, _} = Why ->
                    Text = mod_s2s_trust_learn:outcome_text(RServer, Why),
                    Detail = maps:get(detail, Details, <<>>),
                    {{error, unknown_issuer},
                     Details#{completion => Text, detail => <<Detail/binary, "; ", Text/binary>>}}
            end
    end;
complete_chain(_Host, _RServer, _Chain, Judged) ->
    Judged.

judge(_Host, _RServer, []) ->
    {{error, no_certificate}, #{detail => <<"the stream has no TLS certificate">>}};
judge(Host, RServer, Chain) ->
    case mod_s2s_trust_store:of_host(Host) of
        undefined ->
            {{error, no_trust_store}, #{detail => <<"no trust store is loaded">>}};
        Store ->
            %% Through the verdict cache (a peer's inbound and outbound
            %% streams, and its reconnections, cost one verification);
            %% full details for a refusal, the leaf's for an acceptance.
            T0 = erlang:monotonic_time(microsecond),
            Judged = s2s_trust:check(Store, RServer, Chain),
            mod_s2s_trust_metrics:checked(erlang:monotonic_time(microsecond) - T0),
            Judged
    end.

%% The peer's certificate from the stream's socket: [Der] or [] when there
%% is no TLS (plain TCP, a compressed stream hiding it) or no certificate.
%% fast_tls hands us the leaf only; the trust store's pool completes chains.
peer_chain(#{socket := Socket}) ->
    case xmpp_socket:get_transport(Socket) of
        tls ->
            case xmpp_socket:get_peer_certificate(Socket, der) of
                {ok, Der} when is_binary(Der) -> [Der];
                _ -> []
            end;
        _ ->
            []
    end;
peer_chain(_) ->
    [].

mode(Host) ->
    gen_mod:get_module_opt(Host, ?MODULE, mode).

%% The whole policy, as a pure function (EUnit covers every row).
-spec decide(ok | {error, atom()}, binary(), #{mode := enforce | audit, exempt := [binary()]}) ->
          {accept, outcome()} | {refuse, refused}.
decide(ok, _Domain, _Opts) ->
    {accept, accepted};
decide({error, _}, Domain, #{mode := Mode, exempt := Exempt}) ->
    case lists:member(Domain, Exempt) of
        true -> {accept, exempted};
        false when Mode =:= audit -> {accept, audited};
        false -> {refuse, refused}
    end.

refuse_in(State, Reason, Detail) ->
    Lang = maps:get(lang, State, <<"en">>),
    Err = xmpp:serr_policy_violation(refusal_text(Reason, Detail), Lang),
    try ejabberd_s2s_in:send(State, Err)
    catch _:_ ->
            %% Could not even send the error: end the process anyway.
            ejabberd_s2s_in:stop_async(self()),
            State
    end.

refuse_out(State, Reason, Detail) ->
    try ejabberd_s2s_out:process_auth_result(State, {false, {auth, refusal_text(Reason, Detail)}})
    catch _:_ ->
            ejabberd_s2s_out:stop_async(self()),
            State
    end.

%% What the peer (and the bounce of queued stanzas) is told. The reason is
%% one of a fixed set of atoms; the detail comes from our verifier and may
%% quote the peer's own domain, never one of our names.
-spec refusal_text(atom(), binary()) -> binary().
refusal_text(Reason, Detail) ->
    iolist_to_binary([<<"Certificate refused (mod_s2s_trust): ">>, atom_to_binary(Reason),
                      case Detail of
                          <<>> -> <<>>;
                          _ -> [<<": ">>, mod_s2s_trust_format:text_escape(Detail)]
                      end]).

%% ejabberd's own PKIX refusal reasons are OpenSSL's verify strings as atoms.
-spec pkix_reason(term()) -> atom().
pkix_reason(Why) ->
    Text = string:lowercase(to_bin(Why)),
    Table = [{<<"self-signed">>, self_signed}, {<<"self signed">>, self_signed},
             {<<"expired">>, expired}, {<<"not yet valid">>, not_yet_valid},
             {<<"unable to get">>, unknown_issuer}, {<<"revoked">>, revoked},
             {<<"purpose">>, bad_purpose}, {<<"host name mismatch">>, name_mismatch},
             {<<"hostname_mismatch">>, name_mismatch}, {<<"signature">>, bad_signature},
             {<<"get_cert_failed">>, no_certificate}],
    case [R || {Needle, R} <- Table, binary:match(Text, Needle) =/= nomatch] of
        [R | _] -> R;
        [] -> untrusted
    end.

%% The violators list is one per node (per cluster): its bound is the
%% largest max_violators of the vhosts that load the module.
-spec max_violators() -> pos_integer().
max_violators() ->
    case [gen_mod:get_module_opt(H, ?MODULE, max_violators)
          || H <- ejabberd_option:hosts(), gen_mod:is_loaded(H, ?MODULE)] of
        [] -> 100000;
        Ms -> lists:max(Ms)
    end.

safe(Name) ->
    mod_s2s_trust_format:text_escape(to_bin(Name)).

to_bin(B) when is_binary(B) -> B;
to_bin(A) when is_atom(A) -> atom_to_binary(A);
to_bin(L) when is_list(L) -> unicode:characters_to_binary(L);
to_bin(T) -> iolist_to_binary(io_lib:format("~0p", [T])).

%% Runs inside an s2s stream process: close it with a policy-violation.
close_stream(State, in, Text) ->
    Lang = maps:get(lang, State, <<"en">>),
    ejabberd_s2s_in:send(State, xmpp:serr_policy_violation(Text, Lang));
close_stream(State, out, Text) ->
    Lang = maps:get(lang, State, <<"en">>),
    ejabberd_s2s_out:send(State, xmpp:serr_policy_violation(Text, Lang)).
