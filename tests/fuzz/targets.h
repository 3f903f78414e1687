// Fuzz entry points, shared by the libFuzzer binaries (scripts/fuzz.sh) and the regression
// test that replays every saved input (tests/fuzz/test_regressions.cpp). Each treats the
// bytes as a hostile file, in memory (no temporary files): any std::exception is a correct
// answer; a crash, a hang, a sanitizer report or unbounded memory is a bug.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

namespace attn::fuzz {

void npy_reader(const uint8_t* data, size_t size);          // parse_npy
void checkpoint_reader(const uint8_t* data, size_t size);   // parse_checkpoint, then its
                                                            // tokenizer, saved options, and
                                                            // loading into a model it fits
void utf8_tokenizer(const uint8_t* data, size_t size);      // decode_utf8 + char tokenizer
void csv_reader(const uint8_t* data, size_t size);          // label,text CSV (app's limits)
void listops_tsv_reader(const uint8_t* data, size_t size);  // LRA ListOps TSV + evaluator
void json_reader(const uint8_t* data, size_t size);         // parse_untrusted_json + tokenizer,
                                                            // config and dataset.json checks
void subword_model_reader(const uint8_t* data, size_t size);  // a SentencePiece model (as in a
                                                              // checkpoint), then encode/decode

}  // namespace attn::fuzz
