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
        for (ThreadPool::Split split : {ThreadPool::Split::kStatic, ThreadPool::Split::kGuided}) {
          std::vector<std::atomic<int>> hits(n);
          pool.parallel_for(
              n, grain, [&](size_t begin, size_t end) {
                for (size_t i = begin; i < end; ++i) hits[i]++;
              },
              split);
          for (size_t i = 0; i < n; ++i)
            ASSERT_EQ(hits[i].load(), 1) << "threads " << threads << " n " << n << " grain " << grain << " guided "
                                         << (split == ThreadPool::Split::kGuided) << " i " << i;
        }
      }
    }
  }
}

// The pieces of one guided call at two threads, in index order; the thread on piece 0 waits
// there until every other index is done, which only ends if the other thread takes all the
// other pieces (a static split would leave it waiting).
std::vector<size_t> guided_piece_sizes(size_t n, size_t grain, bool& piece0_waited_out) {
  ThreadPool pool(2);
  std::mutex mutex;
  std::vector<std::pair<size_t, size_t>> seen;
  std::atomic<size_t> others_covered{0};
  pool.parallel_for(
      n, grain,
      [&](size_t begin, size_t end) {
        if (begin == 0) {
          const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(20);
          while (others_covered.load() < n - end && std::chrono::steady_clock::now() < give_up)
            std::this_thread::yield();
          piece0_waited_out = others_covered.load() == n - end;
        } else {
          others_covered += end - begin;
        }
        std::lock_guard<std::mutex> lock(mutex);
        seen.emplace_back(begin, end);
      },
      ThreadPool::Split::kGuided);
  std::sort(seen.begin(), seen.end());
  std::vector<size_t> sizes;
  size_t expect_begin = 0;
  for (auto [begin, end] : seen) {
    EXPECT_EQ(begin, expect_begin) << "pieces must be contiguous";
    sizes.push_back(end - begin);
    expect_begin = end;
  }
  EXPECT_EQ(expect_begin, n);
  return sizes;
}

// Guided pieces: max(floor, ceil(left / 4)) grains at two threads, floor = grains / 64.
TEST(ThreadPool, GuidedPiecesShrinkToTheFloorAndAreTakenByDemand) {
  bool waited_out = false;
  // 63 grains of 16 (floor 1), the last piece cut at n.
  EXPECT_EQ(guided_piece_sizes(1000, 16, waited_out),
            (std::vector<size_t>{256, 192, 144, 112, 80, 64, 48, 32, 32, 16, 16, 8}));
  EXPECT_TRUE(waited_out) << "the other thread did not take the remaining pieces";
  // A ~1B model's 5632-row layer in grains of 16 rows: 352 grains, floor 5.
  EXPECT_EQ(guided_piece_sizes(352, 1, waited_out),
            (std::vector<size_t>{88, 66, 50, 37, 28, 21, 16, 12, 9, 7, 5, 5, 5, 3}));
  EXPECT_TRUE(waited_out) << "the other thread did not take the remaining pieces";
  ThreadPool pool(2);
  std::atomic<int> calls{0};
  pool.parallel_for(
      5, 16, [&](size_t begin, size_t end) { EXPECT_EQ(end - begin, 5u) << begin; calls++; },
      ThreadPool::Split::kGuided);
  EXPECT_EQ(calls.load(), 1);  // one grain: one piece
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
