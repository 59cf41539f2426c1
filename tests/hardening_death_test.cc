// Hardened nv_pool (the default build): every detection of contract §8 with
// the DEFAULT corruption handler, which logs the report and calls abort().
// Each bug is one death test whose regex matches the report line
//
//   nv_pool corruption in pool '<name>' (<pool>): <kind> damaged; chunk <p>,
//   requested <n> bytes, first bad byte at offset <k>; found by <operation>...
//
// Overflows by 1, 7, 8, 16 and 64 bytes of small (fast path), block (slow
// path) and large (own backend allocation) chunks; underflows; damaged
// headers; writes after free found on reuse and by nv_pool_validate.
// Bad frees (double, foreign, interior, stale) are not corruption: they
// return NV_ERROR and the default handler never runs.
//
// Builds:
//   - hardening compiled out (--config=release): the pool cannot detect
//     these bugs; the detection tests skip (the bad-free tests still run).
//   - AddressSanitizer (--config=asan): the pool poisons redzones and freed
//     chunks, so ASan stops the buggy write itself; those death tests expect
//     ASan's report instead. A damaged header is the exception: headers stay
//     addressable (the pool reads them), so the pool's report is expected.
//   - Valgrind (--config=valgrind): death tests run in a re-executed child
//     outside Valgrind (threadsafe style), so they expect the pool's report.
//
// Corruption always flips bits (x ^= 0xFF): a write of the value a canary
// byte already holds is undetectable, a flipped byte never is.
#include <nv_pool.h>

#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "pool_test_util.h"

namespace {

constexpr char kName[] = "hardening";

bool AsanBuild() {
#if defined(__has_feature)
#if __has_feature(address_sanitizer)
  return true;
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
  return true;
#else
  return false;
#endif
}

// Bytes from a chunk's start (its tag) to the user pointer.
size_t Prefix() { return nvtest::ChunkPrefix(); }

// A backend over malloc that gives every allocation 256 spare bytes: the back
// redzone of a large chunk ends where its backend allocation ends, so a
// 64-byte overflow would otherwise run into the C library's heap.
constexpr size_t kSlack = 256;
void *SlackAlloc(void *, size_t size) {
  return std::aligned_alloc(NV_POOL_ALIGNMENT, (size + kSlack + 15) & ~size_t{15});
}
void SlackRelease(void *, void *memory, size_t) { std::free(memory); }
const nv_pool_backend_t kSlackBackend = {SlackAlloc, SlackRelease, nullptr};

nv_pool_t *MakePool() {
  nv_pool_config_t config = NV_POOL_CONFIG_DEFAULT;
  config.name = kName;
  config.max_size = 0;
  config.backend = &kSlackBackend;
  nv_pool_t *pool = nv_pool_create(&config);
  if (pool == nullptr) {
    std::fprintf(stderr, "test setup: nv_pool_create failed\n");
    std::abort();
  }
  return pool;
}

unsigned char *Alloc(nv_pool_t *pool, size_t size) {
  auto *p = static_cast<unsigned char *>(nv_pool_alloc(pool, size));
  if (p == nullptr) {
    std::fprintf(stderr, "test setup: nv_pool_alloc(%zu) failed\n", size);
    std::abort();
  }
  return p;
}

// The buggy write: an ordinary (instrumented) read-modify-write of each byte
// of p[from, to), so ASan sees it as a program's bug would be seen.
void Flip(unsigned char *p, long from, long to) {
  volatile unsigned char *v = p;
  for (long i = from; i < to; i++) v[i] = static_cast<unsigned char>(v[i] ^ 0xFF);
}

std::string Hex() { return "0x[0-9a-f]+"; }

// The default handler's line for one report.
std::string Report(const std::string &kind, long requested, long offset,
                   const std::string &operation) {
  return "nv_pool corruption in pool '" + std::string(kName) + "' \\(" + Hex() + "\\): " + kind +
         " damaged; chunk " + Hex() + ", requested " + std::to_string(requested) +
         " bytes, first bad byte at offset " + std::to_string(offset) + "; found by " + operation;
}

const char kBack[] = "back redzone \\(overflow\\)";
const char kFront[] = "front redzone \\(underflow\\)";
const char kHeader[] = "chunk header";
const char kFreed[] = "freed chunk \\(write after free\\)";

// ASan's report for an access to memory the pool poisoned (hardening-facts
// §1: a partially poisoned granule can be reported as unknown-crash).
const char kAsanReport[] = "ERROR: AddressSanitizer: (use-after-poison|unknown-crash)";

// Skips a detection test in builds where the pool detects nothing.
#define SKIP_WITHOUT_HARDENING()                                                             \
  do {                                                                                       \
    if (!nv_pool_hardening_enabled())                                                        \
      GTEST_SKIP() << "hardening is compiled out (--define nv_pool_hardening=off, e.g. "     \
                      "--config=release): redzones, canaries and the freed-chunk pattern "   \
                      "do not exist, so the pool cannot detect this bug";                    \
  } while (0)

// ---- overflow: sizes x distances -----------------------------------------

struct OverflowCase {
  const char *kind;  // "small" (fast path), "block" (slow path), "large" (own allocation)
  size_t size;
  long by;
};

std::string CaseName(const testing::TestParamInfo<OverflowCase> &info) {
  return std::string(info.param.kind) + "_" + std::to_string(info.param.size) + "_by_" +
         std::to_string(info.param.by);
}

class OverflowDeathTest : public testing::TestWithParam<OverflowCase> {};

// `by` bytes past the requested size of the first of two neighbouring chunks,
// then nv_pool_free of that chunk. Its back redzone starts at exactly the
// requested size, so the first bad byte is always at offset `size`, even when
// the overflow runs on into the neighbour (64 bytes past a small chunk reach
// the next chunk's header and front redzone).
void OverflowThenFree(size_t size, long by) {
  nv_pool_t *pool = MakePool();
  unsigned char *a = Alloc(pool, size);
  unsigned char *b = Alloc(pool, size);  // the neighbour (block chunks)
  (void)b;
  Flip(a, static_cast<long>(size), static_cast<long>(size) + by);
  int rc = nv_pool_free(pool, a);
  std::fprintf(stderr, "not detected: nv_pool_free returned %d\n", rc);
  std::exit(0);
}

TEST_P(OverflowDeathTest, FreeReportsTheBackRedzone) {
  SKIP_WITHOUT_HARDENING();
  const OverflowCase c = GetParam();
  const std::string expected =
      AsanBuild() ? kAsanReport
                  : Report(kBack, static_cast<long>(c.size), static_cast<long>(c.size),
                           "nv_pool_free");
  EXPECT_DEATH(OverflowThenFree(c.size, c.by), expected);
}

std::vector<OverflowCase> OverflowCases() {
  std::vector<OverflowCase> cases;
  const std::vector<std::pair<const char *, size_t>> sizes = {
      {"small", 0},      {"small", 13},      {"small", 16},    {"small", 100},
      {"block", 1000},   {"block", 4096},    {"block", 60000},  // > fast path, < 64 KiB
      {"large", 100000}, {"large", 100003},                      // > 64 KiB: own allocation
  };
  for (const auto &s : sizes)
    for (long by : {1L, 7L, 8L, 16L, 64L}) cases.push_back({s.first, s.second, by});
  return cases;
}

INSTANTIATE_TEST_SUITE_P(Sizes, OverflowDeathTest, testing::ValuesIn(OverflowCases()), CaseName);

// The same bug found by the other checking operations.
TEST(HardeningDeathTest, OverflowFoundByValidateReallocResetDestroy) {
  SKIP_WITHOUT_HARDENING();
  auto overflow_then = [](int operation) {
    nv_pool_t *pool = MakePool();
    unsigned char *a = Alloc(pool, 13);
    Alloc(pool, 13);
    Flip(a, 13, 14);
    switch (operation) {
      case 0: nv_pool_validate(pool); break;
      case 1: nv_pool_realloc(pool, a, 200); break;
      case 2: nv_pool_reset(pool); break;
      default: nv_pool_destroy(pool); break;
    }
    std::fprintf(stderr, "not detected\n");
    std::exit(0);
  };
  const bool asan = AsanBuild();
  EXPECT_DEATH(overflow_then(0), asan ? kAsanReport : Report(kBack, 13, 13, "nv_pool_validate"));
  EXPECT_DEATH(overflow_then(1), asan ? kAsanReport : Report(kBack, 13, 13, "nv_pool_realloc"));
  EXPECT_DEATH(overflow_then(2), asan ? kAsanReport : Report(kBack, 13, 13, "nv_pool_reset"));
  EXPECT_DEATH(overflow_then(3), asan ? kAsanReport : Report(kBack, 13, 13, "nv_pool_destroy"));
}

// A large chunk is checked by the same operations (it lives outside blocks).
TEST(HardeningDeathTest, LargeOverflowFoundByValidateAndDestroy) {
  SKIP_WITHOUT_HARDENING();
  auto overflow_then = [](bool validate) {
    nv_pool_t *pool = MakePool();
    unsigned char *a = Alloc(pool, 100000);
    Flip(a, 100000, 100001);
    if (validate)
      nv_pool_validate(pool);
    else
      nv_pool_destroy(pool);
    std::exit(0);
  };
  const bool asan = AsanBuild();
  EXPECT_DEATH(overflow_then(true),
               asan ? kAsanReport : Report(kBack, 100000, 100000, "nv_pool_validate"));
  EXPECT_DEATH(overflow_then(false),
               asan ? kAsanReport : Report(kBack, 100000, 100000, "nv_pool_destroy"));
}

// ---- underflow ------------------------------------------------------------------

class UnderflowDeathTest : public testing::TestWithParam<size_t> {};

// One byte before the user pointer (offset -1), and the whole front redzone
// (the first bad byte is the lowest: offset -8).
TEST_P(UnderflowDeathTest, FreeReportsTheFrontRedzone) {
  SKIP_WITHOUT_HARDENING();
  const size_t size = GetParam();
  auto underflow_then_free = [](size_t n, long by) {
    nv_pool_t *pool = MakePool();
    Alloc(pool, n);  // a neighbour in front (block chunks)
    unsigned char *a = Alloc(pool, n);
    Flip(a, -by, 0);
    nv_pool_free(pool, a);
    std::exit(0);
  };
  const long n = static_cast<long>(size);
  EXPECT_DEATH(underflow_then_free(size, 1),
               AsanBuild() ? kAsanReport : Report(kFront, n, -1, "nv_pool_free"));
  EXPECT_DEATH(underflow_then_free(size, 8),
               AsanBuild() ? kAsanReport : Report(kFront, n, -8, "nv_pool_free"));
}

INSTANTIATE_TEST_SUITE_P(Sizes, UnderflowDeathTest, testing::Values(0, 13, 4096, 100000));

TEST(HardeningDeathTest, UnderflowFoundByValidate) {
  SKIP_WITHOUT_HARDENING();
  auto underflow_then_validate = []() {
    nv_pool_t *pool = MakePool();
    unsigned char *a = Alloc(pool, 24);
    Flip(a, -1, 0);
    nv_pool_validate(pool);
    std::exit(0);
  };
  EXPECT_DEATH(underflow_then_validate(),
               AsanBuild() ? kAsanReport : Report(kFront, 24, -1, "nv_pool_validate"));
}

// ---- damaged headers ---------------------------------------------------------

// The header's tag (first 4 bytes of the chunk) identifies a live chunk; with
// the front redzone intact, a tag that does not verify is a damaged header,
// reported at offset -prefix (the chunk's start). Headers stay addressable
// under ASan (the pool reads them on every free), so ASan builds expect the
// pool's report too.
class HeaderDeathTest : public testing::TestWithParam<size_t> {};

TEST_P(HeaderDeathTest, DamagedTagIsReportedByFree) {
  SKIP_WITHOUT_HARDENING();
  const size_t size = GetParam();
  auto damage_then_free = [](size_t n) {
    nv_pool_t *pool = MakePool();
    unsigned char *a = Alloc(pool, n);
    Alloc(pool, n);
    Flip(a - Prefix(), 0, 1);  // first byte of the tag
    nv_pool_free(pool, a);
    std::exit(0);
  };
  // The report names no requested size: the header holding it is not trusted.
  EXPECT_DEATH(damage_then_free(size),
               Report(kHeader, 0, -static_cast<long>(Prefix()), "nv_pool_free"));
}

INSTANTIATE_TEST_SUITE_P(Sizes, HeaderDeathTest, testing::Values(0, 13, 4096, 100000));

TEST(HardeningDeathTest, DamagedSizeIsReportedByFree) {
  SKIP_WITHOUT_HARDENING();
  auto damage_then_free = []() {
    nv_pool_t *pool = MakePool();
    unsigned char *a = Alloc(pool, 13);
    Alloc(pool, 13);
    Flip(a - Prefix(), 4, 5);  // low byte of the size
    nv_pool_free(pool, a);
    std::exit(0);
  };
  EXPECT_DEATH(damage_then_free(), Report(kHeader, 0, -static_cast<long>(Prefix()), "nv_pool_free"));
}

// nv_pool_validate walks a block chunk by chunk: a damaged header stops the
// walk of that block and is reported.
TEST(HardeningDeathTest, DamagedHeaderFoundByValidate) {
  SKIP_WITHOUT_HARDENING();
  auto damage_then_validate = []() {
    nv_pool_t *pool = MakePool();
    Alloc(pool, 13);
    unsigned char *a = Alloc(pool, 13);
    Alloc(pool, 13);
    Flip(a - Prefix(), 0, 1);
    nv_pool_validate(pool);
    std::exit(0);
  };
  EXPECT_DEATH(damage_then_validate(),
               Report(kHeader, 0, -static_cast<long>(Prefix()), "nv_pool_validate"));
}

// In every build, hardened or not: a chunk whose header tag was overwritten
// is never freed (its header cannot be trusted). Hardened builds report it
// to the handler; with hardening compiled out it is an ordinary bad free
// (NV_ERROR and a log line). Headers are addressable to ASan and memcheck,
// so this runs unchanged under both.
TEST(HardeningTest, DamagedTagNeverFreesTheChunk) {
  struct Recorder {
    std::vector<nv_pool_corruption_kind_t> kinds;
    static void Handler(const nv_pool_corruption_t *r, void *context) {
      static_cast<Recorder *>(context)->kinds.push_back(r->kind);
    }
  } recorder;
  nv_pool_set_corruption_handler(&Recorder::Handler, &recorder);
  nv_log_set_handler([](nv_log_level_t, const char *, void *) {}, nullptr);
  nv_pool_t *pool = MakePool();
  unsigned char *a = Alloc(pool, 13);
  unsigned char *b = Alloc(pool, 13);
  Flip(a - Prefix(), 0, 1);
  EXPECT_NE(nv_pool_free(pool, a), NV_OK);
  if (nv_pool_hardening_enabled()) {
    ASSERT_EQ(recorder.kinds.size(), 1u);
    EXPECT_EQ(recorder.kinds[0], NV_POOL_CORRUPT_HEADER);
  } else {
    EXPECT_TRUE(recorder.kinds.empty()) << "no reports without hardening";
  }
  EXPECT_EQ(nv_pool_free(pool, b), NV_OK) << "the neighbour is unaffected";
  nv_pool_destroy(pool);
  nv_log_set_handler(nullptr, nullptr);
  nv_pool_set_corruption_handler(nullptr, nullptr);
}

// ---- writes after free ---------------------------------------------------------

// A freed chunk that is not the last of its block goes to a free list filled
// with the pattern 0xDF; a write into it is found when the chunk would be
// handed out again, or by nv_pool_validate. The report's requested size is 0
// (a free chunk has none); offsets count from the old user pointer.
void WriteAfterFreeThen(bool validate, long at) {
  nv_pool_t *pool = MakePool();
  unsigned char *a = Alloc(pool, 40);
  Alloc(pool, 40);  // keeps `a` off the block's tail
  if (nv_pool_free(pool, a) != NV_OK) std::abort();
  Flip(a, at, at + 1);
  if (validate)
    nv_pool_validate(pool);
  else
    Alloc(pool, 40);  // the same size: `a` is the first candidate
  std::exit(0);
}

TEST(HardeningDeathTest, WriteAfterFreeFoundOnReuse) {
  SKIP_WITHOUT_HARDENING();
  EXPECT_DEATH(WriteAfterFreeThen(false, 0),
               AsanBuild() ? kAsanReport : Report(kFreed, 0, 0, "nv_pool_alloc"));
  EXPECT_DEATH(WriteAfterFreeThen(false, 39),
               AsanBuild() ? kAsanReport : Report(kFreed, 0, 39, "nv_pool_alloc"));
}

TEST(HardeningDeathTest, WriteAfterFreeFoundByValidate) {
  SKIP_WITHOUT_HARDENING();
  EXPECT_DEATH(WriteAfterFreeThen(true, 0),
               AsanBuild() ? kAsanReport : Report(kFreed, 0, 0, "nv_pool_validate"));
  EXPECT_DEATH(WriteAfterFreeThen(true, 20),
               AsanBuild() ? kAsanReport : Report(kFreed, 0, 20, "nv_pool_validate"));
}

// ---- bad frees are errors, not corruption ----------------------------------------

// With the default handler still installed (a corruption report would abort
// the test binary): every bad free returns NV_ERROR with a log line, and the
// pool stays consistent. Runs in every build, hardened or not.
class BadFreeTest : public testing::Test {
 protected:
  void SetUp() override {
    nv_log_set_handler(&BadFreeTest::Capture, this);
    nv_pool_config_t config = NV_POOL_CONFIG_DEFAULT;
    config.name = kName;
    config.max_size = 0;
    pool_ = nv_pool_create(&config);
    ASSERT_NE(pool_, nullptr);
  }
  void TearDown() override {
    EXPECT_EQ(nv_pool_validate_count(pool_), 0u) << errors_;
    nv_pool_destroy(pool_);
    nv_log_set_handler(nullptr, nullptr);
  }
  static void Capture(nv_log_level_t level, const char *line, void *context) {
    auto *self = static_cast<BadFreeTest *>(context);
    if (level == NV_LOG_ERROR) {
      self->error_lines_++;
      self->errors_ += std::string(line) + "\n";
    }
  }
  // nv_pool_free(p) must return NV_ERROR, log one error line and leave used
  // and live counts alone.
  void ExpectBadFree(void *p, const char *what) {
    const size_t used = nv_pool_get_used(pool_);
    const size_t lines = error_lines_;
    EXPECT_EQ(nv_pool_free(pool_, p), NV_ERROR) << what;
    EXPECT_EQ(error_lines_, lines + 1) << what << ": expected one error line\n" << errors_;
    EXPECT_EQ(nv_pool_get_used(pool_), used) << what;
    EXPECT_EQ(errors_.find("corruption"), std::string::npos) << what << ": " << errors_;
  }

  nv_pool_t *pool_ = nullptr;
  size_t error_lines_ = 0;
  std::string errors_;
};

TEST_F(BadFreeTest, DoubleFreeOfEveryKindOfChunk) {
  unsigned char *in_list = Alloc(pool_, 13);  // freed into a free list
  unsigned char *anchor = Alloc(pool_, 13);
  unsigned char *block_chunk = Alloc(pool_, 4096);  // slow path
  unsigned char *anchor2 = Alloc(pool_, 13);
  unsigned char *tail = Alloc(pool_, 13);  // last chunk: back to the block's tail
  unsigned char *large = Alloc(pool_, 100000);
  ASSERT_EQ(nv_pool_free(pool_, in_list), NV_OK);
  ASSERT_EQ(nv_pool_free(pool_, block_chunk), NV_OK);
  ASSERT_EQ(nv_pool_free(pool_, tail), NV_OK);
  ASSERT_EQ(nv_pool_free(pool_, large), NV_OK);
  ExpectBadFree(in_list, "double free (free list)");
  ExpectBadFree(block_chunk, "double free (block chunk)");
  ExpectBadFree(tail, "double free (returned to the tail)");
  ExpectBadFree(large, "double free (large)");
  EXPECT_EQ(nv_pool_free(pool_, anchor), NV_OK);
  EXPECT_EQ(nv_pool_free(pool_, anchor2), NV_OK);
}

TEST_F(BadFreeTest, ForeignPointers) {
  void *heap = std::malloc(64);
  alignas(16) unsigned char stack[64] = {};
  nv_pool_t *other = nv_pool_create_default();
  ASSERT_NE(other, nullptr);
  void *theirs = nv_pool_alloc(other, 13);
  void *their_large = nv_pool_alloc(other, 100000);
  ASSERT_NE(theirs, nullptr);
  ASSERT_NE(their_large, nullptr);
  Alloc(pool_, 13);
  ExpectBadFree(heap, "malloc'd pointer");
  ExpectBadFree(stack, "stack pointer");
  ExpectBadFree(theirs, "another pool's chunk");
  ExpectBadFree(their_large, "another pool's large chunk");
  EXPECT_EQ(nv_pool_validate_count(other), 0u) << "a foreign free touched the other pool";
  nv_pool_destroy(other);
  std::free(heap);
}

TEST_F(BadFreeTest, InteriorPointers) {
  unsigned char *small = Alloc(pool_, 64);
  unsigned char *block = Alloc(pool_, 4096);
  unsigned char *large = Alloc(pool_, 100000);
  for (unsigned char *p : {small, block, large}) {
    ExpectBadFree(p + 1, "misaligned interior pointer");
    ExpectBadFree(p + 16, "aligned interior pointer");
    ExpectBadFree(p + 48, "aligned interior pointer");
  }
  ExpectBadFree(block + 2048, "middle of a block chunk");
  ExpectBadFree(large + 65536, "middle of a large chunk");
  EXPECT_EQ(nv_pool_free(pool_, small), NV_OK);
  EXPECT_EQ(nv_pool_free(pool_, block), NV_OK);
  EXPECT_EQ(nv_pool_free(pool_, large), NV_OK);
}

TEST_F(BadFreeTest, StalePointersAfterReset) {
  unsigned char *a = Alloc(pool_, 13);
  unsigned char *b = Alloc(pool_, 200);
  unsigned char *large = Alloc(pool_, 100000);
  nv_pool_reset(pool_);
  ExpectBadFree(a, "stale pointer, nothing allocated since the reset");
  ExpectBadFree(large, "stale large pointer");
  // New chunks of other sizes: the old user pointers now lie inside them.
  unsigned char *c = Alloc(pool_, 500);
  ASSERT_LT(c, b) << "expected the first chunk of the block again";
  ExpectBadFree(b, "stale pointer inside a new chunk");
  EXPECT_EQ(nv_pool_free(pool_, c), NV_OK);
  ExpectBadFree(c, "double free after reset");
}

}  // namespace
