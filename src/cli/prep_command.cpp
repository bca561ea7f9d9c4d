#include <filesystem>
#include <functional>
#include <iostream>
#include <map>

#include "cli/commands.hpp"
#include "core/error.hpp"
#include "data/prep/lra_prep.hpp"
#include "data/prep/neuronio_prep.hpp"
#include "data/prep/shd_reader.hpp"

namespace po = boost::program_options;

namespace elm {

namespace {

using PrepFn = std::function<void(const std::string& raw, const std::string& out)>;

std::map<std::string, PrepFn> prep_tasks() {
  std::map<std::string, PrepFn> t;
  t["neuronio"] = [](const std::string& raw, const std::string& out) { prep_neuronio_dir(raw, out, std::cout); };
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
  return t;
}

}  // namespace

int prep_command(const std::vector<std::string>& args) {
  const auto tasks = prep_tasks();
  std::string names;
  for (const auto& [name, _] : tasks) names += (names.empty() ? "" : ", ") + name;
  po::options_description opts("elmrun prep TASK --in RAW --out DIR: convert a raw data set into the dataset store");
  std::string task, raw, out;
  opts.add_options()("help,h", "show this help")("task", po::value(&task), ("task: " + names).c_str())(
      "in,i", po::value(&raw), "the raw data as published (a directory; see the README's data section)")(
      "out,o", po::value(&out), "output directory: one <split>.h5 per split");
  po::positional_options_description pos;
  pos.add("task", 1);
  po::variables_map vm;
  try {
    po::store(po::command_line_parser(args).options(opts).positional(pos).run(), vm);
    po::notify(vm);
  } catch (const po::error& e) {
    fail(e.what());
  }
  if (vm.count("help")) {
    std::cout << opts;
    return 0;
  }
  ELM_CHECK(!task.empty(), "missing TASK (one of: ", names, ")");
  auto it = tasks.find(task);
  ELM_CHECK(it != tasks.end(), "unknown task '", task, "' (known: ", names, ")");
  ELM_CHECK(!raw.empty(), "missing --in RAW (the raw data directory)");
  ELM_CHECK(!out.empty(), "missing --out DIR");
  ELM_CHECK(std::filesystem::exists(raw), raw, ": no such file or directory");
  it->second(raw, out);
  return 0;
}

}  // namespace elm
