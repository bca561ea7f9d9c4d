#pragma once
// Every header elm_cpu_impl.inc needs. elm_cpu_level.inc includes this before
// it opens the level's target region, so these declarations (and the std templates they
// instantiate) stay compiled for the baseline and are shared by all levels.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <memory>
#include <type_traits>
#include <variant>
#include <vector>

#include "backend/cpu/denormals.hpp"
#include "backend/cpu/elm_cpu_kernels.hpp"
#include "backend/input_batch.hpp"
#include "core/error.hpp"
#include "model/elm_config.hpp"
#include "model/param_layout.hpp"
#include "model/synapse_routing.hpp"
