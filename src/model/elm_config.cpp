#include "model/elm_config.hpp"

#include <algorithm>
#include <cmath>
#include <functional>

#include "core/did_you_mean.hpp"
#include "core/error.hpp"
#include "core/key_values.hpp"

namespace elm {

const char* to_string(ElmVariant v) { return v == ElmVariant::V1 ? "v1" : "v2"; }
const char* to_string(SynapseRouting r) {
  switch (r) {
    case SynapseRouting::None: return "none";
    case SynapseRouting::NeuronIO: return "neuronio_routing";
    case SynapseRouting::Random: return "random_routing";
  }
  return "?";
}
const char* to_string(MlpActivation a) { return a == MlpActivation::Relu ? "relu" : "silu"; }

double ElmConfig::effective_tau_max() const {
  return variant == ElmVariant::V2 ? std::max(memory_tau_min + 3e-6, memory_tau_max) : memory_tau_max;
}

void ElmConfig::validate(const std::string& where) const {
  auto key = [&](const char* k) { return where + "." + k; };
  ELM_CHECK(num_input > 0, "config key '", key("num_input"), "' must be > 0, got ", num_input);
  ELM_CHECK(num_output > 0, "config key '", key("num_output"), "' must be > 0, got ", num_output);
  ELM_CHECK(num_memory > 0, "config key '", key("num_memory"), "' must be > 0, got ", num_memory);
  ELM_CHECK(mlp_num_layers >= 1, "config key '", key("mlp_num_layers"), "' must be >= 1, got ", mlp_num_layers);
  ELM_CHECK(mlp_hidden_size >= 0, "config key '", key("mlp_hidden_size"), "' must be >= 0 (0: 2*num_memory), got ",
            mlp_hidden_size);
  ELM_CHECK(num_branch >= 0, "config key '", key("num_branch"), "' must be >= 0 (0: num_input), got ", num_branch);
  ELM_CHECK(num_synapse_per_branch >= 1, "config key '", key("num_synapse_per_branch"), "' must be >= 1, got ",
            num_synapse_per_branch);
  ELM_CHECK(lambda_value > 0, "config key '", key("lambda_value"), "' must be > 0, got ", lambda_value);
  ELM_CHECK(delta_t > 0, "config key '", key("delta_t"), "' must be > 0, got ", delta_t);
  ELM_CHECK(tau_s_value > 0, "config key '", key("tau_s_value"), "' must be > 0, got ", tau_s_value);
  ELM_CHECK(tau_b_value > 0, "config key '", key("tau_b_value"), "' must be > 0, got ", tau_b_value);
  ELM_CHECK(memory_tau_min >= 0, "config key '", key("memory_tau_min"), "' must be >= 0, got ", memory_tau_min);
  ELM_CHECK(effective_tau_max() > memory_tau_min + 2e-6, "config key '", key("memory_tau_max"), "' (", memory_tau_max,
            ") must exceed memory_tau_min (", memory_tau_min, ")");
  ELM_CHECK(head_hidden >= 0, "config key '", key("head_hidden"), "' must be >= 0 (0: no two-tower head), got ",
            head_hidden);
  if (head_hidden > 0)
    ELM_CHECK(head_classes >= 2, "config key '", key("head_classes"), "' must be >= 2, got ", head_classes);
  const int64_t syn = int64_t(branches()) * num_synapse_per_branch;
  ELM_CHECK(syn <= (int64_t(1) << 30), "config keys '", key("num_branch"), "' x '", key("num_synapse_per_branch"),
            "': too many synapses (", syn, ")");
  switch (routing) {
    case SynapseRouting::None:
      ELM_CHECK(syn == num_input, "config: input_to_synapse_routing = none needs num_branch * num_synapse_per_branch (",
                syn, ") == num_input (", num_input, ")");
      break;
    case SynapseRouting::NeuronIO: {
      const int stride = (num_input + branches() - 1) / branches();
      ELM_CHECK(stride <= num_synapse_per_branch, "config: neuronio_routing needs ceil(num_input / num_branch) (",
                stride, ") <= num_synapse_per_branch (", num_synapse_per_branch, ")");
      break;
    }
    case SynapseRouting::Random: break;
  }
}

namespace {

// Sizes stay far below int overflow in every product the layouts form.
constexpr int64_t kMaxModelInt = int64_t(1) << 30;

using Setter = std::function<void(ElmConfig&, const std::string&, const std::string&)>;

const std::map<std::string, Setter>& setters() {
  static const std::map<std::string, Setter> table = [] {
    std::map<std::string, Setter> t;
    // `low` is the smallest value a user may write; where it is 0, 0 means the
    // reference's None (`zero_means`), and -1 is read as 0 too, as older configs wrote it.
    auto int_key = [&t](const char* name, int ElmConfig::*field, int low, const char* zero_means) {
      t[name] = [field, name, low, zero_means](ElmConfig& c, const std::string& v, const std::string& src) {
        const int64_t x = parse_int(v, name, src);
        const bool legacy_none = low == 0 && x == -1;
        ELM_CHECK(legacy_none || (x >= low && x <= kMaxModelInt), src, ": key '", name, "': ", v,
                  " is out of range [", low, ", ", kMaxModelInt, "]", low == 0 ? " (0: " : "",
                  low == 0 ? zero_means : "", low == 0 ? ")" : "");
        c.*field = static_cast<int>(legacy_none ? 0 : x);
      };
    };
    auto double_key = [&t](const char* name, double ElmConfig::*field) {
      t[name] = [field, name](ElmConfig& c, const std::string& v, const std::string& src) {
        c.*field = parse_double(v, name, src);
      };
    };
    int_key("num_input", &ElmConfig::num_input, 1, "");
    int_key("num_output", &ElmConfig::num_output, 1, "");
    int_key("num_memory", &ElmConfig::num_memory, 1, "");
    int_key("mlp_num_layers", &ElmConfig::mlp_num_layers, 1, "");
    int_key("mlp_hidden_size", &ElmConfig::mlp_hidden_size, 0, "2 * num_memory");
    int_key("num_branch", &ElmConfig::num_branch, 0, "num_input");
    int_key("num_synapse_per_branch", &ElmConfig::num_synapse_per_branch, 1, "");
    int_key("head_hidden", &ElmConfig::head_hidden, 0, "no two-tower head");
    int_key("head_classes", &ElmConfig::head_classes, 2, "");
    double_key("lambda_value", &ElmConfig::lambda_value);
    double_key("tau_s_value", &ElmConfig::tau_s_value);
    double_key("tau_b_value", &ElmConfig::tau_b_value);
    double_key("memory_tau_min", &ElmConfig::memory_tau_min);
    double_key("memory_tau_max", &ElmConfig::memory_tau_max);
    double_key("w_s_value", &ElmConfig::w_s_value);
    double_key("delta_t", &ElmConfig::delta_t);
    t["learn_memory_tau"] = [](ElmConfig& c, const std::string& v, const std::string& src) {
      c.learn_memory_tau = parse_bool(v, "learn_memory_tau", src);
    };
    t["routing_seed"] = [](ElmConfig& c, const std::string& v, const std::string& src) {
      int64_t x = parse_int(v, "routing_seed", src);
      ELM_CHECK(x >= 0, src, ": key 'routing_seed' must be >= 0, got ", v);
      c.routing_seed = static_cast<uint64_t>(x);
    };
    t["variant"] = [](ElmConfig& c, const std::string& v, const std::string& src) {
      if (v == "v1") c.variant = ElmVariant::V1;
      else if (v == "v2") c.variant = ElmVariant::V2;
      else fail(src, ": key 'variant': '", v, "' is not one of v1, v2");
    };
    t["mlp_activation"] = [](ElmConfig& c, const std::string& v, const std::string& src) {
      if (v == "relu") c.mlp_activation = MlpActivation::Relu;
      else if (v == "silu") c.mlp_activation = MlpActivation::Silu;
      else fail(src, ": key 'mlp_activation': '", v, "' is not one of relu, silu");
    };
    t["input_to_synapse_routing"] = [](ElmConfig& c, const std::string& v, const std::string& src) {
      if (v == "none" || v == "None" || v.empty()) c.routing = SynapseRouting::None;
      else if (v == "neuronio_routing" || v == "neuronio") c.routing = SynapseRouting::NeuronIO;
      else if (v == "random_routing" || v == "random") c.routing = SynapseRouting::Random;
      else fail(src, ": key 'input_to_synapse_routing': '", v, "' is not one of none, neuronio_routing, random_routing");
    };
    return t;
  }();
  return table;
}

}  // namespace

ElmConfig ElmConfig::from_key_values(const std::map<std::string, std::string>& kv, const std::string& source) {
  ElmConfig c;
  // Variant first: other keys do not depend on it, but errors read better in order.
  for (const auto& [k, v] : kv) {
    auto it = setters().find(k);
    if (it == setters().end()) {
      std::vector<std::string> names;
      for (const auto& [name, _] : setters()) names.push_back(name);
      fail(source, ": unknown model key '", k, "'", did_you_mean(k, names), " (known: ", join_names(names), ")");
    }
    it->second(c, v, source);
  }
  return c;
}

ElmConfig ElmConfig::from_json(const std::string& json, ElmVariant variant, const std::string& source) {
  KeyValues kv = parse_flat_json(json, source);
  kv.erase("variant");
  ElmConfig c = from_key_values(kv, source);
  c.variant = variant;
  return c;
}

std::map<std::string, std::string> ElmConfig::to_key_values() const {
  KeyValues kv;
  kv["variant"] = to_string(variant);
  kv["num_input"] = std::to_string(num_input);
  kv["num_output"] = std::to_string(num_output);
  kv["num_memory"] = std::to_string(num_memory);
  kv["lambda_value"] = format_double(lambda_value);
  kv["mlp_num_layers"] = std::to_string(mlp_num_layers);
  kv["mlp_hidden_size"] = std::to_string(hidden());
  kv["mlp_activation"] = to_string(mlp_activation);
  kv["tau_s_value"] = format_double(tau_s_value);
  kv["tau_b_value"] = format_double(tau_b_value);
  kv["memory_tau_min"] = format_double(memory_tau_min);
  kv["memory_tau_max"] = format_double(memory_tau_max);
  kv["learn_memory_tau"] = learn_memory_tau ? "true" : "false";
  kv["w_s_value"] = format_double(w_s_value);
  kv["num_branch"] = std::to_string(branches());
  kv["num_synapse_per_branch"] = std::to_string(num_synapse_per_branch);
  kv["input_to_synapse_routing"] = to_string(routing);
  kv["delta_t"] = format_double(delta_t);
  kv["routing_seed"] = std::to_string(routing_seed);
  // Only with a head, so configs and checkpoints of plain models stay as they were.
  if (head_hidden > 0) {
    kv["head_hidden"] = std::to_string(head_hidden);
    kv["head_classes"] = std::to_string(head_classes);
  }
  return kv;
}

std::string ElmConfig::to_json() const { return to_flat_json(to_key_values()); }

ElmConfig released_neuronio_config(int num_memory) {
  ElmConfig c;
  c.variant = ElmVariant::V1;
  c.num_input = 1278;
  c.num_output = 2;
  c.num_memory = num_memory;
  c.num_branch = 45;
  c.num_synapse_per_branch = 100;
  c.routing = SynapseRouting::NeuronIO;
  c.memory_tau_min = 1;
  c.memory_tau_max = 150;
  return c;
}

int64_t trainable_parameter_count(const ElmConfig& c) {
  const int64_t db = c.branches(), dm = c.num_memory, H = c.hidden(), L = c.mlp_num_layers, d_o = c.num_output;
  int64_t n = c.synapses() + (db + dm) * H + H + (L - 1) * (H * H + H) + H * dm + dm + dm * d_o + d_o;
  if (c.learn_memory_tau) n += dm;
  if (c.head_hidden > 0) {
    const int64_t hh = c.head_hidden, hc = c.head_classes;
    n += 4 * d_o * hh + hh + hh * hc + hc;
  }
  return n;
}

}  // namespace elm
