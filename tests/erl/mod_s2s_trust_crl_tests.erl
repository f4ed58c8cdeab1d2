%%% EUnit: mod_s2s_trust_crl, the CRL server's API (docs/crl.md): the store
%%% built with the copies held. The rules, the HTTP client and the index
%%% have their own test modules (mod_s2s_trust_crl_{check,fetch,index}_tests).
-module(mod_s2s_trust_crl_tests).

-include_lib("eunit/include/eunit.hrl").

-import(s2s_trust_test_pki, [pki/1, pem_der/1]).

-define(M, mod_s2s_trust_crl).

%%% ---- the store with the copies held --------------------------------------

%% A copy the store cannot read (disk fault) is set aside, and the store is
%% built with the others; with refresh off no copy is read.
open_test_() ->
    {setup,
     fun() ->
             Tmp = string:trim(os:cmd("mktemp -d")),
             application:set_env(mnesia, dir, Tmp),
             Dir = mod_s2s_trust_crl_index:dir(),
             ok = filelib:ensure_dir(filename:join(Dir, "x")),
             {ok, _} = file:copy(pki("inter.crl.pem"), filename:join(Dir, "aa.crl")),
             ok = file:write_file(filename:join(Dir, "bb.crl"), <<"broken">>),
             Conf = filename:join(Tmp, "trust.conf"),
             ok = file:write_file(Conf, io_lib:format("ca_file = \"~s\";\nintermediate_file = \"~s\";\n",
                                                      [pki("root.pem"), pki("inter.pem")])),
             {Tmp, Conf}
     end,
     fun({Tmp, _}) ->
             persistent_term:erase({?M, enabled}),
             os:cmd("rm -rf " ++ Tmp)
     end,
     fun({_Tmp, Conf}) ->
             Dir = mod_s2s_trust_crl_index:dir(),
             Off = fun() -> persistent_term:erase({?M, enabled}), ?M:open(Conf, []) end,
             On = fun() -> persistent_term:put({?M, enabled}, true), ?M:open(Conf, []) end,
             Verify = fun({ok, St}, Leaf) -> s2s_trust:verify(St, <<"revoked.test">>, [Leaf]) end,
             Revoked = pem_der("revoked.pem"),
             [{"refresh off: no copy read",
               ?_assertMatch(#{crls := 0}, s2s_trust:info(element(2, Off())))},
              {inorder,
               [{"refresh on: the broken copy is set aside, the good one used",
                 ?_assertMatch(#{crls := 1}, s2s_trust:info(element(2, On())))},
                ?_assert(filelib:is_regular(filename:join(Dir, "bb.crl.bad"))),
                ?_assertNot(filelib:is_regular(filename:join(Dir, "bb.crl"))),
                {"and it revokes", ?_assertEqual({error, revoked}, Verify(On(), Revoked))}]}]
     end}.

%%% ---- with no server running ----------------------------------------------

%% What the rest of the module sees of CRL refresh when it is off (or not
%% started yet): no rows, verdicts unchanged, a refresh that says so.
off_test_() ->
    Judged = {ok, #{detail => <<>>}},
    {setup,
     fun() -> persistent_term:erase({?M, enabled}) end,
     fun(_) ->
             [{"no rows", ?_assertEqual([], ?M:status())},
              {"no command rows", ?_assertEqual([], ?M:crls_command())},
              {"refresh off: a verdict passes unchanged",
               ?_assertEqual(Judged, ?M:check_chain(<<"a.test">>, [pem_der("crlleaf.pem")], Judged))},
              {"no chain: nothing to note",
               ?_assertEqual(Judged, ?M:check_chain(<<"a.test">>, [], Judged))},
              {"s2s_trust_reload's refresh: not running",
               ?_assertEqual({error, not_running}, ?M:refresh())}]
     end}.
