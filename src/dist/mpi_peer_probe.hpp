#pragma once
// Which ranks of a communicator still answer, asked after a collective has
// waited too long. A lost host or a cut network never fails an MPI call by
// itself (TCP retransmits for many minutes; a collective on the far side
// simply never completes), so the waiting ranks ask every peer directly, on a
// communicator of their own, and name those that stay silent.
//
// Every rank keeps one receive posted for a probe and answers it from serve(),
// which the deadline wait of MpiComm calls while it polls: a peer stuck in the
// same collective answers at once, a peer beyond a partition or on a dead host
// never does.
#include <mpi.h>

#include <string>
#include <vector>

namespace elm {

class MpiPeerProbe {
 public:
  // Collective over `comm`: duplicates it and gathers every rank's host name.
  explicit MpiPeerProbe(MPI_Comm comm);
  ~MpiPeerProbe();
  MpiPeerProbe(const MpiPeerProbe&) = delete;
  MpiPeerProbe& operator=(const MpiPeerProbe&) = delete;

  // Answers the probes that have arrived; cheap when none has.
  void serve();
  // Probes every other rank and waits up to `seconds` for the answers (serving
  // probes meanwhile). Returns the ranks that did not answer, ascending. Its
  // requests stay pending when some rank is silent: the caller ends the job.
  std::vector<int> silent_ranks(double seconds);

  const std::string& host(int rank) const { return hosts_[size_t(rank)]; }
  int world_rank(int rank) const { return world_ranks_[size_t(rank)]; }

 private:
  void post_probe_receive();
  MPI_Comm comm_ = MPI_COMM_NULL;
  int rank_ = 0, size_ = 1;
  std::vector<std::string> hosts_;
  std::vector<int> world_ranks_;  // error lines name ranks as the job knows them
  int probe_in_ = 0;
  MPI_Request probe_req_ = MPI_REQUEST_NULL;
  std::vector<MPI_Request> answers_out_;
  const int answer_ = 1;
};

// "rank 1 (node2), rank 3 (node2)": ranks of the job with their hosts, for error lines.
std::string ranks_with_hosts(const MpiPeerProbe& probe, const std::vector<int>& ranks);

}  // namespace elm
