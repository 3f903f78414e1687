#include "apps/classify.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <numeric>
#include <stdexcept>

#include "apps/classify_data.h"
#include "apps/curriculum.h"
#include "apps/memory_estimate.h"
#include "apps/option_ranges.h"
#include "apps/options_json.h"
#include "apps/rank_resume.h"
#include "apps/trainer.h"
#include "apps/world.h"
#include "engine/bf16.h"
#include "engine/cpu_share.h"
#include "engine/parallel.h"
#include "engine/tape.h"
#include "nn/classifier.h"
#include "nn/json_input.h"

namespace attn {

#define ATTN_CLASSIFY_FIELDS(X)                                                                 \
  X(task) X(train_file) X(test_file) X(listops_min_len) X(listops_max_len) X(listops_train)     \
  X(listops_test) X(listops_train_min_len) X(tokenizer) X(vocab_words) X(pooling) X(model)      \
  X(batch) X(grad_accum) X(steps) X(warmup) X(bucket) X(curriculum) X(ema) X(lr) X(weight_decay) X(seed)      \
  X(threads) X(eval_interval) X(log_interval) X(ckpt_interval) X(keep_checkpoints) X(out) X(precision)

ATTN_DEFINE_OPTIONS_JSON(ClassifyOptions, ATTN_CLASSIFY_FIELDS)

namespace {

struct Evaluation {
  double accuracy = 0;
  double loss = 0;  // mean cross-entropy
  std::vector<std::vector<int64_t>> confusion;  // [true][predicted]
};

Evaluation evaluate(EncoderClassifier& model, const Dataset& d, int64_t classes, int64_t batch,
                    int32_t cls_token) {
  NoGradGuard no_grad;
  model.eval();
  Evaluation e;
  e.confusion.assign(classes, std::vector<int64_t>(classes, 0));
  int64_t correct = 0;
  double loss_sum = 0;
  std::vector<int64_t> order(d.labels.size());  // in length order: batches pad little
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) {
    return d.tokens[a].size() < d.tokens[b].size();
  });
  World& world = World::get();  // data-parallel ranks take every ranks-th batch, then sum
  for (int64_t i0 = 0; i0 < static_cast<int64_t>(d.labels.size()); i0 += batch) {
    if (i0 / batch % world.size() != world.rank()) continue;
    std::vector<int64_t> index;
    for (int64_t i = i0; i < std::min<int64_t>(i0 + batch, d.labels.size()); ++i) index.push_back(order[i]);
    Ids ids, labels;
    std::vector<int32_t> lengths;
    pack(d, index, model.config().context, cls_token, ids, lengths, labels);
    Tensor logits = model.forward(ids, lengths);
    share_cpu();
    for (size_t b = 0; b < index.size(); ++b) {
      const float* row = logits.data() + b * classes;
      const int64_t pred = std::max_element(row, row + classes) - row;
      double sum_exp = 0;  // -log softmax(row)[label], shifted by the row's maximum
      for (int64_t c = 0; c < classes; ++c) sum_exp += std::exp(double(row[c]) - row[pred]);
      loss_sum += std::log(sum_exp) + row[pred] - row[labels.values[b]];
      e.confusion[labels.values[b]][pred]++;
      correct += pred == labels.values[b];
    }
  }
  model.train();
  if (!world.single()) {
    std::vector<double> sums = {loss_sum, static_cast<double>(correct)};
    for (const auto& row : e.confusion) sums.insert(sums.end(), row.begin(), row.end());
    world.sum(sums.data(), static_cast<int64_t>(sums.size()), "evaluation", -1);
    loss_sum = sums[0], correct = static_cast<int64_t>(sums[1]);
    for (int64_t t = 0; t < classes; ++t)
      for (int64_t p = 0; p < classes; ++p)
        e.confusion[t][p] = static_cast<int64_t>(sums[2 + t * classes + p]);
  }
  e.accuracy = static_cast<double>(correct) / std::max<size_t>(1, d.labels.size());
  e.loss = loss_sum / std::max<size_t>(1, d.labels.size());
  return e;
}

// The classifier as the trainer sees it: batches drawn by length (with the curriculum),
// cross-entropy of the class logits, evaluation on the whole test set.
class ClassifierTraining : public TrainingTask {
 public:
  ClassifierTraining(const ClassifyOptions& o, const ClassificationData& data, int32_t cls_token)
      : o_(o), data_(data), cls_token_(cls_token),
        model_(o.model, data.classes, o.pooling, o.seed), by_length_(data.train.labels.size()) {
    std::iota(by_length_.begin(), by_length_.end(), 0);  // training examples, shortest first
    std::stable_sort(by_length_.begin(), by_length_.end(), [&](int64_t a, int64_t b) {
      return data.train.tokens[a].size() < data.train.tokens[b].size();
    });
  }
  EncoderClassifier& model() { return model_; }
  const std::vector<int64_t>& by_length() const { return by_length_; }
  const Evaluation& last() const { return last_; }
  ParameterArena& arena() override { return model_.arena(); }
  const ModelConfig& model_config() const override { return o_.model; }
  Rng& dropout_rng() override { return model_.dropout_rng(); }
  Tensor loss(int64_t step, Rng& data_rng, int64_t& tokens, double& weight) override {
    const int64_t pool = curriculum_pool(step, o_.curriculum,
                                         static_cast<int64_t>(by_length_.size()), o_.batch);
    // The global batch's draw, the same on every rank; this rank keeps its own slice.
    const World& world = World::get();
    std::vector<int64_t> index =
        draw_batch(by_length_, pool, o_.batch * world.size(), o_.bucket, data_rng);
    if (!world.single())
      index = std::vector<int64_t>(index.begin() + world.rank() * o_.batch,
                                   index.begin() + (world.rank() + 1) * o_.batch);
    Ids ids, labels;
    std::vector<int32_t> lengths;
    pack(data_.train, index, o_.model.context, cls_token_, ids, lengths, labels);
    tokens = static_cast<int64_t>(ids.values.size());
    weight = static_cast<double>(index.size());
    return cross_entropy(model_.forward(ids, lengths), labels);
  }
  EvalReport evaluate() override {
    last_ = attn::evaluate(model_, data_.test, data_.classes, o_.batch, cls_token_);
    char text[96];
    std::snprintf(text, sizeof text, "test loss %.4f  test accuracy %.2f%%", last_.loss,
                  100 * last_.accuracy);
    return {{{"test_accuracy", last_.accuracy}, {"test_loss", last_.loss}}, text, last_.loss,
            last_.accuracy};
  }

 private:
  const ClassifyOptions& o_;
  const ClassificationData& data_;
  int32_t cls_token_;
  EncoderClassifier model_;
  std::vector<int64_t> by_length_;
  Evaluation last_;
};

TrainerOptions trainer_options(const ClassifyOptions& o) {
  TrainerOptions t;
  t.command = "classify", t.out = o.out, t.seed = o.seed;
  t.steps = o.steps, t.grad_accum = o.grad_accum, t.warmup = o.warmup, t.lr = o.lr, t.min_lr = o.lr / 10;
  t.grad_clip = 1.0f, t.ema = o.ema;
  t.adam = {0.9f, 0.999f, 1e-8f, o.weight_decay};
  t.eval_interval = o.eval_interval, t.log_interval = o.log_interval;
  t.ckpt_interval = o.ckpt_interval, t.stop_after = o.stop_after;
  t.keep_checkpoints = o.keep_checkpoints, t.skip_nonfinite = o.skip_nonfinite,
  t.divergence = o.divergence, t.divergence_steps = o.divergence_steps, t.quiet = o.quiet;
  t.progress = o.progress;
  t.rank_timeout = o.rank_timeout, t.sync_check = o.sync_check, t.bucket_mb = o.bucket_mb;
  t.precision = o.precision;
  return t;
}

void validate(const ClassifyOptions& o) {
  if (o.batch < 1 || o.steps < 1 || o.warmup < 0 || !(o.lr > 0))
    throw std::invalid_argument("--batch, --steps and --lr must be positive");
  if (o.curriculum < 0) throw std::invalid_argument("--curriculum must be >= 0 steps");
  checked_precision(o.precision);  // bf16 without the hardware: refused before any data is read
  if (!(o.ema >= 0 && o.ema < 1)) throw std::invalid_argument("--ema must be in [0, 1)");
}

// Prints what the run is about: the data, the model and the trivial baselines.
void print_banner(const ClassifyOptions& o, const ClassificationData& data,
                  ClassifierTraining& training, double majority) {
  std::printf("attn classify: %s, %zu train / %zu test, %lld classes, %s attention, %lld "
              "parameters; majority-class test accuracy %.2f%%\n",
              o.task.c_str(), data.train.labels.size(), data.test.labels.size(),
              static_cast<long long>(data.classes), o.model.attention.c_str(),
              static_cast<long long>(training.model().parameter_count()), 100 * majority);
  if (data.outer_operator_baseline >= 0)
    std::printf("outer-operator shortcut (best label per first token, from the training set): "
                "%.2f%% test accuracy\n", 100 * data.outer_operator_baseline);
  const auto& by_length = training.by_length();
  auto train_length = [&](double q) {
    return data.train.tokens[by_length[static_cast<size_t>(q * (by_length.size() - 1))]].size();
  };
  std::printf("training lengths %zu..%zu (median %zu)%s%s\n", train_length(0), train_length(1),
              train_length(0.5), o.curriculum > 0 ? ", shortest first (--curriculum)" : "",
              o.ema > 0 ? "; evaluated with averaged weights (--ema)" : "");
}

// eval.json and the printed per-class table of the final evaluation.
void report(const ClassifyOptions& o, const ClassificationData& data, const Evaluation& ev,
            double majority, double seconds) {
  nlohmann::json per_class = nlohmann::json::array();
  for (int64_t c = 0; c < data.classes; ++c) {
    int64_t tp = ev.confusion[c][c], predicted = 0, actual = 0;
    for (int64_t k = 0; k < data.classes; ++k)
      predicted += ev.confusion[k][c], actual += ev.confusion[c][k];
    per_class.push_back({{"class", c},
                         {"precision", predicted ? double(tp) / predicted : 0.0},
                         {"recall", actual ? double(tp) / actual : 0.0},
                         {"support", actual}});
  }
  nlohmann::json result = {{"task", o.task}, {"attention", o.model.attention},
                           {"test_accuracy", ev.accuracy}, {"test_loss", ev.loss},
                           {"majority_baseline", majority}, {"per_class", per_class},
                           {"confusion", ev.confusion}, {"seconds", seconds}};
  if (data.outer_operator_baseline >= 0)
    result["outer_operator_baseline"] = data.outer_operator_baseline;
  write_json_file(o.out + "/eval.json", result);
  if (o.quiet) return;
  std::printf("class  precision  recall  support\n");
  for (const auto& pc : per_class)
    std::printf("%5lld  %9.3f  %6.3f  %7lld\n", pc["class"].get<long long>(),
                pc["precision"].get<double>(), pc["recall"].get<double>(),
                pc["support"].get<long long>());
  std::printf("confusion (rows: true class, columns: predicted)\n");
  for (const auto& row : ev.confusion) {
    for (int64_t v : row) std::printf("%6lld", static_cast<long long>(v));
    std::printf("\n");
  }
}

double majority_accuracy(const ClassificationData& data) {
  std::vector<int64_t> counts(data.classes, 0);
  for (int32_t l : data.test.labels) counts[l]++;
  return static_cast<double>(*std::max_element(counts.begin(), counts.end())) /
         static_cast<double>(data.test.labels.size());
}

// The data of the options, checked, and the model's vocabulary set from it.
ClassificationData prepared_data(ClassifyOptions& o, int32_t& cls_token) {
  ClassificationData data = load_classification_data(o);
  if (data.train.labels.empty() || data.test.labels.empty())
    throw std::runtime_error("the training or test set is empty");
  cls_token = o.pooling == "cls" ? static_cast<int32_t>(data.vocab) : -1;
  o.model.vocab_size = data.vocab + (cls_token >= 0 ? 1 : 0);
  o.model.causal = false;
  return data;
}

// --eval-only: a trained classifier on its run's test set (or --test FILE), with the
// averaged weights when its run kept them (--ema), as the run's own evaluations were.
int evaluate_checkpoint(const ClassifyOptions& given, const RunStart& start) {
  const Checkpoint ckpt = read_checkpoint(given.checkpoint);
  check_model_fits(ckpt.config, ckpt.path);
  const nlohmann::json* task = ckpt.extra.contains("task") ? &ckpt.extra["task"] : nullptr;
  if (!task || !task->is_object() || task->value("kind", "") != "classify")
    throw std::invalid_argument(given.checkpoint + " is not a classifier checkpoint (attn "
                                "classify writes those; use attn eval for language models)");
  ClassifyOptions o = saved_run_options<ClassifyOptions>(ckpt);
  if (!given.test_file.empty()) o.test_file = given.test_file;
  const bool typed_out = std::count(start.given_fields.begin(), start.given_fields.end(), "out");
  o.out = typed_out ? given.out : std::filesystem::path(given.checkpoint).parent_path().string();
  o.quiet = given.quiet, o.threads = given.threads;
  if (o.threads > 0) set_threads(o.threads);
  int32_t cls_token = -1;
  const ClassificationData data = prepared_data(o, cls_token);
  o.model = ckpt.config;
  ClassifierTraining training(o, data, cls_token);
  ParameterArena& arena = training.arena();
  const bool averaged = load_evaluation_weights(ckpt, arena);
  if (!o.quiet)
    std::printf("attn classify: %s on %zu test examples%s\n", given.checkpoint.c_str(),
                data.test.labels.size(), averaged ? " (averaged weights)" : "");
  const EvalReport r = training.evaluate();
  if (!o.quiet) std::printf("%s\n", r.text.c_str());
  std::filesystem::create_directories(o.out);
  report(o, data, training.last(), majority_accuracy(data), 0.0);
  return 0;
}

}  // namespace

int run_classify(ClassifyOptions o, const RunStart& start, RunSummary* summary) {
  if (o.eval_only) {
    if (o.checkpoint.empty()) throw std::invalid_argument("--eval-only needs --checkpoint FILE");
    return evaluate_checkpoint(o, start);
  }
  if (!o.checkpoint.empty())
    throw std::invalid_argument("--checkpoint is for --eval-only (continue a run with --resume)");
  std::unique_ptr<Checkpoint> ckpt;
  if (start.resume) {
    ckpt = std::make_unique<Checkpoint>(read_run_checkpoint(o.out, "classify"));
    const ClassifyOptions given = o;  // the saved run, with what the command line may change
    RunStart adapted = start;
    nlohmann::json saved = checked_saved_options(*ckpt);
    adapt_to_ranks(saved, *ckpt, adapted, given.grad_accum, "classify");
    o = resume_options(saved, nlohmann::json(given), adapted.given_fields, adapted.spellings)
            .get<ClassifyOptions>();
    o.threads = given.threads, o.out = given.out, o.quiet = given.quiet;
    o.stop_after = given.stop_after, o.skip_nonfinite = given.skip_nonfinite;
    o.divergence = given.divergence, o.divergence_steps = given.divergence_steps;
    o.rank_timeout = given.rank_timeout, o.sync_check = given.sync_check;
    o.bucket_mb = given.bucket_mb;
    if (o.steps < ckpt->state.step)
      throw std::invalid_argument("--steps " + std::to_string(o.steps) + " is behind the run, "
                                  "which is at step " + std::to_string(ckpt->state.step));
  }
  validate(o);
  if (o.threads > 0) set_threads(o.threads);
  int32_t cls_token = -1;
  const ClassificationData data = prepared_data(o, cls_token);
  check_training_fits(o.model, o.batch, o.model.context, o.ema > 0, "classify");
  ClassifierTraining training(o, data, cls_token);
  const double majority = majority_accuracy(data);
  if (!o.quiet) print_banner(o, data, training, majority);
  const nlohmann::json extra = {{"options", o}, {"task", {{"kind", "classify"}, {"classes", data.classes}}}};
  RunSummary run;
  const int code = run_trainer(training, trainer_options(o), extra, ckpt.get(), &run);
  if (run.finished && World::get().rank() == 0)  // eval.json and the table: rank 0 alone
    report(o, data, training.last(), majority, run.seconds);
  if (summary) {
    run.variant = o.model.attention;
    run.accuracy = training.last().accuracy;
    run.baselines["majority class"] = majority;
    if (data.outer_operator_baseline >= 0)
      run.baselines["outer-operator shortcut"] = data.outer_operator_baseline;
    *summary = std::move(run);
  }
  return code;
}

}  // namespace attn
