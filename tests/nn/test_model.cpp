// The language model end to end: gradients through the whole model, the golden first losses,
// KV-cache generation against full recomputation, and checkpoint round trips.
#include <filesystem>
#include <fstream>

#include "nn/checkpoint.h"
#include "nn/optim.h"
#include "nn/transformer.h"
#include "tests/helpers.h"

using namespace attn;
using namespace attn::test;

namespace {

ModelConfig tiny_config() {
  ModelConfig c;
  c.vocab_size = 11, c.context = 16, c.n_layer = 2, c.n_head = 2, c.n_embd = 16;
  return c;
}

Ids random_ids(int64_t B, int64_t T, int64_t V, uint64_t seed) {
  Rng rng(seed);
  Ids ids{{B, T}, std::vector<int32_t>(B * T)};
  for (auto& v : ids.values) v = static_cast<int32_t>(rng.below(V));
  return ids;
}

std::string temp_path(const std::string& name) {
  return (std::filesystem::temp_directory_path() / ("attn_test_" + name)).string();
}

}  // namespace

TEST_CASE("parameter names follow the PyTorch convention and live in one arena") {
  LanguageModel model(tiny_config(), 1);
  const auto params = model.parameters();
  std::vector<std::string> names;
  for (const auto& p : params) names.push_back(p.name);
  CHECK(names.front() == "wte.weight");
  CHECK(std::find(names.begin(), names.end(), "blocks.1.attn.c_attn.weight") != names.end());
  CHECK(std::find(names.begin(), names.end(), "blocks.0.mlp.c_proj.bias") != names.end());
  CHECK(std::find(names.begin(), names.end(), "ln_f.weight") != names.end());
  for (size_t i = 0; i < params.size(); ++i)
    CHECK(params[i].value.data() == model.arena().values() + model.arena().offset_of(i));
  // 11*16 + 16*16 + 2 * (2*16*2 + 16*48+48 + 16*16+16 + 16*64+64 + 64*16+16) + 2*16
  CHECK(model.parameter_count() == 176 + 256 + 2 * (64 + 816 + 272 + 1088 + 1040) + 32);
}

TEST_CASE("gradients of the whole model (tied embeddings used twice) match finite differences") {
  LanguageModel model(tiny_config(), 2);
  const Ids ids = random_ids(2, 8, 11, 3), targets = random_ids(2, 8, 11, 4);
  model.arena().zero_grad();
  backward(model.loss(ids, targets));
  // Check a sample of elements of each parameter, in double-accumulated central differences.
  NoGradGuard no_grad;
  Rng pick(5);
  const float h = 1e-2f;
  for (size_t i = 0; i < model.arena().parameters().size(); ++i) {
    Tensor p = model.arena().parameters()[i].value;
    for (int s = 0; s < 3; ++s) {
      const int64_t j = static_cast<int64_t>(pick.below(p.numel()));
      const float saved = p.data()[j];
      p.data()[j] = saved + h;
      const double up = model.loss(ids, targets).item();
      p.data()[j] = saved - h;
      const double down = model.loss(ids, targets).item();
      p.data()[j] = saved;
      const double numeric = (up - down) / (2 * h);
      CAPTURE(model.arena().parameters()[i].name);
      CHECK(p.grad().data()[j] == doctest::Approx(numeric).epsilon(0.05).scale(1e-3 / 0.05));
    }
  }
}

TEST_CASE("golden losses: the first 10 steps of a seeded tiny LM stay put, and the loss falls") {
  // Saved from this implementation (same with 1 and 2 threads); a change beyond 2e-3 means
  // the math changed.
  const double golden[10] = {2.43405, 2.35632, 2.29264, 2.22646, 2.17184,
                             2.12519, 2.08126, 2.03865, 1.99726, 1.9565};
  LanguageModel model(tiny_config(), 7);
  AdamW opt(model.arena(), {});
  // A learnable pattern: each sequence counts up modulo 11.
  Ids ids{{4, 16}, std::vector<int32_t>(64)}, targets = ids;
  for (int b = 0; b < 4; ++b)
    for (int t = 0; t < 16; ++t) {
      ids.values[b * 16 + t] = (b * 3 + t) % 11;
      targets.values[b * 16 + t] = (b * 3 + t + 1) % 11;
    }
  std::vector<double> losses;
  for (int step = 0; step < 10; ++step) {
    model.arena().zero_grad();
    Tensor loss = model.loss(ids, targets);
    losses.push_back(loss.item());
    backward(loss);
    clip_grad_norm(model.arena(), 1.0);
    opt.step(3e-3f);
  }
  for (int i = 0; i < 10; ++i) {
    CAPTURE(i);
    CHECK(std::abs(losses[i] - golden[i]) < 2e-3);
  }
  CHECK(losses[9] < losses[0] - 0.1);
}

TEST_CASE("KV-cache generation equals full recomputation") {
  LanguageModel model(tiny_config(), 9);
  model.eval();
  const Ids ids = random_ids(1, 12, 11, 10);
  Tensor full;
  {
    NoGradGuard no_grad;
    full = model.forward(ids);  // [1, 12, V]
  }
  auto caches = model.new_caches();
  for (int t = 0; t < 12; ++t) {
    const auto logits = model.step(ids.values[t], caches);
    for (int v = 0; v < 11; ++v) CHECK(logits[v] == doctest::Approx(full.data()[t * 11 + v]).epsilon(1e-4));
  }
}

TEST_CASE("checkpoint round trip is bit-exact for parameters and optimizer state") {
  LanguageModel a(tiny_config(), 11);
  AdamW opt_a(a.arena(), {});
  const Ids ids = random_ids(2, 8, 11, 12), targets = random_ids(2, 8, 11, 13);
  for (int s = 0; s < 3; ++s) {
    a.arena().zero_grad();
    backward(a.loss(ids, targets));
    opt_a.step(1e-3f);
  }
  TrainState st;
  st.step = 3;
  st.data_rng = Rng(99).state();
  const std::string path = temp_path("roundtrip.safetensors");
  save_checkpoint(path, a.config(), a.arena(), &opt_a, st, {{"note", "test"}});

  const Checkpoint ck = read_checkpoint(path);
  CHECK(ck.state.step == 3);
  CHECK(ck.state.data_rng == st.data_rng);
  CHECK(ck.extra["note"] == "test");
  LanguageModel b(ck.config, 999);
  AdamW opt_b(b.arena(), {});
  load_parameters(ck, b.arena());
  load_optimizer(ck, b.arena(), opt_b);
  CHECK(std::memcmp(a.arena().values(), b.arena().values(), sizeof(float) * a.arena().size()) == 0);
  CHECK(opt_a.exp_avg() == opt_b.exp_avg());
  CHECK(opt_a.exp_avg_sq() == opt_b.exp_avg_sq());
  CHECK(opt_b.steps() == 3);
  // The same next step on both gives the same parameters.
  for (auto* m : {&a, &b}) {
    m->arena().zero_grad();
    backward(m->loss(ids, targets));
  }
  opt_a.step(1e-3f);
  opt_b.step(1e-3f);
  CHECK(std::memcmp(a.arena().values(), b.arena().values(), sizeof(float) * a.arena().size()) == 0);
}

TEST_CASE("loading a checkpoint of another model config fails clearly") {
  LanguageModel a(tiny_config(), 1);
  const std::string path = temp_path("other.safetensors");
  save_checkpoint(path, a.config(), a.arena(), nullptr, {}, nlohmann::json::object());
  ModelConfig wider = tiny_config();
  wider.n_embd = 32;
  LanguageModel b(wider, 1);
  const Checkpoint ck = read_checkpoint(path);
  CHECK_THROWS_WITH(load_parameters(ck, b.arena()),
                    doctest::Contains("parameter 'wte.weight' has shape [11, 16] but the model needs [11, 32]"));
  ModelConfig deeper = tiny_config();
  deeper.n_layer = 3;
  LanguageModel c(deeper, 1);
  CHECK_THROWS_WITH(load_parameters(ck, c.arena()), doctest::Contains("'blocks.2.ln_1.weight' is missing"));
}

TEST_CASE("damaged or foreign checkpoint files give one clear message") {
  LanguageModel a(tiny_config(), 1);
  const std::string good = temp_path("good.safetensors");
  save_checkpoint(good, a.config(), a.arena(), nullptr, {}, nlohmann::json::object());
  std::string bytes;
  {
    std::ifstream in(good, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), {});
  }
  const std::string bad = temp_path("bad.safetensors");
  auto write = [&](const std::string& b) { std::ofstream(bad, std::ios::binary) << b; };

  write(bytes.substr(0, bytes.size() - 100));
  CHECK_THROWS_WITH(read_checkpoint(bad), doctest::Contains("outside"));
  write(bytes.substr(0, 4));
  CHECK_THROWS_WITH(read_checkpoint(bad), doctest::Contains("too short"));
  write("");
  CHECK_THROWS_WITH(read_checkpoint(bad), doctest::Contains("too short"));
  std::string flipped = bytes;
  flipped[flipped.size() - 3] ^= 0x40;
  write(flipped);
  CHECK_THROWS_WITH(read_checkpoint(bad), doctest::Contains("checksum mismatch"));
  std::string huge = bytes;
  huge[5] = 0x7f;
  write(huge);
  CHECK_THROWS_WITH(read_checkpoint(bad), doctest::Contains("exceeds the 100 MiB limit"));
  std::string json_broken = bytes;
  json_broken[8] = '[';
  json_broken[9] = '[';
  write(json_broken);
  CHECK_THROWS_WITH(read_checkpoint(bad), doctest::Contains("not valid JSON"));
  std::string f16 = bytes;
  f16.replace(f16.find("\"F32\""), 5, "\"F16\"");
  write(f16);
  CHECK_THROWS_WITH(read_checkpoint(bad), doctest::Contains("attn reads only F32"));
  // A valid safetensors file that attn did not write.
  save_safetensors(bad, {{"x", {2}, std::vector<float>{1, 2}.data()}}, {});
  CHECK_THROWS_WITH(read_checkpoint(bad), doctest::Contains("not a checkpoint written by attn"));
  CHECK_THROWS_WITH(read_checkpoint(temp_path("missing.safetensors")), doctest::Contains("does not exist"));
}
