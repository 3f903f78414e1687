// Ctrl-C (SIGINT) and SIGTERM (what `kill`, a job scheduler, `timeout` or a shutting-down
// laptop sends) ask a training run to stop at the end of its current step, with a checkpoint.
// A second signal while the run is saving or stopping ends the process at once (the default
// action), so a stuck run can still be killed from the keyboard.
#pragma once
#include <atomic>
#include <csignal>
#include <cstdint>

namespace attn {

class StopSignals {
 public:
  StopSignals();   // installs the handlers (and clears a previous request)
  ~StopSignals();  // restores what was installed before, also when the run throws
  StopSignals(const StopSignals&) = delete;
  StopSignals& operator=(const StopSignals&) = delete;

  // The signal that asked to stop (SIGINT or SIGTERM), or 0.
  static int requested();
  // Data-parallel runs: a signal is also announced at once on stderr, naming `rank` and the
  // step after `*step` (the one running); rank -1 turns this off.
  static void announce_for_rank(int rank, const std::atomic<int64_t>* step);

 private:
  struct sigaction previous_int_ {}, previous_term_ {};
};

}  // namespace attn
