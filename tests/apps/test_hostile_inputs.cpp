// Hostile files for the apps (issue: hostile inputs): data files that are not regular files,
// byte-order marks, labels that would size huge matrices, tokenizers that do not fit their
// model, saved run options outside the command line's ranges, plots of absurd values.
// Each is refused with a message naming the file and the problem, or handled, never a hang,
// a crash or unbounded memory.
#include <doctest/doctest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>

#include "apps/classify.h"
#include "apps/csv.h"
#include "apps/listops.h"
#include "apps/lm_tasks.h"
#include "apps/option_ranges.h"
#include "apps/run_plot.h"
#include "apps/tokenizer.h"
#include "nn/transformer.h"

using namespace attn;

namespace {

std::string temp_path(const std::string& name) {
  return (std::filesystem::temp_directory_path() / ("attn_hostile_apps_" + name)).string();
}

std::string write(const std::string& name, const std::string& bytes) {
  const std::string path = temp_path(name);
  std::ofstream(path, std::ios::binary) << bytes;
  return path;
}

// A checkpoint of a tiny language model whose "attn.extra" is `extra`.
Checkpoint checkpoint_with(const nlohmann::json& extra, int64_t vocab = 3) {
  ModelConfig c;
  c.vocab_size = vocab, c.context = 8, c.n_layer = 1, c.n_head = 1, c.n_embd = 4;
  LanguageModel model(c, 1);
  const std::string path = temp_path("model.safetensors");
  save_checkpoint(path, c, model.arena(), nullptr, {}, extra);
  return read_checkpoint(path);
}

}  // namespace

TEST_CASE("data readers take regular files only: no folder, device or FIFO is read") {
  const std::string folder = std::filesystem::temp_directory_path().string();
  CHECK_THROWS_WITH(read_text_file(folder), doctest::Contains("is a folder, not a text data file"));
  CHECK_THROWS_WITH(read_text_file("/dev/zero"), doctest::Contains("is not a regular file"));
  CHECK_THROWS_WITH(read_labeled_csv("/dev/zero"), doctest::Contains("is not a regular file"));
  CHECK_THROWS_WITH(listops::read_tsv("/dev/urandom"), doctest::Contains("is not a regular file"));
  CHECK_THROWS_WITH(plot_run("/dev"), doctest::Contains("does not exist: /dev is not a run folder"));
  const std::string fifo = temp_path("fifo");
  std::filesystem::remove(fifo);
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  CHECK_THROWS_WITH(read_text_file(fifo), doctest::Contains("is not a regular file"));  // no hang
  CHECK_THROWS_WITH(read_labeled_csv(fifo), doctest::Contains("is not a regular file"));
  std::filesystem::remove(fifo);
  CHECK_THROWS_WITH(read_text_file(write("empty.txt", "")), doctest::Contains("the data file is empty"));
}

TEST_CASE("byte-order marks are accepted; labels that would size huge matrices are refused") {
  const auto rows = read_labeled_csv(write("bom.csv", "\xEF\xBB\xBFlabel,text\n1,hello\n0,world\n"));
  REQUIRE(rows.size() == 2);
  CHECK(rows[0].label == 1);
  CHECK(listops::read_tsv(write("bom.tsv", "\xEF\xBB\xBFSource\tTarget\n( ( [MAX 2 9 ) ] )\t9\n")).size() == 1);
  CHECK_THROWS_WITH(read_labeled_csv(write("big.csv", "label,text\n0,a\n1000000,b\n")),
                    doctest::Contains(":3: label 1000000 is outside [0, 1000) (attn classify takes at most 1000 classes)"));
  CHECK(read_labeled_csv(write("edge.csv", "label,text\n999,a\n")).at(0).label == 999);
}

TEST_CASE("a tokenizer must be well formed and match its model's vocabulary") {
  auto refused = [](const nlohmann::json& tok, const char* message) {
    CAPTURE(tok.dump());
    CHECK_THROWS_WITH(Tokenizer::from_json(tok), doctest::Contains(message));
  };
  refused({{"kind", "char"}, {"code_points", {98, 97}}}, "code point 97 at index 1");
  refused({{"kind", "char"}, {"code_points", {97, 97}}}, "code point 97 at index 1");
  refused({{"kind", "char"}, {"code_points", {0xD800}}}, "code point 55296");
  refused({{"kind", "char"}, {"code_points", {0x110000}}}, "code point 1114112");
  refused({{"kind", "char"}, {"code_points", {-1}}}, "code point -1");
  refused({{"kind", "char"}, {"code_points", {97.5}}}, "code point 97.5");
  refused({{"kind", "char"}, {"code_points", nlohmann::json::array()}}, "not a list of 1..1114112");
  refused({{"kind", {1, 2}}}, "has no kind");
  refused({{"kind", "sentencepiece"}}, "unknown tokenizer kind 'sentencepiece'");
  CHECK(Tokenizer::from_json({{"kind", "char"}, {"code_points", {10, 97, 0x1F600}}}).vocab_size() == 3);
  // Three characters for a model of 3 tokens is right; for 5 it would drop sampled ids.
  const nlohmann::json abc = {{"kind", "char"}, {"code_points", {97, 98, 99}}};
  CHECK(Tokenizer::of_checkpoint(checkpoint_with({{"task", {{"kind", "text"}, {"tokenizer", abc}}}})).vocab_size() == 3);
  CHECK_THROWS_WITH(Tokenizer::of_checkpoint(checkpoint_with({{"task", {{"kind", "text"}, {"tokenizer", abc}}}}, 5)),
                    doctest::Contains("the tokenizer has 3 symbols but the model's vocab_size is 5"));
  CHECK_THROWS_WITH(Tokenizer::of_checkpoint(checkpoint_with({{"task", 7}})), doctest::Contains("synthetic task"));
}

TEST_CASE("a run's saved options are held to the command line's ranges") {
  auto refused = [](const nlohmann::json& options, const char* message) {
    CAPTURE(options.dump());
    CHECK_THROWS_WITH(checked_saved_options(checkpoint_with({{"options", options}})), doctest::Contains(message));
  };
  refused({{"batch", -1}}, "saved option batch (--batch): -1 is outside [1, 1048576]");
  refused({{"listops_train", 100000000}}, "listops_train (--listops-train): 100000000 is outside");
  refused({{"eval_interval", 0}}, "eval_interval (--eval-interval): 0 is outside");
  refused({{"lr", 1e300}}, "lr (--lr): 1.0000000000000001e+300 is outside (0, 1000]");
  refused({{"model", {{"n_layer", 100000}}}}, "model.n_layer (--layers): 100000 is outside [1, 256]");
  refused({{"seed", "twelve"}}, "seed (--seed): 'twelve' is not a number");
  refused({{"vocab_words", {1, 2}}}, "an array is not a number");
  CHECK_THROWS_WITH(checked_saved_options(checkpoint_with({{"options", 3}})), doctest::Contains("holds no run options"));
  CHECK(checked_saved_options(checkpoint_with({{"options", {{"batch", 8}, {"lr", 0.001}}}})).at("batch") == 8);
}

TEST_CASE("metrics files with deep JSON or absurd values plot or fail clearly, never hang") {
  const std::string run = temp_path("run");
  std::filesystem::create_directories(run);
  std::ofstream(run + "/metrics.jsonl") << "{\"step\": 1e20, \"loss\": 1}\n{\"step\": 1.0000000000000164e20, \"loss\": 2}\n"
                                        << "{\"step\": 3, \"loss\": 1e308}\n{\"step\": 4, \"loss\": -1e308}\n";
  CHECK(plot_run(run).size() == 1);  // loss.png: ticks bounded, coordinates clamped
  std::string deep = "1";
  for (int i = 0; i < 5000; ++i) deep = "[" + deep + "]";
  std::ofstream(run + "/metrics.jsonl") << "{\"step\": 1, \"loss\": " << deep << "}\n";
  CHECK_THROWS_WITH(plot_run(run), doctest::Contains("metrics.jsonl: line 1: JSON nested deeper than 32 levels"));
  std::filesystem::remove_all(run);
}
