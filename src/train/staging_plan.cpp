#include "train/staging_plan.hpp"

#include <cstring>

#include "core/error.hpp"

namespace elm {

namespace {

// Appends an array of n values of T at the next aligned offset.
template <class T>
StagingPlan::Array place(size_t& end, size_t n) {
  const size_t at = (end + StagingPlan::kAlign - 1) / StagingPlan::kAlign * StagingPlan::kAlign;
  end = at + n * sizeof(T);
  return {at, n * sizeof(T)};
}

template <class T>
void put(std::byte* buffer, const StagingPlan::Array& a, const T* values) {
  if (a.bytes) std::memcpy(buffer + a.offset, values, a.bytes);
}

}  // namespace

StagingPlan plan_staging(const Batch& batch, TaskLoss loss) {
  const InputBatch& x = batch.x;
  StagingPlan p;
  p.batch = x.batch;
  p.steps = x.steps;
  p.channels = x.channels;
  const size_t rows = size_t(x.batch) * x.steps;
  size_t end = 0;
  if (const auto* d = std::get_if<DenseInput>(&x.data)) {
    p.kind = InputKind::Dense;
    p.dense = place<float>(end, d->data.size());
  } else if (const auto* s = std::get_if<SpikeInput>(&x.data)) {
    p.kind = InputKind::Spikes;
    p.events = int64_t(s->channel.size());
    p.offsets = place<int64_t>(end, s->offsets.size());
    p.channel = place<int32_t>(end, s->channel.size());
    p.value = place<float>(end, s->value.size());
  } else {
    p.kind = InputKind::Tokens;
    p.ids = place<int32_t>(end, std::get<TokenInput>(x.data).ids.size());
  }
  if (loss == TaskLoss::Neuronio) {
    ELM_CHECK(batch.target_spike.size() == rows && batch.target_soma.size() == rows,
              "NeuronIO batch: targets must hold B*T = ", rows, " values");
    p.spike = place<float>(end, rows);
    p.soma = place<float>(end, rows);
  } else {
    p.labels = place<int32_t>(end, batch.labels.size());
  }
  p.total = end;
  return p;
}

void fill_staging(const Batch& batch, const StagingPlan& p, std::byte* buffer) {
  const InputBatch& x = batch.x;
  if (const auto* d = std::get_if<DenseInput>(&x.data)) {
    put(buffer, p.dense, d->data.data());
  } else if (const auto* s = std::get_if<SpikeInput>(&x.data)) {
    put(buffer, p.offsets, s->offsets.data());
    put(buffer, p.channel, s->channel.data());
    put(buffer, p.value, s->value.data());
  } else {
    put(buffer, p.ids, std::get<TokenInput>(x.data).ids.data());
  }
  if (p.labels.bytes) {
    auto* out = reinterpret_cast<int32_t*>(buffer + p.labels.offset);
    for (size_t i = 0; i < batch.labels.size(); ++i) out[i] = int32_t(batch.labels[i]);
  }
  put(buffer, p.spike, batch.target_spike.data());
  put(buffer, p.soma, batch.target_soma.data());
}

}  // namespace elm
