#include "check_optimizer_case.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <iostream>
#include <span>
#include <vector>

#include "train/lr_schedule.hpp"
#include "train/optimizer.hpp"

namespace elm {
namespace {

bool has_link(H5::H5File& file, const char* name) {
  return H5Lexists(file.getId(), name, H5P_DEFAULT) > 0;
}

bool has_attr(H5::H5File& file, const char* name) {
  return H5Aexists(file.getId(), name) > 0;
}

template <class T>
std::vector<T> read_dataset(H5::H5File& file, const char* name, const H5::PredType& type,
                            std::vector<hsize_t>& dims) {
  H5::DataSet ds = file.openDataSet(name);
  H5::DataSpace space = ds.getSpace();
  dims.assign(static_cast<std::size_t>(space.getSimpleExtentNdims()), 0);
  space.getSimpleExtentDims(dims.data());
  hsize_t n = 1;
  for (hsize_t d : dims) n *= d;
  std::vector<T> out(n);
  ds.read(out.data(), type);
  return out;
}

double read_double_attr(H5::H5File& file, const char* name) {
  double v = 0.0;
  file.openAttribute(name).read(H5::PredType::NATIVE_DOUBLE, &v);
  return v;
}

std::string read_string_attr(H5::H5File& file, const char* name) {
  H5::Attribute attr = file.openAttribute(name);
  std::string v;
  attr.read(attr.getStrType(), v);
  return v;
}

}  // namespace

bool is_optimizer_case(H5::H5File& file) {
  return has_link(file, "param0") && has_link(file, "grads") &&
         has_link(file, "params_after_step") && has_attr(file, "optimizer");
}

void check_optimizer_case(const std::string& path) {
  H5::H5File file(path, H5F_ACC_RDONLY);
  ASSERT_TRUE(is_optimizer_case(file)) << path << " is not an optimizer case";

  OptimizerConfig config;
  config.kind = read_string_attr(file, "optimizer");
  config.lr = read_double_attr(file, "lr");
  config.beta1 = read_double_attr(file, "beta1");
  config.beta2 = read_double_attr(file, "beta2");
  config.eps = read_double_attr(file, "eps");
  config.weight_decay = read_double_attr(file, "weight_decay");

  std::vector<hsize_t> p_dims, g_dims, lr_dims, after_dims;
  std::vector<float> params = read_dataset<float>(file, "param0", H5::PredType::NATIVE_FLOAT, p_dims);
  const std::vector<float> grads = read_dataset<float>(file, "grads", H5::PredType::NATIVE_FLOAT, g_dims);
  const std::vector<double> lr_used =
      read_dataset<double>(file, "lr_used", H5::PredType::NATIVE_DOUBLE, lr_dims);
  const std::vector<float> after =
      read_dataset<float>(file, "params_after_step", H5::PredType::NATIVE_FLOAT, after_dims);
  ASSERT_EQ(g_dims.size(), 2u) << path;
  const std::size_t steps = g_dims[0];
  const std::size_t n = g_dims[1];
  ASSERT_EQ(params.size(), n) << path;
  ASSERT_EQ(lr_used.size(), steps) << path;
  ASSERT_EQ(after.size(), steps * n) << path;

  // The schedule must reproduce the rates torch used.
  if (has_attr(file, "schedule")) {
    LrScheduleConfig sched;
    sched.kind = read_string_attr(file, "schedule");
    sched.base_lr = config.lr;
    sched.total_steps = static_cast<int64_t>(read_double_attr(file, "total_steps"));
    const LrSchedule schedule(sched);
    for (std::size_t s = 0; s < steps; ++s) {
      const double ours = schedule.lr_at(static_cast<int64_t>(s));
      EXPECT_LE(std::fabs(ours - lr_used[s]), 1e-12 * std::fabs(lr_used[s]))
          << path << ": lr at step " << s << " is " << ours << ", reference " << lr_used[s];
    }
  }

  // Relative to max(|ref|, 1e-6) per entry: stricter than relative-to-largest,
  // and met because the update follows torch's float32 operation order.
  Optimizer optimizer(config);
  double worst = 0.0;
  for (std::size_t s = 0; s < steps; ++s) {
    optimizer.step(params, std::span<const float>(grads.data() + s * n, n), lr_used[s]);
    for (std::size_t i = 0; i < n; ++i) {
      const double ref = after[s * n + i];
      const double rel = std::fabs(static_cast<double>(params[i]) - ref) /
                         std::max(std::fabs(ref), 1e-6);
      worst = std::max(worst, rel);
      EXPECT_LE(rel, 1e-6) << path << ": step " << s << " param " << i << " is " << params[i]
                           << ", reference " << ref;
    }
  }
  EXPECT_EQ(optimizer.step_count(), static_cast<int64_t>(steps));
  ::testing::Test::RecordProperty("max_rel_error", std::to_string(worst));
  std::cout << "[optimizer " << config.kind << "] " << steps << " steps x " << n
            << " params, max relative error " << worst << "\n";
}

}  // namespace elm
