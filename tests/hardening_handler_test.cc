// Hardened nv_pool with a REPLACED corruption handler that records and
// returns (contract §8): the call that found the damage fails (free returns
// NV_ECORRUPT, realloc NULL), the report's fields are exact (kind, offset,
// requested, operation, chunk, pool), the damaged chunk is quarantined and
// never handed out again, and nv_pool_validate_count counts problems without
// calling the handler.
//
// The corruption here is written by SilentFlip, which hides the deliberate
// write from the tools (not instrumented by ASan; Valgrind's address error
// reporting is off around it), so the pool's own detection is tested in every
// build: default, asan, ubsan, valgrind, leakcheck. With hardening compiled
// out (--config=release) the detection tests skip.
#include <nv_pool.h>
#include <valgrind/memcheck.h>

#include <gtest/gtest.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <set>
#include <string>
#include <vector>

#include "pool_test_util.h"

namespace {

using nvtest::LogCapture;

size_t Prefix() { return nvtest::ChunkPrefix(); }

#if defined(__clang__) || defined(__GNUC__)
#define NO_ASAN __attribute__((no_sanitize("address"), noinline))
#else
#define NO_ASAN
#endif

// Flips every bit of p[from, to): damage no canary survives, written the way
// a bug in uninstrumented code (or a stray DMA) would, unseen by the tools.
NO_ASAN void SilentFlip(void *base, long from, long to) {
  volatile unsigned char *p = static_cast<volatile unsigned char *>(base) + from;
  const size_t n = static_cast<size_t>(to - from);
  VALGRIND_DISABLE_ADDR_ERROR_REPORTING_IN_RANGE(p, n);
  for (size_t i = 0; i < n; i++) p[i] = static_cast<unsigned char>(p[i] ^ 0xFF);
  VALGRIND_ENABLE_ADDR_ERROR_REPORTING_IN_RANGE(p, n);
}

// Writes `value` over p[from, to), unseen by the tools like SilentFlip.
NO_ASAN void SilentSet(void *base, long from, long to, unsigned char value) {
  volatile unsigned char *p = static_cast<volatile unsigned char *>(base) + from;
  const size_t n = static_cast<size_t>(to - from);
  VALGRIND_DISABLE_ADDR_ERROR_REPORTING_IN_RANGE(p, n);
  for (size_t i = 0; i < n; i++) p[i] = value;
  VALGRIND_ENABLE_ADDR_ERROR_REPORTING_IN_RANGE(p, n);
}

// Every field of a report, copied (the strings outlive the call).
struct Seen {
  std::string pool_name;
  const nv_pool_t *pool;
  const void *chunk;
  size_t requested;
  nv_pool_corruption_kind_t kind;
  long offset;
  std::string operation;
  std::string file;  // empty when not recorded
  int line;
  std::string message;
  std::string text;  // nv_pool_format_corruption
};

class HandlerTest : public testing::Test {
 protected:
  void SetUp() override {
    if (!nv_pool_hardening_enabled())
      GTEST_SKIP() << "hardening is compiled out (--define nv_pool_hardening=off, e.g. "
                      "--config=release): no redzones or canaries, nothing to report";
    nv_pool_set_corruption_handler(&HandlerTest::Record, this);
  }
  void TearDown() override { nv_pool_set_corruption_handler(nullptr, nullptr); }

  static void Record(const nv_pool_corruption_t *r, void *context) {
    auto *self = static_cast<HandlerTest *>(context);
    char text[1024];
    Seen s;
    s.pool_name = r->pool_name ? r->pool_name : "";
    s.pool = r->pool;
    s.chunk = r->chunk;
    s.requested = r->requested;
    s.kind = r->kind;
    s.offset = r->offset;
    s.operation = r->operation ? r->operation : "";
    s.file = r->file ? r->file : "";
    s.line = r->line;
    s.message = r->message ? r->message : "";
    s.text = nv_pool_format_corruption(r, text, sizeof text);
    self->reports_.push_back(s);
  }

  nvtest::PoolPtr Make(const char *name = "handler") {
    nv_pool_config_t config = NV_POOL_CONFIG_DEFAULT;
    config.name = name;
    config.max_size = 0;
    return nvtest::PoolPtr(nv_pool_create(&config));
  }

  static unsigned char *Alloc(nv_pool_t *pool, size_t n) {
    return static_cast<unsigned char *>(nv_pool_alloc(pool, n));
  }

  // A chunk with a realloc reserve: 400 bytes, blocked by an 8-byte
  // neighbour (returned in *blocker), grown to 500 by a realloc that has to
  // move and so keeps room for 600. NULL if any step went otherwise.
  static unsigned char *MovedWithReserve(nv_pool_t *pool, unsigned char **blocker) {
    unsigned char *p = Alloc(pool, 400);
    *blocker = Alloc(pool, 8);
    if (!p || !*blocker) return nullptr;
    auto *q = static_cast<unsigned char *>(nv_pool_realloc(pool, p, 500));
    return q != p ? q : nullptr;
  }

  std::string All() const {
    std::string out;
    for (const Seen &s : reports_) out += s.text + "\n";
    return out;
  }

  std::vector<Seen> reports_;
  LogCapture log_;  // keeps the validate_count lines out of the test output
};

// The fields of one report for a 1-byte overflow of a 13-byte chunk.
TEST_F(HandlerTest, OverflowByOneReportFields) {
  nvtest::PoolPtr pool = Make("fields");
  unsigned char *a = Alloc(pool.get(), 13);
  unsigned char *b = Alloc(pool.get(), 13);
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  SilentFlip(a, 13, 14);
  EXPECT_EQ(nv_pool_free(pool.get(), a), NV_ECORRUPT);
  ASSERT_EQ(reports_.size(), 1u) << All();
  const Seen &s = reports_[0];
  EXPECT_EQ(s.kind, NV_POOL_CORRUPT_BACK_REDZONE);
  EXPECT_EQ(s.offset, 13);
  EXPECT_EQ(s.requested, 13u);
  EXPECT_EQ(s.chunk, a);
  EXPECT_EQ(s.pool, pool.get());
  EXPECT_EQ(s.pool_name, "fields");
  EXPECT_EQ(s.operation, "nv_pool_free");
  EXPECT_FALSE(s.message.empty());
  EXPECT_NE(s.text.find("back redzone (overflow) damaged"), std::string::npos) << s.text;
  EXPECT_NE(s.text.find("requested 13 bytes, first bad byte at offset 13; found by nv_pool_free"),
            std::string::npos)
      << s.text;
  if (nv_pool_leakcheck_enabled()) {
    EXPECT_NE(s.file.find("hardening_handler_test.cc"), std::string::npos) << s.text;
    EXPECT_GT(s.line, 0);
  } else {
    EXPECT_TRUE(s.file.empty()) << "sites are recorded only in the leak-check build";
  }
  EXPECT_EQ(nv_pool_free(pool.get(), b), NV_OK);
  EXPECT_EQ(reports_.size(), 1u) << All();
  EXPECT_EQ(nv_pool_validate_count(pool.get()), 0u) << log_.ErrorText();
}

// The first bad byte is the lowest damaged address: offset = requested for
// any overflow, -1 / -8 for underflows; large chunks alike.
TEST_F(HandlerTest, OffsetsOfOverflowsAndUnderflows) {
  nvtest::PoolPtr pool = Make();
  struct Case {
    size_t size;
    long from, to;  // damaged range relative to the user pointer
    nv_pool_corruption_kind_t kind;
    long offset;
  };
  // The last byte of a 13-byte chunk's back redzone: 31 in the hardened
  // layout, 23 with sites.
  const long last_13 = static_cast<long>(nvtest::ChunkBytes(13) - nvtest::ChunkPrefix()) - 1;
  const std::vector<Case> cases = {
      {13, 13, 14, NV_POOL_CORRUPT_BACK_REDZONE, 13},
      {13, 15, 16, NV_POOL_CORRUPT_BACK_REDZONE, 15},   // inside the 16-byte rounding
      {13, last_13, last_13 + 1, NV_POOL_CORRUPT_BACK_REDZONE, last_13},  // its last byte
      {16, 16, 23, NV_POOL_CORRUPT_BACK_REDZONE, 16},
      {0, 0, 8, NV_POOL_CORRUPT_BACK_REDZONE, 0},
      {4096, 4096, 4104, NV_POOL_CORRUPT_BACK_REDZONE, 4096},  // the least back redzone
      {100003, 100003, 100004, NV_POOL_CORRUPT_BACK_REDZONE, 100003},
      {13, -1, 0, NV_POOL_CORRUPT_FRONT_REDZONE, -1},
      {13, -8, -7, NV_POOL_CORRUPT_FRONT_REDZONE, -8},
      {4096, -7, 0, NV_POOL_CORRUPT_FRONT_REDZONE, -7},
      {100000, -1, 0, NV_POOL_CORRUPT_FRONT_REDZONE, -1},
  };
  for (const Case &c : cases) {
    SCOPED_TRACE("size " + std::to_string(c.size) + ", damage [" + std::to_string(c.from) +
                 ", " + std::to_string(c.to) + ")");
    reports_.clear();
    unsigned char *a = Alloc(pool.get(), c.size);
    unsigned char *anchor = Alloc(pool.get(), 8);
    ASSERT_NE(a, nullptr);
    ASSERT_NE(anchor, nullptr);
    SilentFlip(a, c.from, c.to);
    EXPECT_EQ(nv_pool_free(pool.get(), a), NV_ECORRUPT);
    ASSERT_EQ(reports_.size(), 1u) << All();
    EXPECT_EQ(reports_[0].kind, c.kind);
    EXPECT_EQ(reports_[0].offset, c.offset);
    EXPECT_EQ(reports_[0].requested, c.size);
    EXPECT_EQ(reports_[0].chunk, a);
    EXPECT_EQ(nv_pool_free(pool.get(), anchor), NV_OK);
  }
  EXPECT_EQ(nv_pool_validate_count(pool.get()), 0u) << log_.ErrorText();
}

// A chunk damaged on both sides gives one report per side.
TEST_F(HandlerTest, BothRedzonesDamaged) {
  nvtest::PoolPtr pool = Make();
  unsigned char *a = Alloc(pool.get(), 50);
  ASSERT_NE(a, nullptr);
  SilentFlip(a, -2, -1);
  SilentFlip(a, 52, 53);
  EXPECT_EQ(nv_pool_free(pool.get(), a), NV_ECORRUPT);
  ASSERT_EQ(reports_.size(), 2u) << All();
  EXPECT_EQ(reports_[0].kind, NV_POOL_CORRUPT_FRONT_REDZONE);
  EXPECT_EQ(reports_[0].offset, -2);
  EXPECT_EQ(reports_[1].kind, NV_POOL_CORRUPT_BACK_REDZONE);
  EXPECT_EQ(reports_[1].offset, 52);
}

// Each checking operation names itself; realloc fails with NULL and leaves
// nothing live; reset and destroy report and carry on.
TEST_F(HandlerTest, OperationNames) {
  {
    nvtest::PoolPtr pool = Make();
    unsigned char *a = Alloc(pool.get(), 13);
    ASSERT_NE(a, nullptr);
    SilentFlip(a, 13, 14);
    const size_t used = nv_pool_get_used(pool.get());
    EXPECT_EQ(nv_pool_realloc(pool.get(), a, 500), nullptr);
    ASSERT_EQ(reports_.size(), 1u) << All();
    EXPECT_EQ(reports_[0].operation, "nv_pool_realloc");
    EXPECT_EQ(reports_[0].kind, NV_POOL_CORRUPT_BACK_REDZONE);
    EXPECT_EQ(nv_pool_get_used(pool.get()), used - 13) << "the damaged chunk left `used`";
    EXPECT_EQ(nv_pool_free(pool.get(), a), NV_ERROR) << "a quarantined chunk is not live";
    EXPECT_EQ(log_.TakeErrors(), 1u);
    EXPECT_EQ(reports_.size(), 1u) << All();
  }
  for (const char *operation : {"nv_pool_validate", "nv_pool_reset", "nv_pool_destroy"}) {
    SCOPED_TRACE(operation);
    reports_.clear();
    nvtest::PoolPtr pool = Make();
    unsigned char *a = Alloc(pool.get(), 13);
    unsigned char *big = Alloc(pool.get(), 100000);
    ASSERT_NE(a, nullptr);
    ASSERT_NE(big, nullptr);
    SilentFlip(a, -1, 0);
    SilentFlip(big, 100000, 100001);
    const std::string op = operation;
    if (op == "nv_pool_validate") {
      nv_pool_validate(pool.get());
    } else if (op == "nv_pool_reset") {
      nv_pool_reset(pool.get());
      EXPECT_EQ(nv_pool_is_empty(pool.get()), 1);
    } else {
      nv_pool_destroy(pool.release());
    }
    ASSERT_EQ(reports_.size(), 2u) << All();
    for (const Seen &s : reports_) EXPECT_EQ(s.operation, op);
    EXPECT_EQ(reports_[0].kind, NV_POOL_CORRUPT_FRONT_REDZONE);
    EXPECT_EQ(reports_[0].chunk, a);
    EXPECT_EQ(reports_[1].kind, NV_POOL_CORRUPT_BACK_REDZONE);
    EXPECT_EQ(reports_[1].chunk, big);
    EXPECT_EQ(reports_[1].requested, 100000u);
  }
}

// A damaged chunk is never handed out again: the same size allocated many
// times never returns its address, and the pool stays consistent.
TEST_F(HandlerTest, DamagedChunkIsQuarantined) {
  nvtest::PoolPtr pool = Make();
  std::set<unsigned char *> quarantined;
  for (size_t size : {13u, 200u, 4096u}) {
    SCOPED_TRACE("size " + std::to_string(size));
    reports_.clear();
    unsigned char *a = Alloc(pool.get(), size);
    unsigned char *b = Alloc(pool.get(), size);
    ASSERT_NE(a, nullptr);
    ASSERT_NE(b, nullptr);
    quarantined.insert(a);
    SilentFlip(a, static_cast<long>(size), static_cast<long>(size) + 1);
    const size_t used = nv_pool_get_used(pool.get());
    nv_pool_stats_t before, after;
    nv_pool_get_stats(pool.get(), &before);
    EXPECT_EQ(nv_pool_free(pool.get(), a), NV_ECORRUPT);
    EXPECT_EQ(reports_.size(), 1u) << All();
    EXPECT_EQ(nv_pool_get_used(pool.get()), used - size);
    nv_pool_get_stats(pool.get(), &after);
    EXPECT_EQ(after.live_allocations, before.live_allocations - 1) << "no longer live";
    EXPECT_EQ(after.frees, before.frees) << "a failed free is not counted as one";
    EXPECT_EQ(after.allocations, before.allocations);
    EXPECT_EQ(nv_pool_free(pool.get(), a), NV_ERROR) << "second free of a quarantined chunk";
    EXPECT_EQ(log_.TakeErrors(), 1u);
    EXPECT_EQ(nv_pool_validate_count(pool.get()), 0u) << log_.ErrorText();
    std::vector<unsigned char *> got;
    for (int i = 0; i < 200; i++) {
      unsigned char *p = Alloc(pool.get(), size);
      ASSERT_NE(p, nullptr);
      EXPECT_NE(p, a) << "the quarantined chunk was handed out again";
      got.push_back(p);
      if (i % 2 == 0) {  // free some: the free lists get exercised too
        EXPECT_EQ(nv_pool_free(pool.get(), p), NV_OK);
        got.pop_back();
      }
    }
    for (unsigned char *p : got) EXPECT_EQ(nv_pool_free(pool.get(), p), NV_OK);
    EXPECT_EQ(nv_pool_free(pool.get(), b), NV_OK);
    EXPECT_EQ(reports_.size(), 1u) << All();
  }
  // compact merges free chunks and rebuilds the free lists from the blocks:
  // the quarantined chunks still stay out.
  reports_.clear();
  EXPECT_EQ(nv_pool_compact(pool.get()), NV_OK);
  for (size_t size : {13u, 200u, 4096u, 100u, 0u}) {
    for (int i = 0; i < 100; i++) {
      unsigned char *p = Alloc(pool.get(), size);
      ASSERT_NE(p, nullptr);
      EXPECT_EQ(quarantined.count(p), 0u) << "a quarantined chunk was handed out again";
    }
  }
  EXPECT_EQ(nv_pool_validate_count(pool.get()), 0u) << log_.ErrorText();
  EXPECT_EQ(reports_.size(), 0u) << All();
}

// A write after free, found when the chunk would be reused: the allocation
// still succeeds (with another chunk), the damaged one is quarantined.
TEST_F(HandlerTest, WriteAfterFreeFoundOnReuse) {
  nvtest::PoolPtr pool = Make();
  unsigned char *a = Alloc(pool.get(), 40);
  unsigned char *b = Alloc(pool.get(), 40);
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  ASSERT_EQ(nv_pool_free(pool.get(), a), NV_OK);
  SilentFlip(a, 5, 6);
  unsigned char *c = Alloc(pool.get(), 40);
  ASSERT_NE(c, nullptr);
  EXPECT_NE(c, a);
  ASSERT_EQ(reports_.size(), 1u) << All();
  EXPECT_EQ(reports_[0].kind, NV_POOL_CORRUPT_FREED_CHUNK);
  EXPECT_EQ(reports_[0].offset, 5);
  EXPECT_EQ(reports_[0].requested, 0u) << "a free chunk has no requested size";
  EXPECT_EQ(reports_[0].chunk, a);
  EXPECT_EQ(reports_[0].operation, "nv_pool_alloc");
  for (int i = 0; i < 100; i++) {
    unsigned char *p = Alloc(pool.get(), 40);
    ASSERT_NE(p, nullptr);
    EXPECT_NE(p, a);
    EXPECT_EQ(nv_pool_free(pool.get(), p), NV_OK);
  }
  EXPECT_EQ(reports_.size(), 1u) << All();
  EXPECT_EQ(nv_pool_validate_count(pool.get()), 0u) << log_.ErrorText();
}

// The same through the slow path (a size above the fast path's limit).
TEST_F(HandlerTest, WriteAfterFreeOfABlockChunkFoundOnReuse) {
  nvtest::PoolPtr pool = Make();
  unsigned char *a = Alloc(pool.get(), 3000);
  unsigned char *b = Alloc(pool.get(), 3000);
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  ASSERT_EQ(nv_pool_free(pool.get(), a), NV_OK);
  SilentFlip(a, 2999, 3000);
  unsigned char *c = Alloc(pool.get(), 3000);
  ASSERT_NE(c, nullptr);
  EXPECT_NE(c, a);
  ASSERT_EQ(reports_.size(), 1u) << All();
  EXPECT_EQ(reports_[0].kind, NV_POOL_CORRUPT_FREED_CHUNK);
  EXPECT_EQ(reports_[0].offset, 2999);
  EXPECT_EQ(reports_[0].operation, "nv_pool_alloc");
}

// nv_pool_validate_count logs each problem and counts it; the handler is not
// called. nv_pool_validate reports the same problems to the handler.
TEST_F(HandlerTest, ValidateCountCountsWithoutTheHandler) {
  nvtest::PoolPtr pool = Make();
  unsigned char *a = Alloc(pool.get(), 13);
  unsigned char *b = Alloc(pool.get(), 13);
  unsigned char *c = Alloc(pool.get(), 40);
  unsigned char *d = Alloc(pool.get(), 13);
  unsigned char *big = Alloc(pool.get(), 70000);
  ASSERT_TRUE(a && b && c && d && big);
  EXPECT_EQ(nv_pool_validate_count(pool.get()), 0u) << log_.ErrorText();
  ASSERT_EQ(nv_pool_free(pool.get(), c), NV_OK);
  SilentFlip(a, 13, 14);            // overflow
  SilentFlip(b, -3, -2);            // underflow
  SilentFlip(c, 0, 1);              // write after free
  SilentFlip(big, 70000, 70001);    // overflow of a large chunk
  log_.Clear();
  EXPECT_EQ(nv_pool_validate_count(pool.get()), 4u) << log_.ErrorText();
  EXPECT_EQ(reports_.size(), 0u) << "validate_count called the handler:\n" << All();
  EXPECT_EQ(log_.Errors(), 4u) << log_.ErrorText();
  const std::string text = log_.ErrorText();
  for (const char *kind : {"back redzone (overflow) damaged", "front redzone (underflow) damaged",
                           "freed chunk (write after free) damaged"})
    EXPECT_NE(text.find(kind), std::string::npos) << kind << "\n" << text;
  EXPECT_NE(text.find("found by nv_pool_validate_count"), std::string::npos) << text;
  log_.Clear();
  // Counting changes nothing: the same count again.
  EXPECT_EQ(nv_pool_validate_count(pool.get()), 4u);
  log_.Clear();
  nv_pool_validate(pool.get());
  ASSERT_EQ(reports_.size(), 4u) << All();
  for (const Seen &s : reports_) EXPECT_EQ(s.operation, "nv_pool_validate");
  EXPECT_EQ(log_.Errors(), 0u) << "a replaced handler gets the reports, nothing is logged";
  reports_.clear();
  // Freeing the damaged chunks quarantines them: the pool is healthy again.
  EXPECT_EQ(nv_pool_free(pool.get(), a), NV_ECORRUPT);
  EXPECT_EQ(nv_pool_free(pool.get(), b), NV_ECORRUPT);
  EXPECT_EQ(nv_pool_free(pool.get(), big), NV_ECORRUPT);
  EXPECT_EQ(reports_.size(), 3u) << All();
  log_.Clear();
  EXPECT_EQ(nv_pool_validate_count(pool.get()), 1u) << "the freed chunk stays damaged\n"
                                                    << log_.ErrorText();
  log_.Clear();
  EXPECT_EQ(nv_pool_free(pool.get(), d), NV_OK);
  EXPECT_EQ(nv_pool_validate_count(nullptr), 1u) << "a NULL pool counts as one problem";
  log_.Clear();
}

// A damaged header: free refuses (NV_ECORRUPT is for checked chunks; a chunk
// whose header does not verify cannot be freed at all), reports kind HEADER
// at the chunk's start, and the chunk is never handed out again.
TEST_F(HandlerTest, DamagedHeader) {
  nvtest::PoolPtr pool = Make();
  for (size_t size : {13u, 4096u, 100000u}) {
    SCOPED_TRACE("size " + std::to_string(size));
    reports_.clear();
    unsigned char *a = Alloc(pool.get(), size);
    unsigned char *b = Alloc(pool.get(), size);
    ASSERT_NE(a, nullptr);
    ASSERT_NE(b, nullptr);
    SilentFlip(a, -static_cast<long>(Prefix()), -static_cast<long>(Prefix()) + 1);
    EXPECT_NE(nv_pool_free(pool.get(), a), NV_OK);
    ASSERT_EQ(reports_.size(), 1u) << All();
    EXPECT_EQ(reports_[0].kind, NV_POOL_CORRUPT_HEADER);
    EXPECT_EQ(reports_[0].offset, -static_cast<long>(Prefix()));
    EXPECT_EQ(reports_[0].chunk, a);
    EXPECT_EQ(reports_[0].operation, "nv_pool_free");
    EXPECT_EQ(nv_pool_free(pool.get(), b), NV_OK);
    if (size < 64 * 1024) {
      for (int i = 0; i < 50; i++) {
        unsigned char *p = Alloc(pool.get(), size);
        ASSERT_NE(p, nullptr);
        EXPECT_NE(p, a);
      }
    }
  }
  log_.Clear();
}

// 64 bytes past a small chunk run over its back redzone into the next
// chunk's header and front redzone. Freeing the overflowed chunk reports its
// back redzone; the neighbour's free fails (its header no longer verifies) and
// validate finds the damage.
TEST_F(HandlerTest, OverflowIntoTheNextChunk) {
  nvtest::PoolPtr pool = Make();
  unsigned char *a = Alloc(pool.get(), 13);
  unsigned char *b = Alloc(pool.get(), 13);
  unsigned char *c = Alloc(pool.get(), 13);
  ASSERT_TRUE(a && b && c);
  ASSERT_LT(b - Prefix(), a + 13 + 64) << "the overflow reaches b's header";
  ASSERT_GE(c - Prefix(), a + 13 + 64) << "and stops before c";
  SilentFlip(a, 13, 13 + 64);
  log_.Clear();
  EXPECT_GE(nv_pool_validate_count(pool.get()), 2u) << log_.ErrorText();
  EXPECT_NE(log_.ErrorText().find("back redzone (overflow) damaged"), std::string::npos)
      << log_.ErrorText();
  EXPECT_NE(log_.ErrorText().find("chunk header damaged"), std::string::npos) << log_.ErrorText();
  log_.Clear();
  EXPECT_EQ(nv_pool_free(pool.get(), a), NV_ECORRUPT);
  ASSERT_EQ(reports_.size(), 1u) << All();
  EXPECT_EQ(reports_[0].kind, NV_POOL_CORRUPT_BACK_REDZONE);
  EXPECT_EQ(reports_[0].offset, 13);
  reports_.clear();
  // The neighbour: header and (in the default layout) front redzone damaged.
  EXPECT_NE(nv_pool_free(pool.get(), b), NV_OK) << "free of a chunk with a damaged header";
  for (const Seen &s : reports_) {
    EXPECT_EQ(s.kind, NV_POOL_CORRUPT_HEADER) << s.text;
    EXPECT_EQ(s.chunk, b) << s.text;
  }
  EXPECT_EQ(nv_pool_free(pool.get(), c), NV_OK) << "the chunk after is untouched";
  log_.Clear();
}

// A damaged size field in a live header: nv_pool_validate notices (as a
// header whose size does not fit the block, or one the front redzone does
// not vouch for). Free reports it too: see library bug 1 at the end.
TEST_F(HandlerTest, DamagedSizeFieldIsFoundByValidate) {
  for (size_t size : {13u, 4096u, 100000u}) {
    for (long byte : {4L, 7L}) {  // low and high byte of the 4-byte size
      SCOPED_TRACE("size " + std::to_string(size) + ", header byte " + std::to_string(byte));
      nvtest::PoolPtr pool = Make();
      unsigned char *a = Alloc(pool.get(), size);
      unsigned char *b = Alloc(pool.get(), size);
      ASSERT_TRUE(a && b);
      const long at = -static_cast<long>(Prefix()) + byte;
      SilentFlip(a, at, at + 1);
      log_.Clear();
      EXPECT_GE(nv_pool_validate_count(pool.get()), 1u);
      const std::string text = log_.ErrorText();
      EXPECT_TRUE(text.find("chunk header damaged") != std::string::npos ||
                  text.find("back redzone (overflow) damaged") != std::string::npos)
          << text;
      SilentFlip(a, at, at + 1);  // repaired: destroy must not trip over it
      log_.Clear();
      EXPECT_EQ(nv_pool_validate_count(pool.get()), 0u) << log_.ErrorText();
    }
  }
  EXPECT_EQ(reports_.size(), 0u) << All();
}

// A size damaged within its chunk (13 -> 15: the same span, the back
// redzone check would start two canary bytes later and pass) disagrees with
// the size the front redzone carries: reported as a damaged header, and the
// chunk leaves the counts.
TEST_F(HandlerTest, SizeDamagedWithinTheChunkIsAHeaderReport) {
  nvtest::PoolPtr pool = Make();
  unsigned char *a = Alloc(pool.get(), 13);
  unsigned char *b = Alloc(pool.get(), 13);
  ASSERT_TRUE(a && b);
  volatile unsigned char *size_low = a - Prefix() + 4;  // the header's size field
  *size_low = static_cast<unsigned char>(*size_low ^ 0x02);
  EXPECT_NE(nv_pool_free(pool.get(), a), NV_OK);
  ASSERT_EQ(reports_.size(), 1u) << All();
  EXPECT_EQ(reports_[0].kind, NV_POOL_CORRUPT_HEADER);
  EXPECT_EQ(reports_[0].chunk, a);
  EXPECT_EQ(nv_pool_get_used(pool.get()), 13u) << "only b is live";
  log_.Clear();
  EXPECT_EQ(nv_pool_validate_count(pool.get()), 0u) << log_.ErrorText();
  EXPECT_EQ(nv_pool_free(pool.get(), b), NV_OK);
}

// A realloc that had to move keeps a reserve behind the back redzone, filled
// with the freed pattern: a write that skips the redzone and lands there is
// found by validate, as back-redzone damage at its offset.
TEST_F(HandlerTest, WriteIntoAReserveIsFoundByValidate) {
  nvtest::PoolPtr pool = Make();
  unsigned char *blocker = nullptr;
  unsigned char *q = MovedWithReserve(pool.get(), &blocker);  // room for 600
  ASSERT_NE(q, nullptr);
  log_.Clear();
  EXPECT_EQ(nv_pool_validate_count(pool.get()), 0u) << log_.ErrorText();
  SilentFlip(q, 580, 581);  // past the back redzone of 500 bytes, inside the reserve
  EXPECT_EQ(nv_pool_validate_count(pool.get()), 1u);
  EXPECT_NE(log_.ErrorText().find("back redzone (overflow) damaged"), std::string::npos)
      << log_.ErrorText();
  EXPECT_NE(log_.ErrorText().find("first bad byte at offset 580"), std::string::npos)
      << log_.ErrorText();
  SilentFlip(q, 580, 581);
  log_.Clear();
  EXPECT_EQ(nv_pool_realloc(pool.get(), q, 600), q) << "grows in place into the reserve";
  EXPECT_EQ(nv_pool_validate_count(pool.get()), 0u) << log_.ErrorText();
  EXPECT_EQ(reports_.size(), 0u) << All();
}

// A growth in place rewrites the part of the reserve it takes: damage there
// is reported by that realloc (which fails and quarantines the chunk), not
// lost. Damage beyond what a growth takes stays for free and validate.
TEST_F(HandlerTest, WriteIntoTheReserveIsFoundByTheGrowthThatTakesIt) {
  {
    nvtest::PoolPtr pool = Make();
    unsigned char *blocker = nullptr;
    unsigned char *q = MovedWithReserve(pool.get(), &blocker);  // room for 600
    ASSERT_NE(q, nullptr);
    SilentFlip(q, 540, 541);  // in the reserve, in every hardened layout
    EXPECT_EQ(nv_pool_realloc(pool.get(), q, 560), nullptr) << "the growth takes byte 540";
    ASSERT_EQ(reports_.size(), 1u) << All();
    EXPECT_EQ(reports_[0].kind, NV_POOL_CORRUPT_BACK_REDZONE);
    EXPECT_EQ(reports_[0].offset, 540);
    EXPECT_EQ(reports_[0].requested, 500u);
    EXPECT_EQ(reports_[0].chunk, q);
    EXPECT_NE(nv_pool_free(pool.get(), q), NV_OK) << "quarantined, not live";
    EXPECT_EQ(nv_pool_free(pool.get(), blocker), NV_OK);
  }
  {
    reports_.clear();
    nvtest::PoolPtr pool = Make();
    unsigned char *blocker = nullptr;
    unsigned char *q = MovedWithReserve(pool.get(), &blocker);
    ASSERT_NE(q, nullptr);
    SilentFlip(q, 580, 581);
    EXPECT_EQ(nv_pool_realloc(pool.get(), q, 520), q) << "a growth short of byte 580";
    EXPECT_EQ(reports_.size(), 0u) << All();
    log_.Clear();
    EXPECT_EQ(nv_pool_validate_count(pool.get()), 1u);
    EXPECT_NE(log_.ErrorText().find("first bad byte at offset 580"), std::string::npos)
        << log_.ErrorText();
  }
}

// The reserve lives in the top byte of a growing chunk's tag, and the front
// redzone vouches for it: a damaged reserve is a damaged header, never a
// free that hands the neighbour's memory back (under ASan, the checks must
// not touch the neighbour either: it is written afterwards).
TEST_F(HandlerTest, DamagedReserveInTheTagIsAHeaderReport) {
  for (unsigned char flip : {0x01, 0x08, 0x80}) {
    SCOPED_TRACE(static_cast<int>(flip));
    reports_.clear();
    nvtest::PoolPtr pool = Make();
    unsigned char *x = nullptr;
    unsigned char *q = MovedWithReserve(pool.get(), &x);
    ASSERT_NE(q, nullptr);
    unsigned char *n = Alloc(pool.get(), 16);  // right after q's reserve
    ASSERT_NE(n, nullptr);
    std::memset(n, 0x6E, 16);
    volatile unsigned char *reserve = q - Prefix() + 3;  // the tag's top byte
    *reserve = static_cast<unsigned char>(*reserve ^ flip);
    EXPECT_NE(nv_pool_free(pool.get(), q), NV_OK);
    ASSERT_EQ(reports_.size(), 1u) << All();
    EXPECT_EQ(reports_[0].kind, NV_POOL_CORRUPT_HEADER);
    std::memset(n, 0x6F, 16);  // still n's: neither freed nor poisoned
    log_.Clear();
    EXPECT_EQ(nv_pool_validate_count(pool.get()), 0u) << log_.ErrorText();
    EXPECT_EQ(nv_pool_get_used(pool.get()), 8u + 16u);
    unsigned char *again = Alloc(pool.get(), 600);
    ASSERT_NE(again, nullptr);
    EXPECT_TRUE(again + 600 <= n - Prefix() || again >= n + 16) << "overlaps the live n";
    EXPECT_TRUE(nvtest::AllAre(n, 16, 0x6F));
    log_.Clear();
  }
}

// An underflow of 9 to 12 bytes damages the header's size and the front
// word together, so nothing in the chunk vouches for its length: the
// quarantined chunk reaches the next header, and the pool stays walkable
// with exact counts.
TEST_F(HandlerTest, UnderflowOverSizeAndFrontWordKeepsThePoolWalkable) {
  for (int fill : {0x00, 0x41}) {
    SCOPED_TRACE(fill);
    reports_.clear();
    nvtest::PoolPtr pool = Make();
    unsigned char *a = Alloc(pool.get(), 13);
    unsigned char *b = Alloc(pool.get(), 13);
    unsigned char *c = Alloc(pool.get(), 13);
    ASSERT_TRUE(a && b && c);
    SilentSet(a, -12, 0, static_cast<unsigned char>(fill));
    EXPECT_NE(nv_pool_free(pool.get(), a), NV_OK);
    EXPECT_GE(reports_.size(), 1u) << All();
    log_.Clear();
    EXPECT_EQ(nv_pool_validate_count(pool.get()), 0u) << log_.ErrorText();
    EXPECT_EQ(nv_pool_get_used(pool.get()), 26u) << "b and c are live";
    EXPECT_EQ(nv_pool_free(pool.get(), b), NV_OK);
    EXPECT_EQ(nv_pool_free(pool.get(), c), NV_OK);
    EXPECT_EQ(nv_pool_is_empty(pool.get()), 1);
    EXPECT_EQ(nv_pool_validate_count(pool.get()), 0u) << log_.ErrorText();
    log_.Clear();
  }
}

// Copies n bytes from src to dst, unseen by the tools (src may be a chunk
// header, which the pool keeps poisoned).
NO_ASAN void SilentCopy(void *dst, const void *src, size_t n) {
  VALGRIND_DISABLE_ADDR_ERROR_REPORTING_IN_RANGE(src, n);
  for (size_t i = 0; i < n; i++)
    static_cast<volatile unsigned char *>(dst)[i] =
        static_cast<const volatile unsigned char *>(src)[i];
  VALGRIND_ENABLE_ADDR_ERROR_REPORTING_IN_RANGE(src, n);
}

// A chunk whose header and front word are damaged is stepped over up to the
// next chunk header. The caller's data inside it may hold bytes that look
// like a header (the fuzzer found one: a growing tag is matched on 24 bits);
// one whose chunk would run past the block's end is not taken for the next
// header, or the walk would stop there and lose the chunks after it.
TEST_F(HandlerTest, HeaderLookAlikeInDamagedChunkDoesNotEndTheWalk) {
  nvtest::PoolPtr pool = Make();
  unsigned char *a = Alloc(pool.get(), 4096);
  unsigned char *b = Alloc(pool.get(), 13);
  ASSERT_TRUE(a && b);
  // b's live tag, with a requested size no block can hold, 1 KiB into a's
  // chunk (on the 16-byte chunk grid).
  uint32_t fake[2];
  SilentCopy(&fake[0], b - Prefix(), sizeof fake[0]);
  fake[1] = 0x7ffffff0u;
  std::memcpy(a - Prefix() + 1024, fake, sizeof fake);
  SilentSet(a, -12, 0, 0x00);  // the size and the front word
  EXPECT_NE(nv_pool_free(pool.get(), a), NV_OK);
  EXPECT_GE(reports_.size(), 1u) << All();
  log_.Clear();
  EXPECT_EQ(nv_pool_get_used(pool.get()), 13u) << "b is live: " << All();
  EXPECT_EQ(nv_pool_validate_count(pool.get()), 0u) << log_.ErrorText();
  EXPECT_EQ(nv_pool_free(pool.get(), b), NV_OK);
  EXPECT_EQ(nv_pool_is_empty(pool.get()), 1);
  log_.Clear();
}

// Contract §8: "Writes into space released by nv_pool_reset or never handed
// out are left to ASan and Valgrind." Freeing the last chunk of a block gives
// its space back to the block's tail (never handed out since), so a write
// after that free is not the pool's to find either. These pin that limit
// (the table in docs/hardening.md); asan_pool_test and valgrind_pool_test
// show the tools catching the same writes.
TEST_F(HandlerTest, WritesIntoReleasedSpaceAreLeftToTheTools) {
  nvtest::PoolPtr pool = Make();
  unsigned char *a = Alloc(pool.get(), 40);
  unsigned char *last = Alloc(pool.get(), 40);
  ASSERT_TRUE(a && last);
  ASSERT_EQ(nv_pool_free(pool.get(), last), NV_OK);
  SilentFlip(last, 0, 40);  // after the free of the block's last chunk
  log_.Clear();
  EXPECT_EQ(nv_pool_validate_count(pool.get()), 0u) << log_.ErrorText();
  unsigned char *again = Alloc(pool.get(), 40);
  EXPECT_EQ(again, last) << "carved again from the tail, unchecked";
  nv_pool_reset(pool.get());
  SilentFlip(a, 0, 40);  // after the reset
  EXPECT_EQ(nv_pool_validate_count(pool.get()), 0u) << log_.ErrorText();
  for (int i = 0; i < 10; i++) EXPECT_NE(Alloc(pool.get(), 40), nullptr);
  EXPECT_EQ(reports_.size(), 0u) << All();
}

// ---- library bugs found by these tests (fixed; kept as regressions) ----

// LIBRARY BUG 1: the size field of a live chunk's header is trusted by
// nv_pool_free (and realloc) before it is checked against the chunk. A
// damaged low byte (13 -> 242) is not reported: free returns NV_OK and
// nv_pool_get_used() wraps below zero. A damaged high byte crashes nv_pool_free
// (SIGSEGV: the back-redzone check reads at user + requested). nv_pool_validate
// already checks "a live chunk's size does not fit its span"; free and realloc
// should do the same and report NV_POOL_CORRUPT_HEADER.
// Expected: a HEADER report, the free refused (not NV_OK), the chunk out of `used`.
TEST_F(HandlerTest, DamagedSizeFieldIsReportedByFree) {
  for (size_t size : {13u, 4096u, 100000u}) {
    for (long byte : {4L, 7L}) {  // low and high byte of the 4-byte size
      SCOPED_TRACE("size " + std::to_string(size) + ", header byte " + std::to_string(byte));
      auto damage_then_free = [this](size_t n, long at) {
        nvtest::PoolPtr pool = Make();
        unsigned char *a = Alloc(pool.get(), n);
        unsigned char *b = Alloc(pool.get(), n);
        if (a == nullptr || b == nullptr) std::exit(3);
        const size_t used = nv_pool_get_used(pool.get());
        SilentFlip(a, -static_cast<long>(Prefix()) + at, -static_cast<long>(Prefix()) + at + 1);
        const int rc = nv_pool_free(pool.get(), a);
        const bool reported = reports_.size() == 1 && reports_[0].kind == NV_POOL_CORRUPT_HEADER;
        std::fprintf(stderr, "free returned %d, %zu reports, used %zu -> %zu\n%s", rc,
                     reports_.size(), used, nv_pool_get_used(pool.get()), All().c_str());
        // Like a chunk with damaged redzones, the chunk leaves the counts
        // (quarantined), whatever its damaged size field says.
        std::exit(rc != NV_OK && reported && nv_pool_get_used(pool.get()) == used - n ? 0 : 1);
      };
      EXPECT_EXIT(damage_then_free(size, byte), testing::ExitedWithCode(0), "");
    }
  }
}

// LIBRARY BUG 2: after nv_pool_free reports a damaged header of a block chunk
// (and tags the chunk as quarantined), the chunk still counts in `used` and
// in the live count: nv_pool_is_empty() stays 0 after every other chunk is
// freed, and nv_pool_validate_count() reports "pool state damaged ... used
// bytes or live count disagree with the chunks" from then on, a problem the
// library made itself. (For a damaged redzone, quarantine_chunk does take
// the chunk out of `used`.)
// Expected: validate_count 0 after the reported free; is_empty 1 once the
// other chunks are freed.
TEST_F(HandlerTest, DamagedHeaderLeavesTheCountsConsistent) {
  nvtest::PoolPtr pool = Make();
  unsigned char *a = Alloc(pool.get(), 13);
  unsigned char *b = Alloc(pool.get(), 13);
  ASSERT_TRUE(a && b);
  SilentFlip(a, -static_cast<long>(Prefix()), -static_cast<long>(Prefix()) + 1);
  EXPECT_NE(nv_pool_free(pool.get(), a), NV_OK);
  ASSERT_EQ(reports_.size(), 1u) << All();
  log_.Clear();
  EXPECT_EQ(nv_pool_validate_count(pool.get()), 0u) << log_.ErrorText();
  EXPECT_EQ(nv_pool_get_used(pool.get()), 13u);
  EXPECT_EQ(nv_pool_free(pool.get(), b), NV_OK);
  EXPECT_EQ(nv_pool_is_empty(pool.get()), 1);
  EXPECT_EQ(nv_pool_get_used(pool.get()), 0u);
  log_.Clear();
}

}  // namespace

// Thread-safe pools run the same fast paths, under their lock (alloc_slow and
// free_slow): their checks must still fire and hand over to the reporting
// slow path without deadlocking on the lock they already hold.
TEST_F(HandlerTest, ThreadSafePoolFastPathsReport) {
  nv_pool_config_t config = NV_POOL_CONFIG_DEFAULT;
  config.name = "shared";
  config.thread_safe = 1;
  nvtest::PoolPtr pool(nv_pool_create(&config));
  ASSERT_NE(pool, nullptr);
  unsigned char *a = Alloc(pool.get(), 24);
  unsigned char *b = Alloc(pool.get(), 24);
  unsigned char *keep = Alloc(pool.get(), 24);  // keeps b off the block's tail
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  ASSERT_NE(keep, nullptr);
  SilentFlip(a, 24, 25);
  EXPECT_EQ(nv_pool_free(pool.get(), a), NV_ECORRUPT);
  ASSERT_EQ(reports_.size(), 1u) << All();
  EXPECT_EQ(reports_[0].kind, NV_POOL_CORRUPT_BACK_REDZONE);
  EXPECT_EQ(reports_[0].offset, 24);
  EXPECT_EQ(reports_[0].operation, "nv_pool_free");
  EXPECT_EQ(reports_[0].pool_name, "shared");

  ASSERT_EQ(nv_pool_free(pool.get(), b), NV_OK);
  EXPECT_EQ(nv_pool_free(pool.get(), b), NV_ERROR) << "double free";
  SilentFlip(b, 3, 4);
  unsigned char *c = Alloc(pool.get(), 24);
  ASSERT_NE(c, nullptr);
  ASSERT_EQ(reports_.size(), 2u) << All();
  EXPECT_EQ(reports_[1].kind, NV_POOL_CORRUPT_FREED_CHUNK);
  EXPECT_EQ(reports_[1].chunk, b);
  EXPECT_EQ(reports_[1].operation, "nv_pool_alloc");
  // An export nests nv_pool_get_stats inside the pool's lock.
  char json[2048];
  EXPECT_LT(nv_pool_stats_json(pool.get(), json, sizeof json), sizeof json);
  EXPECT_NE(std::string(json).find("\"live_allocations\":2,"), std::string::npos) << json;
  EXPECT_EQ(nv_pool_free(pool.get(), c), NV_OK);
  EXPECT_EQ(nv_pool_free(pool.get(), keep), NV_OK);
  EXPECT_EQ(nv_pool_validate_count(pool.get()), 0u) << log_.ErrorText();
}
