#include "apps/stop_signals.h"

#include <atomic>

namespace attn {
namespace {

std::atomic<int> stop_request{0};

void on_stop_signal(int signal) {
  stop_request = signal;
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
  sigaction(SIGINT, &previous_int_, nullptr);
  sigaction(SIGTERM, &previous_term_, nullptr);
}

int StopSignals::requested() { return stop_request; }

}  // namespace attn
