// nv_pool under AddressSanitizer (contract §8): the pool poisons redzones,
// freed chunks and block space it has not handed out, and unpoisons exactly
// the requested bytes of a live chunk, so ASan itself reports the first bad
// access of an overflow into the next chunk, a read after nv_pool_free and a
// read after nv_pool_reset. Meaningful only in an ASan build
// (`bazel test --config=asan //tests:asan_pool_test`); elsewhere every test
// skips with the reason.
//
// Death tests match ASan's report line. A partially poisoned granule can be
// reported as unknown-crash rather than use-after-poison (hardening-facts
// §1), so both are accepted; memory that went back to malloc is ASan's own
// heap-use-after-free.
#include <nv_pool.h>

#include "tests/pool_test_util.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define NV_TEST_ASAN 1
#endif
#endif
#if !defined(NV_TEST_ASAN) && defined(__SANITIZE_ADDRESS__)
#define NV_TEST_ASAN 1
#endif
#ifndef NV_TEST_ASAN
#define NV_TEST_ASAN 0
#endif

#if NV_TEST_ASAN
#include <sanitizer/asan_interface.h>
#endif

namespace {

constexpr char kPoisoned[] = "ERROR: AddressSanitizer: (use-after-poison|unknown-crash)";
constexpr char kHeapUseAfterFree[] = "ERROR: AddressSanitizer: heap-use-after-free";

#define SKIP_WITHOUT_ASAN()                                                                 \
  do {                                                                                      \
    if (!NV_TEST_ASAN)                                                                      \
      GTEST_SKIP() << "not an AddressSanitizer build: the pool's poisoning exists only "    \
                      "when compiled with -fsanitize=address (bazel test --config=asan)";   \
  } while (0)

nv_pool_t *MakePool() {
  nv_pool_config_t config = NV_POOL_CONFIG_DEFAULT;
  config.name = "asan";
  config.max_size = 0;
  nv_pool_t *pool = nv_pool_create(&config);
  if (pool == nullptr) std::abort();
  return pool;
}

unsigned char *Alloc(nv_pool_t *pool, size_t n) {
  auto *p = static_cast<unsigned char *>(nv_pool_alloc(pool, n));
  if (p == nullptr) std::abort();
  return p;
}

// Plain accesses, as the buggy program would make them.
void Write(unsigned char *p, long i) { static_cast<volatile unsigned char *>(p)[i] = 'x'; }
unsigned char Read(const unsigned char *p, long i) {
  return static_cast<const volatile unsigned char *>(p)[i];
}

// ---- the three bugs of contract §8 -------------------------------------------

// A byte-by-byte copy that runs from one chunk over its end into the next:
// ASan stops it at the first byte past the requested size.
void OverflowIntoNextChunk(size_t size) {
  nv_pool_t *pool = MakePool();
  unsigned char *a = Alloc(pool, size);
  unsigned char *b = Alloc(pool, size);
  for (long i = 0; i < b - a + static_cast<long>(size); i++) Write(a, i);
  std::fprintf(stderr, "overflow not detected\n");
  std::exit(0);
}

TEST(AsanPoolDeathTest, OverflowIntoTheNextChunk) {
  SKIP_WITHOUT_ASAN();
  EXPECT_DEATH(OverflowIntoNextChunk(13), kPoisoned);   // fast path, partial granule
  EXPECT_DEATH(OverflowIntoNextChunk(16), kPoisoned);   // granule-aligned end
  EXPECT_DEATH(OverflowIntoNextChunk(1000), kPoisoned); // slow path
}

void ReadAfterFree(size_t size, bool last) {
  nv_pool_t *pool = MakePool();
  unsigned char *a = Alloc(pool, size);
  if (!last) Alloc(pool, size);  // a goes to a free list; else back to the tail
  a[0] = 1;
  if (nv_pool_free(pool, a) != NV_OK) std::abort();
  std::fprintf(stderr, "read %d: not detected\n", Read(a, 0));
  std::exit(0);
}

TEST(AsanPoolDeathTest, ReadAfterFree) {
  SKIP_WITHOUT_ASAN();
  EXPECT_DEATH(ReadAfterFree(13, false), kPoisoned);
  EXPECT_DEATH(ReadAfterFree(13, true), kPoisoned);
  EXPECT_DEATH(ReadAfterFree(3000, false), kPoisoned);
  // A large chunk's memory went back to malloc: ASan's own report.
  EXPECT_DEATH(ReadAfterFree(100000, false), kHeapUseAfterFree);
}

void ReadAfterReset(size_t size) {
  nv_pool_t *pool = MakePool();
  unsigned char *a = Alloc(pool, size);
  a[0] = 1;
  nv_pool_reset(pool);
  std::fprintf(stderr, "read %d: not detected\n", Read(a, 0));
  std::exit(0);
}

TEST(AsanPoolDeathTest, ReadAfterReset) {
  SKIP_WITHOUT_ASAN();
  EXPECT_DEATH(ReadAfterReset(13), kPoisoned);
  EXPECT_DEATH(ReadAfterReset(3000), kPoisoned);
  EXPECT_DEATH(ReadAfterReset(100000), kHeapUseAfterFree);
}

// ---- more of the table in docs/hardening.md ------------------------------------

TEST(AsanPoolDeathTest, UnderflowAndWriteAfterFree) {
  SKIP_WITHOUT_ASAN();
  auto underflow = []() {
    nv_pool_t *pool = MakePool();
    Alloc(pool, 13);
    unsigned char *a = Alloc(pool, 13);
    Write(a, -1);
    std::exit(0);
  };
  auto write_after_free = []() {
    nv_pool_t *pool = MakePool();
    unsigned char *a = Alloc(pool, 40);
    Alloc(pool, 40);
    nv_pool_free(pool, a);
    Write(a, 39);
    std::exit(0);
  };
  auto large_overflow = []() {
    nv_pool_t *pool = MakePool();
    unsigned char *a = Alloc(pool, 100003);
    Write(a, 100003);
    std::exit(0);
  };
  auto never_handed_out = []() {
    nv_pool_t *pool = MakePool();
    unsigned char *a = Alloc(pool, 16);
    Write(a, 200);  // block space beyond the bump pointer
    std::exit(0);
  };
  auto write_after_free_of_last = []() {
    nv_pool_t *pool = MakePool();
    Alloc(pool, 40);
    unsigned char *last = Alloc(pool, 40);
    nv_pool_free(pool, last);  // its space goes back to the block's tail
    Write(last, 0);
    std::exit(0);
  };
  auto write_after_reset = []() {
    nv_pool_t *pool = MakePool();
    unsigned char *a = Alloc(pool, 40);
    nv_pool_reset(pool);
    Write(a, 0);
    std::exit(0);
  };
  EXPECT_DEATH(underflow(), kPoisoned);
  EXPECT_DEATH(write_after_free_of_last(), kPoisoned);
  EXPECT_DEATH(write_after_reset(), kPoisoned);
  EXPECT_DEATH(write_after_free(), kPoisoned);
  EXPECT_DEATH(large_overflow(), kPoisoned);
  EXPECT_DEATH(never_handed_out(), kPoisoned);
}

// Chunk headers stay addressable (the pool reads them on every free), so a
// write into one is not ASan's to catch: the hardened pool reports it.
TEST(AsanPoolDeathTest, DamagedHeaderIsLeftToThePool) {
  SKIP_WITHOUT_ASAN();
  if (!nv_pool_hardening_enabled()) GTEST_SKIP() << "hardening compiled out";
  auto damage_header = []() {
    nv_pool_t *pool = MakePool();
    unsigned char *a = Alloc(pool, 13);
    Alloc(pool, 13);
    unsigned char *tag = a - nvtest::ChunkPrefix();
    *static_cast<volatile unsigned char *>(tag) ^= 0xFF;
    nv_pool_free(pool, a);
    std::exit(0);
  };
  EXPECT_DEATH(damage_header(), "nv_pool corruption in pool 'asan' .*: chunk header damaged");
}

// ---- exact poisoning --------------------------------------------------------------

#if NV_TEST_ASAN
bool Poisoned(const unsigned char *p) { return __asan_address_is_poisoned(p) != 0; }
#else
bool Poisoned(const unsigned char *) { return false; }
#endif

// Byte by byte (hardening-facts §1: __asan_region_is_poisoned has a false
// negative in clang 14): the requested bytes are addressable, the 8-byte front
// redzone and everything from the requested size to the chunk's end are not.
void ExpectExactlyOpen(const unsigned char *p, size_t n, const std::string &what) {
  for (long i = -8; i < 0; i++) EXPECT_TRUE(Poisoned(p + i)) << what << ": front byte " << i;
  for (size_t i = 0; i < n; i++)
    if (Poisoned(p + i)) {
      ADD_FAILURE() << what << ": requested byte " << i << " is poisoned";
      break;
    }
  // A block chunk's end; a large chunk's back redzone reaches at least as far.
  const size_t end = nvtest::ChunkBytes(n) - nvtest::ChunkPrefix();
  for (size_t i = n; i < end; i++) EXPECT_TRUE(Poisoned(p + i)) << what << ": back byte " << i;
}

TEST(AsanPoolTest, RequestedBytesExactlyAreAddressable) {
  SKIP_WITHOUT_ASAN();
  nv_pool_t *pool = MakePool();
  for (size_t n = 0; n <= 80; n++) {
    unsigned char *p = Alloc(pool, n);
    ExpectExactlyOpen(p, n, "alloc " + std::to_string(n));
  }
  for (size_t n : {959u, 960u, 1000u, 4095u, 65000u, 70001u}) {
    unsigned char *p = Alloc(pool, n);
    ExpectExactlyOpen(p, n, "alloc " + std::to_string(n));
  }
  // realloc in place, shrinking and growing: the boundary moves with it.
  auto *r = static_cast<unsigned char *>(nv_pool_realloc(pool, Alloc(pool, 40), 21));
  ASSERT_NE(r, nullptr);
  ExpectExactlyOpen(r, 21, "realloc 40 -> 21");
  r = static_cast<unsigned char *>(nv_pool_realloc(pool, r, 45));
  ASSERT_NE(r, nullptr);
  ExpectExactlyOpen(r, 45, "realloc 21 -> 45");
  // A freed chunk is poisoned as a whole; reused, it opens again exactly.
  unsigned char *f = Alloc(pool, 29);
  Alloc(pool, 8);
  ASSERT_EQ(nv_pool_free(pool, f), NV_OK);
  for (size_t i = 0; i < 29; i++) EXPECT_TRUE(Poisoned(f + i)) << "freed byte " << i;
  unsigned char *g = Alloc(pool, 29);
  EXPECT_EQ(g, f) << "the exact free list hands it out again";
  ExpectExactlyOpen(g, 29, "reused chunk");
  nv_pool_reset(pool);
  EXPECT_TRUE(Poisoned(g)) << "reset poisons the blocks";
  nv_pool_destroy(pool);
}

}  // namespace
