/*
 * nv_pool.h - libnv memory pool: the whole public surface.
 *
 * A pool hands out memory from large blocks with a bump pointer, reuses freed
 * chunks through size-segregated free lists, serves big requests with their
 * own system allocation, and releases everything at once on reset/destroy.
 * The API is fixed by the libnv design document (libnv_pool_design.zh.md);
 * the behaviour is fixed by nv_pool_contract.md. See docs/api.md.
 *
 * Hardened builds (the default) surround every chunk with redzones holding
 * keyed canaries, fill freed chunks with a pattern, and report corruption to
 * a replaceable handler; see docs/hardening.md.
 *
 * A pool is used by one thread at a time unless created with thread_safe = 1.
 * Hardened builds detect two threads inside a pool that is not thread-safe
 * and report it as NV_POOL_CORRUPT_CONCURRENT_USE.
 */
#ifndef NV_POOL_H
#define NV_POOL_H

/* The design document's examples use printf/strcpy with only this include. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "nv_error.h"
#include "nv_log.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Alignment of every pointer from alloc/calloc/realloc: that of max_align_t
 * on x86-64 and aarch64 (checked by a static assertion in the library). */
#define NV_POOL_ALIGNMENT 16

/* Requests whose chunk needs more than this many bytes are "large" in an
 * auto-extending pool: each gets its own system allocation, returned to the
 * system as soon as it is freed. Fixed pools serve them from their blocks. */
#define NV_POOL_LARGE_THRESHOLD (64 * 1024)

/* Largest alignment nv_pool_align accepts. */
#define NV_POOL_MAX_ALIGNMENT (1024 * 1024)

typedef struct nv_pool_s nv_pool_t;

/* Where the pool gets its memory: blocks, large allocations and its own
 * bookkeeping. `alloc` returns `size` bytes aligned to NV_POOL_ALIGNMENT or
 * NULL; `release` gets back exactly what `alloc` returned, with its size.
 * Tests use this to inject allocation failure; see nv_pool_backend_malloc. */
typedef struct nv_pool_backend_s {
    void *(*alloc)(void *context, size_t size);
    void (*release)(void *context, void *memory, size_t size);
    void *context;
} nv_pool_backend_t;

/* The default backend: malloc/free. */
extern const nv_pool_backend_t nv_pool_backend_malloc;

/* MMU guard-page backends (debug and canary deployments): each backend
 * allocation gets its own pages between two inaccessible pages.
 * guard_pages places the memory at the end of its pages, so an access past
 * the (16-byte rounded) end faults at once; guard_pages_front places it at
 * the start, so an access before the start faults at once. Costs two pages
 * of address space and a few system calls per allocation. */
extern const nv_pool_backend_t nv_pool_backend_guard_pages;
extern const nv_pool_backend_t nv_pool_backend_guard_pages_front;

typedef struct nv_pool_config_s {
    size_t initial_size; /* 初始内存池大小: block bytes reserved at creation; 0 = none until first use */
    size_t max_size;     /* 最大内存池大小: cap on nv_pool_get_size(); 0 = no cap */
    size_t min_size;     /* 最小内存块大小: smallest block asked for; 0 = 4 KiB */
    int auto_extend;     /* 是否自动扩展: 1 = add blocks when full; 0 = fixed pool */
    int zero_clear;      /* 是否清零内存: 1 = every byte handed out reads as zero */
    int enable_stats;    /* 是否启用统计: 1 = keep the counters of nv_pool_stats_t */
    /* libnv additions; 0/NULL selects the default. */
    const nv_pool_backend_t *backend; /* NULL = nv_pool_backend_malloc; copied at creation */
    int passthrough; /* 1 = every allocation is its own backend allocation (debug
                      * mode for ASan/Valgrind/heap profilers); also turned on
                      * by the environment variable NV_POOL_PASSTHROUGH=1 */
    const char *name; /* label in logs, dumps and corruption reports; copied; NULL = "pool" */
    int thread_safe;  /* 1 = every function may be called on this pool from many threads
                       * at once (per-thread slots for alloc/free, one lock for the
                       * rest); 0 = one thread at a time */
} nv_pool_config_t;

/* The design document's default; the libnv additions are spelled out (all
 * defaults) so C++ compilers warning about missing initializers stay quiet. */
#define NV_POOL_CONFIG_DEFAULT { \
    .initial_size = 16 * 1024, \
    .max_size = 1024 * 1024, \
    .min_size = 4 * 1024, \
    .auto_extend = 1, \
    .zero_clear = 0, \
    .enable_stats = 1, \
    .backend = NULL, \
    .passthrough = 0, \
    .name = NULL, \
    .thread_safe = 0 \
}

#define NV_POOL_HISTOGRAM_BUCKETS 34

/* Statistics. Gauges are always exact; counters move only when the pool was
 * created with enable_stats = 1 (otherwise they stay 0). */
typedef struct nv_pool_stats_s {
    /* gauges */
    size_t size;           /* = nv_pool_get_size(): bytes held from the backend (blocks, large allocations, bookkeeping) */
    size_t used;           /* = nv_pool_get_used(): sum of the sizes requested by live allocations */
    size_t free;           /* = nv_pool_get_free(): bytes in blocks available without asking the backend */
    size_t peak_used;      /* highest `used` since creation or nv_pool_reset_stats (stats on) */
    size_t live_allocations; /* allocations not yet freed */
    size_t blocks;         /* normal blocks held */
    size_t large_allocations; /* large allocations held */
    size_t overhead;       /* bytes held but neither requested nor free: headers, redzones, padding, realloc reserves, bookkeeping */
    double fragmentation;  /* free bytes outside the largest free extent / all free bytes; 0 when nothing is free */
    /* counters (stats on only) */
    uint64_t allocations;  /* successful alloc/calloc/align calls (and realloc of NULL) */
    uint64_t frees;        /* successful nv_pool_free calls on non-NULL pointers (and realloc to 0) */
    uint64_t reallocations; /* successful nv_pool_realloc calls that resized a live allocation */
    uint64_t resets;       /* nv_pool_reset calls */
    uint64_t failed_allocations; /* allocation requests that returned NULL */
    uint64_t allocated_bytes;    /* sum of the sizes of those allocations */
    /* Allocation sizes (stats on), power-of-two buckets: bucket 0 counts
     * size 0; bucket i (1..NV_POOL_HISTOGRAM_BUCKETS-2) counts sizes in
     * [2^(i-1), 2^i - 1]; the last bucket counts everything larger. */
    uint64_t size_histogram[NV_POOL_HISTOGRAM_BUCKETS];
} nv_pool_stats_t;

/* Upper bound (inclusive) of histogram bucket i; SIZE_MAX for the last. */
size_t nv_pool_histogram_bucket_limit(unsigned bucket);

/* ---- creation and destruction ------------------------------------------ */

/* Creates a pool. NULL config = NV_POOL_CONFIG_DEFAULT. Returns NULL, after an
 * nv_log_error line naming the problem, for an inconsistent config
 * (initial_size or min_size above a non-zero max_size, sizes whose rounding
 * overflows) or when the backend cannot supply the pool's memory. */
nv_pool_t *nv_pool_create(const nv_pool_config_t *config);

/* nv_pool_create(NULL). */
nv_pool_t *nv_pool_create_default(void);

/* Returns all of the pool's memory to the backend. NULL does nothing. In a
 * leak-check build, first reports every live allocation with its site. Hardened
 * builds check every live chunk's canaries first. */
void nv_pool_destroy(nv_pool_t *pool);

/* ---- allocation --------------------------------------------------------- */

/* `size` bytes aligned to NV_POOL_ALIGNMENT. size 0 gives a unique non-NULL
 * pointer with no usable bytes. NULL and an nv_log_error line (pool
 * unchanged; counted as a failed allocation) for a size whose arithmetic
 * overflows, a request past max_size, a fixed pool without room, or a backend
 * failure; NULL and a log line for a NULL pool. */
void *nv_pool_alloc(nv_pool_t *pool, size_t size);

/* nmemb * size zeroed bytes (whatever zero_clear says). NULL when the product
 * overflows, and as nv_pool_alloc. */
void *nv_pool_calloc(nv_pool_t *pool, size_t nmemb, size_t size);

/* realloc(NULL, n) = alloc(n); realloc(p, 0) frees p and returns NULL.
 * Otherwise returns a pointer holding the first min(old, new) bytes of p;
 * shrinking, growing the last chunk of a block with room, and growing into
 * the reserve a moved chunk keeps (auto-extending pools without
 * max_size: room for half as much again as the old size, at most 4080
 * bytes) happen in
 * place. On failure returns NULL and p stays valid and unchanged. A p that is
 * not a live allocation of this pool gives NULL and a log line. The result is
 * aligned to NV_POOL_ALIGNMENT only: a moved chunk loses a larger alignment
 * from nv_pool_align. */
void *nv_pool_realloc(nv_pool_t *pool, void *ptr, size_t size);

/* `size` bytes at an address that is a multiple of `alignment`, which must be
 * a power of two no larger than NV_POOL_MAX_ALIGNMENT; otherwise NULL and an
 * nv_log_error line. Free it with nv_pool_free. */
void *nv_pool_align(nv_pool_t *pool, size_t size, size_t alignment);

/* nmemb elements of `size` bytes at `alignment`; NULL if nmemb * size
 * overflows. The engine behind nv_pool_alloc_array. */
void *nv_pool_align_array(nv_pool_t *pool, size_t nmemb, size_t size,
                          size_t alignment);

#if defined(__cplusplus)
#define NV_POOL_ALIGNOF(type) alignof(type)
#elif defined(__STDC_VERSION__) && __STDC_VERSION__ >= 201112L
#define NV_POOL_ALIGNOF(type) _Alignof(type)
#elif defined(__GNUC__)
#define NV_POOL_ALIGNOF(type) __alignof__(type)
#else
#define NV_POOL_ALIGNOF(type) NV_POOL_ALIGNMENT
#endif

/* One `type`, aligned for it. */
#define nv_pool_alloc_type(pool, type) \
    ((type *)nv_pool_align((pool), sizeof(type), NV_POOL_ALIGNOF(type)))

/* `count` elements of `type`, aligned for it; NULL if the size overflows. */
#define nv_pool_alloc_array(pool, type, count) \
    ((type *)nv_pool_align_array((pool), (count), sizeof(type), NV_POOL_ALIGNOF(type)))

/* ---- release ------------------------------------------------------------ */

/* Frees a live allocation: NV_OK. NULL ptr on a valid pool: NV_OK, nothing
 * done. Anything else (NULL pool, double free, foreign or interior pointer,
 * pointer from before the last reset): NV_ERROR, an nv_log_error line, pool
 * unchanged. Hardened builds check the chunk's canaries first: damage is
 * reported to the corruption handler and the chunk is never reused
 * (NV_ECORRUPT if the handler returns; NV_ERROR for a damaged header). */
int nv_pool_free(nv_pool_t *pool, void *ptr);

/* Invalidates every allocation at once: large allocations go back to the
 * backend, blocks are kept up to initial_size (a fixed pool keeps all). */
void nv_pool_reset(nv_pool_t *pool);

/* ---- growing and shrinking ---------------------------------------------- */

/* Adds a block with at least `size` usable bytes. NV_ERROR (pool unchanged,
 * a log line) for a NULL pool, size 0, a size past max_size or overflowing,
 * or when the backend refuses (contract §6). */
int nv_pool_extend(nv_pool_t *pool, size_t size);

/* Returns blocks holding no live allocation to the backend until `size` bytes
 * are released or none is left. NV_OK for a valid call, NV_ERROR for a NULL
 * pool. */
int nv_pool_shrink(nv_pool_t *pool, size_t size);

/* Merges neighbouring free chunks, rebuilds the free lists, and releases empty
 * blocks beyond initial_size. Live allocations never move. NV_OK; NV_ERROR
 * for a NULL pool; NV_ECORRUPT (after a report) when a damaged header makes a
 * block impossible to walk. */
int nv_pool_compact(nv_pool_t *pool);

/* ---- queries (0 for a NULL pool) ---------------------------------------- */

size_t nv_pool_get_size(nv_pool_t *pool); /* bytes held from the backend */
size_t nv_pool_get_used(nv_pool_t *pool); /* sum of live requested sizes */
size_t nv_pool_get_free(nv_pool_t *pool); /* bytes in blocks usable without the backend */
int nv_pool_is_empty(nv_pool_t *pool);    /* 1 exactly when nothing is live */
int nv_pool_is_full(nv_pool_t *pool);     /* 1 exactly when nv_pool_alloc(pool, 1) would fail now */

/* ---- statistics --------------------------------------------------------- */

/* Fills *stats (zeroes it for a NULL pool; NULL stats does nothing). */
void nv_pool_get_stats(nv_pool_t *pool, nv_pool_stats_t *stats);

/* Zeroes the counters and, with stats on, sets peak_used to the current use
 * (with stats off it stays 0). */
void nv_pool_reset_stats(nv_pool_t *pool);

/* Human-readable statistics on stdout / on `out`. */
void nv_pool_print_stats(nv_pool_t *pool);
void nv_pool_print_stats_to(nv_pool_t *pool, FILE *out);

/* ---- statistics for monitoring ------------------------------------------ */

/* The statistics as one line of JSON (ending in a newline): an object with
 * "pool" (the name) and every nv_pool_stats_t field under its own name,
 * "size_histogram" as an array of NV_POOL_HISTOGRAM_BUCKETS counts.
 * The buffer form behaves like snprintf: it returns the length of the whole
 * text (without the terminating NUL) and writes at most size - 1 characters
 * plus a NUL, so a result >= size means the text was truncated. The FILE
 * form returns the length written, or -1 (with a log line) if the stream
 * failed. Both return 0 and log for a NULL pool. */
size_t nv_pool_stats_json(nv_pool_t *pool, char *buffer, size_t size);
long nv_pool_stats_json_to(nv_pool_t *pool, FILE *out);

/* The statistics in the Prometheus text exposition format (version 0.0.4):
 * one metric family per field, named nv_pool_<field>[_bytes|_total] with a
 * pool="<name>" label, and the size histogram as
 * nv_pool_allocation_size_bytes (cumulative _bucket{le=...}, _sum, _count).
 * Same return conventions as the JSON functions. */
size_t nv_pool_stats_prometheus(nv_pool_t *pool, char *buffer, size_t size);
long nv_pool_stats_prometheus_to(nv_pool_t *pool, FILE *out);

/* ---- debugging ---------------------------------------------------------- */

/* Blocks, large allocations and live chunks (with sites in leak-check builds)
 * on stdout / on `out`. */
void nv_pool_dump(nv_pool_t *pool);
void nv_pool_dump_to(nv_pool_t *pool, FILE *out);

/* Walks the whole pool (blocks, free lists, every chunk's header and
 * canaries, counters) and reports each problem to the corruption handler,
 * whose default logs and aborts. */
void nv_pool_validate(nv_pool_t *pool);

/* As nv_pool_validate, but logs each problem with nv_log_error instead of
 * calling the handler, and returns how many it found (0 = healthy; a NULL pool
 * counts as one problem). */
size_t nv_pool_validate_count(nv_pool_t *pool);

/* ---- corruption reports ------------------------------------------------- */
/* Redzone and freed-chunk damage is found in hardened builds only; damaged
 * headers and inconsistent pool state are reported in every build. */

typedef enum nv_pool_corruption_kind_e {
    NV_POOL_CORRUPT_FRONT_REDZONE = 1, /* bytes before the chunk were overwritten (underflow) */
    NV_POOL_CORRUPT_BACK_REDZONE = 2,  /* bytes after the requested size were overwritten (overflow) */
    NV_POOL_CORRUPT_HEADER = 3,        /* the chunk header is damaged */
    NV_POOL_CORRUPT_FREED_CHUNK = 4,   /* a freed chunk was written (use after free) */
    NV_POOL_CORRUPT_POOL_STATE = 5,    /* lists, blocks or counters disagree */
    NV_POOL_CORRUPT_CONCURRENT_USE = 6 /* two threads inside a pool created without thread_safe */
} nv_pool_corruption_kind_t;

typedef struct nv_pool_corruption_s {
    const char *pool_name;   /* the config's name */
    const nv_pool_t *pool;
    const void *chunk;       /* the user pointer of the damaged chunk (NULL for pool state) */
    size_t requested;        /* its requested size (0 if unknown or freed) */
    nv_pool_corruption_kind_t kind;
    long offset;             /* first bad byte relative to `chunk`: >= requested for the back
                              * redzone, negative for the front redzone */
    const char *operation;   /* the call that found it: "nv_pool_free", "nv_pool_validate", ... */
    const char *file;        /* allocation site (leak-check builds), else NULL */
    int line;
    const char *function;
    const char *message;     /* one line describing the problem */
} nv_pool_corruption_t;

typedef void (*nv_pool_corruption_handler_t)(const nv_pool_corruption_t *report,
                                             void *context);

/* Process-wide. NULL restores the default, which logs the report with
 * nv_log_error and calls abort(). If a handler returns, the call that found
 * the damage fails (NV_ECORRUPT or NULL) and the chunk is quarantined. */
void nv_pool_set_corruption_handler(nv_pool_corruption_handler_t handler,
                                    void *context);

/* Formats a report as the default handler logs it. Returns `buffer`. */
const char *nv_pool_format_corruption(const nv_pool_corruption_t *report,
                                      char *buffer, size_t size);

/* 1 when redzones and canaries are compiled in (the default), 0 in builds
 * with --define nv_pool_hardening=off. */
int nv_pool_hardening_enabled(void);

/* ---- leak checking ------------------------------------------------------ */

/* Allocation functions that record the call site. The leak-check build
 * (--config=leakcheck, NV_POOL_LEAKCHECK) routes the public names to them;
 * elsewhere they are the plain functions and the site is ignored. */
void *nv_pool_alloc_at(nv_pool_t *pool, size_t size, const char *file,
                       int line, const char *function);
void *nv_pool_calloc_at(nv_pool_t *pool, size_t nmemb, size_t size,
                        const char *file, int line, const char *function);
void *nv_pool_realloc_at(nv_pool_t *pool, void *ptr, size_t size,
                         const char *file, int line, const char *function);
void *nv_pool_align_at(nv_pool_t *pool, size_t size, size_t alignment,
                       const char *file, int line, const char *function);
void *nv_pool_align_array_at(nv_pool_t *pool, size_t nmemb, size_t size,
                             size_t alignment, const char *file, int line,
                             const char *function);

/* Writes one line per live allocation (size, address and, in leak-check
 * builds, file:line and function) to `out` (NULL = through nv_log_warn) and
 * returns how many are live. The leak-check build's nv_pool_destroy calls it
 * with NULL when allocations are still live. */
size_t nv_pool_leak_report(nv_pool_t *pool, FILE *out);

/* 1 in leak-check builds (sites recorded), else 0. */
int nv_pool_leakcheck_enabled(void);

#if defined(NV_POOL_LEAKCHECK) && !defined(NV_POOL_BUILDING_LIBRARY)
#define nv_pool_alloc(pool, size) \
    nv_pool_alloc_at((pool), (size), __FILE__, __LINE__, __func__)
#define nv_pool_calloc(pool, nmemb, size) \
    nv_pool_calloc_at((pool), (nmemb), (size), __FILE__, __LINE__, __func__)
#define nv_pool_realloc(pool, ptr, size) \
    nv_pool_realloc_at((pool), (ptr), (size), __FILE__, __LINE__, __func__)
#define nv_pool_align(pool, size, alignment) \
    nv_pool_align_at((pool), (size), (alignment), __FILE__, __LINE__, __func__)
#define nv_pool_align_array(pool, nmemb, size, alignment)            \
    nv_pool_align_array_at((pool), (nmemb), (size), (alignment), __FILE__, \
                           __LINE__, __func__)
#endif

#ifdef __cplusplus
}
#endif

#endif /* NV_POOL_H */
