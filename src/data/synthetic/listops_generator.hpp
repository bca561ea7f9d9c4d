#pragma once
// Synthetic ListOps in the grammar of the Long Range Arena generator
// (google-research/long-range-arena, lra_benchmarks/data/listops.py):
//
//   tree  := value | op tree tree {tree} "]"       op := [MIN | [MAX | [MED | [SM
//   value := 0 .. 9
//
// Generation follows LRA's generate_tree: at depth < max_depth a node is an
// operator with probability 0.25 (else a uniform digit); at max_depth it is
// always a digit; an operator takes uniform 2..max_args arguments and an
// operator uniform among the four. The token count is LRA's `length` (a digit
// counts 1, an operator 2 for its opening symbol and its "]"), since the
// store's encoding drops LRA's "(" ")" grouping tokens. Trees are drawn until
// min_length <= length <= max_length (LRA keeps min_length < length <
// max_length, with 500 and 2000: use min 501, max 1999 to reproduce it; the
// generation is aborted as soon as it exceeds max_length).
//
// Values (LRA's to_value): MIN, MAX as usual; SM = sum mod 10; MED =
// int(np.median(args)): the middle element of the sorted arguments for an odd
// count, and for an even count the mean of the two middle elements truncated
// toward zero (floor, as arguments are 0..9) -- neither the lower nor the upper
// median in general, e.g. MED(1, 4) = 2.
//
// Sample `index` of stream `seed` is a pure function of (seed, index): it is drawn
// from RngStream(seed, index) (retries continue the same stream). Token ids are the
// ListOps store encoding of prep::listops_vocabulary(): digits 0..9 -> 0..9,
// [MIN 10, [MAX 11, [MED 12, [SM 13, ] 14 (vocabulary 15).
#include <cstdint>
#include <string>
#include <vector>

#include "core/key_values.hpp"

namespace elm {

inline constexpr int kListOpsTokenMin = 10, kListOpsTokenMax = 11, kListOpsTokenMed = 12, kListOpsTokenSum = 13,
                     kListOpsTokenEnd = 14;
inline constexpr int kListOpsVocabularySize = 15;
inline constexpr int kListOpsClasses = 10;

struct ListOpsGeneratorOptions {
  int max_depth = 10;        // LRA: 10
  int max_args = 10;         // LRA: 10
  int64_t min_length = 500;  // tokens, inclusive
  int64_t max_length = 2000; // tokens, inclusive (<= kListOpsMaxLength)
  int64_t max_attempts = 1000000;  // trees drawn per sample before giving up

  void validate(const std::string& where) const;  // ElmError naming the key
};

inline constexpr int64_t kListOpsMaxLength = 1 << 20;

struct ListOpsSample {
  std::vector<uint8_t> tokens;
  int label = 0;
};

// Sample `index` of stream `seed`; ElmError when no tree within the length range
// is found in max_attempts draws (an infeasible range).
ListOpsSample generate_listops(const ListOpsGeneratorOptions& options, uint64_t seed, uint64_t index);

// Value of a token sequence in the encoding above; ElmError on a malformed one.
int evaluate_listops(const std::vector<uint8_t>& tokens);
// Space-separated symbols ("[MAX 2 9 [MIN 4 7 ] 0 ]").
std::string listops_to_string(const std::vector<uint8_t>& tokens);

// Writes <out_dir>/{train,valid,test}.h5 in the layout of `prep listops`
// (task "listops", field `tokens` uint8, labels 0..9, vocabulary 15): sample i of
// a split is generate_listops(options, seed + split number (0, 1, 2), i). Each
// file is committed only once complete.
struct ListOpsStoreCounts {
  int64_t train = 1000, valid = 100, test = 100;
};
void write_synthetic_listops_store(const std::string& out_dir, const ListOpsGeneratorOptions& options,
                                   const ListOpsStoreCounts& counts, uint64_t seed);

}  // namespace elm
