// `asiarch repair FILE [--out FILE]`: run the offline Engineer on a
// hand-written plugin and print every attempt with its diagnostics and diff.
#include <CLI/CLI.hpp>

#include <iostream>

#include <nlohmann/json.hpp>

#include "agents/offline/engineer.h"
#include "cli/commands.h"
#include "worker/jit_context.h"
#include "util/files.h"

namespace asiarch::host {
namespace {

struct RepairArgs {
  std::string file;
  std::string out;
  int max_attempts = 4;
  std::string cache_dir;
  bool json = false;
};

int run_repair(const RepairArgs& a) {
  auto text = read_file(a.file);
  if (!text) {
    std::cerr << "asiarch repair: " << text.error().message << "\n";
    return 1;
  }
  auto jit = make_jit_context(a.cache_dir);
  if (!jit) {
    std::cerr << "asiarch repair: " << jit.error().message << "\n";
    return 1;
  }
  auto result = agents::repair(a.file, *text, [&](const std::string& f, const std::string& t) {
    auto b = jit->build_text(f, t);
    return agents::BuildOutcome{b.ok(), b.diagnostics};
  }, a.max_attempts);
  if (a.json) {
    nlohmann::json j = {{"file", a.file}, {"ok", result.ok}, {"gave_up", result.gave_up}, {"attempts", nlohmann::json::array()}};
    for (const auto& at : result.attempts)
      j["attempts"].push_back({{"number", at.number}, {"method", at.method}, {"answered", at.answered},
                               {"diff", at.diff}, {"ok", at.outcome.ok}, {"seconds", at.seconds},
                               {"diagnostics", at.outcome.diagnostics}});
    std::cout << j.dump(2) << "\n";
  } else {
    for (const auto& at : result.attempts) {
      std::cout << "== attempt " << at.number;
      if (!at.method.empty()) std::cout << " (" << at.method << ")";
      std::cout << ": " << (at.outcome.ok ? "builds" : "fails") << "\n";
      for (const auto& ans : at.answered) std::cout << "answers: " << ans << "\n";
      std::cout << at.diff << jit::to_text(at.outcome.diagnostics);
    }
    std::cout << (result.ok ? "repaired in " + std::to_string(result.attempts.size()) + " attempt(s)"
                            : "not repaired: " + result.gave_up)
              << "\n";
  }
  if (!a.out.empty()) {
    if (auto st = write_file_atomic(a.out, result.final_source); !st) {
      std::cerr << "asiarch repair: " << st.error().message << "\n";
      return 1;
    }
  }
  return result.ok ? 0 : 1;
}

}  // namespace

void add_repair_command(CLI::App& app, int& exit_code) {
  auto a = std::make_shared<RepairArgs>();
  CLI::App* cmd = app.add_subcommand(
      "repair",
      "Run the offline Engineer on a plugin: compile, apply clang's fix-its and rule-based repairs,\n"
      "recompile, up to --max-attempts. Prints every attempt with its diagnostics and diff.\n"
      "The input file is never modified; --out writes the final source.");
  cmd->add_option("file", a->file, "plugin .cpp")->required();
  cmd->add_option("--out", a->out, "write the final (repaired) source here");
  cmd->add_option("--max-attempts", a->max_attempts, "compile attempts, the first included")->capture_default_str();
  cmd->add_option("--cache-dir", a->cache_dir, "compile cache directory");
  cmd->add_flag("--json", a->json, "print the attempts as JSON");
  cmd->callback([a, &exit_code] { exit_code = run_repair(*a); });
}

}  // namespace asiarch::host
