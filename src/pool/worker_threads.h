// Threads for blocking work (starting a process or a template, moving a process into its memory
// group; forwarding to an http-mode instance only where no gateway loop carries it): a job runs at
// once on an idle thread, or on a new one up to `max_threads`; beyond that it waits its turn in
// order. Idle threads stay for reuse.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace modelfn {

class WorkerThreads {
 public:
  explicit WorkerThreads(size_t max_threads) : max_threads_(max_threads) {}
  ~WorkerThreads() { Stop(); }

  void Post(std::function<void()> job) {
    std::lock_guard<std::mutex> lock(mu_);
    jobs_.push_back(std::move(job));
    if (idle_ == 0 && threads_.size() < max_threads_ && !stopping_) {
      threads_.emplace_back([this] { Loop(); });
    } else {
      cv_.notify_one();
    }
  }

  // Runs what is queued, then joins every thread.
  void Stop() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stopping_ = true;
    }
    cv_.notify_all();
    for (auto& t : threads_) {
      if (t.joinable()) t.join();
    }
    threads_.clear();
  }

 private:
  void Loop() {
    std::unique_lock<std::mutex> lock(mu_);
    while (true) {
      if (!jobs_.empty()) {
        auto job = std::move(jobs_.front());
        jobs_.pop_front();
        lock.unlock();
        job();
        lock.lock();
        continue;
      }
      if (stopping_) return;
      ++idle_;
      cv_.wait(lock);
      --idle_;
    }
  }

  size_t max_threads_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> jobs_;
  std::vector<std::thread> threads_;
  size_t idle_ = 0;
  bool stopping_ = false;
};

}  // namespace modelfn
