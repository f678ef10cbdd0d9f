#include "agents/offline/researcher.h"
#include "util/format.h"

#include <cmath>
#include <cstdio>
#include <map>

namespace asiarch::agents {
namespace {

// Why a change might help: short notes from the literature, by "gene=value".
const std::map<std::string, std::string>& rationale() {
  static const std::map<std::string, std::string> notes = {
      {"update=delta", "the delta rule overwrites the value stored under a key instead of adding to it, which is what "
                       "associative recall needs (DeltaNet, Schlag et al. 2021; Yang et al. 2024)"},
      {"update=gated_delta", "a data-dependent decay on top of the delta rule lets the state forget stale "
                             "associations quickly (Gated DeltaNet, Yang et al. 2024)"},
      {"update=decay", "a per-token scalar decay of the state, as in Mamba2's SSD, trades recall for locality"},
      {"update=additive", "the plain additive state is the cheapest memory; a control for the richer rules"},
      {"decay=fixed", "a fixed per-head decay spectrum (RetNet) gives each head its own time scale"},
      {"decay=data", "a decay computed from the token lets the model choose when to forget (Mamba2)"},
      {"beta=sigmoid2", "β in (0, 2) lets I - βkkᵀ have negative eigenvalues, which helps state tracking "
                        "(Grazzi et al. 2024)"},
      {"beta=sigmoid", "β in (0, 1) keeps every update a contraction"},
      {"conv=qkv", "short causal convolutions on q, k and v give each token its neighbours' context before "
                   "it is written to memory"},
      {"conv=qk", "short convolutions on q and k only: local context for addressing, raw values for content"},
      {"conv=v", "a short convolution on v only smooths what is stored"},
      {"conv=none", "without convolutions the mixer is smaller and the memory must do all the work"},
      {"conv_size=2", "a shorter convolution is cheaper and more local"},
      {"conv_size=4", "a size-4 convolution is the common choice in DeltaNet and Mamba2"},
      {"feature_map=elu1", "elu+1 keeps q and k positive, as in Katharopoulos et al. 2020"},
      {"feature_map=relu", "a ReLU feature map gives sparse, positive keys"},
      {"feature_map=silu", "SiLU before normalisation, as in the DeltaNet reference code"},
      {"feature_map=identity", "no feature map: the projections alone shape the keys"},
      {"qk_norm=l2", "unit-norm queries and keys bound the state's growth"},
      {"qk_norm=none", "unnormalised keys let magnitude carry information"},
      {"norm=gated_rms", "an output gate through RMSNorm(o)·silu(g) (Mamba2, Gated DeltaNet) lets each token "
                         "choose what to read"},
      {"norm=rms", "per-head RMSNorm keeps the output scale stable"},
      {"norm=none", "no output normalisation: fewer operations, less stability"},
      {"gate=silu", "a SiLU output gate"},
      {"gate=sigmoid", "a sigmoid output gate"},
      {"gate=none", "no output gate"},
      {"paths=conv", "a local short-convolution path beside the memory handles nearby dependencies so the state "
                     "can specialise in long-range recall (multi-path designs of ASI-Arch)"},
      {"paths=value", "an identity value path lets information bypass the memory"},
      {"paths=conv+value", "local and identity paths beside the memory"},
      {"paths=", "a single memory path"},
      {"fusion=router", "a learned per-token, per-head router weighs the paths instead of summing them "
                        "(content-aware routing, ASI-Arch's PathGateFusionNet)"},
      {"fusion=sum", "paths summed with equal weight"},
      {"head_factor=2", "twice the heads at half the width: more, smaller memories"},
      {"head_factor=1", "the preset's head layout"},
      {"decay_width=channel", "a per-channel decay lets each key dimension keep its own time scale, so one head "
                              "holds both fast and slow memories (Kimi Delta Attention, 2025)"},
      {"decay_width=head", "one decay per head: cheaper, and the chunkwise kernel stays fast"},
      {"erase_write=separate", "separate key-side erase and value-side write gates decide what is removed and "
                               "what is committed independently, per channel (Gated DeltaNet-2, 2026)"},
      {"erase_write=tied", "one write strength beta both erases and writes, as the delta rule does"},
  };
  return notes;
}

struct Change {
  std::string gene, value;
};

// Single-gene changes of `d` that change its normal form.
std::vector<Change> neighbours(const Design& d) {
  std::vector<Change> out;
  const std::string here = canonical(d);
  for (const auto& g : design_genes())
    for (const auto& v : g.values) {
      Design n = d;
      if (!set_gene(n, g.name, v) || canonical(n) == here) continue;
      out.push_back({g.name, v});
    }
  return out;
}

// A gene in the words the cognition base uses for it.
std::string subject_of(const std::string& gene) {
  static const std::map<std::string, std::string> words = {
      {"feature_map", "kernel feature map linear attention"}, {"qk_norm", "query key L2 normalisation"},
      {"update", "state update rule"},        {"decay", "decay forget gate"},
      {"beta", "delta rule write strength beta"}, {"conv", "short convolution"},
      {"conv_size", "short convolution width"}, {"norm", "output normalisation RMSNorm"},
      {"gate", "output gate"},                 {"paths", "multiple paths convolution value"},
      {"fusion", "routing mixture"},           {"head_factor", "heads state size"},
      {"decay_width", "per-channel decay"},    {"erase_write", "erase and write gates"}};
  auto it = words.find(gene);
  return it == words.end() ? gene : it->second;
}

std::string because(const std::string& change, const std::map<std::string, const Effect*>& effects) {
  std::string why;
  if (auto it = rationale().find(change); it != rationale().end()) why = it->second;
  auto e = effects.find(change);
  std::string evidence = e == effects.end()
                             ? "untried in this archive, so worth exploring"
                             : "children that adopted it changed fitness by " + format_number(e->second->mean_delta, "%+.3f") +
                                   " on average (n=" + std::to_string(e->second->count) + ")";
  return why.empty() ? evidence : why + "; " + evidence;
}

}  // namespace

Result<DesignProposal> propose(const ResearchInput& in, std::mt19937_64& rng,
                         const std::function<bool(const std::string&, const std::string&)>& known,
                         const ResearcherConfig& config) {
  std::map<std::string, const Effect*> effects;
  for (const auto& e : in.effects) effects[e.change] = &e;
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  const Design parent = normalised(in.parent.design);

  for (int attempt = 0; attempt < config.max_tries; ++attempt) {
    Design child = parent;
    std::string crossover_note;
    if (!in.references.empty() && unit(rng) < config.crossover_probability) {
      const DesignRef& ref = in.references[std::uniform_int_distribution<size_t>(0, in.references.size() - 1)(rng)];
      auto diffs = differences(parent, ref.design);
      std::vector<std::string> taken;
      for (size_t i = 0; i < diffs.size(); ++i) {
        const auto& [gene, from, to] = diffs[i];
        const bool last_chance = taken.empty() && i + 1 == diffs.size();
        if (last_chance || unit(rng) < 0.5) {
          (void)set_gene(child, gene, to);
          taken.push_back(gene + "=" + (to.empty() ? "(none)" : to));
        }
      }
      if (!taken.empty()) {
        crossover_note = " Crossover with reference #" + std::to_string(ref.id) + " " + ref.name + " (fitness " +
                         format_number(ref.fitness, "%.3f") + "): took";
        for (const auto& t : taken) crossover_note += " " + t;
        crossover_note += ".";
      }
    }
    // Mutation: one change, chosen by softmax over expected gain.
    auto options = neighbours(child);
    if (options.empty()) continue;
    std::vector<double> w;
    for (const auto& c : options) {
      auto e = effects.find(c.gene + "=" + c.value);
      const double gain = e == effects.end() ? config.exploration_bonus : e->second->mean_delta;
      w.push_back(std::exp(std::clamp(gain, -1.0, 1.0) / config.temperature));
    }
    const Change pick = options[std::discrete_distribution<size_t>(w.begin(), w.end())(rng)];
    (void)set_gene(child, pick.gene, pick.value);
    child = normalised(child);

    auto diffs = differences(parent, child);
    if (diffs.empty()) continue;
    DesignProposal p;
    p.design = child;
    p.canonical = canonical(child);
    p.name = design_name(child);
    std::string m = "Child of #" + std::to_string(in.parent.id) + " " + in.parent.name + " (fitness " +
                    format_number(in.parent.fitness, "%.3f") + ")." + crossover_note + " Mutation: " + pick.gene + " -> " +
                    (pick.value.empty() ? "(none)" : pick.value) + ", because " +
                    because(pick.gene + "=" + pick.value, effects) + ".";
    if (effects.count(pick.gene + "=" + pick.value)) p.drew_on.push_back("effect:" + pick.gene + "=" + pick.value);
    // What the cognition base says of the change: the motivation cites it.
    if (in.retrieve) {
      const auto known = in.retrieve(subject_of(pick.gene) + " " + pick.value, 1);
      if (!known.empty()) p.drew_on.push_back(known[0].id);
      if (!known.empty())
        m += " Background: " + known[0].title + (known[0].year ? " (" + std::to_string(known[0].year) + ")" : "") +
             ": " + known[0].key_idea;
    }
    for (const auto& [gene, from, to] : diffs)
      p.changes.push_back(gene + ": " + (from.empty() ? "(none)" : from) + " -> " + (to.empty() ? "(none)" : to));
    m += " In all:";
    for (const auto& c : p.changes) m += " " + c + ";";
    p.motivation = m;
    p.source = emit_source(child, p.name, p.motivation);
    p.source_hash = normalised_source_hash(p.source);
    if (known && known(p.canonical, p.source_hash)) continue;
    return p;
  }
  return make_error("no novel design found in " + std::to_string(config.max_tries) + " tries around parent #" +
                    std::to_string(in.parent.id));
}

}  // namespace asiarch::agents
