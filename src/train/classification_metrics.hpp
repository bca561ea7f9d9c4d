#pragma once
// Accuracy of class predictions taken as the argmax of logits.
#include <cstddef>
#include <cstdint>
#include <span>

namespace elm {

// Index of the largest entry; ties go to the lowest index (as torch.argmax and
// numpy.argmax). NaN entries never win unless at index 0.
std::size_t argmax(std::span<const float> row);

// logits is row-major [N, num_classes]; labels holds N class indices. Counts
// are exposed separately so that ranks can sum them before dividing.
std::size_t count_correct(std::span<const float> logits, std::span<const int32_t> labels,
                          std::size_t num_classes);
std::size_t count_correct(std::span<const float> logits, std::span<const int64_t> labels,
                          std::size_t num_classes);

// Fraction in [0, 1]; throws ElmError for an empty batch.
double accuracy_from_logits(std::span<const float> logits, std::span<const int32_t> labels,
                            std::size_t num_classes);
double accuracy_from_logits(std::span<const float> logits, std::span<const int64_t> labels,
                            std::size_t num_classes);

}  // namespace elm
