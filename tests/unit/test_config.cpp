#include <gtest/gtest.h>

#include "core/error.hpp"
#include "model/elm_config.hpp"
#include "model/param_layout.hpp"

using namespace elm;

static ElmConfig released(int dm) { return released_neuronio_config(dm); }

TEST(ElmConfig, ReleasedModelsHaveTheReferenceParameterCount) {
  EXPECT_EQ(trainable_parameter_count(released(15)), 6827);
  EXPECT_EQ(trainable_parameter_count(released(100)), 54002);
  ParamLayout layout(released(15));
  EXPECT_EQ(layout.num_trainable(), 6827);
}

TEST(ElmConfig, UnknownKeyIsAnErrorNamingIt) {
  try {
    ElmConfig::from_key_values({{"num_inputs", "3"}}, "cfg.ini");
    FAIL() << "no error";
  } catch (const ElmError& e) {
    EXPECT_NE(std::string(e.what()).find("num_inputs"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("cfg.ini"), std::string::npos) << e.what();
  }
}

TEST(ElmConfig, InvalidValuesAreRejected) {
  EXPECT_THROW(ElmConfig::from_key_values({{"num_memory", "abc"}}, "x"), ElmError);
  EXPECT_THROW(ElmConfig::from_key_values({{"mlp_activation", "tanh"}}, "x"), ElmError);
  EXPECT_THROW(ElmConfig::from_key_values({{"lambda_value", "nan"}}, "x"), ElmError);
  ElmConfig c = released(15);
  c.num_synapse_per_branch = 20;  // ceil(1278/45) = 29 > 20
  EXPECT_THROW(c.validate(), ElmError);
  c = released(15);
  c.routing = SynapseRouting::None;  // 4500 synapses != 1278 inputs
  EXPECT_THROW(c.validate(), ElmError);
  c = released(15);
  c.memory_tau_max = 0.5;
  EXPECT_THROW(c.validate(), ElmError);
}

TEST(ElmConfig, JsonRoundTrip) {
  ElmConfig c = released(7);
  c.mlp_activation = MlpActivation::Silu;
  c.learn_memory_tau = true;
  ElmConfig d = ElmConfig::from_json(c.to_json(), ElmVariant::V1, "t");
  EXPECT_EQ(d.to_json(), c.to_json());
  EXPECT_EQ(d.num_memory, 7);
  EXPECT_TRUE(d.learn_memory_tau);
  EXPECT_EQ(d.routing, SynapseRouting::NeuronIO);
}
