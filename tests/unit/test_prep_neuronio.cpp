// NeuronIO preparation: pickles in the released dict structure written by
// /usr/bin/python3 (one invocation for the whole suite), converted by
// analysis/neuronio_pickle_stream.py (through pipes, or into stream files) and
// checked, binned and appended to the store in C++.
#include <gtest/gtest.h>

#include <sys/wait.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/error.hpp"
#include "core/rng.hpp"
#include "data/prep/neuronio_prep.hpp"
#include "data/store/dataset_store.hpp"
#include "test_support.hpp"

namespace fs = std::filesystem;
using namespace elm;
using elm::test::TempDir;

namespace {

const char* kMakePickles = R"PY(
import os, pickle, sys
import numpy as np
root = sys.argv[1]

def sim(ex, inh, out, soma):
    return {"exInputSpikeTimes": ex, "inhInputSpikeTimes": inh,
            "outputSpikeTimes": np.asarray(out, dtype=np.float64),
            "somaVoltageLowRes": np.asarray(soma, dtype=np.float64)}

def experiment(sims, segments=639, seconds=6):
    return {"Params": {"allSegmentsType": ["basal"] * segments, "totalSimDurationInSec": seconds,
                       "allSegments_DistFromSoma": [0.0] * segments},
            "Results": {"listOfSingleSimulationDicts": sims}}

def save(path, obj, protocol=pickle.HIGHEST_PROTOCOL):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        pickle.dump(obj, f, protocol=protocol)

ramp = -70.0 + 0.001 * np.arange(6000)
good = experiment([
    sim({0: np.array([5, 3]), 638: np.array([5999])}, {0: np.array([3]), 10: np.array([100, 100])},
        [10.2, 4000.7], ramp),
    sim({}, {}, [], np.full(6000, -65.0)),
    sim({7: np.array([12.7])}, {}, [1.0], ramp + 1.0),
])
save(root + "/good_sim__.p", good)

# Needs encoding='latin1': a Python 2 str (SHORT_BINSTRING) with byte 0xe9.
data = pickle.dumps(experiment([sim({1: np.array([2])}, {}, [], ramp)]) | {"note": "MARKERX"}, protocol=2)
marker = b"X" + (7).to_bytes(4, "little") + b"MARKERX"
assert data.count(marker) == 1
with open(root + "/latin1_sim__.p", "wb") as f:
    f.write(data.replace(marker, b"U\x07caf\xe9ZZZ"))

# 60 s, other durations than the released 6 s bin the same way.
save(root + "/long_sim__.p", experiment([sim({0: np.array([59999.9, 3, 3.5]), 638: np.array([30000])},
                                             {5: np.array([3])}, [59999.6], np.zeros(60000))], seconds=60))
save(root + "/badseg_sim__.p", experiment([sim({}, {}, [], ramp), sim({700: np.array([1])}, {}, [], ramp)]))
save(root + "/badtime_sim__.p", experiment([sim({}, {4: np.array([6000])}, [], ramp)]))
nosoma = experiment([sim({}, {}, [], ramp)])
del nosoma["Results"]["listOfSingleSimulationDicts"][0]["somaVoltageLowRes"]
save(root + "/nosoma_sim__.p", nosoma)
raw = pickle.dumps(good)
with open(root + "/trunc_sim__.p", "wb") as f:
    f.write(raw[: len(raw) // 2])

# The Kaggle folder convention; soma[0] tells the file and simulation apart.
def tagged(tag):
    return experiment([sim({tag % 639: np.array([tag % 6000])}, {}, [], np.full(6000, float(tag * 10 + k)))
                       for k in range(2)])
for b in range(1, 11):
    save(f"{root}/raw/kaggle/full_ergodic_train_batch_{b}/sim__b{b}.p", tagged(b))
save(f"{root}/raw/kaggle/Data_test/sim__test.p", tagged(99))
open(f"{root}/raw/kaggle/Data_test/README.txt", "w").write("not a pickle")
for b in range(1, 11):
    save(f"{root}/missing/full_ergodic_train_batch_{b}/sim__b{b}.p", tagged(b))
)PY";

class NeuronioPrep : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir("elm-neuronio");
    std::ofstream(dir_->file("make.py")) << kMakePickles;
    const auto r = elm::test::run_command("/usr/bin/python3 " + elm::test::shell_quote(dir_->file("make.py")) + " " +
                                          elm::test::shell_quote(dir_->path().string()));
    ASSERT_EQ(r.status, 0) << r.stderr_text;
  }
  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
  }
  static std::string file(const std::string& name) { return dir_->file(name); }
  // Pickle -> stream file (Python) -> store split (C++, one thread); returns the store.
  std::string store_from_pickle(const std::string& pickle, const std::string& split, std::ostream& log) {
    const std::string stream = scratch_.file(pickle + ".stream"), out = scratch_.file(pickle + ".h5");
    convert_neuronio_pickle(file(pickle), stream, options());
    prep_neuronio({stream}, out, split, log);
    return out;
  }
  static NeuronioPrepOptions options() {
    NeuronioPrepOptions o;
    o.converter = elm::test::source_dir() + "/analysis/neuronio_pickle_stream.py";
    return o;
  }
  static TempDir* dir_;
  TempDir scratch_{"elm-neuronio-out"};
};
TempDir* NeuronioPrep::dir_ = nullptr;


}  // namespace

TEST_F(NeuronioPrep, ConvertsSimulationsToEvents) {
  std::ostringstream log;
  StoreReader r(store_from_pickle("good_sim__.p", "train", log));
  EXPECT_EQ(r.info().task, "neuronio");
  EXPECT_EQ(r.info().split, "train");
  EXPECT_EQ(r.info().input_kind, "events");
  EXPECT_EQ(r.info().channels, 1278);
  EXPECT_EQ(r.info().max_length, 6000);
  ASSERT_EQ(r.num_samples(), 3);
  EXPECT_EQ(r.label(0), -1);

  // Sorted by (step, channel); inhibitory segment s is channel 639 + s; the
  // repeated inhibitory spike at 100 ms on segment 10 is one event.
  EXPECT_EQ(r.read_i32("event_time", 0), (std::vector<int32_t>{3, 3, 5, 100, 5999}));
  EXPECT_EQ(r.read_i32("event_channel", 0), (std::vector<int32_t>{0, 639, 0, 649, 638}));
  EXPECT_EQ(r.read_f32("output_spike_ms", 0), (std::vector<float>{10.2f, 4000.7f}));
  const auto soma = r.read_f32("soma", 0);
  ASSERT_EQ(soma.size(), 6000u);
  EXPECT_FLOAT_EQ(soma[0], -70.0f);
  EXPECT_FLOAT_EQ(soma[5999], static_cast<float>(-70.0 + 0.001 * 5999));

  EXPECT_TRUE(r.read_i32("event_time", 1).empty());
  EXPECT_TRUE(r.read_f32("output_spike_ms", 1).empty());
  EXPECT_FLOAT_EQ(r.read_f32("soma", 1)[17], -65.0f);

  EXPECT_EQ(r.read_i32("event_time", 2), (std::vector<int32_t>{12}));  // int(12.7)
  EXPECT_EQ(r.read_i32("event_channel", 2), (std::vector<int32_t>{7}));
  EXPECT_NE(log.str().find("3 simulations"), std::string::npos) << log.str();
}

TEST_F(NeuronioPrep, SixtySecondSimulationsBinLikeSixSecondOnes) {
  std::ostringstream log;
  StoreReader r(store_from_pickle("long_sim__.p", "train", log));
  EXPECT_EQ(r.info().max_length, 60000);
  EXPECT_EQ(r.read_i32("event_time", 0), (std::vector<int32_t>{3, 3, 30000, 59999}));
  EXPECT_EQ(r.read_i32("event_channel", 0), (std::vector<int32_t>{0, 644, 638, 0}));
  EXPECT_EQ(r.read_f32("soma", 0).size(), 60000u);
}

TEST_F(NeuronioPrep, OlderPicklesNeedLatin1) {
  std::ostringstream log;
  StoreReader r(store_from_pickle("latin1_sim__.p", "valid", log));
  ASSERT_EQ(r.num_samples(), 1);
  EXPECT_EQ(r.read_i32("event_time", 0), (std::vector<int32_t>{2}));
  EXPECT_EQ(r.read_i32("event_channel", 0), (std::vector<int32_t>{1}));
}

TEST_F(NeuronioPrep, BadContentNamesPickleAndSimulation) {
  std::ostringstream log;
  const std::string inter = scratch_.file("bad.stream"), out = scratch_.file("bad_store.h5");
  convert_neuronio_pickle(file("badseg_sim__.p"), inter, options());
  std::string msg = test::expect_one_line_elm_error([&] { prep_neuronio({inter}, out, "train", log); });
  EXPECT_NE(msg.find("badseg_sim__.p"), std::string::npos) << msg;
  EXPECT_NE(msg.find("simulation 1"), std::string::npos) << msg;
  EXPECT_NE(msg.find("segment 700"), std::string::npos) << msg;
  EXPECT_FALSE(fs::exists(out));

  convert_neuronio_pickle(file("badtime_sim__.p"), inter, options());
  msg = test::expect_one_line_elm_error([&] { prep_neuronio({inter}, out, "train", log); });
  EXPECT_NE(msg.find("simulation 0"), std::string::npos) << msg;
  EXPECT_NE(msg.find("6000 ms"), std::string::npos) << msg;
  EXPECT_FALSE(fs::exists(out));
  EXPECT_TRUE(fs::is_empty(scratch_.path().string()) ||
              std::distance(fs::directory_iterator(scratch_.path()), fs::directory_iterator()) == 1)
      << "temporary store files left behind";
}

TEST_F(NeuronioPrep, ConverterErrorsAreOneLineNamingThePickle) {
  const std::string inter = scratch_.file("x.stream");
  std::string msg = test::expect_one_line_elm_error([&] { convert_neuronio_pickle(file("nosoma_sim__.p"), inter, options()); });
  EXPECT_NE(msg.find("nosoma_sim__.p"), std::string::npos) << msg;
  EXPECT_NE(msg.find("somaVoltageLowRes"), std::string::npos) << msg;
  msg = test::expect_one_line_elm_error([&] { convert_neuronio_pickle(file("trunc_sim__.p"), inter, options()); });
  EXPECT_NE(msg.find("trunc_sim__.p"), std::string::npos) << msg;
  EXPECT_NE(msg.find("cannot unpickle"), std::string::npos) << msg;
  msg = test::expect_one_line_elm_error([&] { convert_neuronio_pickle(file("no_such_sim__.p"), inter, options()); });
  EXPECT_NE(msg.find("no_such_sim__.p"), std::string::npos) << msg;
  EXPECT_FALSE(fs::exists(inter));
}

TEST_F(NeuronioPrep, DirectoryConventionAndMissingSplit) {
  const std::string out = scratch_.file("dir_out");
  std::ostringstream log;
  prep_neuronio_dir(file("raw"), out, log, options());
  StoreReader train(out + "/train.h5"), valid(out + "/valid.h5"), test(out + "/test.h5");
  ASSERT_EQ(train.num_samples(), 18);  // batches 2..10, 2 simulations each
  ASSERT_EQ(valid.num_samples(), 2);   // batch 1
  ASSERT_EQ(test.num_samples(), 2);    // Data_test (README.txt ignored)
  for (int b = 2; b <= 10; ++b)
    for (int k = 0; k < 2; ++k)
      EXPECT_EQ(train.read_f32("soma", (b - 2) * 2 + k)[0], float(b * 10 + k)) << "batch " << b << " sim " << k;
  EXPECT_EQ(valid.read_f32("soma", 1)[0], 11.0f);
  EXPECT_EQ(test.read_f32("soma", 0)[0], 990.0f);
  EXPECT_EQ(test.read_i32("event_time", 0), (std::vector<int32_t>{99}));
  EXPECT_EQ(test.read_i32("event_channel", 0), (std::vector<int32_t>{99}));
  EXPECT_NE(log.str().find("[train 9/9]"), std::string::npos) << log.str();
  for (const auto& e : fs::directory_iterator(out))
    EXPECT_TRUE(e.path().extension() == ".h5") << "left behind: " << e.path();

  const std::string out2 = scratch_.file("missing_out");
  const std::string msg = test::expect_one_line_elm_error([&] { prep_neuronio_dir(file("missing"), out2, log, options()); });
  EXPECT_NE(msg.find("Data_test"), std::string::npos) << msg;
  EXPECT_FALSE(fs::exists(out2 + "/train.h5"));
}

// Truncations and byte flips of a converter stream: ElmError or success.
TEST_F(NeuronioPrep, CorruptStreamsGiveElmErrorOrSuccess) {
  const std::string inter = scratch_.file("base.stream");
  convert_neuronio_pickle(file("good_sim__.p"), inter, options());
  std::string bytes;
  {
    std::ifstream in(inter, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    bytes = ss.str();
  }
  std::vector<std::string> variants;
  for (int k = 1; k < 12; ++k) variants.push_back(bytes.substr(0, bytes.size() * k / 12));
  RngStream rng(7, 0);
  for (int k = 0; k < 60; ++k) {
    std::string v = bytes;
    v[rng.below(v.size())] ^= static_cast<char>(1 + rng.below(255));
    variants.push_back(v);
  }
  int errors = 0;
  for (size_t k = 0; k < variants.size(); ++k) {
    const std::string bad = scratch_.file("v.stream"), out = scratch_.file("v_store.h5");
    std::ofstream(bad, std::ios::binary | std::ios::trunc) << variants[k];
    std::ostringstream log;
    try {
      prep_neuronio({bad}, out, "test", log);
      fs::remove(out);
    } catch (const ElmError& e) {
      ++errors;
      EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos) << e.what();
      EXPECT_FALSE(fs::exists(out)) << "variant " << k;
    } catch (const std::exception& e) {
      ADD_FAILURE() << "variant " << k << ": exception other than ElmError: " << e.what();
    }
  }
  EXPECT_GE(errors, 11);
}

namespace {

// Every field of every sample, for comparing two stores.
std::vector<std::vector<int32_t>> store_events(const StoreReader& r) {
  std::vector<std::vector<int32_t>> v;
  for (int64_t i = 0; i < r.num_samples(); ++i) {
    v.push_back(r.read_i32("event_time", i));
    v.push_back(r.read_i32("event_channel", i));
    v.push_back(r.read_i32("event_index", i));
    std::vector<int32_t> soma_bits;
    for (float x : r.read_f32("soma", i)) soma_bits.push_back(std::bit_cast<int32_t>(x));
    v.push_back(soma_bits);
    std::vector<int32_t> out_bits;
    for (float x : r.read_f32("output_spike_ms", i)) out_bits.push_back(std::bit_cast<int32_t>(x));
    v.push_back(out_bits);
  }
  return v;
}

}  // namespace

// The parallel pipeline (several converters, workers, in-order appends) gives
// the same store as converting the files one by one through stream files.
TEST_F(NeuronioPrep, ParallelConvertersKeepFileOrderAndContent) {
  std::vector<std::string> pickles;
  for (int b = 2; b <= 10; ++b) pickles.push_back(file("raw/kaggle/full_ergodic_train_batch_" + std::to_string(b) + "/sim__b" + std::to_string(b) + ".p"));
  pickles.push_back(file("good_sim__.p"));
  pickles.push_back(file("latin1_sim__.p"));
  std::vector<std::string> streams;
  for (size_t i = 0; i < pickles.size(); ++i) {
    streams.push_back(scratch_.file("s" + std::to_string(i) + ".stream"));
    convert_neuronio_pickle(pickles[i], streams.back(), options());
  }
  std::ostringstream log;
  prep_neuronio(streams, scratch_.file("serial.h5"), "train", log);
  const auto expected = store_events(StoreReader(scratch_.file("serial.h5")));
  ASSERT_EQ(expected.size(), 5u * (9 * 2 + 3 + 1));
  for (bool python : {false, true})
    for (int jobs : {1, 3, 11}) {
      SCOPED_TRACE(std::to_string(jobs) + (python ? " python" : " c++"));
      NeuronioPrepOptions o = options();
      o.jobs = jobs;
      o.python_unpickler = python;
      const std::string out = scratch_.file("parallel" + std::to_string(jobs) + ".h5");
      std::ostringstream plog;
      prep_neuronio_files(pickles, out, "train", plog, o);
      EXPECT_TRUE(store_events(StoreReader(out)) == expected);
      EXPECT_NE(plog.str().find("[train 11/11]"), std::string::npos) << plog.str();
      EXPECT_NE(plog.str().find("latin1_sim__.p: 1 simulations"), std::string::npos) << plog.str();
      // The C++ reader reads every one of these pickles itself.
      const std::string text = plog.str();
      const auto by_python = static_cast<size_t>(std::count(text.begin(), text.end(), ';'));
      EXPECT_EQ(by_python, python ? pickles.size() : 0u) << plog.str();
      fs::remove(out);
    }
}

// A bad pickle among good ones, wherever it falls among the workers: one line
// naming it (and the simulation for content errors), nothing at the output,
// every converter stopped.
TEST_F(NeuronioPrep, ParallelErrorsNameThePickleAndLeaveNothing) {
  const std::string good = file("good_sim__.p");
  const std::pair<std::string, std::string> cases[] = {
      {file("badseg_sim__.p"), "segment 700"},
      {file("nosoma_sim__.p"), "somaVoltageLowRes"},
      {file("trunc_sim__.p"), "cannot unpickle"},
      {file("no_such_sim__.p"), "No such file"},
  };
  for (const auto& [bad, what] : cases) {
    for (int jobs : {1, 2}) {
      SCOPED_TRACE(bad + " jobs " + std::to_string(jobs));
      NeuronioPrepOptions o = options();
      o.jobs = jobs;
      const std::string out = scratch_.file("err.h5");
      std::ostringstream log;
      const std::string msg = test::expect_one_line_elm_error(
          [&] { prep_neuronio_files({good, good, bad, good, good}, out, "train", log, o); });
      EXPECT_NE(msg.find(bad), std::string::npos) << msg;
      EXPECT_NE(msg.find(what), std::string::npos) << msg;
      EXPECT_FALSE(fs::exists(out));
      EXPECT_EQ(std::distance(fs::directory_iterator(scratch_.path()), fs::directory_iterator()), 0)
          << "left behind in " << scratch_.path();
    }
  }
  // No converter outlives the call (each was reaped; none is a zombie child).
  EXPECT_EQ(::waitpid(-1, nullptr, WNOHANG), -1);
  EXPECT_EQ(errno, ECHILD);
}

// `elmrun prep neuronio` as a user runs it: the folder convention, --jobs, a
// failure that names the pickle, exits non-zero and keeps the stores of the
// earlier successful run (each split is replaced only when complete).
TEST_F(NeuronioPrep, CommandLineKeepsEarlierStoresOnFailure) {
  const char* env = std::getenv("ELMRUN");
  const std::string elmrun = env && *env ? env : elm::test::source_dir() + "/build/elmrun";
  if (!fs::exists(elmrun)) GTEST_SKIP() << "no elmrun binary at " << elmrun;
  const std::string raw = scratch_.file("cli_raw"), out = scratch_.file("cli_out");
  fs::copy(file("raw"), raw, fs::copy_options::recursive);
  auto r = test::run_command(test::shell_quote(elmrun) + " prep neuronio --in " + test::shell_quote(raw) + " --out " +
                             test::shell_quote(out) + " --jobs 2 --python-unpickler > " + test::shell_quote(scratch_.file("log.txt")));
  ASSERT_EQ(r.status, 0) << r.stderr_text;
  for (const char* split : {"train", "valid", "test"}) ASSERT_TRUE(fs::exists(out + "/" + split + ".h5")) << split;
  const auto before = fs::last_write_time(out + "/train.h5");
  const int64_t train_sims = StoreReader(out + "/train.h5").num_samples();
  EXPECT_EQ(train_sims, 18);

  // A damaged pickle in batch 7: the train split fails, naming it.
  const std::string bad = raw + "/kaggle/full_ergodic_train_batch_7/sim__b7.p";
  fs::copy_file(file("trunc_sim__.p"), bad, fs::copy_options::overwrite_existing);
  r = test::run_command(test::shell_quote(elmrun) + " prep neuronio --in " + test::shell_quote(raw) + " --out " +
                        test::shell_quote(out));
  EXPECT_NE(r.status, 0);
  EXPECT_EQ(std::count(r.stderr_text.begin(), r.stderr_text.end(), '\n'), 1) << r.stderr_text;
  EXPECT_NE(r.stderr_text.find(bad), std::string::npos) << r.stderr_text;
  EXPECT_NE(r.stderr_text.find("cannot unpickle"), std::string::npos) << r.stderr_text;
  EXPECT_EQ(fs::last_write_time(out + "/train.h5"), before);
  EXPECT_EQ(StoreReader(out + "/train.h5").num_samples(), train_sims);
  for (const auto& e : fs::directory_iterator(out))
    EXPECT_EQ(e.path().extension(), ".h5") << "left behind: " << e.path();

  r = test::run_command(test::shell_quote(elmrun) + " prep shd --in " + test::shell_quote(raw) + " --out " +
                        test::shell_quote(out) + " --jobs 2");
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.stderr_text.find("only for neuronio"), std::string::npos) << r.stderr_text;
}
