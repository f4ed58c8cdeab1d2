%%% mod_s2s_trust_violators - the violators list, in Mnesia.
%%%
%%% One row per remote domain that presented a certificate we did not
%%% trust (disc copies: it survives restarts; ejabberd_mnesia adds a
%%% replica on every node that starts the module, so a cluster shares it).
%%% A second, RAM-only table keeps the last verdict per domain, good or
%%% bad, for `ejabberdctl s2s_trust_check`.
-module(mod_s2s_trust_violators).

-export([init/0, record/6, note_verdict/6, all/0, lookup/1, last_verdict/1, forget/1,
         merge/7]).

-include("mod_s2s_trust.hrl").

-record(s2s_trust_last, {domain :: binary(),
                         verdict :: map()}).

-spec init() -> ok | {error, term()}.
init() ->
    R1 = ejabberd_mnesia:create(?MODULE, s2s_trust_violation,
                                [{disc_copies, [node()]},
                                 {attributes, record_info(fields, s2s_trust_violation)}]),
    R2 = ejabberd_mnesia:create(?MODULE, s2s_trust_last,
                                [{ram_copies, [node()]},
                                 {attributes, record_info(fields, s2s_trust_last)}]),
    case {R1, R2} of
        {{atomic, _}, {atomic, _}} -> ok;
        _ -> {error, {R1, R2}}
    end.

%% Add one violation to the domain's row, creating it on first sight.
-spec record(binary(), in | out, atom(), refused | audited | exempted, map(), integer()) ->
          ok | {error, term()}.
record(Domain, Direction, Reason, Outcome, Details, Now) ->
    F = fun() ->
                Old = case mnesia:read(s2s_trust_violation, Domain, write) of
                          [V] -> V;
                          [] -> undefined
                      end,
                mnesia:write(merge(Old, Domain, Direction, Reason, Outcome, Details, Now))
        end,
    case mnesia:transaction(F) of
        {atomic, ok} -> ok;
        {aborted, Why} -> {error, Why}
    end.

%% Pure: the row after one more violation (EUnit tests this directly).
-spec merge(#s2s_trust_violation{} | undefined, binary(), in | out, atom(),
            refused | audited | exempted, map(), integer()) -> #s2s_trust_violation{}.
merge(undefined, Domain, Direction, Reason, Outcome, Details, Now) ->
    merge(#s2s_trust_violation{domain = Domain, first_seen = Now}, Domain, Direction,
          Reason, Outcome, Details, Now);
merge(#s2s_trust_violation{reasons = Rs, directions = Ds, count = C} = V,
      _Domain, Direction, Reason, Outcome, Details, Now) ->
    V#s2s_trust_violation{reasons = [Reason | lists:delete(Reason, Rs)],
                          directions = lists:usort([Direction | Ds]),
                          last_seen = Now, count = C + 1,
                          last_reason = Reason, last_outcome = Outcome,
                          last_details = Details}.

-spec note_verdict(binary(), in | out, atom(), atom(), map(), integer()) -> ok.
note_verdict(Domain, Direction, Verdict, Outcome, Details, Now) ->
    mnesia:dirty_write(#s2s_trust_last{domain = Domain,
                                       verdict = #{domain => Domain, direction => Direction,
                                                   verdict => Verdict, outcome => Outcome,
                                                   details => Details, at => Now}}).

-spec all() -> [#s2s_trust_violation{}].
all() ->
    mnesia:dirty_select(s2s_trust_violation, [{'_', [], ['$_']}]).

-spec lookup(binary()) -> {ok, #s2s_trust_violation{}} | not_found.
lookup(Domain) ->
    case mnesia:dirty_read(s2s_trust_violation, Domain) of
        [V] -> {ok, V};
        [] -> not_found
    end.

-spec last_verdict(binary()) -> {ok, map()} | not_found.
last_verdict(Domain) ->
    case mnesia:dirty_read(s2s_trust_last, Domain) of
        [#s2s_trust_last{verdict = V}] -> {ok, V};
        [] -> not_found
    end.

-spec forget(binary()) -> ok | not_found.
forget(Domain) ->
    case mnesia:transaction(fun() ->
                                    Found = mnesia:read(s2s_trust_violation, Domain) =/= [],
                                    mnesia:delete({s2s_trust_violation, Domain}),
                                    mnesia:delete({s2s_trust_last, Domain}),
                                    Found
                            end) of
        {atomic, true} -> ok;
        {atomic, false} -> not_found;
        {aborted, Why} -> erlang:error({forget_failed, Why})
    end.
