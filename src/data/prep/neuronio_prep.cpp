#include "data/prep/neuronio_prep.hpp"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <utility>

#include "core/error.hpp"
#include "core/key_values.hpp"
#include "data/prep/neuronio_pickle.hpp"
#include "data/prep/neuronio_stream.hpp"
#include "data/store/conversion_stop.hpp"
#include "data/store/dataset_store.hpp"

extern char** environ;

namespace elm {

namespace fs = std::filesystem;

namespace {

const std::map<std::string, FieldType>& neuronio_fields() {
  static const std::map<std::string, FieldType> f{{"event_time", FieldType::Int32},
                                                  {"event_channel", FieldType::UInt16},
                                                  {"soma", FieldType::Float32},
                                                  {"output_spike_ms", FieldType::Float32},
                                                  {"event_index", FieldType::Int32}};
  return f;
}

// One pickle's simulations, validated and binned, ready to append.
struct ConvertedFile {
  std::string source;
  std::string python_reason;  // why the Python converter read it; empty: the C++ reader did
  double unpickle_cpu_s = 0;  // the C++ reader's CPU time for it
  int64_t duration_ms = 0;
  std::vector<NeuronioStoreSample> sims;

  int64_t events() const {
    int64_t n = 0;
    for (const auto& s : sims) n += static_cast<int64_t>(s.event_time.size());
    return n;
  }
};

// Checks a pickle's header and bins its simulations; raw_of(k) gives
// simulation k as the pickle holds it, k = 0, 1, ... in order. `where` names
// the pickle (and the stream file, if any) in errors; `stop` ends the work
// between simulations.
template <class RawOf>
ConvertedFile bin_file(const NeuronioStreamHeader& h, const std::string& where, RawOf&& raw_of,
                       NeuronioBuildScratch& scratch, const std::atomic<bool>* stop = nullptr) {
  check_neuronio_header(h);
  ConvertedFile f;
  f.source = h.source;
  f.duration_ms = static_cast<int64_t>(h.sim_duration_ms);
  for (int64_t k = 0; k < h.num_simulations; ++k) {
    if (stop && stop->load()) fail(where, ": cancelled");
    throw_if_stop_requested();
    // Grown as read: a corrupt simulation count must not allocate up front.
    build_neuronio_simulation(raw_of(k), f.duration_ms, where, k, f.sims.emplace_back(), scratch);
  }
  return f;
}

// The file of a stream whose header was just read.
ConvertedFile read_converted_file(NeuronioStreamReader& reader, const NeuronioStreamHeader& h,
                                  const std::string& where, NeuronioBuildScratch& scratch,
                                  const std::atomic<bool>* stop = nullptr) {
  NeuronioRawSimulation raw;
  ConvertedFile f = bin_file(
      h, where,
      [&](int64_t) -> const NeuronioRawSimulation& {
        reader.next_simulation(raw);
        return raw;
      },
      scratch, stop);
  reader.end_file();
  return f;
}

// Appends converted files, in order, to one store split.
class NeuronioSplitWriter {
 public:
  NeuronioSplitWriter(std::string out_path, std::string split) : out_path_(std::move(out_path)), split_(std::move(split)) {}

  void add(const ConvertedFile& f) {
    if (!writer_) open(f);
    ELM_CHECK(f.duration_ms == duration_ms_, f.source, ": simulations last ", f.duration_ms, " ms, earlier files ",
              duration_ms_, " ms");
    for (const NeuronioStoreSample& s : f.sims) {
      writer_->append_i32("event_time", s.event_time);
      writer_->append_u16("event_channel", s.event_channel);
      writer_->append_f32("soma", s.soma);
      writer_->append_f32("output_spike_ms", s.output_spike_ms);
      writer_->append_i32("event_index", s.event_index);
      writer_->end_sample(-1);
    }
    files_ += 1;
    events_ += f.events();
  }

  void commit(std::ostream& log) {
    ELM_CHECK(writer_, out_path_, ": no NeuronIO files to convert for split '", split_, "'");
    writer_->commit();
    log << "neuronio: wrote " << out_path_ << " (" << writer_->num_samples() << " simulations from " << files_
        << " files, " << events_ << " input events)\n"
        << std::flush;
  }

 private:
  void open(const ConvertedFile& first) {
    duration_ms_ = first.duration_ms;
    StoreInfo info;
    info.task = "neuronio";
    info.split = split_;
    info.source = fs::path(first.source).parent_path().string();
    info.input_kind = "events";
    info.channels = kNeuronioChannels;
    info.num_classes = 0;
    info.max_length = duration_ms_;
    info.extra["sim_duration_ms"] = std::to_string(duration_ms_);
    info.extra["event_time_rule"] =
        "step = int(t ms); channel = segment (excitatory) or 639 + segment (inhibitory); duplicates kept once";
    writer_ = std::make_unique<StoreWriter>(out_path_, info, neuronio_fields());
  }

  std::string out_path_, split_;
  std::unique_ptr<StoreWriter> writer_;
  int64_t duration_ms_ = 0, files_ = 0, events_ = 0;
};

// An owned file descriptor.
struct Fd {
  int fd = -1;
  Fd() = default;
  explicit Fd(int f) : fd(f) {}
  Fd(Fd&& o) noexcept : fd(std::exchange(o.fd, -1)) {}
  Fd& operator=(Fd&& o) noexcept {
    if (this != &o) {
      if (fd >= 0) ::close(fd);
      fd = std::exchange(o.fd, -1);
    }
    return *this;
  }
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

// The converter's Python and script, checked only when a converter is
// needed: files the C++ reader handles need no Python at all.
NeuronioPrepOptions with_converter(const NeuronioPrepOptions& in) {
  NeuronioPrepOptions o = in;
  if (o.python.empty()) o.python = neuronio_converter_python();
  if (o.converter.empty()) o.converter = neuronio_converter_script();
  ELM_CHECK(::access(o.python.c_str(), X_OK) == 0, o.python,
            ": no executable Python for the NeuronIO converter (set ELM_PREP_PYTHON)");
  ELM_CHECK(fs::exists(o.converter), o.converter, ": NeuronIO converter script not found (set ELM_NEURONIO_CONVERTER)");
  return o;
}

// One converter process: `python3 neuronio_pickle_stream.py OUT PICKLE`.
// OUT "-" streams through a pipe (out_fd()); stderr goes to an anonymous file
// so that its last line can say why it failed. terminate() may be called from
// any thread; the process is reaped exactly once.
class ConverterProcess {
 public:
  ConverterProcess(const NeuronioPrepOptions& options, const std::string& out_arg, const std::string& pickle)
      : pickle_(pickle) {
    const NeuronioPrepOptions opt = with_converter(options);
    err_ = Fd(::memfd_create("neuronio-converter-stderr", MFD_CLOEXEC));
    ELM_CHECK(err_.fd >= 0, "cannot create the converter's stderr file: ", std::strerror(errno));
    int pipe_fds[2] = {-1, -1};
    const bool piped = out_arg == "-";
    if (piped) ELM_CHECK(::pipe2(pipe_fds, O_CLOEXEC) == 0, "cannot create a pipe: ", std::strerror(errno));
    Fd write_end(pipe_fds[1]);
    out_ = Fd(pipe_fds[0]);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    if (piped)
      posix_spawn_file_actions_adddup2(&actions, write_end.fd, 1);
    else
      posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_adddup2(&actions, err_.fd, 2);
    std::vector<std::string> args{opt.python, opt.converter, out_arg, pickle};
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    const int rc = posix_spawn(&pid_, opt.python.c_str(), &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0) {
      pid_ = -1;
      fail(pickle, ": cannot start the converter ", opt.python, " ", opt.converter, ": ", std::strerror(rc));
    }
  }
  ConverterProcess(const ConverterProcess&) = delete;
  ConverterProcess& operator=(const ConverterProcess&) = delete;
  ~ConverterProcess() {
    terminate();
    wait();
  }

  int out_fd() const { return out_.fd; }

  void terminate() {
    std::lock_guard<std::mutex> lock(m_);
    if (pid_ > 0 && !reaped_ && ::kill(pid_, SIGTERM) == 0) terminated_ = true;
  }

  // Waits for the process to end; returns its wait status.
  int wait() {
    if (pid_ <= 0) return 0;
    // WNOWAIT leaves the zombie, so terminate() can never signal a reused pid.
    siginfo_t info{};
    while (::waitid(P_PID, static_cast<id_t>(pid_), &info, WEXITED | WNOWAIT) < 0 && errno == EINTR) {
    }
    std::lock_guard<std::mutex> lock(m_);
    if (!reaped_) {
      while (::waitpid(pid_, &status_, 0) < 0 && errno == EINTR) {
      }
      reaped_ = true;
    }
    return status_;
  }

  // Whether the process has ended (without waiting).
  bool ended() {
    if (pid_ <= 0) return true;
    siginfo_t info{};
    info.si_pid = 0;
    if (::waitid(P_PID, static_cast<id_t>(pid_), &info, WEXITED | WNOHANG | WNOWAIT) < 0) return true;
    return info.si_pid != 0;
  }

  // Waits; empty if the converter succeeded or was stopped by terminate(),
  // else one line naming the pickle and why.
  std::string failure() {
    const int status = wait();
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return {};
    std::string text(4096, '\0');
    const off_t size = ::lseek(err_.fd, 0, SEEK_END);
    const off_t from = std::max<off_t>(0, size - static_cast<off_t>(text.size()));
    const ssize_t n = ::pread(err_.fd, text.data(), text.size(), from);
    text.resize(n > 0 ? static_cast<size_t>(n) : 0);
    std::string last;
    for (const std::string& line : split_lines(text))
      if (!line.empty()) last = line;
    const std::string prefix = "neuronio_pickle_stream: " + pickle_ + ": ";
    if (last.rfind(prefix, 0) == 0) return pickle_ + ": cannot convert NeuronIO pickle: " + last.substr(prefix.size());
    if (terminated_) return {};
    if (last.empty())
      last = WIFSIGNALED(status) ? "killed by signal " + std::to_string(WTERMSIG(status))
                                 : "exit status " + std::to_string(WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    return pickle_ + ": cannot convert NeuronIO pickle: " + last;
  }

 private:
  std::string pickle_;
  Fd out_, err_;
  pid_t pid_ = -1;
  std::mutex m_;
  bool reaped_ = false, terminated_ = false;
  int status_ = 0;
};

double thread_cpu_seconds() {
  timespec ts{};
  ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

// How often a thread waiting for the workers looks at the stop flag.
constexpr std::chrono::milliseconds kStopPoll{20};

// The parallel conversion of one split: worker w converts pickles w, w + W,
// w + 2W, ... into memory (checked and binned) while the calling thread
// appends finished files in order (the store compresses on all cores). Each
// file is read by the C++ pickle reader; a file it does not handle goes to a
// Python converter process, and from then on that worker starts the Python
// converter of its next file before reading the current one, so unpickling
// overlaps the rest. A worker holds at most one finished file not yet appended.
class SplitPipeline {
 public:
  SplitPipeline(const NeuronioPrepOptions& opt, const std::vector<std::string>& files, size_t workers)
      : opt_(opt), files_(files), ready_(files.size()) {
    for (size_t w = 0; w < workers; ++w) threads_.emplace_back([this, w, workers] { run_worker(w, workers); });
  }
  SplitPipeline(const SplitPipeline&) = delete;
  SplitPipeline& operator=(const SplitPipeline&) = delete;
  ~SplitPipeline() {
    {
      std::lock_guard<std::mutex> lock(m_);
      stop_ = true;
      for (ConverterProcess* p : active_) p->terminate();
    }
    cv_.notify_all();
    join();
  }

  // File i, converted; rethrows the first worker error. A stop signal ends
  // the wait (ConversionInterrupted); the destructor then stops the workers
  // and their converters.
  ConvertedFile take(size_t i) {
    std::unique_lock<std::mutex> lock(m_);
    while (!cv_.wait_for(lock, kStopPoll, [&] { return ready_[i].has_value() || error_; }))
      throw_if_stop_requested();
    throw_if_stop_requested();  // before a worker's error, which may be the signal's doing
    if (error_) std::rethrow_exception(error_);
    ConvertedFile f = std::move(*ready_[i]);
    ready_[i].reset();
    next_to_take_ = i + 1;
    cv_.notify_all();
    return f;
  }

  // After every take(): waits for the workers and their converters.
  void finish() {
    join();
    if (error_) std::rethrow_exception(error_);
  }

 private:
  void join() {
    for (auto& t : threads_)
      if (t.joinable()) t.join();
  }

  // A converter for one pickle, registered so that cancelling stops it.
  std::unique_ptr<ConverterProcess, std::function<void(ConverterProcess*)>> start_converter(const std::string& file) {
    auto deleter = [this](ConverterProcess* p) {
      {
        std::lock_guard<std::mutex> lock(m_);
        active_.erase(std::find(active_.begin(), active_.end(), p));
      }
      delete p;  // stops and reaps it if still running
    };
    std::unique_ptr<ConverterProcess, std::function<void(ConverterProcess*)>> p(
        new ConverterProcess(opt_, "-", file), deleter);
    std::lock_guard<std::mutex> lock(m_);
    active_.push_back(p.get());
    if (stop_) p->terminate();
    return p;
  }

  // Reads one pickle's stream from its converter. A converter that failed on
  // its own said why on stderr (its stream then ends early); otherwise the
  // error is ours and the converter is stopped.
  ConvertedFile read_from_converter(ConverterProcess& proc, const std::string& file, NeuronioBuildScratch& scratch) {
    NeuronioStreamReader reader(proc.out_fd(), "converter output");
    try {
      NeuronioStreamHeader h;
      ELM_CHECK(reader.next_file(h), file, ": the converter ended without output");
      ELM_CHECK(h.source == file, file, ": the converter sent ", h.source, " instead");
      ConvertedFile f = read_converted_file(reader, h, h.source, scratch, &stop_);
      ELM_CHECK(!reader.next_file(h), file, ": the converter sent more than one file");
      const std::string failed = proc.failure();
      ELM_CHECK(failed.empty(), failed);
      return f;
    } catch (const std::exception&) {
      // At the end of the stream the converter is exiting: let it finish its
      // message rather than stopping it.
      if (!reader.at_eof() && !proc.ended()) proc.terminate();
      const std::string failed = proc.failure();
      if (!failed.empty()) throw ElmError(failed);
      throw;
    }
  }

  void run_worker(size_t w, size_t workers) {
    NeuronioBuildScratch scratch;
    bool python = opt_.python_unpickler;
    std::unique_ptr<ConverterProcess, std::function<void(ConverterProcess*)>> ahead;  // the next file's converter
    try {
      for (size_t i = w; i < files_.size(); i += workers) {
        {
          std::unique_lock<std::mutex> lock(m_);
          cv_.wait(lock, [&] { return stop_ || i < workers || i - workers < next_to_take_; });
          if (stop_) return;
        }
        std::optional<ConvertedFile> f;
        std::string why;
        if (!python) {
          const double cpu0 = thread_cpu_seconds();
          std::optional<NeuronioPickle> p = read_neuronio_pickle(files_[i], why);
          const double unpickle_cpu = thread_cpu_seconds() - cpu0;
          if (p) {
            f = convert_parsed(*p, files_[i], scratch);
            f->unpickle_cpu_s = unpickle_cpu;
          } else {
            python = true;
          }
        }
        if (python) {
          auto proc = ahead ? std::move(ahead) : start_converter(files_[i]);
          if (i + workers < files_.size()) ahead = start_converter(files_[i + workers]);
          f = read_from_converter(*proc, files_[i], scratch);
          f->python_reason = why.empty() ? "as asked" : why;
        }
        std::lock_guard<std::mutex> lock(m_);
        ready_[i] = std::move(*f);
        cv_.notify_all();
      }
    } catch (const std::exception&) {
      // The first error stops the others; their "cancelled" errors and any
      // after the pipeline was abandoned are not reported.
      std::lock_guard<std::mutex> lock(m_);
      if (!stop_) error_ = std::current_exception();
      stop_ = true;
      cv_.notify_all();
    }
  }

  ConvertedFile convert_parsed(const NeuronioPickle& p, const std::string& file, NeuronioBuildScratch& scratch) {
    NeuronioStreamHeader h;
    h.source = file;
    h.num_segments = p.num_segments;
    h.sim_duration_ms = p.sim_duration_ms;
    h.num_simulations = static_cast<int64_t>(p.sims.size());
    return bin_file(
        h, file, [&](int64_t k) -> const NeuronioRawSimulation& { return p.sims[static_cast<size_t>(k)]; }, scratch,
        &stop_);
  }

  const NeuronioPrepOptions& opt_;
  const std::vector<std::string>& files_;
  std::vector<std::thread> threads_;
  std::mutex m_;
  std::condition_variable cv_;
  std::vector<std::optional<ConvertedFile>> ready_;
  std::vector<ConverterProcess*> active_;
  size_t next_to_take_ = 0;
  std::atomic<bool> stop_{false};  // an error or an abandoned pipeline: workers end between simulations
  std::exception_ptr error_;
};

size_t worker_count(const NeuronioPrepOptions& opt, size_t files) {
  ELM_CHECK(opt.jobs >= 0, "NeuronIO jobs must be >= 0 (0: one per core, at most 8), got ", opt.jobs);
  size_t jobs = static_cast<size_t>(opt.jobs);
  if (jobs == 0) jobs = std::min<size_t>(8, std::max(1u, std::thread::hardware_concurrency()));
  return std::max<size_t>(1, std::min(jobs, files));
}

}  // namespace

void prep_neuronio(const std::vector<std::string>& stream_files, const std::string& out_path,
                   const std::string& split, std::ostream& log) {
  ELM_CHECK(!stream_files.empty(), out_path, ": no NeuronIO stream files given for split '", split, "'");
  NeuronioSplitWriter writer(out_path, split);
  NeuronioBuildScratch scratch;
  for (const auto& path : stream_files) {
    Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    ELM_CHECK(fd.fd >= 0, path, ": cannot open: ", std::strerror(errno));
    NeuronioStreamReader reader(fd.fd, path);
    NeuronioStreamHeader h;
    ELM_CHECK(reader.next_file(h), path, ": empty NeuronIO stream");
    do {
      const ConvertedFile f = read_converted_file(reader, h, h.source + " (stream " + path + ")", scratch);
      writer.add(f);
      log << "neuronio: " << split << ": " << f.source << ": " << f.sims.size() << " simulations, " << f.events()
          << " input events\n"
          << std::flush;
    } while (reader.next_file(h));
  }
  writer.commit(log);
}

std::string neuronio_converter_python() {
  const char* env = std::getenv("ELM_PREP_PYTHON");
  return env && *env ? env : "/usr/bin/python3";
}

std::string neuronio_converter_script() {
  const char* name = "neuronio_pickle_stream.py";
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


void convert_neuronio_pickle(const std::string& pickle, const std::string& out_stream,
                             const NeuronioPrepOptions& options) {
  ConverterProcess run(options, out_stream, pickle);
  const std::string failed = run.failure();
  ELM_CHECK(failed.empty(), failed);
  ELM_CHECK(fs::exists(out_stream), pickle, ": the converter wrote no output ", out_stream);
}

NeuronioPrepStats prep_neuronio_files(const std::vector<std::string>& pickles, const std::string& out_path,
                                      const std::string& split, std::ostream& log, const NeuronioPrepOptions& options) {
  ELM_CHECK(!pickles.empty(), out_path, ": no NeuronIO pickles given for split '", split, "'");
  const auto t0 = std::chrono::steady_clock::now();
  double mb = 0;
  NeuronioSplitWriter writer(out_path, split);
  SplitPipeline pipeline(options, pickles, worker_count(options, pickles.size()));
  NeuronioPrepStats stats;
  for (size_t i = 0; i < pickles.size(); ++i) {
    const ConvertedFile f = pipeline.take(i);
    writer.add(f);
    (f.python_reason.empty() ? stats.files_cpp_reader : stats.files_python) += 1;
    stats.cpp_unpickle_cpu_s += f.unpickle_cpu_s;
    std::error_code ec;
    const auto bytes = fs::file_size(pickles[i], ec);
    mb += ec ? 0.0 : static_cast<double>(bytes) / 1e6;
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    log << "neuronio: [" << split << " " << i + 1 << "/" << pickles.size() << "] " << f.source << ": "
        << f.sims.size() << " simulations, " << f.events() << " input events (" << static_cast<int64_t>(mb)
        << " MB of pickles in " << static_cast<int64_t>(secs * 10) / 10.0 << " s"
        << (f.python_reason.empty() ? std::string() : "; unpickled by Python: " + f.python_reason) << ")\n"
        << std::flush;
  }
  pipeline.finish();
  writer.commit(log);
  return stats;
}

void prep_neuronio_dir(const std::string& raw_dir, const std::string& out_dir, std::ostream& log,
                       const NeuronioPrepOptions& options) {
  const NeuronioSplitFiles splits = find_neuronio_pickles(raw_dir);
  log << "neuronio: " << splits.train.size() << " train, " << splits.valid.size() << " valid, " << splits.test.size()
      << " test files under " << raw_dir << "; " << worker_count(options, splits.train.size()) << " workers\n"
      << std::flush;
  fs::create_directories(out_dir);
  const std::pair<const char*, const std::vector<std::string>*> order[] = {
      {"train", &splits.train}, {"valid", &splits.valid}, {"test", &splits.test}};
  for (const auto& [split, files] : order)
    prep_neuronio_files(*files, (fs::path(out_dir) / (std::string(split) + ".h5")).string(), split, log, options);
}

}  // namespace elm
