/*
 * threads_bench.c - what sharing a pool between threads costs, and what the
 * guard-page backends cost (docs/design.md "## Threads", docs/monitoring.md).
 *
 * Churn (as W2 of the main benchmark): each thread keeps a live set of 256
 * slots; one step frees a slot drawn at random and allocates 8-512 bytes
 * into it (sizes and slots drawn before timing from a fixed seed, the first
 * byte touched). Reported per thread, median of --reps runs of --steps
 * steps: wall ns per step (first thread's start to last thread's end, over
 * one thread's steps: the figure that matters when the threads really run
 * side by side, so take it on an idle machine) and CPU ns per step
 * (CLOCK_THREAD_CPUTIME_ID: immune to other processes, but blind to time
 * spent waiting for the lock).
 *
 *   pool             nv_pool, not thread-safe, 1 thread (the fast paths)
 *   pool ts          nv_pool created with thread_safe = 1, 1 thread
 *   pool ts shared   2 threads on one thread-safe pool
 *   pool ts own      2 threads, each with its own thread-safe pool
 *   pool own         2 threads, each with its own pool (not thread-safe)
 *   malloc           glibc malloc/free, 1 and 2 threads
 *
 * Owner check: the atomic exchange + store a hardened build does on every
 * pool call (ns per pair, 1 thread, uncontended); lock: the adaptive mutex
 * lock + unlock a thread-safe pool adds to every call (uncontended).
 *
 * Guard pages: ns per alloc + free of one large allocation (64 KiB + 1 to
 * 1 MiB) on nv_pool_backend_malloc and nv_pool_backend_guard_pages, and of
 * 8-512-byte allocations in passthrough mode (each its own backend
 * allocation); memory: address space and resident memory per live
 * allocation (VmSize / VmRSS from /proc/self/status) next to what
 * nv_pool_get_size says.
 *
 * Built twice (BUILD.bazel): threads_bench_release (hardening compiled out,
 * what --config=release ships) and threads_bench_hardened (the default
 * build's pool); both -O2 whatever -c says. Usage:
 *   threads_bench_{release,hardened} [--reps N] [--steps N] [--quick]
 */
#define _GNU_SOURCE 1

#include <nv_pool.h>

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define LIVE 256u
#define MAX_THREADS 2
#define MAX_REPS 31

static size_t g_steps = 2000000;
static unsigned g_reps = 7;

static uint64_t now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

static uint64_t thread_cpu_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

static uint64_t xorshift(uint64_t *x)
{
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    return *x;
}

static int compare_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, unsigned n)
{
    qsort(v, n, sizeof *v, compare_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* ---- the churn loop ------------------------------------------------------ */

typedef enum { USE_POOL, USE_MALLOC } allocator_t;

typedef struct worker_s {
    allocator_t allocator;
    nv_pool_t *pool;
    const uint16_t *sizes; /* g_steps sizes */
    const uint8_t *slots;  /* g_steps slots */
    pthread_barrier_t *start;
    uint64_t t0, t1;       /* CLOCK_MONOTONIC around the timed loop */
    uint64_t cpu0, cpu1;   /* CLOCK_THREAD_CPUTIME_ID around it */
    int failed;
} worker_t;

static void *churn(void *arg)
{
    worker_t *w = (worker_t *)arg;
    void *live[LIVE];
    size_t i;
    for (i = 0; i < LIVE; i++) {
        live[i] = w->allocator == USE_POOL ? nv_pool_alloc(w->pool, w->sizes[i])
                                           : malloc(w->sizes[i]);
        if (!live[i])
            w->failed = 1;
        else
            *(volatile char *)live[i] = 1;
    }
    pthread_barrier_wait(w->start);
    w->cpu0 = thread_cpu_ns();
    w->t0 = now_ns();
    if (w->allocator == USE_POOL) {
        nv_pool_t *pool = w->pool;
        for (i = 0; i < g_steps; i++) {
            unsigned s = w->slots[i];
            nv_pool_free(pool, live[s]);
            live[s] = nv_pool_alloc(pool, w->sizes[i]);
            *(volatile char *)live[s] = 1;
        }
    } else {
        for (i = 0; i < g_steps; i++) {
            unsigned s = w->slots[i];
            free(live[s]);
            live[s] = malloc(w->sizes[i]);
            *(volatile char *)live[s] = 1;
        }
    }
    w->t1 = now_ns();
    w->cpu1 = thread_cpu_ns();
    for (i = 0; i < LIVE; i++) {
        if (w->allocator == USE_POOL)
            nv_pool_free(w->pool, live[i]);
        else
            free(live[i]);
    }
    return NULL;
}

static uint16_t *g_sizes[MAX_THREADS];
static uint8_t *g_slots[MAX_THREADS];

static void make_inputs(void)
{
    unsigned t;
    for (t = 0; t < MAX_THREADS; t++) {
        uint64_t x = 0x9E3779B97F4A7C15ull * (t + 1);
        size_t i;
        g_sizes[t] = malloc(g_steps * sizeof *g_sizes[t]);
        g_slots[t] = malloc(g_steps);
        if (!g_sizes[t] || !g_slots[t]) {
            fprintf(stderr, "out of memory\n");
            exit(1);
        }
        for (i = 0; i < g_steps; i++) {
            g_sizes[t][i] = (uint16_t)(8 + xorshift(&x) % 505);
            g_slots[t][i] = (uint8_t)(xorshift(&x) % LIVE);
        }
    }
}

static nv_pool_t *make_pool(int thread_safe, const nv_pool_backend_t *backend, int passthrough)
{
    nv_pool_config_t config = NV_POOL_CONFIG_DEFAULT;
    nv_pool_t *pool;
    config.max_size = 0;
    config.initial_size = 256 * 1024;
    config.thread_safe = thread_safe;
    config.backend = backend;
    config.passthrough = passthrough;
    config.name = "bench";
    pool = nv_pool_create(&config);
    if (!pool) {
        fprintf(stderr, "nv_pool_create failed\n");
        exit(1);
    }
    return pool;
}

/* One timed run: `threads` workers; shared = one pool for all. Sets *wall
 * to the span from the first thread's start to the last one's end over the
 * steps of one thread (ns per step per thread, when the threads really ran
 * side by side), *cpu to the threads' mean CPU time per step. */
static void run_churn(allocator_t allocator, unsigned threads, int thread_safe, int shared,
                      double *wall, double *cpu)
{
    pthread_t tid[MAX_THREADS];
    worker_t w[MAX_THREADS];
    pthread_barrier_t start;
    nv_pool_t *pools[MAX_THREADS] = {NULL, NULL};
    uint64_t first = UINT64_MAX, last = 0, cpu_sum = 0;
    unsigned t;
    pthread_barrier_init(&start, NULL, threads);
    for (t = 0; t < threads; t++) {
        if (allocator == USE_POOL)
            pools[t] = shared && t > 0 ? pools[0] : make_pool(thread_safe, NULL, 0);
        memset(&w[t], 0, sizeof w[t]);
        w[t].allocator = allocator;
        w[t].pool = pools[t];
        w[t].sizes = g_sizes[t];
        w[t].slots = g_slots[t];
        w[t].start = &start;
    }
    for (t = 0; t < threads; t++)
        pthread_create(&tid[t], NULL, churn, &w[t]);
    for (t = 0; t < threads; t++) {
        pthread_join(tid[t], NULL);
        if (w[t].failed) {
            fprintf(stderr, "allocation failed\n");
            exit(1);
        }
        if (w[t].t0 < first)
            first = w[t].t0;
        if (w[t].t1 > last)
            last = w[t].t1;
        cpu_sum += w[t].cpu1 - w[t].cpu0;
    }
    for (t = 0; t < threads; t++)
        if (pools[t] && !(shared && t > 0))
            nv_pool_destroy(pools[t]);
    pthread_barrier_destroy(&start);
    *wall = (double)(last - first) / (double)g_steps;
    *cpu = (double)cpu_sum / threads / (double)g_steps;
}

static void report_churn(const char *label, allocator_t allocator, unsigned threads,
                         int thread_safe, int shared)
{
    double wall[MAX_REPS], cpu[MAX_REPS], ignored_wall, ignored_cpu;
    unsigned r;
    run_churn(allocator, threads, thread_safe, shared, &ignored_wall, &ignored_cpu); /* warm-up */
    for (r = 0; r < g_reps; r++)
        run_churn(allocator, threads, thread_safe, shared, &wall[r], &cpu[r]);
    qsort(wall, g_reps, sizeof *wall, compare_double);
    printf("| %-40s | %u | %8.2f | %8.2f | %8.2f - %-8.2f |\n", label, threads,
           median(wall, g_reps), median(cpu, g_reps), wall[0], wall[g_reps - 1]);
    fflush(stdout);
}

/* ---- the owner check alone ---------------------------------------------- */

static void *volatile g_owner;
static _Thread_local char g_identity;

static void report_owner_check(void)
{
    double v[MAX_REPS];
    unsigned r;
    size_t i, n = g_steps * 4;
    for (r = 0; r < g_reps; r++) {
        uint64_t t0 = now_ns();
        for (i = 0; i < n; i++) {
            void *previous = __atomic_exchange_n((void **)&g_owner, (void *)&g_identity,
                                                 __ATOMIC_ACQUIRE);
            __atomic_store_n((void **)&g_owner, previous, __ATOMIC_RELEASE);
        }
        v[r] = (double)(now_ns() - t0) / (double)n;
    }
    printf("| %-40s | 1 | %8.2f | | |\n", "owner check (xchg + store) alone", median(v, g_reps));
}

/* An adaptive pthread mutex (the kind a thread-safe pool uses) locked and
 * unlocked, uncontended: what a thread-safe pool adds to every public call. */
static void report_lock_alone(void)
{
    double v[MAX_REPS];
    pthread_mutexattr_t attributes;
    pthread_mutex_t lock;
    unsigned r;
    size_t i, n = g_steps * 4;
    pthread_mutexattr_init(&attributes);
    pthread_mutexattr_settype(&attributes, PTHREAD_MUTEX_ADAPTIVE_NP);
    pthread_mutex_init(&lock, &attributes);
    for (r = 0; r < g_reps; r++) {
        uint64_t t0 = now_ns();
        for (i = 0; i < n; i++) {
            pthread_mutex_lock(&lock);
            pthread_mutex_unlock(&lock);
        }
        v[r] = (double)(now_ns() - t0) / (double)n;
    }
    pthread_mutex_destroy(&lock);
    pthread_mutexattr_destroy(&attributes);
    printf("| %-40s | 1 | %8.2f | | |\n", "adaptive mutex lock + unlock alone", median(v, g_reps));
}

/* ---- guard pages -------------------------------------------------------- */

/* VmSize and VmRSS in bytes. */
static void vm_bytes(size_t *size, size_t *rss)
{
    char line[256];
    FILE *f = fopen("/proc/self/status", "r");
    *size = *rss = 0;
    if (!f)
        return;
    while (fgets(line, sizeof line, f)) {
        unsigned long kb;
        if (sscanf(line, "VmSize: %lu kB", &kb) == 1)
            *size = (size_t)kb * 1024;
        else if (sscanf(line, "VmRSS: %lu kB", &kb) == 1)
            *rss = (size_t)kb * 1024;
    }
    fclose(f);
}

/* ns per alloc + free of `size` bytes (or 8-512 bytes when size is 0) on a
 * pool with `backend`; the allocation is touched at both ends. */
static double time_alloc_free(const nv_pool_backend_t *backend, int passthrough, size_t size,
                              size_t n)
{
    nv_pool_t *pool = make_pool(0, backend, passthrough);
    size_t i;
    uint64_t t0;
    double ns;
    void *warm = nv_pool_alloc(pool, size ? size : 64);
    nv_pool_free(pool, warm);
    t0 = now_ns();
    for (i = 0; i < n; i++) {
        size_t s = size ? size : g_sizes[0][i % g_steps];
        char *p = nv_pool_alloc(pool, s);
        if (!p) {
            fprintf(stderr, "allocation of %zu failed\n", s);
            exit(1);
        }
        p[0] = 1;
        p[s - 1] = 1;
        nv_pool_free(pool, p);
    }
    ns = (double)(now_ns() - t0) / (double)n;
    nv_pool_destroy(pool);
    return ns;
}

static void report_guard_time(const char *label, int passthrough, size_t size, size_t n)
{
    double a[MAX_REPS], b[MAX_REPS];
    unsigned r;
    for (r = 0; r < g_reps; r++) {
        a[r] = time_alloc_free(&nv_pool_backend_malloc, passthrough, size, n);
        b[r] = time_alloc_free(&nv_pool_backend_guard_pages, passthrough, size, n);
    }
    printf("| %-30s | %9.1f | %9.1f | %5.1fx |\n", label, median(a, g_reps), median(b, g_reps),
           median(b, g_reps) / median(a, g_reps));
    fflush(stdout);
}

/* Memory per live allocation: `count` allocations of `size` bytes kept live. */
static void report_guard_memory(const char *label, const nv_pool_backend_t *backend,
                                int passthrough, size_t size, size_t count)
{
    nv_pool_t *pool = make_pool(0, backend, passthrough);
    void **held = calloc(count, sizeof *held);
    size_t vm0, rss0, vm1, rss1, held0, i;
    if (!held)
        exit(1);
    /* Make the bench's own array resident first, or it counts as the pool's. */
    for (i = 0; i < count; i++)
        ((volatile void **)held)[i] = held;
    vm_bytes(&vm0, &rss0);
    held0 = nv_pool_get_size(pool);
    for (i = 0; i < count; i++) {
        char *p = nv_pool_alloc(pool, size);
        if (!p) {
            fprintf(stderr, "allocation failed\n");
            exit(1);
        }
        memset(p, 1, size);
        held[i] = p;
    }
    vm_bytes(&vm1, &rss1);
    printf("| %-44s | %7zu | %9.0f | %9.0f | %9.0f |\n", label, size,
           (double)(nv_pool_get_size(pool) - held0) / (double)count,
           ((double)vm1 - (double)vm0) / (double)count, ((double)rss1 - (double)rss0) / (double)count);
    for (i = 0; i < count; i++)
        nv_pool_free(pool, held[i]);
    free(held);
    nv_pool_destroy(pool);
    fflush(stdout);
}

int main(int argc, char **argv)
{
    int i;
    int quick = 0;
    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--reps") == 0 && i + 1 < argc)
            g_reps = (unsigned)atoi(argv[++i]);
        else if (strcmp(argv[i], "--steps") == 0 && i + 1 < argc)
            g_steps = (size_t)atol(argv[++i]);
        else if (strcmp(argv[i], "--quick") == 0)
            quick = 1;
        else {
            fprintf(stderr, "usage: %s [--reps N] [--steps N] [--quick]\n", argv[0]);
            return 2;
        }
    }
    if (quick) {
        g_steps = 100000;
        g_reps = 3;
    }
    if (g_reps < 1 || g_reps > MAX_REPS || g_steps < LIVE) {
        fprintf(stderr, "--reps must be 1..%d, --steps at least %u\n", MAX_REPS, LIVE);
        return 2;
    }
    make_inputs();
    printf("nv_pool threads benchmark: %s build, %zu steps, median of %u runs\n\n",
           nv_pool_hardening_enabled() ? "hardened" : "release", g_steps, g_reps);

    printf("Churn: ns per step (free + alloc of 8-512 B), per thread\n\n");
    printf("| %-40s | threads | wall ns/step | CPU ns/step | wall min - max |\n", "allocator");
    printf("|---|---|---|---|---|\n");
    report_churn("pool (not thread-safe)", USE_POOL, 1, 0, 0);
    report_churn("pool thread_safe", USE_POOL, 1, 1, 0);
    report_churn("pool thread_safe, shared", USE_POOL, 2, 1, 1);
    report_churn("pool thread_safe, one per thread", USE_POOL, 2, 1, 0);
    report_churn("pool (not thread-safe), one per thread", USE_POOL, 2, 0, 0);
    report_churn("glibc malloc", USE_MALLOC, 1, 0, 0);
    report_churn("glibc malloc", USE_MALLOC, 2, 0, 0);
    report_owner_check();
    report_lock_alone();

    printf("\nGuard pages: ns per alloc + free (median), malloc backend vs guard_pages\n\n");
    printf("| %-30s | malloc | guard_pages | ratio |\n", "request");
    printf("|---|---|---|---|\n");
    report_guard_time("large 65537 B", 0, 65537, quick ? 2000 : 20000);
    report_guard_time("large 256 KiB", 0, 256 * 1024, quick ? 1000 : 10000);
    report_guard_time("large 1 MiB", 0, 1024 * 1024, quick ? 500 : 5000);
    report_guard_time("8-512 B (blocks)", 0, 0, g_steps);
    report_guard_time("8-512 B, passthrough", 1, 0, quick ? 20000 : 200000);

    printf("\nGuard pages: bytes per live allocation (nv_pool_get_size, address space, RSS)\n\n");
    printf("| %-44s | request | get_size | VmSize | VmRSS |\n", "backend");
    printf("|---|---|---|---|---|\n");
    report_guard_memory("malloc, large", &nv_pool_backend_malloc, 0, 100000, 500);
    report_guard_memory("guard_pages, large", &nv_pool_backend_guard_pages, 0, 100000, 500);
    report_guard_memory("malloc, passthrough", &nv_pool_backend_malloc, 1, 24, 5000);
    report_guard_memory("guard_pages, passthrough", &nv_pool_backend_guard_pages, 1, 24, 5000);
    report_guard_memory("malloc, blocks", &nv_pool_backend_malloc, 0, 24, 20000);
    report_guard_memory("guard_pages, blocks", &nv_pool_backend_guard_pages, 0, 24, 20000);
    return 0;
}
