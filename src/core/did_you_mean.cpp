#include "core/did_you_mean.hpp"

#include <algorithm>

namespace elm {

int edit_distance(std::string_view a, std::string_view b) {
  // Optimal string alignment distance, three rows.
  const size_t n = a.size(), m = b.size();
  std::vector<int> prev2(m + 1), prev(m + 1), cur(m + 1);
  for (size_t j = 0; j <= m; ++j) prev[j] = int(j);
  for (size_t i = 1; i <= n; ++i) {
    cur[0] = int(i);
    for (size_t j = 1; j <= m; ++j) {
      const int cost = a[i - 1] == b[j - 1] ? 0 : 1;
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) cur[j] = std::min(cur[j], prev2[j - 2] + 1);
    }
    std::swap(prev2, prev);
    std::swap(prev, cur);
  }
  return prev[m];
}

std::string nearest_name(std::string_view given, const std::vector<std::string>& known) {
  const int limit = std::max(1, std::min(3, int(given.size()) / 3));
  std::string best;
  int best_d = limit + 1;
  for (const auto& k : known) {
    const int d = edit_distance(given, k);
    if (d < best_d) {
      best_d = d;
      best = k;
    }
  }
  return best;
}

std::string did_you_mean(std::string_view given, const std::vector<std::string>& known) {
  const std::string n = nearest_name(given, known);
  return n.empty() ? "" : " (did you mean '" + n + "'?)";
}

std::string join_names(const std::vector<std::string>& names) {
  std::string s;
  for (const auto& n : names) (s += s.empty() ? "" : ", ") += n;
  return s;
}

}  // namespace elm
