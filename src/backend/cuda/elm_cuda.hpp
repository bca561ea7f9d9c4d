#pragma once
// The ELM on a CUDA device: the same forward/backward contract as CpuElm<float>
// on device buffers, plus host-copy entry points for tests and benches. This
// header includes no CUDA headers; see docs/cuda-backend.md for the design.
#include <cstddef>
#include <memory>
#include <string>

#include "backend/cuda/cuda_plan.hpp"
#include "backend/input_batch.hpp"
#include "model/elm_config.hpp"
#include "model/param_layout.hpp"
#include "model/synapse_routing.hpp"

namespace elm {

// True when a CUDA device can be used; otherwise false and, if given, *reason
// holds one line saying why (no driver, no device, ...). Never throws.
bool cuda_device_usable(std::string* reason = nullptr);
// "NVIDIA H100 80GB HBM3 (sm_90, 132 SMs)"; throws ElmError without a device.
std::string cuda_device_description(int device = 0);
// Throws one line (cuda_no_code_message) when this binary has no code that the
// current device, `device`, can run; called once when a CudaElm is built.
void require_code_for_device(int device);

struct CudaElmOptions {
  int device = 0;
  int segment_len = 0;                          // BPTT segment (checkpoint interval); 0: from the budget
  size_t segment_budget_bytes = size_t(256) << 20;  // activation record of one segment
  int group = 0;                                // samples per block (1 or 4); 0: automatic
  bool weights_in_smem = true;                  // false: MLP weights always read from global memory
};

class CudaElm {
 public:
  CudaElm(const ElmConfig& config, const RoutingTable& routing, const CudaElmOptions& options = {});
  ~CudaElm();
  CudaElm(const CudaElm&) = delete;
  CudaElm& operator=(const CudaElm&) = delete;

  const ElmConfig& config() const;
  const ParamLayout& layout() const;

  // Copies the compact input to the device (kept until the next upload).
  void upload_input(const InputBatch& x);
  // Device pointers: params [layout().num_params()], y [B, T, d_o]. The params
  // must stay unchanged until the following backward().
  void forward(const float* d_params, float* d_y);
  void forward(const float* d_params, const InputBatch& x, float* d_y) {
    upload_input(x);
    forward(d_params, d_y);
  }
  // Writes dL/d(trainable params) into d_grad [layout().num_trainable()] given
  // dL/dy [B, T, d_o] (device) for the batch of the last forward().
  void backward(const float* d_dy, float* d_grad);

  // Host buffers: copies in and out around forward()/backward().
  void forward_host(const float* params, const InputBatch& x, float* y);
  void backward_host(const float* dy, float* grad);

  // Waits for the device (kernels run asynchronously on the backend's stream).
  void synchronize();

  bool uses_branch_traces() const;
  // Plans of the last forward().
  const cuda::SegmentPlan& segment_plan() const;
  const cuda::LaunchShape& launch_shape() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

// Owned device memory of floats, for callers without CUDA headers (bench, tests).
class DeviceFloats {
 public:
  DeviceFloats() = default;
  explicit DeviceFloats(size_t n);
  ~DeviceFloats();
  DeviceFloats(DeviceFloats&& o) noexcept : p_(o.p_), n_(o.n_) { o.p_ = nullptr, o.n_ = 0; }
  DeviceFloats& operator=(DeviceFloats&& o) noexcept;
  DeviceFloats(const DeviceFloats&) = delete;
  DeviceFloats& operator=(const DeviceFloats&) = delete;
  float* data() { return p_; }
  const float* data() const { return p_; }
  size_t size() const { return n_; }
  void upload(const float* host, size_t n);    // n <= size()
  void download(float* host, size_t n) const;  // n <= size()
  void zero();

 private:
  float* p_ = nullptr;
  size_t n_ = 0;
};

}  // namespace elm
