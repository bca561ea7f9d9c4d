// NeuronioTask (training windows and targets) and the NeuronIO evaluation
// protocol (window stitching, rescaling, filtering) on small hand-made stores.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <functional>
#include <map>
#include <set>

#include "core/error.hpp"
#include "data/neuronio_eval_windows.hpp"
#include "data/neuronio_task.hpp"
#include "data/store/dataset_store.hpp"
#include "data/synthetic/synthetic_neuron.hpp"
#include "test_support.hpp"
#include "train/neuronio_protocol.hpp"

namespace elm {
namespace {

using test::TempDir;

// A hand-made simulation, described by formulas the tests recompute.
struct HandSim {
  std::vector<int32_t> time;
  std::vector<uint16_t> channel;
  std::vector<float> soma;
  std::vector<float> spikes;
};

// Events: at step t, channel (t + s) % C when (t + s) % 3 == 0, plus channel
// C - 1 when t % 5 == 0 (sorted by channel within a step).
std::vector<std::pair<int, int>> hand_events_at(int s, int t, int C) {
  std::vector<std::pair<int, int>> ev;
  std::set<int> chans;
  if ((t + s) % 3 == 0) chans.insert((t + s) % C);
  if (t % 5 == 0) chans.insert(C - 1);
  for (int c : chans) ev.push_back({t, c});
  return ev;
}
float hand_soma(int s, int t) { return -80.0f + 0.03f * float(t) - float(s); }

HandSim make_hand_sim(int s, int T, int C, std::vector<float> spikes) {
  HandSim h;
  for (int t = 0; t < T; ++t)
    for (auto [tt, c] : hand_events_at(s, t, C)) {
      h.time.push_back(tt);
      h.channel.push_back(uint16_t(c));
    }
  for (int t = 0; t < T; ++t) h.soma.push_back(hand_soma(s, t));
  h.spikes = std::move(spikes);
  return h;
}

void write_store(const std::string& path, const std::string& split, int C, int T, const std::vector<HandSim>& sims,
                 bool with_spike_field = true) {
  StoreInfo info;
  info.task = "neuronio";
  info.split = split;
  info.source = "test";
  info.input_kind = "events";
  info.channels = C;
  info.max_length = T;
  info.extra["sim_duration_ms"] = std::to_string(T);
  std::map<std::string, FieldType> fields{
      {"event_time", FieldType::Int32}, {"event_channel", FieldType::UInt16}, {"soma", FieldType::Float32}};
  if (with_spike_field) fields["output_spike_ms"] = FieldType::Float32;
  StoreWriter w(path, info, fields);
  for (const HandSim& h : sims) {
    w.append_i32("event_time", h.time);
    w.append_u16("event_channel", h.channel);
    w.append_f32("soma", h.soma);
    if (with_spike_field) w.append_f32("output_spike_ms", h.spikes);
    w.end_sample(-1);
  }
  w.commit();
}

constexpr int kC = 4;     // 2 excitatory, 2 inhibitory
constexpr int kT = 1200;  // ms

// Sim 0 spikes: 650.4 -> index 649, 699.9 -> 699, 700.5 -> 700, 1199.6 -> 1199.
std::vector<HandSim> hand_sims(int n) {
  std::vector<HandSim> v;
  for (int s = 0; s < n; ++s)
    v.push_back(make_hand_sim(s, kT, kC, s == 0 ? std::vector<float>{650.4f, 699.9f, 700.5f, 1199.6f}
                                                : std::vector<float>{float(520 + 37 * s)}));
  return v;
}

class NeuronioTaskTest : public ::testing::Test {
 protected:
  void SetUp() override {
    write_store(dir_.file("train.h5"), "train", kC, kT, hand_sims(3));
    write_store(dir_.file("valid.h5"), "valid", kC, kT, hand_sims(2));
    write_store(dir_.file("test.h5"), "test", kC, kT, hand_sims(2));
  }
  NeuronioTaskOptions options(uint64_t seed = 5) const {
    NeuronioTaskOptions o;
    o.store = dir_.path().string();
    o.window = 100;
    o.windows_per_epoch = 64;
    o.seed = seed;
    return o;
  }
  TempDir dir_{"elm-nio-task"};
};

// Checks one window of a batch against the hand formulas.
void expect_window(const Batch& batch, int b, int sim, int64_t start, const std::vector<float>& spikes) {
  const int T = batch.x.steps;
  const auto& in = std::get<SpikeInput>(batch.x.data);
  for (int j = 0; j < T; ++j) {
    const int t = int(start) + j;
    const auto want = hand_events_at(sim, t, kC);
    const int64_t e0 = in.offsets[size_t(b) * T + j], e1 = in.offsets[size_t(b) * T + j + 1];
    ASSERT_EQ(e1 - e0, int64_t(want.size())) << "b " << b << " step " << j;
    for (int64_t e = e0; e < e1; ++e) {
      const int c = want[size_t(e - e0)].second;
      EXPECT_EQ(in.channel[size_t(e)], c);
      EXPECT_EQ(in.value[size_t(e)], c < kC / 2 ? 1.0f : -1.0f) << "input sign of channel " << c;
    }
    const float v = hand_soma(sim, t);
    EXPECT_NEAR(batch.target_soma[size_t(b) * T + j], (std::min(v, -55.0f) + 67.7f) * 0.1f, 1e-6);
    float want_spike = 0;
    for (float tau : spikes)
      if (int(tau - 0.5f) == t) want_spike = 1;
    EXPECT_EQ(batch.target_spike[size_t(b) * T + j], want_spike) << "b " << b << " t " << t;
  }
}

TEST_F(NeuronioTaskTest, TrainWindowsInRangeDeterministicAndSeeded) {
  NeuronioTask task(options());
  NeuronioTask again(options());
  NeuronioTask other(options(6));
  EXPECT_EQ(task.num_input(), kC);
  EXPECT_EQ(task.num_output(), 2);
  EXPECT_EQ(task.num_samples(Split::Train), 64);
  std::set<int64_t> sims, starts;
  int same_as_other = 0;
  for (int64_t i = 0; i < 400; ++i) {
    const NeuronioWindow w = task.window_of(Split::Train, i);
    ASSERT_GE(w.start, 500);
    ASSERT_LT(w.start, kT - 100);  // [500, T - window)
    ASSERT_GE(w.simulation, 0);
    ASSERT_LT(w.simulation, 3);
    const NeuronioWindow w2 = again.window_of(Split::Train, i);
    EXPECT_EQ(w.simulation, w2.simulation);
    EXPECT_EQ(w.start, w2.start);
    const NeuronioWindow w3 = other.window_of(Split::Train, i);
    same_as_other += w.simulation == w3.simulation && w.start == w3.start;
    sims.insert(w.simulation);
    starts.insert(w.start);
  }
  EXPECT_EQ(sims.size(), 3u);
  EXPECT_GT(starts.size(), 200u) << "starts should cover [500, 1100)";
  EXPECT_EQ(*starts.begin() >= 500 && *starts.rbegin() < 1100, true);
  EXPECT_LT(same_as_other, 10) << "the seed must change the windows";
  // Epoch keys beyond num_samples are valid training indices.
  EXPECT_EQ(task.train_window_key(2, 5), 2 * 64 + 5);
  EXPECT_NO_THROW(task.window_of(Split::Train, task.train_window_key(3, 7)));

  // A training batch equals the hand formulas at its windows.
  const std::vector<int64_t> idx{0, 17, 250};
  const Batch batch = task.make_batch(Split::Train, idx);
  ASSERT_EQ(batch.x.batch, 3);
  ASSERT_EQ(batch.x.steps, 100);
  ASSERT_EQ(batch.x.channels, kC);
  EXPECT_NO_THROW(batch.x.validate());
  const auto all = hand_sims(3);
  for (int b = 0; b < 3; ++b) {
    const NeuronioWindow w = task.window_of(Split::Train, idx[size_t(b)]);
    expect_window(batch, b, int(w.simulation), w.start, all[size_t(w.simulation)].spikes);
  }
  // Same indices, same batch (a pure function of seed and index).
  const Batch again_batch = again.make_batch(Split::Train, idx);
  EXPECT_EQ(std::get<SpikeInput>(again_batch.x.data).channel, std::get<SpikeInput>(batch.x.data).channel);
  EXPECT_EQ(again_batch.target_soma, batch.target_soma);
}

TEST_F(NeuronioTaskTest, HandCheckedTargetsOnTheValidGrid) {
  NeuronioTask task(options());
  // Valid grid: W = (1200 - 500) / 100 = 7 windows per simulation at 500, 600, ...
  EXPECT_EQ(task.num_samples(Split::Valid), 2 * 7);
  EXPECT_EQ(task.num_samples(Split::Test), 2 * 7);
  const NeuronioWindow w = task.window_of(Split::Valid, 8);
  EXPECT_EQ(w.simulation, 1);
  EXPECT_EQ(w.start, 600);
  EXPECT_THROW(task.window_of(Split::Valid, 14), ElmError);

  // Sim 0, windows at 600 and 700: spikes 650.4 -> 649 (local 49), 699.9 -> 699
  // (local 99), 700.5 -> 700 (next window, local 0); 1199.6 -> 1199 (window 1100 is
  // not on the grid).
  const std::vector<int64_t> idx{1, 2};
  const Batch batch = task.make_batch(Split::Valid, idx);
  std::vector<int> ones0, ones1;
  for (int j = 0; j < 100; ++j) {
    if (batch.target_spike[size_t(j)] == 1.0f) ones0.push_back(j);
    if (batch.target_spike[size_t(100 + j)] == 1.0f) ones1.push_back(j);
  }
  EXPECT_EQ(ones0, (std::vector<int>{49, 99}));
  EXPECT_EQ(ones1, (std::vector<int>{0}));
  // Soma: V(600) = -62 -> 0.57; V(700 + 99) = -56.03 -> 1.167; V(900) = -53 clips to -55 -> 1.27.
  EXPECT_NEAR(batch.target_soma[0], 0.57f, 1e-5);
  EXPECT_NEAR(batch.target_soma[100 + 99], 1.167f, 1e-5);
  const Batch late = task.make_batch(Split::Valid, std::vector<int64_t>{4});  // start 900
  EXPECT_NEAR(late.target_soma[0], 1.27f, 1e-6);
  EXPECT_NEAR(late.target_soma[99], 1.27f, 1e-6);
  // Inputs: step 600 of sim 0: 600 % 3 == 0 -> channel 0 (+1); 600 % 5 == 0 -> channel 3 (-1).
  const auto& in = std::get<SpikeInput>(batch.x.data);
  ASSERT_EQ(in.offsets[1] - in.offsets[0], 2);
  EXPECT_EQ(in.channel[0], 0);
  EXPECT_EQ(in.value[0], 1.0f);
  EXPECT_EQ(in.channel[1], 3);
  EXPECT_EQ(in.value[1], -1.0f);
  expect_window(batch, 0, 0, 600, hand_sims(1)[0].spikes);
  expect_window(batch, 1, 0, 700, hand_sims(1)[0].spikes);
}

TEST_F(NeuronioTaskTest, OptionErrorsAreOneLine) {
  const auto expect_error = [](const KeyValues& kv, const std::string& needle) {
    try {
      NeuronioTaskOptions::from_key_values(kv, "run.ini");
      ADD_FAILURE() << "no error for " << needle;
    } catch (const ElmError& e) {
      const std::string m = e.what();
      EXPECT_NE(m.find(needle), std::string::npos) << m;
      EXPECT_EQ(m.find('\n'), std::string::npos) << m;
    }
  };
  expect_error({}, "task.store");
  expect_error({{"store", "x"}, {"windows", "3"}}, "task.windows");
  expect_error({{"store", "x"}, {"window", "0"}}, "task.window");
  expect_error({{"store", "x"}, {"windows_per_epoch", "0"}}, "task.windows_per_epoch");
  expect_error({{"store", "x"}, {"cache_mb", "-1"}}, "task.cache_mb");
  expect_error({{"store", "x"}, {"seed", "-1"}}, "task.seed");
  expect_error({{"store", "x"}, {"window", "abc"}}, "task.window");
  const NeuronioTaskOptions o = NeuronioTaskOptions::from_key_values(
      {{"store", "/d"}, {"window", "250"}, {"windows_per_epoch", "80"}, {"seed", "3"}}, "run.ini");
  EXPECT_EQ(o.store, "/d");
  EXPECT_EQ(o.window, 250);
  EXPECT_EQ(o.windows_per_epoch, 80);
  EXPECT_EQ(o.seed, 3u);
  // A window too long for the simulations.
  NeuronioTaskOptions big = options();
  big.window = 700;
  EXPECT_THROW(NeuronioTask{big}, ElmError);
}


TEST(NeuronioStoreErrors, MissingFieldAndShortSomaNameFileAndSimulation) {
  TempDir dir("elm-nio-bad");
  // No output_spike_ms field in train.h5.
  write_store(dir.file("train.h5"), "train", kC, kT, hand_sims(2), /*with_spike_field=*/false);
  write_store(dir.file("valid.h5"), "valid", kC, kT, hand_sims(2));
  write_store(dir.file("test.h5"), "test", kC, kT, hand_sims(2));
  NeuronioTaskOptions o;
  o.store = dir.path().string();
  o.window = 100;
  std::string m = test::expect_one_line_elm_error([&] { NeuronioTask t(o); });
  EXPECT_NE(m.find("train.h5"), std::string::npos) << m;
  EXPECT_NE(m.find("output_spike_ms"), std::string::npos) << m;
  EXPECT_EQ(m.find('\n'), std::string::npos);

  // Simulation 1 of train.h5 has a soma one value short.
  auto sims = hand_sims(2);
  sims[1].soma.pop_back();
  write_store(dir.file("train.h5"), "train", kC, kT, sims);
  NeuronioTask task(o);
  EXPECT_NO_THROW(task.make_batch(Split::Valid, std::vector<int64_t>{0, 7}));
  // Find a training index that lands on simulation 1.
  int64_t i1 = 0;
  while (task.window_of(Split::Train, i1).simulation != 1) ++i1;
  m = test::expect_one_line_elm_error([&] { task.make_batch(Split::Train, std::vector<int64_t>{i1}); });
  EXPECT_NE(m.find("train.h5"), std::string::npos) << m;
  EXPECT_NE(m.find("simulation 1"), std::string::npos) << m;
  EXPECT_NE(m.find("soma has 1199 values, expected 1200"), std::string::npos) << m;
  EXPECT_EQ(m.find('\n'), std::string::npos);
  // The evaluator reads the same way.
  StoreReader reader(dir.file("train.h5"));
  NeuronioEvalOptions eo;
  const NeuronioForward zero = [](const InputBatch& x, std::span<const NeuronioWindow>, float* y) {
    std::fill(y, y + size_t(x.batch) * x.steps * 2, 0.0f);
  };
  m = test::expect_one_line_elm_error([&] { evaluate_neuronio_file(zero, 2, reader, eo); });
  EXPECT_NE(m.find("simulation 1"), std::string::npos) << m;

  // A missing split file.
  std::filesystem::remove(dir.file("test.h5"));
  m = test::expect_one_line_elm_error([&] { NeuronioTask t(o); });
  EXPECT_NE(m.find("test.h5"), std::string::npos) << m;
}

// ---------------------------------------------------------------- evaluation

constexpr int kTe = 6000;

// Soma for the eval store: V(t) = -75 + 0.004 t - 0.5 s (clips at -55 from t = 5000).
float eval_soma(int s, int t) { return -75.0f + 0.004f * float(t) - 0.5f * float(s); }

std::vector<HandSim> eval_sims(const std::vector<std::vector<float>>& spikes) {
  std::vector<HandSim> v;
  for (size_t s = 0; s < spikes.size(); ++s) {
    HandSim h = make_hand_sim(int(s), kTe, kC, spikes[s]);
    for (int t = 0; t < kTe; ++t) h.soma[size_t(t)] = eval_soma(int(s), t);
    v.push_back(std::move(h));
  }
  return v;
}

TEST(NeuronioEval, WindowStartsFollowThePythonFormula) {
  const auto starts = neuronio_eval_window_starts(6000, 500, 150);
  ASSERT_EQ(starts.size(), 17u);  // int(2 + 5500 / 350) = int(17.71)
  EXPECT_EQ(starts[1], 350);
  EXPECT_EQ(starts[16], 5600);
  EXPECT_EQ(neuronio_eval_window_starts(850, 500, 150).size(), 3u);  // int(2 + 1.0)
  EXPECT_EQ(neuronio_eval_window_starts(500, 500, 150).size(), 2u);
  EXPECT_THROW(neuronio_eval_window_starts(499, 500, 150), ElmError);
}

TEST(NeuronioEval, StitchingBurnInAndZeroPaddedLastWindow) {
  TempDir dir("elm-nio-eval");
  const auto sims = eval_sims({{650.4f}, {}, {5999.7f}});
  write_store(dir.file("e.h5"), "test", kC, kTe, sims);
  StoreReader reader(dir.file("e.h5"));
  int calls = 0;
  std::vector<int> batch_sizes;
  // The stub: soma logit 0.1 * (1000 k + j) for window k and step j; it also checks
  // that every window's inputs are the stored events, zero past the end.
  const NeuronioForward stub = [&](const InputBatch& x, std::span<const NeuronioWindow> w, float* y) {
    ++calls;
    batch_sizes.push_back(x.batch);
    ASSERT_EQ(size_t(x.batch), w.size());
    ASSERT_EQ(x.steps, 500);
    const auto& in = std::get<SpikeInput>(x.data);
    for (int b = 0; b < x.batch; ++b) {
      const int k = int(w[size_t(b)].start / 350);
      ASSERT_EQ(w[size_t(b)].start, 350 * k);
      for (int j = 0; j < 500; ++j) {
        const int t = int(w[size_t(b)].start) + j;
        const int64_t e0 = in.offsets[size_t(b) * 500 + j], e1 = in.offsets[size_t(b) * 500 + j + 1];
        const size_t want = t < kTe ? hand_events_at(int(w[size_t(b)].simulation), t, kC).size() : 0;
        ASSERT_EQ(size_t(e1 - e0), want) << "window start " << w[size_t(b)].start << " step " << j;
        for (int64_t e = e0; e < e1; ++e)
          EXPECT_EQ(in.value[size_t(e)], in.channel[size_t(e)] < 2 ? 1.0f : -1.0f);
        y[(size_t(b) * 500 + j) * 2 + 0] = 0.0f;
        y[(size_t(b) * 500 + j) * 2 + 1] = 0.1f * float(1000 * k + j);
      }
    }
  };
  NeuronioEvalOptions o;
  o.sims_per_forward = 2;
  const NeuronioPredictions p = predict_neuronio_simulations(stub, 2, reader, 0, 3, o);
  EXPECT_EQ(calls, 2);
  EXPECT_EQ(batch_sizes, (std::vector<int>{34, 17}));  // all 17 windows of 2 simulations, then 1
  ASSERT_EQ(p.simulations, 3);
  ASSERT_EQ(p.steps, kTe);
  // Which window and step land at time t (hand-checked):
  const std::vector<std::pair<int, double>> expect{
      {0, 0},        {499, 499},     // window 0 fills [0, 500)
      {500, 1150},   {849, 1499},    // window 1 (start 350) fills [500, 850) from step 150
      {850, 2150},   {5400, 15150},  // window 2 (start 700) from 850; window 15 (start 5250) from 5400
      {5749, 15499}, {5750, 16150},  // the zero-padded last window (start 5600) from 5750 ...
      {5999, 16399}};                // ... to the end, its steps 400..499 unused
  for (int s = 0; s < 3; ++s)
    for (auto [t, v] : expect) EXPECT_NEAR(p.soma_hat[size_t(s) * kTe + t], v, 0.01) << "sim " << s << " t " << t;
  for (int s = 0; s < 3; ++s)
    for (int t = 0; t < kTe; ++t) ASSERT_EQ(p.spike_hat[size_t(s) * kTe + t], 0.5) << t;  // sigmoid(0)
  // Ground truth: spikes at int(t - 0.5); soma = min(V, -55) + 67.7 without the 0.1 scale.
  EXPECT_EQ(p.spike_gt[649], 1.0);
  EXPECT_EQ(p.spike_gt[650], 0.0);
  EXPECT_EQ(p.spike_gt[2 * kTe + 5999], 1.0);
  double total = 0;
  for (double v : p.spike_gt) total += v;
  EXPECT_EQ(total, 2.0);
  EXPECT_NEAR(p.soma_gt[1000], -71.0 + 67.7, 1e-4);              // V(1000) = -71
  EXPECT_NEAR(p.soma_gt[kTe + 1000], -71.5 + 67.7, 1e-4);        // sim 1 is 0.5 mV lower
  EXPECT_NEAR(p.soma_gt[5500], 12.7, 1e-4);                      // V(5500) = -53 clips to -55
}

TEST(NeuronioEval, RescaleToGroundTruthMeanAndStd) {
  NeuronioPredictions p;
  p.soma_gt = {1, 2, 3, 4};
  p.soma_hat = {10, 20, 30, 40};
  rescale_soma_to_ground_truth(p);
  for (int i = 0; i < 4; ++i) EXPECT_NEAR(p.soma_hat[size_t(i)], i + 1.0, 1e-12);
  p.soma_gt = {0, 0, 0, 4};  // mean 1, population std sqrt(3)
  p.soma_hat = {2, 4, 6, 8};  // mean 5, population std sqrt(5)
  rescale_soma_to_ground_truth(p);
  EXPECT_NEAR(p.soma_hat[0], 1.0 + std::sqrt(3.0) * (-3.0 / std::sqrt(5.0)), 1e-12);
  EXPECT_NEAR(p.soma_hat[3], 1.0 + std::sqrt(3.0) * (3.0 / std::sqrt(5.0)), 1e-12);
}

// A stub that knows the truth: spike logit +-8 from the target, soma an affine
// distortion of the truth (undone by the z-scoring), and "wrong" where told.
struct TruthStub {
  std::vector<HandSim> sims;
  std::function<bool(int64_t sim, int64_t t)> wrong_spike = [](int64_t, int64_t) { return false; };
  NeuronioForward forward() const {
    return [this](const InputBatch& x, std::span<const NeuronioWindow> w, float* y) {
      const int W = x.steps;
      for (int b = 0; b < x.batch; ++b) {
        const HandSim& h = sims[size_t(w[size_t(b)].simulation)];
        for (int j = 0; j < W; ++j) {
          const int64_t t = w[size_t(b)].start + j;
          float spike = 0, soma = 0;
          if (t < kTe) {
            for (float tau : h.spikes)
              if (int64_t(tau - 0.5f) == t) spike = 1;
            if (wrong_spike(w[size_t(b)].simulation, t)) spike = 1 - spike;
            soma = 3.0f * ((std::min(h.soma[size_t(t)], -55.0f) + 67.7f) * 0.1f) - 2.0f;
          }
          y[(size_t(b) * W + j) * 2 + 0] = spike > 0 ? 8.0f : -8.0f;
          y[(size_t(b) * W + j) * 2 + 1] = soma;
        }
      }
    };
  }
};

TEST(NeuronioEval, TruthGivesPerfectMetricsAndFilteringDropsBusySimulations) {
  TempDir dir("elm-nio-eval2");
  std::vector<float> busy;  // 30 spikes: dropped by the 0..24 filter
  for (int i = 0; i < 30; ++i) busy.push_back(1000.0f + 100.0f * float(i));
  // Sim 0: a spike in the first 500 ms (index 199) and three later ones; sim 2: none.
  const auto sims = eval_sims({{200.2f, 1500.3f, 3000.9f, 4500.0f}, busy, {}});
  write_store(dir.file("e.h5"), "test", kC, kTe, sims);
  StoreReader reader(dir.file("e.h5"));
  TruthStub stub{sims};
  // Wrong everywhere on the busy simulation and in the first 500 ms of the others.
  stub.wrong_spike = [](int64_t s, int64_t t) { return s == 1 || t < 500; };
  const NeuronioForward f = stub.forward();

  const NeuronioEvalResult r = evaluate_neuronio_file(f, 2, reader);
  EXPECT_EQ(r.simulations, 3);
  EXPECT_EQ(r.files, 1);
  EXPECT_EQ(r.kept, 2);
  EXPECT_EQ(r.points, 2 * 5500);
  EXPECT_DOUBLE_EQ(r.metrics.auc, 1.0);
  EXPECT_DOUBLE_EQ(r.metrics.tp_at_fp_0025, 1.0);
  EXPECT_NEAR(r.metrics.soma_explained_variance_percent, 100.0, 1e-6);
  EXPECT_NEAR(r.metrics.soma_rmse, 0.0, 1e-4);
  EXPECT_NEAR(r.metrics.soma_mae, 0.0, 1e-4);

  // Without the spike filter the busy simulation's wrong predictions count.
  NeuronioEvalOptions all;
  all.max_spikes = 1000;
  const NeuronioEvalResult r_all = evaluate_neuronio_file(f, 2, reader, all);
  EXPECT_EQ(r_all.kept, 3);
  EXPECT_LT(r_all.metrics.auc, 0.9);
  // Without dropping the first 500 ms the wrong early predictions count.
  NeuronioEvalOptions early;
  early.ignore_ms = 0;
  const NeuronioEvalResult r_early = evaluate_neuronio_file(f, 2, reader, early);
  EXPECT_EQ(r_early.points, 2 * 6000);
  EXPECT_LT(r_early.metrics.auc, 0.99);
  // Simulations grouped as files of 1: z-scoring per simulation still matches an
  // affine distortion exactly.
  NeuronioEvalOptions per_sim;
  per_sim.sims_per_file = 1;
  per_sim.max_simulations = 2;
  const NeuronioEvalResult r_ps = evaluate_neuronio_file(f, 2, reader, per_sim);
  EXPECT_EQ(r_ps.files, 2);
  EXPECT_EQ(r_ps.simulations, 2);
  EXPECT_EQ(r_ps.kept, 1);
  EXPECT_NEAR(r_ps.metrics.soma_explained_variance_percent, 100.0, 1e-6);
  // Nothing kept: NaN metrics, no error.
  NeuronioEvalOptions none;
  none.min_spikes = 100;
  none.max_spikes = 200;
  const NeuronioEvalResult r_none = evaluate_neuronio_file(f, 2, reader, none);
  EXPECT_EQ(r_none.kept, 0);
  EXPECT_TRUE(std::isnan(r_none.metrics.auc));
}

TEST(NeuronioEval, SomaRescalingIsOverTheWholeFile) {
  TempDir dir("elm-nio-eval3");
  const auto sims = eval_sims({{1500.3f}, {2500.2f}});
  write_store(dir.file("e.h5"), "test", kC, kTe, sims);
  StoreReader reader(dir.file("e.h5"));
  // Soma prediction: truth on sim 0, truth + 5 mV on sim 1. One file: a shared
  // rescaling cannot remove a per-simulation offset, so EV < 100%; files of one
  // simulation each remove it (each z-scored on its own).
  const NeuronioForward f = [&](const InputBatch& x, std::span<const NeuronioWindow> w, float* y) {
    for (int b = 0; b < x.batch; ++b)
      for (int j = 0; j < x.steps; ++j) {
        const int64_t t = std::min<int64_t>(w[size_t(b)].start + j, kTe - 1);
        const float v = sims[size_t(w[size_t(b)].simulation)].soma[size_t(t)];
        y[(size_t(b) * x.steps + j) * 2] = 0;
        y[(size_t(b) * x.steps + j) * 2 + 1] = (std::min(v, -55.0f) + 67.7f + 5.0f * float(w[size_t(b)].simulation)) * 0.1f;
      }
  };
  const NeuronioEvalResult one = evaluate_neuronio_file(f, 2, reader);
  EXPECT_LT(one.metrics.soma_explained_variance_percent, 99.0);
  NeuronioEvalOptions o;
  o.sims_per_file = 1;
  const NeuronioEvalResult each = evaluate_neuronio_file(f, 2, reader, o);
  EXPECT_NEAR(each.metrics.soma_explained_variance_percent, 100.0, 1e-3);
}

}  // namespace
}  // namespace elm

namespace elm {
namespace {

// The batch of the original full-read path: every window built from
// read_neuronio_simulation's whole simulation and its per-step offsets.
Batch reference_batch(const NeuronioTask& task, Split split, const std::vector<int64_t>& idx) {
  StoreReader store(task.store_path(split));
  const NeuronioStoreShape shape = check_neuronio_store(store);
  const int B = int(idx.size()), T = task.window(), half = shape.channels / 2;
  Batch batch;
  batch.x = InputBatch{B, T, shape.channels, {}};
  SpikeInput in;
  in.offsets.push_back(0);
  batch.target_spike.assign(size_t(B) * T, 0.0f);
  batch.target_soma.assign(size_t(B) * T, 0.0f);
  for (int b = 0; b < B; ++b) {
    const NeuronioWindow w = task.window_of(split, idx[size_t(b)]);
    const NeuronioSimulation sim = read_neuronio_simulation(store, shape, w.simulation);
    for (int j = 0; j < T; ++j) {
      const int64_t t = w.start + j;
      for (int64_t e = sim.step_offsets[size_t(t)]; e < sim.step_offsets[size_t(t) + 1]; ++e) {
        const int32_t c = sim.event_channel[size_t(e)];
        in.channel.push_back(c);
        in.value.push_back(c < half ? 1.0f : -1.0f);
      }
      in.offsets.push_back(int64_t(in.channel.size()));
      batch.target_soma[size_t(b) * T + j] = neuronio_train_soma(sim.soma[size_t(t)]);
    }
    for (float t : sim.output_spike_ms) {
      const int64_t j = neuronio_spike_index(t) - w.start;
      if (j >= 0 && j < T) batch.target_spike[size_t(b) * T + size_t(j)] = 1.0f;
    }
  }
  batch.x.data = std::move(in);
  return batch;
}

void expect_same_batch(const Batch& got, const Batch& want, const std::string& what) {
  const auto& g = std::get<SpikeInput>(got.x.data);
  const auto& r = std::get<SpikeInput>(want.x.data);
  EXPECT_EQ(got.x.batch, want.x.batch) << what;
  EXPECT_EQ(got.x.steps, want.x.steps) << what;
  EXPECT_EQ(got.x.channels, want.x.channels) << what;
  EXPECT_EQ(g.offsets, r.offsets) << what;
  EXPECT_EQ(g.channel, r.channel) << what;
  EXPECT_EQ(g.value, r.value) << what;
  EXPECT_EQ(got.target_soma, want.target_soma) << what;
  EXPECT_EQ(got.target_spike, want.target_spike) << what;
}

// Windows read through the coarse event index and range reads equal windows
// cut from the whole simulation, for aligned and unaligned window lengths,
// on every split, from a fresh task (index built on first use) and again
// once every simulation's index is cached; both with decoded simulations kept
// in memory (the default) and without (task.cache_mb = 0: range reads only).
TEST_F(NeuronioTaskTest, IndexedWindowsEqualTheFullReadPath) {
  for (int cache_mb : {0, 1024})
  for (int window : {100, 137, 199}) {
    NeuronioTaskOptions o = options();
    o.window = window;
    o.cache_mb = cache_mb;
    NeuronioTask task(o);
    for (int pass = 0; pass < 2; ++pass) {
      for (int64_t first = 0; first < 240; first += 8) {
        std::vector<int64_t> idx;
        for (int64_t i = first; i < first + 8; ++i) idx.push_back(i);
 const std::string what = "cache_mb " + std::to_string(cache_mb) + " window " + std::to_string(window) + " pass " + std::to_string(pass) +
                                 " train batch at " + std::to_string(first);
        expect_same_batch(task.make_batch(Split::Train, idx), reference_batch(task, Split::Train, idx), what);
      }
      for (Split s : {Split::Valid, Split::Test}) {
        std::vector<int64_t> idx;
        for (int64_t i = 0; i < task.num_samples(s); ++i) idx.push_back(i);
        expect_same_batch(task.make_batch(s, idx), reference_batch(task, s, idx),
                          "window " + std::to_string(window) + " " + std::string(to_string(s)));
      }
    }
  }
}

// The coarse event index stored by the writers (event_index): it equals the
// index built from the events, and windows read through it (no cache, never a
// whole-simulation read) equal windows cut from decoded simulations.
TEST(NeuronioStoredIndex, WindowsThroughTheStoredIndexEqualDecodedWindows) {
  TempDir dir("elm-nio-index");
  SyntheticNeuronOptions so;
  so.channels = 64;
  so.duration_ms = 1300;
  so.train_simulations = 3;
  so.valid_simulations = so.test_simulations = 1;
  std::ostringstream quiet;
  write_synthetic_neuron_store(dir.path().string(), so, quiet);
  const StoreReader train(dir.file("train.h5"));
  ASSERT_TRUE(train.has_field("event_index"));
  for (int64_t sim = 0; sim < 3; ++sim) {
    const auto times = train.read_i32("event_time", sim);
    EXPECT_EQ(train.read_i32("event_index", sim), neuronio_event_index(times, so.duration_ms)) << sim;
    EXPECT_EQ(train.read_i32("event_index", sim).size(), size_t(14));  // ceil(1300 / 100) + 1
  }
  NeuronioTaskOptions o;
  o.store = dir.path().string();
  o.window = 137;
  o.windows_per_epoch = 64;
  o.cache_mb = 0;
  NeuronioTask indexed(o);
  o.cache_mb = 1024;
  NeuronioTask decoded(o);
  for (int64_t first = 0; first < 64; first += 8) {
    std::vector<int64_t> idx;
    for (int64_t i = first; i < first + 8; ++i) idx.push_back(i);
    expect_same_batch(indexed.make_batch(Split::Train, idx), decoded.make_batch(Split::Train, idx),
                      "train batch at " + std::to_string(first));
  }
}

TEST(NeuronioStoredIndex, DamagedStoredIndexOrEventsFailOnOneLine) {
  TempDir dir("elm-nio-index-bad");
  // A store whose event_index lies about the event count, and one with an
  // event on a channel outside the store's range.
  auto write = [&](const std::string& name, bool bad_index, bool bad_channel) {
    const std::string d = dir.file(name);
    std::filesystem::create_directories(d);
    for (const char* split : {"train", "valid", "test"}) {
      StoreInfo info;
      info.task = "neuronio";
      info.split = split;
      info.input_kind = "events";
      info.channels = 4;
      info.max_length = 1200;
      StoreWriter w(d + "/" + split + ".h5", info,
                    {{"event_time", FieldType::Int32}, {"event_channel", FieldType::UInt16},
                     {"soma", FieldType::Float32}, {"output_spike_ms", FieldType::Float32},
                     {"event_index", FieldType::Int32}});
      std::vector<int32_t> t;
      std::vector<uint16_t> c;
      for (int32_t k = 0; k < 1200; k += 3) {
        t.push_back(k);
        c.push_back(uint16_t(bad_channel ? 9 : k % 4));
      }
      std::vector<int32_t> index = neuronio_event_index(t, 1200);
      if (bad_index) index.back() += 5;
      w.append_i32("event_time", t);
      w.append_u16("event_channel", c);
      w.append_f32("soma", std::vector<float>(1200, -70.0f));
      w.append_f32("output_spike_ms", std::vector<float>{});
      w.append_i32("event_index", index);
      w.end_sample(-1);
      w.commit();
    }
    NeuronioTaskOptions o;
    o.store = d;
    o.window = 100;
    o.windows_per_epoch = 8;
    o.cache_mb = 0;
    return o;
  };
  const NeuronioTaskOptions bad_index = write("bad_index", true, false);
  std::string m = test::expect_one_line_elm_error(
      [&] { NeuronioTask(bad_index).make_batch(Split::Train, std::vector<int64_t>{0}); });
  EXPECT_NE(m.find("event_index"), std::string::npos) << m;
  const NeuronioTaskOptions bad_channel = write("bad_channel", false, true);
  m = test::expect_one_line_elm_error(
      [&] { NeuronioTask(bad_channel).make_batch(Split::Train, std::vector<int64_t>{0}); });
  EXPECT_NE(m.find("channel 9"), std::string::npos) << m;
}

}  // namespace
}  // namespace elm
