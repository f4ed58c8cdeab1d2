%%% bench/hook_time.erl - where a stream set-up's time goes inside the
%%% module: wall time of each traced function, per call, in the server that
%%% bench/streams.sh loads it into (BENCH_STREAMS_TRACE=1).
%%%
%%% start(MFAs) traces every call and return of those functions (local
%%% calls too) in every process; stop() ends the trace and returns, per
%%% function, the number of calls and the median, p90 and total wall
%%% microseconds from call to return (a function that waits, in a receive
%%% or for a dirty scheduler, shows its waiting here too). Tracing costs
%%% time of its own: read these numbers against each other, not against an
%%% untraced run.
-module(hook_time).
-export([start/1, stop/0]).

-define(NAME, hook_time_collector).

start(MFAs) ->
    Parent = self(),
    Pid = spawn(fun() -> register(?NAME, self()), Parent ! ready, collect(#{}, #{}) end),
    receive ready -> ok end,
    [erlang:trace_pattern(MFA, [{'_', [], [{return_trace}]}], [local]) || MFA <- MFAs],
    erlang:trace(all, true, [call, {tracer, Pid}, monotonic_timestamp]),
    ok.

stop() ->
    erlang:trace(all, false, [call]),
    erlang:trace_pattern({'_', '_', '_'}, false, [local]),
    Ref = make_ref(),
    ?NAME ! {report, self(), Ref},
    receive {Ref, Report} -> Report after 10000 -> timeout end.

%% Open calls per process (a stack, for recursion), durations per MFA.
collect(Open, Done) ->
    receive
        {trace_ts, Pid, call, {M, F, A}, Ts} ->
            MFA = {M, F, length(A)},
            collect(Open#{Pid => [{MFA, Ts} | maps:get(Pid, Open, [])]}, Done);
        {trace_ts, Pid, return_from, MFA, _Value, Ts} ->
            case maps:get(Pid, Open, []) of
                [{MFA, T0} | Rest] ->
                    Us = erlang:convert_time_unit(Ts - T0, native, microsecond),
                    collect(Open#{Pid => Rest}, Done#{MFA => [Us | maps:get(MFA, Done, [])]});
                _ ->
                    collect(Open, Done)
            end;
        {report, From, Ref} ->
            From ! {Ref, maps:map(fun(_, Us) -> summary(lists:sort(Us)) end, Done)};
        _ ->
            collect(Open, Done)
    end.

summary(Sorted) ->
    N = length(Sorted),
    #{calls => N, p50_us => lists:nth(max(1, round(0.5 * N)), Sorted),
      p90_us => lists:nth(max(1, round(0.9 * N)), Sorted), total_ms => lists:sum(Sorted) div 1000}.
