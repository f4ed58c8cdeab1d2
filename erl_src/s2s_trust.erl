%%% s2s_trust - verify XMPP server-to-server certificate chains.
%%%
%%% The public API over the OpenSSL NIF. A store is an immutable trust
%%% store (anchors, intermediates pool, CRLs, policy) built by open/1;
%%% verifications read it from any number of processes at once. Reloading
%%% means open/1 again and swapping the term wherever it is published
%%% (persistent_term, a gen_server): the VM's reference counting keeps an
%%% old store alive exactly as long as someone still holds it, so an
%%% in-flight verification finishes on the store it started with.
%%%
%%% Errors follow one rule: a failed verification or a bad configuration
%%% file is a value ({error, Reason}); a wrong Erlang type is a bug in the
%%% caller and raises. Certificate bytes are the remote peer's and never
%%% raise, whatever they hold, so a peer cannot crash the process that
%%% asks. Raised exceptions have OTP crypto's shape,
%%%   error:{badarg, {CFile, CLine}, Description}
%%% with error_info naming the argument, so the shell says which argument
%%% was wrong (format_error/2).
-module(s2s_trust).

-export([open/1, open/2, verify/3, verify_batch/2, explain/3, check/3, describe/3, info/1, reasons/0,
         format_reason/1, format_error/2, probe/5, probe/6, learn_examine/2]).

-export_type([store/0, reason/0, verdict/0, details/0, info/0, probe_info/0,
              probe_status/0, learn_fate/0]).

%% A resource term: cheap to copy, store in persistent_term or send.
-opaque store() :: reference().

-type verdict() :: no_certificate | malformed | too_long | self_signed | unknown_issuer
                 | expired | not_yet_valid | revoked | crl_unavailable | bad_signature
                 | invalid_ca | bad_purpose | name_mismatch | name_constraints
                 | weak_crypto | untrusted.

-type reason() :: verdict()
                | {config, File :: binary(), Line :: non_neg_integer(), Text :: binary()}.

-type domain() :: unicode:chardata().
-type der() :: binary().

-type details() :: #{reason := ok | verdict(),
                     domain := binary() | undefined,
                     depth := non_neg_integer() | undefined,
                     openssl_code := integer(),
                     openssl_text := binary() | undefined,
                     detail := binary() | undefined,
                     subject := binary() | undefined,
                     issuer := binary() | undefined,
                     error_subject := binary() | undefined,
                     not_before := binary() | undefined,
                     not_after := binary() | undefined,
                     matched_by := dns | srv | xmpp | cn | none,
                     names := [#{type := dns | srv | xmpp | cn, value := binary()}],
                     chain := [#{subject := binary() | undefined,
                                 issuer := binary() | undefined}],
                     presented := non_neg_integer(),
                     %% of those, byte-identical to a pool certificate
                     %% (the store's copy was used, not parsed again)
                     known := non_neg_integer()}.

-type info() :: #{anchors := non_neg_integer(),
                  intermediates := non_neg_integer(),
                  crls := non_neg_integer(),
                  generation := non_neg_integer(),
                  built_at := integer(),
                  config := binary(),
                  sources := [binary()],
                  policy := #{crl_check := none | if_available | require,
                              max_depth := non_neg_integer(),
                              max_chain_certs := pos_integer(),
                              max_cert_bytes := pos_integer(),
                              security_level := 0..5,
                              require_server_auth_eku := boolean(),
                              insecure_allow_cn_id := boolean(),
                              verification_time := integer() | undefined},
                  %% the verdict cache (verify/3, verify_batch/2); capacity 0:
                  %% off; entries, bytes and the counters stay 0 until the
                  %% store's first cached verification allocates it
                  verdict_cache := #{capacity := non_neg_integer(),
                                     entries := non_neg_integer(),
                                     bytes := non_neg_integer(),
                                     ttl := non_neg_integer(),
                                     hits := non_neg_integer(),
                                     misses := non_neg_integer(),
                                     inserts := non_neg_integer(),
                                     evictions := non_neg_integer(),
                                     expired := non_neg_integer()}}.

-type probe_status() :: bad_address | connect_failed | timeout | closed | protocol
                      | no_starttls | too_large | tls_failed | no_certificate | internal.

-type probe_info() :: #{stage := atom(), detail := binary() | undefined,
                        tls_version := binary() | undefined, cipher := binary() | undefined,
                        alpn := binary() | undefined, starttls_offered := boolean(),
                        starttls_required := boolean(), elapsed_ms := non_neg_integer()}.

%% What s2s_trust_learn.h decided for one certificate a server sent.
-type learn_fate() :: keep | leaf | known | not_ca | self_issued | untrusted | malformed.

%% Chains per NIF call in verify_batch/2. Each NIF call runs on a dirty CPU
%% scheduler for as long as its chains take (a hostile peer's RSA-16384
%% chain costs milliseconds); meanwhile the calling process can be neither
%% garbage-collected nor suspended, and the dirty scheduler serves no one
%% else. Sixteen ordinary chains take about a millisecond, and the NIF
%% refuses more than 64 per call.
-define(BATCH_CHUNK, 16).

%%% ---- raising ------------------------------------------------------------

%% Both are macros, not functions, because erlang:error/3 puts the function
%% it is called from on top of the stacktrace: raised inline, the trace
%% names the public function and its real arguments, and error_info points
%% at one of them. The variable names are odd because macros are not
%% hygienic.

%% Turn a NIF exception into crypto's shape with error_info; the C side
%% counts arguments from 0, Erlang from 1. Every public function passes its
%% arguments to the NIF in the same positions, so no remapping is needed.
-define(NIF_CALL(Expr, Args),
        try Expr
        catch
            error:{S2sId_, #{c_file_name := S2sCFile_, c_file_line_num := S2sCLine_,
                             c_function_arg_num := S2sArgNum_}, S2sText_}
              when is_integer(S2sArgNum_) ->
                erlang:error({S2sId_, {S2sCFile_, S2sCLine_}, S2sText_}, Args,
                             [{error_info, error_info(S2sArgNum_ + 1)}])
        end).

-define(BADARG(N, Text, Args),
        erlang:error({badarg, {?MODULE_STRING ".erl", ?LINE}, Text}, Args,
                     [{error_info, error_info(N)}])).

%%% ---- API ---------------------------------------------------------------

%% Build a store from a libconfig file (docs/configuration.md), or from the
%% built-in defaults (the system roots). Reads files: runs on a dirty I/O
%% scheduler.
-spec open(file:filename_all() | default) -> {ok, store()} | {error, reason()}.
open(Config) ->
    open(Config, #{}).

%% open/1, with more files than the configuration names, read as if it
%% listed them: mod_s2s_trust adds the intermediates it has learned
%% (docs/learning.md) and the CRLs it has fetched. Absolute paths; an
%% error in one names that file (line 0).
-type extra() :: #{intermediate_files => [file:filename_all()],
                   crl_files => [file:filename_all()]}.
-spec open(file:filename_all() | default, extra()) -> {ok, store()} | {error, reason()}.
open(Config, Extra) ->
    Args = [Config, Extra],
    case extra_files(Extra) of
        {badarg, Text} -> ?BADARG(2, Text, Args);
        {ok, Inter, Crls} ->
            case Config of
                default -> ?NIF_CALL(s2s_trust_nif:open_nif(default, Inter, Crls), Args);
                _ ->
                    case filename_to_binary(Config) of
                        {ok, Path} -> ?NIF_CALL(s2s_trust_nif:open_nif(Path, Inter, Crls), Args);
                        {badarg, Text} -> ?BADARG(1, Text, Args)
                    end
            end
    end.

extra_files(Extra) when is_map(Extra) ->
    case maps:keys(maps:without([intermediate_files, crl_files], Extra)) of
        [] ->
            case {file_list(maps:get(intermediate_files, Extra, [])),
                  file_list(maps:get(crl_files, Extra, []))} of
                {{ok, I}, {ok, C}} -> {ok, I, C};
                {{badarg, _} = B, _} -> B;
                {_, B} -> B
            end;
        _ ->
            {badarg, "expected a map with keys intermediate_files and crl_files only"}
    end;
extra_files(_) ->
    {badarg, "expected a map of extra files"}.

file_list(Files) when is_list(Files) ->
    Bins = [filename_to_binary(F) || F <- Files],
    case [T || {badarg, T} <- Bins] of
        [] -> {ok, [B || {ok, B} <- Bins]};
        [T | _] -> {badarg, T}
    end;
file_list(_) ->
    {badarg, "expected a list of file names"}.

%% Open an s2s stream to Address:Port as a federating server would, for
%% Domain, and bring back the certificate chain its server presents (leaf
%% first, as sent). Blocks the caller for at most TotalMs, on a dirty I/O
%% scheduler. From is our own domain for the stream header (probe/5 sends
%% none). A peer's misbehaviour is a value.
-spec probe(domain(), inet:ip_address() | binary(), inet:port_number(),
            starttls | direct_tls, pos_integer()) ->
          {ok, [der()], probe_info()} | {error, probe_status(), probe_info()}.
probe(Domain, Address, Port, Mode, TotalMs) ->
    probe(Domain, <<>>, Address, Port, Mode, TotalMs).

-spec probe(domain(), binary(), inet:ip_address() | binary(), inet:port_number(),
            starttls | direct_tls, pos_integer()) ->
          {ok, [der()], probe_info()} | {error, probe_status(), probe_info()}.
probe(Domain, From, Address, Port, Mode, TotalMs) ->
    Args = [Domain, From, Address, Port, Mode, TotalMs],
    Addr = case Address of
               A when is_tuple(A) -> list_to_binary(inet:ntoa(A));
               B -> B
           end,
    case to_binary(Domain) of
        {ok, D} -> ?NIF_CALL(s2s_trust_nif:probe_nif(D, From, Addr, Port, Mode, TotalMs), Args);
        error -> ?BADARG(1, "expected a domain (binary or string)", Args)
    end.

%% For each certificate of Chain (as a server sent it, leaf first): may it
%% join the store's pool of intermediates (keep), and if not, why not
%% (s2s_trust_learn.h). Never raises for the certificates' content.
-spec learn_examine(store(), [der()]) ->
          [{learn_fate(), OpensslCode :: integer(), Text :: binary() | undefined}].
learn_examine(Store, Chain) ->
    ?NIF_CALL(s2s_trust_nif:learn_examine_nif(Store, Chain), [Store, Chain]).

%% Is `Chain` (DER, leaf first, often the leaf alone) a chain the store
%% trusts, naming `Domain`?
-spec verify(store(), domain(), [der()]) -> ok | {error, verdict()}.
verify(Store, Domain, Chain) ->
    Args = [Store, Domain, Chain],
    case to_binary(Domain) of
        {ok, D} -> ?NIF_CALL(s2s_trust_nif:verify_nif(Store, D, Chain), Args);
        error -> ?BADARG(2, "expected a domain (binary or string)", Args)
    end.

%% verify/3 for many chains; the results come in the order of `Batch`.
%% Every element is type-checked before any is verified, so a caller bug
%% costs no work and yields no partial answer.
-spec verify_batch(store(), [{domain(), [der()]}]) -> [ok | {error, verdict()}].
verify_batch(Store, Batch) ->
    Args = [Store, Batch],
    case batch_items(Batch, 1, []) of
        {ok, Items} -> ?NIF_CALL(verify_chunks(Store, Items, []), Args);
        {badarg, Text} -> ?BADARG(2, Text, Args)
    end.

%% verify/3 plus what an operator needs to act on the answer.
-spec explain(store(), domain(), [der()]) -> {ok | {error, verdict()}, details()}.
explain(Store, Domain, Chain) ->
    Args = [Store, Domain, Chain],
    case to_binary(Domain) of
        {ok, D} -> ?NIF_CALL(s2s_trust_nif:explain_nif(Store, D, Chain), Args);
        error -> ?BADARG(2, "expected a domain (binary or string)", Args)
    end.

%% verify/3 (through the verdict cache) with the details a record of the
%% verdict needs: when accepted, the leaf's facts only (subject, issuer,
%% dates, names, matched_by; `chain` is [] since no chain was described);
%% when refused, explain/3's full details of a fresh verification, whose
%% verdict is the one returned. What the module asks on every stream.
-spec check(store(), domain(), [der()]) -> {ok | {error, verdict()}, details()}.
check(Store, Domain, Chain) ->
    Args = [Store, Domain, Chain],
    case to_binary(Domain) of
        {ok, D} -> ?NIF_CALL(s2s_trust_nif:check_nif(Store, D, Chain), Args);
        error -> ?BADARG(2, "expected a domain (binary or string)", Args)
    end.

%% The leaf's facts, nothing verified: {ok, Details} when the leaf parses
%% (matched_by says whether one of its identities names Domain), else the
%% verdict the verifier would give these bytes before any verification
%% (no_certificate, too_long, malformed) with its detail.
-spec describe(store(), domain(), [der()]) -> {ok | {error, verdict()}, details()}.
describe(Store, Domain, Chain) ->
    Args = [Store, Domain, Chain],
    case to_binary(Domain) of
        {ok, D} -> ?NIF_CALL(s2s_trust_nif:describe_nif(Store, D, Chain), Args);
        error -> ?BADARG(2, "expected a domain (binary or string)", Args)
    end.

%% What a store holds and the policy it applies.
-spec info(store()) -> info().
info(Store) ->
    ?NIF_CALL(s2s_trust_nif:info_nif(Store), [Store]).

%% Every verdict (ok included) with its operator text.
-spec reasons() -> [{ok | verdict(), binary()}].
reasons() ->
    s2s_trust_nif:reasons_nif().

%% Operator text for an error reason, for logs and ejabberdctl.
-spec format_reason(reason() | ok | term()) -> binary().
format_reason({config, <<>>, _Line, Text}) ->
    <<"built-in defaults: ", Text/binary>>;
format_reason({config, File, 0, Text}) ->
    <<File/binary, ": ", Text/binary>>;
format_reason({config, File, Line, Text}) ->
    <<File/binary, ":", (integer_to_binary(Line))/binary, ": ", Text/binary>>;
format_reason(Reason) when is_atom(Reason) ->
    case lists:keyfind(Reason, 1, reasons()) of
        {_, Text} -> Text;
        false -> atom_to_binary(Reason, utf8)
    end;
format_reason(Reason) ->
    unicode:characters_to_binary(io_lib:format("~0tp", [Reason])).

%% error_info callback (erl_error): the description of the wrong argument.
-spec format_error(term(), erlang:stacktrace()) -> map().
format_error({_Id, _Where, Text}, [{_M, _F, _As, Info} | _]) ->
    ErrorInfo = proplists:get_value(error_info, Info, #{}),
    case maps:get(erl_function_arg_num, ErrorInfo, undefined) of
        N when is_integer(N), N > 0 -> #{N => Text};
        _ -> #{general => Text}
    end;
format_error(_, _) ->
    #{}.

%%% ---- internals ---------------------------------------------------------

-spec error_info(integer()) -> map().
error_info(N) when N > 0 -> #{module => ?MODULE, erl_function_arg_num => N};
error_info(_) -> #{module => ?MODULE}.

-spec verify_chunks(store(), [{binary(), [der()]}], [[ok | {error, verdict()}]]) ->
          [ok | {error, verdict()}].
verify_chunks(_Store, [], Acc) ->
    lists:append(lists:reverse(Acc));
verify_chunks(Store, Items, Acc) ->
    {Chunk, Rest} = take(?BATCH_CHUNK, Items, []),
    verify_chunks(Store, Rest, [s2s_trust_nif:verify_batch_nif(Store, Chunk) | Acc]).

-spec take(non_neg_integer(), list(), list()) -> {list(), list()}.
take(0, Rest, Acc) -> {lists:reverse(Acc), Rest};
take(_, [], Acc) -> {lists:reverse(Acc), []};
take(N, [X | Rest], Acc) -> take(N - 1, Rest, [X | Acc]).

%% The NIF checks types too; checking here first gives the element's
%% position in the whole batch (the NIF only sees one chunk) and keeps the
%% batch all-or-nothing across chunks.
-spec batch_items(term(), pos_integer(), list()) ->
          {ok, [{binary(), [der()]}]} | {badarg, string()}.
batch_items([], _I, Acc) ->
    {ok, lists:reverse(Acc)};
batch_items([{Domain, Chain} | Rest], I, Acc) ->
    case {to_binary(Domain), is_chain(Chain)} of
        {{ok, D}, true} -> batch_items(Rest, I + 1, [{D, Chain} | Acc]);
        {error, _} -> {badarg, element_text(I, "expected a domain (binary or string)")};
        {_, false} -> {badarg, element_text(I, "expected a list of DER binaries")}
    end;
batch_items([_ | _], I, _Acc) ->
    {badarg, element_text(I, "expected a {Domain, [Der]} tuple")};
batch_items(_, _I, _Acc) ->
    {badarg, "expected a proper list of {Domain, [Der]}"}.

-spec element_text(pos_integer(), string()) -> string().
element_text(I, Text) ->
    lists:flatten(io_lib:format("element ~b: ~s", [I, Text])).

-spec is_chain(term()) -> boolean().
is_chain([]) -> true;
is_chain([B | Rest]) when is_binary(B) -> is_chain(Rest);
is_chain(_) -> false.

%% Domains are UTF-8; the core turns U-labels into A-labels.
-spec to_binary(term()) -> {ok, binary()} | error.
to_binary(B) when is_binary(B) ->
    {ok, B};
to_binary(L) when is_list(L) ->
    try unicode:characters_to_binary(L) of
        B when is_binary(B) -> {ok, B};
        _ -> error
    catch
        error:_ -> error
    end;
to_binary(_) ->
    error.

-spec filename_to_binary(term()) -> {ok, binary()} | {badarg, string()}.
filename_to_binary(F) ->
    Bin = try filename:flatten(F) of
              Flat when is_binary(Flat) -> Flat;
              Flat -> unicode:characters_to_binary(Flat, unicode, file:native_name_encoding())
          catch
              error:_ -> error
          end,
    case Bin of
        <<_, _/binary>> ->
            case binary:match(Bin, <<0>>) of
                nomatch -> {ok, Bin};
                _ -> {badarg, "a file name cannot hold a NUL byte"}
            end;
        _ ->
            {badarg, "expected a file name or 'default'"}
    end.
