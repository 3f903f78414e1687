#include "nn/checkpoint.h"

#include <cmath>
#include <cstring>
#include <stdexcept>

namespace attn {
namespace {

nlohmann::json rng_json(const std::array<uint64_t, 4>& s) {
  nlohmann::json j = nlohmann::json::array();
  for (uint64_t w : s) j.push_back(std::to_string(w));
  return j;
}

std::array<uint64_t, 4> rng_from(const nlohmann::json& j) {
  std::array<uint64_t, 4> s{};
  if (!j.is_array() || j.size() != 4) throw std::runtime_error("RNG state must be 4 words");
  for (int i = 0; i < 4; ++i) s[i] = std::stoull(j[i].get<std::string>());
  return s;
}

[[noreturn]] void fail(const std::string& path, const std::string& what) {
  throw std::runtime_error(path + ": " + what);
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

Checkpoint read_checkpoint(const std::string& path) {
  Checkpoint c;
  c.path = path;
  c.file = load_safetensors(path);
  auto meta = [&](const std::string& key) {
    auto it = c.file.metadata.find(key);
    if (it == c.file.metadata.end())
      fail(path, "metadata '" + key + "' is missing: not a checkpoint written by attn");
    try {
      return nlohmann::json::parse(it->second);
    } catch (const std::exception& e) {
      fail(path, "metadata '" + key + "' is not valid JSON: " + e.what());
    }
  };
  if (meta("attn.format") != 1) fail(path, "unsupported checkpoint format version");
  try {
    c.config = meta("attn.config").get<ModelConfig>();
    c.config.validate();
    const auto st = meta("attn.state");
    c.state.step = st.at("step").get<int64_t>();
    c.optimizer_steps = st.at("optimizer_steps").get<int64_t>();
    c.state.data_rng = rng_from(st.at("data_rng"));
    c.state.dropout_rng = rng_from(st.at("dropout_rng"));
  } catch (const std::runtime_error& e) {
    if (std::string(e.what()).rfind(path, 0) == 0) throw;
    fail(path, std::string("bad metadata: ") + e.what());
  } catch (const std::exception& e) {
    fail(path, std::string("bad metadata: ") + e.what());
  }
  c.extra = meta("attn.extra");
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
    for (size_t j = 0; j < t->values.size(); ++j)
      if (!std::isfinite(t->values[j]))
        fail(ckpt.path, "parameter '" + params[i].name + "' holds a non-finite value (" +
                            std::to_string(t->values[j]) + ") at element " + std::to_string(j));
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
    for (size_t j = 0; j < t->values.size(); ++j)
      if (!std::isfinite(t->values[j]))
        fail(ckpt.path, "the weight average of '" + params[i].name + "' holds a non-finite "
                        "value at element " + std::to_string(j));
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
      auto& dst = std::string(which) == "optimizer.exp_avg." ? optimizer.exp_avg()
                                                              : optimizer.exp_avg_sq();
      std::memcpy(dst.data() + arena.offset_of(i), t->values.data(),
                  sizeof(float) * t->values.size());
    }
  optimizer.set_steps(ckpt.optimizer_steps);
}

}  // namespace attn
