/*
 * alloc_nvpool.c - nv_pool through its public API only (nv_pool.h).
 *
 * Compiled twice:
 *   - against the release copy of pool.c (NV_POOL_HARDENING=0,
 *     NV_POOL_VALGRIND=0): rows "nv_pool" (stats off, the fastest build) and
 *     "nv_pool+stats" (enable_stats = 1);
 *   - with NVB_NVPOOL_HARDENED and -include nvh_rename.h against the
 *     hardened copy (the default build: NV_POOL_HARDENING=1,
 *     NV_POOL_VALGRIND=1), whose public names are nvh_pool_*: row
 *     "nv_pool hardened" (stats off, so the row differs from "nv_pool" by
 *     the build only).
 *
 * Configuration, as a user tuning for speed would set it: max_size = 0 (no
 * cap), auto_extend = 1, zero_clear = 0, min_size = 4 MiB, and initial_size
 * = the bytes the pool held at the peak of the untimed memory pass (rounded
 * up to 1 MiB), so nv_pool_reset keeps every block and a repetition never
 * goes back to malloc. The memory pass itself starts from initial_size = 0.
 * Release-all is nv_pool_reset.
 */
#include <stdlib.h>

#include "nv_pool.h"
#include "nvbench.h"

typedef struct nvp {
    nv_pool_t *pool;
} nvp_t;

#define NVP_MIB ((size_t)1 << 20)

static nvp_t *nvp_create_with(const nvb_setup_t *setup, int stats)
{
    nvp_t *c = (nvp_t *)malloc(sizeof *c);
    if (c == NULL) {
        return NULL;
    }
    nv_pool_config_t config = {
        .initial_size = (setup->held_hint + NVP_MIB - 1) / NVP_MIB * NVP_MIB,
        .max_size = 0,
        .min_size = 4 * NVP_MIB,
        .auto_extend = 1,
        .zero_clear = 0,
        .enable_stats = stats,
        .name = "bench",
    };
    c->pool = nv_pool_create(&config);
    if (c->pool == NULL) {
        free(c);
        return NULL;
    }
    return c;
}

static void nvp_destroy(void *ctx)
{
    nvp_t *c = (nvp_t *)ctx;
    nv_pool_destroy(c->pool);
    free(c);
}

#define NVB_CTX_T nvp_t
#define NVB_ALLOC(c, n) nv_pool_alloc((c)->pool, (n))
#define NVB_FREE(c, p, n)                            \
    do {                                             \
        if (nv_pool_free((c)->pool, (p)) != NV_OK) { \
            return -1;                               \
        }                                            \
    } while (0)
#define NVB_REALLOC(c, p, old, n) nv_pool_realloc((c)->pool, (p), (n))
#define NVB_ALIGNED(c, n, a) nv_pool_align((c)->pool, (n), (a))
#define NVB_RELEASE(c, ptrs, n) ((void)(ptrs), (void)(n), nv_pool_reset((c)->pool))
#define NVB_HELD(c) nv_pool_get_size((c)->pool)

#ifndef NVB_NVPOOL_HARDENED

#define NVB_RUN_NAME nvp_run
#include "workloads.inc"

static const char *nvp_init_release(void)
{
    return nv_pool_hardening_enabled() ? "the release copy of pool.c was built with hardening" : NULL;
}

static void *nvp_create_nostats(const nvb_setup_t *setup)
{
    return nvp_create_with(setup, 0);
}

static void *nvp_create_stats(const nvb_setup_t *setup)
{
    return nvp_create_with(setup, 1);
}

const nvb_module_t nvb_mod_nvpool = {
    .abi = NVB_ABI_VERSION,
    .name = "nv_pool",
    .label = "nv_pool release build (NV_POOL_HARDENING=0, NV_POOL_VALGRIND=0), stats off; release = nv_pool_reset",
    .group = "nv_pool",
    .cap = {0, NVB_NATIVE, NVB_NATIVE, NVB_NATIVE, NVB_NATIVE, NVB_NATIVE, NVB_NATIVE},
    .note = {0},
    .init = nvp_init_release,
    .create = nvp_create_nostats,
    .destroy = nvp_destroy,
    .trim = NULL,
    .run = nvp_run,
};

const nvb_module_t nvb_mod_nvpool_stats = {
    .abi = NVB_ABI_VERSION,
    .name = "nv_pool+stats",
    .label = "nv_pool release build, enable_stats = 1",
    .group = "nv_pool",
    .cap = {0, NVB_NATIVE, NVB_NATIVE, NVB_NATIVE, NVB_NATIVE, NVB_NATIVE, NVB_NATIVE},
    .note = {0},
    .init = nvp_init_release,
    .create = nvp_create_stats,
    .destroy = nvp_destroy,
    .trim = NULL,
    .run = nvp_run,
};

#else /* NVB_NVPOOL_HARDENED */

#define NVB_RUN_NAME nvh_run
#include "workloads.inc"

static const char *nvh_init(void)
{
    return nv_pool_hardening_enabled() ? NULL : "the hardened copy of pool.c was built without hardening";
}

static void *nvh_create(const nvb_setup_t *setup)
{
    return nvp_create_with(setup, 0);
}

const nvb_module_t nvb_mod_nvpool_hardened = {
    .abi = NVB_ABI_VERSION,
    .name = "nv_pool hardened",
    .label = "nv_pool default build (NV_POOL_HARDENING=1: redzones, canaries, freed-chunk fill; NV_POOL_VALGRIND=1), stats off",
    .group = "nv_pool",
    .cap = {0, NVB_NATIVE, NVB_NATIVE, NVB_NATIVE, NVB_NATIVE, NVB_NATIVE, NVB_NATIVE},
    .note = {0},
    .init = nvh_init,
    .create = nvh_create,
    .destroy = nvp_destroy,
    .trim = NULL,
    .run = nvh_run,
};

#endif
