#include "agents/llm/answer.h"
#include "agents/llm/prompts.h"
#include "agents/llm/roles.h"
#include "agents/offline/roles.h"
#include "agents/views.h"
#include "util/diff.h"

namespace asiarch::agents::llm {
namespace {

std::string outcome_of(const ExperimentView& e) { return figures(e); }

class LlmAnalyst : public Analyst {
 public:
  explicit LlmAnalyst(std::shared_ptr<Client> c) : client_(std::move(c)), measured_(offline::make_analyst()) {}

  AnalystReport analyse(const ExperimentView& child, const std::vector<ExperimentView>& archive) override {
    AnalystReport fallback = measured_->analyse(child, archive);
    auto t = load_template("analyst", client_->config().prompts_dir);
    if (!t) return fallback;
    const ExperimentView* parent = nullptr;
    std::string siblings;
    for (const auto& e : archive) {
      if (child.parent && e.id == *child.parent) parent = &e;
      if (e.id != child.id && e.parent && child.parent && *e.parent == *child.parent)
        siblings += "### " + e.name + " (experiment " + std::to_string(e.id) + ")\nMotivation: " +
                    e.motivation.substr(0, 300) + "\n" + figures(e) + "\n\n";
    }
    const auto rs = role_settings(client_->config(), "analyst");
    const int64_t budget =
        client_->config().context_tokens - std::min<int64_t>(rs.max_tokens, client_->config().context_tokens / 3);
    Request req{"analyst", "analyse", t->name, t->version,
                fit(*t,
                    {{"child_name", child.name, 0, false},
                     {"child_id", std::to_string(child.id), 0, false},
                     {"child_motivation", child.motivation, 0, true},
                     {"child_outcome", outcome_of(child), 0, true},
                     {"diff", parent ? unified_diff(parent->source, child.source, child.name + ".cpp") : "", 0, true},
                     {"parent_name", parent ? parent->name : "(none)", 0, false},
                     {"parent_outcome", parent ? outcome_of(*parent) : "", 0, true},
                     {"siblings", siblings, 1, true}},
                    budget)};
    Reply reply = client_->chat(req);
    if (!reply.ok) {
      if (reply.call.latency_seconds > 0 || reply.call.http_status) client_->finish(reply.call, Use::unusable, "no answer");
      return fallback;
    }
    auto j = json_object(strip_think(reply.content));
    if (!j || !j->contains("analysis") || !(*j)["analysis"].is_string()) {
      client_->finish(reply.call, Use::unusable, "unusable: no JSON object with an \"analysis\" text");
      return fallback;
    }
    AnalystReport r;
    r.text = (*j)["analysis"].get<std::string>();
    r.insights = nlohmann::json::array();
    if (j->contains("insights") && (*j)["insights"].is_array())
      for (const auto& i : (*j)["insights"])
        if (i.is_string() && !i.get<std::string>().empty()) r.insights.push_back(i);
    // The measured effects stay beside the model's reading of them.
    for (const auto& i : fallback.insights) r.insights.push_back(i);
    r.text += "\n\nMeasured: " + fallback.text;
    client_->finish(reply.call, Use::usable, "parsed: analysis");
    return r;
  }

 private:
  std::shared_ptr<Client> client_;
  std::unique_ptr<Analyst> measured_;
};

}  // namespace

std::unique_ptr<Analyst> make_analyst(std::shared_ptr<Client> client) {
  return std::make_unique<LlmAnalyst>(std::move(client));
}

}  // namespace asiarch::agents::llm
