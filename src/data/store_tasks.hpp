#pragma once
// Classification tasks read from the dataset store (docs/dataset-store.md), and
// the built-in synthetic ListOps task. make_task (data/task.cpp) dispatches here.
//
// Every store task takes `task.store` = the directory holding <split>.h5 as
// written by `elmrun prep` (train.h5, valid.h5, test.h5). The store is opened
// by the task's constructor (i.e. by make_task), never by config loading; a
// missing split, a store of another task or a wrong vocabulary is a one-line
// ElmError naming the file or the config key. Unknown task keys are errors too.
//
// Events (SHD, SHD-Adding): spikes binned with task.bin_ms (default 2 ms ->
// T = 500 steps of 700 channels; bin_shd_sample), the cell value is the spike
// count. model.delta_t must equal task.bin_ms. Training batches drop each
// nonzero (bin, channel) cell with probability task.input_dropout (default 0.5;
// the reference sets it to 0 without rescaling the rest: inputs[rand < p] = 0),
// drawn from CounterRng(task.seed, kDropoutStream + step) at index
// (sample * T + t) * 700 + channel, so a step's batch is reproducible and
// independent of how the batch is split across ranks. Validation and test
// batches (and make_batch on any split) never drop.
//   shd          20 classes; splits = the store's files.
//   shd_adding   two samples of the same split drawn with shd_adding_draw and
//                concatenated (T = 2 * 1000/bin_ms), label (y1 mod 10) + (y2 mod 10),
//                19 classes. Sizes: task.adding_samples_per_epoch (train, default
//                16000 = the reference's 2000 batches of 8), adding_valid_samples
//                (4000), adding_test_samples (16000). Valid/test pair i is fixed
//                (stream seed*3 + split); a training pair is drawn from index
//                step * adding_samples_per_epoch + i, so every step sees fresh
//                pairs (as the reference, which draws new pairs every batch).
//
// Tokens (LRA): one token per step as TokenInput, one-hot over the vocabulary
// (model.num_input must equal it). Every sample of a task has the same length T;
// a shorter sample is padded AT THE END with id -1 (an all-zero input row, so
// padding adds no input and the memory only decays until the last step, where
// the loss reads the output), a longer one is truncated to its first T tokens.
// End padding is what LRA's pipelines do (they pad to max_length at the end).
//   listops      vocabulary 15 (store encoding), T = 2000 (task.seq_len), 10 classes
//   text         vocabulary 256 (bytes), T = 4096 (task.seq_len), 2 classes. The
//                store has no valid split: valid = a Bernoulli(task.valid_fraction,
//                default 0.1) mask over train.h5 drawn from CounterRng(task.seed,
//                kValidMaskStream), train = the rest (set valid_fraction = 0 to
//                read valid.h5 instead).
//   image        CIFAR-10 gray, T = 1024, 10 classes
//   sfmnist      sequential Fashion-MNIST (store task "fmnist", `elmrun prep fmnist`):
//                28x28 gray in raster order, T = 784, 10 classes. task.pool = p
//                (a divisor of 28, default 1) averages p x p blocks first, rounded
//                half up ((sum + p*p/2) / (p*p), integer division), before the
//                quantisation: p = 2 gives 14x14, T = 196.
//   pathfinder   any resolution R (T = R*R from the store), 2 classes
//   pathx        128x128, T = 16384, 2 classes
// Images are quantised to task.gray_levels L (default 16, Path-X 8) as
// id = gray * L / 256 (integer division: equal-width bins of 256/L gray values),
// vocabulary L.
//   retrieval    pairs of byte documents (fields tokens, tokens_b; vocabulary 256),
//                T = 4000 per document, 2 classes, for the two-tower model
//                (train/two_tower.hpp; needs model.head_hidden > 0, model.num_output
//                = the tower's latent size). make_batch of B pairs returns 2B input
//                rows (the A documents, then the B documents) and B labels; the
//                task is a PairedTask and its num_output() is the latent size.
//
// synthetic_listops: ListOps expressions generated on the fly
// (data/synthetic/listops_generator.hpp), no store; the same vocabulary (15) and
// padding as `listops`. Options: max_depth, max_args, min_length, max_length,
// seq_len (default max_length), train_samples, valid_samples, test_samples, seed.
// Sample i of a split is generate_listops(options, seed + split (0, 1, 2), i),
// which is what write_synthetic_listops_store writes.
#include <memory>
#include <span>
#include <string>

#include "data/task.hpp"

namespace elm {

struct TaskConfig;

inline constexpr uint64_t kDropoutStream = 0x64726f70ULL << 24;   // "drop"
inline constexpr uint64_t kValidMaskStream = 0x76616c6964ULL;     // "valid"

// The tasks of this file by task.name; nullptr for any other name. Checks the
// options, opens the store and checks model.num_input / num_output / delta_t.
std::unique_ptr<Task> make_store_task(const TaskConfig& config, const ElmConfig& model);
// The names make_store_task knows, for error messages.
const char* store_task_names();

}  // namespace elm
