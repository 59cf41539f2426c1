/*
 * The design document's error-handling sample (错误处理示例). The lines
 * between the markers are copied verbatim; the document shows them without
 * a surrounding function, so they sit in error_handling_example(size), and
 * the two lines after the sample finish its success path (destroy the pool,
 * return NV_OK). main() runs it once where every call succeeds and once with
 * a size past the default max_size (1 MiB), where nv_pool_alloc must fail.
 */
#include <nv_pool.h>

#include <stdio.h>
#include <string.h>

static int error_handling_example(size_t size)
{
/* ---- begin: design document, 错误处理示例 (verbatim) ---- */
nv_pool_t *pool = nv_pool_create_default();
if (!pool) {
    nv_log_error("内存池创建失败");
    return NV_ERROR;
}

void *ptr = nv_pool_alloc(pool, size);
if (!ptr) {
    nv_log_error("内存分配失败，大小: %zu", size);
    nv_pool_destroy(pool);
    return NV_ENOMEM;
}

// 使用内存...

if (nv_pool_free(pool, ptr) != NV_OK) {
    nv_log_error("内存释放失败");
    // 处理错误...
}
/* ---- end of the sample ---- */
    nv_pool_destroy(pool);
    return NV_OK;
}

/* Every nv_log line, recorded to check what the sample logged. */
static char last_error[NV_LOG_LINE_MAX + 1];
static int error_lines;

static void record_line(nv_log_level_t level, const char *line, void *context)
{
    (void)context;
    fprintf(stderr, "logged (%s): %s\n", nv_log_level_name(level), line);
    if (level == NV_LOG_ERROR) {
        error_lines++;
        if (strstr(line, "内存分配失败") != NULL) {
            snprintf(last_error, sizeof last_error, "%s", line);
        }
    }
}

int main(void)
{
    const size_t too_big = (size_t)2 * 1024 * 1024; /* default max_size: 1 MiB */
    int failures = 0;
    int rc;

    nv_log_set_handler(record_line, NULL);

    rc = error_handling_example(100);
    if (rc != NV_OK || error_lines != 0) {
        fprintf(stderr, "FAIL: size 100: returned %d (want NV_OK), %d error lines (want 0)\n",
                rc, error_lines);
        failures++;
    }

    error_lines = 0;
    rc = error_handling_example(too_big);
    if (rc != NV_ENOMEM) {
        fprintf(stderr, "FAIL: size %zu: returned %d (want NV_ENOMEM %d)\n", too_big, rc,
                NV_ENOMEM);
        failures++;
    }
    if (strcmp(last_error, "内存分配失败，大小: 2097152") != 0) {
        fprintf(stderr, "FAIL: size %zu: the sample's log line is missing (got \"%s\")\n",
                too_big, last_error);
        failures++;
    }

    nv_log_set_handler(NULL, NULL);
    printf("error handling example: %s\n", failures == 0 ? "PASS" : "FAIL");
    return failures == 0 ? 0 : 1;
}
