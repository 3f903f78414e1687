// Fuzz entry points, shared by the libFuzzer binaries (scripts/fuzz.sh) and the regression
// test that replays every saved input (tests/fuzz/test_regressions.cpp). Each treats the
// bytes as a hostile file: any std::exception is a correct answer, a crash is a bug.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

namespace attn::fuzz {

void npy_reader(const uint8_t* data, size_t size);          // load_npy
void checkpoint_reader(const uint8_t* data, size_t size);   // load_safetensors + read_checkpoint
void utf8_tokenizer(const uint8_t* data, size_t size);      // decode_utf8 + char tokenizer
void csv_reader(const uint8_t* data, size_t size);          // label,text CSV
void listops_tsv_reader(const uint8_t* data, size_t size);  // LRA ListOps TSV + evaluator

}  // namespace attn::fuzz
