// Runs the asiarch binary as a user would, capturing output and exit status;
// and the other helpers the CLI tests share.
#pragma once

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <functional>
#include <thread>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "util/files.h"

extern char** environ;

namespace asiarch::testing {

struct CliRun {
  int status = -1;
  std::string output;  // stdout and stderr together
};

inline CliRun run_cli(const std::string& args) {
  const std::string cmd = "ASIARCH_CACHE_DIR=" ASIARCH_TEST_CACHE " " ASIARCH_BINARY " " + args + " 2>&1";
  CliRun r;
  FILE* p = ::popen(cmd.c_str(), "r");
  std::array<char, 4096> buf;
  while (size_t n = std::fread(buf.data(), 1, buf.size(), p)) r.output.append(buf.data(), n);
  const int raw = ::pclose(p);
  r.status = WIFEXITED(raw) ? WEXITSTATUS(raw) : 128 + WTERMSIG(raw);
  return r;
}

// `asiarch ARGS --json`, parsed; a test failure (and null) when it exits non-zero or prints no JSON.
inline nlohmann::json json_of(const std::string& args) {
  auto r = run_cli(args + " --json");
  EXPECT_EQ(r.status, 0) << r.output;
  try {
    return nlohmann::json::parse(r.output);
  } catch (const std::exception& e) {
    ADD_FAILURE() << e.what() << "\n" << r.output;
    return {};
  }
}

// Starts `asiarch ARGS...` in the background with the tests' cache, stdout and stderr to `log`.
inline pid_t spawn_cli(const std::vector<std::string>& args, const std::filesystem::path& log) {
  std::vector<std::string> a = {ASIARCH_BINARY};
  a.insert(a.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& s : a) argv.push_back(s.data());
  argv.push_back(nullptr);
  std::vector<std::string> env_s = {"ASIARCH_CACHE_DIR=" ASIARCH_TEST_CACHE};
  for (char** e = environ; *e; ++e)
    if (std::string(*e).rfind("ASIARCH_CACHE_DIR=", 0) != 0) env_s.push_back(*e);
  std::vector<char*> envp;
  for (auto& e : env_s) envp.push_back(e.data());
  envp.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_adddup2(&fa, 1, 2);
  pid_t pid = -1;
  posix_spawn(&pid, ASIARCH_BINARY, &fa, nullptr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&fa);
  return pid;
}

// The exit code, or 128 + the signal.
inline int wait_exit(pid_t pid) {
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

// An empty folder of its own under the temporary directory.
inline std::filesystem::path fresh_dir(const std::string& name) {
  auto d = std::filesystem::temp_directory_path() / ("asiarch-" + name + "-" + std::to_string(::getpid()));
  std::filesystem::remove_all(d);
  std::filesystem::create_directories(d);
  return d;
}

inline std::string text_of(const std::filesystem::path& p) {
  auto t = read_file(p);
  return t ? *t : std::string();
}

// Polls `f` every 100 ms until it holds (true) or `seconds` have passed (false).
inline bool wait_until(const std::function<bool()>& f, int seconds) {
  for (int i = 0; i < seconds * 10; ++i) {
    if (f()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return false;
}

}  // namespace asiarch::testing
