/*
 * nv_pool.h compiles on its own as C99, C11 and C17 with
 * -Wall -Wextra -Werror -pedantic (the BUILD file builds this file once per
 * standard), and what it declares works: the config macro, the typed
 * allocation macros, the alignment they promise, the return codes.
 */
#include <nv_pool.h> /* first: the header must be self-contained */
#include <nv_pool.h> /* and include-guarded */

#include <stdint.h>
#include <stdio.h>

/* The -std flag given by the BUILD file really took effect. */
#if !defined(__STDC_VERSION__) || __STDC_VERSION__ != NV_EXPECTED_STDC_VERSION
#error "not compiled as the C standard this target is for"
#endif

struct wide {
    char tag;
    long double value;
};

static int failures;

#define CHECK(condition)                                                       \
    do {                                                                       \
        if (!(condition)) {                                                    \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, \
                    #condition);                                               \
            failures++;                                                        \
        }                                                                      \
    } while (0)

#define IS_ALIGNED(pointer, alignment) \
    ((pointer) != NULL && (uintptr_t)(const void *)(pointer) % (alignment) == 0)

int main(void)
{
    nv_pool_config_t config = NV_POOL_CONFIG_DEFAULT;
    nv_pool_t *pool;
    struct wide *one;
    double *many;
    double *too_many;
    void *plain;
    void *aligned;

    CHECK(NV_OK == 0);
    CHECK(NV_ERROR < 0 && NV_ENOMEM < 0 && NV_ERROR != NV_ENOMEM);
    CHECK(config.initial_size == 16 * 1024 && config.max_size == 1024 * 1024);
    CHECK(config.min_size == 4 * 1024 && config.auto_extend == 1);
    CHECK(config.zero_clear == 0 && config.enable_stats == 1);
    CHECK(NV_POOL_ALIGNOF(struct wide) >= NV_POOL_ALIGNOF(long double));

    pool = nv_pool_create(&config);
    CHECK(pool != NULL);
    if (pool == NULL) {
        return 1;
    }

    one = nv_pool_alloc_type(pool, struct wide);
    CHECK(IS_ALIGNED(one, NV_POOL_ALIGNOF(struct wide)));
    many = nv_pool_alloc_array(pool, double, 100);
    CHECK(IS_ALIGNED(many, NV_POOL_ALIGNOF(double)));
    too_many = nv_pool_alloc_array(pool, double, SIZE_MAX / 4);
    CHECK(too_many == NULL);
    plain = nv_pool_alloc(pool, 10);
    CHECK(IS_ALIGNED(plain, NV_POOL_ALIGNMENT));
    aligned = nv_pool_align(pool, 100, 256);
    CHECK(IS_ALIGNED(aligned, 256));

    if (one != NULL && many != NULL) {
        one->tag = 'x';
        one->value = 1.5L;
        many[99] = 2.5;
        CHECK(one->tag == 'x' && one->value == 1.5L && many[99] == 2.5);
    }
    CHECK(nv_pool_free(pool, one) == NV_OK);
    CHECK(nv_pool_free(pool, many) == NV_OK);
    CHECK(nv_pool_free(pool, plain) == NV_OK);
    CHECK(nv_pool_free(pool, aligned) == NV_OK);
    CHECK(nv_pool_free(pool, NULL) == NV_OK);
    CHECK(nv_pool_is_empty(pool) == 1);
    nv_pool_destroy(pool);

    printf("nv_pool.h as C (__STDC_VERSION__ %ld): %s\n", (long)__STDC_VERSION__,
           failures == 0 ? "PASS" : "FAIL");
    return failures == 0 ? 0 : 1;
}
