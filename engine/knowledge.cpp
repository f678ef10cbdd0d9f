#include "engine/knowledge.h"

namespace asiarch::host {

std::filesystem::path notes_dir(const std::filesystem::path& workdir) { return workdir / "cognition" / "notes"; }

Result<std::vector<cognition::Entry>> workdir_knowledge(const std::filesystem::path& workdir,
                                                        const archive::Archive* archive) {
  auto all = cognition::builtin_entries();
  if (!all) return all.error();
  auto notes = cognition::load_notes(notes_dir(workdir));
  if (!notes) return notes.error();
  all->insert(all->end(), notes->begin(), notes->end());
  if (!archive) return all;
  for (const auto& e : archive->experiments())
    for (const auto& an : archive->analyses(e.id)) {
      int n = 0;
      for (const auto& i : an.insights) {
        cognition::Entry c;
        c.id = "insight-" + std::to_string(e.id) + "-" + std::to_string(++n);
        c.title = "Insight from #" + std::to_string(e.id) + " " + e.name;
        c.key_idea = i.is_string() ? i.get<std::string>() : i.dump();
        c.topic = "insight";
        c.source = "insight #" + std::to_string(e.id);
        all->push_back(std::move(c));
      }
    }
  return all;
}

}  // namespace asiarch::host
