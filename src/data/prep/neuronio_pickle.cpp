#include "data/prep/neuronio_pickle.hpp"

#include <algorithm>
#include <new>
#include <string_view>

#include "core/error.hpp"
#include "data/prep/pickle_reader.hpp"
#include "data/store/conversion_stop.hpp"

namespace elm {
namespace {

using pickle::Document;
using pickle::Kind;
using pickle::Object;

const char* kind_name(Kind k) {
  switch (k) {
    case Kind::None: return "None";
    case Kind::Bool: return "bool";
    case Kind::Int: return "int";
    case Kind::Float: return "float";
    case Kind::Str: return "str";
    case Kind::Bytes: return "bytes";
    case Kind::Tuple: return "tuple";
    case Kind::List: return "list";
    case Kind::Dict: return "dict";
    case Kind::Global: return "global";
    case Kind::Dtype: return "dtype";
    case Kind::Array: return "ndarray";
  }
  return "?";
}

// A scalar as np.float64 / Python's float() converts it; false for non-numbers.
bool scalar_value(const Object& o, double& v) {
  if (o.kind == Kind::Float) {
    v = o.f;
  } else if (o.kind == Kind::Bool || o.kind == Kind::Int) {
    v = (o.flags & pickle::kUnsigned64) ? double(uint64_t(o.i)) : double(o.i);
  } else {
    return false;
  }
  return true;
}

class Reader {
 public:
  Reader(Document& doc, uint64_t element_budget) : doc_(doc), budget_(element_budget) {}

  uint32_t dict_value(uint32_t dict, std::string_view key, const std::string& where) {
    ELM_CHECK(doc_.at(dict).kind == Kind::Dict, where, " is ", kind_name(doc_.at(dict).kind), ", not a dict");
    const uint32_t v = doc_.find(dict, key);
    ELM_CHECK(v != pickle::kNoObject, where, " has no key '", key, "'");
    return v;
  }

  // Element count of np.asarray(v, dtype=np.float64).ravel() for the value
  // kinds handled here (arrays, flat lists/tuples of numbers, a number).
  uint64_t value_count(uint32_t id, const std::string& what) {
    const Object& o = doc_.at(id);
    uint64_t n = 0;
    double unused;
    if (scalar_value(o, unused)) {
      n = 1;
    } else if (o.kind == Kind::Array) {
      const auto& a = doc_.array(id);
      const char k = a.dtype.kind;
      ELM_CHECK(k == 'b' || k == 'i' || k == 'u' || k == 'f', what, ": unsupported dtype ", k, a.dtype.itemsize);
      ELM_CHECK(a.dtype.byteorder != '>' || a.dtype.itemsize == 1, what, ": unsupported big-endian array");
      ELM_CHECK(a.c_order, what, ": unsupported Fortran-order array");
      n = a.size;
    } else if (o.kind == Kind::List || o.kind == Kind::Tuple) {
      for (uint32_t item : doc_.items(id))
        ELM_CHECK(scalar_value(doc_.at(item), unused), what, ": unsupported ", kind_name(doc_.at(item).kind), " in a ",
                  kind_name(o.kind));
      n = doc_.items(id).size();
    } else {
      fail(what, ": unsupported value of type ", kind_name(o.kind));
    }
    // Arrays shared through the memo could expand far beyond the file.
    ELM_CHECK(n <= budget_, what, ": values expand beyond the file size");
    budget_ -= n;
    return n;
  }

  void write_values(uint32_t id, double* out) {
    const Object& o = doc_.at(id);
    if (o.kind == Kind::Array) {
      doc_.array_to_double(id, out);
    } else if (o.kind == Kind::List || o.kind == Kind::Tuple) {
      for (uint32_t item : doc_.items(id)) scalar_value(doc_.at(item), *out++);
    } else {
      scalar_value(o, *out);
    }
  }

  // numeric(): the value flattened to float64.
  void numeric(uint32_t id, const std::string& what, std::vector<double>& out) {
    out.resize(value_count(id, what));
    write_values(id, out.data());
  }

  // spike_dict_arrays(): keys, entry sizes, all times in dict order.
  void spike_dict(uint32_t id, const std::string& what, std::vector<int64_t>& keys, std::vector<int64_t>& counts,
                  std::vector<double>& times) {
    const Object& d = doc_.at(id);
    ELM_CHECK(d.kind == Kind::Dict, what, " is ", kind_name(d.kind), ", not a dict");
    const auto kv = doc_.items(id);
    const size_t n = kv.size() / 2;
    keys.resize(n);
    counts.resize(n);
    uint64_t total = 0;
    for (size_t e = 0; e < n; ++e) {
      const Object& key = doc_.at(kv[2 * e]);
      // Python ints and numpy signed / narrow unsigned integers all make an
      // integer key array; bools, floats and uint64 do not (or may wrap).
      ELM_CHECK(key.kind == Kind::Int && !(key.flags & pickle::kUnsigned64), what, ": unsupported segment key of type ",
                kind_name(key.kind));
      keys[e] = key.i;
      counts[e] = int64_t(value_count(kv[2 * e + 1], what));
      total += uint64_t(counts[e]);
    }
    // Repeated keys (a dict keeps one) never come from pickling a dict.
    if (!std::is_sorted(keys.begin(), keys.end(), std::less_equal<int64_t>())) {
      sorted_ = keys;
      std::sort(sorted_.begin(), sorted_.end());
      ELM_CHECK(std::adjacent_find(sorted_.begin(), sorted_.end()) == sorted_.end(), what, ": repeated segment key");
    } else {
      ELM_CHECK(std::adjacent_find(keys.begin(), keys.end()) == keys.end(), what, ": repeated segment key");
    }
    times.resize(total);
    double* out = times.data();
    for (size_t e = 0; e < n; ++e) {
      write_values(kv[2 * e + 1], out);
      out += counts[e];
    }
  }

 private:
  Document& doc_;
  uint64_t budget_;
  std::vector<int64_t> sorted_;
};

NeuronioPickle read(Document& doc, uint64_t file_size) {
  Reader r(doc, file_size + 64);
  NeuronioPickle out;
  const uint32_t root = doc.root();
  const uint32_t params = r.dict_value(root, "Params", "the pickle");
  const uint32_t segments = r.dict_value(params, "allSegmentsType", "Params");
  const Object& seg = doc.at(segments);
  if (seg.kind == Kind::List || seg.kind == Kind::Tuple) {
    out.num_segments = int64_t(doc.items(segments).size());
  } else if (seg.kind == Kind::Array && doc.array(segments).ndim >= 1) {
    out.num_segments = int64_t(doc.array(segments).first_dim);
  } else if (seg.kind == Kind::Str) {
    out.num_segments = int64_t(doc.str_length(segments));
  } else {
    fail("Params.allSegmentsType: unsupported type ", kind_name(seg.kind));
  }
  double seconds;
  ELM_CHECK(scalar_value(doc.at(r.dict_value(params, "totalSimDurationInSec", "Params")), seconds),
            "Params.totalSimDurationInSec is not a number");
  out.sim_duration_ms = seconds * 1000.0;

  const uint32_t results = r.dict_value(root, "Results", "the pickle");
  const uint32_t sims = r.dict_value(results, "listOfSingleSimulationDicts", "Results");
  const Object& list = doc.at(sims);
  ELM_CHECK(list.kind == Kind::List || list.kind == Kind::Tuple, "Results.listOfSingleSimulationDicts is ",
            kind_name(list.kind), ", not a list");
  const auto items = doc.items(sims);
  out.sims.resize(items.size());
  for (size_t k = 0; k < items.size(); ++k) {
    throw_if_stop_requested();  // decoding the arrays is most of the reading
    const std::string where = "simulation " + std::to_string(k);
    NeuronioRawSimulation& s = out.sims[k];
    const uint32_t sim = items[k];
    const uint32_t ex = r.dict_value(sim, "exInputSpikeTimes", where);
    const uint32_t inh = r.dict_value(sim, "inhInputSpikeTimes", where);
    const uint32_t output = r.dict_value(sim, "outputSpikeTimes", where);
    const uint32_t soma = r.dict_value(sim, "somaVoltageLowRes", where);
    r.spike_dict(ex, where + ": exInputSpikeTimes", s.ex_keys, s.ex_counts, s.ex_times);
    r.spike_dict(inh, where + ": inhInputSpikeTimes", s.inh_keys, s.inh_counts, s.inh_times);
    r.numeric(output, where + ": outputSpikeTimes", s.output_spike_ms);
    r.numeric(soma, where + ": somaVoltageLowRes", s.soma_mv);
  }
  // Payloads not copied above still have to be valid for Python to load the file.
  doc.validate_rest();
  return out;
}

}  // namespace

std::optional<NeuronioPickle> read_neuronio_pickle(const std::string& path, std::string& unsupported_reason) {
  try {
    const pickle::MappedFile file(path);
    Document doc(file.data(), file.size());
    return read(doc, file.size());
  } catch (const ConversionInterrupted&) {
    throw;
  } catch (const ElmError& e) {
    unsupported_reason = e.what();
  } catch (const std::bad_alloc&) {
    unsupported_reason = "out of memory";
  } catch (const std::exception& e) {
    unsupported_reason = std::string("internal error: ") + e.what();
  } catch (...) {
    unsupported_reason = "internal error";
  }
  // Reasons are one line.
  std::replace(unsupported_reason.begin(), unsupported_reason.end(), '\n', ' ');
  if (unsupported_reason.empty()) unsupported_reason = "unsupported";
  return std::nullopt;
}

}  // namespace elm
