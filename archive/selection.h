// Selection, as in ASI-Arch: a candidate pool of the best experiments by
// fitness; the parent is sampled from the top of the pool, references from
// the rest of it for diversity.
#pragma once

#include <cstdint>
#include <optional>
#include <random>
#include <utility>
#include <vector>

namespace asiarch::archive {

struct SelectionConfig {
  int pool_size = 50;   // candidates kept, best first
  int parent_top = 10;  // the parent comes from the best this many
  int references = 2;   // references sampled from the rest of the pool
};

struct Selection {
  int64_t parent = 0;
  std::vector<int64_t> references;
};

// `candidates`: (experiment id, fitness), any order. Ties are broken by id,
// so the same archive and seed give the same selection. Empty when there
// are no candidates. References come from the pool below the parent's top;
// when that is empty, from the other members of the top.
std::optional<Selection> select(std::vector<std::pair<int64_t, double>> candidates, const SelectionConfig& config,
                                std::mt19937_64& rng);

}  // namespace asiarch::archive
