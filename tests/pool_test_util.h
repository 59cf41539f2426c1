// Shared helpers for the nv_pool tests (tests/pool_*_test.cc).
//
//   LogCapture        records every nv_log line; tests check that each error
//                     path logs an error line and that success paths log none.
//   CorruptionTrap    a corruption handler that records reports instead of
//                     aborting: none of these tests corrupts memory, so any
//                     report is a failure.
//   CountingBackend   a nv_pool_backend_t over malloc that counts calls and
//                     outstanding bytes, checks every release, refuses sizes
//                     above a limit and can fail the N-th call.
//   PoolTest          fixture installing the first two.
//   Alarms            thread-safe counts of error lines and corruption reports,
//                     for tests that run several threads.
//   Snapshot          every query and stat of a pool, for "pool unchanged".
#ifndef NV_TESTS_POOL_TEST_UTIL_H
#define NV_TESTS_POOL_TEST_UTIL_H

#include <nv_pool.h>

#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <unordered_map>
#include <vector>

namespace nvtest {

// ---- environment --------------------------------------------------------

// NV_TEST_QUICK=1 (set by --config=valgrind) shortens long loops.
inline bool Quick() {
  const char *q = std::getenv("NV_TEST_QUICK");
  return q != nullptr && q[0] != '\0' && std::strcmp(q, "0") != 0;
}

inline size_t Iterations(size_t full, size_t quick) { return Quick() ? quick : full; }

// NV_TEST_SEED=<n> overrides a test's default seed.
inline uint64_t Seed(uint64_t fallback) {
  const char *s = std::getenv("NV_TEST_SEED");
  if (s == nullptr || s[0] == '\0') return fallback;
  return std::strtoull(s, nullptr, 0);
}

// ---- chunk geometry (nv/pool/pool_internal.h) ------------------------------

// Bytes from a chunk's start to its user pointer: the header (8 bytes, 32
// with allocation sites) and the front redzone (8, hardened builds).
inline size_t ChunkPrefix() {
  return (nv_pool_leakcheck_enabled() ? 32 : 8) + (nv_pool_hardening_enabled() ? 8 : 0);
}

// The back redzone's least size: 8 bytes (one canary word) in hardened builds,
// none in release.
inline size_t BackRedzoneMin() { return nv_pool_hardening_enabled() ? 8 : 0; }

// Bytes of the chunk that holds a live allocation of `size` bytes: prefix,
// size and least back redzone, rounded up to 16.
inline size_t ChunkBytes(size_t size) {
  return (ChunkPrefix() + size + BackRedzoneMin() + 15) / 16 * 16;
}

// ---- logging ----------------------------------------------------------------

struct LogLine {
  nv_log_level_t level;
  std::string text;
};

class LogCapture {
 public:
  LogCapture() {
    nv_log_set_handler(&LogCapture::Handler, this);
    previous_level_ = nv_log_set_level(NV_LOG_DEBUG);
  }
  ~LogCapture() {
    nv_log_set_handler(nullptr, nullptr);
    nv_log_set_level(previous_level_);
  }
  LogCapture(const LogCapture &) = delete;
  LogCapture &operator=(const LogCapture &) = delete;

  size_t Errors() const {
    size_t n = 0;
    for (const LogLine &l : lines_) n += l.level == NV_LOG_ERROR;
    return n;
  }
  // All error lines joined (for messages and substring checks).
  std::string ErrorText() const {
    std::string out;
    for (const LogLine &l : lines_)
      if (l.level == NV_LOG_ERROR) out += l.text + "\n";
    return out;
  }
  const std::vector<LogLine> &Lines() const { return lines_; }
  void Clear() { lines_.clear(); }
  // Returns the number of error lines logged since the last Take/Clear and
  // forgets all lines.
  size_t TakeErrors() {
    size_t n = Errors();
    lines_.clear();
    return n;
  }

 private:
  static void Handler(nv_log_level_t level, const char *line, void *context) {
    auto *self = static_cast<LogCapture *>(context);
    if (self->lines_.size() < 100000) self->lines_.push_back({level, line});
  }
  std::vector<LogLine> lines_;
  nv_log_level_t previous_level_ = NV_LOG_INFO;
};

// ---- corruption reports -------------------------------------------------

class CorruptionTrap {
 public:
  CorruptionTrap() { nv_pool_set_corruption_handler(&CorruptionTrap::Handler, this); }
  ~CorruptionTrap() { nv_pool_set_corruption_handler(nullptr, nullptr); }
  CorruptionTrap(const CorruptionTrap &) = delete;
  CorruptionTrap &operator=(const CorruptionTrap &) = delete;
  size_t Count() const { return reports_.size(); }
  std::string Text() const {
    std::string out;
    for (const std::string &r : reports_) out += r + "\n";
    return out;
  }

 private:
  static void Handler(const nv_pool_corruption_t *report, void *context) {
    auto *self = static_cast<CorruptionTrap *>(context);
    char buffer[1024];
    self->reports_.push_back(nv_pool_format_corruption(report, buffer, sizeof buffer));
  }
  std::vector<std::string> reports_;
};

// Thread-safe stand-in for LogCapture and CorruptionTrap: counts every error
// line and corruption report from any thread, and keeps the first few.
struct Alarms {
  std::atomic<uint64_t> errors{0};
  std::atomic<uint64_t> corruptions{0};
  std::mutex mu;
  std::string first;

  void Note(const char *what, const char *line) {
    std::lock_guard<std::mutex> lock(mu);
    if (first.size() < 4000) first += std::string(what) + ": " + line + "\n";
  }
  static void Log(nv_log_level_t level, const char *line, void *context) {
    auto *self = static_cast<Alarms *>(context);
    if (level < NV_LOG_ERROR) return;
    self->errors++;
    self->Note("log", line);
  }
  static void Corruption(const nv_pool_corruption_t *report, void *context) {
    auto *self = static_cast<Alarms *>(context);
    char text[1024];
    self->corruptions++;
    self->Note("corruption", nv_pool_format_corruption(report, text, sizeof text));
  }
  Alarms() {
    nv_log_set_handler(&Alarms::Log, this);
    nv_pool_set_corruption_handler(&Alarms::Corruption, this);
  }
  ~Alarms() {
    nv_pool_set_corruption_handler(nullptr, nullptr);
    nv_log_set_handler(nullptr, nullptr);
  }
};

// ---- a counting, failing backend ----------------------------------------

class CountingBackend {
 public:
  // Requests above `limit` bytes are refused (so no test ever asks the
  // system allocator for absurd sizes, which ASan would abort on).
  explicit CountingBackend(size_t limit = size_t{256} << 20) : limit_(limit) {
    backend_.alloc = &CountingBackend::Alloc;
    backend_.release = &CountingBackend::Release;
    backend_.context = this;
  }
  ~CountingBackend() {
    for (auto &kv : live_) std::free(kv.first);
  }
  CountingBackend(const CountingBackend &) = delete;
  CountingBackend &operator=(const CountingBackend &) = delete;

  const nv_pool_backend_t *backend() const { return &backend_; }

  // Fail only the n-th alloc call from now (1 = the next one); 0 disarms.
  void FailNth(uint64_t n) { fail_at_ = n == 0 ? 0 : alloc_calls_ + n; }
  // Fail every alloc call from now on (until Heal).
  void FailAll() { fail_all_ = true; }
  void Heal() {
    fail_all_ = false;
    fail_at_ = 0;
  }

  uint64_t alloc_calls() const { return alloc_calls_; }
  uint64_t release_calls() const { return release_calls_; }
  uint64_t successful_allocs() const { return successful_allocs_; }
  uint64_t failures_injected() const { return failures_injected_; }
  uint64_t refused_over_limit() const { return refused_over_limit_; }
  size_t outstanding_bytes() const { return outstanding_bytes_; }
  size_t outstanding_count() const { return live_.size(); }
  size_t total_bytes_obtained() const { return total_bytes_; }
  size_t total_bytes_released() const { return released_bytes_; }
  size_t largest_request() const { return largest_request_; }
  const std::vector<std::string> &errors() const { return errors_; }

 private:
  static void *Alloc(void *context, size_t size) {
    auto *self = static_cast<CountingBackend *>(context);
    self->alloc_calls_++;
    if (size > self->largest_request_) self->largest_request_ = size;
    if (self->fail_all_ || (self->fail_at_ != 0 && self->alloc_calls_ == self->fail_at_)) {
      self->failures_injected_++;
      return nullptr;
    }
    if (size > self->limit_) {
      self->refused_over_limit_++;
      return nullptr;
    }
    void *p = std::malloc(size == 0 ? 1 : size);
    if (p == nullptr) return nullptr;
    if (reinterpret_cast<uintptr_t>(p) % NV_POOL_ALIGNMENT != 0) {
      std::free(p);
      self->errors_.push_back("malloc returned a pointer not aligned to 16");
      return nullptr;
    }
    self->live_[p] = size;
    self->outstanding_bytes_ += size;
    self->total_bytes_ += size;
    self->successful_allocs_++;
    return p;
  }
  static void Release(void *context, void *memory, size_t size) {
    auto *self = static_cast<CountingBackend *>(context);
    self->release_calls_++;
    auto it = self->live_.find(memory);
    if (it == self->live_.end()) {
      std::ostringstream m;
      m << "release of " << memory << " (" << size << " bytes) never obtained or already released";
      self->errors_.push_back(m.str());
      return;
    }
    if (it->second != size) {
      std::ostringstream m;
      m << "release of " << memory << " with size " << size << ", obtained with " << it->second;
      self->errors_.push_back(m.str());
    }
    self->outstanding_bytes_ -= it->second;
    self->released_bytes_ += it->second;
    self->live_.erase(it);
    std::free(memory);
  }

  nv_pool_backend_t backend_;
  size_t limit_;
  bool fail_all_ = false;
  uint64_t fail_at_ = 0;
  uint64_t alloc_calls_ = 0;
  uint64_t release_calls_ = 0;
  uint64_t successful_allocs_ = 0;
  uint64_t failures_injected_ = 0;
  uint64_t refused_over_limit_ = 0;
  size_t outstanding_bytes_ = 0;
  size_t total_bytes_ = 0;
  size_t released_bytes_ = 0;
  size_t largest_request_ = 0;
  std::unordered_map<void *, size_t> live_;
  std::vector<std::string> errors_;
};

// ---- pools ------------------------------------------------------------------

struct PoolDeleter {
  void operator()(nv_pool_t *pool) const { nv_pool_destroy(pool); }
};
using PoolPtr = std::unique_ptr<nv_pool_t, PoolDeleter>;

inline nv_pool_config_t DefaultConfig() {
  nv_pool_config_t config = NV_POOL_CONFIG_DEFAULT;
  return config;
}

inline nv_pool_config_t Config(size_t initial, size_t max, size_t min, int auto_extend,
                               int zero_clear = 0, int enable_stats = 1,
                               const nv_pool_backend_t *backend = nullptr) {
  nv_pool_config_t config = {};
  config.initial_size = initial;
  config.max_size = max;
  config.min_size = min;
  config.auto_extend = auto_extend;
  config.zero_clear = zero_clear;
  config.enable_stats = enable_stats;
  config.backend = backend;
  return config;
}

inline PoolPtr Make(const nv_pool_config_t &config) { return PoolPtr(nv_pool_create(&config)); }

// ---- snapshots ----------------------------------------------------------

struct Snapshot {
  size_t size = 0, used = 0, free = 0;
  int empty = 0;
  nv_pool_stats_t stats{};

  static Snapshot Of(nv_pool_t *pool) {
    Snapshot s;
    s.size = nv_pool_get_size(pool);
    s.used = nv_pool_get_used(pool);
    s.free = nv_pool_get_free(pool);
    s.empty = nv_pool_is_empty(pool);
    std::memset(&s.stats, 0, sizeof s.stats);
    nv_pool_get_stats(pool, &s.stats);
    return s;
  }
};

inline std::string Describe(const Snapshot &s) {
  std::ostringstream o;
  o << "size=" << s.size << " used=" << s.used << " free=" << s.free << " empty=" << s.empty
    << " live=" << s.stats.live_allocations << " blocks=" << s.stats.blocks
    << " large=" << s.stats.large_allocations << " overhead=" << s.stats.overhead
    << " peak=" << s.stats.peak_used << " allocs=" << s.stats.allocations
    << " frees=" << s.stats.frees << " reallocs=" << s.stats.reallocations
    << " resets=" << s.stats.resets << " failed=" << s.stats.failed_allocations;
  return o.str();
}

// The pool is exactly as before, except that failed_allocations moved by
// `failed_delta`.
inline void ExpectUnchanged(const Snapshot &before, const Snapshot &after,
                            uint64_t failed_delta = 0) {
  EXPECT_EQ(after.size, before.size);
  EXPECT_EQ(after.used, before.used);
  EXPECT_EQ(after.free, before.free);
  EXPECT_EQ(after.empty, before.empty);
  EXPECT_EQ(after.stats.size, before.stats.size);
  EXPECT_EQ(after.stats.used, before.stats.used);
  EXPECT_EQ(after.stats.free, before.stats.free);
  EXPECT_EQ(after.stats.peak_used, before.stats.peak_used);
  EXPECT_EQ(after.stats.live_allocations, before.stats.live_allocations);
  EXPECT_EQ(after.stats.blocks, before.stats.blocks);
  EXPECT_EQ(after.stats.large_allocations, before.stats.large_allocations);
  EXPECT_EQ(after.stats.overhead, before.stats.overhead);
  EXPECT_EQ(after.stats.fragmentation, before.stats.fragmentation);
  EXPECT_EQ(after.stats.allocations, before.stats.allocations);
  EXPECT_EQ(after.stats.frees, before.stats.frees);
  EXPECT_EQ(after.stats.reallocations, before.stats.reallocations);
  EXPECT_EQ(after.stats.resets, before.stats.resets);
  EXPECT_EQ(after.stats.failed_allocations, before.stats.failed_allocations + failed_delta);
  EXPECT_EQ(after.stats.allocated_bytes, before.stats.allocated_bytes);
  EXPECT_EQ(std::memcmp(after.stats.size_histogram, before.stats.size_histogram,
                        sizeof before.stats.size_histogram),
            0)
      << "size histogram changed";
}

// ---- memory helpers -------------------------------------------------------

inline bool Aligned(const void *p, size_t alignment) {
  return reinterpret_cast<uintptr_t>(p) % alignment == 0;
}

inline void Fill(void *p, size_t n, unsigned char byte) {
  if (n != 0) std::memset(p, byte, n);
}

// Index of the first byte of [p, p+n) that is not `byte`, or n.
inline size_t FirstNot(const void *p, size_t n, unsigned char byte) {
  const unsigned char *c = static_cast<const unsigned char *>(p);
  for (size_t i = 0; i < n; i++)
    if (c[i] != byte) return i;
  return n;
}

inline bool AllAre(const void *p, size_t n, unsigned char byte) { return FirstNot(p, n, byte) == n; }

// A recognisable pattern that depends on the position and a seed.
inline unsigned char PatternByte(size_t i, unsigned seed) {
  return static_cast<unsigned char>((i * 131u + seed * 17u + (i >> 8)) & 0xFF);
}
inline void FillPattern(void *p, size_t n, unsigned seed) {
  unsigned char *c = static_cast<unsigned char *>(p);
  for (size_t i = 0; i < n; i++) c[i] = PatternByte(i, seed);
}
inline size_t FirstPatternMismatch(const void *p, size_t n, unsigned seed) {
  const unsigned char *c = static_cast<const unsigned char *>(p);
  for (size_t i = 0; i < n; i++)
    if (c[i] != PatternByte(i, seed)) return i;
  return n;
}

// ---- fixture ----------------------------------------------------------------

// Installs the log capture and the corruption trap; at the end checks that
// every error line was accounted for by the test (TakeErrors) and that no
// corruption was reported.
class PoolTest : public ::testing::Test {
 protected:
  void TearDown() override {
    EXPECT_EQ(trap_.Count(), 0u) << "unexpected corruption reports:\n" << trap_.Text();
    EXPECT_EQ(log_.Errors(), 0u) << "error lines nobody expected:\n" << log_.ErrorText();
  }
  // Expects that at least one error line arrived since the last check, and
  // forgets the lines.
  void ExpectErrorLogged(const char *what) {
    EXPECT_GE(log_.TakeErrors(), 1u) << what << ": no nv_log_error line";
  }
  void ExpectNoErrorLogged(const char *what) {
    EXPECT_EQ(log_.Errors(), 0u) << what << ": unexpected error lines:\n" << log_.ErrorText();
    log_.Clear();
  }

  LogCapture log_;
  CorruptionTrap trap_;
};

}  // namespace nvtest

#endif  // NV_TESTS_POOL_TEST_UTIL_H
