/*
 * export_check.h - validators for the statistics exporters, used by the
 * fuzz harness (pool_harness.c).
 */
#ifndef NV_FUZZ_EXPORT_CHECK_H
#define NV_FUZZ_EXPORT_CHECK_H

#include <nv_pool.h>

#include <stddef.h>

/* 1 if `text` (length bytes) is what nv_pool_stats_json must produce for a
 * pool named `name` (as configured; NULL = "pool") with statistics *st;
 * else 0 and a reason in `error`. */
int nv_fuzz_check_json(const char *text, size_t length, const nv_pool_stats_t *st,
                       const char *name, char *error, size_t error_size);

/* The same for nv_pool_stats_prometheus. */
int nv_fuzz_check_prometheus(const char *text, size_t length, const nv_pool_stats_t *st,
                             const char *name, char *error, size_t error_size);

#endif /* NV_FUZZ_EXPORT_CHECK_H */
