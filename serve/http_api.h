// The daemon's HTTP API (cpp-httplib), JSON throughout: status, experiments
// (paged, filtered, sorted), one experiment's detail, history and diff, the
// lineage, the event stream as Server-Sent Events (resumable with
// Last-Event-ID), pause and resume. It reads the archive read-only, a fresh
// connection per request, and talks to the engine only through LoopControl;
// llama.cpp's server has the same split (HTTP threads post, one engine loop).
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "engine/loop_control.h"
#include "util/cancel.h"
#include "util/result.h"

namespace asiarch::host {

struct ApiOptions {
  std::string host = "127.0.0.1";
  int port = 7878;
  std::string token;  // required as `Authorization: Bearer` when not empty
  std::vector<std::string> names;  // further names the Host header may give (--allow-host)
  std::filesystem::path plugins_dir;  // the drop folder `GET /api/plugins` lists
};

// A bind address other than loopback needs a token.
bool loopback(const std::string& host);

class ApiServer {
 public:
  ApiServer(std::filesystem::path workdir, LoopControl& control, const CancelToken& stopping);
  ~ApiServer();
  // Binds and serves on a thread of its own; an error when the address cannot be bound.
  Status start(const ApiOptions& options);
  void stop();
  int port() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace asiarch::host
