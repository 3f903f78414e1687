// The world of a build without MPI (apps/world_local.cpp): one process, nothing sent, and
// mpirun starting several copies of such a build is refused instead of training N models.
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>

#include "tests/helpers.h"
#include "apps/world.h"

using namespace attn;

TEST_CASE("without MPI the world is this one process") {
  World& world = World::get();
  CHECK_FALSE(World::built_with_mpi());
  CHECK(world.single());
  CHECK(world.rank() == 0);
  CHECK(world.size() == 1);
  RankReport mine;
  mine.loss_sum = 2.5, mine.weight_sum = 4;
  const auto table = world.check_in(mine, "test", 1, 1.0);
  REQUIRE(table.size() == 1);
  CHECK(table[0].loss_sum == 2.5);
  double values[2] = {1, 2};
  world.sum(values, 2, "test", 1);  // a sum over one rank changes nothing
  CHECK(values[0] == 1);
  CHECK(values[1] == 2);
  CHECK(rank_list({1}) == "rank 1");
  CHECK(rank_list({1, 3}) == "ranks 1, 3");
}

TEST_CASE("mpirun starting a build without MPI is refused") {
  const pid_t child = fork();
  REQUIRE(child >= 0);
  if (child == 0) {  // as Open MPI's launcher would start rank 1 of 2
    setenv("OMPI_COMM_WORLD_SIZE", "2", 1);
    setenv("OMPI_COMM_WORLD_RANK", "1", 1);
    int argc = 0;
    char** argv = nullptr;
    World::init(&argc, &argv);
    _exit(0);  // not reached when refused
  }
  int status = 0;
  REQUIRE(waitpid(child, &status, 0) == child);
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 2);
}
