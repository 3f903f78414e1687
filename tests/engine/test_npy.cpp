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

  CHECK_THROWS_WITH(load_npy(temp_path("missing.npy")), doctest::Contains("does not exist"));
}

// A .npy file with this header text (version 2: a 4-byte header length) and `data_bytes`
// zero bytes of data.
static std::string npy_with_header(const std::string& header, size_t data_bytes = 0) {
  std::string out = "\x93NUMPY";
  out += '\x02', out += '\x00';
  const auto n = static_cast<uint32_t>(header.size());
  for (int i = 0; i < 4; ++i) out += static_cast<char>((n >> (8 * i)) & 0xff);
  return out + header + std::string(data_bytes, '\0');
}

TEST_CASE("hostile .npy headers: long, deep or overflowing, refused without recursion or wrap") {
  const std::string bad = temp_path("hostile.npy");
  auto refused_with = [&](const std::string& header, const char* message) {
    write_all(bad, npy_with_header(header, 64));
    CHECK_THROWS_WITH(load_npy(bad), doctest::Contains(message));
  };
  const std::string spaces(60000, ' ');  // under the 64 KiB limit; std::regex overflowed on this
  refused_with("{'descr':" + spaces + "'<f8', 'fortran_order': False, 'shape': (2,), }", "'<f8' is not supported");
  refused_with("{'descr': '" + std::string(60000, 'x') + "', 'shape': (2,), }", "xxxx...' is not supported");
  const std::string half(30000, ' ');
  write_all(bad, npy_with_header("{'descr': '<f4', 'fortran_order': False, 'shape': (" + half + "), }" + half, 4));
  CHECK(load_npy(bad).numel() == 1);  // () is a scalar
  refused_with(std::string(30000, '{'), "expected a quoted string at character 1");  // no descent
  refused_with("{'descr': '<f4', 'shape': (" + std::string(30000, '(') + "), }", "expected a size");
  // Products that wrap int64 (2^21 cubed = 2^63) or pass 2^40 elements, and one size over it.
  refused_with("{'descr': '<f4', 'shape': (2097152, 2097152, 2097152), }", "more than 2^40 elements");
  refused_with("{'descr': '<f4', 'shape': (4294967296, 4294967296), }", "more than 2^40 elements");
  refused_with("{'descr': '<f4', 'shape': (99999999999999999999999,), }", "over 2^40");
  refused_with("{'descr': '<f4', 'shape': (1, 2, 3, 4, 5), }", "more than 4 dims");
  refused_with("{'descr': '<f4', 'shape': (2, 3), 'extra': 1}", "unknown key 'extra'");
  refused_with("{'descr': '<f4', 'shape': (2, -3), }", "expected a size");
  refused_with("{'descr': '<f4', 'shape': (2, 3)", "expected ',' or '}'");
  refused_with("{'descr': '<f4, 'shape': (2,)}", "expected ',' or '}' at character 17");
  refused_with("{'shape': (2,)}", "no 'descr'");
  refused_with("{'descr': '<f4'}", "no 'shape'");
  // A zero-size array with a huge other dimension is valid and holds no data.
  write_all(bad, npy_with_header("{'descr': '<f4', 'fortran_order': False, 'shape': (0, 4294967296), }"));
  CHECK(load_npy(bad).numel() == 0);
  std::filesystem::remove(bad);
}

TEST_CASE("tensor sizes are checked as they are multiplied") {
  CHECK(checked_numel({3, 4}, "t") == 12);
  CHECK(checked_numel({0, int64_t{1} << 62}, "t") == 0);
  CHECK_THROWS_WITH(checked_numel({int64_t{1} << 21, int64_t{1} << 21, int64_t{1} << 21}, "t"),
                    doctest::Contains("more than 2^40"));
  CHECK_THROWS_WITH(Tensor::empty({int64_t{1} << 32, int64_t{1} << 32}), doctest::Contains("more than 2^40"));
  CHECK_THROWS_WITH(checked_numel({2, -1}, "t"), doctest::Contains("negative size"));
}
