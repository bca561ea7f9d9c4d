#include "step_backend_compare.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <ostream>

#include "core/error.hpp"
#include "core/rng.hpp"

namespace elm::test {

std::ostream& operator<<(std::ostream& os, const TaskCase& c) { return os << c.name; }

const std::vector<TaskCase>& task_cases() {
  static const std::vector<TaskCase> cases = {
      {"ce_spikes", TaskLoss::LastStepCrossEntropy, Kind::Spikes},
      {"ce_tokens", TaskLoss::LastStepCrossEntropy, Kind::Tokens},
      {"ce_dense", TaskLoss::LastStepCrossEntropy, Kind::Dense},
      {"neuronio", TaskLoss::Neuronio, Kind::Spikes},
      {"paired", TaskLoss::PairedCrossEntropy, Kind::Spikes},
  };
  return cases;
}

const TaskCase& task_case(const std::string& name) {
  for (const TaskCase& c : task_cases())
    if (c.name == name) return c;
  fail("no task case '", name, "'");
}

ElmConfig task_model(const TaskCase& c) {
  ElmConfig e;
  e.num_input = 10;
  e.num_memory = 8;
  e.num_output = 4;
  e.routing_seed = 5;
  if (c.loss == TaskLoss::Neuronio) {
    e.num_input = 20;
    e.num_output = 2;
    e.num_branch = 4;
    e.num_synapse_per_branch = 6;
    e.routing = SynapseRouting::NeuronIO;
    e.learn_memory_tau = true;
  }
  if (c.loss == TaskLoss::PairedCrossEntropy) {
    e.num_output = 6;  // the tower's latent size
    e.head_hidden = 5;
    e.head_classes = 3;
  }
  return e;
}

Batch task_batch(const TaskCase& c, const ElmConfig& model, int B, int T, uint64_t seed) {
  const int rows = c.loss == TaskLoss::PairedCrossEntropy ? 2 * B : B;
  const double density = c.loss == TaskLoss::Neuronio ? 0.1 : 0.3;
  Batch b;
  b.x = random_input(c.input, rows, T, model.num_input, density, seed);
  RngStream rng(seed, 29);
  if (c.loss == TaskLoss::Neuronio) {
    for (int i = 0; i < B * T; ++i) {
      b.target_spike.push_back(rng.uniform() < 0.1 ? 1.0f : 0.0f);
      b.target_soma.push_back(float(rng.normal()));
    }
    return b;
  }
  const int classes = c.loss == TaskLoss::PairedCrossEntropy ? model.head_classes : model.num_output;
  for (int i = 0; i < B; ++i) b.labels.push_back(int64_t(rng.below(uint64_t(classes))));
  return b;
}

std::unique_ptr<StepBackend> make_case_backend(BackendKind kind, const TaskCase& c, const ElmConfig& model,
                                               const ElmModel& m, const OptimizerConfig& oc, DeviceComm* device_comm) {
  StepBackendOptions o;
  o.kind = kind;
  o.device_comm = device_comm;
  auto b = make_step_backend(model, m.routing, c.loss, oc, o);
  b->set_params(m.params);
  return b;
}

BackendSnapshot snapshot(StepBackend& b, const OptimizerConfig& oc) {
  BackendSnapshot s;
  s.params.resize(size_t(b.layout().num_params()));
  b.get_params(s.params);
  s.opt = make_optimizer(oc);
  b.get_optimizer_state(*s.opt);
  return s;
}

void restore(StepBackend& b, const BackendSnapshot& s) {
  b.set_params(s.params);
  b.set_optimizer_state(*s.opt);
}

namespace {

double max_abs(const std::vector<float>& v) {
  double m = 0;
  for (float x : v) m = std::max(m, double(std::abs(x)));
  return m;
}

// max |a - b| / max |b|; a NaN anywhere is infinitely far.
double relative_max_error(const std::vector<float>& a, const std::vector<float>& b) {
  if (a.size() != b.size()) return INFINITY;
  double worst = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    const double d = std::abs(double(a[i]) - double(b[i]));
    worst = std::isnan(d) ? INFINITY : std::max(worst, d);
  }
  const double scale = max_abs(b);
  return scale > 0 ? worst / scale : worst;
}

// Per parameter, the size of the second moment the step divides by.
double step_scale(OptimizerKind kind, float second) {
  return kind == OptimizerKind::adamax ? double(second) : std::sqrt(std::max(0.0, double(second)));
}

}  // namespace

StateDifference state_difference(const std::vector<float>& before, const BackendSnapshot& got,
                                 const BackendSnapshot& ref, size_t n_grad, double lr_sum,
                                 const std::vector<float>* got_before) {
  StateDifference d;
  const std::vector<float>& before_got = got_before ? *got_before : before;
  for (size_t k = 0; k < 2; ++k) d.moment[k] = relative_max_error(got.opt->state_buffer(k), ref.opt->state_buffer(k));
  const std::vector<float>& second = ref.opt->state_buffer(1);
  if (second.size() != n_grad || got.params.size() != before.size() || ref.params.size() != before.size() ||
      before_got.size() != before.size()) {
    d.tight = d.loose = INFINITY;
    return d;
  }
  const OptimizerKind kind = ref.opt->kind();
  double max_scale = 0;
  for (float s : second) max_scale = std::max(max_scale, step_scale(kind, s));
  size_t n_tight = 0;
  for (size_t i = 0; i < n_grad; ++i) {
    const double step_got = double(got.params[i]) - before_got[i], step_ref = double(ref.params[i]) - before[i];
    // Equal values are no difference, infinite ones included (a memory tau may be inf).
    double e =
        got.params[i] == ref.params[i] && before_got[i] == before[i] ? 0.0 : std::abs(step_got - step_ref) / lr_sum;
    if (std::isnan(e)) e = INFINITY;
    d.loose = std::max(d.loose, e);
    if (step_scale(kind, second[i]) >= 1e-2 * max_scale) {
      d.tight = std::max(d.tight, e);
      ++n_tight;
    }
  }
  d.tight_fraction = n_grad ? double(n_tight) / double(n_grad) : 0;
  for (size_t i = n_grad; i < before.size(); ++i)
    if (got.params[i] != before_got[i] || ref.params[i] != before[i]) d.fixed_unchanged = false;
  return d;
}

void expect_same_state(const std::vector<float>& before, const BackendSnapshot& got, const BackendSnapshot& ref,
                       size_t n_grad, double lr_sum, const StateTolerance& tol, const std::string& what,
                       const std::vector<float>* got_before) {
  EXPECT_EQ(got.opt->step_count(), ref.opt->step_count()) << what;
  const StateDifference d = state_difference(before, got, ref, n_grad, lr_sum, got_before);
  // Measured figures in the log: what a change of tolerance would be based on.
  std::printf("[ measured ] %s: moments %.2e %.2e, steps tight %.2e (%.0f%% of params) loose %.2e (x lr)\n",
              what.c_str(), d.moment[0], d.moment[1], d.tight, 100 * d.tight_fraction, d.loose);
  EXPECT_LE(d.moment[0], tol.moment) << what << ": first moment (the gradient)";
  EXPECT_LE(d.moment[1], 2 * tol.moment) << what << ": second moment";
  EXPECT_LE(d.tight, tol.tight) << what << ": steps of the well-determined parameters";
  EXPECT_LE(d.loose, tol.loose) << what << ": steps of all parameters";
  EXPECT_GE(d.tight_fraction, tol.min_tight_fraction) << what << ": too few well-determined parameters to say much";
  EXPECT_TRUE(d.fixed_unchanged) << what << ": a non-trainable parameter changed";
}

void expect_same_step_result(const StepResult& got, const StepResult& ref, const std::string& what) {
  EXPECT_EQ(got.updated, ref.updated) << what;
  EXPECT_EQ(got.stop, ref.stop) << what;
  EXPECT_NEAR(got.loss, ref.loss, 1e-4 * std::max(1.0, std::abs(ref.loss))) << what << ": loss";
  EXPECT_NEAR(got.grad_norm, ref.grad_norm, 1e-4 * ref.grad_norm) << what << ": gradient norm";
}

}  // namespace elm::test
