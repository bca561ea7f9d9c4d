#pragma once
// The MPI implementation of Comm, and the process-wide MPI session. Built into
// the elmrun executable and the MPI tests only (library `elm_mpi`), so that the
// `elm` library and the GPU test binaries never need mpirun.
#include <memory>
#include <string>

#include "dist/comm.hpp"
#include "dist/gpu_assignment.hpp"

namespace elm {

// True when this process was started by mpirun/srun (OpenMPI or PMIx
// environment), i.e. when MPI_Init will find its peers.
bool launched_by_mpi_launcher();
// This process's rank in the job from the launcher's environment (OpenMPI,
// PMIx, PMI, Slurm), before MPI starts; -1 when not launched as a job.
int launcher_rank();

// MPI_Init_thread (funneled: only the main thread calls MPI) on construction,
// MPI_Finalize on destruction. One per process.
class MpiSession {
 public:
  MpiSession();
  ~MpiSession();
  MpiSession(const MpiSession&) = delete;
  MpiSession& operator=(const MpiSession&) = delete;
  std::unique_ptr<Comm> world() const;

  // After an error on this rank: true when every rank of the job reports one
  // within `seconds` (the same bad input read everywhere), with `same` set
  // when all the messages are equal; false when some rank goes on (its error
  // is its own). Uses a communicator of its own, so it never meets a
  // collective of the work.
  bool all_ranks_failed(const std::string& what, double seconds, bool& same);

 private:
  struct ErrorChannel;
  std::unique_ptr<ErrorChannel> errors_;
};

// This rank's index among the ranks of `comm` on the same node
// (MPI_Comm_split_type shared memory); 0 for a non-MPI Comm.
int mpi_local_rank(Comm& comm);

// This rank's place among ALL the job's ranks on its node (MPI_COMM_WORLD split
// by shared memory), whatever communicator it later trains in: what decides
// its GPU (gpu_assignment.hpp). Needs MPI initialised (an MpiSession).
NodeRanks mpi_world_node_ranks();

// A counter held by rank 0 of `comm`, incremented with MPI_Fetch_and_op, so any
// rank can take the next number without the others' participation.
// Collective to create and to destroy.
std::unique_ptr<WorkCounter> make_mpi_work_counter(Comm& comm);

// The communicator a command runs on: MPI's world when launched by mpirun or
// srun, a SerialComm otherwise. Errors on one rank end the whole job through
// run_or_abort(), so peers waiting in a collective never hang.
class WorldSession {
 public:
  WorldSession();
  ~WorldSession();
  Comm& world() { return *world_; }
  bool distributed() const { return session_ != nullptr; }
  std::unique_ptr<WorkCounter> make_work_counter();

  // Runs fn. Serial, an exception propagates. Distributed, an error that
  // every rank meets (bad input they all read) is one line from rank 0 (each
  // rank's own line, prefixed with its rank, when they differ) and exit 1 on
  // every rank; an error of some ranks only is one line per failing rank,
  // prefixed with the rank, and aborts the job.
  template <class Fn>
  int run_or_abort(const char* command, Fn&& fn) {
    try {
      return fn();
    } catch (const std::exception& e) {
      if (!distributed()) throw;  // one process: the usual one-line error path
      report_and_abort(command, e.what());
    }
  }

 private:
  // How long a failing rank waits for the others to fail too (bad input every
  // rank reads fails within milliseconds everywhere).
  static constexpr double kErrorAgreementSeconds = 3.0;
  [[noreturn]] void report_and_abort(const char* command, const char* what);
  std::unique_ptr<MpiSession> session_;
  std::unique_ptr<Comm> world_;
};

}  // namespace elm
