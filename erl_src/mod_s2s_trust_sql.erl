%%% mod_s2s_trust_sql - the violators list in SQL (db_type: sql), through
%%% ejabberd's own pool of the vhost that chose it. PostgreSQL only: it is
%%% what the tests run (docs/storage.md has the schema and why).
%%%
%%% Reads run in the caller (a command, the web admin page, a scrape) and
%%% raise {storage_unavailable, Why} when the database does not answer.
%%% Writes come only from mod_s2s_trust_sql_writer, one transaction per
%%% domain: read the row FOR UPDATE, combine, upsert, so two cluster nodes
%%% writing the same domain add up instead of overwriting each other.
-module(mod_s2s_trust_sql).

-export([check_type/1, create_table/1, all/1, count/1, lookup/2, delete/2, write/3, evict/2, migrate_from_mnesia/1]).
%% pure, for EUnit
-export([encode/1, decode/1, storable_domain/1]).

-include_lib("kernel/include/logger.hrl").
-include("ejabberd_sql_pt.hrl").
-include("mod_s2s_trust.hrl").

-define(TABLE_DDL,
        <<"CREATE TABLE IF NOT EXISTS s2s_trust_violators ("
          "domain text NOT NULL PRIMARY KEY, "
          "reasons text NOT NULL, "
          "directions text NOT NULL, "
          "first_seen bigint NOT NULL, "
          "last_seen bigint NOT NULL, "
          "last_seen_us bigint NOT NULL, "
          "count bigint NOT NULL, "
          "last_reason text NOT NULL, "
          "last_outcome text NOT NULL, "
          "last_details text NOT NULL)">>).
-define(INDEX_DDL,
        <<"CREATE INDEX IF NOT EXISTS i_s2s_trust_violators_age "
          "ON s2s_trust_violators (last_seen, last_seen_us)">>).
%% A domain ejabberd accepted is at most 1023 bytes; anything longer is
%% not stored (a text key that long would only be an attack on the index).
-define(MAX_DOMAIN, 1023).

-type row() :: #s2s_trust_violation{}.

%% db_type sql on another database than PostgreSQL is a configuration
%% error: the module does not start (at boot ejabberd then stops, which
%% is closed; a running node keeps its old configuration).
-spec check_type(binary()) -> ok | {error, term()}.
check_type(Host) ->
    case ejabberd_option:sql_type(Host) of
        pgsql ->
            ok;
        Other ->
            ?LOG_ERROR("mod_s2s_trust: db_type sql needs sql_type pgsql on ~ts (it is ~p); "
                       "see docs/storage.md", [Host, Other]),
            {error, {unsupported_sql_type, Other}}
    end.

%% Create the table when missing (every ejabberd version; 23.01 has no
%% ejabberd_sql_schema), then tell ejabberd's schema tracking about it
%% where that exists (mod_s2s_trust_sql_schema). A database that is down
%% at start is not a reason to start without the module: the writer holds
%% the violations and calls this again before writing them.
-spec create_table(binary()) -> ok | {error, term()}.
create_table(Host) ->
    case ddl(Host, ?TABLE_DDL) andalso ddl(Host, ?INDEX_DDL) of
        true -> mod_s2s_trust_sql_schema:register(Host);
        false -> {error, {sql_table_not_created, Host}}
    end.

%% Two nodes creating the table at once can make one CREATE fail even with
%% IF NOT EXISTS (PostgreSQL's catalog race): one more try sees the table.
ddl(Host, Sql) ->
    ddl(Host, Sql, 2).

ddl(Host, Sql, Tries) ->
    case ejabberd_sql:sql_query(Host, [Sql]) of
        {updated, _} -> true;
        {error, _} when Tries > 1 ->
            ddl(Host, Sql, Tries - 1);
        Other ->
            log_once(table, "mod_s2s_trust: cannot create the violators table on ~ts: ~p",
                     [Host, Other]),
            false
    end.

-spec all(binary()) -> [row()].
all(Host) ->
    selected(ejabberd_sql:sql_query(
               Host,
               ?SQL("select @(domain)s, @(reasons)s, @(directions)s, @(first_seen)d,"
                    " @(last_seen)d, @(count)d, @(last_reason)s, @(last_outcome)s,"
                    " @(last_details)s from s2s_trust_violators"))).

-spec count(binary()) -> non_neg_integer().
count(Host) ->
    case ejabberd_sql:sql_query(Host, ?SQL("select @(count(*))d from s2s_trust_violators")) of
        {selected, [{N}]} -> N;
        Other -> erlang:error({storage_unavailable, Other})
    end.

-spec lookup(binary(), binary()) -> {ok, row()} | not_found.
lookup(Host, Domain) ->
    Found = selected(ejabberd_sql:sql_query(
                       Host,
                       ?SQL("select @(domain)s, @(reasons)s, @(directions)s, @(first_seen)d,"
                            " @(last_seen)d, @(count)d, @(last_reason)s, @(last_outcome)s,"
                            " @(last_details)s from s2s_trust_violators"
                            " where domain=%(Domain)s"))),
    case Found of
        [V] -> {ok, V};
        [] -> not_found
    end.

-spec delete(binary(), binary()) -> ok | not_found.
delete(Host, Domain) ->
    case ejabberd_sql:sql_query(
           Host, ?SQL("delete from s2s_trust_violators where domain=%(Domain)s")) of
        {updated, 0} -> not_found;
        {updated, _} -> ok;
        Other -> erlang:error({storage_unavailable, Other})
    end.

%% Add a run of violations (merged by the writer) to the stored row. A
%% missing row is INSERTed, never upserted: when another node inserts the
%% same new domain at the same moment, ours fails on the key and is
%% retried (the writer keeps it), then reads and adds to that row instead
%% of overwriting it. The statement and lock timeouts stay below the pool's
%% sql_query_timeout, so a write the writer gave up on does not commit
%% later behind its back (which would count its run twice).
-spec write(binary(), row(), integer()) -> ok | {error, term()}.
write(Host, #s2s_trust_violation{domain = Domain} = Run, SeenUs) ->
    Limit = integer_to_binary(statement_limit_ms(Host)),
    F = fun() ->
                _ = ejabberd_sql:sql_query_t([<<"SET LOCAL statement_timeout = ">>, Limit]),
                _ = ejabberd_sql:sql_query_t([<<"SET LOCAL lock_timeout = ">>, Limit]),
                case ejabberd_sql:sql_query_t(
                       ?SQL("select @(domain)s, @(reasons)s, @(directions)s,"
                            " @(first_seen)d, @(last_seen)d, @(count)d, @(last_reason)s,"
                            " @(last_outcome)s, @(last_details)s, @(last_seen_us)d"
                            " from s2s_trust_violators where domain=%(Domain)s for update")) of
                    {selected, [Row]} ->
                        Old = decode(erlang:delete_element(10, Row)),
                        update(mod_s2s_trust_violators:combine(Old, Run),
                               max(element(10, Row), SeenUs));
                    {selected, []} ->
                        insert(Run, SeenUs)
                end
        end,
    case ejabberd_sql:sql_transaction(Host, F) of
        {atomic, _} -> ok;
        {aborted, Why} -> {error, Why};
        Other -> {error, Other}
    end.

statement_limit_ms(Host) ->
    try ejabberd_option:sql_query_timeout(Host) of
        T when is_integer(T) -> max(1000, T * 3 div 4);
        _ -> 45000
    catch _:_ -> 45000
    end.

update(V, SeenUs) ->
    {Domain, Reasons, Directions, First, Last, Count, LastReason, LastOutcome, Details} = encode(V),
    ejabberd_sql:sql_query_t(
      ?SQL("update s2s_trust_violators set reasons=%(Reasons)s, directions=%(Directions)s,"
           " first_seen=%(First)d, last_seen=%(Last)d, last_seen_us=%(SeenUs)d, count=%(Count)d,"
           " last_reason=%(LastReason)s, last_outcome=%(LastOutcome)s,"
           " last_details=%(Details)s where domain=%(Domain)s")).

insert(V, SeenUs) ->
    {Domain, Reasons, Directions, First, Last, Count, LastReason, LastOutcome, Details} = encode(V),
    ejabberd_sql:sql_query_t(
      ?SQL_INSERT("s2s_trust_violators",
                  ["domain=%(Domain)s",
                   "reasons=%(Reasons)s",
                   "directions=%(Directions)s",
                   "first_seen=%(First)d",
                   "last_seen=%(Last)d",
                   "last_seen_us=%(SeenUs)d",
                   "count=%(Count)d",
                   "last_reason=%(LastReason)s",
                   "last_outcome=%(LastOutcome)s",
                   "last_details=%(Details)s"])).

%% Keep the table within Max rows: past it, delete the least recently seen
%% so that Max - Max div 10 remain (as the Mnesia backend does). Returns
%% how many went and how many rows are left.
-spec evict(binary(), pos_integer()) ->
          {ok, non_neg_integer(), non_neg_integer()} | {error, term()}.
evict(Host, Max) ->
    try count(Host) of
        N when N > Max ->
            Drop = N - (Max - Max div 10),
            case ejabberd_sql:sql_query(
                   Host,
                   ?SQL("delete from s2s_trust_violators where domain in"
                        " (select domain from s2s_trust_violators"
                        " order by last_seen, last_seen_us limit %(Drop)d)")) of
                {updated, Gone} -> {ok, Gone, N - Gone};
                Other -> {error, Other}
            end;
        N ->
            {ok, 0, N}
    catch error:{storage_unavailable, Why} ->
            {error, Why}
    end.

%% A node switched from db_type mnesia to sql: its Mnesia rows move into
%% the table (added to what is there). Run by the writer, never by a
%% vhost's start. One node of a cluster at a time (a global lock: the
%% Mnesia table is shared, two nodes moving it at once would count every
%% row twice). A row is deleted from Mnesia only if it did not change
%% since it was read (a node still on Mnesia may be adding to it); a row
%% that changed stays and moves at the next start. The first failing write
%% stops the move; the rest stay for the next start. A crash between a
%% row's write and its delete moves it twice (its count doubles): the
%% price of never losing it, and docs/storage.md says so.
-spec migrate_from_mnesia(binary()) -> ok.
migrate_from_mnesia(Host) ->
    case mod_s2s_trust_mnesia:all() of
        [] ->
            ok;
        _ ->
            global:trans({mod_s2s_trust_migrate, self()},
                         fun() -> move(Host, mod_s2s_trust_mnesia:all(), 0) end,
                         [node() | nodes()])
    end,
    ok.

move(Host, [], Moved) ->
    Moved > 0 andalso
        ?LOG_NOTICE("mod_s2s_trust: moved ~b violators list row(s) from Mnesia into SQL (~ts)",
                    [Moved, Host]),
    ok;
move(Host, [V | Rest], Moved) ->
    case write(Host, V, erlang:system_time(microsecond)) of
        ok ->
            _ = mod_s2s_trust_mnesia:delete_unchanged(V),
            move(Host, Rest, Moved + 1);
        {error, Why} ->
            ?LOG_ERROR("mod_s2s_trust: moved ~b violators list row(s) from Mnesia into SQL "
                       "(~ts), then writing failed (~p); ~b stay in Mnesia until the next start",
                       [Moved, Host, Why, length(Rest) + 1]),
            ok
    end.

log_once(Key, Format, Args) ->
    case mod_s2s_trust_throttle:allow({sql, Key}, erlang:system_time(second), 60) of
        {true, _} -> ?LOG_ERROR(Format, Args);
        false -> ok
    end.

selected({selected, Rows}) ->
    [V || Row <- Rows, {ok, V} <- [try {ok, decode(Row)} catch _:_ -> skip end]];
selected(Other) ->
    erlang:error({storage_unavailable, Other}).

%%%===================================================================
%%% Row <-> record (pure)
%%%===================================================================

%% Columns are what an operator can read with psql: reasons and directions
%% as comma-separated names, times as unix seconds. The details (subject,
%% names, dates, OpenSSL text of a hostile certificate) are an Erlang term,
%% base64: any byte a certificate carries is stored without a text
%% encoding that could reject or alter it.
-spec encode(row()) -> tuple().
encode(#s2s_trust_violation{domain = D, reasons = Rs, directions = Ds, first_seen = F,
                            last_seen = L, count = C, last_reason = LR,
                            last_outcome = LO, last_details = Det}) ->
    {D, names(Rs), names(Ds), F, L, C, atom_to_binary(LR, utf8),
     atom_to_binary(LO, utf8), base64:encode(term_to_binary(Det))}.

-spec decode(tuple()) -> row().
decode({D, Rs, Ds, F, L, C, LR, LO, Det}) ->
    #s2s_trust_violation{domain = D, reasons = atoms(Rs),
                         directions = [Dir || Dir <- atoms(Ds), Dir =:= in orelse Dir =:= out],
                         first_seen = F, last_seen = L, count = C, last_reason = atom(LR),
                         last_outcome = outcome(atom(LO)), last_details = details(Det)}.

names(Atoms) ->
    iolist_to_binary(lists:join(<<",">>, [atom_to_binary(A, utf8) || A <- Atoms])).

atoms(<<>>) -> [];
atoms(Names) -> [atom(N) || N <- binary:split(Names, <<",">>, [global])].

%% Reason names are a closed set; a name this node does not know (a newer
%% node wrote it) becomes an atom only when it looks like one of ours, so
%% the table cannot fill the atom table.
atom(Name) ->
    try binary_to_existing_atom(Name, utf8)
    catch error:badarg ->
            case re:run(Name, <<"^[a-z][a-z0-9_]{0,63}$">>, [{capture, none}]) of
                match -> binary_to_atom(Name, utf8);
                nomatch -> unknown
            end
    end.

outcome(O) when O =:= refused; O =:= audited; O =:= exempted -> O;
outcome(_) -> undefined.

details(B64) ->
    try binary_to_term(base64:decode(B64), [safe]) of
        M when is_map(M) -> M;
        _ -> #{}
    catch _:_ -> #{}
    end.

%% What the table's key can hold: UTF-8 text without NUL, as ejabberd's
%% domains are. Anything else would fail its write forever.
-spec storable_domain(binary()) -> boolean().
storable_domain(D) when is_binary(D), byte_size(D) > 0, byte_size(D) =< ?MAX_DOMAIN ->
    binary:match(D, <<0>>) =:= nomatch andalso unicode:characters_to_binary(D) =:= D;
storable_domain(_) ->
    false.
