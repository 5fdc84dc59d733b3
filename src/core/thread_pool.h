// A persistent pool of worker threads (created once, reused by every parallel op).
//
// Determinism: parallel_for hands out fixed, contiguous index ranges and every index is
// computed by exactly one thread with code that does not depend on the range, so results
// are the same bits for any thread count.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace nibble {

class ThreadPool {
 public:
  // `n_threads` counts the calling thread: 1 means no workers are started.
  explicit ThreadPool(int n_threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return static_cast<int>(workers_.size()) + 1; }

  // Calls body(begin, end) over [0, n) split into at most size() contiguous ranges,
  // each a multiple of `grain` except the last; returns when all are done.
  void parallel_for(size_t n, size_t grain, const std::function<void(size_t, size_t)>& body);

 private:
  void worker_loop(int index);

  std::vector<std::thread> workers_;
  std::mutex mutex_;
  std::condition_variable work_ready_;
  std::condition_variable work_done_;
  const std::function<void(size_t, size_t)>* body_ = nullptr;
  std::vector<std::pair<size_t, size_t>> ranges_;  // one per thread, index 0 = caller
  size_t generation_ = 0;
  int pending_ = 0;
  bool stopping_ = false;
};

}  // namespace nibble
