#include "sweep/sweep_suite.hpp"

#include <filesystem>
#include <map>
#include <set>

#include "core/did_you_mean.hpp"
#include "core/error.hpp"
#include "core/key_values.hpp"
#include "sweep/sweep_job.hpp"
#include "train/run_config.hpp"

namespace fs = std::filesystem;

namespace elm {

bool is_suite_file(const std::string& path) {
  for (const auto& [key, value] : read_ini_entries(path))
    if (key.rfind("suite.", 0) == 0) return true;
  return false;
}

SweepSuite read_sweep_suite(const std::string& path) {
  ELM_CHECK(fs::is_regular_file(path), path, ": no such suite file");
  SweepSuite suite;
  suite.path = path;
  suite.name = fs::path(path).stem().string();
  std::string jobs_text;
  bool have_jobs = false;
  for (const auto& [full, value] : read_ini_entries(path)) {
    const auto dot = full.find('.');
    const std::string section = full.substr(0, dot), key = full.substr(dot + 1);
    if (section != "suite") {
      fail(path, ": unknown section [", section, "] in a suite file (a suite has only [suite]: name, jobs)");
    } else if (key == "name") {
      suite.name = value;
    } else if (key == "jobs") {
      jobs_text = value;
      have_jobs = true;
    } else {
      const std::vector<std::string> known = {"name", "jobs"};
      fail(path, ": unknown key 'suite.", key, "'", did_you_mean(key, known), " (keys: ", join_names(known), ")");
    }
  }
  ELM_CHECK(have_jobs && !trim(jobs_text).empty(), path,
            ": key 'suite.jobs' (the job files, comma-separated, relative to this file) is required");
  ELM_CHECK(!suite.name.empty() && suite.name.find('/') == std::string::npos && suite.name != "." &&
                suite.name != "..",
            path, ": suite.name '", suite.name, "' cannot name a directory");

  std::map<std::string, std::string> file_of;  // sweep name -> job file
  size_t start = 0;
  while (true) {
    const size_t comma = jobs_text.find(',', start);
    const std::string given = trim(jobs_text.substr(start, comma == std::string::npos ? std::string::npos : comma - start));
    ELM_CHECK(!given.empty(), path, ": suite.jobs has an empty entry in '", jobs_text, "'");
    const fs::path file = fs::path(given).is_absolute() ? fs::path(given) : fs::path(path).parent_path() / given;
    ELM_CHECK(fs::is_regular_file(file), path, ": job file '", given, "' not found (looked for ", file.string(), ")");
    SuiteJob job;
    job.path = file.lexically_normal().string();
    ELM_CHECK(!is_suite_file(job.path), path, ": '", given, "' is a suite, not a sweep job (suites do not nest)");
    try {
      job.name = read_sweep_job(job.path, {}).name;
    } catch (const ElmError& e) {
      fail(path, ": job '", given, "': ", e.what());
    }
    ELM_CHECK(!job.name.empty() && job.name.find('/') == std::string::npos && job.name != "." && job.name != "..",
              path, ": job '", given, "' has the sweep name '", job.name, "', which cannot name a directory");
    const auto [it, fresh] = file_of.emplace(job.name, given);
    ELM_CHECK(fresh, path, ": jobs '", it->second, "' and '", given, "' both have the sweep name '", job.name,
              "' (each job runs into SUITE_DIR/<sweep name>)");
    suite.jobs.push_back(job);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return suite;
}

std::vector<SuiteJob> select_suite_jobs(const SweepSuite& suite, const std::vector<std::string>& only) {
  if (only.empty()) return suite.jobs;
  std::vector<std::string> names;
  for (const auto& j : suite.jobs) names.push_back(j.name);
  std::set<std::string> wanted;
  for (const std::string& o : only) {
    bool found = false;
    for (const auto& j : suite.jobs)
      if (j.name == o || fs::path(j.path).stem().string() == o || fs::path(j.path).filename().string() == o) {
        wanted.insert(j.name);
        found = true;
      }
    ELM_CHECK(found, "--only '", o, "': no such job in suite ", suite.path, did_you_mean(o, names),
              " (jobs: ", join_names(names), ")");
  }
  std::vector<SuiteJob> out;
  for (const auto& j : suite.jobs)
    if (wanted.count(j.name)) out.push_back(j);
  return out;
}

std::string suite_record_text(const SweepSuite& suite) {
  const std::string suite_file = fs::absolute(suite.path).lexically_normal().string();
  std::string s = "sweep\tjob_file\tsuite_file\n";
  for (const auto& j : suite.jobs)
    s += j.name + "\t" + fs::absolute(j.path).lexically_normal().string() + "\t" + suite_file + "\n";
  return s;
}

}  // namespace elm
