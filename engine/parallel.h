// OpenMP helpers shared by the kernels. Loops below kParallelMin elements stay on one thread:
// waking the team costs more than the work.
#pragma once
#include <cstdint>

namespace attn {

constexpr int64_t kParallelMin = 1 << 15;

void set_threads(int n);  // also sets oneDNN's threads (same OpenMP runtime)
int threads();

}  // namespace attn
