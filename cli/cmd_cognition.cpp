// `asiarch cognition search "query" [-k N] [--json]` and `asiarch cognition
// add FILE`: what the agents would retrieve from the cognition base (the
// built-in entries, the workdir's notes, the Analyst's insights), and adding a
// note of one's own.
#include <CLI/CLI.hpp>

#include <iostream>

#include <nlohmann/json.hpp>

#include "cognition/cognition.h"
#include "cli/commands.h"
#include "cli/inspect.h"
#include "engine/knowledge.h"
#include "util/files.h"

namespace asiarch::host {
namespace {

struct CognitionArgs {
  std::string workdir = "asiarch-work";
  std::string query;
  int k = 5;
  bool json = false;
  std::string file;
};

Result<std::vector<cognition::Entry>> everything(const std::string& workdir) {
  std::error_code ec;
  if (!std::filesystem::exists(std::filesystem::path(workdir) / "archive.db", ec))
    return workdir_knowledge(workdir, nullptr);
  auto a = open_workdir_archive(workdir);
  if (!a) return a.error();
  return workdir_knowledge(workdir, a->get());
}

nlohmann::json to_json(const cognition::Hit& h) {
  const auto& e = h.entry;
  return {{"id", e.id},           {"title", e.title},         {"year", e.year},
          {"topic", e.topic},     {"key_idea", e.key_idea},   {"mechanism", e.mechanism},
          {"strengths", e.strengths}, {"weaknesses", e.weaknesses}, {"when_it_helps", e.when_it_helps},
          {"build_with_ops", e.build_with_ops}, {"source", e.source}, {"score", h.score}};
}

int cmd_search(const CognitionArgs& a) {
  auto all = everything(a.workdir);
  if (!all) return std::cerr << "asiarch cognition: " << all.error().message << "\n", 1;
  auto index = cognition::Index::build(*all);
  if (!index) return std::cerr << "asiarch cognition: " << index.error().message << "\n", 1;
  const auto hits = index->search(a.query, a.k);
  if (a.json) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& h : hits) out.push_back(to_json(h));
    std::cout << out.dump(2) << "\n";
    return 0;
  }
  if (hits.empty()) std::cout << "nothing matches \"" << a.query << "\" among " << index->size() << " entries\n";
  for (size_t i = 0; i < hits.size(); ++i) std::cout << (i ? "\n" : "") << i + 1 << ". " << cognition::format_entry(hits[i].entry);
  return 0;
}

int cmd_add(const CognitionArgs& a) {
  auto text = read_file(a.file);
  if (!text) return std::cerr << "asiarch cognition add: " << text.error().message << "\n", 1;
  auto e = cognition::parse_entry(*text, a.file);
  if (!e) return std::cerr << "asiarch cognition add: " << e.error().message << "\n", 1;
  for (char c : e->id)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_')
      return std::cerr << "asiarch cognition add: " << a.file << ": field \"id\" may hold only letters, digits, '-' and '_'\n", 1;
  auto all = everything(a.workdir);
  if (!all) return std::cerr << "asiarch cognition add: " << all.error().message << "\n", 1;
  for (const auto& x : *all)
    if (x.id == e->id)
      return std::cerr << "asiarch cognition add: " << a.file << ": an entry with id \"" << e->id << "\" exists ("
                       << x.source << ")\n",
             1;
  const auto path = notes_dir(a.workdir) / (e->id + ".json");
  if (auto st = write_file_atomic(path, *text); !st) return std::cerr << "asiarch cognition add: " << st.error().message << "\n", 1;
  std::cout << "added \"" << e->title << "\" as " << path.string() << "\n";
  return 0;
}

}  // namespace

void add_cognition_command(CLI::App& app, int& exit_code) {
  auto a = std::make_shared<CognitionArgs>();
  CLI::App* cmd = app.add_subcommand("cognition", "The cognition base the agents draw on: search it, add a note.");
  cmd->require_subcommand(1);
  CLI::App* search = cmd->add_subcommand("search", "The entries a query retrieves, best first (BM25 over SQLite FTS5).");
  search->add_option("query", a->query, "words to look for")->required();
  search->add_option("-k", a->k, "how many entries")->capture_default_str();
  search->add_flag("--json", a->json, "a JSON array of entries with their scores");
  search->add_option("--workdir", a->workdir, "whose notes and insights to search too")->capture_default_str();
  search->callback([a, &exit_code] { exit_code = cmd_search(*a); });
  CLI::App* add = cmd->add_subcommand("add", "Adds a note (a JSON entry: id, title, key_idea, ...) to the workdir's base.");
  add->add_option("file", a->file, "the note, as JSON")->required();
  add->add_option("--workdir", a->workdir, "the workdir whose base gets it")->capture_default_str();
  add->callback([a, &exit_code] { exit_code = cmd_add(*a); });
}

}  // namespace asiarch::host
