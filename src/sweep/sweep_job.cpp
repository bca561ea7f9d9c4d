#include "sweep/sweep_job.hpp"

#include <filesystem>
#include <set>

#include "core/did_you_mean.hpp"
#include "core/error.hpp"

namespace fs = std::filesystem;

namespace elm {

namespace {

std::vector<std::string> split_values(const std::string& text, const std::string& key, const std::string& path) {
  std::vector<std::string> out;
  size_t a = 0;
  while (true) {
    const size_t b = text.find(',', a);
    const std::string v = trim(text.substr(a, b == std::string::npos ? std::string::npos : b - a));
    ELM_CHECK(!v.empty(), path, ": grid axis '", key, "' has an empty value in '", text, "'");
    out.push_back(v);
    if (b == std::string::npos) break;
    a = b + 1;
  }
  std::set<std::string> seen;
  for (const auto& v : out) ELM_CHECK(seen.insert(v).second, path, ": grid axis '", key, "' repeats the value ", v);
  return out;
}

}  // namespace

SweepJob read_sweep_job(const std::string& path, const std::vector<std::string>& overrides) {
  ELM_CHECK(fs::is_regular_file(path), path, ": no such sweep job file");
  // In file order: the grid axes' order decides the manifest's.
  const auto entries = read_ini_entries(path);  // syntax errors with line numbers
  SweepJob job;
  job.path = path;
  job.name = fs::path(path).stem().string();
  std::string config;
  for (const auto& [full, value] : entries) {
    const auto dot = full.find('.');
    const std::string section = full.substr(0, dot), key = full.substr(dot + 1);
    if (section == "sweep") {
      if (key == "name") job.name = value;
      else if (key == "config") config = value;
      else if (key == "ranks_per_run") {
        const int64_t r = parse_int(value, "sweep.ranks_per_run", path);
        ELM_CHECK(r >= 1 && r <= 65536, path, ": sweep.ranks_per_run must be in [1, 65536], got ", r);
        job.ranks_per_run = int(r);
      } else if (key == "pack") {
        job.pack = value;  // checked with the runs (auto depends on the model)
      } else {
        const std::vector<std::string> known = {"name", "config", "ranks_per_run", "pack"};
        fail(path, ": unknown key 'sweep.", key, "'", did_you_mean(key, known), " (keys: ", join_names(known), ")");
      }
    } else if (section == "set") {
      ELM_CHECK(key.find('.') != std::string::npos, path, ": [set] key '", key, "' must be section.key");
      job.fixed[key] = value;
    } else if (section == "grid") {
      ELM_CHECK(key.find('.') != std::string::npos, path, ": grid axis '", key, "' must be section.key");
      job.axes.push_back({key, split_values(value, key, path)});
    } else {
      const std::vector<std::string> known = {"sweep", "set", "grid"};
      fail(path, ": unknown section [", section, "]", did_you_mean(section, known), " (sections: ", join_names(known),
           ")");
    }
  }
  ELM_CHECK(!config.empty(), path, ": key 'sweep.config' (the base task config) is required");
  const fs::path cfg = fs::path(config).is_absolute() ? fs::path(config) : fs::path(path).parent_path() / config;
  ELM_CHECK(fs::is_regular_file(cfg), path, ": sweep.config '", config, "' not found (looked for ", cfg.string(), ")");
  job.base_config = cfg.lexically_normal().string();

  for (const auto& [k, v] : parse_overrides(overrides)) {
    bool axis = false;
    for (auto& a : job.axes)
      if (a.key == k) {
        a.values = {v};
        axis = true;
      }
    if (!axis) job.fixed[k] = v;
  }
  return job;
}

std::vector<SweepRun> expand_sweep(const SweepJob& job) {
  KeyValues base = read_ini_file(job.base_config);
  for (const auto& [k, v] : job.fixed) base[k] = v;
  int64_t total = 1;
  for (const auto& a : job.axes) total *= int64_t(a.values.size());
  std::vector<SweepRun> runs;
  std::set<std::string> ids;
  for (int64_t i = 0; i < total; ++i) {
    SweepRun r;
    r.index = i;
    KeyValues kv = base;
    // Mixed radix, the last axis fastest.
    int64_t rest = i, stride = total;
    for (const auto& a : job.axes) {
      stride /= int64_t(a.values.size());
      const std::string& v = a.values[size_t(rest / stride)];
      rest %= stride;
      kv[a.key] = v;
      r.axis_values.push_back(v);
    }
    std::string where = job.path + " run " + std::to_string(i);
    for (size_t k = 0; k < job.axes.size(); ++k) where += (k ? ", " : " (") + job.axes[k].key + "=" + r.axis_values[k];
    if (!job.axes.empty()) where += ")";
    r.config = RunConfig::from_key_values(kv, where);
    r.id = run_id(r.config);
    ELM_CHECK(ids.insert(r.id).second, where, ": same resolved config as an earlier run (duplicate grid point)");
    runs.push_back(std::move(r));
  }
  return runs;
}

}  // namespace elm
