%%% mod_s2s_trust_sql_schema - tell ejabberd's SQL schema tracking
%%% (ejabberd_sql_schema, 23.10 and later) about the violators table, so
%%% that its schema_version table holds our version and a later version of
%%% the module can migrate with its `update` steps.
%%%
%%% The table itself is created by mod_s2s_trust_sql on every version. The
%%% #sql_schema{} records exist only in the headers of 23.10 and later, and
%%% their fields differ between 24.12 and 26.07, so they are used through
%%% the installed ejabberd's own header: the Makefile defines
%%% HAVE_EJABBERD_SQL_SCHEMA when that header has them. Built without it
%%% (23.01, or ext_mod's compiler, which passes no defines), registering
%%% does nothing and the table works the same.
-module(mod_s2s_trust_sql_schema).

-export([register/1]).

-include_lib("kernel/include/logger.hrl").

-ifdef(HAVE_EJABBERD_SQL_SCHEMA).
-include("ejabberd_sql_pt.hrl").

-spec register(binary()) -> ok.
register(Host) ->
    _ = code:ensure_loaded(ejabberd_sql_schema),
    case erlang:function_exported(ejabberd_sql_schema, update_schema, 3) of
        true ->
            %% It acts only under update_sql_schema: true, and raises on a
            %% table it cannot reconcile; ours exists already either way.
            try ejabberd_sql_schema:update_schema(Host, mod_s2s_trust, [schema()]) of
                _ -> ok
            catch Class:Why ->
                    ?LOG_WARNING("mod_s2s_trust: ejabberd_sql_schema did not take the violators "
                                 "table's schema on ~ts: ~p", [Host, {Class, Why}]),
                    ok
            end;
        false ->
            ok
    end.

schema() ->
    Text = [<<"reasons">>, <<"directions">>, <<"last_reason">>, <<"last_outcome">>,
            <<"last_details">>],
    Big = [<<"first_seen">>, <<"last_seen">>, <<"last_seen_us">>, <<"count">>],
    #sql_schema{
       version = 1,
       tables =
           [#sql_table{
               name = <<"s2s_trust_violators">>,
               columns = [#sql_column{name = <<"domain">>, type = text}]
                         ++ [#sql_column{name = C, type = text} || C <- Text]
                         ++ [#sql_column{name = C, type = bigint} || C <- Big],
               indices = [#sql_index{columns = [<<"domain">>], unique = true},
                          #sql_index{columns = [<<"last_seen">>, <<"last_seen_us">>]}]}]}.
-else.
-spec register(binary()) -> ok.
register(_Host) ->
    ok.
-endif.
