// .npy round trip and the failures a hostile or broken file must produce.
#include <filesystem>
#include <fstream>

#include "engine/npy.h"
#include "tests/helpers.h"

using namespace attn;
using namespace attn::test;

namespace {

std::string temp_path(const std::string& name) {
  return (std::filesystem::temp_directory_path() / ("attn_test_" + name)).string();
}

std::string read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

void write_all(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary) << bytes;
}

}  // namespace

TEST_CASE("save and load round-trip for every rank") {
  for (const Shape& shape : {Shape{}, Shape{5}, Shape{2, 3}, Shape{2, 1, 4}, Shape{1, 2, 3, 2}}) {
    Tensor t = random(shape, 1, 1, false);
    const std::string path = temp_path("roundtrip.npy");
    save_npy(path, t);
    const std::string bytes = read_all(path);
    CHECK(bytes.substr(1, 5) == "NUMPY");
    const size_t header_end = 10 + (unsigned char)bytes[8] + ((unsigned char)bytes[9] << 8);
    CHECK(header_end % 64 == 0);
    Tensor back = load_npy(path);
    CHECK(back.shape() == shape);
    CHECK(max_abs_diff(back, t) == 0);
  }
}

TEST_CASE("broken files fail with a message naming the file and the problem") {
  const std::string good = temp_path("good.npy");
  save_npy(good, Tensor::ones({4, 4}));
  const std::string bytes = read_all(good);
  const std::string bad = temp_path("bad.npy");

  write_all(bad, bytes.substr(0, bytes.size() - 5));
  CHECK_THROWS_WITH(load_npy(bad), doctest::Contains("(truncated?)"));
  CHECK_THROWS_WITH(load_npy(bad), doctest::Contains(bad.c_str()));

  std::string f8 = bytes;
  f8.replace(f8.find("<f4"), 3, "<f8");
  write_all(bad, f8);
  CHECK_THROWS_WITH(load_npy(bad), doctest::Contains("dtype '<f8' is not supported"));

  write_all(bad, "hello world, not numpy");
  CHECK_THROWS_WITH(load_npy(bad), doctest::Contains("wrong magic"));

  write_all(bad, "");
  CHECK_THROWS_WITH(load_npy(bad), doctest::Contains("too short"));

  std::string huge = bytes;
  huge[8] = '\xff', huge[9] = '\x7f';
  write_all(bad, huge);
  CHECK_THROWS_WITH(load_npy(bad), doctest::Contains("header claims"));

  std::string fortran = bytes;
  fortran.replace(fortran.find("False"), 5, "True ");
  write_all(bad, fortran);
  CHECK_THROWS_WITH(load_npy(bad), doctest::Contains("Fortran-ordered"));

  CHECK_THROWS_WITH(load_npy(temp_path("missing.npy")), doctest::Contains("cannot open"));
}
