// `asiarch baselines [--preset P]`: evaluate every baseline plugin and store
// the reference table fitness and the quality monitor use. Stored results are
// reused while the plugin source, preset and seed are unchanged.
#include <CLI/CLI.hpp>

#include <algorithm>
#include <filesystem>
#include <iostream>

#include "cli/commands.h"
#include "worker/lab_setup.h"
#include "lab/threads.h"
#include "util/files.h"
#include "util/hash.h"

namespace asiarch::host {
namespace {

struct BaselinesArgs {
  std::string preset = "explore";
  std::string presets_file;
  std::vector<std::string> tasks;
  std::string workdir = "asiarch-work";
  std::string cache_dir;
  std::string dir;
  std::uint64_t seed = 0;
  bool json = false;
  bool force = false;
};

std::string print_table(const nlohmann::json& table, const std::vector<std::string>& order) {
  std::vector<std::string> tasks;
  for (const auto& name : order) {
    if (!table.contains(name)) continue;
    for (const auto& t : table[name]["report"]["tasks"])
      if (std::find(tasks.begin(), tasks.end(), t["task"]) == tasks.end()) tasks.push_back(t["task"]);
  }
  std::string out;
  char buf[128];
  std::snprintf(buf, sizeof buf, "%-20s %8s", "mixer", "params");
  out += buf;
  for (const auto& t : tasks) {
    std::snprintf(buf, sizeof buf, " %12.12s", t.c_str());
    out += buf;
  }
  out += "\n";
  for (const auto& name : order) {
    if (!table.contains(name)) continue;
    const auto& r = table[name]["report"];
    std::snprintf(buf, sizeof buf, "%-20s %8lld", name.c_str(), r["mixer_parameters"].get<long long>());
    out += buf;
    for (const auto& t : tasks) {
      std::string cell = "-";
      for (const auto& tr : r["tasks"])
        if (tr["task"] == t) {
          std::snprintf(buf, sizeof buf, "%.3f%s", tr["metric"].get<double>(),
                        tr["stop_reason"] == "completed" ? "" : "*");
          cell = buf;
        }
      std::snprintf(buf, sizeof buf, " %12s", cell.c_str());
      out += buf;
    }
    out += "\n";
  }
  out += "(accuracy: class-macro-averaged, higher is better; byte_lm: bits per byte, lower is better; "
         "* = stopped early)\n";
  return out;
}

int run_baselines(const BaselinesArgs& a) {
  auto preset = load_preset_arg(a.preset, a.presets_file);
  if (!preset) {
    std::cerr << "asiarch baselines: " << preset.error().message << "\n";
    return 2;
  }
  if (auto t = lab::select_tasks(*preset, a.tasks); !t) {
    std::cerr << "asiarch baselines: " << t.error().message << "\n";
    return 2;
  }
  if (test_only(*preset) && !a.json) std::cerr << "asiarch baselines: preset " << a.preset << ": " << preset->description << "\n";
  // This command trains in-process: the preset's threads (lab/threads.h).
  lab::set_compute_threads(preset->train.threads);
  const std::string dir = a.dir.empty() ? default_baselines_dir() : a.dir;
  std::vector<std::string> files;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec))
    if (e.path().extension() == ".cpp") files.push_back(e.path().string());
  if (ec || files.empty()) {
    std::cerr << "asiarch baselines: no baseline plugins in " << dir << (ec ? ": " + ec.message() : "") << "\n";
    return 1;
  }
  // DeltaNet first: it is the reference the others are monitored against.
  std::sort(files.begin(), files.end(), [](const std::string& x, const std::string& y) {
    const std::string ref = "/" + std::string(lab::kReferenceDesign) + ".cpp";
    const bool dx = x.find(ref) != std::string::npos, dy = y.find(ref) != std::string::npos;
    return dx != dy ? dx : x < y;
  });
  auto jit = make_jit_context(a.cache_dir);
  if (!jit) {
    std::cerr << "asiarch baselines: " << jit.error().message << "\n";
    return 1;
  }
  const auto path = baseline_table_path(a.workdir, preset->name);
  nlohmann::json table = load_baseline_table(path);
  const std::string preset_text = a.presets_file.empty() ? lab::embedded_presets() : read_file(a.presets_file).value();
  std::vector<std::string> order;
  bool ok = true;
  for (const auto& file : files) {
    auto source = read_file(file);
    if (!source) continue;
    std::string tasks_key;
    for (const auto& t : a.tasks) tasks_key += t + ",";
    const std::string key = sha256_hex(*source + '\0' + nlohmann::json::parse(preset_text)[preset->name].dump() + '\0' +
                                       std::to_string(a.seed) + '\0' + tasks_key);
    const std::string name = std::filesystem::path(file).stem().string();
    order.push_back(name);
    if (!a.force && table.contains(name) && table[name].value("key", "") == key) {
      std::cerr << name << ": stored result reused (" << path.string() << ")\n";
      continue;
    }
    std::cerr << name << ": evaluating on " << preset->name << "\n";
    PluginEvalRequest req;
    req.file = file;
    req.preset = *preset;
    req.options.tasks = a.tasks;
    req.options.seed = a.seed;
    req.options.progress = [](const nlohmann::json& m) {
      if (m.value("kind", "") != "training_progress") std::cerr << "  " << lab::describe_progress(m) << "\n";
    };
    req.cache_dir = a.cache_dir;
    req.workdir = a.workdir;
    req.use_references = false;  // baselines are the references
    auto out = evaluate_plugin_file(*jit, req);
    if (!out.build.ok() || !out.report) {
      std::cerr << name << ": " << (out.error.empty() ? jit::to_text(out.build.diagnostics) : out.error) << "\n";
      ok = false;
      continue;
    }
    table[name] = {{"key", key}, {"file", file}, {"seed", a.seed}, {"report", *out.report}};
    if (auto st = write_file_atomic(path, table.dump(1)); !st) {
      std::cerr << "asiarch baselines: " << st.error().message << "\n";
      return 1;
    }
  }
  if (a.json) {
    nlohmann::json subset = nlohmann::json::object();
    for (const auto& n : order)
      if (table.contains(n)) subset[n] = table[n];
    std::cout << subset.dump(2) << "\n";
  } else {
    std::cout << "baselines on preset " << preset->name << " (stored in " << path.string() << ")\n\n"
              << print_table(table, order);
  }
  return ok ? 0 : 1;
}

}  // namespace

void add_baselines_command(CLI::App& app, int& exit_code) {
  auto a = std::make_shared<BaselinesArgs>();
  CLI::App* cmd = app.add_subcommand(
      "baselines",
      "Evaluate every baseline plugin (softmax attention, linear attention, DeltaNet, Gated DeltaNet,\n"
      "Mamba2) on a preset and store the reference table used by fitness and the quality monitor.\n"
      "Stored results are reused while the plugin source, preset and seed are unchanged.");
  cmd->add_option("--preset", a->preset, "smoke | explore | verify")->capture_default_str();
  cmd->add_option("--presets", a->presets_file, "a presets JSON file to use instead of the built-in one");
  cmd->add_option("--tasks", a->tasks, "comma-separated task names (default: all)")->delimiter(',');
  cmd->add_option("--workdir", a->workdir, "where the table is stored")->capture_default_str();
  cmd->add_option("--cache-dir", a->cache_dir, "compile and corpus cache directory");
  cmd->add_option("--dir", a->dir, "baseline plugin directory (default: the source tree's plugins/baselines)");
  cmd->add_option("--seed", a->seed, "seed")->capture_default_str();
  cmd->add_flag("--json", a->json, "print the table as JSON");
  cmd->add_flag("--force", a->force, "re-evaluate even when a stored result matches");
  cmd->callback([a, &exit_code] { exit_code = run_baselines(*a); });
}

}  // namespace asiarch::host
