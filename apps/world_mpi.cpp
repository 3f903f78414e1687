// The world of a build with Open MPI. MPI starts only when mpirun launched this process
// (Open MPI sets OMPI_COMM_WORLD_SIZE); `attn` run by hand never touches MPI.
//
// Waiting: every wait polls its requests (MPI_Test*) until they complete or the deadline
// passes (see Polling).
#define OMPI_SKIP_MPICXX 1  // the C API only (the C++ bindings are deprecated)
#include <mpi.h>
#include <malloc.h>
#include <sched.h>
#include <time.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>

#include "apps/stop_signals.h"
#include "apps/world.h"

namespace attn {
namespace {

using Clock = std::chrono::steady_clock;

constexpr int kReportTag = 7101, kTableTag = 7102, kPingTag = 7103, kPongTag = 7104;

bool mpi_running = false;
std::vector<MPI_Request> pending_sums;  // the started non-blocking sums, in start order

Clock::time_point deadline_after(double seconds) {
  return Clock::now() + std::chrono::microseconds(static_cast<int64_t>(seconds * 1e6));
}

// How a wait ended.
enum class Waited { kDone, kTimedOut, kSignalled };

// Answers other ranks' "are you alive?" (sent by a rank that waited in vain, to name the
// missing one): every wait calls this between its polls.
void answer_pings() {
  for (;;) {
    int waiting = 0;
    MPI_Status status;
    MPI_Iprobe(MPI_ANY_SOURCE, kPingTag, MPI_COMM_WORLD, &waiting, &status);
    if (!waiting) return;
    char byte = 0;
    MPI_Recv(&byte, 1, MPI_CHAR, status.MPI_SOURCE, kPingTag, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    MPI_Send(&byte, 1, MPI_CHAR, status.MPI_SOURCE, kPongTag, MPI_COMM_WORLD);  // sent eagerly
  }
}

// The ranks other than `rank` that do not answer a ping within 2 s: those that died, hang
// or were stopped (a live rank is inside some wait, answering pings).
std::vector<int> silent_ranks(int rank, int size) {
  std::vector<char> out(static_cast<size_t>(size)), in(static_cast<size_t>(size));
  std::vector<MPI_Request> sends, replies;
  std::vector<int> peers;
  for (int r = 0; r < size; ++r) {
    if (r == rank) continue;
    peers.push_back(r);
    sends.emplace_back(), replies.emplace_back();
    MPI_Isend(&out[r], 1, MPI_CHAR, r, kPingTag, MPI_COMM_WORLD, &sends.back());
    MPI_Irecv(&in[r], 1, MPI_CHAR, r, kPongTag, MPI_COMM_WORLD, &replies.back());
  }
  std::vector<int> answered(peers.size(), 0);
  const auto deadline = Clock::now() + std::chrono::seconds(2);
  while (Clock::now() < deadline) {
    answer_pings();
    bool all = true;
    for (size_t i = 0; i < peers.size(); ++i) {
      if (!answered[i]) MPI_Test(&replies[i], &answered[i], MPI_STATUS_IGNORE);
      all = all && answered[i];
    }
    if (all) break;
  }
  std::vector<int> silent;
  for (size_t i = 0; i < peers.size(); ++i)
    if (!answered[i]) silent.push_back(peers[i]);
  return silent;
}

// How a wait polls: a check-in waits for other ranks to finish computing, and sleeps 100 us
// between polls after the first 2 ms; a transfer (a reduction under way) polls without
// pause, since Open MPI moves it on only inside MPI calls (sleeping made a 43 MB all-reduce
// take 0.8 s instead of 0.04 s). A spinning rank slows the computing one beside it when
// the two share a physical core or its memory bandwidth (measured: 2 ranks x 1 thread,
// 6-layer model, 0.95 s instead of 0.6 s per step), so spinning is kept to transfers.
enum class Polling { kCheckIn, kTransfer };

// Polls until `done()` or the deadline. A stop signal that arrives meanwhile (mpirun sends
// SIGTERM to every rank when one of them dies) shortens the wait to one more second: a rank
// that is alive arrives by then, so a missing one can be named before mpirun's SIGKILL.
template <class Done>
Waited poll_until(Done done, Clock::time_point deadline, Polling polling) {
  const auto start = Clock::now();
  bool signalled = false;
  while (!done()) {
    answer_pings();
    const auto now = Clock::now();
    if (!signalled && StopSignals::requested()) {
      signalled = true;
      deadline = std::min(deadline, now + std::chrono::seconds(1));
    }
    if (now > deadline) return signalled ? Waited::kSignalled : Waited::kTimedOut;
    if (now - start < std::chrono::milliseconds(2)) continue;
    if (polling == Polling::kTransfer) {
      sched_yield();  // to any other program that wants this core; back at once if none
    } else {
      const timespec pause{0, 100000};
      nanosleep(&pause, nullptr);
    }
  }
  return Waited::kDone;
}

// The end of a sentence saying why a wait failed.
std::string failed_wait(Waited how, double timeout) {
  if (how == Waited::kSignalled)
    return " when a stop signal came (mpirun sends one to every rank when a rank ends; its "
           "message names it); ending the job";
  return " within " + std::to_string(static_cast<int>(timeout)) +
         " s (died, hung or stopped; --rank-timeout); ending the job";
}

bool all_done(std::vector<MPI_Request>& requests) {
  int flag = 0;
  MPI_Testall(static_cast<int>(requests.size()), requests.data(), &flag, MPI_STATUSES_IGNORE);
  return flag != 0;
}

int64_t current_step = 0;  // World::set_step: the step of a phase that does not know it

std::string phase(const char* where, int64_t step) {
  return std::string(where) + " of step " + std::to_string(step < 0 ? current_step : step);
}

}  // namespace

void World::init(int* argc, char*** argv) {
  const char* size = std::getenv("OMPI_COMM_WORLD_SIZE");
  if (!size) return;  // not launched by mpirun: one process, MPI untouched
  // Open MPI's reductions take large scratch buffers per call. glibc would map and unmap
  // each one, and touching fresh pages costs a fault per 4 KiB (on VMs that return freed
  // memory to the host, far more): a 43 MB all-reduce took 140-190 ms instead of 16-25 ms.
  // Keep freed memory in the heap for the next call instead.
  mallopt(M_MMAP_THRESHOLD, 1 << 30);
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
  int provided = 0;
  MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided);  // MPI from the main thread only
  mpi_running = true;
  World& w = get();
  MPI_Comm_rank(MPI_COMM_WORLD, &w.rank_);
  MPI_Comm_size(MPI_COMM_WORLD, &w.size_);
  MPI_Comm local;
  MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, w.rank_, MPI_INFO_NULL, &local);
  MPI_Comm_size(local, &w.local_size_);
  MPI_Comm_free(&local);
}

World& World::get() {
  static World world;
  return world;
}

void World::finalize() {
  if (!mpi_running) return;
  MPI_Finalize();
  mpi_running = false;
}

bool World::built_with_mpi() { return true; }

void World::set_step(int64_t step) { current_step = step; }

std::vector<RankReport> World::check_in(const RankReport& mine, const char* where, int64_t step,
                                        double timeout) {
  std::vector<RankReport> table(static_cast<size_t>(size_));
  table[rank_] = mine;
  if (size_ == 1) return table;
  const int bytes = static_cast<int>(sizeof(RankReport));
  const auto deadline = deadline_after(timeout);
  if (rank_ == 0) {
    std::vector<MPI_Request> arrivals(static_cast<size_t>(size_ - 1));
    for (int r = 1; r < size_; ++r)
      MPI_Irecv(&table[r], bytes, MPI_BYTE, r, kReportTag, MPI_COMM_WORLD, &arrivals[r - 1]);
    std::vector<int> arrived(arrivals.size(), 0);
    auto everyone = [&] {
      bool all = true;
      for (size_t i = 0; i < arrivals.size(); ++i) {
        if (!arrived[i]) MPI_Test(&arrivals[i], &arrived[i], MPI_STATUS_IGNORE);
        all = all && arrived[i];
      }
      return all;
    };
    if (const Waited how = poll_until(everyone, deadline, Polling::kCheckIn); how != Waited::kDone) {
      std::vector<int> missing;
      for (size_t i = 0; i < arrived.size(); ++i)
        if (!arrived[i]) missing.push_back(static_cast<int>(i) + 1);
      abort("attn: " + rank_list(missing) + " did not reach the " + phase(where, step) +
            failed_wait(how, timeout), 5);
    }
    std::vector<MPI_Request> replies(static_cast<size_t>(size_ - 1));
    for (int r = 1; r < size_; ++r)
      MPI_Isend(table.data(), bytes * size_, MPI_BYTE, r, kTableTag, MPI_COMM_WORLD,
                &replies[r - 1]);
    if (poll_until([&] { return all_done(replies); }, deadline_after(timeout), Polling::kCheckIn) != Waited::kDone)
      abort("attn: rank 0 could not send the reports of the " + phase(where, step) +
            " to the other ranks; ending the job", 5);
    return table;
  }
  std::vector<MPI_Request> exchange(2);
  MPI_Isend(&table[rank_], bytes, MPI_BYTE, 0, kReportTag, MPI_COMM_WORLD, &exchange[0]);
  std::vector<RankReport> received(table.size());
  MPI_Irecv(received.data(), bytes * size_, MPI_BYTE, 0, kTableTag, MPI_COMM_WORLD, &exchange[1]);
  if (const Waited how = poll_until([&] { return all_done(exchange); }, deadline, Polling::kCheckIn);
      how != Waited::kDone)
    abort("attn: rank " + std::to_string(rank_) + ": rank 0 did not answer at the " +
          phase(where, step) + failed_wait(how, timeout), 5);
  return received;
}

void World::sum(double* values, int64_t n, const char* where, int64_t step) {
  if (size_ == 1) return;
  std::vector<MPI_Request> request(1);
  MPI_Iallreduce(MPI_IN_PLACE, values, static_cast<int>(n), MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD,
                 &request[0]);
  if (const Waited how = poll_until([&] { return all_done(request); }, deadline_after(timeout_),
                                    Polling::kTransfer);
      how != Waited::kDone)
    abort(stalled(static_cast<int>(how), "the " + phase(where, step)), 5);
}

void World::start_sum(float* values, int64_t n) {
  if (size_ == 1) return;
  if (n > INT32_MAX) throw std::length_error("a gradient bucket over 2^31 floats");
  MPI_Request request;
  MPI_Iallreduce(MPI_IN_PLACE, values, static_cast<int>(n), MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD,
                 &request);
  pending_sums.push_back(request);
}

void World::progress() {
  if (!pending_sums.empty()) all_done(pending_sums);
}

void World::wait_all(const char* where, int64_t step) {
  if (pending_sums.empty()) return;
  if (const Waited how = poll_until([&] { return all_done(pending_sums); },
                                     deadline_after(timeout_), Polling::kTransfer);
      how != Waited::kDone)
    abort(stalled(static_cast<int>(how), "the " + phase(where, step)), 5);
  pending_sums.clear();
}

std::string World::stalled(int how, const std::string& what) const {
  const auto waited = static_cast<Waited>(how);
  const std::string me = "attn: rank " + std::to_string(rank_) + ": ";
  if (waited == Waited::kTimedOut)  // find who: the ranks alive answer a ping
    if (const std::vector<int> silent = silent_ranks(rank_, size_); !silent.empty())
      return me + rank_list(silent) + " stopped answering during " + what +
             failed_wait(waited, timeout_);
  return me + what + " did not finish" + failed_wait(waited, timeout_);
}

void World::abort(const std::string& message, int exit_code) {
  std::fprintf(stderr, "%s\n", message.c_str());
  std::fflush(stderr);
  if (mpi_running) MPI_Abort(MPI_COMM_WORLD, exit_code);
  std::exit(exit_code);
}

}  // namespace attn
