/* test_config.c - libconfig -> s2s_trust_config_t, and the errors operators see. */
#include <stdlib.h>
#include <unistd.h>

#include "core/s2s_trust_config.h"
#include "testing.h"
#include "tests.h"

/* Read `text` as a file; return rc and leave cfg/err for inspection. */
static int read_text(const char *name, const char *text, s2s_trust_config_t *cfg,
                     s2s_trust_error_t *err, const char **path_out)
{
    const char *path = write_scratch(name, text);
    if (path_out != NULL)
        *path_out = path;
    s2s_trust_config_defaults(cfg);
    memset(err, 0, sizeof *err);
    return s2s_trust_config_read_file(path, cfg, err);
}

void test_config_defaults(void)
{
    s2s_trust_config_t cfg;

    s2s_trust_config_defaults(&cfg);
    CHECK(cfg.system_roots);
    CHECK(cfg.crl_check == S2S_TRUST_CRL_IF_AVAILABLE);
    CHECK(cfg.max_depth == 6);
    CHECK(cfg.max_chain_certs == 10);
    CHECK(cfg.max_cert_bytes == 32 * 1024);
    CHECK(cfg.security_level == 2);
    CHECK(!cfg.insecure_allow_cn_id);
    CHECK(!cfg.require_server_auth_eku);
    CHECK(!cfg.has_verification_time);
    CHECK(cfg.source == NULL);
    s2s_trust_config_free(&cfg);
}

void test_config_one_line_is_complete(void)
{
    s2s_trust_config_t cfg;
    s2s_trust_error_t err;

    CHECK(read_text("one.conf", "ca_file = \"/path/to/root.pem\";\n", &cfg, &err, NULL) == 0);
    CHECK(cfg.ca_files.count == 1);
    CHECK_STR(cfg.ca_files.items[0].path, "/path/to/root.pem");
    CHECK(cfg.ca_files.items[0].line == 1);
    /* Naming a CA means exactly that CA: the system bundle goes away. */
    CHECK(!cfg.system_roots);
    s2s_trust_config_free(&cfg);
}

void test_config_every_key(void)
{
    s2s_trust_config_t cfg;
    s2s_trust_error_t err;
    const char *path;
    int rc = read_text("all.conf",
                       "# every key\n"
                       "ca_file = [\"a.pem\", \"/abs/b.pem\"];\n"
                       "ca_dir = \"anchors\";\n"
                       "intermediate_file = (\"pool.pem\");\n"
                       "crl_file = \"x.crl\";\n"
                       "system_roots = true;\n"
                       "crl_check = \"require\";\n"
                       "max_depth = 4;\n"
                       "max_chain_certs = 5;\n"
                       "max_cert_bytes = 20000;\n"
                       "security_level = 3;\n"
                       "require_server_auth_eku = true;\n"
                       "insecure_allow_cn_id = true;\n"
                       "verification_time = 4102444800L;\n",
                       &cfg, &err, &path);

    CHECK_MSG(rc == 0, "%s:%d: %s", err.file, err.line, err.text);
    CHECK(cfg.ca_files.count == 2);
    /* Relative paths are relative to the file's directory. */
    char want[4200];
    snprintf(want, sizeof want, "%s/a.pem", scratch_dir());
    CHECK_STR(cfg.ca_files.items[0].path, want);
    CHECK_STR(cfg.ca_files.items[1].path, "/abs/b.pem");
    CHECK(cfg.ca_files.items[1].line == 2);
    CHECK(cfg.ca_dirs.count == 1 && cfg.ca_dirs.items[0].line == 3);
    CHECK(cfg.intermediate_files.count == 1 && cfg.intermediate_files.items[0].line == 4);
    CHECK(cfg.crl_files.count == 1);
    CHECK(cfg.system_roots); /* explicitly kept beside ca_file */
    CHECK(cfg.crl_check == S2S_TRUST_CRL_REQUIRE);
    CHECK(cfg.max_depth == 4);
    CHECK(cfg.max_chain_certs == 5);
    CHECK(cfg.max_cert_bytes == 20000);
    CHECK(cfg.security_level == 3);
    CHECK(cfg.require_server_auth_eku);
    CHECK(cfg.insecure_allow_cn_id);
    CHECK(cfg.has_verification_time && cfg.verification_time == 4102444800LL);
    CHECK_STR(cfg.source, path);
    s2s_trust_config_free(&cfg);
}

/* Each bad file names itself and the offending line. */
void test_config_errors_name_file_and_line(void)
{
    static const struct {
        const char *text;
        int line;
        const char *needle;
    } cases[] = {
        { "ca_file = \"a.pem\";\n\nca_fiel = \"b.pem\";\n", 3, "unknown setting 'ca_fiel'" },
        { "max_depth = 2;\nmax_chain_certs = \"deep\";\n", 2, "expected an integer" },
        { "\n\nmax_depth = 99;\n", 3, "out of range" },
        { "security_level = 6;\n", 1, "out of range" },
        { "max_chain_certs = 0;\n", 1, "out of range" },
        { "max_cert_bytes = 10;\n", 1, "out of range" },
        { "crl_check = \"sometimes\";\n", 1, "crl_check" },
        { "system_roots = 1;\n", 1, "expected true or false" },
        { "ca_file = 42;\n", 1, "expected a string" },
        { "ca_file = (\"a.pem\",\n  7);\n", 2, "expected a string" },
        { "ca_file = [\"a.pem\",\n  7];\n", 2, "mismatched element type" }, /* libconfig's own */
        { "max_depth = 2;\nmax_depth = 3;\n", 2, "duplicate setting" },
        { "ca_file = \"\";\n", 1, "empty path" },
        { "ca_file = [];\n", 1, "empty list" },
        { "\nca_dir = ();\n", 2, "empty list" },
        { "verification_time = \"yesterday\";\n", 1, "verification_time" },
        { "verification_time = \"2030-13-45\";\n", 1, "verification_time" },
        { "verification_time = -5;\n", 1, "out of range" },
        { "ca_file = \"a.pem\";\nmax_depth = ;\n", 2, "syntax error" },
        { "grp = { a = 1; };\n", 1, "unknown setting 'grp'" },
    };

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        s2s_trust_config_t cfg;
        s2s_trust_error_t err;
        const char *path;
        char name[32];

        snprintf(name, sizeof name, "bad%zu.conf", i);
        CHECK_MSG(read_text(name, cases[i].text, &cfg, &err, &path) == -1, "case %zu accepted", i);
        CHECK_MSG(strcmp(err.file, path) == 0, "case %zu: file '%s'", i, err.file);
        CHECK_MSG(err.line == cases[i].line, "case %zu: line %d, want %d (%s)", i, err.line,
                  cases[i].line, err.text);
        CHECK_MSG(strstr(err.text, cases[i].needle) != NULL, "case %zu: text '%s'", i, err.text);
        /* A failed read leaves the defaults and nothing to free. */
        CHECK(cfg.ca_files.count == 0 && cfg.source == NULL);
        s2s_trust_config_free(&cfg);
    }
}

void test_config_missing_file(void)
{
    s2s_trust_config_t cfg;
    s2s_trust_error_t err;

    s2s_trust_config_defaults(&cfg);
    CHECK(s2s_trust_config_read_file("/nonexistent/s2s.conf", &cfg, &err) == -1);
    CHECK_STR(err.file, "/nonexistent/s2s.conf");
    CHECK(err.line == 0);
    CHECK(strstr(err.text, "No such file") != NULL);
    s2s_trust_config_free(&cfg);
}

void test_config_include_reports_included_file(void)
{
    s2s_trust_config_t cfg;
    s2s_trust_error_t err;
    const char *inc = write_scratch("inc.conf", "max_depth = 3;\nbogus = 1;\n");
    char text[256];

    (void)inc;
    snprintf(text, sizeof text, "ca_file = \"r.pem\";\n@include \"inc.conf\"\n");
    CHECK(read_text("main.conf", text, &cfg, &err, NULL) == -1);
    CHECK_MSG(strstr(err.file, "inc.conf") != NULL, "file '%s'", err.file);
    CHECK(err.line == 2);
    s2s_trust_config_free(&cfg);
}

void test_config_time_strings(void)
{
    long long t = -1;

    CHECK(s2s_trust_parse_time("2030-01-01", &t) == 0 && t == 1893456000LL);
    CHECK(s2s_trust_parse_time("2030-01-01T12:00:00Z", &t) == 0 && t == 1893456000LL + 43200);
    CHECK(s2s_trust_parse_time("1893456000", &t) == 0 && t == 1893456000LL);
    CHECK(s2s_trust_parse_time("99999999999999", &t) == -1);
    CHECK(s2s_trust_parse_time("-5", &t) == -1);
    CHECK(s2s_trust_parse_time("2030-01-01T12:00", &t) == -1);
    CHECK(s2s_trust_parse_time("", &t) == -1);
}

/* A configuration named without a directory (libconfig 1.5 crashed on a
 * NULL include dir) reads relative to the current directory. */
void test_config_bare_file_name(void)
{
    s2s_trust_config_t cfg;
    s2s_trust_error_t err;
    char cwd[4096];

    write_scratch("bare.conf", "ca_file = \"root.pem\";\n");
    if (getcwd(cwd, sizeof cwd) == NULL || chdir(scratch_dir()) != 0) {
        CHECK(0);
        return;
    }
    s2s_trust_config_defaults(&cfg);
    CHECK(s2s_trust_config_read_file("bare.conf", &cfg, &err) == 0);
    CHECK(cfg.ca_files.count == 1 && strcmp(cfg.ca_files.items[0].path, "root.pem") == 0);
    s2s_trust_config_free(&cfg);
    CHECK(chdir(cwd) == 0);
}

void test_config_read_string(void)
{
    s2s_trust_config_t cfg;
    s2s_trust_error_t err;

    s2s_trust_config_defaults(&cfg);
    CHECK(s2s_trust_config_read_string("max_depth = 3;\ncrl_check = \"none\";", "inline", &cfg, &err) == 0);
    CHECK(cfg.max_depth == 3 && cfg.crl_check == S2S_TRUST_CRL_NONE);
    CHECK(cfg.system_roots);
    s2s_trust_config_free(&cfg);

    s2s_trust_config_defaults(&cfg);
    CHECK(s2s_trust_config_read_string("\n\nmax_depth = ;", "inline", &cfg, &err) == -1);
    CHECK_STR(err.file, "inline");
    CHECK(err.line == 3);
    s2s_trust_config_free(&cfg);
}
