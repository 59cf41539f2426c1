/*
 * fake_membarrier.c - a syscall(2) that fakes membarrier for bias_revoke_test.
 *
 * The pool runs membarrier through glibc's syscall(). This definition wins
 * over libc's when the test binary is linked, so the test decides what the
 * barrier does (fake_membarrier.h): registration always succeeds, whatever
 * the kernel or Valgrind supports, and MEMBARRIER_CMD_PRIVATE_EXPEDITED is
 * counted, then held, failed or returned at once. No barrier is run: in this
 * binary the tests synchronise their threads themselves. Every other system
 * call goes to libc's syscall().
 */
#define _GNU_SOURCE 1

#include "fake_membarrier.h"

#include <dlfcn.h>
#include <errno.h>
#include <linux/membarrier.h>
#include <sched.h>
#include <stdarg.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/* All atomic: the test's threads and the pool's revokers share them. */
static int hold_armed, fail_armed;
static unsigned held_callers;
static unsigned long barriers;

typedef long (*syscall_fn)(long, ...);

static long real_syscall(long number, long a, long b, long c, long d, long e, long f)
{
    static syscall_fn real; /* atomic: every thread stores the same value */
    syscall_fn fn = __atomic_load_n(&real, __ATOMIC_ACQUIRE);
    if (!fn) {
        /* memcpy: ISO C has no cast from an object pointer to a function's. */
        void *symbol = dlsym(RTLD_NEXT, "syscall");
        if (!symbol) {
            errno = ENOSYS;
            return -1;
        }
        memcpy(&fn, &symbol, sizeof fn);
        __atomic_store_n(&real, fn, __ATOMIC_RELEASE);
    }
    return fn(number, a, b, c, d, e, f);
}

static long fake_barrier(void)
{
    __atomic_add_fetch(&barriers, 1, __ATOMIC_SEQ_CST);
    if (__atomic_load_n(&hold_armed, __ATOMIC_ACQUIRE)) {
        __atomic_add_fetch(&held_callers, 1, __ATOMIC_SEQ_CST);
        while (__atomic_load_n(&hold_armed, __ATOMIC_ACQUIRE))
            sched_yield();
        __atomic_sub_fetch(&held_callers, 1, __ATOMIC_SEQ_CST);
    }
    if (__atomic_load_n(&fail_armed, __ATOMIC_ACQUIRE)) {
        errno = EPERM;
        return -1;
    }
    return 0;
}

long syscall(long number, ...)
{
    va_list ap;
    long a[6];
    int i;
    va_start(ap, number);
    if (number == __NR_membarrier) {
        /* membarrier(int cmd, unsigned flags, int cpu_id): read as passed. */
        int cmd = va_arg(ap, int);
        unsigned flags = va_arg(ap, unsigned);
        int cpu_id = va_arg(ap, int);
        va_end(ap);
        if (cmd == MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED)
            return 0;
        if (cmd == MEMBARRIER_CMD_PRIVATE_EXPEDITED)
            return fake_barrier();
        return real_syscall(number, cmd, flags, cpu_id, 0, 0, 0);
    }
    /* Like glibc's: six arguments, whether the caller passed them or not. */
    for (i = 0; i < 6; i++)
        a[i] = va_arg(ap, long);
    va_end(ap);
    return real_syscall(number, a[0], a[1], a[2], a[3], a[4], a[5]);
}

void fake_membarrier_hold(void)
{
    __atomic_store_n(&hold_armed, 1, __ATOMIC_RELEASE);
}

int fake_membarrier_wait_held(unsigned timeout_ms)
{
    const struct timespec millisecond = {0, 1000000};
    unsigned waited;
    for (waited = 0; waited < timeout_ms; waited++) {
        if (__atomic_load_n(&held_callers, __ATOMIC_ACQUIRE) > 0)
            return 1;
        nanosleep(&millisecond, NULL);
    }
    return __atomic_load_n(&held_callers, __ATOMIC_ACQUIRE) > 0;
}

void fake_membarrier_release(void)
{
    __atomic_store_n(&hold_armed, 0, __ATOMIC_RELEASE);
}

void fake_membarrier_fail(int on)
{
    __atomic_store_n(&fail_armed, on != 0, __ATOMIC_RELEASE);
}

unsigned long fake_membarrier_barriers(void)
{
    return __atomic_load_n(&barriers, __ATOMIC_SEQ_CST);
}
