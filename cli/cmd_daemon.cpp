// `asiarch daemon --workdir DIR [--host ADDR] [--port P] [--token-file F]` and the run settings:
// the discovery loop kept going (`--budget 0`, the default here, has no limit; at a budget it
// stops proposing and keeps serving), with the HTTP API of serve/http_api.h beside it. One daemon
// per workdir. SIGTERM/SIGINT: stop proposing, checkpoint the work in flight as `run` does
// (it resumes on restart), exit 0. SIGHUP: reload the configuration.
#include <CLI/CLI.hpp>

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <thread>
#include <iostream>

#include <spdlog/sinks/rotating_file_sink.h>
#include <spdlog/spdlog.h>

#include "archive/views.h"
#include "cli/commands.h"
#include "engine/discovery.h"
#include "serve/http_api.h"
#include "cli/run_flags.h"
#include "cli/stop_signals.h"
#include "util/files.h"

namespace asiarch::host {
namespace {

struct DaemonArgs {
  std::string workdir = RunConfig{}.workdir;
  std::string config_file;
  ApiOptions api;
  std::string token_file;
  bool quiet = false;
  std::shared_ptr<GivenFlags> flags = std::make_shared<GivenFlags>();
};

// Every event, one JSON object a line, into DIR/logs/daemon.log (rotated at 10 MiB, 5 kept).
class LogFileSink : public EventSink {
 public:
  explicit LogFileSink(const std::filesystem::path& file)
      : logger_(std::make_shared<spdlog::logger>(
            "asiarch-daemon", std::make_shared<spdlog::sinks::rotating_file_sink_mt>(file.string(), 10 << 20, 5))) {
    logger_->set_pattern("%v");
    logger_->flush_on(spdlog::level::info);
  }
  void publish(const archive::Event& e) override {
    logger_->info(archive::event_view(e).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
  }

 private:
  std::shared_ptr<spdlog::logger> logger_;
};

// Holds DIR/.daemon.lock (with this pid in it) for the process's life; the error names the holder.
Result<int> claim(const std::filesystem::path& workdir) {
  const auto path = workdir / ".daemon.lock";
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return make_error(path.string() + ": " + std::strerror(errno));
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    char buf[32] = {0};
    const ssize_t n = ::pread(fd, buf, sizeof buf - 1, 0);
    ::close(fd);
    const std::string pid = n > 0 ? std::string(buf, static_cast<size_t>(n)) : "?";
    return make_error(workdir.string() + " is already served by the asiarch daemon with pid " + pid);
  }
  const std::string pid = std::to_string(::getpid());
  if (::ftruncate(fd, 0) != 0 || ::pwrite(fd, pid.data(), pid.size(), 0) < 0)
    return make_error(path.string() + ": cannot write the pid: " + std::strerror(errno));
  return fd;
}

int run_daemon(const DaemonArgs& a) {
  RunConfig c;
  c.workdir = a.workdir;
  c.budget = 0;  // keep going
  if (auto st = apply_config_file(c, a.config_file); !st) {
    std::cerr << "asiarch daemon: " << st.error().message << "\n";
    return 2;
  }
  a.flags->apply(c);
  c.quiet = a.quiet;
  ApiOptions api = a.api;
  if (!a.token_file.empty()) {
    auto t = read_secret(a.token_file);
    if (!t) return std::cerr << "asiarch daemon: " << t.error().message << "\n", 2;
    api.token = *t;
  }
  if (!loopback(api.host) && api.token.empty()) {
    std::cerr << "asiarch daemon: binding to " << api.host << " (not loopback) requires a token: --token-file FILE\n";
    return 2;
  }
  std::error_code ec;
  std::filesystem::create_directories(c.workdir, ec);
  api.plugins_dir = c.plugins_dir.empty() ? std::filesystem::absolute(c.workdir) / "plugins"
                                          : std::filesystem::absolute(c.plugins_dir);
  // There before the API answers, so a file saved as soon as the daemon is up is not lost.
  std::filesystem::create_directories(api.plugins_dir, ec);
  auto lock = claim(std::filesystem::absolute(c.workdir));
  if (!lock) return std::cerr << "asiarch daemon: " << lock.error().message << "\n", 1;
  StopSignals signals(/*catch_hangup=*/true);
  LoopControl control;
  control.keep_serving = true;
  std::filesystem::create_directories(std::filesystem::absolute(c.workdir) / "logs", ec);
  std::unique_ptr<LogFileSink> log;
  try {
    log = std::make_unique<LogFileSink>(std::filesystem::absolute(c.workdir) / "logs" / "daemon.log");
    control.log = log.get();
  } catch (const std::exception& e) {
    std::cerr << "asiarch daemon: the log file: " << e.what() << "\n";
    return 1;
  }
  ApiServer server(std::filesystem::absolute(c.workdir), control, stop_token());
  if (auto st = server.start(api); !st) return std::cerr << "asiarch daemon: " << st.error().message << "\n", 1;
  // Where the CLI finds this daemon (`asiarch status`, `pause`, `resume`, `tail`); never the token.
  const auto address = std::filesystem::absolute(c.workdir) / "daemon.json";
  (void)write_file_atomic(address, nlohmann::json({{"pid", ::getpid()},
                                                   {"host", api.host},
                                                   {"port", server.port()},
                                                   {"token_required", !api.token.empty()}})
                                       .dump() +
                                       "\n");
  std::cout << "asiarch daemon: serving " << c.workdir << " on http://" << api.host << ":" << server.port()
            << "/ (pid " << ::getpid() << ")" << std::endl;
  // SIGHUP: re-read the configuration (file, then the flags given at start) and offer it to the loop,
  // which applies what can change while running and reports the rest; a bad file is refused.
  std::atomic<bool> done{false};
  std::thread reloader([&] {
    for (int seen = hangups(); !done.load(); std::this_thread::sleep_for(std::chrono::milliseconds(100))) {
      if (hangups() == seen) continue;
      seen = hangups();
      RunConfig next;
      next.workdir = a.workdir;
      next.budget = 0;
      if (auto st = apply_config_file(next, a.config_file); !st) {
        control.offer(st.error());
        continue;
      }
      a.flags->apply(next);
      next.quiet = a.quiet;
      control.offer(next);
    }
  });
  const int rc = run_discovery(c, std::cout, std::cerr, stop_token(), &control);
  done = true;
  reloader.join();
  server.stop();
  std::filesystem::remove(address, ec);
  ::close(*lock);
  return rc;
}

}  // namespace

void add_daemon_command(CLI::App& app, int& exit_code) {
  auto a = std::make_shared<DaemonArgs>();
  CLI::App* cmd = app.add_subcommand(
      "daemon",
      "Keep discovering in the background and serve the archive over HTTP (JSON API on 127.0.0.1:7878 by\n"
      "default). The run settings apply; --budget 0 (the default here) keeps proposing, a budget stops\n"
      "proposing when met and keeps serving. SIGTERM stops it cleanly; restarting resumes.");
  cmd->add_option("--workdir", a->workdir, "where the archive, logs and best design live")->capture_default_str();
  cmd->add_option("--host", a->api.host, "address to listen on (not loopback: --token-file required)")
      ->capture_default_str();
  cmd->add_option("--port", a->api.port, "port to listen on")->capture_default_str()->check(CLI::Range(1, 65535));
  cmd->add_option("--token-file", a->token_file, "a file holding the bearer token every request must send");
  cmd->add_option("--allow-host", a->api.names,
                  "a further name the Host header may give (the server answers only loopback names, its\n"
                  "bound address and, bound to 0.0.0.0 or ::, IP literals: a guard against DNS rebinding)");
  add_setting_flags(*cmd, a->flags);
  cmd->add_option("--config", a->config_file, "settings file (default: <workdir>/asiarch.json when present)");
  cmd->add_flag("--quiet", a->quiet, "print no progress lines");
  cmd->callback([a, &exit_code] { exit_code = run_daemon(*a); });
}

}  // namespace asiarch::host
