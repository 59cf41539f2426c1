// MMU guard-page backends: nv_pool_backend_guard_pages (each backend
// allocation ends at the end of its pages) and nv_pool_backend_guard_pages_front
// (each starts at the start of its pages), both with an inaccessible page on
// each side.
//
//   GuardLayout.*     where the pool's memory lands (checked against
//                     /proc/self/maps: the neighbouring pages are ---p)
//   GuardPool.*       a pool on either backend works like any pool
//                     (alloc, calloc, align, realloc across sizes, free,
//                     reset, fixed pools, passthrough; validate_count 0)
//   GuardDeathTest.*  one death test per guarded overflow and underflow:
//                     the access faults (SIGSEGV) at exactly the first
//                     byte past the page-rounded end, or the last byte
//                     before the start. A SIGSEGV handler prints the fault
//                     address relative to the expected one, so the regex
//                     checks the byte, not just the signal.
//
// Every pointer the death tests touch is derived from what the API hands
// out: a large allocation's user pointer (+ its size, rounded up to the
// page), a chunk of a block whose size we chose, the pool pointer itself.
//
// Builds: the faults come from the MMU, so they happen in every config. In
// --config=valgrind the death-test child is re-executed outside Valgrind
// (tools/valgrind_test.sh sets the threadsafe style), so it faults natively;
// under ASan the user handler runs (ASan's own SEGV handler yields to a
// handler installed by the program), and the pool's guard pages are outside
// ASan's shadow poisoning, so the store reaches the MMU.
#include <nv_pool.h>

#include <gtest/gtest.h>

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "pool_test_util.h"

namespace {

using nvtest::PoolPtr;

size_t Page() { return static_cast<size_t>(sysconf(_SC_PAGESIZE)); }

uintptr_t UpToPage(const void *p) {
  uintptr_t a = reinterpret_cast<uintptr_t>(p);
  return (a + Page() - 1) & ~static_cast<uintptr_t>(Page() - 1);
}
uintptr_t DownToPage(const void *p) {
  return reinterpret_cast<uintptr_t>(p) & ~static_cast<uintptr_t>(Page() - 1);
}

// Protection of the mapping holding `address`, as /proc/self/maps spells it
// ("rw-p", "---p"), or "unmapped".
std::string ProtectionAt(uintptr_t address) {
  std::ifstream maps("/proc/self/maps");
  std::string line;
  while (std::getline(maps, line)) {
    std::istringstream in(line);
    std::string range, perms;
    in >> range >> perms;
    size_t dash = range.find('-');
    if (dash == std::string::npos) continue;
    uintptr_t lo = std::stoull(range.substr(0, dash), nullptr, 16);
    uintptr_t hi = std::stoull(range.substr(dash + 1), nullptr, 16);
    if (address >= lo && address < hi) return perms;
  }
  return "unmapped";
}

size_t Round16(size_t n) { return (n + 15) & ~size_t{15}; }

nv_pool_config_t GuardConfig(const nv_pool_backend_t *backend, size_t initial = 16 * 1024) {
  nv_pool_config_t config = NV_POOL_CONFIG_DEFAULT;
  config.backend = backend;
  config.max_size = 0;
  config.initial_size = initial;
  config.name = "guarded";
  return config;
}

// ---- layout ---------------------------------------------------------------

TEST(GuardLayout, LargeAllocationEndsAtItsPageEnd) {
  nvtest::CorruptionTrap trap;
  nv_pool_config_t config = GuardConfig(&nv_pool_backend_guard_pages);
  PoolPtr pool = nvtest::Make(config);
  ASSERT_NE(pool, nullptr);
  for (size_t n : {size_t{65 * 1024}, size_t{100000}, size_t{100001}, size_t{1} << 20,
                   size_t{300007}}) {
    auto *p = static_cast<unsigned char *>(nv_pool_alloc(pool.get(), n));
    ASSERT_NE(p, nullptr) << n;
    nvtest::Fill(p, n, 0x5A);
    uintptr_t end = UpToPage(p + n);
    // Between the caller's last byte and the guard page: the rounding to 16
    // bytes, then (hardened) a large chunk's back redzone of 16 bytes.
    EXPECT_EQ(end - reinterpret_cast<uintptr_t>(p + n),
              Round16(n) - n + (nv_pool_hardening_enabled() ? 16 : 0))
        << n;
    EXPECT_EQ(ProtectionAt(end), "---p") << n;
    EXPECT_EQ(ProtectionAt(end - 1).substr(0, 2), "rw") << n;
    EXPECT_EQ(nv_pool_free(pool.get(), p), NV_OK);
  }
  EXPECT_EQ(nv_pool_validate_count(pool.get()), 0u);
  EXPECT_EQ(trap.Count(), 0u) << trap.Text();
}

TEST(GuardLayout, FrontPlacementStartsAtAPageStart) {
  nvtest::CorruptionTrap trap;
  nv_pool_config_t config = GuardConfig(&nv_pool_backend_guard_pages_front);
  PoolPtr pool = nvtest::Make(config);
  ASSERT_NE(pool, nullptr);
  // The pool struct itself is the backend's first allocation.
  EXPECT_EQ(DownToPage(pool.get()), reinterpret_cast<uintptr_t>(pool.get()));
  EXPECT_EQ(ProtectionAt(reinterpret_cast<uintptr_t>(pool.get()) - 1), "---p");
  for (size_t n : {size_t{65 * 1024}, size_t{100000}, size_t{1} << 20}) {
    auto *p = static_cast<unsigned char *>(nv_pool_alloc(pool.get(), n));
    ASSERT_NE(p, nullptr) << n;
    nvtest::Fill(p, n, 0x5A);
    uintptr_t start = DownToPage(p);
    // The large node, the chunk header and the front redzone come first.
    EXPECT_LT(reinterpret_cast<uintptr_t>(p) - start, size_t{256}) << n;
    EXPECT_EQ(ProtectionAt(start - 1), "---p") << n;
    EXPECT_EQ(ProtectionAt(start).substr(0, 2), "rw") << n;
    EXPECT_EQ(nv_pool_free(pool.get(), p), NV_OK);
  }
  EXPECT_EQ(trap.Count(), 0u) << trap.Text();
}

// A block whose size is a whole number of pages has a guard page at both
// ends whichever placement the backend uses.
TEST(GuardLayout, WholePageBlockIsGuardedAtBothEnds) {
  for (const nv_pool_backend_t *backend :
       {&nv_pool_backend_guard_pages, &nv_pool_backend_guard_pages_front}) {
    nv_pool_config_t config = GuardConfig(backend, Page());
    config.auto_extend = 0;
    PoolPtr pool = nvtest::Make(config);
    ASSERT_NE(pool, nullptr);
    void *p = nv_pool_alloc(pool.get(), 16);
    ASSERT_NE(p, nullptr);
    EXPECT_EQ(ProtectionAt(DownToPage(p) - 1), "---p");
    EXPECT_EQ(ProtectionAt(UpToPage(p)), "---p");
    EXPECT_EQ(nv_pool_free(pool.get(), p), NV_OK);
  }
}

// ---- pools on the guard backends work like any pool ----------------------

class GuardPool : public nvtest::PoolTest,
                  public ::testing::WithParamInterface<const nv_pool_backend_t *> {};

TEST_P(GuardPool, AllocFreeReallocResetDestroy) {
  nv_pool_config_t config = GuardConfig(GetParam());
  PoolPtr pool = nvtest::Make(config);
  ASSERT_NE(pool, nullptr);
  struct Live {
    unsigned char *p;
    size_t n;
    unsigned seed;
  };
  std::vector<Live> live;
  unsigned seed = 1;
  const size_t sizes[] = {0, 1, 15, 16, 17, 100, 1000, 4095, 4096, 4097, 20000,
                          65536, 65537, 100000, 300000};
  for (int round = 0; round < 3; round++) {
    for (size_t n : sizes) {
      auto *p = static_cast<unsigned char *>(nv_pool_alloc(pool.get(), n));
      ASSERT_NE(p, nullptr) << n;
      ASSERT_TRUE(nvtest::Aligned(p, NV_POOL_ALIGNMENT));
      nvtest::FillPattern(p, n, seed);
      live.push_back({p, n, seed++});
    }
    auto *z = static_cast<unsigned char *>(nv_pool_calloc(pool.get(), 100, 7));
    ASSERT_NE(z, nullptr);
    EXPECT_TRUE(nvtest::AllAre(z, 700, 0));
    live.push_back({z, 700, 0});
    nvtest::FillPattern(z, 700, 0);
    auto *a = static_cast<unsigned char *>(nv_pool_align(pool.get(), 5000, 4096));
    ASSERT_NE(a, nullptr);
    EXPECT_TRUE(nvtest::Aligned(a, 4096));
    nvtest::FillPattern(a, 5000, seed);
    live.push_back({a, 5000, seed++});
    // Realloc every other one: small <-> block <-> large.
    for (size_t k = 0; k < live.size(); k += 2) {
      size_t n = live[k].n < 1000 ? live[k].n * 150 + 3 : live[k].n / 7 + 1;
      ASSERT_EQ(nvtest::FirstPatternMismatch(live[k].p, live[k].n, live[k].seed), live[k].n);
      auto *q = static_cast<unsigned char *>(nv_pool_realloc(pool.get(), live[k].p, n));
      ASSERT_NE(q, nullptr) << live[k].n << " -> " << n;
      size_t kept = std::min(n, live[k].n);
      EXPECT_EQ(nvtest::FirstPatternMismatch(q, kept, live[k].seed), kept);
      nvtest::FillPattern(q, n, seed);
      live[k] = {q, n, seed++};
    }
    EXPECT_EQ(nv_pool_validate_count(pool.get()), 0u);
    // Free half, check the rest.
    for (size_t k = 1; k < live.size(); k += 2) {
      ASSERT_EQ(nvtest::FirstPatternMismatch(live[k].p, live[k].n, live[k].seed), live[k].n);
      ASSERT_EQ(nv_pool_free(pool.get(), live[k].p), NV_OK);
    }
    size_t used = 0;
    for (size_t k = 0; k < live.size(); k += 2) {
      ASSERT_EQ(nvtest::FirstPatternMismatch(live[k].p, live[k].n, live[k].seed), live[k].n);
      used += live[k].n;
    }
    EXPECT_EQ(nv_pool_get_used(pool.get()), used);
    EXPECT_EQ(nv_pool_validate_count(pool.get()), 0u);
    EXPECT_EQ(nv_pool_compact(pool.get()), NV_OK);
    nv_pool_reset(pool.get());
    live.clear();
    EXPECT_EQ(nv_pool_get_used(pool.get()), 0u);
    EXPECT_EQ(nv_pool_is_empty(pool.get()), 1);
    EXPECT_EQ(nv_pool_validate_count(pool.get()), 0u);
  }
  nv_pool_stats_t st;
  nv_pool_get_stats(pool.get(), &st);
  EXPECT_EQ(st.large_allocations, 0u);
  EXPECT_EQ(st.resets, 3u);
  EXPECT_EQ(st.failed_allocations, 0u);
}

TEST_P(GuardPool, FixedPoolFillsAndEmpties) {
  nv_pool_config_t config = GuardConfig(GetParam(), 10000);
  config.auto_extend = 0;
  PoolPtr pool = nvtest::Make(config);
  ASSERT_NE(pool, nullptr);
  std::vector<void *> got;
  for (;;) {
    void *p = nv_pool_alloc(pool.get(), 40);
    if (p == nullptr) break;
    nvtest::Fill(p, 40, 0x33);
    got.push_back(p);
    ASSERT_LT(got.size(), 10000u);
  }
  ExpectErrorLogged("fixed pool full");
  EXPECT_GT(got.size(), 50u);
  // What is left of the block may still hold a one-byte chunk or two.
  std::vector<void *> crumbs;
  while (void *p = nv_pool_alloc(pool.get(), 1)) {
    crumbs.push_back(p);
    ASSERT_LT(crumbs.size(), 4u) << "less than a 40-byte chunk was left";
  }
  ExpectErrorLogged("fixed pool full");
  EXPECT_EQ(nv_pool_is_full(pool.get()), 1);
  for (void *p : got) {
    EXPECT_TRUE(nvtest::AllAre(p, 40, 0x33));
    EXPECT_EQ(nv_pool_free(pool.get(), p), NV_OK);
  }
  for (void *p : crumbs) EXPECT_EQ(nv_pool_free(pool.get(), p), NV_OK);
  EXPECT_EQ(nv_pool_is_empty(pool.get()), 1);
  EXPECT_EQ(nv_pool_validate_count(pool.get()), 0u);
}

// Passthrough: every allocation, however small, is its own backend
// allocation, so with guard pages every allocation has its own guard page.
TEST_P(GuardPool, PassthroughGivesEveryAllocationItsPages) {
  nv_pool_config_t config = GuardConfig(GetParam());
  config.passthrough = 1;
  PoolPtr pool = nvtest::Make(config);
  ASSERT_NE(pool, nullptr);
  std::vector<unsigned char *> got;
  for (size_t n = 1; n < 2000; n = n * 3 + 1) {
    auto *p = static_cast<unsigned char *>(nv_pool_alloc(pool.get(), n));
    ASSERT_NE(p, nullptr);
    nvtest::Fill(p, n, 0x44);
    if (GetParam() == &nv_pool_backend_guard_pages)
      EXPECT_EQ(ProtectionAt(UpToPage(p + n)), "---p") << n;
    else
      EXPECT_EQ(ProtectionAt(DownToPage(p) - 1), "---p") << n;
    got.push_back(p);
  }
  for (unsigned char *p : got) EXPECT_EQ(nv_pool_free(pool.get(), p), NV_OK);
  EXPECT_EQ(nv_pool_validate_count(pool.get()), 0u);
}

// nv_pool_get_size counts the bytes the pool asked for, not the pages the
// backend maps around them.
TEST_P(GuardPool, SizeCountsRequestedBytes) {
  nv_pool_config_t guarded = GuardConfig(GetParam());
  nv_pool_config_t plain = GuardConfig(nullptr);
  PoolPtr a = nvtest::Make(guarded), b = nvtest::Make(plain);
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(nv_pool_get_size(a.get()), nv_pool_get_size(b.get()));
  void *p = nv_pool_alloc(a.get(), 100000), *q = nv_pool_alloc(b.get(), 100000);
  EXPECT_EQ(nv_pool_get_size(a.get()), nv_pool_get_size(b.get()));
  EXPECT_EQ(nv_pool_free(a.get(), p), NV_OK);
  EXPECT_EQ(nv_pool_free(b.get(), q), NV_OK);
}

INSTANTIATE_TEST_SUITE_P(Backends, GuardPool,
                         ::testing::Values(&nv_pool_backend_guard_pages,
                                           &nv_pool_backend_guard_pages_front),
                         [](const ::testing::TestParamInfo<const nv_pool_backend_t *> &info) {
                           return std::string(info.param == &nv_pool_backend_guard_pages
                                                  ? "End"
                                                  : "Front");
                         });

// ---- death tests -----------------------------------------------------------

// The address the next access is expected to fault at, for the handler.
volatile uintptr_t g_expected_fault = 0;

void FormatSigned(char *out, long value) {
  char digits[32];
  int n = 0;
  unsigned long magnitude = value < 0 ? 0ul - static_cast<unsigned long>(value)
                                      : static_cast<unsigned long>(value);
  do {
    digits[n++] = static_cast<char>('0' + magnitude % 10);
    magnitude /= 10;
  } while (magnitude != 0);
  if (value < 0) *out++ = '-';
  while (n > 0) *out++ = digits[--n];
  *out = '\0';
}

// Async-signal-safe: prints where the fault was relative to the expected
// byte, then returns with the default action restored (SA_RESETHAND), so
// the faulting access repeats and kills the process with SIGSEGV.
void OnSegv(int, siginfo_t *info, void *) {
  char line[128] = "guard page fault: offset ";
  char number[32];
  long offset = static_cast<long>(reinterpret_cast<uintptr_t>(info->si_addr) - g_expected_fault);
  FormatSigned(number, offset);
  std::strcat(line, number);
  std::strcat(line, " from the expected byte\n");
  (void)!write(2, line, std::strlen(line));
}

void ArmFaultReport(uintptr_t expected) {
  g_expected_fault = expected;
  struct sigaction action;
  std::memset(&action, 0, sizeof action);
  action.sa_sigaction = OnSegv;
  action.sa_flags = SA_SIGINFO | SA_RESETHAND;
  sigemptyset(&action.sa_mask);
  sigaction(SIGSEGV, &action, nullptr);
}

void Touch(uintptr_t address, bool write) {
  ArmFaultReport(address);
  volatile unsigned char *byte = reinterpret_cast<volatile unsigned char *>(address);
  if (write)
    *byte = 0x41;
  else
    (void)*byte;
  std::fprintf(stderr, "no fault at the expected byte\n");
}

nv_pool_t *MakeOrDie(const nv_pool_config_t &config) {
  nv_pool_t *pool = nv_pool_create(&config);
  if (pool == nullptr) {
    std::fprintf(stderr, "test setup: nv_pool_create failed\n");
    std::_Exit(2);
  }
  return pool;
}

void *AllocOrDie(nv_pool_t *pool, size_t n) {
  void *p = nv_pool_alloc(pool, n);
  if (p == nullptr) {
    std::fprintf(stderr, "test setup: nv_pool_alloc(%zu) failed\n", n);
    std::_Exit(2);
  }
  std::memset(p, 0x5A, n);
  return p;
}

// Overflow of a large allocation: the first byte past the page-rounded end
// of its requested bytes.
void LargeOverflow(size_t n, bool write) {
  nv_pool_t *pool = MakeOrDie(GuardConfig(&nv_pool_backend_guard_pages));
  auto *p = static_cast<unsigned char *>(AllocOrDie(pool, n));
  Touch(UpToPage(p + n), write);
}

// Underflow of a large allocation: the byte before its pages (the backend
// allocation starts with the pool's node and the chunk header).
void LargeUnderflow(bool write) {
  nv_pool_t *pool = MakeOrDie(GuardConfig(&nv_pool_backend_guard_pages_front));
  auto *p = static_cast<unsigned char *>(AllocOrDie(pool, 100000));
  Touch(DownToPage(p) - 1, write);
}

// The byte before the pool struct (the backend's first allocation).
void PoolStructUnderflow() {
  nv_pool_t *pool = MakeOrDie(GuardConfig(&nv_pool_backend_guard_pages_front));
  Touch(reinterpret_cast<uintptr_t>(pool) - 1, true);
}

// A block of `block_bytes` (the initial block): overflow past its end from
// its first chunk, or underflow before its start.
void BlockAccess(const nv_pool_backend_t *backend, size_t block_bytes, bool overflow) {
  nv_pool_config_t config = GuardConfig(backend, block_bytes);
  config.auto_extend = 0;
  nv_pool_t *pool = MakeOrDie(config);
  auto *p = static_cast<unsigned char *>(AllocOrDie(pool, 24));
  Touch(overflow ? UpToPage(p + 24) : DownToPage(p) - 1, true);
}

// A small allocation in passthrough mode: its own pages, so one byte past
// the page-rounded end of 24 bytes faults.
void PassthroughOverflow() {
  nv_pool_config_t config = GuardConfig(&nv_pool_backend_guard_pages);
  config.passthrough = 1;
  nv_pool_t *pool = MakeOrDie(config);
  auto *p = static_cast<unsigned char *>(AllocOrDie(pool, 24));
  Touch(UpToPage(p + 24), true);
}

constexpr char kAtExpectedByte[] = "guard page fault: offset 0 from the expected byte";

class GuardDeathTest : public ::testing::Test {
 protected:
  void SetUp() override { GTEST_FLAG_SET(death_test_style, "threadsafe"); }
};

TEST_F(GuardDeathTest, LargeOverflowWriteFaults) {
  EXPECT_EXIT(LargeOverflow(100000, true), ::testing::KilledBySignal(SIGSEGV), kAtExpectedByte);
}

TEST_F(GuardDeathTest, LargeOverflowReadFaults) {
  EXPECT_EXIT(LargeOverflow(100000, false), ::testing::KilledBySignal(SIGSEGV), kAtExpectedByte);
}

// Size a multiple of 16: in release builds (no back redzone) the user bytes
// end exactly at the page end, so the first byte past them faults.
TEST_F(GuardDeathTest, LargeOverflowOfRoundSizeFaults) {
  EXPECT_EXIT(LargeOverflow(128 * 1024, true), ::testing::KilledBySignal(SIGSEGV),
              kAtExpectedByte);
}

TEST_F(GuardDeathTest, LargeUnderflowWriteFaults) {
  EXPECT_EXIT(LargeUnderflow(true), ::testing::KilledBySignal(SIGSEGV), kAtExpectedByte);
}

TEST_F(GuardDeathTest, LargeUnderflowReadFaults) {
  EXPECT_EXIT(LargeUnderflow(false), ::testing::KilledBySignal(SIGSEGV), kAtExpectedByte);
}

TEST_F(GuardDeathTest, UnderflowBeforePoolStructFaults) {
  EXPECT_EXIT(PoolStructUnderflow(), ::testing::KilledBySignal(SIGSEGV), kAtExpectedByte);
}

// 3000 bytes: less than a page, placed at the end of it.
TEST_F(GuardDeathTest, BlockOverflowFaults) {
  EXPECT_EXIT(BlockAccess(&nv_pool_backend_guard_pages, 3000, true),
              ::testing::KilledBySignal(SIGSEGV), kAtExpectedByte);
}

TEST_F(GuardDeathTest, BlockUnderflowFaults) {
  EXPECT_EXIT(BlockAccess(&nv_pool_backend_guard_pages_front, 3000, false),
              ::testing::KilledBySignal(SIGSEGV), kAtExpectedByte);
}

// A block of exactly one page has guard pages at both ends, with either
// placement.
TEST_F(GuardDeathTest, WholePageBlockFaultsAtBothEnds) {
  for (const nv_pool_backend_t *backend :
       {&nv_pool_backend_guard_pages, &nv_pool_backend_guard_pages_front}) {
    EXPECT_EXIT(BlockAccess(backend, Page(), true), ::testing::KilledBySignal(SIGSEGV),
                kAtExpectedByte);
    EXPECT_EXIT(BlockAccess(backend, Page(), false), ::testing::KilledBySignal(SIGSEGV),
                kAtExpectedByte);
  }
}

TEST_F(GuardDeathTest, PassthroughSmallOverflowFaults) {
  EXPECT_EXIT(PassthroughOverflow(), ::testing::KilledBySignal(SIGSEGV), kAtExpectedByte);
}

}  // namespace
