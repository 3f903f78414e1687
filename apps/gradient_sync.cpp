#include "apps/gradient_sync.h"

#include <algorithm>

namespace attn {
namespace {

const GradSlot* gradient_slot(const NamedParameter& p) {
  Tensor value = p.value;  // a handle: the same tensor
  return value.grad_slot().get();
}

}  // namespace

GradientSync::GradientSync(ParameterArena& arena, World& world, double bucket_mb)
    : arena_(arena), world_(world) {
  const auto& params = arena.parameters();
  if (bucket_mb <= 0 || params.empty()) {  // one reduction of the whole arena
    buckets_.push_back({0, arena.size(), 0});
    return;
  }
  // Walk the parameters from the last: a bucket closes once it holds bucket_mb.
  const auto limit = static_cast<int64_t>(bucket_mb * (1 << 20) / sizeof(float));
  Bucket open{arena.size(), arena.size(), 0};
  for (size_t i = params.size(); i-- > 0;) {
    open.begin = arena.offset_of(i);
    if (params[i].trainable) bucket_of_[gradient_slot(params[i])] = buckets_.size();
    if (open.end - open.begin >= limit || i == 0) {
      buckets_.push_back(open);
      open = {open.begin, open.begin, 0};
    }
  }
}

GradientSync::~GradientSync() {
  if (listening_) set_backward_listener(nullptr);
}

void GradientSync::begin() {
  next_ = 0;
  const auto& params = arena_.parameters();
  for (Bucket& b : buckets_) b.unfinished = 0;
  for (const auto& p : params) {
    if (!p.trainable) continue;  // no gradient ever flows to it
    const auto found = bucket_of_.find(gradient_slot(p));
    if (found != bucket_of_.end()) ++buckets_[found->second].unfinished;
  }
  if (!bucket_of_.empty()) {
    set_backward_listener(this);
    listening_ = true;
  }
}

void GradientSync::leaf_ready(const GradSlot* slot) {
  const auto found = bucket_of_.find(slot);
  if (found == bucket_of_.end()) return;  // an input that is not a parameter
  --buckets_[found->second].unfinished;
  start_ready_buckets();
}

void GradientSync::start_ready_buckets() {
  while (next_ < buckets_.size() && buckets_[next_].unfinished == 0) start(buckets_[next_++]);
}

void GradientSync::start(const Bucket& bucket) {
  constexpr int64_t kMaxCount = int64_t{1} << 30;  // MPI counts are int
  for (int64_t at = bucket.begin; at < bucket.end; at += kMaxCount)
    world_.start_sum(arena_.grads() + at, std::min(kMaxCount, bucket.end - at));
}

void GradientSync::start_rest() {
  if (listening_) set_backward_listener(nullptr), listening_ = false;
  while (next_ < buckets_.size()) start(buckets_[next_++]);
}

void GradientSync::wait(int64_t step) {
  world_.wait_all("gradient all-reduce", step);
  next_ = 0;
}

}  // namespace attn
