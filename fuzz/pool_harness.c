/*
 * pool_harness.c - drives nv_pool with an operation sequence taken from the
 * fuzzer's input and checks every result against a shadow model.
 *
 * Input layout (all fields are single bytes; see docs/fuzzing.md):
 *
 *   header   flags initial max min fault_n reserved          (6 bytes)
 *   records  op slot k v0 v1 x                               (6 bytes each)
 *
 * A fresh pool is created per input from the header's config, backed by a
 * counting backend that can refuse the N-th call onward (fault injection)
 * and that checks every release against what it handed out. The model keeps
 * NSLOTS allocations (pointer, requested size, alignment, fill byte); every
 * byte of an allocation holds pattern(fill, offset). After every operation
 * the harness checks the model against the pool (see check_all) and aborts
 * with a message naming the operation on any disagreement.
 *
 * In NV_FUZZ_POOL_CORRUPT mode the CORRUPT record also flips bits just past
 * or before a live chunk, or inside a freed chunk, then makes the pool look
 * (free, realloc, validate, validate_count, reset, destroy, reuse); the
 * corruption handler must report exactly that damage. A write the pool does
 * not report aborts ("escaped detection").
 *
 * The harness reads pool internals (pool_internal.h) in one place only: to
 * list the free chunks a CORRUPT record may write into.
 */
#define _POSIX_C_SOURCE 200809L /* posix_memalign */
#include "fuzz/pool_harness.h"

#include "fuzz/export_check.h"
#include "nv/pool/pool_internal.h"

#include <nv_error.h>
#include <nv_log.h>
#include <nv_pool.h>

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <valgrind/memcheck.h>
#include <valgrind/valgrind.h>

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define FUZZ_ASAN 1
#endif
#endif
#if !defined(FUZZ_ASAN) && defined(__SANITIZE_ADDRESS__)
#define FUZZ_ASAN 1
#endif
#ifndef FUZZ_ASAN
#define FUZZ_ASAN 0
#endif

#if defined(__clang__) || defined(__GNUC__)
#define FUZZ_NO_ASAN __attribute__((no_sanitize("address")))
#define FUZZ_NORETURN __attribute__((noreturn))
#define FUZZ_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define FUZZ_NO_ASAN
#define FUZZ_NORETURN
#define FUZZ_PRINTF(a, b)
#endif

/* ======================================================================== */
/* Limits                                                                   */
/* ======================================================================== */

#define NSLOTS 32u
#define RING 16u
#define QUARANTINE_MAX 64u
#define MAX_OPS 512u
#define HEADER_BYTES 6u
#define RECORD_BYTES 6u
#define MAX_REPORTS 8u
/* Model-side budgets keep one input's memory bounded (the requests the pool
 * must refuse, near SIZE_MAX, are always passed through). */
#define LIVE_BUDGET ((size_t)64 << 20)
#define HELD_BUDGET ((size_t)256 << 20)
/* The backend refuses bigger requests, as a system would (and so the
 * sanitizers' allocators never see absurd sizes). */
#define BACKEND_LIMIT ((size_t)512 << 20)
/* Requests at least this big are "absurd": the pool must refuse them. */
#define ABSURD ((size_t)1 << 40)
/* Content checks after every operation look at the edges of each
 * allocation; full checks happen on free, realloc, validate, reset and at
 * the end of the input. */
#define EDGE 64u

enum {
    OP_ALLOC = 0,
    OP_CALLOC,
    OP_REALLOC,
    OP_ALIGN,
    OP_ALIGN_ARRAY,
    OP_FREE,
    OP_FREE_BAD,
    OP_REALLOC_BAD,
    OP_RESET,
    OP_EXTEND,
    OP_SHRINK,
    OP_COMPACT,
    OP_QUERY,
    OP_STATS,
    OP_RESET_STATS,
    OP_VALIDATE,
    OP_REWRITE,
    OP_NULL_POOL,
    OP_ALLOC_TYPE,
    OP_CORRUPT,
    OP_COUNT
};

static const char *const op_names[OP_COUNT] = {
    "alloc",  "calloc",  "realloc", "align",       "align_array", "free",     "free_bad",
    "realloc_bad", "reset", "extend", "shrink",     "compact",     "query",    "stats",
    "reset_stats", "validate", "rewrite", "null_pool", "alloc_type", "corrupt"};

/* Header flag bits. */
#define F_AUTO_EXTEND 0x01u
#define F_ZERO_CLEAR 0x02u
#define F_STATS 0x04u
#define F_PASSTHROUGH 0x08u
#define F_FAULT 0x10u
#define F_FAULT_ONCE 0x20u
#define F_DEFAULT_CONFIG 0x40u
#define F_LONG_NAME 0x80u

static const size_t initial_sizes[] = {0,     1,      16,     100,     1000,
                                       4096,  16384,  65536,  100000,  262144,
                                       1048576, (size_t)-1 / 2 + 1};
static const size_t max_sizes[] = {0,     0,      0,      1,       100,     1024,
                                   2048,  4096,   8192,   16384,   65536,   100000,
                                   262144, 1048576, 4194304, 16777216};
static const size_t min_sizes[] = {0, 1, 16, 100, 4096, 65536, 1048576, (size_t)-1 / 4 + 1};

#define COUNTOF(a) (sizeof(a) / sizeof((a)[0]))

/* ======================================================================== */
/* State                                                                    */
/* ======================================================================== */

typedef struct slot_s {
    unsigned char *p;
    size_t size;
    size_t align;        /* alignment the pointer must keep */
    unsigned char fill;
    unsigned char large; /* certainly a large (separate backend) allocation */
    unsigned char live;
} slot_t;

typedef struct backend_item_s {
    void *p;
    size_t n;
} backend_item_t;

typedef struct backend_s {
    size_t calls;       /* alloc calls */
    size_t refusals;    /* refused as too big */
    size_t failures;    /* refused by fault injection */
    size_t fail_after;  /* calls that succeed before injection starts */
    int fault;          /* 0 off, 1 every call after fail_after, 2 only the next one */
    size_t outstanding; /* bytes handed out and not released */
    const nv_pool_backend_t *inner; /* where the memory comes from; NULL = posix_memalign */
    backend_item_t *items;
    size_t count, capacity;
} backend_t;

typedef struct report_s {
    const void *chunk;
    const nv_pool_t *pool;
    size_t requested;
    nv_pool_corruption_kind_t kind;
    long offset;
    const char *operation;
} report_t;

typedef struct snap_s {
    size_t size, used, live;
    size_t backend_trouble;
    size_t logs;
} snap_t;

static struct harness_s {
    nv_fuzz_mode_t mode;
    int trace;
    /* config */
    unsigned flags;
    nv_pool_config_t config; /* effective values (defaults filled in) */
    int default_config;      /* 1: nv_pool_create(NULL) */
    int counting_backend;    /* 1: the pool uses `backend` below (else nv_pool_create(NULL)) */
    const char *name;        /* the configured name (NULL = "pool") */
    nv_pool_backend_t backend_fns;
    backend_t be;
    nv_pool_t *pool;
    /* model */
    slot_t slots[NSLOTS];
    size_t used, live;
    void *freed[RING];
    unsigned freed_next;
    void *stale[RING];
    unsigned stale_next;
    struct {
        const unsigned char *lo, *hi;
    } quarantine[QUARANTINE_MAX];
    unsigned quarantine_count;
    unsigned fill_seq;
    /* expected counters (enable_stats = 1) */
    uint64_t allocations, frees, reallocations, resets, failed, allocated_bytes;
    uint64_t histogram[NV_POOL_HISTOGRAM_BUCKETS];
    size_t peak;
    /* the operation being run */
    unsigned op_index;
    char op_desc[200];
    /* log lines */
    size_t log_errors;
    char last_log[NV_LOG_LINE_MAX + 1];
    /* corruption reports */
    int expect_reports;
    size_t report_count;
    report_t reports[MAX_REPORTS];
    /* foreign memory */
    unsigned char *foreign;
    nv_pool_t *other;
    void *other_ptr;
} H;

static nv_fuzz_totals_t totals;
static FILE *devnull;
static _Alignas(64) unsigned char static_area[256];

/* ======================================================================== */
/* Failing                                                                  */
/* ======================================================================== */

static const char *mode_name(void)
{
    return H.mode == NV_FUZZ_POOL_CORRUPT ? "pool_corrupt" : "pool_ops";
}

static void describe_config(FILE *out)
{
    fprintf(out,
            "  config: initial_size=%zu max_size=%zu min_size=%zu auto_extend=%d "
            "zero_clear=%d enable_stats=%d passthrough=%d thread_safe=%d%s; fault injection: %s "
            "after %zu backend calls\n",
            H.config.initial_size, H.config.max_size, H.config.min_size,
            H.config.auto_extend, H.config.zero_clear, H.config.enable_stats,
            H.config.passthrough, H.config.thread_safe,
            H.default_config ? " (nv_pool_create(NULL))"
                             : (!H.be.inner ? ""
                                            : (H.be.inner == &nv_pool_backend_guard_pages
                                                   ? " backend=guard_pages"
                                                   : " backend=guard_pages_front")),
            H.be.fault == 0 ? "off" : (H.be.fault == 1 ? "every call" : "one call"),
            H.be.fail_after);
}

static FUZZ_NORETURN FUZZ_PRINTF(1, 2) void fail(const char *format, ...)
{
    va_list ap;
    fflush(stdout);
    fprintf(stderr, "\n==nv_pool fuzz== %s: FINDING at operation #%u (%s):\n  ", mode_name(),
            H.op_index, H.op_desc[0] ? H.op_desc : "setup");
    va_start(ap, format);
    vfprintf(stderr, format, ap);
    va_end(ap);
    fputc('\n', stderr);
    describe_config(stderr);
    if (H.last_log[0])
        fprintf(stderr, "  last libnv error line: %s\n", H.last_log);
    fprintf(stderr, "  rerun the input with NV_FUZZ_TRACE=1 to list every operation\n");
    fflush(stderr);
    abort();
}

#define CHECK(cond, ...)          \
    do {                          \
        if (!(cond))              \
            fail(__VA_ARGS__);    \
    } while (0)

/* Known findings can be silenced while the library fix is pending, so a
 * campaign can look past them: NV_FUZZ_IGNORE="id1,id2". The replay tests
 * never set it. Ids are printed with each such finding. */
static int ignored(const char *id)
{
    const char *list = getenv("NV_FUZZ_IGNORE");
    size_t n = strlen(id);
    while (list && *list) {
        const char *end = strchr(list, ',');
        size_t len = end ? (size_t)(end - list) : strlen(list);
        if (len == n && strncmp(list, id, n) == 0)
            return 1;
        list = end ? end + 1 : NULL;
    }
    return 0;
}

static FUZZ_PRINTF(1, 2) void trace(const char *format, ...)
{
    va_list ap;
    if (!H.trace)
        return;
    va_start(ap, format);
    vfprintf(stderr, format, ap);
    va_end(ap);
}

/* ======================================================================== */
/* Handlers                                                                 */
/* ======================================================================== */

static void log_handler(nv_log_level_t level, const char *line, void *context)
{
    (void)context;
    if (level >= NV_LOG_ERROR) {
        H.log_errors++;
        snprintf(H.last_log, sizeof H.last_log, "%s", line);
    }
    if (H.trace)
        fprintf(stderr, "    libnv %s: %s\n", nv_log_level_name(level), line);
}

static void corruption_handler(const nv_pool_corruption_t *report, void *context)
{
    char line[NV_LOG_LINE_MAX];
    (void)context;
    nv_pool_format_corruption(report, line, sizeof line);
    trace("    corruption report: %s\n", line);
    if (!H.expect_reports)
        fail("unexpected corruption report: %s", line);
    if (H.report_count < MAX_REPORTS) {
        report_t *r = &H.reports[H.report_count];
        r->chunk = report->chunk;
        r->pool = report->pool;
        r->requested = report->requested;
        r->kind = report->kind;
        r->offset = report->offset;
        r->operation = report->operation;
    }
    H.report_count++;
    CHECK(line[0] != '\0' && strstr(line, "corruption") != NULL,
          "nv_pool_format_corruption gave \"%s\"", line);
}

/* ======================================================================== */
/* The counting backend                                                     */
/* ======================================================================== */

static void *backend_alloc(void *context, size_t size)
{
    backend_t *be = (backend_t *)context;
    void *p = NULL;
    be->calls++;
    if (size > BACKEND_LIMIT) {
        be->refusals++;
        return NULL;
    }
    if (be->fault && be->calls > be->fail_after) {
        if (be->fault == 1 || be->calls == be->fail_after + 1) {
            be->failures++;
            return NULL;
        }
    }
    if (be->count == be->capacity) {
        size_t capacity = be->capacity ? be->capacity * 2 : 64;
        backend_item_t *items =
            (backend_item_t *)realloc(be->items, capacity * sizeof *items);
        if (!items)
            fail("harness: out of memory");
        be->items = items;
        be->capacity = capacity;
    }
    if (be->inner) {
        p = be->inner->alloc(be->inner->context, size);
        if (!p) {
            be->refusals++;
            return NULL;
        }
    } else if (posix_memalign(&p, NV_POOL_ALIGNMENT, size ? size : 1) != 0) {
        be->refusals++;
        return NULL;
    }
    be->items[be->count].p = p;
    be->items[be->count].n = size;
    be->count++;
    be->outstanding += size;
    return p;
}

static void backend_release(void *context, void *memory, size_t size)
{
    backend_t *be = (backend_t *)context;
    size_t i;
    for (i = be->count; i-- > 0;) {
        if (be->items[i].p == memory) {
            CHECK(be->items[i].n == size,
                  "backend release of %p with size %zu, but it was allocated with %zu",
                  memory, size, be->items[i].n);
            be->items[i] = be->items[--be->count];
            be->outstanding -= size;
            if (be->inner)
                be->inner->release(be->inner->context, memory, size);
            else
                free(memory);
            return;
        }
    }
    fail("backend release of %p (%zu bytes), which the backend never handed out "
         "(or released twice)",
         memory, size);
}

static size_t backend_trouble(void)
{
    return H.be.refusals + H.be.failures;
}

/* ======================================================================== */
/* Patterns and the model                                                   */
/* ======================================================================== */

/* The fill pattern: byte i of an allocation with fill f is
 * pattern_table[(f * 257 + i) mod 65536], where the table mixes the low and
 * high byte of its index, so shifted or misplaced copies do not match. Kept
 * as a table so writing and checking are memcpy/memcmp (byte loops would be
 * instrumented per byte by the fuzzing and sanitizer passes). */
#define PATTERN_PERIOD 65536u
static unsigned char pattern_table[2 * PATTERN_PERIOD];

static void pattern_init(void)
{
    size_t i;
    for (i = 0; i < 2 * PATTERN_PERIOD; i++) {
        size_t j = i % PATTERN_PERIOD;
        pattern_table[i] = (unsigned char)((unsigned char)(j * 167u) ^ (unsigned char)(j >> 8) ^ 0x5au);
    }
}

static inline const unsigned char *pattern_at(unsigned char fill, size_t i)
{
    return &pattern_table[((size_t)fill * 257u + i) % PATTERN_PERIOD];
}

static inline unsigned char pattern(unsigned char fill, size_t i)
{
    return *pattern_at(fill, i);
}

static void write_pattern(slot_t *s, size_t from, size_t to)
{
    while (from < to) {
        size_t n = to - from < PATTERN_PERIOD ? to - from : PATTERN_PERIOD;
        memcpy(s->p + from, pattern_at(s->fill, from), n);
        from += n;
    }
}

static void check_pattern_range(const slot_t *s, size_t from, size_t to, const char *what)
{
    while (from < to) {
        size_t n = to - from < PATTERN_PERIOD ? to - from : PATTERN_PERIOD, i;
        if (memcmp(s->p + from, pattern_at(s->fill, from), n) != 0) {
            for (i = from; i < from + n; i++)
                if (s->p[i] != pattern(s->fill, i))
                    fail("%s: allocation %p (%zu bytes, slot %u) changed at offset %zu: "
                         "0x%02x, expected 0x%02x",
                         what, (void *)s->p, s->size, (unsigned)(s - H.slots), i, s->p[i],
                         pattern(s->fill, i));
        }
        from += n;
    }
}

static void check_contents(const slot_t *s, int full, const char *what)
{
    if (full || s->size <= 4 * EDGE) {
        check_pattern_range(s, 0, s->size, what);
        return;
    }
    check_pattern_range(s, 0, EDGE, what);
    check_pattern_range(s, s->size - EDGE, s->size, what);
}

static void check_all_contents(int full, const char *what)
{
    unsigned i;
    for (i = 0; i < NSLOTS; i++)
        if (H.slots[i].live)
            check_contents(&H.slots[i], full, what);
}

static void check_zero(const unsigned char *p, size_t from, size_t to, const char *what)
{
    static const unsigned char zeros[4096];
    while (from < to) {
        size_t n = to - from < sizeof zeros ? to - from : sizeof zeros, i;
        if (memcmp(p + from, zeros, n) != 0)
            for (i = from; i < from + n; i++)
                if (p[i] != 0)
                    fail("%s: byte %zu of %p is 0x%02x, not zero", what, i, (const void *)p,
                         p[i]);
        from += n;
    }
}

static void ring_push(void **ring, unsigned *next, void *p)
{
    ring[*next % RING] = p;
    *next = (*next + 1) % RING;
}

static int is_live_pointer(const void *p)
{
    unsigned i;
    for (i = 0; i < NSLOTS; i++)
        if (H.slots[i].live && H.slots[i].p == p)
            return 1;
    return 0;
}

/* Does [p, p + n) (n >= 1) touch any live allocation or quarantined chunk? */
static void check_disjoint(const unsigned char *p, size_t size, const slot_t *self,
                           const char *what)
{
    size_t n = size ? size : 1;
    unsigned i;
    for (i = 0; i < NSLOTS; i++) {
        const slot_t *s = &H.slots[i];
        size_t m = s->size ? s->size : 1;
        if (!s->live || s == self)
            continue;
        if (p < s->p + m && s->p < p + n)
            fail("%s: %p (%zu bytes) overlaps live allocation %p (%zu bytes, slot %u)", what,
                 (const void *)p, size, (void *)s->p, s->size, i);
    }
    for (i = 0; i < H.quarantine_count; i++)
        if (p < H.quarantine[i].hi && H.quarantine[i].lo < p + n)
            fail("%s: %p (%zu bytes) reuses a quarantined (damaged) chunk at %p", what,
                 (const void *)p, size, (const void *)H.quarantine[i].lo);
}

/* Sizes that take a separate backend allocation whatever the pool does. */
static int certainly_large(size_t size)
{
    return H.config.passthrough || (H.config.auto_extend && size > NV_POOL_LARGE_THRESHOLD);
}

/* Histogram bucket of a size, as nv_pool.h defines the buckets. */
static unsigned bucket_of(size_t size)
{
    unsigned i = 0;
    while (size) {
        size >>= 1;
        i++;
    }
    return i < NV_POOL_HISTOGRAM_BUCKETS - 1 ? i : NV_POOL_HISTOGRAM_BUCKETS - 1;
}

/* The counters of one successful allocation of `size` bytes, after the model
 * added it to H.used (or when it is not kept: `kept` = 0). */
static void count_allocation(size_t size, int kept)
{
    H.allocations++;
    H.allocated_bytes += size;
    H.histogram[bucket_of(size)]++;
    if (H.used + (kept ? 0 : size) > H.peak)
        H.peak = H.used + (kept ? 0 : size);
}

/* Registers a fresh allocation in slot `s`: alignment, overlap, zeroing, the
 * counters; then fills it with the slot's pattern. */
static void adopt(slot_t *s, void *p, size_t size, size_t align, int zeroed, const char *what)
{
    unsigned char *u = (unsigned char *)p;
    size_t need = align > NV_POOL_ALIGNMENT ? align : NV_POOL_ALIGNMENT;
    CHECK(((uintptr_t)u & (need - 1)) == 0, "%s: %p is not %zu-byte aligned", what, p, need);
    check_disjoint(u, size, NULL, what);
    if (zeroed)
        check_zero(u, 0, size, what);
    s->p = u;
    s->size = size;
    s->align = need;
    s->fill = (unsigned char)(0x5bu + 0x3du * ++H.fill_seq);
    s->large = (unsigned char)certainly_large(size);
    s->live = 1;
    write_pattern(s, 0, size);
    H.used += size;
    H.live++;
    count_allocation(size, 1);
}

static void forget(slot_t *s)
{
    H.used -= s->size;
    H.live--;
    s->live = 0;
}

static snap_t snap(void)
{
    snap_t t;
    t.size = nv_pool_get_size(H.pool);
    t.used = nv_pool_get_used(H.pool);
    t.live = H.live;
    t.backend_trouble = backend_trouble();
    t.logs = H.log_errors;
    return t;
}

/* ======================================================================== */
/* Decoding                                                                 */
/* ======================================================================== */

static size_t decode_size(unsigned k, unsigned v)
{
    static const size_t specials[] = {
        0,
        1,
        15,
        16,
        17,
        (size_t)-1,
        (size_t)-1 - 1,
        (size_t)-1 - 15,
        (size_t)-1 - 16,
        (size_t)-1 / 2,
        (size_t)-1 / 2 + 1,
        (size_t)UINT32_MAX * 16,
        (size_t)UINT32_MAX * 16 + 1,
        (size_t)1 << 20,
        ((size_t)1 << 20) + 1,
        (size_t)4 << 20,
        ((size_t)4 << 20) + 1,
        NV_POOL_LARGE_THRESHOLD,
        NV_POOL_LARGE_THRESHOLD + 1,
        (size_t)-1 - NV_POOL_LARGE_THRESHOLD,
    };
    switch (k & 7u) {
    case 0:
        return v % 17u;
    case 1:
        return v % 65u;
    case 2:
        return v % 257u;
    case 3:
        return v % 4097u;
    case 4:
        return v % 65537u;
    case 5:
        return NV_POOL_LARGE_THRESHOLD - 96u + v % 192u;
    case 6:
        return ((size_t)v << 2) | ((k >> 3) & 3u);
    default: {
        unsigned i = v % (unsigned)(COUNTOF(specials) + 3);
        if (i < COUNTOF(specials))
            return specials[i];
        /* relative to max_size */
        if (i == COUNTOF(specials))
            return H.config.max_size;
        if (i == COUNTOF(specials) + 1)
            return H.config.max_size + 1;
        return H.config.max_size ? H.config.max_size - 1 : 0;
    }
    }
}

static size_t decode_alignment(unsigned x, int *valid)
{
    static const size_t invalid[] = {0,  3,  48, 24, 96, 12, (size_t)1 << 21, (size_t)1 << 30,
                                     (size_t)-1, ((size_t)-1 >> 1) + 1, 5};
    unsigned a = x & 31u;
    if (a <= 20u) {
        *valid = 1;
        return (size_t)1 << a;
    }
    *valid = 0;
    return invalid[(a - 21u) % COUNTOF(invalid)];
}

static size_t decode_nmemb(unsigned x)
{
    static const size_t table[] = {0, 1, 2, 3, 7, 16, (size_t)-1 / 2 + 1, (size_t)-1};
    return table[x & 7u];
}

/* Requests the model refuses to make (memory budget); absurd ones pass. */
static int over_budget(size_t bytes)
{
    if (bytes >= ABSURD)
        return 0;
    return bytes > LIVE_BUDGET - (H.used < LIVE_BUDGET ? H.used : LIVE_BUDGET) ||
           nv_pool_get_size(H.pool) > HELD_BUDGET;
}

/* ======================================================================== */
/* Invariants after every operation                                         */
/* ======================================================================== */

static void check_stats(void)
{
    nv_pool_stats_t st;
    size_t size = nv_pool_get_size(H.pool);
    size_t used = nv_pool_get_used(H.pool);
    size_t free_bytes = nv_pool_get_free(H.pool);
    unsigned i;
    size_t large = 0;
    memset(&st, 0xab, sizeof st);
    nv_pool_get_stats(H.pool, &st);
    CHECK(st.size == size && st.used == used && st.free == free_bytes,
          "stats gauges (size %zu, used %zu, free %zu) differ from the queries (%zu, %zu, %zu)",
          st.size, st.used, st.free, size, used, free_bytes);
    CHECK(st.live_allocations == H.live, "stats.live_allocations is %zu, the model has %zu",
          st.live_allocations, H.live);
    CHECK(st.overhead == size - used - free_bytes,
          "stats.overhead is %zu, size - used - free is %zu", st.overhead,
          size - used - free_bytes);
    CHECK(st.fragmentation >= 0.0 && st.fragmentation <= 1.0 &&
              (free_bytes != 0 || st.fragmentation == 0.0),
          "stats.fragmentation is %f with %zu bytes free", st.fragmentation, free_bytes);
    for (i = 0; i < NSLOTS; i++)
        if (H.slots[i].live && H.slots[i].large)
            large++;
    CHECK(st.large_allocations >= large && st.large_allocations <= H.live,
          "stats.large_allocations is %zu; the model has %zu live, %zu certainly large",
          st.large_allocations, H.live, large);
    if (H.config.passthrough)
        CHECK(st.large_allocations == H.live,
              "passthrough pool: %zu large allocations for %zu live", st.large_allocations,
              H.live);
    if (H.config.enable_stats) {
        CHECK(st.allocations == H.allocations && st.frees == H.frees &&
                  st.reallocations == H.reallocations && st.resets == H.resets &&
                  st.failed_allocations == H.failed,
              "stats counters allocations/frees/reallocations/resets/failed = "
              "%llu/%llu/%llu/%llu/%llu, the model expects %llu/%llu/%llu/%llu/%llu",
              (unsigned long long)st.allocations, (unsigned long long)st.frees,
              (unsigned long long)st.reallocations, (unsigned long long)st.resets,
              (unsigned long long)st.failed_allocations, (unsigned long long)H.allocations,
              (unsigned long long)H.frees, (unsigned long long)H.reallocations,
              (unsigned long long)H.resets, (unsigned long long)H.failed);
        CHECK(st.peak_used == H.peak, "stats.peak_used is %zu, the model's peak is %zu",
              st.peak_used, H.peak);
        CHECK(st.allocated_bytes == H.allocated_bytes,
              "stats.allocated_bytes is %llu, the model's sum is %llu",
              (unsigned long long)st.allocated_bytes, (unsigned long long)H.allocated_bytes);
        for (i = 0; i < NV_POOL_HISTOGRAM_BUCKETS; i++)
            CHECK(st.size_histogram[i] == H.histogram[i],
                  "stats.size_histogram[%u] (sizes up to %zu) is %llu, the model counts %llu", i,
                  nv_pool_histogram_bucket_limit(i), (unsigned long long)st.size_histogram[i],
                  (unsigned long long)H.histogram[i]);
    } else {
        CHECK(st.allocations == 0 && st.frees == 0 && st.reallocations == 0 &&
                  st.resets == 0 && st.failed_allocations == 0 && st.allocated_bytes == 0,
              "enable_stats = 0 but counters moved (allocations %llu, frees %llu, failed %llu)",
              (unsigned long long)st.allocations, (unsigned long long)st.frees,
              (unsigned long long)st.failed_allocations);
        for (i = 0; i < NV_POOL_HISTOGRAM_BUCKETS; i++)
            CHECK(st.size_histogram[i] == 0, "enable_stats = 0 but size_histogram[%u] is %llu", i,
                  (unsigned long long)st.size_histogram[i]);
        CHECK(st.peak_used == 0, "enable_stats = 0 but peak_used is %zu", st.peak_used);
    }
}

static int compare_ptr(const void *a, const void *b)
{
    const slot_t *x = *(const slot_t *const *)a, *y = *(const slot_t *const *)b;
    return x->p < y->p ? -1 : x->p > y->p;
}

static void check_all(void)
{
    const slot_t *sorted[NSLOTS];
    size_t n = 0, i, size, used, free_bytes, problems;
    size = nv_pool_get_size(H.pool);
    used = nv_pool_get_used(H.pool);
    free_bytes = nv_pool_get_free(H.pool);
    CHECK(used == H.used, "nv_pool_get_used is %zu, the model's sum is %zu", used, H.used);
    CHECK(used <= size && free_bytes <= size - used,
          "get_used (%zu) + get_free (%zu) > get_size (%zu)", used, free_bytes, size);
    CHECK(nv_pool_is_empty(H.pool) == (H.live == 0), "nv_pool_is_empty is %d with %zu live",
          nv_pool_is_empty(H.pool), H.live);
    if (H.config.max_size)
        CHECK(size <= H.config.max_size, "get_size %zu is past max_size %zu", size,
              H.config.max_size);
    if (H.counting_backend) {
        CHECK(size == H.be.outstanding,
              "get_size is %zu but the pool holds %zu bytes from its backend", size,
              H.be.outstanding);
    }
    problems = nv_pool_validate_count(H.pool);
    CHECK(problems == 0, "nv_pool_validate_count found %zu problem(s) in a healthy pool",
          problems);
    for (i = 0; i < NSLOTS; i++) {
        const slot_t *s = &H.slots[i];
        if (!s->live)
            continue;
        CHECK(((uintptr_t)s->p & (s->align - 1)) == 0,
              "allocation %p (slot %zu) lost its %zu-byte alignment", (void *)s->p, i,
              s->align);
        check_contents(s, 0, "after the operation");
        sorted[n++] = s;
    }
    qsort(sorted, n, sizeof sorted[0], compare_ptr);
    for (i = 1; i < n; i++) {
        size_t m = sorted[i - 1]->size ? sorted[i - 1]->size : 1;
        CHECK(sorted[i - 1]->p + m <= sorted[i]->p,
              "live allocations %p (%zu bytes) and %p overlap", (void *)sorted[i - 1]->p,
              sorted[i - 1]->size, (void *)sorted[i]->p);
    }
    check_stats();
}

/* ======================================================================== */
/* Allocation operations                                                    */
/* ======================================================================== */

/* What must hold when an allocation request of `size` bytes returned NULL. */
static void after_failed_alloc(size_t size, const snap_t *before, int counts_failure,
                               const char *what)
{
    size_t now_size = nv_pool_get_size(H.pool);
    if (counts_failure)
        H.failed++;
    CHECK(nv_pool_get_used(H.pool) == before->used,
          "%s failed but changed get_used: %zu -> %zu", what, before->used,
          nv_pool_get_used(H.pool));
    CHECK(now_size == before->size || ignored("failed-alloc-grows-size"),
          "%s failed but changed the pool: get_size %zu -> %zu (finding id "
          "failed-alloc-grows-size)",
          what, before->size, now_size);
    CHECK(H.log_errors > before->logs, "%s returned NULL without an nv_log_error line", what);
    if (backend_trouble() == before->backend_trouble && size < ABSURD &&
        H.config.auto_extend && H.config.max_size == 0)
        fail("%s of %zu bytes failed in an uncapped auto-extending pool whose backend "
             "refused nothing",
             what, size);
}

static void after_good_alloc(size_t size, const snap_t *before, const char *what)
{
    CHECK(size < ABSURD, "%s of %zu bytes succeeded", what, size);
    if (H.config.max_size)
        CHECK(size <= H.config.max_size, "%s of %zu bytes succeeded past max_size %zu", what,
              size, H.config.max_size);
    if (!H.config.auto_extend && !H.config.passthrough)
        CHECK(size <= before->size,
              "%s of %zu bytes succeeded in a fixed pool holding only %zu bytes", what, size,
              before->size);
}

static slot_t *take_slot(unsigned index);

static void op_alloc(unsigned slot, unsigned k, unsigned v, unsigned x)
{
    slot_t *s = take_slot(slot);
    size_t size = decode_size(k, v);
    snap_t before;
    void *p;
    (void)x;
    snprintf(H.op_desc, sizeof H.op_desc, "alloc slot %u size %zu", slot, size);
    trace("  #%u %s\n", H.op_index, H.op_desc);
    if (over_budget(size))
        return;
    before = snap();
    p = nv_pool_alloc(H.pool, size);
    if (!p) {
        after_failed_alloc(size, &before, 1, "nv_pool_alloc");
        return;
    }
    after_good_alloc(size, &before, "nv_pool_alloc");
    adopt(s, p, size, NV_POOL_ALIGNMENT, H.config.zero_clear, "nv_pool_alloc");
}

static void op_calloc(unsigned slot, unsigned k, unsigned v, unsigned x)
{
    slot_t *s = take_slot(slot);
    size_t size = decode_size(k, v), nmemb = decode_nmemb(x);
    int overflow = size != 0 && nmemb > SIZE_MAX / size;
    size_t total = overflow ? 0 : nmemb * size;
    snap_t before;
    void *p;
    snprintf(H.op_desc, sizeof H.op_desc, "calloc slot %u nmemb %zu size %zu%s", slot, nmemb,
             size, overflow ? " (overflows)" : "");
    trace("  #%u %s\n", H.op_index, H.op_desc);
    if (!overflow && over_budget(total))
        return;
    before = snap();
    p = nv_pool_calloc(H.pool, nmemb, size);
    if (overflow) {
        CHECK(p == NULL, "nv_pool_calloc(%zu, %zu) overflows but returned %p", nmemb, size, p);
        after_failed_alloc(SIZE_MAX, &before, 1, "nv_pool_calloc");
        return;
    }
    if (!p) {
        after_failed_alloc(total, &before, 1, "nv_pool_calloc");
        return;
    }
    after_good_alloc(total, &before, "nv_pool_calloc");
    adopt(s, p, total, NV_POOL_ALIGNMENT, 1, "nv_pool_calloc");
}

static void op_align(unsigned slot, unsigned k, unsigned v, unsigned x, int array)
{
    slot_t *s = take_slot(slot);
    size_t size = decode_size(k, v), nmemb = array ? decode_nmemb(x >> 5) : 1, alignment,
           total;
    int valid, overflow;
    snap_t before;
    void *p;
    alignment = decode_alignment(array ? (x & 31u) : x, &valid);
    overflow = size != 0 && nmemb > SIZE_MAX / size;
    total = overflow ? 0 : nmemb * size;
    if (array)
        snprintf(H.op_desc, sizeof H.op_desc,
                 "align_array slot %u nmemb %zu size %zu alignment %zu%s%s", slot, nmemb, size,
                 alignment, valid ? "" : " (invalid)", overflow ? " (overflows)" : "");
    else
        snprintf(H.op_desc, sizeof H.op_desc, "align slot %u size %zu alignment %zu%s", slot,
                 size, alignment, valid ? "" : " (invalid)");
    trace("  #%u %s\n", H.op_index, H.op_desc);
    if (!overflow && over_budget(total))
        return;
    before = snap();
    p = array ? nv_pool_align_array(H.pool, nmemb, size, alignment)
              : nv_pool_align(H.pool, size, alignment);
    if (!valid || overflow) {
        CHECK(p == NULL, "%s with alignment %zu%s returned %p",
              array ? "nv_pool_align_array" : "nv_pool_align", alignment,
              overflow ? " and an overflowing size" : "", p);
        after_failed_alloc(SIZE_MAX, &before, 1, array ? "nv_pool_align_array" : "nv_pool_align");
        return;
    }
    if (!p) {
        after_failed_alloc(total, &before, 1, array ? "nv_pool_align_array" : "nv_pool_align");
        return;
    }
    after_good_alloc(total, &before, array ? "nv_pool_align_array" : "nv_pool_align");
    adopt(s, p, total, alignment, H.config.zero_clear,
          array ? "nv_pool_align_array" : "nv_pool_align");
}

/* nv_pool_alloc_type / nv_pool_alloc_array with real types. */
typedef struct small_s {
    double d;
    char c;
} small_t;
typedef struct wide_s {
    _Alignas(64) unsigned char bytes[80];
} wide_t;

static void op_alloc_type(unsigned slot, unsigned k, unsigned v, unsigned x)
{
    slot_t *s = take_slot(slot);
    size_t count = (k & 8u) ? ((size_t)-1 / 8 + 1) : v % 100u;
    int array = (x >> 2) & 1u;
    size_t elem = 0, align = 0, total;
    int overflow;
    snap_t before;
    void *p = NULL;
    switch (x & 3u) {
    case 0:
        elem = sizeof(char);
        align = _Alignof(char);
        break;
    case 1:
        elem = sizeof(small_t);
        align = _Alignof(small_t);
        break;
    case 2:
        elem = sizeof(max_align_t);
        align = _Alignof(max_align_t);
        break;
    default:
        elem = sizeof(wide_t);
        align = _Alignof(wide_t);
        break;
    }
    if (!array)
        count = 1;
    overflow = count > SIZE_MAX / elem;
    total = overflow ? 0 : count * elem;
    snprintf(H.op_desc, sizeof H.op_desc, "alloc_%s slot %u count %zu of %zu-byte type (align %zu)",
             array ? "array" : "type", slot, count, elem, align);
    trace("  #%u %s\n", H.op_index, H.op_desc);
    if (!overflow && over_budget(total))
        return;
    before = snap();
    switch ((x & 3u) | (array ? 4u : 0u)) {
    case 0: p = nv_pool_alloc_type(H.pool, char); break;
    case 1: p = nv_pool_alloc_type(H.pool, small_t); break;
    case 2: p = nv_pool_alloc_type(H.pool, max_align_t); break;
    case 3: p = nv_pool_alloc_type(H.pool, wide_t); break;
    case 4: p = nv_pool_alloc_array(H.pool, char, count); break;
    case 5: p = nv_pool_alloc_array(H.pool, small_t, count); break;
    case 6: p = nv_pool_alloc_array(H.pool, max_align_t, count); break;
    default: p = nv_pool_alloc_array(H.pool, wide_t, count); break;
    }
    if (overflow) {
        CHECK(p == NULL, "nv_pool_alloc_array of %zu x %zu bytes overflows but returned %p",
              count, elem, p);
        after_failed_alloc(SIZE_MAX, &before, 1, "nv_pool_alloc_array");
        return;
    }
    if (!p) {
        after_failed_alloc(total, &before, 1, "nv_pool_alloc_type/array");
        return;
    }
    after_good_alloc(total, &before, "nv_pool_alloc_type/array");
    adopt(s, p, total, align, H.config.zero_clear, "nv_pool_alloc_type/array");
}

/* Frees slot `s` through nv_pool_free, checking everything. */
static void free_slot(slot_t *s, const char *what)
{
    size_t before_outstanding = H.be.outstanding;
    int rc;
    check_contents(s, 1, what);
    rc = nv_pool_free(H.pool, s->p);
    CHECK(rc == NV_OK, "%s: nv_pool_free(%p) of a live %zu-byte allocation returned %d", what,
          (void *)s->p, s->size, rc);
    H.frees++;
    ring_push(H.freed, &H.freed_next, s->p);
    if (s->large && H.counting_backend)
        CHECK(H.be.outstanding + s->size <= before_outstanding,
              "%s: freeing the large allocation %p (%zu bytes) returned only %zu bytes to the "
              "backend",
              what, (void *)s->p, s->size, before_outstanding - H.be.outstanding);
    forget(s);
}

/* Returns slot `index`, emptied (its allocation freed) if it was live. */
static slot_t *take_slot(unsigned index)
{
    slot_t *s = &H.slots[index % NSLOTS];
    if (s->live)
        free_slot(s, "freeing the slot before reusing it");
    return s;
}

static void op_realloc(unsigned slot, unsigned k, unsigned v, unsigned x)
{
    slot_t *s = &H.slots[slot % NSLOTS];
    size_t size = decode_size(k, v), old;
    snap_t before;
    unsigned char *r;
    (void)x;
    if (!s->live) {
        snprintf(H.op_desc, sizeof H.op_desc, "realloc slot %u NULL -> %zu", slot, size);
        trace("  #%u %s\n", H.op_index, H.op_desc);
        if (over_budget(size))
            return;
        before = snap();
        r = (unsigned char *)nv_pool_realloc(H.pool, NULL, size);
        if (!r) {
            after_failed_alloc(size, &before, 1, "nv_pool_realloc(NULL)");
            return;
        }
        after_good_alloc(size, &before, "nv_pool_realloc(NULL)");
        adopt(s, r, size, NV_POOL_ALIGNMENT, H.config.zero_clear, "nv_pool_realloc(NULL)");
        return;
    }
    old = s->size;
    snprintf(H.op_desc, sizeof H.op_desc, "realloc slot %u %p %zu -> %zu", slot, (void *)s->p,
             old, size);
    trace("  #%u %s\n", H.op_index, H.op_desc);
    if (size > old && over_budget(size - old))
        return;
    check_contents(s, 1, "before nv_pool_realloc");
    before = snap();
    r = (unsigned char *)nv_pool_realloc(H.pool, s->p, size);
    if (size == 0) {
        CHECK(r == NULL, "nv_pool_realloc(p, 0) returned %p, not NULL", (void *)r);
        H.frees++;
        ring_push(H.freed, &H.freed_next, s->p);
        forget(s);
        return;
    }
    if (!r) {
        after_failed_alloc(size, &before, 1, "nv_pool_realloc");
        check_contents(s, 1, "after a failed nv_pool_realloc");
        return;
    }
    after_good_alloc(size, &before, "nv_pool_realloc");
    H.reallocations++;
    CHECK(((uintptr_t)r & (NV_POOL_ALIGNMENT - 1)) == 0, "nv_pool_realloc returned %p",
          (void *)r);
    if (r != s->p) {
        /* The old pointer is freed; the contents moved. */
        check_disjoint(r, size, s, "nv_pool_realloc (moved)");
        ring_push(H.freed, &H.freed_next, s->p);
        s->p = r;
        s->align = NV_POOL_ALIGNMENT;
        s->large = (unsigned char)certainly_large(size);
    } else {
        check_disjoint(r, size, s, "nv_pool_realloc (in place)");
    }
    s->size = size < old ? size : old;
    check_pattern_range(s, 0, s->size, "nv_pool_realloc kept");
    s->size = size;
    if (size > old) {
        if (H.config.zero_clear)
            check_zero(r, old, size, "nv_pool_realloc grown tail (zero_clear)");
        write_pattern(s, old, size);
    }
    H.used = H.used - old + size;
    if (H.used > H.peak)
        H.peak = H.used;
}

/* ======================================================================== */
/* Release                                                                  */
/* ======================================================================== */

static void op_free(unsigned slot)
{
    slot_t *s = &H.slots[slot % NSLOTS];
    if (!s->live) {
        int rc;
        snprintf(H.op_desc, sizeof H.op_desc, "free NULL (slot %u empty)", slot);
        trace("  #%u %s\n", H.op_index, H.op_desc);
        rc = nv_pool_free(H.pool, NULL);
        CHECK(rc == NV_OK, "nv_pool_free(pool, NULL) returned %d", rc);
        return;
    }
    snprintf(H.op_desc, sizeof H.op_desc, "free slot %u %p (%zu bytes)", slot, (void *)s->p,
             s->size);
    trace("  #%u %s\n", H.op_index, H.op_desc);
    free_slot(s, "nv_pool_free");
}

static const slot_t *some_live_slot(unsigned from)
{
    unsigned i;
    for (i = 0; i < NSLOTS; i++) {
        const slot_t *s = &H.slots[(from + i) % NSLOTS];
        if (s->live)
            return s;
    }
    return NULL;
}

/* A pointer that is not a live allocation of the pool, or NULL if the kind
 * asked for has none to offer. `why` names it. */
static void *bad_pointer(unsigned slot, unsigned v, unsigned kind, const char **why)
{
    const slot_t *s;
    void *p = NULL;
    switch (kind % 8u) {
    case 0:
        *why = "double free (freed before)";
        p = H.freed[v % RING];
        break;
    case 1:
        *why = "foreign pointer (malloc)";
        if (!H.foreign && !(H.foreign = (unsigned char *)malloc(256)))
            return NULL;
        p = H.foreign + 16u * (v % 16u);
        break;
    case 2:
        *why = "foreign pointer (another pool)";
        if (!H.other) {
            H.other = nv_pool_create_default();
            if (H.other)
                H.other_ptr = nv_pool_alloc(H.other, 24);
        }
        p = H.other_ptr;
        break;
    case 3: {
        static const long back[] = {-16, -1, -(long)sizeof(nv_pool_chunk_t) - 16, -48, -64};
        *why = "interior pointer";
        s = some_live_slot(slot);
        if (!s)
            return NULL;
        if (s->size > 0 && (v & 1u))
            p = s->p + 1 + (v >> 1) % s->size;
        else if ((uintptr_t)s->p > 4096)
            p = s->p + back[(v >> 1) % COUNTOF(back)];
        break;
    }
    case 4:
        *why = "stale pointer (from before a reset)";
        p = H.stale[v % RING];
        break;
    case 5: {
        static const uintptr_t wild[] = {16, 4096, 0x10000, (uintptr_t)-16, (uintptr_t)-4096,
                                         (uintptr_t)1 << 46};
        *why = "wild address";
        p = (void *)wild[v % COUNTOF(wild)];
        break;
    }
    case 6:
        *why = "pointer into static memory";
        p = static_area + 16u * (v % 16u);
        break;
    default:
        *why = "interior pointer (misaligned)";
        s = some_live_slot(slot);
        if (!s || s->size < 2)
            return NULL;
        p = s->p + 1 + (v % (s->size - 1));
        if (((uintptr_t)p & 15u) == 0)
            p = (unsigned char *)p + 1;
        if ((unsigned char *)p >= s->p + s->size)
            return NULL;
        break;
    }
    if (!p || is_live_pointer(p))
        return NULL;
    return p;
}

static void check_unchanged(const snap_t *before, const char *what)
{
    CHECK(nv_pool_get_used(H.pool) == before->used, "%s changed get_used: %zu -> %zu", what,
          before->used, nv_pool_get_used(H.pool));
    CHECK(nv_pool_get_size(H.pool) == before->size || ignored("failed-alloc-grows-size"),
          "%s changed the pool: get_size %zu -> %zu (finding id failed-alloc-grows-size)", what,
          before->size, nv_pool_get_size(H.pool));
    CHECK(H.log_errors > before->logs, "%s was refused without an nv_log_error line", what);
}

static void op_free_bad(unsigned slot, unsigned v, unsigned x, int use_realloc, size_t size)
{
    const char *why = "?";
    void *p;
    snap_t before;
    if ((x & 8u) && use_realloc == 0) {
        /* NULL pool, live pointer */
        const slot_t *s = some_live_slot(slot);
        int rc;
        snprintf(H.op_desc, sizeof H.op_desc, "free_bad: nv_pool_free(NULL pool, %p)",
                 s ? (void *)s->p : NULL);
        trace("  #%u %s\n", H.op_index, H.op_desc);
        before = snap();
        rc = nv_pool_free(NULL, s ? (void *)s->p : (void *)static_area);
        CHECK(rc == NV_ERROR, "nv_pool_free(NULL pool, p) returned %d, not NV_ERROR", rc);
        check_unchanged(&before, "nv_pool_free(NULL pool, p)");
        return;
    }
    p = bad_pointer(slot, v, x, &why);
    snprintf(H.op_desc, sizeof H.op_desc, "%s: %s %p", use_realloc ? "realloc_bad" : "free_bad",
             why, p);
    trace("  #%u %s%s\n", H.op_index, H.op_desc, p ? "" : " (none available: skipped)");
    if (!p)
        return;
    before = snap();
    if (use_realloc) {
        void *r = nv_pool_realloc(H.pool, p, size);
        CHECK(r == NULL, "nv_pool_realloc of a %s (%p) returned %p", why, p, r);
        check_unchanged(&before, "nv_pool_realloc of a bad pointer");
    } else {
        int rc = nv_pool_free(H.pool, p);
        CHECK(rc == NV_ERROR, "nv_pool_free of a %s (%p) returned %d, not NV_ERROR", why, p, rc);
        check_unchanged(&before, "nv_pool_free of a bad pointer");
    }
}

/* Every live allocation becomes stale (reset, destroy). */
static void model_invalidate_all(void)
{
    unsigned i;
    for (i = 0; i < NSLOTS; i++)
        if (H.slots[i].live) {
            ring_push(H.stale, &H.stale_next, H.slots[i].p);
            H.slots[i].live = 0;
        }
    H.used = 0;
    H.live = 0;
    H.quarantine_count = 0;
}

static void op_reset(void)
{
    size_t before_size = nv_pool_get_size(H.pool);
    nv_pool_stats_t st;
    snprintf(H.op_desc, sizeof H.op_desc, "reset (%zu live)", H.live);
    trace("  #%u %s\n", H.op_index, H.op_desc);
    check_all_contents(1, "before nv_pool_reset");
    model_invalidate_all();
    nv_pool_reset(H.pool);
    H.resets++;
    nv_pool_get_stats(H.pool, &st);
    CHECK(st.large_allocations == 0, "%zu large allocations survived nv_pool_reset",
          st.large_allocations);
    CHECK(nv_pool_get_size(H.pool) <= before_size, "nv_pool_reset grew the pool: %zu -> %zu",
          before_size, nv_pool_get_size(H.pool));
}

/* ======================================================================== */
/* Growing, shrinking, queries                                              */
/* ======================================================================== */

static void op_extend(unsigned k, unsigned v)
{
    size_t size = decode_size(k, v);
    snap_t before;
    int rc;
    snprintf(H.op_desc, sizeof H.op_desc, "extend %zu", size);
    trace("  #%u %s\n", H.op_index, H.op_desc);
    if (size < ABSURD && nv_pool_get_size(H.pool) + size > HELD_BUDGET)
        return;
    before = snap();
    rc = nv_pool_extend(H.pool, size);
    if (rc == NV_OK) {
        CHECK(size != 0, "nv_pool_extend(0) returned NV_OK");
        CHECK(size < ABSURD, "nv_pool_extend(%zu) returned NV_OK", size);
        CHECK(nv_pool_get_size(H.pool) >= before.size + size,
              "nv_pool_extend(%zu) succeeded but the size went %zu -> %zu", size, before.size,
              nv_pool_get_size(H.pool));
        CHECK(nv_pool_get_free(H.pool) >= size,
              "nv_pool_extend(%zu) succeeded but only %zu bytes are free", size,
              nv_pool_get_free(H.pool));
        return;
    }
    CHECK(rc == NV_ERROR || (rc == NV_ENOMEM && backend_trouble() != before.backend_trouble),
          "nv_pool_extend(%zu) returned %d (backend refusals before/after: %zu/%zu)", size, rc,
          before.backend_trouble, backend_trouble());
    check_unchanged(&before, "a failed nv_pool_extend");
    if (size != 0 && size < ABSURD && H.config.max_size == 0 &&
        backend_trouble() == before.backend_trouble)
        fail("nv_pool_extend(%zu) failed (%d) in an uncapped pool whose backend refused nothing",
             size, rc);
}

static void op_shrink(unsigned k, unsigned v, unsigned x)
{
    size_t size = (x & 1u) ? SIZE_MAX : decode_size(k, v);
    size_t before = nv_pool_get_size(H.pool);
    int rc;
    snprintf(H.op_desc, sizeof H.op_desc, "shrink %zu", size);
    trace("  #%u %s\n", H.op_index, H.op_desc);
    rc = nv_pool_shrink(H.pool, size);
    CHECK(rc == NV_OK, "nv_pool_shrink(%zu) returned %d", size, rc);
    CHECK(nv_pool_get_size(H.pool) <= before, "nv_pool_shrink grew the pool: %zu -> %zu",
          before, nv_pool_get_size(H.pool));
    /* Blocks released and allocated again may reuse quarantined addresses. */
    H.quarantine_count = 0;
    if (size == SIZE_MAX && H.live == 0) {
        nv_pool_stats_t st;
        nv_pool_get_stats(H.pool, &st);
        CHECK(st.blocks == 0, "nv_pool_shrink(SIZE_MAX) with nothing live kept %zu blocks",
              st.blocks);
    }
}

static void op_compact(void)
{
    size_t before = nv_pool_get_size(H.pool);
    int rc;
    snprintf(H.op_desc, sizeof H.op_desc, "compact");
    trace("  #%u %s\n", H.op_index, H.op_desc);
    rc = nv_pool_compact(H.pool);
    CHECK(rc == NV_OK, "nv_pool_compact returned %d", rc);
    CHECK(nv_pool_get_size(H.pool) <= before, "nv_pool_compact grew the pool: %zu -> %zu",
          before, nv_pool_get_size(H.pool));
    check_all_contents(1, "after nv_pool_compact");
}

static void op_query(void)
{
    int full = nv_pool_is_full(H.pool);
    snap_t before;
    unsigned char *p;
    snprintf(H.op_desc, sizeof H.op_desc, "query (is_full %d, then nv_pool_alloc(1))", full);
    trace("  #%u %s\n", H.op_index, H.op_desc);
    CHECK(full == 0 || full == 1, "nv_pool_is_full returned %d", full);
    before = snap();
    p = (unsigned char *)nv_pool_alloc(H.pool, 1);
    if (!p) {
        H.failed++;
        CHECK(full || backend_trouble() != before.backend_trouble,
              "nv_pool_is_full said 0 but nv_pool_alloc(1) failed (backend refused nothing)");
        CHECK(nv_pool_get_used(H.pool) == before.used &&
                  (nv_pool_get_size(H.pool) == before.size || ignored("failed-alloc-grows-size")),
              "a failed nv_pool_alloc(1) changed the pool: get_size %zu -> %zu (finding id "
              "failed-alloc-grows-size)",
              before.size, nv_pool_get_size(H.pool));
        return;
    }
    CHECK(!full, "nv_pool_is_full said 1 but nv_pool_alloc(1) returned %p", (void *)p);
    CHECK(((uintptr_t)p & (NV_POOL_ALIGNMENT - 1)) == 0, "nv_pool_alloc(1) returned %p",
          (void *)p);
    check_disjoint(p, 1, NULL, "nv_pool_alloc(1) probe");
    count_allocation(1, 0);
    *p = 0x42;
    CHECK(nv_pool_free(H.pool, p) == NV_OK, "freeing the nv_pool_alloc(1) probe failed");
    H.frees++;
}

/* nv_pool_stats_json / nv_pool_stats_prometheus: well-formed text with the
 * pool's numbers, snprintf rules for short buffers (`v` picks the cut), and
 * the FILE form writing the same length. */
static void check_export(int prometheus, unsigned v)
{
    const char *what = prometheus ? "nv_pool_stats_prometheus" : "nv_pool_stats_json";
    size_t (*to_buffer)(nv_pool_t *, char *, size_t) =
        prometheus ? nv_pool_stats_prometheus : nv_pool_stats_json;
    long (*to_stream)(nv_pool_t *, FILE *) =
        prometheus ? nv_pool_stats_prometheus_to : nv_pool_stats_json_to;
    nv_pool_stats_t st;
    char error[256];
    char *full, *part;
    size_t length, got, cut;
    int ok;
    nv_pool_get_stats(H.pool, &st);
    length = to_buffer(H.pool, NULL, 0);
    CHECK(length > 0, "%s(pool, NULL, 0) returned 0", what);
    full = (char *)malloc(length + 17);
    part = (char *)malloc(length + 17);
    if (!full || !part)
        fail("harness: out of memory");
    memset(full, 0x7e, length + 17);
    got = to_buffer(H.pool, full, length + 1);
    CHECK(got == length && full[length] == '\0' && strlen(full) == length &&
              (unsigned char)full[length + 1] == 0x7e,
          "%s with a %zu-byte buffer returned %zu (the text needs %zu)", what, length + 1, got,
          length);
    ok = prometheus ? nv_fuzz_check_prometheus(full, length, &st, H.name, error, sizeof error)
                    : nv_fuzz_check_json(full, length, &st, H.name, error, sizeof error);
    if (!ok && !prometheus && strstr(error, "UTF-8") && ignored("json-invalid-utf8"))
        ok = 1;
    CHECK(ok, "%s produced bad text: %s%s\n  text: %s", what, error,
          (!prometheus && strstr(error, "UTF-8")) ? " (finding id json-invalid-utf8)" : "", full);
    cut = v % (length + 1);
    memset(part, 0x7e, length + 17);
    got = to_buffer(H.pool, part, cut);
    CHECK(got == length, "%s with a %zu-byte buffer returned %zu, not the full length %zu", what,
          cut, got, length);
    if (cut > 0)
        CHECK(part[cut - 1] == '\0' && memcmp(part, full, cut - 1) == 0 &&
                  (unsigned char)part[cut] == 0x7e,
              "%s with a %zu-byte buffer did not write a NUL-terminated prefix of the text", what,
              cut);
    else
        CHECK((unsigned char)part[0] == 0x7e, "%s wrote into a 0-byte buffer", what);
    if (devnull) {
        long written = to_stream(H.pool, devnull);
        CHECK(written == (long)length, "%s_to wrote %ld characters, the buffer form %zu", what,
              written, length);
    }
    free(full);
    free(part);
}

static void op_stats(unsigned v, unsigned x)
{
    snprintf(H.op_desc, sizeof H.op_desc, "stats%s%s%s%s", (x & 1u) ? " + print_stats" : "",
             (x & 2u) ? " + dump" : "", (x & 4u) ? " + json" : "",
             (x & 8u) ? " + prometheus" : "");
    trace("  #%u %s\n", H.op_index, H.op_desc);
    check_stats();
    nv_pool_get_stats(H.pool, NULL);
    if ((x & 1u) && devnull)
        nv_pool_print_stats_to(H.pool, devnull);
    if ((x & 2u) && devnull)
        nv_pool_dump_to(H.pool, devnull);
    if (x & 4u)
        check_export(0, v);
    if (x & 8u)
        check_export(1, v);
}

static void op_reset_stats(void)
{
    snprintf(H.op_desc, sizeof H.op_desc, "reset_stats");
    trace("  #%u %s\n", H.op_index, H.op_desc);
    nv_pool_reset_stats(H.pool);
    H.allocations = H.frees = H.reallocations = H.resets = H.failed = 0;
    H.allocated_bytes = 0;
    memset(H.histogram, 0, sizeof H.histogram);
    H.peak = H.used;
}

static void op_validate(unsigned x)
{
    size_t leaks;
    snprintf(H.op_desc, sizeof H.op_desc, "validate");
    trace("  #%u %s\n", H.op_index, H.op_desc);
    check_all_contents(1, "nv_pool_validate");
    nv_pool_validate(H.pool); /* the handler fails on any report */
    leaks = nv_pool_leak_report(H.pool, (x & 1u) ? devnull : NULL);
    CHECK(leaks == H.live, "nv_pool_leak_report counted %zu live allocations, the model has %zu",
          leaks, H.live);
}

static void op_rewrite(unsigned slot)
{
    slot_t *s = &H.slots[slot % NSLOTS];
    snprintf(H.op_desc, sizeof H.op_desc, "rewrite slot %u", slot);
    trace("  #%u %s\n", H.op_index, H.op_desc);
    if (!s->live)
        return;
    check_contents(s, 1, "before rewriting");
    s->fill = (unsigned char)(s->fill + 0x77u);
    write_pattern(s, 0, s->size);
}

static void op_null_pool(unsigned slot)
{
    nv_pool_stats_t st;
    const slot_t *s = some_live_slot(slot);
    void *live = s ? (void *)s->p : NULL;
    char buffer[64];
    size_t logs = H.log_errors;
    snprintf(H.op_desc, sizeof H.op_desc, "null_pool calls");
    trace("  #%u %s\n", H.op_index, H.op_desc);
    CHECK(nv_pool_alloc(NULL, 8) == NULL, "nv_pool_alloc(NULL, 8) is not NULL");
    CHECK(nv_pool_calloc(NULL, 2, 8) == NULL, "nv_pool_calloc(NULL, ...) is not NULL");
    CHECK(nv_pool_realloc(NULL, live, 8) == NULL, "nv_pool_realloc(NULL pool, ...) is not NULL");
    CHECK(nv_pool_realloc(NULL, NULL, 8) == NULL, "nv_pool_realloc(NULL, NULL, 8) is not NULL");
    CHECK(nv_pool_align(NULL, 8, 64) == NULL, "nv_pool_align(NULL, ...) is not NULL");
    CHECK(nv_pool_align_array(NULL, 2, 8, 64) == NULL, "nv_pool_align_array(NULL, ...) is not NULL");
    CHECK(nv_pool_free(NULL, live) == NV_ERROR, "nv_pool_free(NULL pool, p) is not NV_ERROR");
    CHECK(nv_pool_extend(NULL, 4096) == NV_ERROR, "nv_pool_extend(NULL, ...) is not NV_ERROR");
    CHECK(nv_pool_shrink(NULL, 4096) == NV_ERROR, "nv_pool_shrink(NULL, ...) is not NV_ERROR");
    CHECK(nv_pool_compact(NULL) == NV_ERROR, "nv_pool_compact(NULL) is not NV_ERROR");
    CHECK(nv_pool_get_size(NULL) == 0 && nv_pool_get_used(NULL) == 0 &&
              nv_pool_get_free(NULL) == 0 && nv_pool_is_empty(NULL) == 0 &&
              nv_pool_is_full(NULL) == 0,
          "a query on a NULL pool is not 0");
    memset(&st, 0xab, sizeof st);
    nv_pool_get_stats(NULL, &st);
    CHECK(st.size == 0 && st.used == 0 && st.allocations == 0 && st.failed_allocations == 0 &&
              st.live_allocations == 0 && st.peak_used == 0,
          "nv_pool_get_stats(NULL, &s) did not zero s");
    nv_pool_get_stats(NULL, NULL);
    nv_pool_reset_stats(NULL);
    nv_pool_reset(NULL);
    nv_pool_validate(NULL);
    CHECK(nv_pool_validate_count(NULL) == 1, "nv_pool_validate_count(NULL) is not 1");
    CHECK(nv_pool_leak_report(NULL, devnull) == 0, "nv_pool_leak_report(NULL) is not 0");
    nv_pool_destroy(NULL);
    if (devnull) {
        nv_pool_print_stats_to(NULL, devnull);
        nv_pool_dump_to(NULL, devnull);
    }
    nv_pool_print_stats_to(H.pool, NULL);
    nv_pool_dump_to(H.pool, NULL);
    CHECK(nv_pool_format_corruption(NULL, buffer, sizeof buffer) == buffer,
          "nv_pool_format_corruption(NULL, ...) did not return the buffer");
    CHECK(H.log_errors > logs, "NULL-pool calls logged nothing");
}

/* ======================================================================== */
/* Corruption (pool_corrupt)                                                */
/* ======================================================================== */

/* Flips bits behind the tools' backs: ASan would stop the write (the pool
 * poisons redzones and freed chunks) and memcheck would report it, but the
 * point is whether the pool's own checks see it. */
static FUZZ_NO_ASAN void xor_bytes(unsigned char *at, size_t n, unsigned char value)
{
    volatile unsigned char *p = at;
    size_t i;
    VALGRIND_DISABLE_ADDR_ERROR_REPORTING_IN_RANGE(at, n);
    for (i = 0; i < n; i++)
        p[i] = (unsigned char)(p[i] ^ value);
    VALGRIND_ENABLE_ADDR_ERROR_REPORTING_IN_RANGE(at, n);
}

typedef struct free_body_s {
    unsigned char *chunk;
    unsigned char *from, *to; /* the pattern-filled bytes */
} free_body_t;

/* Lists the pool's free chunks (pool_internal.h layout). */
static FUZZ_NO_ASAN size_t free_bodies(free_body_t *out, size_t max)
{
    nv_pool_t *pool = H.pool;
    nv_pool_block_t *block;
    size_t n = 0;
    for (block = pool->blocks; block && n < max; block = block->next) {
        char *top = block == pool->current ? pool->bump : block->current;
        char *at = block->start;
        while (at < top && n < max) {
            nv_pool_chunk_t *chunk = (nv_pool_chunk_t *)at;
            /* A live chunk's span follows from its size and, growing, from
             * the reserve in its tag's top byte; other chunks store it. */
            uint32_t growth = chunk->tag ^ pool->growing_tag;
            int growing = (growth & ((1u << NV_POOL_TAG_RESERVE_SHIFT) - 1u)) == 0;
            int live = chunk->tag == pool->live_tag || growing;
            size_t bytes = live ? ((chunk->u.requested + NV_POOL_PREFIX + NV_POOL_BACK_REDZONE_MIN +
                                    NV_POOL_GRANULE - 1) &
                                   ~(size_t)(NV_POOL_GRANULE - 1)) +
                                      (growing ? (size_t)(growth >> NV_POOL_TAG_RESERVE_SHIFT) *
                                                     NV_POOL_GRANULE
                                               : 0)
                                : (size_t)chunk->u.span * NV_POOL_GRANULE;
            if (bytes == 0 || bytes > (size_t)(top - at))
                fail("harness: cannot walk a block of a pool that validates clean");
            if (chunk->tag == pool->free_tag && bytes > NV_POOL_FREE_HEADER_BYTES) {
                out[n].chunk = (unsigned char *)chunk;
                out[n].from = (unsigned char *)chunk + NV_POOL_FREE_HEADER_BYTES;
                out[n].to = (unsigned char *)chunk + bytes;
                n++;
            }
            at += bytes;
        }
    }
    return n;
}

static const char *kind_text(nv_pool_corruption_kind_t kind)
{
    switch (kind) {
    case NV_POOL_CORRUPT_FRONT_REDZONE:
        return "FRONT_REDZONE";
    case NV_POOL_CORRUPT_BACK_REDZONE:
        return "BACK_REDZONE";
    case NV_POOL_CORRUPT_HEADER:
        return "HEADER";
    case NV_POOL_CORRUPT_FREED_CHUNK:
        return "FREED_CHUNK";
    case NV_POOL_CORRUPT_POOL_STATE:
        return "POOL_STATE";
    default:
        return "other";
    }
}

typedef struct damage_s {
    unsigned char *at;    /* first byte written */
    size_t length;
    unsigned char value;  /* XORed into each byte */
    const unsigned char *chunk; /* user pointer the report must name */
    size_t requested;
    nv_pool_corruption_kind_t kind;
} damage_t;

/* Exactly one report, describing `d`, found by `operation`. */
static void expect_one_report(const damage_t *d, const char *operation)
{
    const report_t *r = &H.reports[0];
    long offset = (long)(d->at - d->chunk);
    CHECK(H.report_count != 0,
          "corruption escaped detection: %zu byte(s) at offset %ld of %p (%s, requested %zu) "
          "XOR 0x%02x were not reported by %s",
          d->length, offset, (const void *)d->chunk, kind_text(d->kind), d->requested, d->value,
          operation);
    CHECK(H.report_count == 1, "%s made %zu corruption reports for one damaged spot", operation,
          H.report_count);
    CHECK(r->kind == d->kind && r->chunk == d->chunk && r->offset == offset &&
              r->requested == d->requested && r->pool == H.pool && r->operation &&
              strcmp(r->operation, operation) == 0,
          "wrong corruption report: kind %s chunk %p offset %ld requested %zu operation %s; "
          "expected %s chunk %p offset %ld requested %zu operation %s",
          kind_text(r->kind), r->chunk, r->offset, r->requested,
          r->operation ? r->operation : "(null)", kind_text(d->kind), (const void *)d->chunk,
          offset, d->requested, operation);
    totals.corrupt_detected++;
}

/* How far past its user pointer a live chunk of `size` bytes reaches at
 * least: to the end of a block chunk without a reserve (prefix, size and
 * the least back redzone, rounded to 16). Large chunks and chunks with a
 * reserve reach further. */
static size_t least_chunk_end(size_t size)
{
    return ((NV_POOL_PREFIX + size + NV_POOL_BACK_REDZONE_MIN + 15u) & ~(size_t)15u) -
           NV_POOL_PREFIX;
}

/* Slot `s` was quarantined by the call that found its damage. A chunk in a
 * block stays quarantined for good (recorded: no later allocation may
 * overlap it); a large one went back to the backend (the size dropped). */
static void quarantined(slot_t *s, size_t size_before)
{
    if (nv_pool_get_size(H.pool) == size_before && H.quarantine_count < QUARANTINE_MAX) {
        H.quarantine[H.quarantine_count].lo = s->p - NV_POOL_PREFIX;
        H.quarantine[H.quarantine_count].hi = s->p + least_chunk_end(s->size);
        H.quarantine_count++;
    }
    forget(s);
}

static int recreate_pool(void);

static void corrupt_live(slot_t *s, unsigned k, unsigned v, unsigned x)
{
    damage_t d;
    /* The back redzone reaches at least this far past the user pointer. */
    size_t redzone_end = least_chunk_end(s->size);
    unsigned trigger = (x >> 2) & 7u;
    static const char *const triggers[8] = {"nv_pool_free",     "nv_pool_realloc",
                                            "nv_pool_validate", "nv_pool_validate_count",
                                            "nv_pool_reset",    "nv_pool_destroy",
                                            "nv_pool_free",     "nv_pool_realloc"};
    size_t want = 1u + (k & 3u);
    memset(&d, 0, sizeof d);
    d.value = (unsigned char)(1u + (v >> 8) % 255u);
    d.chunk = s->p;
    d.requested = s->size;
    check_contents(s, 1, "before corrupting");
    if ((x & 3u) == 2u) {
        /* into the front redzone (hardened builds; no damage is made without) */
        size_t start = v % (NV_POOL_FRONT_REDZONE ? NV_POOL_FRONT_REDZONE : 1u);
        d.kind = NV_POOL_CORRUPT_FRONT_REDZONE;
        d.at = s->p - NV_POOL_FRONT_REDZONE + start;
        d.length = want < NV_POOL_FRONT_REDZONE - start ? want : NV_POOL_FRONT_REDZONE - start;
    } else {
        size_t span = redzone_end - s->size, off = s->size + (v % span);
        d.kind = NV_POOL_CORRUPT_BACK_REDZONE;
        d.at = s->p + off;
        d.length = want < redzone_end - off ? want : redzone_end - off;
    }
    snprintf(H.op_desc, sizeof H.op_desc,
             "corrupt %s of slot %u %p (%zu bytes): %zu byte(s) at offset %ld XOR 0x%02x, "
             "then %s",
             d.kind == NV_POOL_CORRUPT_FRONT_REDZONE ? "front redzone" : "back redzone",
             (unsigned)(s - H.slots), (void *)s->p, s->size, d.length, (long)(d.at - s->p),
             d.value, triggers[trigger]);
    trace("  #%u %s\n", H.op_index, H.op_desc);
    xor_bytes(d.at, d.length, d.value);
    totals.corrupt_writes++;
    H.expect_reports = 1;
    H.report_count = 0;
    switch (trigger) {
    case 0:
    case 6: {
        size_t size_before = nv_pool_get_size(H.pool);
        int rc = nv_pool_free(H.pool, s->p);
        H.expect_reports = 0;
        expect_one_report(&d, "nv_pool_free");
        CHECK(rc == NV_ECORRUPT, "nv_pool_free of a damaged chunk returned %d, not NV_ECORRUPT",
              rc);
        quarantined(s, size_before);
        break;
    }
    case 1:
    case 7: {
        size_t size = trigger == 7 ? 0 : s->size + 1u + (v & 0xffu);
        size_t size_before = nv_pool_get_size(H.pool);
        void *r = nv_pool_realloc(H.pool, s->p, size);
        H.expect_reports = 0;
        expect_one_report(&d, "nv_pool_realloc");
        CHECK(r == NULL, "nv_pool_realloc of a damaged chunk returned %p", r);
        quarantined(s, size_before);
        break;
    }
    case 2: {
        size_t problems;
        nv_pool_validate(H.pool);
        H.expect_reports = 0;
        expect_one_report(&d, "nv_pool_validate");
        /* Undo the damage: the pool must be healthy again. */
        xor_bytes(d.at, d.length, d.value);
        problems = nv_pool_validate_count(H.pool);
        CHECK(problems == 0, "after undoing the damage nv_pool_validate_count finds %zu",
              problems);
        break;
    }
    case 3: {
        size_t logs = H.log_errors;
        size_t problems = nv_pool_validate_count(H.pool);
        H.expect_reports = 0;
        CHECK(problems == 1,
              "corruption escaped detection: nv_pool_validate_count found %zu problem(s) after "
              "%zu byte(s) at offset %ld of %p were damaged",
              problems, d.length, (long)(d.at - d.chunk), (const void *)d.chunk);
        CHECK(H.report_count == 0, "nv_pool_validate_count called the corruption handler");
        CHECK(H.log_errors > logs, "nv_pool_validate_count found damage but logged nothing");
        totals.corrupt_detected++;
        xor_bytes(d.at, d.length, d.value);
        break;
    }
    case 4:
        check_all_contents(1, "before nv_pool_reset");
        nv_pool_reset(H.pool);
        H.expect_reports = 0;
        expect_one_report(&d, "nv_pool_reset");
        H.resets++;
        model_invalidate_all();
        break;
    default:
        check_all_contents(1, "before nv_pool_destroy");
        nv_pool_destroy(H.pool);
        H.expect_reports = 0;
        expect_one_report(&d, "nv_pool_destroy");
        H.pool = NULL;
        model_invalidate_all();
        if (H.counting_backend)
            CHECK(H.be.count == 0 && H.be.outstanding == 0,
                  "nv_pool_destroy left %zu backend allocations (%zu bytes) unreleased",
                  H.be.count, H.be.outstanding);
        /* A new pool: new counters. */
        H.allocations = H.frees = H.reallocations = H.resets = H.failed = 0;
        H.allocated_bytes = 0;
        memset(H.histogram, 0, sizeof H.histogram);
        H.peak = 0;
        (void)recreate_pool();
        break;
    }
}

static void corrupt_freed(unsigned k, unsigned v, unsigned x)
{
    free_body_t bodies[64];
    size_t n = free_bodies(bodies, 64), room, off, problems;
    const free_body_t *b;
    damage_t d;
    unsigned trigger = ((x >> 2) & 7u) % 3u;
    static const char *const triggers[3] = {"nv_pool_validate", "nv_pool_validate_count",
                                            "reuse, then nv_pool_validate"};
    if (n == 0) {
        snprintf(H.op_desc, sizeof H.op_desc, "corrupt a freed chunk (none: skipped)");
        trace("  #%u %s\n", H.op_index, H.op_desc);
        totals.corrupt_skipped++;
        return;
    }
    b = &bodies[v % n];
    room = (size_t)(b->to - b->from);
    off = ((size_t)v * 2654435761u >> 7) % room;
    memset(&d, 0, sizeof d);
    d.kind = NV_POOL_CORRUPT_FREED_CHUNK;
    d.value = (unsigned char)(1u + (v >> 8) % 255u);
    d.at = b->from + off;
    d.length = 1u + (k & 3u);
    if (d.length > room - off)
        d.length = room - off;
    d.chunk = b->chunk + NV_POOL_PREFIX;
    d.requested = 0;
    snprintf(H.op_desc, sizeof H.op_desc,
             "corrupt freed chunk %p (%zu-byte body): %zu byte(s) at body offset %zu XOR "
             "0x%02x, then %s",
             (void *)b->chunk, room, d.length, off, d.value, triggers[trigger]);
    trace("  #%u %s\n", H.op_index, H.op_desc);
    xor_bytes(d.at, d.length, d.value);
    totals.corrupt_writes++;
    H.report_count = 0;
    if (trigger == 1) {
        size_t logs = H.log_errors;
        problems = nv_pool_validate_count(H.pool);
        CHECK(problems == 1,
              "corruption escaped detection: nv_pool_validate_count found %zu problem(s) after "
              "a write into freed chunk %p",
              problems, (void *)b->chunk);
        CHECK(H.log_errors > logs, "nv_pool_validate_count found damage but logged nothing");
        totals.corrupt_detected++;
        xor_bytes(d.at, d.length, d.value);
        return;
    }
    if (trigger == 2) {
        /* Ask for chunks of the damaged one's size until the pool reuses it
         * (and must notice), then give them back. */
        size_t chunk_bytes = (size_t)(b->to - b->chunk), size;
        void *got[64];
        unsigned i, count = 0;
        if (chunk_bytes >= NV_POOL_PREFIX + NV_POOL_BACK_REDZONE_MIN &&
            chunk_bytes <= NV_POOL_LARGE_THRESHOLD) {
            size = chunk_bytes - NV_POOL_PREFIX - NV_POOL_BACK_REDZONE_MIN;
            H.expect_reports = 1;
            for (i = 0; i < 64u && H.report_count == 0; i++) {
                snap_t before = snap();
                unsigned char *p = (unsigned char *)nv_pool_alloc(H.pool, size);
                if (!p) {
                    after_failed_alloc(SIZE_MAX, &before, 1, "nv_pool_alloc (reuse)");
                    break;
                }
                CHECK(!(p <= d.at && d.at < p + size),
                      "nv_pool_alloc handed out the damaged freed chunk %p", (void *)p);
                check_disjoint(p, size, NULL, "nv_pool_alloc (reuse)");
                count_allocation(size, 0);
                H.used += size;
                got[count++] = p;
            }
            H.expect_reports = 0;
            for (i = 0; i < count; i++) {
                CHECK(nv_pool_free(H.pool, got[i]) == NV_OK, "freeing a reuse probe failed");
                H.frees++;
                H.used -= size;
            }
            if (H.report_count) {
                expect_one_report(&d, "nv_pool_alloc");
                /* Quarantined: the pool is healthy again, and must never
                 * hand that chunk out. */
                if (H.quarantine_count < QUARANTINE_MAX) {
                    H.quarantine[H.quarantine_count].lo = b->chunk;
                    H.quarantine[H.quarantine_count].hi = b->to;
                    H.quarantine_count++;
                }
                return;
            }
        }
    }
    H.expect_reports = 1;
    nv_pool_validate(H.pool);
    H.expect_reports = 0;
    expect_one_report(&d, "nv_pool_validate");
    xor_bytes(d.at, d.length, d.value);
    problems = nv_pool_validate_count(H.pool);
    CHECK(problems == 0, "after undoing the damage nv_pool_validate_count finds %zu", problems);
}

static void op_corrupt(unsigned slot, unsigned k, unsigned v, unsigned x)
{
    const slot_t *s;
    snprintf(H.op_desc, sizeof H.op_desc, "corrupt");
    if (H.mode != NV_FUZZ_POOL_CORRUPT || !nv_pool_hardening_enabled()) {
        trace("  #%u corrupt (not in this target/build: skipped)\n", H.op_index);
        if (H.mode == NV_FUZZ_POOL_CORRUPT)
            totals.corrupt_skipped++;
        return;
    }
    if ((x & 3u) == 3u) {
        corrupt_freed(k, v, x);
        return;
    }
    s = some_live_slot(slot);
    if (!s) {
        trace("  #%u corrupt (nothing live: skipped)\n", H.op_index);
        totals.corrupt_skipped++;
        return;
    }
    corrupt_live(&H.slots[s - H.slots], k, v, x);
}

/* ======================================================================== */
/* Setup and teardown                                                       */
/* ======================================================================== */

static int config_invalid(const nv_pool_config_t *c)
{
    return (c->max_size && c->initial_size > c->max_size) ||
           (c->max_size && c->min_size > c->max_size) || c->initial_size > SIZE_MAX / 2 ||
           c->min_size > SIZE_MAX / 4;
}

/* Creates H.pool from H.config; 0 if the pool could not be created (which
 * is checked to be legitimate). */
static int recreate_pool(void)
{
    static const nv_pool_config_t defaults = NV_POOL_CONFIG_DEFAULT;
    snap_t before;
    before.backend_trouble = backend_trouble();
    before.logs = H.log_errors;
    H.pool = H.default_config ? nv_pool_create(NULL) : nv_pool_create(&H.config);
    if (H.default_config) {
        CHECK(H.pool != NULL, "nv_pool_create(NULL) failed");
        H.config = defaults;
        return 1;
    }
    if (config_invalid(&H.config)) {
        CHECK(H.pool == NULL, "nv_pool_create accepted an inconsistent config");
        CHECK(H.log_errors > before.logs, "nv_pool_create refused a config without a log line");
        return 0;
    }
    if (!H.pool) {
        CHECK(H.log_errors > before.logs, "nv_pool_create failed without a log line");
        CHECK(H.be.count == 0, "a failed nv_pool_create left %zu backend allocations",
              H.be.count);
        if (H.counting_backend && backend_trouble() == before.backend_trouble &&
            (H.config.max_size == 0 ||
             H.config.max_size >= 16384 + 2 * H.config.initial_size))
            fail("nv_pool_create failed for a sane config (backend refused nothing)");
        return 0;
    }
    return 1;
}

/* Pool names (header byte 5, bits 0-2): they end up in logs, corruption
 * reports and the JSON / Prometheus exports. */
static const char *const pool_names[8] = {
    "fuzz",
    "fuzz-pool-with-a-name-longer-than-the-pool-keeps-in-its-struct",
    "quote\"back\\slash\nnew line\ttab",
    "",
    /* UTF-8, longer than the 47 bytes kept */
    "\xe5\x86\x85\xe5\xad\x98\xe6\xb1\xa0\xe5\x86\x85\xe5\xad\x98\xe6\xb1\xa0\xe5\x86\x85\xe5\xad\x98"
    "\xe6\xb1\xa0\xe5\x86\x85\xe5\xad\x98\xe6\xb1\xa0\xe5\x86\x85\xe5\xad\x98\xe6\xb1\xa0\xe5\x86\x85"
    "\xe5\xad\x98\xe6\xb1\xa0",
    "}{\"],[:,",
    NULL,
    /* control characters; a UTF-16 surrogate, an overlong form and stray
     * bytes, none of them valid UTF-8 */
    "ctl\x01\x7f\x1b[31m \xed\xa0\x80 \xe0\x80\xaf \xc0\xaf \xff\xfe",
};

static void setup(const uint8_t *data, size_t size)
{
    unsigned flags = size > 0 ? data[0] : 0;
    unsigned extra = size > 5 ? data[5] : 0;
    unsigned backend = (extra >> 3) & 3u;
    H.flags = flags;
    memset(&H.config, 0, sizeof H.config);
    H.config.auto_extend = (flags & F_AUTO_EXTEND) != 0;
    H.config.zero_clear = (flags & F_ZERO_CLEAR) != 0;
    H.config.enable_stats = (flags & F_STATS) != 0;
    H.config.passthrough = (flags & F_PASSTHROUGH) != 0;
    H.config.thread_safe = (extra & 0x20u) != 0;
    H.config.initial_size = initial_sizes[(size > 1 ? data[1] : 0) % COUNTOF(initial_sizes)];
    H.config.max_size = max_sizes[(size > 2 ? data[2] : 0) % COUNTOF(max_sizes)];
    H.config.min_size = min_sizes[(size > 3 ? data[3] : 0) % COUNTOF(min_sizes)];
    H.name = pool_names[(flags & F_LONG_NAME) ? 1u : (extra & 7u)];
    H.config.name = H.name;
    H.be.fault = (flags & F_FAULT) ? ((flags & F_FAULT_ONCE) ? 2 : 1) : 0;
    H.be.fail_after = size > 4 ? data[4] : 0;
    H.backend_fns.alloc = backend_alloc;
    H.backend_fns.release = backend_release;
    H.backend_fns.context = &H.be;
    H.default_config = (flags & F_DEFAULT_CONFIG) != 0;
    H.counting_backend = !H.default_config;
    H.config.backend = &H.backend_fns;
    H.be.inner = backend == 2u   ? &nv_pool_backend_guard_pages
                 : backend == 3u ? &nv_pool_backend_guard_pages_front
                                 : NULL;
    if (!H.counting_backend)
        H.be.fault = 0;
    if (H.default_config)
        H.name = NULL;
}

static void teardown(void)
{
    unsigned i;
    snprintf(H.op_desc, sizeof H.op_desc, "end of input: destroy");
    if (H.pool) {
        check_all_contents(1, "at the end of the input");
        nv_pool_destroy(H.pool);
        H.pool = NULL;
    }
    if (H.counting_backend)
        CHECK(H.be.count == 0 && H.be.outstanding == 0,
              "nv_pool_destroy left %zu backend allocations (%zu bytes) unreleased", H.be.count,
              H.be.outstanding);
    for (i = 0; i < NSLOTS; i++)
        H.slots[i].live = 0;
    if (H.other)
        nv_pool_destroy(H.other);
    free(H.foreign);
    free(H.be.items);
}

const nv_fuzz_totals_t *nv_fuzz_pool_totals(void)
{
    return &totals;
}

int nv_fuzz_pool_detection_active(const char **why)
{
    int active = nv_pool_hardening_enabled();
    if (why) {
        if (!active)
            *why = "hardening is compiled out (--define nv_pool_hardening=off): CORRUPT "
                   "records are skipped; the operation model is still checked";
        else if (RUNNING_ON_VALGRIND)
            *why = "hardened build under Valgrind: corrupting writes are hidden from memcheck "
                   "(address-error reporting off for those bytes); detection asserted";
        else if (FUZZ_ASAN)
            *why = "hardened build with ASan: corrupting writes bypass ASan instrumentation "
                   "(no_sanitize(\"address\")); detection asserted";
        else
            *why = "hardened build: detection asserted";
    }
    return active;
}

static void install_handlers(void)
{
    static int done;
    if (done)
        return;
    done = 1;
    nv_log_set_handler(log_handler, NULL);
    nv_pool_set_corruption_handler(corruption_handler, NULL);
    devnull = fopen("/dev/null", "w");
    pattern_init();
}

int nv_fuzz_pool_run(const uint8_t *data, size_t size, nv_fuzz_mode_t mode)
{
    size_t pos;
    const char *trace_env;
    install_handlers();
    memset(&H, 0, sizeof H);
    H.mode = mode;
    trace_env = getenv("NV_FUZZ_TRACE");
    H.trace = trace_env && trace_env[0] && strcmp(trace_env, "0") != 0;
    totals.inputs++;
    setup(data, size);
    if (H.trace) {
        fprintf(stderr, "%s input (%zu bytes):\n", mode_name(), size);
        describe_config(stderr);
    }
    if (!recreate_pool()) {
        trace("  (no pool: nothing to run)\n");
        teardown();
        return 0;
    }
    check_all();
    for (pos = HEADER_BYTES; pos + RECORD_BYTES <= size && H.op_index < MAX_OPS && H.pool;
         pos += RECORD_BYTES) {
        const uint8_t *r = data + pos;
        unsigned op = r[0] % OP_COUNT, slot = r[1] % NSLOTS, k = r[2];
        unsigned v = (unsigned)r[3] | ((unsigned)r[4] << 8), x = r[5];
        H.op_index++;
        totals.operations++;
        snprintf(H.op_desc, sizeof H.op_desc, "%s", op_names[op]);
        switch (op) {
        case OP_ALLOC: op_alloc(slot, k, v, x); break;
        case OP_CALLOC: op_calloc(slot, k, v, x); break;
        case OP_REALLOC: op_realloc(slot, k, v, x); break;
        case OP_ALIGN: op_align(slot, k, v, x, 0); break;
        case OP_ALIGN_ARRAY: op_align(slot, k, v, x, 1); break;
        case OP_FREE: op_free(slot); break;
        case OP_FREE_BAD: op_free_bad(slot, v, x, 0, 0); break;
        case OP_REALLOC_BAD: op_free_bad(slot, v, x & 7u, 1, decode_size(k, v)); break;
        case OP_RESET: op_reset(); break;
        case OP_EXTEND: op_extend(k, v); break;
        case OP_SHRINK: op_shrink(k, v, x); break;
        case OP_COMPACT: op_compact(); break;
        case OP_QUERY: op_query(); break;
        case OP_STATS: op_stats(v, x); break;
        case OP_RESET_STATS: op_reset_stats(); break;
        case OP_VALIDATE: op_validate(x); break;
        case OP_REWRITE: op_rewrite(slot); break;
        case OP_NULL_POOL: op_null_pool(slot); break;
        case OP_ALLOC_TYPE: op_alloc_type(slot, k, v, x); break;
        default: op_corrupt(slot, k, v, x); break;
        }
        if (H.pool)
            check_all();
    }
    teardown();
    return 0;
}
