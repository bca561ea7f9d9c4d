#pragma once
// The training math of the CUDA backend on device buffers: losses, the
// two-tower head, gradient norm and clipping, and the optimizer step. Each one
// mirrors a CPU function (named below), with the per-element formulas shared
// through backend/step_math.hpp; tests/cuda/test_train_kernels.cpp holds them
// to the CPU versions.
//
// All pointers are device pointers. Every launcher enqueues its kernels on
// `stream` and returns without waiting; scratch memory is taken from the
// stream-ordered pool (cudaMallocAsync) and given back on the same stream.
// Reductions use a partition fixed by the problem size (not by the device),
// so results are deterministic run to run.
//
// Labels are int32 on the device. A label outside [0, classes) cannot throw
// from a kernel as the CPU does: that row's loss is NaN (so the batch loss is
// NaN) and its gradients are not written (cross-entropy) or zero (head).
#include <cuda_runtime.h>

#include <cstdint>

#include "backend/step_math.hpp"
#include "model/param_layout.hpp"

namespace elm::cuda {

// As last_step_cross_entropy (train/loss.hpp) on y [B, T, C]: writes dy at the
// last step of every row only (the caller zeroes dy once; other entries are
// never written) and *loss_out = the mean over the batch (summed in double in
// row order, as the CPU does).
void launch_last_step_ce(const float* y, int B, int T, int C, const int32_t* labels, float* dy, float* loss_out,
                         cudaStream_t stream);

// Evaluation: ADDS the batch's summed last-step cross-entropy to sums[0] and
// its number of correct argmax predictions (ties to the lowest index, as
// accuracy_from_logits) to sums[1]. Nothing crosses to the host per batch.
void launch_last_step_ce_eval(const float* y, int B, int T, int C, const int32_t* labels, double* sums,
                              cudaStream_t stream);

// As neuronio_loss (train/loss.hpp) on y [B, T, d_o]: writes dy of outputs 0
// (spike logit) and 1 (soma) of every (b, t), leaves the other outputs
// untouched (the caller keeps them 0), and *loss_out = 0.5 BCE + 0.5 MSE, both
// means over B*T, accumulated in double.
void launch_neuronio_loss(const float* y, int B, int T, int d_o, const float* spike, const float* soma, float* dy,
                          float* loss_out, cudaStream_t stream);

// The two-tower head (two_tower_head in train/two_tower.hpp) on the towers'
// outputs y [2*pairs, steps, head.latent]; params is the model's whole flat
// buffer (the head at head's offsets).
// Forward: logits [pairs, head.classes]; with labels, *loss_out = the mean
// cross-entropy over the pairs (labels and loss_out both given or both null).
void launch_two_tower_head_forward(const ParamLayout::Head& head, const float* params, const float* y, int pairs,
                                   int steps, const int32_t* labels, float* logits, float* loss_out,
                                   cudaStream_t stream);
// Backward (the head is recomputed): with dy, writes dL/dy at the last step
// of every row of dy [2*pairs, steps, latent] only; with grad, ADDS dL/d(head
// params) at the head's offsets of grad [num_trainable]. Either may be null.
void launch_two_tower_head_backward(const ParamLayout::Head& head, const float* params, const float* y, int pairs,
                                    int steps, const int32_t* labels, float* dy, float* grad, cudaStream_t stream);
// Evaluation: ADDS the summed cross-entropy over the pairs to sums[0] and the
// number of correct argmax predictions to sums[1].
void launch_two_tower_head_eval(const ParamLayout::Head& head, const float* params, const float* y, int pairs,
                                int steps, const int32_t* labels, double* sums, cudaStream_t stream);

// *out = sum of g[i]^2 in double (grad_norm in train/grad_clip.hpp is its
// square root; the summation order differs, so the two agree to double rounding).
void launch_sum_squares(const float* g, int64_t n, double* out, cudaStream_t stream);

// g[i] *= factor: clipping, with factor from clip_scale (train/grad_clip.hpp).
void launch_scale(float* g, int64_t n, float factor, cudaStream_t stream);

// One update of Optimizer::step (train/optimizer.hpp) on n parameters with the
// step's scalars, computed on the host by optimizer_step_scalars as the CPU
// does, so the result is bit-identical to the CPU optimizer for the same
// inputs. exp_avg and second are the optimizer's two state buffers (zeros
// before the first step). The overload taking an OptimizerConfig is in
// train/cuda_optimizer_step.cuh.
void launch_optimizer_step(const step_math::OptimizerStepScalars& scalars, float* p, const float* g, float* exp_avg,
                           float* second, int64_t n, cudaStream_t stream);

}  // namespace elm::cuda
