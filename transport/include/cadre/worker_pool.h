// WorkerPool: a fixed set of threads that run blocking jobs (a model call, a test command) for a
// single-threaded event loop, which submits jobs and polls for what finished. Jobs run in the
// order submitted; the loop never blocks on them.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

namespace cadre {

template <typename Job, typename Output>
class WorkerPool {
 public:
  // Starts `threads` (at least one) threads that run `work` on each job. `work` must be safe to
  // call from several threads at once and must not throw.
  WorkerPool(unsigned threads, std::function<Output(Job&)> work) : work_(std::move(work)) {
    for (unsigned i = 0; i < (threads == 0 ? 1u : threads); ++i)
      threads_.emplace_back([this] { run(); });
  }
  // Waits for the jobs in progress (each must be bounded, e.g. by a timeout); drops the rest.
  ~WorkerPool() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stopping_ = true;
    }
    wake_.notify_all();
    for (auto& thread : threads_) thread.join();
  }
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  void submit(Job job) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      jobs_.push_back(std::move(job));
      ++in_flight_;
    }
    wake_.notify_one();
  }

  // What finished since the last call, in completion order.
  std::vector<Output> take_finished() {
    std::lock_guard<std::mutex> lock(mutex_);
    in_flight_ -= finished_.size();
    return std::exchange(finished_, {});
  }

  // Jobs submitted and not yet taken back.
  bool busy() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return in_flight_ > 0;
  }

 private:
  void run() {
    while (true) {
      Job job;
      {
        std::unique_lock<std::mutex> lock(mutex_);
        wake_.wait(lock, [this] { return stopping_ || !jobs_.empty(); });
        if (stopping_) return;
        job = std::move(jobs_.front());
        jobs_.pop_front();
      }
      Output output = work_(job);
      std::lock_guard<std::mutex> lock(mutex_);
      finished_.push_back(std::move(output));
    }
  }

  std::function<Output(Job&)> work_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<Job> jobs_;
  std::vector<Output> finished_;
  std::size_t in_flight_ = 0;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace cadre
