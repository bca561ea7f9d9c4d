// Retrieval: tsv_data/new_aan_pairs.{train,eval,test}.tsv, no header,
// "label \t id1 \t id2 \t text1 \t text2", byte-level, each document truncated to 4000.
#include <array>
#include <cstdlib>
#include <ostream>

#include "core/error.hpp"
#include "data/prep/lra_common.hpp"
#include "data/prep/lra_prep.hpp"

namespace elm::prep {
namespace {

// The release writes the label as a number read as float32 by LRA: "0", "1", "1.0".
bool parse_pair_label(std::string_view s, int64_t& label) {
  s = trim(s);
  if (s.empty() || s.size() > 32) return false;
  const std::string text(s);
  char* end = nullptr;
  const double v = std::strtod(text.c_str(), &end);
  if (end != text.c_str() + text.size()) return false;
  if (v == 0.0) label = 0;
  else if (v == 1.0) label = 1;
  else return false;
  return true;
}

std::span<const uint8_t> document(std::string_view text) {
  const size_t n = std::min<size_t>(text.size(), static_cast<size_t>(kRetrievalMaxBytes));
  return {reinterpret_cast<const uint8_t*>(text.data()), n};
}

void scan_pairs(const std::string& path, const TokenEmit& emit) {
  LineReader reader("retrieval", path);
  std::string line;
  std::array<std::string_view, 5> cols;
  while (reader.next(line)) {
    if (line.empty()) continue;
    size_t count = 0, start = 0;
    const std::string_view view(line);
    while (true) {
      const size_t tab = view.find('\t', start);
      const size_t end = tab == std::string_view::npos ? view.size() : tab;
      if (count < cols.size()) cols[count] = view.substr(start, end - start);
      ++count;
      if (tab == std::string_view::npos) break;
      start = tab + 1;
    }
    ELM_CHECK(count == 5, reader.where(), ": expected 5 tab-separated columns (label id1 id2 text1 text2), found ",
              count);
    int64_t label = 0;
    ELM_CHECK(parse_pair_label(cols[0], label), reader.where(), ": label must be 0 or 1, found \"",
              printable(cols[0]), "\"");
    emit(TokenSample{document(cols[3]), document(cols[4]), label});
  }
}

}  // namespace

void prep_retrieval(const std::string& raw_dir, const std::string& out_dir, std::ostream& log) {
  const auto root = task_root(raw_dir, "tsv_data", "new_aan_pairs.train.tsv");
  const std::array<std::pair<const char*, const char*>, 3> files = {{{"train", "new_aan_pairs.train.tsv"},
                                                                      {"valid", "new_aan_pairs.eval.tsv"},
                                                                      {"test", "new_aan_pairs.test.tsv"}}};
  std::vector<TokenSplitSpec> splits;
  for (const auto& [split, name] : files) {
    const std::string path = (root / name).string();
    require_file("retrieval", path);
    splits.push_back({split, path, [path](const TokenEmit& emit) { scan_pairs(path, emit); }});
  }
  StoreInfo base;
  base.task = "retrieval";
  base.input_kind = "tokens";
  base.channels = 256;
  base.num_classes = 2;
  base.extra["vocabulary"] = "bytes 0..255 (token id = byte value)";
  base.extra["encoding"] = "raw bytes of text1 (tokens) and text2 (tokens_b), each truncated to 4000";
  base.extra["truncate"] = std::to_string(kRetrievalMaxBytes);
  convert_token_splits(base, true, splits, out_dir, log);
}

}  // namespace elm::prep
