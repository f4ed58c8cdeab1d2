%%% mod_s2s_trust.hrl - the violators list record, shared by the module,
%%% its storage and its formatters.

%% One remote domain that presented a certificate we did not trust.
%% Keyed by the domain; updated in place on every new violation.
-record(s2s_trust_violation,
        {domain :: binary(),                 % remote XMPP domain, as ejabberd gave it
         reasons = [] :: [atom()],           % every verdict seen, most recent first
         directions = [] :: [in | out],      % inbound and/or outbound streams
         first_seen :: integer() | undefined, % unix seconds
         last_seen :: integer() | undefined,
         count = 0 :: non_neg_integer(),
         last_reason :: atom(),
         last_outcome :: refused | audited | exempted | undefined,
         last_details = #{} :: map()}).      % subject, issuer, names, dates, OpenSSL text
