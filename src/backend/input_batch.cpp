#include "backend/input_batch.hpp"

#include <cmath>

#include "core/error.hpp"

namespace elm {

void InputBatch::validate() const {
  ELM_CHECK(batch > 0 && steps > 0 && channels > 0, "input batch: bad shape [", batch, ", ", steps, ", ", channels,
            "]");
  const int64_t bt = int64_t(batch) * steps;
  if (auto* d = std::get_if<DenseInput>(&data)) {
    ELM_CHECK(static_cast<int64_t>(d->data.size()) == bt * channels, "dense input: ", d->data.size(),
              " values for shape [", batch, ", ", steps, ", ", channels, "]");
    for (size_t i = 0; i < d->data.size(); ++i)
      ELM_CHECK(std::isfinite(d->data[i]), "dense input: non-finite value at flat index ", i);
  } else if (auto* s = std::get_if<SpikeInput>(&data)) {
    ELM_CHECK(static_cast<int64_t>(s->offsets.size()) == bt + 1, "spike input: offsets must have B*T+1 entries");
    ELM_CHECK(s->offsets.front() == 0 && s->offsets.back() == static_cast<int64_t>(s->channel.size()) &&
                  s->channel.size() == s->value.size(),
              "spike input: offsets, channels and values disagree");
    for (int64_t i = 0; i < bt; ++i)
      ELM_CHECK(s->offsets[i] <= s->offsets[i + 1], "spike input: offsets decrease at step ", i);
    for (size_t e = 0; e < s->channel.size(); ++e) {
      ELM_CHECK(s->channel[e] >= 0 && s->channel[e] < channels, "spike input: event ", e, " has channel ",
                s->channel[e], " outside [0, ", channels, ")");
      ELM_CHECK(std::isfinite(s->value[e]), "spike input: event ", e, " has a non-finite value");
    }
  } else {
    const auto& t = std::get<TokenInput>(data);
    ELM_CHECK(static_cast<int64_t>(t.ids.size()) == bt, "token input: ", t.ids.size(), " ids for [", batch, ", ",
              steps, "]");
    for (size_t i = 0; i < t.ids.size(); ++i)
      ELM_CHECK(t.ids[i] < channels, "token input: id ", t.ids[i], " at flat index ", i,
                " is outside the vocabulary of ", channels);
  }
}

InputBatch spikes_from_dense(const InputBatch& in) {
  const auto& d = std::get<DenseInput>(in.data);
  SpikeInput s;
  const int64_t bt = int64_t(in.batch) * in.steps;
  s.offsets.reserve(bt + 1);
  s.offsets.push_back(0);
  for (int64_t r = 0; r < bt; ++r) {
    for (int i = 0; i < in.channels; ++i) {
      const float v = d.data[r * in.channels + i];
      if (v != 0.0f) {
        s.channel.push_back(i);
        s.value.push_back(v);
      }
    }
    s.offsets.push_back(static_cast<int64_t>(s.channel.size()));
  }
  return InputBatch{in.batch, in.steps, in.channels, std::move(s)};
}

InputBatch dense_from_any(const InputBatch& in) {
  const int64_t bt = int64_t(in.batch) * in.steps;
  DenseInput d;
  d.data.assign(bt * in.channels, 0.0f);
  if (auto* dense = std::get_if<DenseInput>(&in.data)) {
    d.data = dense->data;
  } else if (auto* s = std::get_if<SpikeInput>(&in.data)) {
    for (int64_t r = 0; r < bt; ++r)
      for (int64_t e = s->offsets[r]; e < s->offsets[r + 1]; ++e) d.data[r * in.channels + s->channel[e]] += s->value[e];
  } else {
    const auto& t = std::get<TokenInput>(in.data);
    for (int64_t r = 0; r < bt; ++r)
      if (t.ids[r] >= 0) d.data[r * in.channels + t.ids[r]] = 1.0f;
  }
  return InputBatch{in.batch, in.steps, in.channels, std::move(d)};
}

}  // namespace elm
