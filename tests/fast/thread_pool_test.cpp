#include "core/thread_pool.h"

#include <atomic>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

namespace nibble {
namespace {

TEST(ThreadPool, CoversEveryIndexExactlyOnce) {
  for (int threads : {1, 2, 3, 8}) {
    ThreadPool pool(threads);
    for (size_t n : {0u, 1u, 7u, 16u, 17u, 1000u}) {
      for (size_t grain : {1u, 4u, 16u}) {
        std::vector<std::atomic<int>> hits(n);
        pool.parallel_for(n, grain, [&](size_t begin, size_t end) {
          for (size_t i = begin; i < end; ++i) hits[i]++;
        });
        for (size_t i = 0; i < n; ++i)
          ASSERT_EQ(hits[i].load(), 1) << "threads " << threads << " n " << n << " grain " << grain << " i " << i;
      }
    }
  }
}

TEST(ThreadPool, RangesStartOnGrainBoundaries) {
  ThreadPool pool(3);
  std::vector<size_t> starts(3, 12345);
  std::atomic<int> calls{0};
  pool.parallel_for(100, 16, [&](size_t begin, size_t end) {
    EXPECT_EQ(begin % 16, 0u);
    EXPECT_GT(end, begin);
    calls++;
  });
  EXPECT_EQ(calls.load(), 3);
}

TEST(ThreadPool, ReusedAcrossManyCalls) {
  ThreadPool pool(2);
  std::atomic<long> total{0};
  for (int call = 0; call < 2000; ++call)
    pool.parallel_for(10, 1, [&](size_t begin, size_t end) { total += static_cast<long>(end - begin); });
  EXPECT_EQ(total.load(), 20000);
}

// Pauses longer than the spin budget send the workers (between calls) and the caller (while a
// slow range runs) to the condition variables; every hand-off must still happen exactly once.
TEST(ThreadPool, HandsOffAfterEitherSideFellAsleep) {
  const auto nap = ThreadPool::kSpinBudget * 5;
  ThreadPool pool(3);
  std::vector<int> hits(3, 0);  // one slot per range: no two threads write the same one
  for (int call = 0; call < 12; ++call) {
    if (call % 2 == 1) std::this_thread::sleep_for(nap);
    pool.parallel_for(3, 1, [&](size_t begin, size_t end) {
      if (call % 3 == 0 && begin == 2) std::this_thread::sleep_for(nap);
      for (size_t i = begin; i < end; ++i) hits[i]++;
    });
    for (size_t i = 0; i < 3; ++i) ASSERT_EQ(hits[i], call + 1) << "call " << call << " index " << i;
  }
}

}  // namespace
}  // namespace nibble
