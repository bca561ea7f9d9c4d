// SHD reader: raw files written here in the released format (vlen float16
// times, vlen uint16 units, labels), with the HDF5 C API and with h5py; binning
// against hand-computed cases and numpy's digitize; SHD-Adding; bad input and a
// deterministic corruption fuzz.
#include <gtest/gtest.h>
#include <hdf5.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/error.hpp"
#include "core/rng.hpp"
#include "data/prep/shd_reader.hpp"
#include "data/store/dataset_store.hpp"
#include "test_support.hpp"

namespace fs = std::filesystem;
using namespace elm;
using elm::test::TempDir;

namespace {

struct RawSample {
  std::vector<float> times;
  std::vector<int> units;
  int64_t label = 0;
};

struct WriteOptions {
  bool float16 = true;        // times as h5py's float16, else float32
  bool times_vlen = true;     // false: times as a plain 1-D float dataset (wrong type)
  bool units_float = false;   // units as vlen float32 (wrong type)
  bool write_units = true;
};

hid_t float16_type() {
  // What h5py does for numpy.float16.
  hid_t t = H5Tcopy(H5T_IEEE_F32LE);
  H5Tset_fields(t, 15, 10, 5, 0, 10);
  H5Tset_size(t, 2);
  H5Tset_ebias(t, 15);
  return t;
}

// Times go through float16 when o.float16 (make_samples' values are exact in it).
void write_shd(const std::string& path, const std::vector<RawSample>& samples, const WriteOptions& o = {}) {
  hid_t f = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  ASSERT_GE(f, 0);
  hid_t g = H5Gcreate2(f, "spikes", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  const hsize_t n = samples.size();
  hid_t space = H5Screate_simple(1, &n, nullptr);
  std::vector<std::vector<float>> tbuf;
  std::vector<std::vector<float>> ufbuf;
  std::vector<std::vector<uint16_t>> ubuf;
  std::vector<hvl_t> tv(n), uv(n);
  for (size_t i = 0; i < n; ++i) {
    tbuf.push_back(samples[i].times);
    ubuf.emplace_back(samples[i].units.begin(), samples[i].units.end());
    ufbuf.emplace_back(samples[i].units.begin(), samples[i].units.end());
    tv[i] = hvl_t{tbuf[i].size(), tbuf[i].data()};
    uv[i] = o.units_float ? hvl_t{ufbuf[i].size(), ufbuf[i].data()} : hvl_t{ubuf[i].size(), ubuf[i].data()};
  }
  const hid_t f16 = float16_type();
  const hid_t tbase = o.float16 ? f16 : H5T_IEEE_F32LE;
  if (o.times_vlen) {
    hid_t ft = H5Tvlen_create(tbase), mt = H5Tvlen_create(H5T_NATIVE_FLOAT);
    hid_t d = H5Dcreate2(g, "times", ft, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    EXPECT_GE(H5Dwrite(d, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, tv.data()), 0);
    H5Dclose(d), H5Tclose(ft), H5Tclose(mt);
  } else {
    std::vector<float> flat;
    for (auto& s : samples) flat.insert(flat.end(), s.times.begin(), s.times.end());
    const hsize_t m = flat.size();
    hid_t sp = H5Screate_simple(1, &m, nullptr);
    hid_t d = H5Dcreate2(g, "times", tbase, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    H5Dwrite(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, flat.data());
    H5Dclose(d), H5Sclose(sp);
  }
  if (o.write_units) {
    hid_t ft = H5Tvlen_create(o.units_float ? H5T_IEEE_F32LE : H5T_STD_U16LE);
    hid_t mt = H5Tvlen_create(o.units_float ? H5T_NATIVE_FLOAT : H5T_NATIVE_UINT16);
    hid_t d = H5Dcreate2(g, "units", ft, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    EXPECT_GE(H5Dwrite(d, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, uv.data()), 0);
    H5Dclose(d), H5Tclose(ft), H5Tclose(mt);
  }
  std::vector<uint8_t> labels;
  for (auto& s : samples) labels.push_back(static_cast<uint8_t>(s.label));
  hid_t d = H5Dcreate2(f, "labels", H5T_STD_U8LE, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  H5Dwrite(d, H5T_NATIVE_UINT8, H5S_ALL, H5S_ALL, H5P_DEFAULT, labels.data());
  H5Dclose(d);
  H5Tclose(f16), H5Sclose(space), H5Gclose(g), H5Fclose(f);
}

// Deterministic samples with float16-exact times (multiples of 2^-10 below 1,
// of 2^-9 above), some past 1 s.
std::vector<RawSample> make_samples(int n, uint64_t seed) {
  RngStream rng(seed, 7);
  std::vector<RawSample> out(n);
  for (int i = 0; i < n; ++i) {
    const int spikes = static_cast<int>(rng.below(30));
    for (int j = 0; j < spikes; ++j) {
      out[i].times.push_back(static_cast<float>(rng.below(1200)) / 1024.0f);
      out[i].units.push_back(static_cast<int>(rng.below(700)));
    }
    std::sort(out[i].times.begin(), out[i].times.end());
    out[i].label = static_cast<int64_t>(rng.below(20));
  }
  return out;
}

bool no_outputs(const std::string& dir) {
  if (!fs::exists(dir)) return true;
  return fs::is_empty(dir);
}


// Reads back all samples of a store split: times, units, label.
std::vector<RawSample> read_store(const std::string& path) {
  StoreReader r(path);
  std::vector<RawSample> out;
  for (int64_t i = 0; i < r.num_samples(); ++i) {
    RawSample s;
    s.times = r.read_f32("event_time", i);
    for (int32_t u : r.read_i32("event_channel", i)) s.units.push_back(u);
    s.label = r.label(i);
    out.push_back(s);
  }
  return out;
}

void expect_same(const RawSample& got, const RawSample& want, const std::string& what) {
  EXPECT_EQ(got.times, want.times) << what;
  EXPECT_EQ(got.units, want.units) << what;
  EXPECT_EQ(got.label, want.label) << what;
}

}  // namespace

// ---------------------------------------------------------------- binning

TEST(ShdBinning, NumStepsFollowsNumpyArange) {
  EXPECT_EQ(shd_num_steps(1), 1000);
  EXPECT_EQ(shd_num_steps(2), 500);
  EXPECT_EQ(shd_num_steps(4), 250);
  EXPECT_EQ(shd_num_steps(3), 334);  // arange(0, 1.003, 0.003) has 335 edges
  EXPECT_EQ(shd_num_steps(7), 143);
  EXPECT_EQ(shd_num_steps(1000), 1);
  EXPECT_THROW(shd_num_steps(0), ElmError);
  EXPECT_THROW(shd_num_steps(-2), ElmError);
  EXPECT_THROW(shd_num_steps(std::nan("")), ElmError);
}

TEST(ShdBinning, HandComputedEdgesAndOneSecond) {
  // 250 ms bins: edges 0, .25, .5, .75, 1 are exact in binary.
  const std::vector<float> t{0.0f, 0.25f, 0.2499f, 0.5f, 0.75f, 0.9999f, 1.0f, 1.5f};
  const std::vector<int32_t> u{1, 2, 2, 3, 4, 5, 6, 7};
  const std::vector<ShdEvent> want{{0, 1, 1}, {0, 2, 1}, {1, 2, 1}, {2, 3, 1}, {3, 4, 1}, {3, 5, 1}};
  EXPECT_EQ(bin_shd_sample(t, u, 250), want);
}

TEST(ShdBinning, CountsPerBinAndChannelSortedByStep) {
  const std::vector<float> t{0.011f, 0.001f, 0.005f, 0.009f, 0.002f};
  const std::vector<int32_t> u{7, 7, 7, 7, 699};
  const std::vector<ShdEvent> want{{0, 7, 3}, {0, 699, 1}, {1, 7, 1}};
  EXPECT_EQ(bin_shd_sample(t, u, 10), want);
}

TEST(ShdBinning, TwoMsBinsAtOneSecondAndNonDividingBin) {
  // 2 ms: 1.0 is dropped, 0.999 lands in the last bin 499.
  const std::vector<float> t{1.0f, 0.999f, 0.002f};
  const std::vector<int32_t> u{3, 4, 5};
  const std::vector<ShdEvent> want{{1, 5, 1}, {499, 4, 1}};
  EXPECT_EQ(bin_shd_sample(t, u, 2), want);
  // 3 ms: numpy's last edge is 1.002, so spikes at 1.001 s and at float(1.002)
  // = 1.00199997 s are kept (bin 333); float(1.0021) is past the edge.
  const std::vector<float> t3{1.001f, 1.002f, 1.0021f};
  const std::vector<int32_t> u3{9, 9, 9};
  const std::vector<ShdEvent> want3{{333, 9, 2}};
  EXPECT_EQ(bin_shd_sample(t3, u3, 3), want3);
}

TEST(ShdBinning, RejectsBadSpikes) {
  const std::vector<float> ok{0.1f};
  const std::vector<int32_t> bad_unit{700}, neg_unit{-1}, unit{0};
  EXPECT_THROW(bin_shd_sample(ok, bad_unit, 2), ElmError);
  EXPECT_THROW(bin_shd_sample(ok, neg_unit, 2), ElmError);
  const std::vector<float> neg{-0.001f}, nan{std::nanf("")};
  EXPECT_THROW(bin_shd_sample(neg, unit, 2), ElmError);
  EXPECT_THROW(bin_shd_sample(nan, unit, 2), ElmError);
  const std::vector<int32_t> two{0, 1};
  EXPECT_THROW(bin_shd_sample(ok, two, 2), ElmError);
}

// numpy itself decides: float16 times near many edges, several bin sizes.
TEST(ShdBinning, MatchesNumpyDigitizeOnFloat16Times) {
  TempDir dir("elm-shd-np");
  const std::string out = dir.file("cases.txt");
  const std::string script = R"PY(
import numpy as np, sys
rng = np.random.default_rng(3)
e = np.concatenate([np.arange(0, 1.01, b / 1000) for b in (1, 2, 3, 7)]).astype(np.float16)
t = np.concatenate([e, np.nextafter(e, np.float16(2)), np.nextafter(e, np.float16(-1)),
                    rng.uniform(0, 1.2, 3000).astype(np.float16)])
t = np.abs(t).astype(np.float16)
u = (np.arange(t.size) % 700).astype(np.int64)
with open(sys.argv[1], "w") as f:
    f.write("%d\n" % t.size)
    f.write(" ".join(repr(float(x)) for x in t) + "\n")
    for b in (1, 2, 3, 4, 5, 7, 10, 16, 25):
        bins = np.arange(0, 1.0 + b / 1000, b / 1000)
        steps = np.digitize(t, bins) - 1
        keep = steps < len(bins) - 1
        dense = np.zeros((len(bins) - 1, 700), np.int64)
        np.add.at(dense, (steps[keep], u[keep]), 1)
        s, c = np.nonzero(dense)
        f.write("%d %d %d\n" % (b, len(bins) - 1, s.size))
        f.write(" ".join("%d,%d,%d" % (a, b_, dense[a, b_]) for a, b_ in zip(s, c)) + "\n")
)PY";
  std::ofstream(dir.file("gen.py")) << script;
  const auto r = elm::test::run_command("/usr/bin/python3 " + elm::test::shell_quote(dir.file("gen.py")) + " " +
                                        elm::test::shell_quote(out));
  ASSERT_EQ(r.status, 0) << r.stderr_text;
  std::ifstream in(out);
  size_t n = 0;
  in >> n;
  std::vector<float> t(n);
  std::vector<int32_t> u(n);
  for (size_t i = 0; i < n; ++i) {
    double x;
    in >> x;
    t[i] = static_cast<float>(x);
    u[i] = static_cast<int32_t>(i % 700);
  }
  int cases = 0;
  double b;
  int steps;
  size_t m;
  while (in >> b >> steps >> m) {
    std::vector<ShdEvent> want(m);
    for (auto& e : want) {
      char c1, c2;
      in >> e.step >> c1 >> e.channel >> c2 >> e.count;
    }
    EXPECT_EQ(shd_num_steps(b), steps) << "bin " << b;
    const auto got = bin_shd_sample(t, u, b);
    EXPECT_EQ(got.size(), want.size()) << "bin " << b;
    EXPECT_TRUE(got == want) << "bin " << b << ": binning differs from numpy";
    ++cases;
  }
  EXPECT_EQ(cases, 9);
}

// ---------------------------------------------------------------- SHD-Adding

TEST(ShdAdding, LabelsAreDigitSums) {
  EXPECT_EQ(shd_adding_label(3, 4), 7);
  EXPECT_EQ(shd_adding_label(13, 19), 12);  // German 3 + German 9
  EXPECT_EQ(shd_adding_label(19, 9), 18);
  EXPECT_EQ(shd_adding_label(10, 0), 0);
  EXPECT_THROW(shd_adding_label(20, 0), ElmError);
  EXPECT_THROW(shd_adding_label(0, -1), ElmError);
}

TEST(ShdAdding, DrawsAreSeededUniformWithReplacement) {
  const int n = 5, draws = 20000;
  std::vector<int> hist(n, 0);
  int same = 0;
  for (int i = 0; i < draws; ++i) {
    const auto p = shd_adding_draw(n, 42, i);
    ASSERT_TRUE(p.first >= 0 && p.first < n && p.second >= 0 && p.second < n);
    hist[p.first]++, hist[p.second]++;
    same += p.first == p.second;
    const auto again = shd_adding_draw(n, 42, i);
    ASSERT_EQ(again.first, p.first);
    ASSERT_EQ(again.second, p.second);
  }
  for (int h : hist) EXPECT_NEAR(h, 2.0 * draws / n, 0.05 * 2.0 * draws / n);
  EXPECT_NEAR(same, draws / n, 0.1 * draws / n);  // with replacement: P(equal) = 1/n
  int differ = 0;
  for (int i = 0; i < 100; ++i) differ += shd_adding_draw(1000, 1, i).first != shd_adding_draw(1000, 2, i).first;
  EXPECT_GT(differ, 90);
  EXPECT_THROW(shd_adding_draw(0, 1, 0), ElmError);
}

TEST(ShdAdding, ConcatenatesSecondSampleAfterFirst) {
  const int steps = shd_num_steps(250);  // 4
  const std::vector<float> t1{0.3f, 0.9f}, t2{0.0f, 0.6f, 1.2f};
  const std::vector<int32_t> u1{10, 11}, u2{12, 13, 14};
  const auto e = shd_adding_events(bin_shd_sample(t1, u1, 250), bin_shd_sample(t2, u2, 250), steps);
  const std::vector<ShdEvent> want{{1, 10, 1}, {3, 11, 1}, {4, 12, 1}, {6, 13, 1}};
  EXPECT_EQ(e, want);
}

// ---------------------------------------------------------------- prep_shd

TEST(ShdPrep, WritesSplitsWithRawTimesUnitsAndLabels) {
  TempDir dir("elm-shd-prep");
  const auto train = make_samples(60, 1), test = make_samples(7, 2);
  write_shd(dir.file("shd_train.h5"), train);
  write_shd(dir.file("shd_test.h5"), test);
  std::ostringstream log;
  prep_shd(dir.path().string(), dir.file("out"), log);
  EXPECT_NE(log.str().find("shd_train.h5"), std::string::npos) << log.str();

  const auto tr = read_store(dir.file("out/train.h5"));
  const auto va = read_store(dir.file("out/valid.h5"));
  const auto te = read_store(dir.file("out/test.h5"));
  ASSERT_EQ(tr.size() + va.size(), train.size());
  ASSERT_EQ(te.size(), test.size());
  const CounterRng rng(0, 0);
  size_t a = 0, b = 0;
  for (size_t i = 0; i < train.size(); ++i) {
    const RawSample& want = train[i];
    if (rng.uniform(i) < 0.2) {
      ASSERT_LT(b, va.size());
      expect_same(va[b++], want, "valid sample from train " + std::to_string(i));
    } else {
      ASSERT_LT(a, tr.size());
      expect_same(tr[a++], want, "train sample " + std::to_string(i));
    }
  }
  EXPECT_GT(va.size(), 3u);
  EXPECT_GT(tr.size(), 30u);
  for (size_t i = 0; i < test.size(); ++i) expect_same(te[i], test[i], "test sample " + std::to_string(i));

  StoreReader r(dir.file("out/test.h5"));
  EXPECT_EQ(r.info().task, "shd");
  EXPECT_EQ(r.info().split, "test");
  EXPECT_EQ(r.info().input_kind, "events");
  EXPECT_EQ(r.info().channels, 700);
  EXPECT_EQ(r.info().num_classes, 20);
  EXPECT_EQ(StoreReader(dir.file("out/valid.h5")).info().split, "valid");
}

// The file as h5py writes it (numpy float16 / uint16 vlen arrays, uint8 labels).
TEST(ShdPrep, ReadsFilesWrittenByH5py) {
  TempDir dir("elm-shd-h5py");
  const std::string script = R"PY(
import h5py, numpy as np, sys
d = sys.argv[1]
for name, n in (("shd_train.h5", 12), ("shd_test.h5", 3)):
    with h5py.File(d + "/" + name, "w") as f:
        ft = f.create_dataset("spikes/times", (n,), dtype=h5py.vlen_dtype(np.float16))
        fu = f.create_dataset("spikes/units", (n,), dtype=h5py.vlen_dtype(np.uint16))
        for i in range(n):
            ft[i] = (np.arange(i + 1) * 0.1 + 0.0123 * i).astype(np.float16)
            fu[i] = (np.arange(i + 1) * 37 + i) % 700
        f["labels"] = (np.arange(n) * 3 % 20).astype(np.uint16)
        f["extra/speaker"] = np.arange(n)
)PY";
  std::ofstream(dir.file("gen.py")) << script;
  const auto r = elm::test::run_command("/usr/bin/python3 " + elm::test::shell_quote(dir.file("gen.py")) + " " +
                                        elm::test::shell_quote(dir.path().string()));
  ASSERT_EQ(r.status, 0) << r.stderr_text;
  std::ostringstream log;
  prep_shd(dir.path().string(), dir.file("out"), log);
  const auto te = read_store(dir.file("out/test.h5"));
  ASSERT_EQ(te.size(), 3u);
  for (int i = 0; i < 3; ++i) {
    ASSERT_EQ(te[i].times.size(), size_t(i + 1));
    for (int j = 0; j <= i; ++j) {
      const double want = j * 0.1 + 0.0123 * i;
      EXPECT_NEAR(te[i].times[j], want, 1e-3) << i << "," << j;  // float16 precision
      EXPECT_EQ(te[i].units[j], (j * 37 + i) % 700);
    }
    EXPECT_EQ(te[i].label, i * 3 % 20);
  }
  EXPECT_EQ(read_store(dir.file("out/train.h5")).size() + read_store(dir.file("out/valid.h5")).size(), 12u);
}

// ---------------------------------------------------------------- bad input

class ShdBadInput : public ::testing::Test {
 protected:
  TempDir dir{"elm-shd-bad"};
  std::vector<RawSample> good = make_samples(8, 5);
  std::string out() const { return dir.file("out"); }
  void write_test_ok() { write_shd(dir.file("shd_test.h5"), make_samples(3, 6)); }
  std::string run() {
    std::ostringstream log;
    const std::string msg = test::expect_one_line_elm_error([&] { prep_shd(dir.path().string(), out(), log); });
    EXPECT_TRUE(no_outputs(out())) << "outputs left behind after: " << msg;
    return msg;
  }
};

TEST_F(ShdBadInput, UnitOutOfRangeNamesFileAndSample) {
  good[3].times = {0.5f};
  good[3].units = {700};
  write_shd(dir.file("shd_train.h5"), good);
  write_test_ok();
  const std::string msg = run();
  EXPECT_NE(msg.find("shd_train.h5"), std::string::npos) << msg;
  EXPECT_NE(msg.find("sample 3"), std::string::npos) << msg;
  EXPECT_NE(msg.find("unit 700"), std::string::npos) << msg;
}

TEST_F(ShdBadInput, LabelOutOfRange) {
  write_shd(dir.file("shd_train.h5"), good);
  auto test = make_samples(3, 6);
  test[2].label = 20;
  write_shd(dir.file("shd_test.h5"), test);
  const std::string msg = run();
  EXPECT_NE(msg.find("shd_test.h5"), std::string::npos) << msg;
  EXPECT_NE(msg.find("sample 2"), std::string::npos) << msg;
  EXPECT_NE(msg.find("label 20"), std::string::npos) << msg;
}

TEST_F(ShdBadInput, NegativeAndNanTimes) {
  good[1].times = {0.1f, -0.25f};
  good[1].units = {1, 2};
  write_shd(dir.file("shd_train.h5"), good);
  write_test_ok();
  std::string msg = run();
  EXPECT_NE(msg.find("sample 1"), std::string::npos) << msg;
  EXPECT_NE(msg.find("time"), std::string::npos) << msg;

  good[1].times = {0.1f, std::nanf("")};
  write_shd(dir.file("shd_train.h5"), good);
  msg = run();
  EXPECT_NE(msg.find("sample 1"), std::string::npos) << msg;
  EXPECT_NE(msg.find("nan"), std::string::npos) << msg;
}

TEST_F(ShdBadInput, LengthMismatch) {
  good[4].times = {0.1f, 0.2f, 0.3f};
  good[4].units = {1, 2};
  write_shd(dir.file("shd_train.h5"), good);
  write_test_ok();
  const std::string msg = run();
  EXPECT_NE(msg.find("shd_train.h5"), std::string::npos) << msg;
  EXPECT_NE(msg.find("sample 4"), std::string::npos) << msg;
  EXPECT_NE(msg.find("3 spike times but 2 units"), std::string::npos) << msg;
}

TEST_F(ShdBadInput, MissingSplitFile) {
  write_shd(dir.file("shd_train.h5"), good);
  const std::string msg = run();
  EXPECT_NE(msg.find("shd_test.h5"), std::string::npos) << msg;
  EXPECT_NE(msg.find("no such file"), std::string::npos) << msg;
}

TEST_F(ShdBadInput, TruncatedFile) {
  write_shd(dir.file("shd_train.h5"), make_samples(40, 9));
  write_test_ok();
  fs::resize_file(dir.file("shd_train.h5"), fs::file_size(dir.file("shd_train.h5")) / 2);
  const std::string msg = run();
  EXPECT_NE(msg.find("shd_train.h5"), std::string::npos) << msg;
}

TEST_F(ShdBadInput, WrongTypes) {
  write_test_ok();
  WriteOptions plain;
  plain.times_vlen = false;
  write_shd(dir.file("shd_train.h5"), good, plain);
  std::string msg = run();
  EXPECT_NE(msg.find("spikes/times"), std::string::npos) << msg;
  EXPECT_NE(msg.find("variable-length"), std::string::npos) << msg;

  WriteOptions float_units;
  float_units.units_float = true;
  write_shd(dir.file("shd_train.h5"), good, float_units);
  msg = run();
  EXPECT_NE(msg.find("spikes/units"), std::string::npos) << msg;
  EXPECT_NE(msg.find("floating-point"), std::string::npos) << msg;

  WriteOptions no_units;
  no_units.write_units = false;
  write_shd(dir.file("shd_train.h5"), good, no_units);
  msg = run();
  EXPECT_NE(msg.find("spikes/units"), std::string::npos) << msg;

  std::ofstream(dir.file("shd_train.h5")) << "not hdf5 at all";
  msg = run();
  EXPECT_NE(msg.find("shd_train.h5"), std::string::npos) << msg;
}

TEST_F(ShdBadInput, Float32TimesAreReadToo) {
  // Not the released width, but "never assume a width": float32 is converted as well.
  WriteOptions f32;
  f32.float16 = false;
  good[0].times = {0.1234567f};
  good[0].units = {5};
  write_shd(dir.file("shd_train.h5"), good, f32);
  write_test_ok();
  std::ostringstream log;
  prep_shd(dir.path().string(), out(), log);
  const auto tr = read_store(dir.file("out/train.h5"));
  const auto va = read_store(dir.file("out/valid.h5"));
  const RawSample& first = CounterRng(0, 0).uniform(0) < 0.2 ? va.at(0) : tr.at(0);
  ASSERT_EQ(first.times.size(), 1u);
  EXPECT_EQ(first.times[0], 0.1234567f);
}

// ---------------------------------------------------------------- fuzz

// Deterministic corruptions of a valid file: truncations and byte flips (spread
// over the file and concentrated in the vlen data heap and the raw dataset
// regions). Each must end in success or a one-line ElmError with no output.
TEST(ShdFuzz, CorruptionsGiveElmErrorOrSuccess) {
  TempDir dir("elm-shd-fuzz");
  const std::string base = dir.file("base.h5");
  write_shd(base, make_samples(10, 11));
  std::string bytes;
  {
    std::ifstream in(base, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    bytes = ss.str();
  }
  ASSERT_GT(bytes.size(), 1000u);
  // Raw data regions: the global heap collections (vlen values) and the
  // contiguous datasets (vlen heap references, labels).
  std::vector<std::pair<size_t, size_t>> regions;
  for (size_t p = bytes.find("GCOL"); p != std::string::npos; p = bytes.find("GCOL", p + 4))
    regions.push_back({p, std::min(bytes.size(), p + 4096)});
  {
    hid_t f = H5Fopen(base.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
    for (const char* name : {"labels", "spikes/times", "spikes/units"}) {
      hid_t d = H5Dopen2(f, name, H5P_DEFAULT);
      const haddr_t off = H5Dget_offset(d);
      const hsize_t size = H5Dget_storage_size(d);
      if (off != HADDR_UNDEF) regions.push_back({size_t(off), size_t(off + size)});
      H5Dclose(d);
    }
    H5Fclose(f);
  }
  ASSERT_GE(regions.size(), 4u);

  std::vector<std::string> variants;
  for (int k = 1; k < 16; ++k) variants.push_back(bytes.substr(0, bytes.size() * k / 16));
  RngStream rng(2024, 0);
  for (int k = 0; k < 40; ++k) {  // anywhere
    std::string v = bytes;
    v[rng.below(v.size())] ^= static_cast<char>(1 + rng.below(255));
    variants.push_back(v);
  }
  for (int k = 0; k < 80; ++k) {  // inside the data regions
    std::string v = bytes;
    const auto& [lo, hi] = regions[k % regions.size()];
    for (int j = 0; j < 1 + k % 3; ++j) v[lo + rng.below(hi - lo)] ^= static_cast<char>(1 + rng.below(255));
    variants.push_back(v);
  }
  write_shd(dir.file("shd_test.h5"), make_samples(2, 12));
  int ok = 0, errors = 0;
  for (size_t k = 0; k < variants.size(); ++k) {
    std::ofstream(dir.file("shd_train.h5"), std::ios::binary | std::ios::trunc) << variants[k];
    const std::string out = dir.file("out" + std::to_string(k));
    std::ostringstream log;
    try {
      prep_shd(dir.path().string(), out, log);
      ++ok;
    } catch (const ElmError& e) {
      ++errors;
      EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos) << "variant " << k << ": " << e.what();
      EXPECT_TRUE(no_outputs(out)) << "variant " << k << " left outputs: " << e.what();
    } catch (const std::exception& e) {
      ADD_FAILURE() << "variant " << k << ": exception other than ElmError: " << e.what();
    }
  }
  EXPECT_GE(errors, 15);  // at least every truncation
  RecordProperty("fuzz_ok", ok);
  RecordProperty("fuzz_errors", errors);
}
