#include "engine/tensor.h"

#include <algorithm>
#include <cstring>
#include <iomanip>
#include <ostream>
#include <sstream>
#include <stdexcept>

#include "engine/allocator.h"

namespace attn {

int64_t numel_of(const Shape& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

int64_t checked_numel(const Shape& shape, const std::string& what) {
  int64_t n = 1;
  for (int64_t d : shape) {
    if (d < 0) throw std::invalid_argument(what + ": negative size in shape " + to_string(shape));
    if (d != 0 && n > kMaxElements / d)
      for (int64_t e : shape)  // a zero anywhere makes the product 0: no overflow
        if (e == 0) return 0;
    if (d != 0 && n > kMaxElements / d)
      throw std::invalid_argument(what + ": shape " + to_string(shape) + " has more than 2^40 elements");
    n *= d;
  }
  return n;
}

std::string to_string(const Shape& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

Storage::Storage(size_t n) : data(allocate_floats(n)), count(n) {}
Storage::~Storage() { release_floats(data, count); }

static void check_shape(const Shape& shape) {
  if (shape.size() > kMaxDims)
    throw std::invalid_argument("tensor: at most 4 dims are supported, got " + to_string(shape));
  checked_numel(shape, "tensor");
}

Tensor Tensor::empty(const Shape& shape) {
  check_shape(shape);
  auto impl = std::make_shared<TensorImpl>();
  impl->shape = shape;
  impl->storage = std::make_shared<Storage>(numel_of(shape));
  return Tensor(std::move(impl));
}

Tensor Tensor::zeros(const Shape& shape) {
  Tensor t = empty(shape);
  std::memset(t.data(), 0, sizeof(float) * t.numel());
  return t;
}

Tensor Tensor::full(const Shape& shape, float value) {
  Tensor t = empty(shape);
  std::fill_n(t.data(), t.numel(), value);
  return t;
}

Tensor Tensor::from(const Shape& shape, const std::vector<float>& values) {
  if (static_cast<int64_t>(values.size()) != numel_of(shape))
    throw std::invalid_argument("Tensor::from: shape " + to_string(shape) + " needs " +
                                std::to_string(numel_of(shape)) + " values, got " +
                                std::to_string(values.size()));
  Tensor t = empty(shape);
  std::copy(values.begin(), values.end(), t.data());
  return t;
}

Tensor Tensor::randn(const Shape& shape, Rng& rng, float std) {
  Tensor t = empty(shape);
  float* p = t.data();
  for (int64_t i = 0, n = t.numel(); i < n; ++i) p[i] = std * rng.normal();
  return t;
}

Tensor Tensor::uniform(const Shape& shape, Rng& rng, float low, float high) {
  Tensor t = empty(shape);
  float* p = t.data();
  for (int64_t i = 0, n = t.numel(); i < n; ++i) p[i] = rng.uniform(low, high);
  return t;
}

Tensor Tensor::view_of(std::shared_ptr<Storage> storage, size_t offset, const Shape& shape) {
  check_shape(shape);
  if (offset + numel_of(shape) > storage->count)
    throw std::out_of_range("Tensor::view_of: view " + to_string(shape) + " at offset " +
                            std::to_string(offset) + " exceeds storage of " +
                            std::to_string(storage->count) + " floats");
  auto impl = std::make_shared<TensorImpl>();
  impl->shape = shape;
  impl->storage = std::move(storage);
  impl->offset = offset;
  return Tensor(std::move(impl));
}

Tensor make_view(const Tensor& t, const Shape& shape) {
  check_shape(shape);
  auto impl = std::make_shared<TensorImpl>();
  impl->shape = shape;
  impl->storage = t.impl_->storage;
  impl->offset = t.impl_->offset;
  return Tensor(std::move(impl));
}

int64_t Tensor::size(int d) const {
  const int n = dim();
  if (d < 0) d += n;
  if (d < 0 || d >= n)
    throw std::out_of_range("Tensor::size: dim " + std::to_string(d) + " of shape " +
                            to_string(shape()));
  return impl_->shape[d];
}

float Tensor::item() const {
  if (numel() != 1)
    throw std::invalid_argument("Tensor::item: needs one element, shape is " + to_string(shape()));
  return data()[0];
}

std::vector<float> Tensor::to_vector() const { return {data(), data() + numel()}; }

Tensor Tensor::clone() const {
  Tensor t = empty(shape());
  std::memcpy(t.data(), data(), sizeof(float) * numel());
  return t;
}

Tensor& Tensor::requires_grad_(bool on) {
  impl_->requires_grad = on;
  return *this;
}

float* GradSlot::data() {
  if (!storage) {
    storage = std::make_shared<Storage>(static_cast<size_t>(numel));
    offset = 0;
    std::memset(storage->data, 0, sizeof(float) * static_cast<size_t>(numel));
  }
  return storage->data + offset;
}

float* GradSlot::data_for_overwrite(bool* fresh) {
  *fresh = storage == nullptr;
  if (*fresh) storage = std::make_shared<Storage>(static_cast<size_t>(numel)), offset = 0;
  return storage->data + offset;
}

const std::shared_ptr<GradSlot>& Tensor::grad_slot() {
  if (!impl_->grad) {
    impl_->grad = std::make_shared<GradSlot>();
    impl_->grad->numel = numel();
  }
  return impl_->grad;
}

Tensor& Tensor::retain_grad_() {
  grad_slot()->retain = true;
  return *this;
}

bool Tensor::has_grad() const { return impl_->grad && impl_->grad->has(); }

Tensor Tensor::grad() const {
  if (!has_grad()) return Tensor();
  return view_of(impl_->grad->storage, impl_->grad->offset, shape());
}

float* Tensor::grad_data() { return grad_slot()->data(); }

void Tensor::zero_grad() {
  if (has_grad()) std::memset(impl_->grad->data(), 0, sizeof(float) * numel());
}

void Tensor::release_grad() {
  if (impl_->grad) impl_->grad->storage.reset();
}

void Tensor::set_grad_view(std::shared_ptr<Storage> storage, size_t offset) {
  if (offset + numel() > storage->count)
    throw std::out_of_range("Tensor::set_grad_view: gradient view exceeds its storage");
  grad_slot()->storage = std::move(storage);
  impl_->grad->offset = offset;
}

std::ostream& operator<<(std::ostream& os, const Tensor& t) {
  if (!t.defined()) return os << "Tensor(undefined)";
  os << "Tensor" << to_string(t.shape()) << (t.requires_grad() ? " requires_grad" : "") << "\n";
  const int64_t cols = t.dim() == 0 ? 1 : t.size(-1);
  const int64_t rows = cols == 0 ? 0 : t.numel() / cols;
  const float* p = t.data();
  auto print_row = [&](int64_t r) {
    os << "  [";
    for (int64_t c = 0; c < cols; ++c) {
      if (cols > 8 && c == 4) { os << " ...,"; c = cols - 3; }
      os << (c ? " " : "") << std::setw(9) << std::setprecision(4) << p[r * cols + c];
    }
    os << "]\n";
  };
  for (int64_t r = 0; r < rows; ++r) {
    if (rows > 8 && r == 4) { os << "  ...\n"; r = rows - 3; }
    print_row(r);
  }
  return os;
}

}  // namespace attn
