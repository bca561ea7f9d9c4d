#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <iostream>
#include <map>

#include "cli/commands.hpp"
#include "core/error.hpp"
#include "core/stop_request.hpp"
#include "data/prep/fmnist_prep.hpp"
#include "data/prep/lra_prep.hpp"
#include "data/prep/neuronio_prep.hpp"
#include "data/prep/shd_reader.hpp"
#include "data/store/conversion_stop.hpp"
#include "data/store/dataset_store.hpp"
#include "data/synthetic/listops_generator.hpp"
#include "data/synthetic/synthetic_neuron.hpp"
#include "io/hdf5_io.hpp"
#include "train/run_config.hpp"

namespace po = boost::program_options;

namespace elm {

namespace {

using PrepFn = std::function<void(const std::string& raw, const std::string& out)>;

// Built-in generators need no raw input; --set key=value tunes them.
using GenFn = std::function<void(const std::string& out, const KeyValues& options)>;

std::map<std::string, GenFn> generators() {
  std::map<std::string, GenFn> g;
  g["synthetic_neuron"] = [](const std::string& out, const KeyValues& kv) {
    write_synthetic_neuron_store(out, SyntheticNeuronOptions::from_key_values(kv, "--set"), std::cout);
  };
  g["synthetic_listops"] = [](const std::string& out, const KeyValues& kv) {
    KeyValues rest = kv;
    ListOpsStoreCounts counts;
    uint64_t seed = 0;
    auto take = [&](const char* key, auto& field) {
      if (auto it = rest.find(key); it != rest.end()) {
        field = static_cast<std::remove_reference_t<decltype(field)>>(parse_int(it->second, key, "--set"));
        rest.erase(it);
      }
    };
    take("train", counts.train);
    take("valid", counts.valid);
    take("test", counts.test);
    take("seed", seed);
    ELM_CHECK(rest.empty(), "--set ", rest.begin()->first, ": unknown key for synthetic_listops (train, valid, test, seed)");
    write_synthetic_listops_store(out, ListOpsGeneratorOptions{}, counts, seed);
    std::cout << "wrote " << out << "/{train,valid,test}.h5 (" << counts.train << "/" << counts.valid << "/"
              << counts.test << " samples)\n";
  };
  return g;
}

// `neuronio` reads its options when it runs (they are filled by the parser).
std::map<std::string, PrepFn> prep_tasks(const NeuronioPrepOptions& neuronio) {
  std::map<std::string, PrepFn> t;
  t["neuronio"] = [&neuronio](const std::string& raw, const std::string& out) {
    prep_neuronio_dir(raw, out, std::cout, neuronio);
  };
  t["shd"] = [](const std::string& raw, const std::string& out) { prep_shd(raw, out, std::cout); };
  t["listops"] = [](const std::string& raw, const std::string& out) { prep::prep_listops(raw, out, std::cout); };
  t["text"] = [](const std::string& raw, const std::string& out) { prep::prep_text(raw, out, std::cout); };
  t["retrieval"] = [](const std::string& raw, const std::string& out) { prep::prep_retrieval(raw, out, std::cout); };
  t["image"] = [](const std::string& raw, const std::string& out) { prep::prep_image(raw, out, std::cout); };
  for (int res : {32, 64, 128, 256})
    t["pathfinder" + std::to_string(res)] = [res](const std::string& raw, const std::string& out) {
      prep::PathfinderOptions o;
      o.resolution = res;
      prep::prep_pathfinder(raw, out, std::cout, o);
    };
  t["pathx"] = [](const std::string& raw, const std::string& out) { prep::prep_pathx(raw, out, std::cout); };
  t["fmnist"] = [](const std::string& raw, const std::string& out) { prep::prep_fmnist(raw, out, std::cout); };
  return t;
}

// Removes the files `<name>.tmp-<this host>-<pid>` directly in `dir` whose
// process has ended: what a prep killed outright (SIGKILL, a second signal)
// left behind. Files of other hosts and of running processes stay.
void remove_stale_temporaries(const std::string& dir, std::ostream& log) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return;
  std::string marker = temporary_name("");  // ".tmp-<host>-<our pid>"
  marker.erase(marker.rfind('-') + 1);      // ".tmp-<host>-"
  std::vector<std::pair<fs::path, pid_t>> stale;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    const auto at = name.rfind(marker);
    if (at == std::string::npos || at == 0) continue;
    const std::string digits = name.substr(at + marker.size());
    if (digits.empty() || digits.size() > 9 || !std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; }))
      continue;
    const auto pid = static_cast<pid_t>(std::stol(digits));
    if (pid <= 0 || ::kill(pid, 0) == 0 || errno != ESRCH) continue;  // running, or not ours to judge
    if (!it->is_regular_file(ec) || it->is_symlink(ec)) continue;
    stale.emplace_back(it->path(), pid);
  }
  for (const auto& [path, pid] : stale)
    if (fs::remove(path, ec))
      log << "prep: removed " << path.string() << ", left by process " << pid << " (ended)\n" << std::flush;
}

}  // namespace

int prep_command(const std::vector<std::string>& args) {
  NeuronioPrepOptions neuronio;
  const auto tasks = prep_tasks(neuronio);
  std::string names;
  for (const auto& [name, _] : tasks) names += (names.empty() ? "" : ", ") + name;
  const auto gens = generators();
  for (const auto& [name, _] : gens) names += ", " + name + " (built-in, no --in)";
  po::options_description opts("elmrun prep TASK --in RAW --out DIR: convert a raw data set into the dataset store");
  std::string task, raw, out;
  std::vector<std::string> sets;
  opts.add_options()("help,h", "show this help")("task", po::value(&task), ("task: " + names).c_str())(
      "set", po::value(&sets)->composing(), "generator option key=value (built-in generators only)")(
      "in,i", po::value(&raw),
      ("the raw data as published (a directory; see the README's data section; fmnist defaults to " +
       std::string(prep::kFmnistDefaultDir) + ")")
          .c_str())(
      "out,o", po::value(&out), "output directory: one <split>.h5 per split")(
      "jobs,j", po::value(&neuronio.jobs),
      "neuronio: files converted in parallel, each held in memory while it is (default: one per core, at most 8)")(
      "python-unpickler", po::bool_switch(&neuronio.python_unpickler),
      "neuronio: unpickle every file with Python (analysis/neuronio_pickle_stream.py) instead of the C++ reader; "
      "files the C++ reader does not handle go to Python anyway");
  const po::variables_map vm = parse_command_line(args, opts, "task");
  if (vm.count("help")) {
    std::cout << opts;
    return 0;
  }
  ELM_CHECK(!task.empty(), "missing TASK (one of: ", names, ")");
  ELM_CHECK(!out.empty(), "missing --out DIR");
  std::function<void()> convert;
  if (auto g = gens.find(task); g != gens.end()) {
    KeyValues kv;
    for (const auto& s : sets) {
      const auto eq = s.find('=');
      ELM_CHECK(eq != std::string::npos && eq > 0, "--set '", s, "': expected key=value");
      kv[s.substr(0, eq)] = s.substr(eq + 1);
    }
    convert = [&, kv, gen = g->second] { gen(out, kv); };
  } else {
    ELM_CHECK(sets.empty(), "--set is only for the built-in generators");
    ELM_CHECK((!vm.count("jobs") && !neuronio.python_unpickler) || task == "neuronio",
              "--jobs and --python-unpickler are only for neuronio");
    ELM_CHECK(neuronio.jobs >= 0 && neuronio.jobs <= 256, "--jobs must be in [0, 256], got ", neuronio.jobs);
    auto it = tasks.find(task);
    ELM_CHECK(it != tasks.end(), "unknown task '", task, "' (known: ", names, ")");
    if (raw.empty() && task == "fmnist") raw = prep::kFmnistDefaultDir;  // Debian's dataset-fashion-mnist
    ELM_CHECK(!raw.empty(), "missing --in RAW (the raw data directory)");
    ELM_CHECK(std::filesystem::exists(raw), raw, ": no such file or directory");
    convert = [&, fn = it->second] { fn(raw, out); };
  }

  // SIGTERM, SIGINT and SIGUSR2 stop the conversion at its next check
  // (conversion_stop.hpp). Every split goes to a temporary file and the
  // splits are installed together at the end, so a prep that is interrupted
  // or fails leaves OUT as it was: no temporary file, no split of an earlier
  // store replaced.
  StopRequest::install();
  if (const char* pause = std::getenv("ELM_TEST_PREP_PAUSE_AT_SAMPLE"); pause && *pause)  // tests only
    pause_store_writes_for_tests(parse_int(pause, "ELM_TEST_PREP_PAUSE_AT_SAMPLE", "the environment"));
  const bool out_existed = std::filesystem::exists(out);
  remove_stale_temporaries(out, std::cout);
  try {
    StoreCommitGroup group;
    convert();
    throw_if_stop_requested();
    group.commit();  // renames only: a signal from here on no longer stops it
  } catch (...) {
    std::error_code ec;
    if (!out_existed && std::filesystem::is_empty(out, ec)) std::filesystem::remove(out, ec);
    if (const int sig = StopRequest::pending()) {
      std::cerr << "elmrun prep: interrupted by signal " + std::to_string(sig) + "; nothing written to " + out + "\n";
      return 128 + sig;
    }
    throw;
  }
  return 0;
}

}  // namespace elm
