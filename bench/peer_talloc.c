/*
 * peer_talloc.c - talloc (libtalloc), loaded by the driver as a module.
 *
 * All allocations are children of one talloc context; release-all is
 * talloc_free_children. talloc has free (talloc_free) and realloc
 * (talloc_realloc_size) but no aligned allocation: W4 over-allocates by
 * alignment - 1 and rounds the pointer up.
 */
#include <stdint.h>
#include <stdlib.h>

#include <talloc.h>

#include "nvbench.h"

typedef struct tac {
    void *root;
} tac_t;

static void *ta_create(const nvb_setup_t *setup)
{
    (void)setup;
    tac_t *c = (tac_t *)malloc(sizeof *c);
    if (c == NULL) {
        return NULL;
    }
    c->root = talloc_new(NULL);
    if (c->root == NULL) {
        free(c);
        return NULL;
    }
    return c;
}

static void ta_destroy(void *ctx)
{
    tac_t *c = (tac_t *)ctx;
    talloc_free(c->root);
    free(c);
}

static inline void *ta_aligned(tac_t *c, size_t n, size_t a)
{
    uintptr_t p = (uintptr_t)talloc_size(c->root, n + a - 1);
    if (p == 0) {
        return NULL;
    }
    return (void *)((p + a - 1) & ~(uintptr_t)(a - 1));
}

#define NVB_CTX_T tac_t
#define NVB_RUN_NAME ta_run
#define NVB_ALLOC(c, n) talloc_size((c)->root, (n))
#define NVB_FREE(c, p, n) talloc_free(p)
#define NVB_REALLOC(c, p, old, n) talloc_realloc_size((c)->root, (p), (n))
#define NVB_ALIGNED(c, n, a) ta_aligned((c), (n), (a))
#define NVB_RELEASE(c, ptrs, n) ((void)(ptrs), (void)(n), talloc_free_children((c)->root))
#define NVB_HELD(c) ((size_t)0)
#include "workloads.inc"

static const nvb_module_t talloc_module = {
    .abi = NVB_ABI_VERSION,
    .name = "talloc",
    .label = "talloc (libtalloc): children of one context; release = talloc_free_children",
    .group = "peer",
    .cap = {0, NVB_NATIVE, NVB_NATIVE, NVB_NATIVE, NVB_EMULATED, NVB_NATIVE, NVB_NATIVE},
    .note = {
        [NVB_W4] = "no aligned allocation: over-allocates by 63 bytes and rounds up",
    },
    .init = NULL,
    .create = ta_create,
    .destroy = ta_destroy,
    .trim = NULL,
    .run = ta_run,
};

const nvb_module_t *const *nvb_modules(void);

const nvb_module_t *const *nvb_modules(void)
{
    static const nvb_module_t *const list[] = {&talloc_module, NULL};
    return list;
}
