// Tensor: float32, contiguous, row-major, 0 to 4 dims.
//
// A Tensor is a cheap handle (one shared pointer) to a TensorImpl that holds the shape, a
// view into refcounted Storage (pointer + offset, so parameters can live in one flat arena)
// and, for tensors that require a gradient, a view into gradient storage of the same size.
// Copying a Tensor copies the handle, never the data.
#pragma once
#include <cstdint>
#include <initializer_list>
#include <iosfwd>
#include <memory>
#include <string>
#include <vector>

#include "engine/rng.h"

namespace attn {

using Shape = std::vector<int64_t>;
constexpr int kMaxDims = 4;

int64_t numel_of(const Shape& shape);
// At most 2^40 elements (4 TiB of floats) in one tensor: sizes from files and options are
// checked against this before anything is allocated.
constexpr int64_t kMaxElements = int64_t{1} << 40;
// The element count of a shape that a file or an option controls; throws std::invalid_argument
// starting with `what` when a size is negative or the product passes kMaxElements (checked
// as it is formed, so it cannot wrap).
int64_t checked_numel(const Shape& shape, const std::string& what);
std::string to_string(const Shape& shape);  // "[2, 3, 4]"

// A refcounted block of floats from the caching allocator.
struct Storage {
  explicit Storage(size_t count);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;
  float* data;
  size_t count;
};

// Where a tensor's gradient accumulates. The tensor and the tape's nodes share it, so a node
// routes a gradient to an input without keeping the input's data alive (engine/tape.h).
struct GradSlot {
  int64_t numel = 0;
  std::shared_ptr<Storage> storage;  // null until a gradient is accumulated
  size_t offset = 0;
  bool retain = false;   // keep the gradient of a non-leaf after backward
  uint64_t node_id = 0;  // id of the tape node that produced the tensor; 0 for a leaf
  float* data();         // allocates a zeroed gradient on first use
  // The buffer for a caller that will add into it, or, when there is none yet (*fresh set
  // true), a new one left unzeroed that the caller must write entirely: saves the zero fill
  // and a read of zeros (a matrix product then overwrites instead of accumulating).
  float* data_for_overwrite(bool* fresh);
  bool has() const { return storage != nullptr; }
};

struct TensorImpl {
  Shape shape;
  std::shared_ptr<Storage> storage;
  size_t offset = 0;
  bool requires_grad = false;
  std::shared_ptr<GradSlot> grad;  // created on first use
};

class Tensor {
 public:
  Tensor() = default;

  // Factories. Uninitialised memory only from empty().
  static Tensor empty(const Shape& shape);
  static Tensor zeros(const Shape& shape);
  static Tensor full(const Shape& shape, float value);
  static Tensor ones(const Shape& shape) { return full(shape, 1.0f); }
  static Tensor from(const Shape& shape, const std::vector<float>& values);
  static Tensor scalar(float value) { return from({}, {value}); }
  static Tensor randn(const Shape& shape, Rng& rng, float std = 1.0f);
  static Tensor uniform(const Shape& shape, Rng& rng, float low, float high);
  // A view of `count` floats of existing storage (the parameter arena uses this).
  static Tensor view_of(std::shared_ptr<Storage> storage, size_t offset, const Shape& shape);

  bool defined() const { return impl_ != nullptr; }
  const Shape& shape() const { return impl_->shape; }
  int dim() const { return static_cast<int>(impl_->shape.size()); }
  int64_t size(int d) const;  // negative d counts from the end
  int64_t numel() const { return numel_of(impl_->shape); }

  float* data() { return impl_->storage->data + impl_->offset; }
  const float* data() const { return impl_->storage->data + impl_->offset; }
  float item() const;
  std::vector<float> to_vector() const;
  Tensor clone() const;  // a new leaf with a copy of the data

  // Gradient. grad() is an undefined Tensor until backward has written one.
  bool requires_grad() const { return impl_->requires_grad; }
  Tensor& requires_grad_(bool on = true);
  Tensor& retain_grad_();
  bool has_grad() const;
  Tensor grad() const;              // a view of the gradient (no grad of its own)
  float* grad_data();               // allocates a zeroed gradient if there is none
  void zero_grad();                 // zero the gradient in place, if present
  void release_grad();              // drop the gradient buffer
  void set_grad_view(std::shared_ptr<Storage> storage, size_t offset);  // arena gradients

  bool is_leaf() const { return !impl_->grad || impl_->grad->node_id == 0; }
  TensorImpl* impl() const { return impl_.get(); }
  const std::shared_ptr<GradSlot>& grad_slot();  // created on first use
  bool same_as(const Tensor& other) const { return impl_ == other.impl_; }

 private:
  explicit Tensor(std::shared_ptr<TensorImpl> impl) : impl_(std::move(impl)) {}
  std::shared_ptr<TensorImpl> impl_;
  friend Tensor make_view(const Tensor&, const Shape&);
};

// A tensor sharing `t`'s storage with another shape of the same size (no copy).
Tensor make_view(const Tensor& t, const Shape& shape);

// Debug printing: shape and values, long rows abbreviated.
std::ostream& operator<<(std::ostream& os, const Tensor& t);

}  // namespace attn
