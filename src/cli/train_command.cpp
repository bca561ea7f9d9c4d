#include <filesystem>
#include <iostream>

#include "cli/commands.hpp"
#include "core/error.hpp"
#include "train/trainer.hpp"

namespace po = boost::program_options;

namespace elm {

int train_command(const std::vector<std::string>& args) {
  po::options_description opts(
      "elmrun train: train one ELM neuron (without --config: a short run on the built-in synthetic task)");
  std::string config_path, out_dir;
  std::vector<std::string> overrides;
  bool overwrite = false;
  opts.add_options()("help,h", "show this help")("config,c", po::value(&config_path),
                                                 "INI config file (sections [model] [task] [train] [optim])")(
      "set", po::value(&overrides)->composing(), "override one key: --set section.key=value (repeatable)")(
      "out,o", po::value(&out_dir)->default_value("runs/train"), "run directory for results.h5 and checkpoint.h5")(
      "overwrite", po::bool_switch(&overwrite), "replace the results of a completed run in --out");
  po::variables_map vm = parse_command_line(args, opts);
  if (vm.count("help")) {
    std::cout << opts;
    return 0;
  }
  const RunConfig rc = RunConfig::load(config_path, overrides);
  const std::string results = out_dir + "/results.h5";
  ELM_CHECK(overwrite || !std::filesystem::exists(results), out_dir,
            " already holds a completed run (results.h5); pass --overwrite or choose another --out");
  train_run(rc, out_dir, std::cout);
  return 0;
}

}  // namespace elm
