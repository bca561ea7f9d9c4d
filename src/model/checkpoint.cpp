// Checkpoints use the golden-file layout: attributes `variant` and `config_json`
// (reference constructor names) and one dataset per state-dict entry under
// params/, so a checkpoint converted from PyTorch and one we write read alike.
#include <cmath>

#include "core/error.hpp"
#include "io/hdf5_io.hpp"
#include "model/elm_model.hpp"

namespace elm {

static std::string shape_text(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

void write_checkpoint(const ElmModel& model, const std::string& path) {
  H5AtomicWriter w(path);
  w.write_attr("format", "elmrun-checkpoint-1");
  w.write_attr("variant", to_string(model.config.variant));
  w.write_attr("config_json", model.config.to_json());
  for (const auto& e : model.layout.entries())
    w.write_float("params/" + e.name, model.params.data() + e.offset, e.shape);
  const int64_t ds = static_cast<int64_t>(model.routing.input_index.size());
  w.write_int64("params/input_to_synapse_indices", model.routing.input_index.data(), {ds});
  std::vector<int64_t> valid(model.routing.valid.begin(), model.routing.valid.end());
  w.write_int64("params/valid_indices_mask", valid.data(), {ds});
  w.commit();
}

ElmModel read_checkpoint(const std::string& path) {
  H5Reader r(path);
  const std::string variant_text = r.read_attr_string("variant");
  ElmVariant variant;
  if (variant_text == "v1") variant = ElmVariant::V1;
  else if (variant_text == "v2") variant = ElmVariant::V2;
  else fail(path, ": attribute 'variant' is '", variant_text, "', expected v1 or v2");
  ElmConfig config = ElmConfig::from_json(r.read_attr_string("config_json"), variant, path + " config_json");
  config.validate(path + " config_json");
  ElmModel model(config);
  for (const auto& e : model.layout.entries()) {
    const std::string name = "params/" + e.name;
    const auto shape = r.shape(name);  // before reading: a corrupt header may declare any size
    ELM_CHECK(shape == e.shape, path, ": '", name, "' has shape ", shape_text(shape), " but the config needs ",
              shape_text(e.shape));
    auto a = r.read_float(name);
    for (int64_t i = 0; i < a.size(); ++i) {
      // +inf is legitimate in _proto_tau_m (tau_m saturated at tau_max); NaN never is.
      const bool ok = e.name == "_proto_tau_m" ? !std::isnan(a.data[i]) : std::isfinite(a.data[i]);
      ELM_CHECK(ok, path, ": '", name, "'[", i, "] is ", a.data[i]);
    }
    std::copy(a.data.begin(), a.data.end(), model.params.begin() + e.offset);
  }
  if (config.routing != SynapseRouting::None) {
    auto idx = r.read_int("params/input_to_synapse_indices");
    auto valid = r.read_int("params/valid_indices_mask");
    model.routing.input_index = idx.data;
    model.routing.valid.assign(valid.data.begin(), valid.data.end());
    for (auto& v : model.routing.valid) v = v != 0;
    model.routing.validate(config, path);
  }
  return model;
}

}  // namespace elm
