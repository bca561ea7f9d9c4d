#include <algorithm>
#include <cmath>
#include <cstdio>
#include <iostream>

#include "cli/commands.hpp"
#include "core/error.hpp"
#include "core/number_text.hpp"
#include "io/hdf5_io.hpp"
#include "io/output_dir.hpp"
#include "model/elm_model.hpp"
#include "data/task.hpp"
#include "train/classification_metrics.hpp"
#include "train/evaluate.hpp"
#include "train/run_record.hpp"
#include "train/loss.hpp"
#include "train/neuronio_metrics.hpp"
#include "train/run_config.hpp"
#include "train/step_backend.hpp"

namespace po = boost::program_options;

namespace elm {

namespace {

// Runs the model on an HDF5 data file holding `input` [B, T, n_in] and the
// targets of one loss (targets/labels or targets/target_spike + target_soma),
// the layout of the golden and pretrained reference files.
int eval_data_file(const ElmModel& model, const std::string& data_path, const StepBackendOptions& where,
                   const std::string& out_path) {
  if (!out_path.empty()) make_parent_dir(out_path, "--out");  // before the work, not after it
  H5Reader r(data_path);
  auto input = r.read_float("input");
  ELM_CHECK(input.shape.size() == 3, data_path, ": 'input' must be [B, T, n_in], got rank ", input.shape.size());
  ELM_CHECK(input.shape[2] == model.config.num_input, data_path, ": 'input' has ", input.shape[2],
            " channels, the checkpoint's model expects ", model.config.num_input);
  const int B = int(input.shape[0]), T = int(input.shape[1]), d_o = model.config.num_output;
  InputBatch dense{B, T, int(input.shape[2]), DenseInput{std::move(input.data)}};
  dense.validate();
  // Spike-like data (mostly zeros) runs as events, as in training.
  const auto& v = std::get<DenseInput>(dense.data).data;
  const bool sparse = std::count(v.begin(), v.end(), 0.0f) > int64_t(v.size()) * 3 / 4;
  const InputBatch x = sparse ? spikes_from_dense(dense) : dense;
  const auto backend =
      make_step_backend(model.config, model.routing, TaskLoss::LastStepCrossEntropy, OptimizerConfig{}, where);
  backend->set_params(model.params);
  std::vector<float> y, dy(size_t(B) * T * d_o);
  backend->forward_outputs(x, y);
  std::printf("eval on %s: B=%d T=%d (%s, %s)\n", data_path.c_str(), B, T,
              sparse ? "mostly-zero input, run as events" : "dense input",
              backend->description().c_str());
  // A reference case (golden and shared/pretrained files) holds the outputs the
  // reference implementation computed: agreement with those is the check that
  // means something; the metrics of a few random-input samples do not.
  if (r.has("output")) {
    const auto ref = r.read_float("output");
    ELM_CHECK(ref.size() == int64_t(y.size()), data_path, ": 'output' has ", ref.size(), " values, the model gives ",
              y.size(), " ([B, T, d_o] = [", B, ", ", T, ", ", d_o, "])");
    double max_diff = 0, max_abs = 0;
    for (size_t q = 0; q < y.size(); ++q) {
      max_diff = std::max(max_diff, std::fabs(double(y[q]) - double(ref.data[q])));
      max_abs = std::max(max_abs, std::fabs(double(ref.data[q])));
    }
    std::printf("reference output: largest |difference| %.3g (largest |output| %.3g): %s\n", max_diff, max_abs,
                max_diff <= 1e-4 * std::max(1.0, max_abs) ? "matches the reference"
                                                          : "DIFFERS from the reference");
    std::printf("(a reference case of %d sample(s): the metrics below check the code, they are not the "
                "model's evaluation)\n", B);
  }
  if (r.has("targets/target_spike")) {
    auto spike = r.read_float("targets/target_spike");
    auto soma = r.read_float("targets/target_soma");
    ELM_CHECK(spike.size() == int64_t(B) * T && soma.size() == int64_t(B) * T, data_path,
              ": targets must be [B, T] = [", B, ", ", T, "]");
    const float loss = neuronio_loss(y.data(), B, T, d_o, spike.data.data(), soma.data.data(), dy.data());
    std::printf("loss=%.6f (0.5 BCE + 0.5 MSE)\n", loss);
    std::vector<double> st(spike.data.begin(), spike.data.end()), sp(st.size()), so(st.size()), sm(st.size());
    for (size_t q = 0; q < st.size(); ++q) {
      sp[q] = 1.0 / (1.0 + std::exp(-double(y[q * d_o])));
      sm[q] = double(y[q * d_o + 1]) / 0.1;  // the reference's soma scale
      so[q] = double(soma.data[q]) / 0.1;
    }
    bool has_both = false;
    for (double s : st) has_both |= s > 0.5;
    if (has_both) {
      const NeuronioMetrics m = compute_neuronio_metrics(st, sp, so, sm);
      for (const auto& [name, value] : m.named_values()) std::printf("%s=%.6f\n", name.c_str(), value);
    }
  } else if (r.has("targets/labels")) {
    auto labels = r.read_int("targets/labels");
    ELM_CHECK(labels.size() == B, data_path, ": targets/labels must have ", B, " entries");
    const float loss = last_step_cross_entropy(y.data(), B, T, d_o, labels.data.data(), dy.data());
    std::vector<float> last(size_t(B) * d_o);
    for (int b = 0; b < B; ++b) std::copy_n(y.data() + (size_t(b) * T + T - 1) * d_o, d_o, last.data() + b * d_o);
    std::printf("loss=%.6f (last-step cross-entropy)\naccuracy=%.6f\n", loss,
                accuracy_from_logits(last, labels.data, d_o));
  } else {
    std::printf("no targets in %s: outputs only\n", data_path.c_str());
  }
  if (!out_path.empty()) {
    H5AtomicWriter w(out_path);
    w.write_float("output", y.data(), {B, T, d_o});
    w.commit();
    std::printf("wrote outputs to %s\n", out_path.c_str());
  }
  return 0;
}

// Runs the model on a split of the task a run config names (its dataset
// store), with the task's own evaluation: what a run's final test computes.
int eval_split(const ElmModel& model, const std::string& config_path, const std::vector<std::string>& overrides,
               const std::string& split_name, int batch_size, const StepBackendOptions& where) {
  const RunConfig rc = RunConfig::load(config_path, overrides);
  const Split split = split_name == "valid" ? Split::Valid : split_name == "test" ? Split::Test : Split::Train;
  ELM_CHECK(split_name == "valid" || split_name == "test" || split_name == "train", "--split '", split_name,
            "': expected valid, test or train");
  ELM_CHECK(rc.model.num_input == model.config.num_input && rc.model.num_output == model.config.num_output,
            config_path, ": its task has ", rc.model.num_input, " inputs and ", rc.model.num_output,
            " outputs, the checkpoint's model ", model.config.num_input, " and ", model.config.num_output);
  // The task with the checkpoint's model (a paired task reads its head's classes from it).
  const auto task = make_task(rc.task, model.config);
  const auto backend = make_step_backend(model.config, model.routing, task->loss(), OptimizerConfig{}, where);
  backend->set_params(model.params);
  SerialComm serial;
  const int B = batch_size > 0 ? batch_size : rc.train.batch_size;
  std::printf("eval on %s, %s split (%lld samples, batch %d, %s)\n", task->name().c_str(), to_string(split),
              (long long)task->num_samples(split), B, backend->description().c_str());
  const Metrics m = evaluate_task(*backend, *task, split, B, -1, serial);
  std::printf("%s\n", metrics_text(m).c_str());
  return 0;
}

}  // namespace

int eval_command(const std::vector<std::string>& args) {
  po::options_description opts("elmrun eval: run a checkpoint on data and report loss and metrics");
  std::string checkpoint, data, out, config, split = "test";
  std::vector<std::string> sets;
  int threads = 1, batch_size = 0;
  opts.add_options()("help,h", "show this help")("checkpoint,m", po::value(&checkpoint)->required(),
                                                 "checkpoint .h5 (elmrun train, or converted from PyTorch)")(
      "data,d", po::value(&data),
      "HDF5 data file: 'input' [B,T,n_in] plus targets/labels or targets/target_spike+target_soma "
      "(a reference case's 'output' is compared too)")(
      "config,c", po::value(&config),
      "instead of --data: the run config (INI) whose task and dataset store to evaluate on, with the task's "
      "own metrics (--set task.store=DIR to point it elsewhere)")(
      "split", po::value(&split)->default_value("test"), "with --config: valid, test or train")(
      "batch-size", po::value(&batch_size)->default_value(0), "with --config: evaluation batch (0: train.batch_size)")(
      "threads,t", po::value(&threads)->default_value(1), "CPU threads")(
      "out,o", po::value(&out), "write the outputs [B,T,d_o] to this HDF5 file")(
      "set", po::value(&sets)->composing(),
      "train.backend=cpu|cuda or train.threads=N (as for train; repeatable); with --config any section.key");
  if (std::find(args.begin(), args.end(), "--help") != args.end() ||
      std::find(args.begin(), args.end(), "-h") != args.end()) {
    std::cout << opts;
    return 0;
  }
  parse_command_line(args, opts);
  ELM_CHECK(threads >= 1 && threads <= 256, "--threads must be in [1, 256]");
  ELM_CHECK(data.empty() != config.empty(), "elmrun eval needs exactly one of --data FILE and --config CFG");
  ELM_CHECK(config.empty() || out.empty(), "--out writes the outputs of --data; with --config the metrics are printed");
  StepBackendOptions where;
  where.threads = threads;
  for (const auto& [key, value] : parse_overrides(sets)) {
    if (key == "train.backend") where.kind = parse_backend_kind(value);
    else if (key == "train.threads") where.threads = int(parse_int(value, key, "--set"));
    else if (config.empty()) fail("--set ", key, ": eval of --data takes train.backend and train.threads only");
  }
  ELM_CHECK(where.threads >= 1 && where.threads <= 256, "--set train.threads must be in [1, 256]");
  const ElmModel model = read_checkpoint(checkpoint);
  if (!config.empty()) return eval_split(model, config, sets, split, batch_size, where);
  return eval_data_file(model, data, where, out);
}

}  // namespace elm
