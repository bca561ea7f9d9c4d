#include "model/synapse_routing.hpp"

#include "core/error.hpp"
#include "core/rng.hpp"

namespace elm {

RoutingTable RoutingTable::build(const ElmConfig& c) {
  RoutingTable r;
  const int ds = c.synapses(), n = c.num_input;
  r.input_index.resize(ds);
  r.valid.assign(ds, 1);
  switch (c.routing) {
    case SynapseRouting::None:
      for (int s = 0; s < ds; ++s) r.input_index[s] = s;
      break;
    case SynapseRouting::Random: {
      CounterRng rng(c.routing_seed, 0x726f757465ULL);
      for (int s = 0; s < ds; ++s) r.input_index[s] = static_cast<int64_t>(rng.below(s, n));
      break;
    }
    case SynapseRouting::NeuronIO: {
      // Interleave the two input halves (excitatory/inhibitory), then give each
      // branch a window of neighbouring interleaved inputs.
      const int half = n / 2;
      const int stride = (n + c.branches() - 1) / c.branches();
      const int k = c.num_synapse_per_branch;
      for (int j = 0; j < c.branches(); ++j)
        for (int q = 0; q < k; ++q) {
          int pos = j * stride + q;
          const int s = j * k + q;
          r.valid[s] = pos < n;
          if (pos > n - 1) pos = n - 1;
          r.input_index[s] = (pos % 2) * half + pos / 2;
        }
      break;
    }
  }
  return r;
}

void RoutingTable::validate(const ElmConfig& c, const std::string& source) const {
  ELM_CHECK(static_cast<int64_t>(input_index.size()) == c.synapses(), source, ": input_to_synapse_indices has ",
            input_index.size(), " entries, the config needs ", c.synapses());
  ELM_CHECK(valid.size() == input_index.size(), source, ": valid_indices_mask has ", valid.size(),
            " entries, the config needs ", c.synapses());
  for (size_t s = 0; s < input_index.size(); ++s)
    ELM_CHECK(input_index[s] >= 0 && input_index[s] < c.num_input, source, ": input_to_synapse_indices[", s,
              "] = ", input_index[s], " is outside [0, ", c.num_input, ")");
}

InputFanout InputFanout::build(const RoutingTable& table, int num_input) {
  InputFanout f;
  f.offsets.assign(num_input + 1, 0);
  const int ds = static_cast<int>(table.input_index.size());
  for (int s = 0; s < ds; ++s)
    if (table.valid[s]) ++f.offsets[table.input_index[s] + 1];
  for (int i = 0; i < num_input; ++i) f.offsets[i + 1] += f.offsets[i];
  f.synapses.resize(f.offsets[num_input]);
  std::vector<int32_t> fill(f.offsets.begin(), f.offsets.end() - 1);
  for (int s = 0; s < ds; ++s)
    if (table.valid[s]) f.synapses[fill[table.input_index[s]]++] = s;
  return f;
}

}  // namespace elm
