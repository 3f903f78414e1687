#include "apps/trainer.h"

#include <algorithm>
#include <cmath>
#include <csignal>
#include <cstdio>

#include "apps/run_plot.h"
#include "apps/stop_signals.h"
#include "apps/trainer_loop.h"
#include "engine/allocator.h"
#include "engine/bf16.h"
#include "engine/cpu_share.h"
#include "engine/files.h"
#include "nn/json_input.h"

namespace attn {
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

}  // namespace

TrainingLoop::TrainingLoop(TrainingTask& task, const TrainerOptions& o, const nlohmann::json& extra)
    : task_(task), o_(o), extra_(extra), optimizer_(task.arena(), o.adam),
      data_rng_(o.seed + 100), tty_(isatty(STDOUT_FILENO)),
      divergence_(o.divergence, o.divergence_steps), world_(World::get()),
      writer_(world_.rank() == 0) {
  if (o.ema > 0) average_ = std::make_unique<WeightAverage>(task.arena(), o.ema);
  if (!world_.single()) sync_ = std::make_unique<GradientSync>(task.arena(), world_, o.bucket_mb);
}

void TrainingLoop::restore(const Checkpoint& ckpt) {
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

void TrainingLoop::save() {
  state_.data_rng = data_rng_.state();
  state_.dropout_rng = task_.dropout_rng().state();
  ParameterArena& arena = task_.arena();
  std::vector<TensorRef> more;
  nlohmann::json extra = extra_;
  extra["trainer"] = {{"ranks", world_.size()}};  // resuming with other ranks adapts to it
  if (average_) {
    const auto& params = arena.parameters();
    for (size_t i = 0; i < params.size(); ++i)
      more.push_back({"ema." + params[i].name, params[i].value.shape(),
                      average_->average().data() + arena.offset_of(i)});
    extra["trainer"]["ema_updates"] = average_->updates();
  }
  if (writer_) {
    save_checkpoint(checkpoint_path(o_.out), task_.model_config(), arena, &optimizer_, state_,
                    extra, more);
    keep_numbered_copies(o_.out, state_.step, o_.keep_checkpoints);
  }
  if (!world_.single()) checkpoint_barrier();
}

// The metrics line and the progress line of a logged step.
void TrainingLoop::log(float loss_value, double norm, float lr, double step_seconds,
               nlohmann::json& line) {
  const bool last = state_.step == o_.steps;
  if (state_.step % o_.log_interval != 0 && !last && state_.step != 1) return;
  const double elapsed = seconds_since(t0_);
  const double tok_s = static_cast<double>(tokens_this_run_) / elapsed;
  line = {{"step", state_.step}, {"loss", loss_value}, {"lr", lr}, {"tokens_per_s", tok_s},
          {"tokens_per_step", static_cast<double>(tokens_this_run_) / static_cast<double>(steps_this_run_)},
          {"grad_norm", norm}, {"step_ms", step_seconds * 1e3}};
  if (!world_.single()) {  // the reports' exchange and the part of the all-reduce not overlapped
    line["ranks"] = world_.size();
    line["allreduce_wait_ms"] = communication_ms_;
  }
  if (o_.quiet && !(o_.progress && tty_)) return;
  const double eta = elapsed / static_cast<double>(steps_this_run_) *
                     static_cast<double>(o_.steps - state_.step);
  std::printf(tty_ ? "\rstep %6lld/%lld  loss %.4f  %8.0f tok/s  ETA %s   "
                   : "step %6lld/%lld  loss %.4f  %8.0f tok/s  ETA %s\n",
              static_cast<long long>(state_.step), static_cast<long long>(o_.steps), loss_value,
              tok_s, format_eta(eta).c_str());
  std::fflush(stdout);
}

bool TrainingLoop::evaluate(float loss_value, float lr, nlohmann::json& line) {
  if (state_.step % o_.eval_interval != 0 && state_.step != o_.steps) return true;
  EvalReport report;
  {
    AveragedWeightsScope averaged(average_.get());
    if (average_) refresh_bf16_weights();
    report = task_.evaluate();
  }
  if (average_) refresh_bf16_weights();  // the trained weights again
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

// The last lines of a finished run: final and best held-out loss (and accuracy), where the
// checkpoint is, how long it took.
void TrainingLoop::print_summary() const {
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

void TrainingLoop::refresh_bf16_weights() {
  if (precision() == Precision::kBF16) task_.arena().refresh_bf16();
}

int TrainingLoop::run(RunSummary* summary) {
  if (writer_) {
    metrics_ = open_run_log(o_.out + "/metrics.jsonl", state_.step > 0);
    write_json_file(o_.out + "/config.json", extra_);
  }
  for (int r = 0; r < world_.rank(); ++r) task_.dropout_rng().jump();  // rank r's own masks
  PrecisionScope precision_scope(parse_precision(o_.precision));  // refused without bf16 units
  refresh_bf16_weights();
  StopSignals stop_signals;
  if (!world_.single()) StopSignals::announce_for_rank(world_.rank(), &announced_step_);
  reset_peak_bytes();
  const size_t bytes_before = allocator_stats().bytes_in_use;
  t0_ = Clock::now();
  int exit_code = 0;
  auto stop_with_checkpoint = [&] {  // a signal or --stop-after, between two steps
    save();
    const int signal = stop_requested();
    if (!o_.quiet)
      std::printf("\nattn %s: stopped at step %lld%s; checkpoint saved, continue with "
                  "--resume --out %s\n", o_.command.c_str(), static_cast<long long>(state_.step),
                  signal == SIGTERM ? " (SIGTERM)" : "", o_.out.c_str());
    return signal ? 128 + signal : 0;
  };
  while (state_.step < o_.steps) {
    if (stop_requested()) {  // also after a skipped step
      exit_code = stop_with_checkpoint();
      break;
    }
    share_cpu();
    announced_step_ = state_.step;
    world_.set_step(state_.step + 1);
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
    refresh_bf16_weights();  // bf16: the weights are rounded once per optimizer step
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
    if (metrics_ && !line.is_null())
      std::fprintf(metrics_, "%s\n", line.dump().c_str()), std::fflush(metrics_);
    // No periodic checkpoint while the loss is above the divergence bound: the last one then
    // predates a blow-up that is about to stop the run.
    const bool periodic = state_.step % o_.ckpt_interval == 0 && !divergence_.above_bound();
    if (periodic || state_.step == o_.steps) save();
    if (stop_requested() || (o_.stop_after > 0 && steps_this_run_ >= o_.stop_after)) {
      exit_code = stop_with_checkpoint();
      break;
    }
  }
  finish(exit_code, bytes_before, summary);
  return exit_code;
}

// The run's summary (printed and returned), the metrics file closed, the plots drawn.
void TrainingLoop::finish(int exit_code, size_t bytes_before, RunSummary* summary) {
  if (metrics_) std::fclose(metrics_);
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
    if (writer_) plot_run(o_.out);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "attn %s: no plot: %s\n", o_.command.c_str(), e.what());
  }
  if (summary) *summary = std::move(run_);
}

int run_trainer(TrainingTask& task, const TrainerOptions& options, const nlohmann::json& extra,
                const Checkpoint* resume_from, RunSummary* summary) {
  if (options.steps < 1) throw std::invalid_argument("--steps must be positive");
  if (options.grad_accum < 1) throw std::invalid_argument("--grad-accum must be positive");
  if (options.eval_interval < 1 || options.log_interval < 1 || options.ckpt_interval < 1)
    throw std::invalid_argument("intervals must be positive");
  World::get().set_timeout(options.rank_timeout);
  if (World::get().rank() == 0)  // the other ranks write nothing
    prepare_run_folder(options.out, resume_from != nullptr, task.arena().size(),
                       options.keep_checkpoints);
  TrainingLoop loop(task, options, extra);
  if (resume_from) loop.restore(*resume_from);
  return loop.run(summary);
}

}  // namespace attn
