/*
 * pool_ops_fuzz.c - //fuzz:pool_ops: arbitrary nv_pool API sequences checked
 * against a shadow model (pool_harness.c), under ASan + UBSan.
 */
#include "fuzz/pool_harness.h"

const char nv_fuzz_target_name[] = "pool_ops";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return nv_fuzz_pool_run(data, size, NV_FUZZ_POOL_OPS);
}
