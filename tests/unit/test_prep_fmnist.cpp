// Fashion-MNIST: the IDX reader (data/prep/idx_reader.hpp) on files written here
// (raw and gzip through zlib), corrupted ones included; `elmrun prep fmnist`
// (data/prep/fmnist_prep.hpp) on a small synthetic IDX set: splits, determinism,
// one-line errors naming the file and nothing left behind; the sfmnist task's
// sequences against hand-computed quantisation and 2x2 pooling; the configs; and
// the real Debian files when installed (skipped otherwise).
#include <gtest/gtest.h>
#include <zlib.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <iterator>
#include <set>
#include <sstream>

#include "core/error.hpp"
#include "data/prep/fmnist_prep.hpp"
#include "data/prep/idx_reader.hpp"
#include "data/store/dataset_store.hpp"
#include "data/task.hpp"
#include "test_support.hpp"
#include "train/run_config.hpp"

namespace elm::test {
using elm::test::files_under;

namespace {

namespace fs = std::filesystem;
using Bytes = std::vector<uint8_t>;

void put_be32(Bytes& b, uint32_t v) {
  for (int s = 24; s >= 0; s -= 8) b.push_back(uint8_t(v >> s));
}

Bytes idx_images(uint32_t count, uint32_t rows, uint32_t cols, const Bytes& pixels,
                 uint32_t magic = prep::kIdxImagesMagic) {
  Bytes b;
  put_be32(b, magic);
  put_be32(b, count);
  put_be32(b, rows);
  put_be32(b, cols);
  b.insert(b.end(), pixels.begin(), pixels.end());
  return b;
}

Bytes idx_labels(const Bytes& labels, uint32_t magic = prep::kIdxLabelsMagic) {
  Bytes b;
  put_be32(b, magic);
  put_be32(b, uint32_t(labels.size()));
  b.insert(b.end(), labels.begin(), labels.end());
  return b;
}

// gzip (RFC 1952) through zlib's deflate with the gzip wrapper.
Bytes gzip(const Bytes& in) {
  z_stream z{};
  EXPECT_EQ(deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY), Z_OK);
  Bytes out(deflateBound(&z, uLong(in.size())) + 64);
  z.next_in = const_cast<Bytef*>(in.data());
  z.avail_in = uInt(in.size());
  z.next_out = out.data();
  z.avail_out = uInt(out.size());
  EXPECT_EQ(deflate(&z, Z_FINISH), Z_STREAM_END);
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}

void write_file(const fs::path& p, const Bytes& b) {
  fs::create_directories(p.parent_path());
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(b.data()), std::streamsize(b.size()));
  ASSERT_TRUE(out.good()) << p;
}

Bytes read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return Bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// Expects an ElmError of one line containing every needle.
void expect_error(const std::function<void()>& f, const std::vector<std::string>& needles) {
  try {
    f();
    ADD_FAILURE() << "expected an ElmError containing '" << needles.at(0) << "'";
  } catch (const ElmError& e) {
    const std::string m = e.what();
    EXPECT_EQ(m.find('\n'), std::string::npos) << "not one line: " << m;
    for (const auto& n : needles) EXPECT_NE(m.find(n), std::string::npos) << "'" << n << "' not in: " << m;
  }
}

// Pixel p of synthetic image i (28x28 unless given): varied, reproducible.
uint8_t pixel(uint32_t i, uint32_t p) { return uint8_t((i * 131u + p * 17u + (p * p) % 7u) & 0xFF); }

Bytes synthetic_pixels(uint32_t count, uint32_t rows = 28, uint32_t cols = 28) {
  Bytes px;
  for (uint32_t i = 0; i < count; ++i)
    for (uint32_t p = 0; p < rows * cols; ++p) px.push_back(pixel(i, p));
  return px;
}
Bytes synthetic_labels(uint32_t count, uint32_t offset = 0) {
  Bytes l;
  for (uint32_t i = 0; i < count; ++i) l.push_back(uint8_t((i * 7 + offset) % 10));
  return l;
}

// A Fashion-MNIST directory of n_train + n_test synthetic images (gzip or raw names).
void write_fmnist_dir(const fs::path& dir, uint32_t n_train, uint32_t n_test, bool gz = true) {
  auto put = [&](const std::string& name, const Bytes& b) {
    if (gz) write_file(dir / (name + ".gz"), gzip(b));
    else write_file(dir / name, b);
  };
  put("train-images-idx3-ubyte", idx_images(n_train, 28, 28, synthetic_pixels(n_train)));
  put("train-labels-idx1-ubyte", idx_labels(synthetic_labels(n_train)));
  Bytes test_px;
  for (uint32_t i = 0; i < n_test; ++i)
    for (uint32_t p = 0; p < 784; ++p) test_px.push_back(pixel(1000 + i, p));
  put("t10k-images-idx3-ubyte", idx_images(n_test, 28, 28, test_px));
  put("t10k-labels-idx1-ubyte", idx_labels(synthetic_labels(n_test, 3)));
}

std::vector<int32_t> as_i32(const uint8_t* p, size_t n) { return std::vector<int32_t>(p, p + n); }

// ---- the IDX reader ------------------------------------------------------------

TEST(IdxReader, ReadsRawAndGzipFiles) {
  TempDir tmp("elm-fmnist");
  const Bytes px = synthetic_pixels(5, 3, 4);
  const Bytes lab = {0, 9, 3, 3, 7};
  const Bytes img_file = idx_images(5, 3, 4, px), lab_file = idx_labels(lab);
  // Big-endian header, as the format says.
  EXPECT_EQ(Bytes(img_file.begin(), img_file.begin() + 8), (Bytes{0, 0, 8, 3, 0, 0, 0, 5}));
  for (bool gz : {false, true}) {
    SCOPED_TRACE(gz ? "gzip" : "raw");
    const std::string ip = tmp.file(gz ? "i.gz" : "i"), lp = tmp.file(gz ? "l.gz" : "l");
    write_file(ip, gz ? gzip(img_file) : img_file);
    write_file(lp, gz ? gzip(lab_file) : lab_file);
    if (gz) EXPECT_NE(read_file(ip), img_file);
    const prep::IdxImages im = prep::read_idx_images(ip);
    EXPECT_EQ(im.count, 5);
    EXPECT_EQ(im.rows, 3);
    EXPECT_EQ(im.cols, 4);
    EXPECT_EQ(im.pixels, px);
    EXPECT_EQ(prep::read_idx_labels(lp), lab);
  }
  // Two concatenated gzip members are one stream (RFC 1952).
  Bytes two = gzip(Bytes(img_file.begin(), img_file.begin() + 20));
  const Bytes rest = gzip(Bytes(img_file.begin() + 20, img_file.end()));
  two.insert(two.end(), rest.begin(), rest.end());
  write_file(tmp.file("two.gz"), two);
  EXPECT_EQ(prep::read_idx_images(tmp.file("two.gz")).pixels, px);
}

TEST(IdxReader, WrongMagicNumbersNameTheFile) {
  TempDir tmp("elm-fmnist");
  const Bytes lab_file = idx_labels({1, 2, 3});
  const Bytes img_file = idx_images(1, 2, 2, {1, 2, 3, 4});
  write_file(tmp.file("labels"), lab_file);
  write_file(tmp.file("images.gz"), gzip(img_file));
  expect_error([&] { prep::read_idx_images(tmp.file("labels")); },
               {tmp.file("labels"), "magic number 0x00000801", "expected 0x00000803"});
  expect_error([&] { prep::read_idx_labels(tmp.file("images.gz")); },
               {tmp.file("images.gz"), "magic number 0x00000803", "expected 0x00000801"});
  // Little-endian magic (a common writer bug) and another data type (0x0D = float).
  Bytes le = img_file;
  std::swap(le[0], le[3]);
  std::swap(le[1], le[2]);
  write_file(tmp.file("le"), le);
  expect_error([&] { prep::read_idx_images(tmp.file("le")); }, {tmp.file("le"), "magic number 0x03080000"});
  write_file(tmp.file("float"), idx_images(1, 2, 2, {1, 2, 3, 4}, 0x00000D03));
  expect_error([&] { prep::read_idx_images(tmp.file("float")); }, {tmp.file("float"), "magic number 0x00000D03"});
  expect_error([&] { prep::read_idx_images(tmp.file("absent")); }, {tmp.file("absent"), "no such file"});
}

TEST(IdxReader, TruncationAtEveryLengthIsAnErrorNamingTheFile) {
  TempDir tmp("elm-fmnist");
  const Bytes img_file = idx_images(4, 5, 3, synthetic_pixels(4, 5, 3));
  const Bytes lab_file = idx_labels({1, 2, 3, 4, 5, 6});
  const std::string p = tmp.file("cut");
  int cases = 0;
  for (bool gz : {false, true}) {
    for (bool images : {true, false}) {
      const Bytes full = gz ? gzip(images ? img_file : lab_file) : (images ? img_file : lab_file);
      for (size_t n = 0; n < full.size(); ++n) {
        SCOPED_TRACE((gz ? "gzip " : "raw ") + std::string(images ? "images" : "labels") + " cut at " +
                     std::to_string(n) + " of " + std::to_string(full.size()));
        write_file(p, Bytes(full.begin(), full.begin() + std::ptrdiff_t(n)));
        expect_error([&] { images ? (void)prep::read_idx_images(p) : (void)prep::read_idx_labels(p); },
                     {p, "truncated"});
        ++cases;
      }
    }
  }
  EXPECT_GT(cases, 200);
  // The messages say what is missing: header, data or gzip stream.
  write_file(p, Bytes(img_file.begin(), img_file.begin() + 10));
  expect_error([&] { prep::read_idx_images(p); }, {p, "truncated IDX header", "10 of 16 bytes"});
  write_file(p, Bytes(img_file.begin(), img_file.end() - 1));
  expect_error([&] { prep::read_idx_images(p); }, {p, "truncated IDX data", "60 bytes", "59"});
  const Bytes gz = gzip(img_file);
  write_file(p, Bytes(gz.begin(), gz.end() - 3));
  expect_error([&] { prep::read_idx_images(p); }, {p, "truncated gzip stream"});
  // Extra bytes after the data are an error too.
  Bytes longer = img_file;
  longer.push_back(0);
  write_file(p, longer);
  expect_error([&] { prep::read_idx_images(p); }, {p, "1 unexpected bytes"});
}

TEST(IdxReader, CorruptedGzipBodiesAreErrors) {
  TempDir tmp("elm-fmnist");
  const Bytes px = synthetic_pixels(6, 4, 4);
  const Bytes gz = gzip(idx_images(6, 4, 4, px));
  const std::string p = tmp.file("flip.gz");
  // Bytes 0..9 are the gzip header (mtime, flags, OS: not all checked); the
  // deflate body and the CRC32/ISIZE trailer are covered by checks. A flip that
  // only touches the padding bits of the last deflate byte changes nothing; any
  // other must be an error.
  int detected = 0;
  for (size_t i = 10; i < gz.size(); ++i) {
    SCOPED_TRACE("byte " + std::to_string(i));
    Bytes bad = gz;
    bad[i] ^= 0x5A;
    write_file(p, bad);
    try {
      const prep::IdxImages im = prep::read_idx_images(p);
      EXPECT_EQ(im.pixels, px) << "corruption not detected and the data changed";
    } catch (const ElmError& e) {
      ++detected;
      const std::string m = e.what();
      EXPECT_NE(m.find(p), std::string::npos) << m;
      EXPECT_EQ(m.find('\n'), std::string::npos) << m;
    }
  }
  EXPECT_GE(detected, int(gz.size()) - 11);
}

// ---- elmrun prep fmnist ------------------------------------------------------

struct StoreContent {
  std::vector<std::vector<int32_t>> images;
  std::vector<int64_t> labels;
  StoreInfo info;
};
StoreContent read_store(const std::string& path) {
  StoreReader r(path);
  StoreContent c;
  c.info = r.info();
  c.labels = r.labels();
  for (int64_t i = 0; i < r.num_samples(); ++i) c.images.push_back(r.read_i32("tokens", i));
  return c;
}

TEST(PrepFmnist, SplitsAreSizedDisjointInFileOrderAndDeterministic) {
  TempDir tmp("elm-fmnist");
  const uint32_t n_train = 50, n_test = 8;
  write_fmnist_dir(tmp.path() / "raw", n_train, n_test);
  EXPECT_EQ(prep::FmnistPrepOptions{}.valid_count, 5000);
  prep::FmnistPrepOptions o;
  o.valid_count = 10;
  std::ostringstream log;
  prep::prep_fmnist(tmp.file("raw"), tmp.file("a"), log, o);
  EXPECT_NE(log.str().find("train 40, valid 10, test 8"), std::string::npos) << log.str();
  EXPECT_EQ(files_under(tmp.file("a")).size(), 3u);
  const StoreContent train = read_store(tmp.file("a/train.h5")), valid = read_store(tmp.file("a/valid.h5")),
                     test = read_store(tmp.file("a/test.h5"));
  ASSERT_EQ(train.images.size(), 40u);
  ASSERT_EQ(valid.images.size(), 10u);
  ASSERT_EQ(test.images.size(), 8u);
  for (const StoreContent* s : {&train, &valid, &test}) {
    EXPECT_EQ(s->info.task, "fmnist");
    EXPECT_EQ(s->info.input_kind, "tokens");
    EXPECT_EQ(s->info.channels, 256);
    EXPECT_EQ(s->info.num_classes, 10);
    EXPECT_EQ(s->info.max_length, 784);
  }
  EXPECT_EQ(train.info.split, "train");
  EXPECT_EQ(valid.info.split, "valid");
  // Each training image is in exactly one of train/valid, with its label, and
  // each split keeps file order. The image identifies its index (pixel 0 = i*131).
  const Bytes all_px = synthetic_pixels(n_train), all_lab = synthetic_labels(n_train);
  auto index_of = [&](const std::vector<int32_t>& img) {
    for (uint32_t i = 0; i < n_train; ++i)
      if (img == as_i32(all_px.data() + size_t(i) * 784, 784)) return int(i);
    return -1;
  };
  std::set<int> seen;
  std::vector<int> valid_indices;
  for (const StoreContent* s : {&train, &valid}) {
    int last = -1;
    for (size_t k = 0; k < s->images.size(); ++k) {
      const int i = index_of(s->images[k]);
      ASSERT_GE(i, 0) << "sample " << k << " is no training image";
      EXPECT_GT(i, last) << "not in file order";
      last = i;
      EXPECT_EQ(s->labels[k], all_lab[size_t(i)]);
      EXPECT_TRUE(seen.insert(i).second) << "image " << i << " twice";
      if (s == &valid) valid_indices.push_back(i);
    }
  }
  EXPECT_EQ(seen.size(), size_t(n_train));
  // The valid images are not simply the first or the last ones.
  EXPECT_NE(valid_indices, (std::vector<int>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}));
  EXPECT_NE(valid_indices, (std::vector<int>{40, 41, 42, 43, 44, 45, 46, 47, 48, 49}));
  for (uint32_t i = 0; i < n_test; ++i) {
    Bytes img;
    for (uint32_t p = 0; p < 784; ++p) img.push_back(pixel(1000 + i, p));
    EXPECT_EQ(test.images[i], as_i32(img.data(), 784));
    EXPECT_EQ(test.labels[i], int64_t((i * 7 + 3) % 10));
  }

  // Same seed: identical stores; uncompressed input gives the same stores too.
  write_fmnist_dir(tmp.path() / "raw_plain", n_train, n_test, false);
  prep::prep_fmnist(tmp.file("raw_plain"), tmp.file("b"), log, o);
  for (const char* s : {"train", "valid", "test"}) {
    const StoreContent x = read_store(tmp.file(std::string("a/") + s + ".h5")),
                       y = read_store(tmp.file(std::string("b/") + s + ".h5"));
    EXPECT_EQ(x.images, y.images) << s;
    EXPECT_EQ(x.labels, y.labels) << s;
  }
  // Another seed: another valid split of the same size.
  o.seed = 1;
  prep::prep_fmnist(tmp.file("raw"), tmp.file("c"), log, o);
  const StoreContent valid_c = read_store(tmp.file("c/valid.h5"));
  EXPECT_EQ(valid_c.images.size(), 10u);
  EXPECT_NE(valid_c.images, valid.images);
  EXPECT_EQ(valid_c.info.extra.at("split_seed"), "1");
}

// Runs prep_fmnist on `raw`, expecting a one-line error naming `file`, and no output.
void expect_prep_error(const fs::path& raw, const fs::path& out, const std::vector<std::string>& needles) {
  fs::remove_all(out);
  std::ostringstream log;
  prep::FmnistPrepOptions o;
  o.valid_count = 4;
  expect_error([&] { prep::prep_fmnist(raw.string(), out.string(), log, o); }, needles);
  EXPECT_TRUE(files_under(out).empty()) << "left behind: " << files_under(out).at(0);
}

TEST(PrepFmnist, BadInputIsAOneLineErrorNamingTheFileAndWritesNothing) {
  TempDir tmp("elm-fmnist");
  const fs::path raw = tmp.path() / "raw", out = tmp.path() / "out";
  const fs::path ti = raw / "train-images-idx3-ubyte.gz", tl = raw / "train-labels-idx1-ubyte.gz",
                 ei = raw / "t10k-images-idx3-ubyte.gz", el = raw / "t10k-labels-idx1-ubyte.gz";
  auto fresh = [&] {
    fs::remove_all(raw);
    write_fmnist_dir(raw, 12, 5);
  };
  // Sanity: the fresh set converts.
  fresh();
  {
    std::ostringstream log;
    prep::FmnistPrepOptions o;
    o.valid_count = 4;
    ASSERT_NO_THROW(prep::prep_fmnist(raw.string(), (tmp.path() / "ok").string(), log, o));
  }
  // Count mismatch.
  fresh();
  write_file(tl, gzip(idx_labels(synthetic_labels(11))));
  expect_prep_error(raw, out, {ti.string(), tl.string(), "12 images", "11 labels"});
  // Wrong dimensions.
  fresh();
  write_file(ei, gzip(idx_images(5, 27, 28, synthetic_pixels(5, 27, 28))));
  expect_prep_error(raw, out, {ei.string(), "27x28", "28x28"});
  // Label > 9 (in the test labels, so that the training files were fine).
  fresh();
  Bytes lab = synthetic_labels(5, 3);
  lab[3] = 10;
  write_file(el, gzip(idx_labels(lab)));
  expect_prep_error(raw, out, {el.string(), "label 10", "item 3", "0..9"});
  // Wrong magic: labels where the images should be.
  fresh();
  write_file(ti, gzip(idx_labels(synthetic_labels(12))));
  expect_prep_error(raw, out, {ti.string(), "magic number"});
  // Truncated gzip of the last file read.
  fresh();
  {
    const Bytes gz = read_file(el);
    write_file(el, Bytes(gz.begin(), gz.begin() + std::ptrdiff_t(gz.size() / 2)));
  }
  expect_prep_error(raw, out, {el.string(), "truncated"});
  // Truncated raw file (no .gz present).
  fresh();
  fs::remove(ei);
  {
    Bytes f = idx_images(5, 28, 28, synthetic_pixels(5));
    f.resize(f.size() - 100);
    write_file(raw / "t10k-images-idx3-ubyte", f);
  }
  expect_prep_error(raw, out, {(raw / "t10k-images-idx3-ubyte").string(), "truncated IDX data"});
  // Missing file.
  fresh();
  fs::remove(tl);
  expect_prep_error(raw, out, {tl.string(), "missing input file"});
  // valid_count not below the training count.
  fresh();
  fs::remove_all(out);
  std::ostringstream log;
  prep::FmnistPrepOptions o;
  o.valid_count = 12;
  expect_error([&] { prep::prep_fmnist(raw.string(), out.string(), log, o); }, {"valid_count", ti.string()});
  EXPECT_TRUE(files_under(out).empty());
  // A failed run leaves an existing store untouched.
  o.valid_count = 4;
  prep::prep_fmnist(raw.string(), out.string(), log, o);
  const Bytes before = read_file(out / "train.h5");
  write_file(tl, gzip(idx_labels(synthetic_labels(11))));
  expect_error([&] { prep::prep_fmnist(raw.string(), out.string(), log, o); }, {tl.string()});
  EXPECT_EQ(read_file(out / "train.h5"), before);
  EXPECT_EQ(files_under(out).size(), 3u);
}

TEST(PrepFmnist, CliConvertsAndReportsErrorsOnOneLine) {
  const char* bin = std::getenv("ELMRUN");
  if (!bin || !*bin) GTEST_SKIP() << "ELMRUN not set (run under ctest)";
  TempDir tmp("elm-fmnist");
  // The CLI uses the default valid_count 5000: the set needs more training images.
  write_fmnist_dir(tmp.path() / "raw", 5003, 2, false);
  CommandResult r = run_command(shell_quote(bin) + " prep fmnist --in " + shell_quote(tmp.file("raw")) + " --out " +
                                shell_quote(tmp.file("out")));
  ASSERT_EQ(r.status, 0) << r.stderr_text;
  EXPECT_EQ(StoreReader(tmp.file("out/train.h5")).num_samples(), 3);
  EXPECT_EQ(StoreReader(tmp.file("out/valid.h5")).num_samples(), 5000);
  EXPECT_EQ(StoreReader(tmp.file("out/test.h5")).num_samples(), 2);
  fs::remove(tmp.path() / "raw" / "t10k-labels-idx1-ubyte");
  r = run_command(shell_quote(bin) + " prep fmnist --in " + shell_quote(tmp.file("raw")) + " --out " +
                  shell_quote(tmp.file("bad")));
  EXPECT_NE(r.status, 0);
  EXPECT_EQ(std::count(r.stderr_text.begin(), r.stderr_text.end(), '\n'), 1) << r.stderr_text;
  EXPECT_NE(r.stderr_text.find("t10k-labels-idx1-ubyte"), std::string::npos) << r.stderr_text;
  EXPECT_TRUE(files_under(tmp.file("bad")).empty());
}

// ---- the sfmnist task ------------------------------------------------------------

ElmConfig model_for(int num_input) {
  ElmConfig m;
  m.num_input = num_input;
  m.num_output = 10;
  m.num_memory = 4;
  return m;
}

// The reference of task.pool = 2, written out independently of the task: the
// four pixels of block (r, c), their mean rounded half up.
std::vector<int32_t> pool2_reference(const std::vector<int32_t>& g) {
  std::vector<int32_t> out;
  for (int r = 0; r < 14; ++r)
    for (int c = 0; c < 14; ++c) {
      const int a = g[size_t(2 * r * 28 + 2 * c)], b = g[size_t(2 * r * 28 + 2 * c + 1)],
                d = g[size_t((2 * r + 1) * 28 + 2 * c)], e = g[size_t((2 * r + 1) * 28 + 2 * c + 1)];
      const double mean = (a + b + d + e) / 4.0;
      out.push_back(int32_t(std::floor(mean + 0.5)));
    }
  return out;
}

// Raw IDX files of n_train/n_test synthetic images under tmp/raw, converted to tmp/store.
void prepare_fmnist_store(const TempDir& tmp, int n_train, int n_test, int valid_count) {
  write_fmnist_dir(tmp.path() / "raw", n_train, n_test);
  std::ostringstream log;
  prep::FmnistPrepOptions o;
  o.valid_count = valid_count;
  prep::prep_fmnist(tmp.file("raw"), tmp.file("store"), log, o);
}

TEST(SfmnistTask, SequencesAreTheQuantisedImagesAndThePooledVariantAveragesBlocks) {
  TempDir tmp("elm-fmnist");
  prepare_fmnist_store(tmp, 30, 6, 5);
  const StoreContent test = read_store(tmp.file("store/test.h5"));
  const std::vector<int64_t> idx = {0, 3, 5};
  for (int levels : {16, 4, 256}) {
    SCOPED_TRACE("gray_levels " + std::to_string(levels));
    const auto task =
        make_task({"sfmnist", {{"store", tmp.file("store")}, {"gray_levels", std::to_string(levels)}}},
                  model_for(levels));
    EXPECT_EQ(task->num_input(), levels);
    EXPECT_EQ(task->num_output(), 10);
    EXPECT_EQ(task->num_samples(Split::Train), 25);
    EXPECT_EQ(task->num_samples(Split::Valid), 5);
    EXPECT_EQ(task->num_samples(Split::Test), 6);
    const Batch b = task->make_batch(Split::Test, idx);
    ASSERT_EQ(b.x.steps, 784);
    EXPECT_EQ(b.x.channels, levels);
    EXPECT_NO_THROW(b.x.validate());
    const auto& ids = std::get<TokenInput>(b.x.data).ids;
    for (size_t k = 0; k < idx.size(); ++k) {
      for (int t = 0; t < 784; ++t)
        ASSERT_EQ(ids[k * 784 + size_t(t)], test.images[size_t(idx[k])][size_t(t)] * levels / 256)
            << "sample " << idx[k] << " step " << t;
      EXPECT_EQ(b.labels[k], test.labels[size_t(idx[k])]);
    }
  }
  // Spot values of the default 16 levels: bins of 16 gray values.
  const Bytes edges = {0, 15, 16, 127, 128, 255};
  for (uint8_t g : edges) EXPECT_EQ(g * 16 / 256, g / 16);

  // task.pool = 2: 14x14 = 196 steps of the rounded 2x2 means, then quantised.
  const auto pooled = make_task({"sfmnist", {{"store", tmp.file("store")}, {"pool", "2"}}}, model_for(16));
  const Batch b = pooled->make_batch(Split::Test, idx);
  ASSERT_EQ(b.x.steps, 196);
  const auto& ids = std::get<TokenInput>(b.x.data).ids;
  for (size_t k = 0; k < idx.size(); ++k) {
    const std::vector<int32_t> ref = pool2_reference(test.images[size_t(idx[k])]);
    for (int t = 0; t < 196; ++t) ASSERT_EQ(ids[k * 196 + size_t(t)], ref[size_t(t)] * 16 / 256) << "step " << t;
    EXPECT_EQ(b.labels[k], test.labels[size_t(idx[k])]);
  }
  // Hand-made image: blocks whose sums leave remainders 0..3 (2 and 3 round up).
  {
    Bytes img(784, 0);
    // Block (0,0): 16+16+16+18 = 66 -> 16.5 -> 17; block (0,1): 31+32+32+32 = 127 -> 31.75 -> 32;
    // block (0,2): 32+32+32+33 = 129 -> 32.25 -> 32; block (1,0): 255 * 4 -> 255.
    img[0] = 16, img[1] = 16, img[28] = 16, img[29] = 18;
    img[2] = 31, img[3] = 32, img[30] = 32, img[31] = 32;
    img[4] = 32, img[5] = 32, img[32] = 32, img[33] = 33;
    img[56] = img[57] = img[84] = img[85] = 255;
    StoreInfo info;
    info.task = "fmnist";
    info.input_kind = "tokens";
    info.channels = 256;
    info.num_classes = 10;
    info.max_length = 784;
    fs::create_directories(tmp.file("hand"));
    for (const char* s : {"train", "valid", "test"}) {
      info.split = s;
      StoreWriter w(tmp.file("hand/") + s + ".h5", info, {{"tokens", FieldType::UInt8}});
      w.append_u8("tokens", img);
      w.end_sample(4);
      w.commit();
    }
    const auto hand = make_task({"sfmnist", {{"store", tmp.file("hand")}, {"pool", "2"}, {"gray_levels", "256"}}},
                                model_for(256));
    const Batch hb = hand->make_batch(Split::Train, std::vector<int64_t>{0});
    const auto& h = std::get<TokenInput>(hb.x.data).ids;
    ASSERT_EQ(h.size(), 196u);
    EXPECT_EQ(h[0], 17);
    EXPECT_EQ(h[1], 32);
    EXPECT_EQ(h[2], 32);
    EXPECT_EQ(h[3], 0);
    EXPECT_EQ(h[14], 255);
  }
  // task.pool = 4: 7x7 = 49 steps.
  EXPECT_EQ(make_task({"sfmnist", {{"store", tmp.file("store")}, {"pool", "4"}}}, model_for(16))
                ->make_batch(Split::Train, std::vector<int64_t>{0})
                .x.steps,
            49);
}

TEST(SfmnistTask, BadOptionsAreOneLineErrors) {
  TempDir tmp("elm-fmnist");
  prepare_fmnist_store(tmp, 12, 3, 2);
  const std::string store = tmp.file("store");
  // model.num_input must equal task.gray_levels.
  expect_error([&] { make_task({"sfmnist", {{"store", store}}}, model_for(256)); },
               {"model.num_input", "256", "16", "task.gray_levels"});
  expect_error([&] { make_task({"sfmnist", {{"store", store}, {"gray_levels", "8"}}}, model_for(16)); },
               {"model.num_input", "task.gray_levels"});
  expect_error([&] { make_task({"sfmnist", {{"store", store}, {"pool", "3"}}}, model_for(16)); },
               {"task.pool", "28"});
  expect_error([&] { make_task({"sfmnist", {{"store", store}, {"pool", "0"}}}, model_for(16)); }, {"task.pool"});
  expect_error([&] { make_task({"sfmnist", {{"store", store}, {"bogus", "1"}}}, model_for(16)); }, {"task.bogus"});
  expect_error([&] { make_task({"sfmnist", {}}, model_for(16)); }, {"task.store", "required"});
}

TEST(SfmnistTask, ConfigsLoadAndFitTheTask) {
  TempDir tmp("elm-fmnist");
  prepare_fmnist_store(tmp, 12, 3, 2);
  const std::string cfg = source_dir() + "/configs/";
  const std::vector<std::pair<std::string, int>> configs = {{"sfmnist.ini", 784}, {"sfmnist_pool2.ini", 196}};
  for (const auto& [file, steps] : configs) {
    SCOPED_TRACE(file);
    const RunConfig rc = RunConfig::load(cfg + file, {"task.store=" + tmp.file("store")});
    EXPECT_EQ(rc.task.name, "sfmnist");
    const auto task = make_task(rc.task, rc.model);
    EXPECT_EQ(task->loss(), TaskLoss::LastStepCrossEntropy);
    EXPECT_EQ(task->make_batch(Split::Valid, std::vector<int64_t>{1}).x.steps, steps);
  }
}

// ---- the real files (Debian's dataset-fashion-mnist) ------------------------------

TEST(PrepFmnist, RealDebianFilesWhenInstalled) {
  const fs::path dir = prep::kFmnistDefaultDir;
  for (const char* f : {"train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz",
                        "t10k-labels-idx1-ubyte.gz"})
    if (!fs::is_regular_file(dir / f)) GTEST_SKIP() << (dir / f) << " not installed (apt install dataset-fashion-mnist)";
  TempDir tmp("elm-fmnist");
  std::ostringstream log;
  const auto t0 = std::chrono::steady_clock::now();
  const char* bin = std::getenv("ELMRUN");
  if (bin && *bin) {  // through the CLI, with the default --in
    const CommandResult r = run_command(shell_quote(bin) + " prep fmnist --out " + shell_quote(tmp.file("fm")));
    ASSERT_EQ(r.status, 0) << r.stderr_text;
  } else {
    prep::prep_fmnist(dir.string(), tmp.file("fm"), log);
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::cout << "fmnist conversion: " << seconds << " s\n";
  StoreReader train(tmp.file("fm/train.h5")), valid(tmp.file("fm/valid.h5")), test(tmp.file("fm/test.h5"));
  EXPECT_EQ(train.num_samples(), 55000);
  EXPECT_EQ(valid.num_samples(), 5000);
  EXPECT_EQ(test.num_samples(), 10000);
  EXPECT_EQ(test.label(0), 9);  // the first t10k image is an ankle boot
  EXPECT_EQ(test.length("tokens", 0), 784);
  // Every class occurs in every split, about equally often in test (1000 each).
  std::vector<int64_t> counts(10, 0);
  for (int64_t l : test.labels()) ++counts[size_t(l)];
  EXPECT_EQ(counts, std::vector<int64_t>(10, 1000));
  std::set<int64_t> valid_classes(valid.labels().begin(), valid.labels().end());
  EXPECT_EQ(valid_classes.size(), 10u);
}

}  // namespace
}  // namespace elm::test
