#pragma once
// Reading analysis/neuronio_pickle_stream.py's output (format
// "elm-neuronio-stream-1", layout in that script's docstring) and turning one
// simulation's raw arrays into the store's NeuronIO sample.
#include <cstdint>
#include <string>
#include <vector>

namespace elm {

struct NeuronioStreamHeader {
  std::string source;  // the pickle's path
  int64_t num_segments = 0;
  double sim_duration_ms = 0;
  int64_t num_simulations = 0;
};

// A whole number of ms in [1, 1e7] and the 639 segments of the released
// morphology; ElmError naming the pickle otherwise.
void check_neuronio_header(const NeuronioStreamHeader& header);

// One simulation as the pickle holds it.
struct NeuronioRawSimulation {
  std::vector<int64_t> ex_keys, ex_counts, inh_keys, inh_counts;
  std::vector<double> ex_times, inh_times, output_spike_ms, soma_mv;
};

// Reads a stream from a file descriptor (a pipe or a file); never closes it.
// Every malformed or truncated stream is an ElmError naming `name` and the
// byte offset; a count that cannot fit what remains of a regular file, or is
// beyond any NeuronIO simulation, is refused before anything is allocated.
class NeuronioStreamReader {
 public:
  NeuronioStreamReader(int fd, std::string name);

  // The next pickle's header, or false at a clean end of the stream.
  bool next_file(NeuronioStreamHeader& header);
  // Simulation k of the current file (k = 0 .. num_simulations - 1, in order).
  void next_simulation(NeuronioRawSimulation& sim);
  // Checks the current file's end marker.
  void end_file();

  const std::string& name() const { return name_; }
  // Whether a read met the end of the stream.
  bool at_eof() const { return eof_; }
  int64_t offset() const { return offset_; }

 private:
  bool read_exact(void* dst, size_t bytes, bool eof_ok = false);
  uint64_t read_u64();
  template <class T>
  void read_array(std::vector<T>& v, uint64_t count, const char* what);

  int fd_;
  std::string name_;
  int64_t offset_ = 0;
  int64_t file_size_ = -1;  // regular files only
  bool eof_ = false;
  int64_t sims_left_ = 0;
  int64_t sim_index_ = 0;
  std::string source_;
};

// The store sample of one simulation (see neuronio_prep.hpp for the fields).
struct NeuronioStoreSample {
  std::vector<int32_t> event_time, event_index;
  std::vector<uint16_t> event_channel;
  std::vector<float> soma, output_spike_ms;
};

// Buffers kept between simulations.
struct NeuronioBuildScratch {
  std::vector<int32_t> step_start;
  std::vector<uint16_t> bucket;
};

// Validates `raw` (segments, spike times in [0, duration), one soma value per
// ms, finite values, output spikes whose target index falls inside) and bins
// it: step = int(t), channel = segment (+ 639 if inhibitory), sorted by (step,
// channel), a repeated (step, channel) kept once. Errors name `where` and
// simulation k.
void build_neuronio_simulation(const NeuronioRawSimulation& raw, int64_t duration_ms, const std::string& where,
                               int64_t k, NeuronioStoreSample& out, NeuronioBuildScratch& scratch);

}  // namespace elm
