#pragma once
// A suite (docs/sweeps.md, "Suites"): several sweep jobs run, submitted and
// reported together, e.g. jobs/paper/suite.ini, the paper's experiments:
//
//   [suite]
//   name = paper
//   jobs = neuronio_dm.ini, shd.ini, ...     ; relative to the suite file
//
// Each job runs into SUITE_DIR/<its sweep name>/, an ordinary sweep directory.
#include <string>
#include <vector>

namespace elm {

struct SuiteJob {
  std::string name;  // the job's sweep name (sweep.name, else its file stem): its directory in the suite's
  std::string path;  // the job file, resolved against the suite file's directory
};

struct SweepSuite {
  std::string path;  // the suite file
  std::string name;  // suite.name, else the file stem
  std::vector<SuiteJob> jobs;
};

// Whether an INI file is a suite (it has a [suite] section) rather than a sweep job.
bool is_suite_file(const std::string& path);

// Reads the suite and the [sweep] section of each of its jobs. Errors (one
// line) name the suite file: unknown sections or keys, no jobs, a job file
// that is absent or not a valid job, two jobs with one sweep name (they would
// share a directory).
SweepSuite read_sweep_suite(const std::string& path);

// The jobs `only` names (by sweep name or by job file stem), in suite order;
// every job when `only` is empty. An unknown name is an error listing the names.
std::vector<SuiteJob> select_suite_jobs(const SweepSuite& suite, const std::vector<std::string>& only);

// SUITE_DIR/suite.tsv, written by `elmrun sweep SUITE.ini`: "sweep<TAB>job_file<TAB>suite_file",
// then one line per job of the suite (all of them, --only or not), paths absolute.
// analysis/benchmark.py reads it to know which sweeps a suite directory should hold.
std::string suite_record_text(const SweepSuite& suite);

}  // namespace elm
