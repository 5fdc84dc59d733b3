#include "core/thread_pool.h"

#include <atomic>
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

}  // namespace
}  // namespace nibble
