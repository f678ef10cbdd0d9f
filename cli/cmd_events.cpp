// `asiarch events [--since N] [--follow] [--json]`: the archive's event
// stream, oldest first; with --follow it keeps watching a running loop.
#include <CLI/CLI.hpp>

#include <signal.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <iostream>
#include <thread>

#include "archive/archive.h"
#include "archive/views.h"
#include "cli/commands.h"
#include "cli/inspect.h"

namespace asiarch::host {
namespace {

struct EventsArgs {
  std::string workdir = "asiarch-work";
  int64_t since = 0;
  bool follow = false;
  bool json = false;
};

volatile std::sig_atomic_t g_stop = 0;

void on_stop_signal(int) { g_stop = 1; }

// Data comes from agents and compilers: invalid UTF-8 must not end the stream.
std::string dump(const nlohmann::json& j) { return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace); }

// A word as it is when it is plain, else quoted with JSON escapes, so that
// every event stays on one line and a value's spaces cannot pass for a new key.
std::string word(const std::string& s) {
  bool plain = !s.empty();
  for (unsigned char c : s)
    if (c <= ' ' || c == '"' || c == '\\' || c == '=' || c == 0x7f) plain = false;
  return plain ? s : dump(nlohmann::json(s));
}

std::string text_line(const archive::Event& e) {
  std::string line = std::to_string(e.seq) + " " + word(e.time) + " " + word(e.kind) + " " +
                     (e.experiment ? "#" + std::to_string(*e.experiment) : std::string("-"));
  if (e.data.is_object()) {
    for (const auto& [k, v] : e.data.items()) line += " " + word(k) + "=" + (v.is_string() ? word(v) : dump(v));
  } else if (!e.data.is_null()) {
    line += " " + dump(e.data);
  }
  return line;
}

// Prints every event after *last, oldest first, and advances *last.
void print_new(const archive::Archive& a, int64_t* last, bool json) {
  for (;;) {
    const auto batch = a.events_since(*last, 1000);
    for (const auto& e : batch) {
      std::cout << (json ? dump(archive::event_view(e)) : text_line(e)) << "\n";
      *last = e.seq;
    }
    std::cout.flush();
    if (batch.size() < 1000) return;
  }
}

int cmd_events(const EventsArgs& args) {
  auto ar = open_workdir_archive(args.workdir);
  if (!ar) return std::cerr << "asiarch events: " << ar.error().message << "\n", 1;
  const auto& a = **ar;
  if (a.schema_version() < 4)
    return std::cerr << "asiarch events: " << a.path().string() << ": archive schema version " << a.schema_version()
                     << " has no events (they came with version 4; the next `asiarch run` on it migrates it)\n",
           1;
  // Installed before the first read, so a signal at any point stops the loop cleanly.
  if (args.follow) {
    struct sigaction sa {};
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, nullptr);
    sigaction(SIGTERM, &sa, nullptr);
  }
  int64_t last = args.since;
  try {
    print_new(a, &last, args.json);
    while (args.follow && !g_stop) {
      // Sleep in short steps: a stop signal is answered within ~20 ms.
      for (int i = 0; i < 10 && !g_stop; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(20));
      if (!g_stop) print_new(a, &last, args.json);
    }
  } catch (const std::exception& e) {
    std::cout.flush();
    std::cerr << "asiarch events: " << a.path().string() << ": cannot read events: " << e.what() << "\n";
    return 1;
  }
  return 0;
}

}  // namespace

void add_events_command(CLI::App& app, int& exit_code) {
  auto a = std::make_shared<EventsArgs>();
  CLI::App* cmd = app.add_subcommand(
      "events", "The run's events (seq time kind #experiment key=value...), oldest first; --follow keeps watching.");
  cmd->add_option("--workdir", a->workdir, "the run's workdir")->capture_default_str();
  cmd->add_option("--since", a->since, "only events with a sequence number above this")->capture_default_str();
  cmd->add_flag("--follow", a->follow, "after the events there are, print new ones as they come, until SIGINT/SIGTERM");
  cmd->add_flag("--json", a->json, "one JSON object per line: {seq, time, kind, experiment, data}");
  cmd->callback([a, &exit_code] { exit_code = cmd_events(*a); });
}

}  // namespace asiarch::host
