#pragma once
// Which CUDA device a rank drives. Decided from the rank's place among ALL of
// the job's ranks on its node (never a sub-communicator's: a split must not
// move a rank to another GPU) and the devices this process sees. Plain C++ (no
// CUDA headers): the device count and the environment are parameters, so the
// rule is unit-tested without a GPU.
#include <functional>
#include <optional>
#include <string>

namespace elm {

// This rank's index among the job's ranks on the same node, and their number.
struct NodeRanks {
  int local_rank = 0;
  int local_ranks = 1;
};

// The device index (as the CUDA runtime numbers the VISIBLE devices) for a rank.
// CUDA_VISIBLE_DEVICES renumbers what a process sees from 0, so:
//  - at least as many visible devices as ranks on the node: device = local_rank;
//  - exactly one visible device while CUDA_VISIBLE_DEVICES names exactly one
//    (per-rank binding, e.g. Slurm --gpu-bind / --gpus-per-task=1): device 0;
//  - otherwise (ranks would share a GPU) an ElmError of one line naming the
//    local rank and count, the visible device count and CUDA_VISIBLE_DEVICES.
// cuda_visible_devices_env is the variable's value, "" when unset.
int gpu_for_rank(int local_rank, int local_ranks, int visible_devices, const std::string& cuda_visible_devices_env);

// Node placement that a launcher put in the environment, read through `lookup`
// (returns null for an unset variable; std::getenv in production):
// OMPI_COMM_WORLD_LOCAL_RANK / OMPI_COMM_WORLD_LOCAL_SIZE (mpirun), else
// SLURM_LOCALID with this node's entry (SLURM_NODEID) of SLURM_TASKS_PER_NODE
// ("2(x3),1" form) (srun). nullopt when neither is complete; ElmError when a
// value is malformed.
using EnvLookup = std::function<const char*(const char*)>;
std::optional<NodeRanks> node_ranks_from_env(const EnvLookup& lookup);

// Tasks on node `node_id` from Slurm's compressed SLURM_TASKS_PER_NODE list
// ("4", "2(x3),1"); ElmError when malformed or too short.
int slurm_tasks_on_node(const std::string& tasks_per_node, int node_id);

}  // namespace elm
