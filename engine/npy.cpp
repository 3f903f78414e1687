#include "engine/npy.h"

#include <cctype>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <vector>

#include "engine/files.h"

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

// Text of the header for messages: at most 40 characters of it.
std::string excerpt(const std::string& text) {
  return text.size() <= 40 ? text : text.substr(0, 40) + "...";
}

// The header dict, e.g. {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }, read
// by a loop over its characters: no recursion and no regular expression, whatever its
// length (std::regex recurses per character and overflowed the stack on 30 KB of spaces).
struct NpyHeader {
  std::string descr;
  bool fortran_order = false, have_descr = false, have_shape = false;
  Shape shape;
};

class HeaderReader {
 public:
  HeaderReader(const std::string& path, const std::string& text) : path_(path), s_(text) {}

  NpyHeader read() {
    NpyHeader h;
    expect('{');
    while (skip_space(), peek() != '}') {
      const std::string key = quoted();
      skip_space(), expect(':'), skip_space();
      if (key == "descr") h.descr = quoted(), h.have_descr = true;
      else if (key == "fortran_order") h.fortran_order = boolean();
      else if (key == "shape") h.shape = shape(), h.have_shape = true;
      else fail(path_, "header has an unknown key '" + excerpt(key) + "'");
      skip_space();
      if (peek() == ',') ++i_;
      else if (peek() != '}') bad("',' or '}'");
    }
    return h;
  }

 private:
  char peek() const { return i_ < s_.size() ? s_[i_] : '\0'; }
  void skip_space() {
    while (i_ < s_.size() && std::isspace(static_cast<unsigned char>(s_[i_]))) ++i_;
  }
  [[noreturn]] void bad(const std::string& wanted) const {
    fail(path_, "header: expected " + wanted + " at character " + std::to_string(i_) + " of '" +
                    excerpt(s_) + "'");
  }
  void expect(char c) {
    if (peek() != c) bad(std::string("'") + c + "'");
    ++i_;
  }
  std::string quoted() {
    const char quote = peek();
    if (quote != '\'' && quote != '"') bad("a quoted string");
    const size_t end = s_.find(quote, i_ + 1);
    if (end == std::string::npos) bad("the end of a string");
    std::string out = s_.substr(i_ + 1, end - i_ - 1);
    i_ = end + 1;
    return out;
  }
  bool boolean() {
    for (const char* word : {"True", "False"})
      if (s_.compare(i_, std::strlen(word), word) == 0) {
        i_ += std::strlen(word);
        return word[0] == 'T';
      }
    bad("True or False");
  }
  Shape shape() {  // (), (3,), (2, 3)
    Shape dims;
    expect('(');
    while (skip_space(), peek() != ')') {
      if (!std::isdigit(static_cast<unsigned char>(peek()))) bad("a size");
      int64_t d = 0;
      while (std::isdigit(static_cast<unsigned char>(peek()))) {
        if (d > (int64_t{1} << 40)) fail(path_, "a size in the shape is over 2^40");
        d = d * 10 + (s_[i_++] - '0');
      }
      dims.push_back(d);
      if (dims.size() > kMaxDims)
        fail(path_, "the shape has more than " + std::to_string(kMaxDims) + " dims");
      skip_space();
      if (peek() == ',') ++i_;
      else if (peek() != ')') bad("',' or ')'");
    }
    ++i_;
    return dims;
  }

  const std::string& path_;
  const std::string& s_;
  size_t i_ = 0;
};

}  // namespace

void save_npy(const std::string& path, const Tensor& t) {
  const std::string header = header_for(t.shape());
  std::string head(kMagic, 6);
  head += '\x01', head += '\x00';  // version 1.0
  const auto len = static_cast<uint16_t>(header.size());
  head += static_cast<char>(len & 0xff), head += static_cast<char>(len >> 8);
  head += header;
  write_file_atomically(path, head, reinterpret_cast<const char*>(t.data()),
                        sizeof(float) * static_cast<size_t>(t.numel()));
}

Tensor load_npy(const std::string& path) {
  std::string bytes;
  try {
    bytes = read_regular_file(path, "a .npy file", kMaxNpyBytes);
  } catch (const std::exception& e) {
    throw std::runtime_error(std::string("load_npy: ") + e.what());
  }
  return parse_npy(bytes, path);
}

Tensor parse_npy(const std::string& bytes, const std::string& path) {
  const uint64_t file_size = bytes.size();
  if (file_size < 10) fail(path, "file is too short for a .npy header");
  if (std::memcmp(bytes.data(), kMagic, 6) != 0) fail(path, "not a .npy file (wrong magic bytes)");
  auto byte = [&](size_t i) { return static_cast<uint64_t>(static_cast<unsigned char>(bytes[i])); };
  const int major = static_cast<int>(byte(6));
  uint64_t header_len = byte(8) | byte(9) << 8;
  uint64_t data_start = 10;
  if (major == 2 || major == 3) {
    if (file_size < 12) fail(path, "file is too short for a version-2 header");
    header_len |= byte(10) << 16 | byte(11) << 24;
    data_start = 12;
  } else if (major != 1) {
    fail(path, "unsupported .npy version " + std::to_string(major));
  }
  if (header_len > kMaxHeader) fail(path, "header length " + std::to_string(header_len) + " exceeds the 64 KiB limit");
  if (data_start + header_len > file_size)
    fail(path, "header claims " + std::to_string(header_len) + " bytes but the file has " +
                   std::to_string(file_size - data_start));
  const std::string header = bytes.substr(data_start, header_len);
  data_start += header_len;

  const NpyHeader h = HeaderReader(path, header).read();
  if (!h.have_descr) fail(path, "header has no 'descr' field");
  if (h.descr != "<f4" && h.descr != "=f4")
    fail(path, "dtype '" + excerpt(h.descr) + "' is not supported (attn tensors are float32, '<f4')");
  if (h.fortran_order) fail(path, "Fortran-ordered arrays are not supported (save with C order)");
  if (!h.have_shape) fail(path, "header has no 'shape' field");
  const Shape& shape = h.shape;
  const int64_t count = checked_numel(shape, "load_npy(" + path + ")");
  const uint64_t need = static_cast<uint64_t>(count) * sizeof(float);
  if (file_size - data_start < need)
    fail(path, "shape " + to_string(shape) + " needs " + std::to_string(need) +
                   " bytes of data but the file holds " + std::to_string(file_size - data_start) +
                   " (truncated?)");
  Tensor t = Tensor::empty(shape);
  if (need > 0) std::memcpy(t.data(), bytes.data() + data_start, need);
  return t;
}

}  // namespace attn
