#include "train/run_record.hpp"

#include <cmath>
#include <cstdio>

#include "build_config.hpp"
#include "core/number_text.hpp"
#include "io/hdf5_io.hpp"

namespace elm {

bool is_count_metric(const std::string& name) { return name == "samples" || name == "simulations_kept"; }

std::string metrics_text(const Metrics& m) {
  std::string s;
  for (const auto& [name, value] : m) {
    const bool count = is_count_metric(name) && std::isfinite(value);
    s += (s.empty() ? "" : ", ") + name + " " + (count ? count_text(std::llround(value)) : measured_text(value));
  }
  return s;
}

void write_step_series(H5AtomicWriter& w, const RunRecord& r) {
  auto series = [&](const std::string& name, const std::vector<double>& v) {
    w.write_double(name, v.data(), {int64_t(v.size())});
  };
  series("train/loss", r.step_loss);
  series("train/lr", r.step_lr);
  series("train/grad_norm", r.step_grad_norm);
  series("train/sample_steps_per_s", r.step_sample_steps_per_s);
  w.write_int64("valid/step", r.eval_step.data(), {int64_t(r.eval_step.size())});
}

void write_run_results(const RunRecord& r, const std::string& path) {
  H5AtomicWriter w(path);
  w.write_attr("format", "elmrun-results-1");
  w.write_attr("git_revision", kGitRevision);
  w.write_attr("elmrun_version", kVersion);
  w.write_attr("config_json", to_flat_json(r.config));
  w.write_attr_int64("world_size", r.world_size);
  w.write_attr_int64("parameter_count", r.parameter_count);
  w.write_attr_int64("steps_completed", r.steps_completed);
  w.write_attr("wall_seconds", r.wall_seconds);
  write_step_series(w, r);
  if (!r.eval_metrics.empty())
    for (size_t k = 0; k < r.eval_metrics[0].size(); ++k) {
      std::vector<double> v;
      for (const auto& m : r.eval_metrics) v.push_back(m[k].second);
      w.write_double("valid/" + r.eval_metrics[0][k].first, v.data(), {int64_t(v.size())});
    }
  for (const auto& [name, value] : r.test) w.write_double("test/" + name, &value, {});
  w.commit();
}

}  // namespace elm
