/*
 * pool_internal.h - nv_pool's structures, build switches and layouts.
 *
 * Everything the library knows about its own memory lives here; nv_pool.h
 * keeps nv_pool_t opaque. Tests may include this header to inspect a pool.
 *
 * Build switches (all decided once, here):
 *   NV_POOL_HARDENING  1 (default): front/back redzones with keyed canaries,
 *                      freed chunks pattern-filled; 0: compiled out.
 *   NV_POOL_LEAKCHECK  defined: every chunk records its allocation site.
 *   NV_POOL_VALGRIND   1 (default): memcheck mempool client requests, issued
 *                      only when the pool was created under Valgrind.
 *   NV_POOL_ASAN       derived: 1 when compiled with AddressSanitizer.
 */
#ifndef NV_POOL_INTERNAL_H
#define NV_POOL_INTERNAL_H

#include "nv_pool.h"

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#ifndef NV_POOL_HARDENING
#define NV_POOL_HARDENING 1
#endif
#ifndef NV_POOL_VALGRIND
#define NV_POOL_VALGRIND 1
#endif
#ifdef NV_POOL_LEAKCHECK
#define NV_POOL_SITES 1
#else
#define NV_POOL_SITES 0
#endif

/* clang 14 does not define __SANITIZE_ADDRESS__; gcc does. */
#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define NV_POOL_ASAN 1
#endif
#endif
#if !defined(NV_POOL_ASAN) && defined(__SANITIZE_ADDRESS__)
#define NV_POOL_ASAN 1
#endif
#ifndef NV_POOL_ASAN
#define NV_POOL_ASAN 0
#endif

/*
 * A block: one backend allocation carved into chunks by a bump pointer.
 *
 *   block                start                  current              end
 *   |                    |                      |                    |
 *   v                    v                      v                    v
 *   +--------------------+---------+---------+--+--------------------+
 *   | nv_pool_block_t    | chunk   | chunk   |..| tail: never handed |
 *   | next,size,used,... | (live)  | (free)  |  | out since reset    |
 *   +--------------------+---------+---------+--+--------------------+
 *
 * Chunks tile [start, current) exactly: walking by each header's span visits
 * every live, free and padding chunk. For the current block the bump pointer
 * lives in the pool (pool->bump) and block->current is refreshed on demand.
 */
typedef struct nv_pool_block_s {
    struct nv_pool_block_s *next; /* blocks in creation order */
    size_t size;                  /* bytes obtained from the backend */
    size_t used;                  /* current - start, refreshed with current */
    char *start;                  /* first chunk, 16-aligned */
    char *end;                    /* one past the last usable byte */
    char *current;                /* next byte to hand out */
} nv_pool_block_t;

/*
 * A chunk: header, optional site slot and front redzone, the caller's bytes,
 * and a back redzone that starts at exactly the requested size.
 *
 *   chunk                                user (16-aligned)
 *   |                                    |
 *   v                                    v
 *   +--------+-------------+-------------+------------------+--------------+
 *   | header | site        | front       | requested bytes  | back redzone |
 *   | tag    | file,line,  | redzone     | (caller's data)  | to the next  |
 *   | span   | function    | 16 canary   |                  | 16 boundary  |
 *   | size   | [leakcheck] | [hardened]  |                  | +16 [hardnd] |
 *   +--------+-------------+-------------+------------------+--------------+
 *   <--------------------------- span * 16 bytes -------------------------->
 *
 * tag: which state the chunk is in, keyed with the pool's secret and reset
 * epoch, so a stale or forged header does not pass for a live one.
 * span: chunk length in 16-byte granules, header included (0: large chunk).
 * size: bytes the caller asked for; in a free chunk, the next free chunk.
 *
 * Canary bytes are derived from the pool secret mixed with the chunk's
 * address, byte by byte, so a canary copied from another chunk or another
 * pool does not verify. A free chunk's bytes after its header hold
 * NV_POOL_FILL_FREED (hardened builds).
 */
typedef struct nv_pool_chunk_s {
    uint32_t tag;
    uint32_t span;
    union {
        size_t requested;                   /* live chunk */
        struct nv_pool_chunk_s *next_free;  /* free chunk */
    } u;
#if NV_POOL_SITES
    const char *file;
    const char *function;
    long line;
    long unused_padding; /* keeps the header a multiple of 16 bytes */
#endif
} nv_pool_chunk_t;

/*
 * A large allocation: its own backend allocation, holding its node, padding
 * up to the alignment asked for, and one chunk laid out as above (span 0).
 *
 *   base
 *   v
 *   +----------------+---------+--------+----------+----------+-----------+
 *   | nv_pool_large_t| padding | header | front rz | user ... | back rz   |
 *   +----------------+---------+--------+----------+----------+-----------+
 */
typedef struct nv_pool_large_s {
    void *base;      /* what the backend returned */
    size_t size;     /* bytes obtained */
    char *user;      /* the caller's pointer */
    size_t capacity; /* user bytes that fit before the back redzone minimum */
    size_t requested; /* copy of the chunk header's size, to catch damage to it */
} nv_pool_large_t;

#define NV_POOL_GRANULE 16u
#define NV_POOL_GRANULE_SHIFT 4u /* log2(NV_POOL_GRANULE) */
#define NV_POOL_HEADER_BYTES (sizeof(nv_pool_chunk_t))
#if NV_POOL_HARDENING
#define NV_POOL_FRONT_REDZONE 16u
#define NV_POOL_BACK_REDZONE_MIN 16u
#else
#define NV_POOL_FRONT_REDZONE 0u
#define NV_POOL_BACK_REDZONE_MIN 0u
#endif
/* Bytes from a chunk's start to its user pointer. */
#define NV_POOL_PREFIX (NV_POOL_HEADER_BYTES + NV_POOL_FRONT_REDZONE)
#define NV_POOL_PREFIX_SPAN (NV_POOL_PREFIX / NV_POOL_GRANULE)
#define NV_POOL_SUFFIX_SPAN (NV_POOL_BACK_REDZONE_MIN / NV_POOL_GRANULE)

/* Named fill bytes. */
#define NV_POOL_FILL_FREED 0xDFu /* freed chunk contents (hardened) */

/* Free lists: one exact list per span below NV_POOL_EXACT_BINS, then one list
 * per power of two of the span. */
#define NV_POOL_EXACT_BINS 64u
#define NV_POOL_RANGE_BINS 32u

/* Largest request the fast path takes without overflow checks. */
#define NV_POOL_FAST_MAX \
    ((NV_POOL_EXACT_BINS - 1u - NV_POOL_PREFIX_SPAN - NV_POOL_SUFFIX_SPAN) * NV_POOL_GRANULE)

#define NV_POOL_NAME_MAX 48

/* A thread-safe pool's lock: a mutex made recursive by hand (public calls
 * nest: the exports call nv_pool_get_stats), so the mutex itself can be
 * glibc's adaptive kind, which spins briefly before sleeping. */
typedef struct nv_pool_lock_s {
    pthread_mutex_t mutex;
    void *holder;   /* identity of the thread holding it, or NULL (atomic) */
    unsigned depth; /* nesting of the holder's calls; only the holder touches it */
} nv_pool_lock_t;

/* Thread-safe pools: a slot caches free chunks and counts for whichever
 * thread holds it, so the common alloc and free never take the pool's lock
 * (see "Thread-safe pools: slots" in pool.c and docs/design.md#threads).
 * A slot is held only for one call (`busy`), and a thread that holds the
 * pool's lock first stops every slot ("stopped"), folds the counts into the
 * pool and, for anything but a refill, hands the cached chunks back. */
#define NV_POOL_SLOTS 8u
#define NV_POOL_SLOT_CACHE_MAX 32u /* free chunks a slot keeps per span */

typedef struct nv_pool_slot_s {
    _Alignas(64) int busy;       /* atomic: a thread is inside this slot */
    uint64_t mask;               /* bit s: cache[s] is not empty */
    nv_pool_chunk_t *cache[NV_POOL_EXACT_BINS]; /* free chunks, as in exact_bins */
    uint8_t count[NV_POOL_EXACT_BINS];
    /* Counts since the last fold. `used_high` is the highest `used_change`
     * reached, so that the fold can keep peak_used exact for one slot. */
    ptrdiff_t used_change, used_high, live_change;
    uint64_t frees, allocated_bytes; /* allocations: the histogram's sum */
    uint64_t size_histogram[NV_POOL_HISTOGRAM_BUCKETS];
} nv_pool_slot_t;

struct nv_pool_s {
    /* The fast paths read only these first fields. */
    char *bump;         /* next free byte of the current block */
    char *bump_end;     /* end of the current block */
    char *bump_start;   /* start of the current block (first chunk) */
    size_t fast_limit;  /* sizes below it may take the fast path; 0 = never
                         * (Valgrind tracking, passthrough) */
    size_t used;        /* sum of live requested sizes */
    uint32_t live_tag;  /* chunk tags for this epoch */
    uint32_t free_tag;
    size_t live_count;  /* live allocations */
    unsigned fast_flags; /* NV_POOL_FAST_*: per-call extras, one test when none */
    int stats_on;
    int zero_clear;
    int on_valgrind; /* RUNNING_ON_VALGRIND, read once at creation (0 if compiled out) */
    uint64_t exact_mask; /* bit s: exact_bins[s] is not empty */
    nv_pool_chunk_t *exact_bins[NV_POOL_EXACT_BINS];
    nv_pool_stats_t stats; /* counters and peak; gauges are computed */

    /* Slow-path state. */
    uint32_t range_mask;
    nv_pool_chunk_t *range_bins[NV_POOL_RANGE_BINS];
    uint32_t quarantine_tag; /* damaged chunks: never reused */
    uint32_t epoch;          /* bumped by every reset */
    uint64_t secret;         /* from the system's random source */
    uint64_t canary_secret;  /* secret mixed with the epoch: keys the canaries */

    nv_pool_block_t *current; /* block the bump pointer is in, or NULL */
    nv_pool_block_t *blocks;  /* creation order */
    nv_pool_block_t **block_index; /* sorted by address, for ownership */
    size_t block_count;
    size_t block_index_capacity;

    nv_pool_large_t **large_slots; /* open addressing on the user pointer */
    size_t large_count;
    size_t large_capacity; /* power of two, or 0 */

    size_t held;            /* bytes obtained from the backend */
    size_t next_block_size; /* growth: doubles up to NV_POOL_BLOCK_GROWTH_MAX */
    size_t initial_size;
    size_t max_size;
    size_t min_size;
    int auto_extend;
    int passthrough;
    nv_pool_backend_t backend;
    char name[NV_POOL_NAME_MAX];

    /* Threads. */
    int thread_safe;          /* config.thread_safe: alloc/free in slots, the rest under `lock` */
    size_t locked_fast_limit; /* thread-safe pools: fast_limit of the slots and under `lock` */
    nv_pool_slot_t *slots;    /* thread-safe pools: NV_POOL_SLOTS, 64-byte aligned */
    void *slots_memory;       /* what the backend returned for them */
    int slots_stopped;        /* atomic: a lock holder needs the slots idle */
    nv_pool_lock_t lock;
    void *owner;              /* hardened: identity of the thread inside the pool */
    void *biased_to;          /* hardened: the thread the owner check trusts (pool.c) */
    int biased_inside;        /* hardened: that thread is inside the pool */
    /* The lock and owner words are written on every call: keep them off the
     * cache line of whatever the allocator puts next (another thread's pool,
     * say), or two unrelated pools slow each other down. */
    char false_sharing_pad[64];
};

/* fast_flags bits: work the fast paths do only when asked. */
#define NV_POOL_FAST_STATS 1u
#define NV_POOL_FAST_ZERO 2u

/* Blocks grow geometrically up to this size (bigger requests still fit). */
#define NV_POOL_BLOCK_GROWTH_MAX ((size_t)4 * 1024 * 1024)
#define NV_POOL_DEFAULT_MIN_SIZE ((size_t)4 * 1024)

#endif /* NV_POOL_INTERNAL_H */
