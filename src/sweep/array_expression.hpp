#pragma once
// Slurm --array values: the C++ twin of analysis/array_expression.py.
#include <cstdint>
#include <string>
#include <vector>

namespace elm {

// Sorted, de-duplicated indices compressed into ranges: {10,9,0,1,2,3,7,3} -> "0-3,7,9-10"; {} -> "".
std::string array_expression(std::vector<int64_t> indices);

}  // namespace elm
