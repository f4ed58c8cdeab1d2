/* test_main.c - registers and runs the C unit tests of the core. */
#include <stdlib.h>
#include <unistd.h>

#include "testing.h"
#include "tests.h"

int testing_failures;

const char *pki_path(const char *name)
{
    static char buf[8][4096];
    static int slot;
    const char *dir = getenv("S2S_TRUST_PKI");
    char *out = buf[slot++ % 8];

    snprintf(out, 4096, "%s/%s", dir ? dir : "_build/test/pki", name);
    return out;
}

const char *scratch_dir(void)
{
    static char dir[256];

    if (dir[0] == '\0') {
        snprintf(dir, sizeof dir, "/tmp/s2s-trust-ctest.XXXXXX");
        if (mkdtemp(dir) == NULL) {
            perror("mkdtemp");
            exit(2);
        }
    }
    return dir;
}

const char *write_scratch(const char *name, const char *text)
{
    static char buf[8][4096];
    static int slot;
    char *path = buf[slot++ % 8];
    FILE *f;

    snprintf(path, 4096, "%s/%s", scratch_dir(), name);
    f = fopen(path, "w");
    if (f == NULL || fputs(text, f) < 0 || fclose(f) != 0) {
        perror(path);
        exit(2);
    }
    return path;
}

static const struct {
    const char *name;
    void (*fn)(void);
} tests[] = {
#define TEST_ENTRY(fn) { #fn, fn },
    ALL_TESTS(TEST_ENTRY)
#undef TEST_ENTRY
};

int main(int argc, char **argv)
{
    int passed = 0, failed = 0;
    /* "NAME" runs only tests whose name contains it; "-NAME" skips them
     * (valgrind skips the key-generating limits tests, minutes under it). */
    const char *only = argc > 1 && argv[1][0] != '-' ? argv[1] : NULL;
    const char *skip = argc > 1 && argv[1][0] == '-' ? argv[1] + 1 : NULL;

    if (access(pki_path("root.pem"), R_OK) != 0) {
        fprintf(stderr, "no test PKI at %s: run 'make pki' or set S2S_TRUST_PKI\n", pki_path(""));
        return 2;
    }
    for (size_t i = 0; i < sizeof tests / sizeof tests[0]; i++) {
        if ((only != NULL && strstr(tests[i].name, only) == NULL) ||
            (skip != NULL && strstr(tests[i].name, skip) != NULL))
            continue;
        testing_failures = 0;
        tests[i].fn();
        if (testing_failures == 0) {
            passed++;
            printf("ok   %s\n", tests[i].name);
        } else {
            failed++;
            printf("FAIL %s (%d checks)\n", tests[i].name, testing_failures);
        }
    }
    printf("%d passed, %d failed\n", passed, failed);
    return failed == 0 ? 0 : 1;
}
