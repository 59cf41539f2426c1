/*
 * valgrind_pool_bugs.c - a small program with one memory bug per mode, for
 * valgrind_pool_test, which runs it under memcheck and counts the errors.
 *
 *   valgrind_pool_bugs <mode>
 *
 * Built like any program in the default build: the pool's memcheck client
 * requests are compiled in and become active only when the program runs
 * under Valgrind. The pool's own corruption reports (hardened builds) go to a
 * handler that prints them and returns, so each mode runs to its end and
 * memcheck's error count is the only verdict. Exit status: 0 when the mode
 * ran, 2 for a bad mode or a failed setup step.
 *
 * Modes (the bug; what memcheck should say):
 *   clean              no bug; every byte written before it is read; no errors, no leaks
 *   overflow           a 13-byte chunk written on 64 bytes past its end, into the
 *                      next chunk; Invalid write, 0 bytes after a block of size 13
 *   overflow-by-one    one byte past a 13-byte chunk; Invalid write
 *   underflow          one byte before a chunk; Invalid write
 *   large-overflow     one byte past a 100003-byte (large) chunk; Invalid write
 *   header             the next chunk's header (addressable to the pool); no error
 *   read-after-free    read of a freed chunk; Invalid read
 *   write-after-free   write into a freed chunk; Invalid write
 *   tail-write-after-free  the same for the block's last chunk, whose space went
 *                      back to the block's tail; Invalid write
 *   never-handed-out   write into block space no allocation has reached; Invalid write
 *   large-read-after-free  read of a freed large chunk; Invalid read
 *   read-after-reset   read of a chunk after nv_pool_reset; Invalid read
 *   uninitialised      branch on a byte never written; Conditional jump ...
 *   double-free        second nv_pool_free of a chunk; the pool refuses it, no error
 *   lost-pool          a pool never destroyed; its live chunks are definitely lost
 */
#include <nv_pool.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <valgrind/valgrind.h>

static unsigned reports;

static void print_report(const nv_pool_corruption_t *report, void *context)
{
    char text[NV_LOG_LINE_MAX];
    (void)context;
    reports++;
    fprintf(stderr, "pool report: %s\n", nv_pool_format_corruption(report, text, sizeof text));
}

static nv_pool_t *make_pool(void)
{
    nv_pool_config_t config = NV_POOL_CONFIG_DEFAULT;
    nv_pool_t *pool;
    config.name = "valgrind";
    pool = nv_pool_create(&config);
    if (!pool) {
        fprintf(stderr, "setup: nv_pool_create failed\n");
        exit(2);
    }
    return pool;
}

static unsigned char *alloc(nv_pool_t *pool, size_t size)
{
    unsigned char *p = (unsigned char *)nv_pool_alloc(pool, size);
    if (!p) {
        fprintf(stderr, "setup: nv_pool_alloc(%zu) failed\n", size);
        exit(2);
    }
    return p;
}

/* Accesses through volatile so the compiler keeps each one where it is. */
static void write_byte(unsigned char *p, long i, unsigned char value)
{
    ((volatile unsigned char *)p)[i] = value;
}

static unsigned char read_byte(const unsigned char *p, long i)
{
    return ((const volatile unsigned char *)p)[i];
}

/* Overwrites one redzone byte with a value it cannot already hold: the
 * canaries are keyed by a random secret, so a fixed byte would match one in
 * 256 runs and the pool would rightly see nothing. The read happens with
 * memcheck's reporting off, so the write is the one error it reports. */
static void damage_byte(unsigned char *p, long i)
{
    unsigned char old;
    VALGRIND_DISABLE_ERROR_REPORTING;
    old = read_byte(p, i);
    VALGRIND_ENABLE_ERROR_REPORTING;
    write_byte(p, i, (unsigned char)(old ^ 0xFF));
}

static volatile unsigned sink;

static int run_clean(void)
{
    nv_pool_t *pool = make_pool();
    unsigned char *small[64];
    unsigned char *large, *grown, *zeroed, *aligned;
    size_t i;
    unsigned sum = 0;
    for (i = 0; i < 64; i++) {
        small[i] = alloc(pool, i * 7 + 1);
        memset(small[i], (int)i, i * 7 + 1);
    }
    for (i = 0; i < 64; i += 2)
        if (nv_pool_free(pool, small[i]) != NV_OK)
            return 2;
    for (i = 0; i < 64; i += 2) {
        small[i] = alloc(pool, i * 7 + 1);
        memset(small[i], 1, i * 7 + 1);
    }
    large = alloc(pool, 100000);
    memset(large, 3, 100000);
    grown = (unsigned char *)nv_pool_realloc(pool, small[5], 5000);
    if (!grown)
        return 2;
    memset(grown + 36, 4, 5000 - 36);
    zeroed = (unsigned char *)nv_pool_calloc(pool, 10, 10);
    aligned = (unsigned char *)nv_pool_align(pool, 100, 256);
    if (!zeroed || !aligned)
        return 2;
    memset(aligned, 5, 100);
    for (i = 0; i < 100; i++)
        sum += zeroed[i] + aligned[i] + large[i * 999] + grown[i * 49];
    for (i = 0; i < 64; i++)
        if (i != 5)
            sum += small[i][0];
    if (nv_pool_free(pool, large) != NV_OK || nv_pool_free(pool, grown) != NV_OK)
        return 2;
    if (nv_pool_validate_count(pool) != 0)
        return 2;
    nv_pool_reset(pool);
    for (i = 0; i < 100; i++) {
        unsigned char *p = alloc(pool, i + 1);
        memset(p, 6, i + 1);
        sum += p[i];
    }
    nv_pool_destroy(pool);
    sink = sum;
    printf("clean: checksum %u\n", sum);
    return 0;
}

/* Returns the pool to destroy at the end, or NULL when the mode destroyed it. */
static nv_pool_t *run_bug(const char *mode)
{
    nv_pool_t *pool = make_pool();
    if (strcmp(mode, "overflow") == 0) {
        unsigned char *a = alloc(pool, 13);
        unsigned char *b = alloc(pool, 13);
        long i;
        memset(a, 1, 13);
        memset(b, 2, 13);
        for (i = 0; i < 13 + 64; i++) /* 64 bytes too many */
            write_byte(a, i, 'x');
        printf("free of the overflowed chunk: %d\n", nv_pool_free(pool, a));
    } else if (strcmp(mode, "overflow-by-one") == 0) {
        unsigned char *a = alloc(pool, 13);
        memset(a, 1, 13);
        damage_byte(a, 13);
        printf("free: %d\n", nv_pool_free(pool, a));
    } else if (strcmp(mode, "underflow") == 0) {
        unsigned char *a = alloc(pool, 13);
        memset(a, 1, 13);
        damage_byte(a, -1);
        printf("free: %d\n", nv_pool_free(pool, a));
    } else if (strcmp(mode, "large-overflow") == 0) {
        unsigned char *a = alloc(pool, 100003);
        memset(a, 1, 100003);
        damage_byte(a, 100003);
        printf("free: %d\n", nv_pool_free(pool, a));
    } else if (strcmp(mode, "header") == 0) {
        unsigned char *a = alloc(pool, 13);
        unsigned char *b = alloc(pool, 13);
        /* header 8 bytes (32 with sites), then an 8-byte front redzone (hardened) */
        long prefix = (nv_pool_leakcheck_enabled() ? 32 : 8) + (nv_pool_hardening_enabled() ? 8 : 0);
        memset(a, 1, 13);
        write_byte(b, -prefix, (unsigned char)(read_byte(b, -prefix) ^ 0xFF)); /* b's tag */
        printf("free of the chunk with a damaged header: %d\n", nv_pool_free(pool, b));
    } else if (strcmp(mode, "read-after-free") == 0) {
        unsigned char *a = alloc(pool, 13);
        alloc(pool, 13);
        memset(a, 1, 13);
        nv_pool_free(pool, a);
        sink = read_byte(a, 0);
    } else if (strcmp(mode, "write-after-free") == 0) {
        unsigned char *a = alloc(pool, 13);
        alloc(pool, 13);
        nv_pool_free(pool, a);
        write_byte(a, 0, 'x');
        alloc(pool, 13); /* reuse: the hardened pool finds the damage too */
    } else if (strcmp(mode, "tail-write-after-free") == 0) {
        unsigned char *last;
        alloc(pool, 13);
        last = alloc(pool, 13);
        nv_pool_free(pool, last); /* the block's last chunk: back to the tail */
        write_byte(last, 0, 'x');
    } else if (strcmp(mode, "never-handed-out") == 0) {
        unsigned char *a = alloc(pool, 16);
        memset(a, 1, 16);
        write_byte(a, 200, 'x'); /* block space past the bump pointer */
    } else if (strcmp(mode, "large-read-after-free") == 0) {
        unsigned char *a = alloc(pool, 100000);
        memset(a, 1, 100000);
        nv_pool_free(pool, a);
        sink = read_byte(a, 50000);
    } else if (strcmp(mode, "read-after-reset") == 0) {
        unsigned char *a = alloc(pool, 13);
        memset(a, 1, 13);
        nv_pool_reset(pool);
        sink = read_byte(a, 0);
    } else if (strcmp(mode, "uninitialised") == 0) {
        unsigned char *a = alloc(pool, 13);
        if (a[5] == 42) /* never written */
            printf("forty-two\n");
    } else if (strcmp(mode, "double-free") == 0) {
        unsigned char *a = alloc(pool, 13);
        alloc(pool, 13);
        memset(a, 1, 13);
        printf("first free: %d\n", nv_pool_free(pool, a));
        printf("second free: %d\n", nv_pool_free(pool, a));
    } else if (strcmp(mode, "lost-pool") == 0) {
        unsigned char *a = alloc(pool, 13);
        unsigned char *b = alloc(pool, 200);
        memset(a, 1, 13);
        memset(b, 1, 200);
        return NULL; /* the handle is dropped: never destroyed */
    } else {
        fprintf(stderr, "unknown mode '%s'\n", mode);
        exit(2);
    }
    return pool;
}

int main(int argc, char **argv)
{
    nv_pool_t *pool;
    if (argc != 2) {
        fprintf(stderr, "usage: %s <mode>\n", argv[0]);
        return 2;
    }
    nv_pool_set_corruption_handler(print_report, NULL);
    printf("build: hardening=%d leakcheck=%d\n", nv_pool_hardening_enabled(),
           nv_pool_leakcheck_enabled());
    if (strcmp(argv[1], "clean") == 0)
        return run_clean();
    pool = run_bug(argv[1]);
    if (pool)
        nv_pool_destroy(pool);
    printf("pool reports: %u\n", reports);
    return 0;
}
