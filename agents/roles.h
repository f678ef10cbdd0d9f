// The four agent roles of the loop, as the engine sees them: a Researcher
// proposes a mixer as source, an Engineer revises a source that did not
// build or failed at run time, a Judge scores a measured candidate, an
// Analyst compares a child with its parent and siblings. Each backend
// (agents/offline/, next an LLM one) implements these; agents/factory.h
// makes them from the configuration. Nothing here depends on a backend's
// representation: a design is opaque JSON that only its proposer reads.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "jit/diagnostics.h"
#include "util/result.h"

namespace asiarch::lab {
struct EvalReport;
}

namespace asiarch::agents {

// One archived experiment as the roles read it.
struct ExperimentView {
  int64_t id = 0;
  std::string name;
  std::string origin;  // "evolved", "hand-written", "baseline"
  std::optional<int64_t> parent;
  std::string motivation;
  std::string source;                                  // the source as proposed
  nlohmann::json design = nlohmann::json::object();    // the proposer's representation; {} when none
  std::optional<double> fitness;                       // when scored
  bool failed = false;
  bool stopped = false;  // stopped early by the quality monitor: no score, its partial figures only
  std::string fail_reason;
  // Filled where a role needs them (the parent and references of a proposal, a judged candidate):
  nlohmann::json results = nlohmann::json::object();  // per-task metrics, fitness parts, gate measurements
  std::string analysis;                               // the Analyst's text on it
};

// ---- Researcher ------------------------------------------------------------

// What the cognition base holds on a subject (cognition/), as a proposer sees it.
struct Knowledge {
  std::string id;
  std::string title;
  int year = 0;
  std::string key_idea;
  std::string source;  // "built-in", a user's note, an insight of the Analyst's
};

// What a mixer is built into and must fit, as the gates check it (lab/gates.cpp parameter_budget):
// the whole model's parameters within +-tolerance of the same model with DeltaNet mixers.
struct Contract {
  int64_t d_model = 0, num_heads = 0, num_layers = 0;
  double tolerance = 0.3;
  int64_t reference_mixer_parameters = 0;  // one DeltaNet mixer at d_model; 0: not known yet
  int64_t reference_model_parameters = 0;  // the whole model with DeltaNet mixers; 0: not measured yet
  std::string tasks;  // how designs are trained and the tasks they are scored on, one line each
  // What fitness measures against (engine/scoring.h, FitnessBase): the baseline's name and the
  // relative gain at which the loss and accuracy parts saturate.
  std::string fitness_base = "delta_net";
  double loss_scale = 0.1, accuracy_scale = 0.1;
};

struct ResearchContext {
  Contract contract;
  ExperimentView parent;
  std::vector<ExperimentView> references;
  std::vector<ExperimentView> archive;  // every experiment, by id
  uint64_t seed = 0;                    // for this proposal: same archive and seed, same proposal
  // Whether the archive already holds this canonical design or normalised source.
  std::function<bool(const std::string& canonical, const std::string& source_hash)> known;
  // The best `k` entries of the cognition base for a query, best first; unset: none.
  std::function<std::vector<Knowledge>(const std::string& query, int k)> retrieve;
  // Recent rejections with their reasons (failed builds, failed gates, refused duplicates), newest last.
  std::vector<std::string> rejections;
  std::string model;  // an LLM backend: the model to ask (the engine's bandit chose it); empty: its default
  // Which proposal of the archive this is (evolved designs before it, plus one): an LLM request
  // for the next proposal differs from the last one's even where the rest of its context does not,
  // so an answer already made into a design is not replayed as the next one.
  int64_t number = 0;
};

// A name, a motivation and a full source file; a design only where the proposer has one.
struct Proposal {
  std::string name;
  std::string motivation;
  std::string source;
  nlohmann::json design = nlohmann::json::object();
  std::string canonical;    // the design's canonical form, for novelty; empty without a design
  std::string source_hash;  // of the normalised source
  // Where the idea came from: labels of the knowledge entries ("delta-rule-2021", "insight-3-1")
  // and analyses ("analysis-7", "effect:gate=..." for a measured effect) the proposer drew on;
  // stated: the proposer said so (an empty list then means "its own idea").
  std::vector<std::string> drew_on;
  bool drew_on_stated = false;
};

class Researcher {
 public:
  virtual ~Researcher() = default;
  virtual Result<Proposal> propose(const ResearchContext& context) = 0;
};

// ---- Engineer --------------------------------------------------------------

// A compile that failed: the source and its structured diagnostics.
struct BuildFailure {
  std::string file;  // the name the diagnostics give
  std::string source;
  jit::Diagnostics diagnostics;
  std::string failure;  // the compile itself did not finish (a worker that died), else empty
  int attempt = 0;      // 1-based compile attempt that failed
};

// A built source that failed when run: an exception, a failed gate with its
// reason, a non-finite loss, a worker that died.
struct RuntimeFailure {
  std::string file;
  std::string source;
  std::string stage;    // "gates", "training", "worker"
  std::string failure;  // the reason, as measured
  std::string log_tail; // the end of the worker's output, bounded
  int revision = 0;     // 1-based
};

// The Engineer's answer: a new source, or why there is none.
struct Revision {
  bool revised = false;
  std::string source;
  std::string method;                 // "fix-it", "rule:<name>", ... or why it declined
  std::vector<std::string> answered;  // the diagnostics or failure the change answers
  bool unavailable = false;           // the backend could not be asked now (an LLM endpoint down): ask again later
};

class Engineer {
 public:
  virtual ~Engineer() = default;
  virtual Revision revise_build(const BuildFailure& failure) = 0;
  virtual Revision revise_runtime(const RuntimeFailure& failure) = 0;
};

// ---- Judge -----------------------------------------------------------------

struct JudgeInput {
  const lab::EvalReport* report = nullptr;
  int64_t reference_parameters = 0;  // DeltaNet's at the same width
  ExperimentView candidate;          // no source: a stage's re-scoring, which no model is asked about
  std::vector<ExperimentView> archive;
  // What the candidate is measured against, with their results: the reference (DeltaNet) and the
  // strongest other baseline, where they are scored.
  std::vector<ExperimentView> comparisons;
};

struct Judgement {
  double score = 5.5;  // weighted, 1..10
  nlohmann::json parts = nlohmann::json::object();  // name -> {score, weight, reason}
};

class Judge {
 public:
  virtual ~Judge() = default;
  virtual Judgement judge(const JudgeInput& input) = 0;
};

// ---- Analyst ---------------------------------------------------------------

struct AnalystReport {
  std::string text;
  nlohmann::json insights = nlohmann::json::array();
};

class Analyst {
 public:
  virtual ~Analyst() = default;
  // `archive` holds the child as recorded (its fitness or failure included).
  virtual AnalystReport analyse(const ExperimentView& child, const std::vector<ExperimentView>& archive) = 0;
};

}  // namespace asiarch::agents
