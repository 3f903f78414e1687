// libFuzzer entry: the target is chosen at compile time (-DATTN_FUZZ_TARGET=npy_reader, ...).
#include "tests/fuzz/targets.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  attn::fuzz::ATTN_FUZZ_TARGET(data, size);
  return 0;
}
