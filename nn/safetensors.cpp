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

#include "engine/files.h"
#include "nn/json_input.h"

namespace attn {
namespace {

constexpr uint64_t kMaxHeaderBytes = 100u << 20;  // the reference implementation's limit

// FNV-1a 64 (offset basis 14695981039346656037, prime 1099511628211). Checkpoints written
// before 2026-11-30 used the basis with its last digit missing (kLegacyBasis); loading accepts
// both, writing uses the standard one.
constexpr uint64_t kFnvBasis = 14695981039346656037ull, kLegacyBasis = 1469598103934665603ull;
uint64_t fnv1a(const char* data, size_t n, uint64_t h = kFnvBasis) {
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

  write_file_atomically(path, head, data.data(), data.size());
}

namespace {

// The JSON header after the 8-byte length; sets header_len.
nlohmann::json read_header(const std::string& path, const std::string& bytes, uint64_t& header_len) {
  const uint64_t file_size = bytes.size();
  if (file_size < 8) fail(path, "file is " + std::to_string(file_size) + " bytes, too short for a safetensors header");
  header_len = 0;
  for (int i = 0; i < 8; ++i) header_len |= static_cast<uint64_t>(static_cast<unsigned char>(bytes[i])) << (8 * i);
  if (header_len > kMaxHeaderBytes) fail(path, "header length " + std::to_string(header_len) + " exceeds the 100 MiB limit (not a safetensors file?)");
  if (header_len > file_size - 8)
    fail(path, "header claims " + std::to_string(header_len) + " bytes but only " +
                   std::to_string(file_size - 8) + " follow (truncated?)");
  nlohmann::json header = parse_untrusted_json(bytes.substr(8, header_len), path + ": header");
  if (!header.is_object()) fail(path, "header is not a JSON object");
  return header;
}

// Where one tensor's values lie in the data: checked, but not yet copied.
struct TensorEntry {
  std::string name;
  Shape shape;
  uint64_t begin, end;
};

// One tensor's header entry, checked against the data size.
TensorEntry read_entry(const std::string& path, const std::string& name, const nlohmann::json& entry,
                       uint64_t data_size) {
  const std::string where = "tensor '" + (name.size() <= 80 ? name : name.substr(0, 80) + "...") + "'";
  if (!entry.is_object() || !entry.contains("dtype") || !entry.contains("shape") ||
      !entry.contains("data_offsets"))
    fail(path, where + " lacks dtype, shape or data_offsets");
  if (entry["dtype"] != "F32")
    fail(path, where + " has dtype " + json_excerpt(entry["dtype"]) + "; attn reads only F32");
  const auto& shape_json = entry["shape"];
  if (!shape_json.is_array() || shape_json.size() > kMaxDims)
    fail(path, where + " has a shape that is not a list of at most 4 sizes");
  Shape shape;
  for (const auto& d : shape_json) {
    if (!d.is_number_unsigned() || d.get<uint64_t>() > static_cast<uint64_t>(kMaxElements))
      fail(path, where + " has a size that is negative, not an integer or over 2^40");
    shape.push_back(static_cast<int64_t>(d.get<uint64_t>()));
  }
  const auto count = static_cast<uint64_t>(checked_numel(shape, path + ": " + where));
  const auto& off = entry["data_offsets"];
  if (!off.is_array() || off.size() != 2 || !off[0].is_number_unsigned() ||
      !off[1].is_number_unsigned())
    fail(path, where + " has malformed data_offsets");
  const uint64_t begin = off[0].get<uint64_t>(), end = off[1].get<uint64_t>();
  if (begin > end || end > data_size)
    fail(path, where + " has data_offsets [" + std::to_string(begin) + ", " +
                   std::to_string(end) + "] outside the " + std::to_string(data_size) +
                   "-byte data (truncated?)");
  if (end - begin != count * sizeof(float))
    fail(path, where + " has " + std::to_string(end - begin) + " bytes for shape " +
                   to_string(shape) + " (needs " + std::to_string(count * 4) + ")");
  return {name, shape, begin, end};
}

}  // namespace

SafetensorsFile load_safetensors(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec))
    fail(path, "is a folder, not a checkpoint file (a run folder holds " + path +
                   "/checkpoint.safetensors)");
  return parse_safetensors(read_regular_file(path, "a checkpoint file", kMaxSafetensorsBytes), path);
}

SafetensorsFile parse_safetensors(const std::string& bytes, const std::string& path) {
  uint64_t header_len = 0;
  const nlohmann::json header = read_header(path, bytes, header_len);
  const char* data = bytes.data() + 8 + header_len;
  const uint64_t data_size = bytes.size() - 8 - header_len;
  SafetensorsFile file;
  std::vector<TensorEntry> entries;
  for (auto& [name, entry] : header.items()) {
    if (name == "__metadata__") {
      if (!entry.is_object()) fail(path, "__metadata__ is not an object");
      for (auto& [k, v] : entry.items()) {
        if (!v.is_string()) fail(path, "metadata value '" + k.substr(0, 80) + "' is not a string");
        file.metadata[k] = v.get<std::string>();
      }
      continue;
    }
    entries.push_back(read_entry(path, name, entry, data_size));
  }
  // The tensors must tile the data exactly, in order, before anything is copied: overlapping
  // entries could otherwise make a small file claim terabytes.
  std::sort(entries.begin(), entries.end(), [](const auto& a, const auto& b) { return a.begin < b.begin; });
  uint64_t covered = 0;
  for (const TensorEntry& e : entries) {
    if (e.begin != covered)
      fail(path, "tensor '" + e.name.substr(0, 80) + "' starts at byte " + std::to_string(e.begin) +
                     " of the data where " + std::to_string(covered) + " was expected (overlapping or "
                     "gapped tensors)");
    covered = e.end;
  }
  if (covered != data_size)
    fail(path, "tensors cover " + std::to_string(covered) + " of " + std::to_string(data_size) +
                   " data bytes (trailing data)");
  auto it = file.metadata.find("attn.checksum");
  if (it != file.metadata.end() && it->second != hex(fnv1a(data, data_size)) &&
      it->second != hex(fnv1a(data, data_size, kLegacyBasis)))
    fail(path, "checksum mismatch: the data was modified or damaged");
  for (const TensorEntry& e : entries) {
    StoredTensor t{e.name, e.shape, std::vector<float>((e.end - e.begin) / sizeof(float))};
    if (e.end > e.begin) std::memcpy(t.values.data(), data + e.begin, e.end - e.begin);
    file.tensors.push_back(std::move(t));
  }
  return file;
}

}  // namespace attn
