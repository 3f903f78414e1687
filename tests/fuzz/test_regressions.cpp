// Replays every input the fuzzers saved (tests/fuzz/regressions/<target>/) and the seed
// corpora: none may crash (exceptions are the expected answer to a bad file).
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <vector>

#include "tests/fuzz/targets.h"

namespace {

int replay(const std::string& folder, void (*target)(const uint8_t*, size_t)) {
  int count = 0;
  if (!std::filesystem::exists(folder)) return 0;
  for (const auto& entry : std::filesystem::directory_iterator(folder)) {
    std::ifstream in(entry.path(), std::ios::binary);
    const std::vector<uint8_t> bytes(std::istreambuf_iterator<char>(in), {});
    target(bytes.data(), bytes.size());
    ++count;
  }
  return count;
}

const std::string kRoot = ATTN_FUZZ_DIR;

}  // namespace

TEST_CASE("saved fuzz inputs replay without crashing") {
  CHECK(replay(kRoot + "/regressions/npy", attn::fuzz::npy_reader) +
            replay(kRoot + "/corpus/npy", attn::fuzz::npy_reader) > 0);
  CHECK(replay(kRoot + "/regressions/safetensors", attn::fuzz::checkpoint_reader) +
            replay(kRoot + "/corpus/safetensors", attn::fuzz::checkpoint_reader) > 0);
  CHECK(replay(kRoot + "/regressions/utf8", attn::fuzz::utf8_tokenizer) +
            replay(kRoot + "/corpus/utf8", attn::fuzz::utf8_tokenizer) > 0);
  CHECK(replay(kRoot + "/regressions/csv", attn::fuzz::csv_reader) +
            replay(kRoot + "/corpus/csv", attn::fuzz::csv_reader) > 0);
  CHECK(replay(kRoot + "/regressions/tsv", attn::fuzz::listops_tsv_reader) +
            replay(kRoot + "/corpus/tsv", attn::fuzz::listops_tsv_reader) > 0);
  CHECK(replay(kRoot + "/regressions/json", attn::fuzz::json_reader) +
            replay(kRoot + "/corpus/json", attn::fuzz::json_reader) > 0);
  CHECK(replay(kRoot + "/regressions/spm", attn::fuzz::subword_model_reader) +
            replay(kRoot + "/corpus/spm", attn::fuzz::subword_model_reader) > 0);
}
