// The staging plan of the GPU backend's batch upload: every array of a batch
// at an aligned offset of one buffer, none overlapping, and what fill_staging
// writes reads back as the batch (labels as int32).
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "core/error.hpp"
#include "train/staging_plan.hpp"

namespace elm {
namespace {

std::vector<StagingPlan::Array> arrays_of(const StagingPlan& p) {
  std::vector<StagingPlan::Array> all;
  for (const auto& a : {p.dense, p.offsets, p.channel, p.value, p.ids, p.labels, p.spike, p.soma})
    if (a.bytes) all.push_back(a);
  return all;
}

void expect_aligned_disjoint_within(const StagingPlan& p) {
  auto all = arrays_of(p);
  std::sort(all.begin(), all.end(), [](auto a, auto b) { return a.offset < b.offset; });
  size_t end = 0;
  for (const auto& a : all) {
    EXPECT_EQ(a.offset % StagingPlan::kAlign, 0u) << a.offset;
    EXPECT_GE(a.offset, end) << "arrays overlap";
    end = a.offset + a.bytes;
  }
  EXPECT_EQ(p.total, end);
}

template <class T>
std::vector<T> read_back(const std::vector<std::byte>& buf, const StagingPlan::Array& a) {
  std::vector<T> v(a.bytes / sizeof(T));
  std::memcpy(v.data(), buf.data() + a.offset, a.bytes);
  return v;
}

TEST(StagingPlan, SpikesAndLabels) {
  Batch b;
  b.x = InputBatch{2, 3, 5, SpikeInput{{0, 1, 1, 3, 3, 3, 4}, {4, 0, 2, 1}, {1.0f, -1.0f, 2.0f, 1.0f}}};
  b.labels = {3, 1};
  const StagingPlan p = plan_staging(b, TaskLoss::LastStepCrossEntropy);
  EXPECT_EQ(p.kind, InputKind::Spikes);
  EXPECT_EQ(p.events, 4);
  EXPECT_EQ(p.offsets.bytes, 7 * sizeof(int64_t));
  EXPECT_EQ(p.labels.bytes, 2 * sizeof(int32_t));
  EXPECT_EQ(p.spike.bytes + p.soma.bytes + p.dense.bytes + p.ids.bytes, 0u);
  expect_aligned_disjoint_within(p);
  std::vector<std::byte> buf(p.total);
  fill_staging(b, p, buf.data());
  const auto& s = std::get<SpikeInput>(b.x.data);
  EXPECT_EQ(read_back<int64_t>(buf, p.offsets), s.offsets);
  EXPECT_EQ(read_back<int32_t>(buf, p.channel), s.channel);
  EXPECT_EQ(read_back<float>(buf, p.value), s.value);
  EXPECT_EQ(read_back<int32_t>(buf, p.labels), (std::vector<int32_t>{3, 1}));
}

TEST(StagingPlan, TokensWithNeuronioTargetsAndDense) {
  Batch b;
  b.x = InputBatch{2, 2, 7, TokenInput{{6, -1, 0, 3}}};
  b.target_spike = {0, 1, 0, 0};
  b.target_soma = {0.5f, -0.25f, 1, 2};
  const StagingPlan p = plan_staging(b, TaskLoss::Neuronio);
  EXPECT_EQ(p.labels.bytes, 0u);
  expect_aligned_disjoint_within(p);
  std::vector<std::byte> buf(p.total);
  fill_staging(b, p, buf.data());
  EXPECT_EQ(read_back<int32_t>(buf, p.ids), std::get<TokenInput>(b.x.data).ids);
  EXPECT_EQ(read_back<float>(buf, p.spike), b.target_spike);
  EXPECT_EQ(read_back<float>(buf, p.soma), b.target_soma);
  b.target_soma.pop_back();
  EXPECT_THROW(plan_staging(b, TaskLoss::Neuronio), ElmError);

  Batch d;
  d.x = InputBatch{1, 3, 100, DenseInput{std::vector<float>(300, 0.5f)}};
  d.labels = {0};
  const StagingPlan q = plan_staging(d, TaskLoss::PairedCrossEntropy);
  EXPECT_EQ(q.dense.bytes, 300 * sizeof(float));
  EXPECT_EQ(q.labels.offset, 1280u);  // 1200 bytes of input, then the next 256-byte boundary
  expect_aligned_disjoint_within(q);
}

}  // namespace
}  // namespace elm
