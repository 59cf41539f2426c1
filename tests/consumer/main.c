/* A program outside the libnv workspace using the pool: deps =
 * ["@libnv//nv/pool"], #include <nv_pool.h>. Exits 0 only if everything works. */
#include <nv_pool.h>

#include <stdint.h>
#include <stdio.h>
#include <string.h>

int main(void)
{
    nv_pool_config_t config = NV_POOL_CONFIG_DEFAULT;
    nv_pool_t *pool = nv_pool_create(&config);
    char *text;
    int *numbers;
    int i;
    int sum = 0;

    if (pool == NULL) {
        fprintf(stderr, "consumer: nv_pool_create failed\n");
        return 1;
    }
    text = nv_pool_alloc(pool, 64);
    numbers = nv_pool_alloc_array(pool, int, 100);
    if (text == NULL || numbers == NULL || (uintptr_t)text % NV_POOL_ALIGNMENT != 0) {
        fprintf(stderr, "consumer: allocation failed or misaligned\n");
        nv_pool_destroy(pool);
        return 1;
    }
    strcpy(text, "libnv consumer");
    for (i = 0; i < 100; i++) {
        numbers[i] = i;
        sum += numbers[i];
    }
    if (sum != 4950 || nv_pool_get_used(pool) < 64 + 100 * sizeof(int) ||
        nv_pool_free(pool, text) != NV_OK || nv_pool_free(pool, numbers) != NV_OK ||
        !nv_pool_is_empty(pool)) {
        fprintf(stderr, "consumer: pool checks failed\n");
        nv_pool_destroy(pool);
        return 1;
    }
    nv_pool_destroy(pool);
    printf("consumer: OK (nv_pool from @libnv//nv/pool)\n");
    return 0;
}
