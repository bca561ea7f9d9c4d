// Checkpoints: a round trip keeps everything bit for bit, and every kind of bad
// file is an ElmError of ONE line that names the file (and the dataset or key
// at fault), never an HDF5 stack dump or a crash. Writes go through a temporary
// file and a rename.
#include <gtest/gtest.h>
#include <unistd.h>

#include <H5Cpp.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "core/rng.hpp"
#include "io/hdf5_io.hpp"
#include "model/elm_model.hpp"
#include "test_support.hpp"

using namespace elm;
namespace fs = std::filesystem;

namespace {

class CheckpointFiles : public ::testing::Test {
 protected:
  std::string path(const std::string& name) const { return tmp_.file(name); }
  std::vector<std::string> listing() const {
    std::vector<std::string> names;
    for (const auto& e : fs::directory_iterator(tmp_.path())) names.push_back(e.path().filename().string());
    std::sort(names.begin(), names.end());
    return names;
  }
  test::TempDir tmp_{"elm-ckpt"};
};

ElmModel test_model(ElmVariant v, SynapseRouting r, uint64_t seed) {
  ElmConfig c;
  c.variant = v;
  c.routing = r;
  c.num_input = 12;
  c.num_output = 2;
  c.num_memory = 5;
  c.mlp_num_layers = 2;
  c.mlp_activation = MlpActivation::Silu;
  c.learn_memory_tau = true;  // memory_tau_max = 1000: _proto_tau_m ends in +inf
  c.routing_seed = 3;
  if (r == SynapseRouting::None) {
    c.num_branch = 6;
    c.num_synapse_per_branch = 2;
  } else {
    c.num_branch = 4;
    c.num_synapse_per_branch = 4;  // neuronio: stride 3, so the last window is partly masked
  }
  ElmModel m = ElmModel::initialized(c, seed);
  RngStream rng(seed, 9);
  for (int64_t i = 0; i < m.layout.num_params(); ++i)
    if (std::isfinite(m.params[i])) m.params[i] += static_cast<float>(0.1 * rng.normal());
  return m;
}

std::vector<char> read_bytes(const std::string& p) {
  std::ifstream f(p, std::ios::binary);
  return std::vector<char>(std::istreambuf_iterator<char>(f), {});
}

void write_bytes(const std::string& p, const char* data, size_t n) {
  std::ofstream f(p, std::ios::binary | std::ios::trunc);
  f.write(data, static_cast<std::streamsize>(n));
}

// read_checkpoint(p) must throw an ElmError of one line containing every needle.
void expect_one_line_error(const std::string& p, const std::vector<std::string>& needles) {
  try {
    (void)read_checkpoint(p);
    ADD_FAILURE() << p << ": read_checkpoint accepted a bad file";
  } catch (const ElmError& e) {
    const std::string msg = e.what();
    if (std::getenv("ELM_SHOW_ERRORS")) std::printf("%s\n", msg.c_str());
    EXPECT_EQ(msg.find('\n'), std::string::npos) << "message spans several lines:\n" << msg;
    EXPECT_NE(msg.find(p), std::string::npos) << "message does not name the file: " << msg;
    for (const auto& n : needles) EXPECT_NE(msg.find(n), std::string::npos) << "message lacks '" << n << "': " << msg;
  } catch (const std::exception& e) {
    ADD_FAILURE() << p << ": threw a non-ElmError: " << e.what();
  } catch (...) {
    ADD_FAILURE() << p << ": threw something that is not a std::exception";
  }
}

void replace_string_attr(const std::string& p, const std::string& name, const std::string& value) {
  H5::H5File f(p, H5F_ACC_RDWR);
  f.removeAttr(name);
  H5::StrType type(H5::PredType::C_S1, H5T_VARIABLE);
  f.createAttribute(name, type, H5::DataSpace(H5S_SCALAR)).write(type, value);
}

void replace_dataset(const std::string& p, const std::string& name, const std::vector<hsize_t>& dims,
                     const H5::PredType& file_type, const H5::PredType& mem_type, const void* data) {
  H5::H5File f(p, H5F_ACC_RDWR);
  f.unlink(name);
  H5::DataSpace space(static_cast<int>(dims.size()), dims.data());
  f.createDataSet(name, file_type, space).write(data, mem_type);
}

std::string read_string_attr(const std::string& p, const std::string& name) {
  H5::H5File f(p, H5F_ACC_RDONLY);
  H5::Attribute a = f.openAttribute(name);
  std::string v;
  a.read(a.getStrType(), v);
  return v;
}

}  // namespace

TEST_F(CheckpointFiles, RoundTripKeepsParamsRoutingAndConfig) {
  for (ElmVariant v : {ElmVariant::V1, ElmVariant::V2})
    for (SynapseRouting r : {SynapseRouting::None, SynapseRouting::NeuronIO, SynapseRouting::Random}) {
      const ElmModel m = test_model(v, r, 21);
      const std::string p = path(std::string("m_") + to_string(v) + "_" + to_string(r) + ".h5");
      write_checkpoint(m, p);
      const ElmModel back = read_checkpoint(p);
      EXPECT_EQ(back.config.to_key_values(), m.config.to_key_values());
      EXPECT_EQ(back.config.variant, v);
      EXPECT_EQ(back.config.routing, r);
      ASSERT_EQ(back.params.size(), m.params.size());
      // Bitwise, including the +inf at the end of _proto_tau_m.
      EXPECT_EQ(std::memcmp(back.params.data(), m.params.data(), m.params.size() * sizeof(float)), 0);
      EXPECT_TRUE(std::isinf(back.params[back.layout.proto_tau_m() + back.config.num_memory - 1]));
      EXPECT_EQ(back.routing.input_index, m.routing.input_index);
      EXPECT_EQ(back.routing.valid, m.routing.valid);
    }
  // The neuronio table above has masked synapses; make sure the test saw some.
  const ElmModel n = test_model(ElmVariant::V1, SynapseRouting::NeuronIO, 21);
  EXPECT_NE(std::count(n.routing.valid.begin(), n.routing.valid.end(), 0), 0);
}

TEST_F(CheckpointFiles, TruncatedFileIsAOneLineError) {
  const std::string good = path("good.h5"), bad = path("truncated.h5");
  write_checkpoint(test_model(ElmVariant::V1, SynapseRouting::Random, 1), good);
  const auto bytes = read_bytes(good);
  ASSERT_GT(bytes.size(), 1000u);
  write_bytes(bad, bytes.data(), bytes.size() / 2);
  expect_one_line_error(bad, {});
  // An empty file too.
  write_bytes(path("empty.h5"), "", 0);
  expect_one_line_error(path("empty.h5"), {});
}

TEST_F(CheckpointFiles, NonHdf5FileIsAOneLineError) {
  const std::string p = path("not_hdf5.h5");
  const std::string text = "this is a text file,\nnot an HDF5 checkpoint\n";
  write_bytes(p, text.data(), text.size());
  expect_one_line_error(p, {"HDF5"});
  expect_one_line_error(path("does_not_exist.h5"), {});
}

TEST_F(CheckpointFiles, ForeignHdf5WithoutVariantIsAOneLineError) {
  const std::string p = path("foreign.h5");
  {
    H5::H5File f(p, H5F_ACC_TRUNC);
    const hsize_t n = 4;
    const float data[4] = {1, 2, 3, 4};
    f.createDataSet("data", H5::PredType::IEEE_F32LE, H5::DataSpace(1, &n)).write(data, H5::PredType::NATIVE_FLOAT);
  }
  expect_one_line_error(p, {"variant"});
}

TEST_F(CheckpointFiles, WrongShapeIsAOneLineErrorNamingTheDataset) {
  const std::string p = path("wrong_shape.h5");
  const ElmModel m = test_model(ElmVariant::V1, SynapseRouting::None, 2);
  write_checkpoint(m, p);
  const auto& e = m.layout.entry("mlp.network.0.weight");
  // Same number of values, transposed shape.
  replace_dataset(p, "params/mlp.network.0.weight", {hsize_t(e.shape[1]), hsize_t(e.shape[0])},
                  H5::PredType::IEEE_F32LE, H5::PredType::NATIVE_FLOAT, m.params.data() + e.offset);
  expect_one_line_error(p, {"params/mlp.network.0.weight"});
  // And a missing dataset.
  write_checkpoint(m, p);
  {
    H5::H5File f(p, H5F_ACC_RDWR);
    f.unlink("params/w_y.bias");
  }
  expect_one_line_error(p, {"w_y.bias"});
}

// A dataset whose declared shape is absurd (as a corrupt header can make it)
// must be rejected by its shape, not by trying to allocate it: the reader
// should compare the shape before reading the values.
TEST_F(CheckpointFiles, HugeDeclaredShapeIsAOneLineError) {
  const std::string p = path("huge.h5");
  write_checkpoint(test_model(ElmVariant::V1, SynapseRouting::None, 2), p);
  {
    H5::H5File f(p, H5F_ACC_RDWR);
    f.unlink("params/mlp.network.0.weight");
    const hsize_t dims = hsize_t(1) << 62, chunk = 1024;
    H5::DSetCreatPropList props;
    props.setChunk(1, &chunk);  // chunked, never written: the file stays small
    f.createDataSet("params/mlp.network.0.weight", H5::PredType::IEEE_F32LE, H5::DataSpace(1, &dims), props);
  }
  EXPECT_LT(fs::file_size(p), 1u << 20);
  expect_one_line_error(p, {"params/mlp.network.0.weight"});
}

TEST_F(CheckpointFiles, NaNWeightIsAOneLineErrorNamingTheDataset) {
  const std::string p = path("nan.h5");
  ElmModel m = test_model(ElmVariant::V2, SynapseRouting::Random, 3);
  m.params[m.layout.entry("mlp.network.2.weight").offset + 5] = std::numeric_limits<float>::quiet_NaN();
  write_checkpoint(m, p);
  expect_one_line_error(p, {"params/mlp.network.2.weight", "[5]"});
  // NaN is not allowed in _proto_tau_m either (only +inf is).
  ElmModel m2 = test_model(ElmVariant::V1, SynapseRouting::Random, 3);
  m2.params[m2.layout.proto_tau_m()] = std::numeric_limits<float>::quiet_NaN();
  write_checkpoint(m2, p);
  expect_one_line_error(p, {"_proto_tau_m"});
}

TEST_F(CheckpointFiles, UnknownConfigKeyIsAOneLineErrorNamingTheKey) {
  const std::string p = path("unknown_key.h5");
  write_checkpoint(test_model(ElmVariant::V1, SynapseRouting::NeuronIO, 4), p);
  std::string json = read_string_attr(p, "config_json");
  const size_t brace = json.find('{');
  ASSERT_NE(brace, std::string::npos) << json;
  json.insert(brace + 1, "\"num_dendrites\": 7, ");
  replace_string_attr(p, "config_json", json);
  expect_one_line_error(p, {"num_dendrites"});
  // And config_json that is not JSON at all.
  replace_string_attr(p, "config_json", "{not json\n");
  expect_one_line_error(p, {"config_json"});
  // And a bad variant.
  write_checkpoint(test_model(ElmVariant::V1, SynapseRouting::NeuronIO, 4), p);
  replace_string_attr(p, "variant", "v3");
  expect_one_line_error(p, {"variant", "v3"});
}

TEST_F(CheckpointFiles, RoutingIndexOutOfRangeIsAOneLineError) {
  const std::string p = path("bad_routing.h5");
  for (int64_t bad : {int64_t(12), int64_t(-1), int64_t(1) << 40}) {
    ElmModel m = test_model(ElmVariant::V1, SynapseRouting::Random, 5);
    m.routing.input_index[7] = bad;  // num_input is 12
    write_checkpoint(m, p);
    expect_one_line_error(p, {"input_to_synapse_indices"});
  }
  // Wrong number of indices.
  const ElmModel m = test_model(ElmVariant::V2, SynapseRouting::NeuronIO, 5);
  write_checkpoint(m, p);
  const std::vector<int64_t> short_idx(m.routing.input_index.begin(), m.routing.input_index.end() - 1);
  replace_dataset(p, "params/input_to_synapse_indices", {hsize_t(short_idx.size())}, H5::PredType::STD_I64LE,
                  H5::PredType::NATIVE_INT64, short_idx.data());
  expect_one_line_error(p, {"input_to_synapse_indices"});
}

TEST_F(CheckpointFiles, WriteGoesThroughATemporaryFileAndARename) {
  const std::string p = path("model.h5");
  const ElmModel a = test_model(ElmVariant::V1, SynapseRouting::Random, 6);
  const ElmModel b = test_model(ElmVariant::V1, SynapseRouting::Random, 7);
  ASSERT_NE(a.params, b.params);
  write_checkpoint(a, p);
  EXPECT_EQ(listing(), std::vector<std::string>{"model.h5"}) << "a temporary file was left behind";

  // Overwrite: a hard link to the old file still holds the old model, so the new
  // one was not written in place but renamed over the old name.
  fs::create_hard_link(p, path("old_link.h5"));
  write_checkpoint(b, p);
  EXPECT_EQ(listing(), (std::vector<std::string>{"model.h5", "old_link.h5"}));
  EXPECT_EQ(read_checkpoint(p).params, b.params);
  EXPECT_EQ(read_checkpoint(path("old_link.h5")).params, a.params);
  EXPECT_FALSE(fs::equivalent(p, path("old_link.h5")));

  // A write that fails (its temporary file cannot be created: something that is
  // not a file sits at that name) throws and leaves the old file intact.
  const std::string tmp = temporary_name(p);
  fs::create_directories(fs::path(tmp) / "blocker");
  try {
    write_checkpoint(a, p);
    ADD_FAILURE() << "write_checkpoint succeeded although its temporary file cannot be created";
  } catch (const ElmError& e) {
    EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find(p), std::string::npos) << e.what();
  }
  EXPECT_EQ(read_checkpoint(p).params, b.params);
  fs::remove_all(tmp);

  // A write whose final rename fails (a non-empty directory holds the name)
  // throws and removes its temporary file.
  const std::string q = path("dir_in_the_way.h5");
  fs::create_directories(fs::path(q) / "x");
  EXPECT_THROW(write_checkpoint(a, q), ElmError);
  for (const auto& n : listing()) EXPECT_EQ(n.find(".tmp-"), std::string::npos) << n << " was left behind";
}
