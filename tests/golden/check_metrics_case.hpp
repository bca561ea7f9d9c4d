#pragma once
// Golden comparison of the NeuronIO metrics against the reference evaluator
// (metrics_neuronio.h5). Call from inside a TEST body.
#include <H5Cpp.h>

#include <string>

namespace elm {

// True when the file has datasets spike_prob, spike_target, soma_pred and
// soma_target.
bool is_metrics_case(H5::H5File& file);

// Records gtest failures for every metric further than 1e-6 (absolute) from
// the value stored as an attribute.
void check_metrics_case(const std::string& path);

}  // namespace elm
