/*
 * guard.c - backends with MMU guard pages: every allocation the pool makes
 * (blocks, large allocations, its own bookkeeping) gets its own pages with
 * an inaccessible page on each side, so a stray access past the end (or
 * before the start) faults at once, in any build, without a sanitizer.
 *
 *   nv_pool_backend_guard_pages:        [guard][ .. slack | memory ][guard]
 *       memory ends at the page-rounded end: overflows fault at once.
 *   nv_pool_backend_guard_pages_front:  [guard][ memory | slack .. ][guard]
 *       memory starts at a page start: underflows fault at once.
 *
 * Cost: two extra pages of address space and one mmap/mprotect/munmap per
 * allocation (see docs/hardening.md); meant for debug and canary
 * deployments, not for hot pools.
 */
#define _DEFAULT_SOURCE 1 /* MAP_ANONYMOUS under -std=c11 */

#include "pool_internal.h"

#include <stdint.h>
#include <sys/mman.h>
#include <unistd.h>

#if NV_POOL_ASAN
#include <sanitizer/lsan_interface.h>
#endif

static size_t page_bytes(void)
{
    long page = sysconf(_SC_PAGESIZE);
    return page > 0 ? (size_t)page : 4096u;
}

/* Placement of the caller's memory inside its pages. */
static const int place_at_end = 0;
static const int place_at_start = 1;

static size_t rounded16(size_t size)
{
    return (size + 15u) & ~(size_t)15u;
}

static void *guard_alloc(void *context, size_t size)
{
    int at_start = *(const int *)context;
    size_t page = page_bytes();
    size_t body, total;
    char *base;
    if (size == 0 || size > SIZE_MAX - 3 * page)
        return NULL;
    body = (size + page - 1) & ~(page - 1);
    total = body + 2 * page;
    base = (char *)mmap(NULL, total, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (base == MAP_FAILED)
        return NULL;
    if (mprotect(base, page, PROT_NONE) != 0 ||
        mprotect(base + page + body, page, PROT_NONE) != 0) {
        munmap(base, total);
        return NULL;
    }
#if NV_POOL_ASAN
    /* LeakSanitizer does not scan mmap'd memory; pointers kept in the pool
     * would otherwise look lost. */
    __lsan_register_root_region(base + page, body);
#endif
    return at_start ? base + page : base + page + body - rounded16(size);
}

static void guard_release(void *context, void *memory, size_t size)
{
    int at_start = *(const int *)context;
    size_t page = page_bytes();
    size_t body = (size + page - 1) & ~(page - 1);
    char *first = at_start ? (char *)memory : (char *)memory + rounded16(size) - body;
#if NV_POOL_ASAN
    __lsan_unregister_root_region(first, body);
#endif
    munmap(first - page, body + 2 * page);
}

const nv_pool_backend_t nv_pool_backend_guard_pages = {guard_alloc, guard_release,
                                                       (void *)&place_at_end};
const nv_pool_backend_t nv_pool_backend_guard_pages_front = {guard_alloc, guard_release,
                                                             (void *)&place_at_start};
