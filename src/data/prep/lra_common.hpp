#pragma once
// Shared plumbing of the LRA readers (internal to src/data/prep).
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iosfwd>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "data/store/dataset_store.hpp"

namespace elm::prep {

// `s` made printable for a one-line message: control and non-ASCII bytes as \xNN,
// cut to `max_chars` with "..." appended.
std::string printable(std::string_view s, size_t max_chars = 40);

// raw_dir/<folder> when it exists, else raw_dir itself when it holds `probe`
// (the task folder was given directly); otherwise raw_dir/<folder>, so that the
// missing-file errors name the expected place.
std::filesystem::path task_root(const std::string& raw_dir, const std::string& folder, const std::string& probe);

// Error naming `path` unless it is an existing regular file.
void require_file(const std::string& task, const std::filesystem::path& path);
void require_dir(const std::string& task, const std::filesystem::path& path);

// Lines of a text file, '\n' separated; one trailing '\r' is removed.
class LineReader {
 public:
  LineReader(const std::string& task, const std::filesystem::path& path);
  bool next(std::string& line);
  int64_t line_number() const { return line_; }  // 1-based number of the last line read
  // "<path>:<line>" for error messages.
  std::string where() const;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  std::ifstream in_;
  int64_t line_ = 0;
};

// Strict integer parse of the whole (space-trimmed) string; false when it is not one.
bool parse_int(std::string_view s, int64_t& value);
std::string_view trim(std::string_view s);

// One or two uint8 token documents plus a label, as a reader emits them.
struct TokenSample {
  std::span<const uint8_t> a;
  std::span<const uint8_t> b;  // empty unless the task has tokens_b
  int64_t label = 0;
};
using TokenEmit = std::function<void(const TokenSample&)>;

// A split of a token task: its name, its source (for StoreInfo.source) and a
// scanner that parses the raw data and emits every sample (it is called twice).
struct TokenSplitSpec {
  std::string split;
  std::string source;
  std::function<void(const TokenEmit&)> scan;
};

// Converts token splits in two passes: first every split is parsed (checking all
// input and measuring max_length), then each is written and, once all are
// written, committed. `base` provides task, input_kind, channels, num_classes
// and extra; split, source, max_length are filled in here.
void convert_token_splits(const StoreInfo& base, bool two_documents, const std::vector<TokenSplitSpec>& splits,
                          const std::string& out_dir, std::ostream& log);

// Progress lines "<task> <split>: n / total" every `every` samples.
class Progress {
 public:
  Progress(std::ostream& log, std::string label, int64_t total, int64_t every);
  void tick();
  int64_t count() const { return count_; }

 private:
  std::ostream& log_;
  std::string label_;
  int64_t total_;
  int64_t every_;
  int64_t count_ = 0;
};

// The StoreInfo of one split: the task-wide `base` with its split name and source.
StoreInfo split_info(const StoreInfo& base, const std::string& split, const std::string& source);

// Creates out_dir (error naming it when that fails) and returns <out_dir>/<split>.h5.
std::string split_path(const std::string& task, const std::string& out_dir, const std::string& split);

}  // namespace elm::prep
