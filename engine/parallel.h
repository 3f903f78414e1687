// OpenMP helpers shared by the kernels. Loops below kParallelMin elements stay on one thread:
// waking the team costs more than the work.
#pragma once
#include <cstdint>

namespace attn {

constexpr int64_t kParallelMin = 1 << 15;

// n > 0: exactly n threads, fixed for the run. n == 0: automatic, all cores this process may
// run on, fewer while other programs keep some of them busy (see engine/cpu_share.h).
// oneDNN runs on the same OpenMP runtime, so this sets its threads too.
void set_threads(int n);
int threads();             // the team size now
int max_threads();         // all cores this process may use
bool threads_automatic();  // set_threads(0) was called (or nothing was)

}  // namespace attn
