/*
 * instruction_budget_test.c - nv_pool's fast paths against an instruction
 * budget (bench/instruction_budget.txt), measured with callgrind: timings
 * are noisy, instruction counts are not.
 *
 * One binary, two roles:
 *   instruction_budget_test BUDGET_FILE
 *       the test: re-runs itself under
 *       `valgrind --tool=callgrind --toggle-collect=<pool alloc/free>`,
 *       reads the per-phase dumps, divides by the calls and compares with
 *       the budgets (and reports the `goal` lines as met or missed, without
 *       failing). Exit 0 = within budget, 1 = over budget or could not
 *       measure.
 *   instruction_budget_test --measure
 *       the measured program (run under callgrind by the test): for each
 *       variant, 10,000 allocations from the bump pointer, 10,000 frees,
 *       10,000 allocations from the free lists, each phase dumped with
 *       CALLGRIND_DUMP_STATS_AT.
 *
 * Two copies of pool.c are linked in (//bench:pool_release with the public
 * names, //bench:pool_hardened_novg renamed to nvh_pool_* by nvh_rename.h),
 * both compiled -O2 -DNDEBUG whatever the configuration's -c, so the default
 * `bazel test //...` measures production code.
 *
 * Builds where the numbers mean nothing are skipped at run time (the test
 * prints SKIPPED, writes a <skipped/> JUnit entry to $XML_OUTPUT_FILE and
 * exits 0): the test itself running under Valgrind (--config=valgrind), and
 * sanitizer or coverage instrumentation (--config=asan, ubsan, fuzz, afl).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "nv_pool.h"

#if defined(__has_include)
#if __has_include(<valgrind/callgrind.h>) && __has_include(<valgrind/valgrind.h>)
#include <valgrind/callgrind.h>
#include <valgrind/valgrind.h>
#define HAVE_VALGRIND_HEADERS 1
#endif
#endif
#ifndef HAVE_VALGRIND_HEADERS
#define HAVE_VALGRIND_HEADERS 0
#define RUNNING_ON_VALGRIND 0
#define CALLGRIND_ZERO_STATS ((void)0)
#define CALLGRIND_DUMP_STATS_AT(s) ((void)(s))
#endif

/* The hardened copy's public names (see nvh_rename.h). */
nv_pool_t *nvh_pool_create(const nv_pool_config_t *config);
void nvh_pool_destroy(nv_pool_t *pool);
void *nvh_pool_alloc(nv_pool_t *pool, size_t size);
int nvh_pool_free(nv_pool_t *pool, void *ptr);
void nvh_pool_reset(nv_pool_t *pool);
int nvh_pool_hardening_enabled(void);

#define CALLS 10000

typedef struct variant {
    const char *name;
    int stats;
    nv_pool_t *(*create)(const nv_pool_config_t *);
    void (*destroy)(nv_pool_t *);
    void *(*alloc)(nv_pool_t *, size_t);
    int (*free_)(nv_pool_t *, void *);
    void (*reset)(nv_pool_t *);
    const char *toggles[2]; /* functions callgrind collects in */
} variant_t;

static const variant_t variants[] = {
    {"release", 0, nv_pool_create, nv_pool_destroy, nv_pool_alloc, nv_pool_free, nv_pool_reset, {"nv_pool_alloc", "nv_pool_free"}},
    {"hardened", 0, nvh_pool_create, nvh_pool_destroy, nvh_pool_alloc, nvh_pool_free, nvh_pool_reset, {"nvh_pool_alloc", "nvh_pool_free"}},
    {"release_stats", 1, nv_pool_create, nv_pool_destroy, nv_pool_alloc, nv_pool_free, nv_pool_reset, {"nv_pool_alloc", "nv_pool_free"}},
    {"hardened_stats", 1, nvh_pool_create, nvh_pool_destroy, nvh_pool_alloc, nvh_pool_free, nvh_pool_reset, {"nvh_pool_alloc", "nvh_pool_free"}},
};
#define VARIANTS (sizeof variants / sizeof variants[0])

static const char *const phases[] = {"alloc_bump", "free", "alloc_reuse"};
#define PHASES 3

/* ---- the measured program ------------------------------------------------ */

static size_t sizes[CALLS];
static size_t order[CALLS];
static void *ptrs[CALLS];

static void make_inputs(void)
{
    uint64_t x = 12345;
    for (size_t i = 0; i < CALLS; i++) {
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        sizes[i] = 8 + (size_t)((x >> 33) % 121); /* 8..128 */
        order[i] = i;
    }
    for (size_t i = CALLS; i > 1; i--) {
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        size_t k = (size_t)((x >> 33) % i);
        size_t t = order[i - 1];
        order[i - 1] = order[k];
        order[k] = t;
    }
}

static int measure(void)
{
    make_inputs();
    char label[64];
    for (size_t v = 0; v < VARIANTS; v++) {
        const variant_t *var = &variants[v];
        nv_pool_config_t config = {
            .initial_size = 4u << 20,
            .max_size = 0,
            .min_size = 4u << 20,
            .auto_extend = 1,
            .zero_clear = 0,
            .enable_stats = var->stats,
            .name = "budget",
        };
        nv_pool_t *pool = var->create(&config);
        if (pool == NULL) {
            fprintf(stderr, "measure: %s: nv_pool_create failed\n", var->name);
            return 1;
        }
        /* Warm-up: touch the block, exercise every path once. */
        for (size_t i = 0; i < CALLS; i++) {
            ptrs[i] = var->alloc(pool, sizes[i]);
        }
        for (size_t i = 0; i < CALLS; i++) {
            var->free_(pool, ptrs[order[i]]);
        }
        var->reset(pool);

        CALLGRIND_ZERO_STATS;
        for (size_t i = 0; i < CALLS; i++) {
            ptrs[i] = var->alloc(pool, sizes[i]);
        }
        snprintf(label, sizeof label, "%s/alloc_bump", var->name);
        CALLGRIND_DUMP_STATS_AT(label);
        /* Keeps the block's top chunk live (not counted: the next phase
         * zeroes the counters), so that every measured free goes to a list
         * and every reuse comes from one; else the chunk on top would go
         * back to the tail, and the same size would later bump. */
        void *pin = var->alloc(pool, 8);

        int bad = 0;
        CALLGRIND_ZERO_STATS;
        for (size_t i = 0; i < CALLS; i++) {
            bad |= var->free_(pool, ptrs[order[i]]);
        }
        snprintf(label, sizeof label, "%s/free", var->name);
        CALLGRIND_DUMP_STATS_AT(label);

        CALLGRIND_ZERO_STATS;
        for (size_t i = 0; i < CALLS; i++) {
            ptrs[i] = var->alloc(pool, sizes[i]);
        }
        snprintf(label, sizeof label, "%s/alloc_reuse", var->name);
        CALLGRIND_DUMP_STATS_AT(label);

        bad |= pin == NULL || var->free_(pool, pin) != 0;
        for (size_t i = 0; i < CALLS; i++) {
            bad |= ptrs[i] == NULL;
        }
        var->destroy(pool);
        if (bad) {
            fprintf(stderr, "measure: %s: an allocation or free failed\n", var->name);
            return 1;
        }
    }
    return 0;
}

/* ---- the test ------------------------------------------------------------ */

/* Instrumentation runtimes, seen through weak references: non-NULL when
 * the binary was built with a sanitizer or coverage instrumentation. */
extern void __asan_init(void) __attribute__((weak));
extern void __msan_init(void) __attribute__((weak));
extern void __tsan_init(void) __attribute__((weak));
extern void __ubsan_handle_add_overflow(void) __attribute__((weak));
extern void __ubsan_handle_type_mismatch_v1(void) __attribute__((weak));
extern void __ubsan_handle_pointer_overflow(void) __attribute__((weak));
extern void __sanitizer_cov_trace_pc_guard(void) __attribute__((weak));
extern void __sanitizer_cov_8bit_counters_init(void) __attribute__((weak));
extern char *__afl_area_ptr __attribute__((weak));
extern int __llvm_profile_runtime __attribute__((weak));
extern void __gcov_init(void) __attribute__((weak));

/* Signed arithmetic UBSan instruments: its handlers get linked in. */
int budget_ubsan_probe(int a, int b);
int budget_ubsan_probe(int a, int b)
{
    return a + b;
}

static const char *instrumentation(void)
{
    if (&__asan_init != NULL) {
        return "AddressSanitizer";
    }
    if (&__msan_init != NULL) {
        return "MemorySanitizer";
    }
    if (&__tsan_init != NULL) {
        return "ThreadSanitizer";
    }
    if (&__ubsan_handle_add_overflow != NULL || &__ubsan_handle_type_mismatch_v1 != NULL ||
        &__ubsan_handle_pointer_overflow != NULL) {
        return "UndefinedBehaviorSanitizer";
    }
    if (&__sanitizer_cov_trace_pc_guard != NULL || &__sanitizer_cov_8bit_counters_init != NULL) {
        return "sanitizer coverage (fuzzing build)";
    }
    if (&__afl_area_ptr != NULL) {
        return "AFL++ instrumentation";
    }
    if (&__llvm_profile_runtime != NULL || &__gcov_init != NULL) {
        return "coverage instrumentation";
    }
    return NULL;
}

static void skip(const char *why)
{
    printf("SKIPPED: %s: instruction counts would not describe the production build.\n", why);
    printf("Run `bazel test //bench:instruction_budget_test` in the default configuration.\n");
    const char *xml = getenv("XML_OUTPUT_FILE");
    if (xml != NULL && xml[0] != '\0') {
        FILE *f = fopen(xml, "w");
        if (f != NULL) {
            fprintf(f,
                    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                    "<testsuites><testsuite name=\"instruction_budget_test\" tests=\"1\" skipped=\"1\" failures=\"0\" errors=\"0\">"
                    "<testcase name=\"instruction_budget\" classname=\"bench\"><skipped message=\"%s\"/></testcase>"
                    "</testsuite></testsuites>\n",
                    why);
            fclose(f);
        }
    }
    exit(0);
}

typedef struct budget {
    char key[64];
    double max;
    int goal; /* 1: a design goal, reported as met/missed, never failing */
} budget_t;

static budget_t budgets[32];
static int budget_count;

static int read_budgets(const char *path)
{
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        fprintf(stderr, "FAIL: cannot read the budget file %s: %s\n", path, strerror(errno));
        return -1;
    }
    char line[512];
    int lineno = 0;
    while (fgets(line, sizeof line, f) != NULL) {
        lineno++;
        char *hash = strchr(line, '#');
        if (hash != NULL) {
            *hash = '\0';
        }
        char word[64], key[64];
        double max;
        char extra;
        int goal = 0;
        int got = sscanf(line, " %63s %63s %lf %c", word, key, &max, &extra);
        if (got >= 1 && strcmp(word, "goal") == 0) {
            goal = 1;
            got = got == 3 ? 2 : -2;
        } else {
            got = sscanf(line, " %63s %lf %c", key, &max, &extra);
        }
        if (got == 0 || got == EOF) {
            continue;
        }
        if (got != 2 || budget_count >= 32) {
            fprintf(stderr, "FAIL: %s:%d: expected `[goal] <variant>.<alloc|free> <instructions>`\n", path, lineno);
            fclose(f);
            return -1;
        }
        snprintf(budgets[budget_count].key, sizeof budgets[budget_count].key, "%s", key);
        budgets[budget_count].goal = goal;
        budgets[budget_count++].max = max;
    }
    fclose(f);
    if (budget_count == 0) {
        fprintf(stderr, "FAIL: %s holds no budget\n", path);
        return -1;
    }
    return 0;
}

/* The compiler that built this binary and the pool copies it measures:
 * a budget line prefixed with its name (gcc.release.alloc) overrides the
 * plain one for that compiler only. */
#if defined(__clang__)
#define BUDGET_COMPILER "clang"
#elif defined(__GNUC__)
#define BUDGET_COMPILER "gcc"
#else
#define BUDGET_COMPILER "other"
#endif

static const budget_t *find_key(const char *key, int goal)
{
    for (int i = 0; i < budget_count; i++) {
        if (budgets[i].goal == goal && strcmp(budgets[i].key, key) == 0) {
            return &budgets[i];
        }
    }
    return NULL;
}

static const budget_t *find_budget(const char *variant, const char *phase, int goal)
{
    char key[96], compiler_key[128];
    const budget_t *found;
    snprintf(key, sizeof key, "%s.%s", variant, strncmp(phase, "alloc", 5) == 0 ? "alloc" : "free");
    snprintf(compiler_key, sizeof compiler_key, "%s.%s", BUDGET_COMPILER, key);
    found = goal ? NULL : find_key(compiler_key, goal); /* goals are the same for every compiler */
    return found != NULL ? found : find_key(key, goal);
}

static int find_in_path(const char *name, char *out, size_t size)
{
    const char *path = getenv("PATH");
    char buf[4096];
    snprintf(buf, sizeof buf, "%s:/usr/bin:/usr/local/bin:/bin", path != NULL ? path : "");
    for (char *dir = strtok(buf, ":"); dir != NULL; dir = strtok(NULL, ":")) {
        snprintf(out, size, "%s/%s", dir[0] ? dir : ".", name);
        if (access(out, X_OK) == 0) {
            return 0;
        }
    }
    return -1;
}

/* counts[variant][phase]: instructions in the collected functions. */
static double counts[VARIANTS][PHASES];
static int seen[VARIANTS][PHASES];

static void parse_dump(const char *path)
{
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        return;
    }
    char line[1024];
    int v = -1, p = -1;
    double total = -1;
    while (fgets(line, sizeof line, f) != NULL) {
        const char *tag = "desc: Trigger: Client Request: ";
        if (strncmp(line, tag, strlen(tag)) == 0) {
            char *label = line + strlen(tag);
            label[strcspn(label, "\n")] = '\0';
            for (size_t i = 0; i < VARIANTS; i++) {
                size_t len = strlen(variants[i].name);
                if (strncmp(label, variants[i].name, len) == 0 && label[len] == '/') {
                    for (int k = 0; k < PHASES; k++) {
                        if (strcmp(label + len + 1, phases[k]) == 0) {
                            v = (int)i;
                            p = k;
                        }
                    }
                }
            }
        } else if (strncmp(line, "totals:", 7) == 0 || (total < 0 && strncmp(line, "summary:", 8) == 0)) {
            total = strtod(strchr(line, ':') + 1, NULL);
        }
    }
    fclose(f);
    if (v >= 0 && p >= 0 && total >= 0) {
        counts[v][p] = total;
        seen[v][p] = 1;
    }
}

static int run_test(const char *budget_path)
{
    if (!HAVE_VALGRIND_HEADERS) {
        fprintf(stderr, "FAIL: built without <valgrind/callgrind.h> (Debian package valgrind; tools/bootstrap installs it)\n");
        return 1;
    }
    if (RUNNING_ON_VALGRIND) {
        skip("the test itself runs under Valgrind (--config=valgrind)");
    }
    const char *inst = instrumentation();
    if (inst != NULL) {
        char why[160];
        snprintf(why, sizeof why, "this build is instrumented (%s)", inst);
        skip(why);
    }
    if (nv_pool_hardening_enabled() || !nvh_pool_hardening_enabled()) {
        fprintf(stderr, "FAIL: the pool copies were built with the wrong hardening setting\n");
        return 1;
    }
    if (read_budgets(budget_path) != 0) {
        return 1;
    }
    char valgrind[PATH_MAX];
    if (find_in_path("valgrind", valgrind, sizeof valgrind) != 0) {
        fprintf(stderr, "FAIL: valgrind not found (Debian package valgrind; tools/bootstrap installs it)\n");
        return 1;
    }
    char self[PATH_MAX];
    ssize_t len = readlink("/proc/self/exe", self, sizeof self - 1);
    if (len <= 0) {
        fprintf(stderr, "FAIL: cannot find this executable\n");
        return 1;
    }
    self[len] = '\0';
    const char *tmp = getenv("TEST_TMPDIR");
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s/callgrind.XXXXXX", tmp != NULL && tmp[0] ? tmp : "/tmp");
    if (mkdtemp(dir) == NULL) {
        fprintf(stderr, "FAIL: mkdtemp %s: %s\n", dir, strerror(errno));
        return 1;
    }
    char outfile[PATH_MAX + 32], logfile[PATH_MAX + 32];
    snprintf(outfile, sizeof outfile, "--callgrind-out-file=%s/cg.out", dir);
    snprintf(logfile, sizeof logfile, "--log-file=%s/valgrind.log", dir);
    char *argv[32];
    int argc = 0;
    argv[argc++] = valgrind;
    argv[argc++] = "--tool=callgrind";
    argv[argc++] = outfile;
    argv[argc++] = logfile;
    argv[argc++] = "--dump-instr=no";
    argv[argc++] = "--dump-line=no";
    static char toggles[VARIANTS * 2][64];
    int ntoggles = 0;
    for (size_t v = 0; v < VARIANTS; v++) {
        for (int k = 0; k < 2; k++) {
            int dup = 0;
            char opt[64];
            snprintf(opt, sizeof opt, "--toggle-collect=%s", variants[v].toggles[k]);
            for (int j = 0; j < ntoggles; j++) {
                dup |= strcmp(toggles[j], opt) == 0;
            }
            if (!dup) {
                snprintf(toggles[ntoggles], sizeof toggles[ntoggles], "%s", opt);
                argv[argc++] = toggles[ntoggles++];
            }
        }
    }
    argv[argc++] = self;
    argv[argc++] = "--measure";
    argv[argc] = NULL;
    printf("running:");
    for (int i = 0; i < argc; i++) {
        printf(" %s", argv[i]);
    }
    printf("\n");
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0) {
        fprintf(stderr, "FAIL: fork: %s\n", strerror(errno));
        return 1;
    }
    if (pid == 0) {
        unsetenv("NV_POOL_PASSTHROUGH"); /* it would bypass the pool */
        execv(valgrind, argv);
        _exit(127);
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "FAIL: the measured run under callgrind failed (status %d); its log:\n", status);
        char cat[PATH_MAX + 64];
        snprintf(cat, sizeof cat, "%s/valgrind.log", dir);
        FILE *f = fopen(cat, "r");
        if (f != NULL) {
            char line[512];
            while (fgets(line, sizeof line, f) != NULL) {
                fputs(line, stderr);
            }
            fclose(f);
        }
        return 1;
    }
    DIR *d = opendir(dir);
    if (d == NULL) {
        fprintf(stderr, "FAIL: cannot list %s\n", dir);
        return 1;
    }
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (strncmp(de->d_name, "cg.out", 6) == 0) {
            char path[PATH_MAX + 300];
            snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
            parse_dump(path);
        }
    }
    closedir(d);

    int failed = 0, missed = 0;
    printf("\ninstructions per call (callgrind, %d calls per phase, callees included)\n", CALLS);
    printf("  %-16s %-12s %12s %8s  %-12s %6s  %s\n", "variant", "phase", "instr/call", "budget", "result", "goal", "");
    for (size_t v = 0; v < VARIANTS; v++) {
        for (int p = 0; p < PHASES; p++) {
            const budget_t *b = find_budget(variants[v].name, phases[p], 0);
            const budget_t *g = find_budget(variants[v].name, phases[p], 1);
            if (!seen[v][p]) {
                printf("  %-16s %-12s %12s %8s  FAIL (no callgrind dump for this phase)\n", variants[v].name, phases[p], "-", "-");
                failed = 1;
                continue;
            }
            double per = counts[v][p] / CALLS;
            if (per < 1.0) {
                printf("  %-16s %-12s %12.2f %8s  FAIL (nothing collected: is %s still a function?)\n", variants[v].name, phases[p],
                       per, "-", variants[v].toggles[p == 1]);
                failed = 1;
                continue;
            }
            char budget[16] = "-", goal[16] = "", result[16] = "(no budget)", goal_result[16] = "";
            if (b != NULL) {
                int over = per > b->max;
                failed |= over;
                snprintf(budget, sizeof budget, "%.0f", b->max);
                snprintf(result, sizeof result, "%s", over ? "OVER BUDGET" : "ok");
            }
            if (g != NULL) {
                int miss = per > g->max;
                missed += miss;
                snprintf(goal, sizeof goal, "%.0f", g->max);
                snprintf(goal_result, sizeof goal_result, "%s", miss ? "goal MISS" : "goal met");
            }
            printf("  %-16s %-12s %12.2f %8s  %-12s %6s  %s\n", variants[v].name, phases[p], per, budget, result, goal, goal_result);
        }
    }
    if (missed) {
        printf("\n%d phase%s above the design goals (reported, not failing: see %s)\n", missed, missed == 1 ? "" : "s", budget_path);
    }
    if (failed) {
        printf("\nFAIL: a fast path is over its budget (%s). Profile it with\n"
               "  valgrind --tool=callgrind --toggle-collect=nv_pool_alloc <this test> --measure; callgrind_annotate --inclusive=yes\n",
               budget_path);
        return 1;
    }
    printf("\nPASS: every fast path within budget (%s)\n", budget_path);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "--measure") == 0) {
        return measure();
    }
    const char *budget_path = argc >= 2 ? argv[1] : "bench/instruction_budget.txt";
    return run_test(budget_path);
}
