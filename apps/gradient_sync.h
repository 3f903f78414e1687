// Sums the data-parallel ranks' gradients (the flat gradient arena, in place) before each
// optimizer step.
//
// bucket_mb 0: one all-reduce over the whole arena once the backward pass is done.
// bucket_mb > 0: the arena is cut, along parameter boundaries, into buckets of about that
// many megabytes. The tape tells when the backward pass has finished a parameter
// (BackwardListener::leaf_ready); a bucket's non-blocking all-reduce starts as soon as all
// its parameters are finished, so the sums of the last layers travel while the first
// layers' backward still runs (the pattern of PyTorch DDP and of llm.c's per-layer
// reductions). Every rank must start the same reductions in the same order, so buckets
// start strictly from the arena's end to its beginning (the order the backward pass
// finishes them in), a ready bucket waiting for the one before it.
#pragma once
#include <cstdint>
#include <unordered_map>
#include <vector>

#include "apps/world.h"
#include "engine/tape.h"
#include "nn/module.h"

namespace attn {

class GradientSync : public BackwardListener {
 public:
  GradientSync(ParameterArena& arena, World& world, double bucket_mb);
  ~GradientSync() override;
  // Around the backward pass of the step's last micro-batch: listens to the tape.
  void begin();
  // After the backward pass (also one cut short by a non-finite loss): starts every bucket
  // not started yet, in the same order as on every rank.
  void start_rest();
  // Waits for all sums (bounded by the world's timeout; `step` for its message).
  void wait(int64_t step);

  void leaf_ready(const GradSlot* slot) override;
  void after_node() override { world_.progress(); }

 private:
  struct Bucket {
    int64_t begin = 0, end = 0;  // arena offsets
    int64_t unfinished = 0;      // parameters the backward pass has not finished
  };
  void start_ready_buckets();
  void start(const Bucket& bucket);

  ParameterArena& arena_;
  World& world_;
  std::vector<Bucket> buckets_;  // in start order: from the end of the arena
  std::unordered_map<const GradSlot*, size_t> bucket_of_;  // a parameter's gradient -> bucket
  size_t next_ = 0;  // the next bucket to start
  bool listening_ = false;
};

}  // namespace attn
