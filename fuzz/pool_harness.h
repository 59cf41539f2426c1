/*
 * pool_harness.h - the operation interpreter shared by the nv_pool fuzz
 * targets (//fuzz:pool_ops, //fuzz:pool_corrupt) and their replay tests.
 *
 * One input = a config header followed by fixed-size operation records; the
 * interpreter runs them against a fresh pool and a shadow model and aborts,
 * naming the operation, on any disagreement. The input format is described
 * in docs/fuzzing.md and encoded by fuzz/make_seeds.py.
 */
#ifndef NV_FUZZ_POOL_HARNESS_H
#define NV_FUZZ_POOL_HARNESS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum nv_fuzz_mode_e {
    NV_FUZZ_POOL_OPS = 0,     /* API sequences against the model */
    NV_FUZZ_POOL_CORRUPT = 1  /* the same, plus out-of-bounds writes that must be reported */
} nv_fuzz_mode_t;

/* Runs one input. Returns 0; any finding aborts the process. */
int nv_fuzz_pool_run(const uint8_t *data, size_t size, nv_fuzz_mode_t mode);

/* Totals over every input run so far in this process. */
typedef struct nv_fuzz_totals_s {
    unsigned long inputs;
    unsigned long operations;
    unsigned long corrupt_writes;    /* out-of-bounds writes made */
    unsigned long corrupt_detected;  /* ... that the pool reported as expected */
    unsigned long corrupt_skipped;   /* CORRUPT records not applicable (hardening off, nothing to hit) */
} nv_fuzz_totals_t;

const nv_fuzz_totals_t *nv_fuzz_pool_totals(void);

/* 1 when CORRUPT records are carried out and their detection asserted:
 * hardened build (nv_pool_hardening_enabled()). Also describes, in `why`,
 * what the build does (ASan, Valgrind) when `why` is not NULL. */
int nv_fuzz_pool_detection_active(const char **why);

/* Both targets define the libFuzzer entry point (AFL++ uses it through
 * libAFLDriver; the replay tests call it from replay_main.c). */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Which target this binary is: set by pool_ops_fuzz.c / pool_corrupt_fuzz.c. */
extern const char nv_fuzz_target_name[];

#ifdef __cplusplus
}
#endif

#endif /* NV_FUZZ_POOL_HARNESS_H */
