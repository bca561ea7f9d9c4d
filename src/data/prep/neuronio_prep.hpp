#pragma once
// NeuronIO (Beniaguev, Segev, London 2021) into the dataset store.
//
// The raw files are Python pickles. The C++ reader (neuronio_pickle.cpp) reads
// the released structure directly; a file it does not handle is unpickled by
// analysis/neuronio_pickle_stream.py, which streams each simulation's arrays
// as they are (format in its docstring) through a pipe. Checks and binning are
// in neuronio_stream.cpp, the store here.
//
// Store (one file per split), one sample per simulation, label -1:
//   event_time       Int32    input spike step in ms: step = int(t) for an input
//                             spike at t ms (the reference's dict2bin indexes a
//                             binary [segment, ms] matrix with the spike time;
//                             the released times are whole ms). Times must be
//                             finite with 0 <= t < sim duration (6000 ms).
//   event_channel    UInt16   excitatory segment s -> s (0..638), inhibitory -> 639 + s
//                             (639..1277). Events are sorted by (step, channel) and a
//                             repeated (step, channel) is kept once (the matrix is binary).
//   soma             Float32  somaVoltageLowRes, raw mV, one value per ms (6000)
//   output_spike_ms  Float32  outputSpikeTimes, raw ms (the target index int(t - 0.5)
//                             is the pipeline's job)
//   event_index      Int32    coarse event index (neuronio_event_index), so that a
//                             window is read without reading the simulation whole
//   StoreInfo: task "neuronio", input_kind "events", channels 1278, num_classes 0,
//   max_length = sim duration in ms (6000); extra: sim_duration_ms, event_time_rule.
#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

namespace elm {

inline constexpr int kNeuronioSegments = 639;
inline constexpr int kNeuronioChannels = 2 * kNeuronioSegments;

// Converts stream files written by the converter (convert_neuronio_pickle), in
// order, into the store split at out_path; one thread. Any error (one line
// naming the file and simulation) leaves nothing at out_path.
void prep_neuronio(const std::vector<std::string>& stream_files, const std::string& out_path,
                   const std::string& split, std::ostream& log);

struct NeuronioPrepOptions {
  std::string python;     // empty: $ELM_PREP_PYTHON, else /usr/bin/python3
  std::string converter;  // empty: neuronio_converter_script()
  // Workers, each converting one file at a time (and holding it in memory);
  // 0: one per core, at most 8.
  int jobs = 0;
  // Unpickle every file with the Python converter instead of trying the C++
  // reader (neuronio_pickle.hpp) first.
  bool python_unpickler = false;
};

// $ELM_PREP_PYTHON, else /usr/bin/python3 (Debian's, with numpy).
std::string neuronio_converter_python();

// analysis/neuronio_pickle_stream.py: $ELM_NEURONIO_CONVERTER, else beside the
// executable (../analysis, ../share/elmrun/analysis), else in the source tree
// this library was built from.
std::string neuronio_converter_script();

// The reference's folder convention: train = full_ergodic_train_batch_2..10,
// valid = full_ergodic_train_batch_1, test = Data_test; in each folder the files
// whose name contains "sim__", sorted by name. A folder is looked up directly in
// raw_dir or one level below it (e.g. raw_dir/<kaggle dataset>/Data_test).
// A missing folder or one without such files is an error naming it.
struct NeuronioSplitFiles {
  std::vector<std::string> train, valid, test;
};
NeuronioSplitFiles find_neuronio_pickles(const std::string& raw_dir);

// Runs the converter on one pickle into a stream file (written atomically by
// it), for tests and inspection.
void convert_neuronio_pickle(const std::string& pickle, const std::string& out_stream,
                             const NeuronioPrepOptions& options = {});

// Converts pickles (in this order) into the store split at out_path: `jobs`
// workers read files in parallel, each with the C++ pickle reader, or, for a
// file it does not handle, a Python converter process streaming through a
// pipe (started one file ahead from then on); they check and bin into memory
// while the store appends files in order and compresses on all cores. No
// intermediate file is written. One progress line per file. Any error (one
// line naming the pickle, and the simulation where it applies) stops every
// converter and leaves nothing at out_path.
struct NeuronioPrepStats {
  int files_cpp_reader = 0, files_python = 0;
  double cpp_unpickle_cpu_s = 0;  // CPU time in the C++ reader (its threads)
};
NeuronioPrepStats prep_neuronio_files(const std::vector<std::string>& pickles, const std::string& out_path,
                                      const std::string& split, std::ostream& log,
                                      const NeuronioPrepOptions& options = {});

// Finds the pickles and runs prep_neuronio_files for train, valid and test
// into <out_dir>/{train,valid,test}.h5; each split is committed when complete.
void prep_neuronio_dir(const std::string& raw_dir, const std::string& out_dir, std::ostream& log,
                       const NeuronioPrepOptions& options = {});

}  // namespace elm
