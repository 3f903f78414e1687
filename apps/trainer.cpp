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

#include "apps/run_plot.h"
#include "engine/allocator.h"
#include "engine/cpu_share.h"
#include "engine/tape.h"
#include "nn/weight_average.h"

namespace attn {
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

std::string checkpoint_path(const std::string& out) { return out + "/checkpoint.safetensors"; }

Checkpoint read_run_checkpoint(const std::string& out, const std::string& command) {
  const std::string path = checkpoint_path(out);
  if (!fs::exists(path))
    throw std::runtime_error(
        "--resume: " + path + " does not exist, so there is no run to continue in " + out +
        "; start one with `attn " + command + " --out " + out + " ...` (without --resume)");
  return read_checkpoint(path);
}

namespace {

std::atomic<bool> interrupted{false};
void on_sigint(int) { interrupted = true; }

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

std::string format_eta(double seconds) {
  char buf[32];
  const int s = static_cast<int>(seconds);
  std::snprintf(buf, sizeof buf, "%d:%02d:%02d", s / 3600, s / 60 % 60, s % 60);
  return buf;
}

// Refuses a folder that already holds a run (unless resuming), that is not writable, or that
// has no room for the checkpoints, before any training work is done.
void prepare_run_folder(const TrainerOptions& o, bool resume, int64_t parameters) {
  fs::create_directories(o.out);
  if (!resume && fs::exists(checkpoint_path(o.out)))
    throw std::runtime_error(o.out + " already holds a checkpoint: continue it with --resume, "
                             "or choose another --out");
  {
    std::ofstream probe(o.out + "/.write_test");
    if (!probe) throw std::runtime_error(o.out + ": the run folder is not writable");
  }
  fs::remove(o.out + "/.write_test");
  // A checkpoint holds parameters, two AdamW moments and perhaps the weight average.
  const uintmax_t need = static_cast<uintmax_t>(parameters) * sizeof(float) * 4 *
                             (2 + static_cast<uintmax_t>(o.keep_checkpoints)) + (1u << 20);
  std::error_code ec;
  const auto space = fs::space(o.out, ec);
  if (!ec && space.available < need)
    throw std::runtime_error(o.out + ": only " + std::to_string(space.available >> 20) +
                             " MiB free, checkpoints need about " + std::to_string(need >> 20) +
                             " MiB");
}

// Besides the latest checkpoint, keeps numbered copies of the last `keep` saves.
void keep_numbered_copies(const std::string& out, int64_t step, int64_t keep) {
  if (keep <= 0) return;
  char name[64];
  std::snprintf(name, sizeof name, "/checkpoint-%08lld.safetensors", static_cast<long long>(step));
  const std::string numbered = out + name, tmp = numbered + ".tmp";
  fs::copy_file(checkpoint_path(out), tmp, fs::copy_options::overwrite_existing);
  fs::rename(tmp, numbered);
  std::vector<std::string> copies;
  for (const auto& entry : fs::directory_iterator(out)) {
    const std::string file = entry.path().filename().string();
    if (file.rfind("checkpoint-", 0) == 0 && file.size() > 12 &&
        file.substr(file.size() - 12) == ".safetensors")
      copies.push_back(entry.path().string());
  }
  std::sort(copies.begin(), copies.end());  // zero-padded steps sort in time order
  for (size_t i = 0; i + static_cast<size_t>(keep) < copies.size(); ++i) fs::remove(copies[i]);
}

// The name of the first parameter whose gradient holds a NaN or infinity.
std::string first_nonfinite_gradient(ParameterArena& arena) {
  const auto& params = arena.parameters();
  for (size_t i = 0; i < params.size(); ++i) {
    const float* g = arena.grads() + arena.offset_of(i);
    for (int64_t j = 0; j < params[i].value.numel(); ++j)
      if (!std::isfinite(g[j])) return "'" + params[i].name + "'";
  }
  return "the model (norm overflow)";
}

// One run of the loop: the state the steps share.
class Loop {
 public:
  Loop(TrainingTask& task, const TrainerOptions& o, const nlohmann::json& extra)
      : task_(task), o_(o), extra_(extra), optimizer_(task.arena(), o.adam),
        data_rng_(o.seed + 100), tty_(isatty(STDOUT_FILENO)) {
    if (o.ema > 0) average_ = std::make_unique<WeightAverage>(task.arena(), o.ema);
  }
  void restore(const Checkpoint& ckpt);
  int run(RunSummary* summary);

 private:
  enum class Outcome { kStepped, kSkipped, kStop };
  Outcome step(float& loss_value, double& norm, int64_t& tokens);
  void log(float loss_value, double norm, float lr, double step_seconds, nlohmann::json& line);
  void evaluate(float loss_value, float lr, nlohmann::json& line);
  void save();
  void print_summary() const;

  TrainingTask& task_;
  const TrainerOptions& o_;
  const nlohmann::json& extra_;
  AdamW optimizer_;
  std::unique_ptr<WeightAverage> average_;
  Rng data_rng_;
  TrainState state_;
  bool tty_;
  std::ofstream metrics_;
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
    average_->restore(values, ckpt.extra.at("trainer").at("ema_updates").get<int64_t>());
  }
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
Loop::Outcome Loop::step(float& loss_value, double& norm, int64_t& tokens) {
  task_.arena().zero_grad();
  Tensor loss = task_.loss(state_.step, data_rng_, tokens);
  loss_value = loss.item();
  norm = 0.0;
  if (std::isfinite(loss_value)) {
    backward(loss);
    norm = clip_grad_norm(task_.arena(), o_.grad_clip);
  } else {
    clear_tape();
  }
  if (std::isfinite(loss_value) && std::isfinite(norm)) return Outcome::kStepped;
  const std::string what = std::isfinite(loss_value)
                               ? "gradient of " + first_nonfinite_gradient(task_.arena())
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
  const bool have_checkpoint = fs::exists(checkpoint_path(o_.out));
  std::fprintf(stderr, "\nattn %s: the %s became %f at step %lld; stopping (use "
               "--skip-nonfinite to skip such steps). %s %s\n", cmd, what.c_str(), value,
               static_cast<long long>(state_.step + 1),
               have_checkpoint ? "The last checkpoint is kept untouched in" :
                                 "No checkpoint had been written yet in",
               o_.out.c_str());
  return Outcome::kStop;
}

// The metrics line and the progress line of a logged step.
void Loop::log(float loss_value, double norm, float lr, double step_seconds,
               nlohmann::json& line) {
  const bool last = state_.step == o_.steps;
  if (state_.step % o_.log_interval != 0 && !last && state_.step != 1) return;
  const double elapsed = seconds_since(t0_);
  const double tok_s = static_cast<double>(tokens_this_run_) / elapsed;
  line = {{"step", state_.step}, {"loss", loss_value}, {"lr", lr}, {"tokens_per_s", tok_s},
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

void Loop::evaluate(float loss_value, float lr, nlohmann::json& line) {
  if (state_.step % o_.eval_interval != 0 && state_.step != o_.steps) return;
  EvalReport report;
  {
    AveragedWeightsScope averaged(average_.get());
    report = task_.evaluate();
  }
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
  metrics_.open(o_.out + "/metrics.jsonl", state_.step > 0 ? std::ios::app : std::ios::trunc);
  std::ofstream(o_.out + "/config.json") << extra_.dump(2) << "\n";
  interrupted = false;
  auto previous_handler = std::signal(SIGINT, on_sigint);
  reset_peak_bytes();
  const size_t bytes_before = allocator_stats().bytes_in_use;
  t0_ = Clock::now();
  int exit_code = 0;
  while (state_.step < o_.steps) {
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
    const double step_seconds = seconds_since(step_start);
    run_.losses.push_back(loss_value);
    run_.step_ms.push_back(step_seconds * 1e3);
    nlohmann::json line;
    log(loss_value, norm, lr, step_seconds, line);
    evaluate(loss_value, lr, line);
    if (!line.is_null()) metrics_ << line.dump() << "\n" << std::flush;
    if (state_.step % o_.ckpt_interval == 0 || state_.step == o_.steps) save();
    if (interrupted || (o_.stop_after > 0 && steps_this_run_ >= o_.stop_after)) {
      save();
      if (!o_.quiet)
        std::printf("\nattn %s: stopped at step %lld; checkpoint saved, continue with "
                    "--resume --out %s\n", o_.command.c_str(),
                    static_cast<long long>(state_.step), o_.out.c_str());
      exit_code = interrupted ? 130 : 0;
      break;
    }
  }
  std::signal(SIGINT, previous_handler);
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
  if (options.eval_interval < 1 || options.log_interval < 1 || options.ckpt_interval < 1)
    throw std::invalid_argument("intervals must be positive");
  prepare_run_folder(options, resume_from != nullptr, task.arena().size());
  Loop loop(task, options, extra);
  if (resume_from) loop.restore(*resume_from);
  return loop.run(summary);
}

}  // namespace attn
