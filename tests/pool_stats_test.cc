// nv_pool: statistics, print_stats and dump (contract §7), and the error
// log lines of every refused call.
#include <nv_pool.h>

#include "tests/pool_test_util.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <string>
#include <vector>

namespace {

using nvtest::PoolPtr;
using nvtest::PoolTest;
using nvtest::Snapshot;

class StatsTest : public PoolTest {};

// The gauges agree with the queries and with each other.
void ExpectGaugesConsistent(nv_pool_t *pool) {
  nv_pool_stats_t st;
  nv_pool_get_stats(pool, &st);
  EXPECT_EQ(st.size, nv_pool_get_size(pool));
  EXPECT_EQ(st.used, nv_pool_get_used(pool));
  EXPECT_EQ(st.free, nv_pool_get_free(pool));
  EXPECT_LE(st.used + st.free, st.size);
  EXPECT_EQ(st.overhead, st.size - st.used - st.free) << "overhead = held - requested - free";
  EXPECT_GE(st.fragmentation, 0.0);
  EXPECT_LE(st.fragmentation, 1.0);
  if (st.free == 0) {
    EXPECT_EQ(st.fragmentation, 0.0);
  }
  EXPECT_EQ(st.live_allocations == 0, nv_pool_is_empty(pool) == 1);
}

// Runs the same sequence of calls; returns the expected counters.
struct Expected {
  uint64_t allocations = 0, frees = 0, reallocations = 0, resets = 0, failed = 0;
  size_t peak = 0;
};

Expected RunSequence(nv_pool_t *pool, nvtest::LogCapture &log) {
  Expected e;
  void *a = nv_pool_alloc(pool, 10);           // +alloc
  void *b = nv_pool_calloc(pool, 2, 8);        // +alloc
  void *c = nv_pool_align(pool, 5, 64);        // +alloc
  void *d = nv_pool_align_array(pool, 3, 4, 16);  // +alloc
  void *f = nv_pool_realloc(pool, nullptr, 7);  // +alloc
  void *g = nv_pool_alloc(pool, 0);             // +alloc
  auto *h = nv_pool_alloc_type(pool, double);   // +alloc
  int *i = nv_pool_alloc_array(pool, int, 25);  // +alloc
  void *big = nv_pool_alloc(pool, 100 * 1024);  // +alloc (large)
  e.allocations = 9;
  EXPECT_TRUE(a && b && c && d && f && g && h && i && big);
  e.peak = 10 + 16 + 5 + 12 + 7 + 0 + sizeof(double) + 100 + 100 * 1024;
  EXPECT_EQ(nv_pool_free(pool, big), NV_OK);  // +free
  a = nv_pool_realloc(pool, a, 100);           // +realloc
  a = nv_pool_realloc(pool, a, 20);            // +realloc
  e.reallocations = 2;
  EXPECT_EQ(nv_pool_realloc(pool, f, 0), nullptr);  // +free
  EXPECT_EQ(nv_pool_free(pool, b), NV_OK);          // +free
  EXPECT_EQ(nv_pool_free(pool, nullptr), NV_OK);    // not counted
  e.frees = 3;
  log.Clear();
  EXPECT_EQ(nv_pool_free(pool, b), NV_ERROR);  // not counted
  EXPECT_EQ(nv_pool_alloc(pool, SIZE_MAX), nullptr);                   // +failed
  EXPECT_EQ(nv_pool_calloc(pool, SIZE_MAX, 4), nullptr);               // +failed
  EXPECT_EQ(nv_pool_align(pool, 8, 3), nullptr);                       // +failed
  EXPECT_EQ(nv_pool_align_array(pool, SIZE_MAX, 8, 8), nullptr);       // +failed
  EXPECT_EQ(nv_pool_realloc(pool, c, SIZE_MAX - 8), nullptr);          // +failed
  EXPECT_EQ(nv_pool_alloc(pool, 2 * 1024 * 1024), nullptr);            // +failed (max_size)
  EXPECT_EQ(nv_pool_realloc(pool, nullptr, SIZE_MAX), nullptr);        // +failed
  e.failed = 7;
  EXPECT_GE(log.TakeErrors(), 8u);
  nv_pool_reset(pool);  // +reset
  nv_pool_reset(pool);  // +reset
  e.resets = 2;
  return e;
}

TEST_F(StatsTest, CountersFollowEveryCallWithStatsOn) {
  PoolPtr pool(nv_pool_create_default());
  ASSERT_NE(pool, nullptr);
  nv_pool_stats_t st;
  nv_pool_get_stats(pool.get(), &st);
  EXPECT_EQ(st.allocations, 0u);
  EXPECT_EQ(st.frees, 0u);
  EXPECT_EQ(st.reallocations, 0u);
  EXPECT_EQ(st.resets, 0u);
  EXPECT_EQ(st.failed_allocations, 0u);
  EXPECT_EQ(st.peak_used, 0u);
  EXPECT_EQ(st.live_allocations, 0u);
  EXPECT_EQ(st.large_allocations, 0u);
  EXPECT_EQ(st.blocks, 1u);
  EXPECT_EQ(st.fragmentation, 0.0) << "a fresh pool has one free extent";
  ExpectGaugesConsistent(pool.get());

  Expected e = RunSequence(pool.get(), log_);
  nv_pool_get_stats(pool.get(), &st);
  EXPECT_EQ(st.allocations, e.allocations);
  EXPECT_EQ(st.frees, e.frees);
  EXPECT_EQ(st.reallocations, e.reallocations);
  EXPECT_EQ(st.resets, e.resets);
  EXPECT_EQ(st.failed_allocations, e.failed);
  EXPECT_EQ(st.peak_used, e.peak);
  EXPECT_EQ(st.used, 0u);
  ExpectGaugesConsistent(pool.get());
}

TEST_F(StatsTest, CountersStayZeroWithStatsOffWhileGaugesWork) {
  nv_pool_config_t config = nvtest::DefaultConfig();
  config.enable_stats = 0;
  PoolPtr pool = nvtest::Make(config);
  ASSERT_NE(pool, nullptr);
  void *keep = nv_pool_alloc(pool.get(), 123);
  void *big = nv_pool_alloc(pool.get(), 80 * 1024);
  ASSERT_TRUE(keep && big);
  nv_pool_stats_t st;
  nv_pool_get_stats(pool.get(), &st);
  EXPECT_EQ(st.used, 123u + 80 * 1024);
  EXPECT_EQ(st.live_allocations, 2u);
  EXPECT_EQ(st.large_allocations, 1u);
  EXPECT_GE(st.blocks, 1u);
  EXPECT_EQ(st.allocations, 0u);
  ExpectGaugesConsistent(pool.get());
  EXPECT_EQ(nv_pool_free(pool.get(), keep), NV_OK);
  EXPECT_EQ(nv_pool_free(pool.get(), big), NV_OK);

  RunSequence(pool.get(), log_);
  void *p = nv_pool_alloc(pool.get(), 77);
  nv_pool_get_stats(pool.get(), &st);
  EXPECT_EQ(st.allocations, 0u);
  EXPECT_EQ(st.frees, 0u);
  EXPECT_EQ(st.reallocations, 0u);
  EXPECT_EQ(st.resets, 0u);
  EXPECT_EQ(st.failed_allocations, 0u);
  EXPECT_EQ(st.used, 77u);
  EXPECT_EQ(st.live_allocations, 1u);
  EXPECT_EQ(st.large_allocations, 0u);
  ExpectGaugesConsistent(pool.get());
  EXPECT_EQ(nv_pool_free(pool.get(), p), NV_OK);
}

TEST_F(StatsTest, PeakUsedAndResetStats) {
  PoolPtr pool(nv_pool_create_default());
  ASSERT_NE(pool, nullptr);
  void *a = nv_pool_alloc(pool.get(), 1000);
  void *b = nv_pool_alloc(pool.get(), 5000);
  void *c = nv_pool_alloc(pool.get(), 70000);
  ASSERT_TRUE(a && b && c);
  EXPECT_EQ(nv_pool_free(pool.get(), c), NV_OK);
  EXPECT_EQ(nv_pool_free(pool.get(), b), NV_OK);
  EXPECT_EQ(nv_pool_alloc(pool.get(), SIZE_MAX), nullptr);
  log_.Clear();
  nv_pool_stats_t st;
  nv_pool_get_stats(pool.get(), &st);
  EXPECT_EQ(st.peak_used, 76000u);
  EXPECT_EQ(st.used, 1000u);

  Snapshot before = Snapshot::Of(pool.get());
  nv_pool_reset_stats(pool.get());
  Snapshot after = Snapshot::Of(pool.get());
  EXPECT_EQ(after.stats.allocations, 0u);
  EXPECT_EQ(after.stats.frees, 0u);
  EXPECT_EQ(after.stats.reallocations, 0u);
  EXPECT_EQ(after.stats.resets, 0u);
  EXPECT_EQ(after.stats.failed_allocations, 0u);
  EXPECT_EQ(after.stats.peak_used, 1000u) << "peak = current use";
  // Gauges untouched.
  EXPECT_EQ(after.size, before.size);
  EXPECT_EQ(after.used, before.used);
  EXPECT_EQ(after.free, before.free);
  EXPECT_EQ(after.stats.live_allocations, before.stats.live_allocations);
  EXPECT_EQ(after.stats.blocks, before.stats.blocks);
  EXPECT_EQ(after.stats.large_allocations, before.stats.large_allocations);
  EXPECT_EQ(after.stats.overhead, before.stats.overhead);
  EXPECT_EQ(after.stats.fragmentation, before.stats.fragmentation);

  // Counting restarts; the peak follows new highs only.
  void *d = nv_pool_alloc(pool.get(), 500);
  nv_pool_get_stats(pool.get(), &st);
  EXPECT_EQ(st.allocations, 1u);
  EXPECT_EQ(st.peak_used, 1500u);
  EXPECT_EQ(nv_pool_free(pool.get(), d), NV_OK);
  nv_pool_get_stats(pool.get(), &st);
  EXPECT_EQ(st.peak_used, 1500u);
  EXPECT_EQ(st.frees, 1u);
  // After reset: used 0, the peak stays until reset_stats.
  nv_pool_reset(pool.get());
  nv_pool_get_stats(pool.get(), &st);
  EXPECT_EQ(st.peak_used, 1500u);
  EXPECT_EQ(st.resets, 1u);
  nv_pool_reset_stats(pool.get());
  nv_pool_get_stats(pool.get(), &st);
  EXPECT_EQ(st.peak_used, 0u);
  EXPECT_EQ(st.resets, 0u);
  ExpectNoErrorLogged("stats");
}

TEST_F(StatsTest, BlocksLargeAllocationsAndFragmentation) {
  nv_pool_config_t config = nvtest::Config(0, 0, 4096, 1);
  PoolPtr pool = nvtest::Make(config);
  ASSERT_NE(pool, nullptr);
  nv_pool_stats_t st;
  nv_pool_get_stats(pool.get(), &st);
  EXPECT_EQ(st.blocks, 0u) << "initial_size 0: no block until first use";
  EXPECT_EQ(st.free, 0u);
  EXPECT_EQ(st.fragmentation, 0.0);
  EXPECT_GT(st.size, 0u);
  std::vector<void *> v;
  for (int i = 0; i < 8; i++) v.push_back(nv_pool_alloc(pool.get(), 256));
  nv_pool_get_stats(pool.get(), &st);
  EXPECT_EQ(st.blocks, 1u);
  EXPECT_EQ(st.fragmentation, 0.0) << "only the block's tail is free";
  // Holes separated by live chunks: free space outside the largest extent.
  EXPECT_EQ(nv_pool_free(pool.get(), v[1]), NV_OK);
  EXPECT_EQ(nv_pool_free(pool.get(), v[3]), NV_OK);
  EXPECT_EQ(nv_pool_free(pool.get(), v[5]), NV_OK);
  nv_pool_get_stats(pool.get(), &st);
  EXPECT_GT(st.fragmentation, 0.0);
  EXPECT_LT(st.fragmentation, 1.0);
  ExpectGaugesConsistent(pool.get());
  void *l1 = nv_pool_alloc(pool.get(), 65 * 1024);
  void *l2 = nv_pool_alloc(pool.get(), 300 * 1024);
  nv_pool_get_stats(pool.get(), &st);
  EXPECT_EQ(st.large_allocations, 2u);
  EXPECT_EQ(st.blocks, 1u) << "large allocations are not blocks";
  EXPECT_GE(st.size, 365u * 1024);
  ExpectGaugesConsistent(pool.get());
  ASSERT_EQ(nv_pool_extend(pool.get(), 10000), NV_OK);
  nv_pool_get_stats(pool.get(), &st);
  EXPECT_EQ(st.blocks, 2u);
  EXPECT_EQ(nv_pool_free(pool.get(), l1), NV_OK);
  EXPECT_EQ(nv_pool_free(pool.get(), l2), NV_OK);
  nv_pool_get_stats(pool.get(), &st);
  EXPECT_EQ(st.large_allocations, 0u);
  ExpectGaugesConsistent(pool.get());
  ExpectNoErrorLogged("blocks/large");
}

std::string ReadAll(FILE *f) {
  std::fflush(f);
  std::rewind(f);
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) out.append(buf, n);
  return out;
}

TEST_F(StatsTest, PrintStatsAndDumpWriteSensibleText) {
  nv_pool_config_t config = nvtest::DefaultConfig();
  config.name = "stats-test-pool";
  PoolPtr pool = nvtest::Make(config);
  ASSERT_NE(pool, nullptr);
  void *a = nv_pool_alloc(pool.get(), 12345);
  void *big = nv_pool_alloc(pool.get(), 98765);
  ASSERT_TRUE(a && big);
  const std::string used = std::to_string(nv_pool_get_used(pool.get()));  // 111110

  FILE *f = std::tmpfile();
  ASSERT_NE(f, nullptr);
  nv_pool_print_stats_to(pool.get(), f);
  std::string stats = ReadAll(f);
  std::fclose(f);
  EXPECT_NE(stats.find(used), std::string::npos) << "print_stats lacks used=" << used << ":\n" << stats;
  EXPECT_NE(stats.find(std::to_string(nv_pool_get_size(pool.get()))), std::string::npos)
      << "print_stats lacks the size:\n" << stats;
  EXPECT_NE(stats.find('\n'), std::string::npos);

  f = std::tmpfile();
  ASSERT_NE(f, nullptr);
  nv_pool_dump_to(pool.get(), f);
  std::string dump = ReadAll(f);
  std::fclose(f);
  EXPECT_NE(dump.find("stats-test-pool"), std::string::npos) << "dump lacks the pool name:\n" << dump;
  EXPECT_NE(dump.find("98765"), std::string::npos) << "dump lacks the large allocation:\n" << dump;
  size_t lines = 0;
  for (char ch : dump) lines += ch == '\n';
  EXPECT_GE(lines, 2u) << "blocks and the large allocation";

  // The stdout variants write the same kind of text.
  ::testing::internal::CaptureStdout();
  nv_pool_print_stats(pool.get());
  std::string out = ::testing::internal::GetCapturedStdout();
  EXPECT_NE(out.find(used), std::string::npos) << out;
  ::testing::internal::CaptureStdout();
  nv_pool_dump(pool.get());
  out = ::testing::internal::GetCapturedStdout();
  EXPECT_NE(out.find("stats-test-pool"), std::string::npos) << out;

  // leak_report lists the live allocations.
  f = std::tmpfile();
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(nv_pool_leak_report(pool.get(), f), 2u);
  std::string leaks = ReadAll(f);
  std::fclose(f);
  EXPECT_NE(leaks.find("12345"), std::string::npos) << leaks;
  EXPECT_EQ(nv_pool_free(pool.get(), a), NV_OK);
  EXPECT_EQ(nv_pool_free(pool.get(), big), NV_OK);
  ExpectNoErrorLogged("print/dump");
}

// Every refused call logs an error line; the line names the function or the
// pool. A success path logs none (checked by the fixture throughout).
TEST_F(StatsTest, EveryRefusalLogsAnErrorLine) {
  nv_pool_config_t config = nvtest::Config(16 * 1024, 256 * 1024, 4096, 1);
  config.name = "log-pool";
  PoolPtr pool = nvtest::Make(config);
  ASSERT_NE(pool, nullptr);
  void *p = nv_pool_alloc(pool.get(), 64);
  ASSERT_NE(p, nullptr);
  int local;
  auto check = [&](const char *what, bool refused) {
    SCOPED_TRACE(what);
    EXPECT_TRUE(refused);
    EXPECT_GE(log_.Errors(), 1u) << "no error line";
    std::string text = log_.ErrorText();
    EXPECT_TRUE(text.find("nv_pool") != std::string::npos || text.find("log-pool") != std::string::npos)
        << "the line names neither the function nor the pool: " << text;
    log_.Clear();
  };
  check("alloc SIZE_MAX", nv_pool_alloc(pool.get(), SIZE_MAX) == nullptr);
  check("alloc past max_size", nv_pool_alloc(pool.get(), 300 * 1024) == nullptr);
  check("calloc overflow", nv_pool_calloc(pool.get(), SIZE_MAX, 2) == nullptr);
  check("align bad alignment", nv_pool_align(pool.get(), 8, 24) == nullptr);
  check("align_array overflow", nv_pool_align_array(pool.get(), SIZE_MAX, 2, 16) == nullptr);
  check("realloc foreign", nv_pool_realloc(pool.get(), &local, 8) == nullptr);
  check("realloc too big", nv_pool_realloc(pool.get(), p, 1024 * 1024) == nullptr);
  check("free foreign", nv_pool_free(pool.get(), &local) == NV_ERROR);
  check("free interior", nv_pool_free(pool.get(), static_cast<char *>(p) + 16) == NV_ERROR);
  check("extend 0", nv_pool_extend(pool.get(), 0) == NV_ERROR);
  check("extend past max_size", nv_pool_extend(pool.get(), 1024 * 1024) == NV_ERROR);
  EXPECT_EQ(nv_pool_free(pool.get(), p), NV_OK);
  check("double free", nv_pool_free(pool.get(), p) == NV_ERROR);
  nv_pool_config_t bad = nvtest::Config(2 * 1024 * 1024, 1024 * 1024, 4096, 1);
  check("create with initial_size > max_size", nv_pool_create(&bad) == nullptr);
}

}  // namespace
