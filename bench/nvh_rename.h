/*
 * nvh_rename.h - the public names of the hardened copies of nv_pool
 * (//bench:pool_hardened, //bench:pool_hardened_novg), whose archives are
 * renamed by objcopy (nv_pool_X -> nvh_pool_X; see bench/BUILD.bazel), for
 * the code that calls them: given with -include, nv_pool.h then declares
 * the nvh_ names. A name missing here would bind to the release copy, so the
 * modules check nv_pool_hardening_enabled() at start-up.
 */
#ifndef NVH_RENAME_H
#define NVH_RENAME_H
#define nv_pool_backend_malloc nvh_pool_backend_malloc
#define nv_pool_create nvh_pool_create
#define nv_pool_create_default nvh_pool_create_default
#define nv_pool_destroy nvh_pool_destroy
#define nv_pool_alloc nvh_pool_alloc
#define nv_pool_calloc nvh_pool_calloc
#define nv_pool_realloc nvh_pool_realloc
#define nv_pool_align nvh_pool_align
#define nv_pool_align_array nvh_pool_align_array
#define nv_pool_free nvh_pool_free
#define nv_pool_reset nvh_pool_reset
#define nv_pool_extend nvh_pool_extend
#define nv_pool_shrink nvh_pool_shrink
#define nv_pool_compact nvh_pool_compact
#define nv_pool_get_size nvh_pool_get_size
#define nv_pool_get_used nvh_pool_get_used
#define nv_pool_get_free nvh_pool_get_free
#define nv_pool_is_empty nvh_pool_is_empty
#define nv_pool_is_full nvh_pool_is_full
#define nv_pool_get_stats nvh_pool_get_stats
#define nv_pool_histogram_bucket_limit nvh_pool_histogram_bucket_limit
#define nv_pool_reset_stats nvh_pool_reset_stats
#define nv_pool_print_stats nvh_pool_print_stats
#define nv_pool_print_stats_to nvh_pool_print_stats_to
#define nv_pool_dump nvh_pool_dump
#define nv_pool_dump_to nvh_pool_dump_to
#define nv_pool_validate nvh_pool_validate
#define nv_pool_validate_count nvh_pool_validate_count
#define nv_pool_set_corruption_handler nvh_pool_set_corruption_handler
#define nv_pool_format_corruption nvh_pool_format_corruption
#define nv_pool_hardening_enabled nvh_pool_hardening_enabled
#define nv_pool_alloc_at nvh_pool_alloc_at
#define nv_pool_calloc_at nvh_pool_calloc_at
#define nv_pool_realloc_at nvh_pool_realloc_at
#define nv_pool_align_at nvh_pool_align_at
#define nv_pool_align_array_at nvh_pool_align_array_at
#define nv_pool_leak_report nvh_pool_leak_report
#define nv_pool_leakcheck_enabled nvh_pool_leakcheck_enabled
#endif
