#include "train/run_config.hpp"

#include <boost/property_tree/ini_parser.hpp>
#include <boost/property_tree/ptree.hpp>
#include <filesystem>

#include "core/did_you_mean.hpp"
#include "core/error.hpp"
#include "dist/comm.hpp"
#include "train/step_backend.hpp"
#include <cstdio>

namespace elm {

std::string strip_inline_comment(const std::string& value) {
  // Boost's INI reader keeps "x ; note" whole; a ';' or '#' after blank space starts a comment.
  std::string v = value;
  for (size_t i = 1; i < v.size(); ++i)
    if ((v[i] == ';' || v[i] == '#') && (v[i - 1] == ' ' || v[i - 1] == '\t')) {
      v.resize(i);
      break;
    }
  while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.pop_back();
  return v;
}

std::vector<std::pair<std::string, std::string>> read_ini_entries(const std::string& path) {
  ELM_CHECK(std::filesystem::is_regular_file(path), path, ": no such config file");
  boost::property_tree::ptree tree;
  try {
    boost::property_tree::read_ini(path, tree);
  } catch (const boost::property_tree::ini_parser_error& e) {
    fail(path, ":", e.line(), ": ", e.message());
  }
  std::vector<std::pair<std::string, std::string>> entries;
  for (const auto& [section, child] : tree) {
    ELM_CHECK(!child.empty() || child.data().empty(), path, ": key '", section, "' is outside any [section]");
    for (const auto& [key, value] : child) entries.emplace_back(section + "." + key, strip_inline_comment(value.data()));
  }
  return entries;
}

KeyValues read_ini_file(const std::string& path) {
  KeyValues kv;
  for (auto& [key, value] : read_ini_entries(path)) kv[key] = std::move(value);
  return kv;
}

KeyValues parse_overrides(const std::vector<std::string>& overrides) {
  KeyValues kv;
  for (const auto& o : overrides) {
    const auto eq = o.find('=');
    ELM_CHECK(eq != std::string::npos && eq > 0, "--set '", o, "': expected section.key=value");
    const std::string key = o.substr(0, eq);
    ELM_CHECK(key.find('.') != std::string::npos, "--set '", o, "': key must be section.key (e.g. model.num_memory)");
    kv[key] = o.substr(eq + 1);
  }
  return kv;
}

namespace {

KeyValues default_key_values() {
  // The built-in quick run: a v1 ELM on the synthetic burst task.
  return {{"model.variant", "v1"},           {"model.num_input", "32"},     {"model.num_output", "4"},
          {"model.num_memory", "10"},        {"model.memory_tau_max", "150"}, {"task.name", "synthetic_burst"},
          {"train.steps", "300"},            {"train.batch_size", "16"},    {"optim.kind", "adam"},
          {"optim.lr", "0.005"},             {"optim.schedule", "cosine"}};
}

}  // namespace

RunConfig RunConfig::from_key_values(const KeyValues& kv, const std::string& source) {
  RunConfig rc;
  KeyValues model_kv;
  for (const auto& [full, value] : kv) {
    const auto dot = full.find('.');
    ELM_CHECK(dot != std::string::npos, source, ": key '", full, "' has no section");
    const std::string section = full.substr(0, dot), key = full.substr(dot + 1);
    auto bad_key = [&]() {
      const std::vector<std::string> known =
          section == "train" ? std::vector<std::string>{"steps", "batch_size", "seed", "threads", "log_every",
                                                        "eval_every", "eval_simulations", "clip_norm",
                                                        "checkpoint_every", "checksum_every", "train_samples",
                                                        "valid_samples", "test_samples", "backend", "loss"}
                             : std::vector<std::string>{"kind", "lr", "beta1", "beta2", "eps", "weight_decay",
                                                        "schedule", "warmup_steps", "min_lr"};
      fail(source, ": unknown key '", full, "'", did_you_mean(key, known), " (", section, " keys: ", join_names(known),
           ")");
    };
    if (section == "model") {
      model_kv[key] = value;
    } else if (section == "task") {
      if (key == "name") rc.task.name = value;
      else rc.task.options[key] = value;
    } else if (section == "train") {
      TrainConfig& t = rc.train;
      if (key == "steps") t.steps = parse_int(value, full, source);
      else if (key == "batch_size") t.batch_size = static_cast<int>(parse_int(value, full, source));
      else if (key == "seed") t.seed = static_cast<uint64_t>(parse_int(value, full, source));
      else if (key == "threads") t.threads = static_cast<int>(parse_int(value, full, source));
      else if (key == "log_every") t.log_every = parse_int(value, full, source);
      else if (key == "eval_every") t.eval_every = parse_int(value, full, source);
      else if (key == "eval_simulations") t.eval_simulations = parse_int(value, full, source);
      else if (key == "clip_norm") t.clip_norm = parse_double(value, full, source);
      else if (key == "checkpoint_every") t.checkpoint_every = parse_int(value, full, source);
      else if (key == "checksum_every") t.checksum_every = parse_int(value, full, source);
      else if (key == "train_samples") t.train_samples = parse_int(value, full, source);
      else if (key == "valid_samples") t.valid_samples = parse_int(value, full, source);
      else if (key == "test_samples") t.test_samples = parse_int(value, full, source);
      else if (key == "backend") t.backend = value;
      else if (key == "loss") t.loss = value;
      else bad_key();
    } else if (section == "optim") {
      if (key == "kind") rc.optim.kind = value;
      else if (key == "lr") rc.optim.lr = parse_double(value, full, source);
      else if (key == "beta1") rc.optim.beta1 = parse_double(value, full, source);
      else if (key == "beta2") rc.optim.beta2 = parse_double(value, full, source);
      else if (key == "eps") rc.optim.eps = parse_double(value, full, source);
      else if (key == "weight_decay") rc.optim.weight_decay = parse_double(value, full, source);
      else if (key == "schedule") rc.schedule.kind = value;
      else if (key == "warmup_steps") rc.schedule.warmup_steps = parse_int(value, full, source);
      else if (key == "min_lr") rc.schedule.min_lr = parse_double(value, full, source);
      else bad_key();
    } else {
      const std::vector<std::string> known = {"model", "task", "train", "optim"};
      fail(source, ": unknown section '", section, "' in key '", full, "'", did_you_mean(section, known),
           " (sections: ", join_names(known), ")");
    }
  }
  rc.model = ElmConfig::from_key_values(model_kv, source + " [model]");
  rc.model.validate("model");
  const TrainConfig& t = rc.train;
  ELM_CHECK(t.steps >= 1, source, ": train.steps must be >= 1, got ", t.steps);
  ELM_CHECK(t.batch_size >= 1, source, ": train.batch_size must be >= 1, got ", t.batch_size);
  ELM_CHECK(t.threads >= 1 && t.threads <= 256, source, ": train.threads must be in [1, 256], got ", t.threads);
  ELM_CHECK(t.log_every >= 1, source, ": train.log_every must be >= 1, got ", t.log_every);
  ELM_CHECK(t.eval_every >= 1, source, ": train.eval_every must be >= 1, got ", t.eval_every);
  ELM_CHECK(t.eval_simulations >= 1, source, ": train.eval_simulations must be >= 1, got ", t.eval_simulations);
  ELM_CHECK(t.clip_norm >= 0, source, ": train.clip_norm must be >= 0, got ", t.clip_norm);
  ELM_CHECK(t.checkpoint_every >= 0, source, ": train.checkpoint_every must be >= 0, got ", t.checkpoint_every);
  ELM_CHECK(t.checksum_every >= 1, source, ": train.checksum_every must be >= 1, got ", t.checksum_every);
  ELM_CHECK(t.train_samples >= 0 && t.valid_samples >= 0 && t.test_samples >= 0, source,
            ": train.train_samples, valid_samples and test_samples must be >= 0 (0: all)");
  ELM_CHECK(t.loss.empty() || t.loss == "last_step_ce" || t.loss == "neuronio", source, ": train.loss '", t.loss,
            "' is not one of last_step_ce, neuronio");
  try {
    parse_backend_kind(t.backend);
  } catch (const ElmError& e) {
    fail(source, ": ", e.what());
  }
  try {
    validate(rc.optim);
    rc.schedule.base_lr = rc.optim.lr;
    rc.schedule.total_steps = t.steps;
    validate(rc.schedule);
  } catch (const ElmError& e) {
    fail(source, ": [optim] ", e.what());
  }
  rc.resolved = kv;
  for (const auto& [k, v] : rc.model.to_key_values()) rc.resolved["model." + k] = v;
  return rc;
}

std::string run_identity_json(const RunConfig& config) {
  KeyValues kv = config.resolved;
  // Where and how fast a run computes is not what it computes: a run
  // checkpointed on a GPU resumes on the CPU. train.loss only restates the task's loss.
  kv.erase("train.threads");
  kv.erase("train.log_every");
  kv.erase("train.backend");
  kv.erase("train.loss");
  return to_flat_json(kv);
}

std::string run_id(const RunConfig& config) {
  const std::string text = run_identity_json(config);
  const uint64_t h = fnv1a64(std::as_bytes(std::span<const char>(text.data(), text.size())));
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", (unsigned long long)h);
  return buf;
}

RunConfig RunConfig::load(const std::string& ini_path, const std::vector<std::string>& overrides) {
  KeyValues kv = default_key_values();
  std::string source = "built-in defaults";
  if (!ini_path.empty()) {
    // A config file replaces the built-in model and task entirely.
    kv.clear();
    kv = read_ini_file(ini_path);
    source = ini_path;
  }
  for (const auto& [k, v] : parse_overrides(overrides)) kv[k] = v;
  if (!overrides.empty()) source += " (with --set)";
  return from_key_values(kv, source);
}

}  // namespace elm
