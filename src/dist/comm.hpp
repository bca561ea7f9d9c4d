#pragma once
// Communication between the ranks that train one run (data parallel) or share
// one sweep. Counts are in elements. Implementations: SerialComm (one
// process), MpiComm (src/dist/mpi_comm.hpp, built into the elmrun executable
// only, so that the library and GPU test binaries stay free of MPI), and the
// NCCL path of the CUDA backend for device buffers.
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

namespace elm {

class Comm {
 public:
  virtual ~Comm() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  virtual std::string kind() const = 0;  // "serial", "mpi"

  // In place, identical result on every rank.
  virtual void allreduce_sum(std::span<float> data) = 0;
  virtual void allreduce_sum(std::span<double> data) = 0;
  virtual void broadcast(std::span<std::byte> data, int root) = 0;
  virtual void barrier() = 0;
  // A barrier that sleeps while it waits instead of spinning on a core
  // (benchmarks: idle ranks must not slow the timed ones).
  virtual void barrier_idle() { barrier(); }
  // From now on allreduce_sum, broadcast and barrier fail (an ElmError
  // naming the ranks that no longer answer) when one waits longer than
  // `seconds`: for ranks in lock step, where a long wait means a lost host or
  // a cut network, never an idle peer. 0: wait for ever (the default).
  // Collective the first time a limit is set; turning it off is local.
  virtual void set_wait_limit(double /*seconds*/) {}
  // Lets MPI serve peers' one-sided requests (the sweep's work counter lives
  // on rank 0) while this rank computes without calling MPI. Cheap; not collective.
  virtual void progress() {}
  // Ranks with equal color form a new communicator, ordered by key.
  virtual std::unique_ptr<Comm> split(int color, int key) = 0;
  // Ends the whole job (every rank of every communicator), never returns:
  // the way out when one rank fails and the others would wait forever.
  [[noreturn]] virtual void abort_job(int exit_code) = 0;
};

class SerialComm final : public Comm {
 public:
  int rank() const override { return 0; }
  int size() const override { return 1; }
  std::string kind() const override { return "serial"; }
  void allreduce_sum(std::span<float>) override {}
  void allreduce_sum(std::span<double>) override {}
  void broadcast(std::span<std::byte>, int) override {}
  void barrier() override {}
  std::unique_ptr<Comm> split(int, int) override { return std::make_unique<SerialComm>(); }
  [[noreturn]] void abort_job(int exit_code) override;
};

template <class T>
void broadcast_values(Comm& comm, std::span<T> values, int root) {
  comm.broadcast(std::as_writable_bytes(values), root);
}
template <class T>
void broadcast_value(Comm& comm, T& value, int root) {
  broadcast_values(comm, std::span<T>(&value, 1), root);
}
// A std::vector or std::string of root's length and values on every rank.
template <class Container>
void broadcast_vector(Comm& comm, Container& values, int root) {
  int64_t n = int64_t(values.size());
  broadcast_value(comm, n, root);
  values.resize(size_t(n));
  broadcast_values(comm, std::span(values.data(), values.size()), root);
}

// The data-parallel reduction of one training step: buffer[0, n_grad) is this
// rank's gradient and becomes the mean over ranks; the values after it (the
// loss, the stop flag) ride along in the same all-reduce and are summed. No
// communication on a single rank.
void allreduce_step(Comm& comm, std::span<float> buffer, size_t n_grad);

// Hands out 0, 1, 2, ... across all ranks of a world, each number once: the
// run scheduler's "next unfinished run".
class WorkCounter {
 public:
  virtual ~WorkCounter() = default;
  virtual int64_t next() = 0;
};

class LocalWorkCounter final : public WorkCounter {
 public:
  int64_t next() override { return next_++; }

 private:
  int64_t next_ = 0;
};

// FNV-1a 64 over the bytes: equal parameters on every rank give equal sums.
uint64_t fnv1a64(std::span<const std::byte> bytes, uint64_t hash = 14695981039346656037ull);

}  // namespace elm
