// `attn prepare`: a corpus (text files, folders of them, globs) into a dataset folder that
// `attn train --data-dir` reads memory-mapped: train.bin and val.bin (token ids, uint16 when
// the vocabulary fits, else uint32), dataset.json (vocabulary size, dtype, the tokenizer
// itself, token and byte counts of each split, the source files and their sizes).
// Tokenizers: char (the corpus's characters), byte, or a SentencePiece BPE / unigram
// vocabulary of --vocab-size pieces with byte fallback, trained on a bounded sample.
// The corpus is streamed in blocks that end at line breaks (never held whole), encoded on
// every core, with a progress line (MB/s, ETA); the folder is built under a temporary name and
// renamed at the end, so a partial dataset (a full disk, Ctrl-C) is never taken for a whole one.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace attn {

struct PrepareOptions {
  std::vector<std::string> inputs;  // files, folders (every file inside, sorted) or globs
  std::string out;
  std::string tokenizer = "bpe";    // char | byte | bpe | unigram
  int64_t vocab_size = 8192;        // bpe, unigram
  double val_fraction = 0.1;        // the last share of the corpus's bytes
  double sample_mb = 20;            // bpe, unigram: training sample, spread over the corpus
  std::string dtype = "auto";       // auto | uint16 | uint32
  int threads = 0;
  bool quiet = false;
};

int run_prepare(const PrepareOptions& options);

}  // namespace attn
