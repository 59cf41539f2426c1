/*
 * Runs one of the design document's example programs in this process and
 * checks it: the example's main() (renamed nv_example_main by the BUILD
 * file) must return 0, libnv must log no error line while it runs (except in
 * the leak-check build, which reports the allocations the examples leave to
 * nv_pool_destroy), and its standard output must match the checks given as
 * arguments:
 *
 *   --expect=TEXT              TEXT appears in the output
 *   --expect-aligned=PREFIX,N  the output contains PREFIX followed by a hex
 *                              address, and that address is a multiple of N
 *
 * Running the example in-process (rather than as a child) keeps it under
 * ASan, UBSan and Valgrind in every test config.
 */
#include <nv_pool.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The example's main, renamed by -Dmain=nv_example_main. */
int nv_example_main(void);

static int error_lines;

static void count_errors(nv_log_level_t level, const char *line, void *context)
{
    (void)context;
    fprintf(stderr, "libnv %s: %s\n", nv_log_level_name(level), line);
    if (level >= NV_LOG_ERROR) {
        error_lines++;
    }
}

/* Reads the whole file into a NUL-terminated heap buffer. */
static char *read_file(const char *path)
{
    FILE *file = fopen(path, "rb");
    char *text = NULL;
    size_t length = 0;
    size_t capacity = 0;
    size_t got;
    if (file == NULL) {
        return NULL;
    }
    do {
        if (capacity - length < 4096) {
            char *bigger = realloc(text, capacity + 8192);
            if (bigger == NULL) {
                free(text);
                fclose(file);
                return NULL;
            }
            text = bigger;
            capacity += 8192;
        }
        got = fread(text + length, 1, capacity - length - 1, file);
        length += got;
    } while (got > 0);
    fclose(file);
    text[length] = '\0';
    return text;
}

static int check_aligned(const char *output, const char *spec)
{
    char prefix[256];
    const char *comma = strrchr(spec, ',');
    const char *found;
    unsigned long alignment;
    unsigned long long address;
    char *end;
    size_t prefix_length;

    if (comma == NULL || (size_t)(comma - spec) >= sizeof prefix) {
        fprintf(stderr, "FAIL: bad --expect-aligned argument \"%s\"\n", spec);
        return 1;
    }
    prefix_length = (size_t)(comma - spec);
    memcpy(prefix, spec, prefix_length);
    prefix[prefix_length] = '\0';
    alignment = strtoul(comma + 1, NULL, 10);
    found = strstr(output, prefix);
    if (found == NULL || alignment == 0) {
        fprintf(stderr, "FAIL: no \"%s\" followed by an address in the output\n", prefix);
        return 1;
    }
    address = strtoull(found + prefix_length, &end, 16);
    if (end == found + prefix_length || address == 0) {
        fprintf(stderr, "FAIL: \"%s\" is not followed by a hex address\n", prefix);
        return 1;
    }
    if (address % alignment != 0) {
        fprintf(stderr, "FAIL: address 0x%llx is not a multiple of %lu\n", address, alignment);
        return 1;
    }
    fprintf(stderr, "ok: address 0x%llx is %lu-byte aligned\n", address, alignment);
    return 0;
}

int main(int argc, char **argv)
{
    const char *tmpdir = getenv("TEST_TMPDIR");
    char path[4096];
    char *output;
    int failures = 0;
    int rc;
    int i;

    snprintf(path, sizeof path, "%s/example_stdout.txt", tmpdir != NULL ? tmpdir : "/tmp");
    nv_log_set_handler(count_errors, NULL);

    /* The example writes to stdout; capture it in a file. */
    fflush(stdout);
    if (freopen(path, "w", stdout) == NULL) {
        fprintf(stderr, "FAIL: cannot redirect stdout to %s\n", path);
        return 1;
    }
    rc = nv_example_main();
    fflush(stdout);

    nv_log_set_handler(NULL, NULL);
    output = read_file(path);
    if (output == NULL) {
        fprintf(stderr, "FAIL: cannot read %s\n", path);
        return 1;
    }
    fprintf(stderr, "---- example output ----\n%s---- end of example output ----\n", output);

    if (rc != 0) {
        fprintf(stderr, "FAIL: the example's main returned %d\n", rc);
        failures++;
    }
    if (nv_pool_leakcheck_enabled()) {
        /* The examples leave allocations for nv_pool_destroy to release, and
         * the leak-check build reports each one as an error line. */
        fprintf(stderr, "note: leak-check build: %d error line(s) not counted\n", error_lines);
    } else if (error_lines != 0) {
        fprintf(stderr, "FAIL: libnv logged %d error line(s) during the example\n", error_lines);
        failures++;
    }
    for (i = 1; i < argc; i++) {
        if (strncmp(argv[i], "--expect=", 9) == 0) {
            if (strstr(output, argv[i] + 9) == NULL) {
                fprintf(stderr, "FAIL: \"%s\" not in the output\n", argv[i] + 9);
                failures++;
            } else {
                fprintf(stderr, "ok: output contains \"%s\"\n", argv[i] + 9);
            }
        } else if (strncmp(argv[i], "--expect-aligned=", 17) == 0) {
            failures += check_aligned(output, argv[i] + 17);
        } else {
            fprintf(stderr, "FAIL: unknown argument %s\n", argv[i]);
            failures++;
        }
    }
    free(output);
    fprintf(stderr, "%s\n", failures == 0 ? "PASS" : "FAIL");
    return failures == 0 ? 0 : 1;
}
