#pragma once
// One flat buffer holds every float tensor of the reference's state dict.
// Trainable tensors come first, so the gradient buffer (and the all-reduce) is
// exactly the first `num_trainable()` entries.
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "model/elm_config.hpp"

namespace elm {

struct ParamEntry {
  std::string name;              // reference state-dict name
  std::vector<int64_t> shape;    // reference shape
  int64_t offset = 0;            // into the flat buffer
  int64_t size = 0;
  bool trainable = true;
};

class ParamLayout {
 public:
  explicit ParamLayout(const ElmConfig& config);

  const std::vector<ParamEntry>& entries() const { return entries_; }
  const ParamEntry& entry(const std::string& name) const;
  const ParamEntry* find(const std::string& name) const;
  int64_t num_params() const { return total_; }
  int64_t num_trainable() const { return trainable_; }

  // Offsets of the pieces the backends use.
  struct Mlp {
    int64_t weight, bias;  // weight [out, in] row-major
    int in, out;
  };
  const std::vector<Mlp>& mlp() const { return mlp_; }
  int64_t w_s() const { return w_s_; }
  int64_t w_y() const { return w_y_; }
  int64_t b_y() const { return b_y_; }
  int64_t proto_tau_m() const { return proto_tau_m_; }
  int64_t trace_tau() const { return trace_tau_; }  // tau_s (v1) or tau_b (v2)

  // The two-tower classifier head (config.head_hidden > 0): trainable entries
  // head.0.weight [hidden, 4*latent], head.0.bias [hidden], head.2.weight
  // [classes, hidden], head.2.bias [classes], placed right after w_y.bias (and
  // before _proto_tau_m, which is trainable only when learned).
  struct Head {
    int64_t w0 = 0, b0 = 0, w2 = 0, b2 = 0;
    int latent = 0, hidden = 0, classes = 0;  // latent = the tower's num_output
  };
  bool has_head() const { return head_.hidden > 0; }
  const Head& head() const { return head_; }

 private:
  int64_t add(const std::string& name, std::vector<int64_t> shape, bool trainable);
  std::vector<ParamEntry> entries_;
  std::vector<Mlp> mlp_;
  Head head_;
  int64_t total_ = 0, trainable_ = 0;
  int64_t w_s_ = 0, w_y_ = 0, b_y_ = 0, proto_tau_m_ = 0, trace_tau_ = 0;
};

}  // namespace elm
