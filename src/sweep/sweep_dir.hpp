#pragma once
// The sweep directory (docs/sweeps.md): job.ini, manifest.tsv and one
// runs/<run_id>/ per run with its config.json.
#include <cstdint>
#include <string>
#include <vector>

#include "sweep/sweep_job.hpp"

namespace elm {

std::string run_dir_of(const std::string& sweep_dir, const SweepRun& run);

// Creates the directory tree, copies the job file, writes manifest.tsv and
// each run's config.json (all through temporary names). An existing sweep
// directory is reused: completed runs stay as they are.
void prepare_sweep_dir(const std::string& sweep_dir, const SweepJob& job, const std::vector<SweepRun>& runs);

// The manifest as text (also what --list prints).
std::string manifest_text(const SweepJob& job, const std::vector<SweepRun>& runs);

// manifest.tsv read back without the job (elmrun status): every run of the
// sweep, started or not. Errors name the file and the line.
struct ManifestRow {
  int64_t index = 0;
  std::string run_id;
  std::vector<std::string> axis_values;  // one per SweepManifest::axis_keys
};
struct SweepManifest {
  std::vector<std::string> axis_keys;
  std::vector<ManifestRow> rows;
};
SweepManifest read_manifest(const std::string& path);
// packs.tsv (sweep/pack_plan.hpp) read back: the manifest indices of each
// pack, by pack index; empty when the sweep directory has none.
std::vector<std::vector<int64_t>> read_packs_file(const std::string& sweep_dir);
// The directory of a manifest row: SWEEP_DIR/runs/<run_id>.
std::string run_dir_of(const std::string& sweep_dir, const std::string& run_id);

}  // namespace elm
