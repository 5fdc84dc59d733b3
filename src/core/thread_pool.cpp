#include "core/thread_pool.h"

#include <algorithm>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

namespace nibble {
namespace {

// Tells the core this is a spin-wait (frees the sibling hyper-thread, saves power).
inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  _mm_pause();
#else
  std::this_thread::yield();
#endif
}

// Polls `ready` until it holds (true) or the spin budget is spent (false).
template <class Ready>
bool spin_until(const Ready& ready) {
  const auto deadline = std::chrono::steady_clock::now() + ThreadPool::kSpinBudget;
  for (unsigned i = 1;; ++i) {
    if (ready()) return true;
    cpu_relax();
    // The clock is read rarely: it costs more than the poll itself.
    if (i % 256 == 0 && std::chrono::steady_clock::now() >= deadline) return false;
  }
}

}  // namespace

ThreadPool::ThreadPool(int n_threads) {
  int workers = std::max(1, n_threads) - 1;
  for (int i = 0; i < workers; ++i) workers_.emplace_back([this, i] { worker_loop(static_cast<size_t>(i) + 1); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_.store(true, std::memory_order_release);
  }
  work_ready_.notify_all();
  for (auto& worker : workers_) worker.join();
}

void ThreadPool::cut_pieces(size_t n, size_t grain, size_t chunks, size_t threads, Split split) {
  pieces_.clear();
  if (split == Split::kStatic) {
    // Whole grains as evenly as possible over one piece per thread.
    const size_t per_piece = chunks / threads;
    const size_t extra = chunks % threads;
    size_t begin = 0;
    for (size_t i = 0; i < threads; ++i) {
      const size_t end = std::min(n, begin + (per_piece + (i < extra ? 1 : 0)) * grain);
      pieces_.emplace_back(begin, end);
      begin = end;
    }
    return;
  }
  // Guided: half of what is left goes out in one piece per thread, again and again, down to
  // a floor that keeps a piece a long stream for the decode kernel (a ~1B model's 5632-row
  // layer at two threads: 352 grains in pieces of 88, 66, 50, ... 7, 5, 5, 5 and the last 3).
  const size_t floor = std::max<size_t>(1, chunks / (32 * threads));
  for (size_t done = 0; done < chunks;) {
    const size_t left = chunks - done;
    const size_t take = std::min(left, std::max(floor, (left + 2 * threads - 1) / (2 * threads)));
    pieces_.emplace_back(done * grain, std::min(n, (done + take) * grain));
    done += take;
  }
}

void ThreadPool::parallel_for(size_t n, size_t grain, const std::function<void(size_t, size_t)>& body,
                              Split split) {
  if (n == 0) return;
  grain = std::max<size_t>(1, grain);
  const size_t chunks = (n + grain - 1) / grain;
  const size_t threads = std::min<size_t>(static_cast<size_t>(size()), chunks);
  if (threads <= 1) {
    body(0, n);
    return;
  }
  cut_pieces(n, grain, chunks, threads, split);
  by_demand_ = split == Split::kGuided;
  body_ = &body;
  next_piece_.store(0, std::memory_order_relaxed);
  pending_.store(static_cast<int>(workers_.size()), std::memory_order_relaxed);
  bool wake;
  {
    // Bumped under the mutex so that a worker going to sleep either sees the new generation
    // or is counted in sleeping_workers_ and gets the notification.
    std::lock_guard<std::mutex> lock(mutex_);
    generation_.fetch_add(1, std::memory_order_release);
    wake = sleeping_workers_ > 0;
  }
  if (wake) work_ready_.notify_all();
  take_pieces(0);
  wait_for_workers();
  body_ = nullptr;
}

void ThreadPool::take_pieces(size_t index) {
  if (!by_demand_) {
    if (index < pieces_.size()) (*body_)(pieces_[index].first, pieces_[index].second);
    return;
  }
  for (size_t i = next_piece_.fetch_add(1, std::memory_order_relaxed); i < pieces_.size();
       i = next_piece_.fetch_add(1, std::memory_order_relaxed))
    (*body_)(pieces_[i].first, pieces_[i].second);
}

void ThreadPool::wait_for_workers() {
  auto done = [this] { return pending_.load(std::memory_order_acquire) == 0; };
  if (spin_until(done)) return;
  std::unique_lock<std::mutex> lock(mutex_);
  caller_sleeping_ = true;
  work_done_.wait(lock, done);
  caller_sleeping_ = false;
}

size_t ThreadPool::wait_for_work(size_t seen) {
  auto ready = [&] {
    return stopping_.load(std::memory_order_acquire) ||
           generation_.load(std::memory_order_acquire) != seen;
  };
  if (!spin_until(ready)) {
    std::unique_lock<std::mutex> lock(mutex_);
    ++sleeping_workers_;
    work_ready_.wait(lock, ready);
    --sleeping_workers_;
  }
  return generation_.load(std::memory_order_acquire);
}

void ThreadPool::worker_loop(size_t index) {
  size_t seen = 0;
  while (true) {
    seen = wait_for_work(seen);
    if (stopping_.load(std::memory_order_acquire)) return;
    take_pieces(index);
    if (pending_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
      // Last one out: wake the caller if it stopped spinning (checked under the mutex it
      // holds while deciding to sleep, so the wake-up cannot be lost).
      std::lock_guard<std::mutex> lock(mutex_);
      if (caller_sleeping_) work_done_.notify_one();
    }
  }
}

}  // namespace nibble
