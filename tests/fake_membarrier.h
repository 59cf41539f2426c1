/*
 * fake_membarrier.h - controls the membarrier(2) stand-in of
 * fake_membarrier.c, for bias_revoke_test: hold a revoker inside its
 * barrier, or make the barrier fail. Linked into a test binary, the stand-in
 * replaces membarrier for the whole process: the threads of such a test
 * must synchronise themselves.
 */
#ifndef NV_TESTS_FAKE_MEMBARRIER_H
#define NV_TESTS_FAKE_MEMBARRIER_H

#ifdef __cplusplus
extern "C" {
#endif

/* From now on, every MEMBARRIER_CMD_PRIVATE_EXPEDITED caller blocks inside
 * the call until fake_membarrier_release. */
void fake_membarrier_hold(void);

/* 1 once a caller is blocked by fake_membarrier_hold, 0 after timeout_ms. */
int fake_membarrier_wait_held(unsigned timeout_ms);

/* Disarms the hold and lets every blocked caller return (success). */
void fake_membarrier_release(void);

/* on != 0: MEMBARRIER_CMD_PRIVATE_EXPEDITED fails with EPERM until called
 * again with 0. */
void fake_membarrier_fail(int on);

/* MEMBARRIER_CMD_PRIVATE_EXPEDITED calls so far, failed ones included. */
unsigned long fake_membarrier_barriers(void);

#ifdef __cplusplus
}
#endif

#endif
