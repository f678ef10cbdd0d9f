// `asiarch settings [--markdown]`: every setting of `asiarch run`, from the
// table that also parses asiarch.json and declares the flags; --markdown
// prints the table docs/discovery.md holds.
#include <CLI/CLI.hpp>

#include <iostream>

#include "cli/commands.h"
#include "config/run_settings.h"

namespace asiarch::host {

void add_settings_command(CLI::App& app, int& /*exit_code*/) {
  auto markdown = std::make_shared<bool>(false);
  CLI::App* cmd = app.add_subcommand(
      "settings",
      "List the settings of `asiarch run`: their keys in <workdir>/asiarch.json (\"a.b\" is the key b of\n"
      "the object a), flags, values and defaults. Flags win over the file, the file over the defaults.");
  cmd->add_flag("--markdown", *markdown, "print the table as docs/discovery.md has it");
  cmd->callback([markdown] {
    if (*markdown) {
      std::cout << settings_markdown();
      return;
    }
    for (const auto& s : run_settings()) {
      std::cout << s.key << (s.flag.empty() ? "" : " (" + s.flag + ")") << ": " << s.type.describe();
      if (const std::string d = s.default_text(); !d.empty()) std::cout << "; default " << d;
      std::cout << "\n    " << s.help << "\n";
    }
  });
}

}  // namespace asiarch::host
