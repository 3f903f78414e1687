#include "engine/npy.h"

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <regex>
#include <stdexcept>
#include <vector>

namespace attn {
namespace {

constexpr char kMagic[] = "\x93NUMPY";
constexpr size_t kMaxHeader = 1 << 16;

[[noreturn]] void fail(const std::string& path, const std::string& what) {
  throw std::runtime_error("load_npy(" + path + "): " + what);
}

std::string header_for(const Shape& shape) {
  std::string dims;
  for (size_t i = 0; i < shape.size(); ++i) dims += std::to_string(shape[i]) + ", ";
  if (shape.size() > 1) dims.resize(dims.size() - 2);  // (3,) keeps its comma; (2, 3) does not
  std::string h = "{'descr': '<f4', 'fortran_order': False, 'shape': (" + dims + "), }";
  // Pad with spaces so that magic + version + length + header ends on a 64-byte boundary.
  const size_t total = 10 + h.size() + 1;
  h.append((64 - total % 64) % 64, ' ');
  return h + "\n";
}

Shape parse_shape(const std::string& path, const std::string& text) {
  Shape shape;
  size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && (text[i] == ' ' || text[i] == ',')) ++i;
    if (i == text.size()) break;
    if (!std::isdigit(static_cast<unsigned char>(text[i])))
      fail(path, "shape '(" + text + ")' is not a tuple of sizes");
    size_t j = i;
    while (j < text.size() && std::isdigit(static_cast<unsigned char>(text[j]))) ++j;
    if (j - i > 12) fail(path, "a size in shape '(" + text + ")' is too large");
    shape.push_back(std::stoll(text.substr(i, j - i)));
    i = j;
  }
  if (shape.size() > kMaxDims)
    fail(path, "shape '(" + text + ")' has more than " + std::to_string(kMaxDims) + " dims");
  return shape;
}

}  // namespace

void save_npy(const std::string& path, const Tensor& t) {
  const std::string header = header_for(t.shape());
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) throw std::runtime_error("save_npy(" + path + "): cannot open for writing");
    out.write(kMagic, 6);
    const char version[2] = {1, 0};
    out.write(version, 2);
    const uint16_t len = static_cast<uint16_t>(header.size());
    const unsigned char len_bytes[2] = {static_cast<unsigned char>(len & 0xff),
                                        static_cast<unsigned char>(len >> 8)};
    out.write(reinterpret_cast<const char*>(len_bytes), 2);
    out.write(header.data(), static_cast<std::streamsize>(header.size()));
    out.write(reinterpret_cast<const char*>(t.data()),
              static_cast<std::streamsize>(sizeof(float) * t.numel()));
    if (!out.flush()) throw std::runtime_error("save_npy(" + path + "): write failed");
  }
  std::filesystem::rename(tmp, path);
}

Tensor load_npy(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(path, "cannot open the file");
  in.seekg(0, std::ios::end);
  const auto file_size = static_cast<uint64_t>(in.tellg());
  in.seekg(0);
  char prefix[10];
  if (file_size < 10 || !in.read(prefix, 10)) fail(path, "file is too short for a .npy header");
  if (std::memcmp(prefix, kMagic, 6) != 0) fail(path, "not a .npy file (wrong magic bytes)");
  const int major = static_cast<unsigned char>(prefix[6]);
  uint64_t header_len = static_cast<unsigned char>(prefix[8]) |
                        (static_cast<unsigned char>(prefix[9]) << 8);
  uint64_t data_start = 10;
  if (major == 2 || major == 3) {
    char extra[2];
    if (!in.read(extra, 2)) fail(path, "file is too short for a version-2 header");
    header_len |= (static_cast<uint64_t>(static_cast<unsigned char>(extra[0])) << 16) |
                  (static_cast<uint64_t>(static_cast<unsigned char>(extra[1])) << 24);
    data_start = 12;
  } else if (major != 1) {
    fail(path, "unsupported .npy version " + std::to_string(major));
  }
  if (header_len > kMaxHeader) fail(path, "header length " + std::to_string(header_len) + " exceeds the 64 KiB limit");
  if (data_start + header_len > file_size)
    fail(path, "header claims " + std::to_string(header_len) + " bytes but the file has " +
                   std::to_string(file_size - data_start));
  std::string header(header_len, '\0');
  in.read(header.data(), static_cast<std::streamsize>(header_len));
  data_start += header_len;

  std::smatch m;
  if (!std::regex_search(header, m, std::regex(R"('descr'\s*:\s*'([^']*)')")))
    fail(path, "header has no 'descr' field");
  if (m[1] != "<f4" && m[1] != "=f4")
    fail(path, "dtype '" + m[1].str() + "' is not supported (attn tensors are float32, '<f4')");
  if (std::regex_search(header, std::regex(R"('fortran_order'\s*:\s*True)")))
    fail(path, "Fortran-ordered arrays are not supported (save with C order)");
  if (!std::regex_search(header, m, std::regex(R"('shape'\s*:\s*\(([^)]*)\))")))
    fail(path, "header has no 'shape' field");
  const Shape shape = parse_shape(path, m[1].str());

  const uint64_t need = static_cast<uint64_t>(numel_of(shape)) * sizeof(float);
  if (file_size - data_start < need)
    fail(path, "shape " + to_string(shape) + " needs " + std::to_string(need) +
                   " bytes of data but the file holds " + std::to_string(file_size - data_start) +
                   " (truncated?)");
  Tensor t = Tensor::empty(shape);
  if (!in.read(reinterpret_cast<char*>(t.data()), static_cast<std::streamsize>(need)))
    fail(path, "read failed");
  return t;
}

}  // namespace attn
