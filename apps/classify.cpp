#include "apps/classify.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <numeric>
#include <nlohmann/json.hpp>
#include <tuple>
#include <stdexcept>
#include <unordered_map>

#include "apps/csv.h"
#include "apps/curriculum.h"
#include "apps/listops.h"
#include "engine/allocator.h"
#include "engine/cpu_share.h"
#include "engine/parallel.h"
#include "engine/tape.h"
#include "nn/classifier.h"
#include "nn/optim.h"
#include "nn/weight_average.h"

namespace attn {
namespace {

struct Dataset {
  std::vector<std::vector<int32_t>> tokens;  // ids >= 1 (0 is padding)
  std::vector<int32_t> labels;
};

struct Task {
  Dataset train, test;
  int64_t vocab = 0, classes = 0;
  double outer_operator_baseline = -1;  // ListOps only: see listops::outer_operator_baseline
};

Dataset from_listops(const std::vector<listops::Example>& examples) {
  Dataset d;
  for (const auto& ex : examples) d.tokens.push_back(ex.tokens), d.labels.push_back(ex.label);
  return d;
}

std::vector<std::string> words_of(const std::string& text) {
  std::vector<std::string> words;
  std::string w;
  for (unsigned char c : text) {
    if (std::isalnum(c)) w += static_cast<char>(std::tolower(c));
    else if (!w.empty()) words.push_back(w), w.clear();
  }
  if (!w.empty()) words.push_back(w);
  return words;
}

Task load_task(const ClassifyOptions& o) {
  Task t;
  if (o.task == "listops") {
    std::vector<listops::Example> train, test;
    if (!o.train_file.empty()) {
      if (o.test_file.empty()) throw std::invalid_argument("--train for listops needs --test too");
      train = listops::read_tsv(o.train_file), test = listops::read_tsv(o.test_file);
    } else {
      listops::GeneratorOptions g;
      g.min_length = o.listops_min_len, g.max_length = o.listops_max_len, g.seed = o.seed;
      const int64_t train_min = o.listops_train_min_len < 0 ? o.listops_min_len : o.listops_train_min_len;
      std::tie(train, test) = listops::generate_split(o.listops_train, o.listops_test, g, train_min);
    }
    t.train = from_listops(train), t.test = from_listops(test);
    t.outer_operator_baseline = listops::outer_operator_baseline(train, test);
    t.vocab = listops::kVocabSize, t.classes = 10;
    return t;
  }
  if (o.task != "csv") throw std::invalid_argument("--task must be listops or csv, got '" + o.task + "'");
  if (o.train_file.empty() || o.test_file.empty())
    throw std::invalid_argument("--task csv needs --train FILE and --test FILE");
  const auto train = read_labeled_csv(o.train_file), test = read_labeled_csv(o.test_file);
  for (const auto& r : train) t.classes = std::max<int64_t>(t.classes, r.label + 1);
  for (const auto& r : test)
    if (r.label >= t.classes)
      throw std::runtime_error(o.test_file + ": label " + std::to_string(r.label) +
                               " never occurs in the training file");
  if (o.tokenizer == "byte") {
    auto encode = [](const std::vector<LabeledText>& rows, Dataset& d) {
      for (const auto& r : rows) {
        std::vector<int32_t> ids;
        for (unsigned char c : r.text) ids.push_back(1 + c);
        if (ids.empty()) ids.push_back(1);
        d.tokens.push_back(ids), d.labels.push_back(r.label);
      }
    };
    encode(train, t.train), encode(test, t.test);
    t.vocab = 257;
  } else if (o.tokenizer == "word") {
    std::unordered_map<std::string, int64_t> counts;
    for (const auto& r : train)
      for (const auto& w : words_of(r.text)) counts[w]++;
    std::vector<std::pair<std::string, int64_t>> sorted(counts.begin(), counts.end());
    std::sort(sorted.begin(), sorted.end(), [](const auto& a, const auto& b) {
      return a.second != b.second ? a.second > b.second : a.first < b.first;
    });
    if (static_cast<int64_t>(sorted.size()) > o.vocab_words) sorted.resize(o.vocab_words);
    std::unordered_map<std::string, int32_t> id;  // 0 padding, 1 unknown word
    for (size_t i = 0; i < sorted.size(); ++i) id[sorted[i].first] = static_cast<int32_t>(i + 2);
    auto encode = [&](const std::vector<LabeledText>& rows, Dataset& d) {
      for (const auto& r : rows) {
        std::vector<int32_t> ids;
        for (const auto& w : words_of(r.text)) {
          auto it = id.find(w);
          ids.push_back(it == id.end() ? 1 : it->second);
        }
        if (ids.empty()) ids.push_back(1);
        d.tokens.push_back(ids), d.labels.push_back(r.label);
      }
    };
    encode(train, t.train), encode(test, t.test);
    t.vocab = static_cast<int64_t>(sorted.size()) + 2;
  } else {
    throw std::invalid_argument("--tokenizer must be byte or word for csv, got '" + o.tokenizer + "'");
  }
  return t;
}

// Packs the examples d[index[b]] into ids [B, T] and lengths, where T is the longest of them
// (capped at max_T; longer inputs are cut), so short batches cost less; with CLS pooling the
// first position holds the CLS token (id vocab).
void pack(const Dataset& d, const std::vector<int64_t>& index, int64_t max_T, int32_t cls_token,
          Ids& ids, std::vector<int32_t>& lengths, Ids& labels) {
  const int64_t B = static_cast<int64_t>(index.size());
  int64_t T = 1;
  for (int64_t i : index)
    T = std::max<int64_t>(T, static_cast<int64_t>(d.tokens[i].size()) + (cls_token >= 0 ? 1 : 0));
  T = std::min(T, max_T);
  ids = {{B, T}, std::vector<int32_t>(B * T, 0)};
  labels = {{B}, std::vector<int32_t>(B)};
  lengths.assign(B, 0);
  for (int64_t b = 0; b < B; ++b) {
    const auto& src = d.tokens[index[b]];
    int64_t t = 0;
    if (cls_token >= 0) ids.values[b * T + t++] = cls_token;
    for (size_t i = 0; i < src.size() && t < T; ++i) ids.values[b * T + t++] = src[i];
    lengths[b] = static_cast<int32_t>(t);
    labels.values[b] = d.labels[index[b]];
  }
}

// The examples of one training step. Without bucketing: B uniform draws. With bucketing: B
// neighbours in length order from a uniform start, so a batch pads to about its own length
// (ListOps 100..500: roughly half the padded tokens of uniform batches).
// Only the first `pool` entries of `by_length` are drawn from (the length curriculum).
std::vector<int64_t> draw_batch(const std::vector<int64_t>& by_length, int64_t pool, int64_t B,
                                bool bucket, Rng& rng) {
  const int64_t N = pool;
  std::vector<int64_t> index(B);
  if (!bucket || N < B) {
    for (auto& i : index) i = by_length[rng.below(N)];
    return index;
  }
  const auto start = static_cast<int64_t>(rng.below(N - B + 1));
  for (int64_t b = 0; b < B; ++b) index[b] = by_length[start + b];
  return index;
}

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
  for (int64_t i0 = 0; i0 < static_cast<int64_t>(d.labels.size()); i0 += batch) {
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
  e.accuracy = static_cast<double>(correct) / std::max<size_t>(1, d.labels.size());
  e.loss = loss_sum / std::max<size_t>(1, d.labels.size());
  return e;
}

}  // namespace

int run_classify(ClassifyOptions o, RunSummary* summary) {
  if (o.threads > 0) set_threads(o.threads);
  if (o.batch < 1 || o.steps < 1 || o.warmup < 0 || !(o.lr > 0))
    throw std::invalid_argument("--batch, --steps and --lr must be positive");
  if (o.curriculum < 0) throw std::invalid_argument("--curriculum must be >= 0 steps");
  if (!(o.ema >= 0 && o.ema < 1)) throw std::invalid_argument("--ema must be in [0, 1)");
  const Task task = load_task(o);
  if (task.train.labels.empty() || task.test.labels.empty())
    throw std::runtime_error("the training or test set is empty");
  const int32_t cls_token = o.pooling == "cls" ? static_cast<int32_t>(task.vocab) : -1;
  o.model.vocab_size = task.vocab + (cls_token >= 0 ? 1 : 0);
  o.model.causal = false;
  EncoderClassifier model(o.model, task.classes, o.pooling, o.seed);
  AdamW opt(model.arena(), {0.9f, 0.999f, 1e-8f, o.weight_decay});
  std::unique_ptr<WeightAverage> average;  // --ema: evaluations use the averaged weights
  if (o.ema > 0) average = std::make_unique<WeightAverage>(model.arena(), o.ema);
  std::filesystem::create_directories(o.out);
  std::ofstream metrics(o.out + "/metrics.jsonl");
  Rng rng(o.seed + 100);
  std::vector<int64_t> counts(task.classes, 0);
  for (int32_t l : task.test.labels) counts[l]++;
  const double majority =
      static_cast<double>(*std::max_element(counts.begin(), counts.end())) / task.test.labels.size();
  if (!o.quiet)
    std::printf("attn classify: %s, %zu train / %zu test, %lld classes, %s attention, %lld "
                "parameters; majority-class test accuracy %.2f%%\n",
                o.task.c_str(), task.train.labels.size(), task.test.labels.size(),
                static_cast<long long>(task.classes), o.model.attention.c_str(),
                static_cast<long long>(model.parameter_count()), 100 * majority);
  if (!o.quiet && task.outer_operator_baseline >= 0)
    std::printf("outer-operator shortcut (best label per first token, from the training set): "
                "%.2f%% test accuracy\n", 100 * task.outer_operator_baseline);
  std::vector<int64_t> by_length(task.train.labels.size());  // training examples, shortest first
  std::iota(by_length.begin(), by_length.end(), 0);
  std::stable_sort(by_length.begin(), by_length.end(), [&](int64_t a, int64_t b) {
    return task.train.tokens[a].size() < task.train.tokens[b].size();
  });
  auto train_length = [&](double q) {
    return task.train.tokens[by_length[static_cast<size_t>(q * (by_length.size() - 1))]].size();
  };
  if (!o.quiet)
    std::printf("training lengths %zu..%zu (median %zu)%s%s\n", train_length(0), train_length(1),
                train_length(0.5), o.curriculum > 0 ? ", shortest first (--curriculum)" : "",
                average ? "; evaluated with averaged weights (--ema)" : "");
  const auto t0 = std::chrono::steady_clock::now();
  reset_peak_bytes();
  const size_t bytes_before = allocator_stats().bytes_in_use;
  RunSummary run;
  double tokens = 0;
  Evaluation ev;
  for (int64_t step = 0; step < o.steps; ++step) {
    share_cpu();
    const auto step_start = std::chrono::steady_clock::now();
    const int64_t pool = curriculum_pool(step, o.curriculum, static_cast<int64_t>(by_length.size()), o.batch);
    const std::vector<int64_t> index = draw_batch(by_length, pool, o.batch, o.bucket, rng);
    Ids ids, labels;
    std::vector<int32_t> lengths;
    pack(task.train, index, o.model.context, cls_token, ids, lengths, labels);
    model.arena().zero_grad();
    Tensor loss = cross_entropy(model.forward(ids, lengths), labels);
    const float loss_value = loss.item();
    if (!std::isfinite(loss_value)) {
      clear_tape();
      throw std::runtime_error("the loss became " + std::to_string(loss_value) + " at step " +
                               std::to_string(step + 1));
    }
    backward(loss);
    clip_grad_norm(model.arena(), 1.0);
    const float lr = learning_rate(step, o.warmup, o.steps, o.lr, o.lr / 10);
    opt.step(lr);
    if (average) average->update();
    run.losses.push_back(loss_value);
    run.step_ms.push_back(
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - step_start).count());
    tokens += static_cast<double>(ids.values.size());
    nlohmann::json line = {{"step", step + 1}, {"loss", loss_value}, {"lr", lr}};
    if ((step + 1) % o.eval_interval == 0 || step + 1 == o.steps) {
      AveragedWeightsScope averaged(average.get());
      ev = evaluate(model, task.test, task.classes, o.batch, cls_token);
      line["test_accuracy"] = ev.accuracy;
      line["test_loss"] = ev.loss;
      if (!o.quiet)
        std::printf("step %6lld  loss %.4f  test loss %.4f  test accuracy %.2f%%  (%.0f s)\n",
                    static_cast<long long>(step + 1), loss_value, ev.loss, 100 * ev.accuracy,
                    std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    }
    metrics << line.dump() << "\n";
  }
  // Per-class precision and recall, the confusion matrix.
  nlohmann::json per_class = nlohmann::json::array();
  for (int64_t c = 0; c < task.classes; ++c) {
    int64_t tp = ev.confusion[c][c], predicted = 0, actual = 0;
    for (int64_t k = 0; k < task.classes; ++k) predicted += ev.confusion[k][c], actual += ev.confusion[c][k];
    per_class.push_back({{"class", c},
                         {"precision", predicted ? double(tp) / predicted : 0.0},
                         {"recall", actual ? double(tp) / actual : 0.0},
                         {"support", actual}});
  }
  nlohmann::json result = {{"task", o.task}, {"attention", o.model.attention},
                           {"test_accuracy", ev.accuracy}, {"test_loss", ev.loss},
                           {"majority_baseline", majority},
                           {"per_class", per_class}, {"confusion", ev.confusion},
                           {"seconds", std::chrono::duration<double>(
                                           std::chrono::steady_clock::now() - t0).count()}};
  if (task.outer_operator_baseline >= 0) result["outer_operator_baseline"] = task.outer_operator_baseline;
  std::ofstream(o.out + "/eval.json") << result.dump(2) << "\n";
  if (summary) {
    run.variant = o.model.attention;
    run.accuracy = ev.accuracy;
    run.tokens_per_step = tokens / o.steps;
    run.parameters = model.parameter_count();
    run.peak_mb = static_cast<double>(allocator_stats().peak_bytes - bytes_before) / (1 << 20);
    run.seconds = result["seconds"].get<double>();
    run.baselines["majority class"] = majority;
    if (task.outer_operator_baseline >= 0)
      run.baselines["outer-operator shortcut"] = task.outer_operator_baseline;
    *summary = std::move(run);
  }
  if (!o.quiet) {
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
  return 0;
}

}  // namespace attn
