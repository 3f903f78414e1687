// The world of a build without MPI: this one process. mpirun can still start several copies
// of such a build; they would train separately, so they are refused.
#include <cstdio>
#include <cstdlib>
#include <stdexcept>

#include "apps/world.h"

namespace attn {

void World::init(int*, char***) {
  const char* size = std::getenv("OMPI_COMM_WORLD_SIZE");
  if (size && std::atoi(size) > 1) {
    const char* rank = std::getenv("OMPI_COMM_WORLD_RANK");
    if (!rank || std::atoi(rank) == 0)
      std::fprintf(stderr, "attn: started by mpirun with %s processes, but this attn was built "
                   "without MPI (install libopenmpi-dev and rebuild: scripts/setup.sh)\n", size);
    std::exit(2);
  }
}

World& World::get() {
  static World world;
  return world;
}

void World::finalize() {}
bool World::built_with_mpi() { return false; }
void World::set_step(int64_t) {}

std::vector<RankReport> World::check_in(const RankReport& mine, const char*, int64_t, double) {
  return {mine};
}
void World::sum(double*, int64_t, const char*, int64_t) {}
void World::start_sum(float*, int64_t) {}
void World::progress() {}
void World::wait_all(const char*, int64_t) {}

void World::abort(const std::string& message, int exit_code) {
  std::fprintf(stderr, "%s\n", message.c_str());
  std::exit(exit_code);
}

}  // namespace attn
