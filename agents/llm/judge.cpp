#include <algorithm>
#include <cmath>

#include "agents/llm/answer.h"
#include "agents/llm/prompts.h"
#include "agents/llm/roles.h"
#include "agents/offline/roles.h"
#include "agents/views.h"

namespace asiarch::agents::llm {
namespace {

const char* const kCriteria[] = {"novelty", "soundness", "efficiency", "scaling"};

// The model's scores, or why they cannot be read. Each must be a number (or numeric text) in 1..10.
Result<nlohmann::json> read_scores(const std::string& content) {
  auto j = json_object(strip_think(content));
  if (!j) return make_error("no JSON object with the four scores");
  nlohmann::json out = nlohmann::json::object();
  for (const char* c : kCriteria) {
    if (!j->contains(c)) return make_error(std::string("no \"") + c + "\" score");
    const auto& v = (*j)[c];
    nlohmann::json s = v.is_object() ? v.value("score", nlohmann::json()) : v;
    double x = 0;
    if (s.is_number()) x = s.get<double>();
    else if (s.is_string()) {
      try {
        x = std::stod(s.get<std::string>());
      } catch (...) {
        return make_error(std::string("\"") + c + "\" is not a number");
      }
    } else {
      return make_error(std::string("\"") + c + "\" has no score");
    }
    if (!std::isfinite(x)) return make_error(std::string("\"") + c + "\" is not finite");
    out[c] = {{"score", std::clamp(x, 1.0, 10.0)},
              {"reason", v.is_object() && v.contains("reason") && v["reason"].is_string() ? v["reason"] : ""}};
  }
  return out;
}

class LlmJudge : public Judge {
 public:
  explicit LlmJudge(std::shared_ptr<Client> c) : client_(std::move(c)), measured_(offline::make_judge()) {}

  Judgement judge(const JudgeInput& in) override {
    Judgement j = measured_->judge(in);  // the measured judge stands on its own
    // A baseline's place is fixed, and a stage's re-scoring has no code to read: no call for them.
    if (in.candidate.origin == "baseline" || in.candidate.source.empty()) return j;
    auto t = load_template("judge", client_->config().prompts_dir);
    if (!t) return j;
    std::string measured;
    for (const auto& [name, p] : j.parts.items())
      measured += "- " + name + ": " + p.value("reason", "") + "\n";
    if (!j.parts.contains("novelty"))
      if (auto near = closest_source(in.candidate, in.archive)) measured += "- novelty: " + near->statement + "\n";
    std::string comparison = "### " + in.candidate.name + " (this design)\n" + figures(in.candidate) + "\n";
    for (size_t i = 0; i < in.comparisons.size(); ++i)  // the reference first
      comparison += "\n### " + in.comparisons[i].name + " (" + in.comparisons[i].origin + (i == 0 ? ", the reference" : "") +
                    ")\n" + figures(in.comparisons[i]) + "\n";
    std::string known;
    int n = 0;
    for (auto it = in.archive.rbegin(); it != in.archive.rend() && n < 12; ++it)
      if (it->id != in.candidate.id && (it->fitness || it->origin == "baseline")) {
        known += "- " + it->name + " (" + it->origin + ")\n";
        ++n;
      }
    const auto rs = role_settings(client_->config(), "judge");
    const int64_t budget =
        client_->config().context_tokens - std::min<int64_t>(rs.max_tokens, client_->config().context_tokens / 3);
    // The candidate's motivation is not shown, and its comments are removed: persuasion is not evidence.
    Request req{"judge", "judge", t->name, t->version,
                fit(*t,
                    {{"source", without_comments(in.candidate.source), 0, true},
                     {"measured", measured, 0, true},
                     {"comparison", comparison, 0, true},
                     {"known", known, 1, true}},
                    budget)};
    Reply reply = client_->chat(req);
    if (!reply.ok) {
      if (reply.call.latency_seconds > 0 || reply.call.http_status) client_->finish(reply.call, Use::unusable, "no answer");
      j.parts["llm"] = {{"error", reply.error}};
      return j;
    }
    auto scores = read_scores(reply.content);
    if (!scores) {
      client_->finish(reply.call, Use::unusable, "unusable: " + scores.error().message);
      j.parts["llm"] = {{"error", "unparseable answer: " + scores.error().message}};
      return j;  // the measured judge alone
    }
    double mean = 0;
    for (const char* c : kCriteria) mean += (*scores)[c]["score"].get<double>() / 4.0;
    client_->finish(reply.call, Use::usable, "parsed: scores");
    // Bounded: the model's part is half of the Judge's 1..10, the measured judge the other half.
    const double measured_score = j.score;
    j.score = 0.5 * measured_score + 0.5 * mean;
    j.parts["llm"] = {{"score", mean}, {"weight", 0.5}, {"model", reply.call.model}, {"criteria", *scores},
                      {"measured_score", measured_score}};
    return j;
  }

 private:
  std::shared_ptr<Client> client_;
  std::unique_ptr<Judge> measured_;
};

}  // namespace

std::string without_comments(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s.compare(i, 2, "//") == 0) {
      while (i < s.size() && s[i] != '\n') ++i;
      if (i < s.size()) out += '\n';
      continue;
    }
    if (s.compare(i, 2, "/*") == 0) {
      const size_t end = s.find("*/", i + 2);
      i = end == std::string::npos ? s.size() : end + 1;
      continue;
    }
    if (s[i] == '"') {
      const size_t start = i++;
      while (i < s.size() && s[i] != '"') i += s[i] == '\\' ? 2 : 1;
      out.append(s, start, std::min(i, s.size() - 1) - start + 1);
      continue;
    }
    out += s[i];
  }
  return out;
}

std::unique_ptr<Judge> make_judge(std::shared_ptr<Client> client) {
  return std::make_unique<LlmJudge>(std::move(client));
}

}  // namespace asiarch::agents::llm
