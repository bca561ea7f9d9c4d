#include "data/synthetic/listops_generator.hpp"

#include <algorithm>
#include <filesystem>
#include <map>

#include "core/error.hpp"
#include "core/rng.hpp"
#include "data/prep/lra_prep.hpp"
#include "data/store/dataset_store.hpp"

namespace elm {
static_assert(kListOpsVocabularySize == prep::kListOpsVocabulary);

namespace {

constexpr double kValueP = 0.25;  // LRA's VALUE_P: an inner node is an operator when r <= 0.25

int apply_op(int op, std::vector<int>& args) {
  switch (op) {
    case kListOpsTokenMin: return *std::min_element(args.begin(), args.end());
    case kListOpsTokenMax: return *std::max_element(args.begin(), args.end());
    case kListOpsTokenSum: {
      int s = 0;
      for (int a : args) s += a;
      return s % 10;
    }
    case kListOpsTokenMed: {
      // int(np.median(args)): mean of the two middle values for an even count, truncated.
      std::sort(args.begin(), args.end());
      const size_t n = args.size();
      return n % 2 ? args[n / 2] : (args[n / 2 - 1] + args[n / 2]) / 2;
    }
    default: ELM_ASSERT(false);
  }
  return 0;
}

class TreeBuilder {
 public:
  TreeBuilder(const ListOpsGeneratorOptions& o, RngStream& rng, std::vector<uint8_t>& out)
      : o_(o), rng_(rng), out_(out) {}

  // Appends one tree drawn at `depth` (LRA starts at 1); returns its value, or -1
  // once the sequence exceeds max_length (the draw is then abandoned).
  int tree(int depth) {
    const double r = depth < o_.max_depth ? rng_.uniform() : 1.0;
    if (r > kValueP) {
      const int v = int(rng_.below(10));
      out_.push_back(uint8_t(v));
      return too_long() ? -1 : v;
    }
    const int n = 2 + int(rng_.below(uint64_t(o_.max_args - 1)));  // randint(2, max_args)
    const size_t op_pos = out_.size();
    out_.push_back(0);  // the operator, drawn after its arguments as in LRA
    if (too_long()) return -1;
    std::vector<int> args;
    args.reserve(n);
    for (int i = 0; i < n; ++i) {
      const int v = tree(depth + 1);
      if (v < 0) return -1;
      args.push_back(v);
    }
    const int op = kListOpsTokenMin + int(rng_.below(4));
    out_[op_pos] = uint8_t(op);
    out_.push_back(kListOpsTokenEnd);
    if (too_long()) return -1;
    return apply_op(op, args);
  }

 private:
  bool too_long() const { return int64_t(out_.size()) > o_.max_length; }
  const ListOpsGeneratorOptions& o_;
  RngStream& rng_;
  std::vector<uint8_t>& out_;
};

// Recursive-descent evaluation of tokens[pos..]; advances pos.
int eval_at(const std::vector<uint8_t>& t, size_t& pos, int depth) {
  ELM_CHECK(pos < t.size(), "ListOps: sequence ends inside an expression");
  ELM_CHECK(depth < 100000, "ListOps: nesting too deep");
  const int tok = t[pos++];
  if (tok <= 9) return tok;
  ELM_CHECK(tok >= kListOpsTokenMin && tok <= kListOpsTokenSum, "ListOps: unexpected token ", tok, " at position ",
            pos - 1);
  std::vector<int> args;
  while (true) {
    ELM_CHECK(pos < t.size(), "ListOps: missing ']'");
    if (t[pos] == kListOpsTokenEnd) {
      ++pos;
      break;
    }
    args.push_back(eval_at(t, pos, depth + 1));
  }
  ELM_CHECK(!args.empty(), "ListOps: operator without arguments at position ", pos - 1);
  return apply_op(tok, args);
}

}  // namespace

void ListOpsGeneratorOptions::validate(const std::string& where) const {
  ELM_CHECK(max_depth >= 1 && max_depth <= 1000, where, ": task.max_depth must be in [1, 1000], got ", max_depth);
  ELM_CHECK(max_args >= 2 && max_args <= 1000, where, ": task.max_args must be in [2, 1000], got ", max_args);
  ELM_CHECK(min_length >= 1, where, ": task.min_length must be >= 1, got ", min_length);
  ELM_CHECK(max_length >= min_length && max_length <= kListOpsMaxLength, where,
            ": task.max_length must be in [task.min_length, ", kListOpsMaxLength, "], got ", max_length);
  ELM_CHECK(max_attempts >= 1, where, ": task.max_attempts must be >= 1");
}

ListOpsSample generate_listops(const ListOpsGeneratorOptions& o, uint64_t seed, uint64_t index) {
  RngStream rng(seed, index);
  ListOpsSample s;
  for (int64_t attempt = 0; attempt < o.max_attempts; ++attempt) {
    s.tokens.clear();
    TreeBuilder builder(o, rng, s.tokens);
    const int v = builder.tree(1);
    const int64_t len = int64_t(s.tokens.size());
    if (v >= 0 && len >= o.min_length && len <= o.max_length) {
      s.label = v;
      return s;
    }
  }
  fail("synthetic ListOps: no expression with ", o.min_length, "..", o.max_length, " tokens in ", o.max_attempts,
       " draws (max_depth ", o.max_depth, ", max_args ", o.max_args,
       "); widen the length range or raise task.max_depth / task.max_args");
}

int evaluate_listops(const std::vector<uint8_t>& tokens) {
  size_t pos = 0;
  const int v = eval_at(tokens, pos, 0);
  ELM_CHECK(pos == tokens.size(), "ListOps: trailing tokens after position ", pos);
  return v;
}

std::string listops_to_string(const std::vector<uint8_t>& tokens) {
  static const char* names[] = {"0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "[MIN", "[MAX", "[MED", "[SM", "]"};
  std::string out;
  for (size_t i = 0; i < tokens.size(); ++i) {
    if (i) out += ' ';
    out += tokens[i] < kListOpsVocabularySize ? names[tokens[i]] : "?";
  }
  return out;
}

void write_synthetic_listops_store(const std::string& out_dir, const ListOpsGeneratorOptions& o,
                                   const ListOpsStoreCounts& counts, uint64_t seed) {
  o.validate("synthetic ListOps store");
  std::filesystem::create_directories(out_dir);
  const std::pair<const char*, int64_t> splits[] = {{"train", counts.train}, {"valid", counts.valid}, {"test", counts.test}};
  for (uint64_t s = 0; s < 3; ++s) {
    ELM_CHECK(splits[s].second >= 1, "synthetic ListOps store: split ", splits[s].first, " needs >= 1 sample");
    StoreInfo info;
    info.task = "listops";
    info.split = splits[s].first;
    info.source = "synthetic_listops seed " + std::to_string(seed + s) + " max_depth " + std::to_string(o.max_depth) +
                  " max_args " + std::to_string(o.max_args) + " length " + std::to_string(o.min_length) + ".." +
                  std::to_string(o.max_length);
    info.input_kind = "tokens";
    info.channels = kListOpsVocabularySize;
    info.num_classes = kListOpsClasses;
    info.extra["vocabulary"] = prep::listops_vocabulary();
    info.extra["encoding"] = "token id = position in vocabulary; ( and ) dropped; not truncated; no padding id";
    std::vector<ListOpsSample> samples;
    int64_t longest = 0;
    for (int64_t i = 0; i < splits[s].second; ++i) {
      samples.push_back(generate_listops(o, seed + s, uint64_t(i)));
      longest = std::max<int64_t>(longest, int64_t(samples.back().tokens.size()));
    }
    info.max_length = longest;
    StoreWriter w((std::filesystem::path(out_dir) / (std::string(splits[s].first) + ".h5")).string(), info,
                  {{"tokens", FieldType::UInt8}});
    for (const auto& smp : samples) {
      w.append_u8("tokens", smp.tokens);
      w.end_sample(smp.label);
    }
    w.commit();
  }
}

}  // namespace elm
