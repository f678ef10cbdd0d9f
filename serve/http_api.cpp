#include "serve/http_api.h"

#include <httplib.h>
#include <zlib.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <chrono>
#include <thread>

#include "archive/archive.h"
#include "archive/views.h"
#include "lab/names.h"
#include "results/report.h"
#include "serve/access.h"
#include "util/diff.h"

namespace asiarch::host {
namespace {

// The dashboard's files, {"/name", text}, embedded from serve/web/ at build time.
struct WebFile {
  const char* path;
  const char* text;
};
constexpr WebFile kWebFiles[] = {
#include "web_assets.inc"
};

const char* content_type(const std::string& path) {
  auto ends = [&](const char* ext) { return path.size() >= std::strlen(ext) && path.compare(path.size() - std::strlen(ext), std::string::npos, ext) == 0; };
  if (ends(".html")) return "text/html; charset=utf-8";
  if (ends(".js")) return "text/javascript; charset=utf-8";
  if (ends(".css")) return "text/css; charset=utf-8";
  if (ends(".svg")) return "image/svg+xml";
  return "text/plain; charset=utf-8";
}

constexpr size_t kMaxBody = 64 * 1024;  // no route takes a body; a larger one is refused
constexpr int kMaxLimit = 1000;

// Open event streams at once; more are refused (503) so that streams never hold every thread of
// the pool. A stream also ends after kStreamSeconds (EventSource reconnects with Last-Event-ID),
// so an abandoned one frees its thread.
constexpr int kMaxStreams = 4;
constexpr int kPoolThreads = kMaxStreams + 8;
constexpr double kStreamSeconds = 300;

// Large answers (the lineage of 10,000 experiments is 2 MB) are gzipped here, at a fast level:
// left to cpp-httplib, a browser's `Accept-Encoding: br` gets Brotli at its slowest quality
// (4.7 s for that lineage). The charset parameter keeps cpp-httplib from compressing again.
constexpr size_t kCompressFrom = 32 * 1024;

std::optional<std::string> gzip(const std::string& text) {
  z_stream z{};
  if (deflateInit2(&z, 1, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) return std::nullopt;
  std::string out(deflateBound(&z, text.size()), '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(text.data()));
  z.avail_in = static_cast<uInt>(text.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  const int rc = deflate(&z, Z_FINISH);
  out.resize(z.total_out);
  deflateEnd(&z);
  if (rc != Z_STREAM_END) return std::nullopt;
  return out;
}

void reply(const httplib::Request& req, httplib::Response& res, int status, const nlohmann::json& body) {
  res.status = status;
  std::string text = body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  if (text.size() >= kCompressFrom && req.get_header_value("Accept-Encoding").find("gzip") != std::string::npos)
    if (auto z = gzip(text)) {
      res.set_header("Content-Encoding", "gzip");
      text = std::move(*z);
    }
  res.set_content(std::move(text), "application/json; charset=utf-8");
}

void reply(httplib::Response& res, int status, const nlohmann::json& body) { reply(httplib::Request{}, res, status, body); }

void error(httplib::Response& res, int status, const std::string& message) { reply(res, status, {{"error", message}}); }

// A non-negative integer parameter, or why not.
Result<int64_t> integer(const httplib::Request& req, const std::string& name, int64_t fallback, int64_t max) {
  if (!req.has_param(name)) return fallback;
  const std::string v = req.get_param_value(name);
  if (v.empty() || v.size() > 18 || !std::all_of(v.begin(), v.end(), ::isdigit))
    return make_error("parameter \"" + name + "\" must be a non-negative integer, got \"" + v.substr(0, 40) + "\"");
  const int64_t n = std::stoll(v);
  if (n > max) return make_error("parameter \"" + name + "\" must be at most " + std::to_string(max));
  return n;
}

}  // namespace

bool loopback(const std::string& host) { return host == "127.0.0.1" || host == "localhost" || host == "::1"; }

struct ApiServer::Impl {
  std::filesystem::path workdir;
  LoopControl& control;
  const CancelToken& stopping;
  httplib::Server server;
  std::thread thread;
  std::atomic<bool> listen_returned{false};
  int port = 0;
  ApiOptions options;
  Sessions sessions;
  std::atomic<int> streams{0};
  std::filesystem::path plugins_dir;

  Impl(std::filesystem::path w, LoopControl& c, const CancelToken& s) : workdir(std::move(w)), control(c), stopping(s) {}

  Result<std::unique_ptr<archive::Archive>> open() const {
    const auto path = workdir / "archive.db";
    std::error_code ec;
    if (!std::filesystem::exists(path, ec)) return make_error("the archive is not created yet");
    return archive::Archive::open_read_only(path);
  }

  // Runs `f` with the archive, or answers 503.
  template <class F>
  void with_archive(httplib::Response& res, F f) const {
    auto a = open();
    if (!a) return error(res, 503, a.error().message);
    try {
      f(**a);
    } catch (const std::exception& e) {
      error(res, 500, std::string("reading the archive: ") + e.what());
    }
  }

  Result<int64_t> id_of(const httplib::Request& req) const {
    const std::string v = req.matches[1];
    if (v.empty() || v.size() > 18 || !std::all_of(v.begin(), v.end(), ::isdigit))
      return make_error("experiment id must be a positive integer, got \"" + v.substr(0, 40) + "\"");
    return std::stoll(v);
  }

  void routes() {
    server.set_payload_max_length(kMaxBody);
    server.new_task_queue = [] { return new httplib::ThreadPool(kPoolThreads); };
    server.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
      const std::string host = req.get_header_value("Host");
      if (!host_allowed(host, options.host, port, options.names)) {
        error(res, 421, "this server does not answer to the name \"" + host.substr(0, 80) +
                            "\" (allow it with --allow-host)");
        return httplib::Server::HandlerResponse::Handled;
      }
      const bool api = req.path.rfind("/api/", 0) == 0;
      const bool changes_state = req.method != "GET" && req.method != "HEAD";
      if (changes_state) {
        auto why = same_origin_refusal(req.get_header_value("Origin"), req.get_header_value("Sec-Fetch-Site"), host);
        if (!why.empty()) {
          error(res, 403, why);
          return httplib::Server::HandlerResponse::Handled;
        }
      }
      // The dashboard's own files hold no data; the API needs the token in a header, or (reads
      // only) the session cookie the dashboard got for it.
      if (api && !options.token.empty() && !bearer_is(req.get_header_value("Authorization"), options.token)) {
        auto session = cookie_value(req.get_header_value("Cookie"), kSessionCookie);
        if (changes_state || !session || !sessions.valid(*session)) {
          error(res, 401, "a token is required: send Authorization: Bearer <token>");
          return httplib::Server::HandlerResponse::Handled;
        }
      }
      return httplib::Server::HandlerResponse::Unhandled;
    });
    server.set_error_handler([](const httplib::Request& req, httplib::Response& res) {
      if (!res.body.empty()) return;
      if (res.status == 404) error(res, 404, "no such route: " + req.method + " " + req.path);
      else if (res.status == 413) error(res, 413, "request body larger than " + std::to_string(kMaxBody) + " bytes");
      else error(res, res.status, "request refused");
    });
    server.set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
      std::string what = "internal error";
      try {
        if (ep) std::rethrow_exception(ep);
      } catch (const std::exception& e) {
        what = e.what();
      } catch (...) {
      }
      error(res, 500, what);
    });

    server.Get("/api/status", [this](const httplib::Request&, httplib::Response& res) {
      nlohmann::json s = control.snapshot();
      s["paused"] = control.paused.load();
      s["version"] = "asiarch 0.1";
      auto a = open();
      nlohmann::json counts = nlohmann::json::object();
      if (a)
        for (const auto& [k, n] : (*a)->count_by_status()) counts[k] = n;
      s["counts"] = counts;
      s["last_event"] = a ? (*a)->last_event_seq() : 0;
      reply(res, 200, s);
    });

    server.Get("/api/experiments", [this](const httplib::Request& req, httplib::Response& res) {
      auto limit = integer(req, "limit", 100, kMaxLimit);
      if (!limit) return error(res, 400, limit.error().message);
      auto offset = integer(req, "offset", 0, 1LL << 40);
      if (!offset) return error(res, 400, offset.error().message);
      const std::string status = req.get_param_value("status"), origin = req.get_param_value("origin"),
                        q = req.get_param_value("q"), sort = req.has_param("sort") ? req.get_param_value("sort") : "id";
      static const char* const kStatus[] = {"", "proposed", "scored", "failed", "stopped"};
      static const char* const kOrigin[] = {"", "evolved", "hand-written", "baseline"};
      static const char* const kSort[] = {"id", "-id", "fitness", "-fitness", "name", "-name"};
      auto one_of = [](const std::string& v, auto& list) {
        return std::any_of(std::begin(list), std::end(list), [&](const char* x) { return v == x; });
      };
      if (!one_of(status, kStatus)) return error(res, 400, "parameter \"status\" must be proposed, scored, failed or stopped");
      if (!one_of(origin, kOrigin)) return error(res, 400, "parameter \"origin\" must be evolved, hand-written or baseline");
      if (!one_of(sort, kSort)) return error(res, 400, "parameter \"sort\" must be one of id, fitness, name, each optionally with -");
      with_archive(res, [&](const archive::Archive& a) {
        archive::SummaryQuery sq;
        sq.status = status;
        sq.origin = origin;
        sq.text = q;
        sq.descending = sort[0] == '-';
        sq.sort = sq.descending ? sort.substr(1) : sort;
        sq.limit = *limit;
        sq.offset = *offset;
        auto page = a.summaries(sq);
        if (!page) return error(res, 400, page.error().message);
        nlohmann::json out = nlohmann::json::array();
        for (const auto& r : page->rows) out.push_back(archive::summary_view(r));
        res.set_header("X-Total-Count", std::to_string(page->total));
        reply(req, res, 200, out);
      });
    });

    server.Get(R"(/api/experiments/([^/]+))", [this](const httplib::Request& req, httplib::Response& res) {
      auto id = id_of(req);
      if (!id) return error(res, 400, id.error().message);
      with_archive(res, [&](const archive::Archive& a) {
        auto j = experiment_view(a, *id);  // with each metric's interval over seeds
        if (!j) return error(res, 404, "no experiment " + std::to_string(*id));
        reply(req, res, 200, *j);
      });
    });

    server.Get(R"(/api/experiments/([^/]+)/history)", [this](const httplib::Request& req, httplib::Response& res) {
      auto id = id_of(req);
      if (!id) return error(res, 400, id.error().message);
      with_archive(res, [&](const archive::Archive& a) {
        auto j = archive::history_view(a, *id);
        if (!j) return error(res, 404, "no experiment " + std::to_string(*id));
        reply(req, res, 200, *j);
      });
    });

    server.Get(R"(/api/experiments/([^/]+)/diff)", [this](const httplib::Request& req, httplib::Response& res) {
      auto id = id_of(req);
      if (!id) return error(res, 400, id.error().message);
      with_archive(res, [&](const archive::Archive& a) {
        auto e = a.experiment(*id);
        if (!e) return error(res, 404, "no experiment " + std::to_string(*id));
        std::string parent_source;
        if (e->parent)
          if (auto p = a.experiment(*e->parent)) parent_source = p->source;
        reply(res, 200, {{"id", *id}, {"parent", e->parent ? nlohmann::json(*e->parent) : nlohmann::json()},
                         {"diff", unified_diff(parent_source, e->source, e->name + ".cpp")}});
      });
    });

    server.Get("/api/lineage", [this](const httplib::Request& req, httplib::Response& res) {
      with_archive(res, [&](const archive::Archive& a) {
        // Nodes and edges, for a graph: one query, whatever the size of the archive.
        archive::SummaryQuery all;
        all.limit = std::numeric_limits<int64_t>::max();
        auto page = a.summaries(all);
        if (!page) return error(res, 500, page.error().message);
        nlohmann::json nodes = nlohmann::json::array(), edges = nlohmann::json::array();
        for (const auto& r : page->rows) {
          nodes.push_back(archive::summary_view(r));
          if (r.parent) edges.push_back({{"from", *r.parent}, {"to", r.id}});
        }
        reply(req, res, 200, {{"nodes", nodes}, {"edges", edges}, {"reference", lab::kReferenceDesign}});
      });
    });

    server.Get("/api/events", [this](const httplib::Request& req, httplib::Response& res) {
      auto since = integer(req, "since", 0, 1LL << 50);
      if (!since) return error(res, 400, since.error().message);
      // EventSource's onmessage sees only unnamed events: `unnamed=1` leaves the kind to the data.
      const bool named = req.get_param_value("unnamed") != "1";
      int64_t seq = *since;
      if (req.has_header("Last-Event-ID")) {
        const std::string v = req.get_header_value("Last-Event-ID");
        if (!v.empty() && v.size() < 19 && std::all_of(v.begin(), v.end(), ::isdigit)) seq = std::stoll(v);
      }
      if (streams.fetch_add(1) >= kMaxStreams) {
        streams.fetch_sub(1);
        res.set_header("Retry-After", "5");
        return error(res, 503, "too many open event streams (" + std::to_string(kMaxStreams) + "); close one");
      }
      res.set_header("Cache-Control", "no-cache");
      const auto opened = std::chrono::steady_clock::now();
      res.set_chunked_content_provider("text/event-stream", [this, seq, named, opened](size_t, httplib::DataSink& sink) mutable {
        // Each call sends what is new, then waits a little; the stream ends with the daemon, or
        // after kStreamSeconds (the client reconnects where it left off).
        if (stopping.cancelled() ||
            std::chrono::duration<double>(std::chrono::steady_clock::now() - opened).count() > kStreamSeconds) {
          sink.done();
          return true;
        }
        if (auto a = open()) {
          for (const auto& ev : (*a)->events_since(seq, 500)) {
            const std::string msg = "id: " + std::to_string(ev.seq) + (named ? "\nevent: " + ev.kind : "") + "\ndata: " +
                                    archive::event_view(ev).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) +
                                    "\n\n";
            if (!sink.write(msg.data(), msg.size())) return false;
            seq = ev.seq;
          }
        }
        const std::string beat = ": keep-alive\n\n";
        if (!sink.write(beat.data(), beat.size())) return false;
        std::this_thread::sleep_for(std::chrono::milliseconds(250));
        return true;
      }, [this](bool) { streams.fetch_sub(1); });
    });

    // Each file of the drop folder with its latest experiment, or why it was refused.
    server.Get("/api/plugins", [this](const httplib::Request&, httplib::Response& res) {
      with_archive(res, [&](const archive::Archive& a) {
        std::map<std::string, nlohmann::json> latest;  // file -> summary of its newest experiment
        for (const auto& e : a.experiments())
          if (e.origin == archive::Origin::hand_written && e.design.is_object() && e.design.contains("file") &&
              e.design["file"].is_string())
            latest[e.design["file"].get<std::string>()] = archive::summary_view(a, e);
        std::map<std::string, std::pair<int64_t, std::string>> refused;  // file -> (event seq, reason)
        std::map<std::string, int64_t> queued;                           // file -> event seq
        for (int64_t since = 0;;) {
          auto evs = a.events_since(since, 5000);
          if (evs.empty()) break;
          for (const auto& ev : evs) {
            since = ev.seq;
            const std::string file = ev.data.value("file", "");
            if (ev.kind == "plugin_refused") refused[file] = {ev.seq, ev.data.value("reason", "")};
            if (ev.kind == "experiment_queued" && !file.empty()) queued[file] = ev.seq;
          }
        }
        std::set<std::string> files;
        std::error_code ec;
        for (const auto& f : std::filesystem::directory_iterator(plugins_dir, ec))
          if (f.path().extension() == ".cpp") files.insert(f.path().filename().string());
        for (const auto& [f, _] : latest) files.insert(f);
        nlohmann::json out = nlohmann::json::array();
        for (const auto& f : files) {
          nlohmann::json row = {{"file", f}, {"present", std::filesystem::exists(plugins_dir / f, ec)}};
          auto r = refused.find(f);
          const bool refused_last = r != refused.end() && (!queued.count(f) || r->second.first > queued[f]);
          if (refused_last) {
            row["state"] = "refused";
            row["reason"] = r->second.second;
          } else if (latest.count(f)) {
            row["state"] = latest[f]["status"];
          } else {
            row["state"] = "waiting";
          }
          row["experiment"] = latest.count(f) ? latest[f] : nlohmann::json();
          out.push_back(row);
        }
        reply(res, 200, out);
      });
    });

    for (const auto& f : kWebFiles) {
      const std::string path = f.path;
      auto serve = [&f, path](const httplib::Request&, httplib::Response& res) {
        res.set_content(f.text, std::strlen(f.text), content_type(path));
        res.set_header("Cache-Control", "no-cache");
      };
      server.Get(path, serve);
      if (path == "/index.html") server.Get("/", serve);
    }

    auto set_paused = [this](bool p) {
      return [this, p](const httplib::Request&, httplib::Response& res) {
        control.paused = p;
        reply(res, 200, {{"paused", p}});
      };
    };
    server.Post("/api/pause", set_paused(true));
    // A dashboard session for the token in the Authorization header (none needed without a token).
    server.Post("/api/session", [this](const httplib::Request&, httplib::Response& res) {
      if (options.token.empty()) return reply(res, 200, {{"session", false}});
      res.set_header("Set-Cookie", std::string(kSessionCookie) + "=" + sessions.create() +
                                       "; HttpOnly; SameSite=Strict; Path=/api");
      reply(res, 200, {{"session", true}});
    });
    server.Post("/api/resume", set_paused(false));
  }
};

ApiServer::ApiServer(std::filesystem::path workdir, LoopControl& control, const CancelToken& stopping)
    : impl_(std::make_unique<Impl>(std::move(workdir), control, stopping)) {}

ApiServer::~ApiServer() { stop(); }

Status ApiServer::start(const ApiOptions& o) {
  if (!loopback(o.host) && o.token.empty())
    return make_error("binding to " + o.host + " (not loopback) requires a token: --token-file FILE");
  impl_->options = o;
  impl_->plugins_dir = o.plugins_dir;
  impl_->routes();
  if (!impl_->server.bind_to_port(o.host.c_str(), o.port))
    return make_error("cannot listen on " + o.host + ":" + std::to_string(o.port) + " (in use, or not an address here)");
  impl_->port = o.port;
  impl_->thread = std::thread([this] {
    impl_->server.listen_after_bind();
    impl_->listen_returned = true;
  });
  // httplib's stop() does nothing until the listening thread has marked itself running, so a
  // daemon refused at once (e.g. --gpus without a device) would wait on that thread for ever.
  while (!impl_->server.is_running() && !impl_->listen_returned) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  return Ok{};
}

void ApiServer::stop() {
  if (!impl_ || !impl_->thread.joinable()) return;
  impl_->server.stop();
  impl_->thread.join();
}

int ApiServer::port() const { return impl_->port; }

}  // namespace asiarch::host
