/*
 * export.c - nv_pool statistics for monitoring systems: one line of JSON, or
 * the Prometheus text exposition format. Both are generated from one table
 * of fields (STATS_FIELDS), so a new counter cannot be forgotten by one of
 * them.
 */
#include "pool_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* name in nv_pool_stats_t, Prometheus metric suffix, Prometheus type, help */
#define STATS_FIELDS(X)                                                                    \
    X(size, "size_bytes", "gauge", "Bytes held from the backend (blocks, large allocations, bookkeeping).") \
    X(used, "used_bytes", "gauge", "Sum of the sizes requested by live allocations.")     \
    X(free, "free_bytes", "gauge", "Bytes in blocks available without asking the backend.") \
    X(peak_used, "peak_used_bytes", "gauge", "Highest used_bytes since creation or the last stats reset.") \
    X(live_allocations, "live_allocations", "gauge", "Allocations not yet freed.")        \
    X(blocks, "blocks", "gauge", "Normal blocks held.")                                   \
    X(large_allocations, "large_allocations", "gauge", "Large allocations held.")         \
    X(overhead, "overhead_bytes", "gauge", "Bytes held that are neither used nor free: headers, redzones, padding, bookkeeping.") \
    X(allocations, "allocations_total", "counter", "Successful allocations.")            \
    X(frees, "frees_total", "counter", "Successful frees.")                               \
    X(reallocations, "reallocations_total", "counter", "Successful reallocations.")      \
    X(resets, "resets_total", "counter", "Pool resets.")                                  \
    X(failed_allocations, "failed_allocations_total", "counter", "Allocation requests that returned NULL.")

/* Where text goes: a caller's buffer (snprintf rules) or a stream. */
typedef struct sink_s {
    FILE *out;
    char *buffer;
    size_t size;
    size_t length; /* characters produced so far (all of them, kept or not) */
    int failed;
} sink_t;

static void emit(sink_t *sink, const char *format, ...) NV_PRINTF_LIKE(2, 3);

static void emit(sink_t *sink, const char *format, ...)
{
    va_list args;
    int n;
    va_start(args, format);
    if (sink->out) {
        n = vfprintf(sink->out, format, args);
    } else {
        char *at = sink->length < sink->size ? sink->buffer + sink->length : NULL;
        size_t room = at ? sink->size - sink->length : 0;
        n = at ? vsnprintf(at, room, format, args) : vsnprintf(NULL, 0, format, args);
    }
    va_end(args);
    if (n < 0)
        sink->failed = 1;
    else
        sink->length += (size_t)n;
}

/* Length of the valid UTF-8 sequence at `text`, or 0 if it is not one
 * (overlong forms, surrogates and code points above U+10FFFF included). */
static size_t utf8_length(const unsigned char *text)
{
    unsigned char low = 0x80, high = 0xBF;
    size_t length, i;
    if (text[0] < 0x80)
        return 1;
    if (text[0] >= 0xC2 && text[0] <= 0xDF)
        length = 2;
    else if (text[0] >= 0xE0 && text[0] <= 0xEF)
        length = 3;
    else if (text[0] >= 0xF0 && text[0] <= 0xF4)
        length = 4;
    else
        return 0;
    if (text[0] == 0xE0)
        low = 0xA0; /* overlong */
    else if (text[0] == 0xED)
        high = 0x9F; /* surrogates */
    else if (text[0] == 0xF0)
        low = 0x90; /* overlong */
    else if (text[0] == 0xF4)
        high = 0x8F; /* above U+10FFFF */
    if (text[1] < low || text[1] > high)
        return 0;
    for (i = 2; i < length; i++)
        if ((text[i] & 0xC0) != 0x80)
            return 0;
    return length;
}

/* Pool names go into JSON strings and Prometheus label values; both escape
 * backslash, double quote and newline the same way. Other control
 * characters and bytes that are not valid UTF-8 become '?', so the output
 * is always valid in both formats. */
static void emit_escaped(sink_t *sink, const char *name)
{
    const unsigned char *text = (const unsigned char *)name;
    while (*text) {
        size_t length = utf8_length(text);
        unsigned char c = *text;
        if (length == 0 || (length == 1 && c < 0x20 && c != '\n')) {
            emit(sink, "?");
            length = 1;
        } else if (c == '\\' || c == '"') {
            emit(sink, "\\%c", c);
        } else if (c == '\n') {
            emit(sink, "\\n");
        } else {
            emit(sink, "%.*s", (int)length, (const char *)text);
        }
        text += length;
    }
}

static void json(sink_t *sink, nv_pool_t *pool)
{
    nv_pool_stats_t s;
    unsigned i;
    nv_pool_get_stats(pool, &s);
    emit(sink, "{\"pool\":\"");
    emit_escaped(sink, pool->name);
    emit(sink, "\"");
#define JSON_FIELD(name, suffix, type, help) \
    emit(sink, ",\"" #name "\":%llu", (unsigned long long)s.name);
    STATS_FIELDS(JSON_FIELD)
#undef JSON_FIELD
    emit(sink, ",\"allocated_bytes\":%llu", (unsigned long long)s.allocated_bytes);
    emit(sink, ",\"fragmentation\":%.6f", s.fragmentation);
    emit(sink, ",\"size_histogram\":[");
    for (i = 0; i < NV_POOL_HISTOGRAM_BUCKETS; i++)
        emit(sink, "%s%llu", i ? "," : "", (unsigned long long)s.size_histogram[i]);
    emit(sink, "]}\n");
}

static void prometheus_label(sink_t *sink, nv_pool_t *pool)
{
    emit(sink, "{pool=\"");
    emit_escaped(sink, pool->name);
    emit(sink, "\"}");
}

static void prometheus(sink_t *sink, nv_pool_t *pool)
{
    nv_pool_stats_t s;
    unsigned long long cumulative = 0;
    unsigned i;
    nv_pool_get_stats(pool, &s);
#define PROM_FIELD(name, suffix, type, help)                                   \
    emit(sink, "# HELP nv_pool_" suffix " " help "\n# TYPE nv_pool_" suffix " " type \
               "\nnv_pool_" suffix);                                            \
    prometheus_label(sink, pool);                                              \
    emit(sink, " %llu\n", (unsigned long long)s.name);
    STATS_FIELDS(PROM_FIELD)
#undef PROM_FIELD
    emit(sink, "# HELP nv_pool_fragmentation_ratio Free bytes outside the largest free "
               "extent over all free bytes.\n# TYPE nv_pool_fragmentation_ratio gauge\n"
               "nv_pool_fragmentation_ratio");
    prometheus_label(sink, pool);
    emit(sink, " %.6f\n", s.fragmentation);
    emit(sink, "# HELP nv_pool_allocation_size_bytes Sizes of successful allocations.\n"
               "# TYPE nv_pool_allocation_size_bytes histogram\n");
    for (i = 0; i < NV_POOL_HISTOGRAM_BUCKETS; i++) {
        cumulative += s.size_histogram[i];
        emit(sink, "nv_pool_allocation_size_bytes_bucket{pool=\"");
        emit_escaped(sink, pool->name);
        if (i + 1 < NV_POOL_HISTOGRAM_BUCKETS)
            emit(sink, "\",le=\"%zu\"} %llu\n", nv_pool_histogram_bucket_limit(i), cumulative);
        else
            emit(sink, "\",le=\"+Inf\"} %llu\n", cumulative);
    }
    emit(sink, "nv_pool_allocation_size_bytes_sum");
    prometheus_label(sink, pool);
    emit(sink, " %llu\nnv_pool_allocation_size_bytes_count", (unsigned long long)s.allocated_bytes);
    prometheus_label(sink, pool);
    emit(sink, " %llu\n", cumulative);
}

typedef void (*writer_t)(sink_t *sink, nv_pool_t *pool);

static size_t to_buffer(nv_pool_t *pool, char *buffer, size_t size, writer_t write,
                        const char *function)
{
    sink_t sink = {NULL, buffer, buffer ? size : 0, 0, 0};
    if (buffer && size)
        buffer[0] = '\0';
    if (!pool) {
        nv_log_error("%s: NULL pool", function);
        return 0;
    }
    write(&sink, pool);
    if (sink.failed) {
        nv_log_error("%s: pool '%s': formatting failed", function, pool->name);
        return 0;
    }
    return sink.length;
}

static long to_stream(nv_pool_t *pool, FILE *out, writer_t write, const char *function)
{
    sink_t sink = {out, NULL, 0, 0, 0};
    if (!pool || !out) {
        nv_log_error("%s: NULL %s", function, pool ? "stream" : "pool");
        return pool ? -1 : 0;
    }
    write(&sink, pool);
    if (sink.failed || ferror(out)) {
        nv_log_error("%s: pool '%s': writing failed", function, pool->name);
        return -1;
    }
    return (long)sink.length;
}

size_t nv_pool_stats_json(nv_pool_t *pool, char *buffer, size_t size)
{
    return to_buffer(pool, buffer, size, json, "nv_pool_stats_json");
}

long nv_pool_stats_json_to(nv_pool_t *pool, FILE *out)
{
    return to_stream(pool, out, json, "nv_pool_stats_json_to");
}

size_t nv_pool_stats_prometheus(nv_pool_t *pool, char *buffer, size_t size)
{
    return to_buffer(pool, buffer, size, prometheus, "nv_pool_stats_prometheus");
}

long nv_pool_stats_prometheus_to(nv_pool_t *pool, FILE *out)
{
    return to_stream(pool, out, prometheus, "nv_pool_stats_prometheus_to");
}
