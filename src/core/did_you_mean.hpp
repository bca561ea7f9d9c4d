#pragma once
// " (did you mean 'lr'?)" for a misspelt key or name: the known name closest to
// the given one by edit distance, when it is close enough to be a typo.
#include <string>
#include <string_view>
#include <vector>

namespace elm {

// Edit distance (insert, delete, substitute, swap of neighbours).
int edit_distance(std::string_view a, std::string_view b);

// The closest known name within max(1, min(3, |given| / 3)) edits, or "" when
// none is; ties go to the first in `known`.
std::string nearest_name(std::string_view given, const std::vector<std::string>& known);

// " (did you mean 'X'?)" or "".
std::string did_you_mean(std::string_view given, const std::vector<std::string>& known);

// "a, b, c": the known names, for the list an error prints after the hint.
std::string join_names(const std::vector<std::string>& names);

}  // namespace elm
