/*
 * alloc_obstack.c - glibc's obstack (<obstack.h>), chunks from malloc.
 *
 * Tuned as a user after speed would: 64 KiB chunks (the default is 4064 B),
 * 16-byte alignment. Release-all is obstack_free() back to the first object,
 * which keeps the first chunk. Obstacks cannot free one object among others
 * (W2 is n/a) and grow only the object being built (W3 is n/a: each append
 * would copy the buffer into a new object and abandon the old one). W4 sets
 * the alignment mask to 63.
 */
#include <obstack.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "nvbench.h"

#define obstack_chunk_alloc malloc
#define obstack_chunk_free free

#define OB_CHUNK ((size_t)64 * 1024 - 64)

/* glibc's obstack takes int lengths (_OBSTACK_SIZE_T); ours are <= 4 KiB. */
#define OB_LEN(n) ((int)(n))

typedef struct ob {
    struct obstack ob;
    void *base; /* first object: obstack_free() back to it releases all */
} ob_t;

static void *ob_create(const nvb_setup_t *setup)
{
    (void)setup;
    ob_t *o = (ob_t *)malloc(sizeof *o);
    if (o == NULL) {
        return NULL;
    }
    if (!obstack_specify_allocation(&o->ob, OB_CHUNK, 16, malloc, free)) {
        free(o);
        return NULL;
    }
    o->base = obstack_alloc(&o->ob, 0);
    return o;
}

static void ob_destroy(void *ctx)
{
    ob_t *o = (ob_t *)ctx;
    obstack_free(&o->ob, NULL);
    free(o);
}

static inline void *ob_aligned(ob_t *o, size_t n, size_t a)
{
    /* The mask aligns the object after the next one: the first object after
     * a mask change or a release may be misaligned; it is then left as
     * padding and the object allocated again (once per run). */
    o->ob.alignment_mask = (int)(a - 1);
    char *p = (char *)obstack_alloc(&o->ob, OB_LEN(n));
    if (((uintptr_t)p & (a - 1)) != 0) {
        p = (char *)obstack_alloc(&o->ob, OB_LEN(n));
    }
    return p;
}

static inline void *ob_realloc(ob_t *o, void *p, size_t old, size_t n)
{
    char *q = (char *)obstack_alloc(&o->ob, OB_LEN(n));
    if (old > 0) {
        memcpy(q, p, old);
    }
    return q;
}

#define NVB_CTX_T ob_t
#define NVB_RUN_NAME ob_run
#define NVB_ALLOC(c, n) obstack_alloc(&(c)->ob, OB_LEN(n))
#define NVB_FREE(c, p, n) abort()
#define NVB_REALLOC(c, p, old, n) ob_realloc((c), (p), (old), (n))
#define NVB_ALIGNED(c, n, a) ob_aligned((c), (n), (a))
#define NVB_RELEASE(c, ptrs, n) ((void)(ptrs), (void)(n), obstack_free(&(c)->ob, (c)->base))
#define NVB_HELD(c) ((size_t)obstack_memory_used(&(c)->ob))
#include "workloads.inc"

const nvb_module_t nvb_mod_obstack = {
    .abi = NVB_ABI_VERSION,
    .name = "glibc obstack",
    .label = "glibc obstack: 64 KiB chunks from malloc, 16-byte alignment, release = obstack_free to the first object",
    .group = "reference",
    .cap = {0, NVB_NATIVE, NVB_NA, NVB_NA, NVB_NATIVE, NVB_NATIVE, NVB_NATIVE},
    .note = {
        [NVB_W2] = "an obstack cannot free one object among live ones",
        [NVB_W3] = "no realloc of finished objects and no free: see bump",
        [NVB_W4] = "alignment mask set to 63",
    },
    .init = NULL,
    .create = ob_create,
    .destroy = ob_destroy,
    .trim = NULL,
    .run = ob_run,
};
