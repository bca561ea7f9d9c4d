// elmrun: subcommands dispatch here; every ElmError becomes one line on stderr
// and exit status 1.
#include <cstring>
#include <iostream>
#include <map>

#include "cli/commands.hpp"
#include "build_config.hpp"
#include "backend/cpu/cpu_isa.hpp"
#include "backend/cuda/cuda_arch.hpp"
#include "core/error.hpp"
#include "dist/mpi_comm.hpp"

namespace po = boost::program_options;

namespace elm {

po::variables_map parse_command_line(const std::vector<std::string>& args, const po::options_description& opts,
                                     const char* positional) {
  po::variables_map vm;
  po::positional_options_description pos;
  if (positional) pos.add(positional, 1);
  try {
    po::store(po::command_line_parser(args).options(opts).positional(pos).run(), vm);
    po::notify(vm);
  } catch (const po::error& e) {
    fail(e.what());
  }
  return vm;
}

}  // namespace elm

static void usage(std::ostream& os) {
  os << "usage: elmrun <command> [options]   (elmrun <command> --help for its options)\n\n"
        "commands:\n"
        "  train   train an ELM neuron (default: a short run on the built-in synthetic task)\n"
        "  sweep   train every run of a grid over config keys (MPI groups, resumable)\n"
        "  eval    run a checkpoint on data and report loss and metrics\n"
        "  bench   time training steps on the workloads of shared/docs/benchmarks.md\n"
        "  prep    convert a raw data set (NeuronIO, SHD, the LRA tasks, Fashion-MNIST) into the dataset store\n"
        "  status  one line per run of a sweep or run directory: done, failed, running, stale, interrupted,\n"
        "          not started; totals and the --array= of what remains\n";
}

int main(int argc, char** argv) {
  if (argc < 2) {
    usage(std::cerr);
    return 2;
  }
  const std::string cmd = argv[1];
  if (cmd == "--help" || cmd == "-h" || cmd == "help") {
    usage(std::cout);
    return 0;
  }
  if (cmd == "--version") {
    try {
      std::cout << "elmrun " << elm::kVersion << " (" << elm::kGitRevision << ")\n"
                << "cpu kernels: " << elm::describe_cpu_isa() << "\n";
#ifdef ELM_HAVE_CUDA
      std::cout << "cuda architectures: "
                << elm::cuda::describe_cuda_architectures(elm::cuda::built_cuda_architectures()) << "\n";
#endif
      return 0;
    } catch (const elm::ElmError& e) {
      std::cerr << "elmrun: error: " << e.what() << "\n";
      return 1;
    }
  }
  const std::map<std::string, int (*)(const std::vector<std::string>&)> commands = {
      {"train", elm::train_command}, {"sweep", elm::sweep_command}, {"eval", elm::eval_command}, {"bench", elm::bench_command},
      {"prep", elm::prep_command}, {"status", elm::status_command}};
  auto it = commands.find(cmd);
  if (it == commands.end()) {
    std::cerr << "elmrun: unknown command '" << cmd << "'\n";
    usage(std::cerr);
    return 2;
  }
  // An error that escapes here came before MPI started (errors after it go
  // through WorldSession::run_or_abort): the arguments and files every rank of
  // the job reads alike, so rank 0 alone says it.
  auto report = [&](const char* what) {
    if (elm::launcher_rank() <= 0) std::cerr << "elmrun " << cmd << ": error: " << what << "\n";
    return 1;
  };
  try {
    return it->second(std::vector<std::string>(argv + 2, argv + argc));
  } catch (const std::exception& e) {
    return report(e.what());
  }
}
