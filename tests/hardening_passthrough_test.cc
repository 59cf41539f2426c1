// Passthrough mode (nv_pool.h: config.passthrough = 1, or the environment
// variable NV_POOL_PASSTHROUGH=1 read by nv_pool_create): every allocation is
// its own backend allocation, so ASan, Valgrind and heap profilers see each
// one as an ordinary heap block, while free / reset / destroy / stats /
// get_used keep their meaning. The basic API behaviour in this mode is
// covered by pool_api_test (PassthroughKeepsTheApiBehaviour); this file holds
// the exact backend traffic, the environment switch, and hardening in
// passthrough mode.
#include <nv_pool.h>
#include <valgrind/memcheck.h>

#include <gtest/gtest.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "pool_test_util.h"

namespace {

using nvtest::LogCapture;

// NV_POOL_PASSTHROUGH set for the lifetime of the object, restored after.
class ScopedEnv {
 public:
  ScopedEnv(const char *name, const char *value) : name_(name) {
    const char *old = std::getenv(name);
    had_ = old != nullptr;
    if (had_) old_ = old;
    if (value)
      setenv(name, value, 1);
    else
      unsetenv(name);
  }
  ~ScopedEnv() {
    if (had_)
      setenv(name_.c_str(), old_.c_str(), 1);
    else
      unsetenv(name_.c_str());
  }

 private:
  std::string name_, old_;
  bool had_ = false;
};

// A malloc backend that remembers every live allocation's range, so a test
// can tell which backend allocation holds which pool allocation. (The pool
// also takes backend memory for its own bookkeeping: the struct and the table
// of large allocations.)
class RangeBackend {
 public:
  RangeBackend() {
    backend_.alloc = &RangeBackend::Alloc;
    backend_.release = &RangeBackend::Release;
    backend_.context = this;
  }
  ~RangeBackend() {
    for (const Range &r : live_) std::free(r.base);
  }
  const nv_pool_backend_t *backend() const { return &backend_; }
  uint64_t allocs() const { return allocs_; }
  uint64_t releases() const { return releases_; }
  size_t outstanding_count() const { return live_.size(); }
  size_t outstanding_bytes() const {
    size_t n = 0;
    for (const Range &r : live_) n += r.size;
    return n;
  }
  size_t errors() const { return errors_; }
  // How many live backend allocations hold all of [p, p + n).
  size_t Holding(const void *p, size_t n) const {
    const char *c = static_cast<const char *>(p);
    size_t count = 0;
    for (const Range &r : live_)
      if (c >= r.base && c + n <= r.base + r.size) count++;
    return count;
  }
  // The live allocation holding p, or nullptr.
  const void *Base(const void *p) const {
    const char *c = static_cast<const char *>(p);
    for (const Range &r : live_)
      if (c >= r.base && c < r.base + r.size) return r.base;
    return nullptr;
  }
  // Allocations made since the mark that hold [p, p + n).
  size_t NewHolding(uint64_t mark, const void *p, size_t n) const {
    const char *c = static_cast<const char *>(p);
    size_t count = 0;
    for (const Range &r : live_)
      if (r.serial > mark && c >= r.base && c + n <= r.base + r.size) count++;
    return count;
  }

 private:
  struct Range {
    char *base;
    size_t size;
    uint64_t serial;
  };
  static void *Alloc(void *context, size_t size) {
    auto *self = static_cast<RangeBackend *>(context);
    void *p = std::aligned_alloc(16, (size + 15) & ~size_t{15});
    if (p == nullptr) return nullptr;
    self->allocs_++;
    self->live_.push_back({static_cast<char *>(p), size, self->allocs_});
    return p;
  }
  static void Release(void *context, void *memory, size_t size) {
    auto *self = static_cast<RangeBackend *>(context);
    self->releases_++;
    for (size_t i = 0; i < self->live_.size(); i++) {
      if (self->live_[i].base == memory) {
        if (self->live_[i].size != size) self->errors_++;
        self->live_.erase(self->live_.begin() + static_cast<long>(i));
        std::free(memory);
        return;
      }
    }
    self->errors_++;
  }
  nv_pool_backend_t backend_;
  std::vector<Range> live_;
  uint64_t allocs_ = 0, releases_ = 0;
  size_t errors_ = 0;
};

nv_pool_config_t Config(const RangeBackend &backend, int passthrough) {
  nv_pool_config_t config = NV_POOL_CONFIG_DEFAULT;
  config.name = "passthrough";
  config.max_size = 0;
  config.backend = backend.backend();
  config.passthrough = passthrough;
  return config;
}

// Every nv_pool_alloc/calloc/align gets a backend allocation of its own, made
// by that call and holding nothing else; free releases exactly that one;
// reset releases every allocation; destroy releases the rest. used, stats
// and size stay exact.
void ExpectPassthrough(nv_pool_t *pool, RangeBackend &backend) {
  const size_t held0 = backend.outstanding_bytes();
  EXPECT_EQ(nv_pool_get_size(pool), held0) << "the pool struct only, no block";
  std::vector<std::pair<void *, size_t>> live;
  std::vector<const void *> bases;
  size_t used = 0;
  const std::vector<size_t> sizes = {0, 1, 13, 16, 100, 960, 1000, 4096, 70000};
  auto note = [&](void *p, size_t n, uint64_t mark, const char *what) {
    ASSERT_NE(p, nullptr) << what;
    EXPECT_EQ(backend.NewHolding(mark, p, n), 1u) << what << " " << n
                                                  << ": not in a backend allocation of its own";
    const void *base = backend.Base(p);
    for (const void *other : bases) EXPECT_NE(base, other) << what << ": shares an allocation";
    bases.push_back(base);
    live.push_back({p, n});
    used += n;
    EXPECT_EQ(nv_pool_get_used(pool), used);
  };
  for (size_t n : sizes) {
    const uint64_t mark = backend.allocs();
    note(nv_pool_alloc(pool, n), n, mark, "alloc");
  }
  uint64_t mark = backend.allocs();
  void *c = nv_pool_calloc(pool, 10, 10);
  note(c, 100, mark, "calloc");
  mark = backend.allocs();
  void *a = nv_pool_align(pool, 64, 256);
  note(a, 64, mark, "align");
  EXPECT_TRUE(nvtest::AllAre(c, 100, 0));
  EXPECT_TRUE(nvtest::Aligned(a, 256));
  for (const auto &pn : live) EXPECT_EQ(backend.Holding(pn.first, pn.second), 1u);
  nv_pool_stats_t stats;
  nv_pool_get_stats(pool, &stats);
  EXPECT_EQ(stats.live_allocations, live.size());
  EXPECT_EQ(stats.large_allocations, live.size()) << "every allocation is its own";
  EXPECT_EQ(stats.blocks, 0u);
  EXPECT_EQ(stats.used, used);
  EXPECT_EQ(stats.size, backend.outstanding_bytes());
  EXPECT_EQ(nv_pool_get_size(pool), backend.outstanding_bytes());
  EXPECT_EQ(nv_pool_validate_count(pool), 0u);

  // free: exactly one release, of that allocation.
  for (size_t i = 0; i < 4; i++) {
    const uint64_t before = backend.releases();
    const auto [p, n] = live.back();
    EXPECT_EQ(nv_pool_free(pool, p), NV_OK);
    EXPECT_EQ(backend.releases(), before + 1);
    EXPECT_EQ(backend.Holding(p, n), 0u) << "freed size " << n << " still held";
    live.pop_back();
    used -= n;
    EXPECT_EQ(nv_pool_get_used(pool), used);
  }
  EXPECT_EQ(nv_pool_get_size(pool), backend.outstanding_bytes());

  // reset: every allocation back to the backend; the pool is empty and usable.
  const uint64_t before_reset = backend.releases();
  nv_pool_reset(pool);
  EXPECT_EQ(backend.releases(), before_reset + live.size());
  for (const auto &pn : live) EXPECT_EQ(backend.Holding(pn.first, pn.second), 0u);
  EXPECT_EQ(nv_pool_get_used(pool), 0u);
  EXPECT_EQ(nv_pool_is_empty(pool), 1);
  EXPECT_EQ(nv_pool_get_size(pool), backend.outstanding_bytes());
  nv_pool_get_stats(pool, &stats);
  EXPECT_EQ(stats.live_allocations, 0u);
  EXPECT_EQ(stats.resets, 1u);
  EXPECT_EQ(stats.frees, 4u);
  EXPECT_EQ(stats.allocations, sizes.size() + 2);
  EXPECT_EQ(nv_pool_validate_count(pool), 0u);

  // Left live for destroy.
  for (size_t n : {5u, 50u, 500u}) {
    const uint64_t m = backend.allocs();
    void *p = nv_pool_alloc(pool, n);
    ASSERT_NE(p, nullptr);
    EXPECT_EQ(backend.NewHolding(m, p, n), 1u);
  }
}

TEST(PassthroughTest, ConfigFieldMakesEveryAllocationABackendAllocation) {
  ScopedEnv env("NV_POOL_PASSTHROUGH", nullptr);
  RangeBackend backend;
  {
    nv_pool_config_t config = Config(backend, 1);
    nv_pool_t *pool = nv_pool_create(&config);
    ASSERT_NE(pool, nullptr);
    EXPECT_EQ(backend.allocs(), 1u) << "no initial block in passthrough mode";
    ExpectPassthrough(pool, backend);
    nv_pool_destroy(pool);
  }
  EXPECT_EQ(backend.outstanding_count(), 0u);
  EXPECT_EQ(backend.errors(), 0u);
}

TEST(PassthroughTest, EnvironmentVariableTurnsItOn) {
  RangeBackend backend;
  {
    ScopedEnv env("NV_POOL_PASSTHROUGH", "1");
    nv_pool_config_t config = Config(backend, 0);
    nv_pool_t *pool = nv_pool_create(&config);
    ASSERT_NE(pool, nullptr);
    ExpectPassthrough(pool, backend);
    nv_pool_destroy(pool);
  }
  EXPECT_EQ(backend.outstanding_count(), 0u);
  EXPECT_EQ(backend.errors(), 0u);
}

// "0" and an empty value leave it off: small allocations come from a block.
TEST(PassthroughTest, EnvironmentVariableZeroOrEmptyLeavesItOff) {
  for (const char *value : {"0", ""}) {
    SCOPED_TRACE(std::string("NV_POOL_PASSTHROUGH=") + value);
    ScopedEnv env("NV_POOL_PASSTHROUGH", value);
    RangeBackend backend;
    nv_pool_config_t config = Config(backend, 0);
    nv_pool_t *pool = nv_pool_create(&config);
    ASSERT_NE(pool, nullptr);
    const uint64_t after_create = backend.allocs();
    for (int i = 0; i < 20; i++) ASSERT_NE(nv_pool_alloc(pool, 24), nullptr);
    EXPECT_EQ(backend.allocs(), after_create) << "served from the initial block";
    nv_pool_destroy(pool);
    EXPECT_EQ(backend.outstanding_count(), 0u);
  }
}

// The variable is read by nv_pool_create only: pools keep their mode.
TEST(PassthroughTest, EnvironmentIsReadAtCreation) {
  RangeBackend backend;
  nv_pool_t *normal = nullptr;
  nv_pool_t *through = nullptr;
  {
    ScopedEnv off("NV_POOL_PASSTHROUGH", nullptr);
    nv_pool_config_t config = Config(backend, 0);
    normal = nv_pool_create(&config);
  }
  {
    ScopedEnv on("NV_POOL_PASSTHROUGH", "1");
    nv_pool_config_t config = Config(backend, 0);
    through = nv_pool_create(&config);
  }
  ASSERT_NE(normal, nullptr);
  ASSERT_NE(through, nullptr);
  uint64_t before = backend.allocs();
  void *p = nv_pool_alloc(through, 24);
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(backend.NewHolding(before, p, 24), 1u) << "its own backend allocation";
  {
    ScopedEnv on("NV_POOL_PASSTHROUGH", "1");
    before = backend.allocs();
    ASSERT_NE(nv_pool_alloc(normal, 24), nullptr);
    EXPECT_EQ(backend.allocs(), before) << "set after creation: no effect";
  }
  nv_pool_destroy(normal);
  nv_pool_destroy(through);
  EXPECT_EQ(backend.outstanding_count(), 0u);
}

// realloc moves between backend allocations (each size its own).
TEST(PassthroughTest, ReallocKeepsTheBytes) {
  ScopedEnv env("NV_POOL_PASSTHROUGH", nullptr);
  RangeBackend backend;
  nv_pool_config_t config = Config(backend, 1);
  nv_pool_t *pool = nv_pool_create(&config);
  ASSERT_NE(pool, nullptr);
  auto *p = static_cast<unsigned char *>(nv_pool_alloc(pool, 100));
  ASSERT_NE(p, nullptr);
  nvtest::FillPattern(p, 100, 7);
  auto *q = static_cast<unsigned char *>(nv_pool_realloc(pool, p, 5000));
  ASSERT_NE(q, nullptr);
  EXPECT_EQ(nvtest::FirstPatternMismatch(q, 100, 7), 100u);
  EXPECT_EQ(nv_pool_get_used(pool), 5000u);
  EXPECT_EQ(backend.Holding(q, 5000), 1u);
  EXPECT_EQ(backend.Base(p), nullptr) << "the old allocation went back to the backend";
  const size_t count = backend.outstanding_count();
  EXPECT_EQ(nv_pool_realloc(pool, q, 0), nullptr);
  EXPECT_EQ(backend.outstanding_count(), count - 1);
  EXPECT_EQ(nv_pool_is_empty(pool), 1);
  nv_pool_destroy(pool);
  EXPECT_EQ(backend.outstanding_count(), 0u);
}

// Hardening keeps working in passthrough mode: each allocation carries its
// redzones inside its backend allocation.
#if defined(__clang__) || defined(__GNUC__)
__attribute__((no_sanitize("address"), noinline))
#endif
void SilentFlip(void *base, long at) {
  volatile unsigned char *p = static_cast<volatile unsigned char *>(base) + at;
  VALGRIND_DISABLE_ADDR_ERROR_REPORTING_IN_RANGE(p, 1);
  *p = static_cast<unsigned char>(*p ^ 0xFF);
  VALGRIND_ENABLE_ADDR_ERROR_REPORTING_IN_RANGE(p, 1);
}

struct Recorder {
  std::vector<nv_pool_corruption_kind_t> kinds;
  std::vector<long> offsets;
  static void Handler(const nv_pool_corruption_t *r, void *context) {
    auto *self = static_cast<Recorder *>(context);
    self->kinds.push_back(r->kind);
    self->offsets.push_back(r->offset);
  }
};

TEST(PassthroughTest, RedzonesAreCheckedInPassthroughMode) {
  if (!nv_pool_hardening_enabled())
    GTEST_SKIP() << "hardening is compiled out (--config=release): no redzones to check";
  ScopedEnv env("NV_POOL_PASSTHROUGH", nullptr);
  Recorder recorder;
  nv_pool_set_corruption_handler(&Recorder::Handler, &recorder);
  RangeBackend backend;
  nv_pool_config_t config = Config(backend, 1);
  nv_pool_t *pool = nv_pool_create(&config);
  ASSERT_NE(pool, nullptr);
  auto *a = static_cast<unsigned char *>(nv_pool_alloc(pool, 13));
  auto *b = static_cast<unsigned char *>(nv_pool_alloc(pool, 13));
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  SilentFlip(a, 13);
  SilentFlip(b, -1);
  EXPECT_EQ(nv_pool_free(pool, a), NV_ECORRUPT);
  EXPECT_EQ(nv_pool_free(pool, b), NV_ECORRUPT);
  ASSERT_EQ(recorder.kinds.size(), 2u);
  EXPECT_EQ(recorder.kinds[0], NV_POOL_CORRUPT_BACK_REDZONE);
  EXPECT_EQ(recorder.offsets[0], 13);
  EXPECT_EQ(recorder.kinds[1], NV_POOL_CORRUPT_FRONT_REDZONE);
  EXPECT_EQ(recorder.offsets[1], -1);
  EXPECT_EQ(nv_pool_is_empty(pool), 1);
  EXPECT_EQ(nv_pool_validate_count(pool), 0u);
  nv_pool_destroy(pool);
  nv_pool_set_corruption_handler(nullptr, nullptr);
  EXPECT_EQ(backend.outstanding_count(), 0u) << "damaged large chunks go back to the backend";
}

}  // namespace
