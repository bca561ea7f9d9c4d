#include "data/task.hpp"

#include "core/error.hpp"
#include "data/neuronio_task.hpp"
#include "data/store_tasks.hpp"
#include "data/synthetic_burst.hpp"
#include "data/task_config.hpp"

namespace elm {

const char* to_string(Split s) { return s == Split::Train ? "train" : s == Split::Valid ? "valid" : "test"; }

const char* to_string(TaskLoss loss) {
  switch (loss) {
    case TaskLoss::LastStepCrossEntropy: return "last_step_ce";
    case TaskLoss::Neuronio: return "neuronio";
    case TaskLoss::PairedCrossEntropy: return "paired_ce";
  }
  return "?";
}

const char* to_string(InputKind kind) {
  return kind == InputKind::Dense ? "dense" : kind == InputKind::Spikes ? "spikes" : "tokens";
}

std::unique_ptr<Task> make_task(const TaskConfig& config, const ElmConfig& model) {
  std::unique_ptr<Task> task;
  if (config.name == "synthetic_burst")
    task = std::make_unique<SyntheticBurstTask>(SyntheticBurstOptions::from_key_values(config.options, "[task]"));
  else if (config.name == "neuronio")
    task = std::make_unique<NeuronioTask>(NeuronioTaskOptions::from_key_values(config.options, "[task]"));
  else
    task = make_store_task(config, model);
  ELM_CHECK(task, "config key 'task.name': unknown task '", config.name, "' (known: synthetic_burst, neuronio, ",
            store_task_names(), ")");
  ELM_CHECK(model.num_input == task->num_input(), "config key 'model.num_input' is ", model.num_input, " but task ",
            task->name(), " has ", task->num_input(), " input channels");
  ELM_CHECK(model.num_output == task->num_output(), "config key 'model.num_output' is ", model.num_output,
            " but task ", task->name(), " has ", task->num_output(), " outputs");
  return task;
}

}  // namespace elm
