#include "train/train_state.hpp"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <unistd.h>

#include "core/error.hpp"
#include "core/test_hold.hpp"
#include "io/hdf5_io.hpp"

namespace fs = std::filesystem;

namespace elm {

TrainState capture_train_state(int64_t step, const std::string& identity, const std::vector<float>& params,
                               const Optimizer& opt, const RunRecord& record) {
  TrainState s;
  s.step = step;
  s.identity = identity;
  s.params = params;
  s.optimizer_steps = opt.step_count();
  for (size_t i = 0; i < Optimizer::num_state_buffers(); ++i) s.optimizer_buffers.push_back(opt.state_buffer(i));
  s.record = record;
  return s;
}

void restore_optimizer(const TrainState& state, Optimizer& opt) {
  opt.reset();
  opt.set_step_count(state.optimizer_steps);
  for (size_t i = 0; i < Optimizer::num_state_buffers() && i < state.optimizer_buffers.size(); ++i)
    opt.state_buffer(i) = state.optimizer_buffers[i];
}

void write_train_state(const TrainState& s, const std::string& path) {
  H5AtomicWriter w(path);
  const RunRecord& r = s.record;
  w.write_attr("format", "elmrun-train-state-1");
  w.write_attr("step", double(s.step));
  w.write_attr("identity", s.identity);
  w.write_attr("optimizer_steps", double(s.optimizer_steps));
  w.write_attr("wall_seconds", r.wall_seconds);
  w.write_attr("world_size", double(r.world_size));
  w.write_float("params", s.params.data(), {int64_t(s.params.size())});
  for (size_t i = 0; i < s.optimizer_buffers.size(); ++i)
    w.write_float("optimizer/buffer" + std::to_string(i), s.optimizer_buffers[i].data(),
                  {int64_t(s.optimizer_buffers[i].size())});
  write_step_series(w, r);
  std::vector<std::string> names;
  std::vector<double> values;
  if (!r.eval_metrics.empty())
    for (const auto& [n, v] : r.eval_metrics[0]) names.push_back(n);
  for (const auto& m : r.eval_metrics)
    for (const auto& [n, v] : m) values.push_back(v);
  w.write_attr("valid_metric_names", join_lines(names));
  w.write_double("valid/values", values.data(), {int64_t(r.eval_metrics.size()), int64_t(names.size())});
  w.commit();
}

TrainState read_train_state(const std::string& path) {
  const H5Reader h(path);
  ELM_CHECK(h.has_attr("format") && h.read_attr_string("format") == "elmrun-train-state-1", path,
            ": not an elmrun training state");
  TrainState s;
  s.step = int64_t(h.read_attr_double("step"));
  s.identity = h.read_attr_string("identity");
  s.optimizer_steps = int64_t(h.read_attr_double("optimizer_steps"));
  s.params = h.read_float("params").data;
  for (size_t i = 0; h.has("optimizer/buffer" + std::to_string(i)); ++i)
    s.optimizer_buffers.push_back(h.read_float("optimizer/buffer" + std::to_string(i)).data);
  RunRecord& r = s.record;
  r.wall_seconds = h.read_attr_double("wall_seconds");
  r.world_size = int(h.read_attr_double("world_size"));
  r.step_loss = h.read_double("train/loss").data;
  r.step_lr = h.read_double("train/lr").data;
  r.step_grad_norm = h.read_double("train/grad_norm").data;
  r.step_sample_steps_per_s = h.read_double("train/sample_steps_per_s").data;
  r.eval_step = h.read_int("valid/step").data;
  const auto names = split_lines(h.read_attr_string("valid_metric_names"));
  const auto values = h.read_double("valid/values");
  ELM_CHECK(values.size() == int64_t(r.eval_step.size() * names.size()) && int64_t(r.step_loss.size()) == s.step,
            path, ": inconsistent training state (series lengths)");
  for (size_t e = 0; e < r.eval_step.size(); ++e) {
    Metrics m;
    for (size_t k = 0; k < names.size(); ++k) m.emplace_back(names[k], values.data[e * names.size() + k]);
    r.eval_metrics.push_back(std::move(m));
  }
  r.steps_completed = s.step;
  return s;
}

void write_text_atomic(const std::string& path, const std::string& text) {
  const std::string tmp = temporary_name(path);
  {
    std::ofstream f(tmp, std::ios::trunc);
    f << text;
    f.flush();
    ELM_CHECK(f.good(), tmp, ": cannot write");
  }
  std::error_code ec;
  fs::rename(tmp, path, ec);
  ELM_CHECK(!ec, "cannot rename ", tmp, " to ", path, ": ", ec.message());
}

namespace {

std::vector<std::pair<int64_t, fs::path>> checkpoint_dirs(const std::string& run_dir) {
  std::vector<std::pair<int64_t, fs::path>> out;
  const fs::path root = fs::path(run_dir) / "checkpoints";
  std::error_code ec;
  if (!fs::is_directory(root, ec)) return out;
  for (const auto& e : fs::directory_iterator(root, ec)) {
    const std::string name = e.path().filename().string();
    if (!e.is_directory() || name.rfind("step_", 0) != 0) continue;
    try {
      out.emplace_back(std::stoll(name.substr(5)), e.path());
    } catch (...) {
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::string step_dir_name(int64_t step) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "step_%08lld", (long long)step);
  return buf;
}

}  // namespace

void save_checkpoint(const std::string& run_dir, const TrainState& state) {
  const fs::path dir = fs::path(run_dir) / "checkpoints" / step_dir_name(state.step);
  fs::create_directories(dir);
  fs::remove(dir / "DONE");
  write_train_state(state, (dir / "state.h5").string());
  test_hold("checkpoint", state.step);
  write_text_atomic((dir / "DONE").string(), "step " + std::to_string(state.step) + "\n");
  for (const auto& [step, path] : checkpoint_dirs(run_dir))
    if (step != state.step) fs::remove_all(path);
}

std::optional<std::string> latest_checkpoint(const std::string& run_dir) {
  auto dirs = checkpoint_dirs(run_dir);
  for (auto it = dirs.rbegin(); it != dirs.rend(); ++it)
    if (fs::exists(it->second / "DONE") && fs::exists(it->second / "state.h5")) return (it->second / "state.h5").string();
  return std::nullopt;
}

int64_t latest_checkpoint_step(const std::string& run_dir) {
  auto dirs = checkpoint_dirs(run_dir);
  for (auto it = dirs.rbegin(); it != dirs.rend(); ++it)
    if (fs::exists(it->second / "DONE") && fs::exists(it->second / "state.h5")) return it->first;
  return 0;
}

void remove_leftover_temporaries(const std::string& run_dir) {
  std::error_code ec;
  auto sweep = [&](const fs::path& dir) {
    for (const auto& e : fs::directory_iterator(dir, ec))
      if (e.path().filename().string().find(".tmp-") != std::string::npos && e.is_regular_file(ec))
        fs::remove(e.path(), ec);
  };
  sweep(run_dir);
  for (const auto& [step, path] : checkpoint_dirs(run_dir)) sweep(path);
}

void remove_checkpoints(const std::string& run_dir) { fs::remove_all(fs::path(run_dir) / "checkpoints"); }

}  // namespace elm
