#pragma once
// The two-tower model of LRA Retrieval, as the ELM paper fed it
// (shared/docs/datasets.md: "two towers sharing weights, latent 75; combine as
// [u, v, u*v, u-v] -> classifier").
//
// One ELM (the tower, config.num_output = the latent size L) runs on document A
// and on document B with the same weights: both documents of B pairs go through
// the tower ONCE as a batch of 2B rows, the A documents in rows 0..B-1 and the B
// documents in rows B..2B-1 (what the retrieval task's make_batch returns). u and
// v are the tower's outputs at the last step. The classifier head is
//
//   f = [u, v, u*v, u-v]                  (4L; * and - elementwise)
//   logits = W2 relu(W0 f + b0) + b2      (head.0: 4L -> head_hidden, head.2: -> head_classes)
//
// and the loss is the mean cross-entropy over the B pairs. The paper gives no
// classifier architecture; one hidden ReLU layer of configurable width
// (model.head_hidden) is our choice, in the style of LRA's dual-encoder heads.
// The head's parameters live in the model's flat buffer (ParamLayout::head()).
#include <cstdint>
#include <span>
#include <vector>

#include "backend/cpu/elm_cpu.hpp"
#include "model/param_layout.hpp"

namespace elm {

// The head on the towers' outputs y [2B, steps, L] for `pairs` = B pairs.
// Writes logits [B, classes]. With labels [B]: returns the mean cross-entropy
// (else 0). With dy: writes dL/dy into dy [2B, steps, L] at the last step of
// every row only (other entries are left untouched; the caller keeps them 0).
// With grad: ADDS dL/d(head params) at the head's offsets of grad
// [num_trainable]. dy and grad need labels.
template <class T>
T two_tower_head(const ParamLayout& layout, const T* params, const T* y, int pairs, int steps,
                 const int64_t* labels, T* logits, T* dy, T* grad);

// The whole model (tower + head) on a batch of pairs; owns the tower's output
// buffers. forward() then backward(), as CpuElm.
template <class T>
class TwoTowerElm {
 public:
  // The tower's config must have head_hidden > 0.
  explicit TwoTowerElm(CpuElm<T>& tower);

  // x: 2B rows (A documents, then B documents), labels [B]. Returns the mean
  // cross-entropy over the pairs; logits() holds [B, classes].
  T forward(const T* params, const InputBatch& x, std::span<const int64_t> labels);
  // grad [num_trainable]: dL/d(tower and head params) of the last forward (overwritten).
  void backward(T* grad);

  const std::vector<T>& logits() const { return logits_; }
  int classes() const { return tower_.layout().head().classes; }

 private:
  CpuElm<T>& tower_;
  const T* params_ = nullptr;
  int pairs_ = 0, steps_ = 0;
  std::vector<int64_t> labels_;
  std::vector<T> y_, dy_, logits_;
};

extern template class TwoTowerElm<float>;
extern template class TwoTowerElm<double>;

}  // namespace elm
