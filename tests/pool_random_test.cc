// nv_pool against a model: 200,000 random API calls per config (10,000 with
// NV_TEST_QUICK=1), checking after every step the contents, alignment and
// non-overlap of every allocation touched, the exact used bytes, the size
// invariants, the backend accounting and the counters; every 1,000 steps
// every live allocation and nv_pool_validate_count.
//
// The seed is printed with every failure; NV_TEST_SEED=<n> replays one.
#include <nv_pool.h>

#include "tests/pool_test_util.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <map>
#include <random>
#include <string>
#include <unordered_map>
#include <vector>

namespace {

using nvtest::CountingBackend;
using nvtest::PoolPtr;
using nvtest::Snapshot;

bool FilledWith(const unsigned char *p, size_t n, unsigned char b) {
  uint64_t word;
  std::memset(&word, b, sizeof word);
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t x;
    std::memcpy(&x, p + i, 8);
    if (x != word) return false;
  }
  for (; i < n; i++)
    if (p[i] != b) return false;
  return true;
}

struct RandomConfig {
  const char *name;
  nv_pool_config_t config;
  size_t largest_request;  // biggest size the generator asks for
};

struct Entry {
  unsigned char *p;
  size_t size;
  unsigned char fill;
  bool written;  // false: handed out and never written (contents unknown)
};

class Model {
 public:
  // Adds an allocation; false if it overlaps a live one.
  bool Add(unsigned char *p, size_t size, unsigned char fill, bool written = true) {
    uintptr_t a = reinterpret_cast<uintptr_t>(p);
    uintptr_t e = a + std::max<size_t>(size, 1);
    auto next = ranges_.lower_bound(a);
    if (next != ranges_.end() && next->first < e) return false;
    if (next != ranges_.begin() && std::prev(next)->second > a) return false;
    ranges_[a] = e;
    index_[p] = entries_.size();
    entries_.push_back({p, size, fill, written});
    used_ += size;
    return true;
  }
  void Remove(size_t k) {
    Entry e = entries_[k];
    ranges_.erase(reinterpret_cast<uintptr_t>(e.p));
    index_.erase(e.p);
    used_ -= e.size;
    if (k != entries_.size() - 1) {
      entries_[k] = entries_.back();
      index_[entries_[k].p] = k;
    }
    entries_.pop_back();
  }
  bool IsLive(const void *p) const { return index_.count(const_cast<void *>(p)) != 0; }
  // Where `p` lies relative to the live allocations (for failure messages).
  std::string Locate(const void *p) const {
    uintptr_t a = reinterpret_cast<uintptr_t>(p);
    auto next = ranges_.upper_bound(a);
    std::string out;
    if (next != ranges_.begin()) {
      auto prev = std::prev(next);
      size_t size = entries_[index_.at(reinterpret_cast<void *>(prev->first))].size;
      out += "live allocation below at -" + std::to_string(a - prev->first) + " (size " +
             std::to_string(size) + (a < prev->second ? ", inside it" : "") + ")";
    }
    if (next != ranges_.end()) {
      size_t size = entries_[index_.at(reinterpret_cast<void *>(next->first))].size;
      out += "; live allocation above at +" + std::to_string(next->first - a) + " (size " +
             std::to_string(size) + ")";
    }
    return out;
  }
  void Clear() {
    entries_.clear();
    index_.clear();
    ranges_.clear();
    used_ = 0;
  }
  size_t count() const { return entries_.size(); }
  size_t used() const { return used_; }
  Entry &at(size_t k) { return entries_[k]; }
  const std::vector<Entry> &entries() const { return entries_; }

 private:
  std::vector<Entry> entries_;
  std::unordered_map<void *, size_t> index_;
  std::map<uintptr_t, uintptr_t> ranges_;
  size_t used_ = 0;
};

// Contract violations that leave the model consistent are counted and
// reported once at the end, so one known library bug does not hide others
// behind the first fatal assertion.
class Violations {
 public:
  void Note(const std::string &kind, const std::string &example) {
    auto &v = seen_[kind];
    if (v.first++ == 0) v.second = example;
  }
  void Report() const {
    for (const auto &kv : seen_)
      ADD_FAILURE() << kv.first << ": " << kv.second.first << " time(s); first: " << kv.second.second;
  }

 private:
  std::map<std::string, std::pair<size_t, std::string>> seen_;
};

// Fields of two snapshots that differ, "" if none (failed_allocations is
// compared against `failed_delta`).
std::string Diff(const Snapshot &a, const Snapshot &b, uint64_t failed_delta, bool *only_size) {
  std::string d;
  bool size_only = true;
  auto cmp = [&](const char *name, double x, double y, bool size_field) {
    if (x != y) {
      d += std::string(name) + " " + std::to_string(x) + " -> " + std::to_string(y) + "; ";
      if (!size_field) size_only = false;
    }
  };
  cmp("size", a.size, b.size, true);
  cmp("stats.size", a.stats.size, b.stats.size, true);
  cmp("overhead", a.stats.overhead, b.stats.overhead, true);
  cmp("used", a.used, b.used, false);
  cmp("free", a.free, b.free, false);
  cmp("empty", a.empty, b.empty, false);
  cmp("peak", a.stats.peak_used, b.stats.peak_used, false);
  cmp("live", a.stats.live_allocations, b.stats.live_allocations, false);
  cmp("blocks", a.stats.blocks, b.stats.blocks, false);
  cmp("large", a.stats.large_allocations, b.stats.large_allocations, false);
  cmp("fragmentation", a.stats.fragmentation, b.stats.fragmentation, false);
  cmp("allocations", a.stats.allocations, b.stats.allocations, false);
  cmp("frees", a.stats.frees, b.stats.frees, false);
  cmp("reallocations", a.stats.reallocations, b.stats.reallocations, false);
  cmp("resets", a.stats.resets, b.stats.resets, false);
  cmp("failed", a.stats.failed_allocations + failed_delta, b.stats.failed_allocations, false);
  *only_size = size_only;
  return d;
}

class RandomTest : public ::testing::TestWithParam<int> {
 protected:
  nvtest::LogCapture log_;
  nvtest::CorruptionTrap trap_;
};

std::vector<RandomConfig> Configs() {
  return {
      {"default", nvtest::DefaultConfig(), 200000},
      {"small fixed pool", nvtest::Config(256 * 1024, 0, 4096, 0), 100000},
      {"tiny max_size", nvtest::Config(4096, 48 * 1024, 4096, 1), 20000},
      {"zero_clear", nvtest::Config(16 * 1024, 4 * 1024 * 1024, 4096, 1, 1, 1), 200000},
      {"stats off", nvtest::Config(16 * 1024, 1024 * 1024, 4096, 1, 0, 0), 200000},
      {"no cap", nvtest::Config(0, 0, 0, 1), 300000},
  };
}

// How far below max_size a refusal may come (a new block is at least
// min_size, plus headers and the pool's arrays).
constexpr size_t kCapSlack = 8 * 1024;

TEST_P(RandomTest, MatchesTheModel) {
  const RandomConfig rc = Configs()[static_cast<size_t>(GetParam())];
  const uint64_t seed = nvtest::Seed(0x5EED0000u + static_cast<uint64_t>(GetParam()));
  SCOPED_TRACE(testing::Message() << "config \"" << rc.name << "\", NV_TEST_SEED=" << seed);
  std::mt19937_64 rng(seed);
  auto below = [&rng](size_t n) { return n == 0 ? 0 : static_cast<size_t>(rng() % n); };

  CountingBackend backend;
  nv_pool_config_t config = rc.config;
  config.backend = backend.backend();
  const size_t max_size = config.max_size;
  const bool fixed = config.auto_extend == 0;
  const bool zero_clear = config.zero_clear != 0;
  const bool stats_on = config.enable_stats != 0;
  PoolPtr pool = nvtest::Make(config);
  ASSERT_NE(pool, nullptr);
  nv_pool_t *P = pool.get();
  // After a fatal failure the pool may be corrupt (an accepted bad free):
  // leak it rather than let destroy crash the binary and hide the other
  // configs' results.
  struct LeakIfFailed {
    PoolPtr &pool;
    ~LeakIfFailed() {
      if (::testing::Test::HasFatalFailure()) (void)pool.release();
    }
  } leak_if_failed{pool};
  PoolPtr other(nv_pool_create_default());
  void *others_pointer = nv_pool_alloc(other.get(), 100);
  ASSERT_NE(others_pointer, nullptr);
  std::vector<unsigned char> heap_buffer(256);
  alignas(16) unsigned char stack_buffer[256] = {};

  Model model;
  Violations violations;
  std::vector<void *> stale;  // freed or reset pointers (may be live again)
  struct Counters {
    uint64_t allocations = 0, frees = 0, reallocations = 0, resets = 0, failed = 0;
    size_t peak = 0;
  } expect;

  const size_t steps = nvtest::Iterations(200000, 10000);
  const size_t full_check_every = nvtest::Quick() ? 500 : 1000;
  const size_t max_live = 300;
  const size_t max_live_bytes = 3 * 1024 * 1024;

  auto random_size = [&]() -> size_t {
    unsigned r = static_cast<unsigned>(rng() % 100);
    size_t n;
    if (r < 50)
      n = below(129);
    else if (r < 80)
      n = 129 + below(2048 - 128);
    else if (r < 95)
      n = 2049 + below(32768 - 2048);
    else
      n = 32769 + below(rc.largest_request - 32768);
    return std::min(n, rc.largest_request);
  };
  auto note_stale = [&](void *p) {
    if (stale.size() < 128)
      stale.push_back(p);
    else
      stale[below(stale.size())] = p;
  };
  // A refusal is legitimate only in a fixed pool or near max_size.
  auto refusal_allowed = [&](const Snapshot &before, size_t n) {
    if (fixed) return true;
    if (max_size == 0) return false;
    return n > max_size || before.size + n + kCapSlack > max_size;
  };
  auto add_checked = [&](size_t step, void *q, size_t n, size_t alignment, bool zeroed,
                         const char *what) {
    auto *p = static_cast<unsigned char *>(q);
    ASSERT_TRUE(nvtest::Aligned(p, std::max<size_t>(alignment, NV_POOL_ALIGNMENT)))
        << what << " misaligned " << (void *)p << " step " << step;
    if (zeroed) {
      ASSERT_TRUE(FilledWith(p, n, 0)) << what << "(" << n << ") not zeroed, step " << step;
    }
    // Callers do not always write what they allocate: one allocation in
    // eight is left as handed out (zeroed ones are known to be zero).
    bool write = zeroed || rng() % 8 != 0;
    unsigned char fill = zeroed ? 0 : static_cast<unsigned char>(1 + below(255));
    if (n && write && !zeroed) std::memset(p, fill, n);
    ASSERT_TRUE(model.Add(p, n, fill, write)) << what << " overlaps a live allocation, step " << step;
    expect.allocations++;
  };
  auto check_entry = [&](size_t step, const Entry &e) {
    if (!e.written) return;
    ASSERT_TRUE(FilledWith(e.p, e.size, e.fill))
        << "contents of " << (void *)e.p << " (" << e.size << " bytes) changed, step " << step;
  };
  auto expect_refusal = [&](size_t step, const Snapshot &before, size_t n, uint64_t failed_delta,
                            const char *what) {
    ASSERT_TRUE(refusal_allowed(before, n))
        << what << "(" << n << ") refused at " << nvtest::Describe(before) << ", step " << step;
    ASSERT_GE(log_.TakeErrors(), 1u) << what << " refused without a log line, step " << step;
    Snapshot after = Snapshot::Of(P);
    bool only_size = false;
    std::string diff = Diff(before, after, stats_on ? failed_delta : 0, &only_size);
    if (!diff.empty()) {
      // Held bytes that grew (the pool's own arrays) are a contract violation
      // (§3: "leaves the pool exactly as it was") the model survives.
      ASSERT_TRUE(only_size && after.size > before.size)
          << what << "(" << n << ") refusal changed the pool: " << diff << "step " << step;
      violations.Note("a refused request left get_size/overhead changed (contract §3)",
                      std::string(what) + "(" + std::to_string(n) + "): " + diff + "step " +
                          std::to_string(step));
    }
    expect.failed += failed_delta;
  };
  const char *bad_kind = "";
  auto bad_pointer = [&]() -> void * {
    switch (rng() % 6) {
      case 0:
      case 1:
        bad_kind = "freed or stale pointer";
        for (int tries = 0; tries < 4 && !stale.empty(); tries++) {
          void *s = stale[below(stale.size())];
          if (!model.IsLive(s)) return s;
        }
        bad_kind = "malloc pointer";
        return heap_buffer.data();
      case 2:
        if (model.count() != 0) {
          Entry &e = model.at(below(model.count()));
          bad_kind = "interior pointer";
          if (e.size >= 2) return e.p + 1 + below(e.size - 1);
        }
        bad_kind = "stack pointer + 16";
        return stack_buffer + 16;
      case 3:
        bad_kind = "another pool's pointer";
        return others_pointer;
      case 4:
        bad_kind = "malloc pointer + 16";
        return heap_buffer.data() + 16;
      default:
        bad_kind = "stack pointer";
        return stack_buffer;
    }
  };

  for (size_t step = 0; step < steps; step++) {
    const unsigned op = static_cast<unsigned>(rng() % 1000);
    const bool crowded = model.count() >= max_live || model.used() >= max_live_bytes;
    Snapshot before = Snapshot::Of(P);

    if (op < 250 && !crowded) {  // alloc
      size_t n = random_size();
      void *q = nv_pool_alloc(P, n);
      if (q == nullptr) {
        expect_refusal(step, before, n, 1, "alloc");
      } else {
        add_checked(step, q, n, 0, zero_clear, "alloc");
      }
    } else if (op < 300 && !crowded) {  // calloc
      size_t n = random_size();
      size_t m = 1 + below(8);
      n /= m;
      void *q = nv_pool_calloc(P, m, n);
      if (q == nullptr) {
        expect_refusal(step, before, n * m, 1, "calloc");
      } else {
        add_checked(step, q, n * m, 0, true, "calloc");
      }
    } else if (op < 370 && !crowded) {  // align
      size_t n = random_size();
      size_t alignment = size_t{1} << (rng() % 100 < 95 ? below(13) : 13 + below(4));
      void *q = nv_pool_align(P, n, alignment);
      if (q == nullptr) {
        expect_refusal(step, before, n + alignment, 1, "align");
      } else {
        add_checked(step, q, n, alignment, zero_clear, "align");
      }
    } else if (op < 490) {  // realloc
      unsigned kind = static_cast<unsigned>(rng() % 20);
      if (kind == 0 || model.count() == 0) {
        if (crowded) continue;
        size_t n = random_size();
        void *q = nv_pool_realloc(P, nullptr, n);
        if (q == nullptr) {
          expect_refusal(step, before, n, 1, "realloc(NULL)");
        } else {
          add_checked(step, q, n, 0, zero_clear, "realloc(NULL)");
        }
      } else if (kind == 1) {
        size_t k = below(model.count());
        Entry e = model.at(k);
        check_entry(step, e);
        ASSERT_EQ(nv_pool_realloc(P, e.p, 0), nullptr) << "step " << step;
        model.Remove(k);
        note_stale(e.p);
        expect.frees++;
      } else {
        size_t k = below(model.count());
        Entry e = model.at(k);
        check_entry(step, e);
        size_t n;
        if (kind < 8 && e.size > 1)
          n = 1 + below(e.size - 1);  // shrink
        else if (kind < 14)
          n = e.size + 1 + below(256);  // a little bigger
        else
          n = crowded ? e.size : random_size();
        if (n == 0) n = 1;
        auto *q = static_cast<unsigned char *>(nv_pool_realloc(P, e.p, n));
        if (q == nullptr) {
          expect_refusal(step, before, n, 1, "realloc");
          check_entry(step, e);
        } else {
          ASSERT_TRUE(nvtest::Aligned(q, NV_POOL_ALIGNMENT)) << "step " << step;
          size_t keep = std::min(e.size, n);
          if (e.written) {
            ASSERT_TRUE(FilledWith(q, keep, e.fill)) << "realloc lost contents, step " << step;
          }
          if (n <= e.size && q != e.p)
            violations.Note("a shrinking realloc moved the allocation (contract §4, docs/design.md)",
                            "realloc of " + std::to_string(e.size) + " bytes to " + std::to_string(n) +
                                ", step " + std::to_string(step));
          if (zero_clear && n > e.size) {
            ASSERT_TRUE(FilledWith(q + e.size, n - e.size, 0)) << "grown tail not zero, step " << step;
          }
          model.Remove(k);
          if (q != e.p) note_stale(e.p);
          unsigned char fill = static_cast<unsigned char>(1 + below(255));
          std::memset(q, fill, n);
          ASSERT_TRUE(model.Add(q, n, fill)) << "realloc result overlaps, step " << step;
          expect.reallocations++;
        }
      }
    } else if (op < 760) {  // free
      if (model.count() == 0) continue;
      size_t k = below(model.count());
      Entry e = model.at(k);
      check_entry(step, e);
      ASSERT_EQ(nv_pool_free(P, e.p), NV_OK) << "free of a live pointer, step " << step;
      model.Remove(k);
      note_stale(e.p);
      expect.frees++;
    } else if (op < 800) {  // bad free
      void *bad = bad_pointer();
      if (model.IsLive(bad)) continue;
      ASSERT_EQ(nv_pool_free(P, bad), NV_ERROR)
          << "bad free (" << bad_kind << ") of " << bad << " accepted, step " << step << "; "
          << model.Locate(bad);
      ASSERT_GE(log_.Errors(), 1u) << "bad free (" << bad_kind << ") of " << bad
                                   << " without an error line, step " << step << "; "
                                   << log_.Lines().size() << " other lines, " << trap_.Count()
                                   << " corruption reports: " << trap_.Text() << "; "
                                   << model.Locate(bad);
      log_.Clear();
      bool only_size = false;
      ASSERT_EQ(Diff(before, Snapshot::Of(P), 0, &only_size), "") << "bad free changed the pool, step " << step;
    } else if (op < 810) {  // bad realloc
      void *bad = bad_pointer();
      if (model.IsLive(bad)) continue;
      ASSERT_EQ(nv_pool_realloc(P, bad, 1 + below(500)), nullptr)
          << "bad realloc (" << bad_kind << ") of " << bad << " accepted, step " << step << "; "
          << model.Locate(bad);
      ASSERT_GE(log_.Errors(), 1u) << "bad realloc (" << bad_kind << ") of " << bad
                                   << " without an error line, step " << step << "; "
                                   << log_.Lines().size() << " other lines, " << trap_.Count()
                                   << " corruption reports: " << trap_.Text() << "; "
                                   << model.Locate(bad);
      log_.Clear();
      Snapshot after = Snapshot::Of(P);
      // Whether this counts as a failed allocation is not specified.
      uint64_t delta = after.stats.failed_allocations - before.stats.failed_allocations;
      ASSERT_LE(delta, 1u);
      bool only_size = false;
      ASSERT_EQ(Diff(before, after, delta, &only_size), "") << "bad realloc changed the pool, step " << step;
      expect.failed += delta;
    } else if (op < 825) {  // extend
      size_t n = 1 + below(64 * 1024);
      int r = nv_pool_extend(P, n);
      Snapshot after = Snapshot::Of(P);
      if (r == NV_OK) {
        ASSERT_GE(after.size, before.size + n) << "step " << step;
        ASSERT_GE(after.free, before.free + n) << "step " << step;
        ASSERT_EQ(after.stats.blocks, before.stats.blocks + 1) << "step " << step;
      } else {
        ASSERT_EQ(r, NV_ERROR) << "step " << step;
        ASSERT_NE(max_size, 0u) << "extend refused without a cap, step " << step;
        ASSERT_GT(before.size + n + kCapSlack, max_size) << "extend refused far below the cap, step " << step;
        ASSERT_GE(log_.TakeErrors(), 1u);
        bool only_size = false;
        std::string diff = Diff(before, after, 0, &only_size);
        if (!diff.empty()) {
          ASSERT_TRUE(only_size && after.size > before.size)
              << "refused extend changed the pool: " << diff << "step " << step;
          violations.Note("a refused request left get_size/overhead changed (contract §3)",
                          "extend(" + std::to_string(n) + "): " + diff + "step " + std::to_string(step));
        }
      }
    } else if (op < 845) {  // shrink / compact
      bool shrink = op < 835;
      int r = shrink ? nv_pool_shrink(P, below(3) == 0 ? SIZE_MAX : below(128 * 1024))
                     : nv_pool_compact(P);
      ASSERT_EQ(r, NV_OK) << "step " << step;
      Snapshot after = Snapshot::Of(P);
      ASSERT_LE(after.size, before.size) << "step " << step;
      ASSERT_EQ(after.used, before.used) << "step " << step;
      ASSERT_EQ(after.stats.live_allocations, before.stats.live_allocations);
      for (int i = 0; i < 32 && model.count() != 0; i++) check_entry(step, model.at(below(model.count())));
    } else if (op < 846) {  // reset
      for (const Entry &e : model.entries()) note_stale(e.p);
      model.Clear();
      nv_pool_reset(P);
      expect.resets++;
      nv_pool_stats_t st;
      nv_pool_get_stats(P, &st);
      ASSERT_EQ(st.large_allocations, 0u) << "step " << step;
      if (fixed) {
        ASSERT_EQ(st.size, before.size) << "a fixed pool keeps its blocks, step " << step;
      }
    } else if (op < 848) {  // reset_stats
      nv_pool_reset_stats(P);
      expect = Counters();
      expect.peak = model.used();
    } else if (op < 870) {  // is_full probe
      int full = nv_pool_is_full(P);
      bool only_size = false;
      ASSERT_EQ(Diff(before, Snapshot::Of(P), 0, &only_size), "") << "is_full changed the pool, step " << step;
      void *q = nv_pool_alloc(P, 1);
      ASSERT_EQ(full, q == nullptr ? 1 : 0) << "is_full disagrees with alloc(1), step " << step;
      if (q == nullptr) {
        expect_refusal(step, before, 1, 1, "alloc(1)");
      } else {
        add_checked(step, q, 1, 0, zero_clear, "alloc(1)");
      }
    } else {  // look at a random live allocation
      if (model.count() != 0) check_entry(step, model.at(below(model.count())));
    }
    if (HasFatalFailure()) return;

    // ---- after every step ----
    expect.peak = std::max(expect.peak, model.used());
    const size_t size = nv_pool_get_size(P);
    const size_t used = nv_pool_get_used(P);
    const size_t free_bytes = nv_pool_get_free(P);
    ASSERT_EQ(used, model.used()) << "step " << step;
    ASSERT_LE(used + free_bytes, size) << "step " << step;
    ASSERT_EQ(size, backend.outstanding_bytes()) << "step " << step;
    if (max_size) {
      ASSERT_LE(size, max_size) << "step " << step;
    }
    ASSERT_EQ(nv_pool_is_empty(P), model.count() == 0 ? 1 : 0) << "step " << step;
    nv_pool_stats_t st;
    nv_pool_get_stats(P, &st);
    ASSERT_EQ(st.live_allocations, model.count()) << "step " << step;
    ASSERT_EQ(st.size, size);
    ASSERT_EQ(st.used, used);
    ASSERT_EQ(st.free, free_bytes);
    if (model.count() == 0) {
      ASSERT_EQ(st.large_allocations, 0u) << "step " << step;
    }
    if (stats_on) {
      ASSERT_EQ(st.allocations, expect.allocations) << "step " << step;
      ASSERT_EQ(st.frees, expect.frees) << "step " << step;
      ASSERT_EQ(st.reallocations, expect.reallocations) << "step " << step;
      ASSERT_EQ(st.resets, expect.resets) << "step " << step;
      ASSERT_EQ(st.failed_allocations, expect.failed) << "step " << step;
      ASSERT_EQ(st.peak_used, expect.peak) << "step " << step;
    } else {
      ASSERT_EQ(st.allocations + st.frees + st.reallocations + st.resets + st.failed_allocations +
                    st.peak_used,
                0u)
          << "counters or the peak moved with stats off, step " << step;
    }
    ASSERT_EQ(log_.Errors(), 0u) << "unexpected error line at step " << step << ":\n" << log_.ErrorText();
    ASSERT_EQ(trap_.Count(), 0u) << "corruption reported at step " << step << ":\n" << trap_.Text();
    if (step % full_check_every == full_check_every - 1) {
      for (const Entry &e : model.entries()) check_entry(step, e);
      ASSERT_EQ(nv_pool_validate_count(P), 0u) << "step " << step << ":\n" << log_.ErrorText();
      if (HasFatalFailure()) return;
    }
  }

  violations.Report();
  for (const Entry &e : model.entries()) {
    check_entry(steps, e);
    ASSERT_EQ(nv_pool_free(P, e.p), NV_OK);
  }
  ASSERT_EQ(nv_pool_validate_count(P), 0u);
  pool.reset();
  EXPECT_EQ(backend.outstanding_count(), 0u);
  EXPECT_EQ(backend.outstanding_bytes(), 0u);
  for (const std::string &e : backend.errors()) ADD_FAILURE() << e;
  EXPECT_EQ(nv_pool_free(other.get(), others_pointer), NV_OK);
}

std::string ConfigName(const testing::TestParamInfo<int> &info) {
  std::string name = Configs()[static_cast<size_t>(info.param)].name;
  for (char &c : name)
    if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
  return name;
}

INSTANTIATE_TEST_SUITE_P(Configs, RandomTest, ::testing::Range(0, static_cast<int>(Configs().size())),
                         ConfigName);

}  // namespace
