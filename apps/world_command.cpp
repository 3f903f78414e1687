// What every subcommand does about the world before and after it runs (apps/world.h), in
// builds with and without MPI.
#include <algorithm>
#include <cstdio>
#include <stdexcept>

#include "apps/world.h"
#include "engine/parallel.h"

namespace attn {

void prepare_ranks(bool data_parallel_command) {
  World& world = World::get();
  if (world.single()) return;
  if (!data_parallel_command)
    throw std::invalid_argument("only train and classify run data-parallel under mpirun; run "
                                "this command as one process");
  if (world.rank() > 0 && !std::freopen("/dev/null", "w", stdout))
    throw std::runtime_error("rank " + std::to_string(world.rank()) + ": cannot silence stdout");
  set_threads(std::max(1, max_threads() / world.local_size()));
}

int report_error(const std::string& what) {
  World& world = World::get();
  if (!world.single())
    world.abort("attn: rank " + std::to_string(world.rank()) + ": error: " + what, 2);
  std::fprintf(stderr, "attn: error: %s\n", what.c_str());
  return 2;
}

}  // namespace attn
