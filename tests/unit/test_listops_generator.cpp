// The synthetic ListOps generator: LRA's grammar (balanced operators with 2..max_args
// arguments, depth <= max_depth), labels equal to an evaluator written here,
// lengths within range, determinism, the prep encoding, and the store it writes.
#include <gtest/gtest.h>

#include <algorithm>
#include <set>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "data/prep/lra_prep.hpp"
#include "data/store/dataset_store.hpp"
#include "data/store_tasks.hpp"
#include "data/synthetic/listops_generator.hpp"
#include "data/task.hpp"
#include "test_support.hpp"
#include "train/run_config.hpp"

using elm::ListOpsGeneratorOptions;
using elm::test::TempDir;

namespace {

// Independent of the library: symbols as text, a stack machine, the median as
// numpy computes it (mean of the two middle values for an even count) then int().
struct Checked {
  bool ok = true;
  std::string why;
  int value = -1;
  int max_depth = 0;
  int max_args = 0;
};

Checked check_and_evaluate(const std::vector<std::string>& sym) {
  Checked c;
  struct Frame {
    std::string op;
    std::vector<int> args;
  };
  std::vector<Frame> stack;
  std::vector<int> top;
  for (size_t i = 0; i < sym.size(); ++i) {
    const std::string& s = sym[i];
    if (s == "[MIN" || s == "[MAX" || s == "[MED" || s == "[SM") {
      stack.push_back({s, {}});
      c.max_depth = std::max<int>(c.max_depth, int(stack.size()));
      continue;
    }
    int v;
    if (s == "]") {
      if (stack.empty()) return {false, "unbalanced ] at " + std::to_string(i)};
      Frame f = stack.back();
      stack.pop_back();
      if (f.args.size() < 2) return {false, "operator with < 2 arguments at " + std::to_string(i)};
      c.max_args = std::max<int>(c.max_args, int(f.args.size()));
      std::vector<int> a = f.args;
      std::sort(a.begin(), a.end());
      if (f.op == "[MIN") v = a.front();
      else if (f.op == "[MAX") v = a.back();
      else if (f.op == "[SM") {
        v = 0;
        for (int x : a) v += x;
        v %= 10;
      } else {
        const size_t n = a.size();
        const double med = n % 2 ? a[n / 2] : (a[n / 2 - 1] + a[n / 2]) / 2.0;
        v = int(med);
      }
    } else if (s.size() == 1 && s[0] >= '0' && s[0] <= '9') {
      v = s[0] - '0';
    } else {
      return {false, "bad symbol " + s};
    }
    if (stack.empty()) top.push_back(v);
    else stack.back().args.push_back(v);
  }
  if (!stack.empty()) return {false, "unclosed operator"};
  if (top.size() != 1) return {false, "not one expression: " + std::to_string(top.size())};
  c.value = top[0];
  return c;
}

std::vector<std::string> symbols(const std::vector<uint8_t>& tokens) {
  static const char* names[] = {"0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "[MIN", "[MAX", "[MED", "[SM", "]"};
  std::vector<std::string> out;
  for (uint8_t t : tokens) out.push_back(t < 15 ? names[t] : "?");
  return out;
}

}  // namespace

TEST(ListOpsGenerator, GrammarLabelsAndLengthsMatchAnIndependentEvaluator) {
  struct Case {
    int depth, args;
    int64_t lo, hi;
    int n;
  };
  const Case cases[] = {{3, 4, 5, 40, 300}, {6, 6, 20, 200, 150}, {10, 10, 500, 2000, 12}};
  for (const auto& k : cases) {
    ListOpsGeneratorOptions o;
    o.max_depth = k.depth;
    o.max_args = k.args;
    o.min_length = k.lo;
    o.max_length = k.hi;
    std::set<int> labels;
    for (int i = 0; i < k.n; ++i) {
      const elm::ListOpsSample s = elm::generate_listops(o, 11, uint64_t(i));
      SCOPED_TRACE("depth " + std::to_string(k.depth) + " sample " + std::to_string(i) + ": " +
                   elm::listops_to_string(s.tokens).substr(0, 200));
      const Checked c = check_and_evaluate(symbols(s.tokens));
      ASSERT_TRUE(c.ok) << c.why;
      EXPECT_EQ(s.label, c.value);
      EXPECT_EQ(elm::evaluate_listops(s.tokens), c.value);
      EXPECT_GE(int64_t(s.tokens.size()), k.lo);
      EXPECT_LE(int64_t(s.tokens.size()), k.hi);
      EXPECT_LE(c.max_depth, k.depth - 1) << "operators sit at depths 1 .. max_depth - 1 (LRA)";
      EXPECT_LE(c.max_args, k.args);
      EXPECT_GE(c.max_depth, 1) << "a bare digit cannot reach the minimum length";
      labels.insert(s.label);
    }
    if (k.n >= 100) EXPECT_GE(labels.size(), 5u) << "labels are degenerate";
  }
}

TEST(ListOpsGenerator, MedianIsNumpysMedianTruncated) {
  using V = std::vector<uint8_t>;
  constexpr uint8_t MIN = 10, MAX = 11, MED = 12, SM = 13, END = 14;
  EXPECT_EQ(elm::evaluate_listops(V{MED, 1, 4, END}), 2);          // (1 + 4) / 2 = 2.5 -> 2
  EXPECT_EQ(elm::evaluate_listops(V{MED, 9, 8, END}), 8);          // 8.5 -> 8
  EXPECT_EQ(elm::evaluate_listops(V{MED, 3, 1, 2, END}), 2);
  EXPECT_EQ(elm::evaluate_listops(V{MED, 0, 9, 9, 0, END}), 4);    // 4.5 -> 4
  EXPECT_EQ(elm::evaluate_listops(V{SM, 9, 9, 7, END}), 5);
  EXPECT_EQ(elm::evaluate_listops(V{MAX, 2, MIN, 4, 7, END, 0, END}), 4);
  EXPECT_EQ(elm::evaluate_listops(V{7}), 7);
  EXPECT_THROW(elm::evaluate_listops(V{MAX, 2, 3}), elm::ElmError);
  EXPECT_THROW(elm::evaluate_listops(V{MAX, 2, 3, END, END}), elm::ElmError);
  EXPECT_THROW(elm::evaluate_listops(V{END}), elm::ElmError);
}

TEST(ListOpsGenerator, DeterministicFromSeedAndIndex) {
  ListOpsGeneratorOptions o;
  o.max_depth = 5;
  o.max_args = 5;
  o.min_length = 10;
  o.max_length = 100;
  int differ = 0;
  for (uint64_t i = 0; i < 50; ++i) {
    const auto a = elm::generate_listops(o, 3, i), b = elm::generate_listops(o, 3, i);
    EXPECT_EQ(a.tokens, b.tokens);
    EXPECT_EQ(a.label, b.label);
    differ += elm::generate_listops(o, 3, i + 1).tokens != a.tokens;
    differ += elm::generate_listops(o, 4, i).tokens != a.tokens;
  }
  EXPECT_GE(differ, 95);
}

TEST(ListOpsGenerator, TokensUseThePrepEncoding) {
  ListOpsGeneratorOptions o;
  o.max_depth = 4;
  o.min_length = 5;
  o.max_length = 80;
  EXPECT_EQ(elm::prep::listops_vocabulary(), "0 1 2 3 4 5 6 7 8 9 [MIN [MAX [MED [SM ]");
  for (uint64_t i = 0; i < 20; ++i) {
    const auto s = elm::generate_listops(o, 1, i);
    std::vector<uint8_t> again;
    // LRA's source text carries "(" ")" grouping, which the prep encoder drops.
    elm::prep::encode_listops_source("( " + elm::listops_to_string(s.tokens) + " )", again, "test");
    EXPECT_EQ(again, s.tokens);
  }
}

TEST(ListOpsGenerator, BadOptionsAndInfeasibleRangesAreOneLineErrors) {
  ListOpsGeneratorOptions o;
  o.max_depth = 1;  // only digits: length 1
  o.min_length = 5;
  o.max_length = 10;
  o.max_attempts = 1000;
  try {
    elm::generate_listops(o, 0, 0);
    FAIL() << "expected an error";
  } catch (const elm::ElmError& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("no expression with 5..10 tokens"), std::string::npos) << m;
    EXPECT_EQ(m.find('\n'), std::string::npos);
  }
  ListOpsGeneratorOptions bad;
  bad.max_args = 1;
  EXPECT_THROW(bad.validate("x"), elm::ElmError);
  bad = {};
  bad.min_length = 50;
  bad.max_length = 40;
  EXPECT_THROW(bad.validate("x"), elm::ElmError);
}

TEST(ListOpsGenerator, WritesAStoreInTheListOpsLayout) {
  TempDir tmp("elm-listops-gen");
  ListOpsGeneratorOptions o;
  o.max_depth = 4;
  o.max_args = 4;
  o.min_length = 5;
  o.max_length = 50;
  elm::write_synthetic_listops_store(tmp.file("store"), o, {30, 5, 7}, 9);
  const char* names[] = {"train", "valid", "test"};
  const int64_t counts[] = {30, 5, 7};
  for (int s = 0; s < 3; ++s) {
    elm::StoreReader r(tmp.file("store") + "/" + names[s] + ".h5");
    EXPECT_EQ(r.info().task, "listops");
    EXPECT_EQ(r.info().split, names[s]);
    EXPECT_EQ(r.info().input_kind, "tokens");
    EXPECT_EQ(r.info().channels, 15);
    EXPECT_EQ(r.info().num_classes, 10);
    EXPECT_EQ(r.info().extra.at("vocabulary"), elm::prep::listops_vocabulary());
    ASSERT_EQ(r.num_samples(), counts[s]);
    int64_t longest = 0;
    for (int64_t i = 0; i < r.num_samples(); ++i) {
      const auto g = elm::generate_listops(o, 9 + s, uint64_t(i));
      const auto t = r.read_i32("tokens", i);
      EXPECT_EQ(std::vector<int32_t>(g.tokens.begin(), g.tokens.end()), t);
      EXPECT_EQ(r.label(i), g.label);
      longest = std::max<int64_t>(longest, int64_t(t.size()));
    }
    EXPECT_EQ(r.info().max_length, longest);
  }

  // The store feeds the `listops` task, and the built-in synthetic_listops task
  // with the same options and seed yields the same batches.
  elm::ElmConfig model;
  model.num_input = 15;
  model.num_output = 10;
  elm::TaskConfig store_cfg{"listops", {{"store", tmp.file("store")}, {"seq_len", "50"}}};
  elm::TaskConfig gen_cfg{"synthetic_listops",
                          {{"max_depth", "4"}, {"max_args", "4"}, {"min_length", "5"}, {"max_length", "50"},
                           {"seed", "9"}, {"train_samples", "30"}, {"valid_samples", "5"}, {"test_samples", "7"}}};
  const auto from_store = elm::make_task(store_cfg, model);
  const auto generated = elm::make_task(gen_cfg, model);
  for (elm::Split s : {elm::Split::Train, elm::Split::Valid, elm::Split::Test}) {
    ASSERT_EQ(from_store->num_samples(s), generated->num_samples(s));
    std::vector<int64_t> idx(size_t(from_store->num_samples(s)));
    for (size_t i = 0; i < idx.size(); ++i) idx[i] = int64_t(i);
    const elm::Batch a = from_store->make_batch(s, idx), b = generated->make_batch(s, idx);
    EXPECT_EQ(a.labels, b.labels);
    EXPECT_EQ(std::get<elm::TokenInput>(a.x.data).ids, std::get<elm::TokenInput>(b.x.data).ids);
    EXPECT_EQ(a.x.steps, 50);
    EXPECT_EQ(b.x.steps, 50);
  }
}
