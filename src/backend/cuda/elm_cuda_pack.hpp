#pragma once
// Several CudaElms of one shape run together (issue: packed sweeps): each
// model's traces, loss and trace adjoints stay on its own stream, while the
// memory recurrences of all models run as one launch with a model index
// (a block per model and sample group) and their MLP weight gradients as
// batched GEMMs. A member's arithmetic is that of the model alone; only the
// batched GEMMs may sum in another order (docs/cuda-backend.md). No CUDA headers.
#include <memory>
#include <span>
#include <vector>

#include "backend/cuda/elm_cuda.hpp"

namespace elm {

class CudaElmPack {
 public:
  // The members must share every shape (config apart from shape-free values
  // such as lambda or the tau range), device and options, and outlive the pack.
  explicit CudaElmPack(std::vector<CudaElm*> members);
  ~CudaElmPack();
  CudaElmPack(const CudaElmPack&) = delete;
  CudaElmPack& operator=(const CudaElmPack&) = delete;

  int size() const;
  CudaElm& member(int k) const;

  // Member k's forward of d_params[k] on its input (upload_input or
  // use_device_input) into d_y[k]; every input must have the same batch and
  // steps. On return each member's stream orders after the pack's work, so a
  // member's later calls (loss kernels, downloads, backward) need no more.
  void forward(std::span<const float* const> d_params, std::span<float* const> d_y);
  // Member k's backward given d_dy[k] into d_grad[k], after forward().
  void backward(std::span<const float* const> d_dy, std::span<float* const> d_grad);
  // Waits for every member's and the pack's work.
  void synchronize();

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace elm
