// Sharing the CPU with other busy programs.
//
// OpenMP threads spin at every barrier while they wait for the rest of their team. When
// another program keeps some of the same cores busy, a team member that the kernel has
// descheduled holds every other member spinning at the next barrier, and a run becomes
// 3-10x slower than its fair share. Passive waiting (threads sleep at once) avoids that but
// costs 13-25% on an idle machine, since every parallel region then starts with futex wakes.
//
// So attn keeps OpenMP's spinning and instead sizes its team to the cores nobody else is
// using: between units of work (a training step, a generated token) `share_cpu()` compares
// the busy time of the cores this process may run on (/proc/stat) with its own CPU time.
// What others used, in whole cores, is taken away from the team; when they stop, the team
// grows back. With a fixed --threads the team never changes (bit-identical reruns need a
// fixed thread count), and attn says once why the run may be slow.
#pragma once

namespace attn {

// Threads for the measured load: `max_threads` minus the cores other programs kept busy
// (a core counts once others used at least 0.65 of it), at least 1. Pure, for tests.
int threads_beside(int max_threads, double others_cores);

// Called between units of work; costs two clock reads, and a /proc/stat read every 0.3 s.
// Does nothing unless the thread count is automatic (set_threads(0), the default).
void share_cpu();

// The summed busy and total jiffies of the CPUs listed in `cpus` from /proc/stat's text
// (cpuN lines). Exposed for tests.
struct CpuTimes {
  long long busy = 0, total = 0;
};
CpuTimes parse_proc_stat(const char* text, const bool* cpus, int n_cpus);

}  // namespace attn
