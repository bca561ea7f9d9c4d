#include "train/neuronio_metrics.hpp"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>

#include "core/error.hpp"

namespace elm {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr std::size_t kFprGridSize = 20000;  // reference: np.linspace(0, 1, num=20000)

// Compensated (Neumaier) sum: keeps means over millions of samples within a
// few ulp of numpy's pairwise sums without replicating its blocking.
class Sum {
 public:
  void add(double v) {
    const double t = sum_ + v;
    comp_ += std::fabs(sum_) >= std::fabs(v) ? (sum_ - t) + v : (v - t) + sum_;
    sum_ = t;
  }
  double value() const { return sum_ + comp_; }

 private:
  double sum_ = 0.0;
  double comp_ = 0.0;
};

void check_same_size(std::span<const double> a, std::span<const double> b, const char* what) {
  ELM_CHECK(a.size() == b.size(), what, ": sizes differ (", a.size(), " vs ", b.size(), ")");
  ELM_CHECK(!a.empty(), what, ": no values");
}

// First index of the minimum of |v - target| (np.argmin keeps the first).
template <class Value>
std::size_t argmin_distance(std::size_t n, Value value_at, double target) {
  std::size_t best = 0;
  double best_dist = std::fabs(value_at(0) - target);
  for (std::size_t i = 1; i < n; ++i) {
    const double d = std::fabs(value_at(i) - target);
    if (d < best_dist) {
      best_dist = d;
      best = i;
    }
  }
  return best;
}

bool has_both_classes(std::span<const double> y_true) {
  bool pos = false, neg = false;
  for (double y : y_true) (y == 1.0 ? pos : neg) = true;
  return pos && neg;
}

bool all_finite(std::span<const double> v) {
  return std::all_of(v.begin(), v.end(), [](double x) { return std::isfinite(x); });
}

}  // namespace

RocCurve roc_curve(std::span<const double> y_true, std::span<const double> y_score,
                   bool drop_intermediate) {
  check_same_size(y_true, y_score, "roc_curve");
  const std::size_t n = y_true.size();
  std::vector<std::pair<double, bool>> sorted(n);
  for (std::size_t i = 0; i < n; ++i) {
    ELM_CHECK(y_true[i] == 0.0 || y_true[i] == 1.0, "roc_curve: target ", i, " is ", y_true[i],
              ", expected 0 or 1");
    ELM_CHECK(std::isfinite(y_score[i]), "roc_curve: score ", i, " is not finite");
    sorted[i] = {y_score[i], y_true[i] == 1.0};
  }
  // Order within a run of equal scores does not matter: counts are read only
  // at the end of each run.
  std::sort(sorted.begin(), sorted.end(),
            [](const auto& a, const auto& b) { return a.first > b.first; });

  std::vector<double> fps, tps, thr;
  double tp = 0.0;
  for (std::size_t i = 0; i < n; ++i) {
    if (sorted[i].second) tp += 1.0;
    if (i + 1 == n || sorted[i + 1].first != sorted[i].first) {
      tps.push_back(tp);
      fps.push_back(static_cast<double>(i + 1) - tp);
      thr.push_back(sorted[i].first);
    }
  }

  RocCurve roc;
  const std::size_t m = fps.size();
  const std::size_t kept_max = m + 1;
  roc.fpr.reserve(kept_max);
  roc.tpr.reserve(kept_max);
  roc.thresholds.reserve(kept_max);
  roc.fpr.push_back(0.0);
  roc.tpr.push_back(0.0);
  roc.thresholds.push_back(std::numeric_limits<double>::infinity());
  const double fp_total = fps.back();
  const double tp_total = tps.back();
  for (std::size_t i = 0; i < m; ++i) {
    if (drop_intermediate && m > 2 && i > 0 && i + 1 < m) {
      const bool fp_bend = (fps[i + 1] - fps[i]) - (fps[i] - fps[i - 1]) != 0.0;
      const bool tp_bend = (tps[i + 1] - tps[i]) - (tps[i] - tps[i - 1]) != 0.0;
      if (!fp_bend && !tp_bend) continue;
    }
    // 0/0 gives NaN when a class is absent, as sklearn does.
    roc.fpr.push_back(fps[i] / fp_total);
    roc.tpr.push_back(tps[i] / tp_total);
    roc.thresholds.push_back(thr[i]);
  }
  return roc;
}

double auc_trapezoid(std::span<const double> x, std::span<const double> y) {
  check_same_size(x, y, "auc");
  ELM_CHECK(x.size() >= 2, "auc: need at least 2 points, got ", x.size());
  bool increasing = true, decreasing = true;
  for (std::size_t i = 1; i < x.size(); ++i) {
    if (x[i] < x[i - 1]) increasing = false;
    if (x[i] > x[i - 1]) decreasing = false;
  }
  ELM_CHECK(increasing || decreasing, "auc: x is neither increasing nor decreasing");
  Sum area;
  for (std::size_t i = 1; i < x.size(); ++i) area.add((x[i] - x[i - 1]) * (y[i] + y[i - 1]) / 2.0);
  return (increasing ? 1.0 : -1.0) * area.value();
}

double roc_auc(std::span<const double> y_true, std::span<const double> y_score) {
  const RocCurve roc = roc_curve(y_true, y_score, true);
  return auc_trapezoid(roc.fpr, roc.tpr);
}

double tp_at_fp(const RocCurve& roc, double fp) {
  ELM_ASSERT(roc.fpr.size() >= 2 && roc.tpr.size() == roc.fpr.size());
  std::size_t ind = argmin_distance(roc.fpr.size(), [&](std::size_t i) { return roc.fpr[i]; }, fp);
  if (ind == 0) ind = 1;
  return roc.tpr[ind];
}

double np_interp(double x, std::span<const double> xp, std::span<const double> fp) {
  ELM_ASSERT(!xp.empty() && xp.size() == fp.size());
  const std::size_t n = xp.size();
  if (std::isnan(x)) return x;
  if (x < xp[0]) return fp[0];
  if (x > xp[n - 1]) return fp[n - 1];
  // numpy's search yields the last j with xp[j] <= x (the end of a run of
  // repeated xp), so vertical ROC segments resolve to their top.
  const std::size_t j =
      static_cast<std::size_t>(std::upper_bound(xp.begin(), xp.end(), x) - xp.begin()) - 1;
  if (j == n - 1 || xp[j] == x) return fp[j];
  const double slope = (fp[j + 1] - fp[j]) / (xp[j + 1] - xp[j]);
  return slope * (x - xp[j]) + fp[j];
}

double auc_at_fp(const RocCurve& roc, double fp) {
  ELM_ASSERT(roc.fpr.size() >= 2 && roc.tpr.size() == roc.fpr.size());
  // np.linspace: i * (1 / (num - 1)), with the last point set to exactly 1.
  const double step = 1.0 / static_cast<double>(kFprGridSize - 1);
  auto grid = [&](std::size_t i) {
    return i + 1 == kFprGridSize ? 1.0 : static_cast<double>(i) * step;
  };
  std::size_t ind = argmin_distance(kFprGridSize, grid, fp);
  ind = std::min(std::max<std::size_t>(1, ind), kFprGridSize - 1);
  Sum sum;
  for (std::size_t i = 0; i < ind; ++i) sum.add(np_interp(grid(i), roc.fpr, roc.tpr));
  return sum.value() / static_cast<double>(ind);
}

double root_mean_squared_error(std::span<const double> target, std::span<const double> pred) {
  check_same_size(target, pred, "RMSE");
  Sum sum;
  for (std::size_t i = 0; i < target.size(); ++i) {
    const double d = target[i] - pred[i];
    sum.add(d * d);
  }
  return std::sqrt(sum.value() / static_cast<double>(target.size()));
}

double mean_absolute_error(std::span<const double> target, std::span<const double> pred) {
  check_same_size(target, pred, "MAE");
  Sum sum;
  for (std::size_t i = 0; i < target.size(); ++i) sum.add(std::fabs(target[i] - pred[i]));
  return sum.value() / static_cast<double>(target.size());
}

double explained_variance_score(std::span<const double> target, std::span<const double> pred) {
  check_same_size(target, pred, "explained variance");
  const double n = static_cast<double>(target.size());
  Sum diff_sum, target_sum;
  for (std::size_t i = 0; i < target.size(); ++i) {
    diff_sum.add(target[i] - pred[i]);
    target_sum.add(target[i]);
  }
  const double diff_mean = diff_sum.value() / n;
  const double target_mean = target_sum.value() / n;
  Sum num, den;
  for (std::size_t i = 0; i < target.size(); ++i) {
    const double r = target[i] - pred[i] - diff_mean;
    const double t = target[i] - target_mean;
    num.add(r * r);
    den.add(t * t);
  }
  const double numerator = num.value() / n;
  const double denominator = den.value() / n;
  // sklearn's force_finite rules for a constant target.
  if (denominator == 0.0) return numerator == 0.0 ? 1.0 : 0.0;
  return 1.0 - numerator / denominator;
}

std::vector<std::pair<std::string, double>> NeuronioMetrics::named_values() const {
  return {{"TP @ 0.0025 FP", tp_at_fp_0025},
          {"AUC @ 0.0025 FP", auc_at_fp_0025},
          {"TP @ 0.0100 FP", tp_at_fp_0100},
          {"AUC @ 0.0100 FP", auc_at_fp_0100},
          {"AUC", auc},
          {"soma_explained_variance_percent", soma_explained_variance_percent},
          {"soma_RMSE", soma_rmse},
          {"soma_MAE", soma_mae}};
}

NeuronioMetrics compute_neuronio_metrics(std::span<const double> spike_target,
                                         std::span<const double> spike_prob,
                                         std::span<const double> soma_target,
                                         std::span<const double> soma_pred) {
  check_same_size(spike_target, spike_prob, "NeuronIO metrics (spike target vs prediction)");
  check_same_size(soma_target, soma_pred, "NeuronIO metrics (soma target vs prediction)");
  NeuronioMetrics m;
  if (has_both_classes(spike_target) && all_finite(spike_prob)) {
    const RocCurve roc = roc_curve(spike_target, spike_prob, true);
    m.auc = auc_trapezoid(roc.fpr, roc.tpr);
    m.tp_at_fp_0025 = tp_at_fp(roc, 0.0025);
    m.auc_at_fp_0025 = auc_at_fp(roc, 0.0025);
    m.tp_at_fp_0100 = tp_at_fp(roc, 0.0100);
    m.auc_at_fp_0100 = auc_at_fp(roc, 0.0100);
  } else {
    for (std::size_t i = 0; i < spike_target.size(); ++i) {
      ELM_CHECK(spike_target[i] == 0.0 || spike_target[i] == 1.0, "NeuronIO metrics: spike target ",
                i, " is ", spike_target[i], ", expected 0 or 1");
    }
    m.auc = m.tp_at_fp_0025 = m.auc_at_fp_0025 = m.tp_at_fp_0100 = m.auc_at_fp_0100 = kNaN;
  }
  m.soma_rmse = root_mean_squared_error(soma_target, soma_pred);
  m.soma_mae = mean_absolute_error(soma_target, soma_pred);
  m.soma_explained_variance_percent = 100.0 * explained_variance_score(soma_target, soma_pred);
  return m;
}

}  // namespace elm
