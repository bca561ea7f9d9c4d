#pragma once
// Evaluation of a model on a split, sharded over the ranks of a run: rank r
// takes samples r, r + W, ... (no padding, so shards may be uneven) and the
// (sum, count) pairs are all-reduced, giving every rank the metrics one rank
// would compute alone.
#include <cstdint>
#include <functional>
#include <optional>
#include <vector>

#include "data/task.hpp"
#include "dist/comm.hpp"
#include "train/run_record.hpp"
#include "train/step_backend.hpp"

namespace elm {

struct EvalResult {
  double loss = 0;
  double accuracy = 0;
  int64_t samples = 0;
};

// Every function evaluates the backend's current parameters.
// Mean cross-entropy and accuracy (last step, or the pairs' head) over the
// first `limit` samples of a split (limit <= 0: all).
EvalResult evaluate_classification(StepBackend& backend, const Task& task,
                                   Split split, int batch_size, Comm& comm, int64_t limit = 0);

// The task's own evaluation: loss and accuracy for classification; for
// NeuronIO, the reference protocol's metrics (max_simulations < 0: all),
// computed on rank 0 and sent to the others (its AUC needs every prediction).
Metrics evaluate_task(StepBackend& backend, const Task& task, Split split,
                      int batch_size, int64_t max_simulations, Comm& comm, int64_t limit = 0);

// Asked between evaluation batches: true when this rank wants to stop (a
// signal). The ranks agree through a one-value all-reduce per batch, so an
// evaluation never holds a stop hostage for longer than one batch.
using EvalStopCheck = std::function<bool()>;

// evaluate_task that gives up when a stop is wanted: nullopt on every rank.
std::optional<Metrics> evaluate_task_until_stop(StepBackend& backend, const Task& task,
                                                Split split, int batch_size, int64_t max_simulations, Comm& comm,
                                                int64_t limit, const EvalStopCheck& want_stop);

// Sends rank `root`'s metrics (names and values) to every rank of comm.
void broadcast_metrics(Comm& comm, Metrics& metrics, int root);

}  // namespace elm
