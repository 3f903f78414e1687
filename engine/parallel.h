// OpenMP helpers shared by the kernels. Loops below kParallelMin elements stay on one thread:
// waking the team costs more than the work.
#pragma once
#include <atomic>
#include <cstdint>
#include <exception>
#include <mutex>

namespace attn {

constexpr int64_t kParallelMin = 1 << 15;

// n > 0: exactly n threads, fixed for the run. n == 0: automatic, all cores this process may
// run on, fewer while other programs keep some of them busy (see engine/cpu_share.h).
// oneDNN runs on the same OpenMP runtime, so this sets its threads too.
void set_threads(int n);
int threads();             // the team size now
int max_threads();         // all cores this process may use
bool threads_automatic();  // set_threads(0) was called (or nothing was)

// An exception must never leave an OpenMP region (the runtime calls std::terminate: no
// message, no checkpoint). Kernels that allocate or call oneDNN inside a region run each
// piece of work through capture(), which keeps the first exception and skips the work left;
// rethrow() after the region throws it on the calling thread.
class ParallelErrors {
 public:
  template <class Work>
  void capture(Work&& work) noexcept {
    if (failed_.load(std::memory_order_relaxed)) return;
    try {
      work();
    } catch (...) {
      std::lock_guard<std::mutex> lock(mutex_);
      if (!first_) first_ = std::current_exception();
      failed_ = true;
    }
  }
  void rethrow() const {
    if (first_) std::rethrow_exception(first_);
  }

 private:
  std::atomic<bool> failed_{false};
  std::mutex mutex_;
  std::exception_ptr first_;
};

}  // namespace attn
