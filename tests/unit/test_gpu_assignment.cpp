// GPU of a rank: from its place among the node's ranks of the whole job and the
// devices it sees (CUDA_VISIBLE_DEVICES renumbers them from 0).
#include <gtest/gtest.h>

#include <map>
#include <set>

#include "core/error.hpp"
#include "dist/gpu_assignment.hpp"
#include "test_support.hpp"

namespace elm {
namespace {

TEST(GpuAssignment, EachRankOfAFullNodeGetsItsOwnDevice) {
  std::set<int> used;
  for (int r = 0; r < 8; ++r) used.insert(gpu_for_rank(r, 8, 8, ""));
  EXPECT_EQ(used, (std::set<int>{0, 1, 2, 3, 4, 5, 6, 7}));
}

TEST(GpuAssignment, UpperHalfOfTheNodeKeepsTheUpperDevices) {
  // The defect this guards: ranks 4-7 of an 8-GPU node, in a sub-communicator
  // of their own (local ranks 0-3 there), were moved onto GPUs 0-3. The node
  // rank among the job's ranks decides, whatever group the rank trains in.
  for (int r = 4; r < 8; ++r) EXPECT_EQ(gpu_for_rank(r, 8, 8, ""), r);
}

TEST(GpuAssignment, FewerRanksThanDevicesUseTheFirstOnes) {
  EXPECT_EQ(gpu_for_rank(0, 2, 4, ""), 0);
  EXPECT_EQ(gpu_for_rank(1, 2, 4, "0,1,2,3"), 1);
}

TEST(GpuAssignment, OneBoundDevicePerRankIsDeviceZeroForAll) {
  // srun --gpus-per-task=1: every rank sees only its own GPU, numbered 0.
  for (int r = 0; r < 4; ++r) EXPECT_EQ(gpu_for_rank(r, 4, 1, std::to_string(r)), 0);
  EXPECT_EQ(gpu_for_rank(3, 4, 1, "GPU-5e3c1f2a-aaaa-bbbb-cccc-0123456789ab"), 0);
}

TEST(GpuAssignment, RanksThatWouldShareAGpuAreOneLineNamingTheCounts) {
  // Two ranks, one device and no per-rank binding: both would drive device 0.
  std::string msg = test::expect_one_line_elm_error([] { gpu_for_rank(1, 2, 1, ""); });
  EXPECT_NE(msg.find("local rank 1 of 2"), std::string::npos) << msg;
  EXPECT_NE(msg.find("1 CUDA device"), std::string::npos) << msg;
  EXPECT_NE(msg.find("CUDA_VISIBLE_DEVICES unset"), std::string::npos) << msg;
  msg = test::expect_one_line_elm_error([] { gpu_for_rank(5, 8, 4, "0,1,2,3"); });
  EXPECT_NE(msg.find("local rank 5 of 8"), std::string::npos) << msg;
  EXPECT_NE(msg.find("4 CUDA device"), std::string::npos) << msg;
  EXPECT_NE(msg.find("'0,1,2,3'"), std::string::npos) << msg;
  // A list of several devices of which only one exists is no per-rank binding.
  msg = test::expect_one_line_elm_error([] { gpu_for_rank(0, 2, 1, "0,7"); });
  EXPECT_NE(msg.find("'0,7'"), std::string::npos) << msg;
}

TEST(GpuAssignment, NoDeviceOrBadRankIsAnError) {
  std::string msg = test::expect_one_line_elm_error([] { gpu_for_rank(0, 1, 0, ""); });
  EXPECT_NE(msg.find("no CUDA device"), std::string::npos) << msg;
  test::expect_one_line_elm_error([] { gpu_for_rank(2, 2, 4, ""); });
  test::expect_one_line_elm_error([] { gpu_for_rank(-1, 2, 4, ""); });
}

EnvLookup env_of(const std::map<std::string, std::string>& vars) {
  return [vars](const char* name) -> const char* {
    const auto it = vars.find(name);
    return it == vars.end() ? nullptr : it->second.c_str();
  };
}

TEST(GpuAssignment, NodeRanksFromOpenMpiEnvironment) {
  const auto r = node_ranks_from_env(env_of({{"OMPI_COMM_WORLD_LOCAL_RANK", "5"}, {"OMPI_COMM_WORLD_LOCAL_SIZE", "8"},
                                             {"SLURM_LOCALID", "1"}, {"SLURM_TASKS_PER_NODE", "2"},
                                             {"SLURM_NODEID", "0"}}));
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->local_rank, 5);
  EXPECT_EQ(r->local_ranks, 8);
}

TEST(GpuAssignment, NodeRanksFromSlurmEnvironment) {
  const auto r = node_ranks_from_env(
      env_of({{"SLURM_LOCALID", "0"}, {"SLURM_TASKS_PER_NODE", "4(x2),1"}, {"SLURM_NODEID", "2"}}));
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->local_rank, 0);
  EXPECT_EQ(r->local_ranks, 1);
  EXPECT_FALSE(node_ranks_from_env(env_of({{"SLURM_LOCALID", "0"}})).has_value());
  EXPECT_FALSE(node_ranks_from_env(env_of({})).has_value());
  test::expect_one_line_elm_error(
      [] { node_ranks_from_env(env_of({{"OMPI_COMM_WORLD_LOCAL_RANK", "x"}, {"OMPI_COMM_WORLD_LOCAL_SIZE", "2"}})); });
}

TEST(GpuAssignment, SlurmTasksPerNodeList) {
  EXPECT_EQ(slurm_tasks_on_node("4", 0), 4);
  EXPECT_EQ(slurm_tasks_on_node("2(x3),1", 0), 2);
  EXPECT_EQ(slurm_tasks_on_node("2(x3),1", 2), 2);
  EXPECT_EQ(slurm_tasks_on_node("2(x3),1", 3), 1);
  test::expect_one_line_elm_error([] { slurm_tasks_on_node("2(x3),1", 4); });
  test::expect_one_line_elm_error([] { slurm_tasks_on_node("2(x3", 0); });
  test::expect_one_line_elm_error([] { slurm_tasks_on_node("", 0); });
}

}  // namespace
}  // namespace elm
