%%% mod_s2s_trust_compat - the one place that knows how ejabberd 23.01
%%% (Debian 12), 24.12 (Debian 13) and 26.07 (Debian unstable) differ in the
%%% APIs this module uses. Everything else calls these functions and never
%%% asks which ejabberd it runs in.
%%%
%%% What differs, and how it is handled (docs/design.md, "One module for
%%% three ejabberd releases"):
%%%
%%% - Command registration. 23.01 and 24.12 overwrite a command registered
%%%   twice; 25.03+ keeps the first and logs CRITICAL for the second, so a
%%%   module that registers once per virtual host logs CRITICAL on every
%%%   host after the first. register_commands/2 registers only the commands
%%%   that are not there yet: one behaviour on every release.
%%%
%%% - Command unregistration. 23.01 and 24.12 delete with
%%%   mnesia:dirty_delete_object/1, which deletes nothing unless it is given
%%%   the stored record exactly (definer and tags as register_commands/2
%%%   rewrote them); 25.03+ deletes by name. unregister_commands/1 hands
%%%   ejabberd the records as they are stored, read back with
%%%   get_command_definition/1 (the same on all three), which both
%%%   behaviours delete.
%%%
%%% - gen_mod:start/2 return values. 23.10+ accepts {ok, [Registration]}
%%%   and unregisters those itself; 23.01 crashes on it (bad_return). The
%%%   module returns ok and adds and deletes its hooks by hand, which every
%%%   release accepts; nothing to decide here.
%%%
%%% - The web admin. 24.06 reworked its look and added helpers
%%%   (ejabberd_web_admin:make_command/4, make_table/2), but the four hooks
%%%   and the #request{} record the page uses are the same in all three, so
%%%   mod_s2s_trust_webadmin builds its page by hand with the macros every
%%%   release ships and needs nothing from here.
%%%
%%% - OTP. 27 reserves `maybe` and `else` (quoted where used as atoms), 28
%%%   moved #'AnotherName'{} (not used: the engine reads certificates in C),
%%%   29 deprecates `catch Expr` (not used: try ... catch everywhere).
-module(mod_s2s_trust_compat).

-export([register_commands/2, unregister_commands/1]).

-include("ejabberd_commands.hrl").

%% Register the commands of Definer that are not registered yet.
-spec register_commands(module(), [#ejabberd_commands{}]) -> ok.
register_commands(Definer, Commands) ->
    New = [C || #ejabberd_commands{name = Name} = C <- Commands, stored(Name) =:= none],
    ejabberd_commands:register_commands(Definer, New).

%% Unregister the commands (by their names), as they are stored. While
%% ejabberd shuts down the commands table may already be gone: then there
%% is nothing left to unregister.
-spec unregister_commands([#ejabberd_commands{}]) -> ok.
unregister_commands(Commands) ->
    try
        Stored = [S || #ejabberd_commands{name = Name} <- Commands, {ok, S} <- [stored(Name)]],
        _ = ejabberd_commands:unregister_commands(Stored),
        ok
    catch exit:{aborted, _} -> ok
    end.

%% The stored definition of a command, or none.
stored(Name) ->
    try ejabberd_commands:get_command_definition(Name) of
        #ejabberd_commands{} = C -> {ok, C};
        _ -> none
    catch
        throw:{error, unknown_command} -> none
    end.
