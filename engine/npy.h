// Tensors in NumPy's .npy format (version 1.0/2.0, little-endian float32, C order), so a
// tensor can be opened with numpy.load. Loading treats the file as untrusted: every field
// is checked, and any problem throws one message naming the file and what is wrong.
#pragma once
#include <string>

#include "engine/tensor.h"

namespace attn {

void save_npy(const std::string& path, const Tensor& t);  // written atomically (temp + rename)
Tensor load_npy(const std::string& path);  // a regular file of at most kMaxNpyBytes
// The same checks on bytes in memory (`source` names them in messages; the fuzzer's entry).
Tensor parse_npy(const std::string& bytes, const std::string& source);
constexpr uint64_t kMaxNpyBytes = uint64_t{16} << 30;  // 16 GiB

}  // namespace attn
