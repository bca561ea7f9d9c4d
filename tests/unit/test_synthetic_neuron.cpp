// The built-in synthetic neuron: deterministic, plausible, and a store that the
// NeuronIO pipeline (task, model, loss, evaluation) runs on end to end.
#include <gtest/gtest.h>

#include <cmath>
#include <numeric>
#include <sstream>

#include "backend/cpu/elm_cpu.hpp"
#include "core/error.hpp"
#include "data/neuronio_task.hpp"
#include "data/synthetic/synthetic_neuron.hpp"
#include "model/elm_model.hpp"
#include "test_support.hpp"
#include "train/loss.hpp"
#include "train/neuronio_protocol.hpp"

namespace elm {
namespace {

using test::TempDir;

bool same(const SyntheticNeuronSimulation& a, const SyntheticNeuronSimulation& b) {
  return a.event_time == b.event_time && a.event_channel == b.event_channel && a.soma == b.soma &&
         a.output_spike_ms == b.output_spike_ms;
}

TEST(SyntheticNeuron, DeterministicAndSeeded) {
  SyntheticNeuronOptions o;
  o.channels = 128;
  o.duration_ms = 2000;
  const auto a = simulate_synthetic_neuron(o, 0, 3);
  const auto b = simulate_synthetic_neuron(o, 0, 3);
  EXPECT_TRUE(same(a, b));
  EXPECT_FALSE(same(a, simulate_synthetic_neuron(o, 0, 4)));  // another simulation
  EXPECT_FALSE(same(a, simulate_synthetic_neuron(o, 1, 3)));  // another split
  SyntheticNeuronOptions o2 = o;
  o2.seed = 2;
  EXPECT_FALSE(same(a, simulate_synthetic_neuron(o2, 0, 3)));
  // Events sorted by (time, channel), in range, no duplicates.
  ASSERT_EQ(a.event_time.size(), a.event_channel.size());
  for (size_t i = 0; i < a.event_time.size(); ++i) {
    ASSERT_GE(a.event_time[i], 0);
    ASSERT_LT(a.event_time[i], o.duration_ms);
    ASSERT_LT(a.event_channel[i], o.channels);
    if (i > 0) {
      const int64_t k0 = int64_t(a.event_time[i - 1]) * o.channels + a.event_channel[i - 1];
      const int64_t k1 = int64_t(a.event_time[i]) * o.channels + a.event_channel[i];
      ASSERT_LT(k0, k1);
    }
  }
}

TEST(SyntheticNeuron, FullSizeSpikesAreSparseAndSomaPlausible) {
  const SyntheticNeuronOptions o;  // 1278 channels, 6000 ms
  const int sims = 24;
  int64_t spikes = 0, events = 0, over24 = 0, silent = 0;
  double soma_sum = 0;
  int64_t soma_n = 0;
  for (int s = 0; s < sims; ++s) {
    const auto sim = simulate_synthetic_neuron(o, 0, s);
    ASSERT_EQ(sim.soma.size(), 6000u);
    spikes += int64_t(sim.output_spike_ms.size());
    events += int64_t(sim.event_time.size());
    over24 += sim.output_spike_ms.size() > 24;
    silent += sim.output_spike_ms.empty();
    for (float tau : sim.output_spike_ms) {
      ASSERT_GT(tau, 0.0f);
      ASSERT_LE(tau, 6000.0f);
      // The peak sample is the ms in which the neuron crossed threshold.
      EXPECT_EQ(sim.soma[size_t(std::ceil(tau) - 1)], 20.0f);
    }
    for (float v : sim.soma) {
      if (v == 20.0f) continue;
      ASSERT_GE(v, -95.0f);
      ASSERT_LT(v, -55.0f);
      soma_sum += v;
      ++soma_n;
    }
  }
  const double rate_hz = double(spikes) / (sims * 6.0);
  EXPECT_GE(rate_hz, 0.5);
  EXPECT_LE(rate_hz, 5.0);
  EXPECT_GT(sims - silent, sims / 3) << "most simulations should spike";
  EXPECT_LT(over24, sims / 3) << "most simulations should pass the 0..24 filter";
  const double mean_v = soma_sum / double(soma_n);
  EXPECT_GT(mean_v, -75.0);
  EXPECT_LT(mean_v, -62.0);
  // Input rate per channel: the configured 2 Hz on average (levels and modulation average to 1).
  const double in_rate = double(events) / (sims * 1278 * 6.0);
  EXPECT_GT(in_rate, 1.5);
  EXPECT_LT(in_rate, 2.5);
}

TEST(SyntheticNeuron, OptionErrors) {
  EXPECT_THROW(SyntheticNeuronOptions::from_key_values({{"channels", "7"}}, "gen"), ElmError);
  EXPECT_THROW(SyntheticNeuronOptions::from_key_values({{"branches", "0"}}, "gen"), ElmError);
  EXPECT_THROW(SyntheticNeuronOptions::from_key_values({{"bogus", "1"}}, "gen"), ElmError);
  const auto o = SyntheticNeuronOptions::from_key_values({{"channels", "64"}, {"exc_rate_hz", "3.5"}}, "gen");
  EXPECT_EQ(o.channels, 64);
  EXPECT_EQ(o.exc_rate_hz, 3.5);
}

class SyntheticStore : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir("elm-synth-neuron");
    opts_.channels = 64;
    opts_.duration_ms = 1500;
    opts_.branches = 4;
    opts_.train_simulations = 6;
    opts_.valid_simulations = 3;
    opts_.test_simulations = 3;
    opts_.seed = 11;
    std::ostringstream log;
    write_synthetic_neuron_store(dir_->path().string(), opts_, log);
    log_ = log.str();
  }
  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
  }
  static TempDir* dir_;
  static SyntheticNeuronOptions opts_;
  static std::string log_;
};
TempDir* SyntheticStore::dir_ = nullptr;
SyntheticNeuronOptions SyntheticStore::opts_;
std::string SyntheticStore::log_;

TEST_F(SyntheticStore, StoreHoldsTheSimulationsInNeuronioLayout) {
  EXPECT_NE(log_.find("test.h5"), std::string::npos) << log_;
  StoreReader r(dir_->file("valid.h5"));
  const NeuronioStoreShape shape = check_neuronio_store(r);
  EXPECT_EQ(shape.channels, 64);
  EXPECT_EQ(shape.duration_ms, 1500);
  EXPECT_EQ(shape.simulations, 3);
  EXPECT_EQ(r.info().task, "neuronio");
  EXPECT_EQ(r.info().input_kind, "events");
  for (int64_t s = 0; s < 3; ++s) {
    const auto want = simulate_synthetic_neuron(opts_, 1, s);
    const NeuronioSimulation got = read_neuronio_simulation(r, shape, s);
    EXPECT_EQ(got.event_time, want.event_time);
    EXPECT_EQ(got.event_channel, std::vector<int32_t>(want.event_channel.begin(), want.event_channel.end()));
    EXPECT_EQ(got.soma, want.soma);
    EXPECT_EQ(got.output_spike_ms, want.output_spike_ms);
  }
}

TEST_F(SyntheticStore, TaskBatchesMatchTheSimulations) {
  NeuronioTaskOptions o;
  o.store = dir_->path().string();
  o.window = 200;
  o.windows_per_epoch = 32;
  NeuronioTask task(o);
  EXPECT_EQ(task.num_input(), 64);
  EXPECT_EQ(task.num_samples(Split::Valid), 3 * 5);  // (1500 - 500) / 200 windows per simulation
  std::vector<int64_t> idx(8);
  std::iota(idx.begin(), idx.end(), 0);
  const Batch batch = task.make_batch(Split::Train, idx);
  EXPECT_NO_THROW(batch.x.validate());
  const auto& in = std::get<SpikeInput>(batch.x.data);
  for (int b = 0; b < 8; ++b) {
    const NeuronioWindow w = task.window_of(Split::Train, idx[size_t(b)]);
    const auto sim = simulate_synthetic_neuron(opts_, 0, w.simulation);
    // Events of the window, in order, with their signs.
    size_t e = size_t(in.offsets[size_t(b) * 200]);
    for (size_t k = 0; k < sim.event_time.size(); ++k) {
      const int64_t t = sim.event_time[k];
      if (t < w.start || t >= w.start + 200) continue;
      ASSERT_LT(e, size_t(in.offsets[size_t(b) * 200 + size_t(t - w.start) + 1]));
      EXPECT_EQ(in.channel[e], sim.event_channel[k]);
      EXPECT_EQ(in.value[e], sim.event_channel[k] < 32 ? 1.0f : -1.0f);
      ++e;
    }
    EXPECT_EQ(int64_t(e), in.offsets[size_t(b + 1) * 200]);
    for (int j = 0; j < 200; ++j)
      EXPECT_EQ(batch.target_soma[size_t(b) * 200 + j], neuronio_train_soma(sim.soma[size_t(w.start + j)]));
    int ones = 0, want = 0;
    for (int j = 0; j < 200; ++j) ones += batch.target_spike[size_t(b) * 200 + j] == 1.0f;
    for (float tau : sim.output_spike_ms) {
      const int64_t i = neuronio_spike_index(tau);
      want += i >= w.start && i < w.start + 200;
    }
    EXPECT_EQ(ones, want);
  }
}

TEST_F(SyntheticStore, ModelLossAndEvaluationRunEndToEnd) {
  NeuronioTaskOptions o;
  o.store = dir_->path().string();
  o.window = 200;
  NeuronioTask task(o);
  ElmConfig c;
  c.num_input = task.num_input();
  c.num_output = task.num_output();
  c.num_memory = 8;
  c.num_branch = 8;
  c.num_synapse_per_branch = 8;
  c.routing = SynapseRouting::NeuronIO;
  c.memory_tau_max = 150;
  const ElmModel model = ElmModel::initialized(c, 3);
  CpuElm<float> elm(model.config, model.routing, 1);
  const Batch batch = task.make_batch(Split::Train, std::vector<int64_t>{0, 1, 2, 3});
  std::vector<float> y(size_t(4) * 200 * 2), dy(y.size());
  elm.forward(model.params.data(), batch.x, y.data());
  const float loss = neuronio_loss(y.data(), 4, 200, 2, batch.target_spike.data(), batch.target_soma.data(), dy.data());
  EXPECT_TRUE(std::isfinite(loss));
  EXPECT_GT(loss, 0.0f);

  StoreReader test_store(dir_->file("test.h5"));
  const NeuronioForward forward = [&](const InputBatch& x, std::span<const NeuronioWindow>, float* out) {
    elm.forward(model.params.data(), x, out);
  };
  const NeuronioEvalResult r = evaluate_neuronio_file(forward, model.config.num_output, test_store);
  EXPECT_EQ(r.simulations, 3);
  EXPECT_EQ(r.points, r.kept * 1000);
  EXPECT_TRUE(std::isfinite(r.metrics.soma_rmse));
  EXPECT_TRUE(std::isfinite(r.metrics.soma_explained_variance_percent));
  if (r.kept > 0) {
    EXPECT_GE(r.metrics.auc, 0.0);
    EXPECT_LE(r.metrics.auc, 1.0);
  }
}

}  // namespace
}  // namespace elm
