#pragma once
// Learning-rate schedules, evaluated in closed form from the 0-based step so
// that a resumed run gets the same rate without replaying history.
#include <cstdint>
#include <string>

namespace elm {

struct LrScheduleConfig {
  std::string kind = "cosine";  // cosine | constant
  double base_lr = 1e-3;
  int64_t total_steps = 1;      // steps of the whole run, warm-up included
  int64_t warmup_steps = 0;     // linear ramp (s+1)/warmup * base_lr
  double min_lr = 0.0;          // cosine floor (torch's eta_min)
};

// Throws ElmError naming the offending field or value.
void validate(const LrScheduleConfig& config);

class LrSchedule {
 public:
  explicit LrSchedule(const LrScheduleConfig& config);

  // Rate for 0-based step s. Cosine follows torch CosineAnnealingLR with
  // T_max = total_steps - warmup_steps over the steps after the warm-up; steps
  // at or past the end stay at min_lr instead of climbing back up as torch's
  // periodic formula would.
  double lr_at(int64_t step) const;

  const LrScheduleConfig& config() const { return config_; }

 private:
  LrScheduleConfig config_;
  bool cosine_;
};

}  // namespace elm
