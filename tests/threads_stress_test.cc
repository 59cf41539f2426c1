// Thread-safe pools (config.thread_safe = 1) under concurrent use, and the
// hardened build's report when a pool WITHOUT the option is entered by two
// threads at once (NV_POOL_CORRUPT_CONCURRENT_USE).
//
//   ThreadsStress.SharedPoolChurn
//       4 threads share one thread-safe pool: they allocate (alloc, calloc,
//       align, realloc of NULL), reallocate, free their own chunks and each
//       other's (handed over through a mutex-protected queue), and call
//       every query, export, validate_count, compact and shrink while the
//       others work; one of them resets the statistics. Every chunk holds a
//       byte of its own, checked before it is reallocated or freed. Phase 2
//       (no stats resets) counts every call and compares the counters and
//       the size histogram exactly; at the end everything is freed: used 0,
//       nothing live, validate_count 0.
//       Built for --config=tsan: ThreadSanitizer must stay silent.
//   ThreadsStress.PoolHandedBetweenThreads
//       a pool without the option used by one thread after another
//       (joined in between): allowed, no report.
//   ThreadsDeathTest.*BiasOwner* / *WhileTheBiasOwnerIsInside*
//       one thread held inside a pool (in its backend's alloc callback),
//       the other enters: reported (kind 6) every time, whichever of the
//       two holds the owner check's bias.
//   ThreadsDeathTest.* (the others)
//       two threads hammering a pool created without thread_safe: the
//       default handler logs "single-thread use damaged ..." and aborts; a
//       replaced handler receives kind 6. Hardened builds only (skipped in
//       --config=release); skipped under ThreadSanitizer, which would
//       (rightly) report the deliberate race.
//
// NV_TEST_QUICK=1 (--config=valgrind) shortens the loops.
#include <nv_pool.h>

#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "pool_test_util.h"

namespace {

bool TsanBuild() {
#if defined(__has_feature)
#if __has_feature(thread_sanitizer)
  return true;
#endif
#endif
#if defined(__SANITIZE_THREAD__)
  return true;
#else
  return false;
#endif
}

using nvtest::Quick;

// Documented bucket of an allocation of `size` bytes: 0 for size 0, else i
// with 2^(i-1) <= size <= 2^i - 1, the last bucket for everything larger.
unsigned Bucket(size_t size) {
  unsigned i = 0;
  while (i + 1 < NV_POOL_HISTOGRAM_BUCKETS && size > nv_pool_histogram_bucket_limit(i)) i++;
  return i;
}

using nvtest::Alarms;

// One live allocation and the byte all of its bytes hold.
struct Item {
  unsigned char *p = nullptr;
  size_t n = 0;
  unsigned char byte = 0;
};

// What a thread did, in the units of nv_pool_stats_t's counters.
struct Tally {
  uint64_t allocations = 0;
  uint64_t frees = 0;
  uint64_t reallocations = 0;
  uint64_t refusals = 0;  // requests refused by their arguments (failed_allocations)
  uint64_t allocated_bytes = 0;
  uint64_t histogram[NV_POOL_HISTOGRAM_BUCKETS] = {};

  void Alloc(size_t n) {
    allocations++;
    allocated_bytes += n;
    histogram[Bucket(n)]++;
  }
  void Add(const Tally &o) {
    allocations += o.allocations;
    frees += o.frees;
    reallocations += o.reallocations;
    refusals += o.refusals;
    allocated_bytes += o.allocated_bytes;
    for (unsigned i = 0; i < NV_POOL_HISTOGRAM_BUCKETS; i++) histogram[i] += o.histogram[i];
  }
};

class Shared {
 public:
  explicit Shared(nv_pool_t *pool) : pool_(pool) {}
  nv_pool_t *pool() const { return pool_; }

  bool Push(const Item &item) {
    std::lock_guard<std::mutex> lock(mu_);
    if (queue_.size() >= kQueueMax) return false;
    queue_.push_back(item);
    return true;
  }
  bool Pop(Item *item, uint64_t pick) {
    std::lock_guard<std::mutex> lock(mu_);
    if (queue_.empty()) return false;
    size_t k = static_cast<size_t>(pick % queue_.size());
    *item = queue_[k];
    queue_[k] = queue_.back();
    queue_.pop_back();
    return true;
  }
  std::vector<Item> TakeAll() {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<Item> all;
    all.swap(queue_);
    return all;
  }

  void Fail(const std::string &why) {
    failures_++;
    std::lock_guard<std::mutex> lock(mu_);
    if (failure_text_.size() < 4000) failure_text_ += why + "\n";
  }
  uint64_t failures() const { return failures_.load(); }
  std::string failure_text() {
    std::lock_guard<std::mutex> lock(mu_);
    return failure_text_;
  }

  std::atomic<unsigned> next_byte{1};

 private:
  static constexpr size_t kQueueMax = 256;
  nv_pool_t *pool_;
  std::mutex mu_;
  std::vector<Item> queue_;
  std::atomic<uint64_t> failures_{0};
  std::string failure_text_;
};

class Worker {
 public:
  Worker(Shared *shared, int id, bool reset_stats)
      : s_(shared), id_(id), reset_stats_(reset_stats),
        x_(0x9E3779B97F4A7C15ull * static_cast<uint64_t>(id + 1) + (reset_stats ? 0 : 77)) {}

  void Run(size_t steps) {
    null_out_ = std::fopen("/dev/null", "w");
    for (size_t i = 0; i < steps && s_->failures() == 0; i++) Step(i);
    if (null_out_ != nullptr) std::fclose(null_out_);
  }

  // Frees everything this thread still holds.
  void Drain() {
    for (const Item &item : own_) FreeItem(item);
    own_.clear();
  }

  std::vector<Item> &own() { return own_; }
  const Tally &tally() const { return tally_; }

 private:
  uint64_t Next() {
    x_ ^= x_ << 13;
    x_ ^= x_ >> 7;
    x_ ^= x_ << 17;
    return x_;
  }
  unsigned char NewByte() {
    // Never 0 (calloc'd chunks are checked for zeros before they are filled)
    // and never the pool's freed-chunk pattern 0xDF.
    for (;;) {
      auto b = static_cast<unsigned char>(s_->next_byte.fetch_add(1));
      if (b != 0 && b != 0xDF) return b;
    }
  }
  // 70 % fast-path sizes, 26 % range lists and new blocks, 4 % large
  // allocations (own backend allocation each).
  size_t PickSize() {
    uint64_t r = Next();
    unsigned cls = static_cast<unsigned>(r % 100);
    if (cls < 70) return static_cast<size_t>((r >> 8) % 513);
    if (cls < 96) return 513 + static_cast<size_t>((r >> 8) % 15000);
    return 65537 + static_cast<size_t>((r >> 8) % 90000);
  }

  bool Intact(const Item &item, const char *what) {
    for (size_t i = 0; i < item.n; i++)
      if (item.p[i] != item.byte) {
        s_->Fail(std::string(what) + ": byte " + std::to_string(i) + " of a " +
                 std::to_string(item.n) + "-byte chunk is " + std::to_string(item.p[i]) +
                 ", expected " + std::to_string(item.byte));
        return false;
      }
    return true;
  }

  void Keep(unsigned char *p, size_t n) {
    Item item{p, n, NewByte()};
    if (n != 0) std::memset(p, item.byte, n);
    own_.push_back(item);
  }

  void FreeItem(const Item &item) {
    if (!Intact(item, "before free")) return;
    if (nv_pool_free(s_->pool(), item.p) != NV_OK) {
      s_->Fail("nv_pool_free of a live chunk failed");
      return;
    }
    tally_.frees++;
  }

  // Reallocates `item` (own or taken from the queue) and keeps the result.
  void Realloc(Item item) {
    if (!Intact(item, "before realloc")) return;
    uint64_t r = Next();
    if (r % 16 == 0) {  // realloc to 0 frees
      if (nv_pool_realloc(s_->pool(), item.p, 0) != nullptr) s_->Fail("realloc(p, 0) returned non-NULL");
      tally_.frees++;
      return;
    }
    // A third move anywhere (in place, to another block, to or from a large
    // allocation); the rest grow or shrink by up to 48 bytes.
    long delta = static_cast<long>((r >> 20) % 97) - 48;
    size_t n = (r >> 8) % 3 == 0
                   ? PickSize() % 100000 + 1
                   : static_cast<size_t>(std::max(1L, static_cast<long>(item.n) + delta));
    auto *q = static_cast<unsigned char *>(nv_pool_realloc(s_->pool(), item.p, n));
    if (q == nullptr) {
      s_->Fail("realloc to " + std::to_string(n) + " bytes failed");
      return;
    }
    tally_.reallocations++;
    Item moved{q, std::min(n, item.n), item.byte};
    if (!Intact(moved, "after realloc")) return;
    Item fresh{q, n, NewByte()};
    std::memset(q, fresh.byte, n);
    own_.push_back(fresh);
  }

  void CheckSnapshot() {
    nv_pool_stats_t st;
    std::memset(&st, 0xA5, sizeof st);
    nv_pool_get_stats(s_->pool(), &st);
    uint64_t sum = 0;
    for (unsigned b = 0; b < NV_POOL_HISTOGRAM_BUCKETS; b++) sum += st.size_histogram[b];
    // One snapshot is taken under the pool's lock: counters move together.
    if (sum != st.allocations)
      s_->Fail("snapshot: histogram counts " + std::to_string(sum) + " allocations, counter " +
               std::to_string(st.allocations));
    if (st.peak_used < st.used) s_->Fail("snapshot: peak_used below used");
    if (st.used + st.free > st.size) s_->Fail("snapshot: used + free > size");
    if (st.fragmentation < 0.0 || st.fragmentation > 1.0) s_->Fail("snapshot: fragmentation");
    if (st.large_allocations > st.live_allocations) s_->Fail("snapshot: more large than live");
    if (!reset_stats_ && st.resets != 0) s_->Fail("snapshot: resets counted");
  }

  void Step(size_t i) {
    nv_pool_t *pool = s_->pool();
    uint64_t r = Next();
    unsigned op = static_cast<unsigned>(r % 100);
    if (own_.size() > 40) op = 60 + op % 40;  // bound what a thread holds
    if (op < 25) {
      size_t n = PickSize();
      auto *p = static_cast<unsigned char *>(nv_pool_alloc(pool, n));
      if (p == nullptr) return s_->Fail("alloc of " + std::to_string(n) + " failed");
      tally_.Alloc(n);
      Keep(p, n);
    } else if (op < 31) {
      size_t nmemb = 1 + (r >> 8) % 40, size = 1 + (r >> 16) % 60;
      auto *p = static_cast<unsigned char *>(nv_pool_calloc(pool, nmemb, size));
      if (p == nullptr) return s_->Fail("calloc failed");
      tally_.Alloc(nmemb * size);
      for (size_t k = 0; k < nmemb * size; k++)
        if (p[k] != 0) return s_->Fail("calloc'd byte not zero");
      Keep(p, nmemb * size);
    } else if (op < 35) {
      size_t n = (r >> 8) % 2000;
      auto *p = static_cast<unsigned char *>(nv_pool_align(pool, n, 64));
      if (p == nullptr) return s_->Fail("align failed");
      if (reinterpret_cast<uintptr_t>(p) % 64 != 0) return s_->Fail("align: misaligned");
      tally_.Alloc(n);
      Keep(p, n);
    } else if (op < 38) {
      size_t n = (r >> 8) % 700;
      auto *p = static_cast<unsigned char *>(nv_pool_realloc(pool, nullptr, n));
      if (p == nullptr) return s_->Fail("realloc(NULL) failed");
      tally_.Alloc(n);
      Keep(p, n);
    } else if (op < 48) {
      if (own_.empty()) return;
      size_t k = static_cast<size_t>((r >> 8) % own_.size());
      Item item = own_[k];
      own_[k] = own_.back();
      own_.pop_back();
      Realloc(item);
    } else if (op < 60) {
      // Hand one of ours to whoever comes next.
      if (own_.empty()) return;
      size_t k = static_cast<size_t>((r >> 8) % own_.size());
      if (s_->Push(own_[k])) {
        own_[k] = own_.back();
        own_.pop_back();
      }
    } else if (op < 72) {
      // Free or reallocate someone else's chunk.
      Item item;
      if (!s_->Pop(&item, r >> 8)) return;
      if ((r >> 4) % 3 == 0)
        Realloc(item);
      else
        FreeItem(item);
    } else if (op < 88) {
      if (own_.empty()) return;
      size_t k = static_cast<size_t>((r >> 8) % own_.size());
      Item item = own_[k];
      own_[k] = own_.back();
      own_.pop_back();
      FreeItem(item);
    } else if (op < 94) {
      CheckSnapshot();
      (void)nv_pool_get_used(pool);
      (void)nv_pool_get_size(pool);
      (void)nv_pool_get_free(pool);
      (void)nv_pool_is_empty(pool);
      (void)nv_pool_is_full(pool);
    } else {
      // Rarer whole-pool calls, spread over the threads.
      switch ((i + static_cast<size_t>(id_)) % 8) {
        case 0:
          if (reset_stats_ && id_ == 0) nv_pool_reset_stats(pool);
          break;
        case 1:
          if (nv_pool_validate_count(pool) != 0) s_->Fail("validate_count != 0 during the run");
          break;
        case 2: {
          char buffer[4096];
          size_t n = nv_pool_stats_json(pool, buffer, sizeof buffer);
          if (n == 0 || n >= sizeof buffer || std::strncmp(buffer, "{\"pool\":\"stress\"", 16) != 0 ||
              buffer[n - 1] != '\n')
            s_->Fail(std::string("json export: ") + buffer);
          break;
        }
        case 3: {
          static thread_local char buffer[16384];
          size_t n = nv_pool_stats_prometheus(pool, buffer, sizeof buffer);
          if (n == 0 || n >= sizeof buffer || buffer[n - 1] != '\n')
            s_->Fail("prometheus export truncated or empty");
          break;
        }
        case 4:
          if (nv_pool_compact(pool) != NV_OK) s_->Fail("compact failed");
          break;
        case 5:
          if (nv_pool_shrink(pool, 64 * 1024) != NV_OK) s_->Fail("shrink failed");
          break;
        case 6:
          if (null_out_ != nullptr) {
            nv_pool_print_stats_to(pool, null_out_);
            if (nv_pool_stats_json_to(pool, null_out_) <= 0) s_->Fail("json_to failed");
          }
          break;
        default:
          if ((r >> 8) % 4 == 0) {
            if (null_out_ != nullptr) nv_pool_dump_to(pool, null_out_);
            break;
          }
          // Requests refused by their arguments count a failed allocation
          // (and log a line) like any other failure, under the lock.
          void *refused = (r >> 10) % 3 == 0   ? nv_pool_calloc(pool, SIZE_MAX / 2, 4)
                          : (r >> 10) % 3 == 1 ? nv_pool_align(pool, 64, 48)
                                               : nv_pool_align_array(pool, SIZE_MAX / 8, 16, 16);
          if (refused != nullptr) s_->Fail("a refused request returned memory");
          tally_.refusals++;
          break;
      }
    }
  }

  Shared *s_;
  int id_;
  bool reset_stats_;
  uint64_t x_;
  std::vector<Item> own_;
  Tally tally_;
  FILE *null_out_ = nullptr;
};

TEST(ThreadsStress, SharedPoolChurn) {
  Alarms alarms;
  nv_pool_config_t config = NV_POOL_CONFIG_DEFAULT;
  config.max_size = 0;
  config.name = "stress";
  config.thread_safe = 1;
  nv_pool_t *pool = nv_pool_create(&config);
  ASSERT_NE(pool, nullptr);
  Shared shared(pool);
  const int kThreads = 4;
  const bool quick = Quick();
  // Steps per thread and phase: 20,000 natively (about 1.5 s); 10,000 under
  // ThreadSanitizer (about 10 s on an idle machine, 5-20x slower per step);
  // 1,500 under Valgrind (NV_TEST_QUICK), about 8 s.
  const size_t steps = quick ? 1500 : (TsanBuild() ? 10000 : 20000);

  // ---- phase 1: everything at once, statistics reset now and then -------
  std::vector<Worker> workers;
  for (int t = 0; t < kThreads; t++) workers.emplace_back(&shared, t, true);
  {
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; t++)
      threads.emplace_back([&workers, t, steps]() { workers[t].Run(steps); });
    for (auto &th : threads) th.join();
  }
  ASSERT_EQ(shared.failures(), 0u) << shared.failure_text();

  // Everything still live is exactly what the threads and the queue hold.
  std::vector<Item> live = shared.TakeAll();
  for (Worker &w : workers) live.insert(live.end(), w.own().begin(), w.own().end());
  size_t live_bytes = 0;
  for (const Item &item : live) {
    live_bytes += item.n;
    for (size_t k = 0; k < item.n; k++)
      ASSERT_EQ(item.p[k], item.byte) << "byte " << k << " of a " << item.n << "-byte chunk";
  }
  nv_pool_stats_t mid;
  nv_pool_get_stats(pool, &mid);
  EXPECT_EQ(mid.live_allocations, live.size());
  EXPECT_EQ(mid.used, live_bytes);
  EXPECT_EQ(nv_pool_get_used(pool), live_bytes);
  EXPECT_EQ(nv_pool_validate_count(pool), 0u);

  uint64_t mid_sum = 0;
  for (uint64_t c : mid.size_histogram) mid_sum += c;
  EXPECT_EQ(mid_sum, mid.allocations);

  // ---- phase 2: counted exactly, no stats resets; the queue is refilled
  // with phase 1's leftovers, so threads free chunks other threads made ----
  nv_pool_reset_stats(pool);
  nv_pool_stats_t at_reset;
  nv_pool_get_stats(pool, &at_reset);
  EXPECT_EQ(at_reset.allocations, 0u);
  EXPECT_EQ(at_reset.frees, 0u);
  EXPECT_EQ(at_reset.peak_used, live_bytes);
  std::vector<Item> carried;
  for (const Item &item : live)
    if (!shared.Push(item)) carried.push_back(item);
  std::vector<Worker> phase2;
  for (int t = 0; t < kThreads; t++) phase2.emplace_back(&shared, t, false);
  // Whatever did not fit the queue is freed by the workers as their own.
  for (size_t k = 0; k < carried.size(); k++)
    phase2[k % kThreads].own().push_back(carried[k]);
  {
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; t++)
      threads.emplace_back([&phase2, t, steps]() {
        phase2[t].Run(steps);
        phase2[t].Drain();
      });
    for (auto &th : threads) th.join();
  }
  ASSERT_EQ(shared.failures(), 0u) << shared.failure_text();
  Tally total;
  for (Worker &w : phase2) total.Add(w.tally());
  // What is left in the queue is freed here, counted too.
  for (const Item &item : shared.TakeAll()) {
    for (size_t k = 0; k < item.n; k++) ASSERT_EQ(item.p[k], item.byte);
    ASSERT_EQ(nv_pool_free(pool, item.p), NV_OK);
    total.frees++;
  }

  nv_pool_stats_t end;
  nv_pool_get_stats(pool, &end);
  EXPECT_EQ(end.used, 0u);
  EXPECT_EQ(end.live_allocations, 0u);
  EXPECT_EQ(end.large_allocations, 0u);
  EXPECT_EQ(nv_pool_get_used(pool), 0u);
  EXPECT_EQ(nv_pool_is_empty(pool), 1);
  EXPECT_EQ(nv_pool_validate_count(pool), 0u);
  EXPECT_EQ(end.allocations, total.allocations);
  EXPECT_EQ(end.frees, total.frees);
  EXPECT_EQ(end.reallocations, total.reallocations);
  EXPECT_EQ(end.allocated_bytes, total.allocated_bytes);
  EXPECT_EQ(end.failed_allocations, total.refusals);
  EXPECT_GT(total.refusals, 0u);
  EXPECT_EQ(end.resets, 0u);
  // Every chunk live at the stats reset and every one made since is gone.
  EXPECT_EQ(end.frees, end.allocations + mid.live_allocations);
  EXPECT_GE(end.peak_used, live_bytes);
  for (unsigned b = 0; b < NV_POOL_HISTOGRAM_BUCKETS; b++)
    EXPECT_EQ(end.size_histogram[b], total.histogram[b]) << "bucket " << b;
  EXPECT_GT(total.allocations, 1000u);
  EXPECT_GT(total.reallocations, 100u);

  nv_pool_destroy(pool);
  // One error line per refused request, nothing else.
  uint64_t refusals = total.refusals;
  for (Worker &w : workers) refusals += w.tally().refusals;
  EXPECT_EQ(alarms.errors.load(), refusals) << alarms.first;
  EXPECT_EQ(alarms.corruptions.load(), 0u) << alarms.first;
}

// A pool without thread_safe may move between threads as long as only one
// is inside it at a time (here: each thread is joined before the next one
// starts). Hardened builds must not report that.
TEST(ThreadsStress, PoolHandedBetweenThreads) {
  Alarms alarms;
  nv_pool_config_t config = NV_POOL_CONFIG_DEFAULT;
  config.name = "handed";
  nv_pool_t *pool = nv_pool_create(&config);
  ASSERT_NE(pool, nullptr);
  std::vector<void *> held;
  for (int t = 0; t < 4; t++) {
    std::thread th([pool, &held, t]() {
      for (int i = 0; i < 200; i++) {
        void *p = nv_pool_alloc(pool, static_cast<size_t>(16 + i % 300));
        if (p != nullptr && i % 3 == 0) held.push_back(p);
        else nv_pool_free(pool, p);
      }
      // Free half of what the previous thread kept.
      if (t > 0)
        for (size_t k = 0; k < held.size(); k += 2) {
          nv_pool_free(pool, held[k]);
          held[k] = nullptr;
        }
      held.erase(std::remove(held.begin(), held.end(), nullptr), held.end());
      (void)nv_pool_validate_count(pool);
    });
    th.join();
  }
  for (void *p : held) EXPECT_EQ(nv_pool_free(pool, p), NV_OK);
  EXPECT_EQ(nv_pool_get_used(pool), 0u);
  EXPECT_EQ(nv_pool_validate_count(pool), 0u);
  nv_pool_destroy(pool);
  EXPECT_EQ(alarms.errors.load(), 0u) << alarms.first;
  EXPECT_EQ(alarms.corruptions.load(), 0u) << alarms.first;
}

// ---- concurrent use of a pool that is not thread-safe ----------------------

// Two threads alloc and free their own small chunks (fast paths) and query
// the pool (slow path) until one enters while the other is inside. Returns
// only if nothing was noticed within 30 s, which fails the death test.
void HammerUnsharedPool(const char *name) {
  nv_pool_config_t config = NV_POOL_CONFIG_DEFAULT;
  config.name = name;
  config.max_size = 0;
  nv_pool_t *pool = nv_pool_create(&config);
  if (pool == nullptr) {
    std::fprintf(stderr, "test setup: nv_pool_create failed\n");
    std::_Exit(2);
  }
  std::atomic<bool> stop{false};
  auto hammer = [pool, &stop](int id) {
    void *mine[8] = {};
    for (uint64_t i = 0; !stop.load(std::memory_order_relaxed); i++) {
      size_t k = i % 8;
      if (mine[k] != nullptr) nv_pool_free(pool, mine[k]);
      mine[k] = nv_pool_alloc(pool, 8 + (i * 24 + static_cast<uint64_t>(id)) % 200);
      if (i % 64 == 0) (void)nv_pool_get_used(pool);
    }
  };
  std::thread a(hammer, 0), b(hammer, 1);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  stop = true;
  a.join();
  b.join();
  std::fprintf(stderr, "no concurrent use reported in 30 s\n");
}

const char *SkipReason() {
  if (nv_pool_hardening_enabled() == 0)
    return "hardening is compiled out (--config=release): there is no owner check";
  if (TsanBuild())
    return "ThreadSanitizer build: the race in this test is deliberate and TSan would report it";
  return nullptr;
}

TEST(ThreadsDeathTest, ConcurrentUseAbortsWithDefaultHandler) {
  if (const char *why = SkipReason()) GTEST_SKIP() << why;
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(HammerUnsharedPool("unshared"),
               "nv_pool corruption in pool 'unshared' .*: single-thread use damaged; .*"
               "found by nv_pool_[a-z_]+; two threads were inside the pool at once; "
               "create it with thread_safe = 1 to share it");
}

// A replaced handler receives the report: kind 6, this pool, no chunk, the
// public function that noticed. It exits at once (returning would let the
// two threads go on racing inside the pool).
nv_pool_t *g_reported_pool_expected = nullptr;
void ExitingHandler(const nv_pool_corruption_t *report, void *) {
  char line[512];
  int n = std::snprintf(line, sizeof line, "report: kind=%d pool=%s same_pool=%d chunk=%s op=%s\n",
                        static_cast<int>(report->kind), report->pool_name,
                        report->pool == g_reported_pool_expected,
                        report->chunk == nullptr ? "null" : "set", report->operation);
  if (n > 0) (void)!write(2, line, static_cast<size_t>(n));
  std::_Exit(3);
}

void HammerWithHandler() {
  nv_pool_set_corruption_handler(ExitingHandler, nullptr);
  nv_pool_config_t config = NV_POOL_CONFIG_DEFAULT;
  config.name = "handled";
  nv_pool_t *pool = nv_pool_create(&config);
  if (pool == nullptr) std::_Exit(2);
  g_reported_pool_expected = pool;
  std::atomic<bool> stop{false};
  auto hammer = [pool, &stop]() {
    for (uint64_t i = 0; !stop.load(std::memory_order_relaxed); i++) {
      void *p = nv_pool_alloc(pool, 32 + i % 64);
      nv_pool_free(pool, p);
    }
  };
  std::thread a(hammer), b(hammer);
  std::this_thread::sleep_for(std::chrono::seconds(30));
  stop = true;
  a.join();
  b.join();
}

TEST(ThreadsDeathTest, ConcurrentUseReachesReplacedHandler) {
  if (const char *why = SkipReason()) GTEST_SKIP() << why;
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(HammerWithHandler(), ::testing::ExitedWithCode(3),
              "report: kind=6 pool=handled same_pool=1 chunk=null op=nv_pool_(alloc|free)");
}

// ---- the owner check, deterministically -----------------------------------
//
// A pool's first user holds its "bias" and marks itself inside without an
// atomic exchange; another thread entering revokes the bias (membarrier)
// and must see the owner inside. Here one thread is held inside the pool,
// in the backend's alloc callback (a large allocation asks the backend
// while the pool is entered), and the other thread calls nv_pool_alloc:
// it must report kind 6 before doing anything else. The handler exits, so
// the threads never actually race.

// A backend whose next alloc call, once armed, blocks until the process
// exits, after telling the other thread it is inside.
struct Gate {
  std::mutex mutex;
  std::condition_variable changed;
  bool armed = false;
  bool inside = false;
  nv_pool_t *nested = nullptr;  // if set: a small alloc and free on it first
};

void *GateAlloc(void *context, size_t size) {
  auto *gate = static_cast<Gate *>(context);
  bool stuck;
  {
    std::lock_guard<std::mutex> lock(gate->mutex);
    stuck = gate->armed;
    gate->armed = false;
  }
  if (stuck) {
    // A call from within the pool's call: it must leave the owner's
    // "inside" mark set on its way out.
    if (gate->nested != nullptr &&
        nv_pool_free(gate->nested, nv_pool_alloc(gate->nested, 32)) != NV_OK)
      std::_Exit(2);
    std::unique_lock<std::mutex> lock(gate->mutex);
    gate->inside = true;
    gate->changed.notify_all();
    gate->changed.wait(lock, [] { return false; });  // until the handler's _Exit
  }
  return std::malloc(size);
}

void GateRelease(void *, void *memory, size_t) { std::free(memory); }

void ReportAndExit(const nv_pool_corruption_t *report, void *) {
  char line[256];
  int n = std::snprintf(line, sizeof line, "report: kind=%d op=%s\n",
                        static_cast<int>(report->kind), report->operation);
  if (n > 0) (void)!write(2, line, static_cast<size_t>(n));
  std::_Exit(3);
}

// One thread gets stuck inside the pool: this one, which holds the bias,
// if `owner_is_inside`, else a second thread (whose entry revokes the
// bias); the other one then calls nv_pool_alloc. With `nested_call`, the
// stuck thread first allocates and frees on the same pool from inside.
void OneThreadInsideOtherEnters(bool owner_is_inside, bool nested_call = false) {
  static Gate gate;
  static const nv_pool_backend_t backend = {GateAlloc, GateRelease, &gate};
  nv_pool_set_corruption_handler(ReportAndExit, nullptr);
  nv_pool_config_t config = NV_POOL_CONFIG_DEFAULT;
  config.name = "gated";
  config.max_size = 0;  // the default cap would refuse the large request
  config.backend = &backend;
  nv_pool_t *pool = nv_pool_create(&config);
  if (pool == nullptr) std::_Exit(2);
  if (nested_call) gate.nested = pool;
  // This thread's first use: it holds the bias from now on.
  if (nv_pool_free(pool, nv_pool_alloc(pool, 64)) != NV_OK) std::_Exit(2);
  auto get_stuck = [pool] {
    {
      std::lock_guard<std::mutex> lock(gate.mutex);
      gate.armed = true;
    }
    (void)nv_pool_alloc(pool, size_t{4} << 20);  // large: a call of the backend's alloc
  };
  auto enter_when_stuck = [pool] {
    {
      std::unique_lock<std::mutex> lock(gate.mutex);
      gate.changed.wait(lock, [] { return gate.inside; });
    }
    (void)nv_pool_alloc(pool, 32);
    // Not reported: the stuck thread never comes back, so end here.
    std::fprintf(stderr, "no concurrent use reported\n");
    std::_Exit(4);
  };
  if (owner_is_inside) {
    std::thread other(enter_when_stuck);
    get_stuck();
    other.join();
  } else {
    std::thread other(get_stuck);  // revokes the bias on entry (nobody inside)
    enter_when_stuck();
    other.join();
  }
}

TEST(ThreadsDeathTest, ThreadEnteringWhileTheBiasOwnerIsInsideIsReported) {
  if (nv_pool_hardening_enabled() == 0)
    GTEST_SKIP() << "hardening is compiled out (--config=release): there is no owner check";
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(OneThreadInsideOtherEnters(true), ::testing::ExitedWithCode(3),
              "report: kind=6 op=nv_pool_alloc");
}

TEST(ThreadsDeathTest, BiasOwnerEnteringWhileAnotherThreadIsInsideIsReported) {
  if (nv_pool_hardening_enabled() == 0)
    GTEST_SKIP() << "hardening is compiled out (--config=release): there is no owner check";
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(OneThreadInsideOtherEnters(false), ::testing::ExitedWithCode(3),
              "report: kind=6 op=nv_pool_alloc");
}

// The bias owner, inside, allocates and frees on the same pool (the fast
// paths' size) before it gets stuck: those nested calls must not take its
// "inside" mark down with them, or the other thread would get in unseen.
TEST(ThreadsDeathTest, NestedCallsOfTheBiasOwnerKeepItInside) {
  if (nv_pool_hardening_enabled() == 0)
    GTEST_SKIP() << "hardening is compiled out (--config=release): there is no owner check";
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(OneThreadInsideOtherEnters(true, true), ::testing::ExitedWithCode(3),
              "report: kind=6 op=nv_pool_alloc");
}

// Thread-safe pools never report concurrent use, whatever the threads do.
TEST(ThreadsStress, ThreadSafePoolNeverReportsConcurrentUse) {
  Alarms alarms;
  nv_pool_config_t config = NV_POOL_CONFIG_DEFAULT;
  config.name = "shared";
  config.max_size = 0;
  config.thread_safe = 1;
  nv_pool_t *pool = nv_pool_create(&config);
  ASSERT_NE(pool, nullptr);
  const uint64_t steps = Quick() ? 2000 : 50000;
  auto hammer = [pool, steps]() {
    void *mine[8] = {};
    for (uint64_t i = 0; i < steps; i++) {
      size_t k = i % 8;
      if (mine[k] != nullptr) nv_pool_free(pool, mine[k]);
      mine[k] = nv_pool_alloc(pool, 8 + i % 200);
      if (i % 64 == 0) (void)nv_pool_get_used(pool);
    }
    for (void *p : mine) nv_pool_free(pool, p);
  };
  std::thread a(hammer), b(hammer);
  a.join();
  b.join();
  EXPECT_EQ(nv_pool_get_used(pool), 0u);
  EXPECT_EQ(nv_pool_validate_count(pool), 0u);
  nv_pool_destroy(pool);
  EXPECT_EQ(alarms.corruptions.load(), 0u) << alarms.first;
  EXPECT_EQ(alarms.errors.load(), 0u) << alarms.first;
}

}  // namespace

namespace {

nv_pool_t *MakeShared(size_t initial_size, size_t max_size, int auto_extend) {
  nv_pool_config_t config = NV_POOL_CONFIG_DEFAULT;
  config.name = "slots";
  config.initial_size = initial_size;
  config.max_size = max_size;
  config.auto_extend = auto_extend;
  config.thread_safe = 1;
  return nv_pool_create(&config);
}

}  // namespace

// A thread-safe pool serves most calls from per-thread slots without its
// lock (docs/design.md#threads). Used from one thread, every count must stay
// exact, peak_used included, and a double free must still be refused.
TEST(ThreadsSlots, OneThreadKeepsExactCounts) {
  Alarms alarms;
  nv_pool_t *pool = MakeShared(64 * 1024, 0, 1);
  ASSERT_NE(pool, nullptr);
  std::vector<std::pair<void *, size_t>> live;
  size_t used = 0, peak = 0;
  uint64_t allocations = 0, frees = 0;
  uint64_t histogram[NV_POOL_HISTOGRAM_BUCKETS] = {};
  for (size_t round = 0; round < 4; round++) {
    for (size_t i = 0; i < 200; i++) {
      size_t n = (i * 37 + round) % 300;
      void *p = nv_pool_alloc(pool, n);
      ASSERT_NE(p, nullptr);
      std::memset(p, 0x5A, n);
      live.push_back({p, n});
      used += n;
      peak = std::max(peak, used);
      allocations++;
      histogram[Bucket(n)]++;
    }
    ASSERT_EQ(nv_pool_get_used(pool), used);
    // Free every other one: most land in this thread's slot.
    std::vector<std::pair<void *, size_t>> kept;
    for (size_t i = 0; i < live.size(); i++) {
      if (i % 2 == 0) {
        ASSERT_EQ(nv_pool_free(pool, live[i].first), NV_OK);
        used -= live[i].second;
        frees++;
      } else {
        kept.push_back(live[i]);
      }
    }
    live.swap(kept);
    ASSERT_EQ(nv_pool_get_used(pool), used);
  }
  // The same pointer twice: the first free takes the slot path, the second
  // must be refused by the locked path.
  void *p = nv_pool_alloc(pool, 40);
  ASSERT_NE(p, nullptr);
  allocations++;
  histogram[Bucket(40)]++;
  peak = std::max(peak, used + 40);
  ASSERT_EQ(nv_pool_free(pool, p), NV_OK);
  frees++;
  EXPECT_EQ(nv_pool_free(pool, p), NV_ERROR);
  EXPECT_EQ(alarms.errors.load(), 1u) << alarms.first;

  nv_pool_stats_t s;
  nv_pool_get_stats(pool, &s);
  EXPECT_EQ(s.used, used);
  EXPECT_EQ(static_cast<uint64_t>(s.live_allocations), static_cast<uint64_t>(live.size()));
  EXPECT_EQ(s.peak_used, peak);
  EXPECT_EQ(static_cast<uint64_t>(s.allocations), allocations);
  EXPECT_EQ(static_cast<uint64_t>(s.frees), frees);
  for (unsigned b = 0; b < NV_POOL_HISTOGRAM_BUCKETS; b++)
    EXPECT_EQ(static_cast<uint64_t>(s.size_histogram[b]), histogram[b]) << "bucket " << b;
  EXPECT_EQ(nv_pool_validate_count(pool), 0u);
  for (auto &item : live) EXPECT_EQ(nv_pool_free(pool, item.first), NV_OK);
  EXPECT_TRUE(nv_pool_is_empty(pool));
  EXPECT_EQ(nv_pool_get_used(pool), 0u);
  nv_pool_destroy(pool);
  EXPECT_EQ(alarms.corruptions.load(), 0u) << alarms.first;
}

// A peak reached only inside a slot: 32 chunks of 33 bytes, freed (they
// stay in this thread's slot), then 32 of 48 bytes (the same span) taken
// back from it without the lock, and freed. No call in between folds the
// slot's counts into the pool, so peak_used must come from the slot's own
// high point.
TEST(ThreadsSlots, PeakReachedInsideASlot) {
  Alarms alarms;
  nv_pool_t *pool = MakeShared(64 * 1024, 0, 1);
  ASSERT_NE(pool, nullptr);
  std::vector<void *> small, big;
  for (int i = 0; i < 32; i++) small.push_back(nv_pool_alloc(pool, 33));
  for (void *q : small) ASSERT_EQ(nv_pool_free(pool, q), NV_OK);
  for (int i = 0; i < 32; i++) big.push_back(nv_pool_alloc(pool, 48));
  for (void *q : big) ASSERT_EQ(nv_pool_free(pool, q), NV_OK);
  for (void *q : small) ASSERT_NE(q, nullptr);
  for (void *q : big) ASSERT_NE(q, nullptr);
  nv_pool_stats_t s;
  nv_pool_get_stats(pool, &s);
  EXPECT_EQ(s.peak_used, 32u * 48u);
  EXPECT_EQ(s.used, 0u);
  EXPECT_EQ(static_cast<uint64_t>(s.allocations), 64u);
  EXPECT_EQ(static_cast<uint64_t>(s.frees), 64u);
  nv_pool_destroy(pool);
  EXPECT_EQ(alarms.errors.load(), 0u) << alarms.first;
}

// Chunks a thread freed into its slot are not lost to other threads: in a
// fixed pool, what one thread filled and freed, another can fill again.
TEST(ThreadsSlots, FreedChunksInOneSlotServeAnotherThread) {
  Alarms alarms;
  nv_pool_t *pool = MakeShared(64 * 1024, 0, 0);
  ASSERT_NE(pool, nullptr);
  size_t filled = 0;
  std::thread first([pool, &filled]() {
    std::vector<void *> mine;
    for (;;) {
      void *p = nv_pool_alloc(pool, 48);
      if (p == nullptr) break;
      mine.push_back(p);
    }
    filled = mine.size();
    for (void *p : mine) ASSERT_EQ(nv_pool_free(pool, p), NV_OK);
  });
  first.join();
  ASSERT_GT(filled, 100u);
  // No query here: any public call but alloc and free would hand the slot's
  // chunks back to the pool, which is what the second thread must not need.
  uint64_t errors_after_fill = alarms.errors.load();  // the refusal that ended the fill
  size_t refilled = 0;
  std::thread second([pool, filled, &refilled]() {
    std::vector<void *> mine;
    for (size_t i = 0; i < filled; i++) {
      void *p = nv_pool_alloc(pool, 48);
      if (p == nullptr) break;
      mine.push_back(p);
    }
    refilled = mine.size();
    for (void *p : mine) EXPECT_EQ(nv_pool_free(pool, p), NV_OK);
  });
  second.join();
  EXPECT_EQ(refilled, filled);
  EXPECT_EQ(alarms.errors.load(), errors_after_fill) << alarms.first;
  EXPECT_EQ(nv_pool_validate_count(pool), 0u);
  nv_pool_destroy(pool);
  EXPECT_EQ(alarms.corruptions.load(), 0u) << alarms.first;
}

// Chunks move between threads: allocated by one, freed by the other, both
// at full speed. Counts agree at the end.
TEST(ThreadsSlots, CrossThreadFrees) {
  Alarms alarms;
  nv_pool_t *pool = MakeShared(0, 0, 1);
  ASSERT_NE(pool, nullptr);
  const size_t kItems = Quick() ? 2000 : (TsanBuild() ? 20000 : 200000);
  std::mutex mu;
  std::vector<std::pair<unsigned char *, size_t>> queue;
  std::atomic<bool> done{false};
  std::atomic<size_t> bad{0};
  std::thread producer([&]() {
    for (size_t i = 0; i < kItems; i++) {
      size_t n = 1 + i % 500;
      auto *p = static_cast<unsigned char *>(nv_pool_alloc(pool, n));
      if (p == nullptr) {
        bad++;
        break;
      }
      std::memset(p, static_cast<int>(n & 0xFF), n);
      std::lock_guard<std::mutex> lock(mu);
      queue.push_back({p, n});
    }
    done = true;
  });
  std::thread consumer([&]() {
    for (;;) {
      std::vector<std::pair<unsigned char *, size_t>> batch;
      {
        std::lock_guard<std::mutex> lock(mu);
        batch.swap(queue);
      }
      if (batch.empty()) {
        if (done.load()) {
          std::lock_guard<std::mutex> lock(mu);
          if (queue.empty()) break;
        }
        std::this_thread::yield();
        continue;
      }
      for (auto &item : batch) {
        for (size_t k = 0; k < item.second; k++)
          if (item.first[k] != static_cast<unsigned char>(item.second & 0xFF)) {
            bad++;
            break;
          }
        if (nv_pool_free(pool, item.first) != NV_OK) bad++;
      }
    }
  });
  producer.join();
  consumer.join();
  EXPECT_EQ(bad.load(), 0u);
  nv_pool_stats_t s;
  nv_pool_get_stats(pool, &s);
  EXPECT_EQ(s.used, 0u);
  EXPECT_EQ(s.live_allocations, 0u);
  EXPECT_EQ(static_cast<uint64_t>(s.allocations), static_cast<uint64_t>(kItems));
  EXPECT_EQ(static_cast<uint64_t>(s.frees), static_cast<uint64_t>(kItems));
  EXPECT_EQ(nv_pool_validate_count(pool), 0u);
  nv_pool_destroy(pool);
  EXPECT_EQ(alarms.errors.load(), 0u) << alarms.first;
  EXPECT_EQ(alarms.corruptions.load(), 0u) << alarms.first;
}
