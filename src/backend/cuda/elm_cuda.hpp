#pragma once
// The ELM on a CUDA device: the same forward/backward contract as CpuElm<float>
// on device buffers, plus host-copy entry points for tests and benches. This
// header includes no CUDA headers; see docs/cuda-backend.md for the design.
#include <cstddef>
#include <memory>
#include <string>
#include <utility>

#include "backend/cuda/cuda_plan.hpp"
#include "backend/input_batch.hpp"
#include "model/elm_config.hpp"
#include "model/param_layout.hpp"
#include "model/synapse_routing.hpp"

namespace elm {

namespace cuda {
struct RecurrenceArgs;
}
class CudaElm;

// True when a CUDA device can be used; otherwise false and, if given, *reason
// holds one line saying why (no driver, no device, ...). Never throws.
bool cuda_device_usable(std::string* reason = nullptr);
// "NVIDIA H100 80GB HBM3 (sm_90, 132 SMs)"; throws ElmError without a device.
std::string cuda_device_description(int device = 0);
// Throws one line (cuda_no_code_message) when this binary has no code that the
// current device, `device`, can run; called once when a CudaElm is built.
void require_code_for_device(int device);

// A compact input batch in device memory (see InputBatch): dense [B*T][n_in];
// spike events in CSR form by (b, t); or one token id per (b, t).
struct DeviceInputView {
  enum class Kind { Dense, Spikes, Tokens } kind = Kind::Dense;
  int batch = 0, steps = 0, channels = 0;
  const float* dense = nullptr;
  const int64_t* offsets = nullptr;  // [B*T + 1]
  const int32_t* channel = nullptr;
  const float* value = nullptr;
  int64_t events = 0;
  const int32_t* ids = nullptr;  // [B*T]
};

struct CudaElmOptions {
  int device = 0;  // every call of the CudaElm runs on this device, whatever device is current
  int segment_len = 0;                          // BPTT segment (checkpoint interval); 0: from the budget
  size_t segment_budget_bytes = size_t(256) << 20;  // activation record of one segment
  int group = 0;                                // samples per block (1 or 4); 0: automatic
  bool weights_in_smem = true;                  // false: MLP weights always read from global memory
};

// Every public call makes options.device current for its duration and then
// restores the caller's current device, so a process may hold CudaElms on
// several GPUs and change the current device between calls.
class CudaElm {
 public:
  CudaElm(const ElmConfig& config, const RoutingTable& routing, const CudaElmOptions& options = {});
  ~CudaElm();
  CudaElm(const CudaElm&) = delete;
  CudaElm& operator=(const CudaElm&) = delete;

  const ElmConfig& config() const;
  const ParamLayout& layout() const;
  int device() const;  // the CUDA device it runs on (options.device)

  // Copies the compact input to the device (kept until the next upload).
  void upload_input(const InputBatch& x);
  // Uses a compact input already in device memory (a caller's staging
  // buffer) once `ready` (a cudaEvent_t, or nullptr) has completed: the
  // kernels wait for it on the device, the host does not. The pointers must
  // stay valid and unchanged until the following backward() has run; record
  // an event on stream() after it to know when.
  void use_device_input(const DeviceInputView& x, void* ready);
  // The cudaStream_t the model's kernels run on (a blocking stream: it orders
  // with the legacy default stream).
  void* stream() const;
  // Device pointers: params [layout().num_params()], y [B, T, d_o]. The params
  // must stay unchanged until the following backward(). The fixed (not
  // trainable) parameters, tau_s among them, are read to the host only on the
  // first forward() with a buffer and after params_changed().
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

  // Call after writing the parameter buffer other than by an optimizer step
  // (initialisation, checkpoint load, broadcast from another rank): the
  // non-trainable parameters may have changed. A forward() that finds tau_s
  // changed without this call throws an ElmError (detected on the device,
  // reported by a later forward() or synchronize(), and from then on: results
  // computed since are not to be trusted).
  void params_changed();

  // Waits for the device (kernels run asynchronously on the backend's stream).
  void synchronize();

  bool uses_branch_traces() const;
  // A lower bound of the device memory one forward+backward of `x` takes
  // (the plan's buffers with branch traces; the per-synapse form needs more),
  // without the caller's params/y/dy/grad: to refuse a run before it starts.
  size_t device_bytes_at_least(const InputBatch& x) const;
  // Free and total memory of the device, bytes.
  std::pair<size_t, size_t> device_memory() const;
  // Plans of the last forward().
  const cuda::SegmentPlan& segment_plan() const;
  const cuda::LaunchShape& launch_shape() const;

  struct Impl;

 private:
  friend class CudaElmPack;  // drives the phases of forward and backward for several models
  void forward_impl(const float* d_params, float* d_y, const float* host_params);
  // Everything of a forward before the memory recurrence, on the model's
  // stream; returns the recurrence's arguments.
  cuda::RecurrenceArgs forward_before_recurrence(const float* d_params, float* d_y, const float* host_params);
  // Sets Impl::branch for this forward; host_trace_tau: the values on the host already (forward_host).
  void decide_branch_traces(const float* d_params, const float* host_trace_tau);
  void check_branch_decision() const;
  std::unique_ptr<Impl> impl_;
};

// Owned device memory of floats, for callers without CUDA headers (bench, tests).
// Lives on one device: the current one when constructed without `device`;
// copies and frees run on it whatever device is current at the time.
class DeviceFloats {
 public:
  DeviceFloats() = default;
  explicit DeviceFloats(size_t n);  // on the current device
  DeviceFloats(size_t n, int device);
  ~DeviceFloats();
  DeviceFloats(DeviceFloats&& o) noexcept : p_(o.p_), n_(o.n_), device_(o.device_) { o.p_ = nullptr, o.n_ = 0; }
  DeviceFloats& operator=(DeviceFloats&& o) noexcept;
  DeviceFloats(const DeviceFloats&) = delete;
  DeviceFloats& operator=(const DeviceFloats&) = delete;
  float* data() { return p_; }
  const float* data() const { return p_; }
  size_t size() const { return n_; }
  int device() const { return device_; }
  void upload(const float* host, size_t n);    // n <= size()
  void download(float* host, size_t n) const;  // n <= size()
  void zero();

 private:
  void release() noexcept;
  float* p_ = nullptr;
  size_t n_ = 0;
  int device_ = 0;
};

}  // namespace elm
