%%% s2s_trust_nif - the raw NIF functions of priv/lib/s2s_trust_nif.so.
%%%
%%% Nothing here is an API: s2s_trust is. This module exists so that the
%%% NIF library has exactly one Erlang module to attach to, and so that an
%%% upgrade of the library (code:load_file(s2s_trust_nif)) touches nothing
%%% but these stubs.
%%%
%%% The stubs raise exceptions with OTP crypto's shape,
%%% {badarg | error, #{c_file_name, c_file_line_num, c_function_arg_num}, Text},
%%% c_function_arg_num being the 0-based C argv index; s2s_trust translates
%%% them into error_info.
-module(s2s_trust_nif).

-export([open_nif/3, info_nif/1, verify_nif/3, verify_batch_nif/2, explain_nif/3,
         check_nif/3, describe_nif/3, reasons_nif/0, probe_nif/6, learn_examine_nif/2,
         dnssec_open_nif/4, dane_lookup_nif/5, dane_verify_nif/5, posh_fetch_nif/2, crl_fetch_nif/2]).

-nifs([open_nif/3, info_nif/1, verify_nif/3, verify_batch_nif/2, explain_nif/3,
       check_nif/3, describe_nif/3, reasons_nif/0, probe_nif/6, learn_examine_nif/2,
       dnssec_open_nif/4, dane_lookup_nif/5, dane_verify_nif/5, posh_fetch_nif/2, crl_fetch_nif/2]).

-on_load(init/0).

-define(LIB, "s2s_trust_nif").

-spec init() -> ok | {error, term()}.
init() ->
    erlang:load_nif(lib_path(), 0).

%% ejabberd loads module beams from its own ebin directories without ever
%% starting (or even knowing) the s2s_trust application, and a checkout's
%% ebin/ does not sit in a directory named s2s_trust[-Vsn], so
%% code:priv_dir/1 often cannot answer. The build always puts the library
%% in ../priv/lib relative to the beams, hence the fallback.
-spec lib_path() -> file:filename().
lib_path() ->
    FromApp = case code:priv_dir(s2s_trust) of
                  {error, _} -> false;
                  Priv -> filename:join([Priv, "lib", ?LIB])
              end,
    case FromApp =/= false andalso filelib:is_regular(FromApp ++ ".so") of
        true -> FromApp;
        false -> filename:join([beam_dir(), "..", "priv", "lib", ?LIB])
    end.

-spec beam_dir() -> file:filename().
beam_dir() ->
    case code:which(?MODULE) of
        Beam when is_list(Beam) -> filename:dirname(Beam);
        _ -> "."
    end.

%% Stubs, replaced by the library at load time.

-spec open_nif(binary() | default, [binary()], [binary()]) -> {ok, reference()} | {error, term()}.
open_nif(_Path, _ExtraIntermediateFiles, _ExtraCrlFiles) -> erlang:nif_error(not_loaded).

-spec probe_nif(binary(), binary(), binary(), 1..65535, starttls | direct_tls, pos_integer()) ->
          {ok, [binary()], map()} | {error, atom(), map()}.
probe_nif(_Domain, _From, _Address, _Port, _Mode, _TotalMs) -> erlang:nif_error(not_loaded).

-spec learn_examine_nif(reference(), [binary()]) -> [{atom(), integer(), binary() | undefined}].
learn_examine_nif(_Store, _Chain) -> erlang:nif_error(not_loaded).

-spec dnssec_open_nif(binary() | default, binary() | default, 1..16, pos_integer()) ->
          {ok, reference()} | {error, binary()}.
dnssec_open_nif(_UnboundConf, _TrustAnchor, _Threads, _MaxQueue) -> erlang:nif_error(not_loaded).

-spec dane_lookup_nif(reference(), binary(), 1..65535, 1..600000, reference()) -> ok | {error, busy}.
dane_lookup_nif(_Resolver, _Domain, _Port, _DeadlineMs, _Ref) -> erlang:nif_error(not_loaded).

-spec dane_verify_nif(reference(), binary(), binary() | undefined, [binary()],
                      [{byte(), byte(), byte(), binary()}]) -> {atom(), atom(), map()}.
dane_verify_nif(_Store, _Domain, _Target, _Chain, _Records) -> erlang:nif_error(not_loaded).

-spec posh_fetch_nif(binary(), #{cafile := default | binary(), resolve := [binary()],
                                 port := 0..65535, timeout := 1..60000}) ->
          {ok, #{fingerprints := [{sha256 | sha512, binary()}], expires := pos_integer(),
                 hop := binary() | undefined}}
          | {error, atom(), binary()}.
posh_fetch_nif(_Domain, _Opts) -> erlang:nif_error(not_loaded).

-spec crl_fetch_nif(binary(), #{timeout := 1..120000, max_bytes := 1..104857600}) ->
          {ok, binary()}
          | {error, #{status := atom(), cause := atom(), errno := atom() | integer() | undefined,
                      code := integer(), location := binary() | undefined | too_long | bad,
                      why := binary()}}.
crl_fetch_nif(_Url, _Opts) -> erlang:nif_error(not_loaded).

-spec info_nif(reference()) -> map().
info_nif(_Store) -> erlang:nif_error(not_loaded).

-spec verify_nif(reference(), binary(), [binary()]) -> ok | {error, atom()}.
verify_nif(_Store, _Domain, _Chain) -> erlang:nif_error(not_loaded).

-spec verify_batch_nif(reference(), [{binary(), [binary()]}]) -> [ok | {error, atom()}].
verify_batch_nif(_Store, _Batch) -> erlang:nif_error(not_loaded).

-spec explain_nif(reference(), binary(), [binary()]) -> {ok | {error, atom()}, map()}.
explain_nif(_Store, _Domain, _Chain) -> erlang:nif_error(not_loaded).

-spec check_nif(reference(), binary(), [binary()]) -> {ok | {error, atom()}, map()}.
check_nif(_Store, _Domain, _Chain) -> erlang:nif_error(not_loaded).

-spec describe_nif(reference(), binary(), [binary()]) -> {ok | {error, atom()}, map()}.
describe_nif(_Store, _Domain, _Chain) -> erlang:nif_error(not_loaded).

-spec reasons_nif() -> [{atom(), binary()}].
reasons_nif() -> erlang:nif_error(not_loaded).
