/*
 * main.c - the benchmark driver: nv_pool against the allocators users would
 * pick instead, side by side, in one process.
 *
 *   nvbench [--quick] [--reps N] [--seed S] [--json FILE] [--quiet]
 *           [--workloads W1,W2,...] [--only NAME,NAME,...] [--skip NAME,...]
 *           [--module-dir DIR] [--w5-max N] [--run-limit SECONDS]
 *           [--step-limit SECONDS] [--list]
 *
 * For each workload (and each N of W5), with inputs drawn before timing from
 * a fixed seed:
 *   1. memory pass, one allocator at a time: the allocator's free memory is
 *      returned to the system (malloc_trim, mi_collect, ...), the peak-RSS
 *      mark is reset (/proc/self/clear_refs), a fresh context runs the
 *      workload once, and RSS growth above the starting RSS gives the bytes
 *      obtained from the system (and, divided by the peak bytes requested,
 *      the overhead ratio);
 *   2. a fresh context per allocator, one untimed warm-up run each;
 *   3. `reps` timed repetitions, interleaved: each repetition runs every
 *      allocator once, in a random (seeded) order;
 *   4. median, min and max of ns per operation; a table on stdout and,
 *      with --json, every repetition in a JSON file (bench/report.py merges
 *      the files of several binaries, checks the targets and plots W5).
 *
 * Time limits keep a pathological allocator from stalling the run: a W2/W3
 * memory pass stops after --step-limit seconds (the row then shows that one
 * partial run, marked "[1 run]"), and an allocator whose memory pass took
 * longer than --run-limit seconds is not repeated (its row shows that one
 * cold run).
 *
 * Built-in modules are linked in (weak references: a binary holds the ones
 * its BUILD target links); APR, talloc and mimalloc are shared objects next
 * to the binary, loaded with dlopen(RTLD_LOCAL): when one or its system
 * library is missing, its rows say "absent" and why.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <gnu/libc-version.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "nvbench.h"

/* Which binary this is (Bazel local_defines cannot carry quotes portably). */
#ifndef NVB_BINARY_ID
#define NVB_BINARY_ID 0
#endif
#if NVB_BINARY_ID == 0
#define NVB_BINARY "main"
#elif NVB_BINARY_ID == 1
#define NVB_BINARY "jemalloc"
#elif NVB_BINARY_ID == 2
#define NVB_BINARY "tcmalloc"
#elif NVB_BINARY_ID == 3
#define NVB_BINARY "glibc"
#else
#error "unknown NVB_BINARY_ID"
#endif
#ifndef NVB_LOAD_PEERS
#define NVB_LOAD_PEERS 1
#endif

extern const nvb_module_t nvb_mod_bump __attribute__((weak));
extern const nvb_module_t nvb_mod_malloc __attribute__((weak));
extern const nvb_module_t nvb_mod_obstack __attribute__((weak));
extern const nvb_module_t nvb_mod_nvpool __attribute__((weak));
extern const nvb_module_t nvb_mod_nvpool_stats __attribute__((weak));
extern const nvb_module_t nvb_mod_nvpool_hardened __attribute__((weak));

#define MAX_ENTRIES 24
#define MAX_REPS 101
#define MAX_CASES 16
#define MAX_W5 8
/* Below this many bytes requested, RSS growth is too coarse (pages, memory
 * the allocator kept from earlier runs) for an overhead ratio: tables print
 * "-" (the JSON keeps the number). */
#define OVERHEAD_MIN_BYTES ((size_t)2 << 20)

/* ---- allocators ---------------------------------------------------------- */

typedef struct entry {
    const nvb_module_t *mod; /* NULL when absent */
    const char *name;
    const char *label;
    const char *group;
    char reason[320]; /* why absent */
    int selected;     /* --only */
} entry_t;

static entry_t entries[MAX_ENTRIES];
static int entry_count;

static void add_entry(const nvb_module_t *mod, const char *name, const char *reason)
{
    if (entry_count >= MAX_ENTRIES) {
        return;
    }
    entry_t *e = &entries[entry_count++];
    memset(e, 0, sizeof *e);
    e->selected = 1;
    if (mod != NULL && reason == NULL && mod->init != NULL) {
        reason = mod->init();
    }
    e->name = mod != NULL ? mod->name : name;
    e->label = mod != NULL ? mod->label : "";
    e->group = mod != NULL ? mod->group : "peer";
    if (reason != NULL) {
        snprintf(e->reason, sizeof e->reason, "%s", reason);
        e->mod = NULL;
    } else {
        e->mod = mod;
    }
}

/* Directory of this executable, for the peer modules next to it. */
static void exe_dir(char *out, size_t size)
{
    char path[PATH_MAX];
    ssize_t len = readlink("/proc/self/exe", path, sizeof path - 1);
    if (len <= 0) {
        snprintf(out, size, ".");
        return;
    }
    path[len] = '\0';
    char *slash = strrchr(path, '/');
    if (slash != NULL) {
        *slash = '\0';
    }
    snprintf(out, size, "%s", path);
}

typedef struct peer_so {
    const char *file;
    const char *rows[3];
    const char *package; /* Debian package of the system library */
} peer_so_t;

static const peer_so_t peer_sos[] = {
    {"libnvb_apr.so", {"APR pool", NULL}, "libapr1-dev"},
    {"libnvb_talloc.so", {"talloc", NULL}, "libtalloc-dev"},
    {"libnvb_mimalloc.so", {"mimalloc heap", "mi_malloc", NULL}, "libmimalloc-dev"},
};

/* Which shared object defines `symbol` for the main program. */
static const char *defining_object(const char *symbol)
{
    void *sym = dlsym(RTLD_DEFAULT, symbol);
    Dl_info info;
    if (sym == NULL || dladdr(sym, &info) == 0 || info.dli_fname == NULL) {
        return "?";
    }
    return info.dli_fname;
}

static void load_peers(const char *dir)
{
    for (size_t i = 0; i < sizeof peer_sos / sizeof peer_sos[0]; i++) {
        const peer_so_t *so = &peer_sos[i];
        char path[PATH_MAX + 64];
        char reason[320];
        snprintf(path, sizeof path, "%s/%s", dir, so->file);
        const nvb_module_t *const *list = NULL;
        if (access(path, R_OK) != 0) {
            snprintf(reason, sizeof reason, "module %s not built (tools/bench builds it when %s is installed)",
                     so->file, so->package);
        } else {
            void *handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
            if (handle == NULL) {
                snprintf(reason, sizeof reason, "cannot load %s: %s", so->file, dlerror());
            } else {
                nvb_modules_fn fn = (nvb_modules_fn)(uintptr_t)dlsym(handle, NVB_MODULES_SYMBOL);
                list = fn != NULL ? fn() : NULL;
                if (list == NULL) {
                    snprintf(reason, sizeof reason, "%s exports no %s", so->file, NVB_MODULES_SYMBOL);
                }
            }
        }
        if (list == NULL) {
            for (int r = 0; so->rows[r] != NULL; r++) {
                add_entry(NULL, so->rows[r], reason);
            }
            continue;
        }
        for (int r = 0; list[r] != NULL; r++) {
            if (list[r]->abi != NVB_ABI_VERSION) {
                add_entry(NULL, list[r]->name, "module built for another benchmark ABI");
            } else {
                add_entry(list[r], NULL, NULL);
            }
        }
    }
    /* mimalloc's library exports malloc/free too: make sure RTLD_LOCAL kept
     * glibc's for everyone else. */
    const char *owner = defining_object("malloc");
    if (strstr(owner, "libc.so") == NULL) {
        fprintf(stderr, "nvbench: after loading the peer modules malloc is served by %s; the glibc rows are invalid\n", owner);
        exit(2);
    }
}

/* ---- random inputs ------------------------------------------------------- */

static uint64_t rng_state[4];

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static void rng_seed(uint64_t seed)
{
    for (int i = 0; i < 4; i++) {
        rng_state[i] = splitmix64(&seed);
    }
}

static uint64_t rng_next(void) /* xoshiro256** */
{
    uint64_t *s = rng_state;
    uint64_t x = s[1] * 5;
    uint64_t result = ((x << 7) | (x >> 57)) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = (s[3] << 45) | (s[3] >> 19);
    return result;
}

/* Uniform in [lo, hi]. */
static uint32_t rng_range(uint32_t lo, uint32_t hi)
{
    uint64_t span = (uint64_t)hi - lo + 1;
    return lo + (uint32_t)(((rng_next() >> 32) * span) >> 32);
}

/* ---- process measurements ------------------------------------------------ */

static long read_status_kib(const char *key)
{
    char buf[4096];
    int fd = open("/proc/self/status", O_RDONLY);
    if (fd < 0) {
        return -1;
    }
    ssize_t got = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (got <= 0) {
        return -1;
    }
    buf[got] = '\0';
    char *p = strstr(buf, key);
    if (p == NULL) {
        return -1;
    }
    return strtol(p + strlen(key), NULL, 10);
}

static long rss_now(void)
{
    long kib = read_status_kib("VmRSS:");
    return kib < 0 ? -1 : kib * 1024;
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int hwm_resettable = -1;

/* Resets VmHWM to the current RSS (Linux >= 4.0). */
static void reset_hwm(void)
{
    int fd = open("/proc/self/clear_refs", O_WRONLY);
    int ok = 0;
    if (fd >= 0) {
        ok = write(fd, "5", 1) == 1;
        close(fd);
    }
    if (hwm_resettable < 0) {
        hwm_resettable = ok;
    }
}

static long hwm_now(void)
{
    long kib = read_status_kib("VmHWM:");
    return kib < 0 ? -1 : kib * 1024;
}

static void trim_all(void)
{
    for (int i = 0; i < entry_count; i++) {
        if (entries[i].mod != NULL && entries[i].mod->trim != NULL) {
            entries[i].mod->trim();
        }
    }
}

/* ---- configuration ------------------------------------------------------- */

typedef struct config {
    int quick;
    int reps;
    uint64_t seed;
    const char *json;
    const char *module_dir;
    int quiet;
    unsigned workloads; /* bit w */
    size_t w1_n, w2_live, w2_steps, w3_bufs, w3_cap, w4_n, w6_n;
    size_t w5_n[MAX_W5];
    int w5_count;
    size_t w5_ops; /* W5: each timed sample runs max(1, w5_ops / N) loops */
    double run_limit;  /* seconds: an allocator whose memory pass takes longer is not repeated */
    double step_limit; /* seconds: a W2/W3 memory pass stops here (partial run) */
} config_t;

static config_t cfg;

static void set_defaults(int quick)
{
    cfg.quick = quick;
    cfg.reps = 5;
    cfg.w3_cap = 4096;
    cfg.w2_live = 10000;
    cfg.w3_bufs = quick ? 1000 : 10000;
    cfg.w1_n = quick ? 100000 : 1000000;
    cfg.w2_steps = quick ? 200000 : 2000000;
    cfg.w4_n = quick ? 20000 : 100000;
    cfg.w6_n = quick ? 100000 : 1000000;
    cfg.w5_ops = quick ? 200000 : 1000000;
    cfg.run_limit = quick ? 1.0 : 4.0;
    cfg.step_limit = quick ? 0.5 : 2.0;
    size_t max_n = quick ? 100000 : 10000000;
    cfg.w5_count = 0;
    for (size_t n = 1000; n <= max_n && cfg.w5_count < MAX_W5; n *= 10) {
        cfg.w5_n[cfg.w5_count++] = n;
    }
}

/* ---- cases and results --------------------------------------------------- */

enum { ST_OK = 0, ST_NA = 1, ST_ABSENT = 2, ST_FAILED = 3, ST_SKIPPED = 4 };
static const char *const status_names[] = {"ok", "n/a", "absent", "failed", "skipped"};

typedef struct result {
    int status;
    int mode; /* NVB_NATIVE / NVB_EMULATED */
    char note[320];
    int reps;
    double ns[MAX_REPS];
    double median, min, max;
    long rss_base, rss_probe, hwm, peak_delta;
    size_t held;
    double overhead; /* peak_delta / requested */
    double held_ratio; /* held / requested, 0 = unknown */
    int single;        /* too slow: only the memory pass was timed */
} result_t;

typedef struct bench_case {
    int workload;
    size_t n;
    size_t iters;
    size_t ops;
    size_t requested; /* peak bytes requested live */
    char title[200];
    double seconds;
    result_t res[MAX_ENTRIES];
} bench_case_t;

static bench_case_t cases[MAX_CASES];
static int case_count;

static const char *const workload_ids[] = {"", "W1", "W2", "W3", "W4", "W5", "W6"};

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void *xmalloc(size_t n)
{
    void *p = malloc(n > 0 ? n : 1);
    if (p == NULL) {
        fprintf(stderr, "nvbench: out of memory (%zu bytes)\n", n);
        exit(2);
    }
    memset(p, 0, n); /* resident before any measurement */
    return p;
}

/* Inputs of one case. */
typedef struct inputs {
    uint16_t *sizes, *init_sizes, *slots;
    uint8_t *lens;
} inputs_t;

static void free_inputs(inputs_t *x)
{
    free(x->sizes);
    free(x->init_sizes);
    free(x->slots);
    free(x->lens);
    memset(x, 0, sizeof *x);
}

static void make_inputs(bench_case_t *bc, nvb_input_t *in, inputs_t *x)
{
    memset(in, 0, sizeof *in);
    memset(x, 0, sizeof *x);
    in->workload = bc->workload;
    in->n = bc->n;
    in->iters = 1;
    /* Each case has its own stream: the inputs do not depend on which
     * workloads or allocators were selected. */
    rng_seed(cfg.seed * 1000003u + (uint64_t)bc->workload * 7919u + bc->n);
    size_t requested = 0;
    switch (bc->workload) {
    case NVB_W1:
    case NVB_W5:
        x->sizes = (uint16_t *)xmalloc(bc->n * sizeof(uint16_t));
        for (size_t i = 0; i < bc->n; i++) {
            x->sizes[i] = (uint16_t)rng_range(8, 128);
            requested += x->sizes[i];
        }
        if (bc->workload == NVB_W5) {
            in->iters = cfg.w5_ops / bc->n > 0 ? cfg.w5_ops / bc->n : 1;
        }
        bc->ops = bc->n * in->iters;
        break;
    case NVB_W6:
        requested = 32 * bc->n;
        bc->ops = bc->n;
        break;
    case NVB_W2: {
        size_t live = cfg.w2_live;
        in->live = live;
        x->init_sizes = (uint16_t *)xmalloc(live * sizeof(uint16_t));
        x->slots = (uint16_t *)xmalloc(bc->n * sizeof(uint16_t));
        x->sizes = (uint16_t *)xmalloc(bc->n * sizeof(uint16_t));
        size_t *cur = (size_t *)xmalloc(live * sizeof(size_t));
        size_t sum = 0;
        for (size_t s = 0; s < live; s++) {
            x->init_sizes[s] = (uint16_t)rng_range(8, 512);
            cur[s] = x->init_sizes[s];
            sum += cur[s];
        }
        requested = sum;
        for (size_t j = 0; j < bc->n; j++) {
            x->slots[j] = (uint16_t)rng_range(0, (uint32_t)live - 1);
            x->sizes[j] = (uint16_t)rng_range(8, 512);
            sum = sum - cur[x->slots[j]] + x->sizes[j];
            cur[x->slots[j]] = x->sizes[j];
            if (sum > requested) {
                requested = sum;
            }
        }
        free(cur);
        bc->ops = bc->n;
        break;
    }
    case NVB_W3: {
        size_t bufs = cfg.w3_bufs;
        in->live = bufs;
        /* Each buffer's appends, in order; then all appends interleaved in
         * a random order. */
        size_t cap_total = bufs * cfg.w3_cap; /* upper bound of appends */
        uint8_t *blen = (uint8_t *)xmalloc(cap_total);
        size_t *bstart = (size_t *)xmalloc((bufs + 1) * sizeof(size_t));
        size_t total = 0;
        for (size_t b = 0; b < bufs; b++) {
            bstart[b] = total;
            size_t len = 0;
            while (len < cfg.w3_cap) {
                size_t add = rng_range(1, 64);
                if (len + add > cfg.w3_cap) {
                    add = cfg.w3_cap - len;
                }
                blen[total++] = (uint8_t)add;
                len += add;
            }
        }
        bstart[bufs] = total;
        x->slots = (uint16_t *)xmalloc(total * sizeof(uint16_t));
        x->lens = (uint8_t *)xmalloc(total);
        for (size_t b = 0, j = 0; b < bufs; b++) {
            for (size_t k = bstart[b]; k < bstart[b + 1]; k++) {
                x->slots[j++] = (uint16_t)b;
            }
        }
        for (size_t j = total; j > 1; j--) { /* Fisher-Yates */
            size_t k = (size_t)(((rng_next() >> 32) * (uint64_t)j) >> 32);
            uint16_t t = x->slots[j - 1];
            x->slots[j - 1] = x->slots[k];
            x->slots[k] = t;
        }
        size_t *cursor = (size_t *)xmalloc(bufs * sizeof(size_t));
        for (size_t j = 0; j < total; j++) {
            size_t b = x->slots[j];
            x->lens[j] = blen[bstart[b] + cursor[b]++];
        }
        free(cursor);
        free(bstart);
        free(blen);
        bc->n = total;
        in->n = total;
        bc->ops = total;
        requested = bufs * cfg.w3_cap;
        break;
    }
    case NVB_W4:
        in->alignment = 64;
        x->sizes = (uint16_t *)xmalloc(bc->n * sizeof(uint16_t));
        for (size_t i = 0; i < bc->n; i++) {
            x->sizes[i] = (uint16_t)rng_range(64, 1024);
            requested += x->sizes[i];
        }
        bc->ops = bc->n;
        break;
    default:
        break;
    }
    bc->iters = in->iters;
    bc->requested = requested;
    in->sizes = x->sizes;
    in->init_sizes = x->init_sizes;
    in->slots = x->slots;
    in->lens = x->lens;
}

static void add_case(int workload, size_t n)
{
    if (case_count >= MAX_CASES || !(cfg.workloads & (1u << workload))) {
        return;
    }
    bench_case_t *bc = &cases[case_count++];
    memset(bc, 0, sizeof *bc);
    bc->workload = workload;
    bc->n = n;
}

static void describe(bench_case_t *bc)
{
    switch (bc->workload) {
    case NVB_W1:
        snprintf(bc->title, sizeof bc->title, "W1 arena: %zu allocations of 8-128 B (uniform), first byte touched, then release all", bc->n);
        break;
    case NVB_W2:
        snprintf(bc->title, sizeof bc->title, "W2 churn: %zu live slots, %zu steps of free(random slot) + alloc(8-512 B)", cfg.w2_live, bc->n);
        break;
    case NVB_W3:
        snprintf(bc->title, sizeof bc->title, "W3 realloc growth: %zu buffers grown by appends of 1-64 B to %zu B (%zu appends, interleaved)", cfg.w3_bufs, cfg.w3_cap, bc->n);
        break;
    case NVB_W4:
        snprintf(bc->title, sizeof bc->title, "W4 aligned: %zu allocations of 64-1024 B at alignment 64, then release all", bc->n);
        break;
    case NVB_W5:
        snprintf(bc->title, sizeof bc->title, "W5 scaling: W1 at N = %zu (%zu loop%s per sample)", bc->n, bc->iters, bc->iters == 1 ? "" : "s");
        break;
    case NVB_W6:
        snprintf(bc->title, sizeof bc->title, "W6 fixed size: %zu allocations of 32 B, then release all", bc->n);
        break;
    default:
        break;
    }
}

static void progress(const char *fmt, ...)
{
    if (!isatty(STDERR_FILENO)) {
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "\r\033[K");
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fflush(stderr);
}

static void print_table(const bench_case_t *bc);

static void run_case(bench_case_t *bc, void **ptrs, size_t *cur)
{
    uint64_t case_start = now_ns();
    nvb_input_t in;
    inputs_t x;
    make_inputs(bc, &in, &x);
    describe(bc);
    in.ptrs = ptrs;
    in.cur = cur;

    int runnable[MAX_ENTRIES];
    int count = 0;
    for (int e = 0; e < entry_count; e++) {
        result_t *r = &bc->res[e];
        const entry_t *en = &entries[e];
        r->rss_base = r->rss_probe = r->hwm = r->peak_delta = -1;
        if (!en->selected) {
            r->status = ST_SKIPPED;
            continue;
        }
        if (en->mod == NULL) {
            r->status = ST_ABSENT;
            snprintf(r->note, sizeof r->note, "%s", en->reason);
            continue;
        }
        r->mode = en->mod->cap[bc->workload];
        if (en->mod->note[bc->workload] != NULL) {
            snprintf(r->note, sizeof r->note, "%s", en->mod->note[bc->workload]);
        }
        if (r->mode == NVB_NA) {
            r->status = ST_NA;
            continue;
        }
        r->status = ST_OK;
        runnable[count++] = e;
    }

    /* 1. memory passes */
    nvb_input_t once = in;
    once.iters = 1;
    for (int k = 0; k < count; k++) {
        int e = runnable[k];
        result_t *r = &bc->res[e];
        const nvb_module_t *m = entries[e].mod;
        progress("%s N=%zu: memory pass %s", workload_ids[bc->workload], bc->n, m->name);
        trim_all();
        nvb_setup_t setup = {.held_hint = 0, .requested = bc->requested};
        r->rss_base = rss_now();
        reset_hwm();
        struct timespec w0, w1;
        clock_gettime(CLOCK_MONOTONIC, &w0);
        void *ctx = m->create(&setup);
        nvb_sample_t s = {0, 0, -1, 0};
        once.deadline_ns = now_ns() + (uint64_t)(cfg.step_limit * 1e9);
        int rc = ctx != NULL ? m->run(ctx, &once, 1, &s) : -1;
        if (ctx != NULL) {
            m->destroy(ctx);
        }
        clock_gettime(CLOCK_MONOTONIC, &w1);
        r->hwm = hwm_resettable > 0 ? hwm_now() : -1;
        if (rc == -2 && s.done > 0) {
            /* Pathologically slow: stopped at the limit; keep the part that
             * ran as the only measurement. */
            r->single = 1;
            r->ns[r->reps++] = (double)s.ns / (double)s.done;
            snprintf(r->note, sizeof r->note,
                     "one partial run: stopped at the %.1f s limit (--step-limit) after %zu of %zu steps; the figure is "
                     "from those steps",
                     cfg.step_limit, s.done, bc->ops);
            continue; /* peak_delta stays -1: the memory peak was not reached */
        }
        if (rc != 0) {
            r->status = ST_FAILED;
            snprintf(r->note, sizeof r->note, "%s", ctx == NULL ? "could not create a context" : "an allocation failed or returned a bad pointer");
            continue;
        }
        r->rss_probe = s.rss_peak;
        r->held = s.held;
        long peak = r->hwm > r->rss_probe ? r->hwm : r->rss_probe;
        r->peak_delta = peak >= 0 && r->rss_base >= 0 ? peak - r->rss_base : -1;
        r->overhead = r->peak_delta >= 0 && bc->requested > 0 ? (double)r->peak_delta / (double)bc->requested : 0;
        r->held_ratio = r->held > 0 && bc->requested > 0 ? (double)r->held / (double)bc->requested : 0;
        double wall = (double)(w1.tv_sec - w0.tv_sec) + (double)(w1.tv_nsec - w0.tv_nsec) / 1e9;
        if (wall * (double)in.iters > cfg.run_limit) {
            /* Pathologically slow: keep this one (cold) measurement instead of
             * spending minutes on repetitions. */
            r->single = 1;
            r->ns[r->reps++] = (double)s.ns / (double)(bc->ops / in.iters);
            snprintf(r->note, sizeof r->note,
                     "one run only: it took %.1f s, over the %.0f s per-run limit (--run-limit); the figure is that cold run", wall,
                     cfg.run_limit);
        }
    }
    trim_all();

    /* 2. contexts and warm-up */
    void *ctx[MAX_ENTRIES] = {0};
    int live[MAX_ENTRIES];
    int nlive = 0;
    for (int k = 0; k < count; k++) {
        int e = runnable[k];
        result_t *r = &bc->res[e];
        if (r->status != ST_OK || r->single) {
            continue;
        }
        const nvb_module_t *m = entries[e].mod;
        nvb_setup_t setup = {.held_hint = r->held, .requested = bc->requested};
        ctx[e] = m->create(&setup);
        nvb_sample_t s;
        in.deadline_ns = now_ns() + (uint64_t)(3 * cfg.run_limit * 1e9);
        if (ctx[e] == NULL || m->run(ctx[e], &in, 0, &s) != 0) {
            r->status = ST_FAILED;
            snprintf(r->note, sizeof r->note, "warm-up run failed");
            continue;
        }
        live[nlive++] = e;
    }

    /* 3. interleaved repetitions, each in its own random order (seeded), so
     * no allocator always runs right after the same one: a run finds the
     * caches as its predecessor left them. */
    for (int rep = 0; rep < cfg.reps; rep++) {
        int order[MAX_ENTRIES];
        memcpy(order, live, sizeof(int) * (size_t)nlive);
        rng_seed(cfg.seed * 31u + (uint64_t)bc->workload * 1009u + bc->n + (uint64_t)rep);
        for (int j = nlive; j > 1; j--) {
            int k = (int)(((rng_next() >> 32) * (uint64_t)j) >> 32);
            int t = order[j - 1];
            order[j - 1] = order[k];
            order[k] = t;
        }
        for (int j = 0; j < nlive; j++) {
            int e = order[j];
            result_t *r = &bc->res[e];
            if (r->status != ST_OK) {
                continue;
            }
            progress("%s N=%zu: repetition %d/%d %s", workload_ids[bc->workload], bc->n, rep + 1, cfg.reps, entries[e].name);
            nvb_sample_t s;
            in.deadline_ns = now_ns() + (uint64_t)(3 * cfg.run_limit * 1e9);
            int rc = entries[e].mod->run(ctx[e], &in, 0, &s);
            if (rc != 0) {
                r->status = ST_FAILED;
                if (rc == -2) {
                    snprintf(r->note, sizeof r->note, "repetition %d passed the %.0f s limit (3 x --run-limit)", rep + 1,
                             3 * cfg.run_limit);
                } else {
                    snprintf(r->note, sizeof r->note, "repetition %d failed: an allocation failed or returned a bad pointer",
                             rep + 1);
                }
                continue;
            }
            r->ns[r->reps++] = (double)s.ns / (double)bc->ops;
        }
    }
    for (int j = 0; j < nlive; j++) {
        entries[live[j]].mod->destroy(ctx[live[j]]);
    }
    trim_all();
    free_inputs(&x);
    progress("");

    /* 4. statistics */
    for (int e = 0; e < entry_count; e++) {
        result_t *r = &bc->res[e];
        if (r->status != ST_OK || r->reps == 0) {
            continue;
        }
        double sorted[MAX_REPS];
        memcpy(sorted, r->ns, sizeof(double) * (size_t)r->reps);
        qsort(sorted, (size_t)r->reps, sizeof(double), cmp_double);
        r->min = sorted[0];
        r->max = sorted[r->reps - 1];
        r->median = r->reps % 2 ? sorted[r->reps / 2] : (sorted[r->reps / 2 - 1] + sorted[r->reps / 2]) / 2;
    }
    bc->seconds = (double)(now_ns() - case_start) / 1e9;
    if (!cfg.quiet) {
        print_table(bc);
    } else {
        fprintf(stderr, "  %s N=%zu: %.1f s\n", workload_ids[bc->workload], bc->n, bc->seconds);
    }
}

/* ---- output -------------------------------------------------------------- */

static int find_entry(const char *name)
{
    for (int e = 0; e < entry_count; e++) {
        if (strcmp(entries[e].name, name) == 0) {
            return e;
        }
    }
    return -1;
}

/* --only / --skip: sets `selected` of every allocator in the comma-separated
 * list; 0, or -1 (after a message) when a name is unknown. */
static int select_named(const char *names, int selected)
{
    char buf[512];
    snprintf(buf, sizeof buf, "%s", names);
    for (char *tok = strtok(buf, ","); tok != NULL; tok = strtok(NULL, ",")) {
        int e = find_entry(tok);
        if (e < 0) {
            fprintf(stderr, "nvbench: no allocator named '%s' (see --list)\n", tok);
            return -1;
        }
        entries[e].selected = selected;
    }
    return 0;
}

static double ok_median(const bench_case_t *bc, const char *name)
{
    int e = find_entry(name);
    if (e < 0 || bc->res[e].status != ST_OK || bc->res[e].reps == 0) {
        return 0;
    }
    return bc->res[e].median;
}

static void print_table(const bench_case_t *bc)
{
    double bump = ok_median(bc, "bump");
    double glibc = ok_median(bc, "glibc malloc");
    printf("\n%s\n", bc->title);
    printf("  requested at peak: %.1f MiB; %d repetitions; ns per operation\n", (double)bc->requested / 1048576.0, cfg.reps);
    printf("  %-17s %9s %9s %9s %8s %8s %8s %16s\n", "allocator", "median", "min", "max", "x bump", "x glibc", "overhead", "peak RSS MiB");
    for (int e = 0; e < entry_count; e++) {
        const result_t *r = &bc->res[e];
        if (r->status == ST_SKIPPED) {
            continue;
        }
        if (r->status != ST_OK) {
            printf("  %-17s %9s   %s\n", entries[e].name, status_names[r->status], r->note);
            continue;
        }
        char xb[16] = "-", xg[16] = "-", ov[16] = "-", rss[32] = "-";
        if (bump > 0) {
            snprintf(xb, sizeof xb, "%.2f", r->median / bump);
        }
        if (glibc > 0) {
            snprintf(xg, sizeof xg, "%.3f", r->median / glibc);
        }
        if (r->peak_delta >= 0) {
            if (bc->requested >= OVERHEAD_MIN_BYTES) {
                snprintf(ov, sizeof ov, "%.2f", r->overhead);
            }
            long abs_peak = r->rss_base + r->peak_delta;
            snprintf(rss, sizeof rss, "%.1f (+%.1f)", (double)abs_peak / 1048576.0, (double)r->peak_delta / 1048576.0);
        }
        const char *tag = r->single ? "  [1 run] " : r->mode == NVB_EMULATED ? "  [emulated] " : "";
        printf("  %-17s %9.2f %9.2f %9.2f %8s %8s %8s %16s%s%s\n", entries[e].name, r->median, r->min, r->max, xb, xg, ov, rss, tag,
               tag[0] ? r->note : "");
    }
    fflush(stdout);
}

static void json_string(FILE *f, const char *s)
{
    fputc('"', f);
    for (; s != NULL && *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\') {
            fprintf(f, "\\%c", ch);
        } else if (ch < 0x20) {
            fprintf(f, "\\u%04x", ch);
        } else {
            fputc(ch, f);
        }
    }
    fputc('"', f);
}

static void read_first_line(const char *path, const char *prefix, char *out, size_t size)
{
    out[0] = '\0';
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        return;
    }
    char line[512];
    while (fgets(line, sizeof line, f) != NULL) {
        if (prefix == NULL || strncmp(line, prefix, strlen(prefix)) == 0) {
            char *v = line;
            if (prefix != NULL) {
                v = strchr(line, ':');
                v = v != NULL ? v + 1 : line;
                while (*v == ' ' || *v == '\t') {
                    v++;
                }
            }
            v[strcspn(v, "\n")] = '\0';
            snprintf(out, size, "%s", v);
            break;
        }
    }
    fclose(f);
}

static void write_json(const char *path, const char *load_start, double seconds)
{
    FILE *f = fopen(path, "w");
    if (f == NULL) {
        fprintf(stderr, "nvbench: cannot write %s: %s\n", path, strerror(errno));
        exit(2);
    }
    char cpu[256], mem[128], load_end[128];
    struct utsname u;
    uname(&u);
    read_first_line("/proc/cpuinfo", "model name", cpu, sizeof cpu);
    read_first_line("/proc/meminfo", "MemTotal", mem, sizeof mem);
    read_first_line("/proc/loadavg", NULL, load_end, sizeof load_end);
    fprintf(f, "{\n  \"schema\": 1,\n  \"binary\": ");
    json_string(f, NVB_BINARY);
    fprintf(f, ",\n  \"quick\": %s,\n  \"seed\": %llu,\n  \"reps\": %d,\n  \"duration_s\": %.1f,\n", cfg.quick ? "true" : "false",
            (unsigned long long)cfg.seed, cfg.reps, seconds);
    fprintf(f, "  \"machine\": {\"cpu\": ");
    json_string(f, cpu);
    fprintf(f, ", \"cpus_online\": %ld, \"memory\": ", sysconf(_SC_NPROCESSORS_ONLN));
    json_string(f, mem);
    fprintf(f, ", \"kernel\": ");
    char kernel[512];
    snprintf(kernel, sizeof kernel, "%s %s %s", u.sysname, u.release, u.machine);
    json_string(f, kernel);
    fprintf(f, ", \"glibc\": ");
    json_string(f, gnu_get_libc_version());
    fprintf(f, ", \"compiler\": ");
    json_string(f, __VERSION__);
    fprintf(f, ", \"loadavg_start\": ");
    json_string(f, load_start);
    fprintf(f, ", \"loadavg_end\": ");
    json_string(f, load_end);
    fprintf(f, ", \"peak_rss_resettable\": %s},\n", hwm_resettable > 0 ? "true" : "false");

    fprintf(f, "  \"allocators\": [\n");
    for (int e = 0; e < entry_count; e++) {
        const entry_t *en = &entries[e];
        fprintf(f, "    {\"name\": ");
        json_string(f, en->name);
        fprintf(f, ", \"group\": ");
        json_string(f, en->group);
        fprintf(f, ", \"label\": ");
        json_string(f, en->label);
        fprintf(f, ", \"status\": \"%s\", \"reason\": ", en->mod != NULL ? "ok" : "absent");
        if (en->mod != NULL) {
            fprintf(f, "null");
        } else {
            json_string(f, en->reason);
        }
        fprintf(f, "}%s\n", e + 1 < entry_count ? "," : "");
    }
    fprintf(f, "  ],\n  \"cases\": [\n");
    for (int c = 0; c < case_count; c++) {
        const bench_case_t *bc = &cases[c];
        fprintf(f, "    {\"workload\": \"%s\", \"n\": %zu, \"iters\": %zu, \"ops\": %zu, \"requested_bytes\": %zu, \"seconds\": %.2f, \"title\": ",
                workload_ids[bc->workload], bc->n, bc->iters, bc->ops, bc->requested, bc->seconds);
        json_string(f, bc->title);
        fprintf(f, ",\n     \"rows\": [\n");
        int first = 1;
        for (int e = 0; e < entry_count; e++) {
            const result_t *r = &bc->res[e];
            if (r->status == ST_SKIPPED) {
                continue;
            }
            fprintf(f, "%s      {\"allocator\": ", first ? "" : ",\n");
            first = 0;
            json_string(f, entries[e].name);
            fprintf(f, ", \"status\": \"%s\", \"mode\": \"%s\", \"note\": ", status_names[r->status],
                    r->mode == NVB_EMULATED ? "emulated" : r->mode == NVB_NATIVE ? "native" : "n/a");
            json_string(f, r->note);
            if (r->status == ST_OK) {
                fprintf(f, ",\n       \"ns_per_op\": [");
                for (int k = 0; k < r->reps; k++) {
                    fprintf(f, "%s%.4f", k ? ", " : "", r->ns[k]);
                }
                fprintf(f, "], \"median\": %.4f, \"min\": %.4f, \"max\": %.4f, \"single_run\": %s,\n", r->median, r->min, r->max,
                        r->single ? "true" : "false");
                fprintf(f, "       \"rss_base_bytes\": %ld, \"rss_at_peak_bytes\": %ld, \"hwm_bytes\": %ld, \"peak_rss_delta_bytes\": %ld, \"peak_rss_bytes\": %ld,\n",
                        r->rss_base, r->rss_probe, r->hwm, r->peak_delta, r->peak_delta >= 0 ? r->rss_base + r->peak_delta : -1);
                fprintf(f, "       \"overhead\": %.4f, \"held_bytes\": %zu, \"held_ratio\": %.4f", r->overhead, r->held, r->held_ratio);
            }
            fprintf(f, "}");
        }
        fprintf(f, "\n     ]}%s\n", c + 1 < case_count ? "," : "");
    }
    fprintf(f, "  ]\n}\n");
    if (fclose(f) != 0) {
        fprintf(stderr, "nvbench: cannot write %s\n", path);
        exit(2);
    }
}

/* ---- main ---------------------------------------------------------------- */

static void usage(void)
{
    fprintf(stderr,
            "usage: nvbench [--quick] [--reps N] [--seed S] [--json FILE] [--quiet]\n"
            "               [--workloads W1,W2,...] [--only NAME,NAME,...] [--skip NAME,...]\n"
            "               [--module-dir DIR]\n"
            "               [--w5-max N] [--run-limit SECONDS] [--step-limit SECONDS] [--list]\n");
    exit(2);
}

static unsigned parse_workloads(const char *s)
{
    unsigned mask = 0;
    char buf[128];
    snprintf(buf, sizeof buf, "%s", s);
    for (char *tok = strtok(buf, ","); tok != NULL; tok = strtok(NULL, ",")) {
        if ((tok[0] == 'W' || tok[0] == 'w') && tok[1] >= '1' && tok[1] <= '6' && tok[2] == '\0') {
            mask |= 1u << (tok[1] - '0');
        } else {
            fprintf(stderr, "nvbench: unknown workload %s\n", tok);
            exit(2);
        }
    }
    return mask;
}

int main(int argc, char **argv)
{
    int quick = 0, list = 0;
    const char *only = NULL;
    const char *skip = NULL;
    const char *workloads = NULL;
    long reps = -1;
    long long w5_max = -1;
    double run_limit = -1;
    double step_limit = -1;
    memset(&cfg, 0, sizeof cfg);
    cfg.seed = 20240601;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--quick") == 0) {
            quick = 1;
        } else if (strcmp(a, "--quiet") == 0) {
            cfg.quiet = 1;
        } else if (strcmp(a, "--list") == 0) {
            list = 1;
        } else if (strcmp(a, "--reps") == 0 && v) {
            reps = strtol(v, NULL, 10);
            i++;
        } else if (strcmp(a, "--seed") == 0 && v) {
            cfg.seed = strtoull(v, NULL, 10);
            i++;
        } else if (strcmp(a, "--json") == 0 && v) {
            cfg.json = v;
            i++;
        } else if (strcmp(a, "--workloads") == 0 && v) {
            workloads = v;
            i++;
        } else if (strcmp(a, "--only") == 0 && v) {
            only = v;
            i++;
        } else if (strcmp(a, "--skip") == 0 && v) {
            skip = v;
            i++;
        } else if (strcmp(a, "--module-dir") == 0 && v) {
            cfg.module_dir = v;
            i++;
        } else if (strcmp(a, "--run-limit") == 0 && v) {
            run_limit = strtod(v, NULL);
            i++;
        } else if (strcmp(a, "--step-limit") == 0 && v) {
            step_limit = strtod(v, NULL);
            i++;
        } else if (strcmp(a, "--w5-max") == 0 && v) {
            w5_max = strtoll(v, NULL, 10);
            i++;
        } else {
            usage();
        }
    }
    set_defaults(quick);
    if (run_limit > 0) {
        cfg.run_limit = run_limit;
    }
    if (step_limit > 0) {
        cfg.step_limit = step_limit;
    }
    if (reps > 0) {
        cfg.reps = reps > MAX_REPS ? MAX_REPS : (int)reps;
    }
    if (w5_max > 0) {
        int k = 0;
        while (k < cfg.w5_count && cfg.w5_n[k] <= (size_t)w5_max) {
            k++;
        }
        cfg.w5_count = k;
    }
    cfg.workloads = workloads != NULL ? parse_workloads(workloads) : 0x7Eu;

    /* Allocators, in table order. */
    if (&nvb_mod_bump != NULL) {
        add_entry(&nvb_mod_bump, NULL, NULL);
    }
    if (&nvb_mod_malloc != NULL) {
        add_entry(&nvb_mod_malloc, NULL, NULL);
    }
    if (&nvb_mod_obstack != NULL) {
        add_entry(&nvb_mod_obstack, NULL, NULL);
    }
    if (&nvb_mod_nvpool != NULL) {
        add_entry(&nvb_mod_nvpool, NULL, NULL);
    }
    if (&nvb_mod_nvpool_stats != NULL) {
        add_entry(&nvb_mod_nvpool_stats, NULL, NULL);
    }
    if (&nvb_mod_nvpool_hardened != NULL) {
        add_entry(&nvb_mod_nvpool_hardened, NULL, NULL);
    }
    if (NVB_LOAD_PEERS) {
        char dir[PATH_MAX];
        if (cfg.module_dir != NULL) {
            snprintf(dir, sizeof dir, "%s", cfg.module_dir);
        } else {
            exe_dir(dir, sizeof dir);
        }
        load_peers(dir);
    }
    if (only != NULL) {
        for (int e = 0; e < entry_count; e++) {
            entries[e].selected = 0;
        }
        if (select_named(only, 1) != 0) {
            return 2;
        }
    }
    if (skip != NULL && select_named(skip, 0) != 0) {
        return 2;
    }
    if (list) {
        for (int e = 0; e < entry_count; e++) {
            printf("%-17s %-9s %s\n", entries[e].name, entries[e].mod != NULL ? "ok" : "absent",
                   entries[e].mod != NULL ? entries[e].label : entries[e].reason);
        }
        return 0;
    }

    add_case(NVB_W1, cfg.w1_n);
    add_case(NVB_W2, cfg.w2_steps);
    add_case(NVB_W3, 0);
    add_case(NVB_W4, cfg.w4_n);
    for (int k = 0; k < cfg.w5_count; k++) {
        add_case(NVB_W5, cfg.w5_n[k]);
    }
    add_case(NVB_W6, cfg.w6_n);

    /* Scratch arrays, resident before anything is measured. */
    size_t max_ptrs = cfg.w2_live > cfg.w3_bufs ? cfg.w2_live : cfg.w3_bufs;
    for (int c = 0; c < case_count; c++) {
        if (cases[c].n > max_ptrs && cases[c].workload != NVB_W2 && cases[c].workload != NVB_W3) {
            max_ptrs = cases[c].n;
        }
    }
    void **ptrs = (void **)xmalloc(max_ptrs * sizeof(void *));
    size_t *cur = (size_t *)xmalloc(max_ptrs * sizeof(size_t));

    char load_start[128];
    read_first_line("/proc/loadavg", NULL, load_start, sizeof load_start);
    if (!cfg.quiet) {
        printf("nvbench (%s binary)%s: %d repetitions per allocator and workload, seed %llu; load average %s\n", NVB_BINARY,
               cfg.quick ? " --quick" : "", cfg.reps, (unsigned long long)cfg.seed, load_start);
    }
    uint64_t t0 = 0;
    {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        t0 = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
    }
    for (int c = 0; c < case_count; c++) {
        run_case(&cases[c], ptrs, cur);
    }
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    double seconds = (double)((uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec - t0) / 1e9;
    if (cfg.json != NULL) {
        write_json(cfg.json, load_start, seconds);
    }
    if (!cfg.quiet) {
        printf("\n%.1f s%s%s\n", seconds, cfg.json ? "; results in " : "", cfg.json ? cfg.json : "");
    }
    free(ptrs);
    free(cur);
    int failed = 0;
    for (int c = 0; c < case_count; c++) {
        for (int e = 0; e < entry_count; e++) {
            failed |= cases[c].res[e].status == ST_FAILED;
        }
    }
    return failed ? 1 : 0;
}
