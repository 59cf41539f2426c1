/*
 * pool_corrupt_fuzz.c - //fuzz:pool_corrupt: the pool_ops sequences plus
 * out-of-bounds writes (just past or before a live chunk, or into a freed
 * chunk) that the hardened pool must report to its corruption handler.
 */
#include "fuzz/pool_harness.h"

const char nv_fuzz_target_name[] = "pool_corrupt";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return nv_fuzz_pool_run(data, size, NV_FUZZ_POOL_CORRUPT);
}
