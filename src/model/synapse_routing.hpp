#pragma once
// Which input channel feeds each synapse (the reference's routing buffers),
// and the inverse map the sparse input paths use.
#include <cstdint>
#include <vector>

#include "model/elm_config.hpp"

namespace elm {

struct RoutingTable {
  std::vector<int64_t> input_index;  // [d_s] input channel of synapse s
  std::vector<uint8_t> valid;        // [d_s] 0: synapse is masked to zero

  // Routes built as the reference builds them (random routing from config.routing_seed).
  static RoutingTable build(const ElmConfig& config);
  // Throws if the table does not fit the config (sizes, index range).
  void validate(const ElmConfig& config, const std::string& source) const;
};

// For each input channel, the valid synapses it feeds (CSR).
struct InputFanout {
  std::vector<int32_t> offsets;   // [n_in + 1]
  std::vector<int32_t> synapses;  // synapse ids, ascending within a channel
  static InputFanout build(const RoutingTable& table, int num_input);
};

}  // namespace elm
