%%% mod_s2s_trust_worker - the module's node-wide gen_servers (the chain
%%% learner, the SQL writer, the survey worker) under ejabberd's module
%%% supervisor: a crash restarts the worker and never takes a stream down,
%%% and the last vhost to stop the module stops it.
-module(mod_s2s_trust_worker).

-export([start/2, stop/1]).

%% Start gen_server Module, registered locally as Module, with init
%% argument Arg; already running is fine. A child left over from an
%% earlier start (stopped, not deleted) is replaced, so Arg is this one's.
-spec start(module(), term()) -> ok.
start(Module, Arg) ->
    start(Module, Arg, 1).

start(Module, Arg, Tries) ->
    Spec = #{id => Module, start => {gen_server, start_link, [{local, Module}, Module, Arg, []]},
             restart => transient, shutdown => 5000, type => worker, modules => [Module]},
    case supervisor:start_child(ejabberd_gen_mod_sup, Spec) of
        {ok, _} -> ok;
        {error, {already_started, _}} -> ok;
        {error, already_present} when Tries > 0 ->
            _ = supervisor:delete_child(ejabberd_gen_mod_sup, Module),
            start(Module, Arg, Tries - 1);
        {error, Why} -> erlang:error({worker_not_started, Module, Why})
    end.

-spec stop(module()) -> ok.
stop(Module) ->
    _ = supervisor:terminate_child(ejabberd_gen_mod_sup, Module),
    _ = supervisor:delete_child(ejabberd_gen_mod_sup, Module),
    ok.
