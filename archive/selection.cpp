#include "archive/selection.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <set>

namespace asiarch::archive {
namespace {

struct Scored {
  int64_t id;
  double fitness;
};

// Best first, ties by id.
void rank(std::vector<Scored>& c) {
  std::sort(c.begin(), c.end(), [](const Scored& a, const Scored& b) {
    return a.fitness != b.fitness ? a.fitness > b.fitness : a.id < b.id;
  });
}

// sigmoid(sharpness * (F - median) / spread) / (1 + children), over `pool`.
std::vector<double> weights(const std::vector<Scored>& pool, const std::map<int64_t, int>& children, double sharpness) {
  std::vector<double> f;
  for (const auto& s : pool) f.push_back(s.fitness);
  std::vector<double> sorted = f;
  std::sort(sorted.begin(), sorted.end());
  const size_t n = sorted.size();
  const double median = n % 2 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
  double mean = 0, var = 0;
  for (double x : f) mean += x;
  mean /= static_cast<double>(n);
  for (double x : f) var += (x - mean) * (x - mean);
  const double spread = std::sqrt(var / static_cast<double>(n));
  std::vector<double> w;
  for (const auto& s : pool) {
    const double z = spread > 0 ? (s.fitness - median) / spread : 0;
    const auto it = children.find(s.id);
    w.push_back(1 / (1 + std::exp(-sharpness * z)) / (1 + (it == children.end() ? 0 : it->second)));
  }
  return w;
}

size_t draw(const std::vector<double>& w, std::mt19937_64& rng, double* chance) {
  double total = 0;
  for (double x : w) total += x;
  // A uniform number compared with the running sum: the same on every standard library.
  const double u = std::uniform_real_distribution<double>(0, total)(rng);
  double run = 0;
  size_t pick = w.size() - 1;
  for (size_t i = 0; i < w.size(); ++i) {
    run += w[i];
    if (u < run) {
      pick = i;
      break;
    }
  }
  *chance = total > 0 ? w[pick] / total : 0;
  return pick;
}

// `others` shuffled, cut to `k`, with `best` first unless it is the parent.
std::vector<int64_t> references_from(std::vector<int64_t> others, int64_t best, int64_t parent, int k,
                                     std::mt19937_64& rng, std::optional<int64_t> first = std::nullopt) {
  std::shuffle(others.begin(), others.end(), rng);
  std::vector<int64_t> out;
  auto add = [&](int64_t id) {
    if (id != parent && std::find(out.begin(), out.end(), id) == out.end()) out.push_back(id);
  };
  if (first) add(*first);
  add(best);
  for (int64_t id : others) add(id);
  out.resize(std::min(out.size(), static_cast<size_t>(std::max(0, k))));
  return out;
}

}  // namespace

size_t ucb1(const std::vector<Arm>& arms, double c, double* value) {
  int64_t total = 0;
  for (const auto& a : arms) total += a.pulls;
  size_t pick = 0;
  double best = -std::numeric_limits<double>::infinity();
  for (size_t i = 0; i < arms.size(); ++i) {
    const auto n = static_cast<double>(arms[i].pulls);
    const double v = arms[i].pulls == 0 ? std::numeric_limits<double>::infinity()
                                        : arms[i].reward / n + c * std::sqrt(std::log(static_cast<double>(total)) / n);
    if (v > best) best = v, pick = i;
  }
  *value = best;
  return pick;
}

Status check(const SelectionConfig& c) {
  const auto& names = selection_strategies();
  if (std::find(names.begin(), names.end(), c.strategy) == names.end()) {
    std::string list;
    for (const auto& n : names) list += (list.empty() ? "" : ", ") + n;
    return make_error("selection: unknown strategy \"" + c.strategy + "\"; use one of " + list);
  }
  if (!(c.sharpness >= 0) || !std::isfinite(c.sharpness))
    return make_error("selection_sharpness: must be a finite number >= 0");
  if (!(c.exploration >= 0) || !std::isfinite(c.exploration))
    return make_error("selection_exploration: must be a finite number >= 0");
  if (c.islands < 1) return make_error("islands: must be at least 1");
  if (c.migration_interval < 0) return make_error("migration_interval: must be >= 0 (0: no migration)");
  return Ok{};
}

std::optional<Selection> select(const std::vector<Node>& nodes, const SelectionConfig& config, std::mt19937_64& rng,
                                int64_t turn) {
  if (config.pool_size < 1 || config.parent_top < 1) return std::nullopt;
  std::vector<Scored> pool;
  std::map<int64_t, const Node*> by_id;
  std::map<int64_t, int> children;
  for (const auto& n : nodes) {
    by_id[n.id] = &n;
    if (n.eligible && n.fitness) pool.push_back({n.id, *n.fitness});
    if (n.parent) ++children[*n.parent];
  }
  if (pool.empty()) return std::nullopt;
  rank(pool);
  if (pool.size() > static_cast<size_t>(config.pool_size)) pool.resize(static_cast<size_t>(config.pool_size));
  const int64_t best = pool.front().id;
  const size_t top = std::min(pool.size(), static_cast<size_t>(config.parent_top));
  Selection s;
  s.strategy = config.strategy;

  if (config.strategy == "asi-arch") {
    const size_t at = std::uniform_int_distribution<size_t>(0, top - 1)(rng);
    s.parent = pool[at].id;
    s.chance = 1.0 / static_cast<double>(top);
    std::vector<int64_t> rest;
    for (size_t i = top; i < pool.size(); ++i) rest.push_back(pool[i].id);
    if (rest.empty())
      for (size_t i = 0; i < top; ++i) rest.push_back(pool[i].id);
    s.references = references_from(rest, best, s.parent, config.references, rng);
    return s;
  }

  if (config.strategy == "ucb1") {
    // Visits: every child, scored or not; a failed or unscored child brought no improvement.
    std::map<int64_t, std::pair<int, double>> arms;  // id -> (children, summed improvement)
    for (size_t i = 0; i < top; ++i) arms[pool[i].id] = {0, 0.0};
    for (const auto& n : nodes) {
      if (!n.parent) continue;
      auto it = arms.find(*n.parent);
      if (it == arms.end()) continue;
      ++it->second.first;
      if (n.fitness) it->second.second += *n.fitness - by_id.at(*n.parent)->fitness.value_or(*n.fitness);
    }
    std::vector<Arm> ranked;  // best first: a tie goes to the fitter
    for (size_t i = 0; i < top; ++i) ranked.push_back({arms[pool[i].id].first, arms[pool[i].id].second});
    s.parent = pool[ucb1(ranked, config.exploration, &s.value)].id;
    s.chance = 1;
    std::vector<int64_t> rest;
    for (const auto& p : pool) rest.push_back(p.id);
    s.references = references_from(rest, best, s.parent, config.references, rng);
    return s;
  }

  if (config.strategy == "islands") {
    // Each root's island, in root id order; a node is on its root's island.
    auto root_of = [&](int64_t id) {
      std::set<int64_t> seen;
      for (;;) {
        const auto it = by_id.find(id);
        if (it == by_id.end() || !it->second->parent || !by_id.count(*it->second->parent) || !seen.insert(id).second)
          return id;
        id = *it->second->parent;
      }
    };
    std::map<int64_t, int> island_of_root;
    for (const auto& [id, n] : by_id)
      if (root_of(id) == id) {
        const int next = static_cast<int>(island_of_root.size());
        island_of_root[id] = next % config.islands;
      }
    std::map<int, std::vector<Scored>> islands;  // only islands with an eligible member
    for (const auto& p : pool) islands[island_of_root[root_of(p.id)]].push_back(p);
    std::vector<int> order;
    for (const auto& [i, members] : islands) order.push_back(i);
    const size_t k = static_cast<size_t>(turn % static_cast<int64_t>(order.size()));
    s.island = order[k];
    const auto& members = islands[s.island];  // ranked, as the pool is
    const size_t at = draw(weights(members, children, config.sharpness), rng, &s.chance);
    s.parent = members[at].id;
    if (config.migration_interval > 0 && order.size() > 1 &&
        turn % config.migration_interval == config.migration_interval - 1)
      s.migrant = islands[order[(k + 1) % order.size()]].front().id;
    std::vector<int64_t> rest;
    for (const auto& m : members) rest.push_back(m.id);
    // The best of the archive is the island's best here: islands keep to themselves but for migrants.
    s.references = references_from(rest, members.front().id, s.parent, config.references, rng, s.migrant);
    return s;
  }

  // weighted
  const size_t at = draw(weights(pool, children, config.sharpness), rng, &s.chance);
  s.parent = pool[at].id;
  std::vector<int64_t> rest;
  for (const auto& p : pool) rest.push_back(p.id);
  s.references = references_from(rest, best, s.parent, config.references, rng);
  return s;
}

}  // namespace asiarch::archive
