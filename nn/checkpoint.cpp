#include "nn/checkpoint.h"

#include <charconv>
#include <cmath>
#include <cstring>

#include "nn/json_input.h"
#include <stdexcept>

namespace attn {
namespace {

nlohmann::json rng_json(const std::array<uint64_t, 4>& s) {
  nlohmann::json j = nlohmann::json::array();
  for (uint64_t w : s) j.push_back(std::to_string(w));
  return j;
}

[[noreturn]] void fail(const std::string& path, const std::string& what) {
  throw std::runtime_error(path + ": " + what);
}

// Four decimal words, each read whole (no sign, no spaces).
std::array<uint64_t, 4> rng_from(const nlohmann::json& j, const std::string& path, const char* name) {
  std::array<uint64_t, 4> s{};
  if (!j.is_array() || j.size() != 4) fail(path, std::string(name) + " must be 4 words");
  for (int i = 0; i < 4; ++i) {
    const std::string text = j[i].is_string() ? j[i].get<std::string>() : "";
    const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), s[i]);
    if (text.empty() || error != std::errc() || end != text.data() + text.size())
      fail(path, std::string(name) + " word " + std::to_string(i) + " is not a decimal 64-bit word");
  }
  return s;
}

int64_t state_integer(const nlohmann::json& st, const char* key, const std::string& path) {
  const auto& v = st.at(key);
  if (!v.is_number_integer() || v.get<int64_t>() < 0)
    fail(path, std::string("state '") + key + "' is " + json_excerpt(v) + ", not a count >= 0");
  return v.get<int64_t>();
}

// Every tensor of `names` (a prefix: "", "optimizer.exp_avg_sq.", ...) finite, and >= 0
// where `non_negative` (second moments). Nothing non-finite is ever written or read.
void check_values(const std::string& path, const std::string& what, const std::string& name,
                  const float* values, size_t count, bool non_negative) {
  for (size_t j = 0; j < count; ++j)
    if (!std::isfinite(values[j]) || (non_negative && values[j] < 0))
      fail(path, what + " '" + name + "' holds " + std::to_string(values[j]) + " at element " +
                     std::to_string(j) + (non_negative ? " (must be finite and >= 0)" : " (must be finite)"));
}

// The config's sizes against the tensors actually in the file, before any model is built
// from it (a 60 KB file could otherwise ask for vocab_size 2^24 x n_embd 16384).
void check_config_against_tensors(const Checkpoint& c) {
  const ModelConfig& m = c.config;
  auto expect = [&](const std::string& name, const Shape& shape) {
    const StoredTensor* t = c.file.find(name);
    if (!t || t->shape != shape)
      fail(c.path, "the config says " + name + " is " + to_string(shape) + " but the file holds " +
                       (t ? to_string(t->shape) : std::string("no such tensor")));
  };
  expect("wte.weight", {m.vocab_size, m.n_embd});
  expect("wpe.weight", {m.context, m.n_embd});
  const std::string last = "blocks." + std::to_string(m.n_layer - 1) + ".ln_1.weight";
  expect(last, {m.n_embd});
  if (c.file.find("blocks." + std::to_string(m.n_layer) + ".ln_1.weight"))
    fail(c.path, "the file holds more blocks than the config's n_layer " + std::to_string(m.n_layer));
}

}  // namespace

void save_checkpoint(const std::string& path, const ModelConfig& config, ParameterArena& arena,
                     AdamW* optimizer, const TrainState& state, const nlohmann::json& extra,
                     const std::vector<TensorRef>& more) {
  std::vector<TensorRef> refs;
  const auto& params = arena.parameters();
  for (size_t i = 0; i < params.size(); ++i)
    refs.push_back({params[i].name, params[i].value.shape(), arena.values() + arena.offset_of(i)});
  if (optimizer)
    for (size_t i = 0; i < params.size(); ++i) {
      refs.push_back({"optimizer.exp_avg." + params[i].name, params[i].value.shape(),
                      optimizer->exp_avg().data() + arena.offset_of(i)});
      refs.push_back({"optimizer.exp_avg_sq." + params[i].name, params[i].value.shape(),
                      optimizer->exp_avg_sq().data() + arena.offset_of(i)});
    }
  refs.insert(refs.end(), more.begin(), more.end());
  for (const TensorRef& r : refs)
    check_values(path, "(not saved: the previous file is kept) tensor", r.name, r.data,
                 static_cast<size_t>(numel_of(r.shape)), r.name.rfind("optimizer.exp_avg_sq.", 0) == 0);
  const nlohmann::json st = {{"step", state.step},
                             {"optimizer_steps", optimizer ? optimizer->steps() : 0},
                             {"data_rng", rng_json(state.data_rng)},
                             {"dropout_rng", rng_json(state.dropout_rng)}};
  save_safetensors(path, refs,
                   {{"attn.format", "1"},
                    {"attn.config", nlohmann::json(config).dump()},
                    {"attn.state", st.dump()},
                    {"attn.extra", extra.dump()}});
}

Checkpoint read_checkpoint(const std::string& path) { return checkpoint_of(load_safetensors(path), path); }

Checkpoint parse_checkpoint(const std::string& bytes, const std::string& source) {
  return checkpoint_of(parse_safetensors(bytes, source), source);
}

Checkpoint checkpoint_of(SafetensorsFile file, const std::string& path) {
  Checkpoint c;
  c.path = path;
  c.file = std::move(file);
  auto meta = [&](const std::string& key) {
    auto it = c.file.metadata.find(key);
    if (it == c.file.metadata.end())
      fail(path, "metadata '" + key + "' is missing: not a checkpoint written by attn");
    return parse_untrusted_json(it->second, path + ": metadata '" + key + "'");
  };
  if (meta("attn.format") != 1) fail(path, "unsupported checkpoint format version");
  try {
    c.config = meta("attn.config").get<ModelConfig>();
    c.config.validate();
    const auto st = meta("attn.state");
    c.state.step = state_integer(st, "step", path);
    c.optimizer_steps = state_integer(st, "optimizer_steps", path);
    if (c.optimizer_steps > c.state.step)
      fail(path, "state: optimizer_steps " + std::to_string(c.optimizer_steps) + " is past step " +
                     std::to_string(c.state.step));
    c.state.data_rng = rng_from(st.at("data_rng"), path, "data_rng");
    c.state.dropout_rng = rng_from(st.at("dropout_rng"), path, "dropout_rng");
    check_config_against_tensors(c);
  } catch (const std::runtime_error& e) {
    if (std::string(e.what()).rfind(path, 0) == 0) throw;
    fail(path, std::string("bad metadata: ") + e.what());
  } catch (const std::exception& e) {
    fail(path, std::string("bad metadata: ") + e.what());
  }
  c.extra = meta("attn.extra");
  if (!c.extra.is_object()) fail(path, "metadata 'attn.extra' is not a JSON object");
  return c;
}

void load_parameters(const Checkpoint& ckpt, ParameterArena& arena) {
  const auto& params = arena.parameters();
  for (size_t i = 0; i < params.size(); ++i) {
    const StoredTensor* t = ckpt.file.find(params[i].name);
    if (!t) fail(ckpt.path, "parameter '" + params[i].name + "' is missing (a different model?)");
    if (t->shape != params[i].value.shape())
      fail(ckpt.path, "parameter '" + params[i].name + "' has shape " + to_string(t->shape) +
                          " but the model needs " + to_string(params[i].value.shape()));
  }
  for (const auto& t : ckpt.file.tensors) {
    if (t.name.rfind("optimizer.", 0) == 0 || t.name.rfind("ema.", 0) == 0) continue;
    bool known = false;
    for (const auto& p : params) known |= p.name == t.name;
    if (!known) fail(ckpt.path, "holds '" + t.name + "', which the model does not have");
  }
  for (size_t i = 0; i < params.size(); ++i) {
    const StoredTensor* t = ckpt.file.find(params[i].name);
    check_values(ckpt.path, "parameter", params[i].name, t->values.data(), t->values.size(), false);
  }
  for (size_t i = 0; i < params.size(); ++i) {
    const StoredTensor* t = ckpt.file.find(params[i].name);
    std::memcpy(arena.values() + arena.offset_of(i), t->values.data(),
                sizeof(float) * t->values.size());
  }
}

std::vector<float> read_weight_average(const Checkpoint& ckpt, const ParameterArena& arena) {
  const auto& params = arena.parameters();
  if (params.empty() || !ckpt.file.find("ema." + params[0].name)) return {};
  std::vector<float> values(arena.size());
  for (size_t i = 0; i < params.size(); ++i) {
    const StoredTensor* t = ckpt.file.find("ema." + params[i].name);
    if (!t || t->shape != params[i].value.shape())
      fail(ckpt.path, "the weight average of '" + params[i].name + "' is missing or has the "
                      "wrong shape");
    check_values(ckpt.path, "the weight average of", params[i].name, t->values.data(), t->values.size(), false);
    std::copy(t->values.begin(), t->values.end(), values.begin() + arena.offset_of(i));
  }
  return values;
}

bool load_evaluation_weights(const Checkpoint& ckpt, ParameterArena& arena) {
  load_parameters(ckpt, arena);
  const std::vector<float> average = read_weight_average(ckpt, arena);
  if (!average.empty()) std::copy(average.begin(), average.end(), arena.values());
  return !average.empty();
}

void load_optimizer(const Checkpoint& ckpt, ParameterArena& arena, AdamW& optimizer) {
  const auto& params = arena.parameters();
  for (size_t i = 0; i < params.size(); ++i)
    for (const char* which : {"optimizer.exp_avg.", "optimizer.exp_avg_sq."}) {
      const StoredTensor* t = ckpt.file.find(which + params[i].name);
      if (!t || t->shape != params[i].value.shape())
        fail(ckpt.path, std::string("optimizer state '") + which + params[i].name +
                            "' is missing or has the wrong shape");
      const bool second = std::string(which) == "optimizer.exp_avg_sq.";
      check_values(ckpt.path, "optimizer state", which + params[i].name, t->values.data(),
                   t->values.size(), second);
      auto& dst = second ? optimizer.exp_avg_sq() : optimizer.exp_avg();
      std::memcpy(dst.data() + arena.offset_of(i), t->values.data(),
                  sizeof(float) * t->values.size());
    }
  optimizer.set_steps(ckpt.optimizer_steps);
}

}  // namespace attn
