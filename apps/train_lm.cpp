#include "apps/train_lm.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>

#include "engine/allocator.h"
#include "engine/cpu_share.h"
#include "engine/parallel.h"
#include "engine/tape.h"
#include "nn/checkpoint.h"
#include "nn/optim.h"

namespace attn {
namespace fs = std::filesystem;

#define ATTN_OPTION_FIELDS(X)                                                                   \
  X(task) X(data) X(val) X(tokenizer) X(val_fraction) X(copy_symbols) X(copy_min_len)           \
  X(copy_max_len) X(recall_keys) X(recall_values) X(recall_min_pairs) X(recall_max_pairs)       \
  X(model) X(batch) X(steps) X(warmup) X(lr) X(min_lr) X(weight_decay)                          \
  X(beta1) X(beta2) X(grad_clip) X(seed) X(threads) X(eval_interval) X(eval_iters)              \
  X(log_interval) X(ckpt_interval) X(stop_after) X(out) X(keep_checkpoints)

void to_json(nlohmann::json& j, const TrainOptions& o) {
#define X(f) j[#f] = o.f;
  ATTN_OPTION_FIELDS(X)
#undef X
}

void from_json(const nlohmann::json& j, TrainOptions& o) {
#define X(f) \
  if (j.contains(#f)) j.at(#f).get_to(o.f);
  ATTN_OPTION_FIELDS(X)
#undef X
}

namespace {

std::atomic<bool> interrupted{false};
void on_sigint(int) { interrupted = true; }

std::string checkpoint_path(const std::string& out) { return out + "/checkpoint.safetensors"; }

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

// Everything that can be checked before training starts, so a bad option never costs a run
// (or a checkpoint).
void validate(const TrainOptions& o) {
  auto need = [](bool ok, const std::string& what) {
    if (!ok) throw std::invalid_argument(what);
  };
  need(o.task == "copy" || o.task == "recall" || o.task == "text",
       "--task must be 'copy', 'recall' or 'text', got '" + o.task + "'");
  need(o.task != "text" || !o.data.empty(), "--task text needs --data FILE");
  need(o.batch > 0, "--batch must be positive");
  need(o.steps > 0, "--steps must be positive");
  need(o.warmup >= 0, "--warmup must be >= 0");
  need(o.lr > 0 && std::isfinite(o.lr), "--lr must be a positive number");
  need(o.min_lr >= 0 && o.min_lr <= o.lr, "--min-lr must be in [0, lr]");
  need(o.weight_decay >= 0, "--weight-decay must be >= 0");
  need(o.beta1 >= 0 && o.beta1 < 1 && o.beta2 >= 0 && o.beta2 < 1, "betas must be in [0, 1)");
  need(o.grad_clip >= 0, "--grad-clip must be >= 0 (0 disables it)");
  need(o.keep_checkpoints >= 0, "--keep-checkpoints must be >= 0");
  need(o.eval_interval > 0 && o.eval_iters > 0 && o.log_interval > 0 && o.ckpt_interval > 0,
       "intervals and --eval-iters must be positive");
  o.model.validate();
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

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

std::string format_eta(double seconds) {
  char buf[32];
  const int s = static_cast<int>(seconds);
  std::snprintf(buf, sizeof buf, "%d:%02d:%02d", s / 3600, s / 60 % 60, s % 60);
  return buf;
}

}  // namespace

std::unique_ptr<LMTask> make_task(const TrainOptions& o, const Tokenizer* fixed) {
  if (o.task == "copy") return std::make_unique<CopyTask>(o.copy_symbols, o.copy_min_len, o.copy_max_len);
  if (o.task == "recall")
    return std::make_unique<RecallTask>(o.recall_keys, o.recall_values, o.recall_min_pairs,
                                        o.recall_max_pairs);
  if (fixed)
    return std::make_unique<TextTask>(o.data, o.val, *fixed, o.val_fraction, o.model.context);
  return std::make_unique<TextTask>(o.data, o.val, o.tokenizer, o.val_fraction, o.model.context);
}

EvalResult evaluate(LanguageModel& model, const LMTask& task, int64_t batch, int64_t iters,
                    uint64_t seed) {
  NoGradGuard no_grad;
  const bool was_training = model.training();
  model.eval();
  Rng rng(seed);  // the same validation batches at every evaluation
  double loss = 0;
  int64_t correct = 0, scored = 0;
  for (int64_t i = 0; i < iters; ++i) {
    Batch b = task.batch(true, batch, model.config().context, rng);
    Tensor logits = model.forward(b.inputs);
    loss += cross_entropy(logits, b.targets).item();
    share_cpu();
    if (!task.reports_accuracy()) continue;
    const int64_t V = logits.size(-1);
    for (size_t r = 0; r < b.targets.values.size(); ++r) {
      if (b.targets.values[r] < 0) continue;
      const float* row = logits.data() + r * V;
      const int64_t best = std::max_element(row, row + V) - row;
      correct += best == b.targets.values[r];
      ++scored;
    }
  }
  model.train(was_training);
  return {loss / iters, task.reports_accuracy() && scored ? double(correct) / scored : -1.0};
}

int train_language_model(TrainOptions o, bool resume, RunSummary* summary) {
  std::unique_ptr<Checkpoint> ckpt;
  if (resume) {
    ckpt = std::make_unique<Checkpoint>(read_checkpoint(checkpoint_path(o.out)));
    const TrainOptions given = o;  // what the command line may still change on resume
    o = ckpt->extra.at("options").get<TrainOptions>();
    o.threads = given.threads, o.out = given.out, o.quiet = given.quiet;
    o.stop_after = given.stop_after;
    o.model = ckpt->config;
  }
  if (o.task == "copy") {
    o.model.vocab_size = o.copy_symbols + 2;
    o.model.context = std::max(o.model.context, 2 * o.copy_max_len + 1);
  }
  if (o.task == "recall") o.model.context = std::max(o.model.context, 4 * o.recall_max_pairs + 1);
  validate(o);
  if (o.threads > 0) set_threads(o.threads);

  std::unique_ptr<Tokenizer> saved_tokenizer;
  if (ckpt && o.task == "text")
    saved_tokenizer = std::make_unique<Tokenizer>(
        Tokenizer::from_json(ckpt->extra.at("task").at("tokenizer")));
  auto task = make_task(o, saved_tokenizer.get());
  o.model.vocab_size = task->vocab_size();

  fs::create_directories(o.out);
  if (!resume && fs::exists(checkpoint_path(o.out)))
    throw std::runtime_error(o.out + " already holds a checkpoint: continue it with --resume, "
                             "or choose another --out");
  {  // check the run folder is writable before any work
    std::ofstream probe(o.out + "/.write_test");
    if (!probe) throw std::runtime_error(o.out + ": the run folder is not writable");
  }
  fs::remove(o.out + "/.write_test");

  LanguageModel model(o.model, o.seed);
  AdamW optimizer(model.arena(), {o.beta1, o.beta2, 1e-8f, o.weight_decay});
  {  // a checkpoint holds parameters and two AdamW moments; refuse to start without room
    const uintmax_t need = static_cast<uintmax_t>(model.arena().size()) * sizeof(float) * 3 *
                           (2 + static_cast<uintmax_t>(o.keep_checkpoints)) + (1u << 20);
    std::error_code ec;
    const auto space = fs::space(o.out, ec);
    if (!ec && space.available < need)
      throw std::runtime_error(o.out + ": only " + std::to_string(space.available >> 20) +
                               " MiB free, checkpoints need about " + std::to_string(need >> 20) +
                               " MiB");
  }
  Rng data_rng(o.seed + 100);
  TrainState state;
  if (ckpt) {
    load_parameters(*ckpt, model.arena());
    load_optimizer(*ckpt, model.arena(), optimizer);
    state = ckpt->state;
    data_rng.set_state(state.data_rng);
    model.dropout_rng().set_state(state.dropout_rng);
  }
  const nlohmann::json extra = {{"options", o}, {"task", task->describe()}};
  {
    std::ofstream(o.out + "/config.json") << extra.dump(2) << "\n";
  }
  auto save = [&]() {
    state.data_rng = data_rng.state();
    state.dropout_rng = model.dropout_rng().state();
    save_checkpoint(checkpoint_path(o.out), o.model, model.arena(), &optimizer, state, extra);
    keep_numbered_copies(o.out, state.step, o.keep_checkpoints);
  };

  std::ofstream metrics(o.out + "/metrics.jsonl", resume ? std::ios::app : std::ios::trunc);
  const bool tty = isatty(STDOUT_FILENO);
  if (!o.quiet)
    std::printf("attn train: %s, %s attention, %lld parameters, %d threads -> %s\n",
                task->describe().value("kind", "?").c_str(), o.model.attention.c_str(),
                static_cast<long long>(model.parameter_count()), threads(), o.out.c_str());
  interrupted = false;
  auto previous_handler = std::signal(SIGINT, on_sigint);

  const int64_t tokens_per_step = o.batch * o.model.context;
  reset_peak_bytes();
  const size_t bytes_before = allocator_stats().bytes_in_use;
  RunSummary run;
  auto t0 = std::chrono::steady_clock::now();
  int64_t steps_this_run = 0, skipped = 0;
  int exit_code = 0;
  while (state.step < o.steps) {
    share_cpu();
    const auto step_start = std::chrono::steady_clock::now();
    Batch b = task->batch(false, o.batch, o.model.context, data_rng);
    model.arena().zero_grad();
    Tensor loss = model.loss(b.inputs, b.targets);
    const float loss_value = loss.item();
    double norm = 0.0;
    if (std::isfinite(loss_value)) {
      backward(loss);
      norm = clip_grad_norm(model.arena(), o.grad_clip);
    } else {
      clear_tape();
    }
    if (!std::isfinite(loss_value) || !std::isfinite(norm)) {
      const std::string what = std::isfinite(loss_value)
                                    ? "gradient of " + first_nonfinite_gradient(model.arena())
                                    : std::string("loss");
      const double value = std::isfinite(loss_value) ? norm : loss_value;
      if (o.skip_nonfinite) {  // drop this batch, keep the parameters as they were
        ++skipped;
        if (!o.quiet)
          std::fprintf(stderr, "\nattn train: the %s is %f at step %lld; step skipped\n",
                       what.c_str(), value, static_cast<long long>(state.step + 1));
        if (skipped > std::max<int64_t>(10, o.steps / 10))
          throw std::runtime_error("more than " + std::to_string(skipped - 1) +
                                   " non-finite steps skipped; stopping");
        continue;
      }
      const bool have_checkpoint = fs::exists(checkpoint_path(o.out));
      std::fprintf(stderr, "\nattn train: the %s became %f at step %lld; stopping (use "
                   "--skip-nonfinite to skip such steps). %s %s\n", what.c_str(), value,
                   static_cast<long long>(state.step + 1),
                   have_checkpoint ? "The last checkpoint is kept untouched in" :
                                     "No checkpoint had been written yet in",
                   o.out.c_str());
      exit_code = 3;
      break;
    }
    const float lr = learning_rate(state.step, o.warmup, o.steps, o.lr, o.min_lr);
    optimizer.step(lr);
    ++state.step, ++steps_this_run;
    const double step_seconds = seconds_since(step_start);
    run.losses.push_back(loss_value);
    run.step_ms.push_back(step_seconds * 1e3);

    const bool last = state.step == o.steps;
    nlohmann::json line;
    if (state.step % o.log_interval == 0 || last || state.step == 1) {
      const double elapsed = seconds_since(t0);
      const double tok_s = tokens_per_step * steps_this_run / elapsed;
      line = {{"step", state.step}, {"loss", loss_value}, {"lr", lr},
              {"tokens_per_s", tok_s}, {"grad_norm", norm}, {"step_ms", step_seconds * 1e3}};
      if (!o.quiet) {
        const double eta = elapsed / steps_this_run * (o.steps - state.step);
        std::printf(tty ? "\rstep %6lld/%lld  loss %.4f  %8.0f tok/s  ETA %s   "
                        : "step %6lld/%lld  loss %.4f  %8.0f tok/s  ETA %s\n",
                    static_cast<long long>(state.step), static_cast<long long>(o.steps),
                    loss_value, tok_s, format_eta(eta).c_str());
        std::fflush(stdout);
      }
    }
    if (state.step % o.eval_interval == 0 || last) {
      const EvalResult ev = evaluate(model, *task, o.batch, o.eval_iters, o.seed + 999);
      if (line.is_null()) line = {{"step", state.step}, {"loss", loss_value}, {"lr", lr}};
      line["val_loss"] = ev.loss;
      line["val_ppl"] = std::exp(ev.loss);
      if (ev.accuracy >= 0) line["val_accuracy"] = ev.accuracy;
      run.val_loss = ev.loss, run.accuracy = ev.accuracy;
      if (!o.quiet) {
        std::printf("%sstep %6lld  val loss %.4f  ppl %.2f", tty ? "\n" : "",
                    static_cast<long long>(state.step), ev.loss, std::exp(ev.loss));
        if (ev.accuracy >= 0) std::printf("  accuracy %.2f%%", 100 * ev.accuracy);
        std::printf("\n");
      }
    }
    if (!line.is_null()) metrics << line.dump() << "\n" << std::flush;
    if (state.step % o.ckpt_interval == 0 || last) save();
    if (interrupted || (o.stop_after > 0 && steps_this_run >= o.stop_after)) {
      save();
      if (!o.quiet)
        std::printf("\nattn train: stopped at step %lld; checkpoint saved, continue with "
                    "--resume --out %s\n", static_cast<long long>(state.step), o.out.c_str());
      exit_code = interrupted ? 130 : 0;
      break;
    }
  }
  std::signal(SIGINT, previous_handler);
  if (summary) {
    run.variant = o.model.attention;
    run.tokens_per_step = static_cast<double>(tokens_per_step);
    run.parameters = model.parameter_count();
    run.peak_mb = static_cast<double>(allocator_stats().peak_bytes - bytes_before) / (1 << 20);
    run.seconds = seconds_since(t0);
    *summary = std::move(run);
  }
  if (!o.quiet && exit_code == 0 && state.step == o.steps)
    std::printf("attn train: done, %lld steps in %.1f s\n", static_cast<long long>(steps_this_run),
                seconds_since(t0));
  return exit_code;
}

}  // namespace attn
