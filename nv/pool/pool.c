/*
 * pool.c - nv_pool: bump-pointer blocks, size-segregated free lists, a large
 * list, keyed chunk tags for ownership, and (hardened builds) redzones with
 * keyed canaries. Layouts and build switches: pool_internal.h. Tool hooks:
 * pool_track.h. Costs of each operation: docs/design.md.
 */
#define NV_POOL_BUILDING_LIBRARY 1
#define _GNU_SOURCE 1

#include "pool_internal.h"
#include "pool_track.h"

#include <fcntl.h>
#if defined(__linux__)
#include <linux/membarrier.h>
#endif
#include <limits.h>
#include <sched.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/* ======================================================================== */
/* Build-time checks                                                        */
/* ======================================================================== */

_Static_assert(NV_POOL_ALIGNMENT == _Alignof(max_align_t),
               "NV_POOL_ALIGNMENT must match max_align_t");
_Static_assert(NV_POOL_ALIGNMENT == NV_POOL_GRANULE, "granule is the alignment");
_Static_assert(1u << NV_POOL_GRANULE_SHIFT == NV_POOL_GRANULE, "granule shift");
_Static_assert(NV_POOL_HEADER_BYTES % 8 == 0 && NV_POOL_FRONT_REDZONE % 8 == 0,
               "chunk offsets are 0 or 8: user pointers stay on the 16-byte grid");
_Static_assert(sizeof(nv_pool_chunk_t) <= NV_POOL_HEADER_BYTES + 8 &&
                   offsetof(nv_pool_chunk_t, x) == 8,
               "a free chunk's header (tag, span, link) fits its first granule");
_Static_assert(sizeof(nv_pool_block_t) <= 64, "block header fits its slot");
_Static_assert(NV_POOL_EXACT_BINS == 64, "exact_mask has one bit per exact bin");
_Static_assert(SIZE_MAX > UINT32_MAX, "a block chunk's 32-bit size and span need a wider size_t");
_Static_assert(NV_POOL_FAST_MAX > 256, "fast path covers small requests");

#define BLOCK_HEADER_BYTES ((size_t)64) /* nv_pool_block_t, rounded up */
/* The smallest block: its header and one chunk of one byte, in granules. */
#define BLOCK_MIN_BYTES \
    round_up16(BLOCK_HEADER_BYTES + NV_POOL_CHUNK_OFFSET + span_bytes(live_span(1)))
#define LARGE_NODE_BYTES ((size_t)48)   /* nv_pool_large_t, rounded up */
_Static_assert(sizeof(nv_pool_large_t) <= LARGE_NODE_BYTES, "large node fits");
/* Room for a large chunk's prefix: the user pointer is 16-aligned. */
#define LARGE_PREFIX_BYTES (NV_POOL_PREFIX + NV_POOL_CHUNK_OFFSET)
/* A large chunk's least back redzone, whole granules: its allocation ends
 * where its redzone does, so a guard-page backend puts the canary right
 * against the guard page. */
#define LARGE_BACK_BYTES ((NV_POOL_BACK_REDZONE_MIN + NV_POOL_GRANULE - 1u) & ~(NV_POOL_GRANULE - 1u))


#if defined(__GNUC__) || defined(__clang__)
#define LIKELY(x) __builtin_expect(!!(x), 1)
#define UNLIKELY(x) __builtin_expect(!!(x), 0)
#define NOINLINE __attribute__((noinline))
#define ALWAYS_INLINE inline __attribute__((always_inline))
#else
#define ALWAYS_INLINE inline
#define LIKELY(x) (x)
#define UNLIKELY(x) (x)
#define NOINLINE
#endif

/* Allocation site, recorded only in leak-check builds. */
typedef struct site_s {
    const char *file;
    int line;
    const char *function;
} site_t;

/* ======================================================================== */
/* Small helpers                                                            */
/* ======================================================================== */

static inline size_t span_bytes(uint32_t span)
{
    return (size_t)span * NV_POOL_GRANULE;
}

/* 1 when a chunk of `span` granules at `at` (not above `top`) ends by
 * `top`: the test before a size read from a header that may be damaged is
 * trusted. */
static inline int span_fits(uint32_t span, const void *at, const char *top)
{
    return span_bytes(span) <= (size_t)(top - (const char *)at);
}

static inline char *chunk_user(nv_pool_chunk_t *chunk)
{
    return (char *)chunk + NV_POOL_PREFIX;
}

static inline nv_pool_chunk_t *user_chunk(void *user)
{
    return (nv_pool_chunk_t *)((char *)user - NV_POOL_PREFIX);
}

static inline size_t round_up16(size_t n)
{
    return (n + (NV_POOL_GRANULE - 1)) & ~(size_t)(NV_POOL_GRANULE - 1);
}

/* The bytes of a live chunk of `size` caller bytes: prefix, size and least
 * back redzone, rounded up to granules. Every live block chunk has exactly
 * this span (its header holds only the size). For sizes below 2^32 (a
 * header's) nothing can overflow: one add and one mask. The fast paths
 * index exact_bins with it (see exact_list). */
static ALWAYS_INLINE size_t live_bytes(size_t size)
{
    return round_up16(size + NV_POOL_PREFIX + NV_POOL_BACK_REDZONE_MIN);
}

/* live_bytes in granules. */
static ALWAYS_INLINE uint32_t live_span(size_t size)
{
    return (uint32_t)(live_bytes(size) >> NV_POOL_GRANULE_SHIFT);
}

/* The exact list of chunks of `bytes` bytes (a multiple of NV_POOL_GRANULE):
 * &exact_bins[bytes / NV_POOL_GRANULE].head, written as the byte offset it
 * is (a list is one granule long), because clang shifts down and up again
 * otherwise. */
static ALWAYS_INLINE nv_pool_chunk_t **exact_list(nv_pool_t *pool, size_t bytes)
{
    return (nv_pool_chunk_t **)((char *)pool->exact_bins + bytes);
}
_Static_assert(sizeof(nv_pool_exact_bin_t) == NV_POOL_GRANULE, "an exact list is one granule");

/* Granules a block chunk needs for `size` caller bytes; 0 if it cannot be a
 * block chunk (the size does not fit the header's 32 bits). */
static uint32_t request_span(size_t size)
{
    if (size >= NV_POOL_SIZE_LARGE)
        return 0;
    return live_span(size);
}

/* A growing chunk's tag is growing_tag with its reserve, in granules, in the
 * top byte (NV_POOL_TAG_RESERVE_SHIFT); the other tags differ from
 * growing_tag in the low 24 bits. */
#define TAG_KEY_MASK ((1u << NV_POOL_TAG_RESERVE_SHIFT) - 1u)

/* Live: a chunk the caller holds (growing: with a reserve behind its size). */
static inline int tag_is_live(const nv_pool_t *pool, uint32_t tag)
{
    return tag == pool->live_tag || ((tag ^ pool->growing_tag) & TAG_KEY_MASK) == 0;
}

/* Granules a live chunk holds past live_span(size): its reserve. */
static inline uint32_t tag_reserve(const nv_pool_t *pool, uint32_t tag)
{
    return tag == pool->live_tag ? 0 : (tag ^ pool->growing_tag) >> NV_POOL_TAG_RESERVE_SHIFT;
}

/* The tag of a live chunk with `reserve` granules of reserve (at most
 * NV_POOL_RESERVE_MAX). */
static inline uint32_t live_tag_with(const nv_pool_t *pool, uint32_t reserve)
{
    return reserve ? pool->growing_tag ^ (reserve << NV_POOL_TAG_RESERVE_SHIFT) : pool->live_tag;
}

/* Granules of a live block chunk: from its size and its tag. */
static inline uint32_t live_chunk_span(const nv_pool_t *pool, const nv_pool_chunk_t *chunk)
{
    return live_span(chunk->u.requested) + tag_reserve(pool, chunk->tag);
}

/* Granules of the chunk whose header holds `tag` and `word`: a live
 * chunk's follow from its size and tag, a free or quarantined chunk's are
 * the word; 0 for a tag the pool did not write. */
static inline uint32_t header_span(const nv_pool_t *pool, uint32_t tag, uint32_t word)
{
    if (tag_is_live(pool, tag))
        return live_span(word) + tag_reserve(pool, tag);
    if (tag == pool->free_tag || tag == pool->quarantine_tag)
        return word;
    return 0;
}

/* Granules of a block chunk whose header a walk has checked. */
static inline uint32_t chunk_span(const nv_pool_t *pool, const nv_pool_chunk_t *chunk)
{
    return header_span(pool, chunk->tag, chunk->u.span);
}

static nv_pool_large_t *large_find(const nv_pool_t *pool, const void *user);

/* The size the caller asked for, of a live block or large chunk. */
static size_t chunk_requested(const nv_pool_t *pool, nv_pool_chunk_t *chunk)
{
    if (chunk->u.requested == NV_POOL_SIZE_LARGE) {
        const nv_pool_large_t *large = large_find(pool, chunk_user(chunk));
        return large ? large->requested : 0;
    }
    return chunk->u.requested;
}

static inline int is_power_of_two(size_t x)
{
    size_t below = x - 1;
#if defined(__GNUC__) || defined(__clang__)
    /* Opaque to the optimizer: clang 14 turns the usual test into a
     * population count, a dozen instructions without -mpopcnt, on every
     * nv_pool_align call. */
    __asm__("" : "+r"(below));
#endif
    return x != 0 && (x & below) == 0;
}

static unsigned floor_log2(size_t x)
{
    unsigned r = 0;
    while (x >>= 1)
        r++;
    return r;
}

/* splitmix64's finalizer: a cheap, well-mixed 64-bit hash. */
static uint64_t mix64(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebull;
    x ^= x >> 31;
    return x;
}

/* ======================================================================== */
/* Corruption reports                                                       */
/* ======================================================================== */

static void default_corruption_handler(const nv_pool_corruption_t *report,
                                       void *context)
{
    char line[NV_LOG_LINE_MAX];
    (void)context;
    nv_log_error("%s", nv_pool_format_corruption(report, line, sizeof line));
    abort();
}

static nv_pool_corruption_handler_t corruption_handler = default_corruption_handler;
static void *corruption_context;

void nv_pool_set_corruption_handler(nv_pool_corruption_handler_t handler,
                                    void *context)
{
    corruption_handler = handler ? handler : default_corruption_handler;
    corruption_context = handler ? context : NULL;
}

static const char *kind_name(nv_pool_corruption_kind_t kind)
{
    switch (kind) {
    case NV_POOL_CORRUPT_FRONT_REDZONE:
        return "front redzone (underflow)";
    case NV_POOL_CORRUPT_BACK_REDZONE:
        return "back redzone (overflow)";
    case NV_POOL_CORRUPT_HEADER:
        return "chunk header";
    case NV_POOL_CORRUPT_FREED_CHUNK:
        return "freed chunk (write after free)";
    case NV_POOL_CORRUPT_POOL_STATE:
        return "pool state";
    case NV_POOL_CORRUPT_CONCURRENT_USE:
        return "single-thread use";
    }
    return "unknown";
}

const char *nv_pool_format_corruption(const nv_pool_corruption_t *report,
                                      char *buffer, size_t size)
{
    int n;
    if (!buffer || size == 0)
        return buffer;
    if (!report) {
        snprintf(buffer, size, "nv_pool corruption: (no report)");
        return buffer;
    }
    n = snprintf(buffer, size,
                 "nv_pool corruption in pool '%s' (%p): %s damaged; chunk %p, "
                 "requested %zu bytes, first bad byte at offset %ld; found by %s",
                 report->pool_name ? report->pool_name : "?",
                 (const void *)report->pool, kind_name(report->kind), report->chunk,
                 report->requested, report->offset,
                 report->operation ? report->operation : "?");
    if (n > 0 && (size_t)n < size && report->file)
        n += snprintf(buffer + n, size - (size_t)n, "; allocated at %s:%d (%s)",
                      report->file, report->line,
                      report->function ? report->function : "?");
    if (n > 0 && (size_t)n < size && report->message)
        snprintf(buffer + n, size - (size_t)n, "; %s", report->message);
    return buffer;
}

/* How a check reports: through the handler (validate, free, ...) or as a log
 * line and a count (nv_pool_validate_count). */
typedef struct checker_s {
    nv_pool_t *pool;
    const char *operation;
    int to_handler;
    size_t problems;
} checker_t;

static void report(checker_t *check, nv_pool_chunk_t *chunk, const void *user,
                   nv_pool_corruption_kind_t kind, long offset, const char *message)
{
    nv_pool_corruption_t r;
    memset(&r, 0, sizeof r);
    r.pool_name = check->pool->name;
    r.pool = check->pool;
    r.chunk = user;
    r.kind = kind;
    r.offset = offset;
    r.operation = check->operation;
    r.message = message;
    if (chunk && tag_is_live(check->pool, chunk->tag)) {
        r.requested = chunk_requested(check->pool, chunk);
#if NV_POOL_SITES
        r.file = chunk->x.site.file;
        r.line = (int)chunk->x.site.line;
        r.function = chunk->x.site.function;
#endif
    }
    check->problems++;
    if (check->to_handler) {
        corruption_handler(&r, corruption_context);
    } else {
        char line[NV_LOG_LINE_MAX];
        nv_log_error("%s", nv_pool_format_corruption(&r, line, sizeof line));
    }
}

/* ======================================================================== */
/* Threads: entering and leaving a pool                                     */
/* ======================================================================== */

/* A short wait in a spin loop; yields the CPU now and then. */
static inline void spin_pause(unsigned *spins)
{
    if (++*spins < 64) {
#if defined(__x86_64__) || defined(__i386__)
        __builtin_ia32_pause();
#endif
    } else {
        *spins = 0;
        sched_yield(); /* the holder may have been preempted */
    }
}

/* Any thread's identity: the address of its own copy of this byte.
 * initial-exec: an offset from the thread pointer, no call. The default
 * for position-independent code calls __tls_get_addr, which the linker
 * rewrites away but not the register saves the compiler made for the call
 * (four pushes and pops around every hardened fast path). A shared library
 * with it still loads by dlopen(): glibc keeps spare static TLS for small
 * initial-exec variables such as these two. */
#if defined(__GNUC__) || defined(__clang__)
#define NV_TLS_INITIAL_EXEC __attribute__((tls_model("initial-exec")))
#else
#define NV_TLS_INITIAL_EXEC
#endif
static _Thread_local char thread_identity NV_TLS_INITIAL_EXEC;

#if NV_POOL_HARDENING
static NOINLINE void concurrent_use(nv_pool_t *pool, const char *operation)
{
    checker_t check = {pool, operation, 1, 0};
    report(&check, NULL, NULL, NV_POOL_CORRUPT_CONCURRENT_USE, 0,
           "two threads were inside the pool at once; create it with thread_safe = 1 "
           "to share it");
}
#endif

/* Hardened builds note which thread is inside the pool, so a second thread
 * entering a pool that is not thread-safe is reported, before it touches
 * anything, instead of silently corrupting it. Nested calls from the same
 * thread are fine.
 *
 * Two ways to note it:
 * - Biased (the common case: a pool used by one thread). The first thread
 *   to use the pool owns the bias and marks itself inside with a plain
 *   store, then re-reads the bias: no atomic read-modify-write, which was a
 *   quarter of a hardened allocation's time.
 * - Exchanged: every entry swaps its identity into `owner` atomically, so of
 *   two overlapping entries the second always sees the first. (A plain load
 *   and store instead lets two threads both get in and corrupt the pool
 *   before either notices; ThreadsDeathTest caught it.)
 * Any other thread that enters a biased pool first revokes the bias for
 * good, then runs membarrier(2): every running thread of the process passes
 * a full barrier, so either the bias owner's "inside" store is visible to
 * the revoker, which reports, or the owner's re-read of the bias sees the
 * revocation and it takes the exchange instead. Thread-safe pools, and
 * kernels without membarrier, use the exchange only. A pool handed to
 * another thread pays one membarrier call, once. */
#if NV_POOL_HARDENING
static char bias_revoking, bias_revoked, token_biased_outer, token_biased_nested;
#define BIAS_REVOKING ((void *)&bias_revoking) /* one thread revoking; the others wait */
#define BIAS_REVOKED ((void *)&bias_revoked)
#define TOKEN_BIASED_OUTER ((void *)&token_biased_outer)
#define TOKEN_BIASED_NESTED ((void *)&token_biased_nested)

static int membarrier_ready; /* atomic: set by membarrier_register, cleared if a barrier fails */
static pthread_once_t membarrier_once = PTHREAD_ONCE_INIT;

static void membarrier_register(void)
{
#if defined(__linux__) && defined(__NR_membarrier)
    __atomic_store_n(&membarrier_ready,
                     syscall(__NR_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0) == 0,
                     __ATOMIC_RELAXED);
#endif
}

/* A full memory barrier on every running thread of the process; 0 if the
 * kernel refuses. */
static int barrier_everywhere(void)
{
#if defined(__linux__) && defined(__NR_membarrier)
    if (syscall(__NR_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0) == 0)
        return 1;
    /* A child after fork(2) is a new process, not registered yet. */
    return syscall(__NR_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0) == 0 &&
           syscall(__NR_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0) == 0;
#else
    return 0;
#endif
}

/* This thread enters a pool biased to another: takes the bias away, and
 * reports if its owner is inside. Three steps: REVOKING (anyone else who
 * enters now waits: it must not take the exchange while the owner may be
 * inside unseen), the barrier and the look at the owner's mark, REVOKED
 * (the exchange for everyone from then on; set before the report, so a
 * handler that blocks does not leave the others spinning). */
static NOINLINE void revoke_bias(nv_pool_t *pool, const char *operation)
{
    void *bias = __atomic_load_n(&pool->biased_to, __ATOMIC_ACQUIRE);
    unsigned spins = 0, waits;
    int inside;
    do {
        if (bias == BIAS_REVOKING) {
            while (__atomic_load_n(&pool->biased_to, __ATOMIC_ACQUIRE) == BIAS_REVOKING)
                spin_pause(&spins);
            return;
        }
        if (bias == BIAS_REVOKED || bias == NULL || bias == &thread_identity)
            return;
    } while (!__atomic_compare_exchange_n(&pool->biased_to, &bias, BIAS_REVOKING, 0,
                                          __ATOMIC_SEQ_CST, __ATOMIC_ACQUIRE));
    if (!barrier_everywhere()) {
        /* This side alone cannot make the owner's mark visible. Bias no new
         * pool, and give a mark still in the owner's store buffer (a few
         * hundred cycles at most in practice) time to land. */
        __atomic_store_n(&membarrier_ready, 0, __ATOMIC_RELAXED);
        __atomic_thread_fence(__ATOMIC_SEQ_CST);
        for (waits = 0; waits < 4096 && !__atomic_load_n(&pool->biased_inside, __ATOMIC_SEQ_CST);
             waits++)
            spin_pause(&spins);
    }
    inside = __atomic_load_n(&pool->biased_inside, __ATOMIC_SEQ_CST);
    __atomic_store_n(&pool->biased_to, BIAS_REVOKED, __ATOMIC_RELEASE);
    if (inside)
        concurrent_use(pool, operation);
}

static ALWAYS_INLINE void *owner_enter(nv_pool_t *pool, const char *operation);

/* Every entry that is not the bias owner's: claims the bias of a pool
 * nobody used yet, revokes another thread's, and takes the exchange. */
static NOINLINE void *owner_enter_exchange(nv_pool_t *pool, const char *operation)
{
    void *self = &thread_identity;
    void *bias = __atomic_load_n(&pool->biased_to, __ATOMIC_ACQUIRE);
    void *previous;
    if (bias == NULL) {
        void *claim;
        pthread_once(&membarrier_once, membarrier_register);
        claim = __atomic_load_n(&membarrier_ready, __ATOMIC_RELAXED) ? self : BIAS_REVOKED;
        if (__atomic_compare_exchange_n(&pool->biased_to, &bias, claim, 0, __ATOMIC_ACQ_REL,
                                        __ATOMIC_ACQUIRE)) {
            if (claim == self)
                return owner_enter(pool, operation);
            bias = BIAS_REVOKED;
        }
    }
    if (bias != BIAS_REVOKED && bias != self)
        revoke_bias(pool, operation);
    previous = __atomic_exchange_n(&pool->owner, self, __ATOMIC_ACQUIRE);
    if (UNLIKELY(previous != NULL && previous != self))
        concurrent_use(pool, operation);
    return previous;
}
#endif

/* The bias owner's entry from outside any call on the pool, and nothing
 * else: no call, so the fast paths that use it need no stack frame. NULL
 * for any other thread, for the owner of a pool whose bias was just
 * revoked, and for a call made from within a call (a corruption handler's
 * or a backend's): the caller then takes its slow path, which enters with
 * owner_enter. TOKEN_BIASED_OUTER otherwise, a constant, so a fast path
 * keeps no token in a register for owner_leave. */
static ALWAYS_INLINE void *owner_enter_outer(nv_pool_t *pool)
{
#if NV_POOL_HARDENING
    void *self = &thread_identity;
    if (LIKELY(__atomic_load_n(&pool->biased_to, __ATOMIC_RELAXED) == self &&
               !__atomic_load_n(&pool->biased_inside, __ATOMIC_RELAXED))) {
        __atomic_store_n(&pool->biased_inside, 1, __ATOMIC_RELAXED);
        /* The compiler must not move the re-read above the store; the CPU
         * may, and revoke_bias's membarrier covers that. */
        __atomic_signal_fence(__ATOMIC_SEQ_CST);
        if (LIKELY(__atomic_load_n(&pool->biased_to, __ATOMIC_RELAXED) == self))
            return TOKEN_BIASED_OUTER;
        __atomic_store_n(&pool->biased_inside, 0, __ATOMIC_RELAXED);
    }
    return NULL;
#else
    return pool; /* any non-NULL token: release builds have no owner check */
#endif
}

/* A fast path called by a slow path that has already entered. */
#if NV_POOL_HARDENING
#define OWNER_ALREADY_ENTERED TOKEN_BIASED_NESTED
#else
#define OWNER_ALREADY_ENTERED ((void *)&thread_identity)
#endif

/* Every thread, every way: returns the token owner_leave needs. */
static ALWAYS_INLINE void *owner_enter(nv_pool_t *pool, const char *operation)
{
#if NV_POOL_HARDENING
    void *token = owner_enter_outer(pool);
    if (token)
        return token;
    /* The bias owner, inside a call already (owner_enter_outer then left
     * its mark and the bias as they were). */
    if (__atomic_load_n(&pool->biased_to, __ATOMIC_RELAXED) == (void *)&thread_identity &&
        __atomic_load_n(&pool->biased_inside, __ATOMIC_RELAXED))
        return TOKEN_BIASED_NESTED;
    return owner_enter_exchange(pool, operation);
#else
    (void)pool;
    (void)operation;
    return NULL;
#endif
}

static ALWAYS_INLINE void owner_leave(nv_pool_t *pool, void *token)
{
#if NV_POOL_HARDENING
    if (token == TOKEN_BIASED_OUTER)
        __atomic_store_n(&pool->biased_inside, 0, __ATOMIC_RELEASE);
    else if (token != TOKEN_BIASED_NESTED)
        __atomic_store_n(&pool->owner, token, __ATOMIC_RELEASE);
#else
    (void)pool;
    (void)token;
#endif
}

static int lock_init(nv_pool_lock_t *lock)
{
    pthread_mutexattr_t attributes;
    int failed = pthread_mutexattr_init(&attributes) != 0;
#if defined(__GLIBC__)
    /* Spins a little before sleeping: the work under the lock is short. */
    failed = failed || pthread_mutexattr_settype(&attributes, PTHREAD_MUTEX_ADAPTIVE_NP) != 0;
#endif
    failed = failed || pthread_mutex_init(&lock->mutex, &attributes) != 0;
    pthread_mutexattr_destroy(&attributes);
    lock->holder = NULL;
    lock->depth = 0;
    return !failed;
}

/* Takes the lock; 1 for the outermost call of this thread, 0 when nested. */
static inline int lock_take(nv_pool_lock_t *lock)
{
    void *self = &thread_identity;
    /* Only this thread can have stored `self` there, so a relaxed read is
     * enough to tell a nested call from a first one. */
    if (__atomic_load_n(&lock->holder, __ATOMIC_RELAXED) == self) {
        lock->depth++;
        return 0;
    }
    pthread_mutex_lock(&lock->mutex);
    __atomic_store_n(&lock->holder, self, __ATOMIC_RELAXED);
    lock->depth = 1;
    return 1;
}

static inline void lock_give(nv_pool_lock_t *lock)
{
    if (--lock->depth == 0) {
        __atomic_store_n(&lock->holder, NULL, __ATOMIC_RELAXED);
        pthread_mutex_unlock(&lock->mutex);
    }
}

/* Every public call on a pool that can reach the slow paths: the pool's lock
 * (thread-safe pools) and the owner check. The unlocked fast paths never run
 * on thread-safe pools (fast_limit is 0 there); alloc_slow and free_slow run
 * the same fast paths under the lock instead. */
static void slots_stop(nv_pool_t *pool, int give_back);

/* `give_back` 0 is for the slots' own refills and overflows: the slots'
 * counts are folded into the pool but their cached chunks stay; every public
 * call uses 1, so it sees one pool with every free chunk on its lists. */
static inline void *pool_enter_mode(nv_pool_t *pool, const char *operation, int give_back)
{
    if (pool->thread_safe) {
        int outermost = lock_take(&pool->lock);
        /* A nested call (from a corruption handler, say) that needs the
         * whole pool gets the chunks back too. */
        if (pool->slots && (outermost || give_back))
            slots_stop(pool, give_back);
    }
    return owner_enter(pool, operation);
}

static inline void *pool_enter(nv_pool_t *pool, const char *operation)
{
    return pool_enter_mode(pool, operation, 1);
}

static inline void pool_leave(nv_pool_t *pool, void *previous)
{
    owner_leave(pool, previous);
    if (pool->thread_safe) {
        if (pool->slots && pool->lock.depth == 1)
            __atomic_store_n(&pool->slots_stopped, 0, __ATOMIC_RELEASE);
        lock_give(&pool->lock);
    }
}

/* ======================================================================== */
/* Canaries and fill patterns (hardened builds)                             */
/* ======================================================================== */

/* Where a live chunk's back redzone ends: at live_span(size) in a block
 * (a growing chunk's reserve follows, holding the freed pattern), at the
 * end of its allocation if large. */
static char *chunk_limit(nv_pool_chunk_t *chunk, const nv_pool_large_t *large)
{
    if (large)
        return (char *)large->base + large->size;
    return (char *)chunk + span_bytes(live_span(chunk->u.requested));
}

#if NV_POOL_HARDENING
_Static_assert(NV_POOL_FRONT_REDZONE == 8, "the front redzone is one word");
/* Per-chunk canary key: the pool secret mixed with the chunk's address (an
 * odd multiplier keeps distinct addresses distinct). */
static inline uint64_t chunk_key(const nv_pool_t *pool, const void *chunk)
{
    return pool->canary_secret ^ ((uint64_t)(uintptr_t)chunk * 0x9e3779b97f4a7c15ull);
}

/* The canary byte at `at`: byte (at mod 8) of the key as it lies in memory,
 * so an 8-aligned word of canary is the key itself. */
static inline unsigned char canary_byte(uint64_t key, const unsigned char *at)
{
    unsigned char bytes[8];
    memcpy(bytes, &key, sizeof bytes);
    return bytes[(uintptr_t)at & 7u];
}

/* Redzones are written and checked 8 bytes at a time with unaligned
 * accesses that start at the redzone's first byte and end at its last, so
 * they never touch a caller's byte (in a thread-safe pool,
 * nv_pool_validate runs while other threads write their chunks' bytes).
 * An 8-byte access at `at` sees the canary rotated by `at` mod 8.
 * Little-endian: the lower address is the lower byte of a word. */
_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "canary words assume little-endian");

static inline uint64_t canary_word(uint64_t key, const unsigned char *at)
{
    unsigned shift = (unsigned)((uintptr_t)at & 7u) * 8u;
    return (key >> shift) | (key << ((64u - shift) & 63u));
}

/* A redzone of 8-24 bytes (every block chunk's back one: rounding slack
 * plus NV_POOL_BACK_REDZONE_MIN) takes three accesses and no loop: the
 * first word, the word after it when the redzone is longer than 16 bytes
 * (else the first again), and the last word (they may overlap). */
#define REDZONE_SHORT(from, to) ((size_t)((to) - (from)) - 8u <= 16u)
_Static_assert(NV_POOL_BACK_REDZONE_MIN >= 8u, "a back redzone holds at least one word");
_Static_assert(NV_POOL_CHUNK_OFFSET % 8u == 0 && NV_POOL_GRANULE % 8u == 0,
               "block chunks end 8-aligned (guard_fast)");

/* An unaligned 8-byte store. The value is a parameter, not the caller's
 * local: clang kept locals whose address went to memcpy in stack slots,
 * which gave the hardened fast path a frame. */
static ALWAYS_INLINE void store_word(unsigned char *at, uint64_t value)
{
    memcpy(at, &value, sizeof value);
}

/* The second word of a short redzone of `bytes` bytes: 8 bytes in when the
 * redzone is longer than 16 bytes, else the first word again. Without a
 * branch: the rounding slack is as random as the sizes. */
static ALWAYS_INLINE size_t short_middle(size_t bytes)
{
    return (size_t)(bytes > 16u) * 8u;
}

/* The 8-24 byte case, inline: every redzone the fast paths write. `last`
 * is canary_word(key, from + bytes), which the fast path knows without
 * computing. */
static ALWAYS_INLINE void canary_store_short(uint64_t key, unsigned char *from, size_t bytes,
                                             uint64_t last)
{
    /* A word at from + 8 has the same address mod 8 as `from`, and the one
     * at the end - 8 the same as the end. */
    uint64_t word = canary_word(key, from);
    store_word(from, word);
    store_word(from + short_middle(bytes), word);
    store_word(from + bytes - 8, last);
}

static ALWAYS_INLINE int canary_intact_short(uint64_t key, const unsigned char *from,
                                             const unsigned char *to)
{
    uint64_t word = canary_word(key, from), last = canary_word(key, to);
    uint64_t a, b, d;
    memcpy(&a, from, 8);
    memcpy(&b, from + short_middle((size_t)(to - from)), 8);
    memcpy(&d, to - 8, 8);
    return ((a ^ word) | (b ^ word) | (d ^ last)) == 0;
}

/* Any length. Out of line: the fast paths inline only the short case, so
 * they call nothing and keep no registers saved. */
static NOINLINE void canary_store(uint64_t key, unsigned char *from, unsigned char *to)
{
    uint64_t word = canary_word(key, from), last = canary_word(key, to);
    if (REDZONE_SHORT(from, to)) {
        canary_store_short(key, from, (size_t)(to - from), last);
    } else if ((size_t)(to - from) < 8) {
        for (; from < to; from++)
            *from = canary_byte(key, from);
    } else {
        for (; from + 8 < to; from += 8)
            memcpy(from, &word, 8);
        memcpy(to - 8, &last, 8);
    }
}

static NOINLINE int canary_intact_long(uint64_t key, const unsigned char *from,
                                       const unsigned char *to)
{
    uint64_t word = canary_word(key, from), last = canary_word(key, to);
    uint64_t a, d, diff = 0;
    if ((size_t)(to - from) < 8) {
        for (; from < to; from++)
            diff |= (uint64_t)(*from ^ canary_byte(key, from));
        return diff == 0;
    }
    for (; from + 8 < to; from += 8) {
        memcpy(&a, from, 8);
        diff |= a ^ word;
    }
    memcpy(&d, to - 8, 8);
    return (diff | (d ^ last)) == 0;
}

static ALWAYS_INLINE int canary_intact(uint64_t key, const unsigned char *from,
                                       const unsigned char *to)
{
    if (LIKELY(REDZONE_SHORT(from, to)))
        return canary_intact_short(key, from, to);
    return canary_intact_long(key, from, to);
}

#define FREED_WORD (0x0101010101010101ull * NV_POOL_FILL_FREED)

/* Freed-chunk fill over [from, to): whole granules (16-aligned ends), so
 * a granule per step, half the loop overhead of a word per step. */
static inline void freed_store(unsigned char *from, unsigned char *to)
{
    uint64_t word = FREED_WORD;
    for (; from < to; from += NV_POOL_GRANULE) {
        memcpy(from, &word, 8);
        memcpy(from + 8, &word, 8);
    }
}

static inline int freed_intact(const unsigned char *from, const unsigned char *to)
{
    for (; from < to; from += NV_POOL_GRANULE) {
        uint64_t low, high;
        memcpy(&low, from, 8);
        memcpy(&high, from + 8, 8);
        if (((low ^ FREED_WORD) | (high ^ FREED_WORD)) != 0)
            return 0;
    }
    return 1;
}

/* The pool's own redzone and fill accesses: the region is opened to the
 * tools around them. Reports use the byte loops below to name the first bad
 * byte; memset/memcmp are avoided (ASan intercepts them). */
static void canary_write(nv_pool_t *pool, const void *chunk, unsigned char *from,
                         unsigned char *to)
{
    track_open(pool, from, (size_t)(to - from));
    canary_store(chunk_key(pool, chunk), from, to);
    track_close(pool, from, (size_t)(to - from));
}

/* The first damaged byte of a redzone, or NULL. Intact redzones are the
 * common case (reset and destroy check every live chunk): canary_intact
 * settles them; only damage takes the byte loop that finds the first bad
 * byte. */
static unsigned char *canary_find_damage(nv_pool_t *pool, const void *chunk,
                                         unsigned char *from, unsigned char *to)
{
    uint64_t key = chunk_key(pool, chunk);
    unsigned char *p, *bad = NULL;
    track_open(pool, from, (size_t)(to - from));
    if (!canary_intact(key, from, to))
        for (p = from; p < to; p++)
            if (*p != canary_byte(key, p)) {
                bad = p;
                break;
            }
    track_close(pool, from, (size_t)(to - from));
    return bad;
}

static void fill_freed(nv_pool_t *pool, unsigned char *from, unsigned char *to)
{
    track_open(pool, from, (size_t)(to - from));
    freed_store(from, to);
    track_close(pool, from, (size_t)(to - from));
}

static unsigned char *freed_find_damage(nv_pool_t *pool, unsigned char *from,
                                        unsigned char *to)
{
    unsigned char *p, *bad = NULL;
    track_open(pool, from, (size_t)(to - from));
    /* Intact words first (the common case: a realloc checks every reserve
     * byte it takes), then bytes from the first word that differs. */
    for (p = from; (size_t)(to - p) >= sizeof(uint64_t); p += sizeof(uint64_t)) {
        uint64_t word;
        memcpy(&word, p, sizeof word);
        if (word != FREED_WORD)
            break;
    }
    for (; p < to; p++)
        if (*p != NV_POOL_FILL_FREED) {
            bad = p;
            break;
        }
    track_close(pool, from, (size_t)(to - from));
    return bad;
}

/* The front redzone is one word: the key mixed with the chunk's extent, its
 * size (the low 32 bits of a large chunk's) and its reserve, times an odd
 * constant. A size or reserve damaged in the header then disagrees with a
 * front word that still decodes to a 40-bit extent, while damage to the
 * word itself decodes to a wider value (all but one in 2^24 of them). The
 * back redzone's canary is the key. */
#define FRONT_SIZE_MUL 0xd6e8feb86659fd93ull
#define FRONT_SIZE_MUL_INVERSE 0xcfee444d8b59a89bull
_Static_assert(FRONT_SIZE_MUL * FRONT_SIZE_MUL_INVERSE == 1, "inverse mod 2^64");
static ALWAYS_INLINE uint64_t front_sized(size_t size, uint32_t reserve)
{
    return ((uint64_t)reserve << 32 | (uint32_t)size) * FRONT_SIZE_MUL;
}

/* Hardened fast-path pieces: word-wise redzones; under ASan the region is
 * unpoisoned around the pool's own access (the fast paths never run under
 * Valgrind: fast_limit is 0 there). The fast paths' chunks have no reserve. */
static inline void guard_fast(const nv_pool_t *pool, nv_pool_chunk_t *chunk,
                              unsigned char *user, size_t size, size_t bytes)
{
    uint64_t key = chunk_key(pool, chunk);
    /* Always short: a fast-path chunk's span is exactly live_span(size),
     * so its back redzone is the rounding slack plus
     * NV_POOL_BACK_REDZONE_MIN. */
    size_t back = bytes - NV_POOL_PREFIX - size;
    asan_unpoison(user - NV_POOL_FRONT_REDZONE, size + back + NV_POOL_FRONT_REDZONE);
    /* front_sized(size, 0) without its 32-bit cast, which cost a register
     * move: a fast-path size is below NV_POOL_FAST_MAX (asserted below
     * 2^32 after this function). */
    store_word(user - 8, key ^ (uint64_t)size * FRONT_SIZE_MUL);
    /* A block chunk ends 8-aligned, where the canary word is the key. */
    canary_store_short(key, user + size, back, key);
    asan_poison(user - NV_POOL_FRONT_REDZONE, NV_POOL_FRONT_REDZONE);
    asan_poison(user + size, back);
}
_Static_assert(NV_POOL_FAST_MAX < (1ull << 32), "guard_fast: (uint32_t)size == size");

/* The front word first: it vouches for the size, so a damaged size never
 * sends the back redzone check (and its opening to ASan) over a
 * neighbour. */
static inline int guards_intact_fast(const nv_pool_t *pool, nv_pool_chunk_t *chunk,
                                     unsigned char *user, size_t size, uint32_t reserve,
                                     unsigned char *limit)
{
    uint64_t key = chunk_key(pool, chunk), front;
    int ok;
    asan_unpoison(user - NV_POOL_FRONT_REDZONE, NV_POOL_FRONT_REDZONE);
    memcpy(&front, user - 8, 8);
    asan_poison(user - NV_POOL_FRONT_REDZONE, NV_POOL_FRONT_REDZONE);
    if ((front ^ key ^ front_sized(size, reserve)) != 0)
        return 0;
    asan_unpoison(user + size, (size_t)(limit - (user + size)));
    ok = canary_intact(key, user + size, limit);
    asan_poison(user + size, (size_t)(limit - (user + size)));
    return ok;
}

static inline int freed_intact_fast(nv_pool_chunk_t *chunk, unsigned char *limit)
{
    unsigned char *from = (unsigned char *)chunk + NV_POOL_FREE_HEADER_BYTES;
    int ok;
    asan_unpoison(from, (size_t)(limit - from));
    ok = freed_intact(from, limit);
    asan_poison(from, (size_t)(limit - from));
    return ok;
}

static inline void freed_store_fast(nv_pool_chunk_t *chunk, unsigned char *limit)
{
    unsigned char *from = (unsigned char *)chunk + NV_POOL_FREE_HEADER_BYTES;
    asan_unpoison(from, (size_t)(limit - from));
    freed_store(from, limit);
    asan_poison(from, (size_t)(limit - from));
}

/* A live chunk of `size` bytes ending at `limit`: its size fits the chunk
 * (one that does not means a damaged header, and the back redzone check
 * must not run past the chunk) and both redzones verify. */
static ALWAYS_INLINE int live_guards_intact(const nv_pool_t *pool, nv_pool_chunk_t *chunk,
                                            unsigned char *user, size_t size, uint32_t reserve,
                                            unsigned char *limit)
{
    return size <= (size_t)(limit - user) - NV_POOL_BACK_REDZONE_MIN &&
           guards_intact_fast(pool, chunk, user, size, reserve, limit);
}

/* A live chunk's reserve as its tag says (large chunks have none). */
static inline uint32_t chunk_reserve(const nv_pool_t *pool, const nv_pool_chunk_t *chunk)
{
    return tag_is_live(pool, chunk->tag) ? tag_reserve(pool, chunk->tag) : 0;
}

/* The front redzone's bytes for a chunk of `size` bytes and `reserve`
 * granules under `key`. */
static void front_expected(uint64_t key, size_t size, uint32_t reserve,
                           unsigned char out[NV_POOL_FRONT_REDZONE])
{
    uint64_t word = key ^ front_sized(size, reserve);
    memcpy(out, &word, 8);
}

/* Writes both redzones of a live chunk of `size` bytes ending at `limit`
 * (its tag, and so its reserve, already set). */
static void guard_chunk(nv_pool_t *pool, nv_pool_chunk_t *chunk, size_t size, char *limit)
{
    unsigned char *user = (unsigned char *)chunk_user(chunk);
    unsigned char front[NV_POOL_FRONT_REDZONE];
    front_expected(chunk_key(pool, chunk), size, chunk_reserve(pool, chunk), front);
    track_open(pool, user - NV_POOL_FRONT_REDZONE, NV_POOL_FRONT_REDZONE);
    memcpy(user - NV_POOL_FRONT_REDZONE, front, NV_POOL_FRONT_REDZONE);
    track_close(pool, user - NV_POOL_FRONT_REDZONE, NV_POOL_FRONT_REDZONE);
    canary_write(pool, chunk, user + size, (unsigned char *)limit);
}

/* Both redzones of a live chunk intact, by the fast paths' word-wise check;
 * 0 when in doubt. Not under Valgrind, whose tracked reads
 * check_chunk_guards makes. Inline, so walking every live chunk (reset,
 * destroy) calls nothing per chunk. */
static ALWAYS_INLINE int chunk_guards_intact(nv_pool_t *pool, nv_pool_chunk_t *chunk, size_t size,
                                             char *limit)
{
    return LIKELY(!NV_TRACK_VG(pool)) &&
           live_guards_intact(pool, chunk, (unsigned char *)chunk_user(chunk), size,
                              chunk_reserve(pool, chunk), (unsigned char *)limit);
}

/* The size and reserve the front redzone vouches for; 0 when the redzone
 * does not decode as one. Only peeks: the chunk may be any bytes. */
static int front_vouches(nv_pool_t *pool, nv_pool_chunk_t *chunk, size_t *size,
                         uint32_t *reserve)
{
    unsigned char *user = (unsigned char *)chunk_user(chunk);
    uint64_t key = chunk_key(pool, chunk), front;
    track_peek(pool, user - NV_POOL_FRONT_REDZONE, &front, sizeof front);
    front = (front ^ key) * FRONT_SIZE_MUL_INVERSE;
    if (front >> 32 > NV_POOL_RESERVE_MAX)
        return 0;
    *size = (uint32_t)front;
    *reserve = (uint32_t)(front >> 32);
    return 1;
}

/* Checks both redzones of a live chunk of `size` bytes; reports and returns
 * 0 on damage. A front redzone that vouches for another size means the size
 * in the header was overwritten: reported as a damaged header. */
static int check_chunk_guards(checker_t *check, nv_pool_chunk_t *chunk, size_t size, char *limit)
{
    nv_pool_t *pool = check->pool;
    unsigned char *user = (unsigned char *)chunk_user(chunk);
    unsigned char front[NV_POOL_FRONT_REDZONE], *bad = NULL;
    uint32_t reserve = chunk_reserve(pool, chunk), vouched_reserve;
    size_t vouched_size, i;
    int ok = 1;
    /* The word-wise check first, and only on a mismatch the byte search
     * that finds and reports the first damaged byte. */
    if (chunk_guards_intact(pool, chunk, size, limit))
        return 1;
    if (front_vouches(pool, chunk, &vouched_size, &vouched_reserve) &&
        (vouched_size != size || vouched_reserve != reserve) &&
        chunk->u.requested != NV_POOL_SIZE_LARGE) {
        report(check, NULL, user, NV_POOL_CORRUPT_HEADER, -(long)NV_POOL_PREFIX,
               "the size or reserve in the chunk header was overwritten");
        return 0;
    }
    front_expected(chunk_key(pool, chunk), size, reserve, front);
    track_open(pool, user - NV_POOL_FRONT_REDZONE, NV_POOL_FRONT_REDZONE);
    for (i = 0; i < NV_POOL_FRONT_REDZONE && !bad; i++)
        if ((user - NV_POOL_FRONT_REDZONE)[i] != front[i])
            bad = user - NV_POOL_FRONT_REDZONE + i;
    track_close(pool, user - NV_POOL_FRONT_REDZONE, NV_POOL_FRONT_REDZONE);
    if (bad) {
        report(check, chunk, user, NV_POOL_CORRUPT_FRONT_REDZONE, (long)(bad - user),
               "a write before the start of the allocation (underflow)");
        ok = 0;
    }
    bad = canary_find_damage(pool, chunk, user + size, (unsigned char *)limit);
    if (bad) {
        report(check, chunk, user, NV_POOL_CORRUPT_BACK_REDZONE, (long)(bad - user),
               "a write past the requested size (overflow)");
        ok = 0;
    }
    return ok;
}

/* [from, to) of `chunk` must still hold the freed pattern; reports the
 * first bad byte as `kind` and returns 0 otherwise. */
static int check_pattern(checker_t *check, nv_pool_chunk_t *chunk, unsigned char *from,
                         unsigned char *to, nv_pool_corruption_kind_t kind, const char *message)
{
    unsigned char *bad = from < to ? freed_find_damage(check->pool, from, to) : NULL;
    if (bad) {
        unsigned char *user = (unsigned char *)chunk_user(chunk);
        report(check, chunk, user, kind, (long)(bad - user), message);
        return 0;
    }
    return 1;
}

/* A free chunk's bytes after its header and link. */
static int check_freed_chunk(checker_t *check, nv_pool_chunk_t *chunk)
{
    return check_pattern(check, chunk, (unsigned char *)chunk + NV_POOL_FREE_HEADER_BYTES,
                         (unsigned char *)chunk + span_bytes(chunk->u.span),
                         NV_POOL_CORRUPT_FREED_CHUNK, "a write into freed memory (use after free)");
}

/* A growing chunk's reserve, after its back redzone. */
static int check_reserve(checker_t *check, nv_pool_chunk_t *chunk)
{
    unsigned char *from = (unsigned char *)chunk_limit(chunk, NULL);
    return check_pattern(check, chunk, from,
                         from + span_bytes(tag_reserve(check->pool, chunk->tag)),
                         NV_POOL_CORRUPT_BACK_REDZONE,
                         "a write past the back redzone, into the chunk's reserve (overflow)");
}

/* The part of a growing chunk's reserve that a growth in place to `size`
 * takes: it becomes caller's bytes and back redzone, rewritten without
 * being read, so a write that skipped the back redzone and landed there
 * would be lost. Checked first; the rest of the reserve is left to free
 * and validate, so an append costs what it takes, not the whole reserve. */
static int reserve_taken_intact(checker_t *check, nv_pool_chunk_t *chunk, int large, size_t old,
                                size_t size)
{
    uint32_t reserve = large ? 0 : chunk_reserve(check->pool, chunk);
    uint32_t span = request_span(size);
    unsigned char *from, *to, *end;
    if (reserve == 0 || span == 0 || size <= old)
        return 1;
    from = (unsigned char *)chunk_limit(chunk, NULL);
    end = from + span_bytes(reserve);
    to = (unsigned char *)chunk + span_bytes(span);
    return check_pattern(check, chunk, from, to < end ? to : end, NV_POOL_CORRUPT_BACK_REDZONE,
                         "a write past the back redzone, into the chunk's reserve (overflow)");
}

/* Does the front redzone before `user` verify, for a chunk that fits below
 * `top`? Tells a damaged header apart from a pointer that never was a
 * chunk, so it only peeks. */
static int front_redzone_intact(nv_pool_t *pool, nv_pool_chunk_t *chunk, const char *top)
{
    size_t size;
    uint32_t reserve;
    return front_vouches(pool, chunk, &size, &reserve) &&
           span_fits(live_span(size) + reserve, chunk, top);
}
#else
static inline void guard_chunk(nv_pool_t *pool, nv_pool_chunk_t *chunk, size_t size, char *limit)
{
    (void)pool;
    (void)chunk;
    (void)size;
    (void)limit;
}
static inline int chunk_guards_intact(nv_pool_t *pool, nv_pool_chunk_t *chunk, size_t size,
                                      char *limit)
{
    (void)pool;
    (void)chunk;
    (void)size;
    (void)limit;
    return 1;
}
static inline int check_chunk_guards(checker_t *check, nv_pool_chunk_t *chunk, size_t size,
                                     char *limit)
{
    (void)check;
    (void)chunk;
    (void)size;
    (void)limit;
    return 1;
}
static inline int front_vouches(nv_pool_t *pool, nv_pool_chunk_t *chunk, size_t *size,
                                uint32_t *reserve)
{
    (void)pool;
    (void)chunk;
    (void)size;
    (void)reserve;
    return 0;
}
static inline int check_freed_chunk(checker_t *check, nv_pool_chunk_t *chunk)
{
    (void)check;
    (void)chunk;
    return 1;
}
static inline int check_reserve(checker_t *check, nv_pool_chunk_t *chunk)
{
    (void)check;
    (void)chunk;
    return 1;
}
static inline int reserve_taken_intact(checker_t *check, nv_pool_chunk_t *chunk, int large,
                                       size_t old, size_t size)
{
    (void)check;
    (void)chunk;
    (void)large;
    (void)old;
    (void)size;
    return 1;
}
static inline void fill_freed(nv_pool_t *pool, unsigned char *from, unsigned char *to)
{
    (void)pool;
    (void)from;
    (void)to;
}
static inline int front_redzone_intact(nv_pool_t *pool, nv_pool_chunk_t *chunk, const char *top)
{
    (void)pool;
    (void)chunk;
    (void)top;
    return 0;
}
#define guard_fast(pool, chunk, user, size, bytes) ((void)0)
#define freed_intact_fast(chunk, limit) 1
#define freed_store_fast(chunk, limit) ((void)0)
#define live_guards_intact(pool, chunk, user, size, reserve, limit) 1
#endif

int nv_pool_hardening_enabled(void)
{
    return NV_POOL_HARDENING;
}

int nv_pool_leakcheck_enabled(void)
{
    return NV_POOL_SITES;
}

/* ======================================================================== */
/* Backend and accounting                                                   */
/* ======================================================================== */

static void *malloc_backend_alloc(void *context, size_t size)
{
    (void)context;
    return malloc(size);
}

static void malloc_backend_release(void *context, void *memory, size_t size)
{
    (void)context;
    (void)size;
    free(memory);
}

const nv_pool_backend_t nv_pool_backend_malloc = {malloc_backend_alloc,
                                                  malloc_backend_release, NULL};

/* Would holding `extra` more bytes stay within max_size? */
static int within_budget(const nv_pool_t *pool, size_t extra)
{
    if (pool->max_size == 0)
        return 1;
    return pool->held <= pool->max_size && extra <= pool->max_size - pool->held;
}

/* Gets `size` bytes for the pool from its backend, keeping `held` exact.
 * Callers check the budget first. */
static void *backend_get(nv_pool_t *pool, size_t size)
{
    void *memory = pool->backend.alloc(pool->backend.context, size);
    if (!memory)
        return NULL;
    if (((uintptr_t)memory & (NV_POOL_ALIGNMENT - 1)) != 0) {
        nv_log_error("nv_pool '%s': backend returned %p, not %d-byte aligned",
                     pool->name, memory, NV_POOL_ALIGNMENT);
        pool->backend.release(pool->backend.context, memory, size);
        return NULL;
    }
    pool->held += size;
    return memory;
}

static void backend_put(nv_pool_t *pool, void *memory, size_t size)
{
    track_release(pool, memory, size);
    pool->held -= size;
    pool->backend.release(pool->backend.context, memory, size);
}

/* Grows an array of pointers kept by the pool (block index, large table). */
static int grow_array(nv_pool_t *pool, void ***array, size_t *capacity,
                      size_t wanted, size_t keep)
{
    void **fresh;
    if (wanted > SIZE_MAX / sizeof(void *)) return 0;
    if (!within_budget(pool, wanted * sizeof(void *)))
        return 0;
    fresh = (void **)backend_get(pool, wanted * sizeof(void *));
    if (!fresh)
        return 0;
    memset(fresh, 0, wanted * sizeof(void *));
    if (*array) {
        memcpy(fresh, *array, keep * sizeof(void *));
        backend_put(pool, *array, *capacity * sizeof(void *));
    }
    *array = fresh;
    *capacity = wanted;
    return 1;
}

/* ======================================================================== */
/* Free lists                                                               */
/* ======================================================================== */

/* A free chunk's list link lies past its 8-byte header: in what were the
 * caller's bytes (release builds), the front redzone (hardened) or the
 * site (leak-check builds), closed to ASan and memcheck while the chunk is
 * free, so that a use after free is still reported. The pool opens the
 * link around each access; the fast paths, which never run under
 * Valgrind, open it for ASan alone. */
static ALWAYS_INLINE nv_pool_chunk_t *link_get_fast(nv_pool_chunk_t *chunk)
{
    nv_pool_chunk_t *next;
    asan_unpoison(&chunk->x.next_free, sizeof next);
    next = chunk->x.next_free;
    asan_poison(&chunk->x.next_free, sizeof next);
    return next;
}

static ALWAYS_INLINE void link_set_fast(nv_pool_chunk_t *chunk, nv_pool_chunk_t *next)
{
    asan_unpoison(&chunk->x.next_free, sizeof next);
    chunk->x.next_free = next;
    asan_poison(&chunk->x.next_free, sizeof next);
}

static nv_pool_chunk_t *link_get(nv_pool_t *pool, nv_pool_chunk_t *chunk)
{
    nv_pool_chunk_t *next;
    track_open(pool, &chunk->x.next_free, sizeof next);
    next = chunk->x.next_free;
    track_close(pool, &chunk->x.next_free, sizeof next);
    return next;
}

static void link_set(nv_pool_t *pool, nv_pool_chunk_t *chunk, nv_pool_chunk_t *next)
{
    track_open(pool, &chunk->x.next_free, sizeof next);
    chunk->x.next_free = next;
    track_close(pool, &chunk->x.next_free, sizeof next);
}

static inline void bin_push(nv_pool_t *pool, nv_pool_chunk_t *chunk)
{
    uint32_t span = chunk->u.span;
    if (span < NV_POOL_EXACT_BINS) {
        link_set(pool, chunk, pool->exact_bins[span].head);
        pool->exact_bins[span].head = chunk;
        pool->exact_mask |= (uint64_t)1 << span;
    } else {
        unsigned k = floor_log2(span);
        link_set(pool, chunk, pool->range_bins[k]);
        pool->range_bins[k] = chunk;
        pool->range_mask |= (uint32_t)1 << k;
    }
}

/* The exact_mask bits of lists `span` and above (none for 64). */
static inline uint64_t exact_bits_from(uint32_t span)
{
    return span < NV_POOL_EXACT_BINS ? ~(((uint64_t)1 << span) - 1) : 0;
}

/* The smallest non-empty exact list of at least `span` granules, or
 * NV_POOL_EXACT_BINS if there is none. exact_mask is lazy, as glibc's
 * binmap is: a clear bit means an empty list, but a set bit may cover a
 * list that has emptied since, because the allocation fast path leaves the
 * bit alone (2 instructions and a branch per reuse). Only bins_take, which
 * is about to take a chunk anyway, clears the stale bits it passes. */
static uint32_t exact_nonempty_from(const nv_pool_t *pool, uint32_t span)
{
    uint64_t above = pool->exact_mask & exact_bits_from(span);
    for (; above; above &= above - 1) {
        uint32_t found = (uint32_t)__builtin_ctzll(above);
        if (pool->exact_bins[found].head)
            return found;
    }
    return NV_POOL_EXACT_BINS;
}

static inline nv_pool_chunk_t *exact_pop(nv_pool_t *pool, uint32_t span)
{
    nv_pool_chunk_t *chunk = pool->exact_bins[span].head;
    nv_pool_chunk_t *next = link_get(pool, chunk);
    pool->exact_bins[span].head = next;
    if (!next)
        pool->exact_mask &= ~((uint64_t)1 << span);
    return chunk;
}

static void bins_clear(nv_pool_t *pool)
{
    memset(pool->exact_bins, 0, sizeof pool->exact_bins);
    memset(pool->range_bins, 0, sizeof pool->range_bins);
    pool->exact_mask = 0;
    pool->range_mask = 0;
}

/* How many chunks of one range list bins_take examines before it settles
 * for a bigger list or fresh space. */
#define RANGE_BIN_SCAN_LIMIT 16u

/* Takes a free chunk of at least `span` granules (best exact fit, else the
 * smallest non-empty bin above, else first fit in the range bins), or NULL. */
static nv_pool_chunk_t *bins_take(nv_pool_t *pool, uint32_t span)
{
    if (span < NV_POOL_EXACT_BINS) {
        uint32_t found = exact_nonempty_from(pool, span);
        /* The bits set from `span` up to `found` were stale. */
        pool->exact_mask &= ~(exact_bits_from(span) & ~exact_bits_from(found));
        if (found < NV_POOL_EXACT_BINS)
            return exact_pop(pool, found);
    }
    if (pool->range_mask) {
        unsigned k = span < NV_POOL_EXACT_BINS ? 6u : floor_log2(span);
        nv_pool_chunk_t *before = NULL, *candidate = pool->range_bins[k];
        unsigned looked = 0;
        /* First fit within the bin `span` falls in, looking at a bounded
         * number of chunks (a long list of slightly-too-small chunks made
         * realloc growth quadratic)... */
        for (; candidate && looked < RANGE_BIN_SCAN_LIMIT; looked++) {
            nv_pool_chunk_t *next = link_get(pool, candidate);
            if (candidate->u.span >= span) {
                if (before)
                    link_set(pool, before, next);
                else
                    pool->range_bins[k] = next;
                if (!pool->range_bins[k])
                    pool->range_mask &= ~((uint32_t)1 << k);
                return candidate;
            }
            before = candidate;
            candidate = next;
        }
        /* ...else any chunk of a higher bin fits. */
        {
            uint32_t higher = k + 1 < 32 ? pool->range_mask & ~(((uint32_t)1 << (k + 1)) - 1) : 0;
            if (higher) {
                unsigned j = (unsigned)__builtin_ctz(higher);
                nv_pool_chunk_t *chunk = pool->range_bins[j];
                pool->range_bins[j] = link_get(pool, chunk);
                if (!pool->range_bins[j])
                    pool->range_mask &= ~((uint32_t)1 << j);
                return chunk;
            }
        }
    }
    return NULL;
}

/* Files a free chunk made from a gap or a split, or found by a walk. One
 * too small for a single byte (below live_span(1); in the leak-check
 * layout nv_pool_alloc(p, 0) could use some; never in the release layout)
 * is padding:
 * free-tagged, so every walker steps over it and nv_pool_compact merges it
 * with free neighbours, but no list holds it. Filing it would cost the
 * aligned fast path a list push per allocation for chunks nothing takes. */
static ALWAYS_INLINE void file_free_chunk(nv_pool_t *pool, nv_pool_chunk_t *chunk)
{
    if (chunk->u.span >= live_span(1))
        bin_push(pool, chunk);
}

/* Fills a free chunk's bytes after its header and link (hardened). */
static inline void fill_chunk(nv_pool_t *pool, nv_pool_chunk_t *chunk, uint32_t span)
{
    if (span_bytes(span) > NV_POOL_FREE_HEADER_BYTES)
        fill_freed(pool, (unsigned char *)chunk + NV_POOL_FREE_HEADER_BYTES,
                   (unsigned char *)chunk + span_bytes(span));
}

/* Makes [at, at + span granules) a free chunk: the gap in front of an
 * aligned chunk, or what is left of a chunk split or shrunk. */
static ALWAYS_INLINE void make_free_chunk(nv_pool_t *pool, char *at, uint32_t span)
{
    nv_pool_chunk_t *chunk = (nv_pool_chunk_t *)at;
    track_header(pool, chunk);
    chunk->tag = pool->free_tag;
    chunk->u.span = span;
    /* Closed to the tools past the header: it may have been a caller's. */
    track_noaccess(pool, at + offsetof(nv_pool_chunk_t, x),
                   span_bytes(span) - offsetof(nv_pool_chunk_t, x));
    fill_chunk(pool, chunk, span);
    file_free_chunk(pool, chunk);
}

/* ======================================================================== */
/* Blocks                                                                   */
/* ======================================================================== */

static inline char *block_top(const nv_pool_t *pool, const nv_pool_block_t *block)
{
    return block == pool->current ? pool->bump : block->current;
}

static inline void block_set_top(nv_pool_t *pool, nv_pool_block_t *block, char *top)
{
    if (block == pool->current)
        pool->bump = top;
    block->current = top;
    block->used = (size_t)(top - block->start);
}

/* Makes `block` the one the fast path bumps in (NULL: none). */
static void set_current(nv_pool_t *pool, nv_pool_block_t *block)
{
    if (pool->current) {
        pool->current->current = pool->bump;
        pool->current->used = (size_t)(pool->bump - pool->current->start);
    }
    pool->current = block;
    pool->bump = block ? block->current : NULL;
    pool->bump_end = block ? block->end : NULL;
    pool->bump_start = block ? block->start : NULL;
}

/* Refreshes the current block's own fields from the pool's bump pointer. */
static void sync_current(nv_pool_t *pool)
{
    if (pool->current) {
        pool->current->current = pool->bump;
        pool->current->used = (size_t)(pool->bump - pool->current->start);
    }
}

/* The block whose chunk area holds `p`: binary search, O(log blocks). */
static nv_pool_block_t *block_find(const nv_pool_t *pool, const void *p)
{
    size_t lo = 0, hi = pool->block_count;
    uintptr_t a = (uintptr_t)p;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        nv_pool_block_t *b = pool->block_index[mid];
        if (a < (uintptr_t)b->start)
            hi = mid;
        else if (a >= (uintptr_t)b->end)
            lo = mid + 1;
        else
            return b;
    }
    return NULL;
}

static int block_index_insert(nv_pool_t *pool, nv_pool_block_t *block)
{
    size_t i;
    if (pool->block_count == pool->block_index_capacity &&
        !grow_array(pool, (void ***)&pool->block_index, &pool->block_index_capacity,
                    pool->block_index_capacity ? pool->block_index_capacity * 2 : 8,
                    pool->block_count))
        return 0;
    i = pool->block_count;
    while (i > 0 && (uintptr_t)pool->block_index[i - 1] > (uintptr_t)block) {
        pool->block_index[i] = pool->block_index[i - 1];
        i--;
    }
    pool->block_index[i] = block;
    pool->block_count++;
    return 1;
}

static void block_index_remove(nv_pool_t *pool, nv_pool_block_t *block)
{
    size_t i;
    for (i = 0; i < pool->block_count; i++)
        if (pool->block_index[i] == block) {
            memmove(&pool->block_index[i], &pool->block_index[i + 1],
                    (pool->block_count - i - 1) * sizeof(*pool->block_index));
            pool->block_count--;
            return;
        }
}

/* Bytes a new block must have so that `chunk_bytes` fit after `alignment`
 * padding; 0 on overflow. */
static size_t block_bytes_for(size_t chunk_bytes, size_t alignment)
{
    size_t need = BLOCK_HEADER_BYTES + NV_POOL_CHUNK_OFFSET;
    size_t slack = alignment > NV_POOL_ALIGNMENT ? alignment + NV_POOL_GRANULE * 3 : 0;
    if (chunk_bytes > SIZE_MAX - need - slack)
        return 0;
    return need + chunk_bytes + slack;
}

/* Bytes the block index would take to grow before one more insert. */
static size_t index_growth_bytes(const nv_pool_t *pool)
{
    if (pool->block_count < pool->block_index_capacity)
        return 0;
    return (pool->block_index_capacity ? pool->block_index_capacity * 2 : 8) * sizeof(void *);
}

/* Size of the next block able to hold `need` bytes within max_size, or 0.
 * Growth: doubles per block up to NV_POOL_BLOCK_GROWTH_MAX, never below
 * min_size; shrinks to what fits when max_size is near. */
static size_t next_block_size(const nv_pool_t *pool, size_t need)
{
    size_t size = pool->next_block_size;
    size_t index_extra = index_growth_bytes(pool);
    if (size < pool->min_size)
        size = pool->min_size;
    if (size < need)
        size = need;
    size = round_up16(size);
    if (pool->max_size != 0) {
        size_t room;
        if (pool->held > pool->max_size || index_extra > pool->max_size - pool->held)
            return 0;
        room = pool->max_size - pool->held - index_extra;
        if (size > room) {
            size = need > pool->min_size ? need : pool->min_size;
            size = round_up16(size);
            if (size > room)
                return 0;
        }
    }
    return size;
}

/* Gets a block of `size` bytes from the backend and links it in; NULL when
 * the budget or the backend refuses. On failure the pool is exactly as it
 * was: the block is taken first, the index grown second, and the block
 * given back if the index cannot grow. */
static nv_pool_block_t *block_new(nv_pool_t *pool, size_t size)
{
    nv_pool_block_t *block, **link;
    char *memory;
    size_t growth = index_growth_bytes(pool);
    if (growth > SIZE_MAX - size || !within_budget(pool, size + growth))
        return NULL;
    memory = (char *)backend_get(pool, size);
    if (!memory)
        return NULL;
    if (growth &&
        !grow_array(pool, (void ***)&pool->block_index, &pool->block_index_capacity,
                    growth / sizeof(void *), pool->block_count)) {
        backend_put(pool, memory, size);
        return NULL;
    }
    block = (nv_pool_block_t *)memory;
    block->next = NULL;
    block->size = size;
    /* Chunks tile [start, end) in whole granules, from NV_POOL_CHUNK_OFFSET
     * past the grid; callers ask for at least BLOCK_MIN_BYTES. */
    block->start = memory + BLOCK_HEADER_BYTES + NV_POOL_CHUNK_OFFSET;
    block->end = block->start + ((size - BLOCK_HEADER_BYTES - NV_POOL_CHUNK_OFFSET) &
                                 ~(size_t)(NV_POOL_GRANULE - 1));
    block->current = block->start;
    block->used = 0;
    track_noaccess(pool, block->start, (size_t)(block->end - block->start));
    (void)block_index_insert(pool, block); /* capacity ensured above */
    for (link = &pool->blocks; *link; link = &(*link)->next)
        ;
    *link = block;
    if (pool->next_block_size < NV_POOL_BLOCK_GROWTH_MAX)
        pool->next_block_size *= 2;
    return block;
}

static void block_release(nv_pool_t *pool, nv_pool_block_t *block)
{
    nv_pool_block_t **link;
    if (block == pool->current)
        set_current(pool, NULL);
    for (link = &pool->blocks; *link; link = &(*link)->next)
        if (*link == block) {
            *link = block->next;
            break;
        }
    block_index_remove(pool, block);
    backend_put(pool, block, block->size);
}

/* ======================================================================== */
/* Large allocations: an open-addressing table keyed by the user pointer    */
/* ======================================================================== */

static size_t large_hash(const nv_pool_t *pool, const void *user)
{
    uint64_t h = ((uint64_t)(uintptr_t)user >> 4) * 0x9e3779b97f4a7c15ull;
    return (size_t)(h >> 32) & (pool->large_capacity - 1);
}

static nv_pool_large_t *large_find(const nv_pool_t *pool, const void *user)
{
    size_t i;
    if (pool->large_capacity == 0)
        return NULL;
    for (i = large_hash(pool, user);; i = (i + 1) & (pool->large_capacity - 1)) {
        nv_pool_large_t *node = pool->large_slots[i];
        if (!node)
            return NULL;
        if (node->user == (const char *)user)
            return node;
    }
}

static void large_table_put(nv_pool_t *pool, nv_pool_large_t *node)
{
    size_t i = large_hash(pool, node->user);
    while (pool->large_slots[i])
        i = (i + 1) & (pool->large_capacity - 1);
    pool->large_slots[i] = node;
}

/* Bytes the table would take to grow before one more entry. */
static size_t large_table_growth_bytes(const nv_pool_t *pool)
{
    if ((pool->large_count + 1) * 2 <= pool->large_capacity)
        return 0;
    return (pool->large_capacity ? pool->large_capacity * 2 : 16) * sizeof(void *);
}

/* Makes room for one more entry (load factor <= 1/2). */
static int large_table_reserve(nv_pool_t *pool)
{
    nv_pool_large_t **old = pool->large_slots;
    size_t old_capacity = pool->large_capacity, i;
    size_t wanted;
    if ((pool->large_count + 1) * 2 <= pool->large_capacity)
        return 1;
    wanted = old_capacity ? old_capacity * 2 : 16;
    if (wanted > SIZE_MAX / sizeof(void *) || !within_budget(pool, wanted * sizeof(void *)))
        return 0;
    pool->large_slots = (nv_pool_large_t **)backend_get(pool, wanted * sizeof(void *));
    if (!pool->large_slots) {
        pool->large_slots = old;
        return 0;
    }
    memset(pool->large_slots, 0, wanted * sizeof(void *));
    pool->large_capacity = wanted;
    for (i = 0; i < old_capacity; i++)
        if (old[i])
            large_table_put(pool, old[i]);
    if (old)
        backend_put(pool, old, old_capacity * sizeof(void *));
    return 1;
}

/* Removes `node` keeping every probe chain intact (backward shift). */
static void large_table_remove(nv_pool_t *pool, nv_pool_large_t *node)
{
    size_t mask = pool->large_capacity - 1;
    size_t i = large_hash(pool, node->user), j;
    while (pool->large_slots[i] != node)
        i = (i + 1) & mask;
    pool->large_slots[i] = NULL;
    for (j = (i + 1) & mask; pool->large_slots[j]; j = (j + 1) & mask) {
        nv_pool_large_t *moving = pool->large_slots[j];
        size_t home = large_hash(pool, moving->user);
        /* Move it back if its home is not in (i, j]. */
        if ((j > i && (home <= i || home > j)) || (j < i && (home <= i && home > j))) {
            pool->large_slots[i] = moving;
            pool->large_slots[j] = NULL;
            i = j;
        }
    }
    pool->large_count--;
}

static void scrub_front(nv_pool_t *pool, nv_pool_chunk_t *chunk);

/* Gives a large allocation back. Its header and front redzone are wiped
 * first: the backend may hand the same memory back as one of our blocks, and
 * a stale pointer into it must not pass for live or for damaged. */
static void large_release(nv_pool_t *pool, nv_pool_large_t *node)
{
    nv_pool_chunk_t *chunk = user_chunk(node->user);
    large_table_remove(pool, node);
    chunk->tag = 0;
    scrub_front(pool, chunk);
    backend_put(pool, node->base, node->size);
}

/* ======================================================================== */
/* Handing chunks out                                                       */
/* ======================================================================== */

/* Significant bits of `size` (below 2^63): its histogram bucket before the
 * clamp (bucket b > 0 holds sizes of b significant bits, bucket 0 holds
 * size 0). 2 * size + 1 has one more significant bit than size and is never
 * 0, so a single bit scan serves size 0 too: the stats-on fast path pays
 * three instructions for its bucket. */
static inline unsigned size_bits(size_t size)
{
    return (unsigned)(63 - __builtin_clzll(2u * (unsigned long long)size + 1u));
}

static inline unsigned histogram_bucket(size_t size)
{
    /* Sizes past the last bounded bucket (any size near SIZE_MAX included)
     * clamp before size_bits could overflow. */
    return (uint64_t)size >> (NV_POOL_HISTOGRAM_BUCKETS - 2) ? NV_POOL_HISTOGRAM_BUCKETS - 1
                                                   : size_bits(size);
}

/* The fast paths' sizes never reach the last (open-ended) bucket. */
_Static_assert(NV_POOL_FAST_MAX < (1ull << (NV_POOL_HISTOGRAM_BUCKETS - 2)),
               "a fast-path size has its own histogram bucket");

size_t nv_pool_histogram_bucket_limit(unsigned bucket)
{
    if (bucket >= NV_POOL_HISTOGRAM_BUCKETS - 1)
        return SIZE_MAX;
    return bucket == 0 ? 0 : ((size_t)1 << bucket) - 1;
}

/* Counters of one successful allocation of `size` bytes (stats on). The
 * number of allocations is not counted here: every allocation lands in
 * exactly one histogram bucket, so get_stats sums the buckets. Nor is the
 * peak: see note_peak. */
static ALWAYS_INLINE void count_allocation(nv_pool_t *pool, size_t size, int fast_path_size)
{
    pool->stats.allocated_bytes += size;
    pool->stats.size_histogram[fast_path_size ? size_bits(size) : histogram_bucket(size)]++;
}

/* peak_used is kept lazily. `used` only grows between two of its falls, so
 * its highest point is always a moment it is about to fall: every place
 * that lowers `used` calls this first, and get_stats takes the larger of
 * peak_used and used. Allocations then pay no compare and no store for the
 * peak (W4 with stats on: 12 % over stats off before, store-bound). */
static inline void note_peak(nv_pool_t *pool)
{
    if (pool->stats_on && pool->used > pool->stats.peak_used)
        pool->stats.peak_used = pool->used;
}

static inline void stats_note_alloc(nv_pool_t *pool, size_t size)
{
    if (pool->stats_on)
        count_allocation(pool, size, 0);
}

static void note_failure(nv_pool_t *pool)
{
    if (pool->stats_on)
        pool->stats.failed_allocations++;
}

/* note_failure for calls refused before they entered the pool (argument
 * checks): takes the pool's lock like any other entry. */
static void note_refusal(nv_pool_t *pool, const char *operation)
{
    void *previous;
    if (!pool)
        return;
    previous = pool_enter(pool, operation);
    note_failure(pool);
    pool_leave(pool, previous);
}

/* Records an allocation site in a live chunk (leak-check builds). */
static ALWAYS_INLINE void set_site(nv_pool_chunk_t *chunk, const site_t *site)
{
#if NV_POOL_SITES
    chunk->x.site.file = site ? site->file : NULL;
    chunk->x.site.line = site ? site->line : 0;
    chunk->x.site.function = site ? site->function : NULL;
#else
    (void)chunk;
    (void)site;
#endif
}

/* Makes a block chunk of `span` granules (from a list or fresh space) live
 * with `size` bytes: header and counts. Granules past live_span(size), a
 * moved realloc's room to grow, stay in the chunk as its reserve (recorded
 * in the tag, at most NV_POOL_RESERVE_MAX; any more becomes a free chunk),
 * holding the freed pattern. Returns where the back redzone ends. */
static char *make_live(nv_pool_t *pool, nv_pool_chunk_t *chunk, uint32_t span, size_t size)
{
    uint32_t exact = live_span(size), reserve = span - exact;
    if (reserve > NV_POOL_RESERVE_MAX) {
        make_free_chunk(pool, (char *)chunk + span_bytes(exact + NV_POOL_RESERVE_MAX),
                        reserve - NV_POOL_RESERVE_MAX);
        reserve = NV_POOL_RESERVE_MAX;
    }
    if (reserve)
        fill_freed(pool, (unsigned char *)chunk + span_bytes(exact),
                   (unsigned char *)chunk + span_bytes(exact + reserve));
    track_header(pool, chunk);
    chunk->tag = live_tag_with(pool, reserve);
    chunk->u.requested = (uint32_t)size;
    pool->used += size;
    pool->live_count++;
    return (char *)chunk + span_bytes(exact);
}

/* Completes a live chunk of `size` bytes ending at `limit` whose header is
 * set: redzones, site, tools, zeroing. Returns the user pointer. */
static inline char *finish_chunk(nv_pool_t *pool, nv_pool_chunk_t *chunk, size_t size,
                                 char *limit, const site_t *site)
{
    char *user = chunk_user(chunk);
    set_site(chunk, site);
    guard_chunk(pool, chunk, size, limit);
    track_chunk_alloc(pool, user, size, pool->zero_clear);
    if (pool->zero_clear)
        memset(user, 0, size);
    return user;
}

/* Turns a free chunk (from a list) into a live one of `span` granules,
 * returning the rest to the lists. NULL if the chunk was written after free
 * (reported; the chunk is quarantined). */
static char *reuse_chunk(nv_pool_t *pool, nv_pool_chunk_t *chunk, uint32_t span,
                         size_t size, const site_t *site, const char *operation)
{
    checker_t check = {pool, operation, 1, 0};
    if (!check_freed_chunk(&check, chunk)) {
        chunk->tag = pool->quarantine_tag;
        return NULL;
    }
    if (chunk->u.span > span)
        make_free_chunk(pool, (char *)chunk + span_bytes(span), chunk->u.span - span);
    return finish_chunk(pool, chunk, size, make_live(pool, chunk, span, size), site);
}

/* Bytes to skip at `top` so that a chunk placed there has its user pointer
 * at `alignment` (> NV_POOL_ALIGNMENT). The gap, whole granules, becomes a
 * free chunk or padding. Less than NV_POOL_MAX_ALIGNMENT: no overflow. */
static inline size_t align_gap(const char *top, size_t alignment)
{
    return (alignment - ((uintptr_t)top + NV_POOL_PREFIX)) & (alignment - 1);
}

/* Carves a chunk of `span` granules whose user pointer is a multiple of
 * `alignment` from the top of `block`; NULL if it does not fit. Padding in
 * front becomes a free chunk. */
static char *carve(nv_pool_t *pool, nv_pool_block_t *block, uint32_t span, size_t size,
                   size_t alignment, const site_t *site)
{
    char *top = block_top(pool, block);
    char *chunk_at = top;
    size_t room = (size_t)(block->end - top);
    size_t pad = 0;
    nv_pool_chunk_t *chunk;
    if (alignment > NV_POOL_ALIGNMENT) {
        pad = align_gap(top, alignment);
        chunk_at = top + pad;
    }
    if (pad > room || span_bytes(span) > room - pad)
        return NULL;
    if (pad)
        make_free_chunk(pool, top, (uint32_t)(pad / NV_POOL_GRANULE));
    block_set_top(pool, block, chunk_at + span_bytes(span));
    chunk = (nv_pool_chunk_t *)chunk_at;
    return finish_chunk(pool, chunk, size, make_live(pool, chunk, span, size), site);
}

/* A large allocation of `size` bytes at `alignment`; NULL on failure. */
static char *large_alloc(nv_pool_t *pool, size_t size, size_t alignment,
                         const site_t *site)
{
    size_t total, body;
    char *base, *user;
    nv_pool_large_t *node;
    nv_pool_chunk_t *chunk;
    if (alignment < NV_POOL_ALIGNMENT)
        alignment = NV_POOL_ALIGNMENT;
    if (size > SIZE_MAX - NV_POOL_GRANULE)
        return NULL;
    body = round_up16(size);
    if (body > SIZE_MAX - LARGE_NODE_BYTES - LARGE_PREFIX_BYTES - LARGE_BACK_BYTES -
                   (alignment - NV_POOL_ALIGNMENT))
        return NULL;
    total = LARGE_NODE_BYTES + LARGE_PREFIX_BYTES + (alignment - NV_POOL_ALIGNMENT) + body +
            LARGE_BACK_BYTES;
    /* Budget for the memory and the table's growth together; take the memory
     * first so that a refusal leaves the pool exactly as it was. */
    if (large_table_growth_bytes(pool) > SIZE_MAX - total ||
        !within_budget(pool, total + large_table_growth_bytes(pool)))
        return NULL;
    base = (char *)backend_get(pool, total);
    if (!base)
        return NULL;
    if (!large_table_reserve(pool)) {
        backend_put(pool, base, total);
        return NULL;
    }
    user = (char *)(((uintptr_t)base + LARGE_NODE_BYTES + NV_POOL_PREFIX + alignment - 1) &
                    ~(uintptr_t)(alignment - 1));
    node = (nv_pool_large_t *)base;
    node->base = base;
    node->size = total;
    node->user = user;
    node->capacity = (size_t)(base + total - LARGE_BACK_BYTES - user);
    node->requested = size;
    track_noaccess(pool, base + LARGE_NODE_BYTES, total - LARGE_NODE_BYTES);
    chunk = user_chunk(user);
    track_header(pool, chunk);
    chunk->tag = pool->live_tag;
    chunk->u.requested = NV_POOL_SIZE_LARGE;
    large_table_put(pool, node);
    pool->large_count++;
    pool->used += size;
    pool->live_count++;
    return finish_chunk(pool, chunk, size, base + total, site);
}

/* Everything but the fast path: free lists above the exact size, other
 * blocks, a new block, or a large allocation. Counts its own outcome only
 * through the caller. */
static char *alloc_chunk_reserve(nv_pool_t *pool, size_t size, size_t reserve,
                                 size_t alignment, const site_t *site)
{
    uint32_t span = request_span(reserve > size ? reserve : size);
    nv_pool_block_t *block;
    size_t block_size, need;
    char *user;

    if (pool->passthrough)
        return large_alloc(pool, size, alignment, site);
    if (span == 0 || (pool->auto_extend && span_bytes(span) > NV_POOL_LARGE_THRESHOLD)) {
        if (pool->auto_extend)
            return large_alloc(pool, size, alignment, site);
        if (span == 0)
            return NULL;
    }
    if (alignment <= NV_POOL_ALIGNMENT) {
        nv_pool_chunk_t *chunk;
        while ((chunk = bins_take(pool, span)) != NULL) {
            user = reuse_chunk(pool, chunk, span, size, site, "nv_pool_alloc");
            if (user)
                return user;
        }
    }
    if (pool->current && (user = carve(pool, pool->current, span, size, alignment, site)))
        return user;
    for (block = pool->blocks; block; block = block->next) {
        if (block == pool->current)
            continue;
        if ((user = carve(pool, block, span, size, alignment, site))) {
            /* Blocks with room serve next; the old current keeps its tail. */
            sync_current(pool);
            set_current(pool, block);
            return user;
        }
    }
    if (!pool->auto_extend)
        return NULL;
    need = block_bytes_for(span_bytes(span), alignment);
    if (need == 0 || (block_size = next_block_size(pool, need)) == 0)
        return NULL;
    block = block_new(pool, block_size);
    if (!block)
        return NULL;
    set_current(pool, block);
    return carve(pool, block, span, size, alignment, site);
}

static char *alloc_chunk(nv_pool_t *pool, size_t size, size_t alignment,
                         const site_t *site)
{
    return alloc_chunk_reserve(pool, size, size, alignment, site);
}

static void *alloc_slow_locked(nv_pool_t *pool, size_t size, size_t alignment,
                               const site_t *site);
static ALWAYS_INLINE void *alloc_try_fast(nv_pool_t *pool, size_t size, size_t alignment,
                                          const site_t *site, int entered, int extras);
static void *slot_alloc(nv_pool_t *pool, size_t size, const site_t *site, int *damaged);
static void slot_refill(nv_pool_t *pool, size_t size);
static void slots_give_back(nv_pool_t *pool);

static NOINLINE void *alloc_slow(nv_pool_t *pool, size_t size, size_t alignment,
                                 const site_t *site)
{
    void *previous, *user;
    if (!pool) {
        nv_log_error("nv_pool_alloc: NULL pool");
        return NULL;
    }
    if (pool->slots && size < pool->locked_fast_limit && alignment <= NV_POOL_ALIGNMENT) {
        /* A thread-safe pool: this thread's slot first, without the lock. */
        int damaged = 0;
        user = slot_alloc(pool, size, site, &damaged);
        if (user)
            return user;
        /* A damaged cached chunk goes back to the lists (give_back), where
         * the slow path below finds it and reports. */
        previous = pool_enter_mode(pool, "nv_pool_alloc", damaged);
        user = alloc_try_fast(pool, size, NV_POOL_ALIGNMENT, site, 1, 1);
        if (user) {
            slot_refill(pool, size);
        } else {
            slots_give_back(pool); /* a full pool may have its space in the slots */
            user = alloc_slow_locked(pool, size, alignment, site);
        }
        pool_leave(pool, previous);
        return user;
    }
    previous = pool_enter(pool, "nv_pool_alloc");
    /* The fast path once entered: a thread-safe pool without slots, under
     * its lock; a pool whose fast owner check sent this thread here. */
    user = (size < pool->locked_fast_limit || size < pool->fast_limit) &&
                   alignment <= NV_POOL_ALIGNMENT
               ? alloc_try_fast(pool, size, NV_POOL_ALIGNMENT, site, 1, 1)
               : NULL;
    if (!user)
        user = alloc_slow_locked(pool, size, alignment, site);
    pool_leave(pool, previous);
    return user;
}

static void *alloc_slow_locked(nv_pool_t *pool, size_t size, size_t alignment,
                               const site_t *site)
{
    char *user = alloc_chunk(pool, size, alignment, site);
    if (!user) {
        note_failure(pool);
        nv_log_error("nv_pool '%s': cannot allocate %zu bytes (alignment %zu): %s",
                     pool->name, size, alignment,
                     request_span(size) == 0 && size > NV_POOL_LARGE_THRESHOLD
                         ? "size too large"
                         : (pool->max_size ? "out of memory, fixed pool full or max_size reached"
                                           : "out of memory or fixed pool full"));
        return NULL;
    }
    stats_note_alloc(pool, size);
    return user;
}

/* Extras of an allocation the fast path made: counters, zeroing; then
 * leaves the pool with the fast path's owner token. Returns `user` so the
 * fast path can tail-call it. */
static NOINLINE char *alloc_extras(nv_pool_t *pool, nv_pool_chunk_t *chunk, size_t size,
                                   void *owner_token)
{
    /* Takes the chunk, not the user pointer: returning an argument as it
     * came would let the compiler keep the fast path's copy alive across the
     * call (a saved register, a push and a pop) instead of tail-calling. */
    char *user = chunk_user(chunk);
    if (pool->fast_flags & NV_POOL_FAST_STATS)
        count_allocation(pool, size, 1);
    if (pool->fast_flags & NV_POOL_FAST_ZERO)
        memset(user, 0, size);
    owner_leave(pool, owner_token);
    return user;
}

/* A fast path's chunk of `bytes` (header readable) becomes a live chunk of
 * `size` bytes: header, site, redzones; returns the user pointer. */
static ALWAYS_INLINE char *chunk_go_live(nv_pool_t *pool, nv_pool_chunk_t *chunk, size_t size,
                                         size_t bytes, const site_t *site)
{
    char *user;
    /* Atomic for slot_free's compare-and-swap on the same word (thread-safe
     * pools); a plain store on x86. */
    __atomic_store_n(&chunk->tag, pool->live_tag, __ATOMIC_RELAXED);
    chunk->u.requested = (uint32_t)size;
    set_site(chunk, site);
    user = chunk_user(chunk);
    guard_fast(pool, chunk, (unsigned char *)user, size, bytes);
    (void)bytes; /* only the hardened redzones use it */
    asan_unpoison(user, size);
    return user;
}

/* The fast path: the exact free list, else a bump in the current block.
 * NULL when it cannot serve `size` (< NV_POOL_FAST_MAX + 1): no room, or a
 * freed chunk that fails its check; the slow path then repeats the work
 * with full reporting. An `alignment` above NV_POOL_ALIGNMENT (a constant
 * in every caller, so each copy keeps only its own branch) skips the lists
 * and bumps past a gap that becomes a free chunk, as carve does. `extras`
 * (a constant in every caller) is 0 only for pools without per-call extras
 * (plain_fast_limit), which then skip the test of fast_flags. */
static ALWAYS_INLINE void *alloc_try_fast(nv_pool_t *pool, size_t size, size_t alignment,
                                          const site_t *site, int entered, int extras)
{
    size_t bytes = live_bytes(size);
    void *previous;
    nv_pool_chunk_t *chunk;
    char *user;
    /* `entered` (a constant in every caller): a slow path did the full
     * owner check already. */
    previous = entered ? OWNER_ALREADY_ENTERED : owner_enter_outer(pool);
    if (UNLIKELY(!previous))
        return NULL;
    chunk = alignment <= NV_POOL_ALIGNMENT ? *exact_list(pool, bytes) : NULL;
    if (chunk) {
        if (UNLIKELY(!freed_intact_fast(chunk, (unsigned char *)chunk + bytes))) {
            owner_leave(pool, previous);
            return NULL;
        }
        /* The link first: in leak-check builds it shares bytes with the
         * header's site, which must stay open. The list's bitmap bit stays
         * set even if this was its last chunk: see exact_nonempty_from. */
        *exact_list(pool, bytes) = link_get_fast(chunk);
        asan_unpoison(chunk, NV_POOL_HEADER_BYTES);
    } else {
        size_t gap = alignment <= NV_POOL_ALIGNMENT ? 0 : align_gap(pool->bump, alignment);
        /* As addresses: the new top cannot wrap (a few KiB past a mapped
         * block), and the compiler needs no separate room computation. */
        if (UNLIKELY((uintptr_t)pool->bump + gap + bytes > (uintptr_t)pool->bump_end)) {
            owner_leave(pool, previous);
            return NULL;
        }
        if (gap) {
            make_free_chunk(pool, pool->bump, (uint32_t)(gap / NV_POOL_GRANULE));
            pool->bump += gap;
        }
        chunk = (nv_pool_chunk_t *)pool->bump;
        pool->bump += bytes;
        asan_unpoison(chunk, NV_POOL_HEADER_BYTES);
    }
    user = chunk_go_live(pool, chunk, size, bytes, site);
    pool->used += size;
    pool->live_count++;
    if (extras && UNLIKELY(pool->fast_flags)) {
        /* Stats alone (the default config) stay inline. */
        if (pool->fast_flags != NV_POOL_FAST_STATS)
            return alloc_extras(pool, chunk, size, previous);
        count_allocation(pool, size, 1);
    }
    owner_leave(pool, previous); /* after the counters: they are pool state too */
    return user;
}

/* Pools that are not thread-safe try the fast path unlocked: a copy without
 * the per-call extras for pools that have none, one with them for the
 * others. Everything else (thread-safe pools included) goes through
 * alloc_slow. `alignment` is a constant in every caller (see
 * alloc_try_fast). */
static ALWAYS_INLINE void *alloc_fast_at(nv_pool_t *pool, size_t size, size_t alignment,
                                         const site_t *site)
{
    if (LIKELY(pool != NULL)) {
        void *user = NULL;
        if (LIKELY(size < pool->plain_fast_limit))
            user = alloc_try_fast(pool, size, alignment, site, 0, 0);
        else if (size < pool->fast_limit)
            user = alloc_try_fast(pool, size, alignment, site, 0, 1);
        if (LIKELY(user != NULL))
            return user;
    }
    return alloc_slow(pool, size, alignment, site);
}

static ALWAYS_INLINE void *alloc_fast(nv_pool_t *pool, size_t size, const site_t *site)
{
    return alloc_fast_at(pool, size, NV_POOL_ALIGNMENT, site);
}

/* nv_pool_align above NV_POOL_ALIGNMENT: its own copy of the fast path. */
static NOINLINE void *alloc_fast_aligned(nv_pool_t *pool, size_t size, size_t alignment,
                                         const site_t *site)
{
    return alloc_fast_at(pool, size, alignment, site);
}

/* ======================================================================== */
/* Finding a caller's pointer                                               */
/* ======================================================================== */

static void recount(nv_pool_t *pool);

/* Granules from a damaged chunk to the next chunk header below `top` (or to
 * `top`): a walk must step over the damaged chunk, and nothing in it can be
 * trusted. A header counts only if its chunk ends by `top`: a growing tag
 * is matched on 24 bits, so about one granule in 2^24 of the caller's data
 * passes for a header, and stopping there would end the walk at it (the
 * fuzzer found one in a 64 KiB chunk). Corruption paths only: one peek per
 * granule. */
static uint32_t span_to_next_header(nv_pool_t *pool, nv_pool_chunk_t *chunk, const char *top)
{
    const char *at = (const char *)chunk + NV_POOL_GRANULE;
    for (; at < top; at += NV_POOL_GRANULE) {
        uint32_t header[2], span;
        track_peek(pool, at, header, sizeof header);
        span = header_span(pool, header[0], header[1]);
        if (span != 0 && span_fits(span, at, top))
            break;
    }
    return (uint32_t)((size_t)(at - (const char *)chunk) / NV_POOL_GRANULE);
}

/* Takes a damaged block chunk (below `top`) out of service for good. Its
 * span is what the front redzone vouches for (hardened builds) when that
 * fits; else, since a size or tag in the header may be what was damaged,
 * it reaches the next chunk header, so that walks can still step over it. */
static void quarantine_header(nv_pool_t *pool, nv_pool_chunk_t *chunk, const char *top)
{
    size_t size;
    uint32_t reserve, span;
    if (front_vouches(pool, chunk, &size, &reserve) &&
        span_fits(live_span(size) + reserve, chunk, top))
        span = live_span(size) + reserve;
    else
        span = span_to_next_header(pool, chunk, top);
    chunk->tag = pool->quarantine_tag;
    chunk->u.span = span;
}

/* What a pointer handed to free/realloc turned out to be. */
typedef struct owner_s {
    nv_pool_chunk_t *chunk;   /* the live chunk, if any */
    nv_pool_block_t *block;   /* its block (block chunks) */
    nv_pool_large_t *large;   /* its node (large chunks) */
} owner_t;

/* 1 when `ptr`'s would-be chunk lies on the current block's chunk grid
 * below the bump pointer; nothing is read from it yet. */
static ALWAYS_INLINE int in_current_block(const nv_pool_t *pool, const void *ptr)
{
    /* Offset of the would-be chunk in the current block, in granules;
     * bump >= start, both on the granule grid. Rotated rather than shifted:
     * an offset off the grid then has high bits set and fails the same
     * comparison that checks the range. */
    size_t offset = (size_t)((uintptr_t)ptr - NV_POOL_PREFIX - (uintptr_t)pool->bump_start);
    size_t granules = (offset >> NV_POOL_GRANULE_SHIFT) |
                      (offset << (sizeof offset * CHAR_BIT - NV_POOL_GRANULE_SHIFT));
    /* As integers: without a current block both are NULL. */
    return granules < ((uintptr_t)pool->bump - (uintptr_t)pool->bump_start) / NV_POOL_GRANULE;
}

/* find_live's common case, a live chunk of the current block, without the
 * search of the block index. 0 for anything else: find_live then decides,
 * with its reports. Inline at its call, not inside find_live: the call to
 * find_live would cost a hardened in-place realloc about 25 instructions. */
static ALWAYS_INLINE int find_live_current(nv_pool_t *pool, void *ptr, owner_t *owner)
{
    nv_pool_chunk_t *chunk;
    struct {
        uint32_t tag;
        uint32_t requested;
    } seen;
    if (!in_current_block(pool, ptr))
        return 0;
    chunk = user_chunk(ptr); /* only now: `ptr` may be any address */
    /* Until the tag matches, `chunk` may be any bytes of the block. */
    track_peek(pool, chunk, &seen, sizeof seen);
    if (!tag_is_live(pool, seen.tag) ||
        span_bytes(live_span(seen.requested) + tag_reserve(pool, seen.tag)) >
            (size_t)(pool->bump - (char *)chunk))
        return 0;
    owner->chunk = chunk;
    owner->block = pool->current;
    owner->large = NULL;
    return 1;
}

/* Finds the live chunk whose user pointer is `ptr`: O(log blocks) for block
 * chunks, O(1) expected for large ones, reading only the pool's own memory.
 * On failure logs why (naming `operation`), reports a damaged header to the
 * corruption handler, and returns 0. */
static int find_live(nv_pool_t *pool, void *ptr, owner_t *owner, const char *operation)
{
    nv_pool_block_t *block;
    nv_pool_chunk_t *chunk;
    owner->chunk = NULL;
    owner->block = NULL;
    owner->large = NULL;
    if (((uintptr_t)ptr & (NV_POOL_ALIGNMENT - 1)) != 0) {
        nv_log_error("%s: pool '%s': %p is not an allocation of this pool (misaligned)",
                     operation, pool->name, ptr);
        return 0;
    }
    /* Look the chunk up, not the pointer: a zero-byte chunk at the very end
     * of a block has its user pointer at the block's end. */
    block = block_find(pool, (const void *)((uintptr_t)ptr - NV_POOL_PREFIX));
    if (block) {
        char *top = block_top(pool, block);
        struct {
            uint32_t tag;
            uint32_t requested;
        } seen;
        chunk = user_chunk(ptr);
        if ((char *)ptr < block->start + NV_POOL_PREFIX || (char *)ptr > top) {
            nv_log_error("%s: pool '%s': %p is not a live allocation (stale pointer "
                         "from before a reset, or never allocated)",
                         operation, pool->name, ptr);
            return 0;
        }
        /* Until the tag matches, `chunk` may be any bytes of the block. */
        track_peek(pool, chunk, &seen, sizeof seen);
        if (tag_is_live(pool, seen.tag)) {
            if (!span_fits(live_span(seen.requested) + tag_reserve(pool, seen.tag), chunk, top)) {
                /* A live tag with a size that cannot fit: the size field
                 * was overwritten. Trusting it would corrupt `used` or read
                 * past the chunk. */
                checker_t check = {pool, operation, 1, 0};
                report(&check, NULL, ptr, NV_POOL_CORRUPT_HEADER, -(long)NV_POOL_PREFIX,
                       "the size in the chunk header was overwritten");
                quarantine_header(pool, chunk, top);
                recount(pool);
                return 0;
            }
            owner->chunk = chunk;
            owner->block = block;
            return 1;
        }
        if (seen.tag == pool->free_tag || seen.tag == pool->quarantine_tag) {
            nv_log_error("%s: pool '%s': %p was already freed (double free)", operation,
                         pool->name, ptr);
            return 0;
        }
        if (NV_POOL_HARDENING && front_redzone_intact(pool, chunk, top)) {
            checker_t check = {pool, operation, 1, 0};
            report(&check, NULL, ptr, NV_POOL_CORRUPT_HEADER, -(long)NV_POOL_PREFIX,
                   "the chunk header was overwritten");
            quarantine_header(pool, chunk, top);
            recount(pool);
            return 0;
        }
        nv_log_error("%s: pool '%s': %p is not a live allocation (interior or stale "
                     "pointer)",
                     operation, pool->name, ptr);
        return 0;
    }
    owner->large = large_find(pool, ptr);
    if (owner->large) {
        chunk = user_chunk(ptr);
        if (chunk->tag != pool->live_tag || chunk->u.requested != NV_POOL_SIZE_LARGE) {
            checker_t check = {pool, operation, 1, 0};
            report(&check, NULL, ptr, NV_POOL_CORRUPT_HEADER, -(long)NV_POOL_PREFIX,
                   "the header of a large allocation was overwritten");
            /* Never reused: it goes back to the backend, out of the counts. */
            large_release(pool, owner->large);
            owner->large = NULL;
            recount(pool);
            return 0;
        }
        owner->chunk = chunk;
        return 1;
    }
    nv_log_error("%s: pool '%s': %p is not an allocation of this pool (foreign, "
                 "freed large, or stale pointer)",
                 operation, pool->name, ptr);
    return 0;
}

/* The caller's size of a live chunk find_live returned. */
static inline size_t owner_size(const owner_t *owner)
{
    return owner->large ? owner->large->requested : owner->chunk->u.requested;
}

/* ======================================================================== */
/* Release                                                                  */
/* ======================================================================== */

/* A chunk whose space returns to its block's tail: its header and front
 * redzone must not outlive it, or a stale pointer into a chunk carved there
 * later would pass for live (header) or for damaged (front canary). */
static void scrub_front(nv_pool_t *pool, nv_pool_chunk_t *chunk)
{
#if NV_POOL_HARDENING
    unsigned char *front = (unsigned char *)chunk_user(chunk) - NV_POOL_FRONT_REDZONE;
    track_open(pool, front, NV_POOL_FRONT_REDZONE);
    store_word(front, FREED_WORD);
    track_close(pool, front, NV_POOL_FRONT_REDZONE);
#else
    (void)pool;
    (void)chunk;
#endif
}

static inline void forget_chunk(nv_pool_t *pool, nv_pool_chunk_t *chunk)
{
    chunk->tag = 0;
    scrub_front(pool, chunk);
    track_noaccess(pool, chunk, NV_POOL_HEADER_BYTES);
}

/* Gives a live chunk back: to the backend (large), to the top of its block
 * (last chunk), or to a free list. Caller has checked it, and noted the
 * peak (note_peak): a moving realloc does that before its new chunk exists,
 * so the moment both chunks count is not taken for a peak. */
static void release_chunk(nv_pool_t *pool, const owner_t *owner)
{
    nv_pool_chunk_t *chunk = owner->chunk;
    char *user = chunk_user(chunk);
    uint32_t span;
    if (owner->large) {
        pool->used -= owner->large->requested;
        pool->live_count--;
        track_chunk_free(pool, user, 0);
        large_release(pool, owner->large);
        return;
    }
    pool->used -= chunk->u.requested;
    pool->live_count--;
    span = live_chunk_span(pool, chunk);
    track_chunk_free(pool, user, span_bytes(span) - NV_POOL_PREFIX);
    if ((char *)chunk + span_bytes(span) == block_top(pool, owner->block)) {
        /* The last chunk of its block: the space simply returns to the tail. */
        forget_chunk(pool, chunk);
        track_noaccess(pool, chunk, span_bytes(span));
        block_set_top(pool, owner->block, (char *)chunk);
        return;
    }
    chunk->tag = pool->free_tag;
    chunk->u.span = span;
    fill_chunk(pool, chunk, span);
    bin_push(pool, chunk);
}

/* A chunk whose redzones failed: the caller's size leaves `used`, the memory
 * never comes back (large chunks aside, which go back to the backend). */
static void quarantine_chunk(nv_pool_t *pool, const owner_t *owner)
{
    if (owner->large) {
        large_release(pool, owner->large);
    } else {
        quarantine_header(pool, owner->chunk, block_top(pool, owner->block));
        scrub_front(pool, owner->chunk);
    }
    /* The damage may include the size field: recount rather than trust it. */
    recount(pool);
}

static int free_slow_locked(nv_pool_t *pool, void *ptr);
static ALWAYS_INLINE int free_try_fast(nv_pool_t *pool, void *ptr, int entered, int extras);
static int slot_free(nv_pool_t *pool, void *ptr);

static NOINLINE int free_slow(nv_pool_t *pool, void *ptr)
{
    void *previous;
    int result;
    if (!pool) {
        nv_log_error("nv_pool_free: NULL pool (pointer %p)", ptr);
        return NV_ERROR;
    }
    if (!ptr)
        return NV_OK;
    if (pool->slots) {
        /* A thread-safe pool: into this thread's slot, without the lock. */
        if (slot_free(pool, ptr))
            return NV_OK;
        previous = pool_enter_mode(pool, "nv_pool_free", 0);
    } else {
        previous = pool_enter(pool, "nv_pool_free");
    }
    /* The fast path once entered: a thread-safe pool's, under its lock; a
     * pool whose fast owner check sent this thread here. */
    if ((pool->locked_fast_limit != 0 || pool->fast_limit != 0) && free_try_fast(pool, ptr, 1, 1))
        result = NV_OK;
    else
        result = free_slow_locked(pool, ptr);
    pool_leave(pool, previous);
    return result;
}

static int free_slow_locked(nv_pool_t *pool, void *ptr)
{
    owner_t owner;
    if (!find_live(pool, ptr, &owner, "nv_pool_free"))
        return NV_ERROR;
    if (NV_POOL_HARDENING) {
        /* A growing chunk's reserve too: its space goes back with it. */
        checker_t check = {pool, "nv_pool_free", 1, 0};
        if (!check_chunk_guards(&check, owner.chunk, owner_size(&owner),
                                chunk_limit(owner.chunk, owner.large)) ||
            (!owner.large && !check_reserve(&check, owner.chunk))) {
            quarantine_chunk(pool, &owner);
            return NV_ECORRUPT;
        }
    }
    note_peak(pool);
    release_chunk(pool, &owner); /* counted as a free: see live_dropped */
    return NV_OK;
}

/* The fast path: a live chunk of the current block whose redzones verify
 * goes back to the tail (if last) or to its exact list. 0 when `ptr` needs
 * the slow path (not such a chunk, or damaged), which then reports.
 * `extras` as in alloc_try_fast. */
static ALWAYS_INLINE int free_try_fast(nv_pool_t *pool, void *ptr, int entered, int extras)
{
    if (LIKELY(in_current_block(pool, ptr))) {
        nv_pool_chunk_t *chunk = user_chunk(ptr);
        uint32_t tag;
        /* `chunk` may be any bytes of the block until the tag matches. */
#if NV_POOL_ASAN
        track_peek(pool, &chunk->tag, &tag, sizeof tag);
#else
        tag = chunk->tag;
#endif
        if (LIKELY(tag == pool->live_tag)) {
            size_t size = chunk->u.requested;
            size_t bytes = live_bytes(size);
            uint32_t span = (uint32_t)(bytes >> NV_POOL_GRANULE_SHIFT);
            unsigned char *limit = (unsigned char *)chunk + bytes;
            int to_tail;
            void *previous;
            /* Hardened: a damaged size must not send the redzone check past
             * the block's top. */
            if (UNLIKELY(bytes >= span_bytes(NV_POOL_EXACT_BINS) ||
                         (NV_POOL_HARDENING && (char *)limit > pool->bump) ||
                         !live_guards_intact(pool, chunk, (unsigned char *)ptr, size, 0, limit)))
                return 0;
            previous = entered ? OWNER_ALREADY_ENTERED : owner_enter_outer(pool);
            if (UNLIKELY(!previous))
                return 0;
            pool->used -= size;
            pool->live_count--;
            asan_poison(ptr, size);
            to_tail = (char *)limit == pool->bump;
            if (to_tail) {
                forget_chunk(pool, chunk);
                pool->bump = (char *)chunk;
            } else {
                chunk->tag = pool->free_tag;
                chunk->u.span = span;
                freed_store_fast(chunk, limit);
                link_set_fast(chunk, *exact_list(pool, bytes));
                *exact_list(pool, bytes) = chunk;
                pool->exact_mask |= (uint64_t)1 << span;
            }
            if (extras && (pool->fast_flags & NV_POOL_FAST_STATS)) {
                /* note_peak, for the `used` before this free; here, not
                 * before the subtraction, keeps that a single add to
                 * memory when stats are off, and read again (atomic: the
                 * compiler must not keep the old value in a register). */
                size_t before = __atomic_load_n(&pool->used, __ATOMIC_RELAXED) + size;
                if (before > pool->stats.peak_used)
                    pool->stats.peak_used = before;
            }
            owner_leave(pool, previous);
            return 1;
        }
    }
    return 0;
}

int nv_pool_free(nv_pool_t *pool, void *ptr)
{
    /* fast_limit is 0 under Valgrind (its requests need the slow path) and
     * in thread-safe pools (free_slow takes the lock first); as in
     * alloc_fast_at, pools without per-call extras have their own copy. */
    if (LIKELY(pool != NULL)) {
        if (LIKELY(pool->plain_fast_limit != 0)) {
            if (LIKELY(free_try_fast(pool, ptr, 0, 0)))
                return NV_OK;
        } else if (pool->fast_limit != 0 && free_try_fast(pool, ptr, 0, 1)) {
            return NV_OK;
        }
    }
    return free_slow(pool, ptr);
}

/* ======================================================================== */
/* Thread-safe pools: slots                                                 */
/* ======================================================================== */

/* A thread-safe pool with slots serves most allocs and frees without its
 * lock: each thread picks one of NV_POOL_SLOTS slots (round robin, once per
 * thread), holds it for the call with one compare-and-swap, and pops or
 * pushes that slot's own lists of free chunks, counting into the slot. The
 * pool's shared state (blocks, block index, lists, counters, tags) is only
 * read there, never written. A thread that takes the pool's lock first sets
 * `slots_stopped` and waits until no slot is busy: from then on it has the
 * pool to itself, as in a pool without threads. The handshake is Dekker's:
 * a slot holder sets `busy` and then reads `slots_stopped`; the locker sets
 * `slots_stopped` and then reads every `busy`; both are sequentially
 * consistent, so at least one of them sees the other. */

/* The slots and room to align them to a cache line. */
#define SLOTS_BYTES (NV_POOL_SLOTS * sizeof(nv_pool_slot_t) + 64u)

static unsigned slot_next; /* atomic: the next thread's slot */
static _Thread_local unsigned slot_choice NV_TLS_INITIAL_EXEC; /* 1 + this thread's slot; 0: none yet */

static inline nv_pool_slot_t *slot_of_thread(nv_pool_t *pool)
{
    if (!slot_choice)
        slot_choice = __atomic_fetch_add(&slot_next, 1u, __ATOMIC_RELAXED) % NV_POOL_SLOTS + 1u;
    return &pool->slots[slot_choice - 1u];
}

/* This thread's slot, held; NULL if another thread holds it, or if this
 * thread holds the pool's lock (a nested call): the caller then takes the
 * lock. While another thread holds the lock, waits for it to finish rather
 * than queueing on the lock too: otherwise each locked call would send the
 * other threads to the lock and the pool would stay there. */
static inline nv_pool_slot_t *slot_enter(nv_pool_t *pool)
{
    nv_pool_slot_t *slot = slot_of_thread(pool);
    unsigned spins = 0;
    for (;;) {
        int idle = 0;
        if (!__atomic_compare_exchange_n(&slot->busy, &idle, 1, 0, __ATOMIC_SEQ_CST,
                                         __ATOMIC_RELAXED))
            return NULL;
        if (LIKELY(!__atomic_load_n(&pool->slots_stopped, __ATOMIC_SEQ_CST)))
            return slot;
        __atomic_store_n(&slot->busy, 0, __ATOMIC_RELEASE);
        if (__atomic_load_n(&pool->lock.holder, __ATOMIC_RELAXED) == (void *)&thread_identity)
            return NULL;
        while (__atomic_load_n(&pool->slots_stopped, __ATOMIC_ACQUIRE))
            spin_pause(&spins);
    }
}

static inline void slot_leave(nv_pool_slot_t *slot)
{
    __atomic_store_n(&slot->busy, 0, __ATOMIC_RELEASE);
}

/* The caller holds the lock: stops the slots, waits for every one to go
 * idle, folds their counts into the pool and, with `give_back`, puts their
 * cached chunks back on the pool's exact lists. `slots_stopped` stays set
 * until the outermost pool_leave. */
static void slots_stop(nv_pool_t *pool, int give_back)
{
    size_t peak = pool->used;
    unsigned i;
    __atomic_store_n(&pool->slots_stopped, 1, __ATOMIC_SEQ_CST);
    for (i = 0; i < NV_POOL_SLOTS; i++) {
        nv_pool_slot_t *slot = &pool->slots[i];
        unsigned spins = 0, b;
        while (__atomic_load_n(&slot->busy, __ATOMIC_SEQ_CST))
            spin_pause(&spins);
        /* One slot's highest point is exact; with several, their sum is an
         * upper bound of the pool's (they need not peak together). */
        peak += (size_t)slot->used_high;
        pool->used += (size_t)slot->used_change;
        pool->live_count += (size_t)slot->live_change;
        slot->used_change = slot->used_high = slot->live_change = 0;
        if (pool->stats_on) {
            pool->stats.allocated_bytes += slot->allocated_bytes;
            for (b = 0; b < NV_POOL_HISTOGRAM_BUCKETS; b++)
                pool->stats.size_histogram[b] += slot->size_histogram[b];
        }
        slot->allocated_bytes = 0;
        memset(slot->size_histogram, 0, sizeof slot->size_histogram);
        while (give_back && slot->mask) {
            uint32_t span = (uint32_t)__builtin_ctzll(slot->mask);
            nv_pool_chunk_t *last = slot->cache[span], *next;
            while ((next = link_get(pool, last)) != NULL)
                last = next;
            link_set(pool, last, pool->exact_bins[span].head);
            pool->exact_bins[span].head = slot->cache[span];
            pool->exact_mask |= (uint64_t)1 << span;
            slot->cache[span] = NULL;
            slot->count[span] = 0;
            slot->mask &= slot->mask - 1;
        }
    }
    if (pool->stats_on && peak > pool->stats.peak_used)
        pool->stats.peak_used = peak;
}

/* Under the lock, slots stopped: every slot's chunks back on the lists. */
static void slots_give_back(nv_pool_t *pool)
{
    slots_stop(pool, 1);
}

/* Under the lock, slots stopped: moves up to half a slot's worth of chunks
 * of `size`'s span from the pool's exact list into this thread's slot, so
 * the next allocations of that size need no lock. */
static void slot_refill(nv_pool_t *pool, size_t size)
{
    uint32_t span = live_span(size);
    nv_pool_slot_t *slot = slot_of_thread(pool);
    while (pool->exact_bins[span].head && slot->count[span] < NV_POOL_SLOT_CACHE_MAX / 2) {
        nv_pool_chunk_t *chunk = pool->exact_bins[span].head;
        pool->exact_bins[span].head = link_get(pool, chunk);
        link_set(pool, chunk, slot->cache[span]);
        slot->cache[span] = chunk;
        slot->count[span]++;
        slot->mask |= (uint64_t)1 << span;
    }
    if (!pool->exact_bins[span].head)
        pool->exact_mask &= ~((uint64_t)1 << span);
}

/* An allocation from this thread's slot; NULL sends the caller to the
 * locked path (slot busy or stopped, nothing cached of this size, or a
 * cached chunk that fails its check: then *damaged is set). */
static void *slot_alloc(nv_pool_t *pool, size_t size, const site_t *site, int *damaged)
{
    uint32_t span = live_span(size);
    size_t bytes = span_bytes(span);
    nv_pool_slot_t *slot = slot_enter(pool);
    nv_pool_chunk_t *chunk;
    char *user;
    if (!slot)
        return NULL;
    chunk = slot->cache[span];
    if (!chunk) {
        slot_leave(slot);
        return NULL;
    }
    if (UNLIKELY(!freed_intact_fast(chunk, (unsigned char *)chunk + bytes))) {
        slot_leave(slot);
        *damaged = 1;
        return NULL;
    }
    slot->cache[span] = link_get_fast(chunk);
    slot->count[span]--;
    if (!slot->cache[span])
        slot->mask &= ~((uint64_t)1 << span);
    asan_unpoison(chunk, NV_POOL_HEADER_BYTES);
    user = chunk_go_live(pool, chunk, size, bytes, site);
    slot->used_change += (ptrdiff_t)size;
    if (slot->used_change > slot->used_high)
        slot->used_high = slot->used_change;
    slot->live_change++;
    if (pool->stats_on) {
        slot->allocated_bytes += size;
        slot->size_histogram[size_bits(size)]++; /* a fast-path size */
    }
    slot_leave(slot);
    if (pool->zero_clear)
        memset(user, 0, size);
    return user;
}

/* A free into this thread's slot: a live chunk of an exact-list size, in a
 * block, whose redzones verify. 0 sends the caller to the locked path,
 * which handles (and reports) everything else. */
static int slot_free(nv_pool_t *pool, void *ptr)
{
    nv_pool_slot_t *slot;
    nv_pool_block_t *block;
    nv_pool_chunk_t *chunk;
    unsigned char *limit, *top;
    uint32_t tag, span, live;
    size_t size;
    /* At or below the prefix, the chunk's address would be null or wrap. */
    if (((uintptr_t)ptr & (NV_POOL_ALIGNMENT - 1)) != 0 || (uintptr_t)ptr <= NV_POOL_PREFIX)
        return 0;
    slot = slot_enter(pool);
    if (!slot)
        return 0;
    /* Nothing of the pool's changes while a slot is held: the block index,
     * the tops of the blocks and the tags can be read without the lock. */
    chunk = user_chunk(ptr);
    block = block_find(pool, chunk);
    if (!block)
        goto locked;
    top = (unsigned char *)block_top(pool, block);
    if ((unsigned char *)chunk + NV_POOL_HEADER_BYTES > top)
        goto locked;
    /* `chunk` may be any bytes of the block until the tag matches. */
#if NV_POOL_ASAN
    track_peek(pool, &chunk->tag, &tag, sizeof tag);
#else
    tag = __atomic_load_n(&chunk->tag, __ATOMIC_RELAXED);
#endif
    live = pool->live_tag;
    if (tag != live)
        goto locked;
    size = chunk->u.requested;
    span = live_span(size);
    limit = (unsigned char *)chunk + span_bytes(span);
    if (span >= NV_POOL_EXACT_BINS || limit > top ||
        slot->count[span] >= NV_POOL_SLOT_CACHE_MAX ||
        !live_guards_intact(pool, chunk, (unsigned char *)ptr, size, 0, limit))
        goto locked;
    /* Two threads freeing the same pointer at once: one wins, the other
     * goes to the locked path and reports a double free. */
    if (!__atomic_compare_exchange_n(&chunk->tag, &live, pool->free_tag, 0, __ATOMIC_RELAXED,
                                     __ATOMIC_RELAXED))
        goto locked;
    slot->used_change -= (ptrdiff_t)size;
    slot->live_change--;
    asan_poison(ptr, size);
    chunk->u.span = span;
    freed_store_fast(chunk, limit);
    link_set_fast(chunk, slot->cache[span]);
    slot->cache[span] = chunk;
    slot->count[span]++;
    slot->mask |= (uint64_t)1 << span;
    slot_leave(slot);
    return 1;
locked:
    slot_leave(slot);
    return 0;
}

/* ======================================================================== */
/* Public allocation functions                                              */
/* ======================================================================== */

static ALWAYS_INLINE void *pool_alloc(nv_pool_t *pool, size_t size, const site_t *site)
{
    return alloc_fast(pool, size, site);
}

static void *pool_align(nv_pool_t *pool, size_t size, size_t alignment, const site_t *site)
{
    if (!is_power_of_two(alignment) || alignment > NV_POOL_MAX_ALIGNMENT) {
        note_refusal(pool, "nv_pool_align");
        nv_log_error("nv_pool_align: alignment %zu is not a power of two up to %d",
                     alignment, NV_POOL_MAX_ALIGNMENT);
        return NULL;
    }
    if (alignment <= NV_POOL_ALIGNMENT)
        return alloc_fast(pool, size, site);
    return alloc_fast_aligned(pool, size, alignment, site);
}

static void *pool_align_array(nv_pool_t *pool, size_t nmemb, size_t size,
                              size_t alignment, const site_t *site)
{
    if (size != 0 && nmemb > SIZE_MAX / size) {
        note_refusal(pool, "nv_pool_align_array");
        nv_log_error("nv_pool: array of %zu x %zu bytes overflows size_t", nmemb, size);
        return NULL;
    }
    return pool_align(pool, nmemb * size, alignment, site);
}

static void *pool_calloc(nv_pool_t *pool, size_t nmemb, size_t size, const site_t *site)
{
    char *user;
    if (size != 0 && nmemb > SIZE_MAX / size) {
        note_refusal(pool, "nv_pool_calloc");
        nv_log_error("nv_pool_calloc: %zu x %zu bytes overflows size_t", nmemb, size);
        return NULL;
    }
    user = (char *)alloc_fast(pool, nmemb * size, site);
    if (user && !pool->zero_clear)
        memset(user, 0, nmemb * size);
    return user;
}

/* Resizes a live chunk in place if its block allows; 1 on success. A block
 * chunk may grow into its reserve, or past the top if it is the last. */
static int resize_in_place(nv_pool_t *pool, const owner_t *owner, size_t size)
{
    nv_pool_chunk_t *chunk = owner->chunk;
    char *user = chunk_user(chunk);
    size_t old = owner_size(owner);
    char *limit;
    if (owner->large) {
        nv_pool_large_t *large = owner->large;
        /* Shrinking always stays in place (contract §4); the memory goes
         * back to the backend when the chunk is freed. */
        if (size > large->capacity)
            return 0;
        large->requested = size;
        limit = (char *)large->base + large->size;
    } else {
        uint32_t span = request_span(size);
        /* What the chunk holds now, reserve included. */
        uint32_t have = live_chunk_span(pool, chunk);
        char *end = (char *)chunk + span_bytes(have);
        char *top = block_top(pool, owner->block);
        if (span == 0)
            return 0;
        if (span > have) {
            if (end != top || span_bytes(span) > (size_t)(owner->block->end - (char *)chunk))
                return 0;
            block_set_top(pool, owner->block, (char *)chunk + span_bytes(span));
            have = span;
        } else if (size < old && have > span) {
            /* Shrinking gives the rest back, reserve included. */
            char *rest = (char *)chunk + span_bytes(span);
            if (end == top) {
                track_noaccess(pool, rest, span_bytes(have - span));
                block_set_top(pool, owner->block, rest);
            } else {
                make_free_chunk(pool, rest, have - span);
            }
            have = span;
        }
        /* Growing within the reserve keeps the rest of it, still holding
         * the freed pattern (at most NV_POOL_RESERVE_MAX granules: a
         * shrink gave back anything more). */
        chunk->tag = live_tag_with(pool, have - span);
        chunk->u.requested = (uint32_t)size;
        limit = (char *)chunk + span_bytes(span);
    }
    note_peak(pool);
    pool->used = pool->used - old + size;
    track_chunk_resize(pool, user, old, size, limit);
    /* Past the new size nothing is the caller's. */
    track_noaccess(pool, user + size, (size_t)(limit - (user + size)));
    guard_chunk(pool, chunk, size, limit);
    if (pool->zero_clear && size > old)
        memset(user + old, 0, size - old);
    return 1;
}

static void *pool_realloc_locked(nv_pool_t *pool, void *ptr, size_t size,
                                 const site_t *site);

/* The release build's fast path for a realloc that grows a live chunk of
 * the current block in place: within its span and reserve, or at the bump
 * pointer. resize_in_place's growth without the block search and the
 * calls. NULL for anything else (size 0, a shrink, a move, a size of 2^32
 * or more, a chunk elsewhere, a header that does not check out): the slow
 * path then does the work, with its reports. Hardened builds check
 * redzones and reserve first, so they always take the slow path. */
static ALWAYS_INLINE void *realloc_try_fast(nv_pool_t *pool, void *ptr, size_t size)
{
    nv_pool_chunk_t *chunk;
    uint32_t tag, old, have, span;
    char *end;
    if (NV_POOL_HARDENING || NV_POOL_ASAN || !in_current_block(pool, ptr))
        return NULL;
    chunk = user_chunk(ptr); /* only now: `ptr` may be any address */
    tag = chunk->tag;
    old = chunk->u.requested;
    /* Size 0 frees; a shrink may leave a free chunk behind. */
    if (!tag_is_live(pool, tag) || size == 0 || size < old || size >= NV_POOL_SIZE_LARGE)
        return NULL;
    have = live_span(old) + tag_reserve(pool, tag);
    /* Compared before `end` is formed: a damaged size would put it far
     * past the block. The slow path reports such a header. */
    if (span_bytes(have) > (size_t)(pool->bump - (char *)chunk))
        return NULL;
    end = (char *)chunk + span_bytes(have);
    span = live_span(size);
    if (span > have) {
        if (end != pool->bump || span_bytes(span) > (size_t)(pool->bump_end - (char *)chunk))
            return NULL;
        pool->bump = (char *)chunk + span_bytes(span);
        have = span;
    }
    chunk->tag = live_tag_with(pool, have - span);
    chunk->u.requested = (uint32_t)size;
    pool->used += size - old;
    if (UNLIKELY(pool->fast_flags)) {
        if (pool->fast_flags & NV_POOL_FAST_ZERO)
            memset((char *)ptr + old, 0, size - old);
        if (pool->fast_flags & NV_POOL_FAST_STATS)
            pool->stats.reallocations++;
    }
    return ptr;
}

static void *pool_realloc(nv_pool_t *pool, void *ptr, size_t size, const site_t *site)
{
    void *previous, *result;
    if (!pool) {
        nv_log_error("nv_pool_realloc: NULL pool (pointer %p)", ptr);
        return NULL;
    }
    if (!ptr)
        return alloc_fast(pool, size, site);
    /* fast_limit is 0 where fast paths are off: Valgrind, passthrough and
     * thread-safe pools. */
    if (LIKELY(pool->fast_limit != 0)) {
        result = realloc_try_fast(pool, ptr, size);
        if (LIKELY(result != NULL))
            return result;
    }
    previous = pool_enter(pool, "nv_pool_realloc");
    result = pool_realloc_locked(pool, ptr, size, site);
    pool_leave(pool, previous);
    return result;
}

static void *pool_realloc_locked(nv_pool_t *pool, void *ptr, size_t size,
                                 const site_t *site)
{
    owner_t owner;
    char *fresh;
    size_t old, reserve;
    if (!find_live_current(pool, ptr, &owner) && !find_live(pool, ptr, &owner, "nv_pool_realloc"))
        return NULL;
    if (NV_POOL_HARDENING) {
        checker_t check = {pool, "nv_pool_realloc", 1, 0};
        if (!check_chunk_guards(&check, owner.chunk, owner_size(&owner),
                                chunk_limit(owner.chunk, owner.large)) ||
            !reserve_taken_intact(&check, owner.chunk, owner.large != NULL, owner_size(&owner),
                                  size)) {
            quarantine_chunk(pool, &owner);
            return NULL;
        }
    }
    if (size == 0) {
        note_peak(pool);
        release_chunk(pool, &owner); /* counted as a free: see live_dropped */
        return NULL;
    }
    old = owner_size(&owner);
    if (!pool->passthrough && resize_in_place(pool, &owner, size)) {
        if (pool->stats_on)
            pool->stats.reallocations++;
        return ptr;
    }
    /* A chunk that has to move to grow gets half as much again (at most
     * NV_POOL_RESERVE_MAX granules, 4080 bytes) as room to grow in place
     * next time, so a buffer grown by small appends moves O(log n) times up
     * to 8 KiB and every 4 KiB above, not on every append. Only in pools
     * without limits: a capped or fixed pool must not refuse a request
     * that fits exactly. */
    reserve = size;
    if (size > old && pool->auto_extend && pool->max_size == 0 && old <= SIZE_MAX / 2 &&
        old + old / 2 > size)
        reserve = old + old / 2;
    note_peak(pool);
    fresh = alloc_chunk_reserve(pool, size, reserve, NV_POOL_ALIGNMENT, site);
    if (!fresh) {
        note_failure(pool);
        nv_log_error("nv_pool_realloc: pool '%s': cannot grow %p from %zu to %zu bytes",
                     pool->name, ptr, old, size);
        return NULL;
    }
    /* alloc_chunk may have moved `current`; the old chunk's block is fixed. */
    memcpy(fresh, ptr, old < size ? old : size);
    if (pool->zero_clear && size > old)
        memset(fresh + old, 0, size - old);
    release_chunk(pool, &owner);
    if (pool->stats_on)
        pool->stats.reallocations++;
    return fresh;
}

void *(nv_pool_alloc)(nv_pool_t *pool, size_t size)
{
    return pool_alloc(pool, size, NULL);
}

void *(nv_pool_calloc)(nv_pool_t *pool, size_t nmemb, size_t size)
{
    return pool_calloc(pool, nmemb, size, NULL);
}

void *(nv_pool_realloc)(nv_pool_t *pool, void *ptr, size_t size)
{
    return pool_realloc(pool, ptr, size, NULL);
}

void *(nv_pool_align)(nv_pool_t *pool, size_t size, size_t alignment)
{
    return pool_align(pool, size, alignment, NULL);
}

void *(nv_pool_align_array)(nv_pool_t *pool, size_t nmemb, size_t size, size_t alignment)
{
    return pool_align_array(pool, nmemb, size, alignment, NULL);
}

void *nv_pool_alloc_at(nv_pool_t *pool, size_t size, const char *file, int line,
                       const char *function)
{
    site_t site = {file, line, function};
    return pool_alloc(pool, size, &site);
}

void *nv_pool_calloc_at(nv_pool_t *pool, size_t nmemb, size_t size, const char *file,
                        int line, const char *function)
{
    site_t site = {file, line, function};
    return pool_calloc(pool, nmemb, size, &site);
}

void *nv_pool_realloc_at(nv_pool_t *pool, void *ptr, size_t size, const char *file,
                         int line, const char *function)
{
    site_t site = {file, line, function};
    return pool_realloc(pool, ptr, size, &site);
}

void *nv_pool_align_at(nv_pool_t *pool, size_t size, size_t alignment, const char *file,
                       int line, const char *function)
{
    site_t site = {file, line, function};
    return pool_align(pool, size, alignment, &site);
}

void *nv_pool_align_array_at(nv_pool_t *pool, size_t nmemb, size_t size,
                             size_t alignment, const char *file, int line,
                             const char *function)
{
    site_t site = {file, line, function};
    return pool_align_array(pool, nmemb, size, alignment, &site);
}

/* ======================================================================== */
/* Walking                                                                  */
/* ======================================================================== */

/* Bytes ahead of a walk that it prefetches, one WALK_LINE at a time. On
 * the second machine of docs/performance.md this halved hardened W6 (1M
 * 64-byte chunks, allocations and reset): 36 -> 18 ns per allocation. An
 * earlier one-prefetch-per-step version gained less at 256-512 than at
 * 2048, and no more at 4096. */
#define WALK_PREFETCH_AHEAD 2048
#define WALK_LINE 64
#define WALK_LINE_MASK (~(uintptr_t)(WALK_LINE - 1))

/* Prefetches the lines of the block up to WALK_PREFETCH_AHEAD past `at`
 * that are not fetched yet, from `fetched` (the next line to fetch), and
 * returns the new next line. Each step of a walk learns its next address
 * from the header before it, so without this it waits for one miss at a
 * time; chunks tile the block upwards, and fetching every line ahead of the
 * walk turns the chase into a stream (a header and a back redzone per chunk
 * otherwise miss).
 * Two lines go out on every step whatever the chunk's size, and the loop
 * only runs for bigger chunks: a loop whose trip count followed each random
 * chunk size was mispredicted almost every step (hardened W1 7.3 -> 10.3 ns
 * per chunk on one EPYC host). A prefetch past the block's end does not
 * fault, and the addresses are integers: no pointer leaves the block. */
static ALWAYS_INLINE uintptr_t walk_prefetch(uintptr_t fetched, const char *at)
{
    uintptr_t want = ((uintptr_t)at + WALK_PREFETCH_AHEAD) & WALK_LINE_MASK;
    if (fetched < (uintptr_t)at) /* a big chunk left the fetching behind */
        fetched = (uintptr_t)at & WALK_LINE_MASK;
    __builtin_prefetch((const void *)fetched);
    __builtin_prefetch((const void *)(fetched + WALK_LINE));
    fetched += 2 * WALK_LINE;
    fetched = fetched > want + WALK_LINE ? want + WALK_LINE : fetched;
    for (; fetched <= want; fetched += WALK_LINE)
        __builtin_prefetch((const void *)fetched);
    return fetched;
}

/* Visits every chunk of `block` in address order; stops (returning 0) at a
 * header that cannot be walked past, after reporting it. */
typedef int (*chunk_visitor_t)(nv_pool_t *pool, nv_pool_block_t *block,
                               nv_pool_chunk_t *chunk, void *context);

static ALWAYS_INLINE int walk_block(checker_t *check, nv_pool_block_t *block, chunk_visitor_t visit,
                      void *context)
{
    nv_pool_t *pool = check->pool;
    char *at = block->start;
    char *top = block_top(pool, block);
    /* A damaged size sends the walk into the middle of a chunk: bytes the
     * tools may hold undefined or poisoned until the tag is checked. */
    int watched = NV_POOL_ASAN || NV_TRACK_VG(pool);
    uintptr_t fetched = (uintptr_t)at & WALK_LINE_MASK; /* next line to prefetch */
    while (at < top) {
        nv_pool_chunk_t *chunk = (nv_pool_chunk_t *)at;
        uint32_t tag, word, span;
        fetched = walk_prefetch(fetched, at);
        if (UNLIKELY(watched)) {
            uint32_t header[2];
            track_peek(pool, chunk, header, sizeof header);
            tag = header[0];
            word = header[1];
        } else {
            /* Two loads, not one copied through memory: reading half of a
             * stored word back made every step wait (store forwarding). */
            tag = chunk->tag;
            word = chunk->u.requested;
        }
        span = header_span(pool, tag, word);
        if (span == 0 || !span_fits(span, at, top)) {
            report(check, NULL, chunk_user(chunk), NV_POOL_CORRUPT_HEADER,
                   -(long)NV_POOL_PREFIX,
                   "a chunk header in a block was overwritten; the rest of the block "
                   "cannot be walked");
            return 0;
        }
        if (visit && !visit(pool, block, chunk, context))
            return 0;
        at += span_bytes(span);
    }
    return 1;
}

/* Checks every live chunk's redzones (reset, destroy). */
static int guard_visitor(nv_pool_t *pool, nv_pool_block_t *block, nv_pool_chunk_t *chunk,
                         void *context)
{
    (void)block;
    if (tag_is_live(pool, chunk->tag) &&
        !chunk_guards_intact(pool, chunk, chunk->u.requested, chunk_limit(chunk, NULL)))
        check_chunk_guards((checker_t *)context, chunk, chunk->u.requested,
                           chunk_limit(chunk, NULL));
    return 1;
}

static void check_all_guards(nv_pool_t *pool, const char *operation)
{
    checker_t check = {pool, operation, 1, 0};
    nv_pool_block_t *block;
    size_t i;
    if (!NV_POOL_HARDENING)
        return;
    for (block = pool->blocks; block; block = block->next)
        walk_block(&check, block, guard_visitor, &check);
    for (i = 0; i < pool->large_capacity; i++) {
        nv_pool_large_t *large = pool->large_slots[i];
        if (large)
            check_chunk_guards(&check, user_chunk(large->user), large->requested,
                               chunk_limit(NULL, large));
    }
}

/* Re-derives `used` and the live count from the chunks themselves, after a
 * chunk whose header may be damaged was taken out of service. O(chunks):
 * only corruption paths call it. */
static int recount_visitor(nv_pool_t *pool, nv_pool_block_t *block, nv_pool_chunk_t *chunk,
                           void *context)
{
    size_t *totals = (size_t *)context;
    (void)block;
    if (tag_is_live(pool, chunk->tag)) {
        totals[0] += chunk->u.requested;
        totals[1]++;
    }
    return 1;
}

static void recount(nv_pool_t *pool)
{
    checker_t check = {pool, "nv_pool (recount)", 0, 0};
    nv_pool_block_t *block;
    size_t totals[2] = {0, 0}, i;
    sync_current(pool);
    for (block = pool->blocks; block; block = block->next)
        walk_block(&check, block, recount_visitor, totals);
    for (i = 0; i < pool->large_capacity; i++)
        if (pool->large_slots[i]) {
            totals[0] += pool->large_slots[i]->requested;
            totals[1]++;
        }
    note_peak(pool);
    pool->used = totals[0];
    /* Chunks that stop counting as live here were not freed. */
    pool->live_dropped += (uint64_t)pool->live_count - (uint64_t)totals[1];
    pool->live_count = totals[1];
}

/* ======================================================================== */
/* Creation, reset, destruction                                             */
/* ======================================================================== */

static uint64_t random_secret(const void *salt)
{
    uint64_t secret = 0;
    if (getrandom(&secret, sizeof secret, GRND_NONBLOCK) != (ssize_t)sizeof secret) {
        int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
        ssize_t got = fd >= 0 ? read(fd, &secret, sizeof secret) : -1;
        if (fd >= 0)
            close(fd);
        if (got != (ssize_t)sizeof secret) {
            struct timespec now;
            clock_gettime(CLOCK_MONOTONIC, &now);
            secret = mix64((uint64_t)now.tv_nsec ^ ((uint64_t)now.tv_sec << 32) ^
                           (uint64_t)(uintptr_t)salt);
        }
    }
    return secret;
}

/* Derives this epoch's chunk tags: odd (so never 0), unguessable, and
 * distinct in their low 24 bits, which alone identify a growing chunk (its
 * top byte holds its reserve). */
static void set_epoch_tags(nv_pool_t *pool)
{
    uint64_t a = mix64(pool->secret + 0x632be59bd9b4e019ull * (pool->epoch + 1));
    uint64_t b = mix64(a);
    uint32_t *tags[4];
    unsigned i, j;
    /* Canaries change with the epoch too: a stale front redzone from before
     * a reset must not make garbage look like a damaged live chunk. */
    pool->canary_secret = mix64(b ^ pool->secret);
    tags[0] = &pool->growing_tag;
    tags[1] = &pool->live_tag;
    tags[2] = &pool->free_tag;
    tags[3] = &pool->quarantine_tag;
    *tags[0] = (uint32_t)a | 1u;
    *tags[1] = (uint32_t)(a >> 32) | 1u;
    *tags[2] = (uint32_t)b | 1u;
    *tags[3] = (uint32_t)(b >> 32) | 1u;
    for (i = 1; i < 4; i++)
        for (j = 0; j < i; j++)
            if (((*tags[i] ^ *tags[j]) & TAG_KEY_MASK) == 0) {
                *tags[i] += 2u;
                j = (unsigned)-1; /* compare with all again */
            }
}

static int config_valid(const nv_pool_config_t *c)
{
    if (c->max_size != 0 && c->initial_size > c->max_size) {
        nv_log_error("nv_pool_create: initial_size (%zu) is larger than max_size (%zu)",
                     c->initial_size, c->max_size);
        return 0;
    }
    if (c->max_size != 0 && c->min_size > c->max_size) {
        nv_log_error("nv_pool_create: min_size (%zu) is larger than max_size (%zu)",
                     c->min_size, c->max_size);
        return 0;
    }
    if (c->initial_size > SIZE_MAX / 2) {
        nv_log_error("nv_pool_create: initial_size (%zu) is too large to round",
                     c->initial_size);
        return 0;
    }
    if (c->min_size > SIZE_MAX / 4) {
        nv_log_error("nv_pool_create: min_size (%zu) is too large to round", c->min_size);
        return 0;
    }
    if (c->backend && (!c->backend->alloc || !c->backend->release)) {
        nv_log_error("nv_pool_create: backend needs both alloc and release");
        return 0;
    }
    return 1;
}

/* Copies a pool name, cutting a long one at a character boundary so a
 * multi-byte UTF-8 character is never split. */
static void copy_name(char *name, const char *source)
{
    size_t length = strlen(source);
    if (length >= NV_POOL_NAME_MAX) {
        length = NV_POOL_NAME_MAX - 1;
        while (length > 0 && ((unsigned char)source[length] & 0xC0) == 0x80)
            length--;
    }
    memcpy(name, source, length);
    name[length] = '\0';
}

static int env_passthrough(void)
{
    const char *value = getenv("NV_POOL_PASSTHROUGH");
    return value && value[0] != '\0' && strcmp(value, "0") != 0;
}

/* Gives a thread-safe pool its slots, unless they would take more than a
 * sixteenth of max_size: then every call takes the lock (correct, slower). */
static void slots_create(nv_pool_t *pool)
{
    size_t bytes = SLOTS_BYTES;
    char *memory;
    if (pool->max_size != 0 && (pool->max_size / 16 < bytes || !within_budget(pool, bytes)))
        return;
    memory = (char *)backend_get(pool, bytes);
    if (!memory)
        return;
    memset(memory, 0, bytes);
    pool->slots_memory = memory;
    pool->slots = (nv_pool_slot_t *)(void *)(memory + (64u - ((uintptr_t)memory & 63u)) % 64u);
}

nv_pool_t *nv_pool_create(const nv_pool_config_t *config)
{
    static const nv_pool_config_t defaults = NV_POOL_CONFIG_DEFAULT;
    const nv_pool_config_t *c = config ? config : &defaults;
    const nv_pool_backend_t *backend;
    nv_pool_t *pool;

    if (!config_valid(c))
        return NULL;
    backend = c->backend ? c->backend : &nv_pool_backend_malloc;
    pool = (nv_pool_t *)backend->alloc(backend->context, sizeof *pool);
    if (!pool) {
        nv_log_error("nv_pool_create: backend could not supply %zu bytes for the pool",
                     sizeof *pool);
        return NULL;
    }
    memset(pool, 0, sizeof *pool);
    pool->backend = *backend;
    pool->held = sizeof *pool;
    pool->initial_size = c->initial_size;
    pool->max_size = c->max_size;
    pool->min_size = c->min_size ? c->min_size : NV_POOL_DEFAULT_MIN_SIZE;
    pool->auto_extend = c->auto_extend != 0;
    pool->zero_clear = c->zero_clear != 0;
    pool->stats_on = c->enable_stats != 0;
    pool->passthrough = c->passthrough != 0 || env_passthrough();
    pool->next_block_size = pool->min_size;
    copy_name(pool->name, c->name ? c->name : "pool");
    pool->on_valgrind = track_running_on_valgrind();
    /* Valgrind needs every chunk described, passthrough needs every request
     * to reach the backend: both take the slow paths only. Thread-safe pools
     * take the fast paths only from alloc_slow and free_slow, under the lock. */
    pool->thread_safe = c->thread_safe != 0;
#if NV_POOL_HARDENING
    if (pool->thread_safe)
        pool->biased_to = BIAS_REVOKED; /* shared by design: the exchange only */
#endif
    pool->fast_limit = pool->on_valgrind || pool->passthrough || pool->thread_safe
                           ? 0
                           : NV_POOL_FAST_MAX + 1;
    pool->locked_fast_limit = pool->on_valgrind || pool->passthrough || !pool->thread_safe
                                  ? 0
                                  : NV_POOL_FAST_MAX + 1;
    pool->fast_flags = (pool->stats_on ? NV_POOL_FAST_STATS : 0u) |
                       (pool->zero_clear ? NV_POOL_FAST_ZERO : 0u);
    pool->plain_fast_limit = pool->fast_flags ? 0 : pool->fast_limit;
    pool->secret = random_secret(pool);
    set_epoch_tags(pool);
    if (pool->thread_safe) {
        if (!lock_init(&pool->lock)) {
            nv_log_error("nv_pool_create: cannot create the lock of a thread-safe pool");
            backend->release(backend->context, pool, sizeof *pool);
            return NULL;
        }
    }
    track_pool_create(pool);
    if (pool->thread_safe && pool->locked_fast_limit != 0)
        slots_create(pool);

    if (pool->max_size != 0 && pool->held > pool->max_size) {
        nv_log_error("nv_pool_create: max_size (%zu) is below the pool's own %zu bytes",
                     pool->max_size, pool->held);
        nv_pool_destroy(pool);
        return NULL;
    }
    if (c->initial_size > 0 && !pool->passthrough) {
        size_t size = round_up16(c->initial_size);
        size_t floor = BLOCK_MIN_BYTES;
        size_t index_bytes = 8 * sizeof(void *);
        nv_pool_block_t *block;
        if (size < floor)
            size = floor;
        /* The pool's own bookkeeping counts against max_size; an initial
         * block as large as max_size is trimmed to what fits. */
        if (pool->max_size != 0 && !within_budget(pool, size + index_bytes)) {
            size = pool->max_size > pool->held + index_bytes
                       ? (pool->max_size - pool->held - index_bytes) & ~(size_t)15
                       : 0;
            if (size < floor) {
                nv_log_error("nv_pool_create: max_size (%zu) leaves no room for an "
                             "initial block",
                             pool->max_size);
                nv_pool_destroy(pool);
                return NULL;
            }
        }
        block = block_new(pool, size);
        if (!block) {
            nv_log_error("nv_pool_create: backend could not supply the initial %zu-byte "
                         "block",
                         size);
            nv_pool_destroy(pool);
            return NULL;
        }
        pool->next_block_size = size < pool->min_size ? pool->min_size : size;
        /* Rounding may make the block a little larger than initial_size;
         * reset and compact keep blocks up to the initial block's size. */
        if (size > pool->initial_size)
            pool->initial_size = size;
        set_current(pool, block);
    }
    return pool;
}

nv_pool_t *nv_pool_create_default(void)
{
    return nv_pool_create(NULL);
}

/* Blocks an auto-extending pool keeps on reset/compact: creation order, while
 * their sizes add up to at most initial_size. A fixed pool keeps all. */
static void release_blocks_beyond_initial(nv_pool_t *pool, int only_empty)
{
    nv_pool_block_t *block = pool->blocks, *next;
    size_t kept = 0;
    if (!pool->auto_extend)
        return;
    for (; block; block = next) {
        next = block->next;
        if (kept + block->size <= pool->initial_size && kept + block->size >= kept) {
            kept += block->size;
            continue;
        }
        if (!only_empty || block_top(pool, block) == block->start)
            block_release(pool, block);
    }
}

static void release_all_large(nv_pool_t *pool)
{
    size_t i;
    for (i = 0; i < pool->large_capacity; i++) {
        nv_pool_large_t *large = pool->large_slots[i];
        if (large) {
            pool->large_slots[i] = NULL;
            backend_put(pool, large->base, large->size);
        }
    }
    pool->large_count = 0;
}

static void reset_unlocked(nv_pool_t *pool)
{
    nv_pool_block_t *block;
    if (!pool) {
        nv_log_error("nv_pool_reset: NULL pool");
        return;
    }
    sync_current(pool);
    check_all_guards(pool, "nv_pool_reset");
    track_pool_trim(pool);
    release_all_large(pool);
    release_blocks_beyond_initial(pool, 0);
    for (block = pool->blocks; block; block = block->next) {
        block->current = block->start;
        block->used = 0;
        track_noaccess(pool, block->start, (size_t)(block->end - block->start));
    }
    pool->current = NULL;
    set_current(pool, pool->blocks);
    bins_clear(pool);
    note_peak(pool);
    pool->used = 0;
    pool->live_dropped += pool->live_count; /* dropped, not freed */
    pool->live_count = 0;
    pool->epoch++;
    set_epoch_tags(pool);
    if (pool->stats_on)
        pool->stats.resets++;
}

void nv_pool_destroy(nv_pool_t *pool)
{
    nv_pool_backend_t backend;
    if (!pool)
        return;
    /* Destroying a pool another thread still uses is the caller's bug: no
     * lock is taken, but hardened builds still notice the other thread. */
    (void)owner_enter(pool, "nv_pool_destroy");
    if (pool->slots)
        slots_stop(pool, 1); /* no thread may still be inside: this does not wait */
    sync_current(pool);
    check_all_guards(pool, "nv_pool_destroy");
    if (NV_POOL_SITES && pool->live_count > 0)
        nv_pool_leak_report(pool, NULL);
    track_pool_destroy(pool);
    release_all_large(pool);
    while (pool->blocks)
        block_release(pool, pool->blocks);
    if (pool->block_index)
        backend_put(pool, pool->block_index, pool->block_index_capacity * sizeof(void *));
    if (pool->large_slots)
        backend_put(pool, pool->large_slots, pool->large_capacity * sizeof(void *));
    if (pool->slots_memory)
        backend_put(pool, pool->slots_memory, SLOTS_BYTES);
    if (pool->thread_safe)
        pthread_mutex_destroy(&pool->lock.mutex);
    backend = pool->backend;
    backend.release(backend.context, pool, sizeof *pool);
}

/* ======================================================================== */
/* Growing and shrinking                                                    */
/* ======================================================================== */

static int extend_unlocked(nv_pool_t *pool, size_t size)
{
    size_t bytes;
    nv_pool_block_t *block;
    if (!pool) {
        nv_log_error("nv_pool_extend: NULL pool");
        return NV_ERROR;
    }
    if (size == 0) {
        nv_log_error("nv_pool_extend: pool '%s': size 0", pool->name);
        return NV_ERROR;
    }
    bytes = block_bytes_for(round_up16(size), 0);
    if (size > SIZE_MAX - NV_POOL_GRANULE || bytes == 0) {
        nv_log_error("nv_pool_extend: pool '%s': size %zu overflows", pool->name, size);
        return NV_ERROR;
    }
    if (bytes < pool->min_size)
        bytes = round_up16(pool->min_size);
    if (!within_budget(pool, bytes + index_growth_bytes(pool))) {
        nv_log_error("nv_pool_extend: pool '%s': %zu more bytes would pass max_size (%zu)",
                     pool->name, bytes, pool->max_size);
        return NV_ERROR;
    }
    block = block_new(pool, bytes);
    if (!block) {
        nv_log_error("nv_pool_extend: pool '%s': backend refused %zu bytes", pool->name,
                     bytes);
        return NV_ERROR;
    }
    if (!pool->current || (size_t)(pool->bump_end - pool->bump) < (size_t)(block->end - block->start))
        set_current(pool, block);
    return NV_OK;
}

/* Any live chunk in the block? (free and quarantined chunks do not count) */
static int live_visitor(nv_pool_t *pool, nv_pool_block_t *block, nv_pool_chunk_t *chunk,
                        void *context)
{
    (void)block;
    if (tag_is_live(pool, chunk->tag)) {
        *(int *)context = 1;
        return 0;
    }
    return 1;
}

static int block_has_live(nv_pool_t *pool, nv_pool_block_t *block)
{
    checker_t check = {pool, "nv_pool_shrink", 0, 0};
    int live = 0;
    if (!walk_block(&check, block, live_visitor, &live) && !live)
        return 1; /* unwalkable: keep it rather than guess */
    return live;
}

/* Re-files every free chunk of every block (after blocks went away). */
static int refile_visitor(nv_pool_t *pool, nv_pool_block_t *block, nv_pool_chunk_t *chunk,
                          void *context)
{
    (void)block;
    (void)context;
    if (chunk->tag == pool->free_tag)
        file_free_chunk(pool, chunk);
    return 1;
}

static void rebuild_bins(nv_pool_t *pool)
{
    checker_t check = {pool, "nv_pool_compact", 0, 0};
    nv_pool_block_t *block;
    bins_clear(pool);
    for (block = pool->blocks; block; block = block->next)
        walk_block(&check, block, refile_visitor, NULL);
}

static int shrink_unlocked(nv_pool_t *pool, size_t size)
{
    size_t released = 0;
    int changed = 0;
    if (!pool) {
        nv_log_error("nv_pool_shrink: NULL pool");
        return NV_ERROR;
    }
    sync_current(pool);
    while (released < size) {
        /* Newest empty block first: older blocks are the warm ones. */
        nv_pool_block_t *block, *victim = NULL;
        for (block = pool->blocks; block; block = block->next)
            if (!block_has_live(pool, block))
                victim = block;
        if (!victim)
            break;
        released += victim->size;
        block_release(pool, victim);
        changed = 1;
    }
    if (changed) {
        rebuild_bins(pool);
        if (!pool->current && pool->blocks) {
            nv_pool_block_t *last = pool->blocks;
            while (last->next)
                last = last->next;
            set_current(pool, last);
        }
    }
    return NV_OK;
}

/* Merges runs of free chunks in one block; a run reaching the top gives its
 * space back to the tail. */
static void compact_block(nv_pool_t *pool, nv_pool_block_t *block)
{
    char *at = block->start;
    char *top = block_top(pool, block);
    nv_pool_chunk_t *run = NULL;
    while (at < top) {
        nv_pool_chunk_t *chunk = (nv_pool_chunk_t *)at;
        size_t bytes = span_bytes(chunk_span(pool, chunk));
        if (chunk->tag == pool->free_tag) {
            if (run && (size_t)run->u.span + chunk->u.span <= UINT32_MAX) {
                run->u.span += chunk->u.span;
                /* The absorbed header and link become freed content. */
                fill_freed(pool, (unsigned char *)chunk,
                           (unsigned char *)chunk + NV_POOL_FREE_HEADER_BYTES);
            } else {
                run = chunk;
            }
        } else {
            run = NULL;
        }
        at += bytes;
    }
    if (run && (char *)run + span_bytes(run->u.span) == top) {
        track_noaccess(pool, run, span_bytes(run->u.span));
        block_set_top(pool, block, (char *)run);
    }
}

static int compact_unlocked(nv_pool_t *pool)
{
    nv_pool_block_t *block;
    checker_t check;
    if (!pool) {
        nv_log_error("nv_pool_compact: NULL pool");
        return NV_ERROR;
    }
    sync_current(pool);
    check.pool = pool;
    check.operation = "nv_pool_compact";
    check.to_handler = 1;
    check.problems = 0;
    for (block = pool->blocks; block; block = block->next) {
        if (!walk_block(&check, block, NULL, NULL))
            return NV_ECORRUPT;
    }
    for (block = pool->blocks; block; block = block->next)
        compact_block(pool, block);
    release_blocks_beyond_initial(pool, 1);
    if (!pool->current && pool->blocks)
        set_current(pool, pool->blocks);
    rebuild_bins(pool);
    return NV_OK;
}

/* ======================================================================== */
/* Queries and statistics                                                   */
/* ======================================================================== */

size_t nv_pool_get_size(nv_pool_t *pool)
{
    void *previous;
    size_t result;
    if (!pool)
        return 0;
    previous = pool_enter(pool, "nv_pool_get_size");
    result = pool->held;
    pool_leave(pool, previous);
    return result;
}

size_t nv_pool_get_used(nv_pool_t *pool)
{
    void *previous;
    size_t result;
    if (!pool)
        return 0;
    previous = pool_enter(pool, "nv_pool_get_used");
    result = pool->used;
    pool_leave(pool, previous);
    return result;
}

/* Free bytes: block tails plus free chunks; also the largest free extent. */
static size_t free_bytes(nv_pool_t *pool, size_t *largest)
{
    size_t total = 0, best = 0;
    nv_pool_block_t *block;
    unsigned i;
    for (block = pool->blocks; block; block = block->next) {
        size_t tail = (size_t)(block->end - block_top(pool, block));
        total += tail;
        if (tail > best)
            best = tail;
    }
    for (i = 0; i < NV_POOL_EXACT_BINS + NV_POOL_RANGE_BINS; i++) {
        nv_pool_chunk_t *chunk =
            i < NV_POOL_EXACT_BINS ? pool->exact_bins[i].head : pool->range_bins[i - NV_POOL_EXACT_BINS];
        for (; chunk; chunk = link_get(pool, chunk)) {
            size_t bytes = span_bytes(chunk->u.span);
            total += bytes;
            if (bytes > best)
                best = bytes;
        }
    }
    if (largest)
        *largest = best;
    return total;
}

static size_t get_free_unlocked(nv_pool_t *pool)
{
    return pool ? free_bytes(pool, NULL) : 0;
}

int nv_pool_is_empty(nv_pool_t *pool)
{
    void *previous;
    int result;
    if (!pool)
        return 0;
    previous = pool_enter(pool, "nv_pool_is_empty");
    result = pool->live_count == 0;
    pool_leave(pool, previous);
    return result;
}

/* Mirrors alloc_chunk's decisions for a 1-byte request without changing
 * anything. */
static int is_full_unlocked(nv_pool_t *pool)
{
    uint32_t span = request_span(1);
    nv_pool_block_t *block;
    if (!pool)
        return 0;
    if (pool->passthrough) {
        size_t total =
            LARGE_NODE_BYTES + LARGE_PREFIX_BYTES + NV_POOL_GRANULE + LARGE_BACK_BYTES;
        return !within_budget(pool, total + large_table_growth_bytes(pool));
    }
    if (exact_nonempty_from(pool, span) < NV_POOL_EXACT_BINS || pool->range_mask)
        return 0;
    for (block = pool->blocks; block; block = block->next)
        if ((size_t)(block->end - block_top(pool, block)) >= span_bytes(span))
            return 0;
    if (pool->auto_extend && next_block_size(pool, block_bytes_for(span_bytes(span), 0)) != 0)
        return 0;
    return 1;
}

static void get_stats_unlocked(nv_pool_t *pool, nv_pool_stats_t *stats)
{
    size_t largest = 0;
    unsigned bucket;
    if (!stats)
        return;
    if (!pool) {
        memset(stats, 0, sizeof *stats);
        return;
    }
    *stats = pool->stats;
    stats->allocations = 0; /* not counted on the fast path: see count_allocation */
    for (bucket = 0; bucket < NV_POOL_HISTOGRAM_BUCKETS; bucket++)
        stats->allocations += stats->size_histogram[bucket];
    /* Not counted either: see live_dropped. */
    stats->frees = pool->stats_on
                       ? stats->allocations - (uint64_t)pool->live_count - pool->live_dropped
                       : 0;
    stats->size = pool->held;
    stats->used = pool->used;
    if (pool->stats_on && pool->used > stats->peak_used)
        stats->peak_used = pool->used; /* see note_peak */
    stats->free = free_bytes(pool, &largest);
    stats->live_allocations = pool->live_count;
    stats->blocks = pool->block_count;
    stats->large_allocations = pool->large_count;
    stats->overhead = pool->held - pool->used - stats->free;
    stats->fragmentation =
        stats->free ? (double)(stats->free - largest) / (double)stats->free : 0.0;
}

static void reset_stats_unlocked(nv_pool_t *pool)
{
    if (!pool)
        return;
    memset(&pool->stats, 0, sizeof pool->stats);
    /* No allocations counted, so no frees: the live ones were not counted. */
    pool->live_dropped = 0 - (uint64_t)pool->live_count;
    if (pool->stats_on) /* with stats off every counter, the peak included, reads 0 */
        pool->stats.peak_used = pool->used;
}

static void print_stats_to_unlocked(nv_pool_t *pool, FILE *out)
{
    nv_pool_stats_t s;
    if (!out)
        return;
    if (!pool) {
        fprintf(out, "nv_pool: (null pool)\n");
        return;
    }
    nv_pool_get_stats(pool, &s);
    fprintf(out,
            "nv_pool '%s' statistics%s\n"
            "  size               %zu bytes\n"
            "  used               %zu bytes\n"
            "  free               %zu bytes\n"
            "  overhead           %zu bytes\n"
            "  peak used          %zu bytes\n"
            "  live allocations   %zu\n"
            "  blocks             %zu\n"
            "  large allocations  %zu\n"
            "  fragmentation      %.3f\n"
            "  allocations        %llu\n"
            "  frees              %llu\n"
            "  reallocations      %llu\n"
            "  resets             %llu\n"
            "  failed allocations %llu\n",
            pool->name, pool->stats_on ? "" : " (counters off: enable_stats = 0)", s.size,
            s.used, s.free, s.overhead, s.peak_used, s.live_allocations, s.blocks,
            s.large_allocations, s.fragmentation, (unsigned long long)s.allocations,
            (unsigned long long)s.frees, (unsigned long long)s.reallocations,
            (unsigned long long)s.resets, (unsigned long long)s.failed_allocations);
    if (s.allocations) {
        unsigned i;
        fprintf(out, "  allocation sizes (bytes: count)\n");
        for (i = 0; i < NV_POOL_HISTOGRAM_BUCKETS; i++) {
            size_t low = i == 0 ? 0 : (size_t)1 << (i - 1);
            if (!s.size_histogram[i])
                continue;
            if (i + 1 == NV_POOL_HISTOGRAM_BUCKETS)
                fprintf(out, "    >= %zu: %llu\n", low, (unsigned long long)s.size_histogram[i]);
            else
                fprintf(out, "    %zu..%zu: %llu\n", low, nv_pool_histogram_bucket_limit(i),
                        (unsigned long long)s.size_histogram[i]);
        }
    }
}

void nv_pool_print_stats(nv_pool_t *pool)
{
    nv_pool_print_stats_to(pool, stdout);
}

static void print_chunk_site(FILE *out, const nv_pool_chunk_t *chunk)
{
#if NV_POOL_SITES
    if (chunk->x.site.file) {
        fprintf(out, " at %s:%ld (%s)", chunk->x.site.file, chunk->x.site.line,
                chunk->x.site.function ? chunk->x.site.function : "?");
        return;
    }
#else
    (void)chunk;
#endif
    (void)out;
}

static int dump_visitor(nv_pool_t *pool, nv_pool_block_t *block, nv_pool_chunk_t *chunk,
                        void *context)
{
    FILE *out = (FILE *)context;
    (void)block;
    if (tag_is_live(pool, chunk->tag)) {
        fprintf(out, "    live  %p  %zu bytes", (void *)chunk_user(chunk),
                (size_t)chunk->u.requested);
        print_chunk_site(out, chunk);
        fputc('\n', out);
    } else if (chunk->tag == pool->quarantine_tag) {
        fprintf(out, "    quarantined  %p  (%zu-byte chunk)\n", (void *)chunk_user(chunk),
                span_bytes(chunk->u.span));
    }
    return 1;
}

static void dump_to_unlocked(nv_pool_t *pool, FILE *out)
{
    checker_t check;
    nv_pool_block_t *block;
    size_t i, n = 0;
    if (!out)
        return;
    if (!pool) {
        fprintf(out, "nv_pool: (null pool)\n");
        return;
    }
    sync_current(pool);
    check.pool = pool;
    check.operation = "nv_pool_dump";
    check.to_handler = 0;
    check.problems = 0;
    fprintf(out,
            "nv_pool '%s' at %p: size %zu, used %zu, %zu live, %zu blocks, %zu large, "
            "%s%s%s\n",
            pool->name, (void *)pool, pool->held, pool->used, pool->live_count,
            pool->block_count, pool->large_count,
            pool->auto_extend ? "auto-extend" : "fixed",
            NV_POOL_HARDENING ? ", hardened" : "", pool->passthrough ? ", passthrough" : "");
    for (block = pool->blocks; block; block = block->next, n++) {
        fprintf(out, "  block %zu at %p: %zu bytes, %zu carved, %zu tail%s\n", n,
                (void *)block, block->size, (size_t)(block_top(pool, block) - block->start),
                (size_t)(block->end - block_top(pool, block)),
                block == pool->current ? " (current)" : "");
        walk_block(&check, block, dump_visitor, out);
    }
    for (i = 0; i < pool->large_capacity; i++) {
        nv_pool_large_t *large = pool->large_slots[i];
        if (large) {
            fprintf(out, "  large at %p: %zu bytes held, %zu requested", (void *)large->user,
                    large->size, large->requested);
            print_chunk_site(out, user_chunk(large->user));
            fputc('\n', out);
        }
    }
}

void nv_pool_dump(nv_pool_t *pool)
{
    nv_pool_dump_to(pool, stdout);
}

/* ======================================================================== */
/* Validation and leak reports                                              */
/* ======================================================================== */

typedef struct tally_s {
    checker_t *check;
    size_t used;
    size_t live;
    size_t free_chunks;
} tally_t;

static int tally_visitor(nv_pool_t *pool, nv_pool_block_t *block, nv_pool_chunk_t *chunk,
                         void *context)
{
    tally_t *tally = (tally_t *)context;
    (void)block;
    if (tag_is_live(pool, chunk->tag)) {
        tally->used += chunk->u.requested;
        tally->live++;
        check_chunk_guards(tally->check, chunk, chunk->u.requested, chunk_limit(chunk, NULL));
        check_reserve(tally->check, chunk);
    } else if (chunk->tag == pool->free_tag) {
        tally->free_chunks++;
        check_freed_chunk(tally->check, chunk);
    }
    return 1;
}

/* Every chunk on a list must be a free chunk inside a block, in its bin. */
static size_t check_bins(checker_t *check, size_t expected)
{
    nv_pool_t *pool = check->pool;
    size_t seen = 0;
    unsigned i;
    for (i = 0; i < NV_POOL_EXACT_BINS + NV_POOL_RANGE_BINS; i++) {
        int exact = i < NV_POOL_EXACT_BINS;
        nv_pool_chunk_t *chunk = exact ? pool->exact_bins[i].head : pool->range_bins[i - NV_POOL_EXACT_BINS];
        int flagged = exact ? (pool->exact_mask >> i) & 1
                            : (pool->range_mask >> (i - NV_POOL_EXACT_BINS)) & 1;
        /* An exact list's bit may outlive its chunks (exact_nonempty_from);
         * a range list's bit may not. */
        if (chunk ? !flagged : flagged && !exact)
            report(check, NULL, NULL, NV_POOL_CORRUPT_POOL_STATE, 0,
                   "a free-list bitmap disagrees with its list");
        for (; chunk; chunk = link_get(pool, chunk)) {
            nv_pool_block_t *block = block_find(pool, chunk);
            if (!block || (char *)chunk >= block_top(pool, block) ||
                chunk->tag != pool->free_tag ||
                (exact ? chunk->u.span != i : floor_log2(chunk->u.span) != i - NV_POOL_EXACT_BINS)) {
                report(check, NULL, chunk, NV_POOL_CORRUPT_POOL_STATE, 0,
                       "a free list holds something that is not a free chunk of its size");
                break;
            }
            if (++seen > expected) {
                report(check, NULL, NULL, NV_POOL_CORRUPT_POOL_STATE, 0,
                       "the free lists hold more chunks than the blocks (a cycle?)");
                return seen;
            }
        }
    }
    return seen;
}

static size_t pool_check(nv_pool_t *pool, const char *operation, int to_handler)
{
    checker_t check;
    tally_t tally;
    nv_pool_block_t *block;
    size_t blocks = 0, bytes, i, large = 0;
    int current_found = pool->current == NULL;

    check.pool = pool;
    check.operation = operation;
    check.to_handler = to_handler;
    check.problems = 0;
    memset(&tally, 0, sizeof tally);
    tally.check = &check;
    sync_current(pool);
    bytes = sizeof *pool + (pool->slots_memory ? SLOTS_BYTES : 0) +
            pool->block_index_capacity * sizeof(void *) +
            pool->large_capacity * sizeof(void *);

    for (block = pool->blocks; block; block = block->next) {
        if (++blocks > pool->block_count)
            break;
        if (block == pool->current)
            current_found = 1;
        if (block->start != (char *)block + BLOCK_HEADER_BYTES + NV_POOL_CHUNK_OFFSET ||
            block->end > (char *)block + block->size || block->current < block->start ||
            block->current > block->end || block_find(pool, block->start) != block) {
            report(&check, NULL, block, NV_POOL_CORRUPT_POOL_STATE, 0,
                   "a block header is inconsistent");
            continue;
        }
        bytes += block->size;
        walk_block(&check, block, tally_visitor, &tally);
    }
    if (blocks != pool->block_count || !current_found)
        report(&check, NULL, NULL, NV_POOL_CORRUPT_POOL_STATE, 0,
               "the block list, block index and current block disagree");
    for (i = 0; i < pool->large_capacity; i++) {
        nv_pool_large_t *node = pool->large_slots[i];
        nv_pool_chunk_t *chunk;
        if (!node)
            continue;
        large++;
        bytes += node->size;
        chunk = user_chunk(node->user);
        if (chunk->tag != pool->live_tag || chunk->u.requested != NV_POOL_SIZE_LARGE) {
            report(&check, NULL, node->user, NV_POOL_CORRUPT_HEADER, -(long)NV_POOL_PREFIX,
                   "the header of a large allocation was overwritten");
            continue;
        }
        tally.used += node->requested;
        tally.live++;
        check_chunk_guards(&check, chunk, node->requested, chunk_limit(NULL, node));
    }
    check_bins(&check, tally.free_chunks);
    if (large != pool->large_count)
        report(&check, NULL, NULL, NV_POOL_CORRUPT_POOL_STATE, 0,
               "the large-allocation count is wrong");
    if (tally.used != pool->used || tally.live != pool->live_count)
        report(&check, NULL, NULL, NV_POOL_CORRUPT_POOL_STATE, 0,
               "used bytes or live count disagree with the chunks");
    if (bytes != pool->held)
        report(&check, NULL, NULL, NV_POOL_CORRUPT_POOL_STATE, 0,
               "the size held disagrees with blocks and large allocations");
    return check.problems;
}

static void validate_unlocked(nv_pool_t *pool)
{
    if (!pool) {
        nv_log_error("nv_pool_validate: NULL pool");
        return;
    }
    pool_check(pool, "nv_pool_validate", 1);
}

static size_t validate_count_unlocked(nv_pool_t *pool)
{
    if (!pool) {
        nv_log_error("nv_pool_validate_count: NULL pool");
        return 1;
    }
    return pool_check(pool, "nv_pool_validate_count", 0);
}

typedef struct leak_out_s {
    FILE *out;
    size_t count;
    const char *pool_name;
} leak_out_t;

static void leak_line(leak_out_t *leaks, nv_pool_chunk_t *chunk, size_t size)
{
    const char *file = NULL, *function = NULL;
    long line = 0;
#if NV_POOL_SITES
    file = chunk->x.site.file;
    function = chunk->x.site.function;
    line = chunk->x.site.line;
#endif
    leaks->count++;
    if (leaks->out) {
        fprintf(leaks->out, "nv_pool '%s': leak: %zu bytes at %p", leaks->pool_name,
                size, (void *)chunk_user(chunk));
        if (file)
            fprintf(leaks->out, " allocated at %s:%ld (%s)", file, line,
                    function ? function : "?");
        fputc('\n', leaks->out);
    } else if (file) {
        nv_log_warn("nv_pool '%s': leak: %zu bytes at %p allocated at %s:%ld (%s)",
                     leaks->pool_name, size, (void *)chunk_user(chunk), file,
                     line, function ? function : "?");
    } else {
        nv_log_warn("nv_pool '%s': leak: %zu bytes at %p (site not recorded)",
                     leaks->pool_name, size, (void *)chunk_user(chunk));
    }
}

static int leak_visitor(nv_pool_t *pool, nv_pool_block_t *block, nv_pool_chunk_t *chunk,
                        void *context)
{
    (void)block;
    if (tag_is_live(pool, chunk->tag))
        leak_line((leak_out_t *)context, chunk, chunk->u.requested);
    return 1;
}

static size_t leak_report_unlocked(nv_pool_t *pool, FILE *out)
{
    leak_out_t leaks;
    checker_t check;
    nv_pool_block_t *block;
    size_t i;
    if (!pool) {
        nv_log_error("nv_pool_leak_report: NULL pool");
        return 0;
    }
    sync_current(pool);
    leaks.out = out;
    leaks.count = 0;
    leaks.pool_name = pool->name;
    check.pool = pool;
    check.operation = "nv_pool_leak_report";
    check.to_handler = 0;
    check.problems = 0;
    for (block = pool->blocks; block; block = block->next)
        walk_block(&check, block, leak_visitor, &leaks);
    for (i = 0; i < pool->large_capacity; i++)
        if (pool->large_slots[i])
            leak_line(&leaks, user_chunk(pool->large_slots[i]->user),
                      pool->large_slots[i]->requested);
    return leaks.count;
}

/* ======================================================================== */
/* Public entry points that take the pool's lock                            */
/* ======================================================================== */

/* Each runs its *_unlocked body inside pool_enter/pool_leave; a NULL pool
 * goes straight to the body, which logs and returns the documented value. */

void nv_pool_reset(nv_pool_t *pool)
{
    void *previous;
    if (!pool) {
        reset_unlocked(pool);
        return;
    }
    previous = pool_enter(pool, "nv_pool_reset");
    reset_unlocked(pool);
    pool_leave(pool, previous);
}


int nv_pool_extend(nv_pool_t *pool, size_t size)
{
    void *previous;
    int result;
    if (!pool)
        return extend_unlocked(pool, size);
    previous = pool_enter(pool, "nv_pool_extend");
    result = extend_unlocked(pool, size);
    pool_leave(pool, previous);
    return result;
}


int nv_pool_shrink(nv_pool_t *pool, size_t size)
{
    void *previous;
    int result;
    if (!pool)
        return shrink_unlocked(pool, size);
    previous = pool_enter(pool, "nv_pool_shrink");
    result = shrink_unlocked(pool, size);
    pool_leave(pool, previous);
    return result;
}


int nv_pool_compact(nv_pool_t *pool)
{
    void *previous;
    int result;
    if (!pool)
        return compact_unlocked(pool);
    previous = pool_enter(pool, "nv_pool_compact");
    result = compact_unlocked(pool);
    pool_leave(pool, previous);
    return result;
}


size_t nv_pool_get_free(nv_pool_t *pool)
{
    void *previous;
    size_t result;
    if (!pool)
        return get_free_unlocked(pool);
    previous = pool_enter(pool, "nv_pool_get_free");
    result = get_free_unlocked(pool);
    pool_leave(pool, previous);
    return result;
}


int nv_pool_is_full(nv_pool_t *pool)
{
    void *previous;
    int result;
    if (!pool)
        return is_full_unlocked(pool);
    previous = pool_enter(pool, "nv_pool_is_full");
    result = is_full_unlocked(pool);
    pool_leave(pool, previous);
    return result;
}


void nv_pool_get_stats(nv_pool_t *pool, nv_pool_stats_t *stats)
{
    void *previous;
    if (!pool) {
        get_stats_unlocked(pool, stats);
        return;
    }
    previous = pool_enter(pool, "nv_pool_get_stats");
    get_stats_unlocked(pool, stats);
    pool_leave(pool, previous);
}


void nv_pool_reset_stats(nv_pool_t *pool)
{
    void *previous;
    if (!pool) {
        reset_stats_unlocked(pool);
        return;
    }
    previous = pool_enter(pool, "nv_pool_reset_stats");
    reset_stats_unlocked(pool);
    pool_leave(pool, previous);
}


void nv_pool_print_stats_to(nv_pool_t *pool, FILE *out)
{
    void *previous;
    if (!pool) {
        print_stats_to_unlocked(pool, out);
        return;
    }
    previous = pool_enter(pool, "nv_pool_print_stats_to");
    print_stats_to_unlocked(pool, out);
    pool_leave(pool, previous);
}


void nv_pool_dump_to(nv_pool_t *pool, FILE *out)
{
    void *previous;
    if (!pool) {
        dump_to_unlocked(pool, out);
        return;
    }
    previous = pool_enter(pool, "nv_pool_dump_to");
    dump_to_unlocked(pool, out);
    pool_leave(pool, previous);
}


void nv_pool_validate(nv_pool_t *pool)
{
    void *previous;
    if (!pool) {
        validate_unlocked(pool);
        return;
    }
    previous = pool_enter(pool, "nv_pool_validate");
    validate_unlocked(pool);
    pool_leave(pool, previous);
}


size_t nv_pool_validate_count(nv_pool_t *pool)
{
    void *previous;
    size_t result;
    if (!pool)
        return validate_count_unlocked(pool);
    previous = pool_enter(pool, "nv_pool_validate_count");
    result = validate_count_unlocked(pool);
    pool_leave(pool, previous);
    return result;
}


size_t nv_pool_leak_report(nv_pool_t *pool, FILE *out)
{
    void *previous;
    size_t result;
    if (!pool)
        return leak_report_unlocked(pool, out);
    previous = pool_enter(pool, "nv_pool_leak_report");
    result = leak_report_unlocked(pool, out);
    pool_leave(pool, previous);
    return result;
}
