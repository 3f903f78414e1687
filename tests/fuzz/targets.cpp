#include "tests/fuzz/targets.h"

#include <unistd.h>

#include <cstdio>
#include <exception>
#include <string>

#include "apps/csv.h"
#include "apps/listops.h"
#include "apps/tokenizer.h"
#include "engine/npy.h"
#include "nn/checkpoint.h"

namespace attn::fuzz {
namespace {

// The readers take paths: write the bytes to a per-process temporary file.
std::string as_file(const uint8_t* data, size_t size, const char* suffix) {
  const std::string path = "/tmp/attn_fuzz_" + std::to_string(getpid()) + suffix;
  FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) return path;
  if (size) std::fwrite(data, 1, size, f);
  std::fclose(f);
  return path;
}

}  // namespace

void npy_reader(const uint8_t* data, size_t size) {
  const std::string path = as_file(data, size, ".npy");
  try {
    Tensor t = load_npy(path);
    volatile float sink = t.numel() ? t.data()[t.numel() - 1] : 0.0f;  // touch the data
    (void)sink;
  } catch (const std::exception&) {
  }
  std::remove(path.c_str());
}

void checkpoint_reader(const uint8_t* data, size_t size) {
  const std::string path = as_file(data, size, ".safetensors");
  try {
    Checkpoint c = read_checkpoint(path);
    (void)c;
  } catch (const std::exception&) {
  }
  std::remove(path.c_str());
}

void utf8_tokenizer(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  try {
    Tokenizer t = Tokenizer::chars_of(text, "fuzz");
    const auto ids = t.encode(text, "fuzz");
    if (t.decode(ids) != text) __builtin_trap();  // char level must round-trip valid UTF-8
  } catch (const std::exception&) {
  }
}

void csv_reader(const uint8_t* data, size_t size) {
  try {
    const auto rows = parse_labeled_csv(std::string(reinterpret_cast<const char*>(data), size),
                                        "fuzz.csv", 4);
    for (const auto& r : rows)
      if (r.label < 0 || r.label >= 4) __builtin_trap();
  } catch (const std::exception&) {
  }
}

void listops_tsv_reader(const uint8_t* data, size_t size) {
  const std::string path = as_file(data, size, ".tsv");
  try {
    for (const auto& ex : listops::read_tsv(path)) {
      try {
        listops::evaluate(ex.tokens);
      } catch (const std::exception&) {
      }
    }
  } catch (const std::exception&) {
  }
  std::remove(path.c_str());
}

}  // namespace attn::fuzz
