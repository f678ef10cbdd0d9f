// Parent and reference selection from the archive's scored designs, as a
// strategy (`selection`):
//   asi-arch  uniform over the best `parent_top`, as ASI-Arch draws;
//   weighted  ShinkaEvolve's weighting: sigmoid(sharpness * (F - median) / spread),
//             divided by 1 + the design's children, so the best are drawn most and
//             a much-drawn design yields to its peers;
//   ucb1      ASI-Evolve's bandit over the best `parent_top`: the mean improvement
//             of a design's children over it (a failed child: no improvement) plus
//             c * sqrt(ln N / n); a design not yet drawn comes first;
//   islands   independent lineages: each root (a baseline, a hand-written design)
//             starts an island, a child stays on its parent's; proposals take the
//             islands in turn and draw `weighted` within one, and every
//             `migration_interval`-th proposal shows the best of the next island as
//             a reference (ideas migrate, lineages do not mix).
// In every strategy the best design is among the references whenever it is not
// the parent (islands: the island's best, and the migrant when one is due). Ties are broken by id: the same nodes and seed give the same draw.
#pragma once

#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "util/result.h"

namespace asiarch::archive {

inline const std::vector<std::string>& selection_strategies() {
  static const std::vector<std::string> names = {"asi-arch", "weighted", "ucb1", "islands"};
  return names;
}

struct SelectionConfig {
  std::string strategy = "weighted";
  int pool_size = 50;   // candidates kept, best first
  int parent_top = 10;  // asi-arch and ucb1 draw the parent from the best this many
  int references = 2;   // references beside the parent (the best design among them)
  double sharpness = 3;         // weighted, islands: how strongly fitness above the median is preferred
  double exploration = 1.414;   // ucb1: c
  int islands = 4;              // islands: at most this many (one per root, in id order, then shared)
  int migration_interval = 5;   // islands: every this many proposals a migrant is shown
};

// One archived experiment as selection sees it.
struct Node {
  int64_t id = 0;
  std::optional<int64_t> parent;
  std::optional<double> fitness;  // none: failed or not scored yet
  bool eligible = false;          // may be a parent or reference: scored, with a source, not suspect
};

struct Selection {
  int64_t parent = 0;
  std::vector<int64_t> references;
  std::string strategy;
  double chance = 0;              // the parent's probability of being drawn (ucb1: 1, its value in `value`)
  double value = 0;               // ucb1: the parent's upper confidence bound
  int island = -1;                // islands: the island drawn from
  std::optional<int64_t> migrant; // islands: the other island's best, shown as a reference
};

// One arm of a UCB1 bandit: how often it was pulled and the sum of its rewards.
struct Arm {
  int64_t pulls = 0;
  double reward = 0;
};

// UCB1: the first arm never pulled, else the first with the largest mean + c * sqrt(ln N / n)
// (N: all pulls); its bound in `*value` (infinity for an untried arm). `arms` must not be empty.
size_t ucb1(const std::vector<Arm>& arms, double c, double* value);

// Checks a configuration: a known strategy, sensible numbers; the error names the setting.
Status check(const SelectionConfig& config);

// `turn`: how many proposals came before this one (islands take turns by it).
// Empty when no node is eligible.
std::optional<Selection> select(const std::vector<Node>& nodes, const SelectionConfig& config, std::mt19937_64& rng,
                                int64_t turn = 0);

}  // namespace asiarch::archive
