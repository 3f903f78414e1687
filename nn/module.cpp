#include "nn/module.h"

#include <algorithm>
#include <vector>

#include <cmath>
#include <cstring>
#include <stdexcept>

namespace attn {

void Module::register_parameter(const std::string& name, Tensor& value, bool decay,
                                bool trainable) {
  value.requires_grad_(trainable);
  own_.push_back({name, value, decay, trainable});
}

void Module::register_module(const std::string& name, Module& child) {
  children_.emplace_back(name, &child);
}

void Module::collect(const std::string& prefix, std::vector<NamedParameter>& out) const {
  for (const auto& p : own_) out.push_back({prefix + p.name, p.value, p.decay, p.trainable});
  // A child registered without a name lends its parameters to this module's own names.
  for (const auto& [name, child] : children_)
    child->collect(name.empty() ? prefix : prefix + name + ".", out);
}

std::vector<NamedParameter> Module::parameters() const {
  std::vector<NamedParameter> out;
  collect("", out);
  return out;
}

int64_t Module::parameter_count() const {
  int64_t n = 0;
  for (const auto& p : parameters()) n += p.value.numel();
  return n;
}

void Module::train(bool on) {
  training_ = on;
  for (auto& [name, child] : children_) child->train(on);
}

ParameterArena::ParameterArena(std::vector<NamedParameter> params) : params_(std::move(params)) {
  int64_t total = 0;
  for (const auto& p : params_) {
    offsets_.push_back(total);
    // Keep every tensor 64-byte aligned inside the arena (16 floats).
    total += (p.value.numel() + 15) / 16 * 16;
  }
  values_ = std::make_shared<Storage>(total);
  grads_ = std::make_shared<Storage>(total);
  std::memset(values_->data, 0, sizeof(float) * total);
  std::memset(grads_->data, 0, sizeof(float) * total);
  for (size_t i = 0; i < params_.size(); ++i) {
    Tensor& t = params_[i].value;
    std::memcpy(values_->data + offsets_[i], t.data(), sizeof(float) * t.numel());
    TensorImpl* impl = t.impl();
    impl->storage = values_;
    impl->offset = offsets_[i];
    if (params_[i].trainable) t.set_grad_view(grads_, offsets_[i]);
  }
}

void ParameterArena::zero_grad() { std::memset(grads_->data, 0, sizeof(float) * grads_->count); }

ParameterArena::~ParameterArena() {
  if (bf16_.defined()) unregister_bf16_weights(values_->data);
}

void ParameterArena::refresh_bf16() {
  if (!bf16_.defined()) bf16_ = Bf16Buffer(size());
  to_bf16(values(), bf16_.data(), size());
  register_bf16_weights(values(), size(), bf16_.data());
}

// Summed in fixed blocks, then the blocks in order: the same bits with any thread count, so
// data-parallel ranks with different core counts clip by the same factor.
double ParameterArena::grad_norm() const {
  constexpr int64_t kBlock = 1 << 16;
  const float* g = grads_->data;
  const int64_t n = static_cast<int64_t>(grads_->count);
  const int64_t blocks = (n + kBlock - 1) / kBlock;
  std::vector<double> partial(static_cast<size_t>(blocks), 0.0);
#pragma omp parallel for schedule(static)
  for (int64_t b = 0; b < blocks; ++b) {
    double sum = 0.0;
    const int64_t end = std::min(n, (b + 1) * kBlock);
#pragma omp simd reduction(+ : sum)
    for (int64_t i = b * kBlock; i < end; ++i) sum += static_cast<double>(g[i]) * g[i];
    partial[b] = sum;
  }
  double total = 0.0;
  for (double p : partial) total += p;
  return std::sqrt(total);
}

}  // namespace attn
