#pragma once
// NeuronIO simulation pickles read in C++ (pickle_reader.hpp), giving the
// arrays analysis/neuronio_pickle_stream.py would stream, so that `elmrun prep
// neuronio` needs Python only for files this reader does not handle.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "data/prep/neuronio_stream.hpp"

namespace elm {

struct NeuronioPickle {
  int64_t num_segments = 0;                 // len(Params["allSegmentsType"])
  double sim_duration_ms = 0;               // float(Params["totalSimDurationInSec"]) * 1000
  std::vector<NeuronioRawSimulation> sims;  // Results["listOfSingleSimulationDicts"], in order
};

// The pickle read in C++; nullopt (reason set, one line) for anything this
// reader does not handle or cannot parse, so the caller falls back to the
// Python converter (which reports the user-facing error). Throws only
// ConversionInterrupted (a stop signal, conversion_stop.hpp).
std::optional<NeuronioPickle> read_neuronio_pickle(const std::string& path, std::string& unsupported_reason);

}  // namespace elm
