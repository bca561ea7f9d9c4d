#include "dist/mpi_comm.hpp"

#include <mpi.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <thread>
#include <iostream>

#include "core/error.hpp"
#include "dist/mpi_peer_probe.hpp"

namespace elm {

namespace {

void check_mpi(int code, const char* what) {
  if (code == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING];
  int len = 0;
  MPI_Error_string(code, text, &len);
  fail("MPI ", what, " failed: ", std::string(text, size_t(len)));
}

class MpiComm final : public Comm {
 public:
  MpiComm(MPI_Comm comm, bool owned) : comm_(comm), owned_(owned) {
    check_mpi(MPI_Comm_rank(comm_, &rank_), "Comm_rank");
    check_mpi(MPI_Comm_size(comm_, &size_), "Comm_size");
  }
  ~MpiComm() override {
    if (owned_) MPI_Comm_free(&comm_);
  }
  int rank() const override { return rank_; }
  int size() const override { return size_; }
  std::string kind() const override { return "mpi"; }
  void allreduce_sum(std::span<float> data) override { reduce(data.data(), data.size(), MPI_FLOAT); }
  void allreduce_sum(std::span<double> data) override { reduce(data.data(), data.size(), MPI_DOUBLE); }
  void broadcast(std::span<std::byte> data, int root) override {
    // MPI counts are int: large buffers go in pieces.
    constexpr size_t kPiece = size_t(1) << 30;
    for (size_t off = 0; off < data.size(); off += kPiece) {
      const int n = int(std::min(kPiece, data.size() - off));
      if (wait_limit_ <= 0) {
        check_mpi(MPI_Bcast(data.data() + off, n, MPI_BYTE, root, comm_), "Bcast");
        continue;
      }
      MPI_Request req;
      check_mpi(MPI_Ibcast(data.data() + off, n, MPI_BYTE, root, comm_, &req), "Ibcast");
      wait_within_limit(req, "a broadcast");
    }
  }
  void barrier() override {
    if (wait_limit_ <= 0) return check_mpi(MPI_Barrier(comm_), "Barrier");
    MPI_Request req;
    check_mpi(MPI_Ibarrier(comm_, &req), "Ibarrier");
    wait_within_limit(req, "a barrier");
  }
  void progress() override {
    int flag = 0;
    MPI_Iprobe(MPI_ANY_SOURCE, MPI_ANY_TAG, comm_, &flag, MPI_STATUS_IGNORE);
  }
  void set_wait_limit(double seconds) override {
    // Collective the first time only (the probe's communicator); turning the
    // limit off is local, and the probe stays for the next time.
    wait_limit_ = seconds;
    if (seconds > 0 && !probe_) probe_ = std::make_unique<MpiPeerProbe>(comm_);
  }
  void barrier_idle() override {
    MPI_Request req;
    check_mpi(MPI_Ibarrier(comm_, &req), "Ibarrier");
    int done = 0;
    while (true) {
      check_mpi(MPI_Test(&req, &done, MPI_STATUS_IGNORE), "Test");
      if (done) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  }
  std::unique_ptr<Comm> split(int color, int key) override {
    MPI_Comm out;
    check_mpi(MPI_Comm_split(comm_, color, key, &out), "Comm_split");
    return std::make_unique<MpiComm>(out, true);
  }
  [[noreturn]] void abort_job(int exit_code) override {
    std::cerr.flush();
    MPI_Abort(MPI_COMM_WORLD, exit_code);
    std::_Exit(exit_code);
  }
  MPI_Comm handle() const { return comm_; }

 private:
  void reduce(void* data, size_t n, MPI_Datatype type) {
    constexpr size_t kPiece = size_t(1) << 28;
    const size_t elem = type == MPI_FLOAT ? sizeof(float) : sizeof(double);
    for (size_t off = 0; off < n; off += kPiece) {
      void* piece = static_cast<char*>(data) + off * elem;
      const int count = int(std::min(kPiece, n - off));
      if (wait_limit_ <= 0) {
        check_mpi(MPI_Allreduce(MPI_IN_PLACE, piece, count, type, MPI_SUM, comm_), "Allreduce");
        continue;
      }
      MPI_Request req;
      check_mpi(MPI_Iallreduce(MPI_IN_PLACE, piece, count, type, MPI_SUM, comm_, &req), "Iallreduce");
      wait_within_limit(req, "an all-reduce");
    }
  }

  // Polls `req` (answering peers' probes meanwhile) until it completes or the
  // wait limit passes; then asks who is still there and fails.
  void wait_within_limit(MPI_Request& req, const char* what) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(wait_limit_);
    int done = 0;
    while (true) {
      check_mpi(MPI_Test(&req, &done, MPI_STATUS_IGNORE), "Test");
      if (done) return;
      probe_->serve();
      if (std::chrono::steady_clock::now() >= deadline) fail_on_lost_peers(what);
      std::this_thread::yield();
    }
  }

  [[noreturn]] void fail_on_lost_peers(const char* what) {
    // Long enough for a peer that is computing to reach its next collective.
    constexpr double kProbeSeconds = 5;
    const std::vector<int> silent = probe_->silent_ranks(kProbeSeconds);
    // One line per job: the lowest rank that still answers reports, the rest
    // of its side stays quiet and is ended by the reporter's abort. Across a
    // partition both sides time out; the side without rank 0 reports only if
    // it is still alive a while later (the launcher had no way to end it).
    constexpr double kFarSideSeconds = 10, kQuietSeconds = 30;
    auto is_silent = [&](int r) { return std::find(silent.begin(), silent.end(), r) != silent.end(); };
    int reporter = 0;
    while (is_silent(reporter)) ++reporter;
    if (rank_ != reporter) {
      std::this_thread::sleep_for(std::chrono::duration<double>(kQuietSeconds));
      MPI_Abort(MPI_COMM_WORLD, 1);
      std::_Exit(1);
    }
    if (is_silent(0)) std::this_thread::sleep_for(std::chrono::duration<double>(kFarSideSeconds));
    char waited[32];
    std::snprintf(waited, sizeof waited, "%g", wait_limit_);
    if (silent.empty())
      fail(what, " waited ", waited, " s; every rank answers, yet it did not complete (the ranks are in different "
           "collectives)");
    fail(what, " waited ", waited, " s (ELMRUN_COLLECTIVE_TIMEOUT): no answer from ", ranks_with_hosts(*probe_, silent),
         " within a further ", kProbeSeconds, " s; that host is lost or the network to it is cut");
  }

  MPI_Comm comm_;
  bool owned_;
  int rank_ = 0, size_ = 1;
  double wait_limit_ = 0;
  std::unique_ptr<MpiPeerProbe> probe_;  // made by the first wait limit: lock-step collectives only
};

class MpiWorkCounter final : public WorkCounter {
 public:
  explicit MpiWorkCounter(MPI_Comm comm) {
    int rank = 0;
    MPI_Comm_rank(comm, &rank);
    const MPI_Aint bytes = rank == 0 ? sizeof(int64_t) : 0;
    check_mpi(MPI_Win_allocate(bytes, sizeof(int64_t), MPI_INFO_NULL, comm, &base_, &win_), "Win_allocate");
    if (rank == 0) {
      MPI_Win_lock(MPI_LOCK_EXCLUSIVE, 0, 0, win_);
      *base_ = 0;
      MPI_Win_unlock(0, win_);
    }
    check_mpi(MPI_Barrier(comm), "Barrier");
  }
  ~MpiWorkCounter() override { MPI_Win_free(&win_); }
  int64_t next() override {
    const int64_t one = 1;
    int64_t taken = 0;
    check_mpi(MPI_Win_lock(MPI_LOCK_SHARED, 0, 0, win_), "Win_lock");
    check_mpi(MPI_Fetch_and_op(&one, &taken, MPI_INT64_T, 0, 0, MPI_SUM, win_), "Fetch_and_op");
    check_mpi(MPI_Win_unlock(0, win_), "Win_unlock");
    return taken;
  }

 private:
  int64_t* base_ = nullptr;
  MPI_Win win_;
};

}  // namespace

bool launched_by_mpi_launcher() {
  for (const char* var : {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK", "PMI_SIZE"})
    if (std::getenv(var)) return true;
  return false;
}

int launcher_rank() {
  for (const char* var : {"OMPI_COMM_WORLD_RANK", "PMIX_RANK", "PMI_RANK", "SLURM_PROCID"})
    if (const char* v = std::getenv(var)) return std::atoi(v);
  return -1;
}

struct MpiSession::ErrorChannel {
  MPI_Comm comm = MPI_COMM_NULL;
};

MpiSession::MpiSession() : errors_(std::make_unique<ErrorChannel>()) {
  // OpenMPI picks osc/rdma for MPI_Win_allocate, which fails between hosts
  // over TCP ("MPI_ERR_WIN: invalid window"): prefer shared memory on one
  // node, else UCX, else point to point. A user's own choice stands.
  setenv("OMPI_MCA_osc", "sm,ucx,pt2pt", 0);
  int provided = 0;
  check_mpi(MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided), "Init_thread");
  check_mpi(MPI_Comm_dup(MPI_COMM_WORLD, &errors_->comm), "Comm_dup");
}

MpiSession::~MpiSession() {
  MPI_Comm_free(&errors_->comm);
  MPI_Finalize();
}

bool MpiSession::all_ranks_failed(const std::string& what, double seconds, bool& same) {
  MPI_Request arrived;
  if (MPI_Ibarrier(errors_->comm, &arrived) != MPI_SUCCESS) return false;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  int done = 0;
  while (MPI_Test(&arrived, &done, MPI_STATUS_IGNORE) == MPI_SUCCESS && !done &&
         std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  if (!done) return false;  // the request stays pending: the job is aborted next
  // Every rank is here: compare the messages by hash.
  const uint64_t h = fnv1a64(std::as_bytes(std::span<const char>(what.data(), what.size())));
  uint64_t lo = h, hi = h;
  MPI_Allreduce(&h, &lo, 1, MPI_UINT64_T, MPI_MIN, errors_->comm);
  MPI_Allreduce(&h, &hi, 1, MPI_UINT64_T, MPI_MAX, errors_->comm);
  same = lo == hi;
  return true;
}

std::unique_ptr<Comm> MpiSession::world() const { return std::make_unique<MpiComm>(MPI_COMM_WORLD, false); }

int mpi_local_rank(Comm& comm) {
  auto* mpi = dynamic_cast<MpiComm*>(&comm);
  if (!mpi) return 0;
  MPI_Comm node;
  check_mpi(MPI_Comm_split_type(mpi->handle(), MPI_COMM_TYPE_SHARED, mpi->rank(), MPI_INFO_NULL, &node),
            "Comm_split_type");
  int local = 0;
  MPI_Comm_rank(node, &local);
  MPI_Comm_free(&node);
  return local;
}

NodeRanks mpi_world_node_ranks() {
  int world_rank = 0;
  check_mpi(MPI_Comm_rank(MPI_COMM_WORLD, &world_rank), "Comm_rank");
  MPI_Comm node;
  check_mpi(MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, world_rank, MPI_INFO_NULL, &node),
            "Comm_split_type");
  NodeRanks r;
  MPI_Comm_rank(node, &r.local_rank);
  MPI_Comm_size(node, &r.local_ranks);
  MPI_Comm_free(&node);
  return r;
}

std::unique_ptr<WorkCounter> make_mpi_work_counter(Comm& comm) {
  auto* mpi = dynamic_cast<MpiComm*>(&comm);
  if (!mpi) return std::make_unique<LocalWorkCounter>();
  return std::make_unique<MpiWorkCounter>(mpi->handle());
}

WorldSession::WorldSession() {
  if (launched_by_mpi_launcher()) {
    session_ = std::make_unique<MpiSession>();
    world_ = session_->world();
  } else {
    world_ = std::make_unique<SerialComm>();
  }
}

WorldSession::~WorldSession() = default;

std::unique_ptr<WorkCounter> WorldSession::make_work_counter() { return make_mpi_work_counter(*world_); }

void WorldSession::report_and_abort(const char* command, const char* what) {
  if (!distributed()) {
    std::cerr << "elmrun " << command << ": error: " << what << std::endl;
    std::_Exit(1);
  }
  bool same = false;
  const int rank = world_->rank();
  if (session_->all_ranks_failed(what, kErrorAgreementSeconds, same)) {
    if (!same) std::cerr << "elmrun " << command << ": error: [rank " << rank << "] " << what << std::endl;
    else if (rank == 0) std::cerr << "elmrun " << command << ": error: " << what << std::endl;
    world_.reset();
    session_.reset();  // MPI_Finalize: the launcher sees exit codes, not an abort
    std::exit(1);
  }
  std::cerr << "elmrun " << command << ": error: [rank " << rank << "] " << what << std::endl;
  world_->abort_job(1);
  std::_Exit(1);  // not reached; GCC does not carry [[noreturn]] through the virtual call
}

}  // namespace elm
