// A misspelt key gets the nearest known one in its one-line error.
#include <gtest/gtest.h>

#include "core/did_you_mean.hpp"
#include "core/error.hpp"
#include "train/run_config.hpp"

namespace {

std::string config_error(const elm::KeyValues& kv) {
  try {
    elm::RunConfig::from_key_values(kv, "cfg.ini");
  } catch (const elm::ElmError& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(DidYouMean, EditDistanceCountsInsertsDeletesSubstitutionsAndSwaps) {
  EXPECT_EQ(elm::edit_distance("", ""), 0);
  EXPECT_EQ(elm::edit_distance("steps", "steps"), 0);
  EXPECT_EQ(elm::edit_distance("step", "steps"), 1);
  EXPECT_EQ(elm::edit_distance("stesp", "steps"), 1);  // neighbours swapped
  EXPECT_EQ(elm::edit_distance("lr", "eps"), 3);
  EXPECT_EQ(elm::edit_distance("kitten", "sitting"), 3);
}

TEST(DidYouMean, SuggestsOnlyWhatIsCloseEnough) {
  const std::vector<std::string> known = {"num_memory", "num_branch", "memory_tau_max"};
  EXPECT_EQ(elm::nearest_name("num_memroy", known), "num_memory");
  EXPECT_EQ(elm::nearest_name("num_branches", known), "num_branch");
  EXPECT_EQ(elm::nearest_name("learning_rate", known), "");
  EXPECT_EQ(elm::did_you_mean("num_memroy", known), " (did you mean 'num_memory'?)");
  EXPECT_EQ(elm::did_you_mean("x", known), "");
}

TEST(DidYouMean, ConfigErrorsNameTheNearestKey) {
  EXPECT_NE(config_error({{"train.step", "10"}}).find("unknown key 'train.step' (did you mean 'steps'?)"),
            std::string::npos);
  EXPECT_NE(config_error({{"optim.weight_decy", "0.1"}}).find("(did you mean 'weight_decay'?)"), std::string::npos)
      << config_error({{"optim.weight_decy", "0.1"}});
  EXPECT_NE(config_error({{"model.num_memroy", "10"}}).find("unknown model key 'num_memroy' (did you mean 'num_memory'?)"),
            std::string::npos)
      << config_error({{"model.num_memroy", "10"}});
  EXPECT_NE(config_error({{"trian.steps", "10"}}).find("(did you mean 'train'?)"), std::string::npos);
  const std::string far = config_error({{"optim.learning_rate", "0.1"}});
  EXPECT_NE(far.find("unknown key 'optim.learning_rate'"), std::string::npos) << far;
  EXPECT_EQ(far.find("did you mean"), std::string::npos) << far;
  EXPECT_NE(far.find("optim keys: kind, lr,"), std::string::npos) << far;
}

// An integer model key out of range names the values a user can write, not the
// internal -1 that older configs used for None.
TEST(ModelKeyRange, NamesTheRangeAUserCanUse) {
  const std::string memory = config_error({{"model.num_memory", "-16"}});
  EXPECT_NE(memory.find("cfg.ini [model]: key 'num_memory': -16 is out of range [1, 1073741824]"), std::string::npos)
      << memory;
  EXPECT_NE(config_error({{"model.num_memory", "-1"}}).find("-1 is out of range [1, 1073741824]"), std::string::npos);
  EXPECT_NE(config_error({{"model.num_memory", "0"}}).find("0 is out of range [1, 1073741824]"), std::string::npos);
  EXPECT_NE(config_error({{"model.num_memory", "1073741825"}}).find("out of range [1, 1073741824]"),
            std::string::npos);
  const std::string hidden = config_error({{"model.mlp_hidden_size", "-5"}});
  EXPECT_NE(hidden.find("key 'mlp_hidden_size': -5 is out of range [0, 1073741824] (0: 2 * num_memory)"),
            std::string::npos)
      << hidden;
  EXPECT_NE(config_error({{"model.num_branch", "-2"}}).find("[0, 1073741824] (0: num_input)"), std::string::npos);
  EXPECT_NE(config_error({{"model.head_classes", "1"}}).find("1 is out of range [2, 1073741824]"), std::string::npos);
  // -1 for None still reads as 0 where 0 means None.
  for (const char* key : {"model.mlp_hidden_size", "model.num_branch"}) {
    const std::string none = config_error({{key, "-1"}, {"model.num_input", "4"}, {"model.num_output", "2"}});
    EXPECT_EQ(none.find("out of range"), std::string::npos) << none;
  }
}

}  // namespace
