// The safetensors file format (the Hugging Face layout), float32 only:
//   [8 bytes: header length N, little-endian u64][N bytes: JSON header][data]
// The header maps each tensor name to {"dtype": "F32", "shape": [...], "data_offsets":
// [begin, end]} (byte offsets into the data, contiguous, in order) and holds a
// "__metadata__" object of string values. attn adds "attn.checksum" (FNV-1a 64 of the data,
// hex) and verifies it on load. Writes go to a temporary file that is fsynced and renamed over
// the target, so a crash mid-write never damages an existing file.
#pragma once
#include <map>
#include <string>
#include <vector>

#include "engine/tensor.h"

namespace attn {

struct StoredTensor {
  std::string name;
  Shape shape;
  std::vector<float> values;
};

struct SafetensorsFile {
  std::map<std::string, std::string> metadata;
  std::vector<StoredTensor> tensors;  // in file order
  const StoredTensor* find(const std::string& name) const;
};

struct TensorRef {
  std::string name;
  Shape shape;
  const float* data;
};

void save_safetensors(const std::string& path, const std::vector<TensorRef>& tensors,
                      const std::map<std::string, std::string>& metadata);

// Treats the file as untrusted; throws std::runtime_error("<path>: <what is wrong>").
// Only regular files of at most kMaxSafetensorsBytes are read.
SafetensorsFile load_safetensors(const std::string& path);
// The same checks on bytes already in memory (`source` names them in messages; the fuzzer).
SafetensorsFile parse_safetensors(const std::string& bytes, const std::string& source);

constexpr uint64_t kMaxSafetensorsBytes = uint64_t{64} << 30;  // 64 GiB

}  // namespace attn
