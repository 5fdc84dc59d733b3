#include "core/thread_pool.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <mutex>
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
        for (int pieces : {1, 3, 8}) {
          std::vector<std::atomic<int>> hits(n);
          pool.parallel_for(
              n, grain, [&](size_t begin, size_t end) {
                for (size_t i = begin; i < end; ++i) hits[i]++;
              },
              pieces);
          for (size_t i = 0; i < n; ++i)
            ASSERT_EQ(hits[i].load(), 1) << "threads " << threads << " n " << n << " grain " << grain << " pieces "
                                         << pieces << " i " << i;
        }
      }
    }
  }
}

// Several pieces per thread: size() * pieces_per_thread contiguous pieces of whole grains
// (fewer when there are fewer grains), sizes differing by at most one grain, taken by
// demand: the thread on piece 0 waits there until every other piece is done, which only
// ends if the other thread takes all of them (a static split would leave it waiting).
TEST(ThreadPool, PiecesAreEvenGrainAlignedAndTakenByDemand) {
  ThreadPool pool(2);
  std::mutex mutex;
  std::vector<std::pair<size_t, size_t>> seen;
  std::atomic<int> others_done{0};
  bool piece0_waited_out = false;
  pool.parallel_for(
      1000, 16,
      [&](size_t begin, size_t end) {
        if (begin == 0) {
          const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(20);
          while (others_done.load() < 7 && std::chrono::steady_clock::now() < give_up) std::this_thread::yield();
          piece0_waited_out = others_done.load() == 7;
        } else {
          others_done++;
        }
        std::lock_guard<std::mutex> lock(mutex);
        seen.emplace_back(begin, end);
      },
      4);
  EXPECT_TRUE(piece0_waited_out) << "the other thread did not take the remaining pieces";
  ASSERT_EQ(seen.size(), 8u);
  std::sort(seen.begin(), seen.end());
  size_t expect_begin = 0;
  for (auto [begin, end] : seen) {
    EXPECT_EQ(begin, expect_begin);
    // 63 grains over 8 pieces: 8 grains (128 indices) or 7 (112), the last one cut at n.
    if (end != 1000) EXPECT_TRUE(end - begin == 128 || end - begin == 112) << begin << ".." << end;
    expect_begin = end;
  }
  EXPECT_EQ(expect_begin, 1000u);
  std::atomic<int> calls{0};
  pool.parallel_for(5, 16, [&](size_t begin, size_t end) { EXPECT_EQ(end - begin, 5u) << begin; calls++; }, 8);
  EXPECT_EQ(calls.load(), 1);  // one grain: one piece, whatever was asked
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

// One piece per thread (the default): the caller runs piece 0 and worker i piece i, even when
// the caller's piece is over long before a worker gets going.
TEST(ThreadPool, DefaultSplitIsStatic) {
  ThreadPool pool(2);
  const std::thread::id caller = std::this_thread::get_id();
  for (int call = 0; call < 50; ++call) {
    std::thread::id ran[2];
    pool.parallel_for(2, 1, [&](size_t begin, size_t end) {
      for (size_t i = begin; i < end; ++i) ran[i] = std::this_thread::get_id();
    });
    ASSERT_EQ(ran[0], caller) << "call " << call;
    ASSERT_NE(ran[1], caller) << "call " << call << ": the caller took the worker's piece";
  }
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
