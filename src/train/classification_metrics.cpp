#include "train/classification_metrics.hpp"

#include "core/error.hpp"

namespace elm {
namespace {

template <class Label>
std::size_t count_correct_impl(std::span<const float> logits, std::span<const Label> labels,
                               std::size_t num_classes) {
  ELM_CHECK(num_classes > 0, "accuracy: num_classes must be > 0");
  ELM_CHECK(logits.size() == labels.size() * num_classes, "accuracy: ", logits.size(),
            " logits do not match ", labels.size(), " labels x ", num_classes, " classes");
  std::size_t correct = 0;
  for (std::size_t n = 0; n < labels.size(); ++n) {
    const Label label = labels[n];
    ELM_CHECK(label >= 0 && static_cast<std::size_t>(label) < num_classes, "accuracy: label ",
              label, " of sample ", n, " is outside [0, ", num_classes, ")");
    const std::size_t pred = argmax(logits.subspan(n * num_classes, num_classes));
    if (pred == static_cast<std::size_t>(label)) ++correct;
  }
  return correct;
}

template <class Label>
double accuracy_impl(std::span<const float> logits, std::span<const Label> labels,
                     std::size_t num_classes) {
  ELM_CHECK(!labels.empty(), "accuracy: empty batch");
  return static_cast<double>(count_correct_impl(logits, labels, num_classes)) /
         static_cast<double>(labels.size());
}

}  // namespace

std::size_t argmax(std::span<const float> row) {
  ELM_ASSERT(!row.empty());
  std::size_t best = 0;
  for (std::size_t i = 1; i < row.size(); ++i) {
    if (row[i] > row[best]) best = i;  // strict: ties keep the lower index
  }
  return best;
}

std::size_t count_correct(std::span<const float> logits, std::span<const int32_t> labels,
                          std::size_t num_classes) {
  return count_correct_impl(logits, labels, num_classes);
}

std::size_t count_correct(std::span<const float> logits, std::span<const int64_t> labels,
                          std::size_t num_classes) {
  return count_correct_impl(logits, labels, num_classes);
}

double accuracy_from_logits(std::span<const float> logits, std::span<const int32_t> labels,
                            std::size_t num_classes) {
  return accuracy_impl(logits, labels, num_classes);
}

double accuracy_from_logits(std::span<const float> logits, std::span<const int64_t> labels,
                            std::size_t num_classes) {
  return accuracy_impl(logits, labels, num_classes);
}

}  // namespace elm
