#pragma once
// Checks of a sweep's inputs before anything runs or is queued: every run's
// task is built once per distinct task setting (store tasks open and check
// each split's header), so a missing or foreign store is reported at
// `sweep --list` / submit time instead of by every queued array task.
#include <string>
#include <vector>

#include "sweep/sweep_job.hpp"

namespace elm {

// One line per problem ("run 3 (ab12cd34): <what is wrong>"); empty when all is well.
std::vector<std::string> sweep_input_problems(const std::vector<SweepRun>& runs);

}  // namespace elm
