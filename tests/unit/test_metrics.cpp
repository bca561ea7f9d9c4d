// Hand-checkable properties of the NeuronIO and classification metrics; exact
// agreement with the reference evaluator is checked by the golden case
// (tests/golden/check_metrics_case.cpp).
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "core/error.hpp"
#include "train/classification_metrics.hpp"
#include "train/neuronio_metrics.hpp"

namespace elm {
namespace {

using Vec = std::vector<double>;
constexpr double kInf = std::numeric_limits<double>::infinity();

TEST(RocAuc, PerfectReversedAndTied) {
  const Vec y = {0, 0, 1, 1, 0, 1};
  EXPECT_DOUBLE_EQ(roc_auc(y, Vec{0.1, 0.2, 0.8, 0.9, 0.3, 0.7}), 1.0);
  EXPECT_DOUBLE_EQ(roc_auc(y, Vec{0.9, 0.8, 0.2, 0.1, 0.7, 0.3}), 0.0);
  EXPECT_DOUBLE_EQ(roc_auc(y, Vec(6, 0.5)), 0.5);
}

// The example of sklearn's roc_curve documentation.
TEST(RocCurve, SklearnDocumentationExample) {
  const RocCurve roc = roc_curve(Vec{0, 0, 1, 1}, Vec{0.1, 0.4, 0.35, 0.8});
  EXPECT_EQ(roc.fpr, (Vec{0, 0, 0.5, 0.5, 1}));
  EXPECT_EQ(roc.tpr, (Vec{0, 0.5, 0.5, 1, 1}));
  EXPECT_EQ(roc.thresholds, (Vec{kInf, 0.8, 0.4, 0.35, 0.1}));
  EXPECT_DOUBLE_EQ(roc_auc(Vec{0, 0, 1, 1}, Vec{0.1, 0.4, 0.35, 0.8}), 0.75);
}

// Equal scores form one threshold: a tie between a positive and a negative
// is a diagonal step, worth half.
TEST(RocCurve, TiesAreGrouped) {
  const RocCurve roc = roc_curve(Vec{1, 0, 1, 0}, Vec{0.9, 0.5, 0.5, 0.1});
  EXPECT_EQ(roc.fpr, (Vec{0, 0, 0.5, 1}));
  EXPECT_EQ(roc.tpr, (Vec{0, 0.5, 1, 1}));
  EXPECT_DOUBLE_EQ(auc_trapezoid(roc.fpr, roc.tpr), 0.875);
}

// Points in the middle of equal increments (collinear, same step) are dropped
// by default, as sklearn does; the area does not change.
TEST(RocCurve, DropIntermediate) {
  const Vec y = {1, 1, 1, 0};
  const Vec s = {0.9, 0.8, 0.7, 0.1};
  const RocCurve all = roc_curve(y, s, false);
  EXPECT_EQ(all.fpr.size(), 5u);
  const RocCurve dropped = roc_curve(y, s);
  EXPECT_EQ(dropped.fpr, (Vec{0, 0, 0, 1}));
  EXPECT_EQ(dropped.tpr, (Vec{0, 1.0 / 3.0, 1, 1}));
  EXPECT_EQ(dropped.thresholds, (Vec{kInf, 0.9, 0.7, 0.1}));
  EXPECT_DOUBLE_EQ(auc_trapezoid(all.fpr, all.tpr), auc_trapezoid(dropped.fpr, dropped.tpr));
}

TEST(RocCurve, RejectsBadInput) {
  EXPECT_THROW(roc_curve(Vec{0, 1}, Vec{0.5}), ElmError);
  EXPECT_THROW(roc_curve(Vec{}, Vec{}), ElmError);
  EXPECT_THROW(roc_curve(Vec{0, 2}, Vec{0.5, 0.6}), ElmError);
  EXPECT_THROW(roc_curve(Vec{0, 1}, Vec{0.5, std::nan("")}), ElmError);
}

// Reference rule: nearest ROC point by fpr, first on ties, never index 0.
TEST(TpAtFp, NearestPointNeverTheFirst) {
  const RocCurve roc = roc_curve(Vec{0, 0, 1, 1}, Vec{0.1, 0.4, 0.35, 0.8});
  EXPECT_DOUBLE_EQ(tp_at_fp(roc, 0.0025), 0.5);  // index 0 is nearest, bumped to 1
  EXPECT_DOUBLE_EQ(tp_at_fp(roc, 0.4), 0.5);     // first point at fpr 0.5
  EXPECT_DOUBLE_EQ(tp_at_fp(roc, 0.9), 1.0);
}

// Values from numpy.interp on the same arrays.
TEST(NpInterp, RepeatedXpTakesTheLastOfTheRun) {
  const Vec xp = {0, 0, 0.5, 0.5, 1};
  const Vec fp = {0, 0.5, 0.5, 1, 1};
  EXPECT_EQ(np_interp(0.0, xp, fp), 0.5);
  EXPECT_EQ(np_interp(0.25, xp, fp), 0.5);
  EXPECT_EQ(np_interp(0.5, xp, fp), 1.0);
  EXPECT_EQ(np_interp(0.75, xp, fp), 1.0);
  EXPECT_EQ(np_interp(0.3, Vec{0, 1}, Vec{0, 2}), 0.6);
  EXPECT_EQ(np_interp(-1.0, Vec{0, 1}, Vec{3, 4}), 3.0);
  EXPECT_EQ(np_interp(2.0, Vec{0, 1}, Vec{3, 4}), 4.0);
}

TEST(AucAtFp, PerfectAndDiagonalCurves) {
  const RocCurve perfect = roc_curve(Vec{0, 1}, Vec{0.2, 0.8});
  EXPECT_DOUBLE_EQ(auc_at_fp(perfect, 0.01), 1.0);
  // Diagonal ROC: tpr = fpr on the grid i/19999; the grid point nearest 0.01
  // is i = 200, so the mean runs over i = 0..199.
  const RocCurve diagonal = roc_curve(Vec{0, 1}, Vec{0.5, 0.5});
  EXPECT_NEAR(auc_at_fp(diagonal, 0.01), 99.5 / 19999.0, 1e-15);
  // i = 50 for 0.0025.
  EXPECT_NEAR(auc_at_fp(diagonal, 0.0025), 24.5 / 19999.0, 1e-15);
  // fp = 0 would average nothing; the reference clamps to the first point.
  EXPECT_DOUBLE_EQ(auc_at_fp(diagonal, 0.0), 0.0);
}

TEST(SomaMetrics, RmseMaeExplainedVariance) {
  const Vec t = {1, 2, 3};
  EXPECT_DOUBLE_EQ(root_mean_squared_error(t, Vec{1, 2, 5}), std::sqrt(4.0 / 3.0));
  EXPECT_DOUBLE_EQ(mean_absolute_error(t, Vec{1, 2, 5}), 2.0 / 3.0);
  // A constant offset is fully "explained" (explained variance ignores bias).
  EXPECT_DOUBLE_EQ(explained_variance_score(t, Vec{2, 3, 4}), 1.0);
  EXPECT_DOUBLE_EQ(explained_variance_score(t, Vec{2, 2, 2}), 0.0);
  EXPECT_DOUBLE_EQ(explained_variance_score(t, Vec{3, 2, 1}), -3.0);
  // sklearn's force_finite rules for a constant target.
  EXPECT_DOUBLE_EQ(explained_variance_score(Vec{2, 2}, Vec{2, 2}), 1.0);
  EXPECT_DOUBLE_EQ(explained_variance_score(Vec{2, 2}, Vec{1, 3}), 0.0);
  EXPECT_THROW(root_mean_squared_error(t, Vec{1, 2}), ElmError);
}

TEST(NeuronioMetrics, NamesFollowTheReference) {
  const Vec spikes = {0, 0, 1, 1};
  const Vec prob = {0.1, 0.4, 0.35, 0.8};
  const Vec soma_t = {1, 2, 3, 4};
  const Vec soma_p = {1, 2, 3, 6};
  const NeuronioMetrics m = compute_neuronio_metrics(spikes, prob, soma_t, soma_p);
  EXPECT_DOUBLE_EQ(m.auc, 0.75);
  EXPECT_DOUBLE_EQ(m.tp_at_fp_0025, 0.5);
  EXPECT_DOUBLE_EQ(m.soma_mae, 0.5);
  EXPECT_DOUBLE_EQ(m.soma_rmse, 1.0);
  const auto named = m.named_values();
  const std::vector<std::string> keys = {
      "TP @ 0.0025 FP", "AUC @ 0.0025 FP", "TP @ 0.0100 FP",
      "AUC @ 0.0100 FP", "AUC", "soma_explained_variance_percent",
      "soma_RMSE", "soma_MAE"};
  ASSERT_EQ(named.size(), keys.size());
  for (std::size_t i = 0; i < keys.size(); ++i) EXPECT_EQ(named[i].first, keys[i]);
  EXPECT_EQ(named[4].second, m.auc);
  EXPECT_EQ(named[5].second, m.soma_explained_variance_percent);
}

TEST(NeuronioMetrics, SpikeMetricsAreNanWithoutBothClasses) {
  const Vec soma = {1, 2, 3};
  const NeuronioMetrics m = compute_neuronio_metrics(Vec{0, 0, 0}, Vec{0.1, 0.2, 0.3}, soma, soma);
  EXPECT_TRUE(std::isnan(m.auc));
  EXPECT_TRUE(std::isnan(m.tp_at_fp_0100));
  EXPECT_TRUE(std::isnan(m.auc_at_fp_0025));
  EXPECT_DOUBLE_EQ(m.soma_rmse, 0.0);
  EXPECT_DOUBLE_EQ(m.soma_explained_variance_percent, 100.0);
  const NeuronioMetrics d = compute_neuronio_metrics(Vec{0, 1, 0}, Vec{0.1, NAN, 0.3}, soma, soma);
  EXPECT_TRUE(std::isnan(d.auc));
  EXPECT_THROW(compute_neuronio_metrics(Vec{0, 0, 3}, Vec{0.1, 0.2, 0.3}, soma, soma), ElmError);
  EXPECT_THROW(compute_neuronio_metrics(Vec{0, 1}, Vec{0.1, 0.2, 0.3}, soma, soma), ElmError);
}

// --- classification ----------------------------------------------------------

TEST(Accuracy, ArgmaxTiesGoToTheLowestIndex) {
  EXPECT_EQ(argmax(std::vector<float>{1, 3, 3, 2}), 1u);
  EXPECT_EQ(argmax(std::vector<float>{5, 5}), 0u);
  EXPECT_EQ(argmax(std::vector<float>{-2, -1, -3}), 1u);
}

TEST(Accuracy, FromLogits) {
  // 3 samples x 3 classes: predictions 2, 0 (tie with 1), 1.
  const std::vector<float> logits = {0, 1, 2, 4, 4, 0, -1, 3, 2};
  EXPECT_DOUBLE_EQ(accuracy_from_logits(logits, std::vector<int32_t>{2, 0, 1}, 3), 1.0);
  EXPECT_DOUBLE_EQ(accuracy_from_logits(logits, std::vector<int32_t>{2, 1, 0}, 3), 1.0 / 3.0);
  EXPECT_EQ(count_correct(logits, std::vector<int64_t>{0, 0, 1}, 3), 2u);
}

TEST(Accuracy, RejectsBadInput) {
  const std::vector<float> logits = {0, 1, 2, 3};
  EXPECT_THROW(accuracy_from_logits(logits, std::vector<int32_t>{0, 2}, 2), ElmError);
  EXPECT_THROW(accuracy_from_logits(logits, std::vector<int32_t>{0, -1}, 2), ElmError);
  EXPECT_THROW(accuracy_from_logits(logits, std::vector<int32_t>{0}, 2), ElmError);
  EXPECT_THROW(accuracy_from_logits({}, std::vector<int32_t>{}, 2), ElmError);
}

}  // namespace
}  // namespace elm
