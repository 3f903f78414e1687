#include "apps/stop_signals.h"

#include <unistd.h>

#include <atomic>
#include <cstring>

namespace attn {
namespace {

std::atomic<int> stop_request{0};
std::atomic<int> announcing_rank{-1};
const std::atomic<int64_t>* announced_step = nullptr;

// Appends `value` in decimal at `at` (async-signal-safe: no printf in a handler).
char* append_number(char* at, int64_t value) {
  char digits[24];
  int n = 0;
  do digits[n++] = static_cast<char>('0' + value % 10), value /= 10; while (value > 0);
  while (n > 0) *at++ = digits[--n];
  return at;
}

void append(char*& at, const char* text) {
  const size_t n = std::strlen(text);
  std::memcpy(at, text, n);
  at += n;
}

// "attn: rank 0: SIGTERM during step 342 ...", written at once: mpirun may kill this rank
// before it reaches its next message.
void announce(int signal) {
  const int rank = announcing_rank;
  if (rank < 0 || !announced_step) return;
  char line[320];
  char* at = line;
  append(at, "attn: rank ");
  at = append_number(at, rank);
  append(at, signal == SIGTERM ? ": SIGTERM during step " : ": SIGINT during step ");
  at = append_number(at, announced_step->load() + 1);
  append(at, " (mpirun sends it to every rank when one rank ends, and names that rank; or "
             "it was asked for); stopping with a checkpoint if every rank finishes the step\n");
  [[maybe_unused]] const ssize_t written = write(STDERR_FILENO, line, static_cast<size_t>(at - line));
}

void on_stop_signal(int signal) {
  stop_request = signal;
  announce(signal);
  // The next one takes the default action: a second Ctrl-C ends a run that does not stop.
  struct sigaction fallback {};
  fallback.sa_handler = SIG_DFL;
  sigemptyset(&fallback.sa_mask);
  sigaction(signal, &fallback, nullptr);
}

}  // namespace

StopSignals::StopSignals() {
  stop_request = 0;
  struct sigaction action {};
  action.sa_handler = on_stop_signal;
  sigemptyset(&action.sa_mask);
  sigaction(SIGINT, &action, &previous_int_);
  sigaction(SIGTERM, &action, &previous_term_);
}

StopSignals::~StopSignals() {
  announcing_rank = -1;
  sigaction(SIGINT, &previous_int_, nullptr);
  sigaction(SIGTERM, &previous_term_, nullptr);
}

int StopSignals::requested() { return stop_request; }

void StopSignals::announce_for_rank(int rank, const std::atomic<int64_t>* step) {
  announced_step = step;
  announcing_rank = rank;
}

}  // namespace attn
