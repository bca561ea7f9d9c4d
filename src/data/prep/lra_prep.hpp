#pragma once
// Readers for the raw Long Range Arena releases (docs/datasets.md), converting each
// task into the dataset store: one file per split, <out_dir>/<split>.h5, with a
// `tokens` field (uint8 ids; Retrieval adds `tokens_b`) and int64 labels.
//
// `raw_dir` is the directory that holds the release's folder for the task
// (listops-1000/, aclImdb/, tsv_data/, cifar-10-batches-bin/, pathfinder<R>/);
// the task folder itself is accepted too. Errors are ElmError with one line naming
// the file and the line or record. Every split is parsed and checked before any
// output is committed: a failure leaves no <split>.h5 of this run behind (the store
// writer works under a temporary name and renames on commit).
//
// Encodings (all stored as uint8; StoreInfo.channels is the vocabulary size, the
// id meaning is written to extra["vocabulary"] / extra["encoding"]):
//   ListOps    15 symbols, no padding id (lengths are stored; padding is the
//              pipeline's job): digits "0".."9" -> 0..9, "[MIN" 10, "[MAX" 11,
//              "[MED" 12, "[SM" 13, "]" 14. "(" and ")" are dropped. Sequences are
//              not truncated (max_length records the longest).
//   Text       raw bytes of the review file, id = byte value (vocabulary 256),
//              truncated to 4096 bytes. (The paper's input dim 169 is the number of
//              distinct characters its tokenizer saw; a byte vocabulary is a superset
//              and can be remapped by the pipeline.) Splits: train and test only,
//              25k/25k as in LRA (no valid split; carve one in the pipeline).
//              Order: neg then pos, each by the numeric id of <id>_<rating>.txt.
//   Retrieval  raw bytes of each document (vocabulary 256), each truncated to 4000;
//              splits train/eval/test -> train/valid/test; label 0/1 (the release
//              writes it as a number, "1" or "1.0").
//   Image      CIFAR-10 to gray with ITU-R BT.601 luma, integer-rounded:
//              gray = (299 R + 587 G + 114 B + 500) / 1000, raster order, 0..255
//              (vocabulary 256; quantisation to 16 levels is the pipeline's job).
//              train = the first 90% of data_batch_1..5 in file order (45000),
//              valid = the last 10% (5000; LRA's train[90%:]), test = test_batch.
//   Pathfinder the PNG's gray value 0..255 (vocabulary 256), raster order. PNGs are
//              converted to 8-bit gray by libpng transforms (palette/low-bit expand,
//              16-bit scaled, alpha stripped, RGB -> BT.601 gray). Empty or
//              undecodable images are skipped with a one-line warning (the first 20)
//              and counted; the count is reported on `log` at the end. Split: a Fisher-Yates permutation of all
//              metadata entries (metadata files in numeric order, lines in order)
//              drawn from RngStream(seed, kPathfinderSplitStream); the first 80% of
//              the permutation are train, the next 10% valid, the rest test. Within a
//              split, samples keep metadata order.
//   Path-X     pathfinder128 data at 128x128, task name "pathx".
#include <cstdint>
#include <iosfwd>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace elm::prep {

// ---- ListOps --------------------------------------------------------------
inline constexpr int kListOpsVocabulary = 15;
// Symbol of each id, space-separated (the value of extra["vocabulary"]).
std::string listops_vocabulary();
// Appends the ids of a Source string; `where` ("file:line") prefixes errors.
void encode_listops_source(std::string_view source, std::vector<uint8_t>& out, const std::string& where);
void prep_listops(const std::string& raw_dir, const std::string& out_dir, std::ostream& log);

// ---- Text (IMDB) ----------------------------------------------------------
inline constexpr int64_t kTextMaxBytes = 4096;
void prep_text(const std::string& raw_dir, const std::string& out_dir, std::ostream& log);

// ---- Retrieval (AAN) ------------------------------------------------------
inline constexpr int64_t kRetrievalMaxBytes = 4000;
void prep_retrieval(const std::string& raw_dir, const std::string& out_dir, std::ostream& log);

// ---- Image (CIFAR-10) -----------------------------------------------------
inline constexpr int64_t kCifarRecordBytes = 3073;
// BT.601 luma of one pixel, rounded to nearest.
inline uint8_t cifar_gray(uint8_t r, uint8_t g, uint8_t b) {
  return static_cast<uint8_t>((299u * r + 587u * g + 114u * b + 500u) / 1000u);
}
void prep_image(const std::string& raw_dir, const std::string& out_dir, std::ostream& log);

// ---- Pathfinder / Path-X ----------------------------------------------------
inline constexpr uint64_t kPathfinderSplitStream = 0x70617468ULL;  // "path"
struct PathfinderOptions {
  int resolution = 32;                                // 32, 64, 128 or 256
  std::string difficulty = "curv_contour_length_14";  // LRA's hard setting
  uint64_t seed = 0;                                  // split seed
  std::string task = "pathfinder";                    // StoreInfo.task
};
void prep_pathfinder(const std::string& raw_dir, const std::string& out_dir, std::ostream& log,
                     const PathfinderOptions& options = {});
// Path-X: pathfinder128 at 128x128, task "pathx".
void prep_pathx(const std::string& raw_dir, const std::string& out_dir, std::ostream& log);

}  // namespace elm::prep
