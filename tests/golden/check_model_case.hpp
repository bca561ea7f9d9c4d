#pragma once
#include <H5Cpp.h>

#include <string>

namespace elm::test {

// A reference forward/backward case: attributes variant, config_json, loss_kind.
bool is_model_case(const std::string& path);
// Outputs, loss, every gradient and (where present) the NeuronIO eval output,
// for every input kind the case's input can be expressed in.
void check_model_case(const std::string& path);

}  // namespace elm::test
