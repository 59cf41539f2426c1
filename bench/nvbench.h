/*
 * nvbench.h - what the benchmark driver (main.c) and the allocator modules
 * share.
 *
 * Every allocator is a module: a C file that defines a handful of static
 * inline operations (alloc, free, realloc, aligned alloc, release-all) and
 * then includes workloads.inc, which instantiates the workload loops around
 * them. The loops therefore call each allocator directly (the bump pointer is
 * inlined, a library allocator is one call per operation); the only indirect
 * call is the one that starts a whole timed run.
 *
 * Modules linked into the benchmark binary are found through weak references
 * (main.c); the peers that come from optional system libraries (APR, talloc,
 * mimalloc) are shared objects the driver dlopen()s with RTLD_LOCAL, so a
 * missing library is reported as absent and mimalloc's malloc/free overrides
 * do not replace glibc's for the rest of the process.
 */
#ifndef NVBENCH_H
#define NVBENCH_H

#include <stddef.h>
#include <stdint.h>

#define NVB_ABI_VERSION 1

/* Workloads (see docs/performance.md). W5 runs the W1 loop at several N. */
enum {
    NVB_W1 = 1, /* arena: N allocs of 8-128 B, touch, release all */
    NVB_W2 = 2, /* churn: live set, free a random slot + alloc 8-512 B */
    NVB_W3 = 3, /* realloc growth: buffers grown by 1-64 B appends to 4 KiB */
    NVB_W4 = 4, /* aligned: allocs of 64-1024 B at alignment 64 */
    NVB_W5 = 5, /* scaling: W1 at N = 10^3 .. 10^7 */
    NVB_W6 = 6, /* fixed size: N allocs of 32 B, release all */
    NVB_WORKLOADS = 6
};

/* Everything a run reads, drawn before timing from a fixed seed. */
typedef struct nvb_input {
    int workload;              /* NVB_W1 .. NVB_W6 */
    size_t n;                  /* W1/W4/W5/W6: allocations; W2/W3: steps */
    size_t iters;              /* W1/W5/W6: loops of n inside one timed sample */
    size_t live;               /* W2: live slots; W3: buffers */
    size_t alignment;          /* W4 */
    const uint16_t *sizes;     /* W1/W4/W5: n sizes; W2: n sizes (one per step) */
    const uint16_t *init_sizes; /* W2: the live set's initial sizes */
    const uint16_t *slots;     /* W2: slot freed per step; W3: buffer per step */
    const uint8_t *lens;       /* W3: bytes appended per step */
    uint64_t deadline_ns;      /* W2/W3: CLOCK_MONOTONIC time at which a run
                                * gives up (0 = none); checked every 1024 steps */
    void **ptrs;               /* scratch, max(n, live) entries */
    size_t *cur;               /* scratch: live sizes (W2/W3), live entries */
} nvb_input_t;

/* What a module is told when a context is created. */
typedef struct nvb_setup {
    /* Bytes the allocator said it held at the peak of the memory pass (0 in
     * the memory pass itself, or when it cannot tell). The nv_pool module
     * sizes initial_size from it, as a user tuning for speed would. */
    size_t held_hint;
    size_t requested; /* peak bytes requested live by the workload */
} nvb_setup_t;

/* One run's measurements. */
typedef struct nvb_sample {
    uint64_t ns;      /* timed nanoseconds (all iterations) */
    size_t held;      /* allocator's own count of bytes held at the peak; 0 = unknown */
    long rss_peak;    /* VmRSS in bytes at the peak point (probe runs only), else -1 */
    size_t done;      /* steps done when a run stopped at its deadline (run returned -2) */
} nvb_sample_t;

/* Per-workload capability of a module. */
enum {
    NVB_NA = 0,       /* cannot run this workload (e.g. no individual free) */
    NVB_NATIVE = 1,   /* uses the allocator's own operation */
    NVB_EMULATED = 2  /* runs it with a documented emulation (see note) */
};

typedef struct nvb_module {
    int abi;              /* NVB_ABI_VERSION */
    const char *name;     /* row name in tables and JSON */
    const char *label;    /* one line: what exactly runs */
    const char *group;    /* "reference", "nv_pool", "peer" */
    unsigned char cap[NVB_WORKLOADS + 1]; /* indexed by workload */
    const char *note[NVB_WORKLOADS + 1];  /* why n/a, or how emulated */
    /* NULL, or an error string when the allocator cannot run here. */
    const char *(*init)(void);
    void *(*create)(const nvb_setup_t *setup);
    void (*destroy)(void *ctx);
    /* Returns the allocator's free memory to the system where it can
     * (malloc_trim, mi_collect, ...), so memory passes start level. */
    void (*trim)(void);
    /* 0 on success, -1 if an allocation failed (the row is then invalid),
     * -2 if a W2/W3 run passed in->deadline_ns (out->ns and out->done
     * describe the part that ran; everything was released).
     * probe != 0: read RSS and held bytes at the peak (not timed). */
    int (*run)(void *ctx, const nvb_input_t *in, int probe, nvb_sample_t *out);
} nvb_module_t;

/* A shared-object module exports this (returns a NULL-terminated array). */
typedef const nvb_module_t *const *(*nvb_modules_fn)(void);
#define NVB_MODULES_SYMBOL "nvb_modules"

#endif /* NVBENCH_H */
