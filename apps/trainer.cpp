#include "apps/trainer.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>

#include "apps/divergence.h"
#include "apps/run_plot.h"
#include "apps/stop_signals.h"
#include "engine/files.h"
#include "nn/json_input.h"
#include "engine/allocator.h"
#include "engine/cpu_share.h"
#include "engine/tape.h"
#include "nn/weight_average.h"

namespace attn {
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

std::string format_eta(double seconds) {
  char buf[32];
  const int s = static_cast<int>(seconds);
  std::snprintf(buf, sizeof buf, "%d:%02d:%02d", s / 3600, s / 60 % 60, s % 60);
  return buf;
}

// The name of the first parameter holding a NaN or infinity in `values` (parameters or
// gradients, laid out as the arena), or "" when all are finite.
std::string first_nonfinite(ParameterArena& arena, const float* values) {
  const auto& params = arena.parameters();
  for (size_t i = 0; i < params.size(); ++i) {
    const float* v = values + arena.offset_of(i);
    for (int64_t j = 0; j < params[i].value.numel(); ++j)
      if (!std::isfinite(v[j])) return "'" + params[i].name + "'";
  }
  return "";
}


// One run of the loop: the state the steps share.
class Loop {
 public:
  Loop(TrainingTask& task, const TrainerOptions& o, const nlohmann::json& extra)
      : task_(task), o_(o), extra_(extra), optimizer_(task.arena(), o.adam),
        data_rng_(o.seed + 100), tty_(isatty(STDOUT_FILENO)),
        divergence_(o.divergence, o.divergence_steps) {
    if (o.ema > 0) average_ = std::make_unique<WeightAverage>(task.arena(), o.ema);
  }
  void restore(const Checkpoint& ckpt);
  int run(RunSummary* summary);

 private:
  enum class Outcome { kStepped, kSkipped, kStop };
  Outcome step(float& loss_value, double& norm, int64_t& tokens);
  void log(float loss_value, double norm, float lr, double step_seconds, nlohmann::json& line);
  bool evaluate(float loss_value, float lr, nlohmann::json& line);  // false: stop (non-finite)
  Outcome after_update(float loss_value);
  void save();
  void print_summary() const;
  std::string nonfinite_gradient_name() {
    const std::string name = first_nonfinite(task_.arena(), task_.arena().grads());
    return name.empty() ? "the model (norm overflow)" : name;
  }
  // Why the run stops without a new checkpoint, and where the last good one is; returns 3.
  int stop_unsaved(const std::string& why) const;
  bool finite_evaluation(const nlohmann::json& metrics) const;

  TrainingTask& task_;
  const TrainerOptions& o_;
  const nlohmann::json& extra_;
  AdamW optimizer_;
  std::unique_ptr<WeightAverage> average_;
  Rng data_rng_;
  TrainState state_;
  bool tty_;
  FILE* metrics_ = nullptr;
  DivergenceWatch divergence_;
  Clock::time_point t0_;
  int64_t steps_this_run_ = 0, skipped_ = 0, tokens_this_run_ = 0;
  EvalReport last_eval_, best_;  // this run's last and lowest-loss evaluations
  int64_t best_step_ = -1;
  RunSummary run_;
};

void Loop::restore(const Checkpoint& ckpt) {
  ParameterArena& arena = task_.arena();
  load_parameters(ckpt, arena);
  load_optimizer(ckpt, arena, optimizer_);
  if (average_) {
    const std::vector<float> values = read_weight_average(ckpt, arena);
    if (values.empty())
      throw std::runtime_error(ckpt.path + ": holds no weight average (a run without --ema?)");
    const nlohmann::json* updates = ckpt.extra.contains("trainer") && ckpt.extra["trainer"].is_object() &&
                                    ckpt.extra["trainer"].contains("ema_updates")
                                        ? &ckpt.extra["trainer"]["ema_updates"] : nullptr;
    if (!updates || !updates->is_number_integer() || updates->get<int64_t>() < 0 ||
        updates->get<int64_t>() > ckpt.state.step)
      throw std::runtime_error(ckpt.path + ": the weight average's update count is missing or "
                               "outside [0, step]");
    average_->restore(values, updates->get<int64_t>());
  }
  for (const auto* rng : {&ckpt.state.data_rng, &ckpt.state.dropout_rng})  // xoshiro never leaves 0
    if (((*rng)[0] | (*rng)[1] | (*rng)[2] | (*rng)[3]) == 0)
      throw std::runtime_error(ckpt.path + ": a random-number state is all zero (every batch "
                               "would be the same); not a checkpoint of a training run");
  state_ = ckpt.state;
  data_rng_.set_state(state_.data_rng);
  task_.dropout_rng().set_state(state_.dropout_rng);
}

void Loop::save() {
  state_.data_rng = data_rng_.state();
  state_.dropout_rng = task_.dropout_rng().state();
  ParameterArena& arena = task_.arena();
  std::vector<TensorRef> more;
  nlohmann::json extra = extra_;
  if (average_) {
    const auto& params = arena.parameters();
    for (size_t i = 0; i < params.size(); ++i)
      more.push_back({"ema." + params[i].name, params[i].value.shape(),
                      average_->average().data() + arena.offset_of(i)});
    extra["trainer"] = {{"ema_updates", average_->updates()}};
  }
  save_checkpoint(checkpoint_path(o_.out), task_.model_config(), arena, &optimizer_, state_,
                  extra, more);
  keep_numbered_copies(o_.out, state_.step, o_.keep_checkpoints);
}

// Forward, backward and clipping of one batch. A non-finite loss or gradient stops the run
// (kStop, with a message) or, with skip_nonfinite, drops the batch (kSkipped).
// With grad_accum N, N micro-batches drawn one after the other. Micro-batch m's mean loss
// over its w_m scored targets is scaled by w_m before its backward, and the summed gradient
// by 1 / sum w_m after the last: the gradient and loss of one batch N times larger, also when
// micro-batches score different numbers of targets (masked tasks).
Loop::Outcome Loop::step(float& loss_value, double& norm, int64_t& tokens) {
  ParameterArena& arena = task_.arena();
  arena.zero_grad();
  const int64_t n = o_.grad_accum;
  double loss_sum = 0, weight_sum = 0;
  tokens = 0;
  for (int64_t micro = 0; micro < n; ++micro) {
    int64_t micro_tokens = 0;
    double weight = 1;
    Tensor loss = task_.loss(state_.step, data_rng_, micro_tokens, weight);
    const float value = loss.item();
    tokens += micro_tokens;
    loss_sum += (n > 1 ? weight : 1.0) * value, weight_sum += n > 1 ? weight : 1.0;
    if (!std::isfinite(value)) {
      clear_tape();
      break;
    }
    backward(n > 1 ? scale(loss, static_cast<float>(weight)) : loss);
  }
  if (n > 1 && weight_sum > 0) {  // the sum of weighted means, divided once
    const float inverse = static_cast<float>(1.0 / weight_sum);
    float* g = arena.grads();
    for (int64_t i = 0; i < arena.size(); ++i) g[i] *= inverse;
  }
  loss_value = static_cast<float>(loss_sum / weight_sum);
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

int Loop::stop_unsaved(const std::string& why) const {
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
bool Loop::finite_evaluation(const nlohmann::json& metrics) const {
  for (const auto& [key, value] : metrics.items())
    if (value.is_number() && !std::isfinite(value.get<double>())) {
      stop_unsaved("the evaluation's " + key + " is " + json_excerpt(value) + " at step " +
                   std::to_string(state_.step) + "; the run has diverged");
      return false;
    }
  return true;
}

// The metrics line and the progress line of a logged step.
void Loop::log(float loss_value, double norm, float lr, double step_seconds,
               nlohmann::json& line) {
  const bool last = state_.step == o_.steps;
  if (state_.step % o_.log_interval != 0 && !last && state_.step != 1) return;
  const double elapsed = seconds_since(t0_);
  const double tok_s = static_cast<double>(tokens_this_run_) / elapsed;
  line = {{"step", state_.step}, {"loss", loss_value}, {"lr", lr}, {"tokens_per_s", tok_s},
          {"tokens_per_step", static_cast<double>(tokens_this_run_) / static_cast<double>(steps_this_run_)},
          {"grad_norm", norm}, {"step_ms", step_seconds * 1e3}};
  if (o_.quiet && !(o_.progress && tty_)) return;
  const double eta = elapsed / static_cast<double>(steps_this_run_) *
                     static_cast<double>(o_.steps - state_.step);
  std::printf(tty_ ? "\rstep %6lld/%lld  loss %.4f  %8.0f tok/s  ETA %s   "
                   : "step %6lld/%lld  loss %.4f  %8.0f tok/s  ETA %s\n",
              static_cast<long long>(state_.step), static_cast<long long>(o_.steps), loss_value,
              tok_s, format_eta(eta).c_str());
  std::fflush(stdout);
}

bool Loop::evaluate(float loss_value, float lr, nlohmann::json& line) {
  if (state_.step % o_.eval_interval != 0 && state_.step != o_.steps) return true;
  EvalReport report;
  {
    AveragedWeightsScope averaged(average_.get());
    report = task_.evaluate();
  }
  if (!finite_evaluation(report.metrics)) return false;
  if (line.is_null()) line = {{"step", state_.step}, {"loss", loss_value}, {"lr", lr}};
  line.update(report.metrics);
  run_.last_evaluation = report.metrics;
  run_.evaluations.push_back(report.metrics);
  run_.evaluations.back()["step"] = state_.step;
  last_eval_ = report;
  if (best_step_ < 0 || report.loss < best_.loss) best_ = report, best_step_ = state_.step;
  if (!o_.quiet)
    std::printf("%sstep %6lld  %s\n", tty_ ? "\n" : "", static_cast<long long>(state_.step),
                report.text.c_str());
  return true;
}

// After the optimizer's update: parameters that became non-finite (a finite gradient can
// still overflow them) or a loss that diverged stop the run before anything is saved.
Loop::Outcome Loop::after_update(float loss_value) {
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

// The last lines of a finished run: final and best held-out loss (and accuracy), where the
// checkpoint is, how long it took.
void Loop::print_summary() const {
  std::printf("attn %s: done, %lld steps in %.1f s\n", o_.command.c_str(),
              static_cast<long long>(steps_this_run_), run_.seconds);
  if (best_step_ >= 0) {
    std::printf("  final: loss %.4f", last_eval_.loss);
    if (last_eval_.accuracy >= 0) std::printf(", accuracy %.2f%%", 100 * last_eval_.accuracy);
    std::printf("   best of this run: loss %.4f at step %lld", best_.loss, static_cast<long long>(best_step_));
    if (best_.accuracy >= 0) std::printf(", accuracy %.2f%%", 100 * best_.accuracy);
    std::printf("\n");
  }
  std::printf("  checkpoint: %s\n", checkpoint_path(o_.out).c_str());
}

int Loop::run(RunSummary* summary) {
  metrics_ = open_run_log(o_.out + "/metrics.jsonl", state_.step > 0);
  write_json_file(o_.out + "/config.json", extra_);
  StopSignals stop_signals;
  reset_peak_bytes();
  const size_t bytes_before = allocator_stats().bytes_in_use;
  t0_ = Clock::now();
  int exit_code = 0;
  auto stop_with_checkpoint = [&] {  // a signal or --stop-after, between two steps
    save();
    const int signal = StopSignals::requested();
    if (!o_.quiet)
      std::printf("\nattn %s: stopped at step %lld%s; checkpoint saved, continue with "
                  "--resume --out %s\n", o_.command.c_str(), static_cast<long long>(state_.step),
                  signal == SIGTERM ? " (SIGTERM)" : "", o_.out.c_str());
    return signal ? 128 + signal : 0;
  };
  while (state_.step < o_.steps) {
    if (StopSignals::requested()) {  // also after a skipped step
      exit_code = stop_with_checkpoint();
      break;
    }
    share_cpu();
    const auto step_start = Clock::now();
    float loss_value = 0;
    double norm = 0;
    int64_t tokens = 0;
    const Outcome outcome = step(loss_value, norm, tokens);
    if (outcome == Outcome::kSkipped) continue;
    if (outcome == Outcome::kStop) {
      exit_code = 3;
      break;
    }
    const float lr = learning_rate(state_.step, o_.warmup, o_.steps, o_.lr, o_.min_lr);
    optimizer_.step(lr);
    if (average_) average_->update();
    ++state_.step, ++steps_this_run_;
    tokens_this_run_ += tokens;
    if (after_update(loss_value) == Outcome::kStop) {
      exit_code = 3;
      break;
    }
    const double step_seconds = seconds_since(step_start);
    run_.losses.push_back(loss_value);
    run_.step_ms.push_back(step_seconds * 1e3);
    nlohmann::json line;
    log(loss_value, norm, lr, step_seconds, line);
    if (!evaluate(loss_value, lr, line)) {
      exit_code = 3;
      break;
    }
    if (!line.is_null()) std::fprintf(metrics_, "%s\n", line.dump().c_str()), std::fflush(metrics_);
    // No periodic checkpoint while the loss is above the divergence bound: the last one then
    // predates a blow-up that is about to stop the run.
    const bool periodic = state_.step % o_.ckpt_interval == 0 && !divergence_.above_bound();
    if (periodic || state_.step == o_.steps) save();
    if (StopSignals::requested() || (o_.stop_after > 0 && steps_this_run_ >= o_.stop_after)) {
      exit_code = stop_with_checkpoint();
      break;
    }
  }
  std::fclose(metrics_);
  metrics_ = nullptr;
  if (o_.quiet && o_.progress && tty_) std::printf("\r%80s\r", "");  // clear the progress line
  run_.tokens_per_step = steps_this_run_ > 0 ? static_cast<double>(tokens_this_run_) /
                                                   static_cast<double>(steps_this_run_) : 0.0;
  run_.parameters = 0;
  for (const auto& p : task_.arena().parameters()) run_.parameters += p.value.numel();
  run_.peak_mb = static_cast<double>(allocator_stats().peak_bytes - bytes_before) / (1 << 20);
  run_.seconds = seconds_since(t0_);
  run_.finished = state_.step == o_.steps && exit_code == 0;
  if (!o_.quiet && run_.finished) print_summary();
  try {  // loss.png (and accuracy.png) of the run; a plot that fails costs no training
    plot_run(o_.out);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "attn %s: no plot: %s\n", o_.command.c_str(), e.what());
  }
  if (summary) *summary = std::move(run_);
  return exit_code;
}

}  // namespace

int run_trainer(TrainingTask& task, const TrainerOptions& options, const nlohmann::json& extra,
                const Checkpoint* resume_from, RunSummary* summary) {
  if (options.steps < 1) throw std::invalid_argument("--steps must be positive");
  if (options.grad_accum < 1) throw std::invalid_argument("--grad-accum must be positive");
  if (options.eval_interval < 1 || options.log_interval < 1 || options.ckpt_interval < 1)
    throw std::invalid_argument("intervals must be positive");
  prepare_run_folder(options.out, resume_from != nullptr, task.arena().size(), options.keep_checkpoints);
  Loop loop(task, options, extra);
  if (resume_from) loop.restore(*resume_from);
  return loop.run(summary);
}

}  // namespace attn
