#pragma once
// Output directories, made (or found) before any work starts: a path that
// cannot be written is one line naming it, not a library exception after the
// computation.
#include <string>

namespace elm {

// Creates `dir` and its parents as needed and checks that it is a writable
// directory; throws ElmError "<what> <dir>: cannot create the directory: <why>"
// (or ": not a writable directory").
void make_output_dir(const std::string& dir, const std::string& what);

// make_output_dir for the directory that will hold the file `path` (nothing
// when it has no directory part).
void make_parent_dir(const std::string& path, const std::string& what);

}  // namespace elm
