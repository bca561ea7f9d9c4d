#pragma once
// The [task] section of a run's configuration. It lives with the tasks (not
// with the rest of the run configuration in train/) because make_task reads it
// and the data layer must not depend on train/.
#include <string>

#include "core/key_values.hpp"

namespace elm {

struct TaskConfig {
  std::string name = "synthetic_burst";
  KeyValues options;  // task-specific keys, validated by the task itself
};

}  // namespace elm
