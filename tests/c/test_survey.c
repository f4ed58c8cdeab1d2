/* test_survey.c - the survey's pure parts (core/s2s_trust_survey*.h): the
 * verdict from an observation, the three renderings byte for byte, and the
 * resume reader against its own output and hostile files. The measuring
 * runs against real servers in tests/survey/. */
#include <stdlib.h>
#include <string.h>

#include "core/s2s_trust_survey.h"
#include "core/s2s_trust_survey_render.h"
#include "core/s2s_trust_survey_resume.h"
#include "core/s2s_trust_verdict.h"
#include "testing.h"
#include "tests.h"

#define T0 1796601600 /* 2026-12-07T00:00:00Z */

/* A server that keeps the pledge: chain ok, every case refused both ways. */
static void keeper(s2s_trust_sv_obs_t *o, const char *domain)
{
    memset(o, 0, sizeof *o);
    snprintf(o->domain, sizeof o->domain, "%s", domain);
    o->reached = 1;
    snprintf(o->where, sizeof o->where, "127.0.0.1:5269 (starttls)");
    o->cert_verdict = S2S_TRUST_OK;
    o->chain_sent = 2;
    o->not_after = T0 + 365 * 86400;
    o->starttls = S2S_TRUST_SV_STARTTLS_REQUIRED;
    o->selftest_run = 1;
    o->dialback_tested = 1;
    snprintf(o->selftest_from, sizeof o->selftest_from, "peer.test");
    for (int c = 0; c < S2S_TRUST_SV_CASES; c++) {
        o->cases[c].external = S2S_TRUST_SV_REFUSED;
        o->cases[c].dialback = S2S_TRUST_SV_REFUSED;
        snprintf(o->cases[c].how, sizeof o->cases[c].how, "sasl_failure");
        snprintf(o->cases[c].dialback_how, sizeof o->cases[c].dialback_how, "dialback_invalid");
    }
    o->measured_at = T0;
    o->elapsed_ms = 42;
}

static int has_evidence(const s2s_trust_sv_result_t *r, const char *needle)
{
    for (size_t i = 0; i < r->n_evidence; i++)
        if (strstr(r->evidence[i], needle) != NULL)
            return 1;
    return 0;
}

void test_survey_verdicts(void)
{
    s2s_trust_sv_obs_t o;
    s2s_trust_sv_result_t r;

    keeper(&o, "k.test");
    s2s_trust_sv_judge(&o, &r);
    CHECK(r.verdict == S2S_TRUST_SV_KEEPS);
    CHECK_STR(r.reason, "valid certificate; refused 4 of 4 untrusted peers over SASL EXTERNAL and dialback");
    CHECK_STR(r.certificate, "ok");
    CHECK_STR(r.starttls, "required");
    CHECK(!s2s_trust_sv_breaks(&r) && r.measured_at == T0 && r.elapsed_ms == 42);
    CHECK(!has_evidence(&r, "expires within"));

    /* Dialback accepted for two cases: which ones, and how. */
    keeper(&o, "d.test");
    o.cases[0].dialback = o.cases[2].dialback = S2S_TRUST_SV_ACCEPTED;
    o.cases[3].external = S2S_TRUST_SV_ACCEPTED;
    s2s_trust_sv_judge(&o, &r);
    CHECK(r.verdict == S2S_TRUST_SV_ACCEPTS_UNTRUSTED && s2s_trust_sv_breaks(&r));
    CHECK_STR(r.reason, "accepts untrusted peers via SASL EXTERNAL: unknown_ca; via dialback: self_signed, wrong_name");
    CHECK(r.accepted == (1u << 1 | 1u << 5 | 1u << 6));

    /* Own certificate first, whatever else: and the accepted ones told too. */
    o.cert_verdict = S2S_TRUST_EXPIRED;
    s2s_trust_sv_judge(&o, &r);
    CHECK(r.verdict == S2S_TRUST_SV_OWN_CERT_FAILS);
    CHECK(strncmp(r.reason, "own certificate fails: expired (", 32) == 0 && strstr(r.reason, "; also accepts") != NULL);

    /* Verified only thanks to the pool: incomplete_chain. */
    keeper(&o, "i.test");
    o.chain_missing = 1;
    o.chain_sent = 1;
    s2s_trust_sv_judge(&o, &r);
    CHECK(r.verdict == S2S_TRUST_SV_OWN_CERT_FAILS);
    CHECK_STR(r.certificate, "incomplete_chain");
    CHECK_STR(r.reason, "own certificate fails: incomplete_chain (sends 1 certificate, not the intermediate its leaf needs)");

    /* Published key material that contradicts a valid chain. */
    keeper(&o, "p.test");
    o.posh = S2S_TRUST_SV_PUB_MISMATCH;
    s2s_trust_sv_judge(&o, &r);
    CHECK(r.verdict == S2S_TRUST_SV_OWN_CERT_FAILS && strcmp(r.certificate, "posh_mismatch") == 0);
    o.posh = S2S_TRUST_SV_PUB_MATCH;
    o.dane = S2S_TRUST_SV_PUB_MISMATCH;
    s2s_trust_sv_judge(&o, &r);
    CHECK(r.verdict == S2S_TRUST_SV_OWN_CERT_FAILS && strcmp(r.certificate, "dane_mismatch") == 0);
    o.dane = S2S_TRUST_SV_PUB_ERROR; /* a failed lookup is evidence, not a verdict */
    s2s_trust_sv_judge(&o, &r);
    CHECK(r.verdict == S2S_TRUST_SV_KEEPS && has_evidence(&r, "DANE: error"));

    /* Expiring within 30 days: a warning line, still keeps. */
    keeper(&o, "e.test");
    o.not_after = T0 + 10 * 86400 + 5;
    s2s_trust_sv_judge(&o, &r);
    CHECK(r.verdict == S2S_TRUST_SV_KEEPS && has_evidence(&r, "expires within 30 days (in 10 days"));

    /* Unreachable: the reason, the attempts as evidence. */
    memset(&o, 0, sizeof o);
    snprintf(o.domain, sizeof o.domain, "u.test");
    snprintf(o.unreachable_why, sizeof o.unreachable_why, "connect_failed at connect on 127.0.0.9:5269 (starttls)");
    o.n_attempts = 1;
    snprintf(o.attempts[0], sizeof o.attempts[0], "127.0.0.9:5269: refused");
    s2s_trust_sv_judge(&o, &r);
    CHECK(r.verdict == S2S_TRUST_SV_UNREACHABLE && !s2s_trust_sv_breaks(&r));
    CHECK_STR(r.reason, "unreachable: connect_failed at connect on 127.0.0.9:5269 (starttls)");
    CHECK(has_evidence(&r, "attempt: 127.0.0.9:5269: refused"));

    /* A case undecided and none accepted: no claim either way. */
    keeper(&o, "n.test");
    o.cases[1].dialback = S2S_TRUST_SV_UNDECIDED;
    snprintf(o.cases[1].dialback_how, sizeof o.cases[1].dialback_how, "timeout");
    s2s_trust_sv_judge(&o, &r);
    CHECK(r.verdict == S2S_TRUST_SV_INCONCLUSIVE);
    CHECK_STR(r.reason, "inconclusive: 1 of 4 untrusted peers could not be decided (timeout)");
    /* ... but an accepted case decides anyway. */
    o.cases[2].dialback = S2S_TRUST_SV_ACCEPTED;
    s2s_trust_sv_judge(&o, &r);
    CHECK(r.verdict == S2S_TRUST_SV_ACCEPTS_UNTRUSTED);

    /* Without a dialback listener, the reason says so. */
    keeper(&o, "x.test");
    o.dialback_tested = 0;
    s2s_trust_sv_judge(&o, &r);
    CHECK_STR(r.reason, "valid certificate; refused 4 of 4 untrusted peers over SASL EXTERNAL (dialback not tested)");
    CHECK(has_evidence(&r, "dialback not tested"));

    for (int v = 0; v < S2S_TRUST_SV_VERDICT_COUNT; v++) {
        s2s_trust_sv_verdict_t back;
        CHECK(s2s_trust_sv_verdict_parse(s2s_trust_sv_verdict_name((s2s_trust_sv_verdict_t)v), &back) == 0 && (int)back == v);
    }
    CHECK(s2s_trust_sv_verdict_name(S2S_TRUST_SV_VERDICT_COUNT) == NULL);
}

/* A small survey: a keeper, a pledged breaker, a hostile name, one pending. */
static void small_report(s2s_trust_sv_result_t res[3], s2s_trust_sv_report_t *rep)
{
    static const char *const domains[] = { "b.test", "a.test", "c.test", "d.test" };
    static const char *const pending[] = { "d.test" };
    s2s_trust_sv_obs_t o;

    keeper(&o, "b.test");
    s2s_trust_sv_judge(&o, &res[0]);
    keeper(&o, "a.test");
    o.cases[0].dialback = S2S_TRUST_SV_ACCEPTED;
    s2s_trust_sv_judge(&o, &res[1]);
    res[1].pledged = 1;
    memset(&o, 0, sizeof o);
    snprintf(o.domain, sizeof o.domain, "c.test");
    snprintf(o.unreachable_why, sizeof o.unreachable_why, "bad [link](x) *em* <b>\n\x01\xff \\ | ~");
    o.measured_at = T0 + 61;
    s2s_trust_sv_judge(&o, &res[2]);
    memset(rep, 0, sizeof *rep);
    rep->results = res;
    rep->n = 3;
    rep->domains = domains;
    rep->n_domains = 4;
    rep->pending = pending;
    rep->n_pending = 1;
    rep->started_at = T0;
    rep->finished_at = T0 + 120;
    rep->stopped_by = "interrupt";
}

void test_survey_markdown(void)
{
    s2s_trust_sv_result_t res[3];
    s2s_trust_sv_report_t rep;
    s2s_trust_sv_buf_t b = { 0 };

    small_report(res, &rep);
    rep.timeless = 1;
    s2s_trust_sv_render_markdown(&rep, &b);
    CHECK(!b.oom);
    CHECK_STR(b.p,
              "<!-- s2s servers surveyed against the pledge; generated by s2s-trust survey -->\n"
              "\n## Keep the pledge\n\n"
              "+ b.test — valid certificate; refused 4 of 4 untrusted peers over SASL EXTERNAL and dialback\n"
              "\n## Do not keep the pledge\n\n(none)\n"
              "\n## Claim the pledge and break it\n\n"
              "+ a.test — accepts untrusted peers via dialback: self\\_signed\n"
              "\n## Could not be measured\n\n"
              "+ c.test — unreachable: bad \\[link\\]\\(x\\) \\*em\\* \\<b\\>\\\\x0a\\\\x01\\\\xff \\\\ \\| \\~\n"
              "+ d.test — not measured \\(interrupt\\)\n");
    s2s_trust_sv_buf_free(&b);

    rep.timeless = 0;
    s2s_trust_sv_render_markdown(&rep, &b);
    CHECK(strstr(b.p, "generated by s2s-trust survey, 2026-12-07T00:00:00Z -->") != NULL);
    CHECK(strstr(b.p, "+ c.test — unreachable: bad") != NULL && strstr(b.p, ", measured 2026-12-07T00:01:01Z\n") != NULL);
    s2s_trust_sv_buf_free(&b);
}

void test_survey_json_and_text(void)
{
    s2s_trust_sv_result_t res[3];
    s2s_trust_sv_report_t rep;
    s2s_trust_sv_buf_t b = { 0 };

    small_report(res, &rep);
    s2s_trust_sv_render_json(&rep, &b);
    CHECK(!b.oom);
    {
        static const char head[] = "{\"survey\":{\"version\":1,\"started_at\":\"2026-12-07T00:00:00Z\",\"finished_at\":"
                                   "\"2026-12-07T00:02:00Z\",\"stopped_by\":\"interrupt\",\"domains\":[\"b.test\",\"a.test\","
                                   "\"c.test\",\"d.test\"],\"pending\":[\"d.test\"]},";
        CHECK_MSG(strncmp(b.p, head, sizeof head - 1) == 0, "%.220s", b.p);
    }
    /* Control characters as \u, invalid UTF-8 as U+FFFD, quotes and backslashes escaped. */
    CHECK(strstr(b.p, "bad [link](x) *em* <b>\\u000a\\u0001\\ufffd \\\\ | ~") != NULL);
    CHECK(strstr(b.p, "\"accepted\":[{\"case\":\"self_signed\",\"via\":\"dialback\"}]") != NULL);
    CHECK(strstr(b.p, "\"violators\":[\"a.test\"]}}\n") != NULL);
    s2s_trust_sv_buf_free(&b);

    s2s_trust_sv_render_text(&rep, &b);
    CHECK(strstr(b.p, "a.test: accepts untrusted peers (CLAIMS THE PLEDGE)\n") != NULL);
    CHECK(strstr(b.p, "  reason: unreachable: bad [link](x) *em* <b>\\x0a\\x01\\xff \\x5c | ~\n") != NULL);
    CHECK(strstr(b.p, "d.test: not measured (interrupt)\n") != NULL);
    CHECK(strstr(b.p, "survey: 3 of 4 domains measured (stopped by interrupt): 1 keep the pledge, 1 accept untrusted peers, "
                      "0 own certificate fails, 1 unreachable, 0 inconclusive\nclaim the pledge and break it: a.test\n") != NULL);
    s2s_trust_sv_buf_free(&b);
}

void test_survey_resume_round_trip(void)
{
    s2s_trust_sv_result_t res[3];
    s2s_trust_sv_report_t rep;
    s2s_trust_sv_resume_t rs;
    s2s_trust_sv_buf_t b = { 0 }, b2 = { 0 };
    char why[256];

    small_report(res, &rep);
    /* Invalid UTF-8 comes back as U+FFFD (test_survey_json_and_text): here
     * only what survives the trip unchanged. */
    snprintf(res[2].reason, sizeof res[2].reason, "bad \"q\" \\ \x01\n\xc3\xa9");
    s2s_trust_sv_render_json(&rep, &b);
    CHECK(s2s_trust_sv_resume_parse(b.p, b.len, &rs, why, sizeof why) == 0);
    CHECK_MSG(rs.n == 3 && rs.n_domains == 4, "%s", why);
    if (rs.n == 3) {
        /* What comes back renders to the same bytes. */
        rep.results = rs.results;
        s2s_trust_sv_render_json(&rep, &b2);
        CHECK(b2.p != NULL && strcmp(b.p, b2.p) == 0);
        CHECK(rs.results[1].pledged && rs.results[1].accepted == 1u << 1);
        CHECK_STR(rs.results[2].reason, res[2].reason);
        CHECK_STR(rs.domains[3], "d.test");
    }
    s2s_trust_sv_resume_free(&rs);
    s2s_trust_sv_buf_free(&b);
    s2s_trust_sv_buf_free(&b2);
}

void test_survey_resume_hostile(void)
{
    static const char ok_head[] = "{\"survey\":{\"domains\":[\"a.test\"]},\"results\":[";
    static const struct {
        const char *json, *why;
    } bad[] = {
        { "", "ends where a value" },
        { "[]", "not a survey" },
        { "{\"survey\":{\"domains\":[\"a.test\"]},\"results\":[]} x", "bytes after" },
        { "{\"survey\":{\"domains\":[\"A.test\"]},\"results\":[]}", "A-label" },
        { "{\"survey\":{\"domains\":[\"a..test\"]},\"results\":[]}", "A-label" },
        { "{\"survey\":{\"domains\":[\"a.test\"]},\"results\":[{\"domain\":\"a.test\",\"verdict\":\"great\",\"reason\":\"r\",\"measured_at\":\"2026-01-01\",\"elapsed_ms\":1}]}", "verdict" },
        { "{\"survey\":{\"domains\":[\"a.test\"]},\"results\":[{\"domain\":\"a.test\",\"verdict\":\"keeps\",\"reason\":\"r\",\"measured_at\":\"yesterday\",\"elapsed_ms\":1}]}", "measured_at" },
        { "{\"survey\":{\"domains\":[\"a.test\"]},\"results\":[{\"domain\":\"a.test\",\"verdict\":\"keeps\",\"reason\":\"r\",\"measured_at\":\"2026-01-01\",\"elapsed_ms\":-1}]}", "elapsed_ms" },
        { "{\"survey\":{\"domains\":[\"a.test\"]},\"results\":[{\"domain\":\"a.test\",\"verdict\":\"keeps\",\"reason\":\"r\\u0000\",\"measured_at\":\"2026-01-01\",\"elapsed_ms\":1}]}", "NUL" },
        { "{\"survey\":{\"domains\":[\"a.test\"]},\"results\":[{\"domain\":\"a.test\",\"verdict\":\"keeps\",\"reason\":\"\\ud800\",\"measured_at\":\"2026-01-01\",\"elapsed_ms\":1}]}", "surrogate" },
        { "{\"survey\":{\"domains\":[\"a.test\"]},\"results\":[{\"domain\":\"a.test\",\"verdict\":\"keeps\",\"reason\":\"r\",\"measured_at\":\"2026-01-01\",\"elapsed_ms\":1,\"accepted\":[{\"case\":\"evil\",\"via\":\"dialback\"}]}]}", "does not play" },
        { "{\"survey\":{\"domains\":[\"a.test\"]},\"results\":[{\"domain\":\"a.test\",\"verdict\":\"keeps\",\"reason\":\"r\",\"measured_at\":\"2026-01-01\",\"elapsed_ms\":1},{\"domain\":\"a.test\",\"verdict\":\"keeps\",\"reason\":\"r\",\"measured_at\":\"2026-01-01\",\"elapsed_ms\":1}]}", "twice" },
        { "{\"survey\":{\"domains\":[\"a.test\"]},\"results\":[{\"domain\":\"a.test\",\"verdict\":\"keeps\",\"reason\":\"r\",\"measured_at\":\"2026-01-01\",\"elapsed_ms\":1,\"evidence\":[1]}]}", "evidence line" },
        { "{\"survey\":{\"domains\":[\"a.test\"]},\"results\":[{\"domain\":\"a.test\",\"verdict\":\"keeps\",\"reason\":\"r\",\"measured_at\":\"2026-01-01\",\"elapsed_ms\":1", "expected" },
        { "{\"survey\":{\"domains\":[\"a.test\"]},\"results\":[{\"domain\":\"a.test\",\"verdict\":\"keeps\",\"reason\":\"r\",\"measured_at\":\"2026-01-01\",\"elapsed_ms\":1e999}]}", "elapsed_ms" },
        { "{\"survey\":{\"domains\":[\"a.test\"]},\"results\":[\"x\x01\"]}", "control character" },
        { "{\"a\":tru}", "not a JSON value" },
    };
    s2s_trust_sv_resume_t rs;
    char why[256], *deep, *big;
    const char *ok_line;
    char *line;
    size_t n;

    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rc = s2s_trust_sv_resume_parse(bad[i].json, strlen(bad[i].json), &rs, why, sizeof why);
        CHECK_MSG(rc == -1 && strstr(why, bad[i].why) != NULL && rs.results == NULL && rs.n == 0,
                  "case %zu: rc %d, why '%s', want '%s'", i, rc, why, bad[i].why);
    }
    CHECK(s2s_trust_sv_resume_parse(NULL, 0, &rs, why, sizeof why) == -1);

    /* Nesting far past the bound ends at the bound, not on the stack. */
    deep = malloc(200001);
    memset(deep, '[', 200000);
    deep[200000] = '\0';
    CHECK(s2s_trust_sv_resume_parse(deep, 200000, &rs, why, sizeof why) == -1 && strstr(why, "nested deeper") != NULL);
    free(deep);

    /* A string past the bound, and one evidence line too long for its field. */
    big = malloc(S2S_TRUST_SV_RESUME_MAX_STRING + 200);
    n = (size_t)snprintf(big, 64, "%s\"", ok_head);
    memset(big + n, 'x', S2S_TRUST_SV_RESUME_MAX_STRING + 10);
    memcpy(big + n + S2S_TRUST_SV_RESUME_MAX_STRING + 10, "\"]}", 4);
    CHECK(s2s_trust_sv_resume_parse(big, strlen(big), &rs, why, sizeof why) == -1 && strstr(why, "longer than") != NULL);
    free(big);
    line = malloc(1024);
    n = (size_t)snprintf(line, 1024, "%s{\"domain\":\"a.test\",\"verdict\":\"keeps\",\"reason\":\"r\",\"measured_at\":\"2026-01-01\","
                                     "\"elapsed_ms\":1,\"evidence\":[\"", ok_head);
    memset(line + n, 'y', S2S_TRUST_SV_LINE_MAX);
    memcpy(line + n + S2S_TRUST_SV_LINE_MAX, "\"]}]}", 6);
    CHECK(s2s_trust_sv_resume_parse(line, strlen(line), &rs, why, sizeof why) == -1 && strstr(why, "evidence line") != NULL);
    free(line);

    /* Unknown members are ignored; escapes decode. */
    ok_line = "{\"new\":[1,{\"x\":null}],\"survey\":{\"domains\":[\"a.test\"]},\"results\":[{\"domain\":"
           "\"a.test\",\"verdict\":\"unreachable\",\"reason\":\"\\u00e9\\ud83d\\ude00\\/\",\"measured_at\":"
           "\"2026-01-01T00:00:00Z\",\"elapsed_ms\":7,\"future\":true}]}";
    CHECK(s2s_trust_sv_resume_parse(ok_line, strlen(ok_line), &rs, why, sizeof why) == 0);
    if (rs.n == 1) {
        CHECK_STR(rs.results[0].reason, "\xc3\xa9\xf0\x9f\x98\x80/");
        CHECK(rs.results[0].verdict == S2S_TRUST_SV_UNREACHABLE && rs.results[0].elapsed_ms == 7);
    } else {
        CHECK_MSG(0, "%s", why);
    }
    s2s_trust_sv_resume_free(&rs);
}

void test_survey_random_name(void)
{
    const unsigned char rnd[6] = { 0x01, 0x23, 0x45, 0x67, 0x89, 0xab };
    char out[300], zone[300];

    CHECK(s2s_trust_sv_random_name("survey.example.org.", rnd, out, sizeof out) == 0);
    CHECK_STR(out, "s2st-0123456789ab.survey.example.org");
    CHECK(s2s_trust_sv_random_name("", rnd, out, sizeof out) == -1);
    CHECK(s2s_trust_sv_random_name(".x", rnd, out, sizeof out) == -1);
    CHECK(s2s_trust_sv_random_name("example.org", rnd, out, 10) == -1);
    memset(zone, 'a', 250);
    zone[250] = '\0';
    CHECK(s2s_trust_sv_random_name(zone, rnd, out, sizeof out) == -1); /* over 253 */
}
