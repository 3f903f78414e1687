// One optimizer step's gradient: micro-batches, the sum over data-parallel ranks, clipping,
// and what a non-finite loss, gradient or parameter does to the run.
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>

#include "apps/stop_signals.h"
#include "apps/trainer_loop.h"
#include "engine/tape.h"
#include "nn/json_input.h"

namespace attn {
namespace fs = std::filesystem;

std::string first_nonfinite(ParameterArena& arena, const float* values) {
  const auto& params = arena.parameters();
  for (size_t i = 0; i < params.size(); ++i) {
    const float* v = values + arena.offset_of(i);
    for (int64_t j = 0; j < params[i].value.numel(); ++j)
      if (!std::isfinite(v[j])) return "'" + params[i].name + "'";
  }
  return "";
}

uint64_t parameter_hash(ParameterArena& arena) {
  const float* v = arena.values();
  uint64_t h = 0xcbf29ce484222325ull;  // FNV-1a's offset basis, over 32-bit words
  for (int64_t i = 0; i < arena.size(); ++i) {
    uint32_t bits;
    std::memcpy(&bits, v + i, sizeof bits);
    h = (h ^ bits) * 0x100000001b3ull;
  }
  return h | 1;  // never 0, which means "not compared"
}

std::string TrainingLoop::nonfinite_gradient_name() {
  const std::string name = first_nonfinite(task_.arena(), task_.arena().grads());
  return name.empty() ? "the model (norm overflow)" : name;
}

int TrainingLoop::stop_requested() const {
  return world_.single() ? StopSignals::requested() : agreed_stop_;
}

// With grad_accum N, N micro-batches drawn one after the other. Micro-batch m's mean loss
// over its w_m scored targets is scaled by w_m before its backward, and the summed gradient
// by 1 / sum w_m after the last (also summed over ranks): the gradient and loss of one batch
// N x ranks times larger, also when micro-batches score different numbers of targets.
// One process without accumulation takes the plain mean (weights 1), as it always did.
bool TrainingLoop::weighs_micro_batches() const {
  return o_.grad_accum > 1 || !world_.single();
}

void TrainingLoop::accumulate_gradients(RankReport& report) {
  const int64_t n = o_.grad_accum;
  const bool weighted = weighs_micro_batches();
  for (int64_t micro = 0; micro < n; ++micro) {
    int64_t micro_tokens = 0;
    double weight = 1;
    if (sync_ && micro == n - 1) sync_->begin();  // reduce buckets as the last backward ends
    Tensor loss = task_.loss(state_.step, data_rng_, micro_tokens, weight);
    const float value = loss.item();
    report.tokens += static_cast<double>(micro_tokens);
    report.loss_sum += (weighted ? weight : 1.0) * value;
    report.weight_sum += weighted ? weight : 1.0;
    if (!std::isfinite(value)) {
      report.nonfinite = 1;
      clear_tape();
      break;
    }
    backward(weighted ? scale(loss, static_cast<float>(weight)) : loss);
  }
  if (sync_) sync_->start_rest();  // also after a non-finite loss: every rank must take part
}

// Every rank's report and gradient summed; stops the job when the ranks' parameters differ.
void TrainingLoop::combine_ranks(RankReport& report) {
  const int64_t step = state_.step + 1;
  const bool compare = state_.step > 0 && state_.step % o_.sync_check == 0;
  // Fault injection for tests: ATTN_TEST_DESYNC=N makes rank 1 nudge one parameter after
  // step N, so that the comparison below has something to find.
  static const char* desync = std::getenv("ATTN_TEST_DESYNC");
  if (desync && world_.rank() == 1 && std::atoll(desync) == state_.step)
    task_.arena().values()[0] += 1e-3f;
  if (compare) report.parameter_hash = parameter_hash(task_.arena());
  report.stop_signal = StopSignals::requested();
  const auto waiting = Clock::now();  // from here on this rank only communicates
  const auto table = world_.check_in(report, "end of the backward pass", step, world_.timeout());
  RankReport total;
  for (const RankReport& r : table) {
    total.loss_sum += r.loss_sum, total.weight_sum += r.weight_sum, total.tokens += r.tokens;
    total.nonfinite |= r.nonfinite;
    total.stop_signal = std::max(total.stop_signal, r.stop_signal);
  }
  if (compare) {
    std::string hashes;
    bool differ = false;
    for (size_t r = 0; r < table.size(); ++r) {
      differ = differ || table[r].parameter_hash != table[0].parameter_hash;
      hashes += (r ? ", " : "") + std::to_string(r) + ": " + std::to_string(table[r].parameter_hash);
    }
    if (differ)
      world_.abort(writer_ ? "attn " + o_.command + ": the ranks' parameters differ after step " +
                                 std::to_string(state_.step) + " (hashes by rank: " + hashes +
                                 "); they must stay identical, so the job stops. The last "
                                 "checkpoint is in " + o_.out : std::string(), 4);
  }
  sync_->wait(step);
  communication_ms_ = std::chrono::duration<double, std::milli>(Clock::now() - waiting).count();
  report = total;
  agreed_stop_ = total.stop_signal;
}

// Forward, backward and clipping of one batch. A non-finite loss or gradient stops the run
// (kStop, with a message) or, with skip_nonfinite, drops the batch (kSkipped).
TrainingLoop::Outcome TrainingLoop::step(float& loss_value, double& norm, int64_t& tokens) {
  ParameterArena& arena = task_.arena();
  arena.zero_grad();
  RankReport report;
  accumulate_gradients(report);
  if (!world_.single()) combine_ranks(report);
  if (weighs_micro_batches() && report.weight_sum > 0) {  // the sum of weighted means, divided once
    const float inverse = static_cast<float>(1.0 / report.weight_sum);
    float* g = arena.grads();
    for (int64_t i = 0; i < arena.size(); ++i) g[i] *= inverse;
  }
  tokens = static_cast<int64_t>(report.tokens);
  loss_value = static_cast<float>(report.loss_sum / report.weight_sum);  // NaN, inf carry over
  norm = 0.0;
  if (std::isfinite(loss_value)) norm = clip_grad_norm(task_.arena(), o_.grad_clip);
  if (std::isfinite(loss_value) && std::isfinite(norm)) return Outcome::kStepped;
  const std::string what = std::isfinite(loss_value)
                               ? "gradient of " + nonfinite_gradient_name()
                               : std::string("loss");
  const double value = std::isfinite(loss_value) ? norm : loss_value;
  const char* cmd = o_.command.c_str();
  if (o_.skip_nonfinite) {  // drop this batch, keep the parameters as they were
    ++skipped_;
    if (!o_.quiet)
      std::fprintf(stderr, "\nattn %s: the %s is %f at step %lld; step skipped\n", cmd,
                   what.c_str(), value, static_cast<long long>(state_.step + 1));
    if (skipped_ > std::max<int64_t>(10, o_.steps / 10))
      throw std::runtime_error("more than " + std::to_string(skipped_ - 1) +
                               " non-finite steps skipped; stopping");
    return Outcome::kSkipped;
  }
  char why[256];
  std::snprintf(why, sizeof why, "the %s became %f at step %lld; stopping (use --skip-nonfinite "
                "to skip such steps)", what.c_str(), value, static_cast<long long>(state_.step + 1));
  stop_unsaved(why);
  return Outcome::kStop;
}

// Data-parallel: no rank goes on before rank 0 has renamed the checkpoint into place, and
// the ranks compare their parameters (those just saved).
void TrainingLoop::checkpoint_barrier() {
  RankReport report;
  report.parameter_hash = parameter_hash(task_.arena());
  // Saving can take long (a large model on a slow disk): the others wait 10 x longer.
  const auto table = world_.check_in(report, "checkpoint", state_.step,
                                     std::max(600.0, 10 * world_.timeout()));
  for (size_t r = 1; r < table.size(); ++r)
    if (table[r].parameter_hash != table[0].parameter_hash)
      world_.abort(writer_ ? "attn " + o_.command + ": rank " + std::to_string(r) +
                                 "'s parameters differ from rank 0's at the checkpoint of step " +
                                 std::to_string(state_.step) + "; the job stops" : std::string(),
                   4);
}

int TrainingLoop::stop_unsaved(const std::string& why) const {
  if (!writer_) return 3;
  std::error_code ec;
  const bool have_checkpoint = fs::exists(checkpoint_path(o_.out), ec);
  std::fprintf(stderr, "\nattn %s: %s. %s %s\n", o_.command.c_str(), why.c_str(),
               have_checkpoint ? "The last checkpoint, from before this, is kept untouched in"
                               : "No checkpoint had been written yet in",
               o_.out.c_str());
  return 3;
}

// Every number an evaluation reports must be finite: metrics.jsonl never holds null where a
// number is documented (a validation loss over 709 makes exp(loss), the perplexity, infinite).
bool TrainingLoop::finite_evaluation(const nlohmann::json& metrics) const {
  for (const auto& [key, value] : metrics.items())
    if (value.is_number() && !std::isfinite(value.get<double>())) {
      stop_unsaved("the evaluation's " + key + " is " + json_excerpt(value) + " at step " +
                   std::to_string(state_.step) + "; the run has diverged");
      return false;
    }
  return true;
}

// After the optimizer's update: parameters that became non-finite (a finite gradient can
// still overflow them) or a loss that diverged stop the run before anything is saved.
TrainingLoop::Outcome TrainingLoop::after_update(float loss_value) {
  const std::string broken = first_nonfinite(task_.arena(), task_.arena().values());
  if (!broken.empty()) {
    stop_unsaved("parameter " + broken + " became non-finite in the update of step " +
                 std::to_string(state_.step));
    return Outcome::kStop;
  }
  if (divergence_.diverged(loss_value)) {
    char why[256];
    std::snprintf(why, sizeof why, "the loss diverged: %.4g at step %lld, above %g x its minimum "
                  "%.4g for %lld steps (--divergence, --divergence-steps); lower --lr and "
                  "--resume", loss_value, static_cast<long long>(state_.step), o_.divergence,
                  divergence_.minimum(), static_cast<long long>(divergence_.streak()));
    stop_unsaved(why);
    return Outcome::kStop;
  }
  return Outcome::kStepped;
}

}  // namespace attn
