/*
 * alloc_bump.c - `bump`: the minimal bump pointer, the benchmark's lower
 * bound and the reference of every "x bump" ratio.
 *
 * 16-byte alignment (as malloc and nv_pool), 4 MiB blocks from mmap that
 * are kept across resets, inline fast path: one add, one compare.
 * It cannot free: in W2 a free does nothing (memory only grows); W3 is n/a
 * (without free, growing interleaved buffers means copying each into new
 * memory at every append and abandoning the old copy: GBs of garbage whose
 * page faults dominate). bump_realloc is kept for completeness.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "nvbench.h"

#define BUMP_BLOCK ((size_t)4 << 20)

typedef struct bump_block {
    struct bump_block *next;
    size_t size;
} bump_block_t;

typedef struct bump {
    char *cur;
    char *end;
    bump_block_t *block; /* current */
    bump_block_t *first;
    size_t mapped;
} bump_t;

#define BUMP_HEADER 16u

__attribute__((noinline)) static void *bump_refill(bump_t *b, size_t need, size_t align)
{
    bump_block_t *next = b->block ? b->block->next : b->first;
    while (next != NULL && next->size - BUMP_HEADER < need + align) {
        next = next->next; /* too small for this request: skip (never in our workloads) */
    }
    if (next == NULL) {
        size_t size = need + align + BUMP_HEADER > BUMP_BLOCK ? need + align + BUMP_HEADER : BUMP_BLOCK;
        void *m = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (m == MAP_FAILED) {
            return NULL;
        }
        next = (bump_block_t *)m;
        next->size = size;
        next->next = NULL;
        /* append after the last block */
        if (b->first == NULL) {
            b->first = next;
        } else {
            bump_block_t *last = b->block ? b->block : b->first;
            while (last->next != NULL) {
                last = last->next;
            }
            last->next = next;
        }
        b->mapped += size;
    }
    b->block = next;
    b->cur = (char *)next + BUMP_HEADER;
    b->end = (char *)next + next->size;
    char *p = (char *)(((uintptr_t)b->cur + align - 1) & ~(uintptr_t)(align - 1));
    b->cur = p + need;
    return p;
}

static inline void *bump_alloc(bump_t *b, size_t n)
{
    size_t need = (n + 15) & ~(size_t)15;
    if ((size_t)(b->end - b->cur) < need) {
        return bump_refill(b, need, 16);
    }
    char *p = b->cur;
    b->cur = p + need;
    return p;
}

static inline void *bump_aligned(bump_t *b, size_t n, size_t a)
{
    size_t need = (n + 15) & ~(size_t)15;
    char *p = (char *)(((uintptr_t)b->cur + a - 1) & ~(uintptr_t)(a - 1));
    if (p > b->end || (size_t)(b->end - p) < need) {
        return bump_refill(b, need, a);
    }
    b->cur = p + need;
    return p;
}

static inline void *bump_realloc(bump_t *b, void *ptr, size_t old, size_t n)
{
    char *p = (char *)ptr;
    size_t old_need = (old + 15) & ~(size_t)15;
    size_t need = (n + 15) & ~(size_t)15;
    if (p != NULL && p + old_need == b->cur && (size_t)(b->end - p) >= need) {
        b->cur = p + need; /* the last allocation: grow in place */
        return p;
    }
    char *q = (char *)bump_alloc(b, n);
    if (q != NULL && old > 0) {
        memcpy(q, p, old);
    }
    return q;
}

static inline void bump_reset(bump_t *b)
{
    b->block = NULL;
    b->cur = NULL;
    b->end = NULL;
}

static void *bump_create(const nvb_setup_t *setup)
{
    (void)setup;
    return calloc(1, sizeof(bump_t));
}

static void bump_destroy(void *ctx)
{
    bump_t *b = (bump_t *)ctx;
    bump_block_t *blk = b->first;
    while (blk != NULL) {
        bump_block_t *next = blk->next;
        munmap(blk, blk->size);
        blk = next;
    }
    free(b);
}

#define NVB_CTX_T bump_t
#define NVB_RUN_NAME bump_run
#define NVB_ALLOC(c, n) bump_alloc((c), (n))
#define NVB_FREE(c, p, n) ((void)(p), (void)(n))
#define NVB_REALLOC(c, p, old, n) bump_realloc((c), (p), (old), (n))
#define NVB_ALIGNED(c, n, a) bump_aligned((c), (n), (a))
#define NVB_RELEASE(c, ptrs, n) ((void)(ptrs), (void)(n), bump_reset(c))
#define NVB_HELD(c) ((c)->mapped)
#include "workloads.inc"

const nvb_module_t nvb_mod_bump = {
    .abi = NVB_ABI_VERSION,
    .name = "bump",
    .label = "minimal bump pointer in the benchmark: 16-byte aligned, 4 MiB mmap blocks kept across resets",
    .group = "reference",
    .cap = {0, NVB_NATIVE, NVB_EMULATED, NVB_NA, NVB_NATIVE, NVB_NATIVE, NVB_NATIVE},
    .note = {
        [NVB_W2] = "no free: a free does nothing and memory only grows (time lower bound only)",
        [NVB_W3] = "no realloc and no free: every append would copy the buffer into new memory and abandon the old copy (GBs of garbage)",
    },
    .init = NULL,
    .create = bump_create,
    .destroy = bump_destroy,
    .trim = NULL,
    .run = bump_run,
};
