/*
 * driver.c - one main for every harness, as in OpenSSL's fuzz/driver.c.
 *
 * Built with -DFUZZ_LIBFUZZER (and -fsanitize=fuzzer) it is the libFuzzer
 * entry point. Built without, it is a replay program: every file named on
 * the command line, and every file in every directory named, is run once
 * through the harness; the last line is "N passed, N failed" like the C
 * unit tests. An input that breaks an invariant aborts (a crash is a
 * crash, with the sanitizer's report); "failed" counts only inputs that
 * could not be read.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"

#ifdef FUZZ_LIBFUZZER

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *buf, size_t len);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    atexit(FuzzerCleanup);
    return FuzzerInitialize(argc, argv);
}

int LLVMFuzzerTestOneInput(const uint8_t *buf, size_t len)
{
    return FuzzerTestOneInput(buf, len);
}

#else

static int passed, failed;

static void run_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    unsigned char *buf = NULL;
    long size;

    if (f == NULL || fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) < 0 ||
        fseek(f, 0, SEEK_SET) != 0) {
        fprintf(stderr, "cannot read %s\n", path);
        failed++;
        if (f != NULL)
            fclose(f);
        return;
    }
    /* Exact size, so ASan catches a harness or core reading past the input. */
    buf = malloc(size ? (size_t)size : 1);
    if (buf == NULL || fread(buf, 1, (size_t)size, f) != (size_t)size) {
        fprintf(stderr, "cannot read %s\n", path);
        failed++;
    } else {
        FuzzerTestOneInput(buf, (size_t)size);
        passed++;
    }
    free(buf);
    fclose(f);
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted, so two replays of one corpus run in the same order. */
static void run_dir(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *ent;
    char **names = NULL;
    size_t n = 0, cap = 0;

    if (d == NULL) {
        fprintf(stderr, "cannot open %s\n", dir);
        failed++;
        return;
    }
    while ((ent = readdir(d)) != NULL) {
        if (ent->d_name[0] == '.')
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            names = realloc(names, cap * sizeof *names);
            if (names == NULL)
                abort();
        }
        if ((names[n] = malloc(strlen(dir) + strlen(ent->d_name) + 2)) == NULL)
            abort();
        sprintf(names[n++], "%s/%s", dir, ent->d_name);
    }
    closedir(d);
    qsort(names, n, sizeof *names, by_name);
    for (size_t i = 0; i < n; i++) {
        struct stat st;
        if (stat(names[i], &st) == 0 && S_ISREG(st.st_mode))
            run_file(names[i]);
        free(names[i]);
    }
    free(names);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s FILE|DIR...\n", argv[0]);
        return 2;
    }
    FuzzerInitialize(&argc, &argv);
    for (int i = 1; i < argc; i++) {
        struct stat st;
        if (stat(argv[i], &st) == 0 && S_ISDIR(st.st_mode))
            run_dir(argv[i]);
        else
            run_file(argv[i]);
    }
    FuzzerCleanup();
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}

#endif
