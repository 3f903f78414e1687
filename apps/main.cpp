// attn: the command line. Each subcommand lives in its own file; this one only parses options.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdio>
#include <exception>
#include <string>

#include "apps/attention_map.h"
#include "apps/classify.h"
#include "apps/compare.h"
#include "apps/op_inspect.h"
#include "apps/operator_bench.h"
#include "apps/option_ranges.h"
#include "apps/prepare.h"
#include "apps/run_plot.h"
#include "apps/sample.h"
#include "apps/train_lm.h"
#include "apps/world.h"
#include "engine/parallel.h"
#include "nn/attention_layer.h"

using namespace attn;

namespace {

std::string variants_help() {
  std::string s = "attention variant:";
  for (const auto& name : attention_variant_names()) s += " " + name;
  return s;
}

constexpr const char* kPrecisionHelp =
    "fp32, or bf16: Linear layers multiply in bfloat16 with float32 sums (CPUs with "
    "AVX512_BF16 or AMX)";
constexpr const char* kThreadsHelp =
    "OpenMP threads; 0: all cores, fewer while other programs keep some busy";

// The model's shape and attention variant, shared by train and classify.
void add_model_options(CLI::App* c, ModelConfig& m) {
  c->add_option("--layers", m.n_layer, "transformer blocks")->capture_default_str();
  c->add_option("--heads", m.n_head, "attention heads")->capture_default_str();
  c->add_option("--width", m.n_embd, "model width C")->capture_default_str();
  c->add_option("--context", m.context, "context length T (classify: longer inputs are cut)")->capture_default_str();
  c->add_option("--dropout", m.dropout, "dropout probability")->capture_default_str();
  c->add_option("--attention", m.attention, variants_help())->capture_default_str();
}

// The synthetic LM tasks' settings, shared by train and compare.
void add_synthetic_task_options(CLI::App* c, TrainOptions& o) {
  c->add_option("--copy-symbols", o.copy_symbols, "copy task: alphabet size")->capture_default_str();
  c->add_option("--copy-min-len", o.copy_min_len, "copy task: shortest string")->capture_default_str();
  c->add_option("--copy-max-len", o.copy_max_len, "copy task: longest string")->capture_default_str();
  c->add_option("--recall-keys", o.recall_keys, "recall task: key alphabet size")->capture_default_str();
  c->add_option("--recall-values", o.recall_values, "recall task: value alphabet size")->capture_default_str();
  c->add_option("--recall-min-pairs", o.recall_min_pairs, "recall task: fewest key-value pairs")->capture_default_str();
  c->add_option("--recall-max-pairs", o.recall_max_pairs, "recall task: most key-value pairs")->capture_default_str();
}

// The classification data and training settings, shared by classify and compare.
void add_classification_data_options(CLI::App* k, ClassifyOptions& cls) {
  k->add_option("--train", cls.train_file, "training file (TSV for listops, CSV label,text for csv)");
  k->add_option("--test", cls.test_file, "test file");
  k->add_option("--listops-min-len", cls.listops_min_len, "generated ListOps: lengths > this")->capture_default_str();
  k->add_option("--listops-max-len", cls.listops_max_len, "generated ListOps: lengths < this")->capture_default_str();
  k->add_option("--listops-train-min-len", cls.listops_train_min_len,
                "generated ListOps: training lengths > this (default: --listops-min-len)");
  k->add_option("--listops-train", cls.listops_train, "generated training examples")->capture_default_str();
  k->add_option("--listops-test", cls.listops_test, "generated test examples")->capture_default_str();
  k->add_option("--tokenizer", cls.tokenizer, "csv: byte or word")->capture_default_str();
  k->add_option("--vocab-words", cls.vocab_words, "csv word level: vocabulary size")->capture_default_str();
  k->add_option("--pooling", cls.pooling, "mean or cls")->capture_default_str();
  k->add_option("--bucket", cls.bucket, "batch examples of similar length (less padding)")->capture_default_str();
  k->add_option("--curriculum", cls.curriculum,
                "length curriculum: over the first N steps, draw batches from the shortest "
                "training examples, a share growing to all (0: off)")->capture_default_str();
  k->add_option("--ema", cls.ema,
                "evaluate with an exponential moving average of the weights at this decay, "
                "e.g. 0.999 (0: off)")->capture_default_str();
}

// The options of the shared training loop (apps/trainer.h), for train and classify.
template <class Options>
void add_loop_options(CLI::App* c, Options& o, bool& resume, const std::string& out_help) {
  c->add_option("--threads", o.threads, kThreadsHelp)->capture_default_str();
  c->add_option("--precision", o.precision, kPrecisionHelp)->capture_default_str();
  c->add_option("--eval-interval", o.eval_interval, "steps between evaluations")->capture_default_str();
  c->add_option("--log-interval", o.log_interval, "steps between metric lines")->capture_default_str();
  c->add_option("--ckpt-interval", o.ckpt_interval, "steps between checkpoints")->capture_default_str();
  c->add_option("--keep-checkpoints", o.keep_checkpoints,
                 "besides the latest, keep numbered copies of the last N checkpoints")->capture_default_str();
  c->add_option("--stop-after", o.stop_after, "stop after N steps with a checkpoint, as if interrupted");
  c->add_option("--out", o.out, out_help)->capture_default_str();
  c->add_flag("--resume", resume,
              "continue the run in --out from its checkpoint (--steps N extends it; options "
              "that define the run cannot change)");
  c->add_flag("--quiet", o.quiet, "no progress output");
  c->add_flag("--skip-nonfinite", o.skip_nonfinite,
              "skip a step whose loss or gradient is NaN/inf instead of stopping");
  c->add_option("--divergence", o.divergence,
                "stop a run whose loss stays above this many times its lowest value "
                "(0: never)")->capture_default_str();
  c->add_option("--divergence-steps", o.divergence_steps,
                "... for this many steps in a row")->capture_default_str();
  c->add_option("--rank-timeout", o.rank_timeout,
                "mpirun: seconds a rank waits for the others before it ends the job, naming the "
                "missing rank")->capture_default_str();
  c->add_option("--sync-check", o.sync_check,
                "mpirun: steps between checks that all ranks hold the same parameters")->capture_default_str();
  c->add_option("--bucket-mb", o.bucket_mb,
                "mpirun: gradient buckets summed while the backward pass runs (0: one sum "
                "after it)")->capture_default_str();
}

void add_train(CLI::App& app, TrainOptions& o, bool& resume) {
  auto* c = app.add_subcommand("train", "Train a causal language model (text file, copy or recall task)");
  c->add_option("--task", o.task, "copy or recall (built-in, no data), text (--data) or tokens (--data-dir)")->capture_default_str();
  c->add_option("--data", o.data, "UTF-8 text file (implies --task text)");
  c->add_option("--val", o.val, "validation text file (default: last --val-fraction of --data)");
  c->add_option("--data-dir", o.data_dir, "a prepared dataset folder: train.bin, val.bin and "
                "dataset.json (attn prepare), or nanoGPT's train.bin/val.bin (implies --task tokens)");
  c->add_option("--vocab-size", o.vocab_size, "vocabulary of a nanoGPT folder without dataset.json "
                "(GPT-2: 50257)")->capture_default_str();
  c->add_option("--val-fraction", o.val_fraction, "share of --data held out")->capture_default_str();
  c->add_option("--tokenizer", o.tokenizer, "char or byte")->capture_default_str();
  add_synthetic_task_options(c, o);
  add_model_options(c, o.model);
  c->add_option("--tied", o.model.tied, "tie input and output embeddings")->capture_default_str();
  c->add_option("--batch", o.batch, "sequences per micro-batch")->capture_default_str();
  c->add_option("--grad-accum", o.grad_accum, "micro-batches per optimizer step (the step "
                "sees batch x grad-accum sequences)")->capture_default_str();
  c->add_option("--steps", o.steps, "optimizer steps")->capture_default_str();
  c->add_option("--lr", o.lr, "peak learning rate")->capture_default_str();
  c->add_option("--min-lr", o.min_lr, "final learning rate of the cosine decay")->capture_default_str();
  c->add_option("--warmup", o.warmup, "linear warmup steps")->capture_default_str();
  c->add_option("--weight-decay", o.weight_decay, "AdamW decoupled weight decay")->capture_default_str();
  c->add_option("--beta1", o.beta1, "AdamW beta1")->capture_default_str();
  c->add_option("--beta2", o.beta2, "AdamW beta2")->capture_default_str();
  c->add_option("--grad-clip", o.grad_clip, "clip gradients to this global norm (0: off)")->capture_default_str();
  c->add_option("--ema", o.ema,
                "evaluate with an exponential moving average of the weights at this decay, "
                "e.g. 0.999 (0: off)")->capture_default_str();
  c->add_option("--seed", o.seed, "random seed")->capture_default_str();
  c->add_option("--eval-iters", o.eval_iters, "validation batches per evaluation")->capture_default_str();
  add_loop_options(c, o, resume, "run folder: metrics.jsonl, config.json, checkpoint");
  c->add_option("--init-from", o.init_from,
                "start a new run from this checkpoint's weights (fine-tuning: new data, "
                "optimizer and schedule; the model's shape comes from the checkpoint)");
}

// How the run begins: --resume, and the options typed on the command line.
RunStart run_start(const CLI::App* sub, bool resume) {
  RunStart start;
  start.resume = resume;
  for (const CLI::Option* opt : sub->get_options())
    if (opt->count() > 0 && !opt->get_lnames().empty()) {
      const std::string spelling = "--" + opt->get_lnames().front();
      start.spellings.push_back(spelling);
      start.given_fields.push_back(option_field(spelling));
    }
  return start;
}

// Every subcommand's options, filled by CLI11.
struct Commands {
  TrainOptions train;
  bool train_resume = false, classify_resume = false;
  SampleOptions sample;
  std::string eval_checkpoint, eval_data, eval_logits;
  int64_t eval_batch = 16;
  ClassifyOptions classify;
  CompareOptions compare;
  struct {  // compare's budget, copied into both tasks' options
    ModelConfig model;
    int64_t steps = 1000, batch = 32, warmup = 50;
    float lr = 1e-3f;
    uint64_t seed = 1;
    int threads = 0;
    std::string precision = "fp32";
  } compare_run;
  OperatorBenchOptions bench;
  AttentionMapOptions map;
  PrepareOptions prepare;
  OpOptions op;
  std::vector<std::string> plot_dirs;
  std::string plot_out;
  int threads = 0;  // sample, eval, attention-map and op (the others keep theirs in their options)
};

void add_sample(CLI::App& app, Commands& c) {
  SampleOptions& o = c.sample;
  auto* s = app.add_subcommand("sample", "Generate text from a checkpoint (KV-cached)");
  s->add_option("--checkpoint", o.checkpoint, "checkpoint file")->required();
  s->add_option("--prompt", o.prompt, "text to continue");
  s->add_option("--tokens", o.tokens, "tokens to generate")->capture_default_str();
  s->add_option("--temperature", o.sampling.temperature, "softmax temperature (0: greedy)")->capture_default_str();
  s->add_option("--top-k", o.sampling.top_k, "sample among the k likeliest (0: all)")->capture_default_str();
  s->add_option("--top-p", o.sampling.top_p,
                "nucleus sampling: among the likeliest tokens whose probabilities reach p (1: all)")->capture_default_str();
  s->add_option("--seed", o.seed, "random seed")->capture_default_str();
  s->add_option("--threads", c.threads, kThreadsHelp)->capture_default_str();
  auto* e = app.add_subcommand("eval", "Loss and perplexity of a checkpoint on a text file");
  e->add_option("--checkpoint", c.eval_checkpoint, "checkpoint file")->required();
  e->add_option("--data", c.eval_data, "UTF-8 text file")->required();
  e->add_option("--batch", c.eval_batch, "windows per batch")->capture_default_str();
  e->add_option("--logits", c.eval_logits,
                "also write DIR/tokens.npy and DIR/logits.npy [T, V] of the text's first "
                "min(context, tokens) tokens");
  e->add_option("--threads", c.threads, kThreadsHelp)->capture_default_str();
}

void add_prepare(CLI::App& app, PrepareOptions& o) {
  auto* p = app.add_subcommand("prepare", "Tokenize a corpus into a dataset folder for train "
                                          "--data-dir (train.bin, val.bin, dataset.json)");
  p->add_option("inputs", o.inputs, "text files, folders of them, or globs (quoted)")->required();
  p->add_option("--out", o.out, "the dataset folder to create")->required();
  p->add_option("--tokenizer", o.tokenizer, "char, byte, or a SentencePiece vocabulary: bpe or "
                "unigram (byte fallback: any input encodes)")->capture_default_str();
  p->add_option("--vocab-size", o.vocab_size, "bpe, unigram: pieces in the vocabulary")->capture_default_str();
  p->add_option("--val-fraction", o.val_fraction, "the last share of the corpus held out")->capture_default_str();
  p->add_option("--sample-mb", o.sample_mb, "bpe, unigram: MB of the corpus (spread over it) "
                "to train the vocabulary on")->capture_default_str();
  p->add_option("--dtype", o.dtype, "token ids: auto (uint16 when the vocabulary fits), uint16 "
                "or uint32")->capture_default_str();
  p->add_option("--threads", o.threads, kThreadsHelp)->capture_default_str();
  p->add_flag("--quiet", o.quiet, "no progress line");
}

void add_classify(CLI::App& app, Commands& c) {
  ClassifyOptions& o = c.classify;
  o.model.n_layer = 4, o.model.n_head = 4, o.model.n_embd = 128, o.model.context = 512;
  auto* k = app.add_subcommand("classify", "Train an encoder classifier (ListOps or label,text CSV)");
  k->add_option("--task", o.task, "listops (generated with LRA's rules, or --train/--test TSV) or csv")->capture_default_str();
  add_classification_data_options(k, o);
  add_model_options(k, o.model);
  k->add_option("--batch", o.batch, "sequences per micro-batch")->capture_default_str();
  k->add_option("--grad-accum", o.grad_accum, "micro-batches per optimizer step (the step "
                "sees batch x grad-accum sequences)")->capture_default_str();
  k->add_option("--steps", o.steps, "optimizer steps")->capture_default_str();
  k->add_option("--lr", o.lr, "peak learning rate (cosine decay to a tenth of it)")->capture_default_str();
  k->add_option("--warmup", o.warmup, "linear warmup steps")->capture_default_str();
  k->add_option("--weight-decay", o.weight_decay, "AdamW decoupled weight decay")->capture_default_str();
  k->add_option("--seed", o.seed, "random seed")->capture_default_str();
  add_loop_options(k, o, c.classify_resume, "run folder: metrics.jsonl, config.json, checkpoint, eval.json");
  k->add_flag("--eval-only", o.eval_only,
              "evaluate --checkpoint on its run's test set (or --test FILE); no training");
  k->add_option("--checkpoint", o.checkpoint,
                "a classifier checkpoint, for --eval-only (eval.json goes beside it unless --out)");
}

void add_compare(CLI::App& app, Commands& c) {
  CompareOptions& o = c.compare;
  auto& r = c.compare_run;
  r.model.n_layer = 2, r.model.n_head = 4, r.model.n_embd = 64, r.model.context = 64;
  auto* m = app.add_subcommand("compare", "Train every chosen attention variant on one task with the same "
                                          "budget and seed; table, compare.json, loss.png");
  m->add_option("--task", o.task, "copy, recall (causal LM) or listops, csv (encoder classifier)")->capture_default_str();
  m->add_option("--attention", o.attention, "comma-separated variants, or all (" + variants_help() + ")")->capture_default_str();
  add_synthetic_task_options(m, o.lm);
  add_classification_data_options(m, o.cls);
  m->add_option("--layers", r.model.n_layer, "transformer blocks")->capture_default_str();
  m->add_option("--heads", r.model.n_head, "attention heads")->capture_default_str();
  m->add_option("--width", r.model.n_embd, "model width C")->capture_default_str();
  m->add_option("--context", r.model.context, "context length T (at least what the task needs)")->capture_default_str();
  m->add_option("--dropout", r.model.dropout, "dropout probability")->capture_default_str();
  m->add_option("--steps", r.steps, "optimizer steps per variant")->capture_default_str();
  m->add_option("--batch", r.batch, "sequences per step")->capture_default_str();
  m->add_option("--lr", r.lr, "peak learning rate")->capture_default_str();
  m->add_option("--warmup", r.warmup, "linear warmup steps")->capture_default_str();
  m->add_option("--weight-decay", o.cls.weight_decay, "AdamW weight decay (classification tasks)")->capture_default_str();
  m->add_option("--seed", r.seed, "random seed (same for every variant)")->capture_default_str();
  m->add_option("--threads", r.threads, kThreadsHelp)->capture_default_str();
  m->add_option("--precision", r.precision, kPrecisionHelp)->capture_default_str();
  m->add_option("--out", o.out, "folder: one run folder per variant, compare.json, loss.png")->capture_default_str();
}

void add_bench_and_inspection(CLI::App& app, Commands& c) {
  OperatorBenchOptions& bench = c.bench;
  auto* b = app.add_subcommand("bench", "Time and memory of every attention variant over a range of T; "
                                        "table, bench.jsonl, log-log time.png and memory.png");
  b->add_option("--attention", bench.attention, "comma-separated variants, or all")->capture_default_str();
  b->add_option("--T", bench.lengths, "sequence lengths")->capture_default_str()->delimiter(',');
  b->add_option("--batch", bench.batch, "B")->capture_default_str();
  b->add_option("--heads", bench.heads, "H")->capture_default_str();
  b->add_option("--head-dim", bench.head_dim, "D")->capture_default_str();
  b->add_flag("--causal", bench.causal, "causal mask (Linformer is left out)");
  b->add_option("--repeats", bench.repeats, "timed runs per point (median)")->capture_default_str();
  b->add_option("--max-mb", bench.max_mb, "skip Synthesizer points whose T x T tensors need more")->capture_default_str();
  b->add_option("--threads", bench.threads, kThreadsHelp)->capture_default_str();
  b->add_option("--precision", bench.precision, kPrecisionHelp)->capture_default_str();
  b->add_option("--out", bench.out, "folder for bench.jsonl and the plots")->capture_default_str();
  AttentionMapOptions& amap = c.map;
  auto* a = app.add_subcommand("attention-map", "PNG heatmaps of every layer's and head's attention weights");
  a->add_option("--checkpoint", amap.checkpoint, "checkpoint of attn train or attn classify")->required();
  a->add_option("--text", amap.text, "input text (models trained on text, classifiers)");
  a->add_option("--ids", amap.ids, "comma-separated token ids (models of synthetic tasks, classifiers)");
  a->add_option("--example", amap.example, "classifiers: this example of the run's test set "
                "(when no --text or --ids)")->capture_default_str();
  a->add_option("--cell", amap.cell, "pixels per weight, 1..64 (0: from the length)")->capture_default_str();
  a->add_option("--out", amap.out, "folder for layer<N>.png and layer<N>.npy")->capture_default_str();
  a->add_option("--threads", c.threads, kThreadsHelp)->capture_default_str();
  auto* p = app.add_subcommand("plot", "Draw a run's loss (and accuracy) curves from its metrics.jsonl");
  p->add_option("runs", c.plot_dirs, "run folders (hold metrics.jsonl); for one run loss.png and "
                "accuracy.png go there")->required();
  p->add_option("--out", c.plot_out, "several runs: the PNG with all their loss curves");
  OpOptions& op = c.op;
  auto* o = app.add_subcommand("op", "Run one attention operator on .npy files, write output and gradients");
  o->footer(op_help());
  o->add_option("name", op.name, "softmax | linear | synthetic | synth-dense | synth-fact-dense | synth-fact-random | mixture | linformer")->required();
  o->add_option("--in", op.in_dir, "folder with the input .npy files and dout.npy")->required();
  o->add_option("--out", op.out_dir, "folder for out.npy and the gradients")->required();
  o->add_flag("--causal", op.causal, "causal mask");
  o->add_option("--chunk", op.chunk, "linear attention chunk")->capture_default_str();
  o->add_option("--threads", c.threads, kThreadsHelp)->capture_default_str();
}

int run_compare_command(Commands& c) {
  TrainOptions& t = c.compare.lm;
  ClassifyOptions& k = c.compare.cls;
  const auto& r = c.compare_run;
  t.model = k.model = r.model;
  t.steps = k.steps = r.steps, t.batch = k.batch = r.batch, t.warmup = k.warmup = r.warmup;
  t.lr = k.lr = r.lr, t.min_lr = r.lr / 10, t.seed = k.seed = r.seed;
  t.threads = k.threads = r.threads;
  t.precision = k.precision = r.precision;
  t.eval_interval = k.eval_interval = std::max<int64_t>(1, r.steps / 4);
  return run_compare(c.compare);
}

int dispatch(const CLI::App& app, Commands& c) {
  set_threads(c.threads);
  prepare_ranks(app.got_subcommand("train") || app.got_subcommand("classify"));
  if (app.got_subcommand("train")) {
    if (!c.train.data.empty()) c.train.task = "text";
    if (!c.train.data_dir.empty()) c.train.task = "tokens";
    if (c.train_resume && !c.train.init_from.empty())
      throw std::invalid_argument("--init-from starts a new run; it cannot be combined with --resume");
    return train_language_model(c.train, run_start(app.get_subcommand("train"), c.train_resume));
  }
  if (app.got_subcommand("sample")) return run_sample(c.sample);
  if (app.got_subcommand("prepare")) {
    set_threads(c.prepare.threads);
    return run_prepare(c.prepare);
  }
  if (app.got_subcommand("eval")) return run_eval(c.eval_checkpoint, c.eval_data, c.eval_batch, c.eval_logits);
  if (app.got_subcommand("op")) return run_op(c.op);
  if (app.got_subcommand("classify"))
    return run_classify(c.classify, run_start(app.get_subcommand("classify"), c.classify_resume));
  if (app.got_subcommand("compare")) return run_compare_command(c);
  if (app.got_subcommand("bench")) return run_operator_bench(c.bench);
  if (app.got_subcommand("attention-map")) return run_attention_map(c.map);
  if (app.got_subcommand("plot")) return run_plot_command(c.plot_dirs, c.plot_out);
  return 0;
}

int run_command(const CLI::App& app, Commands& commands) {
  try {
    return dispatch(app, commands);
  } catch (const nlohmann::json::exception& ex) {  // a file's JSON of an unexpected shape
    return report_error(std::string("a JSON document read from a file is not as attn wrote "
                                    "it: ") + ex.what());
  } catch (const std::exception& ex) {
    return report_error(ex.what());
  }
}

}  // namespace

int main(int argc, char** argv) {
  World::init(&argc, &argv);
  CLI::App app{"attn: train small transformers on a CPU and compare attention operators.\n" +
               variants_help()};
  app.require_subcommand(1);
  Commands commands;
  add_train(app, commands.train, commands.train_resume);
  add_prepare(app, commands.prepare);
  add_sample(app, commands);
  add_classify(app, commands);
  add_compare(app, commands);
  add_bench_and_inspection(app, commands);
  apply_option_ranges(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    World::finalize();
    return code;
  }
  std::setvbuf(stdout, nullptr, _IOLBF, 0);  // progress lines appear at once in logs too
  const int code = run_command(app, commands);
  World::finalize();
  return code;
}
