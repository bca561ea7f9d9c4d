#include "train/evaluate.hpp"

#include <algorithm>
#include <memory>

#include "data/neuronio_eval.hpp"
#include "data/neuronio_task.hpp"
#include "data/store/dataset_store.hpp"
#include "data/store_tasks.hpp"
#include "train/classification_metrics.hpp"
#include "train/loss.hpp"
#include "train/two_tower.hpp"

namespace elm {

EvalResult evaluate_classification(CpuElm<float>& elm, const std::vector<float>& params, const Task& task,
                                   Split split, int batch_size, Comm& comm, int64_t limit) {
  int64_t n = task.num_samples(split);
  if (limit > 0) n = std::min(n, limit);
  const int W = comm.size(), r = comm.rank();
  std::vector<int64_t> shard;
  for (int64_t i = r; i < n; i += W) shard.push_back(i);
  double loss_sum = 0, correct = 0;
  std::vector<float> y, dy, last;
  // Pairs (retrieval): the two-tower model's cross-entropy and accuracy.
  const auto* paired = dynamic_cast<const PairedTask*>(&task);
  std::unique_ptr<TwoTowerElm<float>> two_tower;
  if (paired) two_tower = std::make_unique<TwoTowerElm<float>>(elm);
  for (size_t b0 = 0; b0 < shard.size(); b0 += size_t(batch_size)) {
    const std::vector<int64_t> idx(shard.begin() + b0, shard.begin() + std::min(shard.size(), b0 + batch_size));
    const Batch batch = task.make_batch(split, idx);
    if (two_tower) {
      const int pairs = int(batch.labels.size());
      loss_sum += double(two_tower->forward(params.data(), batch.x, batch.labels)) * pairs;
      correct += accuracy_from_logits(two_tower->logits(), batch.labels, size_t(paired->num_classes())) * pairs;
      continue;
    }
    const int B = batch.x.batch, T = batch.x.steps, C = task.num_output();
    y.resize(size_t(B) * T * C);
    dy.resize(y.size());
    elm.forward(params.data(), batch.x, y.data());
    loss_sum += double(last_step_cross_entropy(y.data(), B, T, C, batch.labels.data(), dy.data())) * B;
    last.resize(size_t(B) * C);
    for (int b = 0; b < B; ++b)
      std::copy_n(y.data() + (size_t(b) * T + T - 1) * C, C, last.data() + size_t(b) * C);
    correct += accuracy_from_logits(last, batch.labels, C) * B;
  }
  double sums[3] = {loss_sum, correct, double(shard.size())};
  comm.allreduce_sum(std::span<double>(sums, 3));
  EvalResult res;
  res.samples = int64_t(sums[2]);
  res.loss = res.samples ? sums[0] / sums[2] : 0.0;
  res.accuracy = res.samples ? sums[1] / sums[2] : 0.0;
  return res;
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

Metrics evaluate_task(CpuElm<float>& elm, const std::vector<float>& params, const Task& task, Split split,
                      int batch_size, int64_t max_simulations, Comm& comm, int64_t limit) {
  if (auto* nio = dynamic_cast<const NeuronioTask*>(&task)) {
    Metrics m;
    if (comm.rank() == 0) {
      const StoreReader store(nio->store_path(split));
      NeuronioEvalOptions opts;
      opts.max_simulations = max_simulations;
      const NeuronioEvalResult r = evaluate_neuronio_file(elm, params.data(), store, opts);
      m = r.metrics.named_values();
      m.emplace_back("simulations_kept", double(r.kept));
    }
    broadcast_metrics(comm, m, 0);
    return m;
  }
  const EvalResult r = evaluate_classification(elm, params, task, split, batch_size, comm, limit);
  return {{"loss", r.loss}, {"accuracy", r.accuracy}, {"samples", double(r.samples)}};
}

}  // namespace elm
