/* tests.h - the list of tests and the fixtures they share. */
#ifndef S2S_TRUST_TESTS_H
#define S2S_TRUST_TESTS_H

#include <openssl/err.h>

#include "core/s2s_trust_config.h"
#include "core/s2s_trust_store.h"
#include "core/s2s_trust_verify.h"

#define ALL_TESTS(X)                              \
    X(test_config_defaults)                       \
    X(test_config_one_line_is_complete)           \
    X(test_config_every_key)                      \
    X(test_config_errors_name_file_and_line)      \
    X(test_config_missing_file)                   \
    X(test_config_include_reports_included_file)  \
    X(test_config_read_string)                    \
    X(test_config_time_strings)                   \
    X(test_config_bare_file_name)                 \
    X(test_store_crl_bundle_is_strict)            \
    X(test_identity_normalize)                    \
    X(test_identity_dns_id)                       \
    X(test_identity_wildcards)                    \
    X(test_identity_xmpp_addr)                    \
    X(test_identity_srv_id)                       \
    X(test_identity_embedded_nul_in_dns)          \
    X(test_identity_common_name)                  \
    X(test_identity_list)                         \
    X(test_store_counts_and_sources)              \
    X(test_store_errors_name_config_line)         \
    X(test_store_refcount_outlives_reload)        \
    X(test_store_system_roots)                    \
    X(test_store_ca_dir_and_der_crl)              \
    X(test_verdict_names_and_mapping)             \
    X(test_verify_pki_table)                      \
    X(test_verify_pool_and_presented_chain)       \
    X(test_verify_hostile_bytes)                  \
    X(test_verify_limits)                         \
    X(test_verify_details)                        \
    X(test_verify_time_is_settable)               \
    X(test_verify_threads_share_store)           \
    X(test_cache_entries_and_expiry)              \
    X(test_cache_bounded_lru)                     \
    X(test_cache_keys)                            \
    X(test_cache_windows_follow_certificate_times) \
    X(test_cache_time_checks_bite_at_the_edge)    \
    X(test_cache_verify_equivalence)              \
    X(test_cache_holds_its_size)                  \
    X(test_cache_bypass_and_off)                  \
    X(test_cache_threads)                         \
    X(test_cache_fuzz_corpus_equivalence)         \
    X(test_describe_matches_explain)              \
    X(test_check_same_verdicts_as_explain)        \
    X(test_describe_hostile_bytes)                \
    X(test_presig_pairs_recorded)                 \
    X(test_presig_equivalent_on_the_pki)          \
    X(test_presig_checks_still_bite)              \
    X(test_presig_fuzz_corpus_equivalence)        \
    X(test_dane_ee)                               \
    X(test_dane_ta)                               \
    X(test_dane_pkix_usages_only_constrain)       \
    X(test_dane_unusable_and_hostile)             \
    X(test_time_cmp_matches_openssl)              \
    X(test_time_cmp_random_sweep)                 \
    X(test_pool_index_exact_bytes)                \
    X(test_pool_index_presented_copy_not_parsed_again) \
    X(test_pool_index_checks_still_bite)          \
    X(test_pool_index_same_name_candidates)       \
    X(test_xmpp_stream_real_servers)              \
    X(test_xmpp_stream_after_tls)                 \
    X(test_xmpp_stream_namespaces_and_layout)     \
    X(test_xmpp_stream_proceed_stops_exactly)     \
    X(test_xmpp_stream_errors_and_endings)        \
    X(test_xmpp_stream_hostile)                   \
    X(test_xmpp_stream_bounds)                    \
    X(test_resolve_srv_parse)                     \
    X(test_resolve_srv_order)                     \
    X(test_dnssec_srv_rdata)                      \
    X(test_dnssec_tlsa_rdata)                     \
    X(test_dnssec_names)                          \
    X(test_dnssec_combine)                        \
    X(test_dnssec_queue_bound_and_free)           \
    X(test_dnssec_every_lookup_answered_once)     \
    X(test_dnssec_new_and_offline_lookup)         \
    X(test_dnssec_refused_name_never_reads_as_host) \
    X(test_limits_thousands_of_names)             \
    X(test_limits_many_name_constraints)          \
    X(test_limits_large_rsa_key)                  \
    X(test_learn_keeps_what_reaches_an_anchor)    \
    X(test_learn_refuses_untrusted_and_roots)     \
    X(test_learn_hostile_input)                   \
    X(test_conn_starttls_negotiation)             \
    X(test_conn_deadlines_and_stop)               \
    X(test_selftest_identities)                   \
    X(test_selftest_unusable_request)             \
    X(test_selftest_issued_identities)           \
    X(test_posh_reads_a_document)                 \
    X(test_posh_hostile_json)                     \
    X(test_posh_bounds)                           \
    X(test_posh_expires_rules)                    \
    X(test_posh_status_order)                     \
    X(test_posh_hop_rules)                        \
    X(test_posh_match)                            \
    X(test_survey_verdicts)                       \
    X(test_survey_markdown)                       \
    X(test_survey_json_and_text)                  \
    X(test_survey_resume_round_trip)              \
    X(test_survey_resume_hostile)                 \
    X(test_survey_random_name)                    \
    X(test_http_head_bounds)                      \
    X(test_http_head_end_and_length)              \
    X(test_http_head_location)                    \
    X(test_http_names)                            \
    X(test_http_get_loopback)

#define TEST_DECLARE(fn) void fn(void);
ALL_TESTS(TEST_DECLARE)
#undef TEST_DECLARE

#define CHAIN_MAX 16
typedef struct {
    s2s_trust_der_t der[CHAIN_MAX];
    unsigned char *bufs[CHAIN_MAX];
    size_t n;
} chain_t;

s2s_trust_store_t *store_from_text(const char *name, const char *text);
s2s_trust_store_t *test_store(const char *extra);
int chain_load(const char *file, chain_t *chain);
void chain_free(chain_t *chain);
/* A certificate (first of the file) or private key of the generated PKI,
 * by its path under it; NULL if unreadable. The caller frees it. */
X509 *pki_cert(const char *name);
EVP_PKEY *pki_key(const char *name);
/* A CRL from the root revoking the pool intermediate `inter`, written to
 * the scratch directory; its path, NULL on failure. */
const char *crl_revoking_inter(void);
int verify_file(s2s_trust_store_t *store, const char *file, const char *domain,
                s2s_trust_details_t *details);

#endif
