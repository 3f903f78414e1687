// Sharing the CPU: the thread count for a measured load, /proc/stat parsing, and a live run
// beside busy child processes (this test runs alone: see tests/engine/meson.build).
#include <omp.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <vector>

#include "engine/cpu_share.h"
#include "engine/parallel.h"
#include "tests/helpers.h"

using namespace attn;

TEST_CASE("threads beside a measured load") {
  CHECK(threads_beside(2, 0.0) == 2);
  CHECK(threads_beside(2, 0.5) == 2);   // less than 0.65 of a core: not taken away
  CHECK(threads_beside(2, 0.7) == 1);
  CHECK(threads_beside(2, 1.9) == 1);   // never below one thread
  CHECK(threads_beside(16, 3.2) == 13);
  CHECK(threads_beside(16, -0.3) == 16);  // measurement noise below zero
  CHECK(threads_beside(1, 5.0) == 1);
}

TEST_CASE("proc/stat: busy and total jiffies of the chosen CPUs") {
  const char* text =
      "cpu  300 0 30 700 10 0 0 0 0 0\n"
      "cpu0 100 0 10 300 5 0 0 0 0 0\n"
      "cpu1 200 5 20 400 5 1 2 50 0 0\n"
      "intr 12345\n";
  const bool both[2] = {true, true}, second[2] = {false, true};
  const CpuTimes t = parse_proc_stat(text, both, 2);
  CHECK(t.busy == 110 + 228);            // user + nice + system + irq + softirq
  CHECK(t.total == 415 + 633);           // steal left out
  CHECK(parse_proc_stat(text, second, 2).busy == 228);
  CHECK(parse_proc_stat("garbage\n", both, 2).total == 0);
}

namespace {

// Runs OpenMP work for `seconds`, calling share_cpu() between units as the apps do.
void work_and_share(double seconds) {
  const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  std::vector<double> sink(max_threads() * 8, 0.0);  // the team may grow to all cores
  while (std::chrono::steady_clock::now() < end) {
#pragma omp parallel
    {
      double x = 1.0;
      for (int i = 0; i < 200000; ++i) x = x * 1.0000001 + 1e-9;
      sink[omp_get_thread_num() * 8] += x;
    }
    share_cpu();
  }
}

// Child processes that keep one core busy each until killed.
std::vector<pid_t> spawn_busy(int n) {
  std::vector<pid_t> pids;
  for (int i = 0; i < n; ++i) {
    const pid_t pid = fork();
    if (pid == 0)
      for (;;) asm volatile("" ::: "memory");  // a loop the compiler cannot remove
    pids.push_back(pid);
  }
  return pids;
}

void stop(const std::vector<pid_t>& pids) {
  for (pid_t pid : pids) kill(pid, SIGKILL), waitpid(pid, nullptr, 0);
}

}  // namespace

TEST_CASE("the team shrinks beside busy programs and grows back when they stop") {
  if (max_threads() < 2) {
    MESSAGE("skipped: one core only, nothing to share");
    return;
  }
  set_threads(0);
  work_and_share(0.8);
  CHECK(threads() == max_threads());  // a quiet machine (this test runs alone)
  std::vector<pid_t> children = spawn_busy(max_threads());  // one per core
  work_and_share(2.0);
  const int beside_busy = threads();
  stop(children);
  CHECK(beside_busy < max_threads());
  work_and_share(1.5);
  CHECK(threads() == max_threads());

  set_threads(2);  // a fixed count never changes
  children = spawn_busy(max_threads());
  work_and_share(1.0);
  stop(children);
  CHECK(threads() == 2);
  CHECK_FALSE(threads_automatic());
  set_threads(0);
}
