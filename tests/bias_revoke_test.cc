// The owner check's bias revocation (pool.c, revoke_bias), driven through a
// fake membarrier (fake_membarrier.c) so each branch is reached on purpose.
//
//   BiasRevoke.ThirdThreadWaitsWhileTheBiasIsBeingRevoked
//       main holds a pool's bias; B enters and is held inside the revoke's
//       barrier; C, entering meanwhile, must wait until B is done instead
//       of taking the exchange while the owner could be inside unseen.
//   BiasRevoke.FailedBarrierBiasesNoNewPool
//       a handed-over pool costs one barrier; once a barrier fails, the
//       hand-over still works (nothing reported) and no pool created after
//       is biased, so handing one over costs no barrier at all.
//
// Hardened builds only (skipped in --config=release: no owner check). Only
// read-only queries (nv_pool_get_used) enter the pools from two threads.
#include <nv_pool.h>

#include <gtest/gtest.h>

#include <pthread.h>
#include <sched.h>
#include <signal.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>

#include "pool_test_util.h"
#include "tests/fake_membarrier.h"

namespace {

using nvtest::Alarms;

nv_pool_t *FreshPool() {
  nv_pool_config_t config = NV_POOL_CONFIG_DEFAULT;
  config.name = "biased";
  return nv_pool_create(&config);
}

// Both tests need new pools to be biased, which a failed barrier stops for
// the rest of the process: run again in one process (--gtest_repeat), they
// skip instead of failing.
bool barrier_failed = false;

// Parking a thread: a signal handler that spins until told to go on.
std::atomic<bool> parked{false}, unpark{false};
static_assert(std::atomic<bool>::is_always_lock_free, "used in a signal handler");

void Park(int) {
  parked = true;
  while (!unpark) sched_yield();
}

// Sends `thread` into Park; true once it is there.
bool ParkThread(std::thread &thread) {
  parked = false;
  unpark = false;
  if (pthread_kill(thread.native_handle(), SIGUSR1) != 0) return false;
  for (int ms = 0; ms < 10000 && !parked; ms++)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  return parked;
}

TEST(BiasRevoke, ThirdThreadWaitsWhileTheBiasIsBeingRevoked) {
  if (nv_pool_hardening_enabled() == 0)
    GTEST_SKIP() << "hardening is compiled out (--config=release): there is no owner check";
  if (barrier_failed) GTEST_SKIP() << "a failed barrier earlier in this process stopped biasing";
  Alarms alarms;
  nv_pool_t *pool = FreshPool();
  ASSERT_NE(pool, nullptr);
  const size_t used = nv_pool_get_used(pool);  // main's first use: it holds the bias
  const unsigned long barriers = fake_membarrier_barriers();

  fake_membarrier_hold();
  std::atomic<bool> b_returned{false}, c_returned{false};
  std::thread b([&] {
    EXPECT_EQ(nv_pool_get_used(pool), used);  // revokes: held in the barrier
    b_returned = true;
  });
  // From here on no ASSERT: the threads must be released and joined.
  EXPECT_TRUE(fake_membarrier_wait_held(10000)) << "B never reached the revoke's barrier";
  std::thread c([&] {
    EXPECT_EQ(nv_pool_get_used(pool), used);  // the bias is REVOKING: waits
    c_returned = true;
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_FALSE(c_returned.load()) << "C entered the pool while B was still revoking its bias";

  // Once B stores REVOKED, C may go; B then enters through the exchange. If
  // C went too, the two would overlap (a genuine report). So C is parked in
  // a signal handler until B has returned and been joined.
  struct sigaction park = {}, previous = {};
  park.sa_handler = Park;
  sigemptyset(&park.sa_mask);
  EXPECT_EQ(sigaction(SIGUSR1, &park, &previous), 0);
  if (!c_returned) {
    EXPECT_TRUE(ParkThread(c)) << "C did not take the parking signal";
  }
  EXPECT_FALSE(b_returned.load());
  EXPECT_EQ(fake_membarrier_barriers(), barriers + 1);
  fake_membarrier_release();
  b.join();
  unpark = true;
  c.join();
  sigaction(SIGUSR1, &previous, nullptr);

  EXPECT_TRUE(b_returned.load());
  EXPECT_TRUE(c_returned.load());
  EXPECT_EQ(fake_membarrier_barriers(), barriers + 1);  // the bias is revoked once
  EXPECT_EQ(nv_pool_validate_count(pool), 0u);
  nv_pool_destroy(pool);
  EXPECT_EQ(alarms.corruptions.load(), 0u) << alarms.first;
  EXPECT_EQ(alarms.errors.load(), 0u) << alarms.first;
}

// Main uses `pool` first (taking its bias, if it gets one), then another
// thread does: the number of barriers that hand-over cost.
unsigned long HandOverBarriers(nv_pool_t *pool) {
  const size_t used = nv_pool_get_used(pool);
  const unsigned long before = fake_membarrier_barriers();
  std::thread other([pool, used] { EXPECT_EQ(nv_pool_get_used(pool), used); });
  other.join();
  return fake_membarrier_barriers() - before;
}

// Keep this test last: gtest runs a binary's tests in declaration order, and
// the failed barrier clears the pool's process-wide membarrier_ready for
// good, so no test after it would get a biased pool.
TEST(BiasRevoke, FailedBarrierBiasesNoNewPool) {
  if (nv_pool_hardening_enabled() == 0)
    GTEST_SKIP() << "hardening is compiled out (--config=release): there is no owner check";
  if (barrier_failed) GTEST_SKIP() << "a failed barrier earlier in this process stopped biasing";
  Alarms alarms;
  nv_pool_t *control = FreshPool(), *failing = FreshPool();
  ASSERT_NE(control, nullptr);
  ASSERT_NE(failing, nullptr);

  // A biased pool handed over: one barrier.
  EXPECT_EQ(HandOverBarriers(control), 1u);

  // The barrier fails: the other thread's query still works (checked in
  // HandOverBarriers) and nothing is reported (main was not inside).
  void *chunk = nv_pool_alloc(failing, 100);  // so the query has something to read
  ASSERT_NE(chunk, nullptr);
  fake_membarrier_fail(1);
  barrier_failed = true;
  EXPECT_GE(HandOverBarriers(failing), 1u);
  fake_membarrier_fail(0);
  EXPECT_EQ(nv_pool_free(failing, chunk), NV_OK);

  // A pool made after the failure is not biased: nothing to revoke, no
  // barrier.
  nv_pool_t *after = FreshPool();
  ASSERT_NE(after, nullptr);
  EXPECT_EQ(HandOverBarriers(after), 0u);

  for (nv_pool_t *pool : {control, failing, after}) {
    EXPECT_EQ(nv_pool_validate_count(pool), 0u);
    nv_pool_destroy(pool);
  }
  EXPECT_EQ(alarms.corruptions.load(), 0u) << alarms.first;
  EXPECT_EQ(alarms.errors.load(), 0u) << alarms.first;
}

}  // namespace
