// nv_pool: allocation (contract §3) and realloc (§4).
#include <nv_pool.h>

#include "tests/pool_test_util.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <set>
#include <vector>

namespace {

using nvtest::CountingBackend;
using nvtest::PoolPtr;
using nvtest::PoolTest;
using nvtest::Snapshot;

// Records [p, p+max(n,1)) and fails if it overlaps a recorded range.
class Ranges {
 public:
  bool Add(const void *p, size_t n) {
    uintptr_t a = reinterpret_cast<uintptr_t>(p);
    uintptr_t e = a + std::max<size_t>(n, 1);
    auto next = ranges_.lower_bound(a);
    if (next != ranges_.end() && next->first < e) return false;
    if (next != ranges_.begin()) {
      auto prev = std::prev(next);
      if (prev->second > a) return false;
    }
    ranges_[a] = e;
    return true;
  }

 private:
  std::map<uintptr_t, uintptr_t> ranges_;
};

class AllocTest : public PoolTest {};

// ---- alignment ----------------------------------------------------------------

TEST_F(AllocTest, AllocCallocReallocAreAlignedTo16) {
  PoolPtr pool(nv_pool_create_default());
  ASSERT_NE(pool, nullptr);
  std::vector<void *> live;
  for (size_t n = 0; n <= 300; n++) {
    void *p = nv_pool_alloc(pool.get(), n);
    ASSERT_NE(p, nullptr) << n;
    EXPECT_TRUE(nvtest::Aligned(p, NV_POOL_ALIGNMENT)) << "alloc(" << n << ") = " << p;
    live.push_back(p);
    void *c = nv_pool_calloc(pool.get(), 1, n);
    ASSERT_NE(c, nullptr) << n;
    EXPECT_TRUE(nvtest::Aligned(c, NV_POOL_ALIGNMENT)) << "calloc(1, " << n << ")";
    live.push_back(c);
  }
  for (size_t n : {1000u, 4095u, 4097u, 20000u, 65536u, 70000u, 200000u}) {
    void *p = nv_pool_alloc(pool.get(), n);
    ASSERT_NE(p, nullptr) << n;
    EXPECT_TRUE(nvtest::Aligned(p, NV_POOL_ALIGNMENT)) << "alloc(" << n << ")";
    void *c = nv_pool_calloc(pool.get(), n / 8, 8);
    ASSERT_NE(c, nullptr) << n;
    EXPECT_TRUE(nvtest::Aligned(c, NV_POOL_ALIGNMENT)) << "calloc " << n;
    EXPECT_EQ(nv_pool_free(pool.get(), c), NV_OK);
    EXPECT_EQ(nv_pool_free(pool.get(), p), NV_OK);
  }
  // realloc results, growing and shrinking, small and large.
  void *r = nv_pool_realloc(pool.get(), nullptr, 1);
  ASSERT_NE(r, nullptr);
  for (size_t n : {7u, 33u, 500u, 17u, 3000u, 80000u, 100u, 150000u, 5u}) {
    r = nv_pool_realloc(pool.get(), r, n);
    ASSERT_NE(r, nullptr) << n;
    EXPECT_TRUE(nvtest::Aligned(r, NV_POOL_ALIGNMENT)) << "realloc to " << n;
  }
  EXPECT_EQ(nv_pool_free(pool.get(), r), NV_OK);
  for (void *p : live) EXPECT_EQ(nv_pool_free(pool.get(), p), NV_OK);
  EXPECT_EQ(nv_pool_validate_count(pool.get()), 0u);
}

// Every power of two from 1 to 64 KiB, in a default pool (small and large
// chunks), a no-cap pool (large requests) and a fixed pool (from blocks).
TEST_F(AllocTest, AlignHonoursEveryPowerOfTwoUpTo64KiB) {
  CountingBackend backend;
  struct Case {
    const char *name;
    nv_pool_config_t config;
    std::vector<size_t> sizes;
  };
  std::vector<Case> cases = {
      {"default", nvtest::DefaultConfig(), {0, 1, 24, 1000}},
      {"no cap", nvtest::Config(16 * 1024, 0, 4096, 1, 0, 1, backend.backend()), {100000}},
      {"fixed", nvtest::Config(2 * 1024 * 1024, 0, 4096, 0, 0, 1, backend.backend()),
       {1, 3000, 70000}},
      {"zero_clear", nvtest::Config(16 * 1024, 0, 4096, 1, 1, 1, backend.backend()), {40, 9000}},
  };
  for (Case &c : cases) {
    SCOPED_TRACE(c.name);
    PoolPtr pool = nvtest::Make(c.config);
    ASSERT_NE(pool, nullptr);
    Ranges ranges;
    struct Live {
      void *p;
      size_t n;
      unsigned seed;
    };
    std::vector<Live> live;
    unsigned seed = 1;
    for (size_t alignment = 1; alignment <= 64 * 1024; alignment *= 2) {
      for (size_t n : c.sizes) {
        void *p = nv_pool_align(pool.get(), n, alignment);
        ASSERT_NE(p, nullptr) << "align(" << n << ", " << alignment << ")";
        EXPECT_TRUE(nvtest::Aligned(p, alignment)) << "align(" << n << ", " << alignment << ") = " << p;
        EXPECT_TRUE(nvtest::Aligned(p, NV_POOL_ALIGNMENT)) << "never below 16";
        EXPECT_TRUE(ranges.Add(p, n)) << "overlap at align(" << n << ", " << alignment << ")";
        if (c.config.zero_clear) {
          EXPECT_TRUE(nvtest::AllAre(p, n, 0)) << "zero_clear align(" << n << ", " << alignment << ")";
        }
        nvtest::FillPattern(p, n, seed);
        live.push_back({p, n, seed++});
      }
    }
    size_t used = 0;
    for (const Live &l : live) used += l.n;
    EXPECT_EQ(nv_pool_get_used(pool.get()), used);
    EXPECT_EQ(nv_pool_validate_count(pool.get()), 0u);
    for (const Live &l : live) {
      EXPECT_EQ(nvtest::FirstPatternMismatch(l.p, l.n, l.seed), l.n) << "contents of " << l.p;
      EXPECT_EQ(nv_pool_free(pool.get(), l.p), NV_OK);
    }
    EXPECT_EQ(nv_pool_is_empty(pool.get()), 1);
  }
  EXPECT_EQ(backend.outstanding_bytes(), 0u);
}

// nv_pool_align bumps past the gap in front of an aligned chunk and files
// the gap as a free chunk (on the fast path and in carve alike; a gap too
// small for one byte stays padding, see the next test): the next
// request whose chunk is exactly the gap's size is placed in it. Chunk
// geometry from pool_internal.h (nvtest::ChunkPrefix, ChunkBytes).
TEST_F(AllocTest, AlignedGapBecomesAFreeChunkTheNextRequestUses) {
  PoolPtr pool = nvtest::Make(nvtest::DefaultConfig());
  ASSERT_NE(pool, nullptr);
  const size_t prefix = nvtest::ChunkPrefix();
  const size_t back = nvtest::BackRedzoneMin();
  auto *anchor = static_cast<unsigned char *>(nv_pool_align(pool.get(), 16, 1024));
  ASSERT_NE(anchor, nullptr);
  ASSERT_TRUE(nvtest::Aligned(anchor, 1024));
  // anchor's chunk ends ChunkBytes(16) - prefix bytes after it; the next user
  // pointer at 1024 is anchor + 1024, so the gap runs from there to its
  // header.
  auto *next = static_cast<unsigned char *>(nv_pool_align(pool.get(), 16, 1024));
  ASSERT_EQ(next, anchor + 1024) << "same block, next 1024 boundary";
  const size_t gap = 1024 - nvtest::ChunkBytes(16);
  EXPECT_EQ(nv_pool_validate_count(pool.get()), 0u) << "the gap is a well-formed free chunk";
  const size_t fits = gap - prefix - back;  // the largest request whose chunk is the gap
  ASSERT_EQ(nvtest::ChunkBytes(fits), gap);
  auto *in_gap = static_cast<unsigned char *>(nv_pool_alloc(pool.get(), fits));
  EXPECT_EQ(in_gap, anchor + nvtest::ChunkBytes(16))
      << "the gap of " << gap << " bytes serves alloc(" << fits << ")";
  std::memset(in_gap, 0x5A, fits);
  EXPECT_EQ(nv_pool_get_used(pool.get()), 32u + fits);
  EXPECT_EQ(nv_pool_validate_count(pool.get()), 0u);
  for (void *p : {static_cast<void *>(in_gap), static_cast<void *>(next), static_cast<void *>(anchor)})
    EXPECT_EQ(nv_pool_free(pool.get(), p), NV_OK);
  EXPECT_EQ(nv_pool_is_empty(pool.get()), 1);
  // Gaps of every size below 64, some too small for a free chunk's link
  // (padding): each must still leave the block walkable.
  std::vector<void *> keep;
  for (size_t filler = 0; filler <= 64; filler += 16) {
    keep.push_back(nv_pool_alloc(pool.get(), filler));
    void *a = nv_pool_align(pool.get(), 16, 64);
    ASSERT_NE(a, nullptr);
    EXPECT_TRUE(nvtest::Aligned(a, 64)) << a;
    keep.push_back(a);
  }
  EXPECT_EQ(nv_pool_validate_count(pool.get()), 0u);
  for (void *p : keep) EXPECT_EQ(nv_pool_free(pool.get(), p), NV_OK);
  EXPECT_EQ(nv_pool_validate_count(pool.get()), 0u);
  ExpectNoErrorLogged("aligned gap");
}

// A gap too small to hold one byte (only alloc(0) could use it) is padding:
// the block stays walkable, but no list holds it, so nv_pool_get_free does
// not count it, until nv_pool_compact merges it with a free neighbour.
TEST_F(AllocTest, AlignedGapTooSmallForOneByteIsPaddingUntilCompacted) {
  const size_t smallest_chunk = nvtest::ChunkBytes(1);  // holds 0 or 1 byte
  const size_t gap = smallest_chunk - 16;                // the largest padding
  if (gap == 0)
    GTEST_SKIP() << "release layout: a one-granule chunk holds a byte, so no gap is padding";
  PoolPtr pool = nvtest::Make(nvtest::DefaultConfig());
  ASSERT_NE(pool, nullptr);
  const size_t prefix = nvtest::ChunkPrefix();
  const size_t back = nvtest::BackRedzoneMin();
  // anchor's chunk (1024 - gap bytes) ends `gap + prefix` bytes before the
  // next 1024 boundary.
  const size_t anchor_size = 1024 - gap - prefix - back;
  ASSERT_EQ(nvtest::ChunkBytes(anchor_size), 1024 - gap);
  auto *anchor = static_cast<unsigned char *>(nv_pool_align(pool.get(), anchor_size, 1024));
  ASSERT_NE(anchor, nullptr);
  const size_t free_before = nv_pool_get_free(pool.get());
  auto *next = static_cast<unsigned char *>(nv_pool_align(pool.get(), 16, 1024));
  ASSERT_EQ(next, anchor + 1024) << "same block, next 1024 boundary";
  EXPECT_EQ(free_before - nv_pool_get_free(pool.get()), gap + nvtest::ChunkBytes(16))
      << "the " << gap << "-byte gap is not free space";
  EXPECT_EQ(nv_pool_validate_count(pool.get()), 0u) << "the padding is walkable";
  const size_t free_between_live = nv_pool_get_free(pool.get());
  ASSERT_EQ(nv_pool_compact(pool.get()), NV_OK);  // rebuilds the lists from a walk
  EXPECT_EQ(nv_pool_get_free(pool.get()), free_between_live)
      << "padding between two live chunks has nothing to merge with: still on no list";
  ASSERT_EQ(nv_pool_free(pool.get(), anchor), NV_OK);  // now followed by the padding
  const size_t free_after_free = nv_pool_get_free(pool.get());
  ASSERT_EQ(nv_pool_compact(pool.get()), NV_OK);
  EXPECT_EQ(nv_pool_get_free(pool.get()), free_after_free + gap)
      << "compact merged the padding into anchor's free chunk";
  EXPECT_EQ(nv_pool_validate_count(pool.get()), 0u);
  EXPECT_EQ(nv_pool_free(pool.get(), next), NV_OK);
  EXPECT_EQ(nv_pool_is_empty(pool.get()), 1);
  ExpectNoErrorLogged("aligned padding");
}

TEST_F(AllocTest, AlignUpToTheMaximumAndRejectsTheRest) {
  CountingBackend backend;
  PoolPtr pool = nvtest::Make(nvtest::Config(16 * 1024, 0, 4096, 1, 0, 1, backend.backend()));
  ASSERT_NE(pool, nullptr);
  for (size_t alignment : {size_t{128} * 1024, size_t{512} * 1024, size_t{NV_POOL_MAX_ALIGNMENT}}) {
    void *p = nv_pool_align(pool.get(), 64, alignment);
    ASSERT_NE(p, nullptr) << alignment;
    EXPECT_TRUE(nvtest::Aligned(p, alignment));
    std::memset(p, 0x11, 64);
    EXPECT_EQ(nv_pool_free(pool.get(), p), NV_OK);
  }
  ExpectNoErrorLogged("valid alignments");
  void *keep = nv_pool_alloc(pool.get(), 32);
  ASSERT_NE(keep, nullptr);
  for (size_t bad : {size_t{0}, size_t{3}, size_t{6}, size_t{24}, size_t{48}, size_t{100},
                     size_t{4097}, size_t{NV_POOL_MAX_ALIGNMENT} * 2, size_t{1} << 40,
                     SIZE_MAX, (SIZE_MAX >> 1) + 1}) {
    SCOPED_TRACE(bad);
    Snapshot before = Snapshot::Of(pool.get());
    EXPECT_EQ(nv_pool_align(pool.get(), 64, bad), nullptr);
    ExpectErrorLogged("bad alignment");
    nvtest::ExpectUnchanged(before, Snapshot::Of(pool.get()), 1);
    EXPECT_EQ(nv_pool_align_array(pool.get(), 4, 16, bad), nullptr);
    ExpectErrorLogged("bad alignment (array)");
  }
  EXPECT_EQ(nv_pool_validate_count(pool.get()), 0u);
  EXPECT_EQ(nv_pool_free(pool.get(), keep), NV_OK);
}

struct alignas(64) Over64 {
  unsigned char bytes[200];
};
struct alignas(4096) Page {
  unsigned char bytes[4096];
};
struct Small {
  char c;
  double d;
};

TEST_F(AllocTest, AllocTypeAndArrayAreAlignedForTheType) {
  PoolPtr pool(nv_pool_create_default());
  ASSERT_NE(pool, nullptr);
  void *pad = nv_pool_alloc(pool.get(), 8);  // knock the bump pointer off a nice boundary
  ASSERT_NE(pad, nullptr);
  Small *s = nv_pool_alloc_type(pool.get(), Small);
  ASSERT_NE(s, nullptr);
  EXPECT_TRUE(nvtest::Aligned(s, alignof(Small)));
  Over64 *o = nv_pool_alloc_type(pool.get(), Over64);
  ASSERT_NE(o, nullptr);
  EXPECT_TRUE(nvtest::Aligned(o, 64));
  std::memset(o, 1, sizeof *o);
  Over64 *oa = nv_pool_alloc_array(pool.get(), Over64, 7);
  ASSERT_NE(oa, nullptr);
  EXPECT_TRUE(nvtest::Aligned(oa, 64));
  std::memset(oa, 2, sizeof(Over64) * 7);
  Page *pg = nv_pool_alloc_array(pool.get(), Page, 3);
  ASSERT_NE(pg, nullptr);
  EXPECT_TRUE(nvtest::Aligned(pg, 4096));
  std::memset(pg, 3, sizeof(Page) * 3);
  int *ints = nv_pool_alloc_array(pool.get(), int, 100);
  ASSERT_NE(ints, nullptr);
  EXPECT_TRUE(nvtest::Aligned(ints, alignof(int)));
  for (int i = 0; i < 100; i++) ints[i] = i;
  EXPECT_EQ(nv_pool_get_used(pool.get()),
            8 + sizeof(Small) + sizeof(Over64) * 8 + sizeof(Page) * 3 + sizeof(int) * 100);
  EXPECT_TRUE(nvtest::AllAre(o, sizeof *o, 1));
  EXPECT_TRUE(nvtest::AllAre(oa, sizeof(Over64) * 7, 2));
  EXPECT_TRUE(nvtest::AllAre(pg, sizeof(Page) * 3, 3));
  for (void *p : {pad, static_cast<void *>(s), static_cast<void *>(o), static_cast<void *>(oa),
                  static_cast<void *>(pg), static_cast<void *>(ints)})
    EXPECT_EQ(nv_pool_free(pool.get(), p), NV_OK);
  ExpectNoErrorLogged("alloc_type/alloc_array");
}

TEST_F(AllocTest, AllocArrayOverflowGivesNullAndAllocatesNothing) {
  PoolPtr pool(nv_pool_create_default());
  ASSERT_NE(pool, nullptr);
  void *keep = nv_pool_alloc(pool.get(), 10);
  ASSERT_NE(keep, nullptr);
  uint64_t failed = 0;
  Snapshot before = Snapshot::Of(pool.get());
  EXPECT_EQ(nv_pool_alloc_array(pool.get(), int, SIZE_MAX / sizeof(int) + 1), nullptr);
  ExpectErrorLogged("alloc_array int overflow");
  failed++;
  EXPECT_EQ(nv_pool_alloc_array(pool.get(), Over64, SIZE_MAX / sizeof(Over64) + 1), nullptr);
  ExpectErrorLogged("alloc_array Over64 overflow");
  failed++;
  EXPECT_EQ(nv_pool_alloc_array(pool.get(), Page, SIZE_MAX / 2), nullptr);
  ExpectErrorLogged("alloc_array Page overflow");
  failed++;
  EXPECT_EQ(nv_pool_align_array(pool.get(), size_t{1} << 32, size_t{1} << 32, 16), nullptr);
  ExpectErrorLogged("align_array 2^32*2^32");
  failed++;
  EXPECT_EQ(nv_pool_align_array(pool.get(), SIZE_MAX, 2, 8), nullptr);
  ExpectErrorLogged("align_array SIZE_MAX*2");
  failed++;
  nvtest::ExpectUnchanged(before, Snapshot::Of(pool.get()), failed);
  EXPECT_EQ(nv_pool_free(pool.get(), keep), NV_OK);
}

// ---- zero-size requests -------------------------------------------------------

TEST_F(AllocTest, AllocZeroIsUniqueNonNullAndFreeable) {
  PoolPtr pool(nv_pool_create_default());
  ASSERT_NE(pool, nullptr);
  std::set<void *> seen;
  std::vector<void *> zeros;
  for (int i = 0; i < 100; i++) {
    void *z = nv_pool_alloc(pool.get(), 0);
    ASSERT_NE(z, nullptr);
    EXPECT_TRUE(seen.insert(z).second) << "alloc(0) returned " << z << " twice";
    zeros.push_back(z);
    void *one = nv_pool_alloc(pool.get(), 1);  // interleave real allocations
    ASSERT_NE(one, nullptr);
    EXPECT_TRUE(seen.insert(one).second) << "alloc(1) returned a live address " << one;
    *static_cast<char *>(one) = 'x';
  }
  // Other zero-size forms.
  void *c0 = nv_pool_calloc(pool.get(), 0, 8);
  void *c1 = nv_pool_calloc(pool.get(), 8, 0);
  void *a0 = nv_pool_align(pool.get(), 0, 64);
  void *r0 = nv_pool_realloc(pool.get(), nullptr, 0);
  for (void *z : {c0, c1, a0, r0}) {
    ASSERT_NE(z, nullptr);
    EXPECT_TRUE(seen.insert(z).second) << z;
  }
  EXPECT_TRUE(nvtest::Aligned(a0, 64));
  EXPECT_EQ(nv_pool_get_used(pool.get()), 100u) << "zero-size allocations use 0 bytes";
  nv_pool_stats_t st;
  nv_pool_get_stats(pool.get(), &st);
  EXPECT_EQ(st.live_allocations, 204u);
  EXPECT_EQ(nv_pool_is_empty(pool.get()), 0);

  for (void *z : zeros) EXPECT_EQ(nv_pool_free(pool.get(), z), NV_OK);
  for (void *z : {c0, c1, a0, r0}) EXPECT_EQ(nv_pool_free(pool.get(), z), NV_OK);
  ExpectNoErrorLogged("zero-size allocations");
  EXPECT_EQ(nv_pool_free(pool.get(), zeros[5]), NV_ERROR) << "double free of alloc(0)";
  ExpectErrorLogged("double free of alloc(0)");
  nv_pool_get_stats(pool.get(), &st);
  EXPECT_EQ(st.live_allocations, 100u);
  EXPECT_EQ(nv_pool_validate_count(pool.get()), 0u);
}

// Zero-size allocations filling a block to its very end stay freeable and
// resizable after another block becomes current.
TEST_F(AllocTest, AllocZeroAtTheEndOfABlockIsFreeable) {
  PoolPtr pool = nvtest::Make(nvtest::Config(4096, 0, 4096, 0));
  ASSERT_NE(pool, nullptr);
  std::vector<void *> zeros;
  while (void *z = nv_pool_alloc(pool.get(), 0)) {
    zeros.push_back(z);
    ASSERT_LT(zeros.size(), 5000u);
  }
  ExpectErrorLogged("block full");
  ASSERT_GT(zeros.size(), 10u);
  ASSERT_EQ(nv_pool_extend(pool.get(), 4096), NV_OK);
  void *other = nv_pool_alloc(pool.get(), 100);  // the new block becomes current
  ASSERT_NE(other, nullptr);
  void *last = zeros.back();
  zeros.pop_back();
  void *grown = nv_pool_realloc(pool.get(), last, 21);
  EXPECT_NE(grown, nullptr) << "realloc of the live zero-size allocation at the block's end";
  ExpectNoErrorLogged("realloc of the last zero-size allocation");
  if (grown == nullptr) {
    EXPECT_EQ(nv_pool_free(pool.get(), last), NV_OK) << "free of the live zero-size allocation at the block's end";
    log_.Clear();
  } else {
    EXPECT_EQ(nv_pool_free(pool.get(), grown), NV_OK);
  }
  for (void *z : zeros) EXPECT_EQ(nv_pool_free(pool.get(), z), NV_OK);
  EXPECT_EQ(nv_pool_free(pool.get(), other), NV_OK);
  EXPECT_EQ(nv_pool_is_empty(pool.get()), 1);
  ExpectNoErrorLogged("frees");
}

// ---- calloc ---------------------------------------------------------------------

TEST_F(AllocTest, CallocZeroesEvenReusedDirtyChunksWithoutZeroClear) {
  PoolPtr pool(nv_pool_create_default());
  ASSERT_NE(pool, nullptr);
  for (size_t n : {1u, 16u, 64u, 200u, 1000u, 5000u, 70000u}) {
    void *guard = nv_pool_alloc(pool.get(), 8);  // keep n's chunk off the tail
    void *p = nv_pool_alloc(pool.get(), n);
    ASSERT_NE(p, nullptr);
    void *guard2 = nv_pool_alloc(pool.get(), 8);
    std::memset(p, 0xEE, n);
    ASSERT_EQ(nv_pool_free(pool.get(), p), NV_OK);
    unsigned char *c = static_cast<unsigned char *>(nv_pool_calloc(pool.get(), n, 1));
    ASSERT_NE(c, nullptr);
    EXPECT_EQ(nvtest::FirstNot(c, n, 0), n) << "calloc(" << n << ", 1) reusing " << p;
    unsigned char *d = static_cast<unsigned char *>(nv_pool_calloc(pool.get(), 3, n));
    ASSERT_NE(d, nullptr);
    EXPECT_EQ(nvtest::FirstNot(d, 3 * n, 0), 3 * n);
    for (void *q : {guard, guard2, static_cast<void *>(c), static_cast<void *>(d)})
      EXPECT_EQ(nv_pool_free(pool.get(), q), NV_OK);
  }
  ExpectNoErrorLogged("calloc");
}

TEST_F(AllocTest, CallocOverflowGivesNullAndAllocatesNothing) {
  PoolPtr pool(nv_pool_create_default());
  ASSERT_NE(pool, nullptr);
  void *keep = nv_pool_alloc(pool.get(), 100);
  ASSERT_NE(keep, nullptr);
  const std::pair<size_t, size_t> cases[] = {
      {SIZE_MAX, 2},
      {2, SIZE_MAX},
      {2, SIZE_MAX / 2 + 1},
      {SIZE_MAX / 16 + 1, 16},
      {size_t{1} << 32, size_t{1} << 32},
      {SIZE_MAX, SIZE_MAX},
      {(SIZE_MAX >> 1) + 1, 2},
  };
  Snapshot before = Snapshot::Of(pool.get());
  uint64_t failed = 0;
  for (auto &c : cases) {
    SCOPED_TRACE(testing::Message() << c.first << " * " << c.second);
    EXPECT_EQ(nv_pool_calloc(pool.get(), c.first, c.second), nullptr);
    ExpectErrorLogged("calloc overflow");
    failed++;
    nvtest::ExpectUnchanged(before, Snapshot::Of(pool.get()), failed);
  }
  EXPECT_EQ(nv_pool_free(pool.get(), keep), NV_OK);
}

// ---- sizes near SIZE_MAX ---------------------------------------------------------

const size_t kHuge[] = {
    SIZE_MAX,          SIZE_MAX - 1,      SIZE_MAX - 15,      SIZE_MAX - 16, SIZE_MAX - 63,
    SIZE_MAX - 4096,   SIZE_MAX / 2,      SIZE_MAX / 2 + 1,   SIZE_MAX / 4,
    SIZE_MAX - NV_POOL_LARGE_THRESHOLD,
};

// Each config: the default pool (1 MiB cap), a no-cap auto-extending pool
// over a backend refusing > 256 MiB, and a fixed pool.
std::vector<std::pair<const char *, nv_pool_config_t>> HugeConfigs(CountingBackend &backend) {
  return {
      {"default", nvtest::DefaultConfig()},
      {"no cap", nvtest::Config(16 * 1024, 0, 4096, 1, 0, 1, backend.backend())},
      {"fixed", nvtest::Config(64 * 1024, 0, 4096, 0, 0, 1, backend.backend())},
      {"zero_clear", nvtest::Config(16 * 1024, 0, 4096, 1, 1, 1, backend.backend())},
  };
}

TEST_F(AllocTest, SizesNearSizeMaxAreRefusedAndChangeNothing) {
  CountingBackend backend;
  for (auto &cfg : HugeConfigs(backend)) {
    SCOPED_TRACE(cfg.first);
    PoolPtr pool = nvtest::Make(cfg.second);
    ASSERT_NE(pool, nullptr);
    unsigned char *keep = static_cast<unsigned char *>(nv_pool_alloc(pool.get(), 48));
    ASSERT_NE(keep, nullptr);
    nvtest::FillPattern(keep, 48, 3);
    for (size_t huge : kHuge) {
      SCOPED_TRACE(testing::Message() << "size " << huge);
      Snapshot before = Snapshot::Of(pool.get());
      EXPECT_EQ(nv_pool_alloc(pool.get(), huge), nullptr);
      ExpectErrorLogged("alloc");
      nvtest::ExpectUnchanged(before, Snapshot::Of(pool.get()), 1);
      before = Snapshot::Of(pool.get());
      EXPECT_EQ(nv_pool_calloc(pool.get(), 1, huge), nullptr);
      ExpectErrorLogged("calloc(1, huge)");
      EXPECT_EQ(nv_pool_calloc(pool.get(), huge, 1), nullptr);
      ExpectErrorLogged("calloc(huge, 1)");
      nvtest::ExpectUnchanged(before, Snapshot::Of(pool.get()), 2);
      before = Snapshot::Of(pool.get());
      for (size_t alignment : {size_t{1}, size_t{16}, size_t{64}, size_t{4096}, size_t{65536}}) {
        EXPECT_EQ(nv_pool_align(pool.get(), huge, alignment), nullptr) << alignment;
        ExpectErrorLogged("align");
      }
      nvtest::ExpectUnchanged(before, Snapshot::Of(pool.get()), 5);
      before = Snapshot::Of(pool.get());
      EXPECT_EQ(nv_pool_realloc(pool.get(), nullptr, huge), nullptr);
      ExpectErrorLogged("realloc(NULL, huge)");
      EXPECT_EQ(nv_pool_realloc(pool.get(), keep, huge), nullptr);
      ExpectErrorLogged("realloc(p, huge)");
      nvtest::ExpectUnchanged(before, Snapshot::Of(pool.get()), 2);
      EXPECT_EQ(nvtest::FirstPatternMismatch(keep, 48, 3), 48u) << "p changed by failed realloc";
      before = Snapshot::Of(pool.get());
      int rc = nv_pool_extend(pool.get(), huge);
      ExpectErrorLogged("extend");
      // Contract §6: NV_ERROR for overflow, past max_size, or a backend
      // refusal.
      EXPECT_EQ(rc, NV_ERROR);
      nvtest::ExpectUnchanged(before, Snapshot::Of(pool.get()), 0);
    }
    EXPECT_EQ(nv_pool_validate_count(pool.get()), 0u);
    // Still fully usable.
    void *p = nv_pool_alloc(pool.get(), 1000);
    ASSERT_NE(p, nullptr);
    keep = static_cast<unsigned char *>(nv_pool_realloc(pool.get(), keep, 2000));
    ASSERT_NE(keep, nullptr);
    EXPECT_EQ(nvtest::FirstPatternMismatch(keep, 48, 3), 48u);
    EXPECT_EQ(nv_pool_free(pool.get(), keep), NV_OK);
    EXPECT_EQ(nv_pool_free(pool.get(), p), NV_OK);
    ExpectNoErrorLogged("after huge requests");
  }
  EXPECT_EQ(backend.outstanding_bytes(), 0u);
  EXPECT_EQ(backend.errors().size(), 0u);
}

// ---- max_size -------------------------------------------------------------------

TEST_F(AllocTest, MaxSizeRefusalLeavesThePoolExactlyAsItWas) {
  const size_t kMax = 96 * 1024;
  CountingBackend backend;
  PoolPtr pool = nvtest::Make(nvtest::Config(16 * 1024, kMax, 4096, 1, 0, 1, backend.backend()));
  ASSERT_NE(pool, nullptr);
  // Mixed sizes until the cap refuses; every refusal leaves all unchanged.
  std::vector<std::pair<void *, size_t>> live;
  size_t refusals = 0;
  const size_t sizes[] = {100, 3000, 700, 9000, 40, 20000};
  for (size_t i = 0; refusals < 12 && i < 10000; i++) {
    size_t n = sizes[i % 6];
    Snapshot before = Snapshot::Of(pool.get());
    void *p = nv_pool_alloc(pool.get(), n);
    Snapshot after = Snapshot::Of(pool.get());
    ASSERT_LE(after.size, kMax);
    ASSERT_EQ(after.size, backend.outstanding_bytes());
    if (p == nullptr) {
      SCOPED_TRACE(testing::Message() << "refused alloc(" << n << ") at " << Describe(before));
      refusals++;
      ExpectErrorLogged("max_size refusal");
      nvtest::ExpectUnchanged(before, after, 1);
      // A refusal is only allowed near the cap.
      EXPECT_GT(before.size + n + 8 * 1024, kMax) << "refused far below max_size";
    } else {
      std::memset(p, static_cast<int>(live.size() & 0xFF), n);
      live.push_back({p, n});
    }
  }
  EXPECT_GE(refusals, 12u);
  // Requests bigger than the whole cap, large ones included.
  for (size_t n : {kMax, kMax + 1, size_t{200} * 1024, size_t{2} * 1024 * 1024}) {
    Snapshot before = Snapshot::Of(pool.get());
    EXPECT_EQ(nv_pool_alloc(pool.get(), n), nullptr) << n;
    ExpectErrorLogged("over max_size");
    nvtest::ExpectUnchanged(before, Snapshot::Of(pool.get()), 1);
    EXPECT_NE(nv_pool_extend(pool.get(), n), NV_OK);
    ExpectErrorLogged("extend over max_size");
    nvtest::ExpectUnchanged(before, Snapshot::Of(pool.get()), 1);
  }
  for (size_t i = 0; i < live.size(); i++) {
    EXPECT_TRUE(nvtest::AllAre(live[i].first, live[i].second, static_cast<unsigned char>(i & 0xFF)));
    EXPECT_EQ(nv_pool_free(pool.get(), live[i].first), NV_OK);
  }
  EXPECT_EQ(nv_pool_validate_count(pool.get()), 0u);
  // After freeing everything the same allocations fit again.
  void *p = nv_pool_alloc(pool.get(), 20000);
  EXPECT_NE(p, nullptr);
  EXPECT_EQ(nv_pool_free(pool.get(), p), NV_OK);
}

TEST_F(AllocTest, LargeRequestsPastMaxSizeAreRefusedUnchanged) {
  // Large allocations count against max_size too.
  const size_t kMax = 256 * 1024;
  PoolPtr pool = nvtest::Make(nvtest::Config(16 * 1024, kMax, 4096, 1));
  ASSERT_NE(pool, nullptr);
  std::vector<void *> large;
  for (;;) {
    Snapshot before = Snapshot::Of(pool.get());
    void *p = nv_pool_alloc(pool.get(), 70 * 1024);
    if (p == nullptr) {
      ExpectErrorLogged("large past max_size");
      nvtest::ExpectUnchanged(before, Snapshot::Of(pool.get()), 1);
      break;
    }
    ASSERT_LE(nv_pool_get_size(pool.get()), kMax);
    large.push_back(p);
    ASSERT_LT(large.size(), 10u);
  }
  EXPECT_EQ(large.size(), 3u) << "three 70 KiB allocations fit in 256 KiB with a 16 KiB block";
  for (void *p : large) EXPECT_EQ(nv_pool_free(pool.get(), p), NV_OK);
}

// ---- fixed pools ----------------------------------------------------------------

TEST_F(AllocTest, FixedPoolOnlyUsesItsBlocks) {
  CountingBackend backend;
  PoolPtr pool = nvtest::Make(nvtest::Config(32 * 1024, 0, 4096, 0, 0, 1, backend.backend()));
  ASSERT_NE(pool, nullptr);
  const size_t size0 = nv_pool_get_size(pool.get());
  const uint64_t calls0 = backend.alloc_calls();
  std::vector<void *> live;
  for (;;) {
    Snapshot before = Snapshot::Of(pool.get());
    void *p = nv_pool_alloc(pool.get(), 100);
    if (p == nullptr) {
      ExpectErrorLogged("fixed pool full");
      nvtest::ExpectUnchanged(before, Snapshot::Of(pool.get()), 1);
      break;
    }
    std::memset(p, 0x5A, 100);
    live.push_back(p);
    ASSERT_LT(live.size(), 400u);
  }
  EXPECT_GT(live.size(), 32u * 1024 / 256) << "a 32 KiB fixed pool holds many 100-byte chunks";
  EXPECT_EQ(nv_pool_get_size(pool.get()), size0);
  EXPECT_EQ(backend.alloc_calls(), calls0) << "a fixed pool never asks the backend";
  // Free everything: the same number fits again, still without the backend.
  const size_t first_round = live.size();
  for (void *p : live) EXPECT_EQ(nv_pool_free(pool.get(), p), NV_OK);
  live.clear();
  while (void *p = nv_pool_alloc(pool.get(), 100)) {
    live.push_back(p);
    ASSERT_LT(live.size(), 400u);
  }
  ExpectErrorLogged("fixed pool full again");
  EXPECT_EQ(live.size(), first_round);
  EXPECT_EQ(nv_pool_get_size(pool.get()), size0);
  for (void *p : live) EXPECT_EQ(nv_pool_free(pool.get(), p), NV_OK);
  EXPECT_EQ(backend.alloc_calls(), calls0);
}

TEST_F(AllocTest, FixedPoolServesLargeRequestsFromItsBlocks) {
  CountingBackend backend;
  PoolPtr pool = nvtest::Make(nvtest::Config(512 * 1024, 0, 4096, 0, 0, 1, backend.backend()));
  ASSERT_NE(pool, nullptr);
  const size_t size0 = nv_pool_get_size(pool.get());
  const uint64_t calls0 = backend.alloc_calls();
  void *a = nv_pool_alloc(pool.get(), 100 * 1024);
  ASSERT_NE(a, nullptr);
  void *b = nv_pool_align(pool.get(), 70 * 1024, 64 * 1024);
  ASSERT_NE(b, nullptr);
  EXPECT_TRUE(nvtest::Aligned(b, 64 * 1024));
  std::memset(a, 1, 100 * 1024);
  std::memset(b, 2, 70 * 1024);
  nv_pool_stats_t st;
  nv_pool_get_stats(pool.get(), &st);
  EXPECT_EQ(st.large_allocations, 0u);
  EXPECT_EQ(nv_pool_get_size(pool.get()), size0);
  EXPECT_EQ(backend.alloc_calls(), calls0);
  // More than the pool holds: refused.
  Snapshot before = Snapshot::Of(pool.get());
  EXPECT_EQ(nv_pool_alloc(pool.get(), 600 * 1024), nullptr);
  ExpectErrorLogged("fixed pool, request above its size");
  nvtest::ExpectUnchanged(before, Snapshot::Of(pool.get()), 1);
  EXPECT_EQ(nv_pool_free(pool.get(), a), NV_OK);
  EXPECT_EQ(nv_pool_free(pool.get(), b), NV_OK);
}

TEST_F(AllocTest, FixedPoolWithoutBlocksServesNothingUntilExtended) {
  CountingBackend backend;
  PoolPtr pool = nvtest::Make(nvtest::Config(0, 0, 4096, 0, 0, 1, backend.backend()));
  ASSERT_NE(pool, nullptr);
  EXPECT_EQ(nv_pool_is_full(pool.get()), 1);
  Snapshot before = Snapshot::Of(pool.get());
  EXPECT_EQ(before.stats.blocks, 0u);
  EXPECT_EQ(before.free, 0u);
  EXPECT_EQ(nv_pool_alloc(pool.get(), 1), nullptr);
  ExpectErrorLogged("fixed empty pool alloc");
  EXPECT_EQ(nv_pool_alloc(pool.get(), 0), nullptr);
  ExpectErrorLogged("fixed empty pool alloc(0)");
  EXPECT_EQ(nv_pool_align(pool.get(), 8, 64), nullptr);
  ExpectErrorLogged("fixed empty pool align");
  nvtest::ExpectUnchanged(before, Snapshot::Of(pool.get()), 3);
  ASSERT_EQ(nv_pool_extend(pool.get(), 4096), NV_OK);
  EXPECT_EQ(nv_pool_is_full(pool.get()), 0);
  EXPECT_GE(nv_pool_get_free(pool.get()), 4096u);
  void *p = nv_pool_alloc(pool.get(), 1);
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(nv_pool_get_size(pool.get()), backend.outstanding_bytes());
  EXPECT_EQ(nv_pool_free(pool.get(), p), NV_OK);
}

// ---- zero_clear ----------------------------------------------------------------

TEST_F(AllocTest, ZeroClearZeroesEveryByteHandedOut) {
  nv_pool_config_t config = nvtest::DefaultConfig();
  config.zero_clear = 1;
  PoolPtr pool = nvtest::Make(config);
  ASSERT_NE(pool, nullptr);
  for (size_t n : {1u, 15u, 16u, 17u, 100u, 1000u, 5000u, 70000u}) {
    SCOPED_TRACE(n);
    void *guard = nv_pool_alloc(pool.get(), 8);
    unsigned char *p = static_cast<unsigned char *>(nv_pool_alloc(pool.get(), n));
    void *guard2 = nv_pool_alloc(pool.get(), 8);
    ASSERT_NE(p, nullptr);
    EXPECT_EQ(nvtest::FirstNot(p, n, 0), n) << "fresh alloc";
    std::memset(p, 0xA5, n);
    ASSERT_EQ(nv_pool_free(pool.get(), p), NV_OK);
    // Reuse of the dirty chunk (exact size), and of it at other sizes.
    for (size_t m : {n, n / 2 + 1, n}) {
      unsigned char *q = static_cast<unsigned char *>(nv_pool_alloc(pool.get(), m));
      ASSERT_NE(q, nullptr);
      EXPECT_EQ(nvtest::FirstNot(q, m, 0), m) << "reused alloc(" << m << ") at " << (void *)q
                                              << " (freed " << (void *)p << ")";
      std::memset(q, 0xA5, m);
      ASSERT_EQ(nv_pool_free(pool.get(), q), NV_OK);
    }
    unsigned char *a = static_cast<unsigned char *>(nv_pool_align(pool.get(), n, 64));
    ASSERT_NE(a, nullptr);
    EXPECT_EQ(nvtest::FirstNot(a, n, 0), n) << "align after dirty free";
    std::memset(a, 0xA5, n);
    ASSERT_EQ(nv_pool_free(pool.get(), a), NV_OK);
    EXPECT_EQ(nv_pool_free(pool.get(), guard), NV_OK);
    EXPECT_EQ(nv_pool_free(pool.get(), guard2), NV_OK);
  }
  // After reset, the dirty space is handed out zeroed too.
  std::vector<unsigned char *> dirty;
  for (int i = 0; i < 20; i++) {
    auto *p = static_cast<unsigned char *>(nv_pool_alloc(pool.get(), 300));
    ASSERT_NE(p, nullptr);
    std::memset(p, 0xC3, 300);
  }
  nv_pool_reset(pool.get());
  for (int i = 0; i < 20; i++) {
    auto *p = static_cast<unsigned char *>(nv_pool_alloc(pool.get(), 300));
    ASSERT_NE(p, nullptr);
    EXPECT_EQ(nvtest::FirstNot(p, 300, 0), 300u) << "after reset, #" << i;
  }
  ExpectNoErrorLogged("zero_clear");
}

// A realloc that has to move takes half as much again as the old size, and
// keeps what the new size does not use as the chunk's reserve (recorded in
// its tag, on no list): the next growths stay in place, a shrink gives the
// reserve back, and a free takes it along. Only in pools without
// a cap (max_size 0): a capped pool must not refuse a request that fits.
TEST_F(AllocTest, AMovedReallocGrowsInPlaceIntoItsReserve) {
  nv_pool_config_t config = nvtest::DefaultConfig();
  config.max_size = 0;
  PoolPtr pool = nvtest::Make(config);
  ASSERT_NE(pool, nullptr);
  auto *p = static_cast<unsigned char *>(nv_pool_alloc(pool.get(), 100));
  void *blocker = nv_pool_alloc(pool.get(), 8);  // p is not the block's last chunk
  ASSERT_TRUE(p && blocker);
  nvtest::FillPattern(p, 100, 3);
  auto *q = static_cast<unsigned char *>(nv_pool_realloc(pool.get(), p, 120));
  ASSERT_NE(q, nullptr);
  ASSERT_NE(q, p) << "p could not grow in place";
  void *after = nv_pool_alloc(pool.get(), 8);  // q is not the last chunk either
  ASSERT_NE(after, nullptr);
  EXPECT_EQ(nv_pool_validate_count(pool.get()), 0u) << "chunk and reserve walk cleanly";
  const size_t free_with_reserve = nv_pool_get_free(pool.get());
  // 120 -> 150 (the reserve: 100 + 100 / 2) stays in place, in steps.
  for (size_t n : {121u, 128u, 149u, 150u}) {
    unsigned char *r = static_cast<unsigned char *>(nv_pool_realloc(pool.get(), q, n));
    ASSERT_EQ(r, q) << "grown to " << n << " within the reserve";
    EXPECT_EQ(nvtest::FirstPatternMismatch(r, 100, 3), 100u);
    EXPECT_EQ(nv_pool_get_used(pool.get()), 16u + n);
    EXPECT_EQ(nv_pool_validate_count(pool.get()), 0u) << n;
  }
  EXPECT_EQ(nv_pool_get_free(pool.get()), free_with_reserve) << "the reserve is not free space";
  // Shrinking gives the rest back as free space.
  ASSERT_EQ(nv_pool_realloc(pool.get(), q, 20), q);
  EXPECT_GT(nv_pool_get_free(pool.get()), free_with_reserve);
  EXPECT_EQ(nv_pool_validate_count(pool.get()), 0u);
  // A move with a reserve in a fresh pool (every chunk carved in order),
  // then a free: the freed chunk spans the reserve too, so a request of the
  // whole size takes it back.
  PoolPtr fresh = nvtest::Make(config);
  ASSERT_NE(fresh, nullptr);
  auto *m0 = static_cast<unsigned char *>(nv_pool_alloc(fresh.get(), 400));
  void *blocker2 = nv_pool_alloc(fresh.get(), 8);
  ASSERT_TRUE(m0 && blocker2);
  auto *m = static_cast<unsigned char *>(nv_pool_realloc(fresh.get(), m0, 500));  // up to 600
  ASSERT_NE(m, nullptr);
  ASSERT_NE(m, m0);
  void *blocker3 = nv_pool_alloc(fresh.get(), 8);
  ASSERT_NE(blocker3, nullptr);
  ASSERT_EQ(nv_pool_free(fresh.get(), m), NV_OK);
  EXPECT_EQ(nv_pool_validate_count(fresh.get()), 0u);
  EXPECT_EQ(nv_pool_alloc(fresh.get(), 600), m) << "chunk and reserve came back as one chunk";
  ExpectNoErrorLogged("reserve");
}

TEST_F(AllocTest, ZeroClearReallocGrownTailReadsZero) {
  nv_pool_config_t config = nvtest::DefaultConfig();
  config.zero_clear = 1;
  PoolPtr pool = nvtest::Make(config);
  ASSERT_NE(pool, nullptr);
  // In place: the last chunk of the block grows.
  unsigned char *p = static_cast<unsigned char *>(nv_pool_alloc(pool.get(), 64));
  ASSERT_NE(p, nullptr);
  std::memset(p, 0x77, 64);
  unsigned char *q = static_cast<unsigned char *>(nv_pool_realloc(pool.get(), p, 256));
  ASSERT_EQ(q, p) << "growing the last chunk of a block with room is in place";
  EXPECT_TRUE(nvtest::AllAre(q, 64, 0x77));
  EXPECT_EQ(nvtest::FirstNot(q + 64, 192, 0), 192u) << "in-place grown tail";
  // Shrink in place then grow back: the bytes cut off were dirty.
  std::memset(q, 0x77, 256);
  unsigned char *r = static_cast<unsigned char *>(nv_pool_realloc(pool.get(), q, 16));
  ASSERT_EQ(r, q) << "shrinking is in place";
  r = static_cast<unsigned char *>(nv_pool_realloc(pool.get(), r, 256));
  ASSERT_NE(r, nullptr);
  EXPECT_TRUE(nvtest::AllAre(r, 16, 0x77));
  EXPECT_EQ(nvtest::FirstNot(r + 16, 240, 0), 240u) << "regrown tail after shrink";
  // Moved: a chunk that is not last grows.
  std::memset(r, 0x77, 256);
  void *blocker = nv_pool_alloc(pool.get(), 32);
  ASSERT_NE(blocker, nullptr);
  unsigned char *s = static_cast<unsigned char *>(nv_pool_realloc(pool.get(), r, 3000));
  ASSERT_NE(s, nullptr);
  EXPECT_TRUE(nvtest::AllAre(s, 256, 0x77));
  EXPECT_EQ(nvtest::FirstNot(s + 256, 3000 - 256, 0), 3000u - 256) << "moved grown tail";
  // Grown into a dirty freed chunk: fill a 5000-byte chunk, free it, then
  // grow something into that size.
  std::memset(s, 0x77, 3000);
  void *d = nv_pool_alloc(pool.get(), 5000);
  ASSERT_NE(d, nullptr);
  void *blocker2 = nv_pool_alloc(pool.get(), 32);
  std::memset(d, 0x99, 5000);
  ASSERT_EQ(nv_pool_free(pool.get(), d), NV_OK);
  unsigned char *t = static_cast<unsigned char *>(nv_pool_realloc(pool.get(), s, 5000));
  ASSERT_NE(t, nullptr);
  EXPECT_TRUE(nvtest::AllAre(t, 3000, 0x77));
  EXPECT_EQ(nvtest::FirstNot(t + 3000, 2000, 0), 2000u) << "grown into dirty reused chunk";
  // Large.
  std::memset(t, 0x77, 5000);
  unsigned char *u = static_cast<unsigned char *>(nv_pool_realloc(pool.get(), t, 150000));
  ASSERT_NE(u, nullptr);
  EXPECT_TRUE(nvtest::AllAre(u, 5000, 0x77));
  EXPECT_EQ(nvtest::FirstNot(u + 5000, 145000, 0), 145000u) << "grown to large";
  std::memset(u, 0x77, 150000);
  u = static_cast<unsigned char *>(nv_pool_realloc(pool.get(), u, 100000));
  ASSERT_NE(u, nullptr);
  u = static_cast<unsigned char *>(nv_pool_realloc(pool.get(), u, 160000));
  ASSERT_NE(u, nullptr);
  EXPECT_TRUE(nvtest::AllAre(u, 100000, 0x77));
  EXPECT_EQ(nvtest::FirstNot(u + 100000, 60000, 0), 60000u) << "large shrunk then regrown";
  for (void *x : {static_cast<void *>(u), blocker, blocker2}) EXPECT_EQ(nv_pool_free(pool.get(), x), NV_OK);
  ExpectNoErrorLogged("zero_clear realloc");
}

// ---- realloc --------------------------------------------------------------------

TEST_F(AllocTest, ReallocOfNullIsAlloc) {
  PoolPtr pool(nv_pool_create_default());
  ASSERT_NE(pool, nullptr);
  void *p = nv_pool_realloc(pool.get(), nullptr, 100);
  ASSERT_NE(p, nullptr);
  EXPECT_TRUE(nvtest::Aligned(p, NV_POOL_ALIGNMENT));
  std::memset(p, 1, 100);
  EXPECT_EQ(nv_pool_get_used(pool.get()), 100u);
  nv_pool_stats_t st;
  nv_pool_get_stats(pool.get(), &st);
  EXPECT_EQ(st.allocations, 1u);
  EXPECT_EQ(st.reallocations, 0u);
  EXPECT_EQ(st.live_allocations, 1u);
  EXPECT_EQ(nv_pool_free(pool.get(), p), NV_OK);
  ExpectNoErrorLogged("realloc(NULL)");
}

TEST_F(AllocTest, ReallocToZeroFreesAndReturnsNull) {
  PoolPtr pool(nv_pool_create_default());
  ASSERT_NE(pool, nullptr);
  for (size_t n : {0u, 10u, 1000u, 100000u}) {
    void *p = nv_pool_alloc(pool.get(), n);
    ASSERT_NE(p, nullptr);
    Snapshot before = Snapshot::Of(pool.get());
    EXPECT_EQ(nv_pool_realloc(pool.get(), p, 0), nullptr);
    ExpectNoErrorLogged("realloc(p, 0)");
    Snapshot after = Snapshot::Of(pool.get());
    EXPECT_EQ(after.used, before.used - n);
    EXPECT_EQ(after.stats.live_allocations, before.stats.live_allocations - 1);
    EXPECT_EQ(after.stats.frees, before.stats.frees + 1);
    EXPECT_EQ(after.stats.failed_allocations, before.stats.failed_allocations) << "not a failure";
    EXPECT_EQ(nv_pool_free(pool.get(), p), NV_ERROR) << "p was freed by realloc(p, 0)";
    ExpectErrorLogged("free after realloc(p, 0)");
  }
  EXPECT_EQ(nv_pool_is_empty(pool.get()), 1);
  EXPECT_EQ(nv_pool_validate_count(pool.get()), 0u);
}

TEST_F(AllocTest, ReallocShrinksInPlace) {
  PoolPtr pool(nv_pool_create_default());
  ASSERT_NE(pool, nullptr);
  for (size_t n : {32u, 1000u, 9000u, 100000u}) {
    SCOPED_TRACE(n);
    void *before_chunk = nv_pool_alloc(pool.get(), 8);
    unsigned char *p = static_cast<unsigned char *>(nv_pool_alloc(pool.get(), n));
    void *after_chunk = nv_pool_alloc(pool.get(), 8);
    ASSERT_NE(p, nullptr);
    nvtest::FillPattern(p, n, 9);
    size_t used = nv_pool_get_used(pool.get());
    size_t current = n;
    for (size_t m : {n - 1, n / 2, n / 5, size_t{17}, size_t{1}}) {
      if (m >= current) continue;  // strictly shrinking steps only
      current = m;
      unsigned char *q = static_cast<unsigned char *>(nv_pool_realloc(pool.get(), p, m));
      ASSERT_EQ(q, p) << "shrink to " << m;
      EXPECT_EQ(nvtest::FirstPatternMismatch(q, m, 9), m);
      EXPECT_EQ(nv_pool_get_used(pool.get()), used - n + m);
    }
    EXPECT_EQ(nv_pool_free(pool.get(), p), NV_OK);
    EXPECT_EQ(nv_pool_free(pool.get(), before_chunk), NV_OK);
    EXPECT_EQ(nv_pool_free(pool.get(), after_chunk), NV_OK);
  }
  // An aligned chunk shrinks in place too.
  void *a = nv_pool_align(pool.get(), 500, 256);
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(nv_pool_realloc(pool.get(), a, 100), a);
  EXPECT_EQ(nv_pool_free(pool.get(), a), NV_OK);
  ExpectNoErrorLogged("shrink");
}

// Shrinking needs no memory, so it cannot fail: not even for a large
// allocation in a pool with no room left.
TEST_F(AllocTest, ShrinkingALargeAllocationInAFullPoolSucceedsInPlace) {
  const size_t kMax = 160 * 1024;
  PoolPtr pool = nvtest::Make(nvtest::Config(16 * 1024, kMax, 4096, 1));
  ASSERT_NE(pool, nullptr);
  unsigned char *big = static_cast<unsigned char *>(nv_pool_alloc(pool.get(), 120 * 1024));
  ASSERT_NE(big, nullptr);
  nvtest::FillPattern(big, 120 * 1024, 2);
  // Use up the rest of the budget.
  while (nv_pool_alloc(pool.get(), 512) != nullptr) {
  }
  log_.Clear();
  for (size_t n : {size_t{50000}, size_t{20000}, size_t{100}}) {
    SCOPED_TRACE(n);
    unsigned char *q = static_cast<unsigned char *>(nv_pool_realloc(pool.get(), big, n));
    ASSERT_NE(q, nullptr) << "a shrinking realloc failed";
    EXPECT_EQ(q, big) << "shrinking is in place";
    EXPECT_EQ(nvtest::FirstPatternMismatch(q, n, 2), n);
    big = q;
  }
  ExpectNoErrorLogged("shrinking");
}

TEST_F(AllocTest, ReallocGrowsTheLastChunkOfABlockInPlace) {
  PoolPtr pool(nv_pool_create_default());
  ASSERT_NE(pool, nullptr);
  void *first = nv_pool_alloc(pool.get(), 40);
  ASSERT_NE(first, nullptr);
  unsigned char *p = static_cast<unsigned char *>(nv_pool_alloc(pool.get(), 64));
  ASSERT_NE(p, nullptr);
  nvtest::FillPattern(p, 64, 4);
  size_t size = nv_pool_get_size(pool.get());
  for (size_t n : {65u, 100u, 1000u, 4000u}) {
    unsigned char *q = static_cast<unsigned char *>(nv_pool_realloc(pool.get(), p, n));
    ASSERT_EQ(q, p) << "grow to " << n;
    EXPECT_EQ(nvtest::FirstPatternMismatch(q, 64, 4), 64u);
    EXPECT_EQ(nv_pool_get_used(pool.get()), 40 + n);
  }
  EXPECT_EQ(nv_pool_get_size(pool.get()), size) << "grown inside the 16 KiB block";
  nv_pool_stats_t st;
  nv_pool_get_stats(pool.get(), &st);
  EXPECT_EQ(st.reallocations, 4u);
  EXPECT_EQ(st.allocations, 2u);
  EXPECT_EQ(nv_pool_free(pool.get(), p), NV_OK);
  EXPECT_EQ(nv_pool_free(pool.get(), first), NV_OK);
  ExpectNoErrorLogged("grow in place");
}

TEST_F(AllocTest, ReallocThatMovesKeepsContentsAndReleasesTheOld) {
  PoolPtr pool(nv_pool_create_default());
  ASSERT_NE(pool, nullptr);
  const size_t steps[] = {100, 1000, 3000, 20000, 90000, 300000};
  unsigned char *p = static_cast<unsigned char *>(nv_pool_alloc(pool.get(), 50));
  ASSERT_NE(p, nullptr);
  nvtest::FillPattern(p, 50, 5);
  size_t old = 50;
  for (size_t n : steps) {
    SCOPED_TRACE(n);
    unsigned char *blocker = static_cast<unsigned char *>(nv_pool_alloc(pool.get(), 16));
    ASSERT_NE(blocker, nullptr);
    std::memset(blocker, 0xBB, 16);
    nv_pool_stats_t before;
    nv_pool_get_stats(pool.get(), &before);
    unsigned char *q = static_cast<unsigned char *>(nv_pool_realloc(pool.get(), p, n));
    ASSERT_NE(q, nullptr);
    EXPECT_TRUE(nvtest::Aligned(q, NV_POOL_ALIGNMENT));
    EXPECT_EQ(nvtest::FirstPatternMismatch(q, old, 5), old) << "contents lost";
    EXPECT_TRUE(nvtest::AllAre(blocker, 16, 0xBB)) << "neighbour changed";
    nv_pool_stats_t after;
    nv_pool_get_stats(pool.get(), &after);
    EXPECT_EQ(after.used, before.used - old + n);
    EXPECT_EQ(after.live_allocations, before.live_allocations);
    EXPECT_EQ(after.reallocations, before.reallocations + 1);
    EXPECT_EQ(after.allocations, before.allocations) << "a moving realloc is not an allocation";
    EXPECT_EQ(after.frees, before.frees) << "a moving realloc is not a free";
    if (q != p) {
      EXPECT_EQ(nv_pool_free(pool.get(), p), NV_ERROR) << "old pointer still live after a move";
      ExpectErrorLogged("free of the moved-from pointer");
    }
    nvtest::FillPattern(q, n, 5);
    p = q;
    old = n;
    EXPECT_EQ(nv_pool_free(pool.get(), blocker), NV_OK);
  }
  // An over-aligned chunk moved by realloc: contents kept, 16-aligned.
  unsigned char *a = static_cast<unsigned char *>(nv_pool_align(pool.get(), 100, 1024));
  ASSERT_NE(a, nullptr);
  void *blocker = nv_pool_alloc(pool.get(), 16);
  nvtest::FillPattern(a, 100, 6);
  unsigned char *b = static_cast<unsigned char *>(nv_pool_realloc(pool.get(), a, 5000));
  ASSERT_NE(b, nullptr);
  EXPECT_TRUE(nvtest::Aligned(b, NV_POOL_ALIGNMENT));
  EXPECT_EQ(nvtest::FirstPatternMismatch(b, 100, 6), 100u);
  for (void *x : {static_cast<void *>(b), static_cast<void *>(p), blocker})
    EXPECT_EQ(nv_pool_free(pool.get(), x), NV_OK);
  EXPECT_EQ(nv_pool_is_empty(pool.get()), 1);
  EXPECT_EQ(nv_pool_validate_count(pool.get()), 0u);
}

TEST_F(AllocTest, ReallocFailureKeepsPValidAndUnchanged) {
  // Refused by max_size, by a full fixed pool, and by the backend.
  CountingBackend backend;
  struct Case {
    const char *name;
    nv_pool_config_t config;
    size_t grow_to;
  };
  Case cases[] = {
      {"max_size", nvtest::Config(16 * 1024, 128 * 1024, 4096, 1, 0, 1, backend.backend()), 200 * 1024},
      {"fixed full", nvtest::Config(16 * 1024, 0, 4096, 0, 0, 1, backend.backend()), 12 * 1024},
      {"backend", nvtest::Config(16 * 1024, 0, 4096, 1, 0, 1, backend.backend()), 40 * 1024},
  };
  for (Case &c : cases) {
    SCOPED_TRACE(c.name);
    PoolPtr pool = nvtest::Make(c.config);
    ASSERT_NE(pool, nullptr);
    unsigned char *p = static_cast<unsigned char *>(nv_pool_alloc(pool.get(), 2000));
    ASSERT_NE(p, nullptr);
    void *blocker = nv_pool_alloc(pool.get(), 5000);  // p cannot grow in place
    ASSERT_NE(blocker, nullptr);
    nvtest::FillPattern(p, 2000, 8);
    if (std::string(c.name) == "backend") backend.FailAll();
    Snapshot before = Snapshot::Of(pool.get());
    EXPECT_EQ(nv_pool_realloc(pool.get(), p, c.grow_to), nullptr);
    ExpectErrorLogged("realloc failure");
    backend.Heal();
    nvtest::ExpectUnchanged(before, Snapshot::Of(pool.get()), 1);
    EXPECT_EQ(nvtest::FirstPatternMismatch(p, 2000, 8), 2000u);
    EXPECT_EQ(nv_pool_validate_count(pool.get()), 0u);
    // p is still live: it can be shrunk, grown a little and freed.
    unsigned char *q = static_cast<unsigned char *>(nv_pool_realloc(pool.get(), p, 1000));
    ASSERT_EQ(q, p);
    EXPECT_EQ(nvtest::FirstPatternMismatch(q, 1000, 8), 1000u);
    EXPECT_EQ(nv_pool_free(pool.get(), q), NV_OK);
    EXPECT_EQ(nv_pool_free(pool.get(), blocker), NV_OK);
  }
  EXPECT_EQ(backend.outstanding_bytes(), 0u);
}

TEST_F(AllocTest, ReallocOfAForeignPointerGivesNullAndChangesNothing) {
  PoolPtr pool(nv_pool_create_default());
  PoolPtr other(nv_pool_create_default());
  ASSERT_NE(pool, nullptr);
  ASSERT_NE(other, nullptr);
  unsigned char *mine = static_cast<unsigned char *>(nv_pool_alloc(pool.get(), 64));
  unsigned char *theirs = static_cast<unsigned char *>(nv_pool_alloc(other.get(), 64));
  unsigned char *freed = static_cast<unsigned char *>(nv_pool_alloc(pool.get(), 64));
  void *big = nv_pool_alloc(pool.get(), 100 * 1024);
  ASSERT_TRUE(mine && theirs && freed && big);
  nvtest::FillPattern(mine, 64, 1);
  nvtest::FillPattern(theirs, 64, 2);
  ASSERT_EQ(nv_pool_free(pool.get(), freed), NV_OK);
  unsigned char *heap = static_cast<unsigned char *>(std::malloc(64));
  ASSERT_NE(heap, nullptr);
  std::memset(heap, 0x42, 64);
  alignas(16) unsigned char stack[64];
  std::memset(stack, 0x43, sizeof stack);

  Snapshot before = Snapshot::Of(pool.get());
  Snapshot other_before = Snapshot::Of(other.get());
  // 8, 16, 32, 40: the chunk prefix of some build (release, hardened,
  // leak-check), so the chunk address would be null (UBSan: pointer
  // overflow) if the pool formed it before checking the pointer.
  void *foreign[] = {theirs, heap, stack, freed, mine + 16, mine + 1,
                     static_cast<unsigned char *>(big) + 4096, static_cast<void *>(pool.get()),
                     reinterpret_cast<void *>(uintptr_t{8}), reinterpret_cast<void *>(uintptr_t{16}),
                     reinterpret_cast<void *>(uintptr_t{32}), reinterpret_cast<void *>(uintptr_t{40})};
  for (void *f : foreign) {
    SCOPED_TRACE(f);
    EXPECT_EQ(nv_pool_realloc(pool.get(), f, 128), nullptr);
    ExpectErrorLogged("realloc of a foreign pointer");
    Snapshot after = Snapshot::Of(pool.get());
    EXPECT_EQ(after.size, before.size);
    EXPECT_EQ(after.used, before.used);
    EXPECT_EQ(after.free, before.free);
    EXPECT_EQ(after.stats.live_allocations, before.stats.live_allocations);
    EXPECT_EQ(after.stats.reallocations, before.stats.reallocations);
    EXPECT_EQ(after.stats.allocations, before.stats.allocations);
    EXPECT_EQ(after.stats.frees, before.stats.frees);
  }
  nvtest::ExpectUnchanged(other_before, Snapshot::Of(other.get()));
  EXPECT_TRUE(nvtest::AllAre(heap, 64, 0x42));
  EXPECT_TRUE(nvtest::AllAre(stack, 64, 0x43));
  EXPECT_EQ(nvtest::FirstPatternMismatch(mine, 64, 1), 64u);
  EXPECT_EQ(nvtest::FirstPatternMismatch(theirs, 64, 2), 64u);
  EXPECT_EQ(nv_pool_validate_count(pool.get()), 0u);
  EXPECT_EQ(nv_pool_validate_count(other.get()), 0u);
  std::free(heap);
  EXPECT_EQ(nv_pool_free(pool.get(), mine), NV_OK);
  EXPECT_EQ(nv_pool_free(pool.get(), big), NV_OK);
  EXPECT_EQ(nv_pool_free(other.get(), theirs), NV_OK);
}

// ---- large allocations -----------------------------------------------------------

// The largest request that still goes into a block, per build, as docs/api.md
// ("Large requests") lists it: the chunk (prefix, size, least back redzone)
// fills 64 KiB exactly; one byte more is a large allocation.
TEST_F(AllocTest, TheLargestBlockRequestIsTheDocumentedOne) {
  const bool hardened = nv_pool_hardening_enabled() != 0;
  const bool sites = nv_pool_leakcheck_enabled() != 0;
  const size_t documented = sites ? (hardened ? 65488 : 65504) : (hardened ? 65512 : 65528);
  PoolPtr pool = nvtest::Make(nvtest::Config(16 * 1024, 0, 4096, 1, 0, 1));
  ASSERT_NE(pool, nullptr);
  nv_pool_stats_t st;
  void *in_block = nv_pool_alloc(pool.get(), documented);
  ASSERT_NE(in_block, nullptr);
  nv_pool_get_stats(pool.get(), &st);
  EXPECT_EQ(st.large_allocations, 0u) << documented << " bytes go into a block";
  void *large = nv_pool_alloc(pool.get(), documented + 1);
  ASSERT_NE(large, nullptr);
  nv_pool_get_stats(pool.get(), &st);
  EXPECT_EQ(st.large_allocations, 1u) << documented + 1 << " bytes are a large allocation";
  EXPECT_EQ(nv_pool_free(pool.get(), large), NV_OK);
  EXPECT_EQ(nv_pool_free(pool.get(), in_block), NV_OK);
}

TEST_F(AllocTest, LargeRequestsAreOwnAllocationsReturnedWhenFreed) {
  CountingBackend backend;
  PoolPtr pool = nvtest::Make(nvtest::Config(16 * 1024, 0, 4096, 1, 0, 1, backend.backend()));
  ASSERT_NE(pool, nullptr);
  const size_t size0 = nv_pool_get_size(pool.get());
  // Just below the threshold: from a block (perhaps a new one).
  void *small = nv_pool_alloc(pool.get(), 1000);
  ASSERT_NE(small, nullptr);
  nv_pool_stats_t st;
  std::vector<void *> large;
  for (size_t n : {size_t{NV_POOL_LARGE_THRESHOLD} + 1, size_t{100} * 1024, size_t{3} * 1024 * 1024}) {
    size_t size_before = nv_pool_get_size(pool.get());
    void *p = nv_pool_alloc(pool.get(), n);
    ASSERT_NE(p, nullptr) << n;
    std::memset(p, 0x31, n);
    EXPECT_GE(nv_pool_get_size(pool.get()), size_before + n);
    EXPECT_EQ(nv_pool_get_size(pool.get()), backend.outstanding_bytes());
    large.push_back(p);
  }
  nv_pool_get_stats(pool.get(), &st);
  EXPECT_EQ(st.large_allocations, 3u);
  EXPECT_EQ(st.used, 1000 + NV_POOL_LARGE_THRESHOLD + 1 + 100 * 1024 + 3 * 1024 * 1024);
  size_t size_with = nv_pool_get_size(pool.get());
  size_t released = backend.release_calls();
  EXPECT_EQ(nv_pool_free(pool.get(), large[1]), NV_OK);
  EXPECT_GT(backend.release_calls(), released) << "freed large memory goes back at once";
  EXPECT_LE(nv_pool_get_size(pool.get()), size_with - 100 * 1024);
  EXPECT_EQ(nv_pool_get_size(pool.get()), backend.outstanding_bytes());
  nv_pool_get_stats(pool.get(), &st);
  EXPECT_EQ(st.large_allocations, 2u);
  EXPECT_EQ(nv_pool_free(pool.get(), large[0]), NV_OK);
  EXPECT_EQ(nv_pool_free(pool.get(), large[2]), NV_OK);
  EXPECT_EQ(nv_pool_free(pool.get(), small), NV_OK);
  nv_pool_get_stats(pool.get(), &st);
  EXPECT_EQ(st.large_allocations, 0u);
  EXPECT_LE(nv_pool_get_size(pool.get()), size0 + 64 * 1024) << "only blocks remain";
  ExpectNoErrorLogged("large allocations");
}

}  // namespace
