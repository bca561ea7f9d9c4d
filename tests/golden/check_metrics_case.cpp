#include "check_metrics_case.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <iostream>
#include <vector>

#include "train/neuronio_metrics.hpp"

namespace elm {
namespace {

bool has_link(H5::H5File& file, const char* name) {
  return H5Lexists(file.getId(), name, H5P_DEFAULT) > 0;
}

std::vector<double> read_flat(H5::H5File& file, const char* name) {
  H5::DataSet ds = file.openDataSet(name);
  const hssize_t n = ds.getSpace().getSimpleExtentNpoints();
  std::vector<double> out(static_cast<std::size_t>(n));
  ds.read(out.data(), H5::PredType::NATIVE_DOUBLE);
  return out;
}

}  // namespace

bool is_metrics_case(H5::H5File& file) {
  return has_link(file, "spike_prob") && has_link(file, "spike_target") &&
         has_link(file, "soma_pred") && has_link(file, "soma_target");
}

void check_metrics_case(const std::string& path) {
  H5::H5File file(path, H5F_ACC_RDONLY);
  ASSERT_TRUE(is_metrics_case(file)) << path << " is not a metrics case";
  const std::vector<double> spike_target = read_flat(file, "spike_target");
  const std::vector<double> spike_prob = read_flat(file, "spike_prob");
  const std::vector<double> soma_target = read_flat(file, "soma_target");
  const std::vector<double> soma_pred = read_flat(file, "soma_pred");
  const NeuronioMetrics m =
      compute_neuronio_metrics(spike_target, spike_prob, soma_target, soma_pred);

  // Attribute names of the golden file -> our values.
  const std::pair<const char*, double> expected[] = {
      {"AUC", m.auc},
      {"AUC@0.0025FP", m.auc_at_fp_0025},
      {"AUC@0.0100FP", m.auc_at_fp_0100},
      {"TP@0.0025FP", m.tp_at_fp_0025},
      {"TP@0.0100FP", m.tp_at_fp_0100},
      {"soma_MAE", m.soma_mae},
      {"soma_RMSE", m.soma_rmse},
      {"soma_explained_variance_percent", m.soma_explained_variance_percent},
  };
  double worst = 0.0;
  for (const auto& [name, ours] : expected) {
    if (H5Aexists(file.getId(), name) <= 0) {
      ADD_FAILURE() << path << ": attribute " << name << " missing";
      continue;
    }
    double ref = 0.0;
    file.openAttribute(name).read(H5::PredType::NATIVE_DOUBLE, &ref);
    const double err = std::fabs(ours - ref);
    worst = std::max(worst, std::isnan(err) ? INFINITY : err);
    EXPECT_LE(err, 1e-6) << path << ": " << name << " is " << ours << ", reference " << ref;
  }
  std::cout << "[metrics] max absolute error " << worst << "\n";
}

}  // namespace elm
