#include "sweep/sweep_dir.hpp"

#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/error.hpp"
#include "train/train_state.hpp"

namespace fs = std::filesystem;

namespace elm {

std::string run_dir_of(const std::string& sweep_dir, const SweepRun& run) {
  return (fs::path(sweep_dir) / "runs" / run.id).string();
}

std::string manifest_text(const SweepJob& job, const std::vector<SweepRun>& runs) {
  std::string s = "index\trun_id";
  for (const auto& a : job.axes) s += "\t" + a.key;
  s += "\n";
  for (const auto& r : runs) {
    s += std::to_string(r.index) + "\t" + r.id;
    for (const auto& v : r.axis_values) s += "\t" + v;
    s += "\n";
  }
  return s;
}

void prepare_sweep_dir(const std::string& sweep_dir, const SweepJob& job, const std::vector<SweepRun>& runs) {
  std::error_code ec;
  fs::create_directories(fs::path(sweep_dir) / "runs", ec);
  ELM_CHECK(!ec, sweep_dir, ": cannot create the sweep directory: ", ec.message());
  std::ifstream in(job.path);
  std::stringstream text;
  text << in.rdbuf();
  write_text_atomic((fs::path(sweep_dir) / "job.ini").string(), text.str());
  write_text_atomic((fs::path(sweep_dir) / "manifest.tsv").string(), manifest_text(job, runs));
  for (const auto& r : runs) {
    const std::string dir = run_dir_of(sweep_dir, r);
    fs::create_directories(dir);
    const std::string cfg = dir + "/config.json";
    if (!fs::exists(cfg)) write_text_atomic(cfg, to_flat_json(r.config.resolved));
  }
}

}  // namespace elm
