#include "sweep/pack_plan.hpp"

#include <algorithm>
#include <map>

#include "backend/cpu/elm_cpu_pack.hpp"
#include "core/error.hpp"
#include "train/step_pack.hpp"

namespace elm {

const std::vector<std::string>& packable_keys() {
  // Values that enter only as numbers in the arithmetic (parameters'
  // initial values, decays, the optimizer's and schedule's scalars) or pick the
  // run's own random streams. Anything not listed keeps runs apart.
  static const std::vector<std::string> keys = {
      "train.seed",         "train.clip_norm",      "train.log_every",     "optim.lr",
      "optim.beta1",        "optim.beta2",          "optim.eps",           "optim.weight_decay",
      "optim.warmup_steps", "optim.min_lr",         "optim.schedule",      "model.lambda_value",
      "model.memory_tau_min", "model.memory_tau_max", "model.tau_s_value", "model.tau_b_value",
      "model.w_s_value",    "model.delta_t",        "model.routing_seed",  "task.input_dropout",
  };
  return keys;
}

std::string pack_key(const RunConfig& config) {
  // train.backend is not packable: CPU and GPU runs never share a pack.
  if (config.model.head_hidden > 0) return "";  // two towers: a pair of passes per model
  KeyValues kv = config.resolved;
  for (const auto& k : packable_keys()) kv.erase(k);
  return to_flat_json(kv);
}

int max_pack_size(const RunConfig& config) {
  // A GPU pack's recurrences are one launch of up to 64 models (CudaElmPack); a CPU pack one pass of CpuElmPack.
  return config.train.backend == "cuda" ? kMaxGpuPackMembers : CpuElmPack::max_models();
}

int auto_pack_size(const RunConfig& config) {
  if (pack_key(config).empty()) return 1;
  // On the GPU no pack has been timed yet (BENCHMARKS.md, "GPU figures"):
  // auto trains one run at a time there until `elmrun bench --backend cuda
  // --pack K` has measured a winner.
  // `elmrun bench --pack` decides: auto packs only where the packed kernels
  // train a model faster than it trains alone. On the kernels of this version
  // no pack size wins clearly on any workload (BENCHMARKS.md, "Packed runs":
  // 0.93-1.05x per model for neuronio_dm15 at K = 8-16, 0.74-0.83x for the
  // d_m 64 model), so auto trains one run at a time; an explicit K still packs
  // (same results, bit for bit).
  return 1;
}

int parse_pack_size(const std::string& text, const RunConfig& example, const std::string& key,
                    const std::string& source) {
  if (text == "auto") return auto_pack_size(example);
  const int64_t k = parse_int(text, key, source);
  const int max = max_pack_size(example);
  ELM_CHECK(k >= 1 && k <= max, source, ": ", key, " must be 'auto' or a pack size in [1, ", max, "], got ", text);
  return int(k);
}

std::vector<Pack> plan_packs(const std::vector<SweepRun>& runs, int max_runs) {
  ELM_CHECK(max_runs >= 1, "plan_packs: pack size ", max_runs);
  std::vector<Pack> packs;
  std::map<std::string, size_t> open;  // pack key -> its pack still taking runs
  for (const auto& r : runs) {
    const std::string key = max_runs > 1 ? pack_key(r.config) : "";
    auto it = key.empty() ? open.end() : open.find(key);
    if (it != open.end() && int(packs[it->second].runs.size()) < max_runs) {
      packs[it->second].runs.push_back(r.index);
      continue;
    }
    packs.push_back(Pack{{r.index}});
    if (!key.empty()) open[key] = packs.size() - 1;
  }
  return packs;
}

std::string packs_text(const std::vector<Pack>& packs) {
  std::string s = "pack\truns\n";
  for (size_t p = 0; p < packs.size(); ++p) {
    s += std::to_string(p) + "\t";
    for (size_t i = 0; i < packs[p].runs.size(); ++i) s += (i ? " " : "") + std::to_string(packs[p].runs[i]);
    s += "\n";
  }
  return s;
}

}  // namespace elm
