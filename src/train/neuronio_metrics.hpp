#pragma once
// NeuronIO evaluation metrics, reproducing the reference evaluator
// (elmneuron src/neuronio/neuronio_eval_utils.py, extract_core_results), which
// builds on sklearn.metrics and numpy. Everything is computed in double.
//
// The caller selects what to evaluate: the reference keeps simulations with
// 0..24 output spikes, drops the first 500 ms of each and flattens; these
// functions take the already-flattened values.
#include <span>
#include <string>
#include <utility>
#include <vector>

namespace elm {

// sklearn.metrics.roc_curve(y_true, y_score, drop_intermediate=...) for labels
// in {0, 1}: thresholds at each distinct score (ties grouped), descending,
// preceded by the point (0, 0) at threshold +inf. drop_intermediate removes
// points whose neighbours have equal fp and tp increments on both sides (the
// reference uses sklearn's default, true). With only one class present the
// undefined rate is NaN, as in sklearn. Throws ElmError for mismatched sizes,
// an empty input, labels other than 0/1, or non-finite scores.
struct RocCurve {
  std::vector<double> fpr;
  std::vector<double> tpr;
  std::vector<double> thresholds;
};
RocCurve roc_curve(std::span<const double> y_true, std::span<const double> y_score,
                   bool drop_intermediate = true);

// sklearn.metrics.auc: trapezoid rule over a monotonic x.
double auc_trapezoid(std::span<const double> x, std::span<const double> y);

// Area under the ROC curve (equals sklearn.metrics.roc_auc_score).
double roc_auc(std::span<const double> y_true, std::span<const double> y_score);

// Reference calc_TP_at_desired_FP: tpr at the ROC point whose fpr is nearest
// to fp (first such point), never the initial (0, 0) point.
double tp_at_fp(const RocCurve& roc, double fp);

// Reference calc_AUC_at_desired_FP: the ROC curve is sampled by np.interp on
// np.linspace(0, 1, 20000); the result is the mean of the first k samples,
// where k is the index of the grid point nearest fp, clamped to [1, 19999].
double auc_at_fp(const RocCurve& roc, double fp);

// np.interp(x, xp, fp) for increasing (possibly repeated) xp.
double np_interp(double x, std::span<const double> xp, std::span<const double> fp);

double root_mean_squared_error(std::span<const double> target, std::span<const double> pred);
double mean_absolute_error(std::span<const double> target, std::span<const double> pred);
// sklearn.metrics.explained_variance_score (force_finite=True), as a fraction.
double explained_variance_score(std::span<const double> target, std::span<const double> pred);

struct NeuronioMetrics {
  // Spike metrics are NaN when the targets hold only one class or a score is
  // not finite, so a diverged or spike-free evaluation does not abort a run.
  double auc = 0.0;
  double tp_at_fp_0025 = 0.0;
  double auc_at_fp_0025 = 0.0;
  double tp_at_fp_0100 = 0.0;
  double auc_at_fp_0100 = 0.0;
  double soma_rmse = 0.0;
  double soma_mae = 0.0;
  double soma_explained_variance_percent = 0.0;

  // (name, value) with the reference's result-dict keys, in its order:
  // "TP @ 0.0025 FP", "AUC @ 0.0025 FP", "TP @ 0.0100 FP", "AUC @ 0.0100 FP",
  // "AUC", "soma_explained_variance_percent", "soma_RMSE", "soma_MAE".
  std::vector<std::pair<std::string, double>> named_values() const;
};

// All four spans are flattened [simulations x time] and of equal length;
// spike_target holds 0/1, spike_prob the predicted spike probability.
NeuronioMetrics compute_neuronio_metrics(std::span<const double> spike_target,
                                         std::span<const double> spike_prob,
                                         std::span<const double> soma_target,
                                         std::span<const double> soma_pred);

}  // namespace elm
