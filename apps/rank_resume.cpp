#include "apps/rank_resume.h"

#include <algorithm>
#include <cstdio>
#include <stdexcept>

#include "apps/world.h"

namespace attn {

int64_t saved_ranks(const Checkpoint& ckpt) {
  const auto& extra = ckpt.extra;
  if (!extra.contains("trainer") || !extra["trainer"].is_object() ||
      !extra["trainer"].contains("ranks"))
    return 1;
  const auto& ranks = extra["trainer"]["ranks"];
  if (!ranks.is_number_integer() || ranks.get<int64_t>() < 1 || ranks.get<int64_t>() > (1 << 20))
    throw std::runtime_error(ckpt.path + ": the number of ranks that trained it is not a whole "
                             "number in [1, 2^20]");
  return ranks.get<int64_t>();
}

void adapt_to_ranks(nlohmann::json& saved, const Checkpoint& ckpt, RunStart& start,
                    int64_t given_grad_accum, const std::string& command) {
  const int64_t was = saved_ranks(ckpt), now = World::get().size();
  if (was == now) return;
  const int64_t batch = saved.at("batch").get<int64_t>();
  const int64_t accum = saved.at("grad_accum").get<int64_t>();
  const int64_t global = was * batch * accum;
  auto& fields = start.given_fields;
  const auto typed = std::find(fields.begin(), fields.end(), "grad_accum");
  const bool verbose = World::get().rank() == 0;
  char text[400];
  if (typed != fields.end()) {  // the user chose: say what that does to the global batch
    std::snprintf(text, sizeof text, "attn %s: resuming a %lld-rank run on %lld ranks with "
                  "--grad-accum %lld: the global batch changes from %lld to %lld sequences "
                  "(ranks x batch x grad-accum)\n", command.c_str(), (long long)was,
                  (long long)now, (long long)given_grad_accum, (long long)global,
                  (long long)(now * batch * given_grad_accum));
    saved["grad_accum"] = given_grad_accum;
    start.spellings.erase(start.spellings.begin() + (typed - fields.begin()));
    fields.erase(typed);
    if (verbose) std::printf("%s", text);
    return;
  }
  if ((was * accum) % now != 0) {
    std::snprintf(text, sizeof text, "the run's global batch is %lld ranks x batch %lld x "
                  "grad-accum %lld = %lld sequences: %lld micro-batches of %lld, which %lld "
                  "ranks cannot share equally; resume on a number of ranks dividing %lld, or "
                  "give --grad-accum N to change the global batch to %lld x %lld x N sequences",
                  (long long)was, (long long)batch, (long long)accum, (long long)global,
                  (long long)(was * accum), (long long)batch, (long long)now,
                  (long long)(was * accum), (long long)now, (long long)batch);
    throw std::invalid_argument(text);
  }
  saved["grad_accum"] = was * accum / now;
  std::snprintf(text, sizeof text, "attn %s: resuming a %lld-rank run on %lld rank%s: "
                "--grad-accum %lld -> %lld keeps the global batch of %lld sequences (ranks x "
                "batch %lld x grad-accum)\n", command.c_str(), (long long)was, (long long)now,
                now == 1 ? "" : "s", (long long)accum, (long long)(was * accum / now),
                (long long)global, (long long)batch);
  if (verbose) std::printf("%s", text);
}

}  // namespace attn
