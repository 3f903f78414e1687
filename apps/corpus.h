// A corpus on disk, read as a stream of blocks: the source files (from paths, folders and
// globs), in order, each cut into blocks that end at a line break (or, in a line longer than
// a block, at a UTF-8 character boundary), so that blocks can be tokenized independently and
// in parallel with nothing held but the blocks in flight.
#pragma once
#include <cstdint>
#include <fstream>
#include <string>
#include <vector>

namespace attn {

struct SourceFile {
  std::string path;
  uint64_t bytes = 0;
};

// The files the inputs name: a regular file as itself, a folder as every regular file in it
// and below (sorted, hidden ones skipped), a pattern with * ? [ as its matches. Throws naming
// the input when it names nothing, or when all the files together are empty.
std::vector<SourceFile> list_corpus(const std::vector<std::string>& inputs);

struct Block {
  std::string text;
  size_t file = 0;      // index in the source list
  uint64_t offset = 0;  // where the block starts in its file
  uint64_t start = 0;   // where it starts in the whole corpus
};

class CorpusReader {
 public:
  CorpusReader(const std::vector<SourceFile>& files, size_t block_bytes);
  bool next(Block& block);  // false at the end

 private:
  const std::vector<SourceFile>& files_;
  size_t block_bytes_, file_ = 0;
  std::ifstream in_;
  std::string carry_;  // the part of the last read past the block's cut
  uint64_t offset_ = 0, start_ = 0;
  bool open_ = false;
};

}  // namespace attn
