// The offline Researcher's design space: a token mixer as a handful of
// genes (feature map, state update rule, decay, gates, short convolutions,
// normalisation, extra paths fused by a learned router, head layout), its
// canonical form (for novelty), and the plugin C++ source it stands for.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "util/result.h"
#include "util/similarity.h"

namespace asiarch::agents {

struct Design {
  std::string feature_map = "identity";  // identity | elu1 | relu | silu, applied to q and k
  std::string qk_norm = "l2";            // l2 | none (delta rules always use l2)
  std::string update = "delta";          // additive | decay | delta | gated_delta
  std::string decay = "data";            // data (Mamba2-style, per token) | fixed (per head)
  std::string beta = "sigmoid";          // sigmoid | sigmoid2 (2σ: eigenvalues of I-βkkᵀ in (-1, 1))
  std::string conv = "qkv";              // none | qk | v | qkv: short causal convolutions
  int conv_size = 4;                     // 2 | 4
  std::string norm = "rms";              // none | rms | gated_rms (RMSNorm(o) * silu(g_proj x))
  std::string gate = "none";             // none | silu | sigmoid output gate (not with gated_rms)
  std::vector<std::string> paths;        // extra paths beside the memory: conv (local), value (identity)
  std::string fusion = "sum";            // sum | router (per token and head softmax over the paths)
  int head_factor = 1;                   // 1 | 2: heads = num_heads * head_factor
  // The 2025-26 mechanisms (issue 28), through ops::dplr_chunkwise:
  std::string decay_width = "head";      // head | channel: a per-channel data-dependent decay (Kimi Delta Attention)
  std::string erase_write = "tied";      // tied (one beta) | separate: key-side erase and value-side write gates (GDN-2)
};

// The genes and the values each may take, in a fixed order.
struct Gene {
  std::string name;
  std::vector<std::string> values;
};
const std::vector<Gene>& design_genes();

// Gene values as strings ("paths" as "conv+value", "" when empty).
std::string gene_value(const Design& d, const std::string& gene);
// Sets a gene from its string form; unknown gene or value is an error naming it.
Status set_gene(Design& d, const std::string& gene, const std::string& value);

// Genes that do not matter for this design (e.g. decay for a delta rule)
// reset to defaults, paths sorted; two designs are the same mixer iff their
// normal forms are equal.
Design normalised(Design d);
// "feature_map=identity;qk_norm=l2;update=delta;..." of the normal form. The genes added after the
// first campaigns (decay_width, erase_write) appear only when not at their defaults, so every
// earlier design keeps its canonical form and name.
std::string canonical(const Design& d);
// Genes whose normal-form values differ: (gene, from, to).
std::vector<std::tuple<std::string, std::string, std::string>> differences(const Design& from, const Design& to);
// Fraction of genes that differ (normal forms).
double distance(const Design& a, const Design& b);

// A registry name: what is distinctive, plus a short hash of the canonical form.
std::string design_name(const Design& d);
// The plugin source (one self-contained file against <asiarch/plugin.h>).
std::string emit_source(const Design& d, const std::string& name, const std::string& motivation);
// util/similarity.h: the same code written twice has one hash.
using asiarch::normalised_source_hash;

nlohmann::json to_json(const Design& d);
// Errors name the field.
Result<Design> design_from_json(const nlohmann::json& j);

// The hand-written baselines as points of the design space (Mamba2 nearest:
// a data-dependent scalar decay with additive update), for seeding.
std::vector<std::pair<std::string, Design>> baseline_designs();

}  // namespace asiarch::agents
