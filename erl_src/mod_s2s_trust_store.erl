%%% mod_s2s_trust_store - the trust store each virtual host judges with.
%%%
%%% One concern: building a host's store and publishing it. A store is the
%%% host's trust_config (s2s_trust:open/2) plus the learned intermediates
%%% (mod_s2s_trust_learn) plus the CRL copies held (mod_s2s_trust_crl:open/2
%%% adds those). It is built new and swapped in whole: a build that fails
%%% keeps the store in use (the ejabberd_pkix behaviour), and a host that
%%% never had one refuses every stream as no_trust_store (fail closed).
%%%
%%% The store lives in persistent_term: lock-free, uncopied reads on every
%%% authentication; the global GC an update costs happens on reloads only.
%%% Its key, {mod_s2s_trust, store, Host}, is older than this module; the
%%% end-to-end tests read and overwrite it over rpc.
%%%
%%% Why apart from mod_s2s_trust: the module decides, with whatever store
%%% is current; the store changes for reasons of its own (start, reload,
%%% learned intermediates, on any node; a CRL copy changed), and each of
%%% those callers rebuilds through here.
-module(mod_s2s_trust_store).

%% for mod_s2s_trust
-export([load/2, forget/1]).
%% for mod_s2s_trust, the learner, the CRL round and the posture audit
-export([of_host/1]).
%% for mod_s2s_trust_learn (on every node): the learned table changed
-export([learned_changed/0]).
%% for mod_s2s_trust_crl (a CRL copy changed) and s2s_trust_reload
-export([rebuild_and_recheck/0]).

-include_lib("kernel/include/logger.hrl").

-define(KEY(Host), {mod_s2s_trust, store, Host}).

%% Build Host's store from its options and publish it; on failure the
%% previous store (if any) stays in use and the error is logged.
-spec load(binary(), gen_mod:opts()) -> ok | {error, binary()}.
load(Host, Opts) ->
    Config = gen_mod:get_opt(trust_config, Opts),
    case open_with_learned(Config) of
        {ok, Store} ->
            persistent_term:put(?KEY(Host), Store),
            mod_s2s_trust_gate:new_policy(Host),
            #{anchors := A, intermediates := I, crls := C} = s2s_trust:info(Store),
            ?LOG_NOTICE("mod_s2s_trust: trust store for ~ts: ~b anchors, ~b intermediates, "
                        "~b CRLs (~ts)", [Host, A, I, C, config_name(Config)]),
            ok;
        {error, Reason} ->
            Text = s2s_trust:format_reason(Reason),
            case of_host(Host) of
                undefined ->
                    ?LOG_ERROR("mod_s2s_trust: NO TRUST STORE for ~ts: ~ts -- every s2s "
                               "stream of this host will be refused (no_trust_store)",
                               [Host, Text]);
                _ ->
                    ?LOG_ERROR("mod_s2s_trust: trust store for ~ts not reloaded, the "
                               "previous one stays in use: ~ts", [Host, Text])
            end,
            {error, Text}
    end.

%% The module stopped on Host: its store goes with it.
-spec forget(binary()) -> ok.
forget(Host) ->
    _ = persistent_term:erase(?KEY(Host)),
    ok.

%% Host's current store, or undefined when none was ever built.
-spec of_host(binary()) -> s2s_trust:store() | undefined.
of_host(Host) ->
    persistent_term:get(?KEY(Host), undefined).

%% The configured store plus what was learned; a learned bundle that does
%% not load (a disk fault) must not cost the host its configured store.
open_with_learned(Config) ->
    %% mod_s2s_trust_crl:open/2 = s2s_trust:open/2 plus the fetched CRL copies.
    case mod_s2s_trust_learn:extra_files() of
        [] ->
            mod_s2s_trust_crl:open(Config, []);
        Extra ->
            case mod_s2s_trust_crl:open(Config, Extra) of
                {ok, _} = Ok ->
                    Ok;
                {error, Reason} ->
                    ?LOG_ERROR("mod_s2s_trust: learned intermediates not loaded: ~ts",
                               [s2s_trust:format_reason(Reason)]),
                    mod_s2s_trust_crl:open(Config, [])
            end
    end.

%% The learned table changed (here or on another node): rebuild this
%% node's bundle and every host's store from it.
-spec learned_changed() -> ok.
learned_changed() ->
    ok = mod_s2s_trust_learn:write_pem(),
    [load(H, gen_mod:get_module_opts(H, mod_s2s_trust)) || H <- hosts()],
    ok.

%% Every host's store built again, then every live s2s stream of those
%% hosts judged again: the second half of s2s_trust_reload, and what a
%% changed CRL copy needs.
-spec rebuild_and_recheck() ->
          {ok | error, [{binary(), binary()}], non_neg_integer(), non_neg_integer()}.
rebuild_and_recheck() ->
    Hosts = hosts(),
    Errors = [{H, E} || H <- Hosts,
                        {error, E} <- [load(H, gen_mod:get_module_opts(H, mod_s2s_trust))]],
    {Checked, Closed} = mod_s2s_trust_recheck:run(Hosts),
    {case Errors of [] -> ok; _ -> error end, Errors, Checked, Closed}.

hosts() ->
    [H || H <- ejabberd_option:hosts(), gen_mod:is_loaded(H, mod_s2s_trust)].

config_name(default) -> <<"built-in defaults">>;
config_name(Path) -> Path.
