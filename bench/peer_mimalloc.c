/*
 * peer_mimalloc.c - mimalloc (libmimalloc), loaded by the driver as a module.
 *
 * Two rows:
 *   "mimalloc heap": a mi_heap_t per context (mi_heap_malloc, mi_free,
 *       mi_heap_realloc, mi_heap_malloc_aligned); release-all is
 *       mi_heap_destroy followed by mi_heap_new;
 *   "mi_malloc": mi_malloc/mi_free/mi_realloc/mi_malloc_aligned; release-all
 *       frees every pointer.
 * Debian's libmimalloc also exports malloc/free; the driver loads this module
 * with RTLD_LOCAL, so those overrides never replace glibc's for the rest of
 * the process (the driver checks).
 */
#include <stdbool.h>
#include <stdlib.h>

#include <mimalloc.h>

#include "nvbench.h"

typedef struct mih {
    mi_heap_t *heap;
} mih_t;

static void *mih_create(const nvb_setup_t *setup)
{
    (void)setup;
    mih_t *c = (mih_t *)malloc(sizeof *c);
    if (c == NULL) {
        return NULL;
    }
    c->heap = mi_heap_new();
    if (c->heap == NULL) {
        free(c);
        return NULL;
    }
    return c;
}

static void mih_destroy(void *ctx)
{
    mih_t *c = (mih_t *)ctx;
    if (c->heap != NULL) {
        mi_heap_destroy(c->heap);
    }
    free(c);
}

static inline void mih_release(mih_t *c)
{
    mi_heap_destroy(c->heap);
    c->heap = mi_heap_new();
}

static void mi_trim(void)
{
    mi_collect(true);
}

#define NVB_CTX_T mih_t
#define NVB_RUN_NAME mih_run
#define NVB_ALLOC(c, n) mi_heap_malloc((c)->heap, (n))
#define NVB_FREE(c, p, n) mi_free(p)
#define NVB_REALLOC(c, p, old, n) mi_heap_realloc((c)->heap, (p), (n))
#define NVB_ALIGNED(c, n, a) mi_heap_malloc_aligned((c)->heap, (n), (a))
#define NVB_RELEASE(c, ptrs, n) ((void)(ptrs), (void)(n), mih_release(c))
#define NVB_HELD(c) ((size_t)0)
#include "workloads.inc"

typedef struct mim {
    int unused;
} mim_t;

static void *mim_create(const nvb_setup_t *setup)
{
    (void)setup;
    static mim_t only;
    return &only;
}

static void mim_destroy(void *ctx)
{
    (void)ctx;
}

static inline void mim_release(void **ptrs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        mi_free(ptrs[i]);
    }
}

#define NVB_CTX_T mim_t
#define NVB_RUN_NAME mim_run
#define NVB_ALLOC(c, n) mi_malloc(n)
#define NVB_FREE(c, p, n) mi_free(p)
#define NVB_REALLOC(c, p, old, n) mi_realloc((p), (n))
#define NVB_ALIGNED(c, n, a) mi_malloc_aligned((n), (a))
#define NVB_RELEASE(c, ptrs, n) mim_release((ptrs), (n))
#define NVB_HELD(c) ((size_t)0)
#include "workloads.inc"

static const nvb_module_t mih_module = {
    .abi = NVB_ABI_VERSION,
    .name = "mimalloc heap",
    .label = "mimalloc " "mi_heap_t per context (mi_heap_malloc/mi_free/mi_heap_realloc/mi_heap_malloc_aligned); release = mi_heap_destroy + mi_heap_new",
    .group = "peer",
    .cap = {0, NVB_NATIVE, NVB_NATIVE, NVB_NATIVE, NVB_NATIVE, NVB_NATIVE, NVB_NATIVE},
    .note = {0},
    .init = NULL,
    .create = mih_create,
    .destroy = mih_destroy,
    .trim = mi_trim,
    .run = mih_run,
};

static const nvb_module_t mim_module = {
    .abi = NVB_ABI_VERSION,
    .name = "mi_malloc",
    .label = "mimalloc mi_malloc/mi_free/mi_realloc/mi_malloc_aligned; release = mi_free of every pointer",
    .group = "peer",
    .cap = {0, NVB_NATIVE, NVB_NATIVE, NVB_NATIVE, NVB_NATIVE, NVB_NATIVE, NVB_NATIVE},
    .note = {0},
    .init = NULL,
    .create = mim_create,
    .destroy = mim_destroy,
    .trim = mi_trim,
    .run = mim_run,
};

const nvb_module_t *const *nvb_modules(void);

const nvb_module_t *const *nvb_modules(void)
{
    static const nvb_module_t *const list[] = {&mih_module, &mim_module, NULL};
    return list;
}
