#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "core/duration_text.hpp"

namespace elm {
namespace {

TEST(DurationText, SecondsMinutesHoursDays) {
  EXPECT_EQ(duration_text(0), "0s");
  EXPECT_EQ(duration_text(44.6), "45s");
  EXPECT_EQ(duration_text(185), "3m05s");
  EXPECT_EQ(duration_text(2 * 3600 + 7 * 60 + 20), "2h07m");
  EXPECT_EQ(duration_text(4 * 86400 + 3 * 3600 + 59), "4d03h");
  EXPECT_EQ(duration_text(-1), "?");
  EXPECT_EQ(duration_text(std::numeric_limits<double>::quiet_NaN()), "?");
}

TEST(DurationText, EtaAtTheObservedRate) {
  EXPECT_DOUBLE_EQ(eta_seconds(10, 25, 100), 30);
  EXPECT_DOUBLE_EQ(eta_seconds(10, 100, 100), 0);
  EXPECT_TRUE(std::isnan(eta_seconds(10, 0, 100)));
}

}  // namespace
}  // namespace elm
