#include "apps/corpus.h"

#include <glob.h>

#include <algorithm>
#include <filesystem>
#include <stdexcept>

#include "engine/files.h"

namespace attn {
namespace fs = std::filesystem;
namespace {

bool hidden(const fs::path& p) {
  for (const auto& part : p)
    if (part.string().size() > 1 && part.string()[0] == '.' && part.string() != "..") return true;
  return false;
}

std::vector<std::string> expand(const std::string& input) {
  std::vector<std::string> paths;
  if (input.find_first_of("*?[") != std::string::npos) {
    glob_t g{};
    if (::glob(input.c_str(), 0, nullptr, &g) == 0)
      for (size_t i = 0; i < g.gl_pathc; ++i) paths.push_back(g.gl_pathv[i]);
    ::globfree(&g);
  } else if (fs::is_directory(input)) {
    for (const auto& e : fs::recursive_directory_iterator(input))
      if (e.is_regular_file() && !hidden(fs::relative(e.path(), input))) paths.push_back(e.path().string());
  } else {
    paths.push_back(input);
  }
  std::sort(paths.begin(), paths.end());
  return paths;
}

// Where to cut `text` (size > 0) so that the block ends at a line break, or else at a UTF-8
// character boundary.
size_t cut_point(const std::string& text) {
  const size_t newline = text.rfind('\n');
  if (newline != std::string::npos) return newline + 1;
  size_t lead = text.size();  // back over at most 3 continuation bytes to the last lead byte
  while (lead > 0 && text.size() - lead < 3 && (static_cast<unsigned char>(text[lead - 1]) & 0xC0) == 0x80)
    --lead;
  if (lead <= 1) return text.size();
  const auto c = static_cast<unsigned char>(text[lead - 1]);
  const size_t need = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 1;
  return text.size() - (lead - 1) >= need ? text.size() : lead - 1;
}

}  // namespace

std::vector<SourceFile> list_corpus(const std::vector<std::string>& inputs) {
  if (inputs.empty()) throw std::invalid_argument("attn prepare: give the corpus: files, folders or globs");
  std::vector<SourceFile> files;
  uint64_t total = 0;
  for (const std::string& input : inputs) {
    const auto paths = expand(input);
    if (paths.empty())
      throw std::runtime_error(input + (fs::is_directory(input) ? ": the folder holds no files"
                                                                 : ": no file matches"));
    for (const auto& p : paths) {
      files.push_back({p, regular_file_size(p, "a corpus file")});
      total += files.back().bytes;
    }
  }
  if (total == 0) throw std::runtime_error(inputs.front() + ": the corpus is empty (0 bytes)");
  return files;
}

CorpusReader::CorpusReader(const std::vector<SourceFile>& files, size_t block_bytes)
    : files_(files), block_bytes_(block_bytes) {}

bool CorpusReader::next(Block& block) {
  while (file_ < files_.size()) {
    if (!open_) {
      in_ = std::ifstream(files_[file_].path, std::ios::binary);
      if (!in_) throw std::runtime_error(files_[file_].path + ": cannot open the corpus file");
      open_ = true, offset_ = 0, carry_.clear();
    }
    std::string text = std::move(carry_);
    carry_.clear();
    const size_t want = block_bytes_ > text.size() ? block_bytes_ - text.size() : 0;
    const size_t old = text.size();
    text.resize(old + want);
    in_.read(text.data() + old, static_cast<std::streamsize>(want));
    text.resize(old + static_cast<size_t>(in_.gcount()));
    const bool at_end = in_.eof() || in_.gcount() == 0;
    if (text.empty()) {
      ++file_, open_ = false;
      continue;
    }
    const size_t cut = at_end ? text.size() : cut_point(text);
    carry_ = text.substr(cut);
    text.resize(cut);
    block = {std::move(text), file_, offset_, start_};
    offset_ += block.text.size(), start_ += block.text.size();
    if (at_end && carry_.empty()) ++file_, open_ = false;
    return true;
  }
  return false;
}

}  // namespace attn
