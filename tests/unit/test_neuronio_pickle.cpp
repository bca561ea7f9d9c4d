// The C++ NeuronIO pickle reader against the Python reference
// (analysis/neuronio_pickle_stream.py): pickles written by /usr/bin/python3
// with protocols 2-5, in Python 2's style and with numpy 2's module names must
// give exactly the reference's arrays; malformed, truncated, corrupted and
// unsupported files must give nullopt with a one-line reason, never a crash
// or an exception.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <unistd.h>

#include <bit>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>

#include "data/prep/neuronio_pickle.hpp"
#include "data/prep/neuronio_stream.hpp"
#include "test_support.hpp"

namespace fs = std::filesystem;
using elm::test::TempDir;

namespace {

// argv: ROOT SOURCE_DIR. Writes the pickles; good.txt lists those the
// reference converts (checked in C++ through the converter's command line);
// flip/*.p are corrupted copies of small pickles, each converted in-process
// by the converter's write_pickle into flip/*.p.stream (one process for
// hundreds of files), or none where the converter fails.
const char* kMakePickles = R"PY(
import collections, os, pickle, pickletools, resource, struct, sys
import numpy as np
root, source = sys.argv[1], sys.argv[2]
# Some corrupted copies make Python's unpickler grow its memo to gigabytes:
# let that fail at once.
resource.setrlimit(resource.RLIMIT_AS, (3 << 30, resource.getrlimit(resource.RLIMIT_AS)[1]))
sys.path.insert(0, os.path.join(source, "analysis"))
import neuronio_pickle_stream as conv

rng = np.random.default_rng(3)
ramp = -70.0 + 0.001 * np.arange(6000)

def sim(ex, inh, out, soma, **extra):
    d = {"exInputSpikeTimes": ex, "inhInputSpikeTimes": inh, "outputSpikeTimes": out, "somaVoltageLowRes": soma}
    d.update(extra)
    return d

def experiment(sims, segments=639, seconds=6, **params):
    p = {"allSegmentsType": ["basal"] * segments, "totalSimDurationInSec": seconds}
    p.update(params)
    return {"Params": p, "Results": {"listOfSingleSimulationDicts": sims}}

def rich():
    ex = {0: np.array([5.0, 3.0]), 638: np.array([5999.0]), 7: np.array([], np.float64),
          np.int64(12): np.array([1.5, 2.25], np.float32), np.int32(13): np.array([4, 9], np.int32),
          np.uint16(14): np.array([100, -7], np.int64), 15: np.array([1, 0], np.int16),
          16: np.array([True, False]), 17: np.array([3, 250], np.uint8), 18: [1.5, 2, True], 19: (7.25,),
          20: 8.5, 21: 3, 22: rng.uniform(0, 6000, 300), 23: np.array([1.0, 2.0], np.float16),
          24: np.array([[1.0, 2.0], [3.0, 4.0]]), 25: np.array(9.5), 26: np.array([2**40], np.uint64)}
    inh = {np.int64(5): np.sort(rng.integers(0, 6000, 50)).astype(np.float64), 6: np.float32([0.1, 0.2])}
    inh.update({s: np.array([float(s)]) for s in range(100, 1600)})  # > 1000 entries: SETITEMS batches
    return experiment([
        sim(ex, inh, np.array([10.2, 4000.7]), ramp,
            somaVoltageHighRes=rng.normal(size=48000),
            dendriticVoltagesLowRes=rng.normal(size=(20, 6000)).astype(np.float16),
            nexusVoltageLowRes=np.asfortranarray(rng.normal(size=(3, 50))),
            bigEndian=np.arange(5, dtype=">f8"), objects=np.array([1, "a"], dtype=object),
            note="a str", misc={"a": (1, 2.5, None), 1.5: b"xx", (1, "t"): [np.int8(3), np.float32(2.5)]}),
        sim({}, {}, [], np.full(6000, -65.0)),
        sim({3: np.array([12.7])}, {}, [1.0, 2.0], (ramp + 1.0).astype(np.float32)),
        sim({2**40: np.array([1.0]), -3: np.array([2.0])}, {-3: np.array([2.0])}, 5999.5, ramp.reshape(60, 100)),
        sim({1: np.array([1.0])}, {}, (), np.array([], np.float64)),
    ], allSegments_DistFromSoma=np.arange(639.0), name="caf\u00e9 \u2603", big=2**62, neg=-2**40,
       nested=[[1, [2, [3]]], {"k": None}], flag=True, ratio=0.5)

def save(name, data):
    path = os.path.join(root, name)
    with open(path, "wb") as f:
        f.write(data)
    return path

class Py2Pickler(pickle._Pickler):
    """Python 2's cPickle protocol 2: str and bytes both as Python 2 str."""
    dispatch = pickle._Pickler.dispatch.copy()
    def save_py2str(self, obj):
        if isinstance(obj, str):
            try:
                data = obj.encode("latin1")
            except UnicodeEncodeError:  # a Python 2 unicode object
                return pickle._Pickler.save_str(self, obj)
        else:
            data = obj
        if len(data) < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([len(data)]) + data)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", len(data)) + data)
        self.memoize(obj)
    dispatch[bytes] = save_py2str
    dispatch[str] = save_py2str

def py2_dumps(obj):
    f = __import__("io").BytesIO()
    Py2Pickler(f, protocol=2).dump(obj)
    return f.getvalue()

def numpy2_names(data):
    """numpy.core -> numpy._core in GLOBAL and SHORT_BINUNICODE (frames dropped)."""
    ops = list(pickletools.genops(data))
    out = bytearray()
    for k, (op, arg, pos) in enumerate(ops):
        chunk = data[pos:ops[k + 1][2] if k + 1 < len(ops) else pos + 1]
        if op.name == "FRAME":
            continue
        if op.name == "GLOBAL" and arg.startswith("numpy.core."):
            chunk = chunk.replace(b"numpy.core.", b"numpy._core.", 1)
        elif op.name == "SHORT_BINUNICODE" and arg.startswith("numpy.core."):
            s = arg.replace("numpy.core.", "numpy._core.", 1).encode()
            chunk = b"\x8c" + bytes([len(s)]) + s
        out += chunk
    assert b"numpy.core" not in out
    return bytes(out)

def with_soma(soma):
    return experiment([sim({1: np.array([1.0])}, {}, [], soma)])

good = []
obj = rich()
for p in (2, 3, 4, 5):
    good.append(save(f"rich_p{p}.p", pickle.dumps(obj, protocol=p)))
    if p in (2, 3, 5):
        save(f"rich_p{p}_np2.p", numpy2_names(pickle.dumps(obj, protocol=p)))
good.append(save("rich_p2_nofix.p", pickle.dumps(obj, protocol=2, fix_imports=False)))
del obj["Results"]["listOfSingleSimulationDicts"][0]["objects"]  # Python 2 style has no object arrays here
good.append(save("rich_py2.p", py2_dumps(obj)))
good.append(save("ascii_py2.p", py2_dumps(experiment(
    [sim({1: np.array([0.0, 0.0]), 2: np.array([5, 7], np.int8)}, {}, np.zeros(3), np.zeros(6000))]))))
# A str needing encoding='latin1' (Python 2 str with byte 0xe9), arrays as python 3 writes them.
data = pickle.dumps(experiment([sim({1: np.array([2.0])}, {}, [], ramp)]) | {"note": "MARKERX"}, protocol=2)
marker = b"X" + (7).to_bytes(4, "little") + b"MARKERX"
assert data.count(marker) == 1
good.append(save("latin1.p", data.replace(marker, b"U\x07caf\xe9ZZZ")))
good.append(save("empty_sims.p", pickle.dumps(experiment([], seconds=6.5), protocol=4)))
good.append(save("trailing.p", pickle.dumps(with_soma(ramp), protocol=2) + b"\x00garbage"))  # ignored by Python too
good.append(save("numpy_scalars.p", pickle.dumps(experiment(
    [sim({np.int8(-1): np.array([1.0])}, {}, [], ramp)], seconds=np.float32(6.5)), protocol=2)))
# A header the stream format refuses (checked in C++ directly).
save("odd_header.p", pickle.dumps(experiment([], seconds=np.float32(6.1), segments=3), protocol=2))
with open(os.path.join(root, "good.txt"), "w") as f:
    f.write("\n".join(good) + "\n")

# Unsupported by the C++ reader although Python reads them (the caller falls back).
save("big_endian.p", pickle.dumps(with_soma(np.arange(10, dtype=">f8")), protocol=3))
save("fortran.p", pickle.dumps(with_soma(np.asfortranarray(np.ones((3, 4)))), protocol=2))
save("fortran_p5.p", pickle.dumps(with_soma(np.asfortranarray(np.ones((3, 4)))), protocol=5))
save("ordered_dict.p", pickle.dumps(experiment([collections.OrderedDict(sim({}, {}, [], ramp))]), protocol=2))
save("uint64_key.p", pickle.dumps(experiment([sim({np.uint64(3): np.array([1.0])}, {}, [], ramp)]), protocol=2))
save("protocol1.p", pickle.dumps(with_soma(ramp), protocol=1))
save("protocol0.p", pickle.dumps({"Params": 1}, protocol=0))
save("huge_int.p", pickle.dumps(experiment([sim({2**70: np.array([1.0])}, {}, [], ramp)]), protocol=2))
shared = np.zeros(100000)
save("nested_values.p", pickle.dumps(experiment([sim({1: [[1.0, 2.0]]}, {}, [], ramp)]), protocol=2))
save("duration_str.p", pickle.dumps(experiment([], seconds="6"), protocol=2))
save("shared_expands.p", pickle.dumps(experiment([sim({i: shared for i in range(2000)}, {}, [], ramp)]), protocol=4))

# Structure errors (the converter fails on them too).
def broken(name, obj):
    save(name, pickle.dumps(obj, protocol=2))
nosoma = experiment([sim({}, {}, [], ramp)])
del nosoma["Results"]["listOfSingleSimulationDicts"][0]["somaVoltageLowRes"]
broken("nosoma.p", nosoma)
broken("str_keys.p", experiment([sim({"a": np.array([1.0])}, {}, [], ramp)]))
broken("float_keys.p", experiment([sim({1.5: np.array([1.0])}, {}, [], ramp)]))
broken("bool_keys.p", experiment([sim({True: np.array([1.0])}, {}, [], ramp)]))
broken("str_values.p", experiment([sim({1: "abc"}, {}, [], ramp)]))
broken("object_soma.p", with_soma(np.array([1, "a"], dtype=object)))
broken("no_params.p", {"Results": {"listOfSingleSimulationDicts": []}})
broken("sims_dict.p", {"Params": {"allSegmentsType": [1], "totalSimDurationInSec": 6},
                       "Results": {"listOfSingleSimulationDicts": {0: sim({}, {}, [], ramp)}}})
broken("spikes_list.p", experiment([sim([np.array([1.0])], {}, [], ramp)]))
broken("not_a_dict.p", [1, 2, 3])
save("garbage.p", bytes(rng.integers(0, 256, 5000, dtype=np.uint8)))
save("empty.p", b"")
save("text.p", b"Params: not a pickle\n")
raw = pickle.dumps(rich(), protocol=2)
save("truncated.p", raw[: len(raw) // 2])

# Small pickles for truncation and byte flips.
small = experiment([sim({0: np.array([1.0, 2.0]), np.int64(5): np.float32([3.5])}, {2: [4.0, 5]},
                        np.array([1.5]), np.arange(20.0)),
                    sim({}, {7: np.array([3], np.int32)}, [], np.arange(20.0) - 70)])
small["Params"]["allSegmentsType"] = np.zeros(639, np.uint8)  # 639 segments in few bytes
smalls = {"small_p2.p": pickle.dumps(small, protocol=2), "small_p5.p": pickle.dumps(small, protocol=5),
          "small_py2.p": py2_dumps(small)}
for name, data in smalls.items():
    save(name, data)
os.makedirs(os.path.join(root, "flip"))
flip_rng = np.random.default_rng(11)
for name, data in smalls.items():
    for k in range(150):
        b = bytearray(data)
        for _ in range(int(flip_rng.integers(1, 4))):
            pos = int(flip_rng.integers(0, len(b)))
            b[pos] ^= int(flip_rng.integers(1, 256))
        path = save(os.path.join("flip", f"{name[:-2]}_{k}.p"), bytes(b))
        try:
            with open(path + ".stream", "wb") as out:
                conv.write_pickle(path, out)
        except BaseException:
            os.remove(path + ".stream")
# (Skips interpreter teardown, where CPython reports a bytearray of one
# corrupted protocol 5 copy that was still exported when its load failed.)
sys.stdout.flush()
os._exit(0)
)PY";

struct Result {
  std::optional<elm::NeuronioPickle> value;
  std::string reason;
};

// read_neuronio_pickle must never throw: any exception fails the test.
Result read(const std::string& path) {
  Result r;
  try {
    r.value = elm::read_neuronio_pickle(path, r.reason);
  } catch (const std::exception& e) {
    ADD_FAILURE() << path << ": read_neuronio_pickle threw: " << e.what();
  } catch (...) {
    ADD_FAILURE() << path << ": read_neuronio_pickle threw";
  }
  if (r.value) EXPECT_TRUE(r.reason.empty()) << path;
  return r;
}

void expect_unsupported(const std::string& path) {
  const Result r = read(path);
  EXPECT_FALSE(r.value) << path << " was read";
  EXPECT_FALSE(r.reason.empty()) << path;
  EXPECT_EQ(r.reason.find('\n'), std::string::npos) << path << ": " << r.reason;
}

struct Reference {
  elm::NeuronioStreamHeader header;
  std::vector<elm::NeuronioRawSimulation> sims;
};

// Every file in a converter stream, by pickle path.
std::map<std::string, Reference> read_stream(const std::string& path) {
  std::map<std::string, Reference> out;
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  EXPECT_GE(fd, 0) << path;
  if (fd < 0) return out;
  try {
    elm::NeuronioStreamReader reader(fd, path);
    Reference ref;
    while (reader.next_file(ref.header)) {
      ref.sims.resize(size_t(ref.header.num_simulations));
      for (auto& s : ref.sims) reader.next_simulation(s);
      reader.end_file();
      out[ref.header.source] = ref;
    }
  } catch (const std::exception& e) {
    ADD_FAILURE() << path << ": " << e.what();
  }
  ::close(fd);
  return out;
}

template <class T>
bool same_bits(const std::vector<T>& a, const std::vector<T>& b) {
  return a.size() == b.size() && (a.empty() || std::memcmp(a.data(), b.data(), a.size() * sizeof(T)) == 0);
}

void expect_matches(const elm::NeuronioPickle& got, const Reference& ref, const std::string& what) {
  EXPECT_EQ(got.num_segments, ref.header.num_segments) << what;
  EXPECT_EQ(std::bit_cast<uint64_t>(got.sim_duration_ms), std::bit_cast<uint64_t>(ref.header.sim_duration_ms))
      << what << ": " << got.sim_duration_ms << " vs " << ref.header.sim_duration_ms;
  ASSERT_EQ(int64_t(got.sims.size()), ref.header.num_simulations) << what;
  for (size_t k = 0; k < got.sims.size(); ++k) {
    const auto& g = got.sims[k];
    const auto& r = ref.sims[k];
    const std::string at = what + " simulation " + std::to_string(k) + " ";
    EXPECT_TRUE(same_bits(g.ex_keys, r.ex_keys)) << at << "ex_keys";
    EXPECT_TRUE(same_bits(g.ex_counts, r.ex_counts)) << at << "ex_counts";
    EXPECT_TRUE(same_bits(g.ex_times, r.ex_times)) << at << "ex_times";
    EXPECT_TRUE(same_bits(g.inh_keys, r.inh_keys)) << at << "inh_keys";
    EXPECT_TRUE(same_bits(g.inh_counts, r.inh_counts)) << at << "inh_counts";
    EXPECT_TRUE(same_bits(g.inh_times, r.inh_times)) << at << "inh_times";
    EXPECT_TRUE(same_bits(g.output_spike_ms, r.output_spike_ms)) << at << "output_spike_ms";
    EXPECT_TRUE(same_bits(g.soma_mv, r.soma_mv)) << at << "soma_mv";
  }
}

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

void write_file(const std::string& path, const std::string& data) {
  std::ofstream(path, std::ios::binary | std::ios::trunc).write(data.data(), std::streamsize(data.size()));
}

class NeuronioPickleRead : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir("elm-neuronio-pickle");
    std::ofstream(dir_->file("make.py")) << kMakePickles;
    const auto q = elm::test::shell_quote;
    auto r = elm::test::run_command("/usr/bin/python3 " + q(dir_->file("make.py")) + " " + q(dir_->path().string()) +
                                    " " + q(elm::test::source_dir()));
    ASSERT_EQ(r.status, 0) << r.stderr_text;
    // The reference through the converter's command line, all good pickles in one stream.
    std::ifstream list(dir_->file("good.txt"));
    std::string cmd = "/usr/bin/python3 " + q(elm::test::source_dir() + "/analysis/neuronio_pickle_stream.py") + " " +
                      q(dir_->file("good.stream"));
    for (std::string line; std::getline(list, line);)
      if (!line.empty()) cmd += " " + q(line);
    r = elm::test::run_command(cmd);
    ASSERT_EQ(r.status, 0) << r.stderr_text;
    refs_ = new std::map<std::string, Reference>(read_stream(dir_->file("good.stream")));
  }
  static void TearDownTestSuite() {
    delete refs_;
    refs_ = nullptr;
    delete dir_;
    dir_ = nullptr;
  }
  static std::string file(const std::string& name) { return dir_->file(name); }
  // `name` read in C++ must equal the reference's conversion of `ref_name`.
  static void expect_same_as_python(const std::string& name, const std::string& ref_name = "") {
    const std::string ref_path = file(ref_name.empty() ? name : ref_name);
    ASSERT_TRUE(refs_->count(ref_path)) << "no reference for " << ref_path;
    const Result r = read(file(name));
    ASSERT_TRUE(r.value) << name << ": " << r.reason;
    expect_matches(*r.value, refs_->at(ref_path), name);
  }
  static TempDir* dir_;
  static std::map<std::string, Reference>* refs_;
  TempDir scratch_{"elm-neuronio-pickle-cut"};
};
TempDir* NeuronioPickleRead::dir_ = nullptr;
std::map<std::string, Reference>* NeuronioPickleRead::refs_ = nullptr;

}  // namespace

TEST_F(NeuronioPickleRead, MatchesPythonForEveryProtocol) {
  for (const char* name : {"rich_p2.p", "rich_p3.p", "rich_p4.p", "rich_p5.p", "rich_p2_nofix.p"})
    expect_same_as_python(name);
  // The fixture's values: dict order, integer keys of every kind, lists, a bare number.
  const Result r = read(file("rich_p4.p"));
  ASSERT_TRUE(r.value);
  EXPECT_EQ(r.value->num_segments, 639);
  EXPECT_EQ(r.value->sim_duration_ms, 6000.0);
  ASSERT_EQ(r.value->sims.size(), 5u);
  const auto& s0 = r.value->sims[0];
  ASSERT_GE(s0.ex_keys.size(), 4u);
  EXPECT_EQ(s0.ex_keys[0], 0);
  EXPECT_EQ(s0.ex_keys[1], 638);
  EXPECT_EQ(s0.inh_keys.size(), 1502u);
  EXPECT_TRUE(r.value->sims[1].ex_keys.empty());
  EXPECT_EQ(r.value->sims[3].ex_keys[0], int64_t(1) << 40);
  EXPECT_EQ(r.value->sims[3].output_spike_ms, std::vector<double>{5999.5});
  EXPECT_EQ(r.value->sims[3].soma_mv.size(), 6000u);
}

TEST_F(NeuronioPickleRead, MatchesPythonForPython2Pickles) {
  expect_same_as_python("rich_py2.p");
  expect_same_as_python("ascii_py2.p");
  expect_same_as_python("latin1.p");
}

TEST_F(NeuronioPickleRead, ReadsNumpy2ModuleNames) {
  for (int p : {2, 3, 5})
    expect_same_as_python("rich_p" + std::to_string(p) + "_np2.p", "rich_p" + std::to_string(p) + ".p");
}

TEST_F(NeuronioPickleRead, MatchesPythonForScalarsAndEmptyLists) {
  expect_same_as_python("empty_sims.p");
  expect_same_as_python("numpy_scalars.p");
  expect_same_as_python("trailing.p");
  const Result r = read(file("odd_header.p"));
  ASSERT_TRUE(r.value) << r.reason;
  EXPECT_EQ(r.value->num_segments, 3);
  EXPECT_EQ(r.value->sim_duration_ms, double(6.1f) * 1000.0);
  EXPECT_TRUE(r.value->sims.empty());
}

TEST_F(NeuronioPickleRead, RejectsStructureErrors) {
  for (const char* name : {"nosoma.p", "str_keys.p", "float_keys.p", "bool_keys.p", "str_values.p", "object_soma.p",
                           "no_params.p", "sims_dict.p", "spikes_list.p", "not_a_dict.p"})
    expect_unsupported(file(name));
  const Result r = read(file("nosoma.p"));
  EXPECT_NE(r.reason.find("somaVoltageLowRes"), std::string::npos) << r.reason;
}

TEST_F(NeuronioPickleRead, RejectsFilesItDoesNotHandle) {
  for (const char* name : {"big_endian.p", "fortran.p", "fortran_p5.p", "ordered_dict.p", "uint64_key.p",
                           "protocol1.p", "protocol0.p", "huge_int.p", "shared_expands.p", "garbage.p", "empty.p",
                           "text.p", "truncated.p", "missing.p", "nested_values.p", "duration_str.p"})
    expect_unsupported(file(name));
  expect_unsupported(dir_->path().string());  // a directory
}

TEST_F(NeuronioPickleRead, RejectsEveryTruncation) {
  for (const char* name : {"small_p2.p", "small_p5.p", "small_py2.p"}) {
    const std::string data = slurp(file(name));
    ASSERT_GT(data.size(), 100u);
    ASSERT_TRUE(read(file(name)).value) << name;
    const std::string cut = scratch_.file("cut.p");
    for (size_t n = 0; n < data.size(); ++n) {
      write_file(cut, data.substr(0, n));
      const Result r = read(cut);
      EXPECT_FALSE(r.value) << name << " cut at " << n;
      EXPECT_FALSE(r.reason.empty());
      EXPECT_EQ(r.reason.find('\n'), std::string::npos);
    }
  }
}

// Corrupted copies: whatever the C++ reader accepts, Python must accept and
// convert to the same arrays; whatever Python rejects, the reader must reject.
TEST_F(NeuronioPickleRead, ByteFlipsMatchPythonOrAreRefused) {
  int accepted = 0, python_ok = 0, total = 0;
  for (const auto& entry : fs::directory_iterator(file("flip"))) {
    const std::string path = entry.path().string();
    if (entry.path().extension() != ".p") continue;
    ++total;
    const Result r = read(path);
    const bool has_ref = fs::exists(path + ".stream");
    python_ok += has_ref;
    if (!r.value) {
      EXPECT_FALSE(r.reason.empty()) << path;
      EXPECT_EQ(r.reason.find('\n'), std::string::npos) << path;
      continue;
    }
    ++accepted;
    ASSERT_TRUE(has_ref) << path << ": read in C++, but Python rejects it";
    const auto refs = read_stream(path + ".stream");
    ASSERT_EQ(refs.size(), 1u) << path;
    expect_matches(*r.value, refs.begin()->second, path);
  }
  EXPECT_EQ(total, 450);
  // Most flips land in array data or names; some must stay readable.
  EXPECT_GT(accepted, 20);
  std::cout << "byte flips: " << total << " files, Python reads " << python_ok << ", C++ reads " << accepted << "\n";
}

TEST_F(NeuronioPickleRead, RefusesHostileSizesAndDepths) {
  const std::string path = scratch_.file("hostile.p");
  auto u64 = [](uint64_t v) { return std::string(reinterpret_cast<const char*>(&v), 8); };
  auto u32 = [](uint32_t v) { return std::string(reinterpret_cast<const char*>(&v), 4); };
  const std::string proto = "\x80\x02";
  std::vector<std::string> cases = {
      proto + "\x8d" + u64(uint64_t(1) << 62) + "abc.",   // BINUNICODE8 far past the end
      proto + "\x8e" + u64(~uint64_t(0)) + ".",            // BINBYTES8
      proto + "\x96" + u64(uint64_t(1) << 40) + ".",      // BYTEARRAY8
      proto + "X" + u32(0xFFFFFFFFu) + ".",                // BINUNICODE
      proto + "T" + u32(0x80000000u) + ".",                // negative BINSTRING
      proto + "N" + "r" + u32(0xFFFFFFF0u) + ".",          // LONG_BINPUT far beyond any memo
      proto + "j" + u32(7) + ".",                          // LONG_BINGET of nothing
      proto + "\x95" + u64(uint64_t(1) << 50) + "N.",      // FRAME past the end
      proto + "\x8b" + u32(0x7FFFFFFF) + ".",              // LONG4 past the end
      proto + ".",                                         // STOP on an empty stack
      proto + "(((((t.",                                   // a tuple, marks left over, not a dict
      proto + "s.",                                        // SETITEM underflow
      proto + "}(N.",                                      // STOP below a MARK
      proto + "NNR.",                                      // REDUCE of None
      proto + "cos\nsystem\n(U\x02lstR.",                  // unknown global
      proto + "\x93.",                                     // STACK_GLOBAL underflow
      proto + "K\x01K\x02\x93.",                           // STACK_GLOBAL of ints
      proto + "}]b.",                                      // BUILD on a dict
      proto + "\x97.",                                     // NEXT_BUFFER
      proto + "\x8f.",                                     // EMPTY_SET
      "\x80\x06N.",                                        // protocol 6
      proto,
  };
  // Deep nesting: a million nested lists, then a million MARKs.
  std::string deep = proto;
  for (int k = 0; k < 1000000; ++k) deep += "]";
  for (int k = 0; k < 999999; ++k) deep += "a";
  cases.push_back(deep + ".");
  cases.push_back(proto + std::string(1000000, '(') + "N.");
  cases.push_back(proto + std::string(1000000, '2') + ".");  // DUP underflow
  for (size_t k = 0; k < cases.size(); ++k) {
    write_file(path, cases[k]);
    SCOPED_TRACE("case " + std::to_string(k));
    expect_unsupported(path);
  }
}
