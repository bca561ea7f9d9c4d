// elmrun status DIR: what each run of a sweep (or one run directory) is doing,
// from the markers and status files alone (train/run_status.hpp), and the
// Slurm --array= expression of what remains to be run.
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <iostream>

#include "cli/commands.hpp"
#include "core/error.hpp"
#include "sweep/array_expression.hpp"
#include "sweep/sweep_dir.hpp"
#include "sweep/sweep_summary.hpp"
#include "train/run_status.hpp"

namespace po = boost::program_options;
namespace fs = std::filesystem;

namespace elm {

namespace {

// Names a run directory holds once elmrun has touched it.
constexpr const char* kRunMarkers[] = {"status", "DONE", "FAILED", "config.json", "checkpoints", "log.txt",
                                       "results.h5", "LOCK"};

bool is_run_dir(const fs::path& dir) {
  std::error_code ec;
  for (const char* name : kRunMarkers)
    if (fs::exists(dir / name, ec)) return true;
  return false;
}

// Columns padded to the widest cell; the last column as is.
void append_table(std::string& out, const std::vector<std::vector<std::string>>& rows) {
  if (rows.empty()) return;
  std::vector<size_t> width(rows[0].size(), 0);
  for (const auto& r : rows)
    for (size_t c = 0; c + 1 < r.size(); ++c) width[c] = std::max(width[c], r[c].size());
  for (const auto& r : rows) {
    for (size_t c = 0; c < r.size(); ++c) {
      out += r[c];
      if (c + 1 < r.size()) out.append(width[c] - r[c].size() + 2, ' ');
    }
    out += '\n';
  }
}

std::string sweep_status(const fs::path& dir, double now, double stale_after) {
  const SweepManifest m = read_manifest((dir / "manifest.tsv").string());
  std::vector<std::string> run_dirs;
  run_dirs.reserve(m.rows.size());
  for (const auto& r : m.rows) run_dirs.push_back(run_dir_of(dir.string(), r.run_id));
  const std::vector<RunStateInfo> infos = read_run_states(run_dirs, now, stale_after);

  std::vector<std::vector<std::string>> table;
  table.reserve(m.rows.size() + 1);
  std::vector<std::string> head = {"index", "run_id"};
  head.insert(head.end(), m.axis_keys.begin(), m.axis_keys.end());
  head.push_back("state");
  table.push_back(std::move(head));
  std::vector<RunState> states;
  std::vector<int64_t> indices;
  for (size_t i = 0; i < m.rows.size(); ++i) {
    const ManifestRow& r = m.rows[i];
    std::vector<std::string> row = {std::to_string(r.index), r.run_id};
    row.insert(row.end(), r.axis_values.begin(), r.axis_values.end());
    row.push_back(describe_run_state(infos[i]));
    table.push_back(std::move(row));
    states.push_back(infos[i].state);
    indices.push_back(r.index);
  }
  std::string out;
  append_table(out, table);
  const auto packs = read_packs_file(dir.string());
  out += '\n';  // appended apart: GCC 12 warns falsely (-Wrestrict) on "\n" + a temporary string
  out += run_totals_text(states, &indices, &packs);
  return out;
}

}  // namespace

int status_command(const std::vector<std::string>& args) {
  po::options_description opts(
      "elmrun status DIR: one line per run of a sweep directory (manifest.tsv, runs/) or for one run\n"
      "directory: done, failed (why), interrupted (checkpoint), running (step, heartbeat age), stale (a\n"
      "running status whose heartbeat stopped: the process died without a trace) or not started; then\n"
      "the totals and, for a sweep, the Slurm --array= expression of the runs that remain (docs/sweeps.md)");
  std::string dir;
  double stale_after = kStaleSeconds;
  opts.add_options()("help,h", "show this help")("dir", po::value(&dir), "sweep or run directory")(
      "stale-after", po::value(&stale_after)->default_value(kStaleSeconds),
      "seconds without a heartbeat after which a running run reads as stale");
  const po::variables_map vm = parse_command_line(args, opts, "dir");
  if (vm.count("help")) {
    std::cout << opts;
    return 0;
  }
  ELM_CHECK(!dir.empty(), "elmrun status needs a directory: elmrun status DIR (a sweep or run directory)");
  ELM_CHECK(std::isfinite(stale_after) && stale_after > 0, "--stale-after must be a positive number of seconds, got ",
            stale_after);
  std::error_code ec;
  ELM_CHECK(fs::is_directory(dir, ec), dir, ": no such directory");
  const double now = seconds_since_epoch();
  std::string out;
  if (fs::exists(fs::path(dir) / "manifest.tsv", ec)) {
    out = sweep_status(dir, now, stale_after);
  } else if (is_run_dir(dir)) {
    const RunStateInfo info = read_run_state(dir, now, stale_after);
    out = dir + ": " + describe_run_state(info) + "\n" + run_totals_text({info.state}, nullptr);
  } else {
    fail(dir, ": neither a sweep directory (no manifest.tsv) nor a run directory (no status, DONE, FAILED, "
              "config.json or checkpoints)");
  }
  std::fwrite(out.data(), 1, out.size(), stdout);
  std::fflush(stdout);
  return 0;
}

}  // namespace elm
