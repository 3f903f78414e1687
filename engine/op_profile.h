// Where a training step's time goes, by kind of op (bench_lm_step --breakdown).
//
// Off unless enabled; then the tape reads the clock at every recorded op and around every
// node's backward (about 20 ns each):
//   forward:  the time since the previous recorded op (or the last mark) is charged to the op
//             being recorded: its kernel, plus whatever glue ran since (shape checks, tensor
//             allocation), which is how the framework's overhead shows up in eager mode;
//   backward: each node's backward, timed exactly.
// What lies outside both (the optimizer, the data, the loop) the caller times itself.
#pragma once
#include <array>
#include <cstdint>

#include "engine/ops.h"

namespace attn {

enum class OpKind { kMatmul, kAttention, kElementwise, kLayerNorm, kOther, kCount };
constexpr int kOpKinds = static_cast<int>(OpKind::kCount);

OpKind kind_of(Op op);
const char* kind_name(OpKind kind);  // "matmul", "attention", "elementwise", "layernorm", "other ops"

struct OpProfile {
  std::array<double, kOpKinds> forward_ms{}, backward_ms{};
  int64_t ops = 0;  // forward ops recorded
};

void enable_op_profile(bool on);
bool op_profile_enabled();
void reset_op_profile();    // zero the sums and mark now
void mark_op_profile();     // the next recorded op is charged from now (a forward pass starts)
const OpProfile& op_profile();

// Called by the tape.
void profile_forward_op(Op op);
void profile_backward_op(Op op, double ms);

}  // namespace attn
