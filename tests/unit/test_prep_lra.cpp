// LRA raw-format readers (src/data/prep/lra_*): the tests write small raw files in
// the release formats (docs/datasets.md), run the readers and check the stores;
// bad input must give one-line ElmErrors naming the file and record, and leave no
// <split>.h5 behind; deterministic corruptions must give ElmError or success.
#include <gtest/gtest.h>
#include <png.h>

#include <algorithm>
#include <csetjmp>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <set>
#include <sstream>
#include <typeinfo>

#include "core/error.hpp"
#include "core/rng.hpp"
#include "data/prep/lra_prep.hpp"
#include "data/prep/png_reader.hpp"
#include "data/store/dataset_store.hpp"
#include "test_support.hpp"

namespace elm::test {
using elm::test::files_under;

namespace {

namespace fs = std::filesystem;
using Bytes = std::vector<uint8_t>;

void write_bytes(const fs::path& path, const void* data, size_t n) {
  fs::create_directories(path.parent_path());
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(static_cast<const char*>(data), static_cast<std::streamsize>(n));
  ASSERT_TRUE(out.good()) << path;
}
void write_text(const fs::path& path, const std::string& s) { write_bytes(path, s.data(), s.size()); }
void write_vec(const fs::path& path, const Bytes& b) { write_bytes(path, b.data(), b.size()); }
Bytes read_all(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return Bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

std::vector<int32_t> bytes_as_ids(std::string_view s) {
  std::vector<int32_t> out;
  for (char c : s) out.push_back(static_cast<uint8_t>(c));
  return out;
}

using Prep = std::function<void(const std::string&, const std::string&, std::ostream&)>;

// Runs `prep` expecting an ElmError whose one-line message contains every
// string of `needles`, and no file left under the output directory.
void expect_prep_error(const Prep& prep, const std::string& raw, const std::string& out,
                       const std::vector<std::string>& needles) {
  std::ostringstream log;
  fs::remove_all(out);
  try {
    prep(raw, out, log);
    ADD_FAILURE() << "expected an ElmError containing " << (needles.empty() ? "" : needles[0]);
  } catch (const ElmError& e) {
    const std::string msg = e.what();
    EXPECT_EQ(msg.find('\n'), std::string::npos) << "message is not one line: " << msg;
    for (const auto& n : needles) EXPECT_NE(msg.find(n), std::string::npos) << "'" << n << "' not in: " << msg;
  }
  EXPECT_TRUE(files_under(out).empty()) << "left behind: " << files_under(out)[0];
}

// Runs `prep` on corrupted input: ElmError or success are fine, any other
// exception is a failure; after an error nothing may be left under `out`.
void expect_error_or_success(const Prep& prep, const std::string& raw, const std::string& out,
                             const std::string& what) {
  std::ostringstream log;
  fs::remove_all(out);
  try {
    prep(raw, out, log);
  } catch (const ElmError& e) {
    const std::string msg = e.what();
    EXPECT_EQ(msg.find('\n'), std::string::npos) << what << ": message is not one line: " << msg;
    EXPECT_TRUE(files_under(out).empty()) << what << ": left behind " << files_under(out)[0];
  } catch (const std::exception& e) {
    ADD_FAILURE() << what << ": " << typeid(e).name() << ": " << e.what();
  } catch (...) {
    ADD_FAILURE() << what << ": unknown exception";
  }
}

// Deterministic corruptions of `original`: truncations at many lengths and
// single / multiple byte flips. `apply` writes the variant and runs the check.
void for_each_corruption(const Bytes& original, int truncations, int flips, uint64_t stream,
                         const std::function<void(const Bytes&, const std::string&)>& apply) {
  const size_t n = original.size();
  const size_t step = std::max<size_t>(1, n / std::max(truncations, 1));
  for (size_t len = 0; len < n; len += step) apply(Bytes(original.begin(), original.begin() + len), "truncated to " + std::to_string(len));
  CounterRng rng(1234, stream);
  for (int k = 0; k < flips; ++k) {
    Bytes b = original;
    const int count = 1 + static_cast<int>(rng.below(3 * k, 3));
    for (int j = 0; j < count; ++j) {
      const size_t pos = rng.below(3 * k + 1 + 1000003 * j, n);
      const auto value = static_cast<uint8_t>(rng.below(3 * k + 2 + 1000003 * j, 256));
      b[pos] = (k % 2) ? value : static_cast<uint8_t>(b[pos] ^ (1u << (k % 8)));
    }
    apply(b, "flip variant " + std::to_string(k));
  }
}

StoreReader open_split(const fs::path& out, const std::string& split) { return StoreReader((out / (split + ".h5")).string()); }

// ------------------------------------------------------------------ ListOps

const char* kListOpsTrain =
    "Source\tTarget\n"
    "( ( ( [MAX 2 9 ) ( ( [MIN 4 7 ) ] ) ) 0 ) ]\t9\n"
    "( ( [SM 3 ) ( [MED 1 5 8 ] ) ) ]\t6\n"
    "[MIN 0 ]\t0\n";
const char* kListOpsVal = "Source\tTarget\n( [MAX 1 ) ]\t1\n";
const char* kListOpsTest = "Source\tTarget\r\n( [SM 4 5 ) ]\t9\r\n\r\n";

fs::path write_listops(const fs::path& raw) {
  const fs::path dir = raw / "listops-1000";
  write_text(dir / "basic_train.tsv", kListOpsTrain);
  write_text(dir / "basic_val.tsv", kListOpsVal);
  write_text(dir / "basic_test.tsv", kListOpsTest);
  return dir;
}

TEST(PrepLra, ListOpsVocabularyIsDocumentedOrder) {
  EXPECT_EQ(prep::listops_vocabulary(), "0 1 2 3 4 5 6 7 8 9 [MIN [MAX [MED [SM ]");
  std::vector<uint8_t> ids;
  prep::encode_listops_source("( [MAX 2 ( [MIN 9 0 ) ] ) [MED [SM ]", ids, "x:1");
  EXPECT_EQ(ids, (std::vector<uint8_t>{11, 2, 10, 9, 0, 14, 12, 13, 14}));
  EXPECT_THROW(prep::encode_listops_source("[MAX 10 ]", ids, "x:1"), ElmError);
  EXPECT_THROW(prep::encode_listops_source("[max 1 ]", ids, "x:1"), ElmError);
}

TEST(PrepLra, ListOpsWritesSplitsWithVocabularyAndLabels) {
  TempDir tmp("elm-lra");
  const fs::path dir = write_listops(tmp.path() / "raw");
  const fs::path out = tmp.path() / "out";
  std::ostringstream log;
  prep::prep_listops((tmp.path() / "raw").string(), out.string(), log);

  auto train = open_split(out, "train");
  ASSERT_EQ(train.num_samples(), 3);
  EXPECT_EQ(train.info().task, "listops");
  EXPECT_EQ(train.info().split, "train");
  EXPECT_EQ(train.info().input_kind, "tokens");
  EXPECT_EQ(train.info().channels, 15);
  EXPECT_EQ(train.info().num_classes, 10);
  EXPECT_EQ(train.info().max_length, 9);
  EXPECT_EQ(train.info().source, (dir / "basic_train.tsv").string());
  EXPECT_EQ(train.info().extra.at("vocabulary"), "0 1 2 3 4 5 6 7 8 9 [MIN [MAX [MED [SM ]");
  EXPECT_EQ(train.labels(), (std::vector<int64_t>{9, 6, 0}));
  EXPECT_EQ(train.read_i32("tokens", 0), (std::vector<int32_t>{11, 2, 9, 10, 4, 7, 14, 0, 14}));
  EXPECT_EQ(train.read_i32("tokens", 1), (std::vector<int32_t>{13, 3, 12, 1, 5, 8, 14, 14}));
  EXPECT_EQ(train.read_i32("tokens", 2), (std::vector<int32_t>{10, 0, 14}));
  EXPECT_FALSE(train.has_field("tokens_b"));

  auto valid = open_split(out, "valid");
  ASSERT_EQ(valid.num_samples(), 1);
  EXPECT_EQ(valid.info().split, "valid");
  EXPECT_EQ(valid.read_i32("tokens", 0), (std::vector<int32_t>{11, 1, 14}));
  auto test = open_split(out, "test");  // CRLF line ends, trailing blank line
  ASSERT_EQ(test.num_samples(), 1);
  EXPECT_EQ(test.labels(), (std::vector<int64_t>{9}));
  EXPECT_EQ(test.read_i32("tokens", 0), (std::vector<int32_t>{13, 4, 5, 14}));
  EXPECT_EQ(test.info().max_length, 4);
  // The task folder itself is accepted as raw_dir.
  prep::prep_listops(dir.string(), (tmp.path() / "out2").string(), log);
  EXPECT_EQ(open_split(tmp.path() / "out2", "train").num_samples(), 3);
}

TEST(PrepLra, ListOpsBadInputNamesFileAndLine) {
  TempDir tmp("elm-lra");
  const fs::path raw = tmp.path() / "raw";
  const std::string out = (tmp.path() / "out").string();
  const fs::path dir = write_listops(raw);
  const std::string train = (dir / "basic_train.tsv").string();
  const std::string test = (dir / "basic_test.tsv").string();
  const Prep prep = prep::prep_listops;

  write_text(dir / "basic_train.tsv", "Source\tLabel\n[MIN 1 ]\t1\n");
  expect_prep_error(prep, raw.string(), out, {train + ":1", "header"});
  write_text(dir / "basic_train.tsv", "Source\tTarget\n[MIN 1 ]\t1\n[MIN 2 ] 2\n");
  expect_prep_error(prep, raw.string(), out, {train + ":3", "2 tab-separated columns"});
  write_text(dir / "basic_train.tsv", "Source\tTarget\n[MIN 1 ]\t1\textra\n");
  expect_prep_error(prep, raw.string(), out, {train + ":2", "columns"});
  write_text(dir / "basic_train.tsv", "Source\tTarget\n[MIN 1 ]\t10\n");
  expect_prep_error(prep, raw.string(), out, {train + ":2", "0..9", "\"10\""});
  write_text(dir / "basic_train.tsv", "Source\tTarget\n[MIN 1 ]\t-1\n");
  expect_prep_error(prep, raw.string(), out, {train + ":2", "0..9"});
  write_text(dir / "basic_train.tsv", "Source\tTarget\n[MIN 1 ]\t1\n[MIN [MODE 1 ]\t2\n");
  expect_prep_error(prep, raw.string(), out, {train + ":3", "unknown ListOps token \"[MODE\""});
  write_text(dir / "basic_train.tsv", "Source\tTarget\n( )\t1\n");
  expect_prep_error(prep, raw.string(), out, {train + ":2", "no tokens"});
  write_text(dir / "basic_train.tsv", "");
  expect_prep_error(prep, raw.string(), out, {train, "empty"});
  write_text(dir / "basic_train.tsv", "Source\tTarget\n");
  expect_prep_error(prep, raw.string(), out, {train, "no samples"});
  // Truncated mid-line: the last line has one column.
  const std::string full = kListOpsTrain;
  write_text(dir / "basic_train.tsv", full.substr(0, full.find("\t6")));
  expect_prep_error(prep, raw.string(), out, {train + ":3"});
  // A bad line in the last split: the earlier, good splits are not committed.
  write_text(dir / "basic_train.tsv", kListOpsTrain);
  write_text(dir / "basic_test.tsv", "Source\tTarget\n[SM 1 \x01 ]\t1\n");
  expect_prep_error(prep, raw.string(), out, {test + ":2", "\\x01"});
  fs::remove(dir / "basic_test.tsv");
  expect_prep_error(prep, raw.string(), out, {"missing input file", test});
}

TEST(PrepLra, ListOpsFuzzedInputGivesElmErrorOrSuccess) {
  TempDir tmp("elm-lra");
  const fs::path raw = tmp.path() / "raw";
  const fs::path dir = write_listops(raw);
  const std::string s = kListOpsTrain;
  for_each_corruption(Bytes(s.begin(), s.end()), 60, 60, 1, [&](const Bytes& b, const std::string& what) {
    write_vec(dir / "basic_train.tsv", b);
    expect_error_or_success(prep::prep_listops, raw.string(), (tmp.path() / "out").string(), "listops " + what);
  });
}

// ------------------------------------------------------------------ Text

TEST(PrepLra, TextStoresTruncatedBytesNegThenPos) {
  TempDir tmp("elm-lra");
  const fs::path imdb = tmp.path() / "raw" / "aclImdb";
  std::string long_review;
  for (int i = 0; i < 5000; ++i) long_review += static_cast<char>('a' + i % 26);
  long_review[10] = static_cast<char>(0xe9);  // a non-ASCII byte is kept as is
  write_text(imdb / "train" / "pos" / "7_9.txt", long_review);
  write_text(imdb / "train" / "neg" / "10_1.txt", "Dull.<br /><br />Bad.");
  write_text(imdb / "train" / "neg" / "9_3.txt", "Meh");
  write_text(imdb / "test" / "pos" / "0_10.txt", "Great film!\n");
  fs::create_directories(imdb / "test" / "neg");
  write_text(imdb / "train" / "pos" / "notes.md", "not a review");
  std::ostringstream log;
  const fs::path out = tmp.path() / "out";
  prep::prep_text((tmp.path() / "raw").string(), out.string(), log);

  auto train = open_split(out, "train");
  ASSERT_EQ(train.num_samples(), 3);
  EXPECT_EQ(train.info().task, "text");
  EXPECT_EQ(train.info().channels, 256);
  EXPECT_EQ(train.info().num_classes, 2);
  EXPECT_EQ(train.info().max_length, 4096);
  EXPECT_EQ(train.info().input_kind, "tokens");
  EXPECT_EQ(train.info().extra.at("truncate"), "4096");
  EXPECT_EQ(train.labels(), (std::vector<int64_t>{0, 0, 1}));
  EXPECT_EQ(train.read_i32("tokens", 0), bytes_as_ids("Meh"));  // id 9 before id 10
  EXPECT_EQ(train.read_i32("tokens", 1), bytes_as_ids("Dull.<br /><br />Bad."));
  EXPECT_EQ(train.read_i32("tokens", 2), bytes_as_ids(long_review.substr(0, 4096)));
  EXPECT_EQ(train.read_i32("tokens", 2)[10], 0xe9);
  auto test = open_split(out, "test");
  ASSERT_EQ(test.num_samples(), 1);
  EXPECT_EQ(test.labels(), (std::vector<int64_t>{1}));
  EXPECT_EQ(test.read_i32("tokens", 0), bytes_as_ids("Great film!\n"));
  EXPECT_EQ(test.info().max_length, 12);
  EXPECT_FALSE(fs::exists(out / "valid.h5"));
}

TEST(PrepLra, TextBadInputNamesFile) {
  TempDir tmp("elm-lra");
  const fs::path raw = tmp.path() / "raw";
  const fs::path imdb = raw / "aclImdb";
  const std::string out = (tmp.path() / "out").string();
  write_text(imdb / "train" / "pos" / "1_9.txt", "good");
  write_text(imdb / "train" / "neg" / "2_1.txt", "bad");
  expect_prep_error(prep::prep_text, raw.string(), out, {"missing input directory", (imdb / "test").string()});
  write_text(imdb / "test" / "pos" / "3_9.txt", "");
  fs::create_directories(imdb / "test" / "neg");
  expect_prep_error(prep::prep_text, raw.string(), out, {(imdb / "test" / "pos" / "3_9.txt").string(), "empty review"});
  fs::remove(imdb / "test" / "pos" / "3_9.txt");
  expect_prep_error(prep::prep_text, raw.string(), out, {"no *.txt reviews", (imdb / "test" / "neg").string()});
  fs::remove_all(imdb / "train" / "neg");
  expect_prep_error(prep::prep_text, raw.string(), out, {"missing input directory", (imdb / "train" / "neg").string()});
}

TEST(PrepLra, TextFuzzedReviewsGiveElmErrorOrSuccess) {
  TempDir tmp("elm-lra");
  const fs::path raw = tmp.path() / "raw";
  const fs::path imdb = raw / "aclImdb";
  write_text(imdb / "train" / "neg" / "2_1.txt", "bad");
  write_text(imdb / "test" / "pos" / "3_9.txt", "fine");
  fs::create_directories(imdb / "test" / "neg");
  const std::string review = "A \x01\xff review\r\n<br />\tend";
  for_each_corruption(Bytes(review.begin(), review.end()), 12, 12, 2, [&](const Bytes& b, const std::string& what) {
    write_vec(imdb / "train" / "pos" / "1_9.txt", b);
    expect_error_or_success(prep::prep_text, raw.string(), (tmp.path() / "out").string(), "text " + what);
  });
}

// ------------------------------------------------------------------ Retrieval

std::string aan_line(const std::string& label, const std::string& t1, const std::string& t2) {
  return label + "\tacl/P00-1001\tacl/W99-0607\t" + t1 + "\t" + t2 + "\n";
}

fs::path write_aan(const fs::path& raw, const std::string& long_doc) {
  const fs::path dir = raw / "tsv_data";
  write_text(dir / "new_aan_pairs.train.tsv", aan_line("1", "b'We parse.'", long_doc) + aan_line("0.0", "x", "") +
                                                  aan_line("1.0", "Tr\xc3\xa9s", "y z"));
  write_text(dir / "new_aan_pairs.eval.tsv", aan_line("0", "e1", "e2"));
  write_text(dir / "new_aan_pairs.test.tsv", aan_line("1", "t1", "t2"));
  return dir;
}

TEST(PrepLra, RetrievalStoresBothDocumentsTruncated) {
  TempDir tmp("elm-lra");
  std::string long_doc;
  for (int i = 0; i < 4500; ++i) long_doc += static_cast<char>('A' + i % 23);
  const fs::path dir = write_aan(tmp.path() / "raw", long_doc);
  const fs::path out = tmp.path() / "out";
  std::ostringstream log;
  prep::prep_retrieval((tmp.path() / "raw").string(), out.string(), log);

  auto train = open_split(out, "train");
  ASSERT_EQ(train.num_samples(), 3);
  EXPECT_EQ(train.info().task, "retrieval");
  EXPECT_EQ(train.info().channels, 256);
  EXPECT_EQ(train.info().num_classes, 2);
  EXPECT_EQ(train.info().max_length, 4000);
  EXPECT_EQ(train.info().source, (dir / "new_aan_pairs.train.tsv").string());
  EXPECT_TRUE(train.has_field("tokens_b"));
  EXPECT_EQ(train.labels(), (std::vector<int64_t>{1, 0, 1}));
  EXPECT_EQ(train.read_i32("tokens", 0), bytes_as_ids("b'We parse.'"));
  EXPECT_EQ(train.read_i32("tokens_b", 0), bytes_as_ids(long_doc.substr(0, 4000)));
  EXPECT_EQ(train.read_i32("tokens", 1), bytes_as_ids("x"));
  EXPECT_TRUE(train.read_i32("tokens_b", 1).empty());
  EXPECT_EQ(train.read_i32("tokens", 2), bytes_as_ids("Tr\xc3\xa9s"));
  EXPECT_EQ(train.read_i32("tokens_b", 2), bytes_as_ids("y z"));
  auto valid = open_split(out, "valid");
  ASSERT_EQ(valid.num_samples(), 1);
  EXPECT_EQ(valid.info().source, (dir / "new_aan_pairs.eval.tsv").string());
  EXPECT_EQ(valid.read_i32("tokens_b", 0), bytes_as_ids("e2"));
  auto test = open_split(out, "test");
  ASSERT_EQ(test.num_samples(), 1);
  EXPECT_EQ(test.info().max_length, 2);
}

TEST(PrepLra, RetrievalBadInputNamesFileAndLine) {
  TempDir tmp("elm-lra");
  const fs::path raw = tmp.path() / "raw";
  const std::string out = (tmp.path() / "out").string();
  const fs::path dir = write_aan(raw, "doc");
  const std::string eval = (dir / "new_aan_pairs.eval.tsv").string();
  write_text(eval, aan_line("0", "a", "b") + "1\tid1\tid2\tonly four\n");
  expect_prep_error(prep::prep_retrieval, raw.string(), out, {eval + ":2", "expected 5", "found 4"});
  write_text(eval, aan_line("0", "a", "b\tc"));
  expect_prep_error(prep::prep_retrieval, raw.string(), out, {eval + ":1", "found 6"});
  write_text(eval, aan_line("2", "a", "b"));
  expect_prep_error(prep::prep_retrieval, raw.string(), out, {eval + ":1", "label must be 0 or 1", "\"2\""});
  write_text(eval, aan_line("yes", "a", "b"));
  expect_prep_error(prep::prep_retrieval, raw.string(), out, {eval + ":1", "\"yes\""});
  write_text(eval, aan_line("0", "a", "bbbbbbbb").substr(0, 29));  // truncated inside text1
  expect_prep_error(prep::prep_retrieval, raw.string(), out, {eval + ":1", "found 4"});
  fs::remove(eval);
  expect_prep_error(prep::prep_retrieval, raw.string(), out, {"missing input file", eval});
}

TEST(PrepLra, RetrievalFuzzedInputGivesElmErrorOrSuccess) {
  TempDir tmp("elm-lra");
  const fs::path raw = tmp.path() / "raw";
  const fs::path dir = write_aan(raw, "doc");
  const std::string s = aan_line("1", "first doc", "second") + aan_line("0.0", "x\x80y", "z");
  for_each_corruption(Bytes(s.begin(), s.end()), 50, 50, 3, [&](const Bytes& b, const std::string& what) {
    write_vec(dir / "new_aan_pairs.test.tsv", b);
    expect_error_or_success(prep::prep_retrieval, raw.string(), (tmp.path() / "out").string(), "retrieval " + what);
  });
}

// ------------------------------------------------------------------ Image

Bytes cifar_record(int label, int seed) {
  Bytes rec(prep::kCifarRecordBytes);
  rec[0] = static_cast<uint8_t>(label);
  for (int p = 0; p < 1024; ++p) {
    rec[1 + p] = static_cast<uint8_t>((seed * 37 + p) % 256);
    rec[1 + 1024 + p] = static_cast<uint8_t>((seed * 11 + 3 * p) % 256);
    rec[1 + 2048 + p] = static_cast<uint8_t>(255 - (seed + p) % 256);
  }
  return rec;
}

std::vector<int32_t> expected_gray(const Bytes& rec) {
  std::vector<int32_t> g(1024);
  for (int p = 0; p < 1024; ++p) g[p] = (299 * rec[1 + p] + 587 * rec[1025 + p] + 114 * rec[2049 + p] + 500) / 1000;
  return g;
}

// data_batch_b holds 2 records (labels (b + r) % 10, seeds 10 b + r); test_batch 4.
fs::path write_cifar(const fs::path& raw) {
  const fs::path dir = raw / "cifar-10-batches-bin";
  for (int b = 1; b <= 5; ++b) {
    Bytes f;
    for (int r = 0; r < 2; ++r) {
      const Bytes rec = cifar_record((b + r) % 10, 10 * b + r);
      f.insert(f.end(), rec.begin(), rec.end());
    }
    write_vec(dir / ("data_batch_" + std::to_string(b) + ".bin"), f);
  }
  Bytes t;
  for (int r = 0; r < 4; ++r) {
    const Bytes rec = cifar_record(9 - r, 100 + r);
    t.insert(t.end(), rec.begin(), rec.end());
  }
  write_vec(dir / "test_batch.bin", t);
  return dir;
}

TEST(PrepLra, CifarGrayIsBt601Rounded) {
  EXPECT_EQ(prep::cifar_gray(255, 0, 0), 76);    // 76.245
  EXPECT_EQ(prep::cifar_gray(0, 255, 0), 150);   // 149.685
  EXPECT_EQ(prep::cifar_gray(0, 0, 255), 29);    // 29.07
  EXPECT_EQ(prep::cifar_gray(255, 255, 255), 255);
  EXPECT_EQ(prep::cifar_gray(10, 20, 30), 18);   // 18.15
  EXPECT_EQ(prep::cifar_gray(0, 0, 0), 0);
}

TEST(PrepLra, ImageSplitsLastTenthAsValidAndGrayPixels) {
  TempDir tmp("elm-lra");
  const fs::path dir = write_cifar(tmp.path() / "raw");
  const fs::path out = tmp.path() / "out";
  std::ostringstream log;
  prep::prep_image((tmp.path() / "raw").string(), out.string(), log);

  auto train = open_split(out, "train");
  auto valid = open_split(out, "valid");
  auto test = open_split(out, "test");
  ASSERT_EQ(train.num_samples(), 9);  // 10 training records: last 10% (1) is valid
  ASSERT_EQ(valid.num_samples(), 1);
  ASSERT_EQ(test.num_samples(), 4);
  EXPECT_EQ(train.info().task, "image");
  EXPECT_EQ(train.info().channels, 256);
  EXPECT_EQ(train.info().num_classes, 10);
  EXPECT_EQ(train.info().max_length, 1024);
  EXPECT_EQ(test.info().source, (dir / "test_batch.bin").string());
  EXPECT_EQ(train.info().extra.at("height"), "32");
  for (int i = 0; i < 9; ++i) {
    const int b = 1 + i / 2, r = i % 2;
    EXPECT_EQ(train.label(i), (b + r) % 10);
    EXPECT_EQ(train.read_i32("tokens", i), expected_gray(cifar_record(0, 10 * b + r))) << "train " << i;
  }
  EXPECT_EQ(valid.label(0), (5 + 1) % 10);
  EXPECT_EQ(valid.read_i32("tokens", 0), expected_gray(cifar_record(0, 51)));
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(test.label(i), 9 - i);
    EXPECT_EQ(test.read_i32("tokens", i), expected_gray(cifar_record(0, 100 + i)));
  }
}

TEST(PrepLra, ImageBadInputNamesFileAndRecord) {
  TempDir tmp("elm-lra");
  const fs::path raw = tmp.path() / "raw";
  const std::string out = (tmp.path() / "out").string();
  const fs::path dir = write_cifar(raw);
  const fs::path test = dir / "test_batch.bin";
  Bytes t = read_all(test);
  write_vec(test, Bytes(t.begin(), t.end() - 1));
  expect_prep_error(prep::prep_image, raw.string(), out, {test.string(), "not a multiple of 3073", "record 3"});
  Bytes bad = t;
  bad[2 * prep::kCifarRecordBytes] = 10;  // label of record 2
  write_vec(test, bad);
  expect_prep_error(prep::prep_image, raw.string(), out, {test.string(), "record 2", "label 10"});
  write_vec(test, {});
  expect_prep_error(prep::prep_image, raw.string(), out, {test.string(), "empty"});
  write_vec(test, t);
  fs::remove(dir / "data_batch_3.bin");
  expect_prep_error(prep::prep_image, raw.string(), out, {"missing input file", (dir / "data_batch_3.bin").string()});
}

TEST(PrepLra, ImageFuzzedBatchGivesElmErrorOrSuccess) {
  TempDir tmp("elm-lra");
  const fs::path raw = tmp.path() / "raw";
  const fs::path dir = write_cifar(raw);
  Bytes t = read_all(dir / "test_batch.bin");
  // Flips aimed at the label bytes as well as anywhere.
  for_each_corruption(t, 40, 30, 4, [&](const Bytes& b, const std::string& what) {
    write_vec(dir / "test_batch.bin", b);
    expect_error_or_success(prep::prep_image, raw.string(), (tmp.path() / "out").string(), "image " + what);
  });
  for (int r = 0; r < 4; ++r)
    for (int v : {9, 10, 255}) {
      Bytes b = t;
      b[r * prep::kCifarRecordBytes] = static_cast<uint8_t>(v);
      write_vec(dir / "test_batch.bin", b);
      expect_error_or_success(prep::prep_image, raw.string(), (tmp.path() / "out").string(),
                              "image label " + std::to_string(v));
    }
}

// ------------------------------------------------------------------ PNG / Pathfinder

struct PngSpec {
  uint32_t width = 0, height = 0;
  int color_type = PNG_COLOR_TYPE_GRAY;
  int bit_depth = 8;
  bool interlace = false;
  Bytes data;  // packed rows as libpng expects them
  std::vector<png_color> palette;
};

void png_write_to_vector(png_structp png, png_bytep data, size_t n) {
  auto* out = static_cast<Bytes*>(png_get_io_ptr(png));
  out->insert(out->end(), data, data + n);
}
void png_flush_noop(png_structp) {}

// Classic libpng write; the setjmp frame holds only trivially destructible locals.
bool encode_png_into(const PngSpec* spec, Bytes* out, std::vector<png_bytep>* rows) {
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, nullptr, nullptr, nullptr);
  if (!png) return false;
  png_infop info = png_create_info_struct(png);
  if (!info || setjmp(png_jmpbuf(png))) {
    png_destroy_write_struct(&png, &info);
    return false;
  }
  png_set_write_fn(png, out, png_write_to_vector, png_flush_noop);
  png_set_IHDR(png, info, spec->width, spec->height, spec->bit_depth, spec->color_type,
               spec->interlace ? PNG_INTERLACE_ADAM7 : PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
               PNG_FILTER_TYPE_DEFAULT);
  if (spec->color_type == PNG_COLOR_TYPE_PALETTE)
    png_set_PLTE(png, info, spec->palette.data(), static_cast<int>(spec->palette.size()));
  png_write_info(png, info);
  const size_t row_bytes = spec->data.size() / spec->height;
  for (uint32_t y = 0; y < spec->height; ++y) (*rows)[y] = const_cast<png_bytep>(spec->data.data() + y * row_bytes);
  png_write_image(png, rows->data());
  png_write_end(png, nullptr);
  png_destroy_write_struct(&png, &info);
  return true;
}

Bytes encode_png(const PngSpec& spec) {
  Bytes out;
  std::vector<png_bytep> rows(spec.height);
  EXPECT_TRUE(encode_png_into(&spec, &out, &rows));
  return out;
}

PngSpec gray8(uint32_t w, uint32_t h, int seed) {
  PngSpec s{w, h};
  s.data.resize(static_cast<size_t>(w) * h);
  for (uint32_t y = 0; y < h; ++y)
    for (uint32_t x = 0; x < w; ++x) s.data[y * w + x] = static_cast<uint8_t>((seed * 13 + x + 3 * y) % 256);
  return s;
}

TEST(PrepLra, PngDecodesGrayAndConvertsOtherFormats) {
  const PngSpec g = gray8(5, 3, 7);
  auto img = prep::decode_png_gray(encode_png(g), "g.png");
  EXPECT_EQ(img.width, 5u);
  EXPECT_EQ(img.height, 3u);
  EXPECT_EQ(img.pixels, g.data);
  PngSpec inter = gray8(9, 9, 1);
  inter.interlace = true;
  EXPECT_EQ(prep::decode_png_gray(encode_png(inter), "i.png").pixels, inter.data);

  PngSpec g16{2, 1, PNG_COLOR_TYPE_GRAY, 16};
  g16.data = {0x12, 0x34, 0xff, 0xff};  // big-endian samples 0x1234, 0xffff
  EXPECT_EQ(prep::decode_png_gray(encode_png(g16), "g16.png").pixels, (Bytes{0x12, 0xff}));

  PngSpec g1{8, 1, PNG_COLOR_TYPE_GRAY, 1};
  g1.data = {0b10100000};
  EXPECT_EQ(prep::decode_png_gray(encode_png(g1), "g1.png").pixels, (Bytes{255, 0, 255, 0, 0, 0, 0, 0}));

  PngSpec rgb{4, 1, PNG_COLOR_TYPE_RGB, 8};
  rgb.data = {255, 0, 0, 0, 255, 0, 0, 0, 255, 200, 200, 200};
  const auto rgb_px = prep::decode_png_gray(encode_png(rgb), "rgb.png").pixels;
  ASSERT_EQ(rgb_px.size(), 4u);
  EXPECT_NEAR(rgb_px[0], 76, 1);
  EXPECT_NEAR(rgb_px[1], 150, 1);
  EXPECT_NEAR(rgb_px[2], 29, 1);
  EXPECT_EQ(rgb_px[3], 200);

  PngSpec rgba{2, 1, PNG_COLOR_TYPE_RGBA, 8};
  rgba.data = {90, 90, 90, 0, 30, 30, 30, 255};
  EXPECT_EQ(prep::decode_png_gray(encode_png(rgba), "rgba.png").pixels, (Bytes{90, 30}));

  PngSpec pal{3, 1, PNG_COLOR_TYPE_PALETTE, 8};
  pal.palette = {{0, 0, 0}, {128, 128, 128}, {255, 255, 255}};
  pal.data = {2, 0, 1};
  EXPECT_EQ(prep::decode_png_gray(encode_png(pal), "pal.png").pixels, (Bytes{255, 0, 128}));
}

TEST(PrepLra, PngErrorsAreOneLineElmErrors) {
  const Bytes good = encode_png(gray8(6, 6, 2));
  for (const Bytes& b : {Bytes{}, Bytes(good.begin(), good.begin() + 4), Bytes(good.begin(), good.end() - 20),
                         Bytes{'n', 'o', 't', ' ', 'a', ' ', 'p', 'n', 'g', '!'}}) {
    try {
      prep::decode_png_gray(b, "/x/sample_1.png");
      ADD_FAILURE() << "decoded " << b.size() << " bytes";
    } catch (const ElmError& e) {
      const std::string msg = e.what();
      EXPECT_EQ(msg.rfind("/x/sample_1.png: ", 0), 0u) << msg;
      EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
    }
  }
  EXPECT_THROW(prep::read_png_gray("/nonexistent/elm/sample.png"), ElmError);
}

TEST(PrepLra, PngFuzzedBytesGiveElmErrorOrImage) {
  std::vector<Bytes> originals = {encode_png(gray8(8, 8, 3))};
  PngSpec rgb{3, 2, PNG_COLOR_TYPE_RGB, 8};
  rgb.data = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18};
  originals.push_back(encode_png(rgb));
  PngSpec inter = gray8(7, 5, 4);
  inter.interlace = true;
  originals.push_back(encode_png(inter));
  int decoded = 0, rejected = 0;
  for (size_t o = 0; o < originals.size(); ++o) {
    for_each_corruption(originals[o], 1000, 400, 10 + o, [&](const Bytes& b, const std::string& what) {
      try {
        const auto img = prep::decode_png_gray(b, "f.png");
        EXPECT_EQ(img.pixels.size(), static_cast<size_t>(img.width) * img.height) << what;
        ++decoded;
      } catch (const ElmError&) {
        ++rejected;
      } catch (const std::exception& e) {
        ADD_FAILURE() << what << ": " << typeid(e).name() << ": " << e.what();
      }
    });
  }
  EXPECT_GT(rejected, 0);
  EXPECT_GT(decoded, 0);  // e.g. flips in ancillary bytes or the unused tail
}

// pathfinder<res>/curv_contour_length_14 with `n` images over two metadata files
// (0.npy: first half, 1.npy: the rest); image k has label k % 2, content gray8(k),
// and the images in `empty` are written as empty files.
fs::path write_pathfinder(const fs::path& raw, int res, int n, const std::set<int>& empty) {
  const fs::path base = raw / ("pathfinder" + std::to_string(res)) / "curv_contour_length_14";
  std::string meta0, meta1;
  for (int k = 0; k < n; ++k) {
    const int dir = k < n / 2 ? 0 : 1;
    const std::string name = "sample_" + std::to_string(k) + ".png";
    (dir == 0 ? meta0 : meta1) +=
        "imgs/" + std::to_string(dir) + " " + name + " 0 " + std::to_string(k % 2) + " 14 1.5 0\n";
    const fs::path png = base / "imgs" / std::to_string(dir) / name;
    if (empty.count(k)) write_vec(png, {});
    else write_vec(png, encode_png(gray8(res, res, k)));
  }
  write_text(base / "metadata" / "1.npy", meta1);
  write_text(base / "metadata" / "0.npy", meta0);
  return base;
}

// Which image k a stored sample is (by its content), -1 if none.
int identify(const std::vector<int32_t>& px, int res, int n) {
  for (int k = 0; k < n; ++k) {
    const auto s = gray8(res, res, k);
    if (std::equal(px.begin(), px.end(), s.data.begin(), s.data.end())) return k;
  }
  return -1;
}

TEST(PrepLra, PathfinderSeededSplitSkipsEmptyPng) {
  TempDir tmp("elm-lra");
  const int n = 20;
  const fs::path base = write_pathfinder(tmp.path() / "raw", 32, n, {5});
  const fs::path out = tmp.path() / "out";
  std::ostringstream log;
  prep::prep_pathfinder((tmp.path() / "raw").string(), out.string(), log);
  const std::string text = log.str();
  EXPECT_NE(text.find("warning: skipping " + (base / "imgs/0/sample_5.png").string() + ": empty PNG file"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("skipped 1 unreadable image"), std::string::npos) << text;

  std::set<int> seen;
  int64_t total = 0;
  std::map<std::string, std::vector<int>> members;
  for (const std::string split : {"train", "valid", "test"}) {
    auto r = open_split(out, split);
    EXPECT_EQ(r.info().task, "pathfinder");
    EXPECT_EQ(r.info().channels, 256);
    EXPECT_EQ(r.info().num_classes, 2);
    EXPECT_EQ(r.info().max_length, 1024);
    EXPECT_EQ(r.info().source, base.string());
    EXPECT_EQ(r.info().extra.at("seed"), "0");
    for (int64_t i = 0; i < r.num_samples(); ++i) {
      const int k = identify(r.read_i32("tokens", i), 32, n);
      ASSERT_GE(k, 0) << split << " sample " << i;
      EXPECT_EQ(r.label(i), k % 2);
      EXPECT_TRUE(seen.insert(k).second) << "image " << k << " stored twice";
      members[split].push_back(k);
    }
    total += r.num_samples();
  }
  EXPECT_EQ(total, n - 1);
  EXPECT_EQ(seen.count(5), 0u);
  // 80/10/10 of the 20 listed entries, one of which was skipped.
  const size_t tr = members["train"].size(), va = members["valid"].size(), te = members["test"].size();
  EXPECT_TRUE((tr == 16 && va == 2 && te == 1) || (tr == 16 && va == 1 && te == 2) || (tr == 15 && va == 2 && te == 2))
      << tr << "/" << va << "/" << te;
  // Within a split, metadata order is kept.
  for (auto& [split, ks] : members) EXPECT_TRUE(std::is_sorted(ks.begin(), ks.end())) << split;

  // The same seed gives the same split; another seed a different one.
  prep::prep_pathfinder((tmp.path() / "raw").string(), (tmp.path() / "again").string(), log);
  auto v1 = open_split(tmp.path() / "again", "valid");
  std::vector<int> again;
  for (int64_t i = 0; i < v1.num_samples(); ++i) again.push_back(identify(v1.read_i32("tokens", i), 32, n));
  EXPECT_EQ(again, members["valid"]);
  std::set<int> changed;
  for (uint64_t seed = 1; seed <= 3; ++seed) {
    prep::PathfinderOptions opt;
    opt.seed = seed;
    const fs::path o = tmp.path() / ("seed" + std::to_string(seed));
    prep::prep_pathfinder((tmp.path() / "raw").string(), o.string(), log, opt);
    auto t = open_split(o, "train");
    std::vector<int> ks;
    for (int64_t i = 0; i < t.num_samples(); ++i) ks.push_back(identify(t.read_i32("tokens", i), 32, n));
    if (ks != members["train"]) changed.insert(static_cast<int>(seed));
  }
  EXPECT_FALSE(changed.empty()) << "the split does not depend on the seed";
}

TEST(PrepLra, PathXReadsPathfinder128) {
  TempDir tmp("elm-lra");
  write_pathfinder(tmp.path() / "raw", 128, 10, {});
  const fs::path out = tmp.path() / "out";
  std::ostringstream log;
  prep::prep_pathx((tmp.path() / "raw").string(), out.string(), log);
  auto train = open_split(out, "train");
  EXPECT_EQ(train.info().task, "pathx");
  EXPECT_EQ(train.info().max_length, 128 * 128);
  EXPECT_EQ(train.num_samples(), 8);
  EXPECT_EQ(open_split(out, "valid").num_samples() + open_split(out, "test").num_samples(), 2);
  const int k = identify(train.read_i32("tokens", 0), 128, 10);
  ASSERT_GE(k, 0);
  EXPECT_EQ(train.label(0), k % 2);
}

TEST(PrepLra, PathfinderBadInputNamesFileAndLine) {
  TempDir tmp("elm-lra");
  const fs::path raw = tmp.path() / "raw";
  const std::string out = (tmp.path() / "out").string();
  const fs::path base = write_pathfinder(raw, 32, 12, {});
  const std::string meta0 = (base / "metadata" / "0.npy").string();
  const Prep pf = [](const std::string& r, const std::string& o, std::ostream& l) { prep::prep_pathfinder(r, o, l); };
  const std::string good0 = std::string(reinterpret_cast<const char*>(read_all(meta0).data()), read_all(meta0).size());

  write_text(meta0, good0 + "imgs/0 sample_0.png 0 2 14\n");
  expect_prep_error(pf, raw.string(), out, {meta0 + ":7", "label (4th field) must be 0 or 1", "\"2\""});
  write_text(meta0, good0 + "imgs/0 sample_0.png 0\n");
  expect_prep_error(pf, raw.string(), out, {meta0 + ":7", "at least 4"});
  write_text(meta0, good0);
  // An image of the wrong size is an error (not a skip).
  write_vec(base / "imgs/0/sample_3.png", encode_png(gray8(64, 64, 3)));
  expect_prep_error(pf, raw.string(), out, {(base / "imgs/0/sample_3.png").string(), "64x64", "expected 32x32"});
  // Too many unreadable images leave a split empty: an error, nothing written.
  const fs::path raw2 = tmp.path() / "raw2";
  std::set<int> all;
  for (int k = 0; k < 11; ++k) all.insert(k);
  write_pathfinder(raw2, 32, 12, all);
  expect_prep_error(pf, raw2.string(), out, {"has no readable images"});
  prep::PathfinderOptions o64;
  o64.resolution = 64;
  expect_prep_error([&](const std::string& r, const std::string& d, std::ostream& l) { prep::prep_pathfinder(r, d, l, o64); },
                    raw.string(), out, {"missing input directory", "pathfinder64"});
  o64.resolution = 48;
  expect_prep_error([&](const std::string& r, const std::string& d, std::ostream& l) { prep::prep_pathfinder(r, d, l, o64); },
                    raw.string(), out, {"resolution must be 32, 64, 128 or 256"});
  fs::remove_all(base / "metadata");
  expect_prep_error(pf, raw.string(), out, {"missing input directory", (base / "metadata").string()});
}

TEST(PrepLra, PathfinderFuzzedFilesGiveElmErrorOrSuccess) {
  TempDir tmp("elm-lra");
  const fs::path raw = tmp.path() / "raw";
  const fs::path base = write_pathfinder(raw, 32, 10, {});
  const Prep pf = [](const std::string& r, const std::string& o, std::ostream& l) { prep::prep_pathfinder(r, o, l); };
  // Corrupted image files are skipped (or decoded), never a failure of another kind.
  const fs::path png = base / "imgs/0/sample_2.png";
  const Bytes good_png = read_all(png);
  for_each_corruption(good_png, 15, 15, 20, [&](const Bytes& b, const std::string& what) {
    write_vec(png, b);
    expect_error_or_success(pf, raw.string(), (tmp.path() / "out").string(), "pathfinder png " + what);
  });
  write_vec(png, good_png);
  const fs::path meta = base / "metadata" / "1.npy";
  const Bytes good_meta = read_all(meta);
  for_each_corruption(good_meta, 30, 30, 21, [&](const Bytes& b, const std::string& what) {
    write_vec(meta, b);
    expect_error_or_success(pf, raw.string(), (tmp.path() / "out").string(), "pathfinder metadata " + what);
  });
}

}  // namespace
}  // namespace elm::test
