#pragma once
// Golden comparison of the optimizers and the cosine schedule against
// torch.optim (optim_*.h5). Call from inside a TEST body.
#include <H5Cpp.h>

#include <string>

namespace elm {

// True when the file has datasets param0, grads, params_after_step and the
// attribute optimizer.
bool is_optimizer_case(H5::H5File& file);

// Replays the case and records gtest failures: lr_used within 1e-12 relative
// of our schedule, and every params_after_step entry within 1e-6 relative to
// max(|reference|, 1e-6).
void check_optimizer_case(const std::string& path);

}  // namespace elm
