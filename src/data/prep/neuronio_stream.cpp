#include "data/prep/neuronio_stream.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cmath>
#include <cstring>

#include "core/error.hpp"
#include "data/neuronio_task.hpp"
#include "data/prep/neuronio_prep.hpp"

namespace elm {

namespace {

constexpr char kMagic[8] = {'E', 'L', 'M', 'N', 'I', 'O', '1', '\0'};
constexpr char kEnd[8] = {'E', 'L', 'M', 'N', 'I', 'E', 'N', 'D'};
// A released simulation has ~30k input spikes and 6000 soma values; far more
// than this in one array means a corrupt stream, refused before allocating.
constexpr uint64_t kMaxValues = uint64_t(1) << 28;
constexpr uint64_t kMaxSimulations = uint64_t(1) << 24;

static_assert(std::endian::native == std::endian::little, "the NeuronIO stream is little-endian");

}  // namespace

NeuronioStreamReader::NeuronioStreamReader(int fd, std::string name) : fd_(fd), name_(std::move(name)) {
  struct stat st {};
  if (::fstat(fd_, &st) == 0 && S_ISREG(st.st_mode)) {
    file_size_ = static_cast<int64_t>(st.st_size);
    const off_t pos = ::lseek(fd_, 0, SEEK_CUR);
    if (pos > 0) offset_ = pos;
  }
}

bool NeuronioStreamReader::read_exact(void* dst, size_t bytes, bool eof_ok) {
  auto* p = static_cast<unsigned char*>(dst);
  size_t done = 0;
  while (done < bytes) {
    const ssize_t r = ::read(fd_, p + done, std::min<size_t>(bytes - done, size_t(1) << 30));
    if (r < 0) {
      if (errno == EINTR) continue;
      fail(name_, ": read error at byte ", offset_ + static_cast<int64_t>(done), ": ", std::strerror(errno));
    }
    if (r == 0) {
      eof_ = true;
      if (eof_ok && done == 0) return false;
      fail(name_, ": NeuronIO stream ends early at byte ", offset_ + static_cast<int64_t>(done),
           source_.empty() ? std::string() : " (in " + source_ + ", simulation " + std::to_string(sim_index_) + ")");
    }
    done += static_cast<size_t>(r);
  }
  offset_ += static_cast<int64_t>(bytes);
  return true;
}

uint64_t NeuronioStreamReader::read_u64() {
  uint64_t v = 0;
  read_exact(&v, sizeof v);
  return v;
}

template <class T>
void NeuronioStreamReader::read_array(std::vector<T>& v, uint64_t count, const char* what) {
  ELM_CHECK(count <= kMaxValues, name_, ": byte ", offset_, ": ", source_, ", simulation ", sim_index_, ": ", what,
            " count ", count, " is implausible (corrupt stream?)");
  if (file_size_ >= 0)
    ELM_CHECK(count * sizeof(T) <= static_cast<uint64_t>(std::max<int64_t>(file_size_ - offset_, 0)), name_,
              ": byte ", offset_, ": ", source_, ", simulation ", sim_index_, ": ", what, " count ", count,
              " runs past the end of the file (truncated or corrupt stream)");
  v.resize(count);
  if (count) read_exact(v.data(), count * sizeof(T));
}

bool NeuronioStreamReader::next_file(NeuronioStreamHeader& h) {
  ELM_CHECK(sims_left_ == 0, name_, ": next_file with ", sims_left_, " simulations of ", source_, " unread");
  source_.clear();
  sim_index_ = 0;
  char magic[8];
  const int64_t at = offset_;
  if (!read_exact(magic, sizeof magic, true)) return false;
  ELM_CHECK(std::memcmp(magic, kMagic, sizeof magic) == 0, name_, ": byte ", at,
            ": not a NeuronIO stream block (format elm-neuronio-stream-1 expected)");
  const uint64_t len = read_u64();
  ELM_CHECK(len <= 4096, name_, ": byte ", at, ": source path of ", len, " bytes (corrupt stream?)");
  h.source.assign(len, '\0');
  if (len) read_exact(h.source.data(), len);
  ELM_CHECK(h.source.find('\0') == std::string::npos && h.source.find('\n') == std::string::npos, name_, ": byte ",
            at, ": source path contains NUL or newline (corrupt stream?)");
  source_ = h.source;
  const uint64_t segments = read_u64();
  double duration = 0;
  read_exact(&duration, sizeof duration);
  const uint64_t sims = read_u64();
  ELM_CHECK(segments < kMaxValues && sims <= kMaxSimulations, name_, ": byte ", at, ": ", segments, " segments, ",
            sims, " simulations (corrupt stream?)");
  h.num_segments = static_cast<int64_t>(segments);
  h.sim_duration_ms = duration;
  h.num_simulations = static_cast<int64_t>(sims);
  sims_left_ = h.num_simulations;
  return true;
}

void NeuronioStreamReader::next_simulation(NeuronioRawSimulation& s) {
  ELM_CHECK(sims_left_ > 0, name_, ": no simulation left in ", source_);
  uint64_t c[6];
  read_exact(c, sizeof c);
  read_array(s.ex_keys, c[0], "excitatory segments");
  read_array(s.ex_counts, c[0], "excitatory segments");
  read_array(s.ex_times, c[1], "excitatory spikes");
  read_array(s.inh_keys, c[2], "inhibitory segments");
  read_array(s.inh_counts, c[2], "inhibitory segments");
  read_array(s.inh_times, c[3], "inhibitory spikes");
  read_array(s.output_spike_ms, c[4], "output spikes");
  read_array(s.soma_mv, c[5], "soma values");
  --sims_left_;
  ++sim_index_;
}

void NeuronioStreamReader::end_file() {
  ELM_CHECK(sims_left_ == 0, name_, ": ", source_, ": ", sims_left_, " simulations unread");
  char end[8];
  const int64_t at = offset_;
  read_exact(end, sizeof end);
  ELM_CHECK(std::memcmp(end, kEnd, sizeof end) == 0, name_, ": byte ", at, ": ", source_,
            ": no end marker after its simulations (corrupt stream?)");
  source_.clear();
}

void check_neuronio_header(const NeuronioStreamHeader& h) {
  ELM_CHECK(h.num_segments == kNeuronioSegments, h.source, ": Params.allSegmentsType has ", h.num_segments,
            " segments, expected ", kNeuronioSegments);
  const double duration = h.sim_duration_ms;
  ELM_CHECK(std::isfinite(duration) && duration >= 1 && duration <= 1e7 && duration == std::floor(duration),
            h.source, ": totalSimDurationInSec gives ", duration, " ms, not a whole positive number of ms");
}

void build_neuronio_simulation(const NeuronioRawSimulation& raw, int64_t duration_ms, const std::string& where,
                               int64_t k, NeuronioStoreSample& out, NeuronioBuildScratch& scratch) {
  // Binning is a counting sort by step: count the spikes of each step, place
  // their channels in per-step buckets, then sort and de-duplicate each bucket
  // (a few channels). O(spikes + steps), sequential memory access.
  const double duration = static_cast<double>(duration_ms);
  std::vector<int32_t>& start = scratch.step_start;
  std::vector<uint16_t>& bucket = scratch.bucket;
  start.assign(static_cast<size_t>(duration_ms) + 1, 0);
  size_t spikes = 0;
  for (int p = 0; p < 2; ++p) {
    const auto& seg = p == 0 ? raw.ex_keys : raw.inh_keys;
    const auto& cnt = p == 0 ? raw.ex_counts : raw.inh_counts;
    const auto& times = p == 0 ? raw.ex_times : raw.inh_times;
    const char* kind = p == 0 ? "excitatory" : "inhibitory";
    size_t j = 0;
    for (size_t e = 0; e < seg.size(); ++e) {
      const int64_t s = seg[e];
      ELM_CHECK(s >= 0 && s < kNeuronioSegments, where, ": simulation ", k, ": ", kind, " input segment ", s,
                " outside 0..", kNeuronioSegments - 1);
      ELM_CHECK(cnt[e] >= 0 && static_cast<uint64_t>(cnt[e]) <= times.size() - j, where, ": simulation ", k, ": ",
                kind, " spike counts do not add up to the ", times.size(), " spike times (corrupt stream?)");
      const size_t end = j + static_cast<size_t>(cnt[e]);
      for (; j < end; ++j) {
        const double t = times[j];
        ELM_CHECK(t >= 0 && t < duration, where, ": simulation ", k, ": ", kind, " input spike at ", t,
                  " ms outside [0, ", duration_ms, ")");  // NaN fails the comparison too
        // int(t) as the reference's matrix index; t >= 0 so truncation = floor.
        ++start[static_cast<size_t>(t) + 1];
      }
    }
    ELM_CHECK(j == times.size(), where, ": simulation ", k, ": ", kind, " spike counts add up to ", j, ", not the ",
              times.size(), " spike times (corrupt stream?)");
    spikes += j;
  }
  for (size_t t = 1; t < start.size(); ++t) start[t] += start[t - 1];
  bucket.resize(spikes);
  for (int p = 0; p < 2; ++p) {
    const auto& seg = p == 0 ? raw.ex_keys : raw.inh_keys;
    const auto& cnt = p == 0 ? raw.ex_counts : raw.inh_counts;
    const auto& times = p == 0 ? raw.ex_times : raw.inh_times;
    size_t j = 0;
    for (size_t e = 0; e < seg.size(); ++e) {
      const auto channel = static_cast<uint16_t>(seg[e] + p * kNeuronioSegments);
      for (const size_t end = j + static_cast<size_t>(cnt[e]); j < end; ++j)
        bucket[static_cast<size_t>(start[static_cast<size_t>(times[j])]++)] = channel;
    }
  }
  // start[t] now holds the end of step t's bucket (= the start of t + 1).
  out.event_time.resize(spikes);
  out.event_channel.resize(spikes);
  size_t n = 0, from = 0;
  for (size_t t = 0; t + 1 < start.size(); ++t) {
    const auto to = static_cast<size_t>(start[t]);
    if (to == from) continue;
    uint16_t* b = bucket.data() + from;
    const size_t m = to - from;
    for (size_t x = 1; x < m; ++x)  // insertion sort: a step has a handful of spikes
      for (size_t y = x; y > 0 && b[y - 1] > b[y]; --y) std::swap(b[y - 1], b[y]);
    for (size_t x = 0; x < m; ++x) {
      if (x > 0 && b[x] == b[x - 1]) continue;  // the reference's matrix is binary
      out.event_time[n] = static_cast<int32_t>(t);
      out.event_channel[n] = b[x];
      ++n;
    }
    from = to;
  }
  out.event_time.resize(n);
  out.event_channel.resize(n);
  out.event_index = neuronio_event_index(out.event_time, duration_ms);

  ELM_CHECK(static_cast<int64_t>(raw.soma_mv.size()) == duration_ms, where, ": simulation ", k,
            ": somaVoltageLowRes has ", raw.soma_mv.size(), " values, expected ", duration_ms, " (one per ms)");
  out.soma.resize(raw.soma_mv.size());
  for (size_t j = 0; j < raw.soma_mv.size(); ++j) {
    ELM_CHECK(std::isfinite(raw.soma_mv[j]), where, ": simulation ", k, ": somaVoltageLowRes[", j,
              "] is not finite");
    out.soma[j] = static_cast<float>(raw.soma_mv[j]);
  }
  out.output_spike_ms.resize(raw.output_spike_ms.size());
  for (size_t j = 0; j < raw.output_spike_ms.size(); ++j) {
    const double t = raw.output_spike_ms[j];
    // The target index int(t - 0.5) must fall inside the simulation.
    ELM_CHECK(t >= 0 && t < duration + 0.5, where, ": simulation ", k, ": output spike at ", t, " ms outside [0, ",
              duration + 0.5, ")");
    out.output_spike_ms[j] = static_cast<float>(t);
  }
}

}  // namespace elm
