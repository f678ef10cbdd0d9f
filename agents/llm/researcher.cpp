#include "agents/llm/answer.h"
#include "agents/llm/prompts.h"
#include "agents/llm/roles.h"
#include "agents/offline/design.h"
#include "agents/views.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace asiarch::agents::llm {
namespace {

std::string count(int64_t n) { return std::to_string(n); }

// The model and the budget in numbers, as the parameter_budget gate checks them.
std::string contract_text(const Contract& c) {
  std::string s;
  if (c.d_model > 0)
    s += "- width d_model = " + count(c.d_model) + ", " + count(c.num_heads) + " heads (head dim " +
         count(c.num_heads > 0 ? c.d_model / c.num_heads : 0) + "), " + count(c.num_layers) +
         " layers; each layer is x + mixer(RMSNorm(x)) then x + SwiGLU-MLP(RMSNorm(x)); your mixer is built once per "
         "layer (cfg.layer_index 0.." + count(std::max<int64_t>(0, c.num_layers - 1)) + ").\n";
  char tol[16];
  std::snprintf(tol, sizeof tol, "%.0f%%", c.tolerance * 100);
  if (c.reference_mixer_parameters > 0 && c.reference_model_parameters > 0 && c.num_layers > 0) {
    const int64_t R = c.reference_model_parameters, rest = R - c.num_layers * c.reference_mixer_parameters;
    const auto lo = static_cast<int64_t>(std::ceil(static_cast<double>(R) * (1 - c.tolerance)));
    const auto hi = static_cast<int64_t>(std::floor(static_cast<double>(R) * (1 + c.tolerance)));
    const int64_t per_lo = std::max<int64_t>(0, (lo - rest + c.num_layers - 1) / c.num_layers);
    const int64_t per_hi = (hi - rest) / c.num_layers;
    s += "- parameter budget, as the gate checks it: the whole model must have within +-" + std::string(tol) +
         " of the same model with DeltaNet mixers (" + count(R) + "), i.e. " + count(lo) + " to " + count(hi) +
         ". The rest of the model (embeddings, MLPs, norms, head) has " + count(rest) + ", so each of the " +
         count(c.num_layers) + " mixers may have " + count(per_lo) + " to " + count(per_hi) +
         " parameters; one DeltaNet mixer has " + count(c.reference_mixer_parameters) + ".\n";
  } else if (c.reference_mixer_parameters > 0) {
    s += "- parameter budget: each mixer within +-" + std::string(tol) + " of one DeltaNet mixer's " +
         count(c.reference_mixer_parameters) + " parameters (the gate compares whole models once DeltaNet's is "
         "measured).\n";
  } else {
    s += "- parameter budget: within +-" + std::string(tol) + " of DeltaNet's parameter count at the same width.\n";
  }
  if (!c.tasks.empty()) s += "- each design is " + c.tasks;
  // How designs are ranked (results/fitness.h, the offline Judge's weights in docs/fitness.md): a
  // real model asked for it, having inferred it from the fitness parts.
  char scales[160];
  std::snprintf(scales, sizeof scales, "(%.3g * L_B), -1, 1)) on mean bits per byte L against the base's L_B (it saturates %.3g%% below "
                "it; the accuracy part at %.3g%% above", c.loss_scale, 100 * c.loss_scale, 100 * c.accuracy_scale);
  s += "- fitness, which ranks designs and picks parents, is 0 to 3, measured against the base " + c.fitness_base +
       " (the strongest of the run's baselines unless configured): the loss score sigma(6 * clamp((L_B - L) / " +
       scales + "), and a loss more than 10% below the best baseline's is flagged as leakage; 0.5 when no task "
       "measures bits per byte), the benchmark score the same on mean task accuracy (higher "
       "is better), and the judge score (w - 1) / 9, where w (1 to 10) weighs measured complexity exponents (0.3; "
       "10 at <= 1.1), parameters against DeltaNet's (0.2; 10 at <= 0.9x, 1 at >= 1.3x), training stability "
       "(0.3) and novelty (0.2), averaged with an LLM Judge's novelty, soundness, efficiency and scaling scores "
       "where there is one.\n";
  return s;
}

// An analysis under the label the answer names it by; one made of other experiments' analyses
// (a baseline parent's, from its children) carries their labels already.
std::string labelled_analysis(const ExperimentView& v) {
  if (v.analysis.find("[analysis-") != std::string::npos) return v.analysis;
  return "[" + analysis_label(v.id) + "] " + v.analysis;
}

// The labels the answer says it drew on that its request showed (in brackets); others are dropped,
// since a model may name what it was never shown.
std::vector<std::string> shown_labels(const std::vector<std::string>& claimed, const std::vector<Message>& messages) {
  std::vector<std::string> out;
  for (const auto& l : claimed) {
    if (std::find(out.begin(), out.end(), l) != out.end()) continue;
    for (const auto& m : messages)
      if (m.role == "user" && m.content.find("[" + l + "]") != std::string::npos) {
        out.push_back(l);
        break;
      }
  }
  return out;
}

// A design with its measured figures and the Analyst's reading, as references are shown.
std::string reference_text(const ExperimentView& r) {
  std::string s = "### " + r.name + " (experiment " + std::to_string(r.id) + ", " + r.origin + ")\n" + figures(r) +
                  "\nMotivation: " + r.motivation + "\n";
  if (!r.analysis.empty()) s += "Analysis: " + labelled_analysis(r) + "\n";
  return s + "```cpp\n" + r.source + "```\n\n";
}

class LlmResearcher : public Researcher {
 public:
  explicit LlmResearcher(std::shared_ptr<Client> c) : client_(std::move(c)) {}

  Result<Proposal> propose(const ResearchContext& ctx) override {
    auto t = load_template("researcher", client_->config().prompts_dir);
    if (!t) return t.error();
    std::vector<Part> parts;
    const auto& p = ctx.parent;
    parts.push_back({"contract", contract_text(ctx.contract), 0, false});
    parts.push_back({"proposal_number", std::to_string(ctx.number), 0, false});
    parts.push_back({"ops_summary", ops_summary(), 0, false});
    parts.push_back({"parent_name", p.name, 0, false});
    parts.push_back({"parent_id", std::to_string(p.id), 0, false});
    parts.push_back({"parent_motivation", p.motivation, 0, true});
    parts.push_back({"parent_results", figures(p), 0, true});
    parts.push_back({"parent_analysis", p.analysis.empty() ? "(none yet)" : labelled_analysis(p), 3, true});
    parts.push_back({"parent_source", p.source, 0, true});
    std::string refs;
    for (const auto& r : ctx.references) refs += reference_text(r);
    parts.push_back({"references", refs, 1, true});
    std::string know;
    if (ctx.retrieve)
      for (const auto& k : ctx.retrieve(p.name + " " + p.motivation, 5))
        know += "- [" + k.id + "] " + k.title + (k.year ? " (" + std::to_string(k.year) + ")" : "") + ": " + k.key_idea + "\n";
    parts.push_back({"cognition", know, 2, true});
    std::string rej;
    for (const auto& r : ctx.rejections) rej += "- " + r + "\n";
    parts.push_back({"rejections", rej, 0, true});
    const auto rs = role_settings(client_->config(), "researcher");
    const int64_t budget = client_->config().context_tokens - std::min<int64_t>(rs.max_tokens, client_->config().context_tokens / 3);
    Request req{"researcher", "propose", t->name, t->version, fit(*t, std::move(parts), budget), ctx.model};

    std::string last_error;
    for (int round = 0; round <= kCorrections; ++round) {
      Reply reply = client_->chat(req);
      if (!reply.ok) {
        if (reply.call.latency_seconds > 0 || reply.call.http_status) client_->finish(reply.call, Use::unusable, "no answer");
        return make_error((reply.unavailable ? "the LLM endpoint is unavailable: " : "") + reply.error);
      }
      auto made = read(reply.content, p.source);
      if (made) made->drew_on = shown_labels(made->drew_on, req.messages);
      if (made) {
        client_->finish(reply.call, Use::usable, "parsed: " + format_);
        return made;
      }
      last_error = made.error().message;
      client_->finish(reply.call, Use::unusable, "unusable: " + last_error);
      // One corrective request: the model sees its answer and what was wrong with it.
      req.purpose = "correct";
      req.messages.push_back({"assistant", reply.content.substr(0, 16000)});
      req.messages.push_back({"user", "Your answer could not be used: " + last_error +
                                          "\nAnswer again with the full C++ file, as "
                                          "{\"name\": \"...\", \"motivation\": \"...\", \"drew_on\": [...], \"code\": \"...\"}."});
    }
    return make_error("the Researcher's answer could not be used: " + last_error);
  }

 private:
  Result<Proposal> read(const std::string& content, const std::string& parent_source) {
    auto d = parse_design(content);
    if (!d) return d.error();
    std::string code = d->code;
    if (!d->edits.empty()) {
      auto applied = apply_edits(parent_source, d->edits);
      if (!applied) return make_error("edits did not apply: " + applied.error().message + "; send the full file instead");
      code = *applied;
    }
    if (auto st = check_contract(code); !st) return st.error();
    format_ = d->edits.empty() ? d->format : "edits applied";
    Proposal out;
    out.name = tidy_name(d->name);
    out.motivation = d->motivation;
    out.source = code;
    out.source_hash = normalised_source_hash(code);
    out.drew_on = d->drew_on;
    out.drew_on_stated = d->drew_on_stated;
    return out;
  }

  std::shared_ptr<Client> client_;
  std::string format_;
};

}  // namespace

std::unique_ptr<Researcher> make_researcher(std::shared_ptr<Client> client) {
  return std::make_unique<LlmResearcher>(std::move(client));
}

}  // namespace asiarch::agents::llm
