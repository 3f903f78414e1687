// Hostile checkpoint files (issue: hostile inputs): each case is a file an attacker or a bug
// could produce, and each must be refused with a message naming the file and the problem,
// before a model is built from it, without recursion, wrap-around or unbounded memory; and
// attn itself must never write a checkpoint it would refuse.
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>

#include "nn/checkpoint.h"
#include "nn/transformer.h"
#include "tests/helpers.h"

using namespace attn;

namespace {

ModelConfig tiny_config() {
  ModelConfig c;
  c.vocab_size = 11, c.context = 16, c.n_layer = 2, c.n_head = 2, c.n_embd = 16;
  return c;
}

std::string temp_path(const std::string& name) {
  return (std::filesystem::temp_directory_path() / ("attn_hostile_" + name)).string();
}

std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

// A good checkpoint of the tiny model with AdamW state, rewritten through `edit` (which may
// change tensors and the JSON metadata) with a valid checksum: what a careful attacker makes.
struct Parts {
  SafetensorsFile file;
  nlohmann::json config, state, extra;
};
template <typename Edit>
std::string hostile(const std::string& name, Edit edit) {
  LanguageModel model(tiny_config(), 1);
  AdamW adam(model.arena(), {});
  TrainState st;
  st.step = 3, st.data_rng = {1, 2, 3, 4}, st.dropout_rng = {5, 6, 7, 8};
  const std::string good = temp_path("good.safetensors");
  save_checkpoint(good, model.config(), model.arena(), &adam, st, {{"options", nlohmann::json::object()}});
  Parts p{load_safetensors(good), {}, {}, {}};
  p.config = nlohmann::json::parse(p.file.metadata.at("attn.config"));
  p.state = nlohmann::json::parse(p.file.metadata.at("attn.state"));
  p.extra = nlohmann::json::parse(p.file.metadata.at("attn.extra"));
  edit(p);
  std::map<std::string, std::string> meta = p.file.metadata;
  meta.erase("attn.checksum");
  meta["attn.config"] = p.config.dump(), meta["attn.state"] = p.state.dump(), meta["attn.extra"] = p.extra.dump();
  std::vector<TensorRef> refs;
  for (const auto& t : p.file.tensors) refs.push_back({t.name, t.shape, t.values.data()});
  const std::string path = temp_path(name);
  save_safetensors(path, refs, meta);
  return path;
}

StoredTensor& tensor(Parts& p, const std::string& name) {
  for (auto& t : p.file.tensors)
    if (t.name == name) return t;
  throw std::runtime_error("no tensor " + name);
}

// Reads the checkpoint and loads it into the tiny model with its optimizer, as --resume does.
void resume_from(const std::string& path) {
  const Checkpoint ckpt = read_checkpoint(path);
  LanguageModel model(ckpt.config, 1);
  AdamW adam(model.arena(), {});
  load_parameters(ckpt, model.arena());
  load_optimizer(ckpt, model.arena(), adam);
}

}  // namespace

TEST_CASE("configs that ask for more than the file holds are refused before a model is built") {
  auto config_refused = [](const char* name, auto edit, const char* message) {
    CAPTURE(name);
    CHECK_THROWS_WITH(read_checkpoint(hostile(name, edit)), doctest::Contains(message));
  };
  config_refused("vocab", [](Parts& p) { p.config["vocab_size"] = INT64_MAX; }, "vocab_size must be in [1, 16777216]");
  config_refused("layers", [](Parts& p) { p.config["n_layer"] = 10000000; }, "n_layer must be in [1, 256]");
  config_refused("width", [](Parts& p) { p.config["n_embd"] = 65536; }, "n_embd must be in [1, 16384]");
  config_refused("float", [](Parts& p) { p.config["context"] = 1e300; }, "context is not an integer");
  // In range, but not what the tensors are: refused by comparing with the file.
  config_refused("vocab2", [](Parts& p) { p.config["vocab_size"] = 1 << 24; }, "the config says wte.weight is [16777216, 16]");
  config_refused("layers2", [](Parts& p) { p.config["n_layer"] = 200; }, "blocks.199.ln_1.weight is [16] but the file holds no such tensor");
  config_refused("layers3", [](Parts& p) { p.config["n_layer"] = 1; }, "more blocks than the config's n_layer 1");
  config_refused("context", [](Parts& p) { p.config["context"] = 1 << 20; }, "wpe.weight is [1048576, 16]");
}

TEST_CASE("training state that would poison a resumed run is refused") {
  auto refused = [](const char* name, auto edit, const char* message) {
    CAPTURE(name);
    CHECK_THROWS_WITH(resume_from(hostile(name, edit)), doctest::Contains(message));
  };
  refused("step", [](Parts& p) { p.state["step"] = -5; }, "state 'step' is -5, not a count >= 0");
  refused("step2", [](Parts& p) { p.state["step"] = 2.5; }, "state 'step' is 2.5");
  refused("optsteps", [](Parts& p) { p.state["optimizer_steps"] = -1; }, "state 'optimizer_steps' is -1");
  refused("optsteps2", [](Parts& p) { p.state["optimizer_steps"] = 9; }, "optimizer_steps 9 is past step 3");
  refused("rng", [](Parts& p) { p.state["data_rng"][0] = "-1"; }, "data_rng word 0 is not a decimal 64-bit word");
  refused("rng2", [](Parts& p) { p.state["dropout_rng"][2] = " 12"; }, "dropout_rng word 2");
  refused("rng3", [](Parts& p) { p.state["data_rng"] = {"1", "2"}; }, "data_rng must be 4 words");
  refused("nan", [](Parts& p) { tensor(p, "blocks.0.ln_1.bias").values[2] = NAN; },
          "parameter 'blocks.0.ln_1.bias' holds nan at element 2 (must be finite)");
  refused("inf", [](Parts& p) { tensor(p, "wte.weight").values[0] = INFINITY; }, "parameter 'wte.weight' holds inf");
  refused("m", [](Parts& p) { tensor(p, "optimizer.exp_avg.wpe.weight").values[1] = NAN; },
          "optimizer state 'optimizer.exp_avg.wpe.weight' holds nan");
  refused("v", [](Parts& p) { tensor(p, "optimizer.exp_avg_sq.wpe.weight").values[1] = -1; },
          "'optimizer.exp_avg_sq.wpe.weight' holds -1.000000 at element 1 (must be finite and >= 0)");
  refused("extra", [](Parts& p) { p.extra = nlohmann::json::array(); }, "metadata 'attn.extra' is not a JSON object");
}

TEST_CASE("deeply nested JSON is refused before it is parsed, and never dumped whole") {
  std::string deep = "1";
  for (int i = 0; i < 10000; ++i) deep = "[" + deep + "]";
  // The dtype of a tensor as a 10,000-deep array: the header scan refuses it.
  const std::string path = hostile("deep_dtype", [](Parts&) {});
  std::string bytes = read_bytes(path);
  const size_t header_len = static_cast<unsigned char>(bytes[0]) | static_cast<unsigned char>(bytes[1]) << 8;
  std::string header = bytes.substr(8, header_len);
  header.replace(header.find("\"F32\""), 5, deep);
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((header.size() >> (8 * i)) & 0xff);
  std::ofstream(path, std::ios::binary) << out << header << bytes.substr(8 + header_len);
  CHECK_THROWS_WITH(read_checkpoint(path), doctest::Contains("JSON nested deeper than 32 levels"));
  // The same depth inside the metadata strings (config, extra).
  auto nested = [&](Parts& p) { p.extra["options"]["batch"] = nlohmann::json::parse(deep); };
  CHECK_THROWS_WITH(read_checkpoint(hostile("deep_extra", nested)), doctest::Contains("metadata 'attn.extra': JSON nested deeper"));
  // A dtype that is a long string or an object is named by a short excerpt only.
  const std::string big = hostile("big_dtype", [](Parts&) {});
  SafetensorsFile f = load_safetensors(big);
  bytes = read_bytes(big);
  const size_t n = static_cast<unsigned char>(bytes[0]) | static_cast<unsigned char>(bytes[1]) << 8;
  header = bytes.substr(8, n);
  header.replace(header.find("\"F32\""), 5, "\"" + std::string(100000, 'x') + "\"");
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((header.size() >> (8 * i)) & 0xff);
  std::ofstream(big, std::ios::binary) << out << header << bytes.substr(8 + n);
  try {
    read_checkpoint(big);
    FAIL("accepted");
  } catch (const std::exception& e) {
    CHECK(std::string(e.what()).find("has dtype 'xxxxxxxx") != std::string::npos);
    CHECK(std::string(e.what()).size() < 400);
  }
}

TEST_CASE("overlapping tensors that claim terabytes from a small file are refused before copying") {
  // 20,000 entries all pointing at the same 4 MB of data would need 80 GB of copies.
  std::string header = "{";
  for (int i = 0; i < 20000; ++i)
    header += "\"t" + std::to_string(i) + "\":{\"dtype\":\"F32\",\"shape\":[1048576],\"data_offsets\":[0,4194304]},";
  header.back() = '}';
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((header.size() >> (8 * i)) & 0xff);
  const std::string path = temp_path("overlap.safetensors");
  std::ofstream(path, std::ios::binary) << out << header << std::string(4194304, '\0');
  CHECK_THROWS_WITH(load_safetensors(path), doctest::Contains("(overlapping or gapped tensors)"));
}

TEST_CASE("attn never writes a checkpoint it would refuse, and never writes through a symlink") {
  LanguageModel a(tiny_config(), 1);
  const std::string path = temp_path("kept.safetensors");
  std::filesystem::remove(path);
  save_checkpoint(path, a.config(), a.arena(), nullptr, {}, nlohmann::json::object());
  const std::string before = read_bytes(path);
  a.arena().values()[5] = NAN;
  CHECK_THROWS_WITH(save_checkpoint(path, a.config(), a.arena(), nullptr, {}, nlohmann::json::object()),
                    doctest::Contains("not saved: the previous file is kept"));
  CHECK(read_bytes(path) == before);
  // A symlink at the target is replaced by the new file; its target is not written.
  a.arena().values()[5] = 0;
  const std::string victim = temp_path("victim.txt");
  std::ofstream(victim) << "precious";
  std::filesystem::remove(path);
  std::filesystem::create_symlink(victim, path);
  save_checkpoint(path, a.config(), a.arena(), nullptr, {}, nlohmann::json::object());
  CHECK(read_bytes(victim) == "precious");
  CHECK(std::filesystem::is_regular_file(std::filesystem::symlink_status(path)));
}

TEST_CASE("folders, devices and FIFOs are not read as checkpoints") {
  CHECK_THROWS_WITH(read_checkpoint(std::filesystem::temp_directory_path().string()),
                    doctest::Contains("is a folder, not a checkpoint file"));
  CHECK_THROWS_WITH(read_checkpoint("/dev/zero"), doctest::Contains("is not a regular file"));
  const std::string fifo = temp_path("fifo");
  std::filesystem::remove(fifo);
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  CHECK_THROWS_WITH(read_checkpoint(fifo), doctest::Contains("is not a regular file"));  // no hang
  std::filesystem::remove(fifo);
}

TEST_CASE("attn.checksum is standard FNV-1a 64; the earlier basis is still accepted on load") {
  LanguageModel model(tiny_config(), 1);
  const std::string path = temp_path("checksum.safetensors");
  save_checkpoint(path, model.config(), model.arena(), nullptr, {}, nlohmann::json::object());
  std::string bytes = read_bytes(path);
  uint64_t header = 0;
  std::memcpy(&header, bytes.data(), 8);
  const std::string data = bytes.substr(8 + header);
  auto fnv = [&](uint64_t h) {  // FNV-1a 64 over the data bytes, from the given basis
    for (unsigned char c : data) h = (h ^ c) * 0x100000001b3ull;
    char buf[17];
    std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
    return std::string(buf);
  };
  const std::string standard = fnv(0xcbf29ce484222325ull), legacy = fnv(1469598103934665603ull);
  const size_t at = bytes.find(standard);
  REQUIRE(at < 8 + header);  // what attn wrote is the standard checksum
  auto rewrite = [&](const std::string& checksum) {
    std::string edited = bytes;
    edited.replace(at, 16, checksum);
    std::ofstream(path, std::ios::binary | std::ios::trunc) << edited;
  };
  rewrite(legacy);  // a checkpoint written before the basis was corrected
  CHECK_NOTHROW(read_checkpoint(path));
  rewrite(std::string(16, '0'));
  CHECK_THROWS_WITH(read_checkpoint(path), doctest::Contains("checksum mismatch"));
  std::filesystem::remove(path);
}
