// nv_pool and its backend: every byte accounted for (get_size equals what is
// outstanding with the backend, everything returned at destroy), and a
// failure injected at every backend call of every scenario leaves a valid,
// unchanged, usable pool with nothing leaked.
#include <nv_pool.h>

#include "tests/pool_test_util.h"

#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <vector>

namespace {

using nvtest::CountingBackend;
using nvtest::PoolPtr;
using nvtest::PoolTest;
using nvtest::Snapshot;

class BackendTest : public PoolTest {
 protected:
  void ExpectBackendClean(const CountingBackend &backend) {
    EXPECT_EQ(backend.outstanding_count(), 0u) << "allocations never released";
    EXPECT_EQ(backend.outstanding_bytes(), 0u);
    EXPECT_EQ(backend.successful_allocs(), backend.release_calls());
    EXPECT_EQ(backend.total_bytes_obtained(), backend.total_bytes_released());
    for (const std::string &e : backend.errors()) ADD_FAILURE() << e;
  }
};

nv_pool_config_t WithBackend(nv_pool_config_t config, const CountingBackend &backend) {
  config.backend = backend.backend();
  return config;
}

TEST_F(BackendTest, SizeEqualsOutstandingBytesAndDestroyReturnsEverything) {
  CountingBackend backend;
  {
    PoolPtr pool = nvtest::Make(WithBackend(nvtest::Config(16 * 1024, 4 * 1024 * 1024, 4096, 1), backend));
    ASSERT_NE(pool, nullptr);
    EXPECT_EQ(nv_pool_get_size(pool.get()), backend.outstanding_bytes());
    std::vector<void *> live;
    for (int i = 0; i < 300; i++) {
      size_t n = (i % 7 == 0) ? 70000 + i : 50 + (i * 97) % 3000;
      void *p = (i % 5 == 0) ? nv_pool_align(pool.get(), n, size_t{1} << (i % 13)) : nv_pool_alloc(pool.get(), n);
      if (p == nullptr) {
        log_.Clear();  // the 4 MiB cap
      } else {
        live.push_back(p);
      }
      ASSERT_EQ(nv_pool_get_size(pool.get()), backend.outstanding_bytes()) << "step " << i;
      ASSERT_LE(nv_pool_get_size(pool.get()), 4u * 1024 * 1024);
      if (i % 3 == 0 && !live.empty()) {
        ASSERT_EQ(nv_pool_free(pool.get(), live[live.size() / 2]), NV_OK);
        live.erase(live.begin() + static_cast<long>(live.size() / 2));
        ASSERT_EQ(nv_pool_get_size(pool.get()), backend.outstanding_bytes());
      }
    }
    ASSERT_EQ(nv_pool_extend(pool.get(), 20000), NV_OK);
    EXPECT_EQ(nv_pool_get_size(pool.get()), backend.outstanding_bytes());
    EXPECT_EQ(nv_pool_compact(pool.get()), NV_OK);
    EXPECT_EQ(nv_pool_get_size(pool.get()), backend.outstanding_bytes());
    EXPECT_EQ(nv_pool_shrink(pool.get(), 50000), NV_OK);
    EXPECT_EQ(nv_pool_get_size(pool.get()), backend.outstanding_bytes());
    nv_pool_reset(pool.get());
    EXPECT_EQ(nv_pool_get_size(pool.get()), backend.outstanding_bytes());
    // Destroyed with live allocations (the PoolPtr) after new ones.
    for (int i = 0; i < 20; i++) ASSERT_NE(nv_pool_alloc(pool.get(), 100 * (i + 1)), nullptr);
    ASSERT_NE(nv_pool_alloc(pool.get(), 200000), nullptr);
    EXPECT_EQ(nv_pool_get_size(pool.get()), backend.outstanding_bytes());
  }
  ExpectBackendClean(backend);
}

// Creation with a failure at each backend call in turn.
TEST_F(BackendTest, CreateFailingAtEveryBackendCall) {
  const nv_pool_config_t configs[] = {
      nvtest::DefaultConfig(),
      nvtest::Config(0, 0, 0, 1),
      nvtest::Config(256 * 1024, 0, 8192, 1, 1, 1),
      nvtest::Config(64 * 1024, 64 * 1024, 4096, 0, 0, 0),
  };
  for (const nv_pool_config_t &base : configs) {
    SCOPED_TRACE(testing::Message() << "initial_size " << base.initial_size);
    for (uint64_t n = 1;; n++) {
      SCOPED_TRACE(testing::Message() << "failing call " << n);
      ASSERT_LT(n, 50u);
      CountingBackend backend;
      backend.FailNth(n);
      nv_pool_config_t config = WithBackend(base, backend);
      nv_pool_t *pool = nv_pool_create(&config);
      if (backend.failures_injected() == 0) {
        // Every call of a successful creation has been tried.
        ASSERT_NE(pool, nullptr);
        ExpectNoErrorLogged("successful create");
        EXPECT_EQ(nv_pool_get_size(pool), backend.outstanding_bytes());
        nv_pool_destroy(pool);
        ExpectBackendClean(backend);
        break;
      }
      EXPECT_EQ(pool, nullptr);
      ExpectErrorLogged("create with a backend failure");
      nv_pool_destroy(pool);
      ExpectBackendClean(backend);
    }
  }
}

// One operation on a prepared pool, with the n-th backend call of the
// operation failing, for n = 1, 2, ... until the operation needs no more.
struct Scenario {
  const char *name;
  nv_pool_config_t config;
  // Prepares the pool (healthy backend); may record live allocations.
  std::function<void(nv_pool_t *, std::vector<std::pair<unsigned char *, size_t>> &)> setup;
  // The operation; returns true on success. `live` may be updated.
  std::function<bool(nv_pool_t *, std::vector<std::pair<unsigned char *, size_t>> &)> op;
  bool is_allocation;  // refusals count in failed_allocations
};

void Prepare(nv_pool_t *pool, std::vector<std::pair<unsigned char *, size_t>> &live,
             std::initializer_list<size_t> sizes) {
  for (size_t n : sizes) {
    auto *p = static_cast<unsigned char *>(nv_pool_alloc(pool, n));
    ASSERT_NE(p, nullptr);
    std::memset(p, static_cast<int>(live.size() + 1), n);
    live.push_back({p, n});
  }
}

std::vector<Scenario> Scenarios() {
  using Live = std::vector<std::pair<unsigned char *, size_t>>;
  auto none = [](nv_pool_t *, Live &) {};
  auto keep = [](Live &live, void *p, size_t n) {
    if (p == nullptr) return false;
    std::memset(p, 0x3C, n);
    live.push_back({static_cast<unsigned char *>(p), n});
    return true;
  };
  std::vector<Scenario> s;
  s.push_back({"alloc, first block", nvtest::Config(0, 0, 4096, 1), none,
               [keep](nv_pool_t *p, Live &l) { return keep(l, nv_pool_alloc(p, 100), 100); }, true});
  s.push_back({"alloc, next block", nvtest::Config(4096, 0, 4096, 1),
               [](nv_pool_t *p, Live &l) { Prepare(p, l, {1500, 1500}); },
               [keep](nv_pool_t *p, Live &l) { return keep(l, nv_pool_alloc(p, 3000), 3000); }, true});
  s.push_back({"alloc, large", nvtest::Config(16 * 1024, 0, 4096, 1),
               [](nv_pool_t *p, Live &l) { Prepare(p, l, {100, 70000}); },
               [keep](nv_pool_t *p, Live &l) { return keep(l, nv_pool_alloc(p, 100000), 100000); }, true});
  s.push_back({"calloc, first block", nvtest::Config(0, 0, 4096, 1), none,
               [keep](nv_pool_t *p, Live &l) { return keep(l, nv_pool_calloc(p, 10, 10), 100); }, true});
  s.push_back({"calloc, large", nvtest::Config(0, 0, 4096, 1), none,
               [keep](nv_pool_t *p, Live &l) { return keep(l, nv_pool_calloc(p, 1000, 100), 100000); }, true});
  s.push_back({"align, first block", nvtest::Config(0, 0, 4096, 1), none,
               [keep](nv_pool_t *p, Live &l) { return keep(l, nv_pool_align(p, 100, 4096), 100); }, true});
  s.push_back({"align, large", nvtest::Config(16 * 1024, 0, 4096, 1),
               [](nv_pool_t *p, Live &l) { Prepare(p, l, {300}); },
               [keep](nv_pool_t *p, Live &l) { return keep(l, nv_pool_align(p, 70000, 65536), 70000); }, true});
  s.push_back({"align_array, next block", nvtest::Config(4096, 0, 4096, 1),
               [](nv_pool_t *p, Live &l) { Prepare(p, l, {3000}); },
               [keep](nv_pool_t *p, Live &l) { return keep(l, nv_pool_align_array(p, 100, 30, 64), 3000); }, true});
  s.push_back({"realloc(NULL), first block", nvtest::Config(0, 0, 4096, 1), none,
               [keep](nv_pool_t *p, Live &l) { return keep(l, nv_pool_realloc(p, nullptr, 500), 500); }, true});
  auto grow = [](size_t to) {
    return [to](nv_pool_t *p, Live &l) {
      // Move the first live allocation to `to` bytes.
      void *q = nv_pool_realloc(p, l[0].first, to);
      if (q == nullptr) return false;
      auto *c = static_cast<unsigned char *>(q);
      EXPECT_TRUE(nvtest::AllAre(c, l[0].second, 1)) << "contents lost in the move";
      std::memset(c, 1, to);
      l[0] = {c, to};
      return true;
    };
  };
  s.push_back({"realloc moving to a new block", nvtest::Config(4096, 0, 4096, 1),
               [](nv_pool_t *p, Live &l) { Prepare(p, l, {1500, 1500}); }, grow(3500), true});
  s.push_back({"realloc moving to large", nvtest::Config(16 * 1024, 0, 4096, 1),
               [](nv_pool_t *p, Live &l) { Prepare(p, l, {2000, 100}); }, grow(200000), true});
  s.push_back({"realloc of large, growing", nvtest::Config(16 * 1024, 0, 4096, 1),
               [](nv_pool_t *p, Live &l) { Prepare(p, l, {80000, 100}); }, grow(500000), true});
  s.push_back({"extend", nvtest::Config(16 * 1024, 0, 4096, 1),
               [](nv_pool_t *p, Live &l) { Prepare(p, l, {100}); },
               [](nv_pool_t *p, Live &) {
                 int rc = nv_pool_extend(p, 8192);
                 EXPECT_TRUE(rc == NV_OK || rc == NV_ERROR) << rc;  // contract §6
                 return rc == NV_OK;
               },
               false});
  s.push_back({"extend, fixed pool", nvtest::Config(0, 0, 4096, 0), none,
               [](nv_pool_t *p, Live &) {
                 int rc = nv_pool_extend(p, 100000);
                 EXPECT_TRUE(rc == NV_OK || rc == NV_ERROR) << rc;  // contract §6
                 return rc == NV_OK;
               },
               false});
  s.push_back({"zero_clear alloc, large", nvtest::Config(0, 0, 4096, 1, 1, 1), none,
               [keep](nv_pool_t *p, Live &l) {
                 void *q = nv_pool_alloc(p, 90000);
                 if (q) {
                   EXPECT_TRUE(nvtest::AllAre(q, 90000, 0));
                 }
                 return keep(l, q, 90000);
               },
               true});
  s.push_back({"stats off, alloc", nvtest::Config(0, 0, 4096, 1, 0, 0), none,
               [keep](nv_pool_t *p, Live &l) { return keep(l, nv_pool_alloc(p, 100), 100); }, true});
  return s;
}

TEST_F(BackendTest, EveryOperationFailingAtEveryBackendCall) {
  for (const Scenario &sc : Scenarios()) {
    SCOPED_TRACE(sc.name);
    for (uint64_t n = 1;; n++) {
      SCOPED_TRACE(testing::Message() << "failing call " << n << " of the operation");
      ASSERT_LT(n, 50u);
      CountingBackend backend;
      {
        PoolPtr pool = nvtest::Make(WithBackend(sc.config, backend));
        ASSERT_NE(pool, nullptr);
        std::vector<std::pair<unsigned char *, size_t>> live;
        sc.setup(pool.get(), live);
        ExpectNoErrorLogged("setup");
        Snapshot before = Snapshot::Of(pool.get());
        size_t outstanding = backend.outstanding_bytes();
        backend.FailNth(n);
        bool ok = sc.op(pool.get(), live);
        backend.Heal();
        EXPECT_EQ(nv_pool_get_size(pool.get()), backend.outstanding_bytes());
        EXPECT_EQ(nv_pool_validate_count(pool.get()), 0u);
        if (backend.failures_injected() == 0) {
          EXPECT_TRUE(ok) << "the operation failed without a backend failure";
          ExpectNoErrorLogged("successful operation");
          n = 1000;  // done after this round
        } else {
          EXPECT_FALSE(ok) << "a backend failure went unnoticed?";
          ExpectErrorLogged("operation with a backend failure");
          Snapshot after = Snapshot::Of(pool.get());
          nvtest::ExpectUnchanged(before, after,
                                  sc.is_allocation && sc.config.enable_stats ? 1 : 0);
          EXPECT_EQ(backend.outstanding_bytes(), outstanding) << "memory kept after a failure";
        }
        // Everything live is intact and the pool is usable; the operation
        // now succeeds.
        for (size_t i = 0; i < live.size(); i++) {
          unsigned char expect = live[i].first[0];
          EXPECT_TRUE(nvtest::AllAre(live[i].first, live[i].second, expect)) << "live #" << i;
        }
        if (!ok) {
          EXPECT_TRUE(sc.op(pool.get(), live)) << "retry after healing";
        }
        void *p = nv_pool_alloc(pool.get(), 100);
        EXPECT_NE(p, nullptr);
        EXPECT_EQ(nv_pool_free(pool.get(), p), NV_OK);
        for (auto &l : live) EXPECT_EQ(nv_pool_free(pool.get(), l.first), NV_OK);
        EXPECT_EQ(nv_pool_is_empty(pool.get()), 1);
        EXPECT_EQ(nv_pool_validate_count(pool.get()), 0u);
        ExpectNoErrorLogged("after the scenario");
      }
      ExpectBackendClean(backend);
      if (n >= 1000) break;
    }
  }
}

// Growth of the pool's own arrays: a failure at each backend call while the
// pool goes from 0 to many blocks / large allocations. Every refusal leaves
// the pool unchanged; the retry then succeeds.
TEST_F(BackendTest, FailuresWhileTheBookkeepingGrows) {
  struct Growth {
    const char *name;
    nv_pool_config_t config;
    std::function<bool(nv_pool_t *, std::vector<void *> &)> step;
  };
  Growth growths[] = {
      {"blocks by extend", nvtest::Config(0, 0, 4096, 1),
       [](nv_pool_t *p, std::vector<void *> &) { return nv_pool_extend(p, 4096) == NV_OK; }},
      {"blocks by alloc", nvtest::Config(0, 0, 4096, 1),
       [](nv_pool_t *p, std::vector<void *> &live) {
         // Bigger than half a block: most need a new block.
         void *q = nv_pool_alloc(p, 40000);
         if (q) live.push_back(q);
         return q != nullptr;
       }},
      {"large allocations", nvtest::Config(0, 0, 4096, 1),
       [](nv_pool_t *p, std::vector<void *> &live) {
         void *q = nv_pool_alloc(p, 66000);
         if (q) live.push_back(q);
         return q != nullptr;
       }},
      {"blocks of a fixed pool", nvtest::Config(0, 0, 4096, 0),
       [](nv_pool_t *p, std::vector<void *> &) { return nv_pool_extend(p, 1000) == NV_OK; }},
  };
  for (Growth &g : growths) {
    SCOPED_TRACE(g.name);
    CountingBackend backend;
    {
      PoolPtr pool = nvtest::Make(WithBackend(g.config, backend));
      ASSERT_NE(pool, nullptr);
      std::vector<void *> live;
      for (int step = 0; step < 70; step++) {
        SCOPED_TRACE(step);
        for (uint64_t n = 1;; n++) {
          ASSERT_LT(n, 20u);
          Snapshot before = Snapshot::Of(pool.get());
          backend.FailNth(n);
          uint64_t injected = backend.failures_injected();
          bool ok = g.step(pool.get(), live);
          backend.Heal();
          ASSERT_EQ(nv_pool_get_size(pool.get()), backend.outstanding_bytes());
          if (backend.failures_injected() == injected) {
            ASSERT_TRUE(ok);
            break;
          }
          ASSERT_FALSE(ok);
          log_.TakeErrors();
          Snapshot after = Snapshot::Of(pool.get());
          EXPECT_EQ(after.size, before.size);
          EXPECT_EQ(after.used, before.used);
          EXPECT_EQ(after.free, before.free);
          EXPECT_EQ(after.stats.blocks, before.stats.blocks);
          EXPECT_EQ(after.stats.large_allocations, before.stats.large_allocations);
          EXPECT_EQ(after.stats.live_allocations, before.stats.live_allocations);
        }
      }
      EXPECT_EQ(nv_pool_validate_count(pool.get()), 0u);
      for (void *p : live) EXPECT_EQ(nv_pool_free(pool.get(), p), NV_OK);
      ExpectNoErrorLogged("growth");
    }
    ExpectBackendClean(backend);
  }
}

// free, reset, shrink, compact, the queries and destroy never need memory:
// they all work with a backend that refuses everything.
TEST_F(BackendTest, ReleasingOperationsNeverAskTheBackend) {
  CountingBackend backend;
  {
    PoolPtr pool = nvtest::Make(WithBackend(nvtest::Config(16 * 1024, 0, 4096, 1), backend));
    ASSERT_NE(pool, nullptr);
    std::vector<void *> live;
    for (int i = 0; i < 100; i++) live.push_back(nv_pool_alloc(pool.get(), 100 + 37 * i));
    live.push_back(nv_pool_alloc(pool.get(), 100000));
    live.push_back(nv_pool_alloc(pool.get(), 200000));
    for (void *p : live) ASSERT_NE(p, nullptr);
    ASSERT_EQ(nv_pool_extend(pool.get(), 30000), NV_OK);
    const uint64_t calls = backend.alloc_calls();
    backend.FailAll();
    for (size_t i = 0; i < live.size(); i += 2) ASSERT_EQ(nv_pool_free(pool.get(), live[i]), NV_OK);
    EXPECT_EQ(nv_pool_compact(pool.get()), NV_OK);
    EXPECT_EQ(nv_pool_shrink(pool.get(), 10000), NV_OK);
    nv_pool_stats_t st;
    nv_pool_get_stats(pool.get(), &st);
    nv_pool_reset_stats(pool.get());
    (void)nv_pool_is_full(pool.get());
    (void)nv_pool_get_free(pool.get());
    EXPECT_EQ(nv_pool_validate_count(pool.get()), 0u);
    FILE *f = std::tmpfile();
    nv_pool_print_stats_to(pool.get(), f);
    nv_pool_dump_to(pool.get(), f);
    std::fclose(f);
    for (size_t i = 1; i < live.size(); i += 2) ASSERT_EQ(nv_pool_free(pool.get(), live[i]), NV_OK);
    nv_pool_reset(pool.get());
    EXPECT_EQ(nv_pool_get_size(pool.get()), backend.outstanding_bytes());
    // The blocks kept by reset serve small requests without the backend.
    void *p = nv_pool_alloc(pool.get(), 100);
    EXPECT_NE(p, nullptr);
    EXPECT_EQ(nv_pool_shrink(pool.get(), SIZE_MAX), NV_OK);
    EXPECT_EQ(backend.alloc_calls() - calls, backend.failures_injected())
        << "every backend call after FailAll was a (refused) allocation request";
    EXPECT_EQ(backend.failures_injected(), 0u) << "releasing operations asked for memory";
    ExpectNoErrorLogged("releasing operations");
  }
  ExpectBackendClean(backend);
}

// Large allocations and blocks are returned as soon as the contract says.
TEST_F(BackendTest, LargeFreedAndBlocksShrunkGoBackAtOnce) {
  CountingBackend backend;
  PoolPtr pool = nvtest::Make(WithBackend(nvtest::Config(16 * 1024, 0, 4096, 1), backend));
  ASSERT_NE(pool, nullptr);
  const size_t base = backend.outstanding_bytes();
  void *big = nv_pool_alloc(pool.get(), 500000);
  ASSERT_NE(big, nullptr);
  EXPECT_GE(backend.outstanding_bytes(), base + 500000);
  EXPECT_EQ(nv_pool_free(pool.get(), big), NV_OK);
  EXPECT_LE(backend.outstanding_bytes(), base + 4096) << "(room for a bookkeeping table)";
  ASSERT_EQ(nv_pool_extend(pool.get(), 100000), NV_OK);
  const size_t extended = backend.outstanding_bytes();
  EXPECT_GE(extended, base + 100000);
  EXPECT_EQ(nv_pool_shrink(pool.get(), 100000), NV_OK);
  EXPECT_LE(backend.outstanding_bytes(), extended - 100000);
  EXPECT_EQ(nv_pool_get_size(pool.get()), backend.outstanding_bytes());
}

}  // namespace
