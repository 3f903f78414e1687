// The processes that train one model together. `mpirun -np N attn train ...` starts N ranks
// (Open MPI) on one machine or several; each computes the gradient of its own slice of every
// batch and the ranks sum their gradients before each optimizer step, so all hold the same
// parameters. Run without mpirun, or built without MPI, the world is this one process and
// nothing here communicates.
//
// Every wait is bounded: a rank that dies, hangs or is stopped ends the whole job within
// the timeout, with a message naming the rank, the phase and the step (never a silent hang).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace attn {

// What a rank reports when it checks in after a step's backward pass (World::check_in).
struct RankReport {
  double loss_sum = 0;      // its micro-batches' losses, each weighted by its scored targets
  double weight_sum = 0;    // ... and the sum of those weights
  double tokens = 0;        // token positions it processed
  uint64_t parameter_hash = 0;  // of its parameters, when the step compares them (else 0)
  int32_t nonfinite = 0;    // its loss was NaN or infinite
  int32_t stop_signal = 0;  // SIGINT or SIGTERM asked it to stop (0: no)
};

class World {
 public:
  // Starts MPI when this process was launched by mpirun and attn was built with MPI; call
  // once, first thing in main. Without mpirun nothing is started.
  static void init(int* argc, char*** argv);
  static World& get();
  static void finalize();  // at the end of main, on every rank
  static bool built_with_mpi();

  int rank() const { return rank_; }
  int size() const { return size_; }
  int local_size() const { return local_size_; }  // ranks on this machine
  bool single() const { return size_ == 1; }
  // The step the trainer is in, for messages of phases that do not know it (evaluation).
  void set_step(int64_t step);
  // Seconds any wait may last before the job is ended (--rank-timeout).
  void set_timeout(double seconds) { timeout_ = seconds; }
  double timeout() const { return timeout_; }

  // Every rank's report, on every rank, in rank order. Rank 0 collects them: it names each
  // rank that has not checked in within `timeout` seconds and ends the job; the others end
  // it when rank 0 does not answer. `where` (the phase) and `step` go into that message.
  std::vector<RankReport> check_in(const RankReport& mine, const char* where, int64_t step,
                                   double timeout);
  // Sums `values` over the ranks in place (blocking, bounded by the timeout; step -1: the
  // one given to set_step).
  void sum(double* values, int64_t n, const char* where, int64_t step);
  // Non-blocking in-place float sums: start one per gradient bucket, call progress() while
  // other work runs (Open MPI moves a non-blocking reduction on only inside MPI calls), then
  // wait_all() before reading the sums.
  void start_sum(float* values, int64_t n);
  void progress();
  void wait_all(const char* where, int64_t step);
  // Ends every rank of the job with `message` (printed by this rank) and `exit_code`.
  [[noreturn]] void abort(const std::string& message, int exit_code);

 private:
  // The message of a collective that did not finish (`how`: a world_mpi.cpp Waited), naming
  // the ranks that no longer answer.
  std::string stalled(int how, const std::string& what) const;

  int rank_ = 0, size_ = 1, local_size_ = 1;
  double timeout_ = 60;
};

// Before a subcommand runs under mpirun (apps/world_command.cpp): only data-parallel
// commands (train, classify) may run on several ranks; ranks other than 0 print nothing;
// each rank runs its machine's cores divided among its ranks there as threads, fixed.
void prepare_ranks(bool data_parallel_command);
// Prints an error and returns exit code 2; under mpirun it names the rank and ends every
// rank of the job at once.
int report_error(const std::string& what);

// "rank 1", "ranks 1, 3": the ranks listed, for messages.
inline std::string rank_list(const std::vector<int>& ranks) {
  std::string text = ranks.size() == 1 ? "rank" : "ranks";
  for (size_t i = 0; i < ranks.size(); ++i) text += (i ? ", " : " ") + std::to_string(ranks[i]);
  return text;
}

}  // namespace attn
