// Module: named parameters (PyTorch-style dotted names, e.g. "blocks.0.attn.c_attn.weight"),
// child modules, train/eval mode. Modules hold parameters and wiring only; math lives in
// engine/ and attention/.
//
// After a model is built, ParameterArena moves every parameter into one flat block of floats
// (and every gradient into another), so zero_grad is one memset, the optimizer one loop over
// one array and a checkpoint one contiguous write.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "engine/bf16.h"
#include "engine/tensor.h"

namespace attn {

struct NamedParameter {
  std::string name;
  Tensor value;
  bool decay;      // AdamW weight decay applies (matrices yes; biases, norms, embeddings no)
  bool trainable;  // false: saved with the model but never updated (e.g. a fixed random R)
};

class Module {
 public:
  Module() = default;
  virtual ~Module() = default;
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;

  std::vector<NamedParameter> parameters() const;  // depth-first, in registration order
  int64_t parameter_count() const;
  void train(bool on = true);
  void eval() { train(false); }
  bool training() const { return training_; }

 protected:
  // Registers `value` (a handle; the module keeps its own copy of the same tensor).
  void register_parameter(const std::string& name, Tensor& value, bool decay = true,
                          bool trainable = true);
  void register_module(const std::string& name, Module& child);

 private:
  void collect(const std::string& prefix, std::vector<NamedParameter>& out) const;
  std::vector<NamedParameter> own_;
  std::vector<std::pair<std::string, Module*>> children_;
  bool training_ = true;
};

class ParameterArena {
 public:
  // Moves the parameters' data into one block; trainable ones get views of one gradient block.
  explicit ParameterArena(std::vector<NamedParameter> params);

  const std::vector<NamedParameter>& parameters() const { return params_; }
  float* values() { return values_->data; }
  float* grads() { return grads_->data; }
  int64_t size() const { return static_cast<int64_t>(values_->count); }
  int64_t offset_of(size_t index) const { return offsets_[index]; }
  void zero_grad();
  double grad_norm() const;  // global L2 norm of all gradients
  // bf16 precision: rounds the parameters into their bf16 copy and registers it, so the
  // Linear layers multiply by it (engine/bf16.h). Call after every change of the values
  // (the trainer does, once per optimizer step).
  void refresh_bf16();
  ~ParameterArena();

 private:
  std::vector<NamedParameter> params_;
  std::vector<int64_t> offsets_;
  std::shared_ptr<Storage> values_, grads_;
  Bf16Buffer bf16_;  // the bf16 copy, once refresh_bf16 has made one
};

}  // namespace attn
