#include "nn/safetensors.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <stdexcept>

namespace attn {
namespace {

constexpr uint64_t kMaxHeaderBytes = 100u << 20;  // the reference implementation's limit

uint64_t fnv1a(const char* data, size_t n, uint64_t h = 1469598103934665603ull) {
  for (size_t i = 0; i < n; ++i) h = (h ^ static_cast<unsigned char>(data[i])) * 1099511628211ull;
  return h;
}

std::string hex(uint64_t v) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(v));
  return buf;
}

[[noreturn]] void fail(const std::string& path, const std::string& what) {
  throw std::runtime_error(path + ": " + what);
}

// Writes all bytes and fsyncs, or throws.
void write_file_synced(const std::string& path, const std::string& head, const char* body,
                       size_t body_size) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) fail(path, std::string("cannot open for writing: ") + std::strerror(errno));
  auto write_all = [&](const char* p, size_t n) {
    while (n > 0) {
      const ssize_t w = ::write(fd, p, n);
      if (w < 0) {
        const int err = errno;
        ::close(fd);
        fail(path, std::string("write failed: ") + std::strerror(err));
      }
      p += w, n -= static_cast<size_t>(w);
    }
  };
  write_all(head.data(), head.size());
  write_all(body, body_size);
  if (::fsync(fd) != 0 || ::close(fd) != 0)
    fail(path, std::string("flushing to disk failed: ") + std::strerror(errno));
}

}  // namespace

const StoredTensor* SafetensorsFile::find(const std::string& name) const {
  for (const auto& t : tensors)
    if (t.name == name) return &t;
  return nullptr;
}

void save_safetensors(const std::string& path, const std::vector<TensorRef>& tensors,
                      const std::map<std::string, std::string>& metadata) {
  std::string data;
  nlohmann::json header = nlohmann::json::object();
  for (const auto& t : tensors) {
    const size_t bytes = sizeof(float) * numel_of(t.shape);
    header[t.name] = {{"dtype", "F32"},
                      {"shape", t.shape},
                      {"data_offsets", {data.size(), data.size() + bytes}}};
    data.append(reinterpret_cast<const char*>(t.data), bytes);
  }
  nlohmann::json meta(metadata);
  meta["attn.checksum"] = hex(fnv1a(data.data(), data.size()));
  header["__metadata__"] = meta;
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');  // keep the data 8-byte aligned
  std::string head(8, '\0');
  const uint64_t n = text.size();
  for (int i = 0; i < 8; ++i) head[i] = static_cast<char>((n >> (8 * i)) & 0xff);
  head += text;

  const std::string tmp = path + ".tmp";
  write_file_synced(tmp, head, data.data(), data.size());
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) fail(path, "cannot replace the file: " + ec.message());
}

namespace {

// The 8-byte length and the JSON header; leaves `in` at the start of the data.
nlohmann::json read_header(const std::string& path, std::ifstream& in, uint64_t file_size,
                           uint64_t& header_len) {
  if (file_size < 8) fail(path, "file is " + std::to_string(file_size) + " bytes, too short for a safetensors header");
  unsigned char len_bytes[8];
  in.read(reinterpret_cast<char*>(len_bytes), 8);
  header_len = 0;
  for (int i = 0; i < 8; ++i) header_len |= static_cast<uint64_t>(len_bytes[i]) << (8 * i);
  if (header_len > kMaxHeaderBytes) fail(path, "header length " + std::to_string(header_len) + " exceeds the 100 MiB limit (not a safetensors file?)");
  if (header_len > file_size - 8)
    fail(path, "header claims " + std::to_string(header_len) + " bytes but only " +
                   std::to_string(file_size - 8) + " follow (truncated?)");
  std::string text(header_len, '\0');
  in.read(text.data(), static_cast<std::streamsize>(header_len));
  nlohmann::json header;
  try {
    header = nlohmann::json::parse(text);
  } catch (const std::exception& e) {
    fail(path, std::string("header is not valid JSON: ") + e.what());
  }
  if (!header.is_object()) fail(path, "header is not a JSON object");
  return header;
}

// One tensor's header entry, checked against the data: its values and where they start.
std::pair<uint64_t, StoredTensor> read_tensor(const std::string& path, const std::string& name,
                                              const nlohmann::json& entry,
                                              const std::string& data) {
  const std::string where = "tensor '" + name + "'";
  if (!entry.is_object() || !entry.contains("dtype") || !entry.contains("shape") ||
      !entry.contains("data_offsets"))
    fail(path, where + " lacks dtype, shape or data_offsets");
  if (entry["dtype"] != "F32")
    fail(path, where + " has dtype " + entry["dtype"].dump() + "; attn reads only F32");
  const auto& shape_json = entry["shape"];
  if (!shape_json.is_array() || shape_json.size() > kMaxDims)
    fail(path, where + " has a shape that is not a list of at most 4 sizes");
  Shape shape;
  uint64_t count = 1;
  for (const auto& d : shape_json) {
    if (!d.is_number_unsigned()) fail(path, where + " has a negative or non-integer size");
    const uint64_t size = d.get<uint64_t>();
    if (size != 0 && count > std::numeric_limits<uint64_t>::max() / 4 / size)
      fail(path, where + " has a shape whose size overflows");
    count *= size;
    shape.push_back(static_cast<int64_t>(size));
  }
  const auto& off = entry["data_offsets"];
  if (!off.is_array() || off.size() != 2 || !off[0].is_number_unsigned() ||
      !off[1].is_number_unsigned())
    fail(path, where + " has malformed data_offsets");
  const uint64_t begin = off[0].get<uint64_t>(), end = off[1].get<uint64_t>();
  if (begin > end || end > data.size())
    fail(path, where + " has data_offsets [" + std::to_string(begin) + ", " +
                   std::to_string(end) + "] outside the " + std::to_string(data.size()) +
                   "-byte data (truncated?)");
  if (end - begin != count * sizeof(float))
    fail(path, where + " has " + std::to_string(end - begin) + " bytes for shape " +
                   to_string(shape) + " (needs " + std::to_string(count * 4) + ")");
  StoredTensor t{name, shape, std::vector<float>(count)};
  std::memcpy(t.values.data(), data.data() + begin, end - begin);
  return {begin, std::move(t)};
}

}  // namespace

SafetensorsFile load_safetensors(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec))
    fail(path, "is a folder, not a checkpoint file (a run folder holds " + path +
                   "/checkpoint.safetensors)");
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(path, "cannot open the checkpoint");
  in.seekg(0, std::ios::end);
  const auto file_size = static_cast<uint64_t>(in.tellg());
  in.seekg(0);
  uint64_t header_len = 0;
  const nlohmann::json header = read_header(path, in, file_size, header_len);
  const uint64_t data_size = file_size - 8 - header_len;
  std::string data(data_size, '\0');
  in.read(data.data(), static_cast<std::streamsize>(data_size));
  if (!in) fail(path, "reading the data failed");

  SafetensorsFile file;
  uint64_t covered = 0;
  std::vector<std::pair<uint64_t, StoredTensor>> by_offset;
  for (auto& [name, entry] : header.items()) {
    if (name == "__metadata__") {
      if (!entry.is_object()) fail(path, "__metadata__ is not an object");
      for (auto& [k, v] : entry.items()) {
        if (!v.is_string()) fail(path, "metadata value '" + k + "' is not a string");
        file.metadata[k] = v.get<std::string>();
      }
      continue;
    }
    by_offset.push_back(read_tensor(path, name, entry, data));
    covered += by_offset.back().second.values.size() * sizeof(float);
  }
  if (covered != data_size)
    fail(path, "tensors cover " + std::to_string(covered) + " of " + std::to_string(data_size) +
                   " data bytes (overlapping or trailing data)");
  std::sort(by_offset.begin(), by_offset.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  for (auto& [offset, t] : by_offset) file.tensors.push_back(std::move(t));
  auto it = file.metadata.find("attn.checksum");
  if (it != file.metadata.end() && it->second != hex(fnv1a(data.data(), data.size())))
    fail(path, "checksum mismatch: the data was modified or damaged");
  return file;
}

}  // namespace attn
