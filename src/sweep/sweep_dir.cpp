#include "sweep/sweep_dir.hpp"

#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/error.hpp"
#include "train/train_state.hpp"

namespace fs = std::filesystem;

namespace elm {

std::string run_dir_of(const std::string& sweep_dir, const SweepRun& run) { return run_dir_of(sweep_dir, run.id); }

std::string run_dir_of(const std::string& sweep_dir, const std::string& run_id) {
  return (fs::path(sweep_dir) / "runs" / run_id).string();
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

namespace {

std::vector<std::string> split_tabs(std::string line) {
  if (!line.empty() && line.back() == '\r') line.pop_back();
  std::vector<std::string> cells;
  size_t start = 0;
  for (size_t tab; (tab = line.find('\t', start)) != std::string::npos; start = tab + 1)
    cells.push_back(line.substr(start, tab - start));
  cells.push_back(line.substr(start));
  return cells;
}

// A run_id names a directory under runs/: no separators, no "." or "..".
bool valid_run_id(const std::string& id) {
  if (id.empty() || id == "." || id == "..") return false;
  for (char c : id)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.')) return false;
  return true;
}

}  // namespace

SweepManifest read_manifest(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  ELM_CHECK(f, path, ": cannot read the manifest");
  SweepManifest m;
  std::string line;
  size_t line_no = 0, columns = 0;
  while (std::getline(f, line)) {
    ++line_no;
    if (line.empty() || line == "\r") continue;
    std::vector<std::string> cells = split_tabs(line);
    if (columns == 0) {
      ELM_CHECK(cells.size() >= 2 && cells[0] == "index" && cells[1] == "run_id", path, ":", line_no,
                ": the header must start with index<TAB>run_id");
      m.axis_keys.assign(cells.begin() + 2, cells.end());
      columns = cells.size();
      continue;
    }
    ELM_CHECK(cells.size() == columns, path, ":", line_no, ": ", cells.size(), " fields, the header has ", columns);
    ManifestRow row;
    char* end = nullptr;
    row.index = std::strtoll(cells[0].c_str(), &end, 10);
    ELM_CHECK(!cells[0].empty() && *end == '\0' && row.index >= 0, path, ":", line_no, ": index '", cells[0],
              "' is not a non-negative integer");
    ELM_CHECK(valid_run_id(cells[1]), path, ":", line_no, ": run_id '", cells[1], "' cannot name a run directory");
    row.run_id = std::move(cells[1]);
    row.axis_values.assign(std::make_move_iterator(cells.begin() + 2), std::make_move_iterator(cells.end()));
    m.rows.push_back(std::move(row));
  }
  ELM_CHECK(columns > 0, path, ": empty manifest (no header)");
  return m;
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

std::vector<std::vector<int64_t>> read_packs_file(const std::string& sweep_dir) {
  const std::string path = (fs::path(sweep_dir) / "packs.tsv").string();
  std::vector<std::vector<int64_t>> packs;
  std::ifstream f(path);
  if (!f) return packs;
  std::string line;
  ELM_CHECK((std::getline(f, line) && split_tabs(line) == std::vector<std::string>{"pack", "runs"}), path,
            ": line 1 is not the header 'pack<TAB>runs'");
  for (int lineno = 2; std::getline(f, line); ++lineno) {
    const auto cells = split_tabs(line);
    ELM_CHECK(cells.size() == 2 && cells[0] == std::to_string(packs.size()), path, ":", lineno,
              ": expected pack ", packs.size(), " and its runs");
    std::vector<int64_t> runs;
    std::istringstream in(cells[1]);
    for (std::string v; in >> v;) runs.push_back(parse_int(v, "runs", path + ":" + std::to_string(lineno)));
    packs.push_back(std::move(runs));
  }
  return packs;
}

}  // namespace elm
