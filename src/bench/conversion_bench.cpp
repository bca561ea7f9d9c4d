#include "bench/conversion_bench.hpp"

#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <thread>

#include "bench/bench_clock.hpp"
#include "core/error.hpp"
#include "data/prep/neuronio_pickle.hpp"
#include "data/prep/neuronio_prep.hpp"
#include "data/store/dataset_store.hpp"

namespace elm {

namespace fs = std::filesystem;

namespace {

std::string shell_quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

// Runs a shell command and returns its stdout (ElmError on failure).
std::string capture(const std::string& cmd) {
  FILE* p = ::popen(cmd.c_str(), "r");
  ELM_CHECK(p, "cannot run: ", cmd);
  std::string out;
  char buf[4096];
  size_t k;
  while ((k = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, k);
  const int rc = ::pclose(p);
  ELM_CHECK(rc == 0, "command failed (status ", rc, "): ", cmd);
  return out;
}

double cpu_seconds(int who) {
  rusage u{};
  ::getrusage(who, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         1e-6 * static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec);
}

// The file read past the page cache; -1 where O_DIRECT is refused (tmpfs).
double direct_read_mb_per_s(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_DIRECT | O_CLOEXEC);
  if (fd < 0) return -1;
  constexpr size_t kBlock = size_t(8) << 20;
  void* raw = nullptr;
  if (::posix_memalign(&raw, 4096, kBlock) != 0) {
    ::close(fd);
    return -1;
  }
  std::unique_ptr<void, decltype(&std::free)> buf(raw, &std::free);
  const auto t0 = bench_clock::now();
  size_t total = 0;
  for (;;) {
    const ssize_t n = ::read(fd, buf.get(), kBlock);
    if (n < 0) {
      ::close(fd);
      return -1;
    }
    if (n == 0) break;
    total += static_cast<size_t>(n);
  }
  ::close(fd);
  const double secs = seconds_since(t0);
  return secs > 0 ? static_cast<double>(total) / 1e6 / secs : -1;
}

std::string fmt(double v) {
  char b[32];
  std::snprintf(b, sizeof b, "%.4g", v);
  return b;
}

}  // namespace

ConversionBenchResult run_neuronio_conversion_bench(const std::string& pickle, const std::string& work_dir,
                                                    const ConversionBenchOptions& options, std::ostream& log) {
  ELM_CHECK(fs::is_regular_file(pickle), pickle, ": no such file (NeuronIO pickle)");
  ELM_CHECK(options.copies >= 1 && options.copies <= 1000, "--copies must be in [1, 1000], got ", options.copies);
  fs::create_directories(work_dir);
  const std::string py = neuronio_converter_python();
  ConversionBenchResult r;
  r.copies = options.copies;
  r.pickle_mb = static_cast<double>(fs::file_size(pickle)) / 1e6;
  const std::string absolute = fs::absolute(pickle).string();
  std::vector<std::string> copies;
  for (int c = 0; c < options.copies; ++c) {
    const fs::path link = fs::path(work_dir) / ("sim__copy" + std::to_string(c) + ".p");
    std::error_code ec;
    fs::remove(link, ec);
    fs::create_symlink(absolute, link);
    copies.push_back(link.string());
  }

  r.disk_read_mb_per_s = direct_read_mb_per_s(pickle);
  log << "disk read (O_DIRECT): " << r.disk_read_mb_per_s << " MB/s\n" << std::flush;

  auto t0 = bench_clock::now();
  capture(shell_quote(py) + " -c 'import numpy' >/dev/null");
  r.python_startup_s = seconds_since(t0);

  // pickle.load of every copy in one process, as the converter loads them.
  const std::string snippet =
      "import pickle, sys, time\n"
      "import numpy\n"
      "total = 0.0\n"
      "for path in sys.argv[1:]:\n"
      "    t = time.perf_counter()\n"
      "    f = open(path, 'rb')\n"
      "    try:\n"
      "        d = pickle.load(f, encoding='ASCII')\n"
      "    except UnicodeDecodeError:\n"
      "        f.seek(0); d = pickle.load(f, encoding='latin1')\n"
      "    total += time.perf_counter() - t\n"
      "    del d\n"
      "print(total)\n";
  const std::string snippet_path = (fs::path(work_dir) / "unpickle_time.py").string();
  {
    FILE* f = std::fopen(snippet_path.c_str(), "w");
    ELM_CHECK(f, snippet_path, ": cannot write");
    std::fputs(snippet.c_str(), f);
    std::fclose(f);
  }
  std::string args;
  for (const auto& c : copies) {
    args += ' ';
    args += shell_quote(c);
  }
  r.unpickle_s = std::stod(capture(shell_quote(py) + " " + shell_quote(snippet_path) + args));
  log << "unpickle " << copies.size() << " x " << r.pickle_mb << " MB: " << r.unpickle_s << " s\n" << std::flush;

  // The C++ side alone, one thread reading stream files (Python done before).
  const std::string stream = (fs::path(work_dir) / "copy.stream").string();
  const std::string out = (fs::path(work_dir) / "train.h5").string();
  {
    convert_neuronio_pickle(pickle, stream);
    std::ostringstream quiet;
    const double self0 = cpu_seconds(RUSAGE_SELF);
    t0 = bench_clock::now();
    prep_neuronio(std::vector<std::string>(copies.size(), stream), out, "train", quiet);
    r.stream_to_store_wall_s = seconds_since(t0);
    r.stream_to_store_cpu_s = cpu_seconds(RUSAGE_SELF) - self0;
    fs::remove(stream);
    log << "stream files -> store (C++ alone): " << r.stream_to_store_wall_s << " s, " << r.stream_to_store_cpu_s
        << " CPU s\n"
        << std::flush;
  }
  // The C++ pickle reader alone, one thread.
  {
    t0 = bench_clock::now();
    for (const auto& c : copies) {
      std::string why;
      ELM_CHECK(read_neuronio_pickle(c, why), pickle, ": the C++ pickle reader does not handle it: ", why);
    }
    r.cpp_unpickle_s = seconds_since(t0);
    log << "C++ pickle reader alone: " << r.cpp_unpickle_s << " s\n" << std::flush;
  }
  for (const bool python : {true, false}) {
    for (int jobs : options.jobs) {
      ConversionRun run;
      run.python = python;
      run.jobs = jobs > 0 ? jobs : static_cast<int>(std::min(8u, std::max(1u, std::thread::hardware_concurrency())));
      run.jobs = std::min(run.jobs, options.copies);
      std::error_code ec;
      fs::remove(out, ec);
      NeuronioPrepOptions po;
      po.jobs = run.jobs;
      po.python_unpickler = python;
      std::ostringstream quiet;
      // The converters append their own CPU split per file here.
      const std::string times_path = (fs::path(work_dir) / "converter_times.txt").string();
      fs::remove(times_path, ec);
      ::setenv("ELM_CONVERTER_TIMES", times_path.c_str(), 1);
      const double self0 = cpu_seconds(RUSAGE_SELF), child0 = cpu_seconds(RUSAGE_CHILDREN);
      t0 = bench_clock::now();
      const NeuronioPrepStats stats = prep_neuronio_files(copies, out, "train", quiet, po);
      ELM_CHECK(stats.files_python == (python ? options.copies : 0), pickle, ": ", stats.files_python,
                " of ", options.copies, " files went through Python");
      run.cpp_unpickle_cpu_s = stats.cpp_unpickle_cpu_s;
      run.wall_s = seconds_since(t0);
      run.cpp_cpu_s = cpu_seconds(RUSAGE_SELF) - self0;
      run.python_cpu_s = cpu_seconds(RUSAGE_CHILDREN) - child0;
      ::unsetenv("ELM_CONVERTER_TIMES");
      std::ifstream times(times_path);
      std::string path;
      double unpickle = 0, handoff = 0;
      int lines = 0;
      while (times >> path >> unpickle >> handoff) {
        run.unpickle_cpu_s += unpickle;
        run.handoff_cpu_s += handoff;
        ++lines;
      }
      ELM_CHECK(lines == (python ? options.copies : 0), times_path, ": ", lines, " converter timing lines");
      fs::remove(times_path, ec);
      log << "prep_neuronio_files, " << (python ? "Python" : "C++") << " unpickling, " << run.jobs
          << " worker(s): " << run.wall_s << " s\n"
          << std::flush;
      r.runs.push_back(run);
    }
  }
  r.store_mb = static_cast<double>(fs::file_size(out)) / 1e6;
  const StoreReader store(out);
  r.simulations = store.num_samples();
  for (int64_t i = 0; i < r.simulations; ++i) r.input_spikes += store.length("event_time", i);
  fs::remove(snippet_path);
  return r;
}

std::string format_conversion_bench(const ConversionBenchResult& r) {
  std::ostringstream s;
  const double mb = r.pickle_mb * r.copies;
  for (const ConversionRun& run : r.runs) {
    // CPU spent on anything but unpickling (pickle.load in the converters, or
    // the C++ reader): interpreter start, handing the arrays over, checks,
    // binning, compression, writes.
    const double excl_cpu = run.cpp_cpu_s + run.python_cpu_s - run.unpickle_cpu_s - run.cpp_unpickle_cpu_s;
    s << "neuronio_convert reader=" << (run.python ? "python" : "cpp") << " jobs=" << run.jobs
      << " copies=" << r.copies << " pickle_mb=" << fmt(r.pickle_mb) << " simulations=" << r.simulations
      << " input_events=" << r.input_spikes << " store_mb=" << fmt(r.store_mb)
      << " disk_read_mb_per_s=" << (r.disk_read_mb_per_s > 0 ? fmt(r.disk_read_mb_per_s) : "n/a")
      << " python_startup_s=" << fmt(r.python_startup_s) << " python_unpickle_alone_s=" << fmt(r.unpickle_s)
      << " cpp_unpickle_alone_s=" << fmt(r.cpp_unpickle_s) << " stream_to_store_cpu_s=" << fmt(r.stream_to_store_cpu_s)
      << " wall_s=" << fmt(run.wall_s) << " mb_per_s=" << fmt(mb / run.wall_s)
      << " python_unpickle_cpu_s=" << fmt(run.unpickle_cpu_s) << " cpp_unpickle_cpu_s=" << fmt(run.cpp_unpickle_cpu_s)
      << " handoff_cpu_s=" << fmt(run.handoff_cpu_s)
      << " python_cpu_s=" << fmt(run.python_cpu_s) << " elmrun_cpu_s=" << fmt(run.cpp_cpu_s)
      << " excl_unpickle_cpu_s=" << fmt(excl_cpu) << " excl_unpickle_mb_per_cpu_s=" << fmt(mb / excl_cpu) << "\n";
  }
  std::string text = s.str();
  if (!text.empty()) text.pop_back();
  return text;
}

}  // namespace elm
