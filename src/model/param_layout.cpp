#include "model/param_layout.hpp"

#include "core/error.hpp"

namespace elm {

int64_t ParamLayout::add(const std::string& name, std::vector<int64_t> shape, bool trainable) {
  int64_t size = 1;
  for (auto d : shape) size *= d;
  ParamEntry e{name, std::move(shape), total_, size, trainable};
  entries_.push_back(e);
  total_ += size;
  if (trainable) {
    ELM_ASSERT(trainable_ == e.offset);  // trainable entries must stay a prefix
    trainable_ += size;
  }
  return e.offset;
}

ParamLayout::ParamLayout(const ElmConfig& c) {
  const int H = c.hidden();
  int in = c.mlp_input();
  for (int l = 0; l <= c.mlp_num_layers; ++l) {
    const int out = l < c.mlp_num_layers ? H : c.num_memory;
    const std::string base = "mlp.network." + std::to_string(2 * l);
    Mlp m;
    m.weight = add(base + ".weight", {out, in}, true);
    m.bias = add(base + ".bias", {out}, true);
    m.in = in;
    m.out = out;
    mlp_.push_back(m);
    in = out;
  }
  w_s_ = add("_proto_w_s", {c.synapses()}, true);
  w_y_ = add("w_y.weight", {c.num_output, c.num_memory}, true);
  b_y_ = add("w_y.bias", {c.num_output}, true);
  if (c.head_hidden > 0) {
    head_.latent = c.num_output;
    head_.hidden = c.head_hidden;
    head_.classes = c.head_classes;
    head_.w0 = add("head.0.weight", {c.head_hidden, 4 * int64_t(c.num_output)}, true);
    head_.b0 = add("head.0.bias", {c.head_hidden}, true);
    head_.w2 = add("head.2.weight", {c.head_classes, c.head_hidden}, true);
    head_.b2 = add("head.2.bias", {c.head_classes}, true);
  }
  if (c.learn_memory_tau) proto_tau_m_ = add("_proto_tau_m", {c.num_memory}, true);
  if (!c.learn_memory_tau) proto_tau_m_ = add("_proto_tau_m", {c.num_memory}, false);
  if (c.variant == ElmVariant::V1)
    trace_tau_ = add("tau_s", {c.synapses()}, false);
  else
    trace_tau_ = add("tau_b", {c.branches()}, false);
}

const ParamEntry* ParamLayout::find(const std::string& name) const {
  for (const auto& e : entries_)
    if (e.name == name) return &e;
  return nullptr;
}

const ParamEntry& ParamLayout::entry(const std::string& name) const {
  const ParamEntry* e = find(name);
  ELM_CHECK(e != nullptr, "no parameter named '", name, "' in this model");
  return *e;
}

}  // namespace elm
