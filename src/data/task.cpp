#include "data/task.hpp"

#include "core/error.hpp"
#include "data/synthetic_burst.hpp"
#include "train/run_config.hpp"

namespace elm {

const char* to_string(Split s) { return s == Split::Train ? "train" : s == Split::Valid ? "valid" : "test"; }

std::unique_ptr<Task> make_task(const TaskConfig& config, const ElmConfig& model) {
  std::unique_ptr<Task> task;
  if (config.name == "synthetic_burst")
    task = std::make_unique<SyntheticBurstTask>(SyntheticBurstOptions::from_key_values(config.options, "[task]"));
  else
    fail("config key 'task.name': unknown task '", config.name, "' (known: synthetic_burst)");
  ELM_CHECK(model.num_input == task->num_input(), "config key 'model.num_input' is ", model.num_input, " but task ",
            task->name(), " has ", task->num_input(), " input channels");
  ELM_CHECK(model.num_output == task->num_output(), "config key 'model.num_output' is ", model.num_output,
            " but task ", task->name(), " has ", task->num_output(), " outputs");
  return task;
}

}  // namespace elm
