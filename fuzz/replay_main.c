/*
 * replay_main.c - runs a fuzz target's LLVMFuzzerTestOneInput over files
 * (and directories of files) named on the command line, without a fuzzing
 * engine: the //fuzz:*_replay_test targets replay the seed corpus and the
 * regressions this way in every test config. A finding aborts the process.
 */
#define _POSIX_C_SOURCE 200809L /* dirent, stat */
#include "fuzz/pool_harness.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static unsigned long replayed;

static int replay_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    unsigned char *data = NULL;
    size_t size = 0, capacity = 0, got;
    if (!f) {
        fprintf(stderr, "replay: cannot open %s\n", path);
        return 1;
    }
    do {
        if (size == capacity) {
            unsigned char *bigger;
            capacity = capacity ? capacity * 2 : 4096;
            bigger = (unsigned char *)realloc(data, capacity);
            if (!bigger) {
                fclose(f);
                free(data);
                fprintf(stderr, "replay: out of memory reading %s\n", path);
                return 1;
            }
            data = bigger;
        }
        got = fread(data + size, 1, capacity - size, f);
        size += got;
    } while (got > 0);
    fclose(f);
    if (getenv("NV_FUZZ_TRACE"))
        fprintf(stderr, "replay: %s\n", path);
    LLVMFuzzerTestOneInput(data, size);
    free(data);
    replayed++;
    return 0;
}

static int compare_names(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int replay_path(const char *path)
{
    struct stat st;
    DIR *dir;
    struct dirent *entry;
    char **names = NULL;
    size_t count = 0, capacity = 0, i;
    int rc = 0;
    if (stat(path, &st) != 0) {
        fprintf(stderr, "replay: no such file or directory: %s\n", path);
        return 1;
    }
    if (!S_ISDIR(st.st_mode))
        return replay_file(path);
    dir = opendir(path);
    if (!dir) {
        fprintf(stderr, "replay: cannot read directory %s\n", path);
        return 1;
    }
    while ((entry = readdir(dir)) != NULL) {
        size_t length;
        if (entry->d_name[0] == '.')
            continue;
        if (count == capacity) {
            char **bigger;
            capacity = capacity ? capacity * 2 : 64;
            bigger = (char **)realloc(names, capacity * sizeof *names);
            if (!bigger)
                break;
            names = bigger;
        }
        length = strlen(path) + strlen(entry->d_name) + 2;
        names[count] = (char *)malloc(length);
        if (!names[count])
            break;
        snprintf(names[count], length, "%s/%s", path, entry->d_name);
        count++;
    }
    closedir(dir);
    if (count)
        qsort(names, count, sizeof *names, compare_names);
    for (i = 0; i < count; i++) {
        rc |= replay_path(names[i]);
        free(names[i]);
    }
    free(names);
    return rc;
}

int main(int argc, char **argv)
{
    const nv_fuzz_totals_t *t;
    const char *why = "";
    int rc = 0, i, active;
    for (i = 1; i < argc; i++)
        rc |= replay_path(argv[i]);
    t = nv_fuzz_pool_totals();
    active = nv_fuzz_pool_detection_active(&why);
    printf("%s replay: %lu inputs, %lu operations\n", nv_fuzz_target_name, replayed,
           t->operations);
    if (strcmp(nv_fuzz_target_name, "pool_corrupt") == 0) {
        printf("pool_corrupt: %s\n", why);
        printf("pool_corrupt: %lu corrupting writes, %lu reported as expected, %lu records "
               "skipped\n",
               t->corrupt_writes, t->corrupt_detected, t->corrupt_skipped);
        if (active && t->corrupt_detected != t->corrupt_writes) {
            fprintf(stderr, "pool_corrupt: %lu writes went unreported\n",
                    t->corrupt_writes - t->corrupt_detected);
            rc = 1;
        }
    }
    if (replayed == 0) {
        fprintf(stderr, "replay: no inputs given\n");
        rc = 1;
    }
    printf("%s replay: %s\n", nv_fuzz_target_name, rc ? "FAILED" : "PASSED");
    return rc;
}
