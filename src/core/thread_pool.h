// A persistent pool of worker threads (created once, reused by every parallel op).
//
// Determinism: parallel_for cuts [0, n) into fixed, contiguous pieces and every index is
// computed by exactly one thread with code that does not depend on the piece or the
// thread, so results are the same bits for any thread count and whichever thread takes a
// piece.
//
// Balance: the default split (Split::kStatic) gives each thread one piece and thread i runs
// piece i, which never lets the caller take a worker's piece just because the worker woke a
// microsecond late. Callers with long, divisible work ask for Split::kGuided: pieces that
// shrink from a share of the work left to a small floor, taken in order from a shared
// counter, so a thread that this VM slows for a while takes fewer of them and the last ones,
// being small, leave the threads finishing close together.
//
// Hand-off: a decoded token of a small model is dozens of parallel_for calls of a few
// microseconds each, so waking a sleeping thread through the kernel on every call would cost
// more than the work it shares. Workers and the caller therefore spin on atomics for a short,
// bounded time (kSpinBudget) before falling back to blocking on a condition variable, which
// keeps an idle pool from burning a core.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace nibble {

class ThreadPool {
 public:
  enum class Split {
    kStatic,  // one piece per thread, as even as whole grains allow; thread i runs piece i
    // Pieces taken by demand, each max(floor, ceil(left / (2 * threads))) grains, where left
    // is what the earlier pieces leave and floor = grains / (32 * threads) (at least one).
    kGuided,
  };

  // How long a waiting thread polls before it sleeps: longer than the gaps between the
  // parallel ops of one token, far shorter than a user would notice as a busy core.
  static constexpr std::chrono::microseconds kSpinBudget{200};

  // `n_threads` counts the calling thread: 1 means no workers are started.
  explicit ThreadPool(int n_threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return static_cast<int>(workers_.size()) + 1; }

  // Calls body(begin, end) over [0, n) cut into contiguous pieces as `split` says, each a
  // multiple of `grain` except the last; returns when all are done.
  void parallel_for(size_t n, size_t grain, const std::function<void(size_t, size_t)>& body,
                    Split split = Split::kStatic);

 private:
  void worker_loop(size_t index);
  // Fills pieces_ for `chunks` grains over `threads` threads.
  void cut_pieces(size_t n, size_t grain, size_t chunks, size_t threads, Split split);
  // Thread `index`'s share of this call: its own piece, or pieces until none is left.
  void take_pieces(size_t index);
  // Waits until generation_ differs from `seen` or the pool stops; returns the new generation.
  size_t wait_for_work(size_t seen);
  void wait_for_workers();

  std::vector<std::thread> workers_;
  // Written by the caller before generation_ is bumped (release), read by workers after they
  // observe the bump (acquire).
  const std::function<void(size_t, size_t)>* body_ = nullptr;
  std::vector<std::pair<size_t, size_t>> pieces_;  // this call's pieces, in index order
  bool by_demand_ = false;             // this call's pieces are taken from next_piece_
  std::atomic<size_t> next_piece_{0};  // with a guided split: the next one to take
  std::atomic<size_t> generation_{0};
  std::atomic<int> pending_{0};
  std::atomic<bool> stopping_{false};
  // Only for the slow path: threads that gave up spinning sleep here.
  std::mutex mutex_;
  std::condition_variable work_ready_;
  std::condition_variable work_done_;
  int sleeping_workers_ = 0;
  bool caller_sleeping_ = false;
};

}  // namespace nibble
