#pragma once
// Which runs of a sweep train together in one pack (docs/sweeps.md, "Packed
// runs"): runs whose resolved configs differ only in keys that change no shape
// and no loop length, up to K per pack. The plan is a function of the manifest
// alone, so every rank, every rerun and every Slurm array task sees the same
// packs; a rerun trains each pack's unfinished runs.
#include <cstdint>
#include <string>
#include <vector>

#include "sweep/sweep_job.hpp"

namespace elm {

// The keys in which runs of one pack may differ. Every other key (shapes,
// steps, batch size, task, store, backend, threads, ...) must be equal.
const std::vector<std::string>& packable_keys();

// What runs of one pack share: the resolved config without the packable keys.
// Empty when the run never packs (a two-tower task).
std::string pack_key(const RunConfig& config);

// The most runs one pack of runs like `config` may hold (CPU 16, GPU 64).
int max_pack_size(const RunConfig& config);

// The pack size `auto` stands for on this machine for runs of this config (1: no packing).
int auto_pack_size(const RunConfig& config);

// "auto" | an integer in [1, max]; errors name `key` and `source`.
int parse_pack_size(const std::string& text, const RunConfig& example, const std::string& key,
                    const std::string& source);

struct Pack {
  std::vector<int64_t> runs;  // manifest indices, ascending
};

// Runs with equal pack keys in manifest order, cut into packs of at most
// `max_runs`; packs ordered by their first run. max_runs = 1: one run per pack.
std::vector<Pack> plan_packs(const std::vector<SweepRun>& runs, int max_runs);

// packs.tsv beside manifest.tsv: "pack<TAB>runs", then one line per pack with
// its manifest indices separated by spaces (slurm/submit.py reads it).
std::string packs_text(const std::vector<Pack>& packs);

}  // namespace elm
