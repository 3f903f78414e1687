#include "engine/cpu_share.h"

#include <omp.h>
#include <sched.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "engine/parallel.h"

namespace attn {

int threads_beside(int max_threads, double others_cores) {
  const int taken = static_cast<int>(std::floor(std::max(0.0, others_cores) + 0.35));
  return std::clamp(max_threads - taken, 1, std::max(1, max_threads));
}

CpuTimes parse_proc_stat(const char* text, const bool* cpus, int n_cpus) {
  CpuTimes t;
  for (const char* line = text; line && *line; line = std::strchr(line, '\n')) {
    if (*line == '\n') ++line;
    int cpu = -1, used = 0;
    if (std::sscanf(line, "cpu%d %n", &cpu, &used) != 1 || cpu < 0 || cpu >= n_cpus || !cpus[cpu])
      continue;
    // user nice system idle iowait irq softirq steal: busy is all but idle, iowait and steal
    // (steal is time the hypervisor gave to other machines: nobody here can use it).
    long long v[8] = {0};
    if (std::sscanf(line + used, "%lld %lld %lld %lld %lld %lld %lld %lld", &v[0], &v[1], &v[2],
                    &v[3], &v[4], &v[5], &v[6], &v[7]) < 4)
      continue;
    t.busy += v[0] + v[1] + v[2] + v[5] + v[6];
    t.total += v[0] + v[1] + v[2] + v[3] + v[4] + v[5] + v[6];
  }
  return t;
}

namespace {

double seconds(clockid_t clock) {
  timespec ts{};
  clock_gettime(clock, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

// Busy seconds of the CPUs this process may run on, or a negative value when /proc/stat is
// not readable (then nothing adapts).
double busy_seconds_of_our_cpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) != 0) return -1;
  std::vector<char> text(1 << 16);
  FILE* f = std::fopen("/proc/stat", "r");
  if (!f) return -1;
  const size_t n = std::fread(text.data(), 1, text.size() - 1, f);
  std::fclose(f);
  text[n] = '\0';
  bool cpus[CPU_SETSIZE];
  for (int i = 0; i < CPU_SETSIZE; ++i) cpus[i] = CPU_ISSET(i, &set);
  const CpuTimes t = parse_proc_stat(text.data(), cpus, CPU_SETSIZE);
  return static_cast<double>(t.busy) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

struct Window {
  double wall = -1, own = 0, busy = 0;
  int want = 0;  // the thread count the last window asked for
  bool warned = false;
};

}  // namespace

void share_cpu() {
  static Window last;
  const double wall = seconds(CLOCK_MONOTONIC);
  if (last.wall >= 0 && wall - last.wall < 0.3) return;
  const double own = seconds(CLOCK_PROCESS_CPUTIME_ID), busy = busy_seconds_of_our_cpus();
  if (busy < 0) return;
  const Window previous = last;
  last.wall = wall, last.own = own, last.busy = busy;
  if (previous.wall < 0) {  // the first call only starts the window
    last.want = max_threads();
    return;
  }
  // What the others used, in cores: busy time of our CPUs that was not ours, per second.
  const double others = (busy - previous.busy - (own - previous.own)) / (wall - previous.wall);
  // Act on what two windows in a row agree on, so a passing burst (a shell command, a page
  // of the editor) changes nothing.
  const int want = threads_beside(max_threads(), others), agreed = std::max(want, last.want);
  last.want = want;
  if (threads_automatic()) {
    if (agreed != threads()) omp_set_num_threads(agreed);
  } else if (!last.warned && agreed < threads()) {
    last.warned = true;
    std::fprintf(stderr,
                 "attn: other programs keep %.1f of this machine's %d cores busy; with a fixed "
                 "--threads %d, threads wait for each other at every step and this run slows "
                 "down (leave --threads unset to share the cores)\n",
                 others, max_threads(), threads());
  }
}

}  // namespace attn
