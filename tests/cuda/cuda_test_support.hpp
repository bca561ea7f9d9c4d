#pragma once
// Shared by the GPU tests: skip without a usable device, random models and inputs.
#include <gtest/gtest.h>

#include <span>
#include <string>

#include "backend/cuda/elm_cuda.hpp"
#include "backend/input_batch.hpp"
#include "model/elm_model.hpp"
#include "test_support.hpp"  // expect_close_to_max

#define ELM_REQUIRE_GPU()                                  \
  do {                                                     \
    std::string elm_gpu_reason_;                           \
    if (!::elm::cuda_device_usable(&elm_gpu_reason_))      \
      GTEST_SKIP() << "GPU test skipped: " << elm_gpu_reason_; \
  } while (0)

namespace elm::test {

enum class Kind { Dense, Spikes, Tokens };
const char* kind_name(Kind k);

// The shape and switches of a small random ELM (the GPU-against-CPU and pack tests).
struct SmallElm {
  ElmVariant variant = ElmVariant::V1;
  SynapseRouting routing = SynapseRouting::None;
  int n_in = 6, branches = 0, per_branch = 1, dm = 8, hidden = 0, layers = 1, d_o = 3;
  bool learn_tau = false, silu = false;
  double tau_max = 100;
};
ElmConfig config_of(const SmallElm& c);

// Random input of the given kind (spikes: ±1 at `density`; dense: Gaussian with
// zeros at 1 - density; tokens: ids in [-1, n_in)).
InputBatch random_input(Kind kind, int B, int T, int n_in, double density, uint64_t seed);
// The reference initialisation moved away from its symmetric values (as the
// golden files are): some synapse weights negative, spread memory taus.
ElmModel random_model(const ElmConfig& c, uint64_t seed);

}  // namespace elm::test
