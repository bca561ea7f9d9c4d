// ListOps: listops-1000/basic_{train,val,test}.tsv, header "Source\tTarget".
#include <array>
#include <ostream>

#include "core/error.hpp"
#include "data/prep/lra_common.hpp"
#include "data/prep/lra_prep.hpp"

namespace elm::prep {
namespace {

constexpr std::array<std::string_view, kListOpsVocabulary> kSymbols = {
    "0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "[MIN", "[MAX", "[MED", "[SM", "]"};

int listops_id(std::string_view token) {
  for (size_t i = 0; i < kSymbols.size(); ++i)
    if (kSymbols[i] == token) return static_cast<int>(i);
  return -1;
}

void scan_listops_file(const std::string& path, const TokenEmit& emit) {
  LineReader reader("listops", path);
  std::string line;
  ELM_CHECK(reader.next(line), path, ": empty file (expected the header \"Source\\tTarget\")");
  ELM_CHECK(line == "Source\tTarget", reader.where(), ": expected the header \"Source\\tTarget\", found \"",
            printable(line), "\"");
  std::vector<uint8_t> tokens;
  while (reader.next(line)) {
    if (trim(line).empty()) continue;
    const size_t tab = line.find('\t');
    ELM_CHECK(tab != std::string::npos, reader.where(), ": expected 2 tab-separated columns (Source, Target), found 1");
    ELM_CHECK(line.find('\t', tab + 1) == std::string::npos, reader.where(),
              ": expected 2 tab-separated columns (Source, Target), found more");
    const std::string_view source = std::string_view(line).substr(0, tab);
    const std::string_view target = std::string_view(line).substr(tab + 1);
    int64_t label = 0;
    ELM_CHECK(parse_int(target, label) && label >= 0 && label <= 9, reader.where(),
              ": Target must be an integer 0..9, found \"", printable(target), "\"");
    tokens.clear();
    encode_listops_source(source, tokens, reader.where());
    ELM_CHECK(!tokens.empty(), reader.where(), ": Source has no tokens");
    emit(TokenSample{tokens, {}, label});
  }
}

}  // namespace

std::string listops_vocabulary() {
  std::string out;
  for (size_t i = 0; i < kSymbols.size(); ++i) {
    if (i) out += ' ';
    out += kSymbols[i];
  }
  return out;
}

void encode_listops_source(std::string_view source, std::vector<uint8_t>& out, const std::string& where) {
  size_t pos = 0;
  while (pos < source.size()) {
    if (source[pos] == ' ') {
      ++pos;
      continue;
    }
    size_t end = source.find(' ', pos);
    if (end == std::string_view::npos) end = source.size();
    const std::string_view token = source.substr(pos, end - pos);
    pos = end;
    if (token == "(" || token == ")") continue;
    const int id = listops_id(token);
    ELM_CHECK(id >= 0, where, ": unknown ListOps token \"", printable(token),
              "\" (vocabulary: 0..9 [MIN [MAX [MED [SM ] and the dropped ( ))");
    out.push_back(static_cast<uint8_t>(id));
  }
}

void prep_listops(const std::string& raw_dir, const std::string& out_dir, std::ostream& log) {
  const auto root = task_root(raw_dir, "listops-1000", "basic_train.tsv");
  const std::array<std::pair<const char*, const char*>, 3> files = {
      {{"train", "basic_train.tsv"}, {"valid", "basic_val.tsv"}, {"test", "basic_test.tsv"}}};
  std::vector<TokenSplitSpec> splits;
  for (const auto& [split, name] : files) {
    const std::string path = (root / name).string();
    require_file("listops", path);
    splits.push_back({split, path, [path](const TokenEmit& emit) { scan_listops_file(path, emit); }});
  }
  StoreInfo base;
  base.task = "listops";
  base.input_kind = "tokens";
  base.channels = kListOpsVocabulary;
  base.num_classes = 10;
  base.extra["vocabulary"] = listops_vocabulary();
  base.extra["encoding"] = "token id = position in vocabulary; ( and ) dropped; not truncated; no padding id";
  convert_token_splits(base, false, splits, out_dir, log);
}

}  // namespace elm::prep
