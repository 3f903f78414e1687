#include "apps/prepare.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <set>
#include <stdexcept>

#include "apps/corpus.h"
#include "apps/run_folder.h"
#include "apps/tokenizer.h"
#include "engine/files.h"
#include "engine/parallel.h"
#include "nn/json_input.h"

namespace attn {
namespace fs = std::filesystem;
namespace {

using Clock = std::chrono::steady_clock;

uint64_t corpus_bytes(const std::vector<SourceFile>& files) {
  uint64_t total = 0;
  for (const auto& f : files) total += f.bytes;
  return total;
}

// Blocks of about 4 MB, smaller for small corpora so that the validation split (whole blocks
// from its start on) is close to the share asked for.
size_t block_size(uint64_t total) {
  return static_cast<size_t>(std::clamp<uint64_t>(total / 200, 256, 4 << 20));
}

// The progress line on stderr: bytes done, MB/s, ETA.
class Progress {
 public:
  Progress(const char* what, uint64_t total, bool quiet)
      : what_(what), total_(total), show_(!quiet && isatty(STDERR_FILENO)), t0_(Clock::now()) {}
  void update(uint64_t done) {
    if (!show_) return;
    const double s = std::chrono::duration<double>(Clock::now() - t0_).count();
    const double rate = static_cast<double>(done) / std::max(s, 1e-9);
    const double eta = rate > 0 ? static_cast<double>(total_ - std::min(done, total_)) / rate : 0;
    std::fprintf(stderr, "\rattn prepare: %s %8.1f / %.1f MB  %7.1f MB/s  ETA %d:%02d   ", what_,
                 done / 1e6, total_ / 1e6, rate / 1e6, static_cast<int>(eta) / 60, static_cast<int>(eta) % 60);
  }
  void done() {
    if (show_) std::fprintf(stderr, "\r%90s\r", "");
  }
  double seconds() const { return std::chrono::duration<double>(Clock::now() - t0_).count(); }

 private:
  const char* what_;
  uint64_t total_;
  bool show_;
  Clock::time_point t0_;
};

// The char vocabulary: every character of the corpus (one streaming pass; invalid UTF-8 is
// an error naming the file and the byte offset).
Tokenizer char_vocabulary(const std::vector<SourceFile>& files, const PrepareOptions& o) {
  std::set<char32_t> seen;
  CorpusReader reader(files, block_size(corpus_bytes(files)));
  Progress progress("reading characters", corpus_bytes(files), o.quiet);
  Block b;
  while (reader.next(b)) {
    for (char32_t c : decode_utf8(b.text, files[b.file].path, b.offset)) seen.insert(c);
    progress.update(b.start + b.text.size());
  }
  progress.done();
  nlohmann::json points = nlohmann::json::array();
  for (char32_t c : seen) points.push_back(static_cast<uint32_t>(c));
  return Tokenizer::from_json({{"kind", "char"}, {"code_points", points}});
}

// A SentencePiece vocabulary trained on at most sample_mb of the corpus: every k-th block,
// so that the sample spans the whole corpus, not only its beginning.
Tokenizer subword_vocabulary(const std::vector<SourceFile>& files, const PrepareOptions& o) {
  const uint64_t total = corpus_bytes(files), budget = static_cast<uint64_t>(o.sample_mb * 1e6);
  const size_t block = block_size(total);
  const uint64_t blocks = (total + block - 1) / block;
  const uint64_t stride = std::max<uint64_t>(1, (total + budget - 1) / std::max<uint64_t>(budget, 1));
  std::string sample;
  CorpusReader reader(files, block);
  Block b;
  for (uint64_t i = 0; reader.next(b) && sample.size() < budget; ++i)
    if (i % stride == 0) sample += b.text, sample += '\n';
  if (!o.quiet)
    std::fprintf(stderr, "attn prepare: training a %s vocabulary of %lld on %.1f MB (%llu of %llu blocks)\n",
                 o.tokenizer.c_str(), static_cast<long long>(o.vocab_size), sample.size() / 1e6,
                 static_cast<unsigned long long>((blocks + stride - 1) / stride),
                 static_cast<unsigned long long>(blocks));
  return Tokenizer::subword(SubwordModel::train(sample, o.tokenizer, o.vocab_size, threads()));
}

Tokenizer make_tokenizer(const std::vector<SourceFile>& files, const PrepareOptions& o) {
  if (o.tokenizer == "byte") return Tokenizer::bytes();
  if (o.tokenizer == "char") return char_vocabulary(files, o);
  if (o.tokenizer == "bpe" || o.tokenizer == "unigram") return subword_vocabulary(files, o);
  throw std::invalid_argument("--tokenizer must be char, byte, bpe or unigram, got '" + o.tokenizer + "'");
}

// One split's token file being written.
struct SplitWriter {
  FILE* file = nullptr;
  std::string path;
  uint64_t tokens = 0, bytes = 0;
  int width = 2;
  void write(const std::vector<int32_t>& ids) {
    std::vector<uint8_t> raw(ids.size() * width);
    for (size_t i = 0; i < ids.size(); ++i)
      for (int k = 0; k < width; ++k) raw[i * width + k] = static_cast<uint8_t>(ids[i] >> (8 * k));
    if (std::fwrite(raw.data(), 1, raw.size(), file) != raw.size())
      throw std::runtime_error(path + ": writing failed (disk full?); the dataset was not made");
    tokens += ids.size();
  }
};

// Encodes the corpus block by block, a batch of blocks at a time on every core, in order:
// blocks starting at or past the validation point go to val.bin, the others to train.bin.
void encode_corpus(const std::vector<SourceFile>& files, const Tokenizer& tok, const PrepareOptions& o,
                   SplitWriter& train, SplitWriter& val) {
  const uint64_t total = corpus_bytes(files);
  const auto val_start = static_cast<uint64_t>(std::floor(static_cast<double>(total) * (1.0 - o.val_fraction)));
  CorpusReader reader(files, block_size(total));
  Progress progress("encoding", total, o.quiet);
  const size_t batch = static_cast<size_t>(std::max(1, threads())) * 4;
  std::vector<Block> blocks(batch);
  std::vector<std::vector<int32_t>> ids(batch);
  for (bool more = true; more;) {
    size_t n = 0;
    while (n < batch && (more = reader.next(blocks[n]))) ++n;
    ParallelErrors errors;
#pragma omp parallel for schedule(dynamic, 1)
    for (size_t i = 0; i < n; ++i)
      errors.capture([&] {
        const Block& b = blocks[i];
        ids[i] = tok.encode(b.text, files[b.file].path + " (from byte " + std::to_string(b.offset) + ")");
      });
    errors.rethrow();
    for (size_t i = 0; i < n; ++i) {
      SplitWriter& split = blocks[i].start >= val_start && blocks[i].start > 0 ? val : train;
      split.write(ids[i]);
      split.bytes += blocks[i].text.size();
    }
    if (n) progress.update(blocks[n - 1].start + blocks[n - 1].text.size());
  }
  progress.done();
}

// The dataset's description, dataset.json.
nlohmann::json describe_dataset(const std::vector<SourceFile>& files, const Tokenizer& tok,
                                const PrepareOptions& o, const SplitWriter& train, const SplitWriter& val) {
  nlohmann::json sources = nlohmann::json::array();
  for (const auto& f : files) sources.push_back({{"path", f.path}, {"bytes", f.bytes}});
  return {{"format", "attn-dataset"}, {"version", 1}, {"vocab_size", tok.vocab_size()},
          {"dtype", train.width == 2 ? "uint16" : "uint32"}, {"tokenizer", tok.to_json()},
          {"tokenizer_kind", o.tokenizer}, {"val_fraction", o.val_fraction},
          {"train", {{"tokens", train.tokens}, {"bytes", train.bytes}}},
          {"val", {{"tokens", val.tokens}, {"bytes", val.bytes}}}, {"sources", sources}};
}

int token_width(const PrepareOptions& o, int64_t vocab) {
  if (o.dtype == "uint32") return 4;
  if (o.dtype == "uint16" || (o.dtype == "auto" && vocab <= 65536)) {
    if (vocab > 65536)
      throw std::invalid_argument("--dtype uint16 holds ids below 65536, but the vocabulary has " +
                                  std::to_string(vocab) + " tokens (use uint32 or auto)");
    return 2;
  }
  if (o.dtype != "auto") throw std::invalid_argument("--dtype must be auto, uint16 or uint32, got '" + o.dtype + "'");
  return 4;
}

}  // namespace

int run_prepare(const PrepareOptions& o) {
  if (o.out.empty()) throw std::invalid_argument("attn prepare: give the dataset folder with --out DIR");
  std::error_code ec;
  if (fs::exists(o.out, ec)) throw std::runtime_error(o.out + " already exists: choose another --out");
  const std::vector<SourceFile> files = list_corpus(o.inputs);
  const Tokenizer tok = make_tokenizer(files, o);
  const int width = token_width(o, tok.vocab_size());
  const std::string tmp = o.out + ".partial-" + std::to_string(::getpid());
  fs::create_directories(tmp);
  SplitWriter train, val;
  try {
    train.path = tmp + "/train.bin", val.path = tmp + "/val.bin";
    train.width = val.width = width;
    train.file = open_run_log(train.path, false), val.file = open_run_log(val.path, false);
    encode_corpus(files, tok, o, train, val);
    const bool closed = std::fclose(train.file) == 0 & std::fclose(val.file) == 0;
    train.file = val.file = nullptr;
    if (!closed) throw std::runtime_error(tmp + ": writing the token files failed (disk full?)");
    if (val.tokens == 0) throw std::runtime_error(o.inputs.front() + ": the corpus is too small for a validation split");
    write_json_file(tmp + "/dataset.json", describe_dataset(files, tok, o, train, val));
    fs::rename(tmp, o.out);  // only a whole dataset gets the folder's name
  } catch (...) {
    if (train.file) std::fclose(train.file);
    if (val.file) std::fclose(val.file);
    fs::remove_all(tmp, ec);
    throw;
  }
  std::printf("attn prepare: %zu files, %.1f MB -> %s: train %llu tokens, val %llu tokens, %s "
              "vocabulary of %lld, %s ids (%.2f bytes per token)\n", files.size(),
              corpus_bytes(files) / 1e6, o.out.c_str(), static_cast<unsigned long long>(train.tokens),
              static_cast<unsigned long long>(val.tokens), o.tokenizer.c_str(),
              static_cast<long long>(tok.vocab_size()), width == 2 ? "uint16" : "uint32",
              static_cast<double>(train.bytes + val.bytes) / static_cast<double>(train.tokens + val.tokens));
  return 0;
}

}  // namespace attn
