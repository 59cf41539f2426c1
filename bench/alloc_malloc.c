/*
 * alloc_malloc.c - the process's malloc/free/realloc/aligned_alloc.
 *
 * Compiled four times: in the main benchmark binary and in nvbench_glibc it
 * is glibc's ("glibc malloc"); in nvbench_jemalloc and nvbench_tcmalloc the
 * binary is linked with -ljemalloc / -ltcmalloc_minimal, which replace
 * malloc for the whole process (NVB_MALLOC_FLAVOR 1 / 2). init() checks at run time which
 * library really serves malloc, so a row is never mislabelled.
 * Release-all frees every pointer.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>

#include "nvbench.h"

#ifndef NVB_MALLOC_FLAVOR
#define NVB_MALLOC_FLAVOR 0
#endif

#if NVB_MALLOC_FLAVOR == 0
#define FLAVOR_NAME "glibc malloc"
#define FLAVOR_LABEL "glibc malloc/free/realloc/aligned_alloc (default tunables)"
#define FLAVOR_LIB "libc.so"
#elif NVB_MALLOC_FLAVOR == 1
#define FLAVOR_NAME "jemalloc"
#define FLAVOR_LABEL "jemalloc malloc/free/realloc/aligned_alloc (binary linked with -ljemalloc, default options)"
#define FLAVOR_LIB "jemalloc"
int mallctl(const char *name, void *oldp, size_t *oldlenp, void *newp, size_t newlen);
#elif NVB_MALLOC_FLAVOR == 2
#define FLAVOR_NAME "tcmalloc"
#define FLAVOR_LABEL "tcmalloc (gperftools) malloc/free/realloc/aligned_alloc (binary linked with -ltcmalloc_minimal)"
#define FLAVOR_LIB "tcmalloc"
void MallocExtension_ReleaseFreeMemory(void);
#else
#error "unknown NVB_MALLOC_FLAVOR"
#endif

typedef struct sysmalloc {
    int unused;
} sysmalloc_t;

static const char *sys_init(void)
{
    static char why[256];
    /* Ask the dynamic linker which object defines malloc. */
    void *sym = dlsym(RTLD_DEFAULT, "malloc");
    Dl_info info;
    if (sym == NULL || dladdr(sym, &info) == 0 || info.dli_fname == NULL) {
        return "cannot tell which library serves malloc";
    }
    if (strstr(info.dli_fname, FLAVOR_LIB) == NULL) {
        strcpy(why, "malloc is served by ");
        strncat(why, info.dli_fname, sizeof why - strlen(why) - 1);
        strncat(why, ", not " FLAVOR_LIB, sizeof why - strlen(why) - 1);
        return why;
    }
    return NULL;
}

static void sys_trim(void)
{
#if NVB_MALLOC_FLAVOR == 0
    malloc_trim(0);
#elif NVB_MALLOC_FLAVOR == 1
    mallctl("arena.4096.purge", NULL, NULL, NULL, 0); /* MALLCTL_ARENAS_ALL */
#else
    MallocExtension_ReleaseFreeMemory();
#endif
}

static size_t sys_held(void)
{
#if NVB_MALLOC_FLAVOR == 0
    struct mallinfo2 mi = mallinfo2();
    return mi.arena + mi.hblkhd; /* heap obtained by sbrk + mmapped chunks */
#else
    return 0;
#endif
}

static void *sys_create(const nvb_setup_t *setup)
{
    (void)setup;
    static sysmalloc_t only;
    return &only;
}

static void sys_destroy(void *ctx)
{
    (void)ctx;
}

static inline void sys_release(void **ptrs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(ptrs[i]);
    }
}

#define NVB_CTX_T sysmalloc_t
#define NVB_RUN_NAME sys_run
#define NVB_ALLOC(c, n) malloc(n)
#define NVB_FREE(c, p, n) free(p)
#define NVB_REALLOC(c, p, old, n) realloc((p), (n))
#define NVB_ALIGNED(c, n, a) aligned_alloc((a), (n))
#define NVB_RELEASE(c, ptrs, n) sys_release((ptrs), (n))
#define NVB_HELD(c) sys_held()
#include "workloads.inc"

const nvb_module_t nvb_mod_malloc = {
    .abi = NVB_ABI_VERSION,
    .name = FLAVOR_NAME,
    .label = FLAVOR_LABEL,
    .group = NVB_MALLOC_FLAVOR == 0 ? "reference" : "peer",
    .cap = {0, NVB_NATIVE, NVB_NATIVE, NVB_NATIVE, NVB_NATIVE, NVB_NATIVE, NVB_NATIVE},
    .note = {
        [NVB_W1] = "release all = free() of every pointer",
    },
    .init = sys_init,
    .create = sys_create,
    .destroy = sys_destroy,
    .trim = sys_trim,
    .run = sys_run,
};
