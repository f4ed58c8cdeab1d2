%%% mod_s2s_trust_record - what a verdict leaves behind: the last-verdict
%%% table and the violators list (mod_s2s_trust_violators), the web admin's
%%% counters, the WARNING line of a refusal (throttled per domain, direction,
%%% reason and source), the INFO line of an acceptance naming what accepted
%%% the peer (pkix, dane_ee, dane_ta or posh; throttled per domain,
%%% direction and authority) and the JSON line of log_file. Recording never decides: a
%%% failure here is logged and the verdict stands.
-module(mod_s2s_trust_record).

-export([note/6, held_text/1]).

-include_lib("kernel/include/logger.hrl").

%% A peer's repeated violations are logged once per this many seconds
%% (each one is still counted in the violators list).
-define(LOG_INTERVAL, 60).

-spec note(in | out, binary(), binary(), ok | {error, atom()}, atom(), map()) -> ok.
%% Whatever fails here is logged, and the verdict stands (a failing disk
%% must not refuse a trusted peer, nor let one in).
note(Dir, Host, RServer, Verdict, Outcome, Details) ->
    try note_(Dir, Host, RServer, Verdict, Outcome, Details)
    catch Class:Err:St ->
            ?LOG_ERROR("mod_s2s_trust: recording the verdict for ~ts failed: ~p",
                       [mod_s2s_trust:safe(RServer), {Class, Err, St}]),
            ok
    end.

note_(Dir, _Host, RServer, Verdict, Outcome, Details) ->
    Now = erlang:system_time(second),
    Reason = case Verdict of ok -> ok; {error, R} -> R end,
    mod_s2s_trust_metrics:verdict(Dir, Outcome, Reason),   % never raises
    Record = with_authority(Reason, record_details(Details)),
    mod_s2s_trust_violators:note_verdict(RServer, Dir, Reason, Outcome, Record, Now),
    case Reason of
        ok ->
            Authority = maps:get(authority, Record),
            case mod_s2s_trust_throttle:allow({RServer, Dir, ok, Authority}, Now, ?LOG_INTERVAL) of
                {true, Held} ->
                    ?LOG_INFO("mod_s2s_trust: accepted ~tsbound s2s stream of ~ts by ~ts~ts",
                              [Dir, mod_s2s_trust:safe(RServer), Authority, held_text(Held)]);
                false ->
                    ok
            end;
        _ ->
            ok = mod_s2s_trust_violators:record(RServer, Dir, Reason, Outcome, Record, Now),
            %% One throttle per source: ejabberd's own refusal of a peer
            %% must not hold back the line saying what the module decided.
            Source = maps:get(source, Record, <<"mod_s2s_trust">>),
            case mod_s2s_trust_throttle:allow({RServer, Dir, Reason, Source}, Now, ?LOG_INTERVAL) of
                {true, Held} ->
                    ?LOG_WARNING("mod_s2s_trust: ~ts ~tsbound s2s stream of ~ts: ~ts (~ts)~ts",
                                 [Outcome, Dir, mod_s2s_trust:safe(RServer), Reason,
                                  mod_s2s_trust_format:text_escape(maps:get(detail, Record, <<>>)),
                                  held_text(Held)]),
                    write_log_file(Dir, RServer, Reason, Outcome, Record, Now, Held);
                false ->
                    ok
            end
    end.

%% An acceptance always names its authority: the DANE and POSH judgements
%% set theirs (dane_ee, dane_ta, posh, or pkix when DNSSEC-signed records
%% constrained a PKIX chain); without them, PKIX alone accepted.
with_authority(ok, Record) -> maps:merge(#{authority => pkix}, Record);
with_authority(_Reason, Record) -> Record.

held_text(0) -> <<>>;
held_text(N) -> io_lib:format("; ~b more since the last report, not logged", [N]).

%% What a violation keeps of the explain details: enough for an operator,
%% bounded (a hostile certificate can carry thousands of names).
record_details(Details) ->
    Keep = [detail, subject, issuer, not_before, not_after, openssl_code, openssl_text,
            depth, matched_by, domain, source, completion, authority, dane, dane_target, posh],
    Base = maps:with(Keep, Details),
    Names = lists:sublist(maps:get(names, Details, []), 32),
    Chain = lists:sublist(maps:get(chain, Details, []), 8),
    Base#{names => Names, chain => Chain}.

write_log_file(Dir, RServer, Reason, Outcome, Record, Now, Held) ->
    case gen_mod:get_module_opt(global_host(), mod_s2s_trust, log_file) of
        none -> ok;
        Path ->
            Line = mod_s2s_trust_format:log_line(
                     #{time => mod_s2s_trust_format:iso8601(Now), domain => RServer,
                       direction => Dir, reason => Reason, outcome => Outcome,
                       certificate => Record, not_logged_before => Held}),
            case file:write_file(Path, Line, [append]) of
                ok -> ok;
                {error, E} ->
                    ?LOG_ERROR("mod_s2s_trust: cannot write log_file ~ts: ~p", [Path, E])
            end
    end.

%% log_file is per host in the options, but one file serves the node:
%% take it from the first host that loads the module.
global_host() ->
    hd([H || H <- ejabberd_option:hosts(), gen_mod:is_loaded(H, mod_s2s_trust)]).

