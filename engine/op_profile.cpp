#include "engine/op_profile.h"

#include <chrono>

namespace attn {
namespace {

using Clock = std::chrono::steady_clock;

struct Profiler {
  bool on = false;
  OpProfile sums;
  Clock::time_point mark = Clock::now();
};

Profiler& profiler() {
  thread_local Profiler p;  // the thread that records the tape
  return p;
}

}  // namespace

OpKind kind_of(Op op) {
  switch (op) {
    case Op::MATMUL: case Op::LINEAR:
      return OpKind::kMatmul;
    case Op::ATTENTION_SOFTMAX: case Op::ATTENTION_SYNTHETIC: case Op::ATTENTION_LINEAR:
    case Op::ATTENTION_LINEAR_CAUSAL: case Op::ATTENTION_MIXTURE:
    case Op::ATTENTION_FACTORIZED_DENSE:
      return OpKind::kAttention;
    case Op::LAYERNORM:
      return OpKind::kLayerNorm;
    case Op::ADD: case Op::SUB: case Op::MUL: case Op::DIV: case Op::SCALE: case Op::NEG:
    case Op::EXP: case Op::LOG: case Op::SQRT: case Op::RELU: case Op::GELU: case Op::ELU:
    case Op::SIGMOID: case Op::TANH: case Op::DROPOUT: case Op::SOFTMAX: case Op::LOG_SOFTMAX:
      return OpKind::kElementwise;
    default:  // reductions, shapes, embedding, cross-entropy
      return OpKind::kOther;
  }
}

const char* kind_name(OpKind kind) {
  static const char* const names[] = {"matmul", "attention", "elementwise", "layernorm",
                                      "other ops"};
  return names[static_cast<int>(kind)];
}

void enable_op_profile(bool on) {
  profiler().on = on;
  reset_op_profile();
}

bool op_profile_enabled() { return profiler().on; }

void reset_op_profile() {
  profiler().sums = OpProfile();
  mark_op_profile();
}

void mark_op_profile() { profiler().mark = Clock::now(); }

const OpProfile& op_profile() { return profiler().sums; }

void profile_forward_op(Op op) {
  Profiler& p = profiler();
  const auto now = Clock::now();
  p.sums.forward_ms[static_cast<int>(kind_of(op))] +=
      std::chrono::duration<double, std::milli>(now - p.mark).count();
  ++p.sums.ops;
  p.mark = now;
}

void profile_backward_op(Op op, double ms) {
  profiler().sums.backward_ms[static_cast<int>(kind_of(op))] += ms;
}

}  // namespace attn
