// Store-backed tasks (data/store_tasks.hpp): tiny stores written here with
// StoreWriter in the layout `elmrun prep` writes, then make_task / make_batch:
// shapes, token ids and end padding, gray quantisation, SHD binning counts,
// input dropout determinism, SHD-Adding labels; bad input as one-line errors;
// every configs/*.ini loads; every job of the paper's suite (jobs/paper) passes
// the checks `elmrun sweep --list` makes against a store of its task; elmrun
// train end to end on synthetic ListOps and SHD.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <set>
#include <sstream>

#include "core/error.hpp"
#include "data/prep/shd_reader.hpp"
#include "data/store/dataset_store.hpp"
#include "data/store_tasks.hpp"
#include "data/synthetic/synthetic_neuron.hpp"
#include "data/task.hpp"
#include "io/hdf5_io.hpp"
#include "test_support.hpp"
#include "train/run_config.hpp"
#include "sweep/pack_plan.hpp"
#include "sweep/sweep_checks.hpp"
#include "sweep/sweep_job.hpp"
#include "sweep/sweep_suite.hpp"

namespace fs = std::filesystem;
using elm::Batch;
using elm::Split;
using elm::test::elmrun;
using elm::test::run_command;
using elm::test::shell_quote;
using elm::test::TempDir;

namespace {

const char* kSplits[] = {"train", "valid", "test"};

struct TokenSample {
  std::vector<uint8_t> tokens;
  int64_t label = 0;
};

// One split file of a token store, as the LRA readers write it.
void write_token_split(const std::string& dir, const std::string& split, const std::string& task, int64_t vocab,
                       int64_t classes, const std::vector<TokenSample>& samples, int64_t max_length = 0) {
  fs::create_directories(dir);
  elm::StoreInfo info;
  info.task = task;
  info.split = split;
  info.source = "test";
  info.input_kind = "tokens";
  info.channels = vocab;
  info.num_classes = classes;
  for (const auto& s : samples) info.max_length = std::max<int64_t>(info.max_length, int64_t(s.tokens.size()));
  if (max_length) info.max_length = max_length;
  elm::StoreWriter w(dir + "/" + split + ".h5", info, {{"tokens", elm::FieldType::UInt8}});
  for (const auto& s : samples) {
    w.append_u8("tokens", s.tokens);
    w.end_sample(s.label);
  }
  w.commit();
}

void write_token_store(const std::string& dir, const std::string& task, int64_t vocab, int64_t classes,
                       const std::vector<TokenSample>& samples, int64_t max_length = 0) {
  for (const char* s : kSplits) write_token_split(dir, s, task, vocab, classes, samples, max_length);
}

struct ShdSample {
  std::vector<float> times;
  std::vector<uint16_t> units;
  int64_t label = 0;
};

void write_shd_split(const std::string& dir, const std::string& split, const std::vector<ShdSample>& samples) {
  fs::create_directories(dir);
  elm::StoreInfo info;
  info.task = "shd";
  info.split = split;
  info.source = "test";
  info.input_kind = "events";
  info.channels = 700;
  info.num_classes = 20;
  info.max_length = 1000;
  info.extra["max_length_unit"] = "ms";
  elm::StoreWriter w(dir + "/" + split + ".h5", info,
                     {{"event_time", elm::FieldType::Float32}, {"event_channel", elm::FieldType::UInt16}});
  for (const auto& s : samples) {
    w.append_f32("event_time", s.times);
    w.append_u16("event_channel", s.units);
    w.end_sample(s.label);
  }
  w.commit();
}

// Sample k: spikes spread over 1 s on many channels (label k % 20), reproducible.
ShdSample busy_shd_sample(int k, int spikes = 400) {
  ShdSample s;
  s.label = k % 20;
  for (int i = 0; i < spikes; ++i) {
    s.times.push_back(float((i * 7919 + k * 104729) % 99000) * 1e-5f + 0.0001f);
    s.units.push_back(uint16_t((i * 37 + k * 11) % 700));
  }
  return s;
}

void write_shd_store(const std::string& dir, int n_train, int n_valid, int n_test) {
  const int n[] = {n_train, n_valid, n_test};
  int k = 0;
  for (int s = 0; s < 3; ++s) {
    std::vector<ShdSample> v;
    for (int i = 0; i < n[s]; ++i) v.push_back(busy_shd_sample(k++));
    write_shd_split(dir, kSplits[s], v);
  }
}

elm::ElmConfig model_for(int num_input, int num_output, double delta_t = 1.0) {
  elm::ElmConfig m;
  m.num_input = num_input;
  m.num_output = num_output;
  m.num_memory = 4;
  m.delta_t = delta_t;
  return m;
}

std::vector<int64_t> iota(int64_t n) {
  std::vector<int64_t> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) v[size_t(i)] = i;
  return v;
}

// make_task must fail with one line naming every piece of `names`.
void expect_task_error(const elm::TaskConfig& cfg, const elm::ElmConfig& model, std::vector<std::string> names) {
  try {
    elm::make_task(cfg, model);
    ADD_FAILURE() << "task " << cfg.name << ": expected an error naming " << names[0];
  } catch (const elm::ElmError& e) {
    const std::string m = e.what();
    EXPECT_EQ(m.find('\n'), std::string::npos) << m;
    for (const auto& n : names) EXPECT_NE(m.find(n), std::string::npos) << "error does not name '" << n << "': " << m;
  }
}

// Dense [B, T, C] view of a spike batch.
std::vector<float> dense(const Batch& b) {
  return std::get<elm::DenseInput>(elm::dense_from_any(b.x).data).data;
}

}  // namespace

// ---- tokens --------------------------------------------------------------------

TEST(StoreTasks, ListOpsTokensArePaddedAtTheEndWithMinusOne) {
  TempDir tmp("elm-tasks");
  const std::vector<TokenSample> samples = {{{11, 2, 9, 14}, 9}, {{13, 4, 5, 10, 1, 7, 14, 14}, 0}, {{3}, 3}};
  write_token_store(tmp.file("listops"), "listops", 15, 10, samples);
  const auto task = elm::make_task({"listops", {{"store", tmp.file("listops")}}}, model_for(15, 10));
  EXPECT_EQ(task->num_input(), 15);
  EXPECT_EQ(task->num_output(), 10);
  EXPECT_EQ(task->num_samples(Split::Valid), 3);
  const std::vector<int64_t> idx = {1, 0, 2};
  const Batch b = task->make_batch(Split::Valid, idx);
  ASSERT_EQ(b.x.batch, 3);
  ASSERT_EQ(b.x.steps, 2000);
  EXPECT_EQ(b.x.channels, 15);
  EXPECT_NO_THROW(b.x.validate());
  const auto& ids = std::get<elm::TokenInput>(b.x.data).ids;
  ASSERT_EQ(ids.size(), 3u * 2000);
  for (int r = 0; r < 3; ++r) {
    const auto& t = samples[size_t(idx[r])].tokens;
    for (int s = 0; s < 2000; ++s)
      ASSERT_EQ(ids[size_t(r) * 2000 + s], s < int(t.size()) ? int(t[size_t(s)]) : -1) << "row " << r << " step " << s;
  }
  EXPECT_EQ(b.labels, (std::vector<int64_t>{0, 9, 3}));

  // seq_len truncates longer samples to their first tokens.
  const auto short_task =
      elm::make_task({"listops", {{"store", tmp.file("listops")}, {"seq_len", "5"}}}, model_for(15, 10));
  const std::vector<int64_t> one = {1};
  EXPECT_EQ(std::get<elm::TokenInput>(short_task->make_batch(Split::Test, one).x.data).ids,
            (std::vector<int32_t>{13, 4, 5, 10, 1}));
}

TEST(StoreTasks, TextCarvesValidOutOfTrainByAFixedMask) {
  TempDir tmp("elm-tasks");
  std::vector<TokenSample> samples;
  for (int i = 0; i < 200; ++i) samples.push_back({{uint8_t(i), uint8_t(255 - i % 256), 'a'}, i % 2});
  write_token_split(tmp.file("text"), "train", "text", 256, 2, samples);
  write_token_split(tmp.file("text"), "test", "text", 256, 2, {samples.begin(), samples.begin() + 4});
  const elm::TaskConfig cfg{"text", {{"store", tmp.file("text")}, {"valid_fraction", "0.25"}, {"seq_len", "8"}}};
  const auto task = elm::make_task(cfg, model_for(256, 2));
  const int64_t nt = task->num_samples(Split::Train), nv = task->num_samples(Split::Valid);
  EXPECT_EQ(nt + nv, 200);
  EXPECT_GT(nv, 25);
  EXPECT_LT(nv, 75);
  EXPECT_EQ(task->num_samples(Split::Test), 4);
  // The first token is the file row: train and valid rows are disjoint and cover the file.
  std::set<int> rows;
  for (Split s : {Split::Train, Split::Valid}) {
    const Batch b = task->make_batch(s, iota(task->num_samples(s)));
    ASSERT_EQ(b.x.steps, 8);
    const auto& ids = std::get<elm::TokenInput>(b.x.data).ids;
    for (int r = 0; r < b.x.batch; ++r) {
      EXPECT_TRUE(rows.insert(ids[size_t(r) * 8]).second);
      EXPECT_EQ(ids[size_t(r) * 8 + 2], 'a');
      EXPECT_EQ(ids[size_t(r) * 8 + 3], -1);
      EXPECT_EQ(b.labels[size_t(r)], ids[size_t(r) * 8] % 2);
    }
  }
  EXPECT_EQ(rows.size(), 200u);
  // The same seed gives the same split; default text config (valid_fraction 0.1) needs no valid.h5.
  const auto again = elm::make_task(cfg, model_for(256, 2));
  EXPECT_EQ(again->num_samples(Split::Valid), nv);
  EXPECT_NO_THROW(elm::make_task({"text", {{"store", tmp.file("text")}}}, model_for(256, 2)));
  // valid_fraction = 0 reads valid.h5, which this store lacks.
  expect_task_error({"text", {{"store", tmp.file("text")}, {"valid_fraction", "0"}}}, model_for(256, 2),
                    {"store split missing", "valid.h5", "task.store"});
}

TEST(StoreTasks, ImagesAreQuantisedToGrayLevels) {
  TempDir tmp("elm-tasks");
  std::vector<uint8_t> img(1024);
  for (int i = 0; i < 1024; ++i) img[size_t(i)] = uint8_t(i % 256);
  write_token_store(tmp.file("image"), "image", 256, 10, {{img, 7}, {std::vector<uint8_t>(1024, 255), 2}});
  for (int levels : {16, 2, 256}) {
    const auto task = elm::make_task(
        {"image", {{"store", tmp.file("image")}, {"gray_levels", std::to_string(levels)}}}, model_for(levels, 10));
    EXPECT_EQ(task->num_input(), levels);
    const std::vector<int64_t> idx = {0, 1};
    const Batch b = task->make_batch(Split::Train, idx);
    ASSERT_EQ(b.x.steps, 1024);
    EXPECT_EQ(b.x.channels, levels);
    EXPECT_NO_THROW(b.x.validate());
    const auto& ids = std::get<elm::TokenInput>(b.x.data).ids;
    for (int i = 0; i < 1024; ++i) ASSERT_EQ(ids[size_t(i)], (i % 256) * levels / 256) << "pixel " << i;
    EXPECT_EQ(ids[1024 + 5], levels - 1);
    EXPECT_EQ(b.labels, (std::vector<int64_t>{7, 2}));
  }
  // Spot values of the default 16 levels: id = gray * 16 / 256.
  const auto task = elm::make_task({"image", {{"store", tmp.file("image")}}}, model_for(16, 10));
  const auto& ids = std::get<elm::TokenInput>(task->make_batch(Split::Test, std::vector<int64_t>{0}).x.data).ids;
  EXPECT_EQ(ids[15], 0);
  EXPECT_EQ(ids[16], 1);
  EXPECT_EQ(ids[127], 7);
  EXPECT_EQ(ids[128], 8);
  EXPECT_EQ(ids[255], 15);
}

TEST(StoreTasks, PathfinderTakesAnyResolutionAndPathXIs128Squared) {
  TempDir tmp("elm-tasks");
  std::vector<uint8_t> img(36);
  for (int i = 0; i < 36; ++i) img[size_t(i)] = uint8_t(i * 7);
  write_token_store(tmp.file("pf6"), "pathfinder", 256, 2, {{img, 1}, {img, 0}});
  const auto task = elm::make_task({"pathfinder", {{"store", tmp.file("pf6")}}}, model_for(16, 2));
  const Batch b = task->make_batch(Split::Valid, std::vector<int64_t>{1});
  ASSERT_EQ(b.x.steps, 36);
  const auto& ids = std::get<elm::TokenInput>(b.x.data).ids;
  for (int i = 0; i < 36; ++i) EXPECT_EQ(ids[size_t(i)], i * 7 * 16 / 256);
  EXPECT_EQ(b.labels[0], 0);

  // Path-X: 8 levels by default, T = 16384; a 6x6 store is rejected.
  expect_task_error({"pathx", {{"store", tmp.file("pf6")}}}, model_for(8, 2), {"36 pixels", "16384"});
  write_token_store(tmp.file("px"), "pathx", 256, 2, {{std::vector<uint8_t>(16384, 200), 1}});
  const auto px = elm::make_task({"pathx", {{"store", tmp.file("px")}}}, model_for(8, 2));
  EXPECT_EQ(px->num_input(), 8);
  const Batch pb = px->make_batch(Split::Test, std::vector<int64_t>{0});
  ASSERT_EQ(pb.x.steps, 16384);
  EXPECT_EQ(std::get<elm::TokenInput>(pb.x.data).ids[16383], 200 * 8 / 256);
}

// ---- events ------------------------------------------------------------------------

TEST(StoreTasks, ShdBinsSpikeCountsIntoBinMsSteps) {
  TempDir tmp("elm-tasks");
  ShdSample s;
  s.label = 13;
  s.times = {0.0005f, 0.0015f, 0.0019f, 0.501f, 0.999f, 1.0f, 1.2f, 0.0021f};
  s.units = {3, 3, 3, 10, 699, 5, 6, 3};
  write_shd_split(tmp.file("shd"), "train", {busy_shd_sample(0), busy_shd_sample(1)});
  write_shd_split(tmp.file("shd"), "valid", {s});
  write_shd_split(tmp.file("shd"), "test", {s, busy_shd_sample(2)});
  const auto task = elm::make_task({"shd", {{"store", tmp.file("shd")}}}, model_for(700, 20, 2.0));
  EXPECT_EQ(task->num_input(), 700);
  EXPECT_EQ(task->num_output(), 20);
  const Batch b = task->make_batch(Split::Valid, std::vector<int64_t>{0});
  ASSERT_EQ(b.x.steps, 500);
  EXPECT_EQ(b.labels, std::vector<int64_t>{13});
  const auto& sp = std::get<elm::SpikeInput>(b.x.data);
  // step 0: channel 3 x3; step 1: channel 3 x1; step 250: channel 10; step 499: channel 699; >= 1 s dropped.
  std::map<std::pair<int, int>, float> cells;
  for (int t = 0; t < 500; ++t)
    for (int64_t e = sp.offsets[size_t(t)]; e < sp.offsets[size_t(t) + 1]; ++e) cells[{t, sp.channel[size_t(e)]}] += sp.value[size_t(e)];
  const std::map<std::pair<int, int>, float> want = {{{0, 3}, 3.f}, {{1, 3}, 1.f}, {{250, 10}, 1.f}, {{499, 699}, 1.f}};
  EXPECT_EQ(cells, want);

  // 10 ms bins: T = 100, the first four spikes share bin 0.
  const auto t10 = elm::make_task({"shd", {{"store", tmp.file("shd")}, {"bin_ms", "10"}}}, model_for(700, 20, 10));
  const Batch b10 = t10->make_batch(Split::Test, std::vector<int64_t>{0});
  ASSERT_EQ(b10.x.steps, 100);
  const auto d = dense(b10);
  EXPECT_EQ(d[3], 4.f);
  EXPECT_EQ(d[size_t(50) * 700 + 10], 1.f);
  EXPECT_EQ(d[size_t(99) * 700 + 699], 1.f);

  // model.delta_t must match the bin.
  expect_task_error({"shd", {{"store", tmp.file("shd")}}}, model_for(700, 20, 1.0), {"model.delta_t", "task.bin_ms"});
}

TEST(StoreTasks, ShdInputDropoutIsReproduciblePerStepAndTrainingOnly) {
  TempDir tmp("elm-tasks");
  write_shd_store(tmp.file("shd"), 6, 2, 2);
  const auto task = elm::make_task({"shd", {{"store", tmp.file("shd")}, {"seed", "5"}}}, model_for(700, 20, 2));
  const std::vector<int64_t> idx = {4, 1, 3};
  const Batch full = task->make_batch(Split::Train, idx);
  const Batch a = task->make_train_batch(idx, 7, 0), a2 = task->make_train_batch(idx, 7, 0);
  const Batch c = task->make_train_batch(idx, 8, 0);
  const auto df = dense(full), da = dense(a), da2 = dense(a2), dc = dense(c);
  EXPECT_EQ(da, da2) << "same step, same batch";
  EXPECT_NE(da, dc) << "another step draws another mask";
  EXPECT_EQ(a.labels, full.labels);
  // Kept cells are unchanged counts; about half of the nonzero cells are dropped.
  int64_t nonzero = 0, kept = 0;
  for (size_t i = 0; i < df.size(); ++i) {
    if (df[i] == 0) {
      EXPECT_EQ(da[i], 0);
      continue;
    }
    ++nonzero;
    if (da[i] != 0) {
      ++kept;
      EXPECT_EQ(da[i], df[i]);
    }
  }
  ASSERT_GT(nonzero, 800);
  EXPECT_GT(kept, nonzero * 4 / 10);
  EXPECT_LT(kept, nonzero * 6 / 10);
  // A sample's mask does not depend on its batch neighbours (ranks split batches).
  const Batch single = task->make_train_batch(std::vector<int64_t>{1}, 7, 0);
  const auto ds = dense(single);
  const size_t row = size_t(500) * 700;
  EXPECT_TRUE(std::equal(ds.begin(), ds.end(), da.begin() + row));
  // make_batch (what evaluation calls) never drops: it equals a training batch with
  // input_dropout = 0.
  const auto off = elm::make_task({"shd", {{"store", tmp.file("shd")}, {"input_dropout", "0"}}}, model_for(700, 20, 2));
  EXPECT_EQ(dense(off->make_train_batch(idx, 7, 0)), df);
}

TEST(StoreTasks, ShdAddingConcatenatesTwoDrawnSamplesAndSumsTheirDigits) {
  TempDir tmp("elm-tasks");
  write_shd_store(tmp.file("shd"), 25, 23, 3);
  const elm::TaskConfig cfg{"shd_adding",
                            {{"store", tmp.file("shd")}, {"bin_ms", "10"}, {"seed", "2"}, {"input_dropout", "0"},
                             {"adding_samples_per_epoch", "40"}, {"adding_valid_samples", "30"}}};
  const auto task = elm::make_task(cfg, model_for(700, 19, 10));
  EXPECT_EQ(task->num_output(), 19);
  EXPECT_EQ(task->num_samples(Split::Train), 40);
  EXPECT_EQ(task->num_samples(Split::Valid), 30);
  EXPECT_EQ(task->num_samples(Split::Test), 16000);
  const auto shd = elm::make_task({"shd", {{"store", tmp.file("shd")}, {"bin_ms", "10"}}}, model_for(700, 20, 10));
  // Valid pair i: shd_adding_draw(23, seed * 3 + 1, i); first sample in steps 0..99, second in 100..199.
  const auto idx = iota(30);
  const Batch b = task->make_batch(Split::Valid, idx);
  ASSERT_EQ(b.x.steps, 200);
  const auto d = dense(b);
  std::set<int64_t> labels;
  for (int i = 0; i < 30; ++i) {
    const elm::ShdAddingPair p = elm::shd_adding_draw(23, 2 * 3 + 1, uint64_t(i));
    const Batch one = shd->make_batch(Split::Valid, std::vector<int64_t>{p.first, p.second});
    EXPECT_EQ(b.labels[size_t(i)], one.labels[0] % 10 + one.labels[1] % 10);
    labels.insert(b.labels[size_t(i)]);
    const auto parts = dense(one);
    const size_t half = size_t(100) * 700;
    EXPECT_TRUE(std::equal(parts.begin(), parts.end(), d.begin() + size_t(i) * 2 * half)) << "pair " << i;
  }
  EXPECT_GE(labels.size(), 5u);
  // Training pairs change with the step (fresh pairs), deterministically.
  const auto step_pair_labels = [&](int64_t step) {
    return task->make_train_batch(std::vector<int64_t>{0, 1, 2, 3, 4, 5, 6, 7}, step, 0).labels;
  };
  EXPECT_EQ(step_pair_labels(3), step_pair_labels(3));
  std::vector<int64_t> expect;
  for (uint64_t i = 0; i < 8; ++i) {
    const elm::ShdAddingPair p = elm::shd_adding_draw(25, 2 * 3 + 0, 3 * 40 + i);
    const Batch one = shd->make_batch(Split::Train, std::vector<int64_t>{p.first, p.second});
    expect.push_back(one.labels[0] % 10 + one.labels[1] % 10);
  }
  EXPECT_EQ(step_pair_labels(3), expect);
  EXPECT_NE(dense(task->make_train_batch(idx, 3, 0)), dense(task->make_train_batch(idx, 4, 0)));
}

// ---- bad input -----------------------------------------------------------------------

TEST(StoreTasks, BadInputIsAOneLineErrorNamingTheCause) {
  TempDir tmp("elm-tasks");
  write_token_store(tmp.file("listops"), "listops", 15, 10, {{{1, 2}, 1}});
  write_shd_store(tmp.file("shd"), 2, 1, 1);
  const std::string lo = tmp.file("listops");
  // Missing store directory, missing split, missing key.
  expect_task_error({"listops", {{"store", tmp.file("nowhere")}}}, model_for(15, 10), {"task.store", "nowhere"});
  fs::remove(tmp.file("shd") + "/test.h5");
  expect_task_error({"shd", {{"store", tmp.file("shd")}}}, model_for(700, 20, 2), {"store split missing", "test.h5"});
  expect_task_error({"image", {}}, model_for(16, 10), {"task.store", "required"});
  // Wrong vocabulary vs model.num_input, wrong classes.
  expect_task_error({"listops", {{"store", lo}}}, model_for(16, 10), {"model.num_input", "vocabulary of 15"});
  write_token_store(tmp.file("image"), "image", 256, 10, {{std::vector<uint8_t>(1024, 1), 1}});
  expect_task_error({"image", {{"store", tmp.file("image")}, {"gray_levels", "8"}}}, model_for(16, 10),
                    {"model.num_input", "task.gray_levels", "8"});
  expect_task_error({"listops", {{"store", lo}}}, model_for(15, 2), {"model.num_output"});
  // Unknown and malformed task keys.
  expect_task_error({"listops", {{"store", lo}, {"gray_levels", "16"}}}, model_for(15, 10),
                    {"task.gray_levels", "not an option of task listops"});
  expect_task_error({"shd", {{"store", tmp.file("shd")}, {"bin_size", "2"}}}, model_for(700, 20, 2), {"task.bin_size"});
  expect_task_error({"shd", {{"store", tmp.file("shd")}, {"input_dropout", "1.5"}}}, model_for(700, 20, 2),
                    {"task.input_dropout"});
  expect_task_error({"synthetic_listops", {{"max_args", "x"}}}, model_for(15, 10), {"task.max_args"});
  // A store of another task (retrieval: test_two_tower.cpp); an unknown task.
  expect_task_error({"image", {{"store", lo}}}, model_for(16, 10), {"listops", "image", "train.h5"});
  elm::ElmConfig two_tower = model_for(256, 75);
  two_tower.head_hidden = 150;
  expect_task_error({"retrieval", {{"store", lo}}}, two_tower, {"listops", "retrieval", "train.h5"});
  expect_task_error({"cifar", {}}, model_for(16, 10), {"task.name", "cifar", "pathx"});
  // An out-of-range index.
  const auto task = elm::make_task({"listops", {{"store", lo}}}, model_for(15, 10));
  EXPECT_THROW(task->make_batch(Split::Train, std::vector<int64_t>{1}), elm::ElmError);
}

// ---- configs and the CLI ---------------------------------------------------------------

namespace {

// A retrieval store as prep retrieval writes it: two documents per sample (tokens, tokens_b).
void write_tiny_retrieval_store(const std::string& dir) {
  for (const char* split : kSplits) {
    fs::create_directories(dir);
    elm::StoreInfo info;
    info.task = "retrieval";
    info.split = split;
    info.source = "test";
    info.input_kind = "tokens";
    info.channels = 256;
    info.num_classes = 2;
    info.max_length = 3;
    elm::StoreWriter w(dir + "/" + split + ".h5", info,
                       {{"tokens", elm::FieldType::UInt8}, {"tokens_b", elm::FieldType::UInt8}});
    const std::vector<uint8_t> a = {65, 66, 67}, b = {68, 69};
    for (int i = 0; i < 2; ++i) {
      w.append_u8("tokens", a);
      w.append_u8("tokens_b", b);
      w.end_sample(i);
    }
    w.commit();
  }
}

// A tiny store of every task the shipped jobs train, in tmp: task name -> store.
std::map<std::string, std::string> write_tiny_task_stores(TempDir& tmp) {
  write_token_store(tmp.file("listops"), "listops", 15, 10, {{{1, 2}, 1}});
  write_token_store(tmp.file("text"), "text", 256, 2, std::vector<TokenSample>(60, TokenSample{{65, 66}, 1}));
  write_token_store(tmp.file("image"), "image", 256, 10, {{std::vector<uint8_t>(1024, 1), 1}});
  write_token_store(tmp.file("pathfinder"), "pathfinder", 256, 2, {{std::vector<uint8_t>(1024, 1), 1}});
  write_token_store(tmp.file("pathx"), "pathx", 256, 2, {{std::vector<uint8_t>(16384, 1), 1}});
  write_token_store(tmp.file("sfmnist"), "fmnist", 256, 10, {{std::vector<uint8_t>(784, 1), 1}});
  write_shd_store(tmp.file("shd"), 2, 2, 2);
  write_tiny_retrieval_store(tmp.file("retrieval"));
  elm::SyntheticNeuronOptions neuron;
  neuron.train_simulations = neuron.valid_simulations = neuron.test_simulations = 1;
  neuron.duration_ms = 1200;  // NeuronIO windows start in [500, T - 500)
  std::ostringstream log;
  elm::write_synthetic_neuron_store(tmp.file("neuronio"), neuron, log);
  std::map<std::string, std::string> stores;
  for (const char* task : {"listops", "text", "image", "pathfinder", "pathx", "sfmnist", "shd", "retrieval", "neuronio"})
    stores[task] = tmp.file(task);
  stores["shd_adding"] = tmp.file("shd");
  return stores;
}

}  // namespace

TEST(StoreTasks, EveryConfigLoadsAndFitsItsTask) {
  TempDir tmp("elm-tasks");
  const fs::path dir = fs::path(elm::test::source_dir()) / "configs";
  // Tiny stores of each task, so make_task checks each config's model against its task.
  const auto stores = write_tiny_task_stores(tmp);
  int n = 0;
  std::set<std::string> names;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (e.path().extension() != ".ini") continue;
    ++n;
    SCOPED_TRACE(e.path().string());
    elm::RunConfig rc;
    ASSERT_NO_THROW(rc = elm::RunConfig::load(e.path().string(), {})) << e.path();
    names.insert(rc.task.name);
    const std::string name = rc.task.name;
    if (name == "neuronio") {  // its store is tested in test_neuronio_task.cpp; here: the factory knows it
      expect_task_error(rc.task, rc.model, {"data/neuronio"});
      continue;
    }
    if (name == "retrieval") {  // its store has two documents per sample: test_two_tower.cpp
      expect_task_error(rc.task, rc.model, {"task.store"});
      continue;
    }
    if (rc.task.options.count("store")) {
      // The configured store does not exist here: make_task (not loading) reports it.
      expect_task_error(rc.task, rc.model, {"task.store"});
      rc.task.options["store"] = stores.at(name);
    }
    EXPECT_NO_THROW(elm::make_task(rc.task, rc.model)) << name;
  }
  EXPECT_GE(n, 11);
  for (const char* t : {"shd", "shd_adding", "listops", "text", "retrieval", "image", "pathfinder", "pathx", "neuronio",
                        "synthetic_listops", "synthetic_burst"})
    EXPECT_TRUE(names.count(t)) << "no config for task " << t;
}

namespace {

// Every run of the job passes the sweep's checks on the store of its task
// (model shape against the store, model.delta_t = task.bin_ms, ...); returns
// the job's task and adds its runs to *runs_total.
std::string expect_job_passes_on_its_store(const std::string& path, const std::map<std::string, std::string>& stores,
                                           int64_t* runs_total) {
  SCOPED_TRACE(path);
  const std::string task = elm::expand_sweep(elm::read_sweep_job(path, {})).front().config.task.name;
  EXPECT_TRUE(stores.count(task)) << "no tiny store of task " << task;
  if (!stores.count(task)) return task;
  const elm::SweepJob j = elm::read_sweep_job(path, {"task.store=" + stores.at(task)});
  const auto runs = elm::expand_sweep(j);
  std::string problems;
  for (const auto& p : elm::sweep_input_problems(runs)) problems += p + "\n";
  EXPECT_EQ(problems, "");
  EXPECT_NO_THROW(elm::parse_pack_size(j.pack, runs.front().config, "sweep.pack", j.path));
  *runs_total += int64_t(runs.size());
  return task;
}

}  // namespace

TEST(StoreTasks, EveryPaperJobPassesTheSweepChecksOnAStoreOfItsTask) {
  // `elmrun sweep jobs/paper/suite.ini --list` refuses without the data; here
  // every job meets a tiny store of its task, so the checks that need one run too.
  TempDir tmp("elm-paper");
  const auto stores = write_tiny_task_stores(tmp);
  const std::string suite_file = elm::test::source_dir() + "/jobs/paper/suite.ini";
  const elm::SweepSuite suite = elm::read_sweep_suite(suite_file);
  std::set<std::string> tasks;
  int64_t runs_total = 0;
  for (const auto& job : suite.jobs) {
    SCOPED_TRACE(job.path);
    // Without its data the job is refused, naming the store.
    const auto refused = elm::sweep_input_problems(elm::expand_sweep(elm::read_sweep_job(job.path, {})));
    ASSERT_FALSE(refused.empty());
    EXPECT_NE(refused[0].find("data/"), std::string::npos) << refused[0];
    tasks.insert(expect_job_passes_on_its_store(job.path, stores, &runs_total));
  }
  EXPECT_EQ(tasks, (std::set<std::string>{"neuronio", "shd", "shd_adding", "listops", "text", "retrieval", "image",
                                          "pathfinder", "pathx"}));
  EXPECT_GE(runs_total, 100);
}

TEST(StoreTasks, EveryShippedJobPassesTheSweepChecksOnAStoreOfItsTask) {
  // The examples of jobs/ as well: a job whose grid varies task.bin_ms without
  // model.delta_t would have most of its runs refused on real data.
  TempDir tmp("elm-jobs");
  const auto stores = write_tiny_task_stores(tmp);
  std::set<std::string> tasks;
  int64_t runs_total = 0, jobs = 0;
  for (const auto& e : fs::directory_iterator(fs::path(elm::test::source_dir()) / "jobs")) {
    if (e.path().extension() != ".ini") continue;
    tasks.insert(expect_job_passes_on_its_store(e.path().string(), stores, &runs_total));
    ++jobs;
  }
  EXPECT_GE(jobs, 7);
  EXPECT_TRUE(tasks.count("sfmnist") && tasks.count("neuronio") && tasks.count("shd_adding")) << tasks.size();
  EXPECT_GE(runs_total, 60);
}

TEST(StoreTasks, TrainRunsOnSyntheticListOpsAndOnATinyShdStore) {
  TempDir tmp("elm-tasks");
  const std::string cfg = elm::test::source_dir() + "/configs/";
  auto r = run_command(elmrun() + " train --config " + shell_quote(cfg + "synthetic_listops.ini") +
                       " --set train.steps=5 --out " + shell_quote(tmp.file("listops")));
  ASSERT_EQ(r.status, 0) << r.stderr_text;
  {
    elm::H5Reader h(tmp.file("listops") + "/results.h5");
    EXPECT_EQ(h.read_double("train/loss").data.size(), 5u);
    EXPECT_TRUE(h.has("test/accuracy"));
  }

  write_shd_store(tmp.file("shd"), 6, 3, 3);
  r = run_command(elmrun() + " train --config " + shell_quote(cfg + "shd.ini") + " --set task.store=" +
                  shell_quote(tmp.file("shd")) +
                  " --set task.bin_ms=10 --set model.delta_t=10 --set model.num_memory=5 --set train.steps=4"
                  " --set train.batch_size=2 --set train.eval_every=2 --out " +
                  shell_quote(tmp.file("shd-run")));
  ASSERT_EQ(r.status, 0) << r.stderr_text;
  elm::H5Reader h(tmp.file("shd-run") + "/results.h5");
  EXPECT_EQ(h.read_double("train/loss").data.size(), 4u);
  EXPECT_EQ(h.read_int("valid/step").data, (std::vector<int64_t>{2, 4}));

  // The CLI reports a task error as one line and writes nothing.
  r = run_command(elmrun() + " train --config " + shell_quote(cfg + "shd.ini") + " --set task.store=" +
                  shell_quote(tmp.file("shd")) + " --set model.delta_t=1 --out " + shell_quote(tmp.file("bad")));
  EXPECT_NE(r.status, 0);
  EXPECT_EQ(std::count(r.stderr_text.begin(), r.stderr_text.end(), '\n'), 1) << r.stderr_text;
  EXPECT_NE(r.stderr_text.find("model.delta_t"), std::string::npos) << r.stderr_text;
  EXPECT_FALSE(fs::exists(tmp.file("bad") + "/results.h5"));
}
