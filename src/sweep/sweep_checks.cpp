#include "sweep/sweep_checks.hpp"

#include <map>

#include "data/task.hpp"
#include "model/elm_config.hpp"

namespace elm {

std::vector<std::string> sweep_input_problems(const std::vector<SweepRun>& runs) {
  // What make_task reads: the task section and the model's input/output shape.
  std::map<std::string, std::string> verdict_of;  // task setting -> "" or the problem
  // One line per distinct problem, naming its first run and how many share it.
  std::vector<std::string> order;
  std::map<std::string, std::pair<const SweepRun*, int64_t>> runs_of;
  for (const SweepRun& r : runs) {
    const ElmConfig& m = r.config.model;
    const std::string key = r.config.task.name + "\n" + to_flat_json(r.config.task.options) + "\n" +
                            std::to_string(m.num_input) + "," + std::to_string(m.num_output) + "," +
                            format_double(m.delta_t);
    auto it = verdict_of.find(key);
    if (it == verdict_of.end()) {
      std::string problem;
      try {
        make_task(r.config.task, m);
      } catch (const std::exception& e) {
        problem = e.what();
      }
      it = verdict_of.emplace(key, problem).first;
    }
    if (it->second.empty()) continue;
    auto [entry, fresh] = runs_of.try_emplace(it->second, &r, 0);
    if (fresh) order.push_back(it->second);
    ++entry->second.second;
  }
  std::vector<std::string> problems;
  for (const auto& p : order) {
    const auto& [first, count] = runs_of[p];
    std::string who = "run " + std::to_string(first->index) + " (" + first->id.substr(0, 8) + ")";
    if (count > 1) who += " and " + std::to_string(count - 1) + " other run(s)";
    problems.push_back(who + ": " + p);
  }
  return problems;
}

}  // namespace elm
