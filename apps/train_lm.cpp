#include "apps/train_lm.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "apps/memory_estimate.h"
#include "apps/option_ranges.h"
#include "apps/options_json.h"
#include "apps/rank_resume.h"
#include "apps/run_options.h"
#include "apps/token_files.h"
#include "apps/trainer.h"
#include "apps/world.h"
#include "engine/bf16.h"
#include "engine/cpu_share.h"
#include "engine/parallel.h"
#include "engine/tape.h"
#include "nn/checkpoint.h"

namespace attn {

#define ATTN_OPTION_FIELDS(X)                                                                   \
  X(task) X(data) X(data_dir) X(vocab_size) X(val) X(tokenizer) X(val_fraction) X(copy_symbols) X(copy_min_len)           \
  X(copy_max_len) X(recall_keys) X(recall_values) X(recall_min_pairs) X(recall_max_pairs)       \
  X(model) X(batch) X(grad_accum) X(steps) X(warmup) X(lr) X(min_lr) X(weight_decay)                          \
  X(beta1) X(beta2) X(grad_clip) X(seed) X(threads) X(eval_interval) X(eval_iters)              \
  X(log_interval) X(ckpt_interval) X(stop_after) X(out) X(keep_checkpoints) X(init_from) X(ema) X(precision)

ATTN_DEFINE_OPTIONS_JSON(TrainOptions, ATTN_OPTION_FIELDS)

namespace {

// Everything that can be checked before training starts, so a bad option never costs a run
// (or a checkpoint).
void validate(const TrainOptions& o) {
  auto need = [](bool ok, const std::string& what) {
    if (!ok) throw std::invalid_argument(what);
  };
  need(o.task == "copy" || o.task == "recall" || o.task == "text" || o.task == "tokens",
       "--task must be 'copy', 'recall', 'text' or 'tokens', got '" + o.task + "'");
  need(o.task != "text" || !o.data.empty(), "--task text needs --data FILE");
  need(o.task != "tokens" || !o.data_dir.empty(), "--task tokens needs --data-dir DIR");
  need(o.data.empty() || o.data_dir.empty(), "give --data FILE or --data-dir DIR, not both");
  need(o.batch > 0, "--batch must be positive");
  need(o.steps > 0, "--steps must be positive");
  need(o.warmup >= 0, "--warmup must be >= 0");
  need(o.lr > 0 && std::isfinite(o.lr), "--lr must be a positive number");
  need(o.min_lr >= 0 && o.min_lr <= o.lr, "--min-lr must be in [0, lr]");
  need(o.weight_decay >= 0, "--weight-decay must be >= 0");
  need(o.beta1 >= 0 && o.beta1 < 1 && o.beta2 >= 0 && o.beta2 < 1, "betas must be in [0, 1)");
  need(o.grad_clip >= 0, "--grad-clip must be >= 0 (0 disables it)");
  need(o.keep_checkpoints >= 0, "--keep-checkpoints must be >= 0");
  need(o.ema >= 0 && o.ema < 1, "--ema must be in [0, 1)");
  need(o.eval_interval > 0 && o.eval_iters > 0 && o.log_interval > 0 && o.ckpt_interval > 0,
       "intervals and --eval-iters must be positive");
  o.model.validate();
  checked_precision(o.precision);  // bf16 without the hardware: refused before any data is read
}

// The language model as the trainer sees it: random batches of the task, next-token loss.
class LanguageModelTraining : public TrainingTask {
 public:
  LanguageModelTraining(const TrainOptions& o, const LMTask& task)
      : o_(o), task_(task), model_(o.model, o.seed) {}
  LanguageModel& model() { return model_; }
  ParameterArena& arena() override { return model_.arena(); }
  const ModelConfig& model_config() const override { return o_.model; }
  Rng& dropout_rng() override { return model_.dropout_rng(); }
  // Every rank draws the whole global batch (ranks x batch rows, the same draw everywhere)
  // and keeps its own rows: no indices travel, and 2 ranks x batch B see the batch that one
  // process with batch 2B (or with --grad-accum 2) sees.
  Tensor loss(int64_t, Rng& data_rng, int64_t& tokens, double& weight) override {
    const World& world = World::get();
    Batch b = task_.batch(false, o_.batch * world.size(), o_.model.context, data_rng);
    if (!world.single()) b = batch_rows(b, world.rank() * o_.batch, o_.batch);
    tokens = o_.batch * o_.model.context;
    weight = static_cast<double>(std::count_if(b.targets.values.begin(), b.targets.values.end(),
                                               [](int32_t t) { return t >= 0; }));
    return model_.loss(b.inputs, b.targets);
  }
  EvalReport evaluate() override {
    // Batches of the global batch's size: the ranks share them (attn::evaluate).
    const int64_t batch = o_.batch * World::get().size();
    const EvalResult ev = attn::evaluate(model_, task_, batch, o_.eval_iters, o_.seed + 999);
    EvalReport r;
    r.metrics = {{"val_loss", ev.loss}, {"val_ppl", std::exp(ev.loss)}};
    char text[128];
    std::snprintf(text, sizeof text, "val loss %.4f  ppl %.2f", ev.loss, std::exp(ev.loss));
    r.text = text;
    r.loss = ev.loss, r.accuracy = ev.accuracy;
    if (const double bytes = task_.val_bytes_per_token(); bytes > 0) {  // bits per byte
      const double bpb = ev.loss / std::log(2.0) / bytes;
      r.metrics["val_bpb"] = bpb;
      std::snprintf(text, sizeof text, "  bpb %.4f", bpb);
      r.text += text;
    }
    if (ev.accuracy >= 0) {
      r.metrics["val_accuracy"] = ev.accuracy;
      std::snprintf(text, sizeof text, "  accuracy %.2f%%", 100 * ev.accuracy);
      r.text += text;
    }
    return r;
  }

 private:
  const TrainOptions& o_;
  const LMTask& task_;
  LanguageModel model_;
};

TrainerOptions trainer_options(const TrainOptions& o) {
  TrainerOptions t;
  t.command = "train", t.out = o.out, t.seed = o.seed;
  t.steps = o.steps, t.grad_accum = o.grad_accum, t.warmup = o.warmup, t.lr = o.lr, t.min_lr = o.min_lr;
  t.grad_clip = o.grad_clip, t.ema = o.ema;
  t.adam = {o.beta1, o.beta2, 1e-8f, o.weight_decay};
  t.eval_interval = o.eval_interval, t.log_interval = o.log_interval;
  t.ckpt_interval = o.ckpt_interval, t.stop_after = o.stop_after;
  t.keep_checkpoints = o.keep_checkpoints, t.skip_nonfinite = o.skip_nonfinite,
  t.divergence = o.divergence, t.divergence_steps = o.divergence_steps, t.quiet = o.quiet;
  t.progress = o.progress;
  t.rank_timeout = o.rank_timeout, t.sync_check = o.sync_check, t.bucket_mb = o.bucket_mb;
  t.precision = o.precision;
  return t;
}

}  // namespace

std::unique_ptr<LMTask> make_task(const TrainOptions& o, const Tokenizer* fixed) {
  if (o.task == "copy") return std::make_unique<CopyTask>(o.copy_symbols, o.copy_min_len, o.copy_max_len);
  if (o.task == "recall")
    return std::make_unique<RecallTask>(o.recall_keys, o.recall_values, o.recall_min_pairs,
                                        o.recall_max_pairs);
  if (o.task == "tokens") return std::make_unique<TokenFileTask>(o.data_dir, o.vocab_size, o.model.context);
  if (fixed)
    return std::make_unique<TextTask>(o.data, o.val, *fixed, o.val_fraction, o.model.context);
  return std::make_unique<TextTask>(o.data, o.val, o.tokenizer, o.val_fraction, o.model.context);
}

// Data-parallel ranks evaluate every ranks-th batch (all draw every batch, so each sees the
// batches one process would) and sum what they found.
EvalResult evaluate(LanguageModel& model, const LMTask& task, int64_t batch, int64_t iters,
                    uint64_t seed) {
  NoGradGuard no_grad;
  const bool was_training = model.training();
  model.eval();
  Rng rng(seed);  // the same validation batches at every evaluation
  double loss = 0;
  int64_t correct = 0, scored = 0;
  World& world = World::get();
  for (int64_t i = 0; i < iters; ++i) {
    Batch b = task.batch(true, batch, model.config().context, rng);
    if (i % world.size() != world.rank()) continue;
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
  double sums[3] = {loss, static_cast<double>(correct), static_cast<double>(scored)};
  world.sum(sums, 3, "evaluation", -1);
  loss = sums[0], correct = static_cast<int64_t>(sums[1]), scored = static_cast<int64_t>(sums[2]);
  return {loss / iters, task.reports_accuracy() && scored ? double(correct) / scored : -1.0};
}

namespace {

// The options of a resumed run: the saved ones, with what the command line may change.
TrainOptions resumed_options(const TrainOptions& given, const Checkpoint& ckpt,
                             RunStart start) {
  nlohmann::json saved = checked_saved_options(ckpt);
  adapt_to_ranks(saved, ckpt, start, given.grad_accum, "train");
  TrainOptions o = resume_options(saved, nlohmann::json(given), start.given_fields,
                                  start.spellings)
                       .get<TrainOptions>();
  o.threads = given.threads, o.out = given.out, o.quiet = given.quiet;
  o.stop_after = given.stop_after, o.skip_nonfinite = given.skip_nonfinite;
  o.divergence = given.divergence, o.divergence_steps = given.divergence_steps;
  o.rank_timeout = given.rank_timeout, o.sync_check = given.sync_check;
  o.bucket_mb = given.bucket_mb;
  o.model = ckpt.config;
  if (o.steps < ckpt.state.step)
    throw std::invalid_argument("--steps " + std::to_string(o.steps) + " is behind the run, "
                                "which is at step " + std::to_string(ckpt.state.step));
  return o;
}

// --init-from: the model's shape comes from the checkpoint (dropout may change); a typed
// shape option that disagrees with it is refused.
void take_model_of(const Checkpoint& init, TrainOptions& o, const RunStart& start) {
  nlohmann::json saved_model = init.config;
  saved_model.erase("dropout");
  resume_options({{"model", saved_model}}, {{"model", o.model}}, start.given_fields,
                 start.spellings);
  const float dropout = o.model.dropout;
  o.model = init.config;
  o.model.dropout = dropout;
}

}  // namespace

int train_language_model(TrainOptions o, const RunStart& start, RunSummary* summary) {
  std::unique_ptr<Checkpoint> ckpt, init;
  if (start.resume) {
    ckpt = std::make_unique<Checkpoint>(read_run_checkpoint(o.out, "train"));
    o = resumed_options(o, *ckpt, start);
  } else if (!o.init_from.empty()) {
    init = std::make_unique<Checkpoint>(read_checkpoint(o.init_from));
    take_model_of(*init, o, start);
  }
  if (o.task == "copy") {
    o.model.vocab_size = o.copy_symbols + 2;
    o.model.context = std::max(o.model.context, 2 * o.copy_max_len + 1);
  }
  if (o.task == "recall") o.model.context = std::max(o.model.context, 4 * o.recall_max_pairs + 1);
  validate(o);
  if (o.threads > 0) set_threads(o.threads);

  std::unique_ptr<Tokenizer> saved_tokenizer;  // a resumed or initialising run's vocabulary
  const Checkpoint* source = ckpt ? ckpt.get() : init.get();
  if (source && o.task == "text") {
    const nlohmann::json& task_json = source->extra.contains("task") ? source->extra["task"] : nlohmann::json();
    if (!task_json.is_object() || !task_json.contains("tokenizer"))
      throw std::invalid_argument(source->path + " was not trained on text: its model has no "
                                  "tokenizer for --data");
    saved_tokenizer = std::make_unique<Tokenizer>(Tokenizer::of_checkpoint(*source));
  }
  auto task = make_task(o, saved_tokenizer.get());
  o.model.vocab_size = task->vocab_size();
  check_training_fits(o.model, o.batch, o.model.context, o.ema > 0, "train");
  LanguageModelTraining training(o, *task);
  if (init) load_parameters(*init, training.arena());  // fresh optimizer, schedule and data
  const nlohmann::json extra = {{"options", o}, {"task", task->describe()}};
  if (!o.quiet)
    std::printf("attn train: %s, %s attention, %lld parameters, %d threads -> %s\n",
                task->describe().value("kind", "?").c_str(), o.model.attention.c_str(),
                static_cast<long long>(training.model().parameter_count()), threads(),
                o.out.c_str());
  RunSummary run;
  const int code = run_trainer(training, trainer_options(o), extra, ckpt.get(), &run);
  if (summary) {
    run.variant = o.model.attention;
    if (run.last_evaluation.contains("val_loss")) run.val_loss = run.last_evaluation["val_loss"];
    run.accuracy = run.last_evaluation.value("val_accuracy", -1.0);
    *summary = std::move(run);
  }
  return code;
}

}  // namespace attn
