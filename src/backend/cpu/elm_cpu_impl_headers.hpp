#pragma once
// Every header elm_cpu_impl.inc and elm_cpu_pack_impl.inc need. elm_cpu_level.inc includes this before
// it opens the level's target region, so these declarations (and the std templates they
// instantiate) stay compiled for the baseline and are shared by all levels.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <memory>
#include <span>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "backend/cpu/denormals.hpp"
#include "backend/cpu/elm_cpu_kernels.hpp"
#include "backend/cpu/elm_cpu_pack_kernels.hpp"
#include "backend/input_batch.hpp"
#include "core/error.hpp"
#include "model/elm_config.hpp"
#include "model/param_layout.hpp"
#include "model/synapse_routing.hpp"
