#include "data/prep/neuronio_prep.hpp"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstring>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <sstream>

#include "core/error.hpp"
#include "data/neuronio_task.hpp"
#include "data/store/dataset_store.hpp"
#include "io/hdf5_io.hpp"

extern char** environ;

namespace elm {

namespace fs = std::filesystem;

namespace {

constexpr const char* kIntermediateFormat = "elm-neuronio-intermediate-1";

const std::map<std::string, FieldType>& neuronio_fields() {
  static const std::map<std::string, FieldType> f{{"event_time", FieldType::Int32},
                                                  {"event_channel", FieldType::UInt16},
                                                  {"soma", FieldType::Float32},
                                                  {"output_spike_ms", FieldType::Float32},
                                                  {"event_index", FieldType::Int32}};
  return f;
}

// Offsets [S + 1] of a ragged intermediate array: start at 0, never decrease,
// end at the values' length.
void check_offsets(const std::string& where, const char* name, const std::vector<int64_t>& off, int64_t sims,
                   int64_t values) {
  ELM_CHECK(static_cast<int64_t>(off.size()) == sims + 1, where, ": '", name, "' has ", off.size(),
            " entries, expected ", sims + 1);
  ELM_CHECK(off.front() == 0 && off.back() == values, where, ": '", name, "' does not span its ", values,
            " values (corrupt file?)");
  for (int64_t k = 0; k < sims; ++k)
    ELM_CHECK(off[k] <= off[k + 1], where, ": '", name, "' decreases at simulation ", k, " (corrupt file?)");
}

// Appends the simulations of intermediate files to one store split.
class NeuronioBuilder {
 public:
  NeuronioBuilder(std::string out_path, std::string split) : out_path_(std::move(out_path)), split_(std::move(split)) {}

  // Returns the number of simulations appended.
  int64_t add(const std::string& path, std::ostream& log) {
    H5Reader r(path);
    ELM_CHECK(r.has_attr("format") && r.read_attr_string("format") == kIntermediateFormat, path,
              ": not a NeuronIO intermediate file (attribute 'format' is not '", kIntermediateFormat, "')");
    const std::string source = r.has_attr("source") ? r.read_attr_string("source") : path;
    const std::string where = source == path ? path : source + " (intermediate " + path + ")";
    const double segments = r.read_attr_double("num_segments");
    ELM_CHECK(segments == kNeuronioSegments, where, ": Params.allSegmentsType has ", segments,
              " segments, expected ", kNeuronioSegments);
    const double duration = r.read_attr_double("sim_duration_ms");
    ELM_CHECK(std::isfinite(duration) && duration >= 1 && duration <= 1e7 && duration == std::floor(duration),
              where, ": totalSimDurationInSec gives ", duration, " ms, not a whole positive number of ms");
    const auto duration_ms = static_cast<int64_t>(duration);
    if (!writer_) open(duration_ms, source);
    ELM_CHECK(duration_ms == duration_ms_, where, ": simulations last ", duration_ms, " ms, earlier files ",
              duration_ms_, " ms");
    const double sims_attr = r.read_attr_double("num_simulations");
    ELM_CHECK(sims_attr >= 0 && sims_attr < 1e7 && sims_attr == std::floor(sims_attr), where,
              ": bad num_simulations ", sims_attr);
    const auto sims = static_cast<int64_t>(sims_attr);

    struct Inputs {
      Array<int64_t> seg, off;
      Array<double> time;
    };
    Inputs in[2];
    const char* prefix[2] = {"ex", "inh"};
    for (int p = 0; p < 2; ++p) {
      const std::string pre = prefix[p];
      in[p].seg = r.read_int(pre + "_segment");
      in[p].time = r.read_double(pre + "_time_ms");
      in[p].off = r.read_int(pre + "_offsets");
      ELM_CHECK(in[p].seg.size() == in[p].time.size(), path, ": '", pre, "_segment' and '", pre,
                "_time_ms' differ in length");
      check_offsets(path, (pre + "_offsets").c_str(), in[p].off.data, sims, in[p].seg.size());
    }
    const Array<double> out_spikes = r.read_double("output_spike_ms");
    const Array<int64_t> out_off = r.read_int("output_offsets");
    check_offsets(path, "output_offsets", out_off.data, sims, out_spikes.size());
    const Array<double> soma = r.read_double("soma_mV");
    const Array<int64_t> soma_off = r.read_int("soma_offsets");
    check_offsets(path, "soma_offsets", soma_off.data, sims, soma.size());

    std::vector<int64_t> keys;
    std::vector<int32_t> steps;
    std::vector<uint16_t> channels;
    std::vector<float> soma32, out32;
    int64_t events = 0;
    for (int64_t k = 0; k < sims; ++k) {
      keys.clear();
      for (int p = 0; p < 2; ++p) {
        const char* kind = p == 0 ? "excitatory" : "inhibitory";
        for (int64_t j = in[p].off.data[k]; j < in[p].off.data[k + 1]; ++j) {
          const int64_t s = in[p].seg.data[j];
          const double t = in[p].time.data[j];
          ELM_CHECK(s >= 0 && s < kNeuronioSegments, where, ": simulation ", k, ": ", kind, " input segment ", s,
                    " outside 0..", kNeuronioSegments - 1);
          ELM_CHECK(std::isfinite(t) && t >= 0 && t < static_cast<double>(duration_ms_), where, ": simulation ",
                    k, ": ", kind, " input spike at ", t, " ms outside [0, ", duration_ms_, ")");
          // int(t) as the reference's matrix index; t >= 0 so truncation = floor.
          const int64_t step = static_cast<int64_t>(t);
          keys.push_back(step * kNeuronioChannels + s + p * kNeuronioSegments);
        }
      }
      // Sorted, de-duplicated keys. All keys lie in [0, duration_ms * channels),
      // so for realistic durations a bitmap over that range sorts and
      // de-duplicates in O(n + range / 64) instead of an O(n log n) sort.
      const uint64_t key_range = static_cast<uint64_t>(duration_ms_) * kNeuronioChannels;
      if (key_range <= kBitmapMaxKeys) {
        const size_t words = static_cast<size_t>((key_range + 63) / 64);
        if (bitmap_.size() < words) bitmap_.assign(words, 0);  // kept all-zero between simulations
        for (const int64_t key : keys) bitmap_[static_cast<uint64_t>(key) >> 6] |= uint64_t(1) << (key & 63);
        size_t n = 0;
        for (size_t w = 0; w < words; ++w) {
          uint64_t bits = bitmap_[w];
          if (!bits) continue;
          bitmap_[w] = 0;
          do {
            keys[n++] = static_cast<int64_t>(w * 64 + static_cast<size_t>(__builtin_ctzll(bits)));
            bits &= bits - 1;
          } while (bits);
        }
        keys.resize(n);
      } else {
        std::sort(keys.begin(), keys.end());
        keys.erase(std::unique(keys.begin(), keys.end()), keys.end());
      }
      steps.resize(keys.size());
      channels.resize(keys.size());
      for (size_t i = 0; i < keys.size(); ++i) {
        steps[i] = static_cast<int32_t>(keys[i] / kNeuronioChannels);
        channels[i] = static_cast<uint16_t>(keys[i] % kNeuronioChannels);
      }
      events += static_cast<int64_t>(keys.size());

      const int64_t v0 = soma_off.data[k], v1 = soma_off.data[k + 1];
      ELM_CHECK(v1 - v0 == duration_ms_, where, ": simulation ", k, ": somaVoltageLowRes has ", v1 - v0,
                " values, expected ", duration_ms_, " (one per ms)");
      soma32.resize(v1 - v0);
      for (int64_t j = v0; j < v1; ++j) {
        ELM_CHECK(std::isfinite(soma.data[j]), where, ": simulation ", k, ": somaVoltageLowRes[", j - v0,
                  "] is not finite");
        soma32[j - v0] = static_cast<float>(soma.data[j]);
      }
      out32.clear();
      for (int64_t j = out_off.data[k]; j < out_off.data[k + 1]; ++j) {
        const double t = out_spikes.data[j];
        // The target index int(t - 0.5) must fall inside the simulation.
        ELM_CHECK(std::isfinite(t) && t >= 0 && t < duration_ms_ + 0.5, where, ": simulation ", k,
                  ": output spike at ", t, " ms outside [0, ", duration_ms_ + 0.5, ")");
        out32.push_back(static_cast<float>(t));
      }
      writer_->append_i32("event_time", steps);
      writer_->append_u16("event_channel", channels);
      writer_->append_f32("soma", soma32);
      writer_->append_f32("output_spike_ms", out32);
      writer_->append_i32("event_index", neuronio_event_index(steps, duration_ms_));
      writer_->end_sample(-1);
    }
    files_ += 1;
    events_ += events;
    log << "neuronio: " << split_ << ": " << source << ": " << sims << " simulations, " << events
        << " input events\n"
        << std::flush;
    return sims;
  }

  void commit(std::ostream& log) {
    ELM_CHECK(writer_, out_path_, ": no NeuronIO files to convert for split '", split_, "'");
    writer_->commit();
    log << "neuronio: wrote " << out_path_ << " (" << writer_->num_samples() << " simulations from " << files_
        << " files, " << events_ << " input events)\n"
        << std::flush;
  }

 private:
  void open(int64_t duration_ms, const std::string& first_source) {
    duration_ms_ = duration_ms;
    StoreInfo info;
    info.task = "neuronio";
    info.split = split_;
    info.source = fs::path(first_source).parent_path().string();
    info.input_kind = "events";
    info.channels = kNeuronioChannels;
    info.num_classes = 0;
    info.max_length = duration_ms;
    info.extra["sim_duration_ms"] = std::to_string(duration_ms);
    info.extra["event_time_rule"] =
        "step = int(t ms); channel = segment (excitatory) or 639 + segment (inhibitory); duplicates kept once";
    writer_ = std::make_unique<StoreWriter>(out_path_, info, neuronio_fields());
  }

  // Largest key range de-duplicated with the bitmap (8 MiB of words).
  static constexpr uint64_t kBitmapMaxKeys = uint64_t(1) << 26;

  std::string out_path_, split_;
  std::unique_ptr<StoreWriter> writer_;
  std::vector<uint64_t> bitmap_;
  int64_t duration_ms_ = 0, files_ = 0, events_ = 0;
};

// A converter process: waited for on wait(), killed and reaped if abandoned.
class ConverterRun {
 public:
  ConverterRun(const NeuronioPrepOptions& opt, std::string pickle, std::string out_h5, std::string err_path)
      : pickle_(std::move(pickle)), out_(std::move(out_h5)), err_(std::move(err_path)),
        start_(std::chrono::steady_clock::now()) {
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&actions, 2, err_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    std::vector<std::string> args{opt.python, opt.converter, pickle_, out_};
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    const int rc = posix_spawn(&pid_, opt.python.c_str(), &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0) {
      pid_ = -1;
      fail(pickle_, ": cannot start the converter ", opt.python, " ", opt.converter, ": ", std::strerror(rc));
    }
  }
  ConverterRun(const ConverterRun&) = delete;
  ConverterRun& operator=(const ConverterRun&) = delete;
  ~ConverterRun() {
    if (pid_ > 0) {
      ::kill(pid_, SIGTERM);
      int status = 0;
      ::waitpid(pid_, &status, 0);
    }
    std::error_code ec;
    fs::remove(err_, ec);
  }

  // Waits for the converter; returns its run time in seconds.
  double wait() {
    int status = 0;
    pid_t r;
    do {
      r = ::waitpid(pid_, &status, 0);
    } while (r < 0 && errno == EINTR);
    pid_ = -1;
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
    const bool ok = r > 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0;
    if (!ok) {
      std::ifstream in(err_);
      std::string line, last;
      while (std::getline(in, line))
        if (!line.empty()) last = line;
      const std::string prefix = "neuronio_pickle_to_h5: " + pickle_ + ": ";
      if (last.rfind(prefix, 0) == 0) last = last.substr(prefix.size());
      if (last.empty())
        last = r > 0 && WIFSIGNALED(status) ? "killed by signal " + std::to_string(WTERMSIG(status))
                                            : "exit status " + std::to_string(WIFEXITED(status) ? WEXITSTATUS(status) : -1);
      fail(pickle_, ": cannot convert NeuronIO pickle: ", last);
    }
    ELM_CHECK(fs::exists(out_), pickle_, ": the converter wrote no output ", out_);
    return secs;
  }

 private:
  std::string pickle_, out_, err_;
  pid_t pid_ = -1;
  std::chrono::steady_clock::time_point start_;
};

NeuronioPrepOptions resolve(const NeuronioPrepOptions& in) {
  NeuronioPrepOptions o = in;
  if (o.python.empty()) {
    const char* env = std::getenv("ELM_PREP_PYTHON");
    o.python = env && *env ? env : "/usr/bin/python3";
  }
  if (o.converter.empty()) o.converter = neuronio_converter_script();
  ELM_CHECK(::access(o.python.c_str(), X_OK) == 0, o.python,
            ": no executable Python for the NeuronIO converter (set ELM_PREP_PYTHON)");
  ELM_CHECK(fs::exists(o.converter), o.converter, ": NeuronIO converter script not found (set ELM_NEURONIO_CONVERTER)");
  return o;
}

// Removes a scratch directory on scope exit.
struct ScratchDir {
  fs::path path;
  ~ScratchDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

}  // namespace

void prep_neuronio(const std::vector<std::string>& intermediate_files, const std::string& out_path,
                   const std::string& split, std::ostream& log) {
  ELM_CHECK(!intermediate_files.empty(), out_path, ": no NeuronIO intermediate files given for split '", split, "'");
  NeuronioBuilder builder(out_path, split);
  for (const auto& f : intermediate_files) builder.add(f, log);
  builder.commit(log);
}

std::string neuronio_converter_script() {
  const char* name = "neuronio_pickle_to_h5.py";
  if (const char* env = std::getenv("ELM_NEURONIO_CONVERTER"); env && *env) return env;
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    for (const fs::path& rel : {fs::path("../analysis"), fs::path("../share/elmrun/analysis")}) {
      const fs::path p = exe.parent_path() / rel / name;
      if (fs::exists(p, ec)) return fs::weakly_canonical(p, ec).string();
    }
  }
  // This file lives at <source>/src/data/prep/neuronio_prep.cpp.
  return (fs::path(__FILE__).parent_path().parent_path().parent_path().parent_path() / "analysis" / name).string();
}

NeuronioSplitFiles find_neuronio_pickles(const std::string& raw_dir) {
  ELM_CHECK(fs::is_directory(raw_dir), raw_dir, ": no such directory (NeuronIO raw data)");
  const auto folder_files = [&](const std::string& name, const std::string& split) {
    std::optional<fs::path> dir;
    if (fs::is_directory(fs::path(raw_dir) / name)) {
      dir = fs::path(raw_dir) / name;
    } else {
      std::vector<fs::path> found;
      for (const auto& e : fs::directory_iterator(raw_dir))
        if (e.is_directory() && fs::is_directory(e.path() / name)) found.push_back(e.path() / name);
      std::sort(found.begin(), found.end());
      ELM_CHECK(found.size() <= 1, raw_dir, ": folder '", name, "' found more than once (", found.front().string(),
                ", ", found.back().string(), ")");
      if (!found.empty()) dir = found.front();
    }
    ELM_CHECK(dir, raw_dir, ": no folder '", name, "' (NeuronIO ", split, " split)");
    std::vector<std::string> files;
    for (const auto& e : fs::directory_iterator(*dir))
      if (e.is_regular_file() && e.path().filename().string().find("sim__") != std::string::npos)
        files.push_back(e.path().string());
    ELM_CHECK(!files.empty(), dir->string(), ": no '*sim__*' NeuronIO files (", split, " split)");
    std::sort(files.begin(), files.end());
    return files;
  };
  NeuronioSplitFiles s;
  for (int b = 2; b <= 10; ++b) {
    auto f = folder_files("full_ergodic_train_batch_" + std::to_string(b), "train");
    s.train.insert(s.train.end(), f.begin(), f.end());
  }
  s.valid = folder_files("full_ergodic_train_batch_1", "valid");
  s.test = folder_files("Data_test", "test");
  return s;
}

void convert_neuronio_pickle(const std::string& pickle, const std::string& out_h5, const NeuronioPrepOptions& options) {
  const NeuronioPrepOptions opt = resolve(options);
  ConverterRun run(opt, pickle, out_h5, out_h5 + ".stderr");
  run.wait();
}

void prep_neuronio_dir(const std::string& raw_dir, const std::string& out_dir, std::ostream& log,
                       const NeuronioPrepOptions& options) {
  const NeuronioPrepOptions opt = resolve(options);
  const NeuronioSplitFiles splits = find_neuronio_pickles(raw_dir);
  log << "neuronio: " << splits.train.size() << " train, " << splits.valid.size() << " valid, " << splits.test.size()
      << " test files under " << raw_dir << "\n"
      << std::flush;
  fs::create_directories(out_dir);
  ScratchDir scratch{fs::path(out_dir) / (".neuronio-prep-" + std::to_string(::getpid()))};
  fs::create_directories(scratch.path);

  const std::pair<const char*, const std::vector<std::string>*> order[] = {
      {"train", &splits.train}, {"valid", &splits.valid}, {"test", &splits.test}};
  for (const auto& [split, files] : order) {
    NeuronioBuilder builder((fs::path(out_dir) / (std::string(split) + ".h5")).string(), split);
    const auto tmp_of = [&](size_t i) { return (scratch.path / (std::string(split) + "_" + std::to_string(i) + ".h5")).string(); };
    // One converter runs ahead: Python unpickles file i + 1 while C++ appends file i.
    std::unique_ptr<ConverterRun> next =
        std::make_unique<ConverterRun>(opt, (*files)[0], tmp_of(0), tmp_of(0) + ".stderr");
    for (size_t i = 0; i < files->size(); ++i) {
      std::unique_ptr<ConverterRun> current = std::move(next);
      const double secs = current->wait();
      current.reset();
      if (i + 1 < files->size())
        next = std::make_unique<ConverterRun>(opt, (*files)[i + 1], tmp_of(i + 1), tmp_of(i + 1) + ".stderr");
      log << "neuronio: [" << split << " " << i + 1 << "/" << files->size() << "] unpickled in " << secs << " s\n";
      builder.add(tmp_of(i), log);
      std::error_code ec;
      fs::remove(tmp_of(i), ec);
    }
    builder.commit(log);
  }
}

}  // namespace elm
