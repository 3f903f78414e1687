#include "apps/token_files.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <stdexcept>

#include "engine/files.h"
#include "nn/json_input.h"

namespace attn {
namespace {

[[noreturn]] void fail(const std::string& path, const std::string& what) {
  throw std::runtime_error(path + ": " + what);
}

double number_or_zero(const nlohmann::json& j, const char* split, const char* key) {
  if (!j.contains(split) || !j[split].is_object() || !j[split].contains(key)) return 0;
  const auto& v = j[split][key];
  return v.is_number() && v.get<double>() >= 0 ? v.get<double>() : 0;
}

}  // namespace

TokenFile::TokenFile(const std::string& path, int width, int64_t vocab_size)
    : path_(path), width_(width), vocab_(vocab_size) {
  const uint64_t bytes = regular_file_size(path, "a token file");
  if (bytes == 0) fail(path, "the token file is empty");
  if (bytes % static_cast<uint64_t>(width) != 0)
    fail(path, "its " + std::to_string(bytes) + " bytes are not a whole number of " +
                   std::to_string(width) + "-byte token ids (a different dtype, or truncated?)");
  count_ = static_cast<int64_t>(bytes / static_cast<uint64_t>(width));
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail(path, "cannot open the token file: " + std::string(std::strerror(errno)));
  void* map = ::mmap(nullptr, bytes, PROT_READ, MAP_SHARED, fd, 0);
  ::close(fd);
  if (map == MAP_FAILED) fail(path, "cannot map the token file: " + std::string(std::strerror(errno)));
  ::madvise(map, bytes, MADV_RANDOM);  // windows are drawn at random: no read-ahead
  data_ = static_cast<const uint8_t*>(map), mapped_ = bytes;
}

TokenFile::~TokenFile() {
  if (data_) ::munmap(const_cast<uint8_t*>(data_), mapped_);
}

void TokenFile::read(int64_t start, int64_t n, int32_t* out) const {
  for (int64_t i = 0; i < n; ++i) {
    const uint8_t* p = data_ + (start + i) * width_;
    uint32_t id = p[0] | static_cast<uint32_t>(p[1]) << 8;  // little-endian
    if (width_ == 4) id |= static_cast<uint32_t>(p[2]) << 16 | static_cast<uint32_t>(p[3]) << 24;
    if (id >= static_cast<uint64_t>(vocab_))
      fail(path_, "token " + std::to_string(start + i) + " (byte offset " +
                      std::to_string((start + i) * width_) + ") is " + std::to_string(id) +
                      ", outside the vocabulary of " + std::to_string(vocab_));
    out[i] = static_cast<int32_t>(id);
  }
  // Unmap what this read touched (the kernel maps 64 KB around each fault): the data stays in
  // the page cache, but not in this process's resident memory, which would otherwise grow with
  // every window drawn until it held the whole file (2 GB token file: +136 MB over 150 steps).
  constexpr uint64_t kAround = 64 << 10;
  const uint64_t first = static_cast<uint64_t>(start * width_) / kAround * kAround;
  const uint64_t last = std::min<uint64_t>(((start + n) * width_ + kAround - 1) / kAround * kAround, mapped_);
  ::madvise(const_cast<uint8_t*>(data_) + first, last - first, MADV_DONTNEED);
}

DatasetInfo read_dataset_info(const std::string& dir, int64_t vocab_size) {
  DatasetInfo info;
  info.dir = dir;
  const std::string meta = dir + "/dataset.json";
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec)) fail(dir, "--data-dir is not a folder");
  if (!std::filesystem::exists(meta, ec)) {  // nanoGPT's layout: uint16 ids, no tokenizer
    if (!std::filesystem::exists(dir + "/train.bin", ec))
      fail(dir, "holds neither dataset.json (attn prepare) nor train.bin (nanoGPT)");
    if (vocab_size <= 0)
      fail(dir, "has train.bin and val.bin but no dataset.json: give the vocabulary size with "
                "--vocab-size N (nanoGPT's GPT-2 data: 50257)");
    if (vocab_size > 65536) fail(dir, "uint16 token files hold ids below 65536, not a vocabulary of " +
                                      std::to_string(vocab_size));
    info.vocab_size = vocab_size;
    info.description = {{"format", "nanogpt"}, {"dtype", "uint16"}, {"vocab_size", vocab_size}};
    return info;
  }
  DatasetInfo parsed = dataset_info_from_json(read_regular_file(meta, "a dataset description", 64 << 20), meta,
                                               vocab_size);
  parsed.dir = dir;
  return parsed;
}

DatasetInfo dataset_info_from_json(const std::string& text, const std::string& meta, int64_t vocab_size) {
  DatasetInfo info;
  const nlohmann::json j = parse_untrusted_json(text, meta);
  if (!j.is_object() || !j.contains("vocab_size") || !j["vocab_size"].is_number_integer() ||
      !j.contains("dtype") || !j["dtype"].is_string())
    fail(meta, "needs vocab_size (an integer) and dtype (uint16 or uint32)");
  info.vocab_size = j["vocab_size"].get<int64_t>();
  const std::string dtype = j["dtype"].get<std::string>();
  if (dtype != "uint16" && dtype != "uint32") fail(meta, "dtype must be uint16 or uint32, got " + json_excerpt(j["dtype"]));
  info.width = dtype == "uint16" ? 2 : 4;
  if (info.vocab_size < 1 || info.vocab_size > (info.width == 2 ? 65536 : int64_t{1} << 24))
    fail(meta, "vocab_size " + std::to_string(info.vocab_size) + " does not fit its " + dtype + " ids");
  if (vocab_size > 0 && vocab_size != info.vocab_size)
    fail(meta, "the dataset's vocabulary has " + std::to_string(info.vocab_size) + " tokens, not the " +
                   std::to_string(vocab_size) + " of --vocab-size");
  if (j.contains("tokenizer") && j["tokenizer"].is_object()) info.tokenizer = j["tokenizer"];
  info.train_bytes = number_or_zero(j, "train", "bytes"), info.val_bytes = number_or_zero(j, "val", "bytes");
  info.train_tokens = number_or_zero(j, "train", "tokens"), info.val_tokens = number_or_zero(j, "val", "tokens");
  info.description = j;
  info.description.erase("tokenizer");  // stored once, as the task's tokenizer
  return info;
}

TokenFileTask::TokenFileTask(const std::string& dir, int64_t vocab_size, int64_t context)
    : info_(read_dataset_info(dir, vocab_size)) {
  if (!info_.tokenizer.is_null()) {
    tokenizer_ = std::make_unique<Tokenizer>(Tokenizer::from_json(info_.tokenizer));
    if (tokenizer_->vocab_size() != info_.vocab_size)
      fail(dir + "/dataset.json", "its tokenizer has " + std::to_string(tokenizer_->vocab_size()) +
                                      " tokens but vocab_size says " + std::to_string(info_.vocab_size));
  }
  train_ = std::make_unique<TokenFile>(dir + "/train.bin", info_.width, info_.vocab_size);
  val_ = std::make_unique<TokenFile>(dir + "/val.bin", info_.width, info_.vocab_size);
  for (const auto* f : {train_.get(), val_.get()})
    if (f->size() <= context)
      fail(dir, std::string(f == train_.get() ? "train.bin" : "val.bin") + " holds " +
                    std::to_string(f->size()) + " tokens, not more than the context " +
                    std::to_string(context) + " (one window and its next token)");
}

Batch TokenFileTask::batch(bool validation, int64_t B, int64_t T, Rng& rng) const {
  const TokenFile& data = validation ? *val_ : *train_;
  Batch b{{{B, T}, std::vector<int32_t>(B * T)}, {{B, T}, std::vector<int32_t>(B * T)}};
  std::vector<int32_t> window(T + 1);
  for (int64_t i = 0; i < B; ++i) {  // the same draws as TextTask: one start per row
    const int64_t start = static_cast<int64_t>(rng.below(static_cast<uint64_t>(data.size() - T)));
    data.read(start, T + 1, window.data());
    std::copy(window.begin(), window.end() - 1, b.inputs.values.begin() + i * T);
    std::copy(window.begin() + 1, window.end(), b.targets.values.begin() + i * T);
  }
  return b;
}

nlohmann::json TokenFileTask::describe() const {
  nlohmann::json j = {{"kind", "tokens"}, {"data_dir", info_.dir}, {"dataset", info_.description}};
  if (tokenizer_) j["tokenizer"] = tokenizer_->to_json();
  return j;
}

double TokenFileTask::val_bytes_per_token() const {
  return info_.val_tokens > 0 && info_.val_bytes > 0 ? info_.val_bytes / info_.val_tokens : 0;
}

}  // namespace attn
