/*
 * pool_track.h - how nv_pool describes its memory to AddressSanitizer and
 * Valgrind memcheck. Every hook is a static inline function; with neither
 * tool compiled in, each is empty and the call sites need no #if.
 *
 * States the tools are told about:
 *   - block space not handed out, redzones, freed chunks: inaccessible;
 *   - a live chunk's requested bytes: accessible (undefined until written);
 *   - chunk headers: accessible to the pool (written and read by it only).
 * The pool opens a redzone or freed chunk around its own canary and fill
 * accesses (track_open) and closes it again (track_close).
 *
 * ASan: manual poisoning; one shadow byte covers 8 bytes, so user pointers
 * are 16-aligned. In hardened builds the back redzone (at least 8 bytes,
 * ending 8-aligned) holds a fully poisoned shadow granule past the size
 * rounded up to 8. Chunk headers stay addressable: in release builds a
 * request that ends where the next header starts has no poisoned byte
 * after it.
 * Valgrind: one memcheck mempool per nv_pool (anchored at the pool struct);
 * chunks are MEMPOOL_ALLOC'd at the user pointer with their requested size.
 * Requests are issued only when pool->on_valgrind (read once at creation).
 */
#ifndef NV_POOL_TRACK_H
#define NV_POOL_TRACK_H

#include "pool_internal.h"

#include <string.h>

#if NV_POOL_ASAN
#include <sanitizer/asan_interface.h>
#endif
#if NV_POOL_VALGRIND
#include <valgrind/memcheck.h>
#include <valgrind/valgrind.h>
#define NV_TRACK_VG(pool) ((pool)->on_valgrind)
#else
#define NV_TRACK_VG(pool) ((void)(pool), 0)
#define VALGRIND_CREATE_MEMPOOL(a, b, c) ((void)0)
#define VALGRIND_DESTROY_MEMPOOL(a) ((void)0)
#define VALGRIND_MEMPOOL_ALLOC(a, b, c) ((void)0)
#define VALGRIND_MEMPOOL_FREE(a, b) ((void)0)
#define VALGRIND_MEMPOOL_CHANGE(a, b, c, d) ((void)0)
#define VALGRIND_MEMPOOL_TRIM(a, b, c) ((void)0)
#define VALGRIND_MAKE_MEM_NOACCESS(a, b) ((void)0)
#define VALGRIND_MAKE_MEM_UNDEFINED(a, b) ((void)0)
#define VALGRIND_MAKE_MEM_DEFINED(a, b) ((void)0)
#define VALGRIND_DISABLE_ADDR_ERROR_REPORTING_IN_RANGE(a, b) ((void)0)
#define VALGRIND_ENABLE_ADDR_ERROR_REPORTING_IN_RANGE(a, b) ((void)0)
#endif

static inline int track_running_on_valgrind(void)
{
#if NV_POOL_VALGRIND
    return RUNNING_ON_VALGRIND ? 1 : 0;
#else
    return 0;
#endif
}

static inline void asan_poison(const void *p, size_t n)
{
#if NV_POOL_ASAN
    ASAN_POISON_MEMORY_REGION(p, n);
#else
    (void)p;
    (void)n;
#endif
}

static inline void asan_unpoison(const void *p, size_t n)
{
#if NV_POOL_ASAN
    ASAN_UNPOISON_MEMORY_REGION(p, n);
#else
    (void)p;
    (void)n;
#endif
}

static inline void track_pool_create(nv_pool_t *pool)
{
    if (NV_TRACK_VG(pool))
        VALGRIND_CREATE_MEMPOOL(pool, 0, 0);
}

static inline void track_pool_destroy(nv_pool_t *pool)
{
    if (NV_TRACK_VG(pool))
        VALGRIND_DESTROY_MEMPOOL(pool);
}

/* Every chunk handed out before is gone (reset). */
static inline void track_pool_trim(nv_pool_t *pool)
{
    /* No chunk lies inside the pool struct, so this trims them all. */
    if (NV_TRACK_VG(pool))
        VALGRIND_MEMPOOL_TRIM(pool, pool, 1);
}

/* Space nobody may touch: new block space, block space after reset. */
static inline void track_noaccess(nv_pool_t *pool, const void *p, size_t n)
{
    asan_poison(p, n);
    if (NV_TRACK_VG(pool))
        VALGRIND_MAKE_MEM_NOACCESS(p, n);
}

/* Memory about to go back to the backend: clear manual poison (ASan keeps it
 * across munmap) and let memcheck see it as ordinary memory again. */
static inline void track_release(nv_pool_t *pool, const void *p, size_t n)
{
    asan_unpoison(p, n);
    if (NV_TRACK_VG(pool))
        VALGRIND_MAKE_MEM_UNDEFINED(p, n);
}

/* The pool is about to write or read bytes it keeps inaccessible to the
 * caller (headers, canaries, fill patterns). */
static inline void track_open(nv_pool_t *pool, const void *p, size_t n)
{
    asan_unpoison(p, n);
    if (NV_TRACK_VG(pool))
        VALGRIND_MAKE_MEM_DEFINED(p, n);
}

static inline void track_close(nv_pool_t *pool, const void *p, size_t n)
{
    asan_poison(p, n);
    if (NV_TRACK_VG(pool))
        VALGRIND_MAKE_MEM_NOACCESS(p, n);
}

#if defined(__clang__) || defined(__GNUC__)
#define NV_TRACK_NO_ASAN __attribute__((no_sanitize("address")))
#else
#define NV_TRACK_NO_ASAN
#endif

/* Copies `n` bytes the caller may own or may have poisoned (a pointer given
 * to free/realloc that may not be a chunk at all), without reporting the
 * read and without changing what the tools think of the bytes. */
static inline NV_TRACK_NO_ASAN void track_peek(nv_pool_t *pool, const void *src, void *dst,
                                               size_t n)
{
    const volatile unsigned char *from = (const volatile unsigned char *)src;
    unsigned char *to = (unsigned char *)dst;
    size_t i;
    if (!NV_POOL_ASAN && !NV_TRACK_VG(pool)) {
        memcpy(dst, src, n); /* nothing watches: a plain load */
        return;
    }
    if (NV_TRACK_VG(pool))
        VALGRIND_DISABLE_ADDR_ERROR_REPORTING_IN_RANGE(src, n);
    for (i = 0; i < n; i++)
        to[i] = from[i];
    if (NV_TRACK_VG(pool)) {
        VALGRIND_ENABLE_ADDR_ERROR_REPORTING_IN_RANGE(src, n);
        VALGRIND_MAKE_MEM_DEFINED(dst, n);
    }
}

/* A chunk's header stays readable by the pool for the chunk's lifetime. */
static inline void track_header(nv_pool_t *pool, const void *header)
{
    asan_unpoison(header, NV_POOL_HEADER_BYTES);
    if (NV_TRACK_VG(pool))
        VALGRIND_MAKE_MEM_DEFINED(header, NV_POOL_HEADER_BYTES);
}

/* Hand out [user, user + requested). */
static inline void track_chunk_alloc(nv_pool_t *pool, void *user, size_t requested,
                                     int zeroed)
{
    asan_unpoison(user, requested);
    if (NV_TRACK_VG(pool)) {
        VALGRIND_MEMPOOL_ALLOC(pool, user, requested);
        if (zeroed)
            VALGRIND_MAKE_MEM_DEFINED(user, requested);
    }
}

/* Take back a chunk whose caller bytes span [user, user + bytes). */
static inline void track_chunk_free(nv_pool_t *pool, void *user, size_t bytes)
{
    asan_poison(user, bytes);
    if (NV_TRACK_VG(pool))
        VALGRIND_MEMPOOL_FREE(pool, user);
}

/* A live chunk changes size in place; `limit` is the end of its memory.
 * Hardened builds have already re-poisoned [user + new_size, limit) while
 * rewriting the back redzone; this covers the unhardened build too. */
static inline void track_chunk_resize(nv_pool_t *pool, char *user, size_t old_size,
                                      size_t new_size, char *limit)
{
    if (new_size > old_size) {
        asan_unpoison(user + old_size, new_size - old_size);
        if (NV_TRACK_VG(pool)) {
            VALGRIND_MEMPOOL_CHANGE(pool, user, user, new_size);
            VALGRIND_MAKE_MEM_UNDEFINED(user + old_size, new_size - old_size);
        }
    } else if (new_size < old_size) {
        asan_poison(user + new_size, (size_t)(limit - (user + new_size)));
        if (NV_TRACK_VG(pool)) {
            VALGRIND_MEMPOOL_CHANGE(pool, user, user, new_size);
            VALGRIND_MAKE_MEM_NOACCESS(user + new_size, (size_t)(limit - (user + new_size)));
        }
    }
}

#endif /* NV_POOL_TRACK_H */
