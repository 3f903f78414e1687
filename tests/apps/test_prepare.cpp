// attn prepare and the token-file datasets (issue: real corpora): round trips for every
// tokenizer, memory mapping, and each bad input refused with the file and the place.
#include <doctest/doctest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "apps/prepare.h"
#include "apps/token_files.h"
#include "apps/tokenizer.h"

using namespace attn;
namespace fs = std::filesystem;

namespace {

std::string temp_dir(const std::string& name) {
  const fs::path p = fs::temp_directory_path() / ("attn_prepare_" + name);
  fs::remove_all(p);
  return p.string();
}

void write(const std::string& path, const std::string& bytes) {
  fs::create_directories(fs::path(path).parent_path());
  std::ofstream(path, std::ios::binary) << bytes;
}

// A corpus of three files: accents, emoji, CRLF, a line longer than a block, no final newline.
std::string make_corpus(const std::string& dir) {
  std::string all;
  const std::string parts[] = {
      "Caf\xC3\xA9 au lait, na\xC3\xAFve r\xC3\xA9sum\xC3\xA9.\r\nSecond line \xF0\x9F\x98\x80\n",
      std::string(20000, 'x') + " one long line " + std::string(9000, 'y') + "\n",
      "The quick brown fox jumps over the lazy dog.\n" + std::string(300, '-') + "\nend"};
  int i = 0;
  for (const auto& p : parts) {
    std::string text;
    for (int r = 0; r < 8; ++r) text += p;  // enough for a validation split
    write(dir + "/part" + std::to_string(i++) + ".txt", text);
    all += text;
  }
  return all;
}

// The whole dataset decoded: train.bin then val.bin.
std::string decode_dataset(const std::string& dir) {
  const DatasetInfo info = read_dataset_info(dir, 0);
  const Tokenizer tok = Tokenizer::from_json(info.tokenizer);
  std::string text;
  for (const char* split : {"/train.bin", "/val.bin"}) {
    TokenFile f(dir + split, info.width, info.vocab_size);
    std::vector<int32_t> ids(f.size());
    f.read(0, f.size(), ids.data());
    text += tok.decode(ids);
  }
  return text;
}

}  // namespace

TEST_CASE("prepare -> read -> decode gives back the corpus, for char, byte, BPE and unigram") {
  const std::string corpus = temp_dir("corpus");
  const std::string text = make_corpus(corpus);
  for (const char* kind : {"char", "byte", "bpe", "unigram"}) {
    CAPTURE(kind);
    PrepareOptions o;
    o.inputs = {corpus}, o.out = temp_dir(std::string("ds_") + kind), o.tokenizer = kind;
    o.vocab_size = 400, o.quiet = true;
    REQUIRE(run_prepare(o) == 0);
    CHECK(decode_dataset(o.out) == text);
    const DatasetInfo info = read_dataset_info(o.out, 0);
    CHECK(info.width == 2);
    CHECK(info.train_bytes + info.val_bytes == text.size());
    CHECK(info.val_bytes > 0);
    CHECK_FALSE(fs::exists(o.out + ".partial-" + std::to_string(::getpid())));
  }
}

TEST_CASE("subword vocabularies encode any bytes; the char tokenizer names the file and offset") {
  const std::string dir = temp_dir("bad_utf8");
  std::string text;
  for (int i = 0; i < 50; ++i) text += "valid line " + std::to_string(i) + "\n";
  const std::string bad = text + "broken \xFF\xC3 bytes\n" + text;
  write(dir + "/a.txt", bad);
  PrepareOptions o;
  o.inputs = {dir + "/a.txt"}, o.out = temp_dir("bad_char"), o.tokenizer = "char", o.quiet = true;
  const std::string where = "a.txt: invalid UTF-8 at byte offset " + std::to_string(text.size() + 7);
  CHECK_THROWS_WITH(run_prepare(o), doctest::Contains(where.c_str()));
  CHECK_FALSE(fs::exists(o.out));
  o.tokenizer = "bpe", o.vocab_size = 300;
  REQUIRE(run_prepare(o) == 0);
  // Accepted: every valid character comes back; SentencePiece reads the invalid bytes as
  // U+FFFD (the replacement character), which byte fallback then encodes.
  const std::string decoded = decode_dataset(o.out);
  CAPTURE(decoded.substr(text.size(), 40));
  CHECK(decoded == text + "broken \xEF\xBF\xBD\xEF\xBF\xBD bytes\n" + text);
}

TEST_CASE("bad corpora and datasets are refused with the file and the place") {
  PrepareOptions o;
  o.quiet = true, o.tokenizer = "byte";
  o.out = temp_dir("never");
  o.inputs = {temp_dir("empty_dir")};
  fs::create_directories(o.inputs[0]);
  CHECK_THROWS_WITH(run_prepare(o), doctest::Contains("the folder holds no files"));
  write(o.inputs[0] + "/empty.txt", "");
  CHECK_THROWS_WITH(run_prepare(o), doctest::Contains("the corpus is empty"));
  o.inputs = {o.inputs[0] + "/*.md"};
  CHECK_THROWS_WITH(run_prepare(o), doctest::Contains("no file matches"));
  // A vocabulary too large for uint16 ids.
  std::string wide;
  for (char32_t c = 0x4E00; c < 0x4E00 + 70000; ++c) wide += encode_utf8(c == 0xD800 ? 'a' : c > 0xD7FF && c < 0xE000 ? 'b' : c);
  const std::string dir = temp_dir("wide");
  write(dir + "/w.txt", wide + "\n" + wide);
  o.inputs = {dir}, o.tokenizer = "char", o.dtype = "uint16";
  CHECK_THROWS_WITH(run_prepare(o), doctest::Contains("--dtype uint16 holds ids below 65536"));
  // Token files: a size that is not whole ids, an id outside the vocabulary, val.bin missing.
  const std::string ng = temp_dir("nanogpt");
  write(ng + "/train.bin", std::string("\x01\x00\x02\x00\x63\x00", 6));
  write(ng + "/val.bin", std::string("\x01\x00\x02", 3));
  CHECK_THROWS_WITH(TokenFileTask(ng, 100, 1), doctest::Contains("val.bin: its 3 bytes are not a whole number"));
  write(ng + "/val.bin", std::string("\x01\x00\x02\x00\x03\x00", 6));
  CHECK_THROWS_WITH(TokenFileTask(ng, 100, 4), doctest::Contains("holds 3 tokens, not more than the context 4"));
  TokenFileTask task(ng, 50, 2);
  Rng rng(1);
  CHECK_THROWS_WITH(for (int i = 0; i < 50; ++i) task.batch(false, 4, 2, rng),
                    doctest::Contains("train.bin: token 2 (byte offset 4) is 99, outside the vocabulary of 50"));
  fs::remove(ng + "/val.bin");
  CHECK_THROWS_WITH(TokenFileTask(ng, 100, 1), doctest::Contains("val.bin: a token file does not exist"));
  CHECK_THROWS_WITH(read_dataset_info(ng, 0), doctest::Contains("give the vocabulary size with --vocab-size"));
}

TEST_CASE("token files are mapped, not read: a file far larger than what a batch touches") {
  const std::string dir = temp_dir("mapped");
  fs::create_directories(dir);
  {  // 64 MB of ids, sparse: the pages are never read unless a window lands on them
    std::ofstream f(dir + "/train.bin", std::ios::binary);
    f.seekp((int64_t{32} << 20) * 2 - 2);
    f.write("\x00\x00", 2);
  }
  write(dir + "/val.bin", std::string(64, '\0'));
  auto resident_kb = [] {
    std::ifstream status("/proc/self/status");
    long kb = 0;
    for (std::string line; std::getline(status, line);)
      if (line.rfind("VmRSS:", 0) == 0) kb = std::stol(line.substr(6));
    return kb;
  };
  const long before = resident_kb();
  TokenFileTask task(dir, 10, 8);
  Rng rng(3);
  for (int i = 0; i < 20; ++i) CHECK(task.batch(false, 16, 8, rng).inputs.values.size() == 128);
  // The 64 MB file is mapped and its touched pages unmapped again: resident memory grows by
  // far less than the file (also under ASan, whose own overhead is in `before`).
  CHECK(resident_kb() - before < 16 * 1024);
}
