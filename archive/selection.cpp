#include "archive/selection.h"

#include <algorithm>

namespace asiarch::archive {

std::optional<Selection> select(std::vector<std::pair<int64_t, double>> c, const SelectionConfig& config,
                                std::mt19937_64& rng) {
  if (c.empty() || config.pool_size < 1 || config.parent_top < 1) return std::nullopt;
  std::sort(c.begin(), c.end(), [](const auto& a, const auto& b) {
    return a.second != b.second ? a.second > b.second : a.first < b.first;
  });
  if (c.size() > static_cast<size_t>(config.pool_size)) c.resize(static_cast<size_t>(config.pool_size));
  const size_t top = std::min(c.size(), static_cast<size_t>(config.parent_top));
  Selection s;
  const size_t parent_index = std::uniform_int_distribution<size_t>(0, top - 1)(rng);
  s.parent = c[parent_index].first;
  std::vector<int64_t> rest;
  for (size_t i = top; i < c.size(); ++i) rest.push_back(c[i].first);
  if (rest.empty())
    for (size_t i = 0; i < top; ++i)
      if (i != parent_index) rest.push_back(c[i].first);
  std::shuffle(rest.begin(), rest.end(), rng);
  rest.resize(std::min(rest.size(), static_cast<size_t>(std::max(0, config.references))));
  s.references = std::move(rest);
  return s;
}

}  // namespace asiarch::archive
