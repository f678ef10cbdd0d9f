// Starts tests/llm/fake_llm.py (the scripted OpenAI-compatible server) on
// 127.0.0.1 for a test, and reads back the requests it received.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <stdexcept>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

extern char** environ;

namespace asiarch::testing {

class FakeLlm {
 public:
  // `script` as fake_llm.py documents it; `port` 0: any free port.
  FakeLlm(const std::filesystem::path& dir, const nlohmann::json& script, int port = 0, bool tls = false,
          const std::string& expect_key = "")
      : dir_(dir) {
    std::filesystem::create_directories(dir);
    std::ofstream(dir / "script.json") << script.dump();
    std::filesystem::remove(dir / "port");
    std::vector<std::string> a = {"python3", ASIARCH_SOURCE_DIR "/tests/llm/fake_llm.py", "--script",
                                  (dir / "script.json").string(), "--port", std::to_string(port), "--port-file",
                                  (dir / "port").string(), "--log", (dir / "requests.jsonl").string()};
    if (tls) {
      make_certificate();
      a.insert(a.end(), {"--cert", (dir / "cert.pem").string(), "--key", (dir / "key.pem").string()});
    }
    if (!expect_key.empty()) a.insert(a.end(), {"--expect-key", expect_key});
    std::vector<char*> argv;
    for (auto& s : a) argv.push_back(s.data());
    argv.push_back(nullptr);
    posix_spawnp(&pid_, "python3", nullptr, nullptr, argv.data(), environ);
    for (int i = 0; i < 200 && !std::filesystem::exists(dir / "port"); ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    std::ifstream(dir / "port") >> port_;
    scheme_ = tls ? "https" : "http";
  }
  ~FakeLlm() { stop(); }
  FakeLlm(const FakeLlm&) = delete;
  FakeLlm& operator=(const FakeLlm&) = delete;

  void stop() {
    if (pid_ > 0) {
      ::kill(pid_, SIGTERM);
      ::waitpid(pid_, nullptr, 0);
      pid_ = -1;
    }
  }
  int port() const { return port_; }
  std::string url() const { return scheme_ + "://127.0.0.1:" + std::to_string(port_) + "/v1"; }
  std::filesystem::path certificate() const { return dir_ / "cert.pem"; }

  // Every request received so far: {path, auth, request}.
  std::vector<nlohmann::json> requests() const {
    std::vector<nlohmann::json> out;
    std::ifstream in(dir_ / "requests.jsonl");
    for (std::string line; std::getline(in, line);)
      if (!line.empty()) out.push_back(nlohmann::json::parse(line));
    return out;
  }

 private:
  void make_certificate() {
    const std::string cmd = "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=127.0.0.1 "
                            "-addext subjectAltName=IP:127.0.0.1 -keyout " + (dir_ / "key.pem").string() +
                            " -out " + (dir_ / "cert.pem").string() + " >/dev/null 2>&1";
    if (std::system(cmd.c_str()) != 0) throw std::runtime_error("openssl could not make a certificate");
  }

  std::filesystem::path dir_;
  pid_t pid_ = -1;
  int port_ = 0;
  std::string scheme_;
};

// A port nothing listens on (bound, then released).
inline int free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t n = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &n);
  ::close(fd);
  return ntohs(a.sin_port);
}

// The text of every message of a request, joined.
inline std::string messages_text(const nlohmann::json& request) {
  std::string t;
  for (const auto& m : request["request"]["messages"]) t += m.value("content", "") + "\n";
  return t;
}

}  // namespace asiarch::testing
