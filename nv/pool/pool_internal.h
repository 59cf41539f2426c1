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
    char *start;                  /* first chunk, NV_POOL_CHUNK_OFFSET past the grid */
    char *end;                    /* one past the last usable byte */
    char *current;                /* next byte to hand out */
} nv_pool_block_t;

/*
 * A chunk: an 8-byte header, an optional site and front redzone, the
 * caller's bytes, and a back redzone that starts at exactly the requested
 * size. Chunks start where their prefix ends on the 16-byte grid
 * (NV_POOL_CHUNK_OFFSET): 8 bytes off it when the prefix is 8 (release) or
 * 40 (hardened with sites), on it when 16 (hardened) or 32.
 *
 *   chunk                                user (16-aligned)
 *   |                                    |
 *   v                                    v
 *   +--------+-------------+-------------+------------------+--------------+
 *   | tag    | site        | front       | requested bytes  | back redzone |
 *   | size   | file, func, | redzone     | (caller's data)  | to the chunk |
 *   | 4 + 4  | line        | 8: size-    |                  | end, >= 8    |
 *   |        | [leakcheck] | keyed canary|                  | [hardened]   |
 *   +--------+-------------+-------------+------------------+--------------+
 *   <------- span * 16 bytes, span = live_span(size) + reserve ------------>
 *
 * tag: the chunk's state, keyed with the pool's secret and reset epoch, so a
 * stale or forged header does not pass for a live one.
 * u: a live chunk's requested size; the span of any other chunk. A live
 * chunk's span is not stored: it is live_span(size), the least that holds
 * the prefix, the size and the back redzone, plus its reserve.
 *
 * The states, each with its own tag:
 *   live        reserve 0;
 *   growing     live, with a reserve of 1-255 granules that a realloc which
 *               had to move kept for the chunk to grow into in place: the
 *               tag is growing_tag XOR (reserve << 24), so free and realloc
 *               learn the span from the header alone; the reserve follows
 *               the back redzone and holds NV_POOL_FILL_FREED (hardened);
 *   free        u.span, then next_free: on a free list (or padding, too small
 *               for one byte: on no list); bytes after the first 16 hold
 *               NV_POOL_FILL_FREED (hardened builds);
 *   quarantine  u.span: damaged, never reused.
 *
 * Canary bytes are derived from the pool secret mixed with the chunk's
 * address, so a canary copied from another chunk or pool does not verify;
 * the front redzone's word also carries the requested size, so that a
 * damaged size field is told apart from a damaged redzone.
 */
typedef struct nv_pool_chunk_s {
    uint32_t tag;
    union {
        uint32_t requested; /* live (growing) chunk; NV_POOL_SIZE_LARGE: see the node */
        uint32_t span;      /* any other chunk: granules, header included */
    } u;
    union {
        struct nv_pool_chunk_s *next_free; /* free chunk on a list */
#if NV_POOL_SITES
        struct {
            const char *file;
            const char *function;
            long line;
        } site; /* live chunk, leak-check builds */
#endif
    } x;
} nv_pool_chunk_t;

/*
 * A large allocation: its own backend allocation, holding its node, padding
 * up to the alignment asked for, and one chunk whose header says
 * NV_POOL_SIZE_LARGE (the size may not fit 32 bits: the node holds it).
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
    size_t requested; /* the caller's size */
} nv_pool_large_t;

#define NV_POOL_GRANULE 16u
#define NV_POOL_GRANULE_SHIFT 4u /* log2(NV_POOL_GRANULE) */
/* A live chunk's header: tag and size, and the site where tracked. */
#if NV_POOL_SITES
#define NV_POOL_HEADER_BYTES (sizeof(nv_pool_chunk_t))
#else
#define NV_POOL_HEADER_BYTES ((size_t)8)
#endif
/* A free chunk's header: tag, span and the list link. */
#define NV_POOL_FREE_HEADER_BYTES ((size_t)16)
/* The size a block chunk's header cannot hold: marks a large chunk. */
#define NV_POOL_SIZE_LARGE UINT32_MAX
#if NV_POOL_HARDENING
#define NV_POOL_FRONT_REDZONE 8u
#define NV_POOL_BACK_REDZONE_MIN 8u
#else
#define NV_POOL_FRONT_REDZONE 0u
#define NV_POOL_BACK_REDZONE_MIN 0u
#endif
/* Bytes from a chunk's start to its user pointer. */
#define NV_POOL_PREFIX (NV_POOL_HEADER_BYTES + NV_POOL_FRONT_REDZONE)
/* Where chunks start relative to the 16-byte grid: user pointers land on it. */
#define NV_POOL_CHUNK_OFFSET ((NV_POOL_GRANULE - NV_POOL_PREFIX % NV_POOL_GRANULE) % NV_POOL_GRANULE)

/* A growing chunk's tag carries its reserve (granules) in its top byte. */
#define NV_POOL_TAG_RESERVE_SHIFT 24u
#define NV_POOL_RESERVE_MAX 255u

/* Named fill bytes. */
#define NV_POOL_FILL_FREED 0xDFu /* freed chunk contents (hardened) */

/* Free lists: one exact list per span below NV_POOL_EXACT_BINS, then one list
 * per power of two of the span. */
#define NV_POOL_EXACT_BINS 64u
#define NV_POOL_RANGE_BINS 32u

/* Largest request the fast path takes: its chunk fits the last exact bin. */
#define NV_POOL_FAST_MAX \
    ((NV_POOL_EXACT_BINS - 1u) * NV_POOL_GRANULE - NV_POOL_PREFIX - NV_POOL_BACK_REDZONE_MIN)

#define NV_POOL_NAME_MAX 48

/* An exact free list. It is one granule long, so a chunk's size in bytes is
 * the byte offset of its list in exact_bins: the fast paths index the lists
 * with the rounded size and no shift. The second word is padding. */
typedef struct nv_pool_exact_bin_s {
    nv_pool_chunk_t *head;
    void *unused;
} nv_pool_exact_bin_t;

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
    nv_pool_chunk_t *cache[NV_POOL_EXACT_BINS]; /* free chunks, as in exact_bins[].head */
    uint8_t count[NV_POOL_EXACT_BINS];
    /* Counts since the last fold. `used_high` is the highest `used_change`
     * reached, so that the fold can keep peak_used exact for one slot. */
    ptrdiff_t used_change, used_high, live_change;
    uint64_t allocated_bytes; /* allocations: the histogram's sum; frees: see live_dropped */
    uint64_t size_histogram[NV_POOL_HISTOGRAM_BUCKETS];
} nv_pool_slot_t;

struct nv_pool_s {
    /* The fast paths read only these first fields. */
    char *bump;         /* next free byte of the current block */
    char *bump_end;     /* end of the current block */
    char *bump_start;   /* start of the current block (first chunk) */
    size_t fast_limit;  /* sizes below it may take the fast path; 0 = never
                         * (Valgrind tracking, passthrough) */
    size_t plain_fast_limit; /* fast_limit if fast_flags is 0, else 0: these
                              * pools' fast paths skip the extras test */
    size_t used;        /* sum of live requested sizes */
    uint32_t live_tag;  /* chunk tags for this epoch */
    uint32_t free_tag;
    size_t live_count;  /* live allocations */
    unsigned fast_flags; /* NV_POOL_FAST_*: per-call extras, one test when none */
    int stats_on;
    int zero_clear;
    int on_valgrind; /* RUNNING_ON_VALGRIND, read once at creation (0 if compiled out) */
    uint64_t exact_mask; /* bit s clear: exact_bins[s] is empty (set: may be; lazy) */
    nv_pool_exact_bin_t exact_bins[NV_POOL_EXACT_BINS];
    nv_pool_stats_t stats; /* counters and peak; gauges are computed */

    /* Slow-path state. */
    uint32_t range_mask;
    nv_pool_chunk_t *range_bins[NV_POOL_RANGE_BINS];
    uint32_t quarantine_tag; /* damaged chunks: never reused */
    uint32_t growing_tag;    /* live chunks with a reserve: XOR the reserve << 24 */
    uint32_t epoch;          /* bumped by every reset */
    uint64_t secret;         /* from the system's random source */
    uint64_t canary_secret;  /* secret mixed with the epoch: keys the canaries */
    /* The free count is not kept: every allocation is in the histogram and
     * ends live, freed, or dropped, so frees = allocations - live_count -
     * live_dropped (stats on). live_dropped counts allocations that stopped
     * being live without a counted free (reset, quarantine: see recount),
     * minus the live count when the counters were last zeroed; modulo 2^64.
     * A free then pays no counter store. */
    uint64_t live_dropped;

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
