#pragma once
// `elmrun bench --convert-neuronio PICKLE`: NeuronIO conversion timed the way
// `elmrun prep neuronio` runs it (prep_neuronio_files on N copies of the
// pickle), with Python unpickling every file and with the C++ pickle reader,
// each with 1 and J workers, next to reading the pickle from disk (O_DIRECT,
// no page cache) and unpickling it alone (pickle.load, one core).
#include <ostream>
#include <string>
#include <vector>

namespace elm {

struct ConversionBenchOptions {
  int copies = 4;                  // files converted per run (links to the pickle)
  std::vector<int> jobs = {1, 0};  // converter processes per run (0: one per core, at most 8)
};

struct ConversionRun {
  bool python = false;     // every file unpickled by the Python converter (else the C++ reader)
  int jobs = 0;            // as resolved
  double wall_s = 0;       // prep_neuronio_files, pickles -> committed store split
  double cpp_cpu_s = 0;    // elmrun's CPU time (all threads) during the run
  double python_cpu_s = 0; // the converter processes' CPU time, of which
  double unpickle_cpu_s = 0;  //   pickle.load (reported by the converters)
  double handoff_cpu_s = 0;   //   laying out and writing the arrays to the pipe
  double cpp_unpickle_cpu_s = 0;  // the C++ reader's CPU time (its threads)
};

struct ConversionBenchResult {
  double pickle_mb = 0, store_mb = 0;
  int copies = 0;
  int64_t simulations = 0, input_spikes = 0;
  double disk_read_mb_per_s = -1;  // O_DIRECT read of the pickle; -1 where unsupported
  double python_startup_s = 0;     // `python3 -c "import numpy"`
  double unpickle_s = 0;           // pickle.load of all copies, timed inside Python
  double cpp_unpickle_s = 0;       // read_neuronio_pickle of all copies, one thread
  double stream_to_store_wall_s = 0;  // prep_neuronio on stream files of all copies (no Python running)
  double stream_to_store_cpu_s = 0;
  std::vector<ConversionRun> runs;
};

ConversionBenchResult run_neuronio_conversion_bench(const std::string& pickle, const std::string& work_dir,
                                                    const ConversionBenchOptions& options, std::ostream& log);

// One line per run: "neuronio_convert reader=python|cpp jobs=J ... mb_per_s=X
// excl_unpickle_mb_per_cpu_s=Y ...": excl_unpickle = all CPU of the run
// (elmrun and converters) minus the unpickling CPU (the converters'
// pickle.load, or the C++ reader's).
std::string format_conversion_bench(const ConversionBenchResult& r);

}  // namespace elm
