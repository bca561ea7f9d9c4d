#pragma once
// Every constructor option of the reference ELM (v1 and Branch-ELM v2), under
// the reference's names, so configs and checkpoints map one to one.
#include <cstdint>
#include <map>
#include <string>

namespace elm {

enum class ElmVariant { V1, V2 };
enum class SynapseRouting { None, NeuronIO, Random };
enum class MlpActivation { Relu, Silu };

struct ElmConfig {
  ElmVariant variant = ElmVariant::V1;
  int num_input = 0;
  int num_output = 0;
  int num_memory = 100;
  double lambda_value = 5.0;
  int mlp_num_layers = 1;
  int mlp_hidden_size = 0;  // 0: 2 * num_memory, as the reference's None
  MlpActivation mlp_activation = MlpActivation::Relu;
  double tau_s_value = 5.0;  // v1 synapse traces
  double tau_b_value = 5.0;  // v2 branch traces
  double memory_tau_min = 1.0;
  double memory_tau_max = 1000.0;
  bool learn_memory_tau = false;
  double w_s_value = 0.5;
  int num_branch = 0;  // 0: num_input, as the reference's None
  int num_synapse_per_branch = 1;
  SynapseRouting routing = SynapseRouting::None;
  double delta_t = 1.0;
  uint64_t routing_seed = 0;  // random_routing draws from this seed
  // Two-tower classifier head (LRA Retrieval, train/two_tower.hpp): when
  // head_hidden > 0 the model is one ELM tower (its num_output is the latent
  // size L) plus Linear(4L -> head_hidden) + ReLU + Linear(head_hidden ->
  // head_classes) on [u, v, u*v, u-v]. 0: no head (every other task). Not part of
  // the reference ELM; the keys are written to configs/checkpoints only when set.
  int head_hidden = 0;
  int head_classes = 2;

  int branches() const { return num_branch > 0 ? num_branch : num_input; }
  int hidden() const { return mlp_hidden_size > 0 ? mlp_hidden_size : 2 * num_memory; }
  int synapses() const { return branches() * num_synapse_per_branch; }
  int mlp_input() const { return branches() + num_memory; }
  // v2 raises tau_max to at least tau_min + 3e-6; v1 takes it as given.
  double effective_tau_max() const;
  bool has_head() const { return head_hidden > 0; }

  // Throws ElmError naming the offending key (prefixed by `where`).
  void validate(const std::string& where = "model") const;

  // Keys use the reference's constructor names plus `variant` and `routing_seed`.
  // Unknown keys and unparsable values are errors naming `source` and the key.
  static ElmConfig from_key_values(const std::map<std::string, std::string>& kv, const std::string& source);
  // The reference's config_json (as in golden files and model_config.json).
  static ElmConfig from_json(const std::string& json, ElmVariant variant, const std::string& source);
  std::map<std::string, std::string> to_key_values() const;
  std::string to_json() const;
};

const char* to_string(ElmVariant v);
const char* to_string(SynapseRouting r);
const char* to_string(MlpActivation a);

// The architecture of the released NeuronIO models: v1, 1278 inputs, 45 branches
// of 100 synapses with neuronio routing, 2 outputs, tau_m in [1, 150].
ElmConfig released_neuronio_config(int num_memory);

// Number of trainable parameters, as the reference counts them (plus the
// two-tower head's when head_hidden > 0).
int64_t trainable_parameter_count(const ElmConfig& c);

}  // namespace elm
