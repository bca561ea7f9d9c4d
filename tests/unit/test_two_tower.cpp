// The two-tower model of LRA Retrieval (train/two_tower.hpp) and its task:
//  - finite-difference gradient check in double of the whole model (tower +
//    head) for v1 and v2 on token input, tolerance as test_gradcheck.cpp;
//  - the tower runs once on 2B rows: logits equal those from towers run on the
//    A and B documents separately; swapping A and B changes only the u-v part;
//  - head_hidden = 0 keeps the old layout and config keys; with a head, the
//    entries sit after w_y.bias (trainable prefix), counts match, checkpoints
//    round-trip;
//  - the retrieval store task (2B rows, end padding, 4000 steps) and its errors;
//  - elmrun train on configs/retrieval.ini with a tiny store, end to end.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "backend/cpu/elm_cpu.hpp"
#include "core/error.hpp"
#include "core/rng.hpp"
#include "data/store/dataset_store.hpp"
#include "data/store_tasks.hpp"
#include "data/task.hpp"
#include "io/hdf5_io.hpp"
#include "model/elm_model.hpp"
#include "test_support.hpp"
#include "train/run_config.hpp"
#include "train/two_tower.hpp"

namespace fs = std::filesystem;
using namespace elm;
using elm::test::elmrun;
using elm::test::run_command;
using elm::test::shell_quote;
using elm::test::TempDir;

namespace {

ElmConfig small_config(ElmVariant variant, bool learn_tau, int head_hidden = 5, int classes = 2) {
  ElmConfig c;
  c.variant = variant;
  c.num_input = 7;  // token vocabulary
  c.num_branch = 7;
  c.num_output = 3;  // the latent L
  c.num_memory = 4;
  c.mlp_hidden_size = 6;
  c.lambda_value = 3.0;
  c.memory_tau_min = 1.0;
  c.memory_tau_max = 30.0;
  c.learn_memory_tau = learn_tau;
  c.head_hidden = head_hidden;
  c.head_classes = classes;
  c.validate();
  return c;
}

// Parameters moved away from the init, _proto_w_s away from the relu kink.
std::vector<double> perturbed_params(const ElmConfig& c, uint64_t seed) {
  const ElmModel m = ElmModel::initialized(c, seed);
  std::vector<double> p(m.params.begin(), m.params.end());
  RngStream rng(seed, 0x74776f74ULL);
  for (int64_t i = 0; i < m.layout.num_trainable(); ++i) p[size_t(i)] += 0.3 * rng.normal();
  for (int s = 0; s < c.synapses(); ++s) {
    double& w = p[size_t(m.layout.w_s() + s)];
    if (std::abs(w) < 0.05) w = w < 0 ? -0.1 : 0.1;
  }
  for (int i = 0; i < c.num_memory; ++i) p[size_t(m.layout.proto_tau_m() + i)] = 1.5 * rng.normal();
  return p;
}

// 2B rows of random tokens, each row padded at the end with -1 from a random length.
InputBatch pair_tokens(int pairs, int steps, int vocab, uint64_t seed) {
  RngStream rng(seed, 0x746f6bULL);
  TokenInput tok;
  tok.ids.assign(size_t(2 * pairs) * steps, -1);
  for (int r = 0; r < 2 * pairs; ++r) {
    const int len = steps / 2 + int(rng.below(uint64_t(steps / 2 + 1)));
    for (int t = 0; t < len; ++t) tok.ids[size_t(r) * steps + t] = int32_t(rng.below(uint64_t(vocab)));
  }
  return InputBatch{2 * pairs, steps, vocab, std::move(tok)};
}

std::vector<int64_t> random_labels(int pairs, int classes, uint64_t seed) {
  RngStream rng(seed, 0x6c6162ULL);
  std::vector<int64_t> l(static_cast<size_t>(pairs));
  for (auto& v : l) v = int64_t(rng.below(uint64_t(classes)));
  return l;
}

void gradcheck_two_tower(const ElmConfig& c, uint64_t seed) {
  SCOPED_TRACE(std::string(to_string(c.variant)) + (c.learn_memory_tau ? " learned tau" : " fixed tau") +
               ", classes " + std::to_string(c.head_classes));
  const ElmModel m(c);
  CpuElm<double> tower(c, m.routing, 1);
  TwoTowerElm<double> model(tower);
  const ParamLayout& lay = tower.layout();
  ASSERT_EQ(lay.num_trainable(), trainable_parameter_count(c));
  std::vector<double> params = perturbed_params(c, seed);
  const int pairs = 3, steps = 14;
  const InputBatch x = pair_tokens(pairs, steps, c.num_input, seed);
  const std::vector<int64_t> labels = random_labels(pairs, c.head_classes, seed);

  model.forward(params.data(), x, labels);
  std::vector<double> grad(size_t(lay.num_trainable()));
  model.backward(grad.data());

  std::vector<double> fd(grad.size());
  for (int64_t i = 0; i < lay.num_trainable(); ++i) {
    const double x0 = params[size_t(i)];
    const double h = 1e-6 * std::max(1.0, std::abs(x0));
    params[size_t(i)] = x0 + h;
    const double lp = model.forward(params.data(), x, labels);
    params[size_t(i)] = x0 - h;
    const double lm = model.forward(params.data(), x, labels);
    params[size_t(i)] = x0;
    fd[size_t(i)] = (lp - lm) / (2 * h);
  }
  int nonzero_tensors = 0;
  for (const auto& e : lay.entries()) {
    if (!e.trainable) continue;
    double max_fd = 0, max_err = 0;
    int64_t worst = 0;
    for (int64_t i = e.offset; i < e.offset + e.size; ++i) {
      max_fd = std::max(max_fd, std::abs(fd[size_t(i)]));
      const double err = std::abs(grad[size_t(i)] - fd[size_t(i)]);
      if (err > max_err) {
        max_err = err;
        worst = i - e.offset;
      }
    }
    EXPECT_LE(max_err, 1e-6 * max_fd + 1e-8)
        << "'" << e.name << "'[" << worst << "] analytic " << grad[size_t(e.offset + worst)]
        << " vs finite difference " << fd[size_t(e.offset + worst)] << " (tensor max |fd| " << max_fd << ")";
    nonzero_tensors += max_fd > 1e-6;
  }
  // Every tensor of tower and head gets gradient (the check is not vacuous).
  int trainable_tensors = 0;
  for (const auto& e : lay.entries()) trainable_tensors += e.trainable;
  EXPECT_EQ(nonzero_tensors, trainable_tensors);
}

// y [2B, T, L] of the tower on rows [r0, r0 + n) of x.
std::vector<double> tower_rows(CpuElm<double>& tower, const std::vector<double>& params, const InputBatch& x, int r0,
                               int n) {
  const auto& ids = std::get<TokenInput>(x.data).ids;
  TokenInput part;
  part.ids.assign(ids.begin() + ptrdiff_t(r0) * x.steps, ids.begin() + ptrdiff_t(r0 + n) * x.steps);
  const InputBatch sub{n, x.steps, x.channels, std::move(part)};
  std::vector<double> y(size_t(n) * x.steps * tower.config().num_output);
  tower.forward(params.data(), sub, y.data());
  return y;
}

InputBatch swap_halves(const InputBatch& x) {
  const auto& ids = std::get<TokenInput>(x.data).ids;
  const size_t half = ids.size() / 2;
  TokenInput s;
  s.ids.assign(ids.begin() + ptrdiff_t(half), ids.end());
  s.ids.insert(s.ids.end(), ids.begin(), ids.begin() + ptrdiff_t(half));
  return InputBatch{x.batch, x.steps, x.channels, std::move(s)};
}

double max_abs_diff(const std::vector<double>& a, const std::vector<double>& b) {
  double d = 0;
  for (size_t i = 0; i < a.size(); ++i) d = std::max(d, std::abs(a[i] - b[i]));
  return d;
}

// ---- retrieval stores --------------------------------------------------------------

struct Pair {
  std::vector<uint8_t> a, b;
  int64_t label = 0;
};

// One split as prep_retrieval writes it (fields tokens and tokens_b, uint8).
void write_retrieval_split(const std::string& dir, const std::string& split, const std::vector<Pair>& pairs) {
  fs::create_directories(dir);
  StoreInfo info;
  info.task = "retrieval";
  info.split = split;
  info.source = "test";
  info.input_kind = "tokens";
  info.channels = 256;
  info.num_classes = 2;
  for (const auto& p : pairs) info.max_length = std::max<int64_t>({info.max_length, int64_t(p.a.size()), int64_t(p.b.size())});
  info.extra["vocabulary"] = "bytes 0..255 (token id = byte value)";
  StoreWriter w(dir + "/" + split + ".h5", info, {{"tokens", FieldType::UInt8}, {"tokens_b", FieldType::UInt8}});
  for (const auto& p : pairs) {
    w.append_u8("tokens", p.a);
    w.append_u8("tokens_b", p.b);
    w.end_sample(p.label);
  }
  w.commit();
}

std::vector<Pair> some_pairs(int n, uint64_t seed) {
  RngStream rng(seed, 0x70616972ULL);
  std::vector<Pair> v;
  for (int i = 0; i < n; ++i) {
    Pair p;
    p.a.resize(1 + rng.below(60));
    p.b.resize(1 + rng.below(60));
    for (auto& t : p.a) t = uint8_t(rng.below(256));
    for (auto& t : p.b) t = uint8_t(rng.below(256));
    p.label = i % 2;
    v.push_back(std::move(p));
  }
  return v;
}

void write_retrieval_store(const std::string& dir, const std::vector<Pair>& train, const std::vector<Pair>& valid,
                           const std::vector<Pair>& test) {
  write_retrieval_split(dir, "train", train);
  write_retrieval_split(dir, "valid", valid);
  write_retrieval_split(dir, "test", test);
}

ElmConfig retrieval_model(int head_hidden) {
  ElmConfig m;
  m.num_input = 256;
  m.num_output = 4;
  m.num_memory = 3;
  m.head_hidden = head_hidden;
  return m;
}

}  // namespace

// ---- the model ---------------------------------------------------------------------

TEST(TwoTower, GradientsMatchFiniteDifferencesV1) {
  gradcheck_two_tower(small_config(ElmVariant::V1, false), 11);
  gradcheck_two_tower(small_config(ElmVariant::V1, true, 4, 3), 12);
}

TEST(TwoTower, GradientsMatchFiniteDifferencesV2) {
  gradcheck_two_tower(small_config(ElmVariant::V2, true), 21);
  gradcheck_two_tower(small_config(ElmVariant::V2, false, 6, 3), 22);
}

// The head reads the last step of row b (u) and of row B + b (v): the batched
// tower gives the same logits as towers run on the A and B documents alone.
TEST(TwoTower, OneTowerRunEqualsSeparateRuns) {
  const ElmConfig c = small_config(ElmVariant::V1, false);
  const ElmModel m(c);
  CpuElm<double> tower(c, m.routing, 1);
  TwoTowerElm<double> model(tower);
  const std::vector<double> params = perturbed_params(c, 3);
  const int B = 4, T = 12;
  const InputBatch x = pair_tokens(B, T, c.num_input, 3);
  const std::vector<int64_t> labels = random_labels(B, 2, 3);
  const double loss = model.forward(params.data(), x, labels);
  const std::vector<double> logits = model.logits();

  std::vector<double> y = tower_rows(tower, params, x, 0, B);
  const std::vector<double> yb = tower_rows(tower, params, x, B, B);
  y.insert(y.end(), yb.begin(), yb.end());
  std::vector<double> ref(size_t(B) * 2);
  const double ref_loss =
      two_tower_head<double>(tower.layout(), params.data(), y.data(), B, T, labels.data(), ref.data(), nullptr, nullptr);
  EXPECT_LE(max_abs_diff(logits, ref), 1e-12);
  EXPECT_NEAR(loss, ref_loss, 1e-12);
  // And the loss is the mean cross-entropy of those logits.
  double ce = 0;
  for (int b = 0; b < B; ++b) {
    const double z0 = ref[size_t(2 * b)], z1 = ref[size_t(2 * b + 1)];
    ce += std::log(std::exp(z0) + std::exp(z1)) - (labels[size_t(b)] == 0 ? z0 : z1);
  }
  EXPECT_NEAR(loss, ce / B, 1e-12);
}

// Swapping A and B swaps u and v: [v, u, u*v, v-u]. Symmetric head weights on
// the u and v blocks and zero weights on the u-v block make the logits
// symmetric; the u-v block alone breaks the symmetry.
TEST(TwoTower, SwappingDocumentsChangesOnlyTheDifferencePart) {
  const ElmConfig c = small_config(ElmVariant::V2, false);
  const ElmModel m(c);
  CpuElm<double> tower(c, m.routing, 1);
  TwoTowerElm<double> model(tower);
  std::vector<double> params = perturbed_params(c, 5);
  const auto& h = tower.layout().head();
  const int L = h.latent, F = 4 * L;
  for (int j = 0; j < h.hidden; ++j)
    for (int i = 0; i < L; ++i) params[size_t(h.w0 + j * F + L + i)] = params[size_t(h.w0 + j * F + i)];  // W_v = W_u
  const int B = 3, T = 10;
  const InputBatch x = pair_tokens(B, T, c.num_input, 5), xs = swap_halves(x);
  const std::vector<int64_t> labels = random_labels(B, 2, 5);
  model.forward(params.data(), x, labels);
  const std::vector<double> ab = model.logits();
  model.forward(params.data(), xs, labels);
  const std::vector<double> ba = model.logits();
  EXPECT_GT(max_abs_diff(ab, ba), 1e-6) << "the u-v block must make the head asymmetric";

  for (int j = 0; j < h.hidden; ++j)
    for (int i = 0; i < L; ++i) params[size_t(h.w0 + j * F + 3 * L + i)] = 0;
  model.forward(params.data(), x, labels);
  const std::vector<double> ab0 = model.logits();
  model.forward(params.data(), xs, labels);
  const std::vector<double> ba0 = model.logits();
  EXPECT_LE(max_abs_diff(ab0, ba0), 1e-12);
  EXPECT_GT(max_abs_diff(ab0, ab), 1e-6);
}

TEST(TwoTower, FloatAgreesWithDouble) {
  const ElmConfig c = small_config(ElmVariant::V1, true);
  const ElmModel m(c);
  CpuElm<double> td(c, m.routing, 1);
  CpuElm<float> tf(c, m.routing, 2);
  TwoTowerElm<double> md(td);
  TwoTowerElm<float> mf(tf);
  const std::vector<double> pd = perturbed_params(c, 8);
  const std::vector<float> pf(pd.begin(), pd.end());
  std::vector<double> pdr(pf.begin(), pf.end());  // the same (float-rounded) parameters
  const InputBatch x = pair_tokens(4, 16, c.num_input, 8);
  const std::vector<int64_t> labels = random_labels(4, 2, 8);
  const double ld = md.forward(pdr.data(), x, labels);
  const float lf = mf.forward(pf.data(), x, labels);
  EXPECT_NEAR(lf, ld, 1e-5 * std::max(1.0, std::abs(ld)));
  std::vector<double> gd(size_t(td.layout().num_trainable()));
  std::vector<float> gf(gd.size());
  md.backward(gd.data());
  mf.backward(gf.data());
  double gmax = 0, err = 0;
  for (size_t i = 0; i < gd.size(); ++i) {
    gmax = std::max(gmax, std::abs(gd[i]));
    err = std::max(err, std::abs(double(gf[i]) - gd[i]));
  }
  EXPECT_GT(gmax, 0);
  EXPECT_LE(err, 1e-4 * gmax);
}

TEST(TwoTower, ForwardChecksTheBatchShape) {
  const ElmConfig c = small_config(ElmVariant::V1, false);
  const ElmModel m(c);
  CpuElm<double> tower(c, m.routing, 1);
  TwoTowerElm<double> model(tower);
  const std::vector<double> params = perturbed_params(c, 1);
  const InputBatch x = pair_tokens(3, 8, c.num_input, 1);
  EXPECT_THROW(model.forward(params.data(), x, std::vector<int64_t>{0, 1}), ElmError);  // 6 rows, 2 labels
  const ElmConfig plain = small_config(ElmVariant::V1, false, 0);
  CpuElm<double> plain_tower(plain, ElmModel(plain).routing, 1);
  EXPECT_THROW(TwoTowerElm<double>{plain_tower}, ElmError);
}

// ---- layout, config, checkpoint ------------------------------------------------------

TEST(TwoTower, NoHeadKeepsTheOldLayoutAndKeys) {
  for (bool learn : {false, true}) {
    const ElmConfig plain = small_config(ElmVariant::V1, learn, 0);
    const ParamLayout lay(plain);
    std::vector<std::string> names;
    for (const auto& e : lay.entries()) names.push_back(e.name);
    const std::vector<std::string> expect = {"mlp.network.0.weight", "mlp.network.0.bias", "mlp.network.2.weight",
                                             "mlp.network.2.bias", "_proto_w_s", "w_y.weight", "w_y.bias",
                                             "_proto_tau_m", "tau_s"};
    EXPECT_EQ(names, expect);
    EXPECT_FALSE(lay.has_head());
    EXPECT_EQ(lay.num_trainable(), trainable_parameter_count(plain));
    const auto kv = plain.to_key_values();
    EXPECT_EQ(kv.count("head_hidden"), 0u);
    EXPECT_EQ(kv.count("head_classes"), 0u);

    // With a head: the same entries at the same offsets up to w_y.bias, the head
    // next, the rest shifted by the head's size; trainable entries a prefix.
    const ElmConfig with = small_config(ElmVariant::V1, learn, 5, 3);
    const ParamLayout hl(with);
    const int64_t head_size = 5 * 12 + 5 + 3 * 5 + 3;  // L = 3: 4L = 12
    EXPECT_EQ(hl.num_params(), lay.num_params() + head_size);
    EXPECT_EQ(hl.num_trainable(), lay.num_trainable() + head_size);
    EXPECT_EQ(hl.num_trainable(), trainable_parameter_count(with));
    ASSERT_EQ(hl.entries().size(), lay.entries().size() + 4);
    for (size_t i = 0; i < lay.entries().size(); ++i) {
      const ParamEntry& a = lay.entries()[i];
      const ParamEntry& b = hl.entry(a.name);
      EXPECT_EQ(b.shape, a.shape) << a.name;
      EXPECT_EQ(b.trainable, a.trainable) << a.name;
      EXPECT_EQ(b.offset, a.offset + (i < 7 ? 0 : head_size)) << a.name;
    }
    EXPECT_EQ(hl.entry("head.0.weight").offset, lay.entry("w_y.bias").offset + 3);
    EXPECT_EQ(hl.entry("head.0.weight").shape, (std::vector<int64_t>{5, 12}));
    EXPECT_EQ(hl.entry("head.2.weight").shape, (std::vector<int64_t>{3, 5}));
    bool seen_fixed = false;
    for (const auto& e : hl.entries()) {
      if (!e.trainable) seen_fixed = true;
      else EXPECT_FALSE(seen_fixed) << e.name << " is trainable after a fixed entry";
    }
    // The tower's init does not depend on the head.
    const ElmModel m0 = ElmModel::initialized(plain, 9), m1 = ElmModel::initialized(with, 9);
    for (const auto& e : lay.entries())
      for (int64_t k = 0; k < e.size; ++k)
        ASSERT_EQ(m0.params[size_t(e.offset + k)], m1.params[size_t(hl.entry(e.name).offset + k)]) << e.name;
    // The head's init is torch Linear's: U(+-1/sqrt(fan_in)), not all zero.
    for (const char* n : {"head.0.weight", "head.0.bias", "head.2.weight", "head.2.bias"}) {
      const ParamEntry& e = hl.entry(n);
      const double bound = 1.0 / std::sqrt(n[5] == '0' ? 12.0 : 5.0);
      double mx = 0;
      for (int64_t k = 0; k < e.size; ++k) mx = std::max(mx, double(std::abs(m1.params[size_t(e.offset + k)])));
      EXPECT_LE(mx, bound) << n;
      EXPECT_GT(mx, 0.2 * bound) << n;
    }
  }
}

TEST(TwoTower, ConfigKeysRoundTripAndValidate) {
  ElmConfig c = small_config(ElmVariant::V2, false, 150, 2);
  const auto kv = c.to_key_values();
  EXPECT_EQ(kv.at("head_hidden"), "150");
  EXPECT_EQ(kv.at("head_classes"), "2");
  const ElmConfig back = ElmConfig::from_key_values(kv, "test");
  EXPECT_EQ(back.head_hidden, 150);
  EXPECT_EQ(back.head_classes, 2);
  EXPECT_EQ(back.to_key_values(), kv);
  c.head_classes = 1;
  try {
    c.validate();
    ADD_FAILURE() << "head_classes 1 accepted";
  } catch (const ElmError& e) {
    EXPECT_NE(std::string(e.what()).find("model.head_classes"), std::string::npos) << e.what();
  }
}

TEST(TwoTower, CheckpointRoundTripWithHead) {
  TempDir tmp("elm-two-tower");
  const ElmConfig c = small_config(ElmVariant::V1, true, 5, 2);
  ElmModel m = ElmModel::initialized(c, 4);
  const std::vector<double> p = perturbed_params(c, 4);
  for (size_t i = 0; i < p.size(); ++i) m.params[i] = float(p[i]);
  write_checkpoint(m, tmp.file("ckpt.h5"));
  {
    H5Reader r(tmp.file("ckpt.h5"));
    EXPECT_EQ(r.shape("params/head.0.weight"), (std::vector<int64_t>{5, 12}));
    EXPECT_EQ(r.shape("params/head.2.bias"), (std::vector<int64_t>{2}));
  }
  const ElmModel back = read_checkpoint(tmp.file("ckpt.h5"));
  EXPECT_EQ(back.config.head_hidden, 5);
  EXPECT_EQ(back.config.head_classes, 2);
  EXPECT_EQ(back.layout.num_trainable(), m.layout.num_trainable());
  ASSERT_EQ(back.params.size(), m.params.size());
  for (size_t i = 0; i < m.params.size(); ++i) {
    if (std::isinf(m.params[i])) continue;  // _proto_tau_m may hold +inf
    ASSERT_EQ(back.params[i], m.params[i]) << i;
  }
}

// ---- the retrieval task --------------------------------------------------------------

TEST(TwoTower, RetrievalBatchesAreTwoRowsPerPair) {
  TempDir tmp("elm-two-tower");
  std::vector<Pair> pairs = some_pairs(5, 1);
  pairs[3].b.assign(4100, 'x');  // truncated to 4000
  pairs[3].b[3999] = 'y';
  pairs[2].a.clear();            // an empty document: all padding
  write_retrieval_store(tmp.file("store"), pairs, some_pairs(2, 2), some_pairs(3, 3));
  const auto task = make_task({"retrieval", {{"store", tmp.file("store")}}}, retrieval_model(6));
  EXPECT_EQ(task->name(), "retrieval");
  EXPECT_EQ(task->num_input(), 256);
  EXPECT_EQ(task->num_output(), 4);  // the tower's latent
  EXPECT_EQ(task->loss(), TaskLoss::PairedCrossEntropy);
  EXPECT_EQ(task->input_kind(), InputKind::Tokens);
  EXPECT_EQ(task->num_classes(), 2);
  EXPECT_EQ(task->num_samples(Split::Train), 5);
  EXPECT_EQ(task->num_samples(Split::Test), 3);
  const std::vector<int64_t> idx = {3, 0, 2};
  const Batch b = task->make_batch(Split::Train, idx);
  ASSERT_EQ(b.x.batch, 6);
  ASSERT_EQ(b.x.steps, 4000);
  EXPECT_EQ(b.x.channels, 256);
  EXPECT_NO_THROW(b.x.validate());
  EXPECT_EQ(b.labels, (std::vector<int64_t>{pairs[3].label, pairs[0].label, pairs[2].label}));
  const auto& ids = std::get<TokenInput>(b.x.data).ids;
  ASSERT_EQ(ids.size(), 6u * 4000);
  for (int r = 0; r < 6; ++r) {
    const Pair& p = pairs[size_t(idx[size_t(r % 3)])];
    const std::vector<uint8_t>& doc = r < 3 ? p.a : p.b;
    for (int t = 0; t < 4000; ++t)
      ASSERT_EQ(ids[size_t(r) * 4000 + t], t < int(doc.size()) ? int(doc[size_t(t)]) : -1) << "row " << r << " step " << t;
  }
  EXPECT_EQ(ids[size_t(3) * 4000 + 3999], int('y'));
  EXPECT_THROW(task->make_batch(Split::Valid, std::vector<int64_t>{2}), ElmError);
}

TEST(TwoTower, RetrievalTaskErrorsAreOneLine) {
  TempDir tmp("elm-two-tower");
  write_retrieval_store(tmp.file("store"), some_pairs(2, 1), some_pairs(2, 2), some_pairs(2, 3));
  auto expect_error = [](const TaskConfig& cfg, const ElmConfig& model, const std::vector<std::string>& names) {
    try {
      make_task(cfg, model);
      ADD_FAILURE() << "expected an error naming " << names[0];
    } catch (const ElmError& e) {
      const std::string m = e.what();
      EXPECT_EQ(m.find('\n'), std::string::npos) << m;
      for (const auto& n : names) EXPECT_NE(m.find(n), std::string::npos) << "error does not name '" << n << "': " << m;
    }
  };
  const std::string store = tmp.file("store");
  expect_error({"retrieval", {{"store", store}}}, retrieval_model(0), {"model.head_hidden", "retrieval"});
  ElmConfig three = retrieval_model(4);
  three.head_classes = 3;
  expect_error({"retrieval", {{"store", store}}}, three, {"model.head_classes", "2"});
  ElmConfig vocab = retrieval_model(4);
  vocab.num_input = 100;
  expect_error({"retrieval", {{"store", store}}}, vocab, {"model.num_input", "256"});
  expect_error({"retrieval", {}}, retrieval_model(4), {"task.store", "required"});
  expect_error({"retrieval", {{"store", store}, {"seq_len", "10"}}}, retrieval_model(4), {"task.seq_len"});
  // A store without tokens_b (a text store) is not a retrieval store.
  fs::create_directories(tmp.file("text"));
  for (const char* split : {"train", "valid", "test"}) {
    StoreInfo info;
    info.task = "retrieval";
    info.split = split;
    info.input_kind = "tokens";
    info.channels = 256;
    info.num_classes = 2;
    StoreWriter w(tmp.file("text") + "/" + split + ".h5", info, {{"tokens", FieldType::UInt8}});
    w.append_u8("tokens", std::vector<uint8_t>{1, 2});
    w.end_sample(0);
    w.commit();
  }
  expect_error({"retrieval", {{"store", tmp.file("text")}}}, retrieval_model(4), {"tokens_b"});
}

TEST(TwoTower, RetrievalConfigLoadsAndFitsTheTask) {
  TempDir tmp("elm-two-tower");
  write_retrieval_store(tmp.file("store"), some_pairs(2, 1), some_pairs(2, 2), some_pairs(2, 3));
  RunConfig rc = RunConfig::load(elm::test::source_dir() + "/configs/retrieval.ini", {});
  EXPECT_EQ(rc.model.num_output, 75);
  EXPECT_GT(rc.model.head_hidden, 0);
  rc.task.options["store"] = tmp.file("store");
  EXPECT_NO_THROW(make_task(rc.task, rc.model));
}

// elmrun train end to end: configs/retrieval.ini with small overrides on a tiny store.
TEST(TwoTower, TrainRunsOnATinyRetrievalStore) {
  TempDir tmp("elm-two-tower");
  write_retrieval_store(tmp.file("store"), some_pairs(6, 1), some_pairs(3, 2), some_pairs(3, 3));
  const std::string out = tmp.file("run");
  const std::string cmd = elmrun() + " train --config " +
                          shell_quote(elm::test::source_dir() + "/configs/retrieval.ini") + " --set task.store=" +
                          shell_quote(tmp.file("store")) +
                          " --set train.steps=3 --set train.batch_size=2 --set train.eval_every=2"
                          " --set train.log_every=1 --set model.num_memory=3 --set model.num_output=4"
                          " --set model.head_hidden=5 --set model.mlp_hidden_size=4 --out " +
                          shell_quote(out) + " > /dev/null";
  const auto r = run_command(cmd);
  ASSERT_EQ(r.status, 0) << r.stderr_text;
  H5Reader h(out + "/results.h5");
  EXPECT_EQ(h.read_double("train/loss").data.size(), 3u);
  for (double l : h.read_double("train/loss").data) EXPECT_TRUE(std::isfinite(l) && l > 0) << l;
  ASSERT_TRUE(h.has("test/accuracy"));
  const double acc = h.read_double("test/accuracy").data.at(0);
  EXPECT_TRUE(acc == 0 || std::abs(acc - 1.0 / 3) < 1e-9 || std::abs(acc - 2.0 / 3) < 1e-9 || acc == 1) << acc;
  EXPECT_EQ(h.read_double("test/samples").data.at(0), 3.0);
  EXPECT_EQ(h.read_double("valid/accuracy").data.size(), 2u);  // steps 2 and 3
  // The parameter count includes the head: L = 4, H_c = 5, 2 classes.
  ElmConfig m;
  m.num_input = 256;
  m.num_output = 4;
  m.num_memory = 3;
  m.mlp_hidden_size = 4;
  m.head_hidden = 5;
  EXPECT_EQ(h.read_attr_double("parameter_count"), double(trainable_parameter_count(m)));
  const ElmModel ckpt = read_checkpoint(out + "/checkpoint.h5");
  EXPECT_EQ(ckpt.config.head_hidden, 5);
}
