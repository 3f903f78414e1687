#include "engine/parallel.h"

#include <omp.h>

namespace attn {
namespace {
bool automatic = true;
// OpenMP's own default before anyone changed it: the CPUs of the affinity mask (or
// OMP_NUM_THREADS when the user set it).
const int initial_max_threads = omp_get_max_threads();
}  // namespace

void set_threads(int n) {
  automatic = n <= 0;
  omp_set_num_threads(n > 0 ? n : initial_max_threads);
}

int threads() { return omp_get_max_threads(); }
int max_threads() { return initial_max_threads; }
bool threads_automatic() { return automatic; }

}  // namespace attn
