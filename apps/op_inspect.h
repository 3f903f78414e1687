// `attn op NAME --in DIR --out DIR`: runs one attention operator on tensors read from .npy
// files and writes its output and every gradient as .npy, so a learner can check the
// operator against their own NumPy or PyTorch derivation.
#pragma once
#include <string>

namespace attn {

struct OpOptions {
  std::string name, in_dir, out_dir;
  bool causal = false;
  int64_t chunk = 64;
};

std::string op_help();  // the files each operator reads and writes
int run_op(const OpOptions& options);

}  // namespace attn
