#pragma once
// "Did you mean ...?" for names typed by people (configuration keys, sections, environment
// variables): the closest candidate by edit distance (insertions, deletions, substitutions and
// swaps of two neighbours), when it is close enough to be a plausible typo. Header-only, so the
// sensor client (built without the core library) can use it too.
#include <algorithm>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/text.hpp"

namespace d4::core {

// Optimal string alignment distance, case-insensitive.
inline std::size_t edit_distance(std::string_view a, std::string_view b) {
  using text::ascii_lower;
  std::vector<std::vector<std::size_t>> d(a.size() + 1, std::vector<std::size_t>(b.size() + 1));
  for (std::size_t i = 0; i <= a.size(); ++i) d[i][0] = i;
  for (std::size_t j = 0; j <= b.size(); ++j) d[0][j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    for (std::size_t j = 1; j <= b.size(); ++j) {
      std::size_t cost = ascii_lower(a[i - 1]) == ascii_lower(b[j - 1]) ? 0 : 1;
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
      if (i > 1 && j > 1 && ascii_lower(a[i - 1]) == ascii_lower(b[j - 2]) &&
          ascii_lower(a[i - 2]) == ascii_lower(b[j - 1]))
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[a.size()][b.size()];
}

// The candidate closest to `word` if it is within a typo's reach: at most a third of the word's
// length (at least 1, at most 3 edits) away. Ties go to the first candidate.
inline std::optional<std::string> closest_match(std::string_view word,
                                                const std::vector<std::string>& candidates) {
  const std::size_t reach = std::clamp<std::size_t>(word.size() / 3, 1, 3);
  std::optional<std::string> best;
  std::size_t best_distance = reach + 1;
  for (const auto& c : candidates) {
    std::size_t d = edit_distance(word, c);
    if (d < best_distance) {
      best_distance = d;
      best = c;
    }
  }
  return best;
}

}  // namespace d4::core
