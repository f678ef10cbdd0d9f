// `asiarch status`, `pause`, `resume`, `tail`: talking to the daemon serving a workdir, found
// through DIR/daemon.json (written by `asiarch daemon`; it holds no token).
#include <CLI/CLI.hpp>

#include <httplib.h>

#include <cstdio>
#include <iostream>

#include "archive/archive.h"
#include "cli/commands.h"
#include "engine/events.h"
#include "util/files.h"

namespace asiarch::host {
namespace {

struct ClientArgs {
  std::string workdir = "asiarch-work";
  std::string token_file;
  bool json = false;
  int64_t since = -1;  // tail: -1 = only new events
};

struct Daemon {
  std::string host;
  int port = 0;
  std::string token;
};

Result<Daemon> find_daemon(const ClientArgs& a) {
  const auto path = std::filesystem::path(a.workdir) / "daemon.json";
  auto text = read_file(path);
  if (!text) return make_error("no daemon is serving " + a.workdir + " (no " + path.string() + ")");
  auto j = nlohmann::json::parse(*text, nullptr, false);
  if (!j.is_object() || !j.contains("port") || !j["port"].is_number_integer())
    return make_error(path.string() + ": not a daemon address file");
  Daemon d;
  d.host = j.value("host", "127.0.0.1");
  if (d.host == "0.0.0.0") d.host = "127.0.0.1";
  d.port = j["port"].get<int>();
  if (!a.token_file.empty()) {
    auto t = read_secret(a.token_file);
    if (!t) return t.error();
    d.token = *t;
  }
  return d;
}

httplib::Headers headers(const Daemon& d) {
  if (d.token.empty()) return {};
  return {{"Authorization", "Bearer " + d.token}};
}

// GET or POST `path`; the JSON answer, or why there is none.
Result<nlohmann::json> call(const ClientArgs& a, const std::string& method, const std::string& path) {
  auto d = find_daemon(a);
  if (!d) return d.error();
  httplib::Client c(d->host, d->port);
  c.set_connection_timeout(5, 0);
  auto r = method == "POST" ? c.Post(path, headers(*d), "", "application/json") : c.Get(path, headers(*d));
  if (!r)
    return make_error("no daemon answers at " + d->host + ":" + std::to_string(d->port) + " for " + a.workdir + " (" +
                      httplib::to_string(r.error()) + "); is it running?");
  auto j = nlohmann::json::parse(r->body, nullptr, false);
  if (r->status != 200)
    return make_error("the daemon answered " + std::to_string(r->status) + ": " +
                      (j.is_object() && j.contains("error") ? j["error"].get<std::string>() : r->body.substr(0, 200)));
  if (j.is_discarded()) return make_error("the daemon's answer is not JSON");
  return j;
}

int cmd_status(const ClientArgs& a) {
  auto s = call(a, "GET", "/api/status");
  if (!s) return std::cerr << "asiarch status: " << s.error().message << "\n", 1;
  if (a.json) return std::cout << s->dump(2) << "\n", 0;
  std::cout << "state: " << s->value("state", "?") << (s->value("paused", false) ? " (paused)" : "") << "; preset "
            << s->value("preset", "?") << "; " << s->value("workers", 0) << " worker(s); budget "
            << s->value("budget", 0) << "\n";
  std::string counts;
  for (const auto& [k, v] : s->value("counts", nlohmann::json::object()).items())
    counts += (counts.empty() ? "" : ", ") + std::to_string(v.get<int>()) + " " + k;
  std::cout << "experiments: " << (counts.empty() ? "none" : counts) << "\n";
  for (const auto& r : s->value("running", nlohmann::json::array()))
    std::cout << "in flight: #" << r.value("id", 0) << " " << r.value("name", "") << "\n";
  const auto llm = s->value("llm", nlohmann::json());
  if (llm.is_object()) {
    char buf[160];
    std::snprintf(buf, sizeof buf, "LLM: $%.4f spent; breaker %s", llm.value("spent_usd", 0.0),
                  llm.value("breaker", "closed").c_str());
    std::cout << buf << "\n";
  }
  return 0;
}

int cmd_switch(const ClientArgs& a, bool pause) {
  const char* name = pause ? "pause" : "resume";
  auto s = call(a, "POST", pause ? "/api/pause" : "/api/resume");
  if (!s) return std::cerr << "asiarch " << name << ": " << s.error().message << "\n", 1;
  std::cout << (pause ? "paused: no new proposals until `asiarch resume`" : "resumed") << "\n";
  return 0;
}

// Follows the daemon's event stream, printed as `run` prints it (or JSON lines), until it ends.
int cmd_tail(const ClientArgs& a) {
  auto d = find_daemon(a);
  if (!d) return std::cerr << "asiarch tail: " << d.error().message << "\n", 1;
  if (auto s = call(a, "GET", "/api/status"); !s) return std::cerr << "asiarch tail: " << s.error().message << "\n", 1;
  int64_t since = a.since;
  if (since < 0) {
    since = 0;
    // Only what is new: start from the archive's last event.
    const auto db = std::filesystem::path(a.workdir) / "archive.db";
    if (auto ar = archive::Archive::open_read_only(db)) since = (*ar)->last_event_seq();
  }
  httplib::Client c(d->host, d->port);
  c.set_read_timeout(3600, 0);
  TextSink text(std::cout);
  std::string buffer;
  auto r = c.Get("/api/events?since=" + std::to_string(since), headers(*d), [&](const char* data, size_t n) {
    buffer.append(data, n);
    for (size_t end; (end = buffer.find("\n\n")) != std::string::npos; buffer.erase(0, end + 2)) {
      const std::string block = buffer.substr(0, end);
      const auto at = block.find("data: ");
      if (at == std::string::npos) continue;  // a keep-alive
      auto j = nlohmann::json::parse(block.substr(at + 6), nullptr, false);
      if (!j.is_object()) continue;
      if (a.json) {
        std::cout << j.dump() << std::endl;
        continue;
      }
      archive::Event e;
      e.seq = j.value("seq", int64_t{0});
      e.time = j.value("time", "");
      e.kind = j.value("kind", "");
      if (j.contains("experiment") && j["experiment"].is_number_integer()) e.experiment = j["experiment"].get<int64_t>();
      e.data = j.value("data", nlohmann::json::object());
      text.publish(e);
    }
    return true;
  });
  if (!r) return std::cerr << "asiarch tail: the stream ended: " << httplib::to_string(r.error()) << "\n", 1;
  return 0;
}

CLI::App* add(CLI::App& app, const char* name, const char* help, const std::shared_ptr<ClientArgs>& a) {
  CLI::App* cmd = app.add_subcommand(name, help);
  cmd->add_option("--workdir", a->workdir, "the daemon's workdir")->capture_default_str();
  cmd->add_option("--token-file", a->token_file, "the daemon's token, when it requires one");
  return cmd;
}

}  // namespace

void add_client_commands(CLI::App& app, int& exit_code) {
  {
    auto a = std::make_shared<ClientArgs>();
    auto* c = add(app, "status", "What the daemon serving a workdir is doing: state, experiments, work in flight, LLM spend.", a);
    c->add_flag("--json", a->json, "print the daemon's JSON");
    c->callback([a, &exit_code] { exit_code = cmd_status(*a); });
  }
  {
    auto a = std::make_shared<ClientArgs>();
    add(app, "pause", "Ask the daemon to start no new proposals (work in flight goes on).", a)
        ->callback([a, &exit_code] { exit_code = cmd_switch(*a, true); });
  }
  {
    auto a = std::make_shared<ClientArgs>();
    add(app, "resume", "Ask a paused daemon to propose again.", a)
        ->callback([a, &exit_code] { exit_code = cmd_switch(*a, false); });
  }
  {
    auto a = std::make_shared<ClientArgs>();
    auto* c = add(app, "tail", "Follow the daemon's events as they happen (Ctrl-C stops).", a);
    c->add_option("--since", a->since, "start after this event (default: only new ones)");
    c->add_flag("--json", a->json, "one JSON object a line");
    c->callback([a, &exit_code] { exit_code = cmd_tail(*a); });
  }
}

}  // namespace asiarch::host
