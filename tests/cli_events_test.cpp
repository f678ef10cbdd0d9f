// `asiarch events`: the archive's event stream as text and JSON lines, --since,
// --follow on a live archive until SIGTERM, and its clear errors.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "archive/archive.h"
#include "cli_run.h"
#include "util/files.h"

namespace fs = std::filesystem;
using asiarch::archive::Archive;
using asiarch::archive::Event;
using asiarch::testing::fresh_dir;
using asiarch::testing::run_cli;
using asiarch::testing::text_of;


namespace {

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

std::vector<nlohmann::json> json_lines(const std::string& text) {
  std::vector<nlohmann::json> out;
  for (const auto& line : lines_of(text)) {
    try {
      out.push_back(nlohmann::json::parse(line));
    } catch (const std::exception& e) {
      ADD_FAILURE() << e.what() << ": " << line;
    }
  }
  return out;
}

Event event(const std::string& kind, std::optional<int64_t> experiment, nlohmann::json data) {
  Event e;
  e.kind = kind;
  e.experiment = experiment;
  e.data = std::move(data);
  return e;
}

// An archive with one experiment and three events; returns the events as stored.
std::vector<Event> seed(Archive& a) {
  asiarch::archive::Experiment e;
  e.name = "one";
  e.source = "int x;";
  std::vector<Event> ev = {event("experiment_proposed", std::nullopt, {{"name", "one"}})};
  const int64_t id = a.add_experiment(e, &ev).value();
  EXPECT_EQ(ev[0].experiment, id);
  std::vector<Event> more = {
      event("compile_attempt", id, {{"attempt", 1}, {"ok", false}, {"message", "expected ';'\n\tat line 3"}}),
      event("progress", std::nullopt, {{"done", 0}, {"budget", 2}})};
  EXPECT_TRUE(a.append_events(more));
  ev.insert(ev.end(), more.begin(), more.end());
  return ev;
}

pid_t spawn_follow(const fs::path& workdir, const fs::path& out) {
  const pid_t pid = asiarch::testing::spawn_cli({"events", "--follow", "--json", "--workdir", workdir.string()}, out);
  EXPECT_GT(pid, 0);
  return pid;
}

// Waits (generously: this is no timing check) until `out` holds `n` lines.
std::vector<nlohmann::json> wait_for_lines(const fs::path& out, size_t n) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  std::string text;
  while (std::chrono::steady_clock::now() < deadline) {
    text = text_of(out);
    if (lines_of(text).size() >= n) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_GE(lines_of(text).size(), n) << text;
  return json_lines(text);
}

}  // namespace

TEST(CliEvents, PrintsEventsAsJsonLinesOldestFirstAndAfterSince) {
  const auto w = fresh_dir("events-json");
  auto a = Archive::open(w / "archive.db").value();
  const auto ev = seed(*a);

  auto r = run_cli("events --json --workdir " + w.string());
  ASSERT_EQ(r.status, 0) << r.output;
  auto got = json_lines(r.output);
  ASSERT_EQ(got.size(), 3u) << r.output;
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(got[i]["seq"], ev[i].seq);
    EXPECT_EQ(got[i]["time"], ev[i].time);
    EXPECT_EQ(got[i]["kind"], ev[i].kind);
    EXPECT_EQ(got[i]["data"], ev[i].data);
  }
  EXPECT_EQ(got[0]["experiment"], *ev[0].experiment);
  EXPECT_TRUE(got[2]["experiment"].is_null());

  r = run_cli("events --json --since " + std::to_string(ev[0].seq) + " --workdir " + w.string());
  ASSERT_EQ(r.status, 0) << r.output;
  got = json_lines(r.output);
  ASSERT_EQ(got.size(), 2u) << r.output;
  EXPECT_EQ(got[0]["seq"], ev[1].seq);
  EXPECT_EQ(got[1]["seq"], ev[2].seq);

  r = run_cli("events --since " + std::to_string(ev[2].seq) + " --workdir " + w.string());
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_EQ(r.output, "");
  fs::remove_all(w);
}

TEST(CliEvents, TextIsOneLinePerEventWithControlCharactersEscaped) {
  const auto w = fresh_dir("events-text");
  auto a = Archive::open(w / "archive.db").value();
  const auto ev = seed(*a);
  auto r = run_cli("events --workdir " + w.string());
  ASSERT_EQ(r.status, 0) << r.output;
  const auto lines = lines_of(r.output);
  ASSERT_EQ(lines.size(), 3u) << r.output;
  const std::string id = "#" + std::to_string(*ev[1].experiment);
  EXPECT_EQ(lines[0], std::to_string(ev[0].seq) + " " + ev[0].time + " experiment_proposed " + id + " name=one");
  EXPECT_EQ(lines[1], std::to_string(ev[1].seq) + " " + ev[1].time + " compile_attempt " + id +
                          " attempt=1 message=\"expected ';'\\n\\tat line 3\" ok=false");
  EXPECT_EQ(lines[2], std::to_string(ev[2].seq) + " " + ev[2].time + " progress - budget=2 done=0");
  fs::remove_all(w);
}

TEST(CliEvents, FollowPrintsNewEventsAsTheyComeUntilSigterm) {
  const auto w = fresh_dir("events-follow");
  auto a = Archive::open(w / "archive.db").value();
  const auto first = seed(*a);
  const auto out = w / "follow.out";
  const pid_t pid = spawn_follow(w, out);
  ASSERT_GT(pid, 0);
  auto got = wait_for_lines(out, first.size());
  // Appended while it follows: they must show up, each once, in order.
  std::vector<Event> later = {event("worker_started", std::nullopt, {{"slot", 0}}),
                              event("run_finished", std::nullopt, {{"evolved", 2}})};
  ASSERT_TRUE(a->append_events(later));
  std::vector<Event> last = {event("note", std::nullopt, {{"text", "after a pause"}})};
  ASSERT_TRUE(a->append_events(last));
  got = wait_for_lines(out, first.size() + later.size() + last.size());
  ::kill(pid, SIGTERM);
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFEXITED(status)) << "ended by signal " << (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
  EXPECT_EQ(WEXITSTATUS(status), 0) << text_of(out);
  std::vector<Event> all = first;
  all.insert(all.end(), later.begin(), later.end());
  all.insert(all.end(), last.begin(), last.end());
  got = json_lines(text_of(out));
  ASSERT_EQ(got.size(), all.size());
  for (size_t i = 0; i < all.size(); ++i) {
    EXPECT_EQ(got[i]["seq"], all[i].seq) << i;
    EXPECT_EQ(got[i]["kind"], all[i].kind) << i;
  }
  fs::remove_all(w);
}

TEST(CliEvents, WorkdirWithoutArchiveAndArchiveWithoutEventsAreClearErrors) {
  const auto w = fresh_dir("events-errors");
  auto r = run_cli("events --workdir " + (w / "nothing").string());
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.output.find((w / "nothing" / "archive.db").string() + ": no archive here"), std::string::npos)
      << r.output;
  EXPECT_FALSE(fs::exists(w / "nothing"));

  // A version-1 archive: no events table; refused, and left as it was.
  fs::copy_file(fs::path(ASIARCH_SOURCE_DIR) / "tests" / "data" / "archive-v1.db", w / "archive.db");
  const auto before = asiarch::read_file(w / "archive.db").value();
  for (const char* follow : {"", " --follow"}) {
    r = run_cli(std::string("events") + follow + " --workdir " + w.string());
    EXPECT_EQ(r.status, 1) << r.output;
    EXPECT_NE(r.output.find((w / "archive.db").string() + ": archive schema version 1 has no events"),
              std::string::npos)
        << r.output;
  }
  EXPECT_EQ(asiarch::read_file(w / "archive.db").value(), before);
  fs::remove_all(w);
}
