// Every attention variant through AttentionLayer: finite-difference gradients of the input and
// every parameter, causality for causal variants, the Linformer projection against plain
// loops, a fixed R without gradient, and bad specs.
#include "attention/linformer.h"
#include "nn/attention_layer.h"
#include "nn/transformer.h"
#include "tests/helpers.h"

using namespace attn;
using namespace attn::test;

namespace {

ModelConfig layer_config(const std::string& attention, bool causal) {
  ModelConfig c;
  c.vocab_size = 7, c.context = 10, c.n_layer = 1, c.n_head = 2, c.n_embd = 8;
  c.attention = attention, c.causal = causal;
  return c;
}

const std::vector<std::string> kCausal = {
    "softmax", "linear:chunk=3", "synth-dense", "synth-random", "synth-random-fixed",
    "synth-fact-random:r=2", "synth-fact-dense:a=3", "synth-random+softmax",
    "synth-dense+softmax"};
const std::vector<std::string> kEncoderOnly = {"linformer:k=4", "linformer:k=4,share=none",
                                               "linformer:k=4,share=kv"};

// A layer's parameter by its name on the layer ("synth_r", "proj_e", ...).
Tensor parameter(const AttentionLayer& layer, const std::string& name) {
  for (const auto& p : layer.parameters())
    if (p.name == name) return p.value;
  FAIL("no parameter " << name);
  return {};
}

}  // namespace

TEST_CASE("every variant's gradients (input and parameters) match finite differences") {
  std::vector<std::pair<std::string, bool>> cases;
  for (const auto& v : kCausal) cases.push_back({v, true}), cases.push_back({v, false});
  for (const auto& v : kEncoderOnly) cases.push_back({v, false});
  for (const auto& [spec, causal] : cases) {
    CAPTURE(spec);
    CAPTURE(causal);
    Rng rng(3);
    AttentionLayer layer(layer_config(spec, causal), rng, 0.3f);
    std::vector<Tensor> inputs = {random({2, 6, 8}, 4)};
    std::vector<std::string> names = {"x"};
    for (auto& p : layer.parameters()) {
      // Weights scaled up so that every path carries a visible gradient.
      for (int64_t i = 0; i < p.value.numel(); ++i) p.value.data()[i] *= 5.0f;
      inputs.push_back(p.value);
      names.push_back(p.name);
    }
    GradcheckOptions o;
    o.samples_per_input = 6;
    // Dense's relu makes kinks likely at the default step: a smaller step (and the checker's
    // kink detection) keeps the comparison to smooth points.
    if (spec.find("dense") != std::string::npos) o.step = 1e-3f;
    auto result = gradcheck([&](const std::vector<Tensor>& in) { return layer.forward(in[0]); }, inputs, o);
    INFO(result.report);
    CHECK(result.ok);
  }
}

TEST_CASE("causal variants: outputs at t ignore inputs after t") {
  for (const auto& spec : kCausal) {
    CAPTURE(spec);
    Rng rng(5);
    AttentionLayer layer(layer_config(spec, true), rng, 0.3f);
    Tensor x = random({1, 9, 8}, 6, 1, false);
    NoGradGuard no_grad;
    Tensor before = layer.forward(x);
    for (int64_t i = 5 * 8; i < x.numel(); ++i) x.data()[i] += 1.5f;  // positions 5..8
    Tensor after = layer.forward(x);
    for (int64_t i = 0; i < 5 * 8; ++i) CHECK(after.data()[i] == before.data()[i]);
    CHECK(max_abs_diff(after, before) > 0);
  }
}

TEST_CASE("a fixed random Synthesizer matrix gets no gradient and is not trained") {
  Rng rng(7);
  AttentionLayer layer(layer_config("synth-random-fixed", true), rng, 0.3f);
  Tensor x = random({2, 5, 8}, 8);
  backward(sum(mul(layer.forward(x), random({2, 5, 8}, 9, 1, false))));
  CHECK_FALSE(parameter(layer, "synth_r").requires_grad());
  CHECK_FALSE(parameter(layer, "synth_r").has_grad());
  CHECK(layer.c_attn.weight.has_grad());
  bool listed = false;
  for (const auto& p : layer.parameters())
    if (p.name == "synth_r") {
      listed = true;
      CHECK_FALSE(p.trainable);
    }
  CHECK(listed);
}

TEST_CASE("Linformer projects keys and values along the sequence as E K, F V") {
  Rng rng(11);
  AttentionLayer layer(layer_config("linformer:k=3,share=none", false), rng, 0.3f);
  Tensor x = random({1, 5, 8}, 12, 1, false);
  NoGradGuard no_grad;
  Tensor y = layer.forward(x);
  // Reference with loops: q, k, v from c_attn; K'_h = E_h[:, :5] K_h; softmax over 3 keys.
  const int64_t T = 5, H = 2, D = 4, C = 8, Kp = 3, L = 10;
  Tensor qkv = layer.c_attn.forward(x);
  Tensor heads_out = Tensor::zeros({1, T, C});
  const Tensor E = parameter(layer, "proj_e"), F = parameter(layer, "proj_f");
  for (int64_t h = 0; h < H; ++h) {
    double kp[3][4] = {}, vp[3][4] = {};
    for (int64_t r = 0; r < Kp; ++r)
      for (int64_t t = 0; t < T; ++t)
        for (int64_t d = 0; d < D; ++d) {
          kp[r][d] += E.data()[(h * Kp + r) * L + t] * qkv.data()[t * 3 * C + C + h * D + d];
          vp[r][d] += F.data()[(h * Kp + r) * L + t] * qkv.data()[t * 3 * C + 2 * C + h * D + d];
        }
    for (int64_t t = 0; t < T; ++t) {
      double s[3], mx = -1e30, z = 0;
      for (int64_t r = 0; r < Kp; ++r) {
        s[r] = 0;
        for (int64_t d = 0; d < D; ++d) s[r] += qkv.data()[t * 3 * C + h * D + d] * kp[r][d] / 2.0;
        mx = std::max(mx, s[r]);
      }
      for (double& e : s) z += (e = std::exp(e - mx));
      for (int64_t d = 0; d < D; ++d) {
        double o = 0;
        for (int64_t r = 0; r < Kp; ++r) o += s[r] / z * vp[r][d];
        heads_out.data()[t * C + h * D + d] = static_cast<float>(o);
      }
    }
  }
  CHECK(max_abs_diff(y, layer.c_proj.forward(heads_out)) < 1e-5);
}

TEST_CASE("bad attention specs and lengths give clear errors") {
  Rng rng(1);
  CHECK_THROWS_WITH(AttentionLayer(layer_config("linformer:k=4", true), rng, 0.1f),
                    doctest::Contains("cannot be causal"));
  CHECK_THROWS_WITH(AttentionLayer(layer_config("linformer:k=40", false), rng, 0.1f),
                    doctest::Contains("exceeds the maximum length"));
  CHECK_THROWS_WITH(AttentionLayer(layer_config("linformer:share=sideways", false), rng, 0.1f),
                    doctest::Contains("share must be none, headwise, kv or layerwise"));
  CHECK_THROWS_WITH(AttentionLayer(layer_config("linformer:k=4,share=layerwise", false), rng, 0.1f),
                    doctest::Contains("needs a model that owns"));
  CHECK_THROWS_WITH(AttentionLayer(layer_config("synth-fact-random:r=zero", true), rng, 0.1f),
                    doctest::Contains("r must be a positive integer"));
  CHECK_THROWS_WITH(AttentionLayer(layer_config("linear:k=3", true), rng, 0.1f),
                    doctest::Contains("unknown option 'k' for linear"));
  CHECK_THROWS_WITH(AttentionLayer(layer_config("flash", true), rng, 0.1f),
                    doctest::Contains("unknown attention variant 'flash'"));
  AttentionLayer layer(layer_config("synth-random", true), rng, 0.1f);
  CHECK_THROWS_WITH(layer.forward(Tensor::zeros({1, 11, 8})),
                    doctest::Contains("sequence length 11 exceeds the maximum length L = 10"));
}

TEST_CASE("every causal variant generates token by token exactly as the full forward") {
  // Softmax reads its key-value cache, linear attention its RNN state, the Synthesizers row t
  // of their logits (Random: R[h, t, :t+1]; Dense: one MLP row) and the mixtures both.
  std::vector<std::string> specs = kCausal;
  for (const auto& entry : attention_variants())  // every registered causal variant is here
    if (entry.causal) {
      bool listed = false;
      for (const auto& s : kCausal) listed |= s.rfind(entry.name, 0) == 0;
      CHECK_MESSAGE(listed, entry.name << " is missing from kCausal");
    }
  for (const auto& spec : specs) {
    CAPTURE(spec);
    ModelConfig c = layer_config(spec, true);
    c.n_layer = 2;
    LanguageModel model(c, 3);
    REQUIRE(model.supports_step());
    model.eval();
    Ids ids{{1, 9}, {1, 5, 2, 6, 0, 3, 3, 4, 1}};
    Tensor full;
    {
      NoGradGuard no_grad;
      full = model.forward(ids);
    }
    auto caches = model.new_caches();
    for (int t = 0; t < 9; ++t) {
      const auto logits = model.step(ids.values[t], caches);
      for (int v = 0; v < 7; ++v)
        CHECK(logits[v] == doctest::Approx(full.data()[t * 7 + v]).epsilon(1e-4));
    }
  }
}

TEST_CASE("attention maps: rows sum to 1, causal maps see no future, and they make the output") {
  std::vector<std::pair<std::string, bool>> cases;
  for (const auto& v : kCausal) cases.push_back({v, true}), cases.push_back({v, false});
  for (const auto& v : kEncoderOnly) cases.push_back({v, false});
  for (const auto& [variant, causal] : cases) {
    CAPTURE(variant);
    CAPTURE(causal);
    Rng rng(21);
    AttentionLayer layer(layer_config(variant, causal), rng, 0.3f);
    const int64_t B = 2, T = 7, H = 2, C = 8, D = 4;
    Tensor x = random({B, T, C}, 22, 1, false);
    Tensor w = layer.weights(x);
    const bool linformer = variant.rfind("linformer", 0) == 0;
    const int64_t K = linformer ? 4 : T;
    REQUIRE(w.shape() == Shape{B, H, T, K});
    for (int64_t row = 0; row < B * H * T; ++row) {
      double total = 0;
      for (int64_t j = 0; j < K; ++j) {
        const float a = w.data()[row * K + j];
        CHECK(a >= 0.0f);
        if (causal && j > row % T) CHECK(a == 0.0f);
        total += a;
      }
      CHECK(total == doctest::Approx(1.0).epsilon(1e-5));
    }
    // The layer's output is c_proj(weights @ values), values being v (Linformer: F v).
    NoGradGuard no_grad;
    Tensor qkv = layer.c_attn.forward(x);
    const int64_t n = qkv.size(2) / C;
    Tensor v = permute(reshape(slice(qkv, 2, (n - 1) * C, C), {B, T, H, D}), {0, 2, 1, 3});
    v = layer.variant().weighted_values(v);  // Linformer: F v
    Tensor mixed = reshape(permute(matmul(w, v), {0, 2, 1, 3}), {B, T, C});
    CHECK(max_abs_diff(layer.forward(x), layer.c_proj.forward(mixed)) < 1e-4);
  }
}
