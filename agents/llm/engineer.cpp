#include "agents/llm/answer.h"
#include "agents/llm/prompts.h"
#include "agents/llm/roles.h"
#include "agents/offline/engineer.h"

namespace asiarch::agents::llm {
namespace {

constexpr int kMaxErrors = 8;          // diagnostics shown, errors first
constexpr size_t kMaxProblem = 12000;  // bytes of diagnostics or log in a prompt

std::string located(const jit::Diagnostic& d) {
  return std::to_string(d.line) + ":" + std::to_string(d.column) + ": " + d.message;
}

class LlmEngineer : public Engineer {
 public:
  explicit LlmEngineer(std::shared_ptr<Client> c) : client_(std::move(c)) {}

  Revision revise_build(const BuildFailure& f) override {
    if (!f.failure.empty()) return {false, "", "declined: the compile itself did not finish: " + f.failure, {}};
    // Clang's own fix-its first: exact, and free.
    std::string text = f.source;
    if (auto answered = apply_fixits(f.file, f.diagnostics, text); !answered.empty())
      return {true, text, "fix-it", answered};
    std::string problem;
    std::vector<std::string> answered;
    int shown = 0;
    for (const bool errors : {true, false})
      for (const auto& d : f.diagnostics.items) {
        const bool is_error = d.severity == jit::Severity::error || d.severity == jit::Severity::fatal;
        if (is_error != errors || d.severity == jit::Severity::note || shown >= kMaxErrors) continue;
        if (!errors && d.severity != jit::Severity::warning) continue;
        problem += jit::to_text(d) + "\n";
        if (is_error) answered.push_back(located(d));
        ++shown;
      }
    if (f.diagnostics.dropped > 0 || shown >= kMaxErrors)
      problem += "(further diagnostics left out; fix these first)\n";
    if (problem.size() > kMaxProblem) problem = problem.substr(0, kMaxProblem) + "\n[cut]\n";
    return ask(f.file, f.source, "compiler diagnostics", problem, "revise_build", answered);
  }

  Revision revise_runtime(const RuntimeFailure& f) override {
    std::string problem = "Stage: " + f.stage + "\nFailure: " + f.failure + "\n";
    if (!f.log_tail.empty()) {
      std::string tail = f.log_tail;
      if (tail.size() > kMaxProblem / 2) tail = "..." + tail.substr(tail.size() - kMaxProblem / 2);
      problem += "The end of the worker's output:\n" + tail + "\n";
    }
    return ask(f.file, f.source, "a failure at run time", problem, "revise_runtime", {f.stage + ": " + f.failure});
  }

 private:
  Revision ask(const std::string& file, const std::string& source, const std::string& kind, const std::string& problem,
               const std::string& purpose, const std::vector<std::string>& answered) {
    auto t = load_template("engineer", client_->config().prompts_dir);
    if (!t) return {false, "", "declined: " + t.error().message, {}};
    const auto rs = role_settings(client_->config(), "engineer");
    const int64_t budget =
        client_->config().context_tokens - std::min<int64_t>(rs.max_tokens, client_->config().context_tokens / 3);
    Request req{"engineer", purpose, t->name, t->version,
                fit(*t,
                    {{"ops_summary", ops_summary(), 1, false},
                     {"file", file, 0, false},
                     {"numbered_source", numbered(source), 0, true},
                     {"problem_kind", kind, 0, false},
                     {"problem", problem, 0, true}},
                    budget)};
    std::string last_error;
    for (int round = 0; round <= kCorrections; ++round) {
      Reply reply = client_->chat(req);
      if (!reply.ok) {
        if (reply.call.latency_seconds > 0 || reply.call.http_status) client_->finish(reply.call, Use::unusable, "no answer");
        Revision r{false, "", "declined: the LLM endpoint gave no answer: " + reply.error, {}};
        r.unavailable = reply.unavailable;
        return r;
      }
      std::string format;
      auto code = read(reply.content, source, format);
      if (code) {
        client_->finish(reply.call, Use::usable, "parsed: " + format);
        return {true, *code, "llm:" + reply.call.model, answered};
      }
      last_error = code.error().message;
      client_->finish(reply.call, Use::unusable, "unusable: " + last_error);
      req.purpose = purpose + "_correct";
      req.messages.push_back({"assistant", reply.content.substr(0, 16000)});
      req.messages.push_back({"user", "Your answer could not be used: " + last_error +
                                          "\nAnswer again with the full corrected file in one ```cpp block."});
    }
    return {false, "", "declined: the Engineer's answer could not be used: " + last_error, {}};
  }

  // The code in an answer; `format` says how it was given. No member state: candidates may be
  // repaired at once, each on its own thread.
  Result<std::string> read(const std::string& content, const std::string& source, std::string& format) const {
    const std::string text = strip_think(content);
    std::string code;
    if (auto edits = edit_blocks(text); !edits.empty()) {
      auto applied = apply_edits(source, edits);
      if (!applied) return make_error("edits did not apply: " + applied.error().message);
      code = *applied;
      format = "edits applied";
    } else if (auto b = code_block(text)) {
      if (!b->closed) return make_error("the ```cpp block is not closed: the answer was cut off");
      code = b->code;
      format = "full file";
    } else if (auto j = json_object(text); j && j->contains("code") && (*j)["code"].is_string()) {
      code = (*j)["code"].get<std::string>();
      format = "json";
    } else {
      return make_error("the answer holds no code: neither a ```cpp block nor SEARCH/REPLACE edits");
    }
    if (auto st = check_contract(code); !st) return st.error();
    return code;
  }

  std::shared_ptr<Client> client_;
};

}  // namespace

std::unique_ptr<Engineer> make_engineer(std::shared_ptr<Client> client) {
  return std::make_unique<LlmEngineer>(std::move(client));
}

}  // namespace asiarch::agents::llm
