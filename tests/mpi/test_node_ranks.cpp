// A rank's place on its node comes from the whole job (MPI_COMM_WORLD), never
// from the communicator it trains in, and agrees with what mpirun puts in the
// environment. Runs without a GPU (every rank of these tests is on one node).
#include <gtest/gtest.h>

#include <cstdlib>

#include "dist/mpi_comm.hpp"
#include "mpi_world.hpp"

namespace elm {
namespace {

TEST(NodeRanks, FromTheWholeJobWhateverTheSplit) {
  Comm& world = test::mpi_world();
  const NodeRanks node = mpi_world_node_ranks();
  EXPECT_EQ(node.local_ranks, world.size());
  EXPECT_EQ(node.local_rank, world.rank());
  // In a group of its own the upper half still has its node rank.
  auto half = world.split(world.rank() < world.size() / 2 ? 0 : 1, world.rank());
  const NodeRanks again = mpi_world_node_ranks();
  EXPECT_EQ(again.local_rank, node.local_rank);
  EXPECT_EQ(again.local_ranks, node.local_ranks);
  if (world.size() > 1 && world.rank() >= world.size() / 2) EXPECT_LT(mpi_local_rank(*half), node.local_rank);
  const auto env = node_ranks_from_env([](const char* name) { return std::getenv(name); });
  if (env) {
    EXPECT_EQ(env->local_rank, node.local_rank);
    EXPECT_EQ(env->local_ranks, node.local_ranks);
  }
}

}  // namespace
}  // namespace elm
