// Encoder classifier: padding never leaks into attention or pooling (every non-causal
// variant), and a short training run learns far above chance.
#include "nn/classifier.h"
#include "nn/optim.h"
#include "tests/helpers.h"

using namespace attn;
using namespace attn::test;

namespace {

ModelConfig small(const std::string& attention) {
  ModelConfig c;
  c.vocab_size = 12, c.context = 12, c.n_layer = 2, c.n_head = 2, c.n_embd = 16;
  c.attention = attention;
  return c;
}

}  // namespace

TEST_CASE("padded positions never change the logits, for every non-causal variant") {
  for (const char* spec : {"softmax", "linear", "linformer:k=4", "linformer:k=4,share=none",
                           "linformer:k=4,share=kv", "linformer:k=4,share=layerwise",
                           "synth-dense", "synth-random", "synth-random-fixed",
                           "synth-fact-random:r=2", "synth-fact-dense:a=3",
                           "synth-random+softmax", "synth-dense+softmax"})
    for (const char* pooling : {"mean", "cls"}) {
      CAPTURE(spec);
      CAPTURE(pooling);
      EncoderClassifier model(small(spec), 3, pooling, 5);
      model.eval();
      Ids a{{2, 12}, std::vector<int32_t>(24)}, b = a;
      Rng rng(6);
      for (size_t i = 0; i < a.values.size(); ++i) {
        a.values[i] = static_cast<int32_t>(rng.below(12));
        b.values[i] = (i % 12) < (i < 12 ? 5u : 9u) ? a.values[i] : static_cast<int32_t>(rng.below(12));
      }
      NoGradGuard no_grad;
      Tensor la = model.forward(a, {5, 9}), lb = model.forward(b, {5, 9});
      CHECK(max_abs_diff(la, lb) < 1e-6);
    }
}

TEST_CASE("a short classification run learns far above chance (does 7 occur?)") {
  EncoderClassifier model(small("softmax"), 2, "mean", 7);
  AdamW opt(model.arena(), {0.9f, 0.99f, 1e-8f, 0.0f});
  Rng rng(8);
  auto batch = [&](int64_t B, Ids& ids, std::vector<int32_t>& lengths, Ids& labels) {
    ids = {{B, 12}, std::vector<int32_t>(B * 12, 11)};  // 11 = padding token
    lengths.assign(B, 0);
    labels = {{B}, std::vector<int32_t>(B, 0)};
    for (int64_t b = 0; b < B; ++b) {
      lengths[b] = 3 + static_cast<int32_t>(rng.below(8));
      for (int32_t t = 0; t < lengths[b]; ++t) {
        ids.values[b * 12 + t] = static_cast<int32_t>(rng.below(10));
        labels.values[b] |= ids.values[b * 12 + t] == 7;
      }
    }
  };
  Ids ids, labels;
  std::vector<int32_t> lengths;
  for (int step = 0; step < 300; ++step) {
    batch(32, ids, lengths, labels);
    model.arena().zero_grad();
    backward(cross_entropy(model.forward(ids, lengths), labels));
    opt.step(3e-3f);
  }
  model.eval();
  NoGradGuard no_grad;
  batch(1000, ids, lengths, labels);
  Tensor logits = model.forward(ids, lengths);
  int correct = 0, positives = 0;
  for (int b = 0; b < 1000; ++b) {
    correct += (logits.data()[2 * b + 1] > logits.data()[2 * b]) == (labels.values[b] == 1);
    positives += labels.values[b];
  }
  const double majority = std::max(positives, 1000 - positives) / 1000.0;
  MESSAGE("accuracy " << correct / 1000.0 << " vs majority class " << majority);
  CHECK(correct / 1000.0 > majority + 0.25);
}

TEST_CASE("classifier input errors") {
  EncoderClassifier model(small("softmax"), 3, "mean", 1);
  CHECK_THROWS_WITH(model.forward(Ids{{1, 13}, std::vector<int32_t>(13)}, {13}),
                    doctest::Contains("exceeds the context 12"));
  CHECK_THROWS_WITH(model.forward(Ids{{1, 4}, std::vector<int32_t>(4)}, {0}),
                    doctest::Contains("a length of 0 is outside [1, 4]"));
  CHECK_THROWS_WITH(EncoderClassifier(small("softmax"), 3, "max", 1),
                    doctest::Contains("pooling must be 'mean' or 'cls'"));
}

TEST_CASE("Linformer share=layerwise: the one projection's gradient sums every layer's uses") {
  // The model owns one [k, L] projection that every layer uses as both E and F; its gradient
  // must collect all 2 x n_layer uses (finite differences through the whole classifier).
  EncoderClassifier model(small("linformer:k=4,share=layerwise"), 3, "mean", 5);
  REQUIRE(model.layerwise_projection.defined());
  for (auto& p : model.parameters())  // larger weights: every path carries a visible gradient
    for (int64_t i = 0; i < p.value.numel(); ++i) p.value.data()[i] *= 5.0f;
  Ids ids{{2, 12}, std::vector<int32_t>(24)};
  Rng rng(6);
  for (auto& id : ids.values) id = static_cast<int32_t>(rng.below(12));
  GradcheckOptions o;
  o.samples_per_input = 12;
  CHECK_GRADCHECK([&](const std::vector<Tensor>&) { return model.forward(ids, {12, 7}); },
                  std::vector<Tensor>{model.layerwise_projection}, o);
}
