// `asiarch daemon`: the loop kept going with the HTTP API beside it, driven as a user would,
// with a real HTTP client against the real server.
#include <gtest/gtest.h>

#include <httplib.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>
#include <sys/wait.h>

#include <fstream>
#include <map>
#include <set>
#include <thread>

#include <nlohmann/json.hpp>

#include "cli_run.h"
#include "serve/access.h"
#include "serve/http_api.h"
#include "llm/fake_server.h"

using namespace asiarch::testing;
namespace fs = std::filesystem;

namespace {

nlohmann::json get_json(httplib::Client& c, const std::string& path, int want = 200) {
  auto r = c.Get(path.c_str());
  if (!r) return nlohmann::json();
  EXPECT_EQ(r->status, want) << path << ": " << r->body;
  auto j = nlohmann::json::parse(r->body, nullptr, false);
  EXPECT_FALSE(j.is_discarded()) << path << ": " << r->body;
  return j;
}

// Kills the daemon if a test ends early; `stop()` is the clean way, and says how it exited.
struct Running {
  pid_t pid;
  ~Running() {
    if (pid > 0) {
      ::kill(pid, SIGKILL);
      wait_exit(pid);
    }
  }
  int stop() {
    ::kill(pid, SIGTERM);
    const int rc = wait_exit(pid);
    pid = -1;
    return rc;
  }
};

}  // namespace

TEST(Daemon, ServesTheArchiveWhileItDiscoversAnswersBadRequestsPausesAndStopsCleanly) {
  const auto w = fresh_dir("daemon");
  std::ofstream(w / "asiarch.json") << R"({"baselines": ["delta_net"], "recheck": 0})";
  const int port = free_port();
  Running daemon{spawn_cli({"daemon", "--workdir", w.string(), "--port", std::to_string(port), "--preset", "smoke",
                               "--budget", "1"},
                              w / "daemon.log")};
  httplib::Client c("127.0.0.1", port);
  c.set_read_timeout(10, 0);
  ASSERT_TRUE(wait_until([&] { return static_cast<bool>(c.Get("/api/status")); }, 60)) << text_of(w / "daemon.log");
  // The budget met, it keeps serving (idle), it does not exit.
  ASSERT_TRUE(wait_until(
      [&] {
        auto s = get_json(c, "/api/status");
        return s.value("state", "") == "idle" && s["counts"].value("scored", 0) + s["counts"].value("failed", 0) == 2;
      },
      180))
      << text_of(w / "daemon.log");
  auto status = get_json(c, "/api/status");
  EXPECT_EQ(status["paused"], false);
  EXPECT_EQ(status["preset"], "smoke");
  EXPECT_TRUE(status.contains("version"));
  EXPECT_EQ(::kill(daemon.pid, 0), 0);

  auto all = c.Get("/api/experiments?sort=-id&limit=1");
  ASSERT_TRUE(all);
  EXPECT_EQ(all->get_header_value("X-Total-Count"), "2");
  auto rows = nlohmann::json::parse(all->body);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0]["id"], 2);
  for (const char* k : {"id", "name", "origin", "status", "fitness", "parent", "created_at", "fail_reason"})
    EXPECT_TRUE(rows[0].contains(k)) << k;
  EXPECT_EQ(get_json(c, "/api/experiments?origin=baseline").size(), 1u);
  EXPECT_EQ(get_json(c, "/api/experiments?q=DELTA_NET")[0]["name"], "delta_net");
  EXPECT_EQ(get_json(c, "/api/experiments/2")["id"], 2);
  EXPECT_FALSE(get_json(c, "/api/experiments/2/history")["attempts"].empty());
  auto diff = get_json(c, "/api/experiments/2/diff");
  EXPECT_EQ(diff["parent"], 1);
  EXPECT_NE(diff["diff"].get<std::string>().find("@@"), std::string::npos);
  auto lineage = get_json(c, "/api/lineage");
  EXPECT_EQ(lineage["nodes"].size(), 2u);
  EXPECT_EQ(lineage["edges"].size(), 1u);

  // Bad requests: clear JSON errors, and the daemon stays up.
  EXPECT_NE(get_json(c, "/api/experiments/999", 404)["error"].get<std::string>().find("no experiment 999"), std::string::npos);
  EXPECT_NE(get_json(c, "/api/experiments/abc", 400)["error"].get<std::string>().find("positive integer"), std::string::npos);
  EXPECT_NE(get_json(c, "/api/experiments?limit=ten", 400)["error"].get<std::string>().find("\"limit\""), std::string::npos);
  EXPECT_NE(get_json(c, "/api/experiments?limit=5000", 400)["error"].get<std::string>().find("at most 1000"), std::string::npos);
  EXPECT_NE(get_json(c, "/api/experiments?status=great", 400)["error"].get<std::string>().find("\"status\""), std::string::npos);
  EXPECT_NE(get_json(c, "/api/nothing", 404)["error"].get<std::string>().find("no such route"), std::string::npos);
  auto huge = c.Post("/api/pause", std::string(200 * 1024, 'x'), "application/json");
  ASSERT_TRUE(huge);
  EXPECT_EQ(huge->status, 413);
  EXPECT_EQ(get_json(c, "/api/status")["paused"], false);  // the refused request changed nothing

  // Pause and resume, seen in the status and the event stream.
  auto p = c.Post("/api/pause");
  ASSERT_TRUE(p);
  EXPECT_EQ(p->status, 200);
  EXPECT_TRUE(wait_until([&] { return get_json(c, "/api/status").value("state", "") == "paused"; }, 10));
  ASSERT_TRUE(c.Post("/api/resume"));
  EXPECT_TRUE(wait_until([&] { return get_json(c, "/api/status").value("state", "") == "idle"; }, 10));
  std::string stream;
  int64_t last_id = 0;
  auto sse = c.Get("/api/events?since=0", [&](const char* data, size_t n) {
    stream.append(data, n);
    return stream.find("event: resumed") == std::string::npos;  // stop reading once it came
  });
  EXPECT_NE(stream.find("event: scored"), std::string::npos);
  EXPECT_NE(stream.find("event: paused"), std::string::npos);
  const auto at = stream.rfind("id: ");
  ASSERT_NE(at, std::string::npos);
  last_id = std::stoll(stream.substr(at + 4));
  // Resumable: from the last id on, nothing old comes again.
  httplib::Headers h = {{"Last-Event-ID", std::to_string(last_id)}};
  std::string rest;
  c.Get("/api/events", h, [&](const char* data, size_t n) {
    rest.append(data, n);
    return rest.find("keep-alive") == std::string::npos;
  });
  EXPECT_EQ(rest.find("event: scored"), std::string::npos) << rest;

  // A second daemon on the same workdir is refused, naming it and the running one's pid.
  auto second = run_cli("daemon --workdir " + w.string() + " --port " + std::to_string(free_port()));
  EXPECT_EQ(second.status, 1);
  EXPECT_NE(second.output.find(w.string() + " is already served by the asiarch daemon with pid " + std::to_string(daemon.pid)),
            std::string::npos)
      << second.output;

  EXPECT_EQ(daemon.stop(), 0) << text_of(w / "daemon.log");
  EXPECT_FALSE(c.Get("/api/status"));
  // Its log: every event, a JSON object a line.
  const std::string log = text_of(w / "logs" / "daemon.log");
  EXPECT_NE(log.find("\"kind\":\"scored\""), std::string::npos) << log.substr(0, 500);
  EXPECT_NE(log.find("\"kind\":\"paused\""), std::string::npos);
  fs::remove_all(w);
}

TEST(Daemon, ANonLoopbackAddressNeedsATokenAndATokenIsThenRequiredOfEveryRequest) {
  const auto w = fresh_dir("daemon-token");
  auto open = run_cli("daemon --workdir " + w.string() + " --host 0.0.0.0 --port " + std::to_string(free_port()));
  EXPECT_EQ(open.status, 2);
  EXPECT_NE(open.output.find("binding to 0.0.0.0 (not loopback) requires a token: --token-file FILE"), std::string::npos)
      << open.output;
  EXPECT_FALSE(fs::exists(w / "archive.db"));  // refused before anything was written

  std::ofstream(w / "token") << "s3cret-token\n";
  std::ofstream(w / "asiarch.json") << R"({"baselines": []})";  // nothing to evaluate: it idles
  const int port = free_port();
  Running daemon{spawn_cli({"daemon", "--workdir", w.string(), "--port", std::to_string(port), "--token-file",
                               (w / "token").string(), "--preset", "smoke"},
                              w / "daemon.log")};
  httplib::Client c("127.0.0.1", port);
  ASSERT_TRUE(wait_until([&] { return static_cast<bool>(c.Get("/api/status")); }, 60)) << text_of(w / "daemon.log");
  auto no = c.Get("/api/status");
  EXPECT_EQ(no->status, 401);
  EXPECT_NE(no->body.find("Authorization: Bearer"), std::string::npos);
  httplib::Headers wrong = {{"Authorization", "Bearer nope"}}, right = {{"Authorization", "Bearer s3cret-token"}};
  EXPECT_EQ(c.Get("/api/status", wrong)->status, 401);
  auto yes = c.Get("/api/status", right);
  EXPECT_EQ(yes->status, 200);
  EXPECT_EQ(daemon.stop(), 0) << text_of(w / "daemon.log");
  fs::remove_all(w);
}

TEST(Daemon, TheCliFindsTheDaemonOfAWorkdirShowsItsStatusPausesResumesAndTailsItsEvents) {
  const auto w = fresh_dir("daemon-cli");
  auto none = run_cli("status --workdir " + w.string());
  EXPECT_EQ(none.status, 1);
  EXPECT_NE(none.output.find("no daemon is serving " + w.string()), std::string::npos) << none.output;
  std::ofstream(w / "asiarch.json") << R"({"baselines": []})";
  const int port = free_port();
  Running daemon{spawn_cli({"daemon", "--workdir", w.string(), "--port", std::to_string(port), "--preset", "smoke"},
                              w / "daemon.log")};
  ASSERT_TRUE(wait_until([&] { return fs::exists(w / "daemon.json"); }, 60)) << text_of(w / "daemon.log");
  const auto tail_log = w / "tail.log";
  const pid_t tail = spawn_cli({"tail", "--workdir", w.string()}, tail_log);
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));  // the tail is connected
  auto p = run_cli("pause --workdir " + w.string());
  EXPECT_EQ(p.status, 0) << p.output;
  ASSERT_TRUE(wait_until(
      [&] {
        auto s = run_cli("status --json --workdir " + w.string());
        auto j = nlohmann::json::parse(s.output, nullptr, false);
        return s.status == 0 && j.is_object() && j.value("state", "") == "paused";
      },
      20));
  auto text = run_cli("status --workdir " + w.string());
  EXPECT_EQ(text.status, 0);
  EXPECT_NE(text.output.find("state: paused"), std::string::npos) << text.output;
  EXPECT_EQ(run_cli("resume --workdir " + w.string()).status, 0);
  EXPECT_TRUE(wait_until([&] { return text_of(tail_log).find("resumed") != std::string::npos; }, 20)) << text_of(tail_log);
  EXPECT_NE(text_of(tail_log).find("paused: no new proposals until resumed"), std::string::npos) << text_of(tail_log);
  ::kill(tail, SIGTERM);
  wait_exit(tail);
  EXPECT_EQ(daemon.stop(), 0) << text_of(w / "daemon.log");
  EXPECT_FALSE(fs::exists(w / "daemon.json"));  // gone with the daemon
  auto after = run_cli("status --workdir " + w.string());
  EXPECT_EQ(after.status, 1);
  fs::remove_all(w);
}

namespace {

std::string baseline_source(const std::string& name) {
  return text_of(fs::path(ASIARCH_SOURCE_DIR) / "plugins" / "baselines" / (name + ".cpp"));
}

nlohmann::json plugin_row(httplib::Client& c, const std::string& file) {
  auto res = c.Get("/api/plugins");  // 503 until the loop has created the archive
  if (!res || res->status != 200) return nlohmann::json::object();
  for (const auto& r : nlohmann::json::parse(res->body))
    if (r["file"] == file) return r;
  return nlohmann::json::object();
}

}  // namespace

TEST(Daemon, PicksUpDroppedPluginsRefusesBadFilesAndAttemptsAFixedFileAgain) {
  const auto w = fresh_dir("daemon-drop");
  std::ofstream(w / "asiarch.json") << R"({"baselines": ["delta_net"], "recheck": 0, "plugin_max_kb": 64})";
  const int port = free_port();
  Running daemon{spawn_cli({"daemon", "--workdir", w.string(), "--port", std::to_string(port), "--preset", "smoke",
                               "--budget", "0", "--researcher", "offline", "--max-runtime-revisions", "0",
                               "--pool-size", "1"},
                              w / "daemon.log")};
  httplib::Client c("127.0.0.1", port);
  c.set_read_timeout(10, 0);
  ASSERT_TRUE(wait_until([&] { return static_cast<bool>(c.Get("/api/status")); }, 60)) << text_of(w / "daemon.log");
  ASSERT_TRUE(c.Post("/api/pause"));  // no proposals: only what is dropped is evaluated
  const auto drop = w / "plugins";

  // A file written in two halves is read once, whole.
  const std::string good = baseline_source("linear_attention");
  {
    std::ofstream out(drop / "mine.cpp");
    out << good.substr(0, good.size() / 2) << std::flush;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    out << good.substr(good.size() / 2);
  }
  // A plugin that does not build: its diagnostics are served with their lines.
  std::string broken = baseline_source("delta_net");
  const std::string bad_line = "    int64_t heads_twice = \"two\";\n";
  const auto at = broken.find("    return o_proj_(");
  ASSERT_NE(at, std::string::npos);
  broken.insert(at, bad_line);
  const int line = 1 + static_cast<int>(std::count(broken.begin(), broken.begin() + at, '\n'));
  for (const auto& [from, to] : std::vector<std::pair<std::string, std::string>>{{"DeltaNet", "Fragile"}, {"delta_net", "fragile"}})
    for (size_t p = broken.find(from); p != std::string::npos; p = broken.find(from, p + to.size())) broken.replace(p, from.size(), to);
  std::ofstream(drop / "fragile.cpp") << broken;
  // Refused: not UTF-8 (Latin-1, an overlong form, a surrogate), too large, a symlink, a hard link
  // to a file elsewhere, a name that would act on a terminal.
  std::ofstream(drop / "latin1.cpp") << "// caf\xe9\n" << good;
  std::ofstream(drop / "overlong.cpp") << "// \xc0\xaf\n" << good;
  std::ofstream(drop / "surrogate.cpp") << "// \xed\xa0\x80\n" << good;
  std::ofstream(drop / "huge.cpp") << good << std::string(70 * 1024, ' ');
  fs::create_symlink("/etc/hostname", drop / "outside.cpp");
  std::ofstream(w / "elsewhere.cpp") << good;
  fs::create_hard_link(w / "elsewhere.cpp", drop / "linked.cpp");
  const std::string ansi = "\x1b]0;owned\x07\x1b[2Jansi.cpp";
  std::ofstream(drop / ansi) << good;

  ASSERT_TRUE(wait_until(
      [&] {
        auto m = plugin_row(c, "mine.cpp"), f = plugin_row(c, "fragile.cpp");
        return m.value("state", "") == "scored" && f.value("state", "") == "failed";
      },
      180))
      << get_json(c, "/api/plugins").dump(1) << text_of(w / "daemon.log");
  auto refused = [&](const std::string& file, const std::string& why) {
    auto r = plugin_row(c, file);
    EXPECT_EQ(r.value("state", ""), "refused") << file << ": " << r.dump();
    EXPECT_NE(r.value("reason", "").find(why), std::string::npos) << file << ": " << r.dump();
  };
  refused("latin1.cpp", "not UTF-8");
  refused("huge.cpp", "larger than the plugin size limit");
  refused("overlong.cpp", "not UTF-8 (an invalid byte at offset 3)");
  refused("surrogate.cpp", "not UTF-8 (an invalid byte at offset 3)");
  refused("outside.cpp", "a symlink (to /etc/hostname)");
  refused("linked.cpp", "a hard link");
  refused(ansi, "a file name with control characters");
  // The daemon's log (its terminal) shows that name escaped, never raw.
  const std::string log = text_of(w / "daemon.log");
  EXPECT_EQ(log.find("\x1b]0;owned"), std::string::npos);
  EXPECT_NE(log.find("\\x1b]0;owned\\x07\\x1b[2Jansi.cpp"), std::string::npos) << log.substr(0, 3000);

  const int64_t fragile = plugin_row(c, "fragile.cpp")["experiment"]["id"];
  auto history = get_json(c, "/api/experiments/" + std::to_string(fragile) + "/history");
  ASSERT_FALSE(history["attempts"].empty());
  bool shown = false;
  for (const auto& d : history["attempts"][0]["diagnostics"]["items"])
    shown = shown || (d["line"] == line && d["message"].get<std::string>().find("cannot initialize") != std::string::npos);
  EXPECT_TRUE(shown) << history["attempts"][0]["diagnostics"].dump(1);
  EXPECT_EQ(get_json(c, "/api/experiments?origin=hand-written&q=mine").size(), 1u);  // read once

  // Saving a fixed version is a new attempt, linked to the same file; the old one keeps its history.
  broken.erase(broken.find(bad_line), bad_line.size());
  std::ofstream(drop / "fragile.cpp") << broken;
  ASSERT_TRUE(wait_until(
      [&] {
        auto f = plugin_row(c, "fragile.cpp");
        return f.value("state", "") == "scored" && f["experiment"]["id"] != fragile;
      },
      180))
      << get_json(c, "/api/plugins").dump(1);
  EXPECT_EQ(get_json(c, "/api/experiments/" + std::to_string(fragile))["status"], "failed");
  fs::remove(drop / "mine.cpp");  // removing a file deletes no history
  EXPECT_EQ(get_json(c, "/api/experiments?q=mine").size(), 1u);
  EXPECT_EQ(daemon.stop(), 0) << text_of(w / "daemon.log");
  fs::remove_all(w);
}

TEST(Daemon, SighupReloadsTheConfigurationAndABadOneIsRefusedWithTheOldKept) {
  const auto w = fresh_dir("daemon-hup");
  std::ofstream(w / "asiarch.json") << R"({"baselines": ["delta_net"], "recheck": 0, "budget": 1})";
  const int port = free_port();
  Running daemon{spawn_cli({"daemon", "--workdir", w.string(), "--port", std::to_string(port), "--preset", "smoke"},
                              w / "daemon.log")};
  httplib::Client c("127.0.0.1", port);
  c.set_read_timeout(10, 0);
  auto evolved_scored = [&]() -> size_t {  // 503 until the loop has created the archive
    auto r = c.Get("/api/experiments?origin=evolved&status=scored");
    return r && r->status == 200 ? nlohmann::json::parse(r->body).size() : 0;
  };
  ASSERT_TRUE(wait_until([&] { return static_cast<bool>(c.Get("/api/status")) && evolved_scored() == 1 &&
                                      get_json(c, "/api/status").value("state", "") == "idle"; },
                         120))
      << text_of(w / "daemon.log");
  // A broken file: refused, the old configuration kept, the daemon up.
  std::ofstream(w / "asiarch.json") << R"({"baselines": ["delta_net"], "budget": 2,)";
  ::kill(daemon.pid, SIGHUP);
  ASSERT_TRUE(wait_until([&] { return text_of(w / "daemon.log").find("configuration NOT reloaded") != std::string::npos; }, 20))
      << text_of(w / "daemon.log");
  EXPECT_NE(text_of(w / "daemon.log").find("asiarch.json: not valid JSON"), std::string::npos);
  std::this_thread::sleep_for(std::chrono::milliseconds(1000));
  EXPECT_EQ(evolved_scored(), 1u);
  EXPECT_EQ(get_json(c, "/api/status")["budget"], 1);
  // A good one: the budget is raised and the loop goes on; a setting that needs a restart says so.
  std::ofstream(w / "asiarch.json") << R"({"baselines": ["delta_net"], "recheck": 0, "budget": 2, "seed": 9})";
  ::kill(daemon.pid, SIGHUP);
  ASSERT_TRUE(wait_until([&] { return evolved_scored() == 2; }, 120)) << text_of(w / "daemon.log");
  const std::string log = text_of(w / "daemon.log");
  EXPECT_NE(log.find("configuration reloaded: [\"budget\"]; needs a restart: [\"seed\"]"), std::string::npos) << log;
  EXPECT_EQ(get_json(c, "/api/status")["budget"], 2);
  EXPECT_EQ(daemon.stop(), 0) << text_of(w / "daemon.log");
  fs::remove_all(w);
}

// The daemon stopped mid-experiment, cleanly (SIGTERM) and then brutally (SIGKILL), and
// restarted each time: every experiment finishes exactly once, none is lost or proposed twice.
TEST(Daemon, StoppedOrKilledMidExperimentThenRestartedLosesAndDuplicatesNothing) {
  const auto w = fresh_dir("daemon-restart");
  std::ofstream(w / "asiarch.json") << R"({"baselines": ["delta_net"], "recheck": 0})";
  const int port = free_port();
  auto start = [&](const std::string& log) {
    return Running{spawn_cli({"daemon", "--workdir", w.string(), "--port", std::to_string(port), "--preset", "smoke",
                              "--budget", "2"},
                             w / log)};
  };
  httplib::Client c("127.0.0.1", port);
  c.set_read_timeout(10, 0);
  // An evolved experiment (the baseline is #1) in a worker right now; its id.
  auto evolved_running = [&](int64_t& id) {
    auto s = get_json(c, "/api/status");
    if (!s.contains("running")) return false;
    for (const auto& r : s["running"])
      if (r.value("id", 0) >= 2) return id = r["id"].get<int64_t>(), true;
    return false;
  };
  int64_t first = 0, second = 0;
  {
    Running d = start("daemon-1.log");
    ASSERT_TRUE(wait_until([&] { return static_cast<bool>(c.Get("/api/status")); }, 60)) << text_of(w / "daemon-1.log");
    ASSERT_TRUE(wait_until([&] { return evolved_running(first); }, 300)) << text_of(w / "daemon-1.log");
    std::this_thread::sleep_for(std::chrono::milliseconds(300));  // into its compile or training (smoke takes seconds)
    EXPECT_EQ(d.stop(), 0) << text_of(w / "daemon-1.log");
  }
  EXPECT_NE(text_of(w / "daemon-1.log").find("stopped; it will be evaluated again on resume"), std::string::npos);
  {
    Running d = start("daemon-2.log");
    ASSERT_TRUE(wait_until([&] { return static_cast<bool>(c.Get("/api/status")); }, 60)) << text_of(w / "daemon-2.log");
    ASSERT_TRUE(wait_until([&] { return evolved_running(second); }, 300)) << text_of(w / "daemon-2.log");
    // The interrupted experiment is taken up again, not replaced by a new proposal.
    EXPECT_EQ(second, first) << text_of(w / "daemon-2.log");
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    ::kill(d.pid, SIGKILL);
    EXPECT_EQ(wait_exit(d.pid), 128 + SIGKILL);
    d.pid = -1;
  }
  {
    Running d = start("daemon-3.log");
    ASSERT_TRUE(wait_until([&] { return static_cast<bool>(c.Get("/api/status")); }, 60)) << text_of(w / "daemon-3.log");
    ASSERT_TRUE(wait_until(
        [&] {
          auto s = get_json(c, "/api/status");
          return s.value("state", "") == "idle" && s["counts"].value("scored", 0) + s["counts"].value("failed", 0) == 3;
        },
        420))
        << text_of(w / "daemon-3.log");
    // Three experiments (the baseline and the budget of two), each finished once, none twice.
    auto all = get_json(c, "/api/experiments?limit=100");
    ASSERT_EQ(all.size(), 3u) << all.dump();
    std::set<std::string> names;
    for (const auto& e : all) {
      names.insert(e["name"].get<std::string>());
      EXPECT_TRUE(e["status"] == "scored" || e["status"] == "failed") << e.dump();
    }
    EXPECT_EQ(names.size(), 3u);
    std::map<int64_t, int> finished;
    std::string stream;
    const std::string last = "id: " + std::to_string(get_json(c, "/api/status")["last_event"].get<int64_t>()) + "\n";
    c.Get("/api/events?since=0", [&](const char* data, size_t n) {
      stream.append(data, n);
      return stream.find(last) == std::string::npos;  // every event up to the newest
    });
    for (size_t at = 0; (at = stream.find("data: ", at)) != std::string::npos; ++at) {
      auto ev = nlohmann::json::parse(stream.substr(at + 6, stream.find('\n', at) - at - 6), nullptr, false);
      if (ev.is_object() && (ev["kind"] == "scored" || ev["kind"] == "failed")) ++finished[ev["experiment"].get<int64_t>()];
    }
    EXPECT_EQ(finished.size(), 3u) << stream.substr(0, 2000);
    for (const auto& [id, n] : finished) EXPECT_EQ(n, 1) << "experiment " << id << " finished " << n << " times";
    EXPECT_EQ(d.stop(), 0);
  }
  fs::remove_all(w);
}

// A LibTorch without CUDA is named as the reason (the driver may well be there); a CUDA LibTorch on
// a machine without a device says there is none.
TEST(Daemon, GpusAreRefusedWithAClearMessageWhereTheyCannotBeUsed) {
  const bool cpu_only = run_cli("--version").output.find("without CUDA (CPU only)") != std::string::npos;
  if (!cpu_only && ::access("/dev/nvidia0", F_OK) == 0) GTEST_SKIP() << "this machine has a GPU and a CUDA LibTorch";
  const auto w = fresh_dir("daemon-gpus");
  auto r = run_cli("daemon --workdir " + w.string() + " --port " + std::to_string(free_port()) + " --gpus 0,1 --preset smoke");
  EXPECT_NE(r.status, 0);
  if (cpu_only) {
    EXPECT_NE(r.output.find("gpus: 0,1 asked for, but this asiarch was built against LibTorch "), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("without CUDA"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("On a GPU box"), std::string::npos) << r.output;
  } else {
    EXPECT_NE(r.output.find("gpus: 0,1 asked for, but no CUDA device can be used here"), std::string::npos) << r.output;
  }
  EXPECT_NE(r.output.find("leave --gpus out"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(w / "archive.db"));  // refused before anything was written
  fs::remove_all(w);
}

// A server stopped right after it starts (the daemon refused at once) must not wait for ever on
// its listening thread. The cycles run in a child, so a hang fails the test instead of stalling it;
// the child counts the servers that did start, so a start() that always fails fails too.
TEST(ApiServer, StopsRightAfterItStarts) {
  const auto w = fresh_dir("api-stop");
  const pid_t child = ::fork();
  if (child == 0) {
    int started = 0;
    for (int i = 0; i < 300; ++i) {
      asiarch::host::LoopControl control;
      asiarch::CancelToken stopping;
      asiarch::host::ApiServer server(w, control, stopping);
      asiarch::host::ApiOptions o;
      o.port = free_port();
      if (!server.start(o)) continue;  // the port was taken meanwhile
      ++started;
      server.stop();
    }
    ::_exit(started >= 250 ? 0 : 3);
  }
  ASSERT_GT(child, 0);
  int status = 0;
  bool exited = wait_until([&] { return ::waitpid(child, &status, WNOHANG) == child; }, 60);
  if (!exited) {
    ::kill(child, SIGKILL);
    ::waitpid(child, &status, 0);
  }
  EXPECT_TRUE(exited) << "300 start/stop cycles did not end within 60 s: stop() missed a starting server";
  if (exited) EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "fewer than 250 of 300 servers started";
  fs::remove_all(w);
}

namespace {

// An API server in this process over an empty workdir (no archive yet: /api/status still answers).
struct LocalApi {
  fs::path workdir;
  asiarch::host::LoopControl control;
  asiarch::CancelToken stopping;
  std::unique_ptr<asiarch::host::ApiServer> server;
  int port = 0;
  explicit LocalApi(const std::string& name, asiarch::host::ApiOptions o = {}) : workdir(fresh_dir(name)) {
    server = std::make_unique<asiarch::host::ApiServer>(workdir, control, stopping);
    for (int i = 0; i < 5 && port == 0; ++i) {
      o.port = free_port();
      if (server->start(o)) port = o.port;
    }
  }
  ~LocalApi() {
    stopping.cancel();
    server->stop();
    fs::remove_all(workdir);
  }
};

// A raw request on a socket of its own; the answer's status line, or "" (nothing within 10 s).
struct RawConnection {
  int fd = -1;
  explicit RawConnection(int port) {
    fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
      ::close(fd);
      fd = -1;
    }
  }
  ~RawConnection() {
    if (fd >= 0) ::close(fd);
  }
  void send(const std::string& request) const { (void)!::write(fd, request.data(), request.size()); }
  std::string status_line() const {
    timeval tv{10, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    std::string got;
    char buf[512];
    while (got.find("\r\n") == std::string::npos) {
      const ssize_t n = ::read(fd, buf, sizeof buf);
      if (n <= 0) break;
      got.append(buf, static_cast<size_t>(n));
    }
    return got.substr(0, got.find("\r\n"));
  }
};

}  // namespace

TEST(ApiAccess, TheRulesAsFunctions) {
  using namespace asiarch::host;
  EXPECT_TRUE(host_allowed("127.0.0.1:7878", "127.0.0.1", 7878, {}));
  EXPECT_TRUE(host_allowed("localhost:7878", "127.0.0.1", 7878, {}));
  EXPECT_TRUE(host_allowed("[::1]:7878", "127.0.0.1", 7878, {}));
  EXPECT_FALSE(host_allowed("127.0.0.1:7879", "127.0.0.1", 7878, {}));    // another port
  EXPECT_FALSE(host_allowed("rebind.attacker.invalid:7878", "127.0.0.1", 7878, {}));
  EXPECT_FALSE(host_allowed("", "127.0.0.1", 7878, {}));
  EXPECT_TRUE(host_allowed("10.1.2.3:7878", "0.0.0.0", 7878, {}));         // an IP literal, bound to any
  EXPECT_FALSE(host_allowed("10.1.2.3:7878", "127.0.0.1", 7878, {}));
  EXPECT_FALSE(host_allowed("gpu-box:7878", "0.0.0.0", 7878, {}));
  EXPECT_TRUE(host_allowed("GPU-Box:7878", "0.0.0.0", 7878, {"gpu-box"}));  // a configured name
  EXPECT_EQ(same_origin_refusal("", "", "127.0.0.1:1"), "");                 // curl: neither header
  EXPECT_EQ(same_origin_refusal("http://127.0.0.1:1", "same-origin", "127.0.0.1:1"), "");
  EXPECT_NE(same_origin_refusal("http://attacker.invalid", "", "127.0.0.1:1"), "");
  EXPECT_NE(same_origin_refusal("", "cross-site", "127.0.0.1:1"), "");
  EXPECT_NE(same_origin_refusal("null", "", "127.0.0.1:1"), "");
  EXPECT_TRUE(equal_secret("s3cret", "s3cret"));
  EXPECT_FALSE(equal_secret("s3cret", "s3cre"));
  EXPECT_FALSE(equal_secret("s3cret", "s3cret-and-more"));
  EXPECT_FALSE(equal_secret("s3cret", "S3cret"));
  EXPECT_TRUE(bearer_is("Bearer s3cret", "s3cret"));
  EXPECT_FALSE(bearer_is("Bearer s3cret", ""));
  EXPECT_FALSE(bearer_is("Basic s3cret", "s3cret"));
  EXPECT_EQ(cookie_value("a=1; asiarch_session=xyz; b=2", "asiarch_session").value_or(""), "xyz");
  EXPECT_FALSE(cookie_value("a=1; not_asiarch_session=xyz", "asiarch_session"));
  Sessions s;
  const auto id = s.create();
  EXPECT_EQ(id.size(), 64u);
  EXPECT_TRUE(s.valid(id));
  EXPECT_FALSE(s.valid(id.substr(1)));
  EXPECT_FALSE(s.valid(""));
  EXPECT_NE(s.create(), id);
}

// DNS rebinding: a page on a name the attacker controls, resolved to 127.0.0.1, reads as that name.
TEST(ApiAccess, ARequestForAnotherHostNameIsRefusedBeforeAnyRoute) {
  asiarch::host::ApiOptions o;
  o.names = {"gpu-box.lab"};
  LocalApi api("api-host", o);
  ASSERT_GT(api.port, 0);
  httplib::Client c("127.0.0.1", api.port);
  auto ok = c.Get("/api/status");
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, 200);
  auto rebound = c.Get("/api/experiments", {{"Host", "rebind.attacker.invalid:" + std::to_string(api.port)}});
  ASSERT_TRUE(rebound);
  EXPECT_EQ(rebound->status, 421) << rebound->body;
  EXPECT_NE(rebound->body.find("rebind.attacker.invalid"), std::string::npos);
  EXPECT_EQ(c.Get("/index.html", {{"Host", "rebind.attacker.invalid"}})->status, 421);  // the page too
  EXPECT_EQ(c.Get("/api/status", {{"Host", "gpu-box.lab:" + std::to_string(api.port)}})->status, 200);
}

// A web page the user has open posts to the daemon: the browser adds Origin and Sec-Fetch-Site.
TEST(ApiAccess, ACrossOriginPostChangesNothingOnLoopbackWithoutAToken) {
  LocalApi api("api-origin");
  ASSERT_GT(api.port, 0);
  httplib::Client c("127.0.0.1", api.port);
  const std::string self = "http://127.0.0.1:" + std::to_string(api.port);
  auto forged = c.Post("/api/pause", {{"Origin", "http://attacker.invalid"}}, "", "text/plain");
  ASSERT_TRUE(forged);
  EXPECT_EQ(forged->status, 403) << forged->body;
  EXPECT_FALSE(api.control.paused.load());
  EXPECT_EQ(c.Post("/api/pause", {{"Sec-Fetch-Site", "cross-site"}}, "", "text/plain")->status, 403);
  EXPECT_EQ(c.Post("/api/pause", {{"Sec-Fetch-Site", "same-site"}}, "", "text/plain")->status, 403);
  EXPECT_FALSE(api.control.paused.load());
  // Its own page, and a command-line client, may.
  EXPECT_EQ(c.Post("/api/pause", {{"Origin", self}, {"Sec-Fetch-Site", "same-origin"}}, "", "text/plain")->status, 200);
  EXPECT_TRUE(api.control.paused.load());
  EXPECT_EQ(c.Post("/api/resume", "", "text/plain")->status, 200);
  EXPECT_FALSE(api.control.paused.load());
}

// The token only in a header; the dashboard's event stream by an HttpOnly session cookie that
// authorises reads and nothing else.
TEST(ApiAccess, TheTokenIsNeverTakenFromAUrlAndASessionCookieOnlyReads) {
  asiarch::host::ApiOptions o;
  o.token = "s3cret-token";
  LocalApi api("api-session", o);
  ASSERT_GT(api.port, 0);
  httplib::Client c("127.0.0.1", api.port);
  EXPECT_EQ(c.Get("/api/status?token=s3cret-token")->status, 401);
  EXPECT_EQ(c.Post("/api/session", "", "text/plain")->status, 401);
  auto session = c.Post("/api/session", {{"Authorization", "Bearer s3cret-token"}}, "", "text/plain");
  ASSERT_TRUE(session);
  ASSERT_EQ(session->status, 200) << session->body;
  const std::string cookie = session->get_header_value("Set-Cookie");
  EXPECT_NE(cookie.find("HttpOnly"), std::string::npos) << cookie;
  EXPECT_NE(cookie.find("SameSite=Strict"), std::string::npos) << cookie;
  const std::string pair = cookie.substr(0, cookie.find(';'));
  ASSERT_EQ(pair.rfind("asiarch_session=", 0), 0u) << cookie;
  EXPECT_EQ(c.Get("/api/status", {{"Cookie", pair}})->status, 200);
  EXPECT_EQ(c.Get("/api/status", {{"Cookie", "asiarch_session=0123"}})->status, 401);
  EXPECT_EQ(c.Post("/api/pause", {{"Cookie", pair}}, "", "text/plain")->status, 401);
  EXPECT_FALSE(api.control.paused.load());
  EXPECT_EQ(c.Post("/api/pause", {{"Authorization", "Bearer s3cret-token"}}, "", "text/plain")->status, 200);
  EXPECT_TRUE(api.control.paused.load());
}

// Ten event streams held open must leave the server answering; the ones beyond the bound are refused.
TEST(ApiAccess, OpenEventStreamsCannotStarveOtherRequests) {
  LocalApi api("api-streams");
  ASSERT_GT(api.port, 0);
  std::vector<std::unique_ptr<RawConnection>> streams;
  int open = 0, refused = 0;
  for (int i = 0; i < 10; ++i) {
    streams.push_back(std::make_unique<RawConnection>(api.port));
    ASSERT_GE(streams.back()->fd, 0);
    streams.back()->send("GET /api/events HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(api.port) + "\r\n\r\n");
    const std::string line = streams.back()->status_line();
    if (line.find(" 200") != std::string::npos) ++open;
    else if (line.find(" 503") != std::string::npos) ++refused;
  }
  EXPECT_GT(open, 0);
  EXPECT_EQ(open + refused, 10);
  EXPECT_GT(refused, 0) << "every stream was accepted: nothing bounds them";
  httplib::Client c("127.0.0.1", api.port);
  c.set_read_timeout(5, 0);
  for (int i = 0; i < 5; ++i) {
    auto r = c.Get("/api/status");
    ASSERT_TRUE(r) << "request " << i << " got no answer with " << open << " streams open";
    EXPECT_EQ(r->status, 200);
  }
  streams.clear();  // closed: their places are free again
  EXPECT_TRUE(wait_until([&] {
    RawConnection again(api.port);
    again.send("GET /api/events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
    return again.status_line().find(" 200") != std::string::npos;
  }, 20));
}
