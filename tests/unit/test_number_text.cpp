// The one rule for numbers shown to people: counts whole, measured values with
// four significant digits and their trailing zeros.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "core/number_text.hpp"
#include "train/run_record.hpp"

namespace {

TEST(NumberText, MeasuredValuesKeepFourSignificantDigits) {
  EXPECT_EQ(elm::measured_text(0.713), "0.7130");
  EXPECT_EQ(elm::measured_text(0.71657), "0.7166");
  EXPECT_EQ(elm::measured_text(6.22879), "6.229");
  EXPECT_EQ(elm::measured_text(1580780.0), "1.581e+06");
  EXPECT_EQ(elm::measured_text(77.4), "77.40");
  EXPECT_EQ(elm::measured_text(1234.6), "1235");  // no bare trailing point
  EXPECT_EQ(elm::measured_text(0.002), "0.002000");
  EXPECT_EQ(elm::measured_text(1.973e-06), "1.973e-06");
  EXPECT_EQ(elm::measured_text(0.0), "0.000");
  EXPECT_EQ(elm::measured_text(-2.5), "-2.500");
  EXPECT_EQ(elm::measured_text(std::nan("")), "nan");
  EXPECT_EQ(elm::measured_text(std::numeric_limits<double>::infinity()), "inf");
}

TEST(NumberText, CountsAreWholeNumbers) {
  EXPECT_EQ(elm::count_text(10000), "10000");
  EXPECT_EQ(elm::count_text(-1), "-1");
}

TEST(NumberText, MetricsTextShowsCountsWholeAndTheRestMeasured) {
  const elm::Metrics m = {{"loss", 0.87431}, {"accuracy", 0.713}, {"samples", 10000.0}};
  EXPECT_EQ(elm::metrics_text(m), "loss 0.8743, accuracy 0.7130, samples 10000");
  EXPECT_EQ(elm::metrics_text({{"AUC", 0.98}, {"simulations_kept", 128.0}}), "AUC 0.9800, simulations_kept 128");
}

}  // namespace
