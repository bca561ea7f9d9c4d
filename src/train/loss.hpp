#pragma once
// Losses of the paper's tasks. Each returns the loss and writes dL/dY for the
// whole output tensor [B, T, d_o] (zeros where the loss does not look).
#include <cstdint>

namespace elm {

// Mean over the batch of the cross-entropy of the last step's logits.
template <class T>
T last_step_cross_entropy(const T* y, int batch, int steps, int classes, const int64_t* labels, T* dy);

// NeuronIO: 0.5 * BCE-with-logits(y[...,0], spike) + 0.5 * MSE(y[...,1], soma),
// both means over all B*T entries. y has d_o >= 2 outputs per step.
template <class T>
T neuronio_loss(const T* y, int batch, int steps, int outputs, const T* target_spike, const T* target_soma, T* dy);

}  // namespace elm
