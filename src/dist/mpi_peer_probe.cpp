#include "dist/mpi_peer_probe.hpp"

#include <chrono>
#include <cstring>
#include <thread>

namespace elm {

namespace {
constexpr int kProbeTag = 1;
constexpr int kAnswerTag = 2;
}  // namespace

MpiPeerProbe::MpiPeerProbe(MPI_Comm comm) {
  MPI_Comm_dup(comm, &comm_);
  MPI_Comm_rank(comm_, &rank_);
  MPI_Comm_size(comm_, &size_);
  char name[MPI_MAX_PROCESSOR_NAME] = {};
  int len = 0;
  MPI_Get_processor_name(name, &len);
  std::vector<char> all(size_t(size_) * MPI_MAX_PROCESSOR_NAME);
  MPI_Allgather(name, MPI_MAX_PROCESSOR_NAME, MPI_CHAR, all.data(), MPI_MAX_PROCESSOR_NAME, MPI_CHAR, comm_);
  for (int r = 0; r < size_; ++r) {
    const char* s = all.data() + size_t(r) * MPI_MAX_PROCESSOR_NAME;
    hosts_.emplace_back(s, strnlen(s, MPI_MAX_PROCESSOR_NAME));
  }
  int world_rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &world_rank);
  world_ranks_.resize(size_t(size_));
  MPI_Allgather(&world_rank, 1, MPI_INT, world_ranks_.data(), 1, MPI_INT, comm_);
  post_probe_receive();
}

MpiPeerProbe::~MpiPeerProbe() {
  if (probe_req_ != MPI_REQUEST_NULL) {
    MPI_Cancel(&probe_req_);
    MPI_Wait(&probe_req_, MPI_STATUS_IGNORE);
  }
  // One-int answers go out eagerly: these complete without the peer.
  if (!answers_out_.empty()) MPI_Waitall(int(answers_out_.size()), answers_out_.data(), MPI_STATUSES_IGNORE);
  MPI_Comm_free(&comm_);
}

void MpiPeerProbe::post_probe_receive() {
  MPI_Irecv(&probe_in_, 1, MPI_INT, MPI_ANY_SOURCE, kProbeTag, comm_, &probe_req_);
}

void MpiPeerProbe::serve() {
  int arrived = 0;
  MPI_Status status;
  while (MPI_Test(&probe_req_, &arrived, &status) == MPI_SUCCESS && arrived) {
    answers_out_.emplace_back();
    MPI_Isend(&answer_, 1, MPI_INT, status.MPI_SOURCE, kAnswerTag, comm_, &answers_out_.back());
    post_probe_receive();
  }
}

std::vector<int> MpiPeerProbe::silent_ranks(double seconds) {
  const int question = 1;
  std::vector<int> answers(size_t(size_), 0);
  std::vector<MPI_Request> sent, received;
  std::vector<int> peers;
  for (int r = 0; r < size_; ++r) {
    if (r == rank_) continue;
    peers.push_back(r);
    sent.emplace_back();
    MPI_Isend(&question, 1, MPI_INT, r, kProbeTag, comm_, &sent.back());
    received.emplace_back();
    MPI_Irecv(&answers[size_t(r)], 1, MPI_INT, r, kAnswerTag, comm_, &received.back());
  }
  std::vector<bool> answered(peers.size(), false);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  size_t left = peers.size();
  while (left > 0 && std::chrono::steady_clock::now() < deadline) {
    serve();
    for (size_t i = 0; i < peers.size(); ++i) {
      if (answered[i]) continue;
      int done = 0;
      MPI_Test(&received[i], &done, MPI_STATUS_IGNORE);
      if (done) answered[i] = true, --left;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  std::vector<int> silent;
  for (size_t i = 0; i < peers.size(); ++i)
    if (!answered[i]) silent.push_back(peers[i]);
  return silent;
}

std::string ranks_with_hosts(const MpiPeerProbe& probe, const std::vector<int>& ranks) {
  std::string out;
  for (int r : ranks) {
    if (!out.empty()) out += ", ";
    out += "rank " + std::to_string(probe.world_rank(r)) + " (" + probe.host(r) + ")";
  }
  return out;
}

}  // namespace elm
