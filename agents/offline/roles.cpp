#include "agents/offline/roles.h"

#include <algorithm>
#include <cstdio>
#include <random>

#include "agents/offline/analyst.h"
#include "agents/offline/design.h"
#include "agents/offline/engineer.h"
#include "agents/offline/judge.h"
#include "agents/offline/researcher.h"
#include "agents/views.h"
#include "util/similarity.h"

namespace asiarch::agents::offline {
namespace {

std::optional<Design> design_of(const ExperimentView& e) {
  if (e.design.empty()) return std::nullopt;
  auto d = design_from_json(e.design);
  if (!d) return std::nullopt;
  return *d;
}

Lineage lineage_of(const ExperimentView& e) {
  Lineage l;
  l.id = e.id;
  l.name = e.name;
  l.parent = e.parent;
  l.design = design_of(e);
  l.fitness = e.fitness;
  l.failed = e.failed || e.stopped;  // a change that left its design clearly behind counts against it
  l.fail_reason = e.fail_reason;
  return l;
}

std::vector<Lineage> lineages_of(const std::vector<ExperimentView>& all) {
  std::vector<Lineage> out;
  out.reserve(all.size());
  for (const auto& e : all) out.push_back(lineage_of(e));
  return out;
}

std::string fmt(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f", v);
  return buf;
}

class OfflineResearcher : public Researcher {
 public:
  Result<Proposal> propose(const ResearchContext& ctx) override {
    ResearchInput in;
    in.retrieve = ctx.retrieve;
    std::string note;
    if (auto d = design_of(ctx.parent)) {
      in.parent = {ctx.parent.id, ctx.parent.name, *d, ctx.parent.fitness.value_or(0)};
    } else {
      // A parent outside the design space (a hand-written plugin): the child is drawn
      // from the design whose source reads most like the parent's.
      struct Near {
        std::string what;
        Design design;
        double similarity = -1;
      } best;
      for (const auto& e : ctx.archive) {
        if (e.id == ctx.parent.id) continue;
        auto ed = design_of(e);
        if (!ed) continue;
        const double s = source_similarity(ctx.parent.source, e.source);
        if (s > best.similarity) best = {"experiment #" + std::to_string(e.id) + " " + e.name, *ed, s};
      }
      for (const auto& [name, d] : baseline_designs()) {
        const double s = source_similarity(ctx.parent.source, emit_source(d, name, ""));
        if (s > best.similarity) best = {"the design space's " + name + " point", d, s};
      }
      in.parent = {ctx.parent.id, ctx.parent.name, best.design, ctx.parent.fitness.value_or(0)};
      note = "Parent #" + std::to_string(ctx.parent.id) + " " + ctx.parent.name +
             " has no design in the gene space (" + ctx.parent.origin +
             "), so this child is drawn from the nearest design-bearing one, " + best.what +
             " (token-shingle similarity " + fmt(best.similarity) + " to the parent's source). ";
    }
    for (const auto& r : ctx.references)
      if (auto d = design_of(r)) in.references.push_back({r.id, r.name, *d, r.fitness.value_or(0)});
    in.effects = aggregate_effects(lineages_of(ctx.archive));
    std::mt19937_64 rng(ctx.seed);
    auto p = agents::propose(in, rng, ctx.known);
    if (!p) return p.error();
    Proposal out;
    out.name = p->name;
    out.motivation = note + p->motivation;
    out.design = to_json(p->design);
    out.canonical = p->canonical;
    // The note is part of the motivation the source carries in its header comment.
    out.source = note.empty() ? p->source : emit_source(p->design, p->name, out.motivation);
    out.source_hash = p->source_hash;
    out.drew_on = p->drew_on;
    out.drew_on_stated = true;
    return out;
  }
};

class OfflineEngineer : public Engineer {
 public:
  Revision revise_build(const BuildFailure& f) override {
    Revision r;
    if (!f.failure.empty()) {
      r.method = "declined: the compile did not finish (" + f.failure + "); nothing to repair";
      return r;
    }
    std::string text = f.source;
    auto step = repair_step(f.file, f.diagnostics, text);
    if (step.answered.empty()) {
      r.method = "declined: " + step.declined;
      return r;
    }
    r.method = std::move(step.method);
    r.answered = std::move(step.answered);
    r.revised = true;
    r.source = std::move(text);
    return r;
  }

  Revision revise_runtime(const RuntimeFailure& f) override {
    Revision r;
    r.method = "declined: the offline Engineer has rules for compiler diagnostics only, none for a " + f.stage +
               " failure";
    return r;
  }
};

class OfflineAnalyst : public Analyst {
 public:
  AnalystReport analyse(const ExperimentView& child, const std::vector<ExperimentView>& archive) override {
    return agents::analyse(lineage_of(child), lineages_of(archive));
  }
};

class OfflineJudge : public Judge {
 public:
  Judgement judge(const JudgeInput& in) override {
    JudgeInputs ji;
    ji.report = in.report;
    ji.reference_parameters = in.reference_parameters;
    // Novelty: the distance to the nearest other design in the archive.
    if (auto self = design_of(in.candidate)) {
      double nearest = 1.0;
      for (const auto& e : in.archive)
        if (e.id != in.candidate.id)
          if (auto d = design_of(e)) nearest = std::min(nearest, distance(*self, *d));
      ji.novelty = nearest;
    } else if (!in.candidate.source.empty()) {
      // Free-form code has no genes: its distance is to the closest archived source, names ignored.
      if (auto near = closest_source(in.candidate, in.archive)) {
        ji.novelty = 1 - near->similarity;
        ji.novelty_reason = near->statement;
      }
    }
    return agents::judge(ji);
  }
};

}  // namespace

std::unique_ptr<Researcher> make_researcher() { return std::make_unique<OfflineResearcher>(); }
std::unique_ptr<Engineer> make_engineer() { return std::make_unique<OfflineEngineer>(); }
std::unique_ptr<Analyst> make_analyst() { return std::make_unique<OfflineAnalyst>(); }
std::unique_ptr<Judge> make_judge() { return std::make_unique<OfflineJudge>(); }

}  // namespace asiarch::agents::offline
