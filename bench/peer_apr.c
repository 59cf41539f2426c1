/*
 * peer_apr.c - APR pools (libapr-1), loaded by the driver as a module.
 *
 * Each context is a pool with its own apr_allocator (default settings: it
 * keeps freed blocks for reuse), so nothing is shared between contexts.
 * Release-all is apr_pool_clear. APR hands out 8-byte aligned memory
 * (APR_ALIGN_DEFAULT), has no individual free (W2 n/a), no realloc (W3 n/a:
 * each append would copy the buffer into a new allocation and abandon the
 * old one) and no aligned allocation (W4 over-allocates by alignment - 1 and rounds
 * the pointer up, as APR users do).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <apr_allocator.h>
#include <apr_general.h>
#include <apr_pools.h>

#include "nvbench.h"

typedef struct aprc {
    apr_pool_t *pool;
} aprc_t;

static const char *apr_bench_init(void)
{
    static int done;
    if (!done) {
        if (apr_initialize() != APR_SUCCESS) {
            return "apr_initialize failed";
        }
        done = 1;
    }
    return NULL;
}

static void *apr_bench_create(const nvb_setup_t *setup)
{
    (void)setup;
    aprc_t *c = (aprc_t *)malloc(sizeof *c);
    apr_allocator_t *allocator = NULL;
    if (c == NULL || apr_allocator_create(&allocator) != APR_SUCCESS) {
        free(c);
        return NULL;
    }
    if (apr_pool_create_ex(&c->pool, NULL, NULL, allocator) != APR_SUCCESS) {
        apr_allocator_destroy(allocator);
        free(c);
        return NULL;
    }
    apr_allocator_owner_set(allocator, c->pool); /* destroyed with the pool */
    return c;
}

static void apr_bench_destroy(void *ctx)
{
    aprc_t *c = (aprc_t *)ctx;
    apr_pool_destroy(c->pool);
    free(c);
}

static inline void *apr_bench_realloc(aprc_t *c, void *p, size_t old, size_t n)
{
    char *q = (char *)apr_palloc(c->pool, n);
    if (q != NULL && old > 0) {
        memcpy(q, p, old);
    }
    return q;
}

static inline void *apr_bench_aligned(aprc_t *c, size_t n, size_t a)
{
    uintptr_t p = (uintptr_t)apr_palloc(c->pool, n + a - 1);
    if (p == 0) {
        return NULL;
    }
    return (void *)((p + a - 1) & ~(uintptr_t)(a - 1));
}

#define NVB_CTX_T aprc_t
#define NVB_RUN_NAME apr_bench_run
#define NVB_ALLOC(c, n) apr_palloc((c)->pool, (n))
#define NVB_FREE(c, p, n) abort()
#define NVB_REALLOC(c, p, old, n) apr_bench_realloc((c), (p), (old), (n))
#define NVB_ALIGNED(c, n, a) apr_bench_aligned((c), (n), (a))
#define NVB_RELEASE(c, ptrs, n) ((void)(ptrs), (void)(n), apr_pool_clear((c)->pool))
#define NVB_HELD(c) ((size_t)0)
#include "workloads.inc"

static const nvb_module_t apr_module = {
    .abi = NVB_ABI_VERSION,
    .name = "APR pool",
    .label = "APR pools (libapr-1, own apr_allocator per pool, 8-byte alignment); release = apr_pool_clear",
    .group = "peer",
    .cap = {0, NVB_NATIVE, NVB_NA, NVB_NA, NVB_EMULATED, NVB_NATIVE, NVB_NATIVE},
    .note = {
        [NVB_W2] = "APR pools cannot free one allocation",
        [NVB_W3] = "no realloc and no free: see bump",
        [NVB_W4] = "no aligned allocation: over-allocates by 63 bytes and rounds up",
    },
    .init = apr_bench_init,
    .create = apr_bench_create,
    .destroy = apr_bench_destroy,
    .trim = NULL,
    .run = apr_bench_run,
};

const nvb_module_t *const *nvb_modules(void);

const nvb_module_t *const *nvb_modules(void)
{
    static const nvb_module_t *const list[] = {&apr_module, NULL};
    return list;
}
