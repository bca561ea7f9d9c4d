#pragma once
// The StepBackend on one CUDA device (cuda_step_backend.cu). This header has no
// CUDA includes; in a build without CUDA the factory is not defined and
// make_step_backend says so instead.
#include <memory>

#include "dist/gpu_assignment.hpp"
#include "train/step_backend.hpp"

namespace elm {

class StepPack;

#ifdef ELM_HAVE_CUDA
// require_backend_usable's CUDA half: a usable driver, `device` visible, code for it.
void require_cuda_usable(int device);
// The GPU this rank drives: gpu_for_rank() of its node placement
// (mpi_world_node_ranks()), the devices the runtime shows this process and
// CUDA_VISIBLE_DEVICES. One line (ElmError) when the node has more ranks than
// GPUs, or none.
int gpu_for_this_rank(const NodeRanks& node);
// A GPU pack whose members' recurrences run as one launch (CudaElmPack).
std::unique_ptr<StepPack> make_cuda_step_pack(const StepBackendOptions& options);
std::unique_ptr<StepBackend> make_cuda_step_backend(const ElmConfig& config, const RoutingTable& routing,
                                                    TaskLoss loss, const OptimizerConfig& optim,
                                                    const StepBackendOptions& options);
#endif

}  // namespace elm
