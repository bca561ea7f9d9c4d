#pragma once
// A model instance: config, flat parameters in the layout of ParamLayout, and
// the routing buffers. Backends read this; checkpoints store it.
#include <cstdint>
#include <string>
#include <vector>

#include "model/elm_config.hpp"
#include "model/param_layout.hpp"
#include "model/synapse_routing.hpp"

namespace elm {

struct ElmModel {
  ElmConfig config;
  ParamLayout layout;
  RoutingTable routing;
  std::vector<float> params;  // [layout.num_params()]

  explicit ElmModel(const ElmConfig& c);
  // Parameters initialised as the reference does (Linear: U(+-1/sqrt(fan_in))).
  static ElmModel initialized(const ElmConfig& c, uint64_t seed);
};

// Effective memory time constants from _proto_tau_m, as the reference computes them.
template <class T>
T tau_m_from_proto(T proto, double tau_min, double tau_max);

// The reference's initial _proto_tau_m (float32, may hold +inf at the top end).
std::vector<float> initial_proto_tau_m(const ElmConfig& c);

// The HDF5 checkpoint (reference names under params/, config as attributes).
void write_checkpoint(const ElmModel& model, const std::string& path);
ElmModel read_checkpoint(const std::string& path);

}  // namespace elm
