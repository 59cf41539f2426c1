// nv_pool: the surface (contract §1), configuration (§2), NULL pools (§7),
// independence of distinct pools and threads (§9).
#include <nv_pool.h>

#include "tests/pool_test_util.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <set>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

namespace {

using nvtest::CountingBackend;
using nvtest::PoolPtr;
using nvtest::PoolTest;
using nvtest::Snapshot;

// ---- §1: names, signatures, codes -----------------------------------------

template <class T, class = void>
struct IsComplete : std::false_type {};
template <class T>
struct IsComplete<T, std::void_t<decltype(sizeof(T))>> : std::true_type {};

// `&name` is not followed by '(' so the leak-check macros do not interfere.
#define NV_EXPECT_SIGNATURE(name, type) \
  static_assert(std::is_same<decltype(&name), type>::value, #name " has the wrong signature")

NV_EXPECT_SIGNATURE(nv_pool_create, nv_pool_t *(*)(const nv_pool_config_t *));
NV_EXPECT_SIGNATURE(nv_pool_create_default, nv_pool_t *(*)(void));
NV_EXPECT_SIGNATURE(nv_pool_destroy, void (*)(nv_pool_t *));
NV_EXPECT_SIGNATURE(nv_pool_alloc, void *(*)(nv_pool_t *, size_t));
NV_EXPECT_SIGNATURE(nv_pool_calloc, void *(*)(nv_pool_t *, size_t, size_t));
NV_EXPECT_SIGNATURE(nv_pool_realloc, void *(*)(nv_pool_t *, void *, size_t));
NV_EXPECT_SIGNATURE(nv_pool_align, void *(*)(nv_pool_t *, size_t, size_t));
NV_EXPECT_SIGNATURE(nv_pool_free, int (*)(nv_pool_t *, void *));
NV_EXPECT_SIGNATURE(nv_pool_reset, void (*)(nv_pool_t *));
NV_EXPECT_SIGNATURE(nv_pool_extend, int (*)(nv_pool_t *, size_t));
NV_EXPECT_SIGNATURE(nv_pool_shrink, int (*)(nv_pool_t *, size_t));
NV_EXPECT_SIGNATURE(nv_pool_compact, int (*)(nv_pool_t *));
NV_EXPECT_SIGNATURE(nv_pool_get_size, size_t (*)(nv_pool_t *));
NV_EXPECT_SIGNATURE(nv_pool_get_used, size_t (*)(nv_pool_t *));
NV_EXPECT_SIGNATURE(nv_pool_get_free, size_t (*)(nv_pool_t *));
NV_EXPECT_SIGNATURE(nv_pool_is_empty, int (*)(nv_pool_t *));
NV_EXPECT_SIGNATURE(nv_pool_is_full, int (*)(nv_pool_t *));
NV_EXPECT_SIGNATURE(nv_pool_get_stats, void (*)(nv_pool_t *, nv_pool_stats_t *));
NV_EXPECT_SIGNATURE(nv_pool_reset_stats, void (*)(nv_pool_t *));
NV_EXPECT_SIGNATURE(nv_pool_print_stats, void (*)(nv_pool_t *));
NV_EXPECT_SIGNATURE(nv_pool_dump, void (*)(nv_pool_t *));
NV_EXPECT_SIGNATURE(nv_pool_validate, void (*)(nv_pool_t *));

static_assert(!IsComplete<nv_pool_t>::value, "nv_pool_t must be opaque to users");
static_assert(std::is_same<decltype(nv_pool_config_t::initial_size), size_t>::value, "");
static_assert(std::is_same<decltype(nv_pool_config_t::max_size), size_t>::value, "");
static_assert(std::is_same<decltype(nv_pool_config_t::min_size), size_t>::value, "");
static_assert(std::is_same<decltype(nv_pool_config_t::auto_extend), int>::value, "");
static_assert(std::is_same<decltype(nv_pool_config_t::zero_clear), int>::value, "");
static_assert(std::is_same<decltype(nv_pool_config_t::enable_stats), int>::value, "");
static_assert(NV_POOL_ALIGNMENT == alignof(std::max_align_t), "16 on x86-64");

TEST(PoolSurface, ReturnCodesAreZeroAndDistinctNegatives) {
  EXPECT_EQ(NV_OK, 0);
  std::set<int> seen;
  for (int code : {NV_ERROR, NV_ENOMEM}) {
    EXPECT_LT(code, 0);
    EXPECT_TRUE(seen.insert(code).second) << code;
  }
}

TEST(PoolSurface, DefaultConfigMacroHasTheDesignValues) {
  nv_pool_config_t c = NV_POOL_CONFIG_DEFAULT;
  EXPECT_EQ(c.initial_size, 16u * 1024);
  EXPECT_EQ(c.max_size, 1024u * 1024);
  EXPECT_EQ(c.min_size, 4u * 1024);
  EXPECT_EQ(c.auto_extend, 1);
  EXPECT_EQ(c.zero_clear, 0);
  EXPECT_EQ(c.enable_stats, 1);
  // Added fields default to zero/NULL.
  EXPECT_EQ(c.backend, nullptr);
  EXPECT_EQ(c.passthrough, 0);
  EXPECT_EQ(c.name, nullptr);
}

TEST(PoolSurface, OneIncludeGivesTheLogger) {
  nvtest::LogCapture log;
  nv_log_error("from %s", "the test");  // declared through <nv_pool.h>
  ASSERT_EQ(log.Errors(), 1u);
  EXPECT_EQ(log.Lines()[0].text, "from the test");
}

// ---- §2: configuration ----------------------------------------------------

class PoolConfigTest : public PoolTest {
 protected:
  // Creating from `config` fails with NULL, a log line naming `field`, and
  // nothing left with the backend.
  void ExpectRejected(nv_pool_config_t config, const char *field) {
    SCOPED_TRACE(field);
    CountingBackend backend;
    config.backend = backend.backend();
    nv_pool_t *pool = nv_pool_create(&config);
    EXPECT_EQ(pool, nullptr);
    nv_pool_destroy(pool);
    EXPECT_EQ(backend.outstanding_count(), 0u) << "create leaked";
    EXPECT_GE(log_.Errors(), 1u) << "no log line";
    EXPECT_NE(log_.ErrorText().find(field), std::string::npos)
        << "the log does not name " << field << ":\n" << log_.ErrorText();
    log_.Clear();
  }
};

TEST_F(PoolConfigTest, InitialSizeAboveMaxSizeIsRejected) {
  ExpectRejected(nvtest::Config(2 * 1024 * 1024, 1024 * 1024, 4096, 1), "initial_size");
  ExpectRejected(nvtest::Config(64 * 1024 + 1, 64 * 1024, 4096, 0), "initial_size");
}

TEST_F(PoolConfigTest, MinSizeAboveMaxSizeIsRejected) {
  ExpectRejected(nvtest::Config(0, 64 * 1024, 128 * 1024, 1), "min_size");
  ExpectRejected(nvtest::Config(4096, 64 * 1024, 64 * 1024 + 1, 1), "min_size");
}

TEST_F(PoolConfigTest, SizesWhoseRoundingOverflowsAreRejected) {
  for (size_t bad : {SIZE_MAX, SIZE_MAX - 1, SIZE_MAX - 15, SIZE_MAX - 16, SIZE_MAX - 64}) {
    ExpectRejected(nvtest::Config(bad, 0, 4096, 1), "initial_size");
    ExpectRejected(nvtest::Config(bad, 0, 4096, 0), "initial_size");
    ExpectRejected(nvtest::Config(0, 0, bad, 1), "min_size");
  }
}

TEST_F(PoolConfigTest, LimitCasesAreAccepted) {
  CountingBackend backend;
  // initial_size == max_size: allowed; the pool stays within max_size.
  {
    nv_pool_config_t c = nvtest::Config(64 * 1024, 64 * 1024, 4096, 1, 0, 1, backend.backend());
    PoolPtr pool = nvtest::Make(c);
    ASSERT_NE(pool, nullptr);
    EXPECT_LE(nv_pool_get_size(pool.get()), c.max_size);
    EXPECT_EQ(nv_pool_get_size(pool.get()), backend.outstanding_bytes());
    void *p = nv_pool_alloc(pool.get(), 1000);
    EXPECT_NE(p, nullptr);
  }
  // min_size == max_size, everything zero, fixed with nothing.
  for (nv_pool_config_t c : {nvtest::Config(0, 64 * 1024, 64 * 1024, 1),
                             nvtest::Config(0, 0, 0, 0), nvtest::Config(0, 0, 0, 1)}) {
    c.backend = backend.backend();
    PoolPtr pool = nvtest::Make(c);
    EXPECT_NE(pool, nullptr);
    EXPECT_GT(nv_pool_get_size(pool.get()), 0u) << "the pool's own struct is counted";
  }
  EXPECT_EQ(backend.outstanding_bytes(), 0u);
  ExpectNoErrorLogged("valid configs");
}

TEST_F(PoolConfigTest, SixFieldConfigWorksAsInTheDesignDocument) {
  nv_pool_config_t config = {};
  config.initial_size = 64 * 1024;
  config.max_size = 10 * 1024 * 1024;
  config.min_size = 8 * 1024;
  config.auto_extend = 1;
  config.zero_clear = 1;
  config.enable_stats = 1;
  PoolPtr pool = nvtest::Make(config);
  ASSERT_NE(pool, nullptr);
  unsigned char *p = static_cast<unsigned char *>(nv_pool_alloc(pool.get(), 300));
  ASSERT_NE(p, nullptr);
  EXPECT_TRUE(nvtest::AllAre(p, 300, 0));
  EXPECT_EQ(nv_pool_free(pool.get(), p), NV_OK);
  ExpectNoErrorLogged("six-field config");
}

TEST_F(PoolConfigTest, ExplicitMallocBackendWorks) {
  nv_pool_config_t config = nvtest::DefaultConfig();
  config.backend = &nv_pool_backend_malloc;
  config.name = "explicit-malloc";
  PoolPtr pool = nvtest::Make(config);
  ASSERT_NE(pool, nullptr);
  void *p = nv_pool_alloc(pool.get(), 100 * 1024);  // large
  ASSERT_NE(p, nullptr);
  std::memset(p, 1, 100 * 1024);
  EXPECT_EQ(nv_pool_free(pool.get(), p), NV_OK);
  EXPECT_EQ(nv_pool_validate_count(pool.get()), 0u);
}

// The library's passthrough option (an added field): every allocation is its
// own backend allocation, with the same API behaviour.
TEST_F(PoolConfigTest, PassthroughKeepsTheApiBehaviour) {
  CountingBackend backend;
  {
    nv_pool_config_t config = nvtest::Config(16 * 1024, 0, 4096, 1, 0, 1, backend.backend());
    config.passthrough = 1;
    PoolPtr pool = nvtest::Make(config);
    ASSERT_NE(pool, nullptr);
    std::vector<std::pair<unsigned char *, size_t>> live;
    for (size_t n : {0u, 1u, 100u, 5000u, 100000u}) {
      uint64_t before = backend.successful_allocs();
      auto *p = static_cast<unsigned char *>(nv_pool_alloc(pool.get(), n));
      ASSERT_NE(p, nullptr);
      EXPECT_GE(backend.successful_allocs(), before + 1) << "own backend allocation";
      EXPECT_TRUE(nvtest::Aligned(p, NV_POOL_ALIGNMENT));
      nvtest::FillPattern(p, n, static_cast<unsigned>(n));
      live.push_back({p, n});
      EXPECT_EQ(nv_pool_get_size(pool.get()), backend.outstanding_bytes());
    }
    auto *a = static_cast<unsigned char *>(nv_pool_align(pool.get(), 64, 4096));
    ASSERT_NE(a, nullptr);
    EXPECT_TRUE(nvtest::Aligned(a, 4096));
    EXPECT_EQ(nv_pool_get_used(pool.get()), 0u + 1 + 100 + 5000 + 100000 + 64);
    auto *r = static_cast<unsigned char *>(nv_pool_realloc(pool.get(), live[2].first, 3000));
    ASSERT_NE(r, nullptr);
    EXPECT_EQ(nvtest::FirstPatternMismatch(r, 100, 100), 100u);
    if (r != live[2].first) {
      EXPECT_EQ(nv_pool_free(pool.get(), live[2].first), NV_ERROR);
      ExpectErrorLogged("passthrough: moved-from pointer");
    }
    live[2] = {r, 3000};
    EXPECT_EQ(nv_pool_free(pool.get(), live[3].first + 16), NV_ERROR);
    ExpectErrorLogged("passthrough: interior pointer");
    EXPECT_EQ(nv_pool_free(pool.get(), a), NV_OK);
    EXPECT_EQ(nv_pool_free(pool.get(), a), NV_ERROR);
    ExpectErrorLogged("passthrough: double free");
    EXPECT_EQ(nvtest::FirstPatternMismatch(live[4].first, 100000, 100000), 100000u);
    EXPECT_EQ(nv_pool_validate_count(pool.get()), 0u);
    nv_pool_reset(pool.get());
    EXPECT_EQ(nv_pool_is_empty(pool.get()), 1);
    EXPECT_EQ(nv_pool_free(pool.get(), live[1].first), NV_ERROR);
    ExpectErrorLogged("passthrough: stale pointer");
    EXPECT_EQ(nv_pool_get_size(pool.get()), backend.outstanding_bytes());
    void *p = nv_pool_alloc(pool.get(), 10);  // left for destroy
    EXPECT_NE(p, nullptr);
  }
  EXPECT_EQ(backend.outstanding_count(), 0u);
  EXPECT_EQ(backend.errors().size(), 0u);
}

// The three ways to get the default pool behave identically, and behave as
// NV_POOL_CONFIG_DEFAULT says: stats on, auto-extend, 1 MiB cap.
TEST_F(PoolConfigTest, CreateNullIsTheDefaultConfig) {
  nv_pool_config_t def = NV_POOL_CONFIG_DEFAULT;
  PoolPtr pools[3] = {PoolPtr(nv_pool_create(nullptr)), PoolPtr(nv_pool_create_default()),
                      PoolPtr(nv_pool_create(&def))};
  for (auto &p : pools) ASSERT_NE(p, nullptr);
  for (int i = 1; i < 3; i++) {
    EXPECT_EQ(nv_pool_get_size(pools[i].get()), nv_pool_get_size(pools[0].get()));
    EXPECT_EQ(nv_pool_get_free(pools[i].get()), nv_pool_get_free(pools[0].get()));
  }
  std::vector<size_t> sizes[3];
  size_t counts[3] = {0, 0, 0};
  for (int i = 0; i < 3; i++) {
    nv_pool_t *pool = pools[i].get();
    nv_pool_stats_t st;
    nv_pool_get_stats(pool, &st);
    EXPECT_EQ(st.blocks, 1u) << "16 KiB initial block";
    EXPECT_GE(st.free, 8u * 1024);
    EXPECT_LE(st.size, 64u * 1024);
    // 1 KiB at a time until refused: auto-extends well past 16 KiB and stops
    // at the 1 MiB cap.
    while (nv_pool_alloc(pool, 1024) != nullptr) {
      counts[i]++;
      sizes[i].push_back(nv_pool_get_size(pool));
      ASSERT_LE(nv_pool_get_size(pool), 1024u * 1024);
      ASSERT_LT(counts[i], 2000u);
    }
    log_.Clear();  // the refusal's line
    EXPECT_GT(counts[i], 600u);
    EXPECT_GT(nv_pool_get_size(pool), 900u * 1024);
    nv_pool_get_stats(pool, &st);
    EXPECT_EQ(st.allocations, counts[i]) << "stats are on";
    EXPECT_EQ(st.failed_allocations, 1u);
    EXPECT_GT(st.blocks, 1u) << "auto-extend is on";
  }
  EXPECT_EQ(counts[1], counts[0]);
  EXPECT_EQ(counts[2], counts[0]);
  EXPECT_EQ(sizes[1], sizes[0]);
  EXPECT_EQ(sizes[2], sizes[0]);
}

// ---- §7: every function on a NULL pool ------------------------------------

TEST_F(PoolTest, NullPoolQueriesReturnZeroAndNothingCrashes) {
  EXPECT_EQ(nv_pool_get_size(nullptr), 0u);
  EXPECT_EQ(nv_pool_get_used(nullptr), 0u);
  EXPECT_EQ(nv_pool_get_free(nullptr), 0u);
  EXPECT_EQ(nv_pool_is_empty(nullptr), 0);
  EXPECT_EQ(nv_pool_is_full(nullptr), 0);
  log_.Clear();  // queries may or may not log

  nv_pool_stats_t st;
  std::memset(&st, 0xAB, sizeof st);
  nv_pool_get_stats(nullptr, &st);
  nv_pool_stats_t zero;
  std::memset(&zero, 0, sizeof zero);
  EXPECT_EQ(std::memcmp(&st, &zero, sizeof st), 0) << "stats of a NULL pool are zeroed";

  nv_pool_destroy(nullptr);
  nv_pool_reset(nullptr);
  nv_pool_reset_stats(nullptr);
  nv_pool_get_stats(nullptr, nullptr);
  ::testing::internal::CaptureStdout();
  nv_pool_print_stats(nullptr);
  nv_pool_dump(nullptr);
  ::testing::internal::GetCapturedStdout();
  FILE *f = std::tmpfile();
  ASSERT_NE(f, nullptr);
  nv_pool_print_stats_to(nullptr, f);
  nv_pool_dump_to(nullptr, f);
  EXPECT_EQ(nv_pool_leak_report(nullptr, f), 0u);
  std::fclose(f);
  EXPECT_EQ(nv_pool_validate_count(nullptr), 1u);
  log_.Clear();

  int local = 0;
  EXPECT_EQ(nv_pool_alloc(nullptr, 16), nullptr);
  ExpectErrorLogged("alloc(NULL pool)");
  EXPECT_EQ(nv_pool_calloc(nullptr, 2, 8), nullptr);
  ExpectErrorLogged("calloc(NULL pool)");
  EXPECT_EQ(nv_pool_realloc(nullptr, nullptr, 16), nullptr);
  ExpectErrorLogged("realloc(NULL pool)");
  EXPECT_EQ(nv_pool_realloc(nullptr, &local, 16), nullptr);
  ExpectErrorLogged("realloc(NULL pool, p)");
  EXPECT_EQ(nv_pool_align(nullptr, 16, 64), nullptr);
  ExpectErrorLogged("align(NULL pool)");
  EXPECT_EQ(nv_pool_align_array(nullptr, 4, 4, 16), nullptr);
  ExpectErrorLogged("align_array(NULL pool)");
  EXPECT_EQ(nv_pool_alloc_type(nullptr, double), nullptr);
  ExpectErrorLogged("alloc_type(NULL pool)");
  EXPECT_EQ(nv_pool_alloc_array(nullptr, int, 10), nullptr);
  ExpectErrorLogged("alloc_array(NULL pool)");
  EXPECT_EQ(nv_pool_free(nullptr, &local), NV_ERROR);
  ExpectErrorLogged("free(NULL pool)");
  EXPECT_EQ(nv_pool_extend(nullptr, 4096), NV_ERROR);
  ExpectErrorLogged("extend(NULL pool)");
  EXPECT_EQ(nv_pool_shrink(nullptr, 4096), NV_ERROR);
  ExpectErrorLogged("shrink(NULL pool)");
  EXPECT_EQ(nv_pool_compact(nullptr), NV_ERROR);
  ExpectErrorLogged("compact(NULL pool)");
}

// ---- independence ---------------------------------------------------------

TEST_F(PoolTest, DistinctPoolsAreIndependent) {
  PoolPtr a(nv_pool_create_default());
  PoolPtr b(nv_pool_create_default());
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  Snapshot b0 = Snapshot::Of(b.get());

  std::vector<void *> in_a;
  for (size_t i = 0; i < 50; i++) {
    void *p = nv_pool_alloc(a.get(), 100 + i * 37);
    ASSERT_NE(p, nullptr);
    std::memset(p, 0xA0, 100 + i * 37);
    in_a.push_back(p);
  }
  void *large_a = nv_pool_alloc(a.get(), 100 * 1024);
  ASSERT_NE(large_a, nullptr);
  nvtest::ExpectUnchanged(b0, Snapshot::Of(b.get()));

  unsigned char *pb = static_cast<unsigned char *>(nv_pool_alloc(b.get(), 256));
  ASSERT_NE(pb, nullptr);
  nvtest::FillPattern(pb, 256, 7);
  Snapshot a1 = Snapshot::Of(a.get());
  Snapshot b1 = Snapshot::Of(b.get());

  // A's pointers are foreign to B and the other way round.
  EXPECT_EQ(nv_pool_free(b.get(), in_a[3]), NV_ERROR);
  ExpectErrorLogged("free of a's pointer in b");
  EXPECT_EQ(nv_pool_free(b.get(), large_a), NV_ERROR);
  ExpectErrorLogged("free of a's large pointer in b");
  EXPECT_EQ(nv_pool_realloc(b.get(), in_a[4], 10), nullptr);
  ExpectErrorLogged("realloc of a's pointer in b");
  EXPECT_EQ(nv_pool_free(a.get(), pb), NV_ERROR);
  ExpectErrorLogged("free of b's pointer in a");
  nvtest::ExpectUnchanged(a1, Snapshot::Of(a.get()));
  Snapshot b2 = Snapshot::Of(b.get());
  EXPECT_EQ(b2.size, b1.size);
  EXPECT_EQ(b2.used, b1.used);
  EXPECT_EQ(b2.stats.live_allocations, b1.stats.live_allocations);

  // Reset and destroy of A leave B's data alone.
  nv_pool_reset(a.get());
  EXPECT_EQ(nvtest::FirstPatternMismatch(pb, 256, 7), 256u);
  EXPECT_EQ(nv_pool_get_used(b.get()), 256u);
  a.reset();
  EXPECT_EQ(nvtest::FirstPatternMismatch(pb, 256, 7), 256u);
  EXPECT_EQ(nv_pool_validate_count(b.get()), 0u);
  EXPECT_EQ(nv_pool_free(b.get(), pb), NV_OK);
  EXPECT_EQ(nv_pool_is_empty(b.get()), 1);
}

// §9: distinct pools used from distinct threads at the same time, no lock.
TEST(PoolThreads, DistinctPoolsInDistinctThreads) {
  const int kThreads = 4;
  const size_t kSteps = nvtest::Iterations(40000, 4000);
  std::atomic<int> failures{0};
  std::atomic<int> ready{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; t++) {
    threads.emplace_back([t, kSteps, &failures, &ready]() {
      nv_pool_config_t c = nvtest::Config(8 * 1024, 0, 4096, 1);
      nv_pool_t *pool = nv_pool_create(&c);
      if (pool == nullptr) {
        failures++;
        return;
      }
      ready++;
      while (ready.load() < kThreads) std::this_thread::yield();
      std::vector<std::pair<unsigned char *, size_t>> live;
      uint64_t x = 0x9E3779B97F4A7C15ull * static_cast<uint64_t>(t + 1);
      for (size_t i = 0; i < kSteps; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        if (live.size() < 64 && (x & 1)) {
          size_t n = (x >> 8) % 600;
          auto *p = static_cast<unsigned char *>(nv_pool_alloc(pool, n));
          if (p == nullptr) {
            failures++;
            break;
          }
          nvtest::Fill(p, n, static_cast<unsigned char>(t + 1));
          live.push_back({p, n});
        } else if (!live.empty()) {
          size_t k = (x >> 20) % live.size();
          if (!nvtest::AllAre(live[k].first, live[k].second, static_cast<unsigned char>(t + 1)))
            failures++;
          if (nv_pool_free(pool, live[k].first) != NV_OK) failures++;
          live[k] = live.back();
          live.pop_back();
        }
      }
      size_t expected_used = 0;
      for (auto &l : live) expected_used += l.second;
      if (nv_pool_get_used(pool) != expected_used) failures++;
      if (nv_pool_validate_count(pool) != 0) failures++;
      nv_pool_destroy(pool);
    });
  }
  for (auto &th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
}

// §9: a pool created with the thread-safe option is shared by several
// threads at once.
TEST(PoolThreads, ThreadSafePoolSharedByThreads) {
  nvtest::CorruptionTrap trap;
  nv_pool_config_t c = nvtest::Config(16 * 1024, 0, 4096, 1);
  c.thread_safe = 1;
  PoolPtr pool = nvtest::Make(c);
  ASSERT_NE(pool, nullptr);
  const int kThreads = 4;
  const size_t kSteps = nvtest::Iterations(30000, 3000);
  std::atomic<int> failures{0};
  std::vector<size_t> used_by(kThreads, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; t++) {
    threads.emplace_back([t, kSteps, &failures, &used_by, &pool]() {
      nv_pool_t *p = pool.get();
      const unsigned char mark = static_cast<unsigned char>(0x10 + t);
      std::vector<std::pair<unsigned char *, size_t>> live;
      uint64_t x = 0xD1B54A32D192ED03ull * static_cast<uint64_t>(t + 1);
      for (size_t i = 0; i < kSteps; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        unsigned op = static_cast<unsigned>(x % 8);
        if (live.size() < 48 && op < 4) {
          size_t n = (x >> 8) % (op == 3 ? 90000 : 700);
          auto *q = static_cast<unsigned char *>(op == 2 ? nv_pool_align(p, n, 64)
                                                         : nv_pool_alloc(p, n));
          if (q == nullptr) {
            failures++;
            break;
          }
          nvtest::Fill(q, n, mark);
          live.push_back({q, n});
        } else if (!live.empty() && op == 4) {
          size_t k = (x >> 20) % live.size();
          size_t n = (x >> 30) % 3000 + 1;
          auto *q = static_cast<unsigned char *>(nv_pool_realloc(p, live[k].first, n));
          if (q == nullptr || !nvtest::AllAre(q, std::min(n, live[k].second), mark)) {
            failures++;
            break;
          }
          nvtest::Fill(q, n, mark);
          live[k] = {q, n};
        } else if (!live.empty()) {
          size_t k = (x >> 20) % live.size();
          if (!nvtest::AllAre(live[k].first, live[k].second, mark)) failures++;
          if (nv_pool_free(p, live[k].first) != NV_OK) failures++;
          live[k] = live.back();
          live.pop_back();
        }
        if (i % 256 == 0) {
          nv_pool_stats_t st;
          nv_pool_get_stats(p, &st);
          if (st.used + st.free > st.size) failures++;
        }
      }
      size_t sum = 0;
      for (auto &l : live) {
        if (!nvtest::AllAre(l.first, l.second, mark)) failures++;
        sum += l.second;
      }
      used_by[static_cast<size_t>(t)] = sum;
    });
  }
  for (auto &th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
  size_t total = 0;
  for (size_t u : used_by) total += u;
  EXPECT_EQ(nv_pool_get_used(pool.get()), total);
  EXPECT_EQ(nv_pool_validate_count(pool.get()), 0u);
  EXPECT_EQ(trap.Count(), 0u) << trap.Text();
}

}  // namespace
