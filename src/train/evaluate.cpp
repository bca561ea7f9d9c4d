#include "train/evaluate.hpp"

#include <algorithm>
#include <memory>

#include "core/error.hpp"
#include "data/neuronio_task.hpp"
#include "data/store/dataset_store.hpp"
#include "data/store_tasks.hpp"
#include "train/neuronio_protocol.hpp"

namespace elm {

namespace {

// Thrown by the NeuronIO forward on rank 0 when a stop is wanted.
struct EvalStopped {};

// True on every rank when any rank wants to stop.
bool ranks_want_stop(Comm& comm, const EvalStopCheck& want_stop) {
  double flag = want_stop() ? 1.0 : 0.0;
  if (comm.size() > 1) comm.allreduce_sum(std::span<double>(&flag, 1));
  return flag > 0;
}

std::optional<EvalResult> classify_until_stop(StepBackend& backend, const Task& task,
                                              Split split, int batch_size, Comm& comm, int64_t limit,
                                              const EvalStopCheck* want_stop) {
  int64_t n = task.num_samples(split);
  if (limit > 0) n = std::min(n, limit);
  const int W = comm.size(), r = comm.rank();
  std::vector<int64_t> shard;
  for (int64_t i = r; i < n; i += W) shard.push_back(i);
  double loss_sum = 0, correct = 0;
  // Every rank runs as many batches as rank 0 (whose shard is the largest), so
  // the per-batch stop agreement is a collective all of them reach.
  const size_t largest_shard = size_t((n + W - 1) / W);
  for (size_t b0 = 0; b0 < largest_shard; b0 += size_t(batch_size)) {
    if (want_stop && ranks_want_stop(comm, *want_stop)) return std::nullopt;
    if (b0 >= shard.size()) continue;
    const std::vector<int64_t> idx(shard.begin() + b0, shard.begin() + std::min(shard.size(), b0 + batch_size));
    backend.evaluate_batch(task.make_batch(split, idx), loss_sum, correct);
  }
  double sums[3] = {loss_sum, correct, double(shard.size())};
  comm.allreduce_sum(std::span<double>(sums, 3));
  EvalResult res;
  res.samples = int64_t(sums[2]);
  res.loss = res.samples ? sums[0] / sums[2] : 0.0;
  res.accuracy = res.samples ? sums[1] / sums[2] : 0.0;
  return res;
}

}  // namespace

EvalResult evaluate_classification(StepBackend& backend, const Task& task,
                                   Split split, int batch_size, Comm& comm, int64_t limit) {
  return *classify_until_stop(backend, task, split, batch_size, comm, limit, nullptr);
}

void broadcast_metrics(Comm& comm, Metrics& metrics, int root) {
  std::vector<std::string> names;
  std::vector<double> values;
  for (const auto& [n, v] : metrics) {
    names.push_back(n);
    values.push_back(v);
  }
  std::string text = join_lines(names);
  broadcast_vector(comm, text, root);
  broadcast_vector(comm, values, root);
  names = split_lines(text);
  metrics.clear();
  for (size_t k = 0; k < values.size(); ++k) metrics.emplace_back(names.at(k), values[k]);
}

namespace {

std::optional<Metrics> evaluate_task_impl(StepBackend& backend, const Task& task,
                                          Split split, int batch_size, int64_t max_simulations, Comm& comm,
                                          int64_t limit, const EvalStopCheck* want_stop) {
  if (task.loss() == TaskLoss::Neuronio) {
    const auto& nio = static_cast<const NeuronioTask&>(task);
    // Rank 0 alone runs the protocol (its AUC needs every prediction); it
    // checks for a stop before each forward and tells the others.
    Metrics m;
    double stopped = 0;
    if (comm.rank() == 0) {
      const StoreReader store(nio.store_path(split));
      NeuronioEvalOptions opts;
      opts.max_simulations = max_simulations;
      const NeuronioStoreShape shape = check_neuronio_store(store);
      ELM_CHECK(task.num_input() == shape.channels, store.path(), ": the model has ", task.num_input(),
                " inputs but the store has ", shape.channels, " channels");
      std::vector<float> out;
      const NeuronioForward forward = [&](const InputBatch& x, std::span<const NeuronioWindow>, float* y) {
        if (want_stop && (*want_stop)()) throw EvalStopped{};
        backend.forward_outputs(x, out);
        std::copy(out.begin(), out.end(), y);
      };
      try {
        const NeuronioEvalResult r = evaluate_neuronio_file(forward, task.num_output(), store, opts);
        m = r.metrics.named_values();
        m.emplace_back("simulations_kept", double(r.kept));
      } catch (const EvalStopped&) {
        stopped = 1;
      }
    }
    if (comm.size() > 1) broadcast_value(comm, stopped, 0);
    if (stopped > 0) return std::nullopt;
    broadcast_metrics(comm, m, 0);
    return m;
  }
  const auto r = classify_until_stop(backend, task, split, batch_size, comm, limit, want_stop);
  if (!r) return std::nullopt;
  return Metrics{{"loss", r->loss}, {"accuracy", r->accuracy}, {"samples", double(r->samples)}};
}

}  // namespace

Metrics evaluate_task(StepBackend& backend, const Task& task, Split split,
                      int batch_size, int64_t max_simulations, Comm& comm, int64_t limit) {
  return *evaluate_task_impl(backend, task, split, batch_size, max_simulations, comm, limit, nullptr);
}

std::optional<Metrics> evaluate_task_until_stop(StepBackend& backend, const Task& task,
                                                Split split, int batch_size, int64_t max_simulations, Comm& comm,
                                                int64_t limit, const EvalStopCheck& want_stop) {
  return evaluate_task_impl(backend, task, split, batch_size, max_simulations, comm, limit, &want_stop);
}

}  // namespace elm
