#include "core/thread_pool.h"

#include <algorithm>

namespace nibble {

ThreadPool::ThreadPool(int n_threads) {
  int workers = std::max(1, n_threads) - 1;
  ranges_.resize(static_cast<size_t>(workers) + 1);
  for (int i = 0; i < workers; ++i) workers_.emplace_back([this, i] { worker_loop(i + 1); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  work_ready_.notify_all();
  for (auto& worker : workers_) worker.join();
}

void ThreadPool::parallel_for(size_t n, size_t grain,
                              const std::function<void(size_t, size_t)>& body) {
  if (n == 0) return;
  grain = std::max<size_t>(1, grain);
  size_t chunks = (n + grain - 1) / grain;
  size_t threads = std::min<size_t>(static_cast<size_t>(size()), chunks);
  if (threads <= 1) {
    body(0, n);
    return;
  }
  // Split whole grains as evenly as possible over `threads` ranges.
  size_t per_thread = chunks / threads;
  size_t extra = chunks % threads;
  size_t begin = 0;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    for (size_t t = 0; t < ranges_.size(); ++t) {
      size_t take = t < threads ? per_thread + (t < extra ? 1 : 0) : 0;
      size_t end = std::min(n, begin + take * grain);
      ranges_[t] = {begin, end};
      begin = end;
    }
    body_ = &body;
    pending_ = static_cast<int>(workers_.size());
    ++generation_;
  }
  work_ready_.notify_all();
  body(ranges_[0].first, ranges_[0].second);
  std::unique_lock<std::mutex> lock(mutex_);
  work_done_.wait(lock, [this] { return pending_ == 0; });
  body_ = nullptr;
}

void ThreadPool::worker_loop(int index) {
  size_t seen = 0;
  while (true) {
    std::pair<size_t, size_t> range;
    const std::function<void(size_t, size_t)>* body;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      work_ready_.wait(lock, [&] { return stopping_ || generation_ != seen; });
      if (stopping_) return;
      seen = generation_;
      range = ranges_[static_cast<size_t>(index)];
      body = body_;
    }
    if (range.first < range.second) (*body)(range.first, range.second);
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (--pending_ == 0) work_done_.notify_one();
    }
  }
}

}  // namespace nibble
