// nv_pool: free and reset (contract §5), growing and shrinking (§6), and the
// queries that depend on them (§7: used, is_empty, is_full, the size
// invariant).
#include <nv_pool.h>

#include "tests/pool_test_util.h"

#include <gtest/gtest.h>

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <random>
#include <vector>

namespace {

using nvtest::CountingBackend;
using nvtest::PoolPtr;
using nvtest::PoolTest;
using nvtest::Snapshot;

struct Live {
  unsigned char *p;
  size_t n;
  unsigned seed;
};

class FreeTest : public PoolTest {
 protected:
  // Frees `bad` expecting NV_ERROR, a log line and the pool (and every live
  // allocation in `live`) unchanged.
  void ExpectBadFree(nv_pool_t *pool, void *bad, const std::vector<Live> &live, const char *what) {
    SCOPED_TRACE(testing::Message() << what << " (" << bad << ")");
    Snapshot before = Snapshot::Of(pool);
    EXPECT_EQ(nv_pool_free(pool, bad), NV_ERROR);
    ExpectErrorLogged(what);
    nvtest::ExpectUnchanged(before, Snapshot::Of(pool));
    EXPECT_EQ(nv_pool_validate_count(pool), 0u);
    for (const Live &l : live)
      EXPECT_EQ(nvtest::FirstPatternMismatch(l.p, l.n, l.seed), l.n) << "live " << (void *)l.p;
  }
};

// ---- free -------------------------------------------------------------------

TEST_F(FreeTest, FreeNullIsOkAndDoesNothing) {
  PoolPtr pool(nv_pool_create_default());
  ASSERT_NE(pool, nullptr);
  void *p = nv_pool_alloc(pool.get(), 10);
  Snapshot before = Snapshot::Of(pool.get());
  EXPECT_EQ(nv_pool_free(pool.get(), nullptr), NV_OK);
  nvtest::ExpectUnchanged(before, Snapshot::Of(pool.get()));
  ExpectNoErrorLogged("free(pool, NULL)");
  EXPECT_EQ(nv_pool_free(pool.get(), p), NV_OK);
}

TEST_F(FreeTest, FreeOfALiveAllocationIsOkAndMakesItReusable) {
  PoolPtr pool(nv_pool_create_default());
  ASSERT_NE(pool, nullptr);
  for (size_t n : {0u, 1u, 100u, 1000u, 10000u, 100000u}) {
    void *p = nv_pool_alloc(pool.get(), n);
    ASSERT_NE(p, nullptr);
    Snapshot before = Snapshot::Of(pool.get());
    EXPECT_EQ(nv_pool_free(pool.get(), p), NV_OK);
    Snapshot after = Snapshot::Of(pool.get());
    EXPECT_EQ(after.used, before.used - n);
    EXPECT_EQ(after.stats.live_allocations, before.stats.live_allocations - 1);
    EXPECT_EQ(after.stats.frees, before.stats.frees + 1);
    EXPECT_LE(after.size, before.size);
  }
  ExpectNoErrorLogged("frees");
}

TEST_F(FreeTest, EveryKindOfBadFreeIsRefusedAndHarmless) {
  PoolPtr pool(nv_pool_create_default());
  PoolPtr other(nv_pool_create_default());
  ASSERT_NE(pool, nullptr);
  ASSERT_NE(other, nullptr);
  std::vector<Live> live;
  unsigned seed = 1;
  auto add = [&](size_t n, size_t alignment) {
    auto *p = static_cast<unsigned char *>(alignment ? nv_pool_align(pool.get(), n, alignment)
                                                     : nv_pool_alloc(pool.get(), n));
    EXPECT_NE(p, nullptr);
    nvtest::FillPattern(p, n, seed);
    live.push_back({p, n, seed++});
    return p;
  };
  unsigned char *small = add(256, 0);
  unsigned char *large = add(100 * 1024, 0);
  unsigned char *aligned = add(300, 4096);
  add(40, 0);
  unsigned char *last = add(64, 0);  // most recent chunk of its block

  // Double frees: small, large, aligned, zero-size, last chunk of the block.
  for (size_t n : {size_t{48}, size_t{0}, size_t{100} * 1024, size_t{2000}}) {
    void *p = nv_pool_alloc(pool.get(), n);
    ASSERT_NE(p, nullptr);
    void *q = nv_pool_alloc(pool.get(), 16);  // p is not the last chunk
    ASSERT_EQ(nv_pool_free(pool.get(), p), NV_OK);
    ExpectBadFree(pool.get(), p, live, "double free");
    ASSERT_EQ(nv_pool_free(pool.get(), q), NV_OK);
    ExpectBadFree(pool.get(), q, live, "double free of the last chunk");
  }
  {
    void *a = nv_pool_align(pool.get(), 100, 256);
    ASSERT_NE(a, nullptr);
    ASSERT_EQ(nv_pool_free(pool.get(), a), NV_OK);
    ExpectBadFree(pool.get(), a, live, "double free of an aligned chunk");
  }

  // Pointers from another pool.
  void *theirs = nv_pool_alloc(other.get(), 256);
  void *theirs_large = nv_pool_alloc(other.get(), 100 * 1024);
  ASSERT_TRUE(theirs && theirs_large);
  ExpectBadFree(pool.get(), theirs, live, "pointer from another pool");
  ExpectBadFree(pool.get(), theirs_large, live, "large pointer from another pool");

  // From malloc, from the stack, the pool's own struct, a wild address.
  void *heap = std::malloc(256);
  ASSERT_NE(heap, nullptr);
  ExpectBadFree(pool.get(), heap, live, "malloc pointer");
  void *heap_big = std::malloc(200 * 1024);
  ASSERT_NE(heap_big, nullptr);
  ExpectBadFree(pool.get(), heap_big, live, "big malloc pointer");
  alignas(64) unsigned char stack[256];
  std::memset(stack, 0, sizeof stack);
  ExpectBadFree(pool.get(), stack, live, "stack pointer");
  ExpectBadFree(pool.get(), stack + 64, live, "stack pointer + 64");
  ExpectBadFree(pool.get(), pool.get(), live, "the pool struct itself");
  ExpectBadFree(pool.get(), reinterpret_cast<void *>(uintptr_t{4096}), live, "wild address");

  // Interior and misaligned pointers.
  for (size_t off : {1u, 8u, 15u, 16u, 32u, 48u, 128u, 255u})
    ExpectBadFree(pool.get(), small + off, live, "interior of a small chunk");
  ExpectBadFree(pool.get(), small + 256, live, "one past a small chunk");
  ExpectBadFree(pool.get(), small - 16, live, "before a small chunk");
  for (size_t off : {1u, 16u, 4096u, 65536u, 100u * 1024 - 16})
    ExpectBadFree(pool.get(), large + off, live, "interior of a large chunk");
  ExpectBadFree(pool.get(), large - 16, live, "before a large chunk");
  ExpectBadFree(pool.get(), aligned + 16, live, "interior of an aligned chunk");
  ExpectBadFree(pool.get(), aligned - 16, live, "before an aligned chunk");
  ExpectBadFree(pool.get(), aligned - 4096, live, "one alignment before an aligned chunk");
  ExpectBadFree(pool.get(), last + 64, live, "past the last chunk");
  ExpectBadFree(pool.get(), last + 1024, live, "block space never handed out");
  ExpectBadFree(pool.get(), last + 4096, live, "block space never handed out (far)");

  // A NULL pool.
  {
    Snapshot before = Snapshot::Of(pool.get());
    EXPECT_EQ(nv_pool_free(nullptr, small), NV_ERROR);
    ExpectErrorLogged("NULL pool");
    nvtest::ExpectUnchanged(before, Snapshot::Of(pool.get()));
  }

  // Later allocations still work, and every live allocation frees.
  void *after = nv_pool_alloc(pool.get(), 500);
  ASSERT_NE(after, nullptr);
  EXPECT_EQ(nv_pool_free(pool.get(), after), NV_OK);
  for (const Live &l : live) EXPECT_EQ(nv_pool_free(pool.get(), l.p), NV_OK);
  EXPECT_EQ(nv_pool_is_empty(pool.get()), 1);
  EXPECT_EQ(nv_pool_get_used(pool.get()), 0u);
  EXPECT_EQ(nv_pool_validate_count(pool.get()), 0u);
  EXPECT_EQ(nv_pool_free(other.get(), theirs), NV_OK);
  EXPECT_EQ(nv_pool_free(other.get(), theirs_large), NV_OK);
  std::free(heap);
  std::free(heap_big);
}

// A chunk freed at the top of its block goes back to the tail; a newer
// allocation over that space that the caller has not written (yet) must not
// make the old pointer look live again.
TEST_F(FreeTest, FreedPointerUnderANewUnwrittenAllocationIsRefused) {
  // 41 bytes: the smallest request whose chunk is a granule longer than
  // p0's in every layout (so p3 does not land on p1).
  for (size_t cover : {size_t{41}, size_t{200}, size_t{1000}}) {
    SCOPED_TRACE(cover);
    PoolPtr pool(nv_pool_create_default());
    ASSERT_NE(pool, nullptr);
    void *p0 = nv_pool_alloc(pool.get(), 25);
    void *p1 = nv_pool_alloc(pool.get(), 9);
    ASSERT_TRUE(p0 && p1);
    ASSERT_EQ(nv_pool_free(pool.get(), p1), NV_OK);  // last chunk: back to the tail
    ASSERT_EQ(nv_pool_free(pool.get(), p0), NV_OK);
    void *p2 = nv_pool_alloc(pool.get(), cover);  // over p1's old chunk, not written
    void *p3 = nv_pool_alloc(pool.get(), 9);
    ASSERT_TRUE(p2 && p3);
    ASSERT_NE(p2, p1);
    ASSERT_NE(p3, p1);
    Snapshot before = Snapshot::Of(pool.get());
    // An accepted double free corrupts the pool: stop before using it.
    ASSERT_EQ(nv_pool_free(pool.get(), p1), NV_ERROR) << "double free accepted";
    ExpectErrorLogged("double free of a tail-returned chunk");
    nvtest::ExpectUnchanged(before, Snapshot::Of(pool.get()));
    ASSERT_EQ(nv_pool_realloc(pool.get(), p1, 5), nullptr) << "realloc of a freed pointer accepted";
    ExpectErrorLogged("realloc of a tail-returned chunk");
    EXPECT_EQ(nv_pool_get_used(pool.get()), cover + 9);
    EXPECT_EQ(nv_pool_validate_count(pool.get()), 0u);
    log_.Clear();  // validate_count's lines, if any
    // New allocations must not land inside p2.
    std::memset(p2, 0x22, cover);
    for (int i = 0; i < 8; i++) {
      auto *q = static_cast<unsigned char *>(nv_pool_alloc(pool.get(), 9));
      ASSERT_NE(q, nullptr);
      std::memset(q, 0x33, 9);
    }
    EXPECT_TRUE(nvtest::AllAre(p2, cover, 0x22)) << "a later allocation overlapped p2";
  }
}

// The same after a reset: a pointer from before the reset, now inside a new
// allocation the caller has not written, is a plain bad free (NV_ERROR and a
// log line), not memory corruption, and the new allocation is not touched.
TEST_F(FreeTest, StalePointerUnderANewUnwrittenAllocationIsAPlainBadFree) {
  PoolPtr pool(nv_pool_create_default());
  ASSERT_NE(pool, nullptr);
  auto *a = static_cast<unsigned char *>(nv_pool_alloc(pool.get(), 16));
  auto *x = static_cast<unsigned char *>(nv_pool_alloc(pool.get(), 100));
  ASSERT_TRUE(a && x);
  std::memset(a, 1, 16);
  std::memset(x, 2, 100);
  nv_pool_reset(pool.get());
  auto *q = static_cast<unsigned char *>(nv_pool_alloc(pool.get(), 1000));  // over x, unwritten
  ASSERT_NE(q, nullptr);
  ASSERT_NE(q, x);
  std::vector<unsigned char> copy(q, q + 1000);
  Snapshot before = Snapshot::Of(pool.get());
  EXPECT_EQ(nv_pool_free(pool.get(), x), NV_ERROR);
  ExpectErrorLogged("stale pointer inside an unwritten allocation");
  EXPECT_EQ(trap_.Count(), 0u) << "reported as corruption (the default handler aborts):\n" << trap_.Text();
  nvtest::ExpectUnchanged(before, Snapshot::Of(pool.get()));
  // q's bytes are undefined for Valgrind until written: compare natively only.
  if (!nvtest::Quick()) {
    EXPECT_TRUE(std::equal(copy.begin(), copy.end(), q)) << "free of a stale pointer wrote into a live allocation";
  }
  EXPECT_EQ(nv_pool_free(pool.get(), q), NV_OK);
  EXPECT_EQ(nv_pool_validate_count(pool.get()), 0u);
}

// Ownership is decided without reading outside the pool's memory: pointers
// into pages nobody may read are refused, not dereferenced.
TEST_F(FreeTest, OwnershipCheckNeverReadsOutsideThePool) {
  PoolPtr pool(nv_pool_create_default());
  ASSERT_NE(pool, nullptr);
  void *keep = nv_pool_alloc(pool.get(), 100);
  ASSERT_NE(keep, nullptr);
  const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  void *region = mmap(nullptr, 3 * page, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(region, MAP_FAILED);
  unsigned char *r = static_cast<unsigned char *>(region);
  std::vector<Live> none;
  for (size_t off : {size_t{0}, size_t{16}, size_t{64}, page, page + 48, 2 * page + 32}) {
    ExpectBadFree(pool.get(), r + off, none, "pointer into a PROT_NONE page");
    EXPECT_EQ(nv_pool_realloc(pool.get(), r + off, 64), nullptr);
    ExpectErrorLogged("realloc of a pointer into a PROT_NONE page");
  }
  munmap(region, 3 * page);
  // A freed large allocation is back with the system: freeing it again must
  // not touch it (ASan/Valgrind would report the read).
  void *big = nv_pool_alloc(pool.get(), 200 * 1024);
  ASSERT_NE(big, nullptr);
  ASSERT_EQ(nv_pool_free(pool.get(), big), NV_OK);
  ExpectBadFree(pool.get(), big, none, "released large allocation");
  ExpectBadFree(pool.get(), static_cast<char *>(big) + 4096, none, "inside a released large allocation");
  EXPECT_EQ(nv_pool_free(pool.get(), keep), NV_OK);
}

// Deciding ownership costs the same with 10 or 100,000 live allocations.
TEST_F(FreeTest, OwnershipCheckTimeDoesNotDependOnLiveAllocations) {
  const size_t kMany = nvtest::Iterations(100000, 30000);
  const int kBad = nvtest::Quick() ? 300 : 3000;
  auto measure = [&](size_t live_count) {
    nv_pool_config_t config = nvtest::Config(16 * 1024, 0, 4096, 1);
    PoolPtr pool = nvtest::Make(config);
    EXPECT_NE(pool, nullptr);
    std::vector<unsigned char *> live;
    for (size_t i = 0; i < live_count; i++) {
      auto *p = static_cast<unsigned char *>(nv_pool_alloc(pool.get(), 32));
      EXPECT_NE(p, nullptr);
      live.push_back(p);
    }
    // A freed chunk in the middle, for double frees.
    unsigned char *freed = live[live.size() / 2];
    EXPECT_EQ(nv_pool_free(pool.get(), freed), NV_OK);
    unsigned char *interior = live[live.size() / 3] + 16;
    void *heap = std::malloc(64);
    double best = 1e30;
    for (int round = 0; round < 3; round++) {
      auto start = std::chrono::steady_clock::now();
      for (int i = 0; i < kBad; i++) {
        nv_pool_free(pool.get(), heap);
        nv_pool_free(pool.get(), freed);
        nv_pool_free(pool.get(), interior);
      }
      double t = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      best = std::min(best, t);
      EXPECT_EQ(log_.TakeErrors(), static_cast<size_t>(3 * kBad));
    }
    std::free(heap);
    return best;
  };
  double few = measure(10);
  double many = measure(kMany);
  RecordProperty("bad_free_seconds_10_live", std::to_string(few));
  RecordProperty("bad_free_seconds_many_live", std::to_string(many));
  // A walk over the live allocations would be ~10^4 times slower.
  EXPECT_LT(many, std::max(few, 1e-3) * 20) << "few=" << few << "s many=" << many << "s";
}

// ---- reset --------------------------------------------------------------------

TEST_F(FreeTest, ResetInvalidatesEveryAllocation) {
  CountingBackend backend;
  PoolPtr pool = nvtest::Make(nvtest::Config(16 * 1024, 0, 4096, 1, 0, 1, backend.backend()));
  ASSERT_NE(pool, nullptr);
  std::vector<void *> stale;
  for (size_t n : {0u, 10u, 256u, 3000u, 9000u})
    stale.push_back(nv_pool_alloc(pool.get(), n));
  stale.push_back(nv_pool_align(pool.get(), 100, 1024));
  stale.push_back(nv_pool_alloc(pool.get(), 100 * 1024));
  stale.push_back(nv_pool_alloc(pool.get(), 300 * 1024));
  for (void *p : stale) ASSERT_NE(p, nullptr);
  void *freed = nv_pool_alloc(pool.get(), 64);
  ASSERT_EQ(nv_pool_free(pool.get(), freed), NV_OK);
  nv_pool_stats_t st;
  nv_pool_get_stats(pool.get(), &st);
  EXPECT_EQ(st.large_allocations, 2u);
  const size_t size_before = nv_pool_get_size(pool.get());

  nv_pool_reset(pool.get());
  ExpectNoErrorLogged("reset");
  nv_pool_get_stats(pool.get(), &st);
  EXPECT_EQ(st.used, 0u);
  EXPECT_EQ(st.live_allocations, 0u);
  EXPECT_EQ(st.large_allocations, 0u);
  EXPECT_EQ(st.resets, 1u);
  EXPECT_EQ(nv_pool_is_empty(pool.get()), 1);
  EXPECT_LE(nv_pool_get_size(pool.get()), size_before - 400 * 1024) << "large allocations returned";
  EXPECT_EQ(nv_pool_get_size(pool.get()), backend.outstanding_bytes());
  EXPECT_EQ(nv_pool_validate_count(pool.get()), 0u);
  std::vector<Live> none;
  // Right after the reset nothing was handed out again: all are foreign.
  for (void *p : stale) ExpectBadFree(pool.get(), p, none, "stale pointer after reset");
  ExpectBadFree(pool.get(), freed, none, "pointer freed before reset");
  for (void *p : stale) {
    EXPECT_EQ(nv_pool_realloc(pool.get(), p, 10), nullptr);
    ExpectErrorLogged("realloc of a stale pointer");
  }
  // After new allocations, stale addresses that were not handed out again
  // stay foreign.
  std::vector<Live> fresh;
  for (int i = 0; i < 3; i++) {
    auto *p = static_cast<unsigned char *>(nv_pool_alloc(pool.get(), 777));
    ASSERT_NE(p, nullptr);
    nvtest::FillPattern(p, 777, 20 + i);
    fresh.push_back({p, 777, 20u + i});
  }
  for (void *p : stale) {
    bool reissued = false;
    for (const Live &l : fresh) reissued |= l.p == p;
    if (!reissued) ExpectBadFree(pool.get(), p, fresh, "stale pointer after new allocations");
  }
  for (const Live &l : fresh) EXPECT_EQ(nv_pool_free(pool.get(), l.p), NV_OK);
}

TEST_F(FreeTest, ResetKeepsBlocksUpToInitialSize) {
  CountingBackend backend;
  const size_t kInitial = 32 * 1024;
  nv_pool_config_t config = nvtest::Config(kInitial, 0, 4096, 1, 0, 1, backend.backend());
  PoolPtr fresh = nvtest::Make(config);
  ASSERT_NE(fresh, nullptr);
  const size_t fresh_size = nv_pool_get_size(fresh.get());
  PoolPtr pool = nvtest::Make(config);
  ASSERT_NE(pool, nullptr);
  for (int i = 0; i < 200; i++) ASSERT_NE(nv_pool_alloc(pool.get(), 2000), nullptr);
  nv_pool_stats_t st;
  nv_pool_get_stats(pool.get(), &st);
  ASSERT_GT(st.blocks, 3u);
  nv_pool_reset(pool.get());
  nv_pool_get_stats(pool.get(), &st);
  EXPECT_GE(st.blocks, 1u) << "the initial block is kept";
  EXPECT_LE(nv_pool_get_size(pool.get()), fresh_size + 4096) << "blocks beyond initial_size released";
  EXPECT_GE(nv_pool_get_free(pool.get()), kInitial / 2);
  // The kept space serves without the backend.
  uint64_t calls = backend.alloc_calls();
  for (int i = 0; i < 5; i++) ASSERT_NE(nv_pool_alloc(pool.get(), 2000), nullptr);
  EXPECT_EQ(backend.alloc_calls(), calls);
}

TEST_F(FreeTest, ResetOfAFixedPoolKeepsEverything) {
  CountingBackend backend;
  PoolPtr pool = nvtest::Make(nvtest::Config(16 * 1024, 0, 4096, 0, 0, 1, backend.backend()));
  ASSERT_NE(pool, nullptr);
  ASSERT_EQ(nv_pool_extend(pool.get(), 32 * 1024), NV_OK);
  ASSERT_EQ(nv_pool_extend(pool.get(), 8 * 1024), NV_OK);
  const size_t size0 = nv_pool_get_size(pool.get());
  const size_t free0 = nv_pool_get_free(pool.get());
  size_t first = 0;
  while (nv_pool_alloc(pool.get(), 200) != nullptr) first++;
  log_.Clear();
  for (int round = 0; round < 5; round++) {
    nv_pool_reset(pool.get());
    EXPECT_EQ(nv_pool_get_size(pool.get()), size0);
    EXPECT_EQ(nv_pool_get_free(pool.get()), free0);
    nv_pool_stats_t st;
    nv_pool_get_stats(pool.get(), &st);
    EXPECT_EQ(st.blocks, 3u);
    size_t again = 0;
    while (nv_pool_alloc(pool.get(), 200) != nullptr) again++;
    ExpectErrorLogged("full again");
    EXPECT_EQ(again, first);
  }
  EXPECT_EQ(nv_pool_get_size(pool.get()), backend.outstanding_bytes());
}

TEST_F(FreeTest, ResetCyclesRunInConstantMemory) {
  PoolPtr pool(nv_pool_create_default());
  ASSERT_NE(pool, nullptr);
  size_t size_after_first = 0;
  const size_t rounds = nvtest::Iterations(2000, 200);
  for (size_t round = 0; round < rounds; round++) {
    for (size_t i = 0; i < 60; i++) ASSERT_NE(nv_pool_alloc(pool.get(), 17 + i * 13), nullptr);
    ASSERT_NE(nv_pool_alloc(pool.get(), 80 * 1024), nullptr);
    nv_pool_reset(pool.get());
    if (round == 0) size_after_first = nv_pool_get_size(pool.get());
    ASSERT_EQ(nv_pool_get_size(pool.get()), size_after_first) << "round " << round;
  }
}

// ---- reuse ---------------------------------------------------------------------

TEST_F(FreeTest, AllocFreeOfOneSizeRunsInConstantMemory) {
  const size_t kIterations = nvtest::Iterations(100000, 10000);
  for (size_t n : {0u, 1u, 16u, 48u, 100u, 1000u, 1024u, 4000u, 20000u, 70000u}) {
    SCOPED_TRACE(n);
    PoolPtr pool(nv_pool_create_default());
    ASSERT_NE(pool, nullptr);
    void *anchor = nv_pool_alloc(pool.get(), 24);  // something else stays live
    size_t size_after_alloc = 0, size_after_free = 0;
    for (size_t i = 0; i < kIterations; i++) {
      void *p = nv_pool_alloc(pool.get(), n);
      ASSERT_NE(p, nullptr) << "iteration " << i;
      if (n) static_cast<unsigned char *>(p)[n - 1] = static_cast<unsigned char>(i);
      size_t s1 = nv_pool_get_size(pool.get());
      ASSERT_EQ(nv_pool_free(pool.get(), p), NV_OK);
      size_t s2 = nv_pool_get_size(pool.get());
      if (i == 0) {
        size_after_alloc = s1;
        size_after_free = s2;
      } else {
        ASSERT_EQ(s1, size_after_alloc) << "iteration " << i;
        ASSERT_EQ(s2, size_after_free) << "iteration " << i;
      }
    }
    EXPECT_EQ(nv_pool_free(pool.get(), anchor), NV_OK);
  }
}

TEST_F(FreeTest, ReuseWithAnchorsBetweenChunks) {
  // A ring of live allocations of one size: each step frees the oldest and
  // allocates a new one; the freed chunk is never the block's tail.
  const size_t kIterations = nvtest::Iterations(100000, 10000);
  for (size_t n : {8u, 100u, 3000u}) {
    SCOPED_TRACE(n);
    PoolPtr pool(nv_pool_create_default());
    ASSERT_NE(pool, nullptr);
    std::vector<void *> ring(10);
    for (auto &p : ring) ASSERT_NE(p = nv_pool_alloc(pool.get(), n), nullptr);
    void *tail = nv_pool_alloc(pool.get(), 8);
    const size_t size0 = nv_pool_get_size(pool.get());
    for (size_t i = 0; i < kIterations; i++) {
      size_t k = i % ring.size();
      ASSERT_EQ(nv_pool_free(pool.get(), ring[k]), NV_OK);
      ASSERT_NE(ring[k] = nv_pool_alloc(pool.get(), n), nullptr);
      ASSERT_EQ(nv_pool_get_size(pool.get()), size0) << "iteration " << i;
    }
    EXPECT_EQ(nv_pool_free(pool.get(), tail), NV_OK);
  }
}

TEST_F(FreeTest, MixedSizesCyclingRunInConstantMemory) {
  const size_t sizes[] = {8, 24, 100, 512, 3000, 17, 64, 1000, 9000, 70000, 33};
  const size_t kCycles = nvtest::Iterations(10000, 1000);
  PoolPtr pool(nv_pool_create_default());
  ASSERT_NE(pool, nullptr);
  // (a) a ring whose length is the cycle's: the freed chunk has the size of
  // the next request.
  std::vector<void *> ring;
  for (size_t n : sizes) ring.push_back(nv_pool_alloc(pool.get(), n));
  size_t size0 = nv_pool_get_size(pool.get());
  for (size_t c = 0; c < kCycles; c++) {
    for (size_t k = 0; k < ring.size(); k++) {
      ASSERT_EQ(nv_pool_free(pool.get(), ring[k]), NV_OK);
      ASSERT_NE(ring[k] = nv_pool_alloc(pool.get(), sizes[k]), nullptr);
    }
    ASSERT_EQ(nv_pool_get_size(pool.get()), size0) << "cycle " << c;
  }
  for (void *p : ring) ASSERT_EQ(nv_pool_free(pool.get(), p), NV_OK);
  // (b) allocate all, free all in a shuffled order, again and again.
  std::mt19937 rng(7);
  std::vector<void *> all;
  size_t size1 = 0;
  for (size_t c = 0; c < kCycles / 10; c++) {
    for (int rep = 0; rep < 5; rep++)
      for (size_t n : sizes) all.push_back(nv_pool_alloc(pool.get(), n));
    for (void *p : all) ASSERT_NE(p, nullptr);
    if (c == 0) size1 = nv_pool_get_size(pool.get());
    ASSERT_EQ(nv_pool_get_size(pool.get()), size1) << "cycle " << c;
    std::shuffle(all.begin(), all.end(), rng);
    for (void *p : all) ASSERT_EQ(nv_pool_free(pool.get(), p), NV_OK);
    all.clear();
  }
  EXPECT_EQ(nv_pool_validate_count(pool.get()), 0u);
}

// ---- used / empty / full / the size invariant ------------------------------------

TEST_F(FreeTest, UsedIsTheExactSumOfRequestedSizes) {
  PoolPtr pool(nv_pool_create_default());
  ASSERT_NE(pool, nullptr);
  EXPECT_EQ(nv_pool_get_used(pool.get()), 0u);
  void *a = nv_pool_alloc(pool.get(), 1);
  void *b = nv_pool_alloc(pool.get(), 3);
  void *c = nv_pool_calloc(pool.get(), 7, 11);
  void *d = nv_pool_align(pool.get(), 33, 512);
  void *e = nv_pool_alloc(pool.get(), 0);
  void *f = nv_pool_alloc(pool.get(), 70001);
  void *g = nv_pool_align_array(pool.get(), 5, 3, 8);
  EXPECT_EQ(nv_pool_get_used(pool.get()), 1u + 3 + 77 + 33 + 0 + 70001 + 15);
  ASSERT_EQ(nv_pool_free(pool.get(), b), NV_OK);
  EXPECT_EQ(nv_pool_get_used(pool.get()), 1u + 77 + 33 + 70001 + 15);
  a = nv_pool_realloc(pool.get(), a, 1001);
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(nv_pool_get_used(pool.get()), 1001u + 77 + 33 + 70001 + 15);
  f = nv_pool_realloc(pool.get(), f, 5);
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(nv_pool_get_used(pool.get()), 1001u + 77 + 33 + 5 + 15);
  EXPECT_EQ(nv_pool_realloc(pool.get(), d, 0), nullptr);
  EXPECT_EQ(nv_pool_get_used(pool.get()), 1001u + 77 + 5 + 15);
  for (void *p : {a, c, e, f, g}) ASSERT_EQ(nv_pool_free(pool.get(), p), NV_OK);
  EXPECT_EQ(nv_pool_get_used(pool.get()), 0u);
  ExpectNoErrorLogged("used");
}

TEST_F(FreeTest, IsEmptyExactlyWhenNothingIsLive) {
  PoolPtr pool(nv_pool_create_default());
  ASSERT_NE(pool, nullptr);
  EXPECT_EQ(nv_pool_is_empty(pool.get()), 1);
  void *z = nv_pool_alloc(pool.get(), 0);
  EXPECT_EQ(nv_pool_is_empty(pool.get()), 0) << "a zero-size allocation is live";
  void *p = nv_pool_alloc(pool.get(), 100);
  ASSERT_EQ(nv_pool_free(pool.get(), z), NV_OK);
  EXPECT_EQ(nv_pool_is_empty(pool.get()), 0);
  ASSERT_EQ(nv_pool_free(pool.get(), p), NV_OK);
  EXPECT_EQ(nv_pool_is_empty(pool.get()), 1);
  // A failed free does not make it non-empty; a large allocation counts.
  EXPECT_EQ(nv_pool_free(pool.get(), p), NV_ERROR);
  ExpectErrorLogged("double free");
  EXPECT_EQ(nv_pool_is_empty(pool.get()), 1);
  void *big = nv_pool_alloc(pool.get(), 100 * 1024);
  EXPECT_EQ(nv_pool_is_empty(pool.get()), 0);
  nv_pool_reset(pool.get());
  EXPECT_EQ(nv_pool_is_empty(pool.get()), 1);
  (void)big;
  // Refused allocations leave it empty.
  EXPECT_EQ(nv_pool_alloc(pool.get(), SIZE_MAX), nullptr);
  ExpectErrorLogged("alloc(SIZE_MAX)");
  EXPECT_EQ(nv_pool_is_empty(pool.get()), 1);
}

// is_full == (alloc(pool, 1) would fail now), checked in both directions
// at every step while filling.
void FillCheckingIsFull(nv_pool_t *pool, size_t fill_size, nvtest::LogCapture &log) {
  std::vector<void *> live;
  // Phase 1: fill with `fill_size`; is_full must stay 0 while 1 byte fits.
  // Phase 2: alloc(1) until refused, checking is_full before each.
  for (size_t i = 0; i < 100000; i++) {
    if (nv_pool_alloc(pool, fill_size) == nullptr) break;
  }
  log.Clear();
  for (size_t i = 0;; i++) {
    ASSERT_LT(i, 100000u);
    Snapshot before = Snapshot::Of(pool);
    int full = nv_pool_is_full(pool);
    nvtest::ExpectUnchanged(before, Snapshot::Of(pool));  // a query changes nothing
    ASSERT_EQ(log.Errors(), 0u) << "is_full logged an error";
    void *p = nv_pool_alloc(pool, 1);
    ASSERT_EQ(full, p == nullptr ? 1 : 0) << "is_full said " << full << " at step " << i;
    if (p == nullptr) break;
    live.push_back(p);
  }
  EXPECT_GE(log.TakeErrors(), 1u);
  EXPECT_EQ(nv_pool_is_full(pool), 1);
  EXPECT_EQ(nv_pool_alloc(pool, 1), nullptr);
  EXPECT_GE(log.TakeErrors(), 1u);
  // Free one 1-byte chunk: not full any more, and alloc(1) works.
  if (!live.empty()) {
    ASSERT_EQ(nv_pool_free(pool, live.back()), NV_OK);
    EXPECT_EQ(nv_pool_is_full(pool), 0);
    EXPECT_NE(nv_pool_alloc(pool, 1), nullptr);
    EXPECT_EQ(nv_pool_is_full(pool), 1);
  }
  log.Clear();
}

TEST_F(FreeTest, IsFullMatchesAllocOfOneByte) {
  CountingBackend backend;
  struct Case {
    const char *name;
    nv_pool_config_t config;
    size_t fill;
  };
  Case cases[] = {
      {"fixed, 1-byte fill", nvtest::Config(16 * 1024, 0, 4096, 0, 0, 1, backend.backend()), 1},
      {"fixed, 100-byte fill", nvtest::Config(32 * 1024, 0, 4096, 0, 0, 1, backend.backend()), 100},
      {"fixed, 5000-byte fill", nvtest::Config(32 * 1024, 0, 4096, 0, 0, 1, backend.backend()), 5000},
      {"capped auto", nvtest::Config(8 * 1024, 48 * 1024, 4096, 1, 0, 1, backend.backend()), 700},
      {"stats off", nvtest::Config(16 * 1024, 0, 4096, 0, 0, 0, backend.backend()), 300},
  };
  for (Case &c : cases) {
    SCOPED_TRACE(c.name);
    PoolPtr pool = nvtest::Make(c.config);
    ASSERT_NE(pool, nullptr);
    EXPECT_EQ(nv_pool_is_full(pool.get()), 0);
    FillCheckingIsFull(pool.get(), c.fill, log_);
  }
  // An auto-extending pool without a cap is not full.
  PoolPtr open = nvtest::Make(nvtest::Config(0, 0, 4096, 1, 0, 1, backend.backend()));
  EXPECT_EQ(nv_pool_is_full(open.get()), 0);
  EXPECT_NE(nv_pool_alloc(open.get(), 1), nullptr);
  // A backend that refuses everything: the pool cannot grow.
  backend.FailAll();
  PoolPtr refused = nvtest::Make(nvtest::Config(0, 0, 4096, 1, 0, 1, backend.backend()));
  EXPECT_EQ(refused, nullptr) << "the pool struct itself comes from the backend";
  ExpectErrorLogged("create with a refusing backend");
  backend.Heal();
}

// The allocation fast path empties an exact list without clearing its
// bitmap bit. Such a stale bit must not make validate report, is_full say
// "not full", or a refused allocation take a chunk from the empty list.
TEST_F(FreeTest, ReusingTheLastChunkOfAListLeavesNoTrace) {
  for (int stats = 0; stats <= 1; stats++) {
    SCOPED_TRACE(stats ? "stats on" : "stats off");
    PoolPtr pool = nvtest::Make(nvtest::Config(16 * 1024, 0, 4096, 0, 0, stats));
    ASSERT_NE(pool, nullptr);
    void *reused = nv_pool_alloc(pool.get(), 200);
    void *pin = nv_pool_alloc(pool.get(), 8);  // `reused` is not the block's top
    ASSERT_NE(reused, nullptr);
    ASSERT_NE(pin, nullptr);
    ASSERT_EQ(nv_pool_free(pool.get(), reused), NV_OK);  // onto its exact list
    EXPECT_EQ(nv_pool_alloc(pool.get(), 200), reused) << "the list's only chunk";
    EXPECT_EQ(nv_pool_validate_count(pool.get()), 0u);
    // Fill with 1-byte chunks (lists below 200 bytes' are empty, 200's has
    // its stale bit); the first refusal must be clean and match is_full.
    size_t n = 0;
    for (; n < 100000; n++) {
      int full = nv_pool_is_full(pool.get());
      void *p = nv_pool_alloc(pool.get(), 1);
      ASSERT_EQ(full, p == nullptr ? 1 : 0) << "after " << n << " 1-byte chunks";
      if (p == nullptr) break;
    }
    ASSERT_LT(n, 100000u);
    EXPECT_GE(log_.TakeErrors(), 1u) << "the refusal is logged";
    EXPECT_EQ(nv_pool_is_full(pool.get()), 1);
    EXPECT_EQ(nv_pool_alloc(pool.get(), 150), nullptr) << "the 200-byte list is empty";
    EXPECT_GE(log_.TakeErrors(), 1u);
    EXPECT_EQ(nv_pool_validate_count(pool.get()), 0u);
    // The list fills again: a smaller request splits its chunk.
    ASSERT_EQ(nv_pool_free(pool.get(), reused), NV_OK);
    EXPECT_EQ(nv_pool_is_full(pool.get()), 0);
    EXPECT_EQ(nv_pool_alloc(pool.get(), 150), reused);
    EXPECT_EQ(nv_pool_validate_count(pool.get()), 0u);
  }
}

TEST_F(FreeTest, UsedPlusFreeNeverExceedsSize) {
  std::mt19937_64 rng(nvtest::Seed(99));
  CountingBackend backend;
  nv_pool_config_t configs[] = {
      nvtest::DefaultConfig(),
      nvtest::Config(4096, 0, 4096, 1, 0, 1, backend.backend()),
      nvtest::Config(32 * 1024, 0, 4096, 0, 1, 0, backend.backend()),
  };
  const size_t steps = nvtest::Iterations(20000, 3000);
  for (nv_pool_config_t &config : configs) {
    PoolPtr pool = nvtest::Make(config);
    ASSERT_NE(pool, nullptr);
    std::vector<void *> live;
    for (size_t i = 0; i < steps; i++) {
      unsigned op = rng() % 10;
      if (op < 5) {
        size_t n = rng() % 4 == 0 ? rng() % 90000 : rng() % 300;
        void *p = nv_pool_alloc(pool.get(), n);
        if (p) live.push_back(p);
      } else if (op < 8 && !live.empty()) {
        size_t k = rng() % live.size();
        ASSERT_EQ(nv_pool_free(pool.get(), live[k]), NV_OK);
        live[k] = live.back();
        live.pop_back();
      } else if (op == 8 && !live.empty()) {
        size_t k = rng() % live.size();
        void *q = nv_pool_realloc(pool.get(), live[k], rng() % 5000 + 1);
        if (q) live[k] = q;
      } else if (rng() % 50 == 0) {
        nv_pool_compact(pool.get());
      }
      size_t size = nv_pool_get_size(pool.get()), used = nv_pool_get_used(pool.get()),
             free_bytes = nv_pool_get_free(pool.get());
      ASSERT_LE(used + free_bytes, size) << "step " << i;
      if (config.max_size) {
        ASSERT_LE(size, config.max_size);
      }
    }
    log_.Clear();  // refusals of full pools
  }
}

// ---- extend -----------------------------------------------------------------

TEST_F(FreeTest, ExtendAddsABlockWithAtLeastThatManyFreeBytes) {
  CountingBackend backend;
  for (int auto_extend : {0, 1}) {
    SCOPED_TRACE(auto_extend);
    PoolPtr pool = nvtest::Make(nvtest::Config(0, 0, 4096, auto_extend, 0, 1, backend.backend()));
    ASSERT_NE(pool, nullptr);
    for (size_t n : {size_t{1}, size_t{100}, size_t{4096}, size_t{10000}, size_t{200} * 1024}) {
      Snapshot before = Snapshot::Of(pool.get());
      ASSERT_EQ(nv_pool_extend(pool.get(), n), NV_OK) << n;
      Snapshot after = Snapshot::Of(pool.get());
      EXPECT_GE(after.size, before.size + n);
      EXPECT_GE(after.free, before.free + n) << "at least " << n << " usable bytes";
      EXPECT_EQ(after.stats.blocks, before.stats.blocks + 1);
      EXPECT_EQ(after.used, before.used);
      EXPECT_EQ(after.size, backend.outstanding_bytes());
    }
    // The added space serves requests (even above the large threshold in a
    // fixed pool).
    void *p = nv_pool_alloc(pool.get(), 3000);
    EXPECT_NE(p, nullptr);
    if (!auto_extend) {
      uint64_t calls = backend.alloc_calls();
      void *big = nv_pool_alloc(pool.get(), 150 * 1024);
      EXPECT_NE(big, nullptr);
      EXPECT_EQ(backend.alloc_calls(), calls);
    }
    ExpectNoErrorLogged("extend");
  }
}

TEST_F(FreeTest, ExtendRefusals) {
  CountingBackend backend;
  PoolPtr pool = nvtest::Make(nvtest::Config(16 * 1024, 128 * 1024, 4096, 1, 0, 1, backend.backend()));
  ASSERT_NE(pool, nullptr);
  void *keep = nv_pool_alloc(pool.get(), 100);
  for (size_t n : {size_t{0}, size_t{128} * 1024, size_t{120} * 1024, size_t{1} << 30, SIZE_MAX,
                   SIZE_MAX - 15}) {
    SCOPED_TRACE(n);
    Snapshot before = Snapshot::Of(pool.get());
    EXPECT_EQ(nv_pool_extend(pool.get(), n), NV_ERROR);
    ExpectErrorLogged("extend refused");
    nvtest::ExpectUnchanged(before, Snapshot::Of(pool.get()));
  }
  // Up to the cap it works, then it stops.
  int ok = 0;
  while (nv_pool_extend(pool.get(), 16 * 1024) == NV_OK) {
    ok++;
    ASSERT_LE(nv_pool_get_size(pool.get()), 128u * 1024);
    ASSERT_LT(ok, 10);
  }
  ExpectErrorLogged("extend past the cap");
  EXPECT_GE(ok, 4);
  EXPECT_EQ(nv_pool_free(pool.get(), keep), NV_OK);
}

// ---- shrink -----------------------------------------------------------------

TEST_F(FreeTest, ShrinkReleasesOnlyEmptyBlocks) {
  CountingBackend backend;
  PoolPtr pool = nvtest::Make(nvtest::Config(16 * 1024, 0, 4096, 1, 0, 1, backend.backend()));
  ASSERT_NE(pool, nullptr);
  // Live data spread over several blocks.
  std::vector<Live> live;
  for (unsigned i = 0; i < 40; i++) {
    auto *p = static_cast<unsigned char *>(nv_pool_alloc(pool.get(), 1500));
    ASSERT_NE(p, nullptr);
    nvtest::FillPattern(p, 1500, i);
    live.push_back({p, 1500, i});
  }
  // Four empty blocks.
  for (int i = 0; i < 4; i++) ASSERT_EQ(nv_pool_extend(pool.get(), 8 * 1024), NV_OK);
  nv_pool_stats_t st;
  nv_pool_get_stats(pool.get(), &st);
  const size_t blocks0 = st.blocks;
  const size_t used0 = nv_pool_get_used(pool.get());

  Snapshot before = Snapshot::Of(pool.get());
  EXPECT_EQ(nv_pool_shrink(pool.get(), 0), NV_OK);
  EXPECT_EQ(nv_pool_get_size(pool.get()), before.size) << "shrink(0) releases nothing";

  size_t s0 = nv_pool_get_size(pool.get());
  EXPECT_EQ(nv_pool_shrink(pool.get(), 1), NV_OK);
  size_t s1 = nv_pool_get_size(pool.get());
  EXPECT_LT(s1, s0) << "shrink(1) releases an empty block";
  EXPECT_EQ(s1, backend.outstanding_bytes());

  EXPECT_EQ(nv_pool_shrink(pool.get(), 10000), NV_OK);
  size_t s2 = nv_pool_get_size(pool.get());
  EXPECT_GE(s1 - s2, 10000u) << "at least the requested bytes, when that many are empty";

  EXPECT_EQ(nv_pool_shrink(pool.get(), SIZE_MAX), NV_OK);
  nv_pool_get_stats(pool.get(), &st);
  EXPECT_LE(st.blocks, blocks0 - 4);
  EXPECT_GE(st.blocks, 1u);
  EXPECT_EQ(nv_pool_get_used(pool.get()), used0);
  EXPECT_EQ(nv_pool_get_size(pool.get()), backend.outstanding_bytes());
  EXPECT_EQ(nv_pool_validate_count(pool.get()), 0u);
  for (const Live &l : live) {
    EXPECT_EQ(nvtest::FirstPatternMismatch(l.p, l.n, l.seed), l.n);
    EXPECT_EQ(nv_pool_free(pool.get(), l.p), NV_OK);
  }
  // Everything empty now: shrink releases every block; the pool still works.
  EXPECT_EQ(nv_pool_shrink(pool.get(), SIZE_MAX), NV_OK);
  nv_pool_get_stats(pool.get(), &st);
  EXPECT_EQ(st.blocks, 0u);
  EXPECT_EQ(nv_pool_get_free(pool.get()), 0u);
  EXPECT_EQ(nv_pool_get_size(pool.get()), backend.outstanding_bytes());
  void *p = nv_pool_alloc(pool.get(), 100);
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(nv_pool_free(pool.get(), p), NV_OK);
  ExpectNoErrorLogged("shrink");
}

TEST_F(FreeTest, ShrinkOfAFixedPoolThenExtend) {
  CountingBackend backend;
  PoolPtr pool = nvtest::Make(nvtest::Config(16 * 1024, 0, 4096, 0, 0, 1, backend.backend()));
  ASSERT_NE(pool, nullptr);
  EXPECT_EQ(nv_pool_shrink(pool.get(), SIZE_MAX), NV_OK);
  EXPECT_EQ(nv_pool_get_free(pool.get()), 0u);
  EXPECT_EQ(nv_pool_is_full(pool.get()), 1);
  EXPECT_EQ(nv_pool_alloc(pool.get(), 1), nullptr);
  ExpectErrorLogged("fixed pool without blocks");
  ASSERT_EQ(nv_pool_extend(pool.get(), 4096), NV_OK);
  void *p = nv_pool_alloc(pool.get(), 1);
  ASSERT_NE(p, nullptr);
  // A block with a live allocation is never released.
  size_t size = nv_pool_get_size(pool.get());
  EXPECT_EQ(nv_pool_shrink(pool.get(), SIZE_MAX), NV_OK);
  EXPECT_EQ(nv_pool_get_size(pool.get()), size);
  EXPECT_EQ(nv_pool_free(pool.get(), p), NV_OK);
}

// ---- compact ----------------------------------------------------------------

TEST_F(FreeTest, CompactNeverMovesOrChangesLiveData) {
  for (int auto_extend : {1, 0}) {
    SCOPED_TRACE(auto_extend);
    PoolPtr pool = nvtest::Make(nvtest::Config(auto_extend ? 16 * 1024 : 2 * 1024 * 1024, 0, 4096,
                                               auto_extend));
    ASSERT_NE(pool, nullptr);
    std::vector<Live> all;
    unsigned seed = 0;
    const size_t sizes[] = {1, 16, 40, 100, 333, 1000, 2500, 7000, 80000, 0};
    for (int rep = 0; rep < 12; rep++)
      for (size_t n : sizes) {
        auto *p = static_cast<unsigned char *>(nv_pool_alloc(pool.get(), n));
        ASSERT_NE(p, nullptr);
        nvtest::FillPattern(p, n, seed);
        all.push_back({p, n, seed++});
      }
    std::vector<Live> survivors;
    for (size_t i = 0; i < all.size(); i++) {
      if (i % 2) {
        ASSERT_EQ(nv_pool_free(pool.get(), all[i].p), NV_OK);
      } else {
        survivors.push_back(all[i]);
      }
    }
    const size_t used = nv_pool_get_used(pool.get());
    nv_pool_stats_t before;
    nv_pool_get_stats(pool.get(), &before);
    EXPECT_EQ(nv_pool_compact(pool.get()), NV_OK);
    nv_pool_stats_t after;
    nv_pool_get_stats(pool.get(), &after);
    EXPECT_EQ(after.used, used);
    EXPECT_EQ(after.live_allocations, survivors.size());
    EXPECT_LE(after.size, before.size);
    EXPECT_EQ(nv_pool_validate_count(pool.get()), 0u);
    for (const Live &l : survivors)
      ASSERT_EQ(nvtest::FirstPatternMismatch(l.p, l.n, l.seed), l.n) << "moved or changed: " << (void *)l.p;
    // Survivors are still live at the same address; new allocations work
    // and do not overlap them.
    std::vector<Live> fresh;
    for (size_t n : sizes) {
      auto *p = static_cast<unsigned char *>(nv_pool_alloc(pool.get(), n));
      ASSERT_NE(p, nullptr);
      nvtest::FillPattern(p, n, 200);
      fresh.push_back({p, n, 200});
    }
    for (const Live &l : survivors) {
      ASSERT_EQ(nvtest::FirstPatternMismatch(l.p, l.n, l.seed), l.n);
      EXPECT_EQ(nv_pool_free(pool.get(), l.p), NV_OK);
    }
    for (const Live &l : fresh) {
      ASSERT_EQ(nvtest::FirstPatternMismatch(l.p, l.n, l.seed), l.n);
      EXPECT_EQ(nv_pool_free(pool.get(), l.p), NV_OK);
    }
    EXPECT_EQ(nv_pool_is_empty(pool.get()), 1);
  }
  ExpectNoErrorLogged("compact");
}

TEST_F(FreeTest, CompactMergesNeighbouringFreeChunks) {
  // A fixed pool chopped into 100-byte chunks, freed in allocation order:
  // only merging makes a big request fit again.
  PoolPtr pool = nvtest::Make(nvtest::Config(64 * 1024, 0, 4096, 0));
  ASSERT_NE(pool, nullptr);
  std::vector<void *> chunks;
  while (void *p = nv_pool_alloc(pool.get(), 100)) chunks.push_back(p);
  log_.Clear();
  ASSERT_GT(chunks.size(), 200u);
  // Keep one live chunk in the middle.
  void *middle = chunks[chunks.size() / 2];
  std::memset(middle, 0x6D, 100);
  for (void *p : chunks) {
    if (p != middle) {
      ASSERT_EQ(nv_pool_free(pool.get(), p), NV_OK);
    }
  }
  nv_pool_stats_t st;
  nv_pool_get_stats(pool.get(), &st);
  const double frag_before = st.fragmentation;
  ASSERT_EQ(nv_pool_compact(pool.get()), NV_OK);
  nv_pool_get_stats(pool.get(), &st);
  EXPECT_LT(st.fragmentation, frag_before);
  void *big = nv_pool_alloc(pool.get(), 12 * 1024);
  EXPECT_NE(big, nullptr) << "merged free space serves a 12 KiB request";
  void *big2 = nv_pool_alloc(pool.get(), 12 * 1024);
  EXPECT_NE(big2, nullptr) << "on both sides of the live chunk";
  EXPECT_TRUE(nvtest::AllAre(middle, 100, 0x6D));
  EXPECT_EQ(nv_pool_validate_count(pool.get()), 0u);
  ExpectNoErrorLogged("compact merge");
}

TEST_F(FreeTest, CompactReleasesEmptyBlocksBeyondInitialSize) {
  CountingBackend backend;
  nv_pool_config_t config = nvtest::Config(16 * 1024, 0, 4096, 1);
  PoolPtr fresh = nvtest::Make(config);
  const size_t fresh_size = nv_pool_get_size(fresh.get());
  config.backend = backend.backend();
  PoolPtr pool = nvtest::Make(config);
  ASSERT_NE(pool, nullptr);
  std::vector<void *> chunks;
  for (int i = 0; i < 300; i++) chunks.push_back(nv_pool_alloc(pool.get(), 1000));
  for (void *p : chunks) ASSERT_NE(p, nullptr);
  nv_pool_stats_t st;
  nv_pool_get_stats(pool.get(), &st);
  ASSERT_GT(st.blocks, 3u);
  const size_t grown = nv_pool_get_size(pool.get());
  for (void *p : chunks) ASSERT_EQ(nv_pool_free(pool.get(), p), NV_OK);
  EXPECT_EQ(nv_pool_compact(pool.get()), NV_OK);
  EXPECT_LT(nv_pool_get_size(pool.get()), grown);
  EXPECT_LE(nv_pool_get_size(pool.get()), fresh_size + 4096);
  nv_pool_get_stats(pool.get(), &st);
  EXPECT_GE(st.blocks, 1u) << "blocks up to initial_size are kept";
  EXPECT_EQ(nv_pool_get_size(pool.get()), backend.outstanding_bytes());
  uint64_t calls = backend.alloc_calls();
  void *p = nv_pool_alloc(pool.get(), 8000);
  EXPECT_NE(p, nullptr);
  EXPECT_EQ(backend.alloc_calls(), calls) << "the kept block serves";
}

}  // namespace
