// Model checkpoints: a safetensors file holding every parameter under its dotted name, the
// AdamW moments as "optimizer.exp_avg.<name>" and "optimizer.exp_avg_sq.<name>", and in the
// string metadata (each value a JSON document):
//   "attn.format"  "1"
//   "attn.config"  the ModelConfig
//   "attn.state"   {"step", "optimizer_steps", "data_rng", "dropout_rng"} (RNG states as
//                  four decimal strings each, exact)
//   "attn.extra"   what the app adds: tokenizer, run options
// Loading checks that the names and shapes match the model exactly.
#pragma once
#include <array>
#include <string>

#include <nlohmann/json.hpp>

#include "nn/config.h"
#include "nn/module.h"
#include "nn/optim.h"
#include "nn/safetensors.h"

namespace attn {

struct TrainState {
  int64_t step = 0;
  std::array<uint64_t, 4> data_rng{}, dropout_rng{};
};

struct Checkpoint {
  std::string path;
  ModelConfig config;
  TrainState state;
  int64_t optimizer_steps = 0;
  nlohmann::json extra;
  SafetensorsFile file;
};

// `more` adds tensors under names of their own (the trainer's weight average, "ema.<name>").
void save_checkpoint(const std::string& path, const ModelConfig& config, ParameterArena& arena,
                     AdamW* optimizer, const TrainState& state, const nlohmann::json& extra,
                     const std::vector<TensorRef>& more = {});

// Reads and validates the file and its metadata (throws std::runtime_error naming the file):
// the config within its ceilings and matching the tensors present, the state's counts and RNG
// words well formed, the JSON no deeper than kMaxJsonDepth.
Checkpoint read_checkpoint(const std::string& path);
// The same on bytes in memory (`source` names them in messages; the fuzzer's entry).
Checkpoint parse_checkpoint(const std::string& bytes, const std::string& source);
Checkpoint checkpoint_of(SafetensorsFile file, const std::string& path);

// Copies the stored parameters into the arena; every name and shape must match (tensors
// under "optimizer." and "ema." are state, not parameters).
void load_parameters(const Checkpoint& ckpt, ParameterArena& arena);
// The weight average a run kept (--ema: tensors "ema.<name>") laid out as the arena's values,
// checked (shapes, finite values); empty when the checkpoint holds none.
std::vector<float> read_weight_average(const Checkpoint& ckpt, const ParameterArena& arena);
// The weights a run evaluated with: its weight average where it kept one, else its
// parameters. Returns whether the average was loaded.
bool load_evaluation_weights(const Checkpoint& ckpt, ParameterArena& arena);
// Restores the AdamW moments and step count (the checkpoint must hold them).
void load_optimizer(const Checkpoint& ckpt, ParameterArena& arena, AdamW& optimizer);

}  // namespace attn
