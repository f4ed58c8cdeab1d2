%%% Test helper (not a test module): the files of the test PKI that
%%% `make test-erl` builds and points S2S_TRUST_PKI at (tests/pki/gen.sh).
-module(s2s_trust_test_pki).

-export([pki/1, pem_der/1]).

%% The path of a file of the test PKI.
pki(Name) ->
    Dir = case os:getenv("S2S_TRUST_PKI") of
              false -> "_build/test/pki";
              D -> D
          end,
    filename:join(Dir, Name).

%% The DER of the first PEM block of that file.
pem_der(Name) ->
    {ok, Pem} = file:read_file(pki(Name)),
    [{_, Der, _} | _] = public_key:pem_decode(Pem),
    Der.
